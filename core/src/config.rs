//! Configuration: the YAML schema of the README (`server`, `storage`, `tls`, `otlp`,
//! `zabbix_connector`, `relabel_configs`, `stream_aggregation`), with an embedded default for every key. Unknown
//! keys and bad values are errors naming the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod otlp;
mod server;
mod storage;
mod tls;
mod zabbix;

pub use otlp::OtlpConfig;
pub use server::{ServerConfig, GRPC_ADDR_DEFAULT, HTTP_ADDR_DEFAULT, UDP_RECEIVE_BUFFER_BYTES_DEFAULT, UDP_RECEIVE_BUFFER_BYTES_MAX, VM_NATIVE_EXPORT_VERSION_DEFAULT};
pub use storage::{format_base2_bytes, parse_base2_bytes, StorageConfig, MAX_EXEMPLARS_DEFAULT, MAX_HEAD_SAMPLES_MIN, PAGE_CACHE_MB_DEFAULT, PAGE_CACHE_MB_MAX};
pub use tls::TlsConfig;
pub use zabbix::ZabbixConnectorConfig;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub tls: TlsConfig,
    pub otlp: OtlpConfig,
    pub zabbix_connector: ZabbixConnectorConfig,
    /// Rules applied to every series written, on every ingestion path, before it is stored
    /// (Prometheus' `relabel_config`; VictoriaMetrics' `-relabelConfig`). Empty: none.
    /// Read again by a reload (`crate::write_rules`), as is `stream_aggregation`.
    pub relabel_configs: Vec<crate::ingest::relabel::RelabelConfig>,
    /// VictoriaMetrics' stream aggregation (`-streamAggr.config`), applied after
    /// `relabel_configs`. No configs: none.
    pub stream_aggregation: crate::stream_aggr::StreamAggregationSection,
    pub scrape: ScrapeSection,
    pub rules: RulesSection,
}

/// How the rules of the scrape configuration file's `rule_files` are evaluated and their
/// alerts sent (Prometheus' `--rules.*` and `--web.external-url` flags, their defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesSection {
    /// A firing alert is sent to Alertmanager again after this long (`--rules.alert.resend-delay`).
    pub alert_resend_delay_seconds: u64,
    /// After a restart, an alert's `for` state is restored from the `ALERTS_FOR_STATE`
    /// samples of this long before it (`--rules.alert.for-outage-tolerance`).
    pub alert_for_outage_tolerance_seconds: u64,
    /// A restored alert fires no sooner than this long after a start, and rules with a
    /// shorter `for` are not restored (`--rules.alert.for-grace-period`).
    pub alert_for_grace_period_seconds: u64,
    /// The URL this server is reached under: alerts' `generatorURL` and templates'
    /// `$externalURL` start with it. Empty: `http://<host name>:<http port>`.
    pub external_url: String,
    /// Rules of a group that may evaluate at once, those independent of each other
    /// (Prometheus 3's `concurrent-rule-eval` feature and `--rules.max-concurrent-rule-evals`);
    /// 0 or 1: one after another, Prometheus' default.
    pub concurrent_evals: usize,
}

impl Default for RulesSection {
    fn default() -> Self {
        RulesSection { alert_resend_delay_seconds: 60, alert_for_outage_tolerance_seconds: 3600, alert_for_grace_period_seconds: 600, external_url: String::new(), concurrent_evals: 0 }
    }
}

/// Scraping Prometheus targets (VictoriaMetrics' `-promscrape.config`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScrapeSection {
    /// A Prometheus configuration file whose `global` and `scrape_configs` sections are
    /// run (static, file_sd, http_sd and dns_sd targets); other sections of it are ignored.
    /// Relative file names in it are taken from its directory. Unset: nothing is scraped.
    pub config_file: Option<PathBuf>,
    /// The resolver configuration `dns_sd_configs` lookups read at each refresh (its
    /// `nameserver`, `search`, `domain` and `options` lines; a nameserver may carry a port,
    /// `127.0.0.1:5353`). Unset: /etc/resolv.conf.
    pub resolv_conf: Option<PathBuf>,
    /// Every this many seconds, `config_file` and the files its `scrape_config_files` name
    /// are read and, when they differ from what the configuration in force was read from,
    /// reloaded (Prometheus 3's `--config.auto-reload-interval`, VictoriaMetrics'
    /// `-promscrape.configCheckInterval`); so are this file's `relabel_configs` and
    /// `stream_aggregation` when its text changed. A failed reload is tried again at each check.
    /// 0 = off (SIGHUP and `/-/reload` only).
    pub config_check_interval_seconds: u64,
    /// Prometheus' `--enable-feature=expand-external-labels`: `$NAME` and `${NAME}` in the
    /// values of `config_file`'s `global.external_labels` are replaced by the environment
    /// variables of those names (Go's `os.Expand` rules; `$$` is a `$`), an unset or empty one
    /// by nothing, with a warning. Off by default, as there.
    pub expand_external_labels: bool,
}

