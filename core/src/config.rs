//! Configuration: the YAML schema of the README (`server`, `storage`, `tls`, `otlp`,
//! `relabel_configs`), with an embedded default for every key. Unknown keys and bad values are
//! errors naming the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Default HTTP listen address (Prometheus API, remote_write). Loopback: exposing is a choice.
pub const HTTP_ADDR_DEFAULT: &str = "127.0.0.1:9101";
/// Default gRPC listen address.
pub const GRPC_ADDR_DEFAULT: &str = "127.0.0.1:9100";
/// `server.udp_receive_buffer_bytes`' default: a burst of about 4 MiB of datagrams waits
/// for a busy executor (where `net.core.rmem_max` allows it; the kernel's default is 208 KiB).
pub const UDP_RECEIVE_BUFFER_BYTES_DEFAULT: usize = 4 << 20;
/// Its largest value (SO_RCVBUF is a C int, which the kernel doubles).
pub const UDP_RECEIVE_BUFFER_BYTES_MAX: usize = 1 << 30;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub tls: TlsConfig,
    pub otlp: OtlpConfig,
    /// Rules applied to every series written, on every ingestion path, before it is stored
    /// (Prometheus' `relabel_config`; VictoriaMetrics' `-relabelConfig`). Empty: none.
    pub relabel_configs: Vec<crate::ingest::relabel::RelabelConfig>,
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
    /// `-promscrape.configCheckInterval`); a failed reload is tried again at each check.
    /// 0 = off (SIGHUP and `/-/reload` only).
    pub config_check_interval_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// HTTP listener: Prometheus API, remote_write, /metrics.
    pub http_addr: String,
    /// gRPC listener (served by the same transport stack).
    pub grpc_addr: String,
    /// Graphite plaintext protocol (VictoriaMetrics' `-graphiteListenAddr`): a TCP listener
    /// and a UDP socket on this address (`IP:port`, or `:port` for every interface); empty:
    /// off. With `tls`, TCP speaks TLS and UDP is not opened (see `socket_ingest`).
    pub graphite_listen_addr: String,
    /// InfluxDB line protocol over TCP and UDP (VictoriaMetrics' `-influxListenAddr`), as
    /// `graphite_listen_addr`.
    pub influx_listen_addr: String,
    /// OpenTSDB's telnet `put` lines over TCP and UDP (VictoriaMetrics'
    /// `-opentsdbListenAddr`), as `graphite_listen_addr`.
    pub opentsdb_listen_addr: String,
    /// Receive buffer (SO_RCVBUF) asked for each UDP socket of the two listeners: datagrams
    /// arriving while it is full are lost. Linux caps it at `net.core.rmem_max`.
    pub udp_receive_buffer_bytes: usize,
    /// Executors (one pinned thread each); 0 = every CPU this process may use.
    pub cores: usize,
    /// Open connections per executor before new ones are refused.
    pub max_connections_per_core: usize,
    /// Largest accepted request body (after transfer decoding, before snappy). Imports
    /// (`/api/v1/import*`) stream their body and are not bound by it.
    pub max_body_bytes: usize,
    /// Largest accepted request head (request line + headers).
    pub max_header_bytes: usize,
    /// A request head must arrive within this time (slowloris defence).
    pub header_read_timeout_seconds: u64,
    /// A request body must arrive within this time.
    pub body_read_timeout_seconds: u64,
    /// Idle keep-alive connections are closed after this time.
    pub idle_timeout_seconds: u64,
    /// Write requests queued per shard before the server answers 429.
    pub shard_queue_depth: usize,
    /// Queries running longer are cancelled with 503 `timeout`.
    pub query_timeout_seconds: u64,
    /// Samples a single query may load before it fails with 422.
    pub max_samples_per_query: usize,
    /// PromQL lookback delta.
    pub lookback_delta_seconds: u64,
    /// PromQL removes a result's metric name only at the end of the expression, not at each
    /// function or operator that changes the value (Prometheus 3's
    /// `--enable-feature=promql-delayed-name-removal`): `label_replace`, `by (__name__)` and
    /// the like still see it. Off by default, as in Prometheus.
    pub promql_delayed_name_removal: bool,
    /// How long SIGTERM waits for in-flight requests.
    pub shutdown_drain_seconds: u64,
    /// Concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// Queries evaluated at once (split evenly over executors); more wait for a slot
    /// until their timeout, then get 503.
    pub max_concurrent_queries: usize,
    /// Clients that may follow `/api/v1/notifications/live` at once (Prometheus'
    /// `--web.max-notifications-subscribers`); one more gets 204 No Content.
    pub max_notification_subscribers: usize,
    /// Serve the admin endpoints (`/api/v1/admin/tsdb/delete_series`, `clean_tombstones`);
    /// off by default, as Prometheus' `--web.enable-admin-api` (503 `unavailable` when off).
    pub enable_admin_api: bool,
    /// Serve `POST`/`PUT /-/quit` (a graceful shutdown, as SIGTERM), Prometheus'
    /// `--web.enable-lifecycle`; off by default (403 when off). `/-/reload` is served either
    /// way, as VictoriaMetrics serves it.
    pub enable_lifecycle: bool,
    /// Memory for cached range-query results of settled data (older than 5 minutes), shared
    /// by all executors; 0 turns the cache off. A request can bypass it with `nocache=1`.
    pub query_cache_mb: usize,
    /// Queries (instant and range, HTTP and gRPC) taking longer than this are logged with
    /// their text, times and outcome, and counted in `metricstor_slow_queries_total`;
    /// 0 turns the log off.
    pub slow_query_log_seconds: f64,
    /// gzip answers of 1 KiB or more (JSON and text) for clients that accept it, as
    /// Prometheus and VictoriaMetrics do; off leaves that to a proxy in front.
    pub compress_responses: bool,
    /// The VictoriaMetrics version that will read `/api/v1/export/native` (through `vmctl
    /// vm-native`): its block header changed in 1.82, and each side reads only its own. A
    /// version string such as "1.79" or "v1.106.1"; before 1.82 gets the older header.
    pub vm_native_export_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    /// Shards created with a new data directory; 0 = number of executors. Fixed afterwards.
    pub shards: usize,
    /// Blocks whose whole range is older than this are deleted.
    pub retention_days: u64,
    /// Size retention (Prometheus' `--storage.tsdb.retention.size`): while the WAL and the
    /// blocks take more than this, the oldest blocks are deleted. A size with a base-2 unit
    /// as Prometheus writes it (`512MB`, `50GB`, `1TiB`, `B` to `EB`) or a byte count; empty
    /// or 0 = no limit. Each shard keeps to an equal share.
    pub retention_size: String,
    /// Size retention as a percentage (0 to 100) of the file system holding `data_dir`
    /// (Prometheus 3's `storage.tsdb.retention.percentage`), read at each maintenance; it
    /// prevails over `retention_size`. 0 = none.
    pub retention_percentage: f64,
    pub wal_segment_size_mb: u64,
    /// fdatasync the WAL on every group commit (the durability promise of DESIGN §4).
    pub wal_fsync: bool,
    /// Snappy-compress WAL records (Prometheus' `--storage.tsdb.wal-compression`, on by
    /// default there too); replay reads compressed and plain records alike.
    pub wal_compression: bool,
    /// Range of one block: the head is cut into a Prometheus-format block at multiples of it.
    pub block_duration_hours: u64,
    /// Reject NaN/±Inf sample values (opt-in; real exporters emit NaN).
    pub reject_non_finite: bool,
    /// Page cache for block reads, per shard, in MiB (blocks are read with O_DIRECT, so
    /// this is their only cache); 0 disables it.
    pub page_cache_mb: u64,
    /// Samples one shard's head may hold; past it the oldest block range is cut early (the
    /// overlapping blocks that range gets later are merged by compaction). 0 = no limit;
    /// otherwise at least `MAX_HEAD_SAMPLES_MIN`. Default `tsdb::shard::MAX_HEAD_SAMPLES_DEFAULT`.
    pub max_head_samples: u64,
    /// Active series (in the heads) in all: samples of a new series past it are refused (a
    /// 400 naming the limit, after the rest of the write is stored), series that exist go on.
    /// Enforced per shard as an equal share (rounded up). 0 = no limit.
    pub max_series: u64,
    /// Exemplars kept in memory in all (remote_write exemplars, answered by
    /// `/api/v1/query_exemplars`), an equal share per shard (rounded up), each shard's oldest
    /// evicted first; logged in the WAL, so a restart keeps them. 0 = none stored.
    /// Default `MAX_EXEMPLARS_DEFAULT`.
    pub max_exemplars: u64,
    /// A series with more labels (`__name__` included) is refused with a 400, on every
    /// ingestion path; 0 = no limit.
    pub max_labels_per_series: usize,
    /// Longest label name in bytes; 0 = no limit.
    pub max_label_name_bytes: usize,
    /// Longest label value in bytes; 0 = no limit.
    pub max_label_value_bytes: usize,
    /// Queries see, of each series, only the last sample of every interval of this many
    /// seconds (aligned to the epoch), as VictoriaMetrics' `-dedup.minScrapeInterval`: set it
    /// to the scrape interval when an HA pair of Prometheus servers writes the same series.
    /// Stored samples are not changed. 0 = off.
    pub dedup_interval_seconds: f64,
    /// Write each counter's, summary's and histogram's start (created) timestamp as a zero
    /// sample before its first sample, as Prometheus does with
    /// `--enable-feature=created-timestamp-zero-ingestion`: from scrapes (the protobuf
    /// format's `created_timestamp`, OpenMetrics' `_created` lines, which are then not
    /// stored as series), remote_write 2.0 (`start_timestamp`) and OTLP
    /// (`start_time_unix_nano`). A zero is written only when newer than everything its series
    /// holds (see `tsdb::StartTimestamp`). Scrapes then ask for the protobuf format first
    /// unless `scrape_protocols` says otherwise. Off by default, as there.
    pub start_timestamp_zero_ingestion: bool,
    /// Store each sample's start time with it, from the same sources, as Prometheus' `st-storage`
    /// does (its start-time chunk encodings, XOR2 and float histograms with starts), and let
    /// PromQL use them as Prometheus' `use-start-timestamps`: `rate`/`increase`/`irate`/`resets`
    /// see a counter reset by its start time and count a new counter from zero at its start,
    /// and `start_timestamp()` answers them. Off by default, as there.
    pub start_timestamp_storage: bool,
}

