//! Stream aggregation (VictoriaMetrics' `-streamAggr.config`): samples of the series an
//! aggregation's `match` selects are summed up in memory per output series over `interval`,
//! and at each interval's end the aggregates are stored as new series
//! (`<name>:<interval>[_by_…][_without_…]_<output>`); the matched inputs are not stored
//! unless `keep_input`. The shard router feeds every write here right after
//! `relabel_configs` (`push`); one flusher per aggregation, on executor 0 (`flusher`),
//! writes the aggregates back through the router, past relabeling and aggregation.
//!
//! Unlike the rest of the server, this state is shared by every executor behind locks
//! (`Arc`, and per aggregation `SHARDS` mutexes keyed by the output series' hash): an
//! output series sums inputs that arrive on any core, so one owner would cost every matched
//! write a cross-core message and a wait; a lock that is rarely contended costs less. Writes
//! that match no aggregation touch no lock, and with no aggregation configured the router
//! pays one branch. One flusher (rather than one per executor) writes each output series
//! once per interval, at one timestamp, as VictoriaMetrics does. A reload
//! (`crate::write_rules`) makes a new set with `StreamAggregators::replacing`, which keeps
//! the aggregations whose item did not change.

pub mod config;
pub mod flusher;
mod histograms;
pub mod metrics;
pub mod outputs;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tsdb::{BatchSeries, Labels, Sample, SeriesBatch, SeriesSamples};

pub use config::{AggregationConfig, Compiled, StreamAggregationSection};
pub use metrics::Counters;
use outputs::{OutputState, PushContext};

/// Locks per aggregation; an output series' state lives under lock `hash % SHARDS`.
const SHARDS: usize = 16;

/// Milliseconds from Go's zero time (year 1) to the Unix epoch: VictoriaMetrics aligns
/// flushes with `time.Truncate`, which counts from there.
const GO_ZERO_TO_UNIX_MS: i64 = 62_135_596_800_000;

/// Every configured aggregation, with its state.
#[derive(Debug)]
pub struct StreamAggregators {
    /// Shared with the sets a reload makes while their items stay unchanged.
    aggregators: Vec<Arc<Aggregator>>,
    keep_input: bool,
    drop_input: bool,
    /// The totals over every aggregation, shared by the sets reloads make.
    pub counters: Arc<Counters>,
}

/// What a reload made of the aggregations in force (`StreamAggregators::replacing`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replaced {
    /// Aggregations whose item was unchanged: their state goes on.
    pub kept: usize,
    /// New or changed items: they start empty.
    pub started: usize,
    /// Aggregations in force no item matches any more: their flusher stops them.
    pub stopped: usize,
}

/// One aggregation's settings and the state of its output series.
#[derive(Debug)]
pub struct Aggregator {
    pub config: Compiled,
    /// This aggregation's own counters (its `vm_streamaggr_*` series).
    pub counters: Counters,
    /// The totals, counted together with `counters`.
    totals: Arc<Counters>,
    shards: Vec<Mutex<HashMap<Box<[u8]>, Entry>>>,
    /// Samples older than this are ignored with `ignore_old_samples`: the last flush's time.
    min_deadline_ms: AtomicI64,
    /// Before this time (whole seconds), a new counter's first value is not counted.
    first_sample_counts_from_ms: i64,
    /// With `dedup_interval`: the last sample of each (output key, input key) since the last
    /// de-duplication tick, under the same lock index as its output series.
    dedup: Option<Vec<Mutex<DedupShard>>>,
}

/// De-duplicated samples by (output key, input key).
type DedupShard = HashMap<(Box<[u8]>, Box<[u8]>), DedupSample>;

/// The sample de-duplication keeps of one input series.
#[derive(Debug)]
struct DedupSample {
    labels: LabelPairs,
    timestamp_ms: i64,
    value: f64,
}

/// The state of one output series.
#[derive(Debug)]
struct Entry {
    /// The output series' labels before naming (the input name, the `by` labels or all but
    /// the `without` ones), sorted.
    labels: Vec<(String, String)>,
    outputs: Vec<OutputState>,
    /// A flush after this time forgets the entry (no sample for `staleness_interval`).
    delete_deadline_ms: i64,
}

