# Importing the module without enabling it changes nothing.
_: {
  services.haproxy-k8s.controlPlaneNodes = [
    {
      name = "cp-1";
      address = "10.0.0.10";
    }
  ];
}
