# Seed 004's router configuration with its example control-plane nodes filled in.
_: {
  services.haproxy-k8s = {
    enable = true;
    frontendPort = 6443;
    bindAddress = "192.168.8.1"; # Router IP on kubernetes VLAN
    controlPlaneNodes = [
      {
        name = "k8s-master-1";
        address = "192.168.8.10";
        port = 6443;
      }
      {
        name = "k8s-master-2";
        address = "192.168.8.11";
        port = 6443;
      }
      {
        name = "k8s-master-3";
        address = "192.168.8.12";
        port = 6443;
      }
    ];
    statsPort = 8404;
  };
}
