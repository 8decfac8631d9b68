# A workload node without a port: workloads have no conventional one.
_: {
  services.haproxy-k8s = {
    enable = true;
    sniRoutes = [
      {
        hosts = ["login.example.com"];
        backend = "ingress";
      }
    ];
    backends.ingress.nodes = [
      {
        name = "w1";
        address = "192.168.8.20";
      }
    ];
  };
}
