# A frontend below 1024: the unit gets CAP_NET_BIND_SERVICE (and so no user namespace).
_: {
  services.haproxy-k8s = {
    enable = true;
    bindAddress = "127.0.0.1";
    frontendPort = 443;
    controlPlaneNodes = [
      {
        name = "node-v4";
        address = "127.0.0.1";
        port = 16443;
      }
    ];
    stats.enable = false;
    healthCheck.type = "tcp";
  };
}
