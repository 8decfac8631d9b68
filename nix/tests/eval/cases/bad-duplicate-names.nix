# Passes the types, fails in the generator at build time, naming the option path.
_: {
  services.haproxy-k8s = {
    enable = true;
    controlPlaneNodes = [
      {
        name = "k8s-master-1";
        address = "192.168.8.10";
      }
      {
        name = "k8s-master-1";
        address = "192.168.8.11";
      }
    ];
  };
}
