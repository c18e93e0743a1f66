# Evaluates nixos/module.nix against the stub module system (stub-harness.nix, stub-lib.nix; no
# nixpkgs, no network) and checks what it generates. nixos/check.sh runs it; it evaluates to the list of
# passed checks, or throws with every failed one.
let
  harness = import ./stub-harness.nix { };
  inherit (harness) lib pkgs eval;
  inherit (builtins) all any attrNames elem filter fromJSON length;

  # flake.nix's outputs over stub nixpkgs, and the VM test's server node through the module.
  flake = import ./stub-flake.nix;
  flakePkg = flake.packages.x86_64-linux.default;
  vmTest = flake.checks.x86_64-linux.vm;
  vmServer = (lib.evalModules {
    modules = [
      harness.nixosStub
      ({ lib, ... }: {
        options.virtualisation = lib.mkOption { type = lib.types.attrsOf lib.types.anything; default = { }; };
        options.environment = lib.mkOption { type = lib.types.attrsOf lib.types.anything; default = { }; };
      })
      vmTest.nodes.server
    ];
    specialArgs = { pkgs = import ./stub-nixpkgs { system = "x86_64-linux"; overlays = [ flake.overlays.default ]; }; inherit (harness) utils; };
  }).config;

  failedAssertions = config: map (a: a.message) (filter (a: !a.assertion) config.assertions);

  # ---- the configurations under test ----
  # A TLS path given as a path literal: `apply = toString` must keep it out of the store.
  literalKeyPath = ./stub-eval.nix;

  plain = eval { enable = true; };
  mtls = eval {
    enable = true;
    openFirewall = true;
    settings.server.http_addr = "0.0.0.0:9101";
    settings.server.grpc_addr = "[::]:9100";
    settings.server.cores = 2;
    settings.server.influx_listen_addr = ":8089";
    settings.storage.retention_days = 30;
    settings.tls.write_allowed_sans = [ "prometheus" ];
    tls.certFile = "/run/secrets/metricstor/server.crt";
    tls.keyFile = literalKeyPath;
    tls.caFile = "/run/secrets/metricstor/ca.crt";
    tls.crlFile = "/run/secrets/metricstor/ca.crl";
    tls.requireClientCert = true;
    extraArgs = [ "--flag=100%" ];
  };
  tlsOnly = eval {
    enable = true;
    tls.certFile = "/run/secrets/s.crt";
    tls.keyFile = "/run/secrets/s.key";
  };
  lowPort = eval { enable = true; openFirewall = true; settings.server.http_addr = "10.0.0.1:443"; };
  scraping = eval { enable = true; scrapeConfig = { global.scrape_interval = "15s"; scrape_configs = [ { job_name = "node"; static_configs = [ { targets = [ "localhost:9100" ]; } ]; } ]; }; };
  sockets = eval { enable = true; openFirewall = true; settings.server.graphite_listen_addr = ":2003"; settings.server.influx_listen_addr = "127.0.0.1:8089"; settings.server.opentsdb_listen_addr = ":4242"; };
  badSocket = eval { enable = true; settings.server.graphite_listen_addr = "localhost"; };
  disabled = eval { };
  storeKey = eval {
    enable = true;
    tls.certFile = "${builtins.storeDir}/0000000000000000000000000000000-server.crt";
    tls.keyFile = "/run/secrets/s.key";
  };
  directTls = eval { enable = true; settings.tls.key_file = "/etc/metricstor/server.key"; };
  halfTls = eval { enable = true; tls.certFile = "/run/secrets/s.crt"; tls.requireClientCert = true; };
  crlWithoutCa = eval { enable = true; tls.certFile = "/run/secrets/s.crt"; tls.keyFile = "/run/secrets/s.key"; tls.crlFile = "/run/secrets/ca.crl"; };
  hostName = eval { enable = true; openFirewall = true; settings.server.http_addr = "localhost:9101"; settings.server.grpc_addr = ":9100"; };
  noPort = eval { enable = true; settings.server.http_addr = "localhost"; };
  outsideStateDir = eval { enable = true; settings.storage.data_dir = "/srv/metricstor"; };

  svc = config: config.systemd.services.metricstor;
  sc = config: (svc config).serviceConfig;
  yaml = config: fromJSON config.services.metricstor.configFile.text;
  creds = "/run/credentials/metricstor.service";
  metricstorBin = "${pkgs.metricstor}/bin/metricstor";
  hasInfix = lib.hasInfix;

  # ---- checks: [ name  boolean ] ----
  checks = [
    # ExecStart
    [ "ExecStart runs the package's binary with --config and the generated file"
      ((sc plain).ExecStart == "${metricstorBin} --config ${plain.services.metricstor.configFile}") ]
    [ "ExecStart appends extraArgs escaped for systemd (% doubled, quoted)"
      ((sc mtls).ExecStart == "${metricstorBin} --config ${mtls.services.metricstor.configFile} \"--flag=100%%\"") ]
    [ "the config file is a store path named metricstor.yaml"
      (lib.hasPrefix "${builtins.storeDir}/" (toString plain.services.metricstor.configFile)
        && lib.hasSuffix "-metricstor.yaml" (toString plain.services.metricstor.configFile)) ]

    # Generated YAML
    [ "default YAML: the typed keys with their defaults, nothing else"
      (yaml plain == {
        server = { http_addr = "127.0.0.1:9101"; grpc_addr = "127.0.0.1:9100"; graphite_listen_addr = ""; influx_listen_addr = ""; opentsdb_listen_addr = ""; };
        storage = { data_dir = "/var/lib/metricstor"; retention_days = 15; };
      }) ]
    [ "mTLS YAML: freeform keys kept beside typed ones; TLS files point at the credentials"
      (yaml mtls == {
        server = { http_addr = "0.0.0.0:9101"; grpc_addr = "[::]:9100"; graphite_listen_addr = ""; influx_listen_addr = ":8089"; opentsdb_listen_addr = ""; cores = 2; };
        storage = { data_dir = "/var/lib/metricstor"; retention_days = 30; };
        tls = {
          cert_file = "${creds}/tls-cert";
          key_file = "${creds}/tls-key";
          ca_file = "${creds}/tls-ca";
          crl_file = "${creds}/tls-crl";
          require_client_cert = true;
          write_allowed_sans = [ "prometheus" ];
        };
      }) ]
    [ "TLS without client certificates: require_client_cert false, no ca_file"
      ((yaml tlsOnly).tls == { cert_file = "${creds}/tls-cert"; key_file = "${creds}/tls-key"; require_client_cert = false; }) ]
    [ "every YAML key is one the server knows (core/src/config.rs)"
      (let
        known = {
          server = [ "http_addr" "grpc_addr" "graphite_listen_addr" "influx_listen_addr" "opentsdb_listen_addr" "udp_receive_buffer_bytes" "cores" "max_connections_per_core" "max_body_bytes" "max_header_bytes"
            "header_read_timeout_seconds" "body_read_timeout_seconds" "idle_timeout_seconds" "shard_queue_depth"
            "query_timeout_seconds" "max_samples_per_query" "lookback_delta_seconds" "shutdown_drain_seconds"
            "max_concurrent_streams" "max_concurrent_queries" "enable_admin_api" "enable_lifecycle" "promql_delayed_name_removal" "query_cache_mb" "slow_query_log_seconds" "compress_responses" "vm_native_export_version" ];
          storage = [ "data_dir" "shards" "retention_days" "wal_segment_size_mb" "wal_fsync" "wal_compression" "block_duration_hours" "reject_non_finite" "max_head_samples" "max_series" "max_exemplars" "page_cache_mb" ];
          tls = [ "cert_file" "key_file" "ca_file" "crl_file" "require_client_cert" "min_version" "write_allowed_sans" "read_allowed_sans" ];
          scrape = [ "config_file" ];
        };
        ok = y: all (section: known ? ${section} && all (key: elem key known.${section}) (attrNames y.${section})) (attrNames y);
      in all ok [ (yaml plain) (yaml mtls) (yaml tlsOnly) (yaml scraping) ]) ]
    [ "scrapeConfig becomes scrape.config_file, a generated file; without it there is no scrape section"
      (hasInfix "metricstor-scrape.yaml" (yaml scraping).scrape.config_file && !((yaml plain) ? scrape)) ]

    # Keys never in the store
    [ "no TLS path in the YAML or in LoadCredential points into the store"
      (all (config:
        let y = yaml config; in
        all (key: !(y ? tls && y.tls ? ${key}) || !(lib.hasPrefix "${builtins.storeDir}/" y.tls.${key})) [ "cert_file" "key_file" "ca_file" "crl_file" ]
        && all (c: !(hasInfix ":${builtins.storeDir}/" c)) (sc config).LoadCredential)
        [ plain mtls tlsOnly ]) ]
    [ "LoadCredential passes the four TLS files by their original paths"
      ((sc mtls).LoadCredential == [
        "tls-ca:/run/secrets/metricstor/ca.crt"
        "tls-cert:/run/secrets/metricstor/server.crt"
        "tls-crl:/run/secrets/metricstor/ca.crl"
        "tls-key:${toString literalKeyPath}"
      ]) ]
    [ "a path literal for keyFile stays a plain string outside the store (not copied)"
      (mtls.services.metricstor.tls.keyFile == toString literalKeyPath
        && !(lib.hasPrefix "${builtins.storeDir}/" mtls.services.metricstor.tls.keyFile)) ]
    [ "TLS files are watched: a path unit on the four files starts a oneshot that try-restarts the service"
      (let p = mtls.systemd.paths.metricstor-tls-watch; r = mtls.systemd.services.metricstor-tls-restart; in
        p.pathConfig.PathChanged == [ "/run/secrets/metricstor/ca.crt" "/run/secrets/metricstor/server.crt" "/run/secrets/metricstor/ca.crl" (toString literalKeyPath) ]
        && p.pathConfig.Unit == "metricstor-tls-restart.service" && elem "multi-user.target" p.wantedBy
        && r.serviceConfig.Type == "oneshot"
        && r.serviceConfig.ExecStart == "${pkgs.systemd}/bin/systemctl try-restart metricstor.service") ]
    [ "no TLS files, or tls.restartOnChange = false: no watch and no restart unit"
      (let off = eval { enable = true; tls.certFile = "/run/secrets/s.crt"; tls.keyFile = "/run/secrets/s.key"; tls.restartOnChange = false; }; in
        plain.systemd.paths == { } && !(plain.systemd.services ? metricstor-tls-restart)
        && off.systemd.paths == { } && !(off.systemd.services ? metricstor-tls-restart)
        && tlsOnly.systemd.paths ? metricstor-tls-watch) ]
    [ "no TLS: no LoadCredential, no tls section"
      ((sc plain).LoadCredential == [ ] && !((yaml plain) ? tls)) ]
    [ "a certFile in the store fails an assertion naming the store"
      (any (m: hasInfix "must not be in ${builtins.storeDir}" m) (failedAssertions storeKey)) ]
    [ "settings.tls.key_file set directly fails an assertion"
      (any (m: hasInfix "settings.tls" m) (failedAssertions directTls)) ]
    [ "certFile without keyFile, and requireClientCert without caFile, fail assertions"
      (let f = failedAssertions halfTls; in any (hasInfix "set together") f && any (hasInfix "requireClientCert") f) ]
    [ "crlFile without caFile fails an assertion naming both"
      (any (m: hasInfix "crlFile" m && hasInfix "caFile" m) (failedAssertions crlWithoutCa)) ]
    [ "an address without a port fails an assertion"
      (any (hasInfix "IP:port") (failedAssertions noPort)) ]
    [ "host:port and :port pass, open their ports, and the probe asks the host name"
      (failedAssertions hostName == [ ]
        && hostName.networking.firewall.allowedTCPPorts == [ 9101 9100 ]
        && hasInfix "'http://localhost:9101/-/ready'" (sc hostName).ExecStartPost.text) ]
    [ "a data_dir outside /var/lib fails an assertion"
      (any (hasInfix "data_dir") (failedAssertions outsideStateDir)) ]
    [ "valid configurations pass every assertion"
      (all (config: failedAssertions config == [ ]) [ plain mtls tlsOnly lowPort ]) ]

    # Hardening and unit shape
    [ "hardening keys present with their values"
      (all (config:
        let s = sc config; in
        s.DynamicUser == true && s.StateDirectory == "metricstor" && s.ProtectSystem == "strict"
        && s.ProtectHome == true && s.PrivateTmp == true && s.NoNewPrivileges == true
        && s.SystemCallArchitectures == "native"
        && s.RestrictAddressFamilies == [ "AF_INET" "AF_INET6" "AF_UNIX" ]
        && s.LimitMEMLOCK == "infinity" && s.LimitNOFILE >= 65536
        && s.Restart == "on-failure") [ plain mtls ]) ]
    [ "CapabilityBoundingSet is empty unless a port is below 1024"
      ((sc plain).CapabilityBoundingSet == [ "" ] && (sc plain).AmbientCapabilities == [ ]
        && (sc lowPort).CapabilityBoundingSet == [ "CAP_NET_BIND_SERVICE" ]
        && (sc lowPort).AmbientCapabilities == [ "CAP_NET_BIND_SERVICE" ]) ]
    [ "SystemCallFilter: @system-service plus the io_uring calls; @resources (sched_setaffinity) not denied"
      (let f = (sc plain).SystemCallFilter; in
        elem "@system-service" f && all (c: elem c f) [ "io_uring_setup" "io_uring_enter" "io_uring_register" ]
        && !(elem "~@resources" f) && !(any (lib.hasPrefix "~io_uring") f) && !(elem "~@aio" f)) ]
    [ "StateDirectory and data_dir agree"
      ((sc plain).StateDirectory == lib.removePrefix "/var/lib/" (yaml plain).storage.data_dir
        && (sc plain).WorkingDirectory == (yaml plain).storage.data_dir) ]
    [ "the unit starts with multi-user.target"
      (elem "multi-user.target" (svc plain).wantedBy) ]

    # Readiness
    [ "readiness: plain HTTP polls http://127.0.0.1:9101/-/ready with --fail, bounded"
      (let t = (sc plain).ExecStartPost.text; in
        hasInfix "--fail 'http://127.0.0.1:9101/-/ready'" t && hasInfix "attempt <= 240" t && hasInfix "exit 1" t) ]
    [ "readiness: mTLS polls https on loopback for a 0.0.0.0 listener and accepts a handshake refusal"
      (let t = (sc mtls).ExecStartPost.text; in
        hasInfix "'https://127.0.0.1:9101/-/ready'" t && hasInfix "--insecure" t
        && hasInfix "\"$rc\" -ne 7" t && hasInfix "\"$rc\" -ne 28" t && !(hasInfix "--fail" t)) ]
    [ "readiness: TLS without client certificates requires a 200 over https"
      (let t = (sc tlsOnly).ExecStartPost.text; in hasInfix "--fail --insecure 'https://127.0.0.1:9101/-/ready'" t) ]

    # Firewall
    [ "openFirewall opens exactly the listen ports; under TLS the socket listener's TCP port only"
      (mtls.networking.firewall.allowedTCPPorts == [ 9101 9100 8089 ] && mtls.networking.firewall.allowedUDPPorts == [ ]) ]
    [ "openFirewall opens the socket listeners' TCP and UDP ports without TLS"
      (sockets.networking.firewall.allowedTCPPorts == [ 9101 9100 2003 8089 4242 ] && sockets.networking.firewall.allowedUDPPorts == [ 2003 8089 4242 ]
        && failedAssertions sockets == [ ]) ]
    [ "UDP listeners raise net.core.rmem_max to their receive buffer (a default); TLS (no UDP) and no listener leave it"
      (sockets.boot.kernel.sysctl."net.core.rmem_max" == 4194304
        && !(mtls.boot.kernel.sysctl ? "net.core.rmem_max") && !(plain.boot.kernel.sysctl ? "net.core.rmem_max")
        && (eval { enable = true; settings.server.influx_listen_addr = ":8089"; settings.server.udp_receive_buffer_bytes = 16777216; }).boot.kernel.sysctl."net.core.rmem_max" == 16777216) ]
    [ "a socket listener address without a port fails an assertion naming it"
      (any (m: hasInfix "graphite_listen_addr" m) (failedAssertions badSocket)) ]
    [ "openFirewall = false opens nothing"
      (plain.networking.firewall.allowedTCPPorts == [ ]) ]
    [ "openFirewall with a low port opens it"
      (lowPort.networking.firewall.allowedTCPPorts == [ 443 9100 ]) ]

    # flake.nix, package.nix and the VM test, evaluated over stub nixpkgs
    [ "flake: packages, checks.vm and devShells for x86_64-linux and aarch64-linux"
      (all (system: flake.packages ? ${system} && flake.checks.${system} ? vm && flake.devShells ? ${system})
        [ "x86_64-linux" "aarch64-linux" ]) ]
    [ "package: builds -p metricstor from Cargo.lock, tests off, version from Cargo.toml, mainProgram set"
      (flakePkg.cargoBuildFlags == [ "-p" "metricstor" ] && flakePkg.doCheck == false
        && flakePkg.cargoLock.lockFile == ../Cargo.lock
        && flakePkg.version == (builtins.fromTOML (builtins.readFile ../Cargo.toml)).workspace.package.version
        && flakePkg.meta.mainProgram == "metricstor" && flakePkg.meta.license.spdxId == "Apache-2.0") ]
    [ "package: source is the workspace members only (no target/, no fuzz corpus)"
      (flakePkg.src.fileset == [ ../Cargo.toml ../Cargo.lock ../bench ../core ../net ../promql ../proto ../tsdb ]) ]
    [ "devShell: cargo, clippy, rustfmt, cargo-nextest, cargo-fuzz, prometheus"
      (let names = map (p: p.outPath) flake.devShells.x86_64-linux.default.packages; in
        all (n: elem "/stub/${n}" names) [ "cargo" "rustc" "clippy" "rustfmt" "cargo-nextest" "cargo-fuzz" "prometheus" ]) ]
    [ "nixosModules.default: package defaults to the flake's build"
      (vmServer.services.metricstor.package.outPath == flakePkg.outPath) ]
    [ "VM test server node: passes the module's assertions, mTLS via credentials, identities in the YAML"
      (let y = fromJSON vmServer.services.metricstor.configFile.text; in
        failedAssertions vmServer == [ ]
        && (sc vmServer).LoadCredential == [
          "tls-ca:/etc/metricstor/tls/ca.crt" "tls-cert:/etc/metricstor/tls/server.crt" "tls-key:/etc/metricstor/tls/server.key" ]
        && y.tls.require_client_cert && y.tls.write_allowed_sans == [ "prometheus" ] && y.tls.read_allowed_sans == [ "admin" ]
        && vmServer.networking.firewall.allowedTCPPorts == [ 9101 9100 ]) ]
    [ "VM test: the server key comes from the build-time PKI derivation, copied to /etc as 0400"
      (let key = vmServer.environment.etc."metricstor/tls/server.key"; in
        key.source == "/stub/metricstor-test-pki/server.key" && key.mode == "0400" && key.user == "root") ]

    # The stub must reject what NixOS rejects, or the checks above could pass vacuously.
    [ "stub fidelity: a wrongly typed value is rejected (retention_days = 0)"
      (!(builtins.tryEval (builtins.deepSeq (eval { enable = true; settings.storage.retention_days = 0; }).systemd true)).success) ]
    [ "stub fidelity: an undeclared option is rejected (services.metricstor.bogus)"
      (!(builtins.tryEval (builtins.deepSeq (eval { enable = true; bogus = 1; }).systemd true)).success) ]
    [ "stub fidelity: a path literal would show up as a store path if interpolated"
      (lib.hasPrefix "${builtins.storeDir}/" "${literalKeyPath}") ]

    # enable = false
    [ "enable = false defines no unit, no assertions, no ports"
      (disabled.systemd.services == { } && disabled.assertions == [ ] && disabled.networking.firewall.allowedTCPPorts == [ ]) ]
  ];

  failed = filter (c: !(builtins.elemAt c 1)) checks;
  passed = filter (c: builtins.elemAt c 1) checks;
in
if failed != [ ] then
  throw ("module checks FAILED:\n" + lib.concatMapStringsSep "\n" (c: "  FAIL: ${builtins.head c}") failed
    + "\n(${toString (length passed)} passed, ${toString (length failed)} failed)")
else map (c: "ok: ${builtins.head c}") passed
