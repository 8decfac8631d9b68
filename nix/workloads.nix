# Workload traffic beside the API: the `backends` and `sniRoutes` options (declarations and
# what the generator reads of them), kept apart from nix/module.nix, which imports this file
# as plain Nix (not as a module) so the cluster submodule can carry `sniRoutes` too.
{
  lib,
  prefix,
}: let
  inherit (lib) mkOption types literalExpression;

  nodeModule = {
    options = {
      name = mkOption {
        type = types.str;
        example = "worker-1";
        description = ''
          Server name in HAProxy. Letters, digits, `_`, `-` and `.`, not starting with `-` or
          `.`, at most 63 characters; unique within the backend.
        '';
      };
      address = mkOption {
        type = types.str;
        example = "192.168.8.20";
        description = "IPv4 or IPv6 address, or DNS hostname (re-resolved at runtime), of the node.";
      };
      port = mkOption {
        type = types.port;
        example = 443;
        description = "Port of the workload on this node (a NodePort, an ingress controller's 443). Required: a workload has no conventional port.";
      };
      weight = mkOption {
        type = types.ints.between 0 256;
        default = 1;
        description = "HAProxy server weight; 0 drains the node.";
      };
      backup = mkOption {
        type = types.bool;
        default = false;
        description = "Use this node only when every non-backup node is DOWN.";
      };
    };
  };

  backendModule = {
    options = {
      nodes = mkOption {
        type = types.listOf (types.submodule nodeModule);
        default = [];
        description = "The nodes serving this workload. Empty builds, with a warning.";
      };
      balance = mkOption {
        type = types.enum ["leastconn" "roundrobin" "source" "first"];
        default = "leastconn";
        description = "Balance algorithm over the nodes.";
      };
      healthCheck = {
        type = mkOption {
          type = types.enum ["tcp" "tls" "http" "https"];
          default = "tcp";
          description = ''
            `tcp`: connect only; `tls`: TLS handshake (`verify none`); `http`: `GET path`;
            `https`: the same over TLS (`verify none`, SNI = `host`).
          '';
        };
        path = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "/healthz";
          description = "Request path of an `http`/`https` check; `null` means `/`. Refused with `tcp`/`tls`.";
        };
        expectStatus = mkOption {
          type = types.nullOr (types.ints.between 100 599);
          default = null;
          example = 200;
          description = "Status an `http`/`https` check expects; `null` means any 2xx or 3xx. Refused with `tcp`/`tls`.";
        };
        host = mkOption {
          type = types.nullOr types.str;
          default = null;
          example = "login.example.com";
          description = "Host header (and, for `https`, SNI) of an `http`/`https` check, for ingress controllers that route by name. Refused with `tcp`/`tls`.";
        };
        interval = mkOption {
          type = types.str;
          default = "2s";
          description = "Time between two checks of a node (HAProxy duration).";
        };
        fall = mkOption {
          type = types.ints.between 1 100;
          default = 3;
          description = "Consecutive failed checks before a node is marked DOWN.";
        };
        rise = mkOption {
          type = types.ints.between 1 100;
          default = 2;
          description = "Consecutive passed checks before a node is marked UP again.";
        };
      };
      sticky = mkOption {
        # `cookie` needs HTTP routing, which does not exist yet.
        type = types.enum ["none" "source"];
        default = "none";
        description = ''
          `source`: keep a client on one node by its address (a stick table on the source,
          30 minutes); `none`: balance every connection.
        '';
      };
    };
  };

  routeModule = {
    options = {
      hosts = mkOption {
        type = types.listOf types.str;
        example = ["login.example.com" "*.apps.example.com"];
        description = ''
          Host names matched against the TLS ClientHello's SNI, case-insensitively: exact names,
          or `*.` and a name, where `*` is exactly one label (Kubernetes Ingress semantics; an
          exact name wins over a wildcard). Each host once per listener.
        '';
      };
      backend = mkOption {
        type = types.str;
        example = "ingress";
        description = "Name of a {option}`${prefix}.backends` entry.";
      };
    };
  };
in {
  backendsOption = mkOption {
    type = types.attrsOf (types.submodule backendModule);
    default = {};
    example = literalExpression ''
      {
        ingress = {
          nodes = [
            { name = "worker-1"; address = "192.168.8.20"; port = 443; }
            { name = "worker-2"; address = "192.168.8.21"; port = 443; }
          ];
          healthCheck.type = "tls";
        };
      }
    '';
    description = ''
      Workload backends (NodePorts, ingress controllers), each reached through
      {option}`${prefix}.sniRoutes` or a cluster's `sniRoutes`. Names: letters, digits, `_` and
      `-`. A backend no route uses fails the build.
    '';
  };

  sniRoutesOption = what:
    mkOption {
      type = types.listOf (types.submodule routeModule);
      default = [];
      example = literalExpression ''
        [ { hosts = [ "login.example.com" "*.apps.example.com" ]; backend = "ingress"; } ]
      '';
      description = ''
        SNI passthrough on ${what}: a TLS connection whose ClientHello names one of a route's
        hosts goes, unterminated, to that route's backend; no SNI, or a name no route has
        (kubectl by IP or by the API's name), goes to the apiservers as before. The listener
        and its firewall rule stay the same.
      '';
    };

  # What the generator reads: exactly the contract's fields.
  backendJSON = b: {
    nodes = map (n: {inherit (n) name address port weight backup;}) b.nodes;
    inherit (b) balance sticky;
    healthCheck = {inherit (b.healthCheck) type path expectStatus host interval fall rise;};
  };
  routeJSON = r: {inherit (r) hosts backend;};

  # The generator warns too (in the build log); NixOS shows these on every rebuild.
  emptyBackendWarnings = backends:
    lib.mapAttrsToList (name: _: "${prefix}.backends.${name}.nodes is empty: connections routed to that backend are closed; list its nodes there.")
    (lib.filterAttrs (_: b: b.nodes == []) backends);
}
