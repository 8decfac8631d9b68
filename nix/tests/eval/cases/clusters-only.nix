# Only `clusters`: the top-level values nothing reads stay out of the generator's input (their
# defaults must not look set), one cluster has no nodes yet (a warning).
_: {
  services.haproxy-k8s = {
    enable = true;
    stats.bindAddress = "127.0.0.1";
    clusters = {
      prod = {
        bindAddress = "192.168.8.1";
        controlPlaneNodes = [
          {
            name = "prod-cp-1";
            address = "192.168.8.10";
          }
        ];
      };
      next.bindAddress = "192.168.9.1";
    };
  };
}