/// A configuration problem, always naming the key (`server.cores`) or the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("invalid value for {key}: {message}")]
    Value { key: &'static str, message: String },
}

/// The parsed, validated listen addresses and derived values the runtime needs.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub http_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    /// `server.graphite_listen_addr`, `server.influx_listen_addr` and
    /// `server.opentsdb_listen_addr`, when set.
    pub graphite_addr: Option<SocketAddr>,
    pub influx_addr: Option<SocketAddr>,
    pub opentsdb_addr: Option<SocketAddr>,
    /// `relabel_configs`, compiled.
    pub relabeler: std::sync::Arc<crate::ingest::relabel::Relabeler>,
    /// `stream_aggregation`, compiled, its state empty (none when no aggregation is set).
    pub stream_aggr: Option<std::sync::Arc<crate::stream_aggr::StreamAggregators>>,
    /// `tls.read_filters`, compiled.
    pub identity_filters: std::sync::Arc<crate::api::read_filters::IdentityFilters>,
    /// `server.cors_origin`, read.
    pub cors_origins: crate::api::cors::CorsOrigins,
    /// `scrape.config_file`, read and checked (no jobs when unset).
    pub scrape: std::sync::Arc<crate::scrape::ScrapeConfig>,
    /// The file the configuration was read from (a reload reads its `relabel_configs` and
    /// `stream_aggregation` again); none with the embedded defaults.
    pub config_file: Option<PathBuf>,
}

