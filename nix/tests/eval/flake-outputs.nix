# The flake's outputs evaluated against stub nixpkgs (lib is real): names of packages, checks
# and modules, and the cargo flags of the packages. The sources (lib.fileset needs Nix >= 2.14)
# and the derivations themselves are not evaluated here.
#   nix-instantiate --eval --strict --json nix/tests/eval/flake-outputs.nix
let
  lib = import <nixpkgs/lib>;
  drv = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/55555555555555555555555555555555-${name}";
    meta.mainProgram = name;
    overrideAttrs = _: drv "${name}-overridden";
  };
  pkgsFor = system: let
    pkgs =
      lib.genAttrs ["haproxy" "openssl" "socat" "coreutils" "curl" "jq" "kubectl" "nftables" "iptables" "clippy" "rustfmt" "rust-analyzer" "alejandra" "deadnix" "nix"] drv
      // {
        inherit lib;
        stdenv.hostPlatform.system = system;
        stdenv.buildPlatform = {
          inherit system;
          canExecute = _: true;
        };
        buildPackages = pkgs;
        callPackage = fn: args:
          import fn ({
              inherit lib;
              inherit (pkgs) haproxy openssl;
              rustPlatform.buildRustPackage = a: drv a.pname // {inherit (a) pname cargoBuildFlags cargoTestFlags meta;};
            }
            // args);
        runCommand = name: _: _: drv name;
        mkShell = _: drv "shell";
        testers.runNixOSTest = t: drv t.name;
      };
  in
    pkgs;
  flake = import ../../../flake.nix;
  self = flake.outputs {
    inherit self;
    nixpkgs = {
      inherit lib;
      legacyPackages = lib.genAttrs ["x86_64-linux" "aarch64-linux"] pkgsFor;
    };
  };
  x86 = self.packages.x86_64-linux;
in {
  packages = lib.mapAttrs (_: lib.attrNames) self.packages;
  checks = lib.mapAttrs (_: lib.attrNames) self.checks;
  nixosModules = lib.attrNames self.nixosModules;
  overlay = lib.attrNames (self.overlays.default (pkgsFor "x86_64-linux") {});
  formatter = self.formatter.x86_64-linux.name;
  devShells = lib.attrNames self.devShells.x86_64-linux;
  cargo =
    lib.mapAttrs (_: p: {
      inherit (p) cargoBuildFlags cargoTestFlags;
      inherit (p.meta) mainProgram;
    })
    x86;
  crateTests = self.checks.x86_64-linux.crate-tests.cargoTestFlags;
  # The flake's module uses the flake's own generator build.
  moduleGenerator =
    (lib.evalModules {
      modules = [
        ./nixos-stubs.nix
        self.nixosModules.default
        {_module.args.pkgs = pkgsFor "x86_64-linux";}
        ./cases/seed-004.nix
      ];
    })
    .config
    .services
    .haproxy-k8s
    .generatorPackage
    .outPath
    == x86.haproxy-k8s-gen.outPath;
}