impl StorageConfig {
    /// `dedup_interval_seconds` in milliseconds (0: off).
    pub fn dedup_interval_ms(&self) -> i64 {
        (self.dedup_interval_seconds * 1000.0).round() as i64
    }

    /// How ingested series are validated (`reject_non_finite` and the label limits).
    pub fn ingest_rules(&self) -> crate::ingest::IngestRules {
        crate::ingest::IngestRules {
            reject_non_finite: self.reject_non_finite,
            label_limits: crate::ingest::label_limits::LabelLimits {
                labels_per_series: self.max_labels_per_series,
                name_bytes: self.max_label_name_bytes,
                value_bytes: self.max_label_value_bytes,
            },
            read_start_timestamps: self.reads_start_timestamps(),
        }
    }

    /// Whether writes and scrapes read samples' start times: for zero samples, for storing
    /// them, or both.
    pub fn reads_start_timestamps(&self) -> bool {
        self.start_timestamp_zero_ingestion || self.start_timestamp_storage
    }
}

/// Smallest non-zero `storage.max_head_samples`: below it nearly every append would cut a block.
pub const MAX_HEAD_SAMPLES_MIN: u64 = 10_000;
/// Default `storage.max_exemplars` (all shards together).
pub const MAX_EXEMPLARS_DEFAULT: u64 = 100_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Server certificate (PEM). With `key_file`, both ports speak TLS.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// CA bundle client certificates must chain to.
    pub ca_file: Option<PathBuf>,
    pub require_client_cert: bool,
    /// "1.2" or "1.3".
    pub min_version: String,
    /// Client identities (certificate SAN or CN) allowed to write; empty: any verified client.
    pub write_allowed_sans: Vec<String>,
    /// Client identities allowed to query; empty: any verified client.
    pub read_allowed_sans: Vec<String>,
    /// Per client identity (SAN or CN), series selectors its reads are confined to (a series
    /// must match one); identities not listed read unconfined (`api::read_filters`).
    pub read_filters: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert_file: None,
            key_file: None,
            ca_file: None,
            require_client_cert: false,
            min_version: "1.2".into(),
            write_allowed_sans: Vec::new(),
            read_allowed_sans: Vec::new(),
            read_filters: std::collections::BTreeMap::new(),
        }
    }
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some()
    }

    /// Transport settings for `net`, when TLS is on.
    pub fn settings(&self) -> Option<net::TlsSettings> {
        let (cert_file, key_file) = (self.cert_file.clone()?, self.key_file.clone()?);
        Some(net::TlsSettings {
            cert_file,
            key_file,
            ca_file: self.ca_file.clone(),
            require_client_cert: self.require_client_cert,
            min_version: if self.min_version == "1.3" { net::TlsVersion::Tls13 } else { net::TlsVersion::Tls12 },
        })
    }
}