impl Config {
    /// Loads `path`, or the embedded defaults when `path` is `None`.
    pub fn load(path: Option<&Path>) -> Result<(Config, Resolved), ConfigError> {
        let config = match path {
            None => Config::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
                Config::from_yaml(&text).map_err(|message| ConfigError::Syntax { path: path.to_path_buf(), message })?
            }
        };
        let mut resolved = config.validate()?;
        resolved.config_file = path.map(Path::to_path_buf);
        Ok((config, resolved))
    }

    /// Parses YAML text; an empty document means all defaults.
    pub fn from_yaml(text: &str) -> Result<Config, String> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        serde_saphyr::from_str(text).map_err(|e| e.to_string())
    }

    /// Checks every value that serde's types cannot express.
    pub fn validate(&self) -> Result<Resolved, ConfigError> {
        let http_addr = parse_listen_addr("server.http_addr", &self.server.http_addr, 9101)?;
        let grpc_addr = parse_listen_addr("server.grpc_addr", &self.server.grpc_addr, 9100)?;
        if http_addr == grpc_addr && http_addr.port() != 0 {
            return value_error("server.grpc_addr", "must differ from server.http_addr");
        }
        let graphite_addr = parse_optional_listen_addr("server.graphite_listen_addr", &self.server.graphite_listen_addr, 2003)?;
        let influx_addr = parse_optional_listen_addr("server.influx_listen_addr", &self.server.influx_listen_addr, 8089)?;
        let opentsdb_addr = parse_optional_listen_addr("server.opentsdb_listen_addr", &self.server.opentsdb_listen_addr, 4242)?;
        let mut taken = vec![("server.http_addr", http_addr), ("server.grpc_addr", grpc_addr)];
        for (key, addr) in [("server.graphite_listen_addr", graphite_addr), ("server.influx_listen_addr", influx_addr), ("server.opentsdb_listen_addr", opentsdb_addr)] {
            let Some(addr) = addr else { continue };
            // Port 0 picks a free port for each.
            if let Some((other, _)) = taken.iter().find(|(_, a)| addr.port() != 0 && *a == addr) {
                return value_error(key, &format!("must differ from {other}"));
            }
            taken.push((key, addr));
        }
        let s = &self.server;
        if !(4096..=UDP_RECEIVE_BUFFER_BYTES_MAX).contains(&s.udp_receive_buffer_bytes) {
            return value_error("server.udp_receive_buffer_bytes", &format!("must be between 4096 and {UDP_RECEIVE_BUFFER_BYTES_MAX}"));
        }
        positive("server.max_connections_per_core", s.max_connections_per_core as u64)?;
        positive("server.max_body_bytes", s.max_body_bytes as u64)?;
        if s.max_header_bytes < 1024 {
            return value_error("server.max_header_bytes", "must be at least 1024");
        }
        positive("server.header_read_timeout_seconds", s.header_read_timeout_seconds)?;
        positive("server.body_read_timeout_seconds", s.body_read_timeout_seconds)?;
        positive("server.idle_timeout_seconds", s.idle_timeout_seconds)?;
        positive("server.shard_queue_depth", s.shard_queue_depth as u64)?;
        positive("server.query_timeout_seconds", s.query_timeout_seconds)?;
        positive("server.max_samples_per_query", s.max_samples_per_query as u64)?;
        positive("server.lookback_delta_seconds", s.lookback_delta_seconds)?;
        positive("server.max_concurrent_streams", u64::from(s.max_concurrent_streams))?;
        positive("server.max_concurrent_queries", s.max_concurrent_queries as u64)?;
        if !(s.slow_query_log_seconds.is_finite() && s.slow_query_log_seconds >= 0.0) {
            return value_error("server.slow_query_log_seconds", "must be a number of seconds, 0 or more (0 turns the log off)");
        }
        if s.vm_native_export_layout().is_none() {
            return value_error(
                "server.vm_native_export_version",
                "must be a VictoriaMetrics version such as \"1.79\" or \"v1.106.1\" (1.82 changed the native block header)",
            );
        }
        if s.cores > 1024 {
            return value_error("server.cores", "must be at most 1024 (0 means all CPUs)");
        }
        let st = &self.storage;
        if st.data_dir.as_os_str().is_empty() {
            return value_error("storage.data_dir", "must not be empty");
        }
        if st.shards > 4096 {
            return value_error("storage.shards", "must be at most 4096 (0 means one per core)");
        }
        if !(1..=1024).contains(&st.wal_segment_size_mb) {
            return value_error("storage.wal_segment_size_mb", "must be between 1 and 1024");
        }
        positive("storage.retention_days", st.retention_days)?;
        if let Err(message) = parse_base2_bytes(&st.retention_size) {
            return value_error("storage.retention_size", &message);
        }
        if !(0.0..=100.0).contains(&st.retention_percentage) {
            return value_error("storage.retention_percentage", "must be between 0 (off) and 100");
        }
        positive("storage.block_duration_hours", st.block_duration_hours)?;
        if st.page_cache_mb > PAGE_CACHE_MB_MAX {
            return value_error("storage.page_cache_mb", "must be at most 65536 (per shard; 0 disables the cache)");
        }
        if !(0.0..=86_400.0).contains(&st.dedup_interval_seconds) || (st.dedup_interval_seconds > 0.0 && st.dedup_interval_ms() == 0) {
            return value_error("storage.dedup_interval_seconds", "must be 0 (off) or between 0.001 and 86400 seconds");
        }
        if st.max_head_samples != 0 && st.max_head_samples < MAX_HEAD_SAMPLES_MIN {
            return value_error("storage.max_head_samples", &format!("must be 0 (no limit) or at least {MAX_HEAD_SAMPLES_MIN}"));
        }
        let t = &self.tls;
        if t.cert_file.is_some() != t.key_file.is_some() {
            return value_error("tls.key_file", "tls.cert_file and tls.key_file must be set together");
        }
        if !matches!(t.min_version.as_str(), "1.2" | "1.3") {
            return value_error("tls.min_version", "must be \"1.2\" or \"1.3\"");
        }
        if t.require_client_cert && t.ca_file.is_none() {
            return value_error("tls.ca_file", "is required when tls.require_client_cert is true");
        }
        if t.crl_file.is_some() && t.ca_file.is_none() {
            return value_error("tls.crl_file", "needs tls.ca_file: revocation lists apply to client certificates");
        }
        if !t.enabled() && (t.ca_file.is_some() || t.require_client_cert || !t.write_allowed_sans.is_empty() || !t.read_allowed_sans.is_empty() || !t.read_filters.is_empty()) {
            return value_error("tls.cert_file", "client-certificate settings need TLS: set tls.cert_file and tls.key_file");
        }
        if (!t.write_allowed_sans.is_empty() || !t.read_allowed_sans.is_empty() || !t.read_filters.is_empty()) && !t.require_client_cert {
            return value_error("tls.require_client_cert", "must be true when write_allowed_sans, read_allowed_sans or read_filters are set");
        }
        let identity_filters = crate::api::read_filters::IdentityFilters::from_config(&t.read_filters)
            .map_err(|message| ConfigError::Value { key: "tls.read_filters", message })?;
        if let Some(settings) = t.settings() {
            net::tls::load_server_config(&settings).map_err(|e| ConfigError::Value { key: "tls", message: e.to_string() })?;
        }
        self.otlp.validate()?;
        let cors_origins = crate::api::cors::CorsOrigins::parse(&self.server.cors_origin).map_err(|message| ConfigError::Value { key: "server.cors_origin", message })?;
        let relabeler = crate::ingest::relabel::Relabeler::new(&self.relabel_configs, self.storage.ingest_rules().label_limits)
            .map_err(|message| ConfigError::Value { key: "relabel_configs", message })?;
        let aggregations = self.stream_aggregation.compile(self.storage.ingest_rules().label_limits).map_err(|message| ConfigError::Value { key: "stream_aggregation", message })?;
        let stream_aggr = crate::stream_aggr::StreamAggregators::new(&self.stream_aggregation, aggregations, crate::api::params::now_ms()).map(std::sync::Arc::new);
        let external_url = self.rules.external_url.trim();
        if !external_url.is_empty() && !external_url.starts_with("http://") && !external_url.starts_with("https://") {
            return Err(ConfigError::Value { key: "rules.external_url", message: format!("{external_url:?} is not an http:// or https:// URL") });
        }
        if let Some(path) = &self.scrape.resolv_conf {
            // Read at every dns_sd lookup; a path that cannot be read is a mistake to name now.
            std::fs::read_to_string(path).map_err(|e| ConfigError::Value { key: "scrape.resolv_conf", message: format!("cannot read {}: {e}", path.display()) })?;
        }
        let scrape = match &self.scrape.config_file {
            None => crate::scrape::ScrapeConfig::default(),
            Some(path) => {
                let server = crate::scrape::config::ServerOptions {
                    label_limits: self.storage.ingest_rules().label_limits,
                    read_start_timestamps: self.storage.reads_start_timestamps(),
                    expand_external_labels: self.scrape.expand_external_labels,
                };
                crate::scrape::ScrapeConfig::load(path, server).map_err(|message| ConfigError::Value { key: "scrape.config_file", message })?
            }
        };
        Ok(Resolved {
            http_addr,
            grpc_addr,
            graphite_addr,
            influx_addr,
            opentsdb_addr,
            relabeler: std::sync::Arc::new(relabeler),
            stream_aggr,
            identity_filters: std::sync::Arc::new(identity_filters),
            cors_origins,
            scrape: std::sync::Arc::new(scrape),
            config_file: None,
        })
    }

    /// The effective configuration as YAML (for `/api/v1/status/config`).
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

