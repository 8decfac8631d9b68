# Issue 8: with `clusters` and no top-level nodes, the top-level allowedSources would restrict
# nothing (the port would be open to anyone); the generator refuses it, naming it.
_: {
  services.haproxy-k8s = {
    enable = true;
    allowedSources = ["10.0.0.0/8"];
    clusters.prod = {
      bindAddress = "192.168.8.1";
      controlPlaneNodes = [
        {
          name = "prod-cp-1";
          address = "192.168.8.10";
        }
      ];
    };
  };
}
