//! The queries being evaluated now and the last ones finished, shared by every executor:
//! VictoriaMetrics' `/api/v1/status/active_queries` (`app/vmselect/promql/active_queries.go`)
//! and `/api/v1/status/top_queries` (`app/vmselect/querystats/querystats.go`). One lock,
//! held for O(1) work per query start and finish; answers are aggregated outside it.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::json;

/// How many finished queries `top_queries` is computed over (VictoriaMetrics'
/// `-search.queryStats.lastQueriesCount` default).
pub const LAST_QUERIES_COUNT: usize = 20_000;

/// Finished queries faster than this are not kept for `top_queries`. VictoriaMetrics'
/// `-search.queryStats.minQueryDuration` defaults to 1ms; we keep every query, so that how
/// often a cheap query runs is seen too (and answers do not depend on the machine's speed).
pub const QUERY_DURATION_MIN: Duration = Duration::ZERO;

/// `top_queries`' `topN` when the request has none (VictoriaMetrics' default).
pub const TOP_N_DEFAULT: usize = 20;

/// `top_queries`' `maxLifetime` when the request has none: 10 minutes (VictoriaMetrics').
pub const MAX_LIFETIME_DEFAULT_MS: i64 = 10 * 60_000;

/// What an evaluation was asked for: VictoriaMetrics' `EvalConfig` start, end and step (an
/// instant query's start and end are its time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryWindow {
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
}

/// The registry of running and recently finished queries.
pub struct QueryStats {
    registry: Mutex<Registry>,
    finished_max: usize,
}

struct Registry {
    /// The id the next query gets (VictoriaMetrics starts at its start-up time in nanoseconds,
    /// so ids differ across restarts).
    next_id: u64,
    running: HashMap<u64, Running>,
    /// Oldest first; at most `finished_max`.
    finished: VecDeque<Finished>,
}

struct Running {
    query: Arc<str>,
    window: QueryWindow,
    remote_addr: Option<SocketAddr>,
    started: Instant,
}

#[derive(Clone)]
struct Finished {
    query: Arc<str>,
    time_range_seconds: i64,
    finished: Instant,
    duration: Duration,
}

impl QueryStats {
    /// A registry that keeps the last `finished_max` finished queries.
    pub fn new(finished_max: usize) -> QueryStats {
        let epoch_ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        let registry = Registry { next_id: epoch_ns, running: HashMap::new(), finished: VecDeque::with_capacity(finished_max.min(1024)) };
        QueryStats { registry: Mutex::new(registry), finished_max }
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // Every critical section is a few container operations that cannot panic halfway in a
        // way that breaks the registry's invariants, so a poisoned lock is still usable.
        self.registry.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers `query` as running until the returned guard is dropped (however the
    /// evaluation ends: answer, error, timeout or an abandoned future); the drop records it
    /// as finished.
    pub fn start(&self, query: &str, window: QueryWindow, remote_addr: Option<SocketAddr>) -> RunningQuery<'_> {
        let running = Running { query: Arc::from(query), window, remote_addr, started: Instant::now() };
        let mut registry = self.lock();
        registry.next_id = registry.next_id.wrapping_add(1);
        let id = registry.next_id;
        registry.running.insert(id, running);
        RunningQuery { stats: self, id }
    }

    /// Queries running or waiting for a slot now (`prometheus_engine_queries`).
    pub fn running_count(&self) -> usize {
        self.lock().running.len()
    }

    fn finish(&self, id: u64) {
        let now = Instant::now();
        let mut registry = self.lock();
        let Some(running) = registry.running.remove(&id) else {
            return;
        };
        let duration = now.saturating_duration_since(running.started);
        if duration < QUERY_DURATION_MIN || self.finished_max == 0 {
            return;
        }
        if registry.finished.len() >= self.finished_max {
            registry.finished.pop_front();
        }
        // As VictoriaMetrics: whole seconds, truncated.
        let time_range_seconds = (running.window.end_ms - running.window.start_ms) / 1000;
        registry.finished.push_back(Finished { query: running.query, time_range_seconds, finished: now, duration });
        debug_assert!(registry.finished.len() <= self.finished_max, "the finished ring stays within its bound");
    }

    /// `/api/v1/status/active_queries`' body: VictoriaMetrics' `{"status":"ok","data":[…]}`,
    /// the longest-running first.
    pub fn active_json(&self) -> String {
        let now = Instant::now();
        let mut running: Vec<(u64, Running)> = {
            let registry = self.lock();
            registry.running.iter().map(|(id, r)| (*id, r.clone_entry())).collect()
        };
        running.sort_by(|a, b| a.1.started.cmp(&b.1.started).then(a.0.cmp(&b.0)));
        let mut out = String::from("{\"status\":\"ok\",\"data\":[");
        for (i, (id, r)) in running.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let seconds = now.saturating_duration_since(r.started).as_secs_f64();
            let _ = write!(out, "{{\"duration\":\"{seconds:.3}s\",\"id\":\"{id:016X}\",\"remote_addr\":");
            json::push_json_string(&mut out, &r.remote_addr.map(|a| a.to_string()).unwrap_or_default());
            out.push_str(",\"query\":");
            json::push_json_string(&mut out, &r.query);
            let QueryWindow { start_ms, end_ms, step_ms } = r.window;
            let _ = write!(out, ",\"start\":{start_ms},\"end\":{end_ms},\"step\":{step_ms}}}");
        }
        out.push_str("]}");
        out
    }