/// A listen address as Prometheus and VictoriaMetrics take one: `IP:port`, `[IPv6]:port`,
/// `:port` (every IPv4 interface) or `host:port`, the name looked up once, here (its first
/// IPv4 address, as Go listens on a name that has several, else its first address).
/// `example_port` is the port the error's examples show.
fn parse_listen_addr(key: &'static str, text: &str, example_port: u16) -> Result<SocketAddr, ConfigError> {
    let text = text.trim();
    let bad = |why: String| ConfigError::Value {
        key,
        message: format!("{text:?} is not an address to listen on: {why} (e.g. 127.0.0.1:{example_port}, [::1]:{example_port}, localhost:{example_port}, or :{example_port} for every interface)"),
    };
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let (host, port) = text.rsplit_once(':').ok_or_else(|| bad("it has no port".to_string()))?;
    let port: u16 = port.parse().map_err(|_| bad(format!("{port:?} is not a port")))?;
    if host.is_empty() {
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    if host.contains([':', '[', ']', '/']) || host.chars().any(char::is_whitespace) {
        return Err(bad(format!("{host:?} is neither an IP address nor a host name")));
    }
    let found: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&(host, port)).map_err(|e| bad(format!("cannot look up {host:?}: {e}")))?.collect();
    found.iter().find(|addr| addr.is_ipv4()).or(found.first()).copied().ok_or_else(|| bad(format!("{host:?} has no address")))
}

/// A socket listener's address: empty is off, anything else as [`parse_listen_addr`].
fn parse_optional_listen_addr(key: &'static str, text: &str, example_port: u16) -> Result<Option<SocketAddr>, ConfigError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    parse_listen_addr(key, text, example_port).map(Some)
}

