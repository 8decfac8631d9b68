# Declarations of the NixOS options services.haproxy-k8s reads or sets, so that the module can
# be evaluated with nixpkgs' lib.evalModules alone (no nixpkgs checkout, no binary cache).
# Types follow the nixpkgs declarations (nixos/lib/systemd-unit-options.nix,
# nixos/modules/config/users-groups.nix, nixos/modules/system/etc/etc.nix,
# nixos/modules/services/networking/firewall*.nix, .../haproxy.nix, misc/assertions.nix);
# only the options the module touches are declared, and definitions of anything else fail
# as "option does not exist", as they would be meaningless here.
{
  lib,
  config,
  pkgs,
  ...
}: let
  inherit (lib) mkOption types;

  unitNameType = types.strMatching "[a-zA-Z0-9@%:_.\\-]+[.](service|socket|device|mount|automount|swap|target|path|timer|scope|slice)";

  # systemd-unit-options.nix: unitOption
  unitOption = lib.mkOptionType {
    name = "systemd option";
    merge = loc: defs: let
      defs' = lib.filterOverrides defs;
    in
      if lib.isList (lib.head defs').value
      then
        lib.concatMap (def:
          if builtins.typeOf def.value == "list"
          then def.value
          else throw "The definitions for systemd unit options should be either all lists, representing repeatable options, or all non-lists, but for the option ${lib.showOption loc}, the definitions are a mix of list and non-list ${lib.options.showDefs defs'}")
        defs'
      else lib.mergeEqualOption loc defs';
  };

  # systemd-unit-options.nix: checkService (Type and Restart must be known values)
  checkService = attrs: let
    oneOf = name: values: !(attrs ? ${name}) || lib.elem attrs.${name} values;
  in
    oneOf "Type" ["exec" "simple" "forking" "oneshot" "dbus" "notify" "notify-reload" "idle"]
    && oneOf "Restart" ["no" "on-success" "on-failure" "on-abnormal" "on-abort" "on-watchdog" "always"];

  unitList = lib.mkOption {
    default = [];
    type = types.listOf unitNameType;
  };

  serviceModule = {config, ...}: {
    options = {
      enable = mkOption {
        type = types.bool;
        default = true;
      };
      description = mkOption {
        type = types.singleLineStr;
        default = "";
      };
      documentation = mkOption {
        type = types.listOf types.str;
        default = [];
      };
      wantedBy = unitList;
      requiredBy = unitList;
      wants = unitList;
      requires = unitList;
      after = unitList;
      before = unitList;
      bindsTo = unitList;
      partOf = unitList;
      conflicts = unitList;
      unitConfig = mkOption {
        type = types.attrsOf unitOption;
        default = {};
      };
      serviceConfig = mkOption {
        type = types.addCheck (types.attrsOf unitOption) checkService;
        default = {};
      };
      environment = mkOption {
        type = with types; attrsOf (nullOr (oneOf [str path package]));
        default = {};
      };
      path = mkOption {
        type = with types; listOf (oneOf [package str]);
        default = [];
      };
      restartTriggers = mkOption {
        type = types.listOf types.unspecified;
        default = [];
      };
      reloadTriggers = mkOption {
        type = types.listOf unitOption;
        default = [];
      };
      restartIfChanged = mkOption {
        type = types.bool;
        default = true;
      };
      reloadIfChanged = mkOption {
        type = types.bool;
        default = false;
      };
      stopIfChanged = mkOption {
        type = types.bool;
        default = true;
      };
      script = mkOption {
        type = types.lines;
        default = "";
      };
      preStart = mkOption {
        type = types.lines;
        default = "";
      };
    };
    # systemd-lib.nix: serviceConfig turns `path` into PATH, and stage2ServiceConfig gives every
    # service a default path.
    config.environment.PATH =
      lib.mkIf (config.path != [])
      "${lib.makeBinPath config.path}:${lib.makeSearchPathOutput "bin" "sbin" config.path}";
    config.path = lib.mkAfter [
      pkgs.coreutils
      "/nix/store/44444444444444444444444444444444-findutils"
      "/nix/store/44444444444444444444444444444445-gnugrep"
      "/nix/store/44444444444444444444444444444446-gnused"
      "/nix/store/44444444444444444444444444444447-systemd"
    ];
  };

  # users-groups.nix (the fields used here)
  passwdEntry = type:
    lib.types.addCheck type (x: !(lib.hasInfix ":" x || lib.hasInfix "\n" x))
    // {name = "passwdEntry ${type.name}";};
  userModule = {name, ...}: {
    options = {
      name = mkOption {
        type = passwdEntry types.str;
        default = name;
      };
      description = mkOption {
        type = passwdEntry types.str;
        default = "";
      };
      uid = mkOption {
        type = with types; nullOr int;
        default = null;
      };
      group = mkOption {
        type = types.str;
        default = "";
      };
      extraGroups = mkOption {
        type = types.listOf types.str;
        default = [];
      };
      isSystemUser = mkOption {
        type = types.bool;
        default = false;
      };
      isNormalUser = mkOption {
        type = types.bool;
        default = false;
      };
      home = mkOption {
        type = passwdEntry types.path;
        default = "/var/empty";
      };
    };
  };
  groupModule = {name, ...}: {
    options = {
      name = mkOption {
        type = passwdEntry types.str;
        default = name;
      };
      gid = mkOption {
        type = with types; nullOr int;
        default = null;
      };
      members = mkOption {
        type = with types; listOf (passwdEntry str);
        default = [];
      };
    };
  };

  # etc.nix
  etcModule = {name, ...}: {
    options = {
      enable = mkOption {
        type = types.bool;
        default = true;
      };
      target = mkOption {
        type = types.str;
        default = name;
      };
      text = mkOption {
        type = types.nullOr types.lines;
        default = null;
      };
      source = mkOption {
        type = types.path;
      };
      mode = mkOption {
        type = types.str;
        default = "symlink";
      };
      user = mkOption {
        type = types.str;
        default = "+0";
      };
      group = mkOption {
        type = types.str;
        default = "+0";
      };
    };
  };

  portsOptions = {
    allowedTCPPorts = mkOption {
      type = types.listOf types.port;
      default = [];
    };
    allowedUDPPorts = mkOption {
      type = types.listOf types.port;
      default = [];
    };
  };
in {
  options = {
    # misc/assertions.nix
    assertions = mkOption {
      type = types.listOf types.unspecified;
      internal = true;
      default = [];
    };
    warnings = mkOption {
      type = types.listOf types.str;
      internal = true;
      default = [];
    };

    systemd.services = mkOption {
      type = types.attrsOf (types.submodule serviceModule);
      default = {};
    };
    # systemd.nix; the values are what locale.nix and i18n.nix set on every NixOS system.
    systemd.globalEnvironment = mkOption {
      type = with types; attrsOf (nullOr (oneOf [str path package]));
      default = {
        TZDIR = "/nix/store/55555555555555555555555555555555-tzdata/share/zoneinfo";
        LOCALE_ARCHIVE = "/nix/store/55555555555555555555555555555556-glibc-locales/lib/locale/locale-archive";
      };
    };
    # systemd/tmpfiles.nix
    systemd.tmpfiles.rules = mkOption {
      type = types.listOf types.str;
      default = [];
    };

    users.users = mkOption {
      type = types.attrsOf (types.submodule userModule);
      default = {};
    };
    users.groups = mkOption {
      type = types.attrsOf (types.submodule groupModule);
      default = {};
    };

    environment.etc = mkOption {
      type = types.attrsOf (types.submodule etcModule);
      default = {};
    };

    networking.nftables.enable = mkOption {
      type = types.bool;
      default = false;
    };
    services.firewalld.enable = mkOption {
      type = types.bool;
      default = false;
    };
    networking.firewall =
      {
        enable = mkOption {
          type = types.bool;
          default = true;
        };
        backend = mkOption {
          type = types.enum ["iptables" "nftables" "firewalld"];
          default =
            if config.services.firewalld.enable
            then "firewalld"
            else if config.networking.nftables.enable
            then "nftables"
            else "iptables";
        };
        # firewall-nftables.nix
        extraInputRules = mkOption {
          type = types.lines;
          default = "";
        };
        # firewall-iptables.nix
        extraCommands = mkOption {
          type = types.lines;
          default = "";
        };
        extraStopCommands = mkOption {
          type = types.lines;
          default = "";
        };
        interfaces = mkOption {
          type = types.attrsOf (types.submodule {options = portsOptions;});
          default = {};
        };
      }
      // portsOptions;

    # services/networking/haproxy.nix
    services.haproxy = {
      enable = lib.mkEnableOption "HAProxy, the reliable, high performance TCP/HTTP load balancer";
      package = lib.mkPackageOption pkgs "haproxy" {};
      user = mkOption {
        type = types.str;
        default = "haproxy";
      };
      group = mkOption {
        type = types.str;
        default = "haproxy";
      };
      config = mkOption {
        type = types.nullOr types.lines;
        default = null;
      };
    };

    # services/networking/keepalived/default.nix (the options the pair sets)
    services.keepalived = {
      enable = mkOption {
        type = types.bool;
        default = false;
      };
      enableScriptSecurity = mkOption {
        type = types.bool;
        default = false;
      };
      extraConfig = mkOption {
        type = types.lines;
        default = "";
      };
    };

    # config/sysctl.nix
    boot.kernel.sysctl = mkOption {
      type = with types; attrsOf (nullOr (oneOf [bool str int]));
      default = {};
    };
  };

  config = {
    # The users-groups.nix assertions that concern a system user.
    assertions =
      lib.concatLists (lib.mapAttrsToList (name: u: [
          {
            assertion = u.isSystemUser -> u.group != "";
            message = "users.users.${name}.group is unset. This used to default to\nnogroup, but this is unsafe.";
          }
          {
            assertion = u.isNormalUser != u.isSystemUser;
            message = "Exactly one of users.users.${name}.isSystemUser and users.users.${name}.isNormalUser must be set.";
          }
        ])
        config.users.users)
      # firewall-nftables.nix
      ++ [
        {
          assertion = config.networking.firewall.enable && config.networking.firewall.backend == "nftables" -> config.networking.firewall.extraCommands == "";
          message = "extraCommands is incompatible with the nftables based firewall: ${config.networking.firewall.extraCommands}";
        }
      ];
  };
}
