# Unvalidated extra lines that HAProxy rejects: the build-time haproxy -c -dW fails the build.
_: {
  services.haproxy-k8s = {
    enable = true;
    controlPlaneNodes = [
      {
        name = "cp-1";
        address = "10.0.0.10";
      }
    ];
    extraConfig.backend = ''
      balance no-such-algorithm
    '';
  };
}
