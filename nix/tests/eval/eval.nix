# Evaluates nix/module.nix with nixpkgs' lib.evalModules, the NixOS option stubs and a stub
# `pkgs`, for one option set (a module under cases/). Nothing is built: the test runner
# (tests/nix-eval.sh) takes the JSON and build script of the config derivation from here and
# runs them with the real haproxy-k8s-gen and haproxy.
#
#   nix-instantiate --eval --strict --json nix/tests/eval/eval.nix -A result \
#     --arg case ./nix/tests/eval/cases/seed-004.nix --argstr genDir DIR --argstr haproxyDir DIR
#
# genDir / haproxyDir stand for the store paths of the generator and haproxy packages: each
# holds bin/haproxy-k8s-gen or bin/haproxy.
{
  case ? {},
  genDir ? "/nix/store/11111111111111111111111111111111-haproxy-k8s-gen",
  haproxyDir ? "/nix/store/22222222222222222222222222222222-haproxy",
}: let
  lib = import <nixpkgs/lib>;

  fakeDrv = name: outPath: extra: {type = "derivation";} // {inherit name outPath;} // extra;

  # A stand-in outPath that, like a real one, changes exactly when the derivation's name,
  # environment or build script changes (the rest of runCommand, stdenv, is the same for
  # every option set); the runner maps it to its own $out.
  storePath = name: env: buildCommand: "/nix/store/${
    builtins.substring 0 32 (builtins.hashString "sha256" (builtins.toJSON [name env buildCommand]))
  }-${name}";

  pkgs = {
    haproxy = fakeDrv "haproxy" haproxyDir {meta.mainProgram = "haproxy";};
    coreutils = fakeDrv "coreutils" "/nix/store/33333333333333333333333333333333-coreutils" {};
    curl = fakeDrv "curl" "/nix/store/66666666666666666666666666666666-curl" {};
    stdenv = {
      buildPlatform = {
        system = "x86_64-linux";
        canExecute = _: true;
      };
      hostPlatform.system = "x86_64-linux";
    };
    buildPackages = pkgs;
    callPackage = fn: _args:
      if baseNameOf (toString fn) == "package.nix"
      then fakeDrv "haproxy-k8s-gen" genDir {meta.mainProgram = "haproxy-k8s-gen";}
      else throw "stub pkgs.callPackage: unexpected ${toString fn}";
    runCommand = name: env: buildCommand:
      assert lib.elem name ["haproxy-k8s-config" "haproxy-k8s-firewall"];
        fakeDrv name (storePath name env buildCommand) {inherit env buildCommand;};
  };

  eval = lib.evalModules {
    modules = [
      ./nixos-stubs.nix
      ../../module.nix
      {_module.args.pkgs = pkgs;}
      case
    ];
  };
  inherit (eval) config options;
  cfg = config.services.haproxy-k8s;
  generated = cfg.generatedConfig;
  firewall = cfg.generatedFirewall;

  # ---- options reference (docs/nixos.md is checked against this) -----------------------
  render = v:
    if v ? _type && v._type == "literalExpression"
    then v.text
    else if v ? _type && v._type == "literalMD"
    then v.text
    else builtins.toJSON v;
  # Seed 004's options first (as in the module), then the rest alphabetically.
  seedOrder = map (n: "services.haproxy-k8s.${n}") ["enable" "frontendPort" "bindAddress" "controlPlaneNodes" "statsPort"];
  rank = o: let
    i = lib.lists.findFirstIndex (s: o.name == s || lib.hasPrefix "${s}." o.name) null seedOrder;
  in
    if i == null
    then 100
    else i;
  docOptions = lib.sort (a: b: rank a < rank b || (rank a == rank b && a.name < b.name)) (
    lib.filter (o: o.visible && !o.internal) (lib.optionAttrSetToDocList options.services.haproxy-k8s)
  );
  # NixOS manual markup to plain Markdown.
  plain = lib.replaceStrings ["{option}`" "{file}`" "{command}`"] ["`" "`" "`"];
  renderOption = o: let
    multiline = s: lib.hasInfix "\n" (lib.removeSuffix "\n" s);
    code = s:
      if multiline s
      then "\n\n  ```nix\n  ${lib.replaceStrings ["\n"] ["\n  "] (lib.removeSuffix "\n" s)}\n  ```"
      else " `${s}`";
  in
    "### `${o.name}`\n\n"
    + "${plain (lib.trim o.description)}\n\n"
    + "- type: ${o.type}\n"
    + lib.optionalString (o ? default) "- default:${code (render o.default)}\n"
    + lib.optionalString (o ? example) "- example:${code (render o.example)}\n";
in {
  result = let
    service = config.systemd.services.haproxy-k8s or null;
  in {
    failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
    inherit (config) warnings;
    enabled = cfg.enable;
    generatedOutPath = generated.outPath;
    generatorInput = generated.env.generatorInput;
    inherit (generated.env) passAsFile;
    inherit (generated) buildCommand;
    firewallOutPath = firewall.outPath;
    firewallInput = firewall.env.firewallInput;
    firewallBuildCommand = firewall.buildCommand;
    service =
      if service == null
      then null
      else {
        inherit (service) serviceConfig reloadTriggers restartIfChanged reloadIfChanged wantedBy after wants environment path;
      };
    etc = lib.mapAttrs (_: e: toString e.source) (lib.filterAttrs (n: _: lib.hasPrefix "haproxy-k8s" n) config.environment.etc);
    users = lib.mapAttrs (_: u: {inherit (u) isSystemUser group;}) config.users.users;
    groups = lib.attrNames config.users.groups;
    firewall = {inherit (config.networking.firewall) backend extraInputRules extraCommands allowedTCPPorts;};
    keepalived = {inherit (config.services.keepalived) enable enableScriptSecurity extraConfig;};
    sysctl = config.boot.kernel.sysctl;
  };

  optionsMarkdown = lib.concatMapStringsSep "\n" renderOption docOptions;

  # The whole evaluated configuration (nix/tests/unit/render.nix renders the unit from it).
  inherit config;
}
