# multi-cluster without the top-level nodes: the `default` cluster and its rule disappear.
{lib, ...}: {
  imports = [./multi-cluster.nix];
  services.haproxy-k8s.controlPlaneNodes = lib.mkForce [];
}
