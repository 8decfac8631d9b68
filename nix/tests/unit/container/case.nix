# The option set the container tests (crates/unit-container) boot: API frontend and stats on
# loopback, two nodes served by the test itself inside the container (IPv4 and IPv6 loopback),
# stats behind a credentials file.
_: {
  services.haproxy-k8s = {
    enable = true;
    bindAddress = "127.0.0.1";
    frontendPort = 6443;
    controlPlaneNodes = [
      {
        name = "node-v4";
        address = "127.0.0.1";
        port = 16443;
      }
      {
        name = "node-v6";
        address = "::1";
        port = 16443;
      }
    ];
    statsPort = 8404;
    stats.credentialsFile = "/run/secrets/haproxy-k8s-stats";
    healthCheck.type = "tcp";
  };
}
