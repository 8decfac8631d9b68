_: {
  services.haproxy-k8s = {
    enable = true;
    frontendPorts = 6443;
  };
}
