# VM test of the load-balancer pair (issue 11): two LB machines, each running
# services.haproxy-k8s with `peers` (apiSticky) and `vip` (keepalived fed the generated
# keepalived.conf, unicast VRRP), in front of three control-plane nodes running
# apiserver-standin; a client uses the VIP.
#
# Subtests mirror the network testbed's pair scenarios (crates/testbed/tests/pair.rs) one to one:
#   k1. the VIP is on lb1 (priority 150) alone; kubectl through the VIP works
#   k2. with n1 drained on lb1, the client's stick entry (another node) appears on lb2
#   k3. SIGKILL of lb1's HAProxy: lb1's keepalived goes FAULT, the VIP moves to lb2 alone,
#       kubectl works and lands on the same node
#   k4. lb1's HAProxy starts again: lb2 pushes the entry back, lb1 takes the VIP back
#   l.  lb1 loses every apiserver (nft drops what it sends to them): FAULT, the VIP moves to
#       lb2; links back: lb1 takes the VIP back
{
  pkgs,
  self,
}: let
  inherit (pkgs) lib;
  inherit (pkgs.stdenv.hostPlatform) system;
  standin = self.packages.${system}.apiserver-standin;

  vlan = "192.168.8";
  vip = "${vlan}.1";
  lbs = {
    lb1 = {
      ip = "${vlan}.2";
      priority = 150;
      other = "${vlan}.3";
    };
    lb2 = {
      ip = "${vlan}.3";
      priority = 100;
      other = "${vlan}.2";
    };
  };
  nodes = {
    cp1 = "${vlan}.10";
    cp2 = "${vlan}.11";
    cp3 = "${vlan}.12";
  };

  address = ip: {
    networking.interfaces.eth1.ipv4.addresses = lib.mkForce [
      {
        address = ip;
        prefixLength = 24;
      }
    ];
  };

  controlPlaneNode = name: ip: {
    imports = [(address ip)];
    virtualisation.vlans = [1];
    networking.firewall.allowedTCPPorts = [6443];
    systemd.services.apiserver-standin = {
      wantedBy = ["multi-user.target"];
      after = ["network-online.target"];
      wants = ["network-online.target"];
      serviceConfig = {
        ExecStart = "${lib.getExe standin} --listen 0.0.0.0:6443 --name ${name}";
        DynamicUser = true;
      };
    };
  };

  loadBalancer = name: lb: {
    imports = [self.nixosModules.default (address lb.ip)];
    virtualisation.vlans = [1];
    networking.nftables.enable = true;
    services.haproxy-k8s = {
      enable = true;
      bindAddress = vip;
      controlPlaneNodes =
        lib.mapAttrsToList (cp: ip: {
          name = "n${lib.removePrefix "cp" cp}";
          address = ip;
        })
        nodes;
      stats.bindAddress = lb.ip;
      peers = {
        localName = name;
        apiSticky = true;
        members =
          lib.mapAttrsToList (n: l: {
            name = n;
            address = l.ip;
          })
          lbs;
      };
      vip = {
        address = vip;
        prefixLength = 24;
        interface = "eth1";
        virtualRouterId = 51;
        inherit (lb) priority;
        unicastPeers = [lb.other];
      };
    };
    # The test kills HAProxy and starts it again itself (k3, k4); systemd must not do it first.
    systemd.services.haproxy-k8s.serviceConfig.Restart = lib.mkForce "no";
    environment.systemPackages = [pkgs.socat pkgs.nftables];
  };