fn positive(key: &'static str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        return value_error(key, "must be greater than 0");
    }
    Ok(())
}

fn value_error<T>(key: &'static str, message: &str) -> Result<T, ConfigError> {
    Err(ConfigError::Value { key, message: message.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_all_defaults() {
        assert_eq!(Config::from_yaml("").unwrap(), Config::default());
        Config::default().validate().unwrap();
    }

    #[test]
    fn partial_sections_keep_other_defaults() {
        let c = Config::from_yaml("server:\n  cores: 2\nstorage:\n  data_dir: /tmp/x\n").unwrap();
        assert_eq!(c.server.cores, 2);
        assert_eq!(c.server.http_addr, HTTP_ADDR_DEFAULT);
        assert_eq!(c.storage.data_dir, PathBuf::from("/tmp/x"));
        assert!(c.storage.wal_fsync);
        assert!(c.storage.wal_compression);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_yaml("server:\n  corez: 2\n").unwrap_err();
        assert!(err.contains("corez"), "{err}");
        let err = Config::from_yaml("stroage: {}\n").unwrap_err();
        assert!(err.contains("stroage"), "{err}");
    }

    #[test]
    fn a_cors_origin_that_is_no_pattern_is_named() {
        let c = Config::from_yaml("server:\n  cors_origin: '(grafana'\n").unwrap();
        let error = c.validate().unwrap_err().to_string();
        assert!(error.contains("server.cors_origin") && error.contains("not a regular expression"), "{error}");
        Config::from_yaml("server:\n  cors_origin: 'https://grafana\\.example'\n").unwrap().validate().unwrap();
    }

    #[test]
    fn retention_sizes_read_and_print_as_prometheus_does() {
        for (text, bytes) in [("", 0), ("0", 0), ("512MB", 512 << 20), ("50GB", 50 << 30), ("1TiB", 1 << 40), ("1GB512MB", (1 << 30) + (512 << 20)), ("4096", 4096), ("7B", 7), ("1.5GB", 3 << 29), (".5KB", 512)] {
            assert_eq!(parse_base2_bytes(text), Ok(bytes), "{text}");
        }
        for bad in ["50G", "GB", ".GB", "1.2.3GB", "-1GB", "50 GB", "20000000EB"] {
            assert!(parse_base2_bytes(bad).is_err(), "{bad}");
        }
        assert_eq!((format_base2_bytes(0), format_base2_bytes(50 << 30), format_base2_bytes((1 << 30) + (512 << 20)), format_base2_bytes(1000)), ("0B".into(), "50GiB".into(), "1GiB512MiB".into(), "1000B".into()));
        let c = Config::from_yaml("storage:\n  retention_size: 50GB\n  retention_percentage: 80\n").unwrap();
        c.validate().unwrap();
        assert_eq!((c.storage.retention_bytes(), c.storage.retention_text()), (50 << 30, "15d or 50GiB or 80%".to_string()));
        assert_eq!(Config::default().storage.retention_text(), "15d");
        let c = Config::from_yaml("storage:\n  retention_size: 50 gigs\n").unwrap();
        let error = c.validate().unwrap_err().to_string();
        assert!(error.contains("storage.retention_size") && error.contains("\"50 gigs\" is not a size"), "{error}");
        let c = Config::from_yaml("storage:\n  retention_percentage: 101\n").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("storage.retention_percentage"));
    }

    #[test]
    fn bad_values_are_named() {
        let err = Config::from_yaml("server:\n  cores: many\n").unwrap_err();
        assert!(err.contains("cores"), "{err}");
        let mut c = Config::default();
        c.server.http_addr = "localhost".into();
        assert!(c.validate().unwrap_err().to_string().contains("server.http_addr"));
        let mut c = Config::default();
        c.storage.wal_segment_size_mb = 0;
        assert!(c.validate().unwrap_err().to_string().contains("storage.wal_segment_size_mb"));
        let mut c = Config::default();
        c.storage.page_cache_mb = PAGE_CACHE_MB_MAX + 1;
        assert!(c.validate().unwrap_err().to_string().contains("storage.page_cache_mb"));
        let c = Config::from_yaml("storage:\n  page_cache_mb: 0\n").unwrap();
        assert_eq!(c.storage.page_cache_mb, 0, "0 (cache off) is accepted");
        c.validate().unwrap();
        let mut c = Config::default();
        c.storage.max_head_samples = 5;
        assert!(c.validate().unwrap_err().to_string().contains("storage.max_head_samples"));
        c.storage.max_head_samples = 0;
        assert!(c.validate().is_ok(), "0 turns the limit off");
        let c = Config::from_yaml("server:\n  slow_query_log_seconds: 0.25\n").unwrap();
        assert_eq!(c.server.slow_query_log_seconds, 0.25);
        let c = Config::from_yaml("server:\n  slow_query_log_seconds: 2\n").unwrap();
        assert_eq!(c.server.slow_query_log_seconds, 2.0, "a whole number of seconds reads as one");
        let c = Config::from_yaml("server:\n  slow_query_log_seconds: -1\n").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("server.slow_query_log_seconds"));
    }

    #[test]
    fn socket_listen_addresses_are_optional_and_checked() {
        let resolved = Config::default().validate().unwrap();
        assert_eq!((resolved.graphite_addr, resolved.influx_addr), (None, None), "off by default");
        let c = Config::from_yaml("server:\n  graphite_listen_addr: \"127.0.0.1:2003\"\n  influx_listen_addr: \":8089\"\n").unwrap();
        let resolved = c.validate().unwrap();
        assert_eq!(resolved.graphite_addr, Some("127.0.0.1:2003".parse().unwrap()));
        assert_eq!(resolved.influx_addr, Some("0.0.0.0:8089".parse().unwrap()));
        // Host names as Prometheus and VictoriaMetrics take them (localhost: /etc/hosts, no
        // network), and `:port` for the HTTP and gRPC ports too.
        let c = Config::from_yaml("server:\n  http_addr: \":9101\"\n  grpc_addr: localhost:9100\n  graphite_listen_addr: \"[::1]:2003\"\n  opentsdb_listen_addr: localhost:4242\n").unwrap();
        let resolved = c.validate().unwrap();
        assert_eq!(resolved.http_addr, "0.0.0.0:9101".parse().unwrap());
        assert!(resolved.grpc_addr.ip().is_loopback() && resolved.grpc_addr.port() == 9100, "{}", resolved.grpc_addr);
        assert_eq!(resolved.graphite_addr, Some("[::1]:2003".parse().unwrap()));
        assert!(resolved.opentsdb_addr.is_some_and(|a| a.ip().is_loopback() && a.port() == 4242), "{:?}", resolved.opentsdb_addr);
        for (yaml, key) in [
            ("graphite_listen_addr: localhost", "server.graphite_listen_addr"),
            ("graphite_listen_addr: \"localhost:65536\"", "server.graphite_listen_addr"),
            ("http_addr: \"[::1:9101\"", "server.http_addr"),
            ("grpc_addr: \"127.0.0.1\"", "server.grpc_addr"),
            ("grpc_addr: \"a b:9100\"", "server.grpc_addr"),
            ("influx_listen_addr: \":x\"", "server.influx_listen_addr"),
            ("graphite_listen_addr: \"127.0.0.1:9101\"", "server.graphite_listen_addr"),
            ("graphite_listen_addr: \":2003\"\n  influx_listen_addr: \"0.0.0.0:2003\"", "server.influx_listen_addr"),
            ("udp_receive_buffer_bytes: 100", "server.udp_receive_buffer_bytes"),
            ("udp_receive_buffer_bytes: 2147483648", "server.udp_receive_buffer_bytes"),
        ] {
            let err = Config::from_yaml(&format!("server:\n  {yaml}\n")).unwrap().validate().unwrap_err().to_string();
            assert!(err.contains(key), "{yaml}: {err}");
        }
        let err = Config::from_yaml("rules:\n  external_url: prometheus.example\n").unwrap().validate().unwrap_err().to_string();
        assert!(err.contains("rules.external_url"), "{err}");
        assert_eq!(Config::from_yaml("rules:\n  external_url: https://p.example/x\n").unwrap().rules.external_url, "https://p.example/x");
    }

    #[test]
    fn the_native_export_follows_the_victoriametrics_version_named() {
        use crate::ingest::vm_native::BlockLayout;
        let layout = |yaml: &str| Config::from_yaml(yaml).map_err(|e| e.to_string()).and_then(|c| c.validate().map_err(|e| e.to_string()).map(|_| c.server.vm_native_export_layout()));
        assert_eq!(layout(""), Ok(Some(BlockLayout::Since1_82)), "current releases by default");
        for (version, want) in [
            ("1.79", BlockLayout::Before1_82),
            ("\"1.79.12\"", BlockLayout::Before1_82),
            ("v1.81.2", BlockLayout::Before1_82),
            ("0.9", BlockLayout::Before1_82),
            ("1.82", BlockLayout::Since1_82),
            ("1.100", BlockLayout::Since1_82),
            ("v1.106.1", BlockLayout::Since1_82),
            ("2.0", BlockLayout::Since1_82),
        ] {
            assert_eq!(layout(&format!("server:\n  vm_native_export_version: {version}\n")), Ok(Some(want)), "{version}");
        }
        for bad in ["latest", "1", "1.", "1.x", "\"\"", "1..2", "-1.2"] {
            let err = layout(&format!("server:\n  vm_native_export_version: {bad}\n")).unwrap_err();
            assert!(err.contains("server.vm_native_export_version"), "{bad}: {err}");
        }
    }

    #[test]
    fn tls_settings_are_checked_together() {
        let err = |yaml: &str| Config::from_yaml(yaml).unwrap().validate().unwrap_err().to_string();
        assert!(err("tls:\n  cert_file: /x.crt\n").contains("tls.key_file"));
        assert!(err("tls:\n  cert_file: /x.crt\n  key_file: /x.key\n  require_client_cert: true\n").contains("tls.ca_file"));
        assert!(err("tls:\n  ca_file: /ca.crt\n").contains("tls.cert_file"));
        assert!(err("tls:\n  cert_file: /x.crt\n  key_file: /x.key\n  crl_file: /ca.crl\n").contains("tls.crl_file"));
        assert!(err("tls:\n  min_version: \"1.1\"\n").contains("tls.min_version"));
        let missing = err("tls:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n");
        assert!(missing.contains("tls") && missing.contains("/nonexistent.crt"), "{missing}");
        // read_filters are per client identity: they need verified client certificates, and
        // each selector must parse (checked before the files are read).
        let tls = "tls:\n  cert_file: /x.crt\n  key_file: /x.key\n  ca_file: /ca.crt\n";
        assert!(err(&format!("{tls}  read_filters:\n    grafana: ['{{team=\"a\"}}']\n")).contains("tls.require_client_cert"));
        let bad = err(&format!("{tls}  require_client_cert: true\n  read_filters:\n    grafana: ['{{team=']\n"));
        assert!(bad.contains("tls.read_filters") && bad.contains("grafana"), "{bad}");
        let good = err(&format!("{tls}  require_client_cert: true\n  read_filters:\n    grafana: ['{{team=\"a\"}}', '{{job!=\"x\"}}']\n"));
        assert!(good.contains("/x.crt") && !good.contains("read_filters"), "valid filters pass on to the certificate files: {good}");
    }

    #[test]
    fn zabbix_connector_section_is_read() {
        assert_eq!(Config::default().zabbix_connector.labels(), crate::ingest::zabbix::ZabbixLabels::default(), "all off, as VictoriaMetrics");
        let c = Config::from_yaml("zabbix_connector:\n  add_groups_value: \"1\"\n  add_duplicate_tags_separator: \",\"\n").unwrap();
        let labels = c.zabbix_connector.labels();
        assert_eq!((labels.groups_value.as_deref(), labels.empty_tags_value, labels.duplicate_tags_separator.as_deref()), (Some("1"), None, Some(",")));
        let unknown = Config::from_yaml("zabbix_connector:\n  add_group_value: x\n").unwrap_err().to_string();
        assert!(unknown.contains("add_group_value"), "{unknown}");
    }

    #[test]
    fn otlp_section_is_read_and_checked() {
        assert_eq!(Config::default().otlp, OtlpConfig::default(), "all off, as Prometheus");
        let c = Config::from_yaml("otlp:\n  promote_resource_attributes: [\" k8s.pod.name \", cloud.region]\n  keep_identifying_resource_attributes: true\n  promote_scope_metadata: true\n").unwrap();
        c.validate().unwrap();
        assert!(c.otlp.keep_identifying_resource_attributes && c.otlp.promote_scope_metadata);
        let options = c.otlp.translation_options();
        assert_eq!(options.promotion, crate::ingest::otlp::ResourcePromotion::Only(["k8s.pod.name".to_string(), "cloud.region".to_string()].into_iter().collect()));
        let c = Config::from_yaml("otlp:\n  promote_all_resource_attributes: true\n  ignore_resource_attributes: [host.id]\n").unwrap();
        c.validate().unwrap();
        assert_eq!(c.otlp.translation_options().promotion, crate::ingest::otlp::ResourcePromotion::AllExcept(["host.id".to_string()].into_iter().collect()));
        assert_eq!(Config::from_yaml(&c.to_yaml()).unwrap(), c);

        let err = |yaml: &str| Config::from_yaml(yaml).unwrap().validate().unwrap_err().to_string();
        let both = err("otlp:\n  promote_all_resource_attributes: true\n  promote_resource_attributes: [a]\n");
        assert!(both.contains("otlp.promote_resource_attributes") && both.contains("otlp.promote_all_resource_attributes"), "{both}");
        assert!(err("otlp:\n  ignore_resource_attributes: [a]\n").contains("otlp.ignore_resource_attributes"));
        assert!(err("otlp:\n  promote_resource_attributes: [a, \" \"]\n").contains("otlp.promote_resource_attributes: has an empty"));
        let twice = err("otlp:\n  promote_all_resource_attributes: true\n  ignore_resource_attributes: [a, \"a \"]\n");
        assert!(twice.contains("otlp.ignore_resource_attributes") && twice.contains("\"a\" twice"), "{twice}");
        let unknown = Config::from_yaml("otlp:\n  translate_names: false\n").unwrap_err();
        assert!(unknown.contains("translate_names"), "{unknown}");
        // Prometheus' naming options, its defaults unless set.
        let naming = |yaml: &str| Config::from_yaml(yaml).unwrap().otlp.translation_options().naming;
        assert_eq!(naming(""), crate::ingest::otlp::Naming::default());
        let set = naming("otlp:\n  translation_strategy: NoUTF8EscapingWithSuffixes\n  label_name_underscore_sanitization: false\n  label_name_preserve_multiple_underscores: false\n");
        assert_eq!((set.strategy, set.underscore_label_sanitization, set.preserve_multiple_underscores), (crate::ingest::otlp::TranslationStrategy::NoUTF8EscapingWithSuffixes, false, false));
        assert!(Config::from_yaml("otlp:\n  convert_histograms_to_nhcb: true\n").unwrap().otlp.translation_options().convert_histograms_to_nhcb);
        let strategy = err("otlp:\n  translation_strategy: Underscores\n");
        assert!(strategy.contains("otlp.translation_strategy") && strategy.contains("\"Underscores\"") && strategy.contains("NoTranslation"), "{strategy}");
    }

    #[test]
    fn otlp_delta_to_cumulative_is_read_and_checked() {
        use crate::ingest::otlp::delta_to_cumulative::{DeltaLimits, MAX_STALE_SECONDS_DEFAULT, MAX_STREAMS_DEFAULT};
        let defaults = OtlpConfig::default();
        assert!(!defaults.delta_to_cumulative && defaults.delta_to_cumulative_limits().is_none(), "off by default, as Prometheus");
        assert_eq!((defaults.delta_to_cumulative_max_streams, defaults.delta_to_cumulative_max_stale_seconds), (MAX_STREAMS_DEFAULT, MAX_STALE_SECONDS_DEFAULT));
        assert_eq!(MAX_STALE_SECONDS_DEFAULT, 300, "the processor's max_stale of 5m");
        let c = Config::from_yaml("otlp:\n  delta_to_cumulative: true\n  delta_to_cumulative_max_streams: 10\n  delta_to_cumulative_max_stale_seconds: 60\n").unwrap();
        c.validate().unwrap();
        assert_eq!(c.otlp.delta_to_cumulative_limits(), Some(DeltaLimits { max_streams: 10, max_stale: std::time::Duration::from_secs(60) }));
        assert_eq!(Config::from_yaml(&c.to_yaml()).unwrap(), c);

        let err = |yaml: &str| Config::from_yaml(yaml).unwrap().validate().unwrap_err().to_string();
        let both = err("otlp:\n  delta_to_cumulative: true\n  native_delta_ingestion: true\n");
        assert!(both.contains("otlp.delta_to_cumulative") && both.contains("otlp.native_delta_ingestion"), "{both}");
        assert!(err("otlp:\n  delta_to_cumulative_max_streams: 0\n").contains("otlp.delta_to_cumulative_max_streams"));
        assert!(err("otlp:\n  delta_to_cumulative_max_stale_seconds: 0\n").contains("otlp.delta_to_cumulative_max_stale_seconds"));
    }

    #[test]
    fn yaml_round_trip() {
        let c = Config::default();
        assert_eq!(Config::from_yaml(&c.to_yaml()).unwrap(), c);
    }
}
