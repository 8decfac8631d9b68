# A type error: NixOS's own message, naming the option.
_: {
  services.haproxy-k8s = {
    enable = true;
    frontendPort = "6443";
  };
}
