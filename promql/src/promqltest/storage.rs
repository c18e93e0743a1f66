//! The series a script loaded, read back as Prometheus' TSDB hands them to its engine in the
//! test harness: in particular with the counter reset hints its histogram chunks give, and with
//! the samples' start times.

use tsdb::{CounterResetHint, FloatHistogram, HistogramSample, Matcher, Querier, Sample, SampleStarts, SeriesSamples};

use crate::engine::native_histogram::detect_reset;

/// Loaded series; `Querier` answers from them.
#[derive(Debug, Default)]
pub struct ScriptStorage {
    series: Vec<Stored>,
}

#[derive(Debug)]
struct Stored {
    /// As loaded (hints as written in the script).
    loaded: SeriesSamples,
    /// As read back: histogram hints as the TSDB's chunks report them.
    read: SeriesSamples,
}

impl ScriptStorage {
    pub fn clear(&mut self) {
        self.series.clear();
    }

    /// Adds a loaded series; samples of a series loaded before merge in, a later load of the
    /// same timestamp winning (over a float or a histogram), with its start time.
    pub fn load(&mut self, new: SeriesSamples) {
        let at = match self.series.iter().position(|s| s.loaded.labels == new.labels) {
            Some(at) => {
                merge_into(&mut self.series[at].loaded, new);
                at
            }
            None => {
                let read = new.clone();
                self.series.push(Stored { loaded: new, read });
                self.series.len() - 1
            }
        };
        let stored = &mut self.series[at];
        let loaded = &stored.loaded;
        let histograms = hints_as_read(&loaded.samples, &loaded.histograms);
        stored.read = SeriesSamples { labels: loaded.labels.clone(), samples: loaded.samples.clone(), histograms, starts: loaded.starts.clone() };
    }

