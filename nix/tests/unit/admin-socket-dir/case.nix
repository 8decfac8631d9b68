# An admin socket outside the runtime directory: the unit must start even though systemd sets
# up ReadWritePaths before anything creates the directory.
_: {
  services.haproxy-k8s = {
    enable = true;
    bindAddress = "127.0.0.1";
    controlPlaneNodes = [
      {
        name = "node-v4";
        address = "127.0.0.1";
        port = 16443;
      }
    ];
    stats.enable = false;
    healthCheck.type = "tcp";
    adminSocket = "/run/haproxy-k8s-admin/admin.sock";
  };
}
