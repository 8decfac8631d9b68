# Health checks verified with the cluster CA and a client certificate: files that exist only
# on the router, never in the build sandbox.
_: {
  services.haproxy-k8s = {
    enable = true;
    controlPlaneNodes = [
      {
        name = "cp-1";
        address = "10.0.0.10";
      }
    ];
    healthCheck = {
      caFile = "/etc/kubernetes/pki/ca.crt";
      clientCertificate = "/var/lib/haproxy-k8s/health-client.pem";
    };
  };
}
