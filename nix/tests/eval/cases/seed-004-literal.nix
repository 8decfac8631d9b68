# Seed 004's module example exactly as written: every node still commented out.
_: {
  services.haproxy-k8s = {
    enable = true;
    frontendPort = 6443;
    bindAddress = "192.168.8.1"; # Router IP on kubernetes VLAN
    controlPlaneNodes = [
      # Add your Kubernetes control plane nodes here
      # Example:
      # {
      #   name = "k8s-master-1";
      #   address = "192.168.8.10";
      #   port = 6443;
      # }
    ];
    statsPort = 8404;
  };
}
