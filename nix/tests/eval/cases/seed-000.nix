# Seed 000 (examples/seed-000.json) in NixOS options: the API and an ingress share :443, the
# ingress chosen by SNI and passed through unterminated.
_: {
  services.haproxy-k8s = {
    enable = true;
    frontendPort = 443;
    controlPlaneNodes = [
      {
        name = "ctrl1";
        address = "192.168.8.10";
        port = 443;
      }
      {
        name = "ctrl2";
        address = "192.168.8.11";
        port = 443;
      }
      {
        name = "ctrl3";
        address = "192.168.8.12";
        port = 443;
      }
    ];
    healthCheck.type = "tls";
    balance = "source";
    timeouts = {
      connect = "5s";
      client = "5s";
      server = "5s";
      clientFin = "10s";
      tunnel = "1h";
    };
    maxConnections = 4000;
    stats.enable = false;
    sniRoutes = [
      {
        hosts = ["dashboard.example.com" "login.example.com"];
        backend = "k8s-server";
      }
    ];
    backends.k8s-server = {
      nodes = [
        {
          name = "mars1";
          address = "192.168.8.20";
          port = 443;
        }
      ];
      healthCheck.type = "tls";
    };
  };
}