    /// Whether a select would read any native histogram sample.
    pub fn selects_histograms(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> bool {
        self.matching(matchers).any(|s| s.histograms.iter().any(|h| (mint_ms..=maxt_ms).contains(&h.timestamp_ms)))
    }

    fn matching<'a>(&'a self, matchers: &'a [Matcher]) -> impl Iterator<Item = &'a SeriesSamples> {
        self.series.iter().map(|s| &s.read).filter(|s| matchers.iter().all(|m| m.matches(s.labels.get(&m.name).unwrap_or(""))))
    }
}

impl Querier for ScriptStorage {
    fn select(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<SeriesSamples> {
        self.matching(matchers)
            .filter_map(|s| {
                // Both lists are ordered by time: the range is one run of each.
                let floats = s.samples.partition_point(|p| p.timestamp_ms < mint_ms)..s.samples.partition_point(|p| p.timestamp_ms <= maxt_ms);
                let histograms = s.histograms.partition_point(|h| h.timestamp_ms < mint_ms)..s.histograms.partition_point(|h| h.timestamp_ms <= maxt_ms);
                let (floats, histograms) = (floats.start..floats.end.max(floats.start), histograms.start..histograms.end.max(histograms.start));
                if floats.is_empty() && histograms.is_empty() {
                    return None;
                }
                let starts = s.starts.as_ref().map(|st| Box::new(SampleStarts { floats: st.floats[floats.clone()].to_vec(), histograms: st.histograms[histograms.clone()].to_vec() }));
                Some(SeriesSamples { labels: s.labels.clone(), samples: s.samples[floats].to_vec(), histograms: s.histograms[histograms].to_vec(), starts })
            })
            .collect()
    }
}

/// Merges `new` into the series `old` loaded before: a timestamp in `new` replaces `old`'s sample
/// there (float or histogram) with its start time; a series with start times on either side
/// keeps them (0 for the samples that came without).
fn merge_into(old: &mut SeriesSamples, new: SeriesSamples) {
    let replaced = |t: i64| new.samples.iter().any(|s| s.timestamp_ms == t) || new.histograms.iter().any(|h| h.timestamp_ms == t);
    let keeps_starts = old.starts.is_some() || new.starts.is_some();
    let (old_starts, new_starts) = (old.starts.take().map(|b| *b).unwrap_or_default(), new.starts.map(|b| *b).unwrap_or_default());
    let start = |starts: &[i64], i: usize| starts.get(i).copied().unwrap_or(0);
    let mut floats: Vec<(Sample, i64)> = old.samples.iter().enumerate().filter(|(_, p)| !replaced(p.timestamp_ms)).map(|(i, p)| (*p, start(&old_starts.floats, i))).collect();
    floats.extend(new.samples.iter().enumerate().map(|(i, p)| (*p, start(&new_starts.floats, i))));
    floats.sort_by_key(|(p, _)| p.timestamp_ms);
    let mut histograms: Vec<(HistogramSample, i64)> =
        old.histograms.iter().enumerate().filter(|(_, h)| !replaced(h.timestamp_ms)).map(|(i, h)| (h.clone(), start(&old_starts.histograms, i))).collect();
    histograms.extend(new.histograms.into_iter().enumerate().map(|(i, h)| (h, start(&new_starts.histograms, i))));
    histograms.sort_by_key(|(h, _)| h.timestamp_ms);
    let starts = SampleStarts { floats: floats.iter().map(|(_, s)| *s).collect(), histograms: histograms.iter().map(|(_, s)| *s).collect() };
    old.samples = floats.into_iter().map(|(p, _)| p).collect();
    old.histograms = histograms.into_iter().map(|(h, _)| h).collect();
    old.starts = keeps_starts.then(|| Box::new(starts));
}

/// The histograms of a series with the hints Prometheus' head chunks report: a gauge histogram is
/// always a gauge (gauges get chunks of their own); any other is "not a reset" when it continued
/// the chunk of the histogram before it, otherwise (first of a chunk) unknown. A histogram starts
/// a chunk after a float (or stale marker), after a gauge, when marked as a reset, or when it
/// cannot continue the previous one: another schema, zero bucket or custom bounds, or lower
/// counts. Chunks cut for size or at block boundaries are not modelled.
fn hints_as_read(samples: &[Sample], histograms: &[HistogramSample]) -> Vec<HistogramSample> {
    let mut out = Vec::with_capacity(histograms.len());
    let mut floats = samples.iter().map(|s| s.timestamp_ms).peekable();
    let mut previous: Option<&FloatHistogram> = None;
    for h in histograms {
        let mut float_between = false;
        while floats.peek().is_some_and(|&t| t < h.timestamp_ms) {
            floats.next();
            float_between = true;
        }
        let current = &*h.histogram;
        let continues = !float_between && previous.is_some_and(|p| continues_counter_chunk(p, current));
        let hint = match current.counter_reset_hint {
            CounterResetHint::Gauge => CounterResetHint::Gauge,
            _ if continues => CounterResetHint::NotCounterReset,
            _ => CounterResetHint::Unknown,
        };
        let histogram = if hint == current.counter_reset_hint { h.histogram.clone() } else { std::sync::Arc::new(FloatHistogram { counter_reset_hint: hint, ..current.clone() }) };
        out.push(HistogramSample { timestamp_ms: h.timestamp_ms, histogram });
        previous = Some(current);
    }
    out
}

/// Whether counter histogram `current` can be appended to the chunk whose last histogram is
/// `previous` (Prometheus' `appendable`).
fn continues_counter_chunk(previous: &FloatHistogram, current: &FloatHistogram) -> bool {
    let unhinted = |h: &FloatHistogram| FloatHistogram { counter_reset_hint: CounterResetHint::Unknown, ..h.clone() };
    previous.counter_reset_hint != CounterResetHint::Gauge
        && current.counter_reset_hint != CounterResetHint::CounterReset
        && current.schema == previous.schema
        && current.zero_threshold == previous.zero_threshold
        && (!current.uses_custom_buckets() || current.custom_values == previous.custom_values)
        && !detect_reset(&unhinted(previous), &unhinted(current))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promqltest::notation::{parse_sequence, SeqValue};
    use std::sync::Arc;

    /// The hints read back of a series in notation (floats and histograms).
    fn read_hints(notation: &str) -> Vec<CounterResetHint> {
        let mut samples = Vec::new();
        let mut histograms = Vec::new();
        for (i, v) in parse_sequence(notation).unwrap().into_iter().enumerate() {
            match v {
                SeqValue::Float(value) => samples.push(Sample { timestamp_ms: i as i64, value }),
                SeqValue::Histogram { histogram, .. } => histograms.push(HistogramSample { timestamp_ms: i as i64, histogram }),
                SeqValue::Omitted => {}
            }
        }
        hints_as_read(&samples, &histograms).iter().map(|h| h.histogram.counter_reset_hint).collect()
    }

    #[test]
    fn chunk_hints() {
        use CounterResetHint::*;
        // (series, hints read back).
        let cases: &[(&str, &[CounterResetHint])] = &[
            ("{{count:0}}+{{count:1}}x2", &[Unknown, NotCounterReset, NotCounterReset]),
            ("{{count:5 buckets:[5]}} {{count:3 buckets:[3]}} {{count:4 buckets:[4]}}", &[Unknown, Unknown, NotCounterReset]),
            ("{{count:5 buckets:[5]}} {{count:6 buckets:[1] offset:1}}", &[Unknown, Unknown]),
            ("{{count:1}} {{count:2 counter_reset_hint:reset}} {{count:3 counter_reset_hint:not_reset}}", &[Unknown, Unknown, NotCounterReset]),
            ("{{count:3}} {{count:2 counter_reset_hint:not_reset}}", &[Unknown, Unknown]),
            ("{{count:1}} {{count:2 counter_reset_hint:gauge}} {{count:1 counter_reset_hint:gauge}} {{count:3}}", &[Unknown, Gauge, Gauge, Unknown]),
            ("{{count:1}} 5 {{count:2}} stale {{count:3}}", &[Unknown, Unknown, Unknown]),
            ("{{schema:0 count:1}} {{schema:1 count:2}} {{schema:1 count:3 z_bucket_w:0.5}}", &[Unknown, Unknown, Unknown]),
            ("{{schema:-53 count:1 custom_values:[1]}} {{schema:-53 count:2 custom_values:[2]}}", &[Unknown, Unknown]),
        ];
        for (notation, want) in cases {
            assert_eq!(read_hints(notation), *want, "{notation}");
        }
    }

    #[test]
    fn start_times_follow_their_samples_through_loads_and_selects() {
        let labels = crate::promqltest::script::parse_series_notation("m").expect("labels").0;
        let float = |t: i64| Sample { timestamp_ms: t, value: t as f64 };
        let histogram = HistogramSample { timestamp_ms: 30, histogram: Arc::new(FloatHistogram::default()) };
        let mut storage = ScriptStorage::default();
        let starts = |floats: Vec<i64>, histograms: Vec<i64>| Some(Box::new(SampleStarts { floats, histograms }));
        storage.load(SeriesSamples { labels: labels.clone(), samples: vec![float(10), float(20)], histograms: vec![histogram], starts: starts(vec![5, 15], vec![25]) });
        // A later load without start times replaces the sample at 20 and adds one at 40.
        storage.load(SeriesSamples { labels, samples: vec![float(20), float(40)], histograms: Vec::new(), starts: None });
        let matchers = [Matcher::new(tsdb::MatchOp::Equal, "__name__", "m").expect("an equality matcher")];
        let got = storage.select(&matchers, 15, 40);
        assert_eq!(got[0].samples.iter().map(|s| s.timestamp_ms).collect::<Vec<_>>(), vec![20, 40]);
        assert_eq!(got[0].starts, starts(vec![0, 0], vec![25]));
        assert_eq!(storage.select(&matchers, 0, 10)[0].starts, starts(vec![5], Vec::new()));
    }

    #[test]
    fn selects_read_both_kinds_and_later_loads_win() {
        let labels = |name: &str| crate::promqltest::script::parse_series_notation(name).expect("labels").0;
        let histogram = |count: f64| HistogramSample { timestamp_ms: 0, histogram: Arc::new(FloatHistogram { count, ..FloatHistogram::default() }) };
        let mut storage = ScriptStorage::default();
        storage.load(SeriesSamples { labels: labels("m"), samples: vec![Sample { timestamp_ms: 60_000, value: 1.0 }], histograms: vec![histogram(1.0)], starts: None });
        storage.load(SeriesSamples { labels: labels("m"), samples: vec![Sample { timestamp_ms: 0, value: 2.0 }], histograms: Vec::new(), starts: None });
        let matchers = [Matcher::new(tsdb::MatchOp::Equal, "__name__", "m").expect("an equality matcher")];
        let got = storage.select(&matchers, 0, 60_000);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].samples.iter().map(|s| (s.timestamp_ms, s.value)).collect::<Vec<_>>(), vec![(0, 2.0), (60_000, 1.0)], "the float replaced the histogram at 0");
        assert!(got[0].histograms.is_empty());
        assert!(!storage.selects_histograms(&matchers, 0, 60_000));
        storage.load(SeriesSamples { labels: labels("m"), samples: Vec::new(), histograms: vec![HistogramSample { timestamp_ms: 120_000, ..histogram(3.0) }], starts: None });
        assert!(storage.selects_histograms(&matchers, 100_000, 200_000));
        assert!(!storage.selects_histograms(&matchers, 0, 100_000));
        storage.clear();
        assert!(storage.select(&matchers, 0, 200_000).is_empty());
    }
}
