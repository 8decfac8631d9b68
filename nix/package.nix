# The workspace's binaries, built with rustPlatform from Cargo.lock.
#
#   callPackage ./package.nix { }                                   -> haproxy-k8s-gen
#   callPackage ./package.nix { pname = "apiserver-standin"; }      -> the test stand-in
#
# tests/nix-build.sh runs this derivation's build and check phases the way the Nix sandbox
# would (exactly the `src` files, offline, unprivileged, no network, only stdenv + the Rust
# toolchain + nativeCheckInputs on PATH), so a test fixture left out of `src` or a tool
# missing from nativeCheckInputs fails here before it fails a NixOS build.
{
  lib,
  rustPlatform,
  haproxy,
  openssl,
  pname ? "haproxy-k8s-gen",
  # Crates whose tests run in checkPhase (the generator's tests call `haproxy -c`).
  testedCrates ? [pname],
}: let
  root = ./..;
  workspace = lib.importTOML (root + "/Cargo.toml");
in
  rustPlatform.buildRustPackage {
    inherit pname;
    inherit (workspace.workspace.package) version;

    # Only what cargo reads: the workspace, and examples/, the JSON inputs the tests use
    # (crates/haproxy-k8s-gen/tests include_str! them, crates/haproxy-k8s/tests read them).
    # Editing nix/, docs/ or the README does not rebuild the package.
    src = lib.fileset.toSource {
      inherit root;
      fileset = lib.fileset.unions [
        (root + "/Cargo.toml")
        (root + "/Cargo.lock")
        (root + "/crates")
        (root + "/examples")
      ];
    };

    cargoLock.lockFile = ../Cargo.lock;

    cargoBuildFlags = ["--package" pname];
    cargoTestFlags = lib.concatMap (c: ["--package" c]) testedCrates;

    # What the tested crates' tests run: `haproxy -c -dW` (snapshots, properties, CLI),
    # `openssl req` (the CLI's TLS-file check test); `sh`, `id` and `kill` come with stdenv.
    nativeCheckInputs = [haproxy openssl];

    # These load the firewall files into nft/iptables inside a network namespace: they need
    # root, which the build sandbox never has (they skip themselves there anyway; skipping
    # them here says so in the build log). tests/run-all.sh runs them as root.
    checkFlags =
      [
        "--skip=nft_rules_load_as_a_chain_body_like_nixos_input_allow"
        "--skip=nft_rules_pass_only_each_listeners_family_destination_and_sources"
        "--skip=iptables_script_runs_standalone"
        "--skip=iptables_rules_pass_only_each_listeners_family_destination_and_sources"
      ]
      # Tells Debian 12's 2.6 from Debian 13's 3.0 by name; here there is only one HAProxy.
      ++ lib.optional (builtins.elem "haproxy-k8s" testedCrates)
      "--skip=haproxy_rejects_runs_2_6_and_3_0_and_names_the_one_that_complains";

    # The tests check every config with each HAProxy named here (by default Debian's 2.6 and
    # 3.0, as tests/run-all.sh has them); nixpkgs' `haproxy` is already the 3.x line NixOS runs.
    HAPROXY_K8S_HAPROXIES = "haproxy";

    meta = {
      description =
        if pname == "haproxy-k8s-gen"
        then "Generator of validated HAProxy configurations and firewall rules for Kubernetes control planes"
        else "haproxy-k8s workspace binary ${pname}";
      license = lib.licenses.mit;
      mainProgram = pname;
      platforms = lib.platforms.linux;
    };
  }
