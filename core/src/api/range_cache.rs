//! The range-query result cache (what makes a refreshed Grafana dashboard cheap): settled
//! points of a range query kept per (query, step, start mod step), so a later request on the
//! same grid reuses the points it shares. Shared by all executors, bounded in bytes, evicting
//! the least recently used entry; an entry of an outdated history generation is never served.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use promql::QueryResult;
use tsdb::{Labels, Sample, SeriesSamples};

use super::single_flight::SingleFlight;

/// Bytes accounted per sample and per series beyond its label text.
const SAMPLE_BYTES: usize = std::mem::size_of::<Sample>();
const SERIES_OVERHEAD_BYTES: usize = 64;

/// Where results are kept: a range query's point at step time `t` depends only on the query,
/// the data and `t`, not on where the range starts, so requests whose grid is the same (same
/// query, step and start mod step) share points.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    query: String,
    step_ms: i64,
    /// `start mod step`: requests on the same grid share points.
    phase_ms: i64,
}

/// Settled points of one query on one grid, for steps `start_ms..=end_ms`. Only settled points
/// are kept, i.e. steps older than `shard::history::SETTLED_AFTER_MS` before the wall clock;
/// newer steps are always evaluated.
#[derive(Debug)]
pub struct Entry {
    /// The history generation read before the points were computed: once it is no longer
    /// current (a write into the settled past, a delete, retention), the entry is dropped
    /// instead of served.
    generation: u64,
    pub start_ms: i64,
    pub end_ms: i64,
    series: Vec<SeriesSamples>,
    /// Warnings and infos the evaluation of these steps gave (answers that use the entry
    /// carry them, even for a part of its range, where they may name something seen only
    /// outside it: annotations are per query, not per step).
    pub annotations: Annotations,
    bytes: usize,
}

/// A query's warnings and infos, in first-seen order without repeats.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Annotations {
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

impl Annotations {
    /// Adds `other`'s annotations that are not here yet.
    pub fn extend(&mut self, other: &Annotations) {
        for w in &other.warnings {
            if !self.warnings.contains(w) {
                self.warnings.push(w.clone());
            }
        }
        for i in &other.infos {
            if !self.infos.contains(i) {
                self.infos.push(i.clone());
            }
        }
    }
}

/// What a request can take from the cache: a request inside a cached range is answered from
/// memory, one that reaches past its end evaluates only the steps after it.
pub enum Lookup {
    /// Nothing usable: evaluate the whole range.
    Miss,
    /// The cached entry covers the request's first step; steps after `entry.end_ms` (if any)
    /// must be evaluated.
    Covered(Arc<Entry>),
}

#[derive(Default)]
pub struct CacheCounters {
    pub hits: AtomicU64,
    pub partial_hits: AtomicU64,
    pub misses: AtomicU64,
    pub invalidations: AtomicU64,
    pub evictions: AtomicU64,
    /// Range queries answered with the result of an identical one evaluated meanwhile.
    pub coalesced: AtomicU64,
}

struct Slot {
    entry: Arc<Entry>,
    last_used: u64,
}

#[derive(Default)]
struct Inner {
    slots: HashMap<Key, Slot>,
    bytes: usize,
    clock: u64,
}

/// An identical range request waits for one in flight if no write was acknowledged since
/// that one started, or else if it started less than this long ago: a shared answer misses
/// at most the samples acknowledged in the last second before the request (one evaluated
/// for the request alone misses none).
pub const JOIN_IN_FLIGHT_WITHIN: std::time::Duration = std::time::Duration::from_secs(1);

/// The range-query result cache, shared by all executors, bounded in bytes, evicting the
/// least recently used entry.
pub struct RangeCache {
    capacity_bytes: usize,
    inner: Mutex<Inner>,
    pub counters: CacheCounters,
    /// Identical cacheable range requests in flight (query, start, end, step, history
    /// generation): the later ones wait for the first one's answer (`single_flight`), so a
    /// burst of them on cold caches is evaluated once.
    pub in_flight: SingleFlight<(String, i64, i64, i64, u64), QueryResult>,
}

fn key(query: &str, start_ms: i64, step_ms: i64) -> Key {
    Key {
        query: query.to_string(),
        step_ms,
        phase_ms: start_ms.rem_euclid(step_ms),
    }
}

