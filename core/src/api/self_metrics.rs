//! The server's own metrics in Prometheus text format. Each executor writes only its own
//! `ExecutorMetrics` (uncontended atomics); `/metrics` sums them and asks every shard.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{header, Response, StatusCode};

use super::Api;

#[derive(Default)]
pub struct ExecutorMetrics {
    samples_ingested: AtomicU64,
    exemplars_dropped: AtomicU64,
    otlp_delta_dropped_out_of_order: AtomicU64,
    otlp_delta_dropped_stream_limit: AtomicU64,
    /// By `WarningCategory::ALL`'s order.
    otlp_translation_warnings: [AtomicU64; 3],
    denied_write: AtomicU64,
    denied_read: AtomicU64,
    listing_cache_hits: AtomicU64,
    slow_queries: AtomicU64,
    /// Connection and protocol counters of this executor's listeners (both ports).
    pub transport: Arc<net::ConnectionStats>,
    /// Counters of this executor's Graphite and Influx socket listeners.
    pub socket: crate::socket_ingest::SocketStats,
    /// (endpoint, status code) → count. Only this executor writes, so the lock is uncontended.
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
}

impl ExecutorMetrics {
    pub fn add_samples_ingested(&self, n: u64) {
        self.samples_ingested.fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_exemplars_dropped(&self, exemplars: u64) {
        self.exemplars_dropped.fetch_add(exemplars, Ordering::Relaxed);
    }

    /// Counts the delta points `otlp.delta_to_cumulative` dropped from one request.
    pub fn add_otlp_delta_points_dropped(&self, dropped: crate::ingest::otlp::delta_to_cumulative::DroppedPoints) {
        self.otlp_delta_dropped_out_of_order.fetch_add(dropped.out_of_order, Ordering::Relaxed);
        self.otlp_delta_dropped_stream_limit.fetch_add(dropped.stream_limit, Ordering::Relaxed);
    }

    /// Counts one request's OTLP translation warnings by category.
    pub fn add_otlp_translation_warnings(&self, warnings: &crate::ingest::otlp::warnings::Warnings) {
        for (counter, category) in self.otlp_translation_warnings.iter().zip(crate::ingest::otlp::warnings::WarningCategory::ALL) {
            counter.fetch_add(warnings.count(category), Ordering::Relaxed);
        }
    }

    pub fn count_denied(&self, action: &str) {
        let counter = if action == "write" { &self.denied_write } else { &self.denied_read };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_slow_query(&self) {
        self.slow_queries.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_listing_cache_hit(&self) {
        self.listing_cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_request(&self, endpoint: &'static str, code: u16) {
        if let Ok(mut map) = self.requests.lock() {
            *map.entry((endpoint, code)).or_default() += 1;
        }
    }
}

/// Reads one of the transport's counters.
type TransportCounter = fn(&net::ConnectionStats) -> &net::Counter;

/// A per-shard figure for `/metrics`: name, type, help, and how to read it from a snapshot.
type ShardFigure<T> = (&'static str, &'static str, &'static str, fn(&tsdb::ShardStats) -> T);

pub(super) fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

pub async fn handle_metrics(api: &Api) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(exposition(api).await));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

/// The server's metrics in the text format (what `/metrics` answers).
pub async fn exposition(api: &Api) -> String {
    let mut out = String::with_capacity(4096);
    let sum = |f: fn(&ExecutorMetrics) -> &AtomicU64| api.all_metrics.iter().map(|m| f(m).load(Ordering::Relaxed)).sum::<u64>();
    family(&mut out, "metricstor_samples_ingested_total", "counter", "Samples acknowledged to remote_write senders.");
    let _ = writeln!(out, "metricstor_samples_ingested_total {}", sum(|m| &m.samples_ingested));
    family(&mut out, "metricstor_exemplars_dropped_total", "counter", "Exemplars received but not stored: invalid (labels over 128 characters, …), out of order, or OTLP exemplars (not translated).");
    let _ = writeln!(out, "metricstor_exemplars_dropped_total {}", sum(|m| &m.exemplars_dropped));
    family(&mut out, "metricstor_otlp_delta_points_dropped_total", "counter", "OTLP delta points otlp.delta_to_cumulative dropped: out of order (not newer than their stream's last point, or starting before it) or of a new stream over otlp.delta_to_cumulative_max_streams.");
    let _ = writeln!(out, "metricstor_otlp_delta_points_dropped_total{{reason=\"out_of_order\"}} {}", sum(|m| &m.otlp_delta_dropped_out_of_order));
    let _ = writeln!(out, "metricstor_otlp_delta_points_dropped_total{{reason=\"stream_limit\"}} {}", sum(|m| &m.otlp_delta_dropped_stream_limit));
    family(&mut out, "metricstor_otlp_translation_warnings_total", "counter", "Warnings translating OTLP metrics (each logged), by Prometheus' category: a metric without data points (dropped), attribute names colliding once sanitized (values joined with ';'), a histogram point with a zero count and a non-zero sum.");
    for (i, category) in crate::ingest::otlp::warnings::WarningCategory::ALL.into_iter().enumerate() {
        let total: u64 = api.all_metrics.iter().map(|m| m.otlp_translation_warnings[i].load(Ordering::Relaxed)).sum();
        let _ = writeln!(out, "metricstor_otlp_translation_warnings_total{{category=\"{}\"}} {total}", category.label());
    }

    family(&mut out, "metricstor_authz_denied_total", "counter", "Requests refused because the client certificate identity is not allowed.");
    let _ = writeln!(out, "metricstor_authz_denied_total{{action=\"write\"}} {}", sum(|m| &m.denied_write));
    let _ = writeln!(out, "metricstor_authz_denied_total{{action=\"read\"}} {}", sum(|m| &m.denied_read));

    let t = |f: TransportCounter| api.all_metrics.iter().map(|m| f(&m.transport).get()).sum::<u64>();
    let transport: [(&str, &str, &str, TransportCounter); 8] = [
        ("metricstor_connections_accepted_total", "counter", "Connections accepted on both ports.", |s| &s.accepted),
        ("metricstor_connections_passed_on_total", "counter", "Connections accepted by one core and served by another that served fewer.", |s| &s.passed_on),
        ("metricstor_connections_open", "gauge", "Connections open now.", |s| &s.open),
        ("metricstor_connections_rejected_total", "counter", "Connections refused over server.max_connections_per_core.", |s| &s.rejected_over_limit),
        ("metricstor_requests_abandoned_total", "counter", "Requests whose client went away before the answer; their work was cancelled.", |s| &s.abandoned),
        ("metricstor_tls_handshake_failures_total", "counter", "TLS handshakes that failed (no, invalid or untrusted client certificate, timeouts).", |s| &s.tls_handshake_failures),
        ("metricstor_http_header_timeouts_total", "counter", "Requests cut because their head did not arrive in time.", |s| &s.header_timeouts),
        ("metricstor_http_body_timeouts_total", "counter", "Requests cut because their body did not arrive in time.", |s| &s.body_timeouts),
    ];
    for (name, kind, help, get) in transport {
        family(&mut out, name, kind, help);
        let _ = writeln!(out, "{name} {}", t(get));
    }

    let cache = &api.range_cache.counters;
    let cache_counters: [(&str, &str, &AtomicU64); 6] = [
        ("metricstor_query_cache_hits_total", "Range queries answered wholly from the result cache.", &cache.hits),
        ("metricstor_query_cache_partial_hits_total", "Range queries that evaluated only the steps after their cached points.", &cache.partial_hits),
        ("metricstor_query_cache_misses_total", "Cacheable range queries with no usable cached points.", &cache.misses),
        ("metricstor_query_cache_invalidations_total", "Cached results dropped because settled history changed (backfill, deletes, retention).", &cache.invalidations),
        ("metricstor_query_cache_evictions_total", "Cached results evicted to stay within server.query_cache_mb.", &cache.evictions),
        ("metricstor_query_coalesced_total", "Range queries answered with the result of an identical one evaluated meanwhile.", &cache.coalesced),
    ];
    for (name, help, counter) in cache_counters {
        family(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {}", counter.load(Ordering::Relaxed));
    }
    family(&mut out, "metricstor_listing_cache_hits_total", "counter", "Series and label listings answered from an executor's cache (nothing written or deleted since).");
    let _ = writeln!(out, "metricstor_listing_cache_hits_total {}", sum(|m| &m.listing_cache_hits));
    family(&mut out, "metricstor_slow_queries_total", "counter", "Queries that took longer than server.slow_query_log_seconds (each one logged).");
    let _ = writeln!(out, "metricstor_slow_queries_total {}", sum(|m| &m.slow_queries));
    family(&mut out, "prometheus_engine_queries", "gauge", "The current number of queries being executed or waiting.");
    let _ = writeln!(out, "prometheus_engine_queries {}", api.query_stats.running_count());
    family(&mut out, "prometheus_engine_queries_concurrent_max", "gauge", "The max number of concurrent queries.");
    let _ = writeln!(out, "prometheus_engine_queries_concurrent_max {}", api.config.server.max_concurrent_queries);
    api.query_timings.write_metrics(&mut out);
    let (reloaded, read_at_ms) = config_reload_state(api.scrape_config.last_reload(), api.router.write_rules().last_reload(), api.started_at_ms);
    family(&mut out, "prometheus_config_last_reload_successful", "gauge", "Whether the last configuration reload attempt was successful.");
    let _ = writeln!(out, "prometheus_config_last_reload_successful {}", u8::from(reloaded));
    family(&mut out, "prometheus_config_last_reload_success_timestamp_seconds", "gauge", "Timestamp of the last successful configuration reload.");
    let _ = writeln!(out, "prometheus_config_last_reload_success_timestamp_seconds {}", read_at_ms / 1000);
    // Prometheus' names: the query log follows a reload at the next query or scrape of these.
    let logging = api.query_log.follow_config(&api.scrape_config);
    family(&mut out, "prometheus_engine_query_log_enabled", "gauge", "State of the query log.");
    let _ = writeln!(out, "prometheus_engine_query_log_enabled {}", u8::from(logging));
    family(&mut out, "prometheus_engine_query_log_failures_total", "counter", "The number of query log failures.");
    let _ = writeln!(out, "prometheus_engine_query_log_failures_total {}", api.query_log.failures());
    family(&mut out, "metricstor_query_cache_bytes", "gauge", "Memory held by cached range-query results.");
    let _ = writeln!(out, "metricstor_query_cache_bytes {}", api.range_cache.bytes());
    family(&mut out, "metricstor_http_protocol_errors_total", "counter", "Malformed or oversized requests answered and closed, by status.");
    let _ = writeln!(out, "metricstor_http_protocol_errors_total{{code=\"400\"}} {}", t(|s| &s.errors_400));
    let _ = writeln!(out, "metricstor_http_protocol_errors_total{{code=\"413\"}} {}", t(|s| &s.errors_413));
    let _ = writeln!(out, "metricstor_http_protocol_errors_total{{code=\"431\"}} {}", t(|s| &s.errors_431));
    let _ = writeln!(out, "metricstor_http_protocol_errors_total{{code=\"other\"}} {}", t(|s| &s.errors_other));
    crate::socket_ingest::write_metrics(&mut out, api.all_metrics.iter().map(|m| &m.socket));

    let mut requests: BTreeMap<(&'static str, u16), u64> = BTreeMap::new();
    for m in api.all_metrics.iter() {
        if let Ok(map) = m.requests.lock() {
            for (key, count) in map.iter() {
                *requests.entry(*key).or_default() += count;
            }
        }
    }
    family(&mut out, "metricstor_http_requests_total", "counter", "HTTP requests by endpoint and status code.");
    for ((endpoint, code), count) in &requests {
        let _ = writeln!(out, "metricstor_http_requests_total{{endpoint=\"{endpoint}\",code=\"{code}\"}} {count}");
    }

    match api.router.stats().await {
        Ok(shards) => {
            let per_shard: [ShardFigure<u64>; 24] = [
                ("metricstor_shard_series", "gauge", "Series in the shard's head.", |s| s.series),
                ("metricstor_shard_head_samples", "gauge", "Samples (floats and native histograms) in the shard's head.", |s| s.head_samples),
                ("metricstor_shard_head_late_samples", "gauge", "Samples in the shard's head behind its newest block (an import of history, a backfill); cut into blocks early once over storage.max_head_samples / 16.", |s| s.head_late_samples),
                ("metricstor_shard_samples_appended_total", "counter", "Samples appended to the shard.", |s| s.samples_appended_total),
                ("metricstor_shard_samples_out_of_order_total", "counter", "Out-of-order samples accepted.", |s| s.samples_out_of_order_total),
                ("metricstor_shard_duplicates_overwritten_total", "counter", "Samples that replaced another value at the same timestamp.", |s| s.duplicates_overwritten_total),
                ("metricstor_shard_samples_refused_series_limit_total", "counter", "Samples of new series refused because the shard held its share of storage.max_series.", |s| s.samples_refused_series_limit_total),
                ("metricstor_shard_samples_refused_hourly_limit_total", "counter", "Samples refused because their series was not yet seen this hour and the shard had its share of storage.max_hourly_series (VictoriaMetrics' vm_hourly_series_limit_rows_dropped_total).", |s| s.samples_refused_hourly_limit_total),
                ("metricstor_shard_samples_refused_daily_limit_total", "counter", "Samples refused because their series was not yet seen this UTC day and the shard had its share of storage.max_daily_series (VictoriaMetrics' vm_daily_series_limit_rows_dropped_total).", |s| s.samples_refused_daily_limit_total),
                ("metricstor_shard_hourly_series", "gauge", "Series that took samples in the shard this hour, counted when storage.max_hourly_series is set.", |s| s.hourly_series),
                ("metricstor_shard_hourly_series_limit", "gauge", "The shard's share of storage.max_hourly_series (0: no limit).", |s| s.hourly_series_limit),
                ("metricstor_shard_daily_series", "gauge", "Series that took samples in the shard this UTC day, counted when storage.max_daily_series is set.", |s| s.daily_series),
                ("metricstor_shard_daily_series_limit", "gauge", "The shard's share of storage.max_daily_series (0: no limit).", |s| s.daily_series_limit),
                ("metricstor_shard_samples_refused_type_conflict_total", "counter", "Samples refused because their timestamp already held a sample of the other kind (a float where a native histogram came, or the reverse).", |s| s.samples_refused_type_conflict_total),
                ("metricstor_shard_samples_refused_too_old_total", "counter", "Samples refused because they were older than storage.retention_days allows (retention would delete them at once).", |s| s.samples_refused_too_old_total),
                ("metricstor_shard_samples_refused_too_new_total", "counter", "Samples refused because they lay more than two days ahead of the server's clock.", |s| s.samples_refused_too_new_total),
                ("metricstor_wal_bytes_written_total", "counter", "Bytes written to the shard's WAL.", |s| s.wal_bytes_written_total),
                ("metricstor_wal_fsyncs_total", "counter", "WAL group commits made durable (each one write with O_DSYNC, its own fdatasync).", |s| s.wal_fsyncs_total),
                ("metricstor_page_cache_hits_total", "counter", "Block page reads served from the shard's page cache.", |s| s.page_cache_hits_total),
                ("metricstor_page_cache_misses_total", "counter", "Block page reads that went to disk (O_DIRECT).", |s| s.page_cache_misses_total),
                ("metricstor_page_cache_evictions_total", "counter", "Pages evicted from the shard's page cache to make room.", |s| s.page_cache_evictions_total),
                ("metricstor_page_cache_bytes", "gauge", "Bytes of pages held by the shard's page cache (at most storage.page_cache_mb).", |s| s.page_cache_bytes),
                ("metricstor_exemplars_stored", "gauge", "Exemplars in the shard's buffer (its share of storage.max_exemplars).", |s| s.exemplars_stored),
                ("metricstor_block_direct_io_fallbacks_total", "counter", "Block files read through the OS page cache because their file system refused O_DIRECT.", |s| s.block_direct_io_fallbacks_total),
            ];
            let compaction: [ShardFigure<f64>; 4] = [
                ("metricstor_compactions_total", "counter", "Block compactions committed (parents replaced by the merged block).", |s| s.compactions_total as f64),
                ("metricstor_compactions_failed_total", "counter", "Block compactions that failed (logged; retried later).", |s| s.compactions_failed_total as f64),
                ("metricstor_compactions_discarded_total", "counter", "Block compactions thrown away because a parent changed meanwhile (delete, retention).", |s| s.compactions_discarded_total as f64),
                ("metricstor_compaction_seconds_total", "counter", "Time spent merging blocks.", |s| s.compaction_seconds_total),
            ];
            for (name, kind, help, get) in per_shard {
                family(&mut out, name, kind, help);
                for s in &shards {
                    let _ = writeln!(out, "{name}{{shard=\"{}\"}} {}", s.shard, get(&s.stats));
                }
            }
            for (name, kind, help, get) in compaction {
                family(&mut out, name, kind, help);
                for s in &shards {
                    let _ = writeln!(out, "{name}{{shard=\"{}\"}} {}", s.shard, get(&s.stats));
                }
            }
            family(&mut out, "metricstor_blocks", "gauge", "Open blocks by compaction level (the highest level shown counts it and above).");
            for s in &shards {
                for (i, count) in s.stats.blocks_by_level.iter().enumerate() {
                    let _ = writeln!(out, "metricstor_blocks{{shard=\"{}\",level=\"{}\"}} {count}", s.shard, i + 1);
                }
            }
        }
        Err(error) => {
            let _ = writeln!(out, "# shard statistics unavailable: {error}");
        }
    }
    family(
        &mut out,
        "metricstor_direct_io_write_fallbacks_total",
        "counter",
        "Block files and WAL checkpoints written through the OS page cache because their file system refused O_DIRECT (whole process).",
    );
    let _ = writeln!(out, "metricstor_direct_io_write_fallbacks_total {}", tsdb::block::buffered_writes_total());
    family(&mut out, "metricstor_metadata_families_refused_total", "counter", "Metric metadata of new families not kept because the shard's store held as many families as it keeps (250,000 per shard).");
    let _ = writeln!(out, "metricstor_metadata_families_refused_total {}", crate::shard::metadata_store::refused_total());
    family(&mut out, "metricstor_start_time_seconds", "gauge", "Start time of the process.");
    let _ = writeln!(out, "metricstor_start_time_seconds {}", api.started_at_ms / 1000);
    api.router.write_rules().write_text(&mut out);
    let (subscribers, sent, dropped) = api.notifications.figures();
    family(&mut out, "metricstor_notification_active_subscribers", "gauge", "Clients following /api/v1/notifications/live now.");
    let _ = writeln!(out, "metricstor_notification_active_subscribers {subscribers}");
    family(&mut out, "metricstor_notification_updates_sent_total", "counter", "Notification updates handed to subscribers (those dropped included).");
    let _ = writeln!(out, "metricstor_notification_updates_sent_total {sent}");
    family(&mut out, "metricstor_notification_updates_dropped_total", "counter", "Notification updates lost because a subscriber's queue was full.");
    let _ = writeln!(out, "metricstor_notification_updates_dropped_total {dropped}");
    super::scrape_metrics::write(&mut out, &api.scrape_targets.job_figures(), &api.scrape_config.refresh_counts());
    super::rule_metrics::write(&mut out, &api.rules.groups());
    out.push_str(&api.notifier.metrics_text());
    super::process_metrics::write(&mut out);
    out
}

/// Prometheus' reload gauges over all a reload reads: the scrape configuration with its rule
/// files, and the configuration file's `relabel_configs` and `stream_aggregation` (None: the
/// part has no file). The last reload succeeded when every part's did (a mixin's
/// `PrometheusBadConfig` alert then covers them all); the whole was last read when the part
/// read longest ago was. With nothing to reload: succeeded, at start.
fn config_reload_state(scrape: Option<(bool, i64)>, write_rules: Option<(bool, i64)>, started_at_ms: i64) -> (bool, i64) {
    [scrape, write_rules].into_iter().flatten().reduce(|(a_ok, a_at), (b_ok, b_at)| (a_ok && b_ok, a_at.min(b_at))).unwrap_or((true, started_at_ms))
}

#[cfg(test)]
mod tests {
    use super::config_reload_state;

    #[test]
    fn the_reload_gauges_cover_every_part_that_has_a_file() {
        assert_eq!(config_reload_state(None, None, 5), (true, 5), "nothing to reload");
        assert_eq!(config_reload_state(Some((true, 20)), None, 5), (true, 20));
        assert_eq!(config_reload_state(None, Some((false, 10)), 5), (false, 10));
        assert_eq!(config_reload_state(Some((true, 20)), Some((false, 10)), 5), (false, 10), "a failed part fails the whole");
        assert_eq!(config_reload_state(Some((true, 20)), Some((true, 30)), 5), (true, 20), "read whole when the older part was");
    }
}