/// Owned `(name, value)` label pairs.
type LabelPairs = Vec<(String, String)>;

/// One aggregated sample to write: labels (named, relabeled, sorted) and value.
pub type OutputSample = (Vec<(String, String)>, f64);

impl StreamAggregators {
    /// The aggregations of `section`, compiled, their state empty as of `now_ms`; None
    /// when there is none.
    pub fn new(section: &StreamAggregationSection, compiled: Vec<Compiled>, now_ms: i64) -> Option<StreamAggregators> {
        StreamAggregators::replacing(None, section, compiled, now_ms, Arc::default()).0
    }

    /// The aggregations of `section` as a reload puts them in place of `previous`'s (as
    /// VictoriaMetrics compares an item's configuration): an item equal to one of
    /// `previous`'s (each taken once, in order) keeps that aggregation with its state and
    /// counters; the others start empty as of `now_ms`, counting into `totals`. None when
    /// there is none.
    pub fn replacing(previous: Option<&StreamAggregators>, section: &StreamAggregationSection, compiled: Vec<Compiled>, now_ms: i64, totals: Arc<Counters>) -> (Option<StreamAggregators>, Replaced) {
        let mut unclaimed: Vec<Option<&Arc<Aggregator>>> = previous.map(|p| p.aggregators.iter().map(Some).collect()).unwrap_or_default();
        let mut replaced = Replaced::default();
        let mut aggregators = Vec::with_capacity(compiled.len());
        for config in compiled {
            let same = unclaimed.iter_mut().find(|slot| slot.is_some_and(|old| old.config.item == config.item)).and_then(Option::take);
            match same {
                Some(old) => {
                    replaced.kept += 1;
                    aggregators.push(old.clone());
                }
                None => {
                    replaced.started += 1;
                    aggregators.push(Arc::new(Aggregator::new(config, now_ms, totals.clone())));
                }
            }
        }
        replaced.stopped = unclaimed.iter().flatten().count();
        if aggregators.is_empty() {
            return (None, replaced);
        }
        (Some(StreamAggregators { aggregators, keep_input: section.keep_input, drop_input: section.drop_input, counters: totals }), replaced)
    }

    pub fn aggregators(&self) -> &[Arc<Aggregator>] {
        &self.aggregators
    }

    /// Feeds `batch` to every aggregation whose `match` selects its series, and gives what
    /// is to be stored: all of it with `keep_input`, nothing with `drop_input`, else the
    /// series no aggregation matched.
    pub fn push(&self, batch: SeriesBatch, now_ms: i64) -> SeriesBatch {
        let mut matched: Vec<bool> = Vec::new();
        let mut counts = vec![PushCounts::default(); self.aggregators.len()];
        for (index, series) in batch.iter().enumerate() {
            for (aggregator, counts) in self.aggregators.iter().zip(counts.iter_mut()) {
                if aggregator.matches(&series) {
                    if matched.is_empty() {
                        matched = vec![false; batch.len()];
                    }
                    matched[index] = true;
                    aggregator.push_series(&series, now_ms, counts);
                }
            }
        }
        for (aggregator, counts) in self.aggregators.iter().zip(&counts) {
            aggregator.count_pushed(counts);
        }
        if self.keep_input {
            return batch;
        }
        let samples_of = |series: &BatchSeries<'_>| (series.samples().len() + series.histograms().len()) as u64;
        if self.drop_input {
            let dropped: u64 = batch.iter().map(|s| samples_of(&s)).sum();
            self.counters.input_samples_dropped.fetch_add(dropped, Ordering::Relaxed);
            return SeriesBatch::from_series(&[]);
        }
        if matched.is_empty() {
            return batch;
        }
        let mut index = 0;
        let mut dropped = 0;
        let kept = batch.relabeled(|series, sink| {
            let keep = !matched[index];
            index += 1;
            if keep {
                for (name, value) in series.label_pairs() {
                    sink.push(name, value);
                }
            } else {
                dropped += samples_of(&series);
            }
            keep
        });
        self.counters.input_samples_dropped.fetch_add(dropped, Ordering::Relaxed);
        kept
    }
}

