# VM test (issue 3 §6): a router running services.haproxy-k8s with seed 004's configuration in
# front of three control-plane nodes running apiserver-standin (HTTPS /readyz, /version,
# watches, kube-apiserver's graceful SIGTERM), a client on the Kubernetes VLAN and an outsider
# on another network.
#
# Subtests mirror the network testbed's scenarios (issue 4) one to one:
#   a. requests through the router reach all three nodes; kubectl works through it
#   b. SIGKILL of a node under a request stream: no failed request, node DOWN within budget
#   c. a black-holed node: its watches are closed and re-established, later requests all pass
#   d. rolling graceful restart of all three nodes: no failed request (a node failing /readyz
#      during its shutdown delay is drained, NOLB, not cut)
#   e. a watch idle longer than the client timeout stays open
#   f. reload with a node added (switch to a specialisation) under load: no failed request,
#      the open watch survives, the master process is the same (reload, not restart)
#   g. firewall: outsider reaches neither stats nor unopened ports; client reaches the API,
#      /stats and /metrics
#   h. the stats CSV and /metrics report each server's state as it is (DOWN when stopped,
#      NOLB when it answers but fails /readyz)
#   i. a node given by hostname follows a DNS change at runtime, without a reload
{
  pkgs,
  self,
  firewallBackend,
}: let
  inherit (pkgs) lib;
  inherit (pkgs.stdenv.hostPlatform) system;
  standin = self.packages.${system}.apiserver-standin;

  vlan = "192.168.8";
  routerIP = "${vlan}.1";
  outsideNet = "203.0.113";

  nodes = {
    cp1 = {
      ip = "${vlan}.10";
      name = "k8s-master-1";
    };
    cp2 = {
      ip = "${vlan}.11";
      name = "k8s-master-2";
    };
    cp3 = {
      ip = "${vlan}.12";
      name = "k8s-master-3";
    };
  };

  address = iface: ip: {
    networking.interfaces.${iface}.ipv4.addresses = lib.mkForce [
      {
        address = ip;
        prefixLength = 24;
      }
    ];
  };

  # A stand-in apiserver: graceful shutdown longer than the check budget (3 x 2s), watch
  # events 30s apart so a watch idles longer than `timeout client` (20s).
  standinService = name: port: {
    description = "kube-apiserver stand-in ${name}";
    wantedBy = ["multi-user.target"];
    after = ["network-online.target"];
    wants = ["network-online.target"];
    serviceConfig = {
      ExecStart = "${lib.getExe standin} --listen 0.0.0.0:${toString port} --name ${name} --shutdown-delay 10 --watch-interval-ms 30000";
      Restart = "no";
      TimeoutStopSec = 60;
      DynamicUser = true;
    };
  };

  controlPlaneNode = n: {
    imports = [(address "eth1" n.ip)];
    virtualisation.vlans = [1];
    networking.nftables.enable = true; # nft for the black-hole scenario
    networking.firewall.allowedTCPPorts = [6443 6444];
    environment.systemPackages = [pkgs.nftables pkgs.curl]; # curl: fail /readyz on purpose (h)
    systemd.services.apiserver-standin = standinService n.name 6443;
  };

  haproxyNodes =
    lib.mapAttrsToList (_: n: {
      inherit (n) name;
      address = n.ip;
      port = 6443;
    })
    nodes;

  apiURL = "https://${routerIP}:6443";
  statsURL = "http://${routerIP}:8404";
