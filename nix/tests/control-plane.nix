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
#   g. firewall: outsider's packets to stats and unopened ports never reach the router's
#      listeners (curl times out or is refused, where HAProxy's ACL would have answered 403);
#      client reaches the API, /stats and /metrics but not an unopened port
#   h. the stats CSV and /metrics report each server's state as it is (DOWN when stopped,
#      NOLB when it answers but fails /readyz)
#   i. a node given by hostname follows a DNS change at runtime, without a reload
#   j. dual stack: an IPv6-only cluster beside the seed's IPv4 one on the same port and a `::`
#      listener; each firewall rule has its listener's family, address and sources (the
#      outsider's packets are dropped, the IPv4-only stats port is closed on IPv6)
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
  # Scenario j's IPv6 networks: a ULA on the Kubernetes VLAN, documentation space outside.
  vlan6 = "fd00:8:";
  routerIP6 = "${vlan6}:1";
  outsideNet6 = "2001:db8:113:";

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

  address6 = iface: ip: {
    networking.interfaces.${iface}.ipv6.addresses = [
      {
        address = ip;
        prefixLength = 64;
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
          (address6 "eth1" routerIP6)
          (address6 "eth2" "${outsideNet6}:1")
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

        # Scenario j (testbed scenario j): beside the seed's IPv4 cluster on 192.168.8.1:6443,
        # an IPv6-only cluster on the same port open to the client's address only, and a
        # dual-stack `::` listener open to the VLAN's two prefixes. The nodes stay IPv4 (the
        # stand-ins listen on IPv4): what is under test is the frontend side and its firewall.
        specialisation.dual-stack.configuration = {
          services.haproxy-k8s.clusters = {
            priv = {
              bindAddress = routerIP6;
              frontendPort = 6443;
              allowedSources = ["${vlan6}:50/128"];
              controlPlaneNodes = [
                {
                  inherit (nodes.cp2) name;
                  address = nodes.cp2.ip;
                  port = 6443;
                }
              ];
            };
            dual = {
              bindAddress = "::";
              frontendPort = 7443;
              allowedSources = ["${vlan}.0/24" "${vlan6}:/64"];
              controlPlaneNodes = [
                {
                  inherit (nodes.cp3) name;
                  address = nodes.cp3.ip;
                  port = 6443;
                }
              ];
            };
          };
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
        imports = [(address "eth1" "${vlan}.50") (address6 "eth1" "${vlan6}:50")];
        virtualisation.vlans = [1];
        # socat: scenario g's port-9000 probe (without it the probe would fail for the wrong
        # reason and prove nothing).
        environment.systemPackages = [pkgs.curl pkgs.jq pkgs.kubectl pkgs.socat];
      };

      outsider = {
        imports = [(address "eth1" "${outsideNet}.50") (address6 "eth1" "${outsideNet6}:50")];
        virtualisation.vlans = [2];
        networking.defaultGateway = "${outsideNet}.1";
        networking.defaultGateway6 = {
          address = "${outsideNet6}:1";
          interface = "eth1";
        };
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


      def assert_blocked(machine, url):
          """The firewall stopped the connection: curl timed out (28, dropped) or could not
          connect (7, rejected). Any answer, even an HTTP error, means it got through."""
          status, _ = machine.execute(f"curl -s -o /dev/null --max-time 5 {url} </dev/null")
          assert status in (7, 28), f"{machine.name} reached {url} (curl exit {status})"


      def assert_dropped(machine, url):
          """The firewall dropped the connection: curl timed out (28). A refusal (7) would mean
          the packet reached the router's stack unfiltered (the NixOS firewall drops)."""
          status, _ = machine.execute(f"curl -s -o /dev/null --max-time 5 {url} </dev/null")
          assert status == 28, f"{machine.name}: {url} was not dropped (curl exit {status})"


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
          # HAProxy's own ACL would answer an outside source with 403 (shown from the router's
          # outside address, over lo, which the firewall trusts), so "the outsider gets no stats"
          # alone proves nothing about the firewall: its packets must not reach HAProxy at all.
          router.succeed(
              f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 5 --interface ${outsideNet}.1 {STATS}/stats | grep -qx 403"
          )
          for path in ("/stats", "/metrics"):
              assert_blocked(outsider, f"{STATS}{path}")
          # A port the module did not open is closed to both, though something listens on it.
          router.succeed("socat -u TCP:127.0.0.1:9000 - | grep -q .")
          client.succeed("command -v socat")
          status, out = client.execute("socat -u TCP:${routerIP}:9000,connect-timeout=5 - 2>&1")
          assert status != 0 and "E " in out, f"client reached port 9000 (socat exit {status}): {out}"
          assert_blocked(client, "telnet://${routerIP}:9000")
          assert_blocked(outsider, "telnet://${routerIP}:9000")

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

      with subtest("j: dual stack: every firewall rule has its listener's family and sources"):
          base = router.succeed("readlink -f /run/current-system").strip()
          router.succeed("/run/current-system/specialisation/dual-stack/bin/switch-to-configuration test")
          router.wait_until_succeeds("ss -Hltn 'sport = :7443' | grep -q .")
          priv = "https://[${routerIP6}]:6443"
          dual4 = "https://${routerIP}:7443"
          dual6 = "https://[${routerIP6}]:7443"
          # Allowed sources reach their own cluster, over both families.
          client.wait_until_succeeds(
              f"curl -6 -skf --max-time 10 {priv}/version | jq -e '.node == \"k8s-master-2\"'", timeout=60
          )
          client.succeed(f"kubectl --server {priv} --insecure-skip-tls-verify get --raw /version | jq -e .gitVersion")
          client.succeed(f"curl -skf --max-time 10 {dual4}/version | jq -e '.node == \"k8s-master-3\"'")
          client.succeed(f"curl -6 -skf --max-time 10 {dual6}/version | jq -e '.node == \"k8s-master-3\"'")
          outsider.succeed(f"curl -skf --max-time 10 {API}/version")
          # The rest never reaches HAProxy: priv's filter holds although the seed's cluster
          # opens 6443 to anyone over IPv4, dual's holds on both families, and the IPv4-only
          # stats listener opens nothing on IPv6.
          assert_dropped(outsider, f"{priv}/version")
          assert_dropped(outsider, f"{dual4}/version")
          assert_dropped(outsider, f"{dual6}/version")
          assert_dropped(client, "http://[${routerIP6}]:8404/stats")
          assert_dropped(outsider, "http://[${routerIP6}]:8404/stats")
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