/// False for queries whose points depend on the range (`start()`, `end()`, `range()`) or on
/// when they are evaluated (MetricsQL's `now()`), may
/// read data after their step time (`reads_ahead`) or read the query's other steps
/// (MetricsQL's series-wide functions, `Expr::reads_other_steps`): for the rest, a step's point
/// reads only data at or before it, so a write newer than the settled edge cannot change a
/// cached point. The query is checked once parsed (its `WITH` templates expanded); one that
/// does not parse is not cached (its evaluation reports why).
pub fn cacheable_query(query: &str) -> bool {
    let Ok(expr) = promql::parse(query) else { return false };
    let printed = promql::printer::print(&expr);
    let compact: String = printed.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    // MetricsQL's `now()` is the time of evaluation, not of the step: no point of it settles.
    !["start()", "end()", "range()", "now()"].iter().any(|f| compact.contains(f)) && !reads_ahead(&expr) && !expr.reads_other_steps()
}

/// Whether a selector or subquery of `expr` may read data after its step time: `@`, an offset
/// that is negative or a duration expression (its sign known only at evaluation), `smoothed`
/// (which interpolates towards the next sample).
fn reads_ahead(expr: &promql::ast::Expr) -> bool {
    use promql::ast::Expr;
    let here = match expr {
        Expr::VectorSelector(s) | Expr::MatrixSelector { selector: s, .. } => s.at.is_some() || s.offset_ms < 0 || s.offset_expr.is_some() || s.smoothed,
        Expr::Subquery(q) => q.at.is_some() || q.offset_ms < 0 || q.offset_expr.is_some(),
        _ => false,
    };
    here || expr.children().into_iter().any(reads_ahead)
}

/// The last step of the grid `start_ms + k * step_ms` at or before `t_ms` (may be before start).
pub fn last_step_at_or_before(start_ms: i64, step_ms: i64, t_ms: i64) -> i64 {
    start_ms + (t_ms - start_ms).div_euclid(step_ms) * step_ms
}

fn entry_bytes(series: &[SeriesSamples]) -> usize {
    series
        .iter()
        .map(|s| {
            SERIES_OVERHEAD_BYTES
                + s.labels
                    .iter()
                    .map(|l| l.name.len() + l.value.len() + 16)
                    .sum::<usize>()
                + s.samples.len() * SAMPLE_BYTES
        })
        .sum()
}

/// The points of `series` within `[start_ms, end_ms]`; series left without points are dropped.
pub fn slice(series: &[SeriesSamples], start_ms: i64, end_ms: i64) -> Vec<SeriesSamples> {
    series
        .iter()
        .filter_map(|s| {
            let lo = s.samples.partition_point(|p| p.timestamp_ms < start_ms);
            let hi = s.samples.partition_point(|p| p.timestamp_ms <= end_ms);
            (lo < hi).then(|| SeriesSamples {
                labels: s.labels.clone(),
                samples: s.samples[lo..hi].to_vec(),
                histograms: Vec::new(),
                starts: None,
            })
        })
        .collect()
}

/// Joins `earlier` and `later` (every point of `later` after every point of `earlier`) by
/// label set, sorted by labels as the engine sorts a matrix.
pub fn append_later(earlier: Vec<SeriesSamples>, later: Vec<SeriesSamples>) -> Vec<SeriesSamples> {
    let mut index: HashMap<Labels, usize> = HashMap::with_capacity(earlier.len());
    let mut out = earlier;
    for (i, s) in out.iter().enumerate() {
        index.insert(s.labels.clone(), i);
    }
    for s in later {
        match index.get(&s.labels) {
            Some(&i) => out[i].samples.extend(s.samples),
            None => out.push(s),
        }
    }
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}

impl RangeCache {
    /// A cache of at most `capacity_bytes` (0 disables it).
    pub fn new(capacity_bytes: usize) -> RangeCache {
        RangeCache {
            capacity_bytes,
            inner: Mutex::new(Inner::default()),
            counters: CacheCounters::default(),
            in_flight: SingleFlight::new(JOIN_IN_FLIGHT_WITHIN),
        }
    }

    pub fn enabled(&self) -> bool {
        self.capacity_bytes > 0
    }

    pub fn bytes(&self) -> usize {
        self.inner.lock().map_or(0, |inner| inner.bytes)
    }

    pub fn entries(&self) -> usize {
        self.inner.lock().map_or(0, |inner| inner.slots.len())
    }

    /// The entry that can answer `[start_ms, ...]` on this grid, if its generation is current
    /// and it covers `start_ms`. A stale entry is removed.
    pub fn lookup(&self, query: &str, start_ms: i64, step_ms: i64, generation: u64) -> Lookup {
        let Ok(mut inner) = self.inner.lock() else {
            return Lookup::Miss;
        };
        let k = key(query, start_ms, step_ms);
        inner.clock += 1;
        let clock = inner.clock;
        let Some(slot) = inner.slots.get_mut(&k) else {
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
            return Lookup::Miss;
        };
        if slot.entry.generation != generation {
            let bytes = slot.entry.bytes;
            inner.slots.remove(&k);
            inner.bytes -= bytes;
            self.counters.invalidations.fetch_add(1, Ordering::Relaxed);
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
            return Lookup::Miss;
        }
        if start_ms < slot.entry.start_ms || start_ms > slot.entry.end_ms {
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
            return Lookup::Miss;
        }
        slot.last_used = clock;
        Lookup::Covered(slot.entry.clone())
    }