/// How OTLP metrics are translated beyond Prometheus 3.x's defaults; the options are
/// Prometheus' `otlp:` ones, with its defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpConfig {
    /// Resource attributes that become labels on every series of their resource (names
    /// sanitized as label names; a data point attribute of the same name wins).
    pub promote_resource_attributes: Vec<String>,
    /// Every resource attribute becomes a label, except `ignore_resource_attributes`.
    pub promote_all_resource_attributes: bool,
    /// With `promote_all_resource_attributes`: the attributes not promoted.
    pub ignore_resource_attributes: Vec<String>,
    /// `service.name`, `service.namespace` and `service.instance.id` are labels on
    /// `target_info` too, beside the `job` and `instance` made of them.
    pub keep_identifying_resource_attributes: bool,
    /// Series get `otel_scope_name`, `otel_scope_version`, `otel_scope_schema_url` and an
    /// `otel_scope_<attribute>` label per scope attribute.
    pub promote_scope_metadata: bool,
    /// Delta sums and histograms are stored as sent, each point its interval's increase
    /// (Prometheus 3.x's `--enable-feature=otlp-native-delta-ingestion`): query them with
    /// `sum_over_time`, not `rate`. Off: they are refused, as Prometheus refuses them.
    pub native_delta_ingestion: bool,
    /// Delta sums and histograms become cumulative counters and histograms, each stream's
    /// points added up in memory as OpenTelemetry's deltatocumulative processor does
    /// (Prometheus 3.x's `--enable-feature=otlp-deltatocumulative`): `rate` reads them.
    /// Cannot be set with `native_delta_ingestion`.
    pub delta_to_cumulative: bool,
    /// Most delta streams `delta_to_cumulative` tracks; points of new streams past it are
    /// dropped (counted in `metricstor_otlp_delta_points_dropped_total`) until one goes stale.
    pub delta_to_cumulative_max_streams: usize,
    /// A delta stream not seen for this long is forgotten (its next point starts it again).
    pub delta_to_cumulative_max_stale_seconds: u64,
    /// How metric and label names are translated: `UnderscoreEscapingWithSuffixes` (the
    /// default), `UnderscoreEscapingWithoutSuffixes`, `NoUTF8EscapingWithSuffixes` (UTF-8
    /// names as sent, with suffixes) or `NoTranslation` (names as sent).
    pub translation_strategy: String,
    /// Escaped label names: a single leading `_` gets `key` (`_x` → `key_x`).
    pub label_name_underscore_sanitization: bool,
    /// Escaped label names keep runs of `_` (else each run becomes one `_`).
    pub label_name_preserve_multiple_underscores: bool,
    /// Explicit-bucket histograms are stored as native histograms with custom buckets, one
    /// series each, instead of `_bucket`/`_count`/`_sum` series.
    pub convert_histograms_to_nhcb: bool,
}

