# services.haproxy already binds the API port on all addresses: an assertion must say so.
_: {
  services.haproxy-k8s = {
    enable = true;
    bindAddress = "192.168.8.1";
    controlPlaneNodes = [
      {
        name = "cp-1";
        address = "192.168.8.10";
      }
    ];
  };
  services.haproxy = {
    enable = true;
    config = ''
      frontend old-api
        bind *:6443
        default_backend old
    '';
  };
}