    /// Counts a lookup that was answered wholly (`true`) or partly from the cache.
    pub fn count_use(&self, whole: bool) {
        let counter = if whole {
            &self.counters.hits
        } else {
            &self.counters.partial_hits
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Keeps `series` as the settled points of the grid's `steps` (first to last step),
    /// computed from data of `generation`. Replaces an entry on the same grid unless that one
    /// reaches further; entries larger than a quarter of the capacity are not kept.
    pub fn store(
        &self,
        query: &str,
        step_ms: i64,
        generation: u64,
        steps: std::ops::RangeInclusive<i64>,
        series: Vec<SeriesSamples>,
        annotations: Annotations,
    ) {
        let (start_ms, end_ms) = steps.into_inner();
        // Results with native histograms are not kept (`slice` and the size estimate know
        // float points only).
        if !self.enabled() || end_ms < start_ms || series.iter().any(|s| !s.histograms.is_empty()) {
            return;
        }
        let bytes = entry_bytes(&series);
        if bytes > self.capacity_bytes / 4 {
            return;
        }
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let k = key(query, start_ms, step_ms);
        if let Some(slot) = inner.slots.get(&k) {
            let old = &slot.entry;
            let reaches_further =
                end_ms > old.end_ms || start_ms < old.start_ms || generation != old.generation;
            if !reaches_further {
                return;
            }
            let old_bytes = old.bytes;
            inner.slots.remove(&k);
            inner.bytes -= old_bytes;
        }
        while inner.bytes + bytes > self.capacity_bytes {
            let Some(victim) = inner
                .slots
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(slot) = inner.slots.remove(&victim) {
                inner.bytes -= slot.entry.bytes;
                self.counters.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
        inner.clock += 1;
        let last_used = inner.clock;
        inner.bytes += bytes;
        inner.slots.insert(
            k,
            Slot {
                entry: Arc::new(Entry {
                    generation,
                    start_ms,
                    end_ms,
                    series,
                    annotations,
                    bytes,
                }),
                last_used,
            },
        );
    }
}

impl Entry {
    pub fn series(&self) -> &[SeriesSamples] {
        &self.series
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, points: &[(i64, f64)]) -> SeriesSamples {
        SeriesSamples {
            labels: Labels::from_pairs([("__name__", name)]),
            samples: points
                .iter()
                .map(|&(timestamp_ms, value)| Sample {
                    timestamp_ms,
                    value,
                })
                .collect(),
            histograms: Vec::new(),
            starts: None,
        }
    }

    #[test]
    fn a_request_on_the_grid_inside_the_entry_is_covered_and_other_grids_miss() {
        let cache = RangeCache::new(1 << 20);
        cache.store(
            "up",
            10,
            7,
            100..=200,
            vec![series("up", &[(100, 1.0), (110, 2.0)])],
            Annotations::default(),
        );
        assert!(
            matches!(cache.lookup("up", 150, 10, 7), Lookup::Covered(e) if e.start_ms == 100 && e.end_ms == 200)
        );
        assert!(
            matches!(cache.lookup("up", 155, 10, 7), Lookup::Miss),
            "another phase is another grid"
        );
        assert!(
            matches!(cache.lookup("up", 90, 10, 7), Lookup::Miss),
            "starts before the entry"
        );
        assert!(
            matches!(cache.lookup("up", 210, 10, 7), Lookup::Miss),
            "starts after the entry"
        );
        assert!(
            matches!(cache.lookup("up", 150, 20, 7), Lookup::Miss),
            "another step"
        );
        assert!(
            matches!(cache.lookup("down", 150, 10, 7), Lookup::Miss),
            "another query"
        );
    }

    #[test]
    fn an_entry_of_an_older_generation_is_dropped_not_served() {
        let cache = RangeCache::new(1 << 20);
        cache.store("up", 10, 1, 100..=200, vec![series("up", &[(100, 1.0)])], Annotations::default());
        assert!(matches!(cache.lookup("up", 100, 10, 2), Lookup::Miss));
        assert_eq!(cache.entries(), 0);
        assert_eq!(cache.bytes(), 0);
        assert_eq!(cache.counters.invalidations.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn the_byte_bound_holds_by_evicting_the_least_recently_used() {
        let points: Vec<(i64, f64)> = (0..100).map(|i| (i * 10, i as f64)).collect();
        let one = entry_bytes(&[series("q0", &points)]);
        let cache = RangeCache::new(one * 4 + one / 2);
        for q in 0..4 {
            cache.store(
                &format!("q{q}"),
                10,
                0,
                0..=990,
                vec![series(&format!("q{q}"), &points)],
                Annotations::default(),
            );
        }
        assert!(
            matches!(cache.lookup("q0", 0, 10, 0), Lookup::Covered(_)),
            "touch q0"
        );
        cache.store("q4", 10, 0, 0..=990, vec![series("q4", &points)], Annotations::default());
        assert!(cache.bytes() <= one * 4 + one / 2);
        assert_eq!(cache.entries(), 4);
        assert!(
            matches!(cache.lookup("q1", 0, 10, 0), Lookup::Miss),
            "q1 was the least recently used"
        );
        assert!(matches!(cache.lookup("q0", 0, 10, 0), Lookup::Covered(_)));
        assert_eq!(cache.counters.evictions.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn slicing_and_appending_keep_points_ordered_and_drop_empty_series() {
        let a = series("a", &[(10, 1.0), (20, 2.0), (30, 3.0)]);
        let b = series("b", &[(10, 5.0)]);
        let sliced = slice(&[a.clone(), b], 20, 30);
        assert_eq!(sliced, vec![series("a", &[(20, 2.0), (30, 3.0)])]);
        let joined = append_later(
            sliced,
            vec![series("c", &[(40, 9.0)]), series("a", &[(40, 4.0)])],
        );
        assert_eq!(
            joined,
            vec![
                series("a", &[(20, 2.0), (30, 3.0), (40, 4.0)]),
                series("c", &[(40, 9.0)])
            ]
        );
    }

    #[test]
    fn annotations_are_kept_with_the_points_and_joined_without_repeats() {
        let cache = RangeCache::new(1 << 20);
        let infos = Annotations { warnings: Vec::new(), infos: vec!["PromQL info: not monotonic".into()] };
        cache.store("h", 10, 0, 0..=100, vec![series("h", &[(0, 1.0)])], infos.clone());
        let Lookup::Covered(entry) = cache.lookup("h", 50, 10, 0) else { panic!("covered") };
        assert_eq!(entry.annotations, infos);
        let mut joined = entry.annotations.clone();
        joined.extend(&Annotations { warnings: vec!["w".into()], infos: infos.infos.clone() });
        assert_eq!(joined.infos.len(), 1);
        assert_eq!(joined.warnings, vec!["w".to_string()]);
    }

    #[test]
    fn range_dependent_queries_are_not_cached() {
        assert!(cacheable_query("sum(rate(x[5m]))"));
        assert!(!cacheable_query("x @ start()"));
        assert!(!cacheable_query("x @ end ( )"));
        assert!(!cacheable_query("rate(x[range()])"));
        assert!(!cacheable_query("x @ 1700000000"), "a fixed time may be after the step");
        assert!(!cacheable_query("x OFFSET - 5m"), "a negative offset reads ahead");
        assert!(cacheable_query("x offset 5m"));
        // Through WITH templates too, and MetricsQL's functions that read other steps.
        assert!(!cacheable_query("WITH (o = -5m) x offset o"));
        assert!(!cacheable_query("WITH (t = 1700000000) x @ t"));
        assert!(!cacheable_query("rate(x[5m] offset (1h - 2h))"), "a duration expression's sign is not known yet");
        assert!(!cacheable_query("max_over_time(x[1h:1m] offset -1m)"));
        assert!(!cacheable_query("x smoothed"), "interpolates towards the next sample");
        for parsed in ["rate(x[5m] offset (1h - 2h))", "max_over_time(x[1h:1m] offset -1m)", "x smoothed", "WITH (o = -5m) x offset o"] {
            assert!(promql::parse(parsed).is_ok(), "{parsed} is refused for what it reads, not as a parse error");
        }
        assert!(cacheable_query("WITH (w = 5m) rate(x[w])"));
        assert!(!cacheable_query("running_sum(x)"));
        assert!(!cacheable_query("sum(keep_last_value(x)) by (job)"));
        assert!(!cacheable_query("topk_avg(2, x)"));
        assert!(cacheable_query("median(x)"));
        assert!(!cacheable_query("x default 0"), "fills gaps seen over the whole range");
        assert!(cacheable_query("x if y"));
        assert!(!cacheable_query("x - now()"), "now() is the evaluation's time");
        assert!(!cacheable_query("limit_offset(1, 0, x)"));
        assert!(!cacheable_query("sum("), "one that does not parse");
        assert_eq!(last_step_at_or_before(100, 15, 160), 160);
        assert_eq!(last_step_at_or_before(100, 15, 159), 145);
        assert_eq!(last_step_at_or_before(100, 15, 90), 85);
    }
}
