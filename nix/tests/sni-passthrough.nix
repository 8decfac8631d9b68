# VM test, seed 000: the Kubernetes API and an ingress behind one router :443, the ingress
# chosen by the TLS ClientHello's SNI and passed through unterminated. Mirrors the network
# testbed's scenario o (crates/testbed/tests/workloads.rs) one to one:
#   - kubectl by IP and by the API's name (SNI `kubernetes`) reaches the apiserver;
#   - an exact name, a wildcard name and a mixed-case one reach both ingress nodes, which
#     present their OWN certificate (HAProxy has none here: passthrough proven by the subject);
#   - names the routes do not match (two labels before the wildcard's suffix, the bare suffix,
#     a longer name) reach the apiserver;
#   - a ClientHello sent in two TCP segments cut inside the SNI (the second only after the
#     first is acknowledged) still reaches the ingress;
#   - while five clients that send nothing are held open by HAProxy, everyone else is served;
#   - a client of a `sticky = "source"` backend lands on one worker every time; when that
#     worker is killed, it is marked DOWN and its traffic, the sticky client's included, moves.
# The stand-ins generate self-signed certificates whose subject is their `--name`, so the
# subject tells who terminated the TLS.
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
  cpIP = "${vlan}.10";
  workerIP = "${vlan}.20";

  address = ip: {
    networking.interfaces.eth1.ipv4.addresses = lib.mkForce [
      {
        address = ip;
        prefixLength = 24;
      }
    ];
  };

  standinService = name: port: sans: {
    description = "TLS stand-in ${name}";
    wantedBy = ["multi-user.target"];
    after = ["network-online.target"];
    wants = ["network-online.target"];
    serviceConfig = {
      ExecStart = "${lib.getExe standin} --listen 0.0.0.0:${toString port} --name ${name} ${lib.concatMapStringsSep " " (s: "--san ${s}") sans}";
      DynamicUser = true;
      AmbientCapabilities = "CAP_NET_BIND_SERVICE";
    };
  };

  ingressNames = ["login.example.com" "*.apps.example.com"];
  stickyName = "sticky.example.com";
  workers = [
    {
      name = "worker-1";
      address = workerIP;
      port = 443;
    }
    {
      name = "worker-2";
      address = workerIP;
      port = 4443;
    }
  ];

  # A TLS client whose ClientHello goes out in two TCP segments, cut inside the SNI (see the
  # script; tests/nix-eval.sh compiles it).
  splitHello = pkgs.writers.writePython3 "split-hello" {flakeIgnore = ["E501"];} (builtins.readFile ./split-hello.py);
