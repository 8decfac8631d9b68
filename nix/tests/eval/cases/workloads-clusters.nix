# SNI routes on a second cluster's frontend (IPv6 and IPv4), sticky by source, an HTTPS check
# with the ingress's name, and a backend without nodes yet (a warning, not an error).
_: {
  networking.nftables.enable = true;
  services.haproxy-k8s = {
    enable = true;
    bindAddress = "192.168.8.1";
    controlPlaneNodes = [
      {
        name = "cp-1";
        address = "192.168.8.10";
      }
    ];
    sniRoutes = [
      {
        hosts = ["*.apps.example.com"];
        backend = "spare";
      }
    ];
    clusters.edge = {
      bindAddress = "::";
      frontendPort = 8443;
      controlPlaneNodes = [
        {
          name = "edge-cp-1";
          address = "fd00:8::10";
        }
      ];
      sniRoutes = [
        {
          hosts = ["login.example.com" "*.edge.example.com"];
          backend = "ingress";
        }
      ];
    };
    backends = {
      ingress = {
        nodes = [
          {
            name = "w1";
            address = "fd00:8::20";
            port = 443;
          }
          {
            name = "w2";
            address = "worker-2.k8s.internal";
            port = 443;
            weight = 2;
          }
        ];
        healthCheck = {
          type = "https";
          path = "/healthz";
          host = "login.example.com";
          expectStatus = 200;
        };
        sticky = "source";
      };
      spare = {};
    };
    resolvers.nameservers = ["192.168.8.1"];
  };
}