impl Default for OtlpConfig {
    /// Prometheus' defaults.
    fn default() -> Self {
        OtlpConfig {
            promote_resource_attributes: Vec::new(),
            promote_all_resource_attributes: false,
            ignore_resource_attributes: Vec::new(),
            keep_identifying_resource_attributes: false,
            promote_scope_metadata: false,
            native_delta_ingestion: false,
            delta_to_cumulative: false,
            delta_to_cumulative_max_streams: crate::ingest::otlp::delta_to_cumulative::MAX_STREAMS_DEFAULT,
            delta_to_cumulative_max_stale_seconds: crate::ingest::otlp::delta_to_cumulative::MAX_STALE_SECONDS_DEFAULT,
            translation_strategy: "UnderscoreEscapingWithSuffixes".into(),
            label_name_underscore_sanitization: true,
            label_name_preserve_multiple_underscores: true,
            convert_histograms_to_nhcb: false,
        }
    }
}

impl OtlpConfig {
    /// The translation settings (attribute names trimmed, as Prometheus reads them).
    pub fn translation_options(&self) -> crate::ingest::otlp::TranslationOptions {
        use crate::ingest::otlp::ResourcePromotion;
        let names = |list: &[String]| list.iter().map(|name| name.trim().to_string()).collect();
        let promotion = if self.promote_all_resource_attributes {
            ResourcePromotion::AllExcept(names(&self.ignore_resource_attributes))
        } else {
            ResourcePromotion::Only(names(&self.promote_resource_attributes))
        };
        crate::ingest::otlp::TranslationOptions {
            promotion,
            keep_identifying_resource_attributes: self.keep_identifying_resource_attributes,
            promote_scope_metadata: self.promote_scope_metadata,
            native_delta_ingestion: self.native_delta_ingestion,
            naming: crate::ingest::otlp::Naming {
                // `validate` refuses an unknown name.
                strategy: crate::ingest::otlp::TranslationStrategy::named(&self.translation_strategy).unwrap_or_default(),
                underscore_label_sanitization: self.label_name_underscore_sanitization,
                preserve_multiple_underscores: self.label_name_preserve_multiple_underscores,
            },
            convert_histograms_to_nhcb: self.convert_histograms_to_nhcb,
        }
    }

