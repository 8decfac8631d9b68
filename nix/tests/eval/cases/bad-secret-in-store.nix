_: {
  services.haproxy-k8s = {
    enable = true;
    controlPlaneNodes = [
      {
        name = "cp-1";
        address = "10.0.0.10";
      }
    ];
    stats.credentialsFile = "/nix/store/00000000000000000000000000000000-creds";
  };
}
