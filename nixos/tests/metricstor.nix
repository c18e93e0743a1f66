# NixOS VM test: `server` runs services.metricstor with mutual TLS; `prometheus` scrapes itself
# and remote-writes over mTLS to it. Asserts the samples arrive, that a client without a
# certificate is refused, that write/read identities are enforced, and that a rewritten TLS
# file restarts the service.
# Run: nix build .#checks.x86_64-linux.vm   (needs KVM; not run by .ci/run)
{ pkgs, module }:

let
  # A throwaway PKI, generated at build time (nothing committed). It lies in the world-readable
  # store, which is acceptable for test keys only: the nodes copy the files out to /etc (an
  # environment.etc entry with a mode is a copy, not a link), and the module is given those
  # paths, since it refuses store paths for keys.
  pki = pkgs.runCommand "metricstor-test-pki" { nativeBuildInputs = [ pkgs.openssl ]; } ''
    bash ${./make-pki.sh} $out
  '';
  copy = file: mode: user: { source = "${pki}/${file}"; inherit mode user; };
  clientCurl = name:
    "curl --silent --show-error --cacert /etc/metricstor-clients/ca.crt"
    + " --cert /etc/metricstor-clients/${name}.crt --key /etc/metricstor-clients/${name}.key";
in
pkgs.testers.runNixOSTest {
  name = "metricstor";

  nodes.server = { pkgs, ... }: {
    imports = [ module ];
    virtualisation.memorySize = 2048;
    virtualisation.cores = 2;

    environment.etc = {
      "metricstor/tls/server.crt" = copy "server.crt" "0400" "root";
      "metricstor/tls/server.key" = copy "server.key" "0400" "root";
      "metricstor/tls/ca.crt" = copy "ca.crt" "0400" "root";
      # Client identities for the test's curl calls.
      "metricstor-clients/ca.crt" = copy "ca.crt" "0444" "root";
      "metricstor-clients/admin.crt" = copy "admin.crt" "0444" "root";
      "metricstor-clients/admin.key" = copy "admin.key" "0400" "root";
      "metricstor-clients/prometheus.crt" = copy "prometheus.crt" "0444" "root";
      "metricstor-clients/prometheus.key" = copy "prometheus.key" "0400" "root";
    };
    environment.systemPackages = [ pkgs.curl pkgs.jq ];

    services.metricstor = {
      enable = true;
      openFirewall = true;
      settings = {
        server.http_addr = "0.0.0.0:9101";
        server.grpc_addr = "0.0.0.0:9100";
        server.cores = 2;
        tls.write_allowed_sans = [ "prometheus" ];
        tls.read_allowed_sans = [ "admin" ];
      };
      tls = {
        certFile = "/etc/metricstor/tls/server.crt";
        keyFile = "/etc/metricstor/tls/server.key";
        caFile = "/etc/metricstor/tls/ca.crt";
        requireClientCert = true;
      };
    };
  };

  nodes.prometheus = { pkgs, ... }: {
    environment.etc = {
      "prometheus-tls/ca.crt" = copy "ca.crt" "0444" "root";
      "prometheus-tls/prometheus.crt" = copy "prometheus.crt" "0444" "root";
      "prometheus-tls/prometheus.key" = copy "prometheus.key" "0400" "prometheus";
    };
    environment.systemPackages = [ pkgs.curl ];

    services.prometheus = {
      enable = true;
      globalConfig.scrape_interval = "2s";
      scrapeConfigs = [{
        job_name = "prometheus";
        static_configs = [{ targets = [ "localhost:9090" ]; }];
      }];
      remoteWrite = [{
        url = "https://server:9101/api/v1/write";
        tls_config = {
          ca_file = "/etc/prometheus-tls/ca.crt";
          cert_file = "/etc/prometheus-tls/prometheus.crt";
          key_file = "/etc/prometheus-tls/prometheus.key";
        };
        queue_config.batch_send_deadline = "1s";
      }];
    };
  };

  testScript = ''
    import json

    start_all()

    # Active only after ExecStartPost's readiness poll succeeded.
    server.wait_for_unit("metricstor.service")
    server.wait_for_open_port(9101)
    server.succeed("systemctl show metricstor.service -p DynamicUser | grep -qx DynamicUser=yes")
    # The YAML points at the credentials, never at the store or /etc.
    server.succeed("grep -q /run/credentials/metricstor.service/tls-key $(systemctl show metricstor.service -p ExecStart --value | grep -o '/nix/store/[^ ;]*-metricstor.yaml' | head -1)")

    prometheus.wait_for_unit("prometheus.service")
    prometheus.wait_for_open_port(9090)

    query = "https://localhost:9101/api/v1/query?query=up%7Bjob%3D%22prometheus%22%7D"

    with subtest("samples remote-written by Prometheus over mTLS can be queried"):
        server.wait_until_succeeds(
            "${clientCurl "admin"} '" + query + "'"
            + " | jq -e '.data.result | map(select(.metric.instance == \"localhost:9090\")) | length > 0'",
            timeout=180,
        )
        result = json.loads(server.succeed("${clientCurl "admin"} '" + query + "'"))
        print(result)
        assert result["status"] == "success", result

    with subtest("a client without a certificate is refused"):
        server.fail("curl --silent --show-error --cacert /etc/metricstor-clients/ca.crt '" + query + "'")
        prometheus.fail("curl --silent --show-error --cacert /etc/prometheus-tls/ca.crt 'https://server:9101/-/ready'")

    with subtest("identities: prometheus may write but not read"):
        status = server.succeed("${clientCurl "prometheus"} -o /dev/null -w '%{http_code}' '" + query + "'")
        assert status == "403", status

    with subtest("a rewritten TLS file restarts the service (tls.restartOnChange)"):
        server.wait_for_unit("metricstor-tls-watch.path")
        before = server.succeed("systemctl show metricstor.service -p MainPID --value").strip()
        # Written in place: the path unit sees the writer close it.
        server.succeed("cp /etc/metricstor/tls/ca.crt /tmp/ca.crt && cat /tmp/ca.crt > /etc/metricstor/tls/ca.crt")
        server.wait_until_succeeds(
            "systemctl is-active metricstor.service"
            + " && test \"$(systemctl show metricstor.service -p MainPID --value)\" != " + before,
            timeout=120,
        )

    with subtest("a restart passes the readiness check again and serves queries"):
        server.systemctl("restart metricstor.service")
        server.wait_for_unit("metricstor.service")
        server.succeed(
            "${clientCurl "admin"} '" + query + "'"
            + " | jq -e '.data.result | length > 0'"
        )
  '';
}