in
  pkgs.testers.runNixOSTest {
    name = "haproxy-k8s-pair";

    nodes = {
      lb1 = loadBalancer "lb1" lbs.lb1;
      lb2 = loadBalancer "lb2" lbs.lb2;
      cp1 = controlPlaneNode "n1" nodes.cp1;
      cp2 = controlPlaneNode "n2" nodes.cp2;
      cp3 = controlPlaneNode "n3" nodes.cp3;
      client = {
        imports = [(address "${vlan}.50")];
        virtualisation.vlans = [1];
        environment.systemPackages = [pkgs.jq pkgs.kubectl];
      };
    };

    testScript = ''
      VIP = "${vip}"
      CLIENT = "${vlan}.50"
      TABLE = "k8s-nodes.default"
      ADMIN = "socat - UNIX-CONNECT:/run/haproxy-k8s/admin.sock"
      HOLDS = f"ip -4 -o addr show dev eth1 | grep -q 'inet {VIP}/'"


      def wait_vip_on(holder, other):
          holder.wait_until_succeeds(HOLDS, timeout=60)
          other.wait_until_fails(HOLDS, timeout=60)


      def kubectl_node():
          return client.succeed(
              f"kubectl --server https://{VIP}:6443 --insecure-skip-tls-verify --request-timeout 20s "
              "get --raw /version | jq -r .node"
          ).strip()


      ENTRY = f"echo 'show table {TABLE}' | {ADMIN} | grep -o 'key={CLIENT} .*' | grep -o 'server_id=[0-9]*'"


      def entry(lb):
          """server_id=N of the client's stick entry on `lb` (empty when there is none)."""
          return lb.succeed(f"{ENTRY} || true").strip()


      def wait_server(lb, name, state):
          lb.wait_until_succeeds(
              f"echo 'show stat' | {ADMIN} | awk -F, '$2 == \"{name}\" {{ print $18 }}' | grep -q '^{state}'",
              timeout=60,
          )


      start_all()
      for cp in (cp1, cp2, cp3):
          cp.wait_for_unit("apiserver-standin.service")
          cp.wait_for_open_port(6443)
      for lb in (lb1, lb2):
          lb.wait_for_unit("haproxy-k8s.service")
          lb.wait_for_unit("keepalived.service")
          for n in ("n1", "n2", "n3"):
              wait_server(lb, n, "UP")

      with subtest("k1: the VIP is on lb1 alone; kubectl through the VIP works"):
          wait_vip_on(lb1, lb2)
          kubectl_node()

      with subtest("k2: the client's stick entry appears on lb2 with the same server"):
          lb1.succeed(f"echo 'set server {TABLE}/n1 state drain' | {ADMIN}")
          node = kubectl_node()
          assert node != "n1", f"lb1 sent a new client to its drained node {node}"
          on_lb1 = entry(lb1)
          assert on_lb1, "no stick entry for the client on lb1"
          lb2.wait_until_succeeds(f"test \"$({ENTRY})\" = {on_lb1}", timeout=60)

      with subtest("k3: SIGKILL of lb1's HAProxy moves the VIP to lb2; the client keeps its node"):
          lb1.succeed("systemctl kill --signal=KILL haproxy-k8s.service")
          wait_vip_on(lb2, lb1)
          lb1.succeed("journalctl -u keepalived.service | grep -q FAULT")
          for _ in range(6):
              assert kubectl_node() == node, "the client moved to another node after failover"

      with subtest("k4: lb1's HAProxy back: the peers push the entry, lb1 takes the VIP back"):
          lb1.succeed("systemctl start haproxy-k8s.service")
          lb1.wait_until_succeeds(f"test \"$({ENTRY})\" = {on_lb1}", timeout=60)
          wait_vip_on(lb1, lb2)
          assert kubectl_node() == node, "the client moved when the VIP returned"

      with subtest("l: lb1 sees no apiserver: it gives the VIP away, and takes it back"):
          lb1.succeed(
              "nft add table inet cut && "
              "nft 'add chain inet cut output { type filter hook output priority -10; }' && "
              "nft add rule inet cut output ip daddr '{ ${nodes.cp1}, ${nodes.cp2}, ${nodes.cp3} }' drop"
          )
          for n in ("n1", "n2", "n3"):
              wait_server(lb1, n, "DOWN")
          wait_vip_on(lb2, lb1)
          kubectl_node()
          lb1.succeed("nft delete table inet cut")
          wait_server(lb1, "n2", "UP")
          wait_vip_on(lb1, lb2)
          kubectl_node()
    '';
  }
