{
  description = "haproxy-k8s: a validated, firewalled HAProxy in front of a Kubernetes control plane (NixOS module + generator)";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

  outputs = {
    self,
    nixpkgs,
  }: let
    inherit (nixpkgs) lib;
    systems = ["x86_64-linux" "aarch64-linux"];
    forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
  in {
    overlays.default = final: _prev: {
      haproxy-k8s-gen = final.callPackage ./nix/package.nix {};
      apiserver-standin = final.callPackage ./nix/package.nix {pname = "apiserver-standin";};
    };

    packages = forAllSystems (pkgs: rec {
      haproxy-k8s-gen = pkgs.callPackage ./nix/package.nix {};
      apiserver-standin = pkgs.callPackage ./nix/package.nix {pname = "apiserver-standin";};
      default = haproxy-k8s-gen;
    });

    # The module's generator defaults to this flake's build (for the build platform, since
    # it runs while building the system); outside the flake's systems it builds it from
    # the same sources with the caller's nixpkgs.
    nixosModules.default = {
      lib,
      pkgs,
      ...
    }: {
      imports = [./nix/module.nix];
      services.haproxy-k8s.generatorPackage = lib.mkDefault (
        self.packages.${pkgs.stdenv.buildPlatform.system}.haproxy-k8s-gen
        or (pkgs.buildPackages.callPackage ./nix/package.nix {})
      );
    };
    nixosModules.haproxy-k8s = self.nixosModules.default;

    checks = forAllSystems (pkgs: let
      inherit (pkgs.stdenv.hostPlatform) system;
      gen = self.packages.${system}.haproxy-k8s-gen;
    in
      import ./nix/tests {inherit pkgs self;}
      // {
        # Unit, snapshot, property and CLI tests of the crates that need no network
        # namespaces (the testbed needs root and netns; it runs outside the sandbox).
        crate-tests = pkgs.callPackage ./nix/package.nix {
          testedCrates = ["haproxy-k8s" "haproxy-k8s-gen" "apiserver-standin" "nixfmt"];
        };

        clippy = gen.overrideAttrs (old: {
          pname = "haproxy-k8s-clippy";
          nativeBuildInputs = old.nativeBuildInputs ++ [pkgs.clippy];
          buildPhase = ''
            runHook preBuild
            cargo clippy --workspace --all-targets --offline -- -D warnings
            runHook postBuild
          '';
          doCheck = false;
          installPhase = "touch $out";
        });

        rustfmt = pkgs.runCommand "haproxy-k8s-rustfmt" {nativeBuildInputs = [pkgs.rustfmt];} ''
          find ${./crates} -name '*.rs' -print0 | xargs -0 rustfmt --check --edition 2021
          touch $out
        '';

        alejandra = pkgs.runCommand "haproxy-k8s-alejandra" {nativeBuildInputs = [pkgs.alejandra];} ''
          alejandra --check ${self}
          touch $out
        '';

        deadnix = pkgs.runCommand "haproxy-k8s-deadnix" {nativeBuildInputs = [pkgs.deadnix];} ''
          deadnix --fail ${self}
          touch $out
        '';
      });

    formatter = forAllSystems (pkgs: pkgs.alejandra);

    devShells = forAllSystems (pkgs: {
      default = pkgs.mkShell {
        inputsFrom = [self.packages.${pkgs.stdenv.hostPlatform.system}.haproxy-k8s-gen];
        packages = with pkgs; [
          clippy
          rustfmt
          rust-analyzer
          haproxy
          nftables
          iptables
          kubectl
          alejandra
          deadnix
          nix
        ];
      };
    });
  };
}