in
  pkgs.testers.runNixOSTest {
    name = "haproxy-k8s-control-plane-${firewallBackend}";

    nodes = {
      router = {
        imports = [
          self.nixosModules.default
          (address "eth1" routerIP)
          (address "eth2" "${outsideNet}.1")
        ];
        virtualisation.vlans = [1 2];
        networking.nftables.enable = firewallBackend == "nftables";
        networking.firewall.enable = true;

        # Seed 004's configuration, verbatim.
        services.haproxy-k8s = {
          enable = true;
          frontendPort = 6443;
          bindAddress = routerIP; # Router IP on kubernetes VLAN
          controlPlaneNodes = haproxyNodes;
          statsPort = 8404;
        };

        # Scenario f: the same router with a fourth node (a second stand-in on cp3).
        specialisation.added-node.configuration = {
          services.haproxy-k8s.controlPlaneNodes = lib.mkForce (haproxyNodes
            ++ [
              {
                name = "k8s-master-4";
                address = nodes.cp3.ip;
                port = 6444;
              }
            ]);
        };

        # Scenario i: a second cluster whose only node is a hostname, answered by a local
        # dnsmasq from a hosts file the test rewrites.
        specialisation.dns-node.configuration = {
          services.haproxy-k8s = {
            clusters.by-name = {
              bindAddress = routerIP;
              frontendPort = 7443;
              controlPlaneNodes = [
                {
                  name = "api-by-name";
                  address = "api.k8s.test";
                  port = 6443;
                }
              ];
            };
            resolvers.nameservers = ["127.0.0.1:5353"];
          };
          services.dnsmasq = {
            enable = true;
            resolveLocalQueries = false;
            settings = {
              port = 5353;
              listen-address = "127.0.0.1";
              bind-interfaces = true;
              no-resolv = true;
              no-hosts = true;
              addn-hosts = "/run/k8s-test-hosts";
              local-ttl = 1;
            };
          };
          systemd.tmpfiles.rules = ["f /run/k8s-test-hosts 0644 root root - ${nodes.cp1.ip} api.k8s.test"];
        };

        # A listener the module did not open (scenario g).
        systemd.services.unopened = {
          wantedBy = ["multi-user.target"];
          serviceConfig.ExecStart = "${pkgs.socat}/bin/socat TCP-LISTEN:9000,fork,reuseaddr EXEC:${pkgs.coreutils}/bin/date";
        };

        environment.systemPackages = [pkgs.socat pkgs.curl];
      };

      cp1 = controlPlaneNode nodes.cp1;
      cp2 = controlPlaneNode nodes.cp2;
      cp3 = {
        imports = [(controlPlaneNode nodes.cp3)];
        systemd.services.apiserver-standin-4 = standinService "k8s-master-4" 6444;
      };

      client = {
        imports = [(address "eth1" "${vlan}.50")];
        virtualisation.vlans = [1];
        environment.systemPackages = [pkgs.curl pkgs.jq pkgs.kubectl];
      };

      outsider = {
        imports = [(address "eth1" "${outsideNet}.50")];
        virtualisation.vlans = [2];
        networking.defaultGateway = "${outsideNet}.1";
        environment.systemPackages = [pkgs.curl];
      };
    };

    testScript = ''
      import time

      API = "${apiURL}"
      STATS = "${statsURL}"
      PATHENV = "--setenv=PATH=/run/current-system/sw/bin"
      CPS = {"k8s-master-1": cp1, "k8s-master-2": cp2, "k8s-master-3": cp3}


      def server_state(name):
          """Status column of the stats CSV for one server, read by the client (allowed source)."""
          return client.succeed(
              f"curl -sf '{STATS}/stats;csv' | awk -F, '$2 == \"{name}\" {{ print $18 }}'"
          ).strip()


      def wait_state(name, state, timeout):
          start = time.monotonic()
          client.wait_until_succeeds(
              f"curl -sf '{STATS}/stats;csv' | awk -F, '$2 == \"{name}\" {{ print $18 }}' | grep -qx '{state}'",
              timeout=timeout,
          )
          return time.monotonic() - start


      def start_load(tag):
          """A steady stream of requests through the router; each result is one line."""
          client.succeed(f"rm -f /tmp/load-{tag}.log")
          client.succeed(
              f"systemd-run --unit=load-{tag} --property=RuntimeMaxSec=600 {PATHENV} sh -c '"
              f"while true; do "
              f"if curl -skf --max-time 10 -o /dev/null {API}/version; then echo ok; else echo FAIL; fi; "
              f"sleep 0.05; done >> /tmp/load-{tag}.log'"
          )
          client.wait_until_succeeds(f"grep -q ok /tmp/load-{tag}.log")


      def stop_load(tag):
          client.succeed(f"systemctl stop load-{tag}")
          ok = int(client.succeed(f"grep -c ok /tmp/load-{tag}.log || true"))
          failed = int(client.succeed(f"grep -c FAIL /tmp/load-{tag}.log || true"))
          print(f"load {tag}: {ok} ok, {failed} failed")
          return ok, failed


      def open_watch(tag):
          client.succeed(
              f"systemd-run --unit=watch-{tag} {PATHENV} sh -c "
              f"'curl -skN --http1.1 -D /tmp/watch-{tag}.h "
              f"\"{API}/api/v1/namespaces/default/configmaps?watch=1\" > /tmp/watch-{tag}.out'"
          )
          client.wait_until_succeeds(f"grep -qi '^x-standin-node' /tmp/watch-{tag}.h")
          return client.succeed(f"awk -F': ' 'tolower($1) == \"x-standin-node\" {{ print $2 }}' /tmp/watch-{tag}.h").strip()


      def watch_alive(tag):
          return client.execute(f"systemctl is-active --quiet watch-{tag}")[0] == 0


      start_all()
      for cp in CPS.values():
          cp.wait_for_unit("apiserver-standin.service")
          cp.wait_for_open_port(6443)
      cp3.wait_for_open_port(6444)
      router.wait_for_unit("haproxy-k8s.service")
      router.wait_for_open_port(6443, "${routerIP}")
      for name in CPS:
          wait_state(name, "UP", 60)

      with subtest("configuration was checked at build time and is reloadable"):
          router.succeed("test -L /etc/haproxy-k8s/haproxy.cfg")
          router.succeed("/etc/haproxy-k8s/haproxy -c -f /etc/haproxy-k8s/haproxy.cfg")
          router.succeed("test -S /run/haproxy-k8s/admin.sock")
          router.succeed("systemctl show -p User haproxy-k8s | grep -qx User=haproxy-k8s")
          router.succeed("echo 'show info' | socat stdio /run/haproxy-k8s/admin.sock | grep -q '^Name: HAProxy'")

      with subtest("a: requests through the router reach all three nodes; kubectl works"):
          seen = set(
              client.succeed(
                  f"for i in $(seq 60); do curl -skf {API}/version | jq -r .node; done"
              ).split()
          )
          assert seen == set(CPS), f"requests reached {seen}"
          client.succeed(
              f"kubectl --server {API} --insecure-skip-tls-verify get --raw /version | jq -e .gitVersion"
          )

      with subtest("g: firewall opens exactly the generated rules"):
          # The client (an allowed source) reaches the API, the stats page and the metrics.
          client.succeed(f"curl -skf {API}/readyz")
          client.succeed(f"curl -sf {STATS}/stats | grep -q k8s-master-1")
          client.succeed(f"curl -sf {STATS}/metrics | grep -q '^haproxy_process_'")
          # The outsider, on a network outside stats.allowedSources, reaches the API only.
          outsider.succeed(f"curl -skf --max-time 10 {API}/version")
          outsider.fail(f"curl -sf --max-time 5 {STATS}/stats")
          outsider.fail(f"curl -sf --max-time 5 {STATS}/metrics")
          # A port the module did not open is closed to both, though something listens on it.
          router.succeed("socat -u TCP:127.0.0.1:9000 - | grep -q .")
          client.fail("socat -u TCP:${routerIP}:9000,connect-timeout=5 - | grep -q .")
          outsider.fail("curl -s --max-time 5 telnet://${routerIP}:9000 | grep -q .")

      with subtest("h: stats CSV and /metrics report each server's state"):
          cp3.succeed("systemctl stop apiserver-standin")
          wait_state("k8s-master-3", "DOWN", 60)
          client.succeed(
              f"curl -sf {STATS}/metrics | grep -E "
              "'^haproxy_server_status\\{.*server=\"k8s-master-3\".*state=\"DOWN\".*\\} 1'"
          )
          assert server_state("k8s-master-1").startswith("UP")
          # Answering but not ready: drained (NOLB), not DOWN, in the CSV and in /metrics.
          cp2.succeed("curl -skf -X POST https://127.0.0.1:6443/standin/readyz/fail")
          wait_state("k8s-master-2", "NOLB", 60)
          client.succeed(
              f"curl -sf {STATS}/metrics | grep -E "
              "'^haproxy_server_status\\{.*server=\"k8s-master-2\".*state=\"NOLB\".*\\} 1'"
          )
          cp2.succeed("curl -skf -X POST https://127.0.0.1:6443/standin/readyz/ok")
          wait_state("k8s-master-2", "UP", 60)
          cp3.succeed("systemctl start apiserver-standin")
          cp3.wait_for_open_port(6443)
          wait_state("k8s-master-3", "UP", 60)
          client.succeed(
              f"curl -sf {STATS}/metrics | grep -E "
              "'^haproxy_server_status\\{.*server=\"k8s-master-3\".*state=\"UP\".*\\} 1'"
          )

      with subtest("e: a watch idle longer than the client timeout (20s) stays open"):
          open_watch("idle")
          time.sleep(45)
          assert watch_alive("idle"), "idle watch was cut"
          client.succeed("systemctl stop watch-idle")

      with subtest("b: SIGKILL of a node under load loses no request"):
          start_load("b")
          cp1.succeed("systemctl kill --signal=SIGKILL apiserver-standin")
          took = wait_state("k8s-master-1", "DOWN", 30)
          print(f"k8s-master-1 DOWN after {took:.1f}s")
          time.sleep(3)
          ok, failed = stop_load("b")
          assert failed == 0, f"{failed} requests failed"
          cp1.succeed("systemctl start apiserver-standin")
          cp1.wait_for_open_port(6443)
          wait_state("k8s-master-1", "UP", 60)

      with subtest("c: a black-holed node: its watches are closed, then everything works"):
          tags = [f"c{i}" for i in range(6)]
          on_node = {tag: open_watch(tag) for tag in tags}
          victims = [t for t, n in on_node.items() if n == "k8s-master-2"]
          assert victims, f"no watch landed on k8s-master-2: {on_node}"
          cp2.succeed(
              "nft add table inet blackhole && "
              "nft add chain inet blackhole input '{ type filter hook input priority -10; }' && "
              "nft add rule inet blackhole input tcp dport 6443 drop && "
              # Both directions, like a node that lost power or its link: with only input
              # dropped the node keeps retransmitting its watch events, which resets the
              # router's TCP keepalive timer.
              "nft add chain inet blackhole output '{ type filter hook output priority -10; }' && "
              "nft add rule inet blackhole output tcp sport 6443 drop"
          )
          wait_state("k8s-master-2", "DOWN", 60)
          # Server-side TCP keepalive (option srvtcpka, 5 s idle + 3 x 1 s) closes the watches
          # held by the dead node (onMarkedDown defaults to none since issue 12).
          client.wait_until_succeeds(
              " && ".join(f"! systemctl is-active --quiet watch-{t}" for t in victims), timeout=30
          )
          assert all(watch_alive(t) for t in tags if t not in victims)
          assert open_watch("c-again") != "k8s-master-2"
          start_load("c")
          time.sleep(10)
          ok, failed = stop_load("c")
          assert failed == 0, f"{failed} requests failed after k8s-master-2 was marked DOWN"
          cp2.succeed("nft delete table inet blackhole")
          wait_state("k8s-master-2", "UP", 60)
          client.succeed("systemctl stop 'watch-c*'")

      with subtest("d: rolling graceful restart of all nodes loses no request"):
          start_load("d")
          for name, cp in CPS.items():
              cp.succeed("systemctl restart apiserver-standin")
              cp.wait_for_open_port(6443)
              wait_state(name, "UP", 60)
          ok, failed = stop_load("d")
          assert ok > 0 and failed == 0, f"{failed} of {ok + failed} requests failed"

      with subtest("i: a hostname node follows a DNS change without a reload"):
          base = router.succeed("readlink -f /run/current-system").strip()
          router.succeed("/run/current-system/specialisation/dns-node/bin/switch-to-configuration test")
          router.wait_for_unit("dnsmasq.service")
          by_name = "https://${routerIP}:7443"
          client.wait_until_succeeds(
              f"curl -skf {by_name}/version | jq -e '.node == \"k8s-master-1\"'", timeout=60
          )
          pid = router.succeed("systemctl show -p MainPID --value haproxy-k8s").strip()
          router.succeed(
              "echo '${nodes.cp2.ip} api.k8s.test' > /run/k8s-test-hosts && systemctl kill --signal=SIGHUP dnsmasq"
          )
          client.wait_until_succeeds(
              f"curl -skf {by_name}/version | jq -e '.node == \"k8s-master-2\"'", timeout=30
          )
          assert router.succeed("systemctl show -p MainPID --value haproxy-k8s").strip() == pid, "restarted, not re-resolved"
          router.succeed(f"{base}/bin/switch-to-configuration test")

      with subtest("f: reload with a node added keeps the watch and every request"):
          pid = router.succeed("systemctl show -p MainPID --value haproxy-k8s").strip()
          open_watch("f")
          start_load("f")
          router.succeed(
              "/run/current-system/specialisation/added-node/bin/switch-to-configuration test"
          )
          wait_state("k8s-master-4", "UP", 60)
          time.sleep(5)
          ok, failed = stop_load("f")
          assert failed == 0, f"{failed} requests failed across the reload"
          assert router.succeed("systemctl show -p MainPID --value haproxy-k8s").strip() == pid, "restarted, not reloaded"
          router.succeed("journalctl -u haproxy-k8s | grep -q 'Reload'")
          assert watch_alive("f"), "the open watch did not survive the reload"
          seen = set(
              client.succeed(
                  f"for i in $(seq 80); do curl -skf {API}/version | jq -r .node; done"
              ).split()
          )
          assert "k8s-master-4" in seen, f"new node not used: {seen}"
    '';
  }
