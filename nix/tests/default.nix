# The NixOS VM tests, one per firewall backend: `nix flake check` runs both.
{
  pkgs,
  self,
}: {
  vm-nftables = import ./control-plane.nix {
    inherit pkgs self;
    firewallBackend = "nftables";
  };
  vm-iptables = import ./control-plane.nix {
    inherit pkgs self;
    firewallBackend = "iptables";
  };
  # The load-balancer pair: two LB machines with peers and a VRRP virtual IP.
  vm-pair = import ./pair.nix {inherit pkgs self;};
}
