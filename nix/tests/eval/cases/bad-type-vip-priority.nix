# A VRRP priority of 255 is reserved for the address owner: NixOS's type refuses it.
_: {
  services.haproxy-k8s = {
    enable = true;
    vip = {
      address = "192.168.8.1";
      prefixLength = 24;
      interface = "vlan8";
      virtualRouterId = 51;
      priority = 255;
    };
  };
}
