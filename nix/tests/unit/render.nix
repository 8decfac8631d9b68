# haproxy-k8s.service as NixOS writes it, rendered from the module's evaluation (with the stub
# store paths of nix/tests/eval/eval.nix), plus what the unit needs beside it: the /etc links,
# tmpfiles rules, the service user and group, and the generator's input.
#
#   nix-instantiate --eval --strict --json nix/tests/unit/render.nix --argstr case container
#
# The rules follow nixos/lib/systemd-lib.nix (serviceToUnit, commonUnitText, attrsToSection,
# unitConfig) for the fields a service can use; tests/nix-eval.sh checks that the files
# committed under nix/tests/unit/<case>/ equal this, and crates/unit-container boots them.
{
  case,
  # Another stand-in store path for the HAProxy package: a package upgrade (tests/nix-eval.sh).
  haproxyDir ? null,
}: let
  lib = import <nixpkgs/lib>;
  inherit
    (import ../eval/eval.nix ({case = ./. + "/${case}/case.nix";} // lib.optionalAttrs (haproxyDir != null) {inherit haproxyDir;}))
    config
    ;
  name = "haproxy-k8s";
  def = config.systemd.services.${name};

  # A unit file value: booleans as true/false, lists as one line per element.
  value = v:
    if v == true
    then "true"
    else if v == false
    then "false"
    else toString v;
  section = attrs:
    lib.concatStrings (lib.concatLists (lib.mapAttrsToList (k: v: map (x: "${k}=${value x}\n") (lib.toList v)) attrs));

  # NixOS writes the triggers into a store file and names that file in [Unit]; a different
  # list gives a different file. The placeholder's hash part is derived from the text so that
  # it changes the same way.
  triggersText = toString (lib.flatten def.reloadTriggers);
  triggersFile = "/nix/store/${builtins.substring 0 32 (builtins.hashString "sha256" triggersText)}-X-Reload-Triggers-${name}";

  listEntry = key: list: lib.optionalAttrs (list != []) {${key} = toString list;};
  unitSection =
    def.unitConfig
    // listEntry "Requires" def.requires
    // listEntry "Wants" def.wants
    // listEntry "After" def.after
    // listEntry "Before" def.before
    // listEntry "BindsTo" def.bindsTo
    // listEntry "PartOf" def.partOf
    // listEntry "Conflicts" def.conflicts
    // lib.optionalAttrs (def.reloadTriggers != []) {X-Reload-Triggers = triggersFile;}
    // lib.optionalAttrs (def.description != "") {Description = def.description;}
    // listEntry "Documentation" def.documentation;

  environment = config.systemd.globalEnvironment // def.environment;
  environmentLines = lib.concatMapStrings (n:
    lib.optionalString (environment.${n} != null) "Environment=${builtins.toJSON "${n}=${environment.${n}}"}\n")
  (lib.attrNames environment);
  changeFlags =
    if def.reloadIfChanged
    then "X-ReloadIfChanged=true\n"
    else lib.optionalString (!def.restartIfChanged) "X-RestartIfChanged=false\n";

  unit = assert lib.assertMsg (def.script == "" && def.preStart == "" && def.restartTriggers == [])
  "render.nix does not render script, preStart or restartTriggers";
    "[Unit]\n${section unitSection}\n"
    + "[Service]\n"
    + environmentLines
    + changeFlags
    + lib.optionalString (!def.stopIfChanged) "X-StopIfChanged=false\n"
    + section def.serviceConfig
    + lib.optionalString (def.wantedBy != []) "\n[Install]\nWantedBy=${lib.concatStringsSep " " def.wantedBy}\n";
in {
  inherit unit;
  module = {
    reloadTriggers = triggersText;
    etc = lib.mapAttrs (_: e: toString e.source) (lib.filterAttrs (n: _: lib.hasPrefix "haproxy-k8s/" n) config.environment.etc);
    tmpfiles = config.systemd.tmpfiles.rules;
    users = lib.mapAttrs (_: u: {inherit (u) isSystemUser group description;}) config.users.users;
    groups = lib.attrNames config.users.groups;
    generatorInput = config.services.haproxy-k8s.generatorInput;
  };
}