    /// The bounds of `delta_to_cumulative`'s state; `None` when it is off.
    pub fn delta_to_cumulative_limits(&self) -> Option<crate::ingest::otlp::delta_to_cumulative::DeltaLimits> {
        self.delta_to_cumulative.then(|| crate::ingest::otlp::delta_to_cumulative::DeltaLimits {
            max_streams: self.delta_to_cumulative_max_streams,
            max_stale: std::time::Duration::from_secs(self.delta_to_cumulative_max_stale_seconds),
        })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.delta_to_cumulative && self.native_delta_ingestion {
            return value_error(
                "otlp.delta_to_cumulative",
                "cannot be set together with otlp.native_delta_ingestion (delta points are either made cumulative or stored as sent; Prometheus refuses both features together)",
            );
        }
        if self.delta_to_cumulative_max_streams == 0 {
            return value_error("otlp.delta_to_cumulative_max_streams", "must be at least 1");
        }
        if self.delta_to_cumulative_max_stale_seconds == 0 {
            return value_error("otlp.delta_to_cumulative_max_stale_seconds", "must be at least 1 (the processor's max_stale must be positive)");
        }
        if crate::ingest::otlp::TranslationStrategy::named(&self.translation_strategy).is_none() {
            let known: Vec<&str> = crate::ingest::otlp::TranslationStrategy::ALL.iter().map(|(name, _)| *name).collect();
            return value_error("otlp.translation_strategy", &format!("unknown strategy {:?}, expected one of {}", self.translation_strategy, known.join(", ")));
        }
        if self.promote_all_resource_attributes {
            if !self.promote_resource_attributes.is_empty() {
                return value_error(
                    "otlp.promote_resource_attributes",
                    "cannot be set together with otlp.promote_all_resource_attributes (promote all except otlp.ignore_resource_attributes, or only the listed ones)",
                );
            }
            attribute_names("otlp.ignore_resource_attributes", &self.ignore_resource_attributes)
        } else {
            if !self.ignore_resource_attributes.is_empty() {
                return value_error("otlp.ignore_resource_attributes", "is only read with otlp.promote_all_resource_attributes: true (it names the attributes not promoted then)");
            }
            attribute_names("otlp.promote_resource_attributes", &self.promote_resource_attributes)
        }
    }
}

