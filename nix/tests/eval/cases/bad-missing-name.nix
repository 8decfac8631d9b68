_: {
  services.haproxy-k8s = {
    enable = true;
    controlPlaneNodes = [{address = "10.0.0.10";}];
  };
}
