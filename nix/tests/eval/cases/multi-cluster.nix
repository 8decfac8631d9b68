# Seed 004's cluster plus two more, on the nftables firewall, restricted to a VLAN interface.
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
        backup = true;
      }
    ];
    clusters = {
      staging = {
        bindAddress = "192.168.9.1";
        allowedSources = ["192.168.9.0/24"];
        controlPlaneNodes = [
          {
            name = "stg-cp-1";
            address = "192.168.9.10";
          }
          {
            name = "stg-cp-2";
            address = "fd00:9::11";
            weight = 2;
          }
        ];
      };
      lab = {
        frontendPort = 7443;
        bindAddress = "192.168.8.1";
        controlPlaneNodes = [
          {
            name = "lab-cp-1";
            address = "192.168.8.20";
            port = 16443;
          }
        ];
      };
    };
    stats.allowedSources = ["192.168.8.0/24" "127.0.0.0/8"];
    healthCheck.type = "tls";
    balance = "roundrobin";
    firewall.interface = "vlan8";
  };
}