/// A list of resource attribute names: none empty (after trimming spaces), none twice.
fn attribute_names(key: &'static str, names: &[String]) -> Result<(), ConfigError> {
    let mut seen = std::collections::HashSet::new();
    for name in names.iter().map(|name| name.trim()) {
        if name.is_empty() {
            return value_error(key, "has an empty attribute name");
        }
        if !seen.insert(name) {
            return value_error(key, &format!("lists the attribute {name:?} twice"));
        }
    }
    Ok(())
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            http_addr: HTTP_ADDR_DEFAULT.to_string(),
            grpc_addr: GRPC_ADDR_DEFAULT.to_string(),
            graphite_listen_addr: String::new(),
            influx_listen_addr: String::new(),
            opentsdb_listen_addr: String::new(),
            udp_receive_buffer_bytes: UDP_RECEIVE_BUFFER_BYTES_DEFAULT,
            cores: 0,
            max_connections_per_core: 10_000,
            max_body_bytes: 64 << 20,
            max_header_bytes: 64 << 10,
            header_read_timeout_seconds: 10,
            body_read_timeout_seconds: 60,
            idle_timeout_seconds: 120,
            shard_queue_depth: 256,
            query_timeout_seconds: 120,
            max_samples_per_query: 50_000_000,
            lookback_delta_seconds: 300,
            promql_delayed_name_removal: false,
            shutdown_drain_seconds: 10,
            max_concurrent_streams: 100,
            max_concurrent_queries: 20,
            max_notification_subscribers: 16,
            enable_admin_api: false,
            enable_lifecycle: false,
            query_cache_mb: 256,
            slow_query_log_seconds: 5.0,
            compress_responses: true,
            vm_native_export_version: VM_NATIVE_EXPORT_VERSION_DEFAULT.into(),
        }
    }
}

impl ServerConfig {
    /// `lookback_delta_seconds` in milliseconds (saturating; validation keeps it positive).
    pub fn lookback_delta_ms(&self) -> i64 {
        i64::try_from(self.lookback_delta_seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
    }

    /// The native export's block header for `vm_native_export_version`; `None` when that is
    /// not a version (`v` optional, then major and minor, more parts ignored).
    pub fn vm_native_export_layout(&self) -> Option<crate::ingest::vm_native::BlockLayout> {
        use crate::ingest::vm_native::BlockLayout;
        let text = self.vm_native_export_version.trim();
        let text = text.strip_prefix('v').unwrap_or(text);
        let mut parts = text.split('.');
        let number = |part: Option<&str>| part.filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())).and_then(|p| p.parse::<u64>().ok());
        let (major, minor) = (number(parts.next())?, number(parts.next())?);
        if parts.any(|p| p.is_empty()) {
            return None;
        }
        Some(if (major, minor) >= VM_NATIVE_HEADER_CHANGED { BlockLayout::Since1_82 } else { BlockLayout::Before1_82 })
    }
}

/// Default `server.vm_native_export_version`: every VictoriaMetrics release since 1.82
/// (October 2022) reads the same native block header.
pub const VM_NATIVE_EXPORT_VERSION_DEFAULT: &str = "1.82";
/// The VictoriaMetrics version whose native block header is the newer one.
const VM_NATIVE_HEADER_CHANGED: (u64, u64) = (1, 82);

impl StorageConfig {
    /// `block_duration_hours` in milliseconds (saturating; validation keeps it positive).
    pub fn block_duration_ms(&self) -> i64 {
        i64::try_from(self.block_duration_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX)
    }

    /// `retention_days` in milliseconds (saturating).
    pub fn retention_ms(&self) -> i64 {
        i64::try_from(self.retention_days.saturating_mul(86_400_000)).unwrap_or(i64::MAX)
    }

