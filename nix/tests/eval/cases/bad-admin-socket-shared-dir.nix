# An admin socket directly in /run: the module would chown /run and open it for writing.
_: {
  services.haproxy-k8s = {
    enable = true;
    adminSocket = "/run/haproxy-k8s.sock";
  };
}