    /// The finished queries of the last `max_lifetime` before `now`, aggregated by VictoriaMetrics'
    /// key (query text and time range in seconds).
    fn aggregate(&self, max_lifetime: Duration, now: Instant) -> Vec<QueryTotals> {
        // Copied out under the lock (reference counts, no text), aggregated after.
        let recent: Vec<Finished> = {
            let registry = self.lock();
            registry.finished.iter().filter(|f| now.saturating_duration_since(f.finished) <= max_lifetime).cloned().collect()
        };
        let mut by_key: HashMap<(Arc<str>, i64), (usize, Duration)> = HashMap::new();
        for f in recent {
            let totals = by_key.entry((f.query, f.time_range_seconds)).or_default();
            totals.0 += 1;
            totals.1 += f.duration;
        }
        by_key
            .into_iter()
            .map(|((query, time_range_seconds), (count, sum))| QueryTotals { query, time_range_seconds, count, sum })
            .collect()
    }

    /// `/api/v1/status/top_queries`' body as VictoriaMetrics writes it (no envelope): the
    /// `top_n` keys by count, by average and by total duration among the queries finished
    /// in the last `max_lifetime_ms`, ties in key order.
    pub fn top_json(&self, top_n: usize, max_lifetime_ms: i64) -> String {
        self.top_json_at(top_n, max_lifetime_ms, Instant::now())
    }

    fn top_json_at(&self, top_n: usize, max_lifetime_ms: i64, now: Instant) -> String {
        let max_lifetime = Duration::from_millis(max_lifetime_ms.max(0) as u64);
        let mut totals = self.aggregate(max_lifetime, now);
        let mut out = String::new();
        // VictoriaMetrics writes topN as a string and the durations as Go prints them.
        let _ = write!(
            out,
            "{{\"topN\":\"{top_n}\",\"maxLifetime\":\"{}\",\"search.queryStats.lastQueriesCount\":{},\"search.queryStats.minQueryDuration\":\"{}\"",
            go_duration(max_lifetime),
            self.finished_max,
            go_duration(QUERY_DURATION_MIN)
        );
        totals.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key_order(b)));
        out.push_str(",\"topByCount\":[");
        for (i, t) in totals.iter().take(top_n).enumerate() {
            t.push_head(&mut out, i);
            let _ = write!(out, ",\"count\":{}}}", t.count);
        }
        totals.sort_by(|a, b| b.average().cmp(&a.average()).then_with(|| a.key_order(b)));
        out.push_str("],\"topByAvgDuration\":[");
        for (i, t) in totals.iter().take(top_n).enumerate() {
            t.push_head(&mut out, i);
            let _ = write!(out, ",\"avgDurationSeconds\":{:.3},\"count\":{}}}", t.average().as_secs_f64(), t.count);
        }
        totals.sort_by(|a, b| b.sum.cmp(&a.sum).then_with(|| a.key_order(b)));
        out.push_str("],\"topBySumDuration\":[");
        for (i, t) in totals.iter().take(top_n).enumerate() {
            t.push_head(&mut out, i);
            let _ = write!(out, ",\"sumDurationSeconds\":{:.3},\"count\":{}}}", t.sum.as_secs_f64(), t.count);
        }
        out.push_str("]}");
        out
    }
}

impl Running {
    fn clone_entry(&self) -> Running {
        Running { query: self.query.clone(), window: self.window, remote_addr: self.remote_addr, started: self.started }
    }
}

/// One key's finished queries.
struct QueryTotals {
    query: Arc<str>,
    time_range_seconds: i64,
    count: usize,
    sum: Duration,
}

impl QueryTotals {
    /// As VictoriaMetrics: the sum over the count, in whole nanoseconds.
    fn average(&self) -> Duration {
        let nanos = self.sum.as_nanos() / self.count.max(1) as u128;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    fn key_order(&self, other: &QueryTotals) -> std::cmp::Ordering {
        self.query.cmp(&other.query).then(self.time_range_seconds.cmp(&other.time_range_seconds))
    }

    /// `{"query":…,"timeRangeSeconds":…` after a comma unless it is the list's first.
    fn push_head(&self, out: &mut String, index: usize) {
        if index > 0 {
            out.push(',');
        }
        out.push_str("{\"query\":");
        json::push_json_string(out, &self.query);
        let _ = write!(out, ",\"timeRangeSeconds\":{}", self.time_range_seconds);
    }
}

/// A running query's registration; dropping it records the query as finished.
#[must_use = "the query counts as running only while the guard lives"]
pub struct RunningQuery<'a> {
    stats: &'a QueryStats,
    id: u64,
}

