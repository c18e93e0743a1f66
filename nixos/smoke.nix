# Renders, through the stub NixOS, what the unit would run for one TLS mode — the YAML and the
# readiness script (with the host's curl and sleep) — so check.sh can run them against the real
# binary. pki: a directory with server.crt, server.key and ca.crt.
{ mode, httpPort, grpcPort, pki }:
let
  harness = import ./stub-harness.nix { hostTools = true; };
  tls = {
    plain = { };
    tls = { certFile = "${pki}/server.crt"; keyFile = "${pki}/server.key"; };
    mtls = {
      certFile = "${pki}/server.crt";
      keyFile = "${pki}/server.key";
      caFile = "${pki}/ca.crt";
      requireClientCert = true;
    };
  }.${mode};
  config = harness.eval {
    enable = true;
    settings.server.http_addr = "127.0.0.1:${httpPort}";
    settings.server.grpc_addr = "127.0.0.1:${grpcPort}";
    inherit tls;
  };
  serviceConfig = config.systemd.services.metricstor.serviceConfig;
in
{
  config = config.services.metricstor.configFile.text;
  readiness = serviceConfig.ExecStartPost.text;
  # "name:path" lines, as systemd's LoadCredential= reads them.
  credentials = builtins.concatStringsSep "\n" serviceConfig.LoadCredential;
  dataDir = config.services.metricstor.settings.storage.data_dir;
}