impl Aggregator {
    fn new(config: Compiled, now_ms: i64, totals: Arc<Counters>) -> Aggregator {
        let now_s_ms = now_ms / 1000 * 1000;
        let min_deadline_ms = first_flush_window_start_ms(now_ms, config.interval_ms, config.align_flush_to_interval);
        Aggregator {
            counters: Counters::default(),
            totals,
            first_sample_counts_from_ms: now_s_ms + config.ignore_first_sample_interval_ms / 1000 * 1000,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            min_deadline_ms: AtomicI64::new(min_deadline_ms),
            dedup: (config.dedup_interval_ms > 0).then(|| (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect()),
            config,
        }
    }

    fn matches(&self, series: &BatchSeries<'_>) -> bool {
        let alternatives = &self.config.match_alternatives;
        alternatives.is_empty()
            || alternatives.iter().any(|matchers| {
                matchers.iter().all(|m| {
                    let value = series.label_pairs().find(|(name, _)| *name == m.name.as_bytes()).map_or(&b""[..], |(_, v)| v);
                    m.matches(std::str::from_utf8(value).unwrap_or_default())
                })
            })
    }

    /// Adds `n` to this aggregation's counter `field` picks and to the totals' one.
    pub fn count(&self, field: CounterField, n: u64) {
        self.counters.add(field, n);
        self.totals.add(field, n);
    }

    /// Output series held in the state now.
    pub fn state_series(&self) -> usize {
        self.shards.iter().map(|shard| shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()).sum()
    }

    /// Input series whose sample de-duplication holds until its next tick.
    pub fn dedup_items(&self) -> usize {
        let Some(dedup) = &self.dedup else { return 0 };
        dedup.iter().map(|shard| shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()).sum()
    }

    /// Adds the float samples of one matched series to its output series' state, counting
    /// into `counts` (added to the shared counters once per batch). Without
    /// `input_relabel_configs` the labels are read as the batch holds them; text is made only
    /// for an output series new to the state.
    fn push_series(&self, series: &BatchSeries<'_>, now_ms: i64, counts: &mut PushCounts) {
        let config = &self.config;
        let relabeled: Option<LabelPairs> = match &config.input_relabeling {
            Some(relabeling) => {
                let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
                let mut labels: LabelPairs = series
                    .label_pairs()
                    .filter(|(name, _)| !config.drop_input_labels.iter().any(|d| d.as_bytes() == *name))
                    .map(|(name, value)| (text(name), text(value)))
                    .collect();
                if !relabeling.apply(&mut labels) || labels.is_empty() {
                    return;
                }
                Some(labels)
            }
            None => None,
        };
        let mut labels: Vec<(&[u8], &[u8])> = match &relabeled {
            Some(labels) => labels.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())).collect(),
            None => series.label_pairs().filter(|(name, _)| !config.drop_input_labels.iter().any(|d| d.as_bytes() == *name)).collect(),
        };
        labels.sort_unstable();
        let (input, output): (LabelSlices<'_>, LabelSlices<'_>) = if config.aggregates_only_by_time() {
            (Vec::new(), labels)
        } else if !config.without.is_empty() {
            labels.into_iter().partition(|(name, _)| config.without.iter().any(|w| w.as_bytes() == *name))
        } else {
            labels.into_iter().partition(|(name, _)| !config.by.iter().any(|b| b.as_bytes() == *name))
        };
        let min_deadline_ms = self.min_deadline_ms.load(Ordering::Relaxed);
        let too_old = |s: &Sample| config.ignore_old_samples && s.timestamp_ms < min_deadline_ms;
        let (mut nan, mut old) = (0, 0);
        for sample in series.samples() {
            if sample.value.is_nan() {
                nan += 1;
            } else if too_old(sample) {
                old += 1;
            }
        }
        counts.nan += nan;
        counts.old += old;
        let taken = series.samples().len() as u64 - nan - old;
        if taken == 0 {
            return;
        }
        counts.aggregated += taken;
        let samples = series.samples().iter().filter(|s| !s.value.is_nan() && !too_old(s));
        let cx = PushContext {
            now_ms,
            delete_deadline_ms: now_ms + config.staleness_interval_ms,
            first_sample_counts: now_ms / 1000 * 1000 >= self.first_sample_counts_from_ms,
        };
        let input_key = encode_key(&input);
        let output_key = encode_key(&output);
        let output_labels = || -> LabelPairs { output.iter().map(|(n, v)| (String::from_utf8_lossy(n).into_owned(), String::from_utf8_lossy(v).into_owned())).collect() };
        let shard = shard_of(&output_key);
        if let Some(dedup) = &self.dedup {
            // De-duplicated first: the last sample per input series, added at the next tick.
            let mut kept = dedup[shard].lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let slot = kept.entry((output_key.into_boxed_slice(), input_key.into_boxed_slice())).or_insert_with(|| DedupSample { labels: output_labels(), timestamp_ms: i64::MIN, value: 0.0 });
            for sample in samples {
                if slot.timestamp_ms != i64::MIN {
                    counts.deduplicated += 1;
                }
                // The later sample wins; of two at one time the greater value.
                if sample.timestamp_ms > slot.timestamp_ms || (sample.timestamp_ms == slot.timestamp_ms && sample.value > slot.value) {
                    (slot.timestamp_ms, slot.value) = (sample.timestamp_ms, sample.value);
                }
            }
            return;
        }
        let mut entries = self.shards[shard].lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let samples = samples.map(|s| (s.timestamp_ms, s.value));
        add_to_entry(config, &mut entries, output_key.into_boxed_slice(), output_labels, &input_key, samples, cx);
    }

    /// Adds a batch's `counts` to this aggregation's counters and the totals.
    fn count_pushed(&self, counts: &PushCounts) {
        for (field, n) in [
            ((|c| &c.samples_ignored_nan) as CounterField, counts.nan),
            (|c| &c.samples_ignored_old, counts.old),
            (|c| &c.samples_aggregated, counts.aggregated),
            (|c| &c.samples_deduplicated, counts.deduplicated),
        ] {
            self.count(field, n);
        }
    }

    /// De-duplication's tick (`dedup_interval`): each input series' kept sample goes to the
    /// aggregation, its output series' state kept until `dedup_ms` + `staleness_interval`.
    pub fn flush_dedup(&self, dedup_ms: i64, now_ms: i64) {
        let Some(dedup) = &self.dedup else { return };
        let config = &self.config;
        let cx = PushContext {
            now_ms,
            delete_deadline_ms: dedup_ms + config.staleness_interval_ms,
            first_sample_counts: now_ms / 1000 * 1000 >= self.first_sample_counts_from_ms,
        };
        for (kept, entries) in dedup.iter().zip(&self.shards) {
            let taken = std::mem::take(&mut *kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
            if taken.is_empty() {
                continue;
            }
            let mut entries = entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for ((output_key, input_key), sample) in taken {
                add_to_entry(config, &mut entries, output_key, || sample.labels, &input_key, std::iter::once((sample.timestamp_ms, sample.value)), cx);
            }
        }
    }

    /// The aggregated samples of the interval ending at `flush_ms`, named and relabeled,
    /// the state reset for the next one (VictoriaMetrics' flush). Output series without a
    /// sample for `staleness_interval` are forgotten, and with `last` all of them.
    pub fn flush(&self, flush_ms: i64, last: bool) -> Vec<OutputSample> {
        let config = &self.config;
        let mut written = Vec::new();
        let mut values = Vec::new();
        for shard in &self.shards {
            let mut entries = shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            entries.retain(|_, entry| {
                if flush_ms > entry.delete_deadline_ms {
                    return false;
                }
                for (kind, state) in config.outputs.iter().zip(entry.outputs.iter_mut()) {
                    values.clear();
                    state.flush(kind, flush_ms, last, &mut values);
                    for (extra, value) in values.drain(..) {
                        let mut labels = entry.labels.clone();
                        if !config.keep_metric_names {
                            let suffix = format!("{}{}", config.name_suffix, kind.suffix());
                            match labels.iter_mut().find(|(name, _)| name == "__name__") {
                                Some((_, name)) => name.push_str(&suffix),
                                None => labels.push(("__name__".to_string(), suffix)),
                            }
                        }
                        if let Some((name, value)) = extra {
                            labels.retain(|(n, _)| n != name);
                            labels.push((name.to_string(), value));
                        }
                        written.push((labels, value));
                    }
                }
                !last
            });
        }
        if let Some(relabeling) = &config.output_relabeling {
            written.retain_mut(|(labels, _)| relabeling.apply(labels) && !labels.is_empty());
        }
        for (labels, _) in &mut written {
            labels.sort();
        }
        written
    }

    /// From when samples count for the first flush (the start of its window) until the first
    /// flush; then the last flush's time.
    pub fn set_min_deadline_ms(&self, ms: i64) {
        self.min_deadline_ms.store(ms, Ordering::Relaxed);
    }
}

