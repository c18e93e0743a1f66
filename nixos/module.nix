# services.metricstor: the NixOS module. Renders `settings` to the YAML of README.md
# ("Configuration"), hands TLS files to the service with LoadCredential (never through the
# Nix store), and runs the server sandboxed with only what glommio/io_uring needs.
{ config, lib, pkgs, utils, ... }:

let
  inherit (lib) mkOption mkEnableOption mkPackageOption mkIf types;

  cfg = config.services.metricstor;
  settingsFormat = pkgs.formats.yaml { };

  # LoadCredential copies each file (read by PID 1 as root, so keys can stay root-only 0400)
  # into this directory, readable only by the service's dynamic user. `%d` expands to it in
  # unit files only; the YAML needs the literal path.
  credentialsDir = "/run/credentials/metricstor.service";
  tlsCredentials = lib.filterAttrs (_: path: path != null) {
    "tls-cert" = cfg.tls.certFile;
    "tls-key" = cfg.tls.keyFile;
    "tls-ca" = cfg.tls.caFile;
    "tls-crl" = cfg.tls.crlFile;
  };
  tlsEnabled = cfg.tls.certFile != null;
  watchTlsFiles = cfg.tls.restartOnChange && tlsCredentials != { };

  # "IP:port", "[IPv6]:port", "host:port" or ":port" (every interface), the forms the binary
  # accepts (core/src/config.rs; a host name is looked up when the server starts). null when
  # it does not parse; an assertion reports that.
  parseAddress = address:
    let
      v6 = builtins.match "\\[([0-9A-Fa-f:.]+)]:([0-9]+)" address;
      named = builtins.match "([A-Za-z0-9][A-Za-z0-9.-]*):([0-9]+)" address;
      portOnly = builtins.match ":([0-9]+)" address;
      parts = if v6 != null then v6 else if named != null then named else if portOnly != null then [ "0.0.0.0" ] ++ portOnly else null;
    in
    if parts == null || lib.toInt (builtins.elemAt parts 1) > 65535 then null else {
      host = builtins.elemAt parts 0;
      port = lib.toInt (builtins.elemAt parts 1);
    };
  httpAddress = parseAddress cfg.settings.server.http_addr;
  grpcAddress = parseAddress cfg.settings.server.grpc_addr;
  addressesValid = httpAddress != null && grpcAddress != null;
  # The raw-socket listeners: "" is off.
  parseListenAddress = address: if address == "" then null else parseAddress address;
  socketAddressTexts = [ cfg.settings.server.graphite_listen_addr cfg.settings.server.influx_listen_addr cfg.settings.server.opentsdb_listen_addr ];
  socketAddresses = builtins.filter (a: a != null) (map parseListenAddress socketAddressTexts);
  socketAddressesValid = builtins.all (a: a == "" || parseListenAddress a != null) socketAddressTexts;
  socketPorts = map (a: a.port) socketAddresses;
  ports = lib.optionals addressesValid (lib.unique ([ httpAddress.port grpcAddress.port ] ++ socketPorts));
  # UDP is opened only without TLS (a datagram cannot be authenticated).
  udpPorts = lib.optionals (!tlsEnabled) (lib.unique socketPorts);
  udpReceiveBufferBytes = cfg.settings.server.udp_receive_buffer_bytes or 4194304;
  needsLowPorts = builtins.any (port: port < 1024) ports;

  dataDir = cfg.settings.storage.data_dir;
  stateDirectory = lib.removePrefix "/var/lib/" dataDir;

  scrapeConfigFile = settingsFormat.generate "metricstor-scrape.yaml" cfg.scrapeConfig;
  withScrape = lib.recursiveUpdate cfg.settings (lib.optionalAttrs (cfg.scrapeConfig != null) {
    scrape.config_file = "${scrapeConfigFile}";
  });
  renderedSettings = lib.recursiveUpdate withScrape (lib.optionalAttrs tlsEnabled {
    tls = {
      cert_file = "${credentialsDir}/tls-cert";
      key_file = "${credentialsDir}/tls-key";
      require_client_cert = cfg.tls.requireClientCert;
    } // lib.optionalAttrs (cfg.tls.caFile != null) {
      ca_file = "${credentialsDir}/tls-ca";
    } // lib.optionalAttrs (cfg.tls.crlFile != null) {
      crl_file = "${credentialsDir}/tls-crl";
    };
  });
  configFile = settingsFormat.generate "metricstor.yaml" renderedSettings;

  # Readiness: ExecStartPost holds `systemctl start` (and units ordered After=) until the
  # HTTP listener answers. The binary has no sd_notify, so we poll, with a bound.
  readinessAttempts = 240; # x 0.5 s sleep + up to 2 s per attempt; TimeoutStartSec bounds it too
  probeHost =
    if httpAddress == null then "127.0.0.1"
    else if httpAddress.host == "0.0.0.0" then "127.0.0.1"
    else if httpAddress.host == "::" then "::1"
    else httpAddress.host;
  probeUrl =
    let host = if lib.hasInfix ":" probeHost then "[${probeHost}]" else probeHost;
    in "${if tlsEnabled then "https" else "http"}://${host}:${toString (if httpAddress == null then 9101 else httpAddress.port)}/-/ready";
  curl = "${pkgs.curl}/bin/curl --globoff --silent --output /dev/null --max-time 2";
  # Plain HTTP: GET /-/ready must answer 200.
  # TLS without client certificates: the same over https. --insecure because the probe only
  #   asks "does it answer" and sends nothing secret; the certificate need not name loopback.
  # mTLS: the probe has no client certificate (the server's own usually lacks the clientAuth
  #   usage, and with *_allowed_sans it would not be authorized), so the server refuses it
  #   during the handshake. A refusal is an answer from the accept loop: ready. curl exits 7
  #   while nothing listens and 28 while the listener is bound but not yet accepting (the
  #   runtime binds before replaying the WAL); every other outcome means the TLS stack answered.
  # How the probe decides, by TLS mode:
  # - plain HTTP: GET /-/ready must answer 200.
  # - TLS without client certificates: the same over https. --insecure because the probe only
  #   asks "does it answer" and sends nothing secret; the certificate need not name loopback.
  # - mTLS: the probe has no client certificate (the server's own usually lacks the clientAuth
  #   usage, and with *_allowed_sans it would not be authorized), so the server refuses it in
  #   the handshake, and that refusal is the answer: the accept loop runs. curl exits 7 while
  #   nothing listens and 28 while the socket is bound but not yet served (the runtime binds
  #   before it replays the WAL); refusals show up as 35, 55, 56 or 98 depending on the TLS
  #   version, so everything except 7 and 28 counts as ready.
  probeBody =
    if !tlsEnabled then "${curl} --fail ${lib.escapeShellArg probeUrl}"
    else if !cfg.tls.requireClientCert then "${curl} --fail --insecure ${lib.escapeShellArg probeUrl}"
    else ''
      local rc=0
      ${curl} --insecure ${lib.escapeShellArg probeUrl} || rc=$?
      [ "$rc" -ne 7 ] && [ "$rc" -ne 28 ]'';
  readinessCheck = pkgs.writeShellScript "metricstor-ready" ''
    probe() {
      ${probeBody}
    }
    for ((attempt = 1; attempt <= ${toString readinessAttempts}; attempt++)); do
      if probe; then
        exit 0
      fi
      ${pkgs.coreutils}/bin/sleep 0.5
    done
    echo "metricstor: ${probeUrl} did not answer after ${toString readinessAttempts} attempts" >&2
    exit 1
  '';

  isStorePath = path: lib.hasPrefix "${builtins.storeDir}/" path;
  # A string option holding a path outside the store: `apply = toString` turns a path literal
  # into its string without copying the file into the store (interpolating a path would).
  secretPathOption = description: mkOption {
    type = types.nullOr types.path;
    default = null;
    apply = path: if path == null then null else toString path;
    example = "/run/secrets/metricstor/server.key";
    description = ''
      ${description}
      Give a path as a string outside the Nix store (for example one managed by sops-nix or
      agenix): the file is read by systemd at start via `LoadCredential`, so it may be owned by
      root with mode 0400. Paths in `/nix/store` are rejected, since the store is world-readable.
    '';
  };
  directTlsKeys = [ "cert_file" "key_file" "ca_file" "require_client_cert" ];
