_: {
  services.haproxy-k8s = {
    enable = true;
    controlPlaneNodes = [
      {
        name = "cp-1";
        address = "10.0.0.10";
        port = 70000;
      }
    ];
  };
}
