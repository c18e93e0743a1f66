//! Prometheus' query log (`global.query_log_file` of the scrape configuration file): one
//! JSON line per PromQL query evaluated (API and rule queries), in the fields Prometheus'
//! JSON file logger writes, the file reopened whenever the configuration is reloaded.

use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use super::json::push_json_string;

/// Where a query came from, as Prometheus logs it (`httpRequest` or `ruleGroup`).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum QueryOrigin {
    /// Neither (a gRPC query): no origin field.
    #[default]
    Unknown,
    Http { client_ip: Option<std::net::IpAddr>, method: String, path: &'static str },
    RuleGroup { file: String, name: String },
}

/// The log file in force, shared by every executor.
#[derive(Debug, Default)]
pub struct QueryLog {
    file: Mutex<Option<std::fs::File>>,
    /// The generation followed, plus one (0: none yet): read without the lock by every query,
    /// written only under it.
    followed: AtomicU64,
    enabled: AtomicBool,
    failures: AtomicU64,
}

impl QueryLog {
    /// Follows the scrape configuration of `generation`: a new generation (a reload) closes
    /// the file and opens `path` again, appending (created when missing); `None` turns the log
    /// off. A file that cannot be opened leaves the log off until the next reload (logged).
    pub fn follow(&self, generation: u64, path: Option<&Path>) {
        let followed = || self.followed.load(Ordering::Acquire) == generation.wrapping_add(1);
        if followed() {
            return;
        }
        let Ok(mut file) = self.file.lock() else { return };
        // Checked again under the lock: another executor may have followed it meanwhile.
        if followed() {
            return;
        }
        *file = path.and_then(|path| match std::fs::OpenOptions::new().append(true).create(true).open(path) {
            Ok(file) => Some(file),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot open the query log file; queries are not logged");
                None
            }
        });
        self.enabled.store(file.is_some(), Ordering::Relaxed);
        self.followed.store(generation.wrapping_add(1), Ordering::Release);
    }

    /// `follow` for the scrape configuration in force; whether queries are logged now.
    pub fn follow_config(&self, config: &crate::scrape::SharedConfig) -> bool {
        let (generation, in_force) = config.snapshot();
        self.follow(generation, in_force.query_log_file.as_deref());
        self.enabled()
    }

    /// Whether queries are logged now (`prometheus_engine_query_log_enabled`).
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Lines that could not be written (`prometheus_engine_query_log_failures_total`).
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Appends one entry (a whole line in one write, so executors' lines never interleave).
    pub fn write(&self, entry: &QueryLogEntry<'_>) {
        if !self.enabled() {
            return;
        }
        let line = entry.line(super::params::now_ms());
        let written = match self.file.lock() {
            Ok(mut file) => match file.as_mut() {
                Some(file) => file.write_all(line.as_bytes()).is_ok(),
                None => return,
            },
            Err(_) => false,
        };
        if !written {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One query as the log records it.
pub struct QueryLogEntry<'a> {
    pub query: &'a str,
    /// Start, end and step in ms (an instant query: its time twice and step 0).
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
    pub error: Option<&'a str>,
    /// The evaluation's statistics; `None` for an answer the range cache gave whole.
    pub stats: Option<&'a promql::QueryStats>,
    pub origin: &'a QueryOrigin,
}

impl QueryLogEntry<'_> {
    /// `{"time":…,"level":"INFO","msg":"promql query logged","params":{…},["error":…,]
    /// ["stats":{…},]origin}` and a line feed, as Prometheus' JSON file logger writes the
    /// entry (params' keys in Go's sorted order, times in milliseconds, step in seconds).
    fn line(&self, now_ms: i64) -> String {
        let mut out = String::with_capacity(256 + self.query.len());
        out.push_str("{\"time\":\"");
        out.push_str(&millis_date(now_ms));
        out.push_str("\",\"level\":\"INFO\",\"msg\":\"promql query logged\",\"params\":{\"end\":\"");
        out.push_str(&millis_date(self.end_ms));
        out.push_str("\",\"query\":");
        push_json_string(&mut out, self.query);
        out.push_str(",\"start\":\"");
        out.push_str(&millis_date(self.start_ms));
        out.push_str(&format!("\",\"step\":{}}}", self.step_ms / 1000));
        if let Some(error) = self.error {
            out.push_str(",\"error\":");
            push_json_string(&mut out, error);
        }
        if let Some(stats) = self.stats {
            out.push(',');
            super::query_statistics::push_stats(&mut out, stats, super::query_statistics::StatsAsked::Totals);
        }
        match self.origin {
            QueryOrigin::Unknown => {}
            QueryOrigin::Http { client_ip, method, path } => {
                out.push_str(",\"httpRequest\":{\"clientIP\":");
                push_json_string(&mut out, &client_ip.map(|ip| ip.to_string()).unwrap_or_default());
                out.push_str(",\"method\":");
                push_json_string(&mut out, method);
                out.push_str(",\"path\":");
                push_json_string(&mut out, path);
                out.push('}');
            }
            QueryOrigin::RuleGroup { file, name } => {
                out.push_str(",\"ruleGroup\":{\"file\":");
                push_json_string(&mut out, file);
                out.push_str(",\"name\":");
                push_json_string(&mut out, name);
                out.push('}');
            }
        }
        out.push_str("}\n");
        out
    }
}

/// A time in ms as Go's `2006-01-02T15:04:05.000Z07:00` writes it in UTC.
fn millis_date(ms: i64) -> String {
    let date = super::status::rfc3339_nano(ms.div_euclid(1000) * 1_000_000_000);
    format!("{}.{:03}Z", date.trim_end_matches('Z'), ms.rem_euclid(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_written_as_prometheus_json_file_logger_lines() {
        let mut stats = promql::QueryStats::default();
        stats.samples.total_queryable_samples = 3;
        let origin = QueryOrigin::Http { client_ip: "127.0.0.1".parse().ok(), method: "GET".into(), path: "/api/v1/query_range" };
        let entry = QueryLogEntry { query: "up == \"0\"", start_ms: 1_581_170_390_368, end_ms: 1_581_173_990_368, step_ms: 5_000, error: None, stats: Some(&stats), origin: &origin };
        let line = entry.line(1_581_173_990_387);
        assert_eq!(
            line,
            "{\"time\":\"2020-02-08T14:59:50.387Z\",\"level\":\"INFO\",\"msg\":\"promql query logged\",\
             \"params\":{\"end\":\"2020-02-08T14:59:50.368Z\",\"query\":\"up == \\\"0\\\"\",\"start\":\"2020-02-08T13:59:50.368Z\",\"step\":5},\
             \"stats\":{\"timings\":{\"evalTotalTime\":0,\"resultSortTime\":0,\"queryPreparationTime\":0,\"innerEvalTime\":0,\"execQueueTime\":0,\"execTotalTime\":0},\
             \"samples\":{\"totalQueryableSamples\":3,\"samplesRead\":0,\"peakSamples\":0}},\
             \"httpRequest\":{\"clientIP\":\"127.0.0.1\",\"method\":\"GET\",\"path\":\"/api/v1/query_range\"}}\n"
        );
        let rule = QueryOrigin::RuleGroup { file: "rules.yml".into(), name: "g".into() };
        let failed = QueryLogEntry { query: "x", start_ms: 0, end_ms: 0, step_ms: 0, error: Some("bad"), stats: None, origin: &rule };
        let line = failed.line(0);
        assert!(line.ends_with("\"step\":0},\"error\":\"bad\",\"ruleGroup\":{\"file\":\"rules.yml\",\"name\":\"g\"}}\n"), "{line}");
        assert!(serde_json::from_str::<serde_json::Value>(line.trim_end()).is_ok());
    }

    #[test]
    fn a_reload_reopens_the_file_and_none_turns_the_log_off() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (first, second) = (dir.path().join("a.log"), dir.path().join("b.log"));
        let log = QueryLog::default();
        let origin = QueryOrigin::Unknown;
        let entry = QueryLogEntry { query: "up", start_ms: 0, end_ms: 0, step_ms: 0, error: None, stats: None, origin: &origin };
        log.write(&entry);
        log.follow(1, Some(&first));
        assert!(log.enabled());
        log.write(&entry);
        log.follow(1, Some(&second));
        log.write(&entry);
        log.follow(2, Some(&second));
        log.write(&entry);
        let lines = |path: &Path| std::fs::read_to_string(path).unwrap_or_default().lines().count();
        assert_eq!((lines(&first), lines(&second)), (2, 1), "the same generation keeps the file");
        log.follow(3, None);
        assert!(!log.enabled());
        log.write(&entry);
        assert_eq!(lines(&second), 1);
        log.follow(4, Some(&dir.path().join("missing/dir/c.log")));
        assert!(!log.enabled(), "a file that cannot be opened leaves the log off");
        assert_eq!(log.failures(), 0);
    }
}