/// Adds samples of the input series `input_key` to the output series `output_key`, whose
/// state starts with `labels()` if it has none yet.
fn add_to_entry(config: &Compiled, entries: &mut HashMap<Box<[u8]>, Entry>, output_key: Box<[u8]>, labels: impl FnOnce() -> LabelPairs, input_key: &[u8], samples: impl Iterator<Item = (i64, f64)>, cx: PushContext) {
    let entry = entries.entry(output_key).or_insert_with(|| Entry { labels: labels(), outputs: config.outputs.iter().map(|kind| kind.new_state()).collect(), delete_deadline_ms: 0 });
    for (timestamp_ms, value) in samples {
        for (kind, state) in config.outputs.iter().zip(entry.outputs.iter_mut()) {
            state.push(kind, input_key, timestamp_ms, value, cx);
        }
    }
    entry.delete_deadline_ms = cx.delete_deadline_ms;
}

/// The lock an output series' state (and its de-duplicated inputs) lives under.
fn shard_of(output_key: &[u8]) -> usize {
    (tsdb::model::stable_hash_of(std::iter::once((output_key, &b""[..]))) % SHARDS as u64) as usize
}

/// Where the first flush window starts: `now_ms` rounded up to a multiple of `interval_ms`
/// (counted from Go's zero time, as VictoriaMetrics' `Truncate`), or `now_ms` unaligned.
pub fn first_flush_window_start_ms(now_ms: i64, interval_ms: i64, align: bool) -> i64 {
    if !align {
        return now_ms;
    }
    let past = (now_ms + GO_ZERO_TO_UNIX_MS).rem_euclid(interval_ms);
    if past == 0 { now_ms } else { now_ms - past + interval_ms }
}

