# The NixOS VM tests: the control plane once per firewall backend, and SNI passthrough
# (seed 000). `nix flake check` runs them all.
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
  # Seed 000 (SNI passthrough beside the API); the firewall backend does not matter to it.
  vm-sni-passthrough = import ./sni-passthrough.nix {
    inherit pkgs self;
    firewallBackend = "nftables";
  };
  # The load-balancer pair: two LB machines with peers and a VRRP virtual IP.
  vm-pair = import ./pair.nix {inherit pkgs self;};
}
