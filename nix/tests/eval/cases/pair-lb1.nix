# Seed 001's pair in front of seed 004's control plane, machine lb1: peers, the VIP with
# unicast VRRP, on the nftables firewall.
_: {
  networking.nftables.enable = true;
  services.haproxy-k8s = {
    enable = true;
    bindAddress = "192.168.8.1";
    controlPlaneNodes = [
      {
        name = "k8s-master-1";
        address = "192.168.8.10";
      }
      {
        name = "k8s-master-2";
        address = "192.168.8.11";
      }
      {
        name = "k8s-master-3";
        address = "192.168.8.12";
      }
    ];
    stats.bindAddress = "192.168.8.2";
    peers = {
      localName = "lb1";
      apiSticky = true;
      members = [
        {
          name = "lb1";
          address = "192.168.8.2";
        }
        {
          name = "lb2";
          address = "192.168.8.3";
        }
      ];
    };
    vip = {
      address = "192.168.8.1";
      prefixLength = 24;
      interface = "vlan8";
      virtualRouterId = 51;
      priority = 150;
      unicastPeers = ["192.168.8.3"];
    };
  };
}