in
  pkgs.testers.runNixOSTest {
    name = "haproxy-k8s-sni-passthrough-${firewallBackend}";

    nodes = {
      router = {
        imports = [self.nixosModules.default (address routerIP)];
        virtualisation.vlans = [1];
        networking.nftables.enable = firewallBackend == "nftables";
        networking.firewall.enable = true;
        # examples/seed-000.json's shape with this network's addresses.
        services.haproxy-k8s = {
          enable = true;
          frontendPort = 443;
          bindAddress = routerIP;
          controlPlaneNodes = [
            {
              name = "k8s-master-1";
              address = cpIP;
            }
          ];
          statsPort = 8404;
          sniRoutes = [
            {
              hosts = ingressNames;
              backend = "ingress";
            }
            {
              hosts = [stickyName];
              backend = "sticky";
            }
          ];
          backends.ingress = {
            nodes = workers;
            balance = "roundrobin";
            healthCheck = {
              type = "https";
              path = "/readyz";
              host = "login.example.com";
            };
          };
          backends.sticky = {
            nodes = workers;
            balance = "roundrobin";
            healthCheck.type = "tls";
            sticky = "source";
          };
        };
      };

      cp = {
        imports = [(address cpIP)];
        virtualisation.vlans = [1];
        networking.firewall.allowedTCPPorts = [6443];
        systemd.services.apiserver-standin = standinService "k8s-master-1" 6443 ["kubernetes" cpIP routerIP];
      };

      worker = {
        imports = [(address workerIP)];
        virtualisation.vlans = [1];
        networking.firewall.allowedTCPPorts = [443 4443];
        systemd.services.ingress-1 = standinService "worker-1" 443 (ingressNames ++ [stickyName]);
        systemd.services.ingress-2 = standinService "worker-2" 4443 (ingressNames ++ [stickyName]);
      };

      client = {
        imports = [(address "${vlan}.50")];
        virtualisation.vlans = [1];
        environment.systemPackages = [pkgs.curl pkgs.jq pkgs.kubectl pkgs.socat];
      };
    };

    testScript = ''
      import json

      ROUTER = "${routerIP}"
      STATS = f"http://{ROUTER}:8404"
      WORKERS = {"worker-1", "worker-2"}


      def kubectl_node(extra=""):
          return client.succeed(
              f"kubectl --server https://{ROUTER}:443 --insecure-skip-tls-verify --token dummy {extra} "
              "get --raw /version | jq -r .node"
          ).strip()


      def curl_version(host):
          """(node, certificate subject) of GET /version for `host` through the router."""
          out = client.succeed(
              f"curl -skv --resolve {host}:443:{ROUTER} https://{host}/version 2>&1"
          )
          subject = next(l for l in out.splitlines() if "subject:" in l)
          node = json.loads(out[out.index("{"):out.rindex("}") + 1])["node"]
          return node, subject


      start_all()
      cp.wait_for_unit("apiserver-standin.service")
      worker.wait_for_unit("ingress-1.service")
      worker.wait_for_unit("ingress-2.service")
      router.wait_for_unit("haproxy-k8s.service")
      router.wait_for_open_port(443, ROUTER)
      # Servers start UP before their first check: wait for a passed check.
      for server in ["k8s-master-1", "worker-1", "worker-2"]:
          client.wait_until_succeeds(
              f"curl -sf '{STATS}/stats;csv' | awk -F, '$2 == \"{server}\" {{ print $37 }}' | grep -qx L7OK",
              timeout=60,
          )

      with subtest("o: kubectl by IP and by the API's name reaches the apiserver"):
          assert kubectl_node() == "k8s-master-1"
          assert kubectl_node("--tls-server-name kubernetes") == "k8s-master-1"

      with subtest("o: ingress names reach the workers, which present their own certificate"):
          seen = set()
          for host in ["login.example.com", "foo.apps.example.com", "Bar.APPS.Example.com"]:
              for _ in range(2):
                  node, subject = curl_version(host)
                  assert node in WORKERS, f"{host} reached {node}"
                  assert f"CN={node}" in subject.replace(" ", ""), f"{host}: {subject}"
                  seen.add(node)
          assert seen == WORKERS, f"roundrobin reached {seen}"

      with subtest("o: names no route matches reach the apiserver"):
          for host in ["a.b.apps.example.com", "apps.example.com", "login.example.com.evil"]:
              node, _ = curl_version(host)
              assert node == "k8s-master-1", f"{host} reached {node}"

      with subtest("o: a ClientHello in two TCP segments is still routed"):
          for host in ["login.example.com", "x.apps.example.com"]:
              node = client.succeed(f"${splitHello} {ROUTER} {host}").strip()
              assert node in WORKERS, f"split hello for {host} reached {node}"

      with subtest("o: clients that send nothing hold up no one"):
          for i in range(5):
              client.succeed(
                  f"systemd-run --unit=silent-{i} socat -u TCP:{ROUTER}:443 STDOUT"
              )
          client.wait_until_succeeds(
              f"test $(curl -sf '{STATS}/stats;csv' | awk -F, '$1 == \"k8s-api.default\" && $2 == \"FRONTEND\" {{ print $5 }}') -ge 5",
              timeout=60,
          )
          assert kubectl_node() == "k8s-master-1"
          assert curl_version("login.example.com")[0] in WORKERS
          assert client.succeed(f"${splitHello} {ROUTER} login.example.com").strip() in WORKERS
          client.succeed("systemctl stop 'silent-*' || true")

      with subtest("o: a sticky client stays on one worker, and moves when that worker dies"):
          landed = {curl_version("${stickyName}")[0] for _ in range(10)}
          assert len(landed) == 1, f"a sticky client spread over {landed}"
          stuck = landed.pop()
          other = (WORKERS - {stuck}).pop()
          worker.succeed(f"systemctl kill --signal=SIGKILL ingress-{stuck[-1]}")
          for backend in ["k8s-backend.ingress", "k8s-backend.sticky"]:
              client.wait_until_succeeds(
                  f"curl -sf '{STATS}/stats;csv' | awk -F, '$1 == \"{backend}\" && $2 == \"{stuck}\" {{ print $18 }}' | grep -q '^DOWN'",
                  timeout=60,
              )
          for host in ["${stickyName}", "login.example.com"]:
              for _ in range(4):
                  node = curl_version(host)[0]
                  assert node == other, f"{host} reached {node} after {stuck} died"
          assert kubectl_node() == "k8s-master-1"
    '';
  }
