//! `server:`: listen addresses, executors and their limits, and the protocol switches of the
//! HTTP and gRPC servers, with their embedded defaults and checks.

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// HTTP listener: Prometheus API, remote_write, /metrics. `IP:port`, `[IPv6]:port`,
    /// `host:port` (looked up at start: its first IPv4 address, else its first) or `:port`
    /// (every IPv4 interface), as Prometheus' and VictoriaMetrics' listen flags take them.
    pub http_addr: String,
    /// gRPC listener (served by the same transport stack).
    pub grpc_addr: String,
    /// Graphite plaintext protocol (VictoriaMetrics' `-graphiteListenAddr`): a TCP listener
    /// and a UDP socket on this address (in the forms `http_addr` takes); empty: off. With `tls`, TCP speaks TLS and UDP is not opened (see `socket_ingest`).
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
    /// Series one selector of a query may select (VictoriaMetrics'
    /// `-search.maxUniqueTimeseries`); more fail the query with 422 naming the limit. 0: no
    /// limit (Prometheus has none).
    pub max_series_per_select: usize,
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
    /// Count how often queries read each metric name (`/api/v1/status/metric_names_stats`,
    /// VictoriaMetrics' `-storage.trackMetricNamesStats`, on by default as there); the
    /// counts are kept in `data_dir` across clean restarts.
    pub track_metric_names_stats: bool,
    /// The VictoriaMetrics version that will read `/api/v1/export/native` (through `vmctl
    /// vm-native`): its block header changed in 1.82, and each side reads only its own. A
    /// version string such as "1.79" or "v1.106.1"; before 1.82 gets the older header.
    pub vm_native_export_version: String,
    /// Origins whose browser pages may call the API (Prometheus' `--web.cors.origin`): a
    /// regular expression, fully anchored; `.*` (the default, as there) allows every origin.
    pub cors_origin: String,
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
            max_series_per_select: 0,
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
            track_metric_names_stats: true,
            vm_native_export_version: VM_NATIVE_EXPORT_VERSION_DEFAULT.into(),
            cors_origin: ".*".into(),
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
