# Passes the types, fails in the generator: localName is not among the members.
_: {
  services.haproxy-k8s = {
    enable = true;
    controlPlaneNodes = [
      {
        name = "k8s-master-1";
        address = "192.168.8.10";
      }
    ];
    peers = {
      localName = "lb3";
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
  };
}
