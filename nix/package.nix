# The workspace's binaries, built with rustPlatform from Cargo.lock.
#
#   callPackage ./package.nix { }                                   -> haproxy-k8s-gen
#   callPackage ./package.nix { pname = "apiserver-standin"; }      -> the test stand-in
{
  lib,
  rustPlatform,
  haproxy,
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

    # Only the Rust workspace: editing nix/, docs/ or the README does not rebuild it.
    src = lib.fileset.toSource {
      inherit root;
      fileset = lib.fileset.unions [
        (root + "/Cargo.toml")
        (root + "/Cargo.lock")
        (root + "/crates")
      ];
    };

    cargoLock.lockFile = ../Cargo.lock;

    cargoBuildFlags = ["--package" pname];
    cargoTestFlags = lib.concatMap (c: ["--package" c]) testedCrates;

    nativeCheckInputs = [haproxy];

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