impl Drop for RunningQuery<'_> {
    fn drop(&mut self) {
        self.stats.finish(self.id);
    }
}

/// `duration` as Go's `time.Duration.String()` writes it, to the millisecond: `0s`, `500ms`,
/// `30s`, `1.5s`, `10m0s`, `1h0m0s`.
pub fn go_duration(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (hours, minutes, seconds, millis) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let mut out = String::new();
    if hours > 0 {
        let _ = write!(out, "{hours}h");
    }
    if hours > 0 || minutes > 0 {
        let _ = write!(out, "{minutes}m");
    }
    let _ = write!(out, "{seconds}");
    if millis > 0 {
        let fraction = format!("{millis:03}");
        let _ = write!(out, ".{}", fraction.trim_end_matches('0'));
    }
    out.push('s');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSTANT: QueryWindow = QueryWindow { start_ms: 1_000_000, end_ms: 1_000_000, step_ms: 300_000 };

    fn run(stats: &QueryStats, query: &str, window: QueryWindow) {
        drop(stats.start(query, window, None));
    }

    fn top(stats: &QueryStats, top_n: usize, max_lifetime_ms: i64, now: Instant) -> serde_json::Value {
        serde_json::from_str(&stats.top_json_at(top_n, max_lifetime_ms, now)).expect("top_queries is JSON")
    }

    fn queries(list: &serde_json::Value) -> Vec<(String, i64, u64)> {
        let entries = list.as_array().expect("a list");
        entries
            .iter()
            .map(|e| (e["query"].as_str().unwrap_or("").to_string(), e["timeRangeSeconds"].as_i64().unwrap_or(-1), e["count"].as_u64().unwrap_or(0)))
            .collect()
    }

    #[test]
    fn the_finished_ring_keeps_only_the_last_queries() {
        let stats = QueryStats::new(3);
        for query in ["a", "b", "c", "d", "e"] {
            run(&stats, query, INSTANT);
        }
        assert_eq!(stats.lock().finished.len(), 3);
        let answer = top(&stats, 10, MAX_LIFETIME_DEFAULT_MS, Instant::now());
        let mut kept: Vec<String> = queries(&answer["topByCount"]).into_iter().map(|q| q.0).collect();
        kept.sort();
        assert_eq!(kept, ["c", "d", "e"]);
        assert_eq!(answer["search.queryStats.lastQueriesCount"], 3);
    }

    #[test]
    fn top_queries_orders_by_count_then_key_and_keys_by_text_and_time_range() {
        let stats = QueryStats::new(100);
        let range = QueryWindow { start_ms: 0, end_ms: 3_600_999, step_ms: 60_000 };
        for _ in 0..3 {
            run(&stats, "up", INSTANT);
        }
        run(&stats, "up", range);
        for _ in 0..2 {
            run(&stats, "rate(x[5m])", INSTANT);
        }
        run(&stats, "b", INSTANT);
        run(&stats, "a", INSTANT);
        let answer = top(&stats, 4, MAX_LIFETIME_DEFAULT_MS, Instant::now());
        assert_eq!(
            queries(&answer["topByCount"]),
            [("up".to_string(), 0, 3), ("rate(x[5m])".to_string(), 0, 2), ("a".to_string(), 0, 1), ("b".to_string(), 0, 1)]
        );
        assert_eq!(answer["topN"], "4");
        assert_eq!(answer["maxLifetime"], "10m0s");
        assert_eq!(answer["search.queryStats.minQueryDuration"], "0s");
        // The same text over another range is another key; its range in whole seconds.
        let all = top(&stats, 10, MAX_LIFETIME_DEFAULT_MS, Instant::now());
        assert!(queries(&all["topByCount"]).contains(&("up".to_string(), 3600, 1)), "{all}");
        assert_eq!(all["topBySumDuration"].as_array().map(Vec::len), Some(5));
        assert_eq!(top(&stats, 0, MAX_LIFETIME_DEFAULT_MS, Instant::now())["topByAvgDuration"], serde_json::json!([]));
    }

    #[test]
    fn top_queries_orders_by_average_and_sum_of_durations() {
        let stats = QueryStats::new(100);
        let now = Instant::now();
        let push = |query: &str, ms: u64| {
            let finished = Finished { query: Arc::from(query), time_range_seconds: 0, finished: now, duration: Duration::from_millis(ms) };
            stats.lock().finished.push_back(finished);
        };
        // slow: one query of 900ms; often: four of 300ms (sum 1.2s, average 0.3s).
        push("slow", 900);
        for _ in 0..4 {
            push("often", 300);
        }
        let answer = top(&stats, 10, MAX_LIFETIME_DEFAULT_MS, now);
        let avg = &answer["topByAvgDuration"];
        assert_eq!((avg[0]["query"].as_str(), avg[0]["avgDurationSeconds"].as_f64()), (Some("slow"), Some(0.9)));
        assert_eq!((avg[1]["query"].as_str(), avg[1]["avgDurationSeconds"].as_f64(), avg[1]["count"].as_u64()), (Some("often"), Some(0.3), Some(4)));
        let sum = &answer["topBySumDuration"];
        assert_eq!((sum[0]["query"].as_str(), sum[0]["sumDurationSeconds"].as_f64()), (Some("often"), Some(1.2)));
        assert_eq!(sum[1]["query"].as_str(), Some("slow"));
        // Three decimals, as VictoriaMetrics' %.3f.
        assert!(stats.top_json_at(10, MAX_LIFETIME_DEFAULT_MS, now).contains("\"sumDurationSeconds\":1.200"));
    }

    #[test]
    fn max_lifetime_leaves_out_queries_finished_earlier() {
        let stats = QueryStats::new(100);
        run(&stats, "old", INSTANT);
        let later = Instant::now() + Duration::from_secs(60);
        // Finished "60s" before `later`: within 2m, outside 30s.
        stats.lock().finished.push_back(Finished { query: Arc::from("new"), time_range_seconds: 0, finished: later, duration: Duration::ZERO });
        let within = top(&stats, 10, 120_000, later);
        let mut names: Vec<String> = queries(&within["topByCount"]).into_iter().map(|q| q.0).collect();
        names.sort();
        assert_eq!(names, ["new", "old"]);
        let recent = top(&stats, 10, 30_000, later);
        assert_eq!(queries(&recent["topByCount"]), [("new".to_string(), 0, 1)]);
        assert_eq!(recent["maxLifetime"], "30s");
    }

    #[test]
    fn a_query_is_active_until_its_guard_drops_then_finished() {
        let stats = QueryStats::new(10);
        let addr: SocketAddr = "127.0.0.1:4321".parse().expect("a literal address");
        let window = QueryWindow { start_ms: 1000, end_ms: 61_000, step_ms: 15_000 };
        let guard = stats.start("sum(up)", window, Some(addr));
        let active: serde_json::Value = serde_json::from_str(&stats.active_json()).expect("JSON");
        assert_eq!(active["status"], "ok");
        let entry = &active["data"][0];
        assert_eq!((entry["query"].as_str(), entry["remote_addr"].as_str()), (Some("sum(up)"), Some("127.0.0.1:4321")));
        assert_eq!((entry["start"].as_i64(), entry["end"].as_i64(), entry["step"].as_i64()), (Some(1000), Some(61_000), Some(15_000)));
        assert_eq!(entry["id"].as_str().map(str::len), Some(16));
        assert!(entry["duration"].as_str().is_some_and(|d| d.ends_with('s')), "{entry}");
        assert!(queries(&top(&stats, 10, MAX_LIFETIME_DEFAULT_MS, Instant::now())["topByCount"]).is_empty());
        drop(guard);
        assert_eq!(stats.active_json(), "{\"status\":\"ok\",\"data\":[]}");
        assert_eq!(queries(&top(&stats, 10, MAX_LIFETIME_DEFAULT_MS, Instant::now())["topByCount"]), [("sum(up)".to_string(), 60, 1)]);
    }

    #[test]
    fn an_abandoned_future_unregisters_its_query() {
        let stats = QueryStats::new(10);
        let evaluation = async {
            let _running = stats.start("slow", INSTANT, None);
            std::future::pending::<()>().await;
        };
        let mut evaluation = Box::pin(evaluation);
        let waker = std::task::Waker::noop();
        assert!(std::future::Future::poll(evaluation.as_mut(), &mut std::task::Context::from_waker(waker)).is_pending());
        assert_eq!(stats.lock().running.len(), 1);
        drop(evaluation);
        assert!(stats.lock().running.is_empty());
        assert_eq!(stats.lock().finished.len(), 1);
    }

    #[test]
    fn durations_print_as_go_does() {
        let cases = [(0, "0s"), (500, "500ms"), (1000, "1s"), (1500, "1.5s"), (30_000, "30s"), (90_000, "1m30s"), (600_000, "10m0s"), (3_600_000, "1h0m0s"), (3_723_040, "1h2m3.04s")];
        for (ms, printed) in cases {
            assert_eq!(go_duration(Duration::from_millis(ms)), printed, "{ms}ms");
        }
    }
}
