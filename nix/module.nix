# services.haproxy-k8s: HAProxy in front of a Kubernetes control plane.
#
# The options mirror the generator's input contract (docs/input-contract.md) field for field.
# At build time `builtins.toJSON` of the generator's fields goes through
# `haproxy-k8s-gen generate` and `haproxy -c -dW` in one derivation, so a bad option set fails
# `nixos-rebuild` with the option's name instead of failing at service start. Nothing is read
# back from that derivation at evaluation time (no import-from-derivation): the unit, /etc and
# the firewall only refer to its output paths.
{
  config,
  options,
  lib,
  pkgs,
  ...
}: let
  inherit (lib) mkOption types literalExpression literalMD;

  cfg = config.services.haproxy-k8s;
  prefix = "services.haproxy-k8s";
  workloads = import ./workloads.nix {inherit lib prefix;};

  # Validation of names, addresses, durations and paths is the generator's job: it reports
  # every problem at once, each with its option path. The types here catch what Nix itself
  # can (ints, enums, bools, structure) with NixOS's own messages.
  duration = types.str;

  mkPortOption = default: description:
    mkOption {
      type = types.port;
      inherit default description;
      example = default;
    };

  nodeModule = {
    options = {
      name = mkOption {
        type = types.str;
        example = "k8s-master-1";
        description = ''
          Server name in HAProxy (stats page, logs, runtime API). Letters, digits, `_` and
          `-`, not starting with `-`, at most 63 characters; unique within a cluster.
        '';
      };
      address = mkOption {
        type = types.str;
        example = "192.168.8.10";
        description = ''
          IPv4 or IPv6 address, or DNS hostname, of the apiserver. Hostnames are resolved
          at start and re-resolved at runtime (see {option}`${prefix}.resolvers`).
        '';
      };
      port = mkOption {
        type = types.port;
        default = 6443;
        description = "Port of the apiserver on this node.";
      };
      weight = mkOption {
        type = types.ints.between 0 256;
        default = 1;
        description = "HAProxy server weight; 0 drains the node (no new connections).";
      };
      backup = mkOption {
        type = types.bool;
        default = false;
        description = "Use this node only when every non-backup node is DOWN.";
      };
    };
  };

  nodesOption = mkOption {
    type = types.listOf (types.submodule nodeModule);
    default = [];
    example = literalExpression ''
      [
        { name = "k8s-master-1"; address = "192.168.8.10"; port = 6443; }
        { name = "k8s-master-2"; address = "192.168.8.11"; port = 6443; }
        { name = "k8s-master-3"; address = "192.168.8.12"; port = 6443; }
      ]
    '';
    description = ''
      The control-plane nodes (kube-apiservers) to balance over. May be empty: the frontend
      then exists but has no server to forward to.
    '';
  };

  bindAddressOption = mkOption {
    type = types.str;
    default = "*";
    example = "192.168.8.1";
    description = ''
      IP literal the API frontend binds, or `*` (all IPv4 addresses) or `::` (all IPv4 and
      IPv6 addresses).
    '';
  };

  allowedSourcesOption = mkOption {
    type = types.listOf types.str;
    default = [];
    example = ["192.168.8.0/24" "fd00:8::/64"];
    description = ''
      CIDRs that may reach the API frontend, enforced by an HAProxy ACL and, with
      {option}`${prefix}.openFirewall`, by the firewall. Empty means anyone (the apiserver
      authenticates its clients itself).
    '';
  };

  clusterModule = {
    options = {
      frontendPort = mkPortOption 6443 "Port of this cluster's API frontend.";
      bindAddress = bindAddressOption;
      controlPlaneNodes = nodesOption;
      allowedSources = allowedSourcesOption;
      sniRoutes = workloads.sniRoutesOption "this cluster's API frontend";
    };
  };

  optionalPath = example: description:
    mkOption {
      type = types.nullOr types.str;
      default = null;
      inherit example description;
    };

  # ---- what the generator reads: exactly the contract's fields ----------------------------
  nodeJSON = n: {inherit (n) name address port weight backup;};
  clusterJSON = c: {
    inherit (c) frontendPort bindAddress allowedSources;
    controlPlaneNodes = map nodeJSON c.controlPlaneNodes;
    sniRoutes = map workloads.routeJSON c.sniRoutes;
  };
  # A top-level value reaches the generator when something reads it or the user set it: the
  # generator refuses a set value nothing reads (a top-level allowedSources beside `clusters`
  # would otherwise restrict nothing), so a mere default must not look set.
  setByUser = name: options.services.haproxy-k8s.${name}.highestPrio < (lib.mkOptionDefault null).priority;
  readByGenerator = {
    frontendPort = shorthandActive;
    allowedSources = shorthandActive;
    sniRoutes = shorthandActive;
    bindAddress = shorthandActive || (cfg.stats.enable && cfg.stats.bindAddress == null);
    statsPort = cfg.stats.enable;
  };
  ownInput = lib.filterAttrs (name: _: readByGenerator.${name} or true || setByUser name) {
    inherit (cfg) frontendPort bindAddress allowedSources statsPort;
    controlPlaneNodes = map nodeJSON cfg.controlPlaneNodes;
    clusters = lib.mapAttrs (_: clusterJSON) cfg.clusters;
    stats = {
      inherit (cfg.stats) enable bindAddress allowedSources uri prometheus refresh credentialsFile;
    };
    healthCheck = {
      inherit (cfg.healthCheck) type path expectStatus interval fall rise caFile clientCertificate;
    };
    timeouts = {inherit (cfg.timeouts) connect client server tunnel clientFin check;};
    inherit (cfg) balance onMarkedDown retries redispatch adminSocket maxConnections hardStopAfter;
    log = {inherit (cfg.log) target facility level;};
    resolvers = {inherit (cfg.resolvers) nameservers hold;};
    firewall = {inherit (cfg.firewall) interface;};
    extraConfig = {inherit (cfg.extraConfig) global defaults frontend backend stats;};
    backends = lib.mapAttrs (_: workloads.backendJSON) cfg.backends;
    sniRoutes = map workloads.routeJSON cfg.sniRoutes;
  };
  # The pair (peers, vip) lives in nix/pair.nix.
  generatorInput = ownInput // cfg.pairInternals.generatorInput;

  # The checker runs on the build platform; with a native build that is the configured
  # package itself, so the version that will run is the version that checked the file.
  checkHaproxy =
    if pkgs.stdenv.buildPlatform.canExecute pkgs.stdenv.hostPlatform
    then cfg.package
    else pkgs.buildPackages.haproxy;

  # `--haproxy-check` runs `haproxy -c -dW` (the checker from PATH) on the config before it is
  # written. It sets placeholder stats credentials (the real ones are read at runtime from the
  # EnvironmentFile) and, for health-check CA/client-certificate files that are not visible in
  # the build sandbox, checks a variant without them and says so.
  generated =
    pkgs.runCommand "haproxy-k8s-config" {
      generatorInput = builtins.toJSON generatorInput;
      passAsFile = ["generatorInput"];
      preferLocalBuild = true;
      allowSubstitutes = false;
    } ''
      mkdir -p "$out"
      export PATH=${lib.makeBinPath [checkHaproxy]}:$PATH
      ${lib.getExe' cfg.generatorPackage "haproxy-k8s-gen"} generate \
        --option-prefix ${prefix} \
        --input "$generatorInputPath" \
        --out-dir "$out" \
        ${lib.optionalString cfg.checkConfig "--haproxy-check"}
    '';

  # The firewall rules in their own derivation, built from the fields they depend on only
  # (listeners, source filters, interface, the pair's peers and VRRP), so a changed timeout, node or stats page leaves
  # the ruleset's store path alone and the firewall is not reloaded for it (with the iptables
  # backend a reload briefly drops all input). The generator renders them from this subset:
  # nodes only decide whether the `default` cluster exists (see `shorthandActive`), so one
  # placeholder node (a TEST-NET-1 address, never contacted: haproxy.cfg is not kept) stands
  # for them, in every cluster (so the generator does not warn about empty clusters twice).
  # The top-level listener values are those generatorInput passes (the generator refuses a
  # set value nothing reads). tests/nix-eval.sh checks that the rules equal those rendered
  # from the full option set.
  listenerInput = c: {inherit (c) frontendPort bindAddress allowedSources;};
  placeholderNode = {
    name = "firewall-only";
    address = "192.0.2.1";
  };
  firewallInput =
    lib.getAttrs (builtins.filter (name: generatorInput ? ${name}) ["frontendPort" "bindAddress" "allowedSources" "statsPort" "peers" "vip"]) generatorInput
    // {
      controlPlaneNodes = lib.optional shorthandActive placeholderNode;
      clusters = lib.mapAttrs (_: c: listenerInput c // {controlPlaneNodes = [placeholderNode];}) cfg.clusters;
      stats = {inherit (cfg.stats) enable bindAddress allowedSources;};
      firewall = {inherit (cfg.firewall) interface;};
    };
  firewallRules =
    pkgs.runCommand "haproxy-k8s-firewall" {
      firewallInput = builtins.toJSON firewallInput;
      passAsFile = ["firewallInput"];
      preferLocalBuild = true;
      allowSubstitutes = false;
    } ''
      ${lib.getExe' cfg.generatorPackage "haproxy-k8s-gen"} generate \
        --option-prefix ${prefix} \
        --input "$firewallInputPath" \
        --out-dir rendered
      mkdir -p "$out"
      cp rendered/firewall.json rendered/firewall.nft rendered/firewall.iptables "$out"/
    '';

  # Every port we bind, for the capability decision and the services.haproxy clash check.
  shorthandActive = cfg.controlPlaneNodes != [] || cfg.clusters == {};
  binds =
    lib.optional shorthandActive {
      address = cfg.bindAddress;
      port = cfg.frontendPort;
      what = "${prefix}.frontendPort";
    }
    ++ lib.mapAttrsToList (name: c: {
      address = c.bindAddress;
      port = c.frontendPort;
      what = "${prefix}.clusters.${name}.frontendPort";
    })
    cfg.clusters
    ++ lib.optional cfg.stats.enable {
      address =
        if cfg.stats.bindAddress != null
        then cfg.stats.bindAddress
        else cfg.bindAddress;
      port = cfg.statsPort;
      what = "${prefix}.statsPort";
    }
    ++ cfg.pairInternals.binds;
  # Seed 004's module example (every node commented out) must build, but not silently.
  emptyNodeLists =
    lib.optional (shorthandActive && cfg.controlPlaneNodes == []) "${prefix}.controlPlaneNodes"
    ++ lib.mapAttrsToList (name: _: "${prefix}.clusters.${name}.controlPlaneNodes")
    (lib.filterAttrs (_: c: c.controlPlaneNodes == []) cfg.clusters);
  needsBindCapability = lib.any (b: b.port < 1024) binds;

  # Best effort: the `bind ADDR:PORT[,ADDR:PORT...]` lines of services.haproxy's free-text
  # config. A wildcard on either side clashes with any address on the same port.
  wildcards = ["*" "" "0.0.0.0" "::" "[::]"];
  normaliseAddress = a: lib.removeSuffix "]" (lib.removePrefix "[" a);
  otherBinds = let
    text = config.services.haproxy.config;
    lines = lib.splitString "\n" (
      if text == null
      then ""
      else text
    );
    bindArgs = lib.concatMap (l: let
      m = builtins.match "[[:space:]]*bind[[:space:]]+([^[:space:]]+).*" l;
    in
      if m == null
      then []
      else lib.splitString "," (builtins.head m))
    lines;
    parse = arg: let
      m = builtins.match "(.*):([0-9]+)" arg;
    in
      if m == null
      then null
      else {
        address = builtins.elemAt m 0;
        port = lib.toInt (builtins.elemAt m 1);
      };
  in
    builtins.filter (b: b != null) (map parse bindArgs);
  clashes = lib.filter (ours:
    lib.any (theirs:
      theirs.port
      == ours.port
      && (lib.elem theirs.address wildcards
        || lib.elem ours.address wildcards
        || normaliseAddress theirs.address == normaliseAddress ours.address))
    otherBinds)
  binds;

  runDir = "/run/haproxy-k8s";
  # The unit's [Service] section names only these stable paths, never a store path: a
  # switch-to-configuration restarts a unit whose [Service] differs (dropping every open watch)
  # but only reloads one whose X-Reload-Triggers differ. A new HAProxy or coreutils therefore
  # changes the /etc links and the reload triggers, and the reload (USR2: the master re-executes
  # its argv[0], this link) runs the new binary without dropping a connection.
  etcDir = "/etc/haproxy-k8s";
  etcPath = "${etcDir}/haproxy.cfg";
  haproxyLink = "${etcDir}/haproxy";
  killLink = "${etcDir}/kill";
  adminSocketDir = builtins.dirOf cfg.adminSocket;
  adminSocketInRunDir = lib.hasPrefix "${runDir}/" cfg.adminSocket;
  # The tmpfiles rule below makes the admin socket's directory the service's own (owner, mode)
  # and ReadWritePaths opens it for writing: never do that to a directory others use.
  sharedDirs = ["/" "/run" "/tmp" "/var" "/var/run" "/var/tmp" "/var/lib" "/var/cache" "/var/log" "/var/spool" "/etc" "/home" "/root" "/srv" "/opt" "/usr" "/nix" "/dev" "/proc" "/sys" "/boot" "/mnt" "/media" "/run/user"];
  sharedPrefixes = ["/nix/" "/proc/" "/sys/" "/dev/" "/etc/" "/usr/" "/boot/" "/run/user/" "/run/systemd/" "/run/wrappers/" "/run/current-system/" "/run/booted-system/"];
  # PrivateTmp gives the service its own /tmp and /var/tmp: a socket there is unreachable.
  privateTmpPrefixes = ["/tmp/" "/var/tmp/"];
  adminSocketDirProblem =
    if adminSocketInRunDir
    then null
    else if lib.elem adminSocketDir sharedDirs || lib.any (p: lib.hasPrefix p "${adminSocketDir}/") sharedPrefixes
    then "its directory ${adminSocketDir} is shared with other programs, and the service would take it over (owner, mode, write access)"
    else if lib.any (p: lib.hasPrefix p "${adminSocketDir}/") privateTmpPrefixes
    then "the service has a private /tmp and /var/tmp (PrivateTmp), so nothing outside it could reach the socket"
    else null;
in {
  imports = [./pair.nix];

  options.services.haproxy-k8s = {
    # ---- seed 004's interface, first and exactly as written there -------------------------
    enable = lib.mkEnableOption "HAProxy as a load balancer for the Kubernetes API (control plane)";

    frontendPort = mkPortOption 6443 "Port of the Kubernetes API frontend.";

    bindAddress = bindAddressOption;

    controlPlaneNodes = nodesOption;

    statsPort = mkPortOption 8404 ''
      Port of the statistics listener: the stats page at {option}`${prefix}.stats.uri` and
      Prometheus metrics at `/metrics`.
    '';

    # ---- the rest of the generator's input ------------------------------------------------
    allowedSources = allowedSourcesOption;

    clusters = mkOption {
      type = types.attrsOf (types.submodule clusterModule);
      default = {};
      example = literalExpression ''
        {
          cluster-1 = {
            bindAddress = "192.168.9.1";
            controlPlaneNodes = [
              { name = "cp-1"; address = "192.168.9.10"; }
              { name = "cp-2"; address = "192.168.9.11"; }
            ];
          };
        }
      '';
      description = ''
        Further clusters, each with its own API frontend and nodes. The top-level
        `frontendPort`/`bindAddress`/`controlPlaneNodes`/`allowedSources` form the cluster
        named `default` when `controlPlaneNodes` is non-empty or `clusters` is empty, so the
        name `default` is reserved. Without that cluster, setting the top-level
        `frontendPort` or `allowedSources` (or `bindAddress`, unless the stats listener uses it)
        fails the build instead of being ignored.
      '';
    };

    stats = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Whether to serve the statistics page and `/metrics`.";
      };
      bindAddress = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "127.0.0.1";
        description = "Address of the stats listener; `null` means {option}`${prefix}.bindAddress`.";
      };
      allowedSources = mkOption {
        type = types.listOf types.str;
        default = ["127.0.0.0/8" "::1/128" "10.0.0.0/8" "172.16.0.0/12" "192.168.0.0/16" "fc00::/7"];
        example = ["192.168.8.0/24"];
        description = ''
          CIDRs that may read the stats page and metrics (HAProxy ACL and firewall source
          filter). The default is loopback and private ranges; empty means anyone.
        '';
      };
      uri = mkOption {
        type = types.str;
        default = "/stats";
        description = "Path of the stats page.";
      };
      prometheus = mkOption {
        type = types.bool;
        default = true;
        description = "Serve HAProxy's built-in Prometheus exporter at `/metrics`.";
      };
      refresh = mkOption {
        type = duration;
        default = "10s";
        description = "Auto-refresh interval of the stats page (HAProxy duration).";
      };
      credentialsFile = optionalPath "/run/secrets/haproxy-k8s-stats" ''
        File (outside the Nix store) read by systemd as the unit's `EnvironmentFile`, holding
        `HAPROXY_K8S_STATS_USER=` and `HAPROXY_K8S_STATS_PASSWORD=`. When set, the stats page
        and `/metrics` require HTTP basic authentication. Give a string, not a Nix path
        literal: a path literal would be copied into the world-readable store.
      '';
    };

    healthCheck = {
      type = mkOption {
        type = types.enum ["https" "tls" "tcp"];
        default = "https";
        description = ''
          `https`: TLS and `GET path`, expecting `expectStatus` (kube-apiserver fails
          `/readyz` as soon as it starts shutting down); `tls`: TLS handshake only; `tcp`:
          connect only (for apiservers whose health endpoints need authentication).
        '';
      };
      path = mkOption {
        type = types.str;
        default = "/readyz";
        description = "Request path of the `https` check.";
      };
      expectStatus = mkOption {
        type = types.ints.between 100 599;
        default = 200;
        description = "HTTP status the `https` check expects.";
      };
      interval = mkOption {
        type = duration;
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
      caFile = optionalPath "/etc/kubernetes/pki/ca.crt" ''
        CA bundle to verify the apiservers' certificates with; `null` means `verify none`.
      '';
      clientCertificate = optionalPath "/var/lib/haproxy-k8s/health-client.pem" ''
        PEM file with a client certificate and key for the check, for apiservers without
        anonymous health endpoints. Must be readable by the service user and must not be in
        the Nix store.
      '';
    };

    timeouts = {
      connect = mkOption {
        type = duration;
        default = "2s";
        description = ''
          HAProxy `timeout connect`: how long a request waits on a node that does not answer
          before it moves to another one.
        '';
      };
      client = mkOption {
        type = duration;
        default = "20s";
        description = "HAProxy `timeout client` (until the connection becomes a tunnel).";
      };
      server = mkOption {
        type = duration;
        default = "20s";
        description = "HAProxy `timeout server`.";
      };
      tunnel = mkOption {
        type = duration;
        default = "1h";
        description = ''
          HAProxy `timeout tunnel`: how long an idle established connection (watch,
          `logs -f`, `exec`) is kept. The apiserver ends watches after 30–60 minutes itself.
        '';
      };
      clientFin = mkOption {
        type = duration;
        default = "10s";
        description = "HAProxy `timeout client-fin` for half-closed connections.";
      };
      check = mkOption {
        type = duration;
        default = "5s";
        description = "HAProxy `timeout check`.";
      };
    };

    balance = mkOption {
      type = types.enum ["leastconn" "roundrobin" "source" "first"];
      default = "leastconn";
      description = "Balance algorithm over the nodes of a cluster.";
    };

    onMarkedDown = mkOption {
      type = types.enum ["shutdown-sessions" "none"];
      # none (issue 12): shutdown-sessions also kills streams still connecting to the node
      # at the DOWN instant, which redispatch would have saved (3 + 3 such cuts in 40 + 40
      # SIGKILL runs on HAProxy 2.6 / 3.0, 0 with none; docs/benchmarks.md).
      default = "none";
      description = "What happens to open sessions of a node marked DOWN. `shutdown-sessions` closes them at once (watches through a black-holed node end at DOWN) but also cuts streams that were still connecting to the node and would have been redispatched; with `none` (default) server-side TCP keepalive ends them.";
    };

    retries = mkOption {
      type = types.ints.between 0 100;
      default = 3;
      description = "Connection retries before giving up on a request.";
    };

    redispatch = mkOption {
      type = types.bool;
      default = true;
      description = "`option redispatch`: retry a failed connection on another node.";
    };

    adminSocket = mkOption {
      type = types.str;
      default = "${runDir}/admin.sock";
      description = ''
        HAProxy runtime API socket (mode 660, group of the service, `expose-fd listeners`
        for seamless reloads). Outside `/run/haproxy-k8s` it needs a directory of its own,
        which the module creates for the service (tmpfiles) and opens for writing.
      '';
    };

    maxConnections = mkOption {
      type = types.ints.between 1 10000000;
      default = 4000;
      description = "HAProxy global `maxconn`.";
    };

    hardStopAfter = mkOption {
      type = types.nullOr duration;
      default = "15m";
      description = ''
        How long an old worker may keep serving its connections after a reload; `null`
        means until they close.
      '';
    };

    log = {
      target = mkOption {
        type = types.str;
        default = "/dev/log";
        description = "`/dev/log` (the journal), `stdout`, `stderr`, or an absolute socket path.";
      };
      facility = mkOption {
        type = types.enum [
          "kern"
          "user"
          "mail"
          "daemon"
          "auth"
          "syslog"
          "lpr"
          "news"
          "uucp"
          "cron"
          "auth2"
          "ftp"
          "ntp"
          "audit"
          "alert"
          "cron2"
          "local0"
          "local1"
          "local2"
          "local3"
          "local4"
          "local5"
          "local6"
          "local7"
        ];
        default = "local0";
        description = "Syslog facility of HAProxy's logs.";
      };
      level = mkOption {
        type = types.enum ["emerg" "alert" "crit" "err" "warning" "notice" "info" "debug"];
        default = "info";
        description = "Maximum syslog level logged.";
      };
    };

    resolvers = {
      nameservers = mkOption {
        type = types.listOf types.str;
        default = [];
        example = ["192.168.8.1" "192.168.8.2:53"];
        description = "DNS servers (`IP` or `IP:port`) for hostname nodes; empty = /etc/resolv.conf.";
      };
      hold = mkOption {
        type = duration;
        default = "10s";
        description = "How long a resolved address is kept while DNS fails.";
      };
    };

    firewall.interface = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "vlan8";
      description = "Restrict every generated firewall rule to this input interface.";
    };

    extraConfig = lib.genAttrs ["global" "defaults" "frontend" "backend" "stats"] (section:
      mkOption {
        type = types.lines;
        default = "";
        description = ''
          Unvalidated lines appended to the `${section}` section${
            lib.optionalString (section == "frontend" || section == "backend") " of every API ${section}"
          }. `haproxy -c` still checks them at build time.
        '';
      });

    # ---- workload traffic beside the API (nix/workloads.nix) ------------------------------
    backends = workloads.backendsOption;

    sniRoutes = workloads.sniRoutesOption "the top-level (`default`) cluster's API frontend";

    # ---- NixOS integration ---------------------------------------------------------------
    package = lib.mkPackageOption pkgs "haproxy" {};

    generatorPackage = mkOption {
      type = types.package;
      default = pkgs.buildPackages.callPackage ./package.nix {};
      defaultText = literalMD "this repository's `haproxy-k8s-gen` built for the build platform (the flake's module uses the flake's own package)";
      description = ''
        Package providing `haproxy-k8s-gen`, run at build time to render and validate the
        configuration. It runs on the build platform.
      '';
    };

    openFirewall = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Add the generated rules (API frontends and stats port, with their source filters and
        interface) to the NixOS firewall: the nftables backend includes the generated rule file
        in `networking.firewall.extraInputRules`; the iptables backend sources the generated
        script from `networking.firewall.extraCommands`.
      '';
    };

    checkConfig = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Run `haproxy -c -dW` (HAProxy from {option}`${prefix}.package`, or from
        `buildPackages` when cross-compiling) on the generated file at build time, so a
        configuration HAProxy would reject fails the build. Health-check certificate files that
        are not readable in the build sandbox are left out of that check (they are loaded when
        the service starts). The generator's own validation always runs.
      '';
    };

    generatedConfig = mkOption {
      type = types.package;
      readOnly = true;
      internal = true;
      default = generated;
      defaultText = literalMD "the derivation holding `haproxy.cfg` and the firewall rules";
      description = "The build output: `haproxy.cfg`, `firewall.json`, `firewall.nft`, `firewall.iptables` (and `keepalived.conf` with a VIP).";
    };

    generatedFirewall = mkOption {
      type = types.package;
      readOnly = true;
      internal = true;
      default = firewallRules;
      defaultText = literalMD "the derivation holding the firewall rules only";
      description = "`firewall.json`, `firewall.nft`, `firewall.iptables`, built from the firewall-relevant options only.";
    };

    generatorInput = mkOption {
      type = types.attrs;
      readOnly = true;
      internal = true;
      default = generatorInput;
      defaultText = literalMD "the generator's fields of this option set";
      description = "What `builtins.toJSON` hands to `haproxy-k8s-gen` (exposed for tests).";
    };
  };

  config = lib.mkIf cfg.enable (lib.mkMerge [
    {
      assertions = [
        {
          assertion = adminSocketDirProblem == null;
          message = "${prefix}.adminSocket = \"${cfg.adminSocket}\": ${toString adminSocketDirProblem}. Put the socket in a directory of its own, e.g. /run/haproxy-k8s-admin/admin.sock.";
        }
        {
          assertion = !(config.services.haproxy.enable or false) || clashes == [];
          message = ''
            services.haproxy-k8s and services.haproxy both bind ${
              lib.concatMapStringsSep ", " (b: "${b.address}:${toString b.port} (${b.what})") clashes
            }. Change one of them: two HAProxy instances cannot share an address and port.
          '';
        }
      ];

      warnings =
        lib.optional (cfg.openFirewall && config.networking.firewall.enable && config.networking.firewall.backend == "firewalld")
        "services.haproxy-k8s.openFirewall has no effect with the firewalld backend; open ${
          lib.concatMapStringsSep ", " (b: "${toString b.port}/tcp") binds
        } in firewalld yourself."
        ++ map (path: "${path} is empty: that cluster has no kube-apiserver to forward to, so its API frontend closes every connection it accepts; list the control-plane nodes there.")
        emptyNodeLists
        ++ workloads.emptyBackendWarnings cfg.backends;

      # Stable paths: a changed configuration or package changes these links and the reload
      # triggers below, never the unit's [Service] section (see runDir above).
      environment.etc = {
        "haproxy-k8s/haproxy.cfg".source = "${generated}/haproxy.cfg";
        "haproxy-k8s/haproxy".source = lib.getExe' cfg.package "haproxy";
        "haproxy-k8s/kill".source = "${pkgs.coreutils}/bin/kill";
      };

      # An admin socket outside the runtime directory needs its directory to exist before the
      # unit's mount namespace is set up (ReadWritePaths below).
      systemd.tmpfiles.rules = lib.mkIf (!adminSocketInRunDir) [
        "d ${adminSocketDir} 0750 haproxy-k8s haproxy-k8s - -"
      ];

      users.users.haproxy-k8s = {
        isSystemUser = true;
        group = "haproxy-k8s";
        description = "HAProxy for the Kubernetes API";
      };
      users.groups.haproxy-k8s = {};

      systemd.services.haproxy-k8s = {
        description = "HAProxy load balancer for the Kubernetes API";
        documentation = ["https://docs.haproxy.org/"];
        wants = ["network-online.target"];
        after = ["network-online.target"];
        wantedBy = ["multi-user.target"];
        # Whatever the /etc links point to: a new config, HAProxy or coreutils reloads.
        reloadTriggers = [generated cfg.package pkgs.coreutils];
        # NixOS's default PATH (coreutils, findutils, grep, sed, systemd) and the global
        # LOCALE_ARCHIVE and TZDIR would put store paths into [Service]: every bump of those
        # packages would restart the unit. HAProxy runs no external program and needs no
        # locale; /etc/zoneinfo is NixOS's stable link to tzdata.
        path = lib.mkForce [];
        environment = {
          LOCALE_ARCHIVE = null;
          TZDIR = "/etc/zoneinfo";
        };
        serviceConfig = {
          # Type=notify with an explicit ExecReload rather than Type=notify-reload: the new
          # binary checks the new configuration before the master is signalled, so a bad
          # configuration fails `systemctl reload` and leaves the running master untouched.
          # (HAProxy 3.x would support notify-reload: it sends RELOADING=1 with MONOTONIC_USEC.)
          Type = "notify";
          User = "haproxy-k8s";
          Group = "haproxy-k8s";
          EnvironmentFile = lib.mkIf (cfg.stats.credentialsFile != null) cfg.stats.credentialsFile;
          ExecStart = "${haproxyLink} -Ws -f ${etcPath} -p ${runDir}/haproxy.pid";
          ExecReload = [
            "${haproxyLink} -c -q -f ${etcPath}"
            "${killLink} -USR2 $MAINPID"
          ];
          KillMode = "mixed";
          SuccessExitStatus = "143";
          Restart = "on-failure";
          RestartSec = "2s";
          RuntimeDirectory = "haproxy-k8s";
          RuntimeDirectoryMode = "0750";
          # `-`: a missing directory is not a reason for systemd to refuse the unit (HAProxy
          # then names the socket it cannot create); the tmpfiles rule above creates it.
          ReadWritePaths = lib.mkIf (!adminSocketInRunDir) ["-${adminSocketDir}"];
          StandardOutput = "journal";
          StandardError = "journal";
          SyslogIdentifier = "haproxy-k8s";
          LimitNOFILE = 2 * cfg.maxConnections + 1024;

          # Sandboxing (`systemd-analyze security` figure in docs/nixos.md).
          NoNewPrivileges = true;
          ProtectSystem = "strict";
          ProtectHome = true;
          PrivateTmp = true;
          PrivateDevices = true;
          PrivateIPC = true;
          # A user namespace would keep CAP_NET_BIND_SERVICE from working on the host's
          # network namespace, so only without a privileged port.
          PrivateUsers = !needsBindCapability;
          ProtectKernelTunables = true;
          ProtectKernelModules = true;
          ProtectKernelLogs = true;
          ProtectControlGroups = true;
          ProtectClock = true;
          ProtectHostname = true;
          ProtectProc = "invisible";
          ProcSubset = "pid";
          RestrictNamespaces = true;
          RestrictRealtime = true;
          RestrictSUIDSGID = true;
          LockPersonality = true;
          RemoveIPC = true;
          UMask = "0077";
          RestrictAddressFamilies = ["AF_UNIX" "AF_INET" "AF_INET6"];
          SystemCallArchitectures = "native";
          SystemCallFilter = ["@system-service" "~@privileged"];
          SystemCallErrorNumber = "EPERM";
          # No capability at all unless a port below 1024 is bound.
          CapabilityBoundingSet =
            if needsBindCapability
            then "CAP_NET_BIND_SERVICE"
            else "";
          AmbientCapabilities = lib.mkIf needsBindCapability "CAP_NET_BIND_SERVICE";
        };
      };
    }

    (lib.mkIf (cfg.openFirewall && config.networking.firewall.backend == "nftables") {
      # nft accepts `include` inside a chain body: the generated rules land in the
      # input-allow chain of table inet nixos-fw without being read at evaluation time.
      networking.firewall.extraInputRules = ''
        include "${firewallRules}/firewall.nft"
      '';
    })

    (lib.mkIf (cfg.openFirewall && config.networking.firewall.backend == "iptables") {
      networking.firewall.extraCommands = ''
        . ${firewallRules}/firewall.iptables
      '';
    })
  ]);
}
