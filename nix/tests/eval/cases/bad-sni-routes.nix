# A misspelt backend, a host twice (case and final dot do not make it another), a `*` inside
# a name: every error at once, from the generator, each naming its option.
_: {
  services.haproxy-k8s = {
    enable = true;
    controlPlaneNodes = [
      {
        name = "cp-1";
        address = "192.168.8.10";
      }
    ];
    sniRoutes = [
      {
        hosts = ["login.example.com" "LOGIN.example.com." "a.*.example.com"];
        backend = "ingres";
      }
    ];
    backends.ingress.nodes = [
      {
        name = "w1";
        address = "192.168.8.20";
        port = 443;
      }
    ];
  };
}