/// A label list as one key: name, 0xff, value, 0xfe, … (bytes that UTF-8 never holds).
fn encode_key(labels: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut key = Vec::with_capacity(labels.iter().map(|(n, v)| n.len() + v.len() + 2).sum());
    for (name, value) in labels {
        key.extend_from_slice(name);
        key.push(0xff);
        key.extend_from_slice(value);
        key.push(0xfe);
    }
    key
}

/// Label pairs as a batch holds them.
type LabelSlices<'a> = Vec<(&'a [u8], &'a [u8])>;

/// A counter of `Counters`, picked.
pub(crate) type CounterField = fn(&Counters) -> &AtomicU64;

/// What one batch did to an aggregation, counted once into its counters.
#[derive(Debug, Default, Clone, Copy)]
struct PushCounts {
    nan: u64,
    old: u64,
    aggregated: u64,
    deduplicated: u64,
}

/// The batch of aggregated samples, each at `timestamp_ms`.
pub fn batch_of(samples: &[OutputSample], timestamp_ms: i64) -> SeriesBatch {
    let series: Vec<SeriesSamples> = samples
        .iter()
        .map(|(labels, value)| SeriesSamples {
            labels: Labels::from_pairs(labels.iter().map(|(n, v)| (n.as_str(), v.as_str()))),
            samples: vec![Sample { timestamp_ms, value: *value }],
            histograms: Vec::new(),
            starts: None,
        })
        .collect();
    SeriesBatch::from_series(&series)
}

#[cfg(test)]
mod tests;
