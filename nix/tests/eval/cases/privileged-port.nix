# A frontend below 1024 needs CAP_NET_BIND_SERVICE; coexists with services.haproxy elsewhere.
_: {
  services.haproxy-k8s = {
    enable = true;
    frontendPort = 443;
    controlPlaneNodes = [
      {
        name = "cp-1";
        address = "10.0.0.10";
      }
    ];
    stats.credentialsFile = "/run/secrets/haproxy-k8s-stats";
    openFirewall = false;
  };
  services.haproxy = {
    enable = true;
    config = ''
      frontend web
        bind 10.0.0.1:80
        bind :::8080 v4v6
        default_backend web
    '';
  };
}
