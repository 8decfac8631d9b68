_: {
  services.haproxy-k8s = {
    enable = true;
    healthCheck.type = "http";
  };
}
