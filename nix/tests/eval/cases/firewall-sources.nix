# multi-cluster with one more allowed source for the staging cluster: the firewall rules change.
_: {
  imports = [./multi-cluster.nix];
  services.haproxy-k8s.clusters.staging.allowedSources = ["192.168.10.0/24"];
}
