# multi-cluster with one more node, another health-check interval and stats path: haproxy.cfg
# changes, the firewall rules must not.
_: {
  imports = [./multi-cluster.nix];
  services.haproxy-k8s = {
    clusters.staging.controlPlaneNodes = [
      {
        name = "stg-cp-3";
        address = "192.168.9.12";
      }
    ];
    healthCheck.interval = "3s";
    stats.uri = "/haproxy";
  };
}
