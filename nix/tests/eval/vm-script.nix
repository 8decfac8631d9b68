# The VM test's Python test script, rendered without nixpkgs (stub pkgs), so that the runner
# can at least compile it: the VM test itself needs KVM and a binary cache.
#   nix-instantiate --eval --strict --json nix/tests/eval/vm-script.nix --argstr backend nftables
#   (--argstr test sni-passthrough for nix/tests/sni-passthrough.nix, --argstr test pair for
#   the load-balancer pair's nix/tests/pair.nix)
{
  backend ? "nftables",
  test ? "control-plane",
}: let
  lib = import <nixpkgs/lib>;
  drv = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/44444444444444444444444444444444-${name}";
    meta.mainProgram = name;
  };
  pkgs =
    lib.genAttrs ["socat" "coreutils" "curl" "jq" "kubectl" "nftables"] drv
    // {
      inherit lib;
      writers.writePython3 = name: _: _: drv name;
      stdenv.hostPlatform.system = "x86_64-linux";
      testers.runNixOSTest = test: {
        inherit (test) name testScript;
        nodes = lib.attrNames test.nodes;
      };
    };
  self = {
    packages.x86_64-linux.apiserver-standin = drv "apiserver-standin";
    nixosModules.default = ../../module.nix;
  };
in
  if test == "pair"
  then import ../pair.nix {inherit pkgs self;}
  else
    import (../. + "/${test}.nix") {
      inherit pkgs self;
      firewallBackend = backend;
    }