    /// `retention_size` in bytes (0 = no limit); validation has read it.
    pub fn retention_bytes(&self) -> u64 {
        parse_base2_bytes(&self.retention_size).unwrap_or(0)
    }
}

/// A size as Prometheus' `--storage.tsdb.retention.size` reads it (`units.ParseBase2Bytes`):
/// a number (a fraction allowed, `1.5GB`) and a unit, repeated (`1GB512MB`); `B`, `KB`/`KiB`
/// … `EB`/`EiB`, all powers of 1024, a fraction of a byte dropped. A bare whole number is
/// bytes; empty is 0.
pub fn parse_base2_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(0);
    }
    if let Ok(bytes) = text.parse::<u64>() {
        return Ok(bytes);
    }
    let bad = || format!("{text:?} is not a size such as 512MB, 50GB or 1TiB");
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        let unit_len = rest[digits..].find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len() - digits);
        let (number, unit) = (&rest[..digits], &rest[digits..digits + unit_len]);
        let power = match unit {
            "B" => 0,
            "KB" | "KiB" => 1,
            "MB" | "MiB" => 2,
            "GB" | "GiB" => 3,
            "TB" | "TiB" => 4,
            "PB" | "PiB" => 5,
            "EB" | "EiB" => 6,
            _ => return Err(bad()),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') || fraction.len() > 18 {
            return Err(bad());
        }
        let unit_bytes = 1u128 << (10 * power);
        let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
        let fraction_bytes = if fraction.is_empty() { 0 } else { fraction.parse::<u128>().map_err(|_| bad())? * unit_bytes / 10u128.pow(fraction.len() as u32) };
        let bytes = whole.checked_mul(unit_bytes).and_then(|b| b.checked_add(fraction_bytes)).and_then(|b| u64::try_from(b).ok()).ok_or_else(bad)?;
        total = total.checked_add(bytes).ok_or_else(bad)?;
        rest = &rest[digits + unit_len..];
    }
    Ok(total)
}

/// `bytes` as Go's `units.Base2Bytes` writes it: the largest whole unit parts, `50GiB`,
/// `1GiB512MiB`, `0B`.
pub fn format_base2_bytes(bytes: u64) -> String {
    if bytes == 0 {
        return "0B".to_string();
    }
    let mut out = String::new();
    let mut left = bytes;
    for (power, unit) in [(6, "EiB"), (5, "PiB"), (4, "TiB"), (3, "GiB"), (2, "MiB"), (1, "KiB"), (0, "B")] {
        let size = 1u64 << (10 * power);
        if left >= size {
            out.push_str(&format!("{}{unit}", left / size));
            left %= size;
        }
    }
    out
}

impl StorageConfig {
    /// What `/api/v1/status/runtimeinfo` shows as `storageRetention`, as Prometheus joins
    /// its limits: `15d`, `15d or 50GiB`, `15d or 80%`.
    pub fn retention_text(&self) -> String {
        let mut text = format!("{}d", self.retention_days);
        let bytes = self.retention_bytes();
        if bytes > 0 {
            text.push_str(&format!(" or {}", format_base2_bytes(bytes)));
        }
        if self.retention_percentage > 0.0 {
            text.push_str(&format!(" or {}%", self.retention_percentage));
        }
        text
    }
}

