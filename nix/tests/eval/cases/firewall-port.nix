# multi-cluster with the lab cluster on another port: the firewall rules change.
{lib, ...}: {
  imports = [./multi-cluster.nix];
  services.haproxy-k8s.clusters.lab.frontendPort = lib.mkForce 7444;
}
