# services.haproxy-k8s.peers and .vip: two load balancers, one address.
#
# `peers` syncs HAProxy's stick tables between the machines of an active-active pair; `vip`
# is this machine's side of a VRRP pair. The generator writes keepalived.conf next to
# haproxy.cfg (same derivation, same validation); services.keepalived includes it, so its
# logic exists once. The firewall rules for the peers port and VRRP are in the generated
# firewall files that nix/module.nix already wires (openFirewall).
{
  config,
  lib,
  pkgs,
  ...
}: let
  inherit (lib) mkOption types literalExpression;

  cfg = config.services.haproxy-k8s;
  prefix = "services.haproxy-k8s";

  memberModule = {
    options = {
      name = mkOption {
        type = types.str;
        example = "lb1";
        description = "Peer name (HAProxy `peer` line); unique among the members.";
      };
      address = mkOption {
        type = types.str;
        example = "192.168.8.2";
        description = ''
          IP literal of the member: its HAProxy listens there for peers and connects from it.
          All members are of one address family.
        '';
      };
    };
  };

  peersModule = {
    options = {
      localName = mkOption {
        type = types.str;
        example = "lb1";
        description = "Which of {option}`${prefix}.peers.members` this machine is (`localpeer`).";
      };
      port = mkOption {
        type = types.port;
        default = 10000;
        description = "TCP port of the peers protocol, the same on every member; opened only to the other members.";
      };
      members = mkOption {
        type = types.listOf (types.submodule memberModule);
        example = literalExpression ''
          [
            { name = "lb1"; address = "192.168.8.2"; }
            { name = "lb2"; address = "192.168.8.3"; }
          ]
        '';
        description = "Every load balancer of the pair, this one included (at least two).";
      };
      apiSticky = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Pin each API client (by source address) to one apiserver, on every member (a
          synced `stick on src` table). Off by default: a pinned client stays on its node
          after a restarted node comes back, so the returning node gets no old clients.
        '';
      };
    };
  };

  vipModule = {
    options = {
      address = mkOption {
        type = types.str;
        example = "192.168.8.1";
        description = "The virtual IP (an IP literal); clients and kubeconfigs use it.";
      };
      prefixLength = mkOption {
        type = types.ints.between 1 128;
        example = 24;
        description = "Prefix length the VIP is added with.";
      };
      interface = mkOption {
        type = types.str;
        example = "vlan8";
        description = "Interface the VIP lives on and VRRP runs over.";
      };
      virtualRouterId = mkOption {
        type = types.ints.between 1 255;
        example = 51;
        description = "VRRP router id, the same on every machine of the pair, unique on the link.";
      };
      priority = mkOption {
        type = types.ints.between 1 254;
        example = 150;
        description = ''
          VRRP priority of this machine: the highest one whose HAProxy runs and sees an
          apiserver UP holds the VIP.
        '';
      };
      unicastPeers = mkOption {
        type = types.listOf types.str;
        default = [];
        example = ["192.168.8.3"];
        description = ''
          IP literals of the other machines (VRRP by unicast, opened in the firewall from
          them only); empty means multicast VRRP (224.0.0.18 / ff02::12).
        '';
      };
      checkPort = mkOption {
        type = types.port;
        default = 8405;
        description = "Port on 127.0.0.1 where HAProxy answers keepalived's health check.";
      };
      scriptUser = mkOption {
        type = types.str;
        default = "nobody";
        description = "Unprivileged user keepalived runs the health check as (never root).";
      };
      curl = mkOption {
        type = types.str;
        default = "${pkgs.curl}/bin/curl";
        defaultText = literalExpression ''"''${pkgs.curl}/bin/curl"'';
        description = "The HTTP client the health check runs.";
      };
    };
  };

  memberJSON = m: {inherit (m) name address;};
  pairInput =
    lib.optionalAttrs (cfg.peers != null) {
      peers = {
        inherit (cfg.peers) localName port apiSticky;
        members = map memberJSON cfg.peers.members;
      };
    }
    // lib.optionalAttrs (cfg.vip != null) {
      vip = {inherit (cfg.vip) address prefixLength interface virtualRouterId priority unicastPeers checkPort scriptUser curl;};
    };
  localMember = lib.findFirst (m: m.name == cfg.peers.localName) null cfg.peers.members;
  pairBinds =
    lib.optional (cfg.peers != null && localMember != null) {
      inherit (localMember) address;
      inherit (cfg.peers) port;
      what = "${prefix}.peers.port";
    }
    ++ lib.optional (cfg.vip != null) {
      address = "127.0.0.1";
      port = cfg.vip.checkPort;
      what = "${prefix}.vip.checkPort";
    };
  vipIsIpv6 = cfg.vip != null && lib.hasInfix ":" cfg.vip.address;
in {
  options.services.haproxy-k8s = {
    peers = mkOption {
      type = types.nullOr (types.submodule peersModule);
      default = null;
      description = ''
        Active-active pair: a `peers` section syncing every stick table between the members.
        Each machine sets its own `localName`.
      '';
    };
    vip = mkOption {
      type = types.nullOr (types.submodule vipModule);
      default = null;
      description = ''
        This machine's side of a VRRP pair carrying a virtual IP: enables
        `services.keepalived` with the generated `keepalived.conf` (a failing check of this
        machine's HAProxy puts the instance in FAULT), and lets HAProxy bind the VIP while
        the other machine holds it (`ip_nonlocal_bind`).
      '';
    };
    pairInternals = mkOption {
      type = types.attrs;
      readOnly = true;
      internal = true;
      default = {
        generatorInput = pairInput;
        binds = pairBinds;
      };
      description = "The pair's part of the generator input and its listeners (for nix/module.nix).";
    };
  };

  config = lib.mkIf (cfg.enable && cfg.vip != null) {
    services.keepalived = {
      enable = true;
      enableScriptSecurity = true;
      # The generated file brings its own global_defs (script_user) besides the module's.
      extraConfig = ''
        include ${cfg.generatedConfig}/keepalived.conf
      '';
    };
    # HAProxy binds the VIP also on the machine that does not hold it (yet).
    boot.kernel.sysctl.${
      if vipIsIpv6
      then "net.ipv6.ip_nonlocal_bind"
      else "net.ipv4.ip_nonlocal_bind"
    } =
      lib.mkDefault 1;
  };
}
