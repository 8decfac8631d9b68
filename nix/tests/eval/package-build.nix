# What the Nix build of nix/package.nix would get, for tests/nix-build.sh: the files its `src`
# selects and the arguments the cargo hooks read, for the flake's default package and for the
# flake's `crate-tests` check. Nothing is built.
#
#   nix-instantiate --eval --strict --json nix/tests/eval/package-build.nix \
#     --argstr flake DIR --arg realLib true|false
#
# DIR is a copy of the flake's source (what a flake sees: the git-tracked files).
#
# realLib = true: nixpkgs' own lib (<nixpkgs/lib>) evaluates the fileset (lib.fileset needs
# builtins.readFileType, Nix >= 2.14). realLib = false, for machines without a nixpkgs
# checkout (CI): a minimal stand-in lib that knows only what package.nix and flake.nix use;
# its fileset part understands `unions` of plain paths and nothing else, so a package.nix
# that starts using another fileset combinator fails here instead of being misread. The
# runner compares both wherever the real lib exists, so the stand-in cannot drift silently.
{
  flake,
  realLib ? true,
}: let
  root = /. + flake;

  # ---- the stand-in lib --------------------------------------------------------------------
  typeOf = p:
    if builtins ? readFileType
    then builtins.readFileType p
    else (builtins.readDir (dirOf p)).${baseNameOf (toString p)};
  filesUnder = p:
    if typeOf p == "directory"
    then builtins.concatLists (map (n: filesUnder (p + "/${n}")) (builtins.attrNames (builtins.readDir p)))
    else [p];
  stubLib = {
    importTOML = f: builtins.fromTOML (builtins.readFile f);
    concatMap = f: l: builtins.concatLists (map f l);
    optional = cond: x:
      if cond
      then [x]
      else [];
    genAttrs = names: f:
      builtins.listToAttrs (map (n: {
          name = n;
          value = f n;
        })
        names);
    mkDefault = v: v;
    licenses.mit = "mit";
    platforms.linux = ["x86_64-linux" "aarch64-linux"];
    fileset = {
      unions = paths:
        assert builtins.all builtins.isPath paths || throw "stand-in lib.fileset.unions: only plain paths are understood";
          builtins.concatLists (map filesUnder paths);
      toList = files: files;
      # Intercepted below in both libs: the runner copies the files itself.
      toSource = _: throw "stand-in lib.fileset.toSource is replaced";
    };
  };

  baseLib =
    if realLib
    then import <nixpkgs/lib>
    else stubLib;
  # toSource would copy into the store; keep its arguments instead.
  lib = baseLib // {fileset = baseLib.fileset // {toSource = args: {__toSource = args;};};};

  # ---- stub pkgs ---------------------------------------------------------------------------
  # Every callPackage argument that package.nix does not default is a package; the runner
  # maps its name to this machine's programs (and fails on a name it does not know).
  stubPackage = name: {
    type = "derivation";
    inherit name;
    hostTool = name;
    outPath = "/nix/store/66666666666666666666666666666666-${name}";
  };
  callPackage = fn: args: let
    wanted = builtins.functionArgs (import fn);
    auto = builtins.mapAttrs (name: _:
      if name == "lib"
      then lib
      else if name == "rustPlatform"
      then {buildRustPackage = a: a // {__package = true;};}
      else stubPackage name) (removeAttrs wanted ["pname" "testedCrates"]);
  in
    import fn (auto // args);
  pkgs = {
    inherit lib callPackage;
    stdenv.hostPlatform.system = "x86_64-linux";
    stdenv.buildPlatform.system = "x86_64-linux";
  };

  flakeOutputs = (import (root + "/flake.nix")).outputs {
    self = flakeOutputs;
    nixpkgs = {
      inherit lib;
      legacyPackages = lib.genAttrs ["x86_64-linux" "aarch64-linux"] (_: pkgs);
    };
  };

  describe = p: let
    inherit (p.src.__toSource) fileset;
    srcRoot = toString p.src.__toSource.root;
  in {
    inherit (p) pname cargoBuildFlags;
    srcRootIsFlake = srcRoot == toString root;
    srcFiles = builtins.sort builtins.lessThan (map (f:
      baseLib.removePrefix
      or (pre: s:
        if builtins.substring 0 (builtins.stringLength pre) s == pre
        then builtins.substring (builtins.stringLength pre) (-1) s
        else throw "${s} is outside ${pre}") "${srcRoot}/" (toString f))
    (lib.fileset.toList fileset));
    cargoLock = toString p.cargoLock.lockFile;
    cargoTestFlags = p.cargoTestFlags or [];
    checkFlags = p.checkFlags or [];
    # Exported into the build's environment, as every plain derivation attribute is.
    haproxies = p.HAPROXY_K8S_HAPROXIES or null;
    nativeCheckInputs = map (i: i.hostTool) (p.nativeCheckInputs or []);
    doCheck = p.doCheck or true;
    buildType = p.buildType or "release";
    checkType = p.checkType or p.buildType or "release";
    buildAndTestSubdir = p.buildAndTestSubdir or null;
    # Attributes that change the hooks' commands and that the runner does not emulate.
    unsupported = builtins.filter (a: p ? ${a}) [
      "buildFeatures"
      "checkFeatures"
      "buildNoDefaultFeatures"
      "checkNoDefaultFeatures"
      "useNextest"
      "cargoVendorDir"
      "preCheck"
      "postCheck"
      "preBuild"
      "postBuild"
      "checkPhase"
      "buildPhase"
      "dontUseCargoParallelTests"
      "RUSTFLAGS"
    ];
  };
in {
  lib =
    if realLib
    then "nixpkgs ${baseLib.version}"
    else "stand-in";
  packages = {
    default = describe flakeOutputs.packages.x86_64-linux.default;
    crate-tests = describe flakeOutputs.checks.x86_64-linux.crate-tests;
  };
}