/// Default `storage.page_cache_mb` (per shard), `tsdb::block::PAGE_CACHE_BYTES_DEFAULT`.
pub const PAGE_CACHE_MB_DEFAULT: u64 = tsdb::block::PAGE_CACHE_BYTES_DEFAULT >> 20;
/// Largest `storage.page_cache_mb` accepted (64 GiB per shard).
pub const PAGE_CACHE_MB_MAX: u64 = 65_536;

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("data"),
            shards: 0,
            retention_days: 15,
            retention_size: String::new(),
            retention_percentage: 0.0,
            wal_segment_size_mb: 128,
            wal_fsync: true,
            wal_compression: true,
            block_duration_hours: 2,
            reject_non_finite: false,
            page_cache_mb: PAGE_CACHE_MB_DEFAULT,
            max_head_samples: tsdb::shard::MAX_HEAD_SAMPLES_DEFAULT,
            max_series: 0,
            max_exemplars: MAX_EXEMPLARS_DEFAULT,
            max_labels_per_series: crate::ingest::label_limits::LABELS_PER_SERIES_MAX,
            max_label_name_bytes: crate::ingest::label_limits::LABEL_NAME_BYTES_MAX,
            max_label_value_bytes: crate::ingest::label_limits::LABEL_VALUE_BYTES_MAX,
            dedup_interval_seconds: 0.0,
            start_timestamp_zero_ingestion: false,
            start_timestamp_storage: false,
        }
    }
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
    /// `tls.read_filters`, compiled.
    pub identity_filters: std::sync::Arc<crate::api::read_filters::IdentityFilters>,
    /// `scrape.config_file`, read and checked (no jobs when unset).
    pub scrape: std::sync::Arc<crate::scrape::ScrapeConfig>,
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
        let resolved = config.validate()?;
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
        let http_addr = parse_addr("server.http_addr", &self.server.http_addr)?;
        let grpc_addr = parse_addr("server.grpc_addr", &self.server.grpc_addr)?;
        if http_addr == grpc_addr && http_addr.port() != 0 {
            return value_error("server.grpc_addr", "must differ from server.http_addr");
        }
        let graphite_addr = parse_optional_listen_addr("server.graphite_listen_addr", &self.server.graphite_listen_addr)?;
        let influx_addr = parse_optional_listen_addr("server.influx_listen_addr", &self.server.influx_listen_addr)?;
        let opentsdb_addr = parse_optional_listen_addr("server.opentsdb_listen_addr", &self.server.opentsdb_listen_addr)?;
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
        let relabeler = crate::ingest::relabel::Relabeler::new(&self.relabel_configs, self.storage.ingest_rules().label_limits)
            .map_err(|message| ConfigError::Value { key: "relabel_configs", message })?;
        let external_url = self.rules.external_url.trim();
        if !external_url.is_empty() && !(external_url.starts_with("http://") || external_url.starts_with("https://")) {
            return Err(ConfigError::Value { key: "rules.external_url", message: format!("{external_url:?} is not an http:// or https:// URL") });
        }
        if let Some(path) = &self.scrape.resolv_conf {
            // Read at every dns_sd lookup; a path that cannot be read is a mistake to name now.
            std::fs::read_to_string(path).map_err(|e| ConfigError::Value { key: "scrape.resolv_conf", message: format!("cannot read {}: {e}", path.display()) })?;
        }
        let scrape = match &self.scrape.config_file {
            None => crate::scrape::ScrapeConfig::default(),
            Some(path) => {
                let server = crate::scrape::config::ServerOptions { label_limits: self.storage.ingest_rules().label_limits, read_start_timestamps: self.storage.reads_start_timestamps() };
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
            identity_filters: std::sync::Arc::new(identity_filters),
            scrape: std::sync::Arc::new(scrape),
        })
    }

    /// The effective configuration as YAML (for `/api/v1/status/config`).
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

fn parse_addr(key: &'static str, text: &str) -> Result<SocketAddr, ConfigError> {
    text.parse()
        .map_err(|_| ConfigError::Value { key, message: format!("{text:?} is not an IP:port address (e.g. 127.0.0.1:9101)") })
}

/// An optional listener's address: empty is off; `:port` (VictoriaMetrics' and Go's way to
/// say every interface) is `0.0.0.0:port`; otherwise `IP:port`.
fn parse_optional_listen_addr(key: &'static str, text: &str) -> Result<Option<SocketAddr>, ConfigError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let port_only = text.strip_prefix(':').and_then(|port| port.parse::<u16>().ok());
    match port_only {
        Some(port) => Ok(Some(SocketAddr::from(([0, 0, 0, 0], port)))),
        None => text.parse().map(Some).map_err(|_| ConfigError::Value {
            key,
            message: format!("{text:?} is not an IP:port address (e.g. 127.0.0.1:2003, or :2003 for every interface; empty: off)"),
        }),
    }
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
        for (yaml, key) in [
            ("graphite_listen_addr: localhost:2003", "server.graphite_listen_addr"),
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