in
{
  options.services.metricstor = {
    enable = mkEnableOption "Metricstor, a Prometheus-compatible time-series database";

    package = mkPackageOption pkgs "metricstor" { };

    settings = mkOption {
      description = ''
        Metricstor configuration, rendered to YAML and passed with `--config`. Every key of
        the schema in README.md ("Configuration") may be set; keys left out take the server's
        defaults. TLS files are set with `services.metricstor.tls`, not here.
      '';
      default = { };
      example = lib.literalExpression ''
        {
          server.http_addr = "0.0.0.0:9101";
          server.cores = 4;
          storage.retention_days = 30;
          tls.write_allowed_sans = [ "prometheus" ];
        }
      '';
      type = types.submodule {
        freeformType = settingsFormat.type;
        options = {
          server.http_addr = mkOption {
            type = types.str;
            default = "127.0.0.1:9101";
            example = "0.0.0.0:9101";
            description = "HTTP listener (Prometheus API, remote_write, /metrics) as IP:port, [IPv6]:port, host:port or :port (every interface).";
          };
          server.grpc_addr = mkOption {
            type = types.str;
            default = "127.0.0.1:9100";
            example = "0.0.0.0:9100";
            description = "gRPC listener, in the forms `http_addr` takes.";
          };
          server.graphite_listen_addr = mkOption {
            type = types.str;
            default = "";
            example = ":2003";
            description = ''
              Graphite plaintext protocol on TCP and UDP (VictoriaMetrics' `-graphiteListenAddr`)
              in the forms `http_addr` takes; "" is off. With TLS, TCP speaks TLS and UDP is not opened.
            '';
          };
          server.influx_listen_addr = mkOption {
            type = types.str;
            default = "";
            example = ":8089";
            description = ''
              InfluxDB line protocol on TCP and UDP (VictoriaMetrics' `-influxListenAddr`) in the
              forms `http_addr` takes; "" is off. With TLS, TCP speaks TLS and UDP is not opened.
            '';
          };
          server.opentsdb_listen_addr = mkOption {
            type = types.str;
            default = "";
            example = ":4242";
            description = ''
              OpenTSDB `put` lines on TCP and UDP, and HTTP `/api/put` on the same TCP port
              (VictoriaMetrics' `-opentsdbListenAddr`) in the forms `http_addr` takes; "" is off. With TLS,
              TCP speaks TLS and UDP is not opened.
            '';
          };
          storage.data_dir = mkOption {
            type = types.str;
            default = "/var/lib/metricstor";
            description = ''
              Data directory. Must lie under /var/lib: it becomes the unit's StateDirectory
              (created and owned by the dynamic service user; the rest of the file system is
              read-only to the service).
            '';
          };
          storage.retention_days = mkOption {
            type = types.ints.positive;
            default = 15;
            description = "Days of data kept.";
          };
        };
      };
    };

    tls = {
      certFile = secretPathOption "Server certificate (PEM). With `keyFile`, both ports speak TLS.";
      keyFile = secretPathOption "Private key of `certFile` (PEM).";
      caFile = secretPathOption "CA bundle (PEM) that client certificates must chain to.";
      crlFile = secretPathOption "Revocation lists (PEM) of `caFile`'s CAs: a client certificate they list is refused. Copied when the service starts; with `restartOnChange` a new file restarts it.";
      requireClientCert = mkOption {
        type = types.bool;
        default = false;
        description = "Mutual TLS: refuse clients without a certificate chaining to `caFile`.";
      };
      restartOnChange = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Restart the service when one of the TLS files above changes: a systemd path unit
          (`metricstor-tls-watch.path`) watches them and starts `metricstor-tls-restart.service`,
          which runs `systemctl try-restart metricstor.service`. The service reads copies taken
          at start (`LoadCredential`), so without this a renewed certificate or a new revocation
          list takes effect only at the next manual restart. A restart keeps the data (the WAL is
          synced on SIGTERM and replayed at start); clients reconnect.
        '';
      };
    };

    scrapeConfig = mkOption {
      type = types.nullOr settingsFormat.type;
      default = null;
      example = lib.literalExpression ''
        {
          global.scrape_interval = "15s";
          scrape_configs = [{ job_name = "node"; static_configs = [{ targets = [ "localhost:9100" ]; }]; }];
        }
      '';
      description = ''
        Targets for the server to scrape, as a Prometheus configuration (`global`,
        `scrape_configs`; see README.md, "Scraping"), and the rules it evaluates (`rule_files`,
        `alerting`; README.md, "Recording and alerting rules"). Rendered to a file in the Nix
        store and set as `settings.scrape.config_file`, so relative names in it are taken from
        the store: name `rule_files` by absolute path (or as store paths). Files it names
        (`password_file`, `credentials_file`, `tls_config` keys, `file_sd_configs` and rule
        files) must be readable by the service's dynamic user; keep secrets out of this
        attribute set, which lands in the store.
      '';
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the TCP ports of `settings.server.http_addr`, `settings.server.grpc_addr` and the socket listeners (`graphite_listen_addr`, `influx_listen_addr`, `opentsdb_listen_addr`; their UDP ports too, without TLS).";
    };

    configFile = mkOption {
      type = types.path;
      readOnly = true;
      default = configFile;
      defaultText = lib.literalMD "generated from `settings` and `tls`";
      description = ''
        The YAML file the service runs with (read-only): `settings`, with the TLS keys pointing
        at the unit's credentials. Handy to inspect, or to validate with `metricstor --config`.
      '';
    };

    extraArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Extra command-line arguments for `metricstor` (after `--config`).";
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = (cfg.tls.certFile == null) == (cfg.tls.keyFile == null);
        message = "services.metricstor.tls: certFile and keyFile must be set together.";
      }
      {
        assertion = cfg.tls.requireClientCert -> (tlsEnabled && cfg.tls.caFile != null);
        message = "services.metricstor.tls.requireClientCert needs certFile, keyFile and caFile.";
      }
      {
        assertion = cfg.tls.crlFile != null -> cfg.tls.caFile != null;
        message = "services.metricstor.tls.crlFile needs caFile (revocation lists apply to client certificates).";
      }
      {
        assertion = cfg.tls.caFile != null -> tlsEnabled;
        message = "services.metricstor.tls.caFile needs certFile and keyFile (client certificates need TLS).";
      }
      {
        assertion = builtins.all (path: !isStorePath path) (builtins.attrValues tlsCredentials);
        message = "services.metricstor.tls: certFile, keyFile and caFile must not be in ${builtins.storeDir} (it is world-readable); give a path string such as \"/run/secrets/metricstor.key\".";
      }
      {
        assertion = builtins.all (key: !(cfg.settings ? tls && cfg.settings.tls ? ${key})) directTlsKeys;
        message = "services.metricstor.settings.tls.{${lib.concatStringsSep "," directTlsKeys}}: set services.metricstor.tls.{certFile,keyFile,caFile,requireClientCert} instead (they are passed with LoadCredential).";
      }
      {
        assertion = addressesValid;
        message = "services.metricstor.settings.server.http_addr and grpc_addr must be IP:port, [IPv6]:port, host:port or :port (got \"${cfg.settings.server.http_addr}\" and \"${cfg.settings.server.grpc_addr}\").";
      }
      {
        assertion = socketAddressesValid;
        message = "services.metricstor.settings.server.graphite_listen_addr, influx_listen_addr and opentsdb_listen_addr must be \"\" (off), IP:port, [IPv6]:port, host:port or :port (got \"${cfg.settings.server.graphite_listen_addr}\", \"${cfg.settings.server.influx_listen_addr}\" and \"${cfg.settings.server.opentsdb_listen_addr}\").";
      }
      {
        assertion = lib.hasPrefix "/var/lib/" dataDir && stateDirectory != "" && !(lib.hasInfix ".." dataDir);
        message = "services.metricstor.settings.storage.data_dir must be a directory under /var/lib (it is the unit's StateDirectory); got \"${dataDir}\".";
      }
    ];

    networking.firewall.allowedTCPPorts = mkIf cfg.openFirewall ports;
    networking.firewall.allowedUDPPorts = mkIf cfg.openFirewall udpPorts;

    # Each UDP socket asks for server.udp_receive_buffer_bytes (4 MiB unless set); Linux caps
    # the request at net.core.rmem_max, 208 KiB by default, and a datagram that finds the
    # buffer full is lost. A default, so the host's own setting wins.
    boot.kernel.sysctl = mkIf (udpPorts != [ ]) { "net.core.rmem_max" = lib.mkDefault udpReceiveBufferBytes; };

    # Credentials are copies taken at start: a changed TLS file restarts the service so the
    # copy follows (tls.restartOnChange). PathChanged fires when a writer closes the file or
    # it is replaced (renamed over, or a symlink above it switched, as sops-nix does).
    systemd.paths = lib.optionalAttrs watchTlsFiles {
      metricstor-tls-watch = {
        description = "Watch Metricstor's TLS files";
        wantedBy = [ "multi-user.target" ];
        pathConfig = {
          PathChanged = builtins.attrValues tlsCredentials;
          Unit = "metricstor-tls-restart.service";
        };
      };
    };

    systemd.services.metricstor-tls-restart = mkIf watchTlsFiles {
      description = "Restart Metricstor to read its changed TLS files";
      serviceConfig = {
        Type = "oneshot";
        # try-restart: nothing to do while the service is stopped (it copies the files when
        # it starts).
        ExecStart = "${pkgs.systemd}/bin/systemctl try-restart metricstor.service";
      };
    };

    systemd.services.metricstor = {
      description = "Metricstor time-series database";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ];

      serviceConfig = {
        ExecStart = "${lib.getExe' cfg.package "metricstor"} --config ${cfg.configFile}"
          + lib.optionalString (cfg.extraArgs != [ ]) " ${utils.escapeSystemdExecArgs cfg.extraArgs}";
        ExecStartPost = readinessCheck;
        Restart = "on-failure";
        RestartSec = "2s";
        # SIGTERM drains requests in flight (server.shutdown_drain_seconds) and syncs the WAL.
        TimeoutStopSec = "60s";
        TimeoutStartSec = "180s";

        # The server re-reads its TLS files when they change or on SIGHUP, but credentials
        # are copies taken at start: a new file needs a restart (metricstor-tls-watch.path
        # does it, see tls.restartOnChange). No ExecReload, so `systemctl reload` cannot
        # pretend otherwise.
        LoadCredential = lib.mapAttrsToList (name: path: "${name}:${path}") tlsCredentials;

        DynamicUser = true;
        StateDirectory = stateDirectory;
        StateDirectoryMode = "0700";
        WorkingDirectory = dataDir;
        UMask = "0077";

        # glommio registers an io_uring buffer pool per executor (core/src/runtime.rs
        # IO_MEMORY_BYTES, 2 MiB) plus its rings, and refuses to start under 512 KiB. Executors
        # default to one per CPU, unknown at evaluation time, so no fixed size fits every host.
        # The dynamic user owns nothing else that locks memory, and on Linux 5.12+ the locked
        # pages are charged to this unit's cgroup (bound them with MemoryMax).
        LimitMEMLOCK = "infinity";
        # max_connections_per_core (10000) per executor, plus WAL segments and blocks.
        LimitNOFILE = 1048576;

        # Sandboxing.
        CapabilityBoundingSet = if needsLowPorts then [ "CAP_NET_BIND_SERVICE" ] else [ "" ];
        AmbientCapabilities = lib.optionals needsLowPorts [ "CAP_NET_BIND_SERVICE" ];
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        ProtectProc = "invisible";
        LockPersonality = true;
        MemoryDenyWriteExecute = true;
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        RemoveIPC = true;
        RestrictAddressFamilies = [ "AF_INET" "AF_INET6" "AF_UNIX" ];
        SystemCallArchitectures = "native";
        # @system-service already allows io_uring: it includes @aio, which lists io_uring_setup,
        # io_uring_enter and io_uring_register (checked with systemd 252's `systemd-analyze
        # syscall-filter @aio` and systemd's src/shared/seccomp-util.c). They are named again so
        # the filter states what the server depends on, whatever an older systemd's @aio holds.
        # @resources must stay allowed: executors pin themselves with sched_setaffinity.
        SystemCallFilter = [
          "@system-service"
          "io_uring_setup"
          "io_uring_enter"
          "io_uring_register"
          "~@privileged"
        ];
        SystemCallErrorNumber = "EPERM";
      };
    };
  };
}
