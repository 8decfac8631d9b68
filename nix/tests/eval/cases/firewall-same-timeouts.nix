# multi-cluster with other timeouts: haproxy.cfg changes, the firewall rules must not.
_: {
  imports = [./multi-cluster.nix];
  services.haproxy-k8s.timeouts = {
    connect = "3s";
    tunnel = "2h";
  };
}
