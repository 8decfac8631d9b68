_: {
  services.haproxy-k8s = {
    enable = true;
    controlPlaneNodes = [
      {
        name = "k8s-master-1";
        address = "192.168.8.10";
      }
      {
        name = "k8s-master-2";
        address = "192.168.8.300";
      }
    ];
  };
}
