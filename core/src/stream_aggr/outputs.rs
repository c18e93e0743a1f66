//! The outputs of an aggregation and the state each keeps per output series, computed as
//! VictoriaMetrics' `lib/streamaggr` computes them: what a sample adds (`push`) and what a
//! flush writes and keeps (`flush`). Times are passed in, so tests need no clock.

use std::collections::{HashMap, HashSet};

use promql::vm_buckets::VmHistogram;

use super::histograms::Reservoir;

/// A float's magnitude from which totals restart at 0, as VictoriaMetrics does: past 2^53
/// they would lose precision.
const TOTAL_MAGNITUDE_MAX: f64 = (1u64 << 53) as f64;

/// One output function of an aggregation.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputKind {
    /// `total` (`keep_first_sample`) and `total_prometheus`.
    Total { keep_first_sample: bool },
    /// `increase` (`keep_first_sample`) and `increase_prometheus`.
    Increase { keep_first_sample: bool },
    CountSeries,
    CountSamples,
    UniqueSamples,
    SumSamples,
    SumSamplesTotal,
    Last,
    Min,
    Max,
    Avg,
    Stddev,
    Stdvar,
    HistogramBucket,
    Quantiles(Vec<f64>),
    RateSum,
    RateAvg,
}

impl OutputKind {
    pub const SUPPORTED: &'static str = "avg, count_samples, count_series, histogram_bucket, increase, increase_prometheus, last, max, min, quantiles(phi1, ..., phiN), rate_avg, rate_sum, stddev, stdvar, sum_samples, sum_samples_total, total, total_prometheus, unique_samples";

    pub fn parse(text: &str) -> Result<OutputKind, String> {
        if let Some(args) = text.strip_prefix("quantiles(") {
            let args = args.strip_suffix(')').ok_or_else(|| "quantiles( without its closing )".to_string())?;
            if args.is_empty() {
                return Err("quantiles() needs at least one phi".to_string());
            }
            let phis = args
                .split(',')
                .map(|arg| {
                    let arg = arg.trim();
                    let phi: f64 = arg.parse().map_err(|_| format!("cannot parse phi {arg:?} of quantiles({args})"))?;
                    if !(0.0..=1.0).contains(&phi) {
                        return Err(format!("phi {phi} of quantiles({args}) is outside [0..1]"));
                    }
                    Ok(phi)
                })
                .collect::<Result<Vec<f64>, String>>()?;
            return Ok(OutputKind::Quantiles(phis));
        }
        Ok(match text {
            "total" => OutputKind::Total { keep_first_sample: true },
            "total_prometheus" => OutputKind::Total { keep_first_sample: false },
            "increase" => OutputKind::Increase { keep_first_sample: true },
            "increase_prometheus" => OutputKind::Increase { keep_first_sample: false },
            "count_series" => OutputKind::CountSeries,
            "count_samples" => OutputKind::CountSamples,
            "unique_samples" => OutputKind::UniqueSamples,
            "sum_samples" => OutputKind::SumSamples,
            "sum_samples_total" => OutputKind::SumSamplesTotal,
            "last" => OutputKind::Last,
            "min" => OutputKind::Min,
            "max" => OutputKind::Max,
            "avg" => OutputKind::Avg,
            "stddev" => OutputKind::Stddev,
            "stdvar" => OutputKind::Stdvar,
            "histogram_bucket" => OutputKind::HistogramBucket,
            "rate_sum" => OutputKind::RateSum,
            "rate_avg" => OutputKind::RateAvg,
            _ => return Err(format!("unsupported output {text:?}; supported: {}", Self::SUPPORTED)),
        })
    }

    /// The last part of the output series' names.
    pub fn suffix(&self) -> &'static str {
        match self {
            OutputKind::Total { keep_first_sample: true } => "total",
            OutputKind::Total { keep_first_sample: false } => "total_prometheus",
            OutputKind::Increase { keep_first_sample: true } => "increase",
            OutputKind::Increase { keep_first_sample: false } => "increase_prometheus",
            OutputKind::CountSeries => "count_series",
            OutputKind::CountSamples => "count_samples",
            OutputKind::UniqueSamples => "unique_samples",
            OutputKind::SumSamples => "sum_samples",
            OutputKind::SumSamplesTotal => "sum_samples_total",
            OutputKind::Last => "last",
            OutputKind::Min => "min",
            OutputKind::Max => "max",
            OutputKind::Avg => "avg",
            OutputKind::Stddev => "stddev",
            OutputKind::Stdvar => "stdvar",
            OutputKind::HistogramBucket => "histogram_bucket",
            OutputKind::Quantiles(_) => "quantiles",
            OutputKind::RateSum => "rate_sum",
            OutputKind::RateAvg => "rate_avg",
        }
    }

    pub fn new_state(&self) -> OutputState {
        match self {
            OutputKind::Total { .. } => OutputState::Total { delta: 0.0, total: 0.0, last: HashMap::new() },
            OutputKind::Increase { .. } => OutputState::Increase { total: None, last: HashMap::new() },
            OutputKind::CountSeries => OutputState::CountSeries(HashSet::new()),
            OutputKind::CountSamples => OutputState::CountSamples(0),
            OutputKind::UniqueSamples => OutputState::UniqueSamples(HashSet::new()),
            OutputKind::SumSamples | OutputKind::SumSamplesTotal => OutputState::Sum { delta: 0.0, total: 0.0 },
            OutputKind::Last => OutputState::Last { value: 0.0, timestamp_ms: 0 },
            OutputKind::Min | OutputKind::Max => OutputState::Extreme(None),
            OutputKind::Avg => OutputState::Avg { sum: 0.0, count: 0.0 },
            OutputKind::Stddev | OutputKind::Stdvar => OutputState::Std { count: 0.0, avg: 0.0, q: 0.0 },
            OutputKind::HistogramBucket => OutputState::Histogram(VmHistogram::default()),
            OutputKind::Quantiles(_) => OutputState::Quantiles(None),
            OutputKind::RateSum | OutputKind::RateAvg => OutputState::Rate(HashMap::new()),
        }
    }
}

/// A counter's last sample of one input series (`total`, `increase`).
#[derive(Debug, Clone, Copy)]
pub struct CounterLast {
    value: f64,
    timestamp_ms: i64,
    delete_deadline_ms: i64,
}

/// One input series of `rate_*`: its last value and the samples' times in this interval.
#[derive(Debug, Clone, Copy)]
pub struct RateSeries {
    value: f64,
    delete_deadline_ms: i64,
    /// The last sample's time in an earlier interval.
    previous_timestamp_ms: i64,
    /// The increase and last sample time in this interval (0: none yet).
    increase: f64,
    timestamp_ms: i64,
}

/// What one output keeps for one output series between flushes.
#[derive(Debug, Clone)]
pub enum OutputState {
    /// `delta`: added since the last flush; `total`: written so far; by input series key.
    Total { delta: f64, total: f64, last: HashMap<Box<[u8]>, CounterLast> },
    Increase { total: Option<f64>, last: HashMap<Box<[u8]>, CounterLast> },
    /// Hashes of the input series keys seen.
    CountSeries(HashSet<u64>),
    CountSamples(u64),
    /// Bit patterns of the values seen (-0 as 0, as Go's float map keys).
    UniqueSamples(HashSet<u64>),
    Sum { delta: f64, total: f64 },
    Last { value: f64, timestamp_ms: i64 },
    Extreme(Option<f64>),
    Avg { sum: f64, count: f64 },
    Std { count: f64, avg: f64, q: f64 },
    Histogram(VmHistogram),
    Quantiles(Option<Reservoir>),
    Rate(HashMap<Box<[u8]>, RateSeries>),
}

/// Times and settings a sample is added with.
#[derive(Debug, Clone, Copy)]
pub struct PushContext {
    /// The server's clock, whole seconds (VictoriaMetrics' staleness checks read seconds).
    pub now_ms: i64,
    /// When the input series' counter state goes stale: now + `staleness_interval`.
    pub delete_deadline_ms: i64,
    /// Whether a new counter's first value counts (`total`, `increase` past
    /// `ignore_first_sample_interval` after the start).
    pub first_sample_counts: bool,
}

impl OutputState {
    /// Adds one sample (never NaN) of the input series `input_key`.
    pub fn push(&mut self, kind: &OutputKind, input_key: &[u8], timestamp_ms: i64, value: f64, cx: PushContext) {
        let now_s_ms = cx.now_ms / 1000 * 1000;
        match self {
            OutputState::Total { delta, last, .. } => {
                let keep_first = matches!(kind, OutputKind::Total { keep_first_sample: true }) && cx.first_sample_counts;
                if let Some(added) = counter_push(last, input_key, timestamp_ms, value, cx.delete_deadline_ms, now_s_ms, keep_first) {
                    *delta += added;
                }
            }
            OutputState::Increase { total, last } => {
                let keep_first = matches!(kind, OutputKind::Increase { keep_first_sample: true }) && cx.first_sample_counts;
                // The value is written at the next flush once a sample came, even one that adds 0.
                let sum = total.get_or_insert(0.0);
                if let Some(added) = counter_push(last, input_key, timestamp_ms, value, cx.delete_deadline_ms, now_s_ms, keep_first) {
                    *sum += added;
                }
            }
            OutputState::CountSeries(seen) => {
                seen.insert(tsdb::model::stable_hash_of(std::iter::once((input_key, &b""[..]))));
            }
            OutputState::CountSamples(count) => *count += 1,
            OutputState::UniqueSamples(seen) => {
                seen.insert(if value == 0.0 { 0 } else { value.to_bits() });
            }
            OutputState::Sum { delta, .. } => *delta += value,
            OutputState::Last { value: last, timestamp_ms: at } => {
                if timestamp_ms >= *at {
                    *last = value;
                    *at = timestamp_ms;
                }
            }
            OutputState::Extreme(extreme) => {
                let replace = match (*extreme, kind) {
                    (None, _) => true,
                    (Some(e), OutputKind::Min) => value < e,
                    (Some(e), _) => value > e,
                };
                if replace {
                    *extreme = Some(value);
                }
            }
            OutputState::Avg { sum, count } => {
                *sum += value;
                *count += 1.0;
            }
            OutputState::Std { count, avg, q } => {
                *count += 1.0;
                let next = *avg + (value - *avg) / *count;
                *q += (value - *avg) * (value - next);
                *avg = next;
            }
            OutputState::Histogram(h) => h.update(value),
            OutputState::Quantiles(r) => r.get_or_insert_with(Reservoir::default).update(value),
            OutputState::Rate(series) => rate_push(series, input_key, timestamp_ms, value, cx.delete_deadline_ms, now_s_ms),
        }
    }

    /// The values to write at `flush_ms` (`(extra label, value)`: the `quantile` or `vmrange`
    /// label some outputs add), the state reset for the next interval; `last`: the final
    /// flush, which forgets every input series.
    pub fn flush(&mut self, kind: &OutputKind, flush_ms: i64, last: bool, out: &mut Vec<(Option<(&'static str, String)>, f64)>) {
        match self {
            OutputState::Total { delta, total, last: inputs } => {
                let sum = *total + *delta;
                *delta = 0.0;
                inputs.retain(|_, lv| !(flush_ms > lv.delete_deadline_ms || last));
                *total = if sum.abs() >= TOTAL_MAGNITUDE_MAX { 0.0 } else { sum };
                out.push((None, sum));
            }
            OutputState::Increase { total, last: inputs } => {
                inputs.retain(|_, lv| !(flush_ms > lv.delete_deadline_ms || last));
                if let Some(sum) = total.take() {
                    out.push((None, sum));
                }
            }
            OutputState::CountSeries(seen) => {
                if !seen.is_empty() {
                    out.push((None, seen.len() as f64));
                    seen.clear();
                }
            }
            OutputState::CountSamples(count) => {
                if *count > 0 {
                    out.push((None, *count as f64));
                    *count = 0;
                }
            }
            OutputState::UniqueSamples(seen) => {
                if !seen.is_empty() {
                    out.push((None, seen.len() as f64));
                    seen.clear();
                }
            }
            OutputState::Sum { delta, total } => {
                if matches!(kind, OutputKind::SumSamples) {
                    out.push((None, *delta));
                } else {
                    let sum = *total + *delta;
                    *total = if sum.abs() >= TOTAL_MAGNITUDE_MAX { 0.0 } else { sum };
                    out.push((None, sum));
                }
                *delta = 0.0;
            }
            OutputState::Last { value, timestamp_ms } => {
                if *timestamp_ms > 0 {
                    out.push((None, *value));
                    *timestamp_ms = 0;
                }
            }
            OutputState::Extreme(extreme) => {
                if let Some(v) = extreme.take() {
                    out.push((None, v));
                }
            }
            OutputState::Avg { sum, count } => {
                if *count > 0.0 {
                    out.push((None, *sum / *count));
                    (*sum, *count) = (0.0, 0.0);
                }
            }
            OutputState::Std { count, avg, q } => {
                if *count > 0.0 {
                    let variance = *q / *count;
                    out.push((None, if matches!(kind, OutputKind::Stddev) { variance.sqrt() } else { variance }));
                    (*count, *avg, *q) = (0.0, 0.0, 0.0);
                }
            }
            // Cumulative: every bucket seen so far, at every flush.
            OutputState::Histogram(h) => {
                for (vmrange, count) in h.buckets() {
                    out.push((Some(("vmrange", vmrange)), count));
                }
            }
            OutputState::Quantiles(reservoir) => {
                let (Some(r), OutputKind::Quantiles(phis)) = (reservoir.take(), kind) else { return };
                for (phi, value) in phis.iter().zip(r.quantiles(phis)) {
                    out.push((Some(("quantile", go_shortest_g(*phi))), value));
                }
            }
            OutputState::Rate(series) => {
                let (mut rate, mut counted) = (0.0, 0u64);
                series.retain(|_, sv| {
                    if flush_ms > sv.delete_deadline_ms {
                        return false;
                    }
                    if sv.timestamp_ms > 0 {
                        let seconds = (sv.timestamp_ms - sv.previous_timestamp_ms) as f64 / 1000.0;
                        if seconds > 0.0 {
                            rate += sv.increase / seconds;
                            counted += 1;
                        }
                        sv.previous_timestamp_ms = sv.timestamp_ms;
                        sv.timestamp_ms = 0;
                        sv.increase = 0.0;
                    }
                    !last
                });
                if counted > 0 {
                    out.push((None, if matches!(kind, OutputKind::RateAvg) { rate / counted as f64 } else { rate }));
                }
            }
        }
    }
}

/// A counter sample of `total`/`increase`: what it adds, None for an out-of-order one. A
/// series not seen or gone stale starts again (its first value added only when
/// `keep_first`); a lower value is a reset (the value itself is the increase).
fn counter_push(last: &mut HashMap<Box<[u8]>, CounterLast>, key: &[u8], timestamp_ms: i64, value: f64, delete_deadline_ms: i64, now_s_ms: i64, keep_first: bool) -> Option<f64> {
    let known = last.get(key).copied().filter(|lv| lv.delete_deadline_ms >= now_s_ms);
    let added = match known {
        Some(lv) if timestamp_ms < lv.timestamp_ms => return None,
        Some(lv) if value >= lv.value => value - lv.value,
        Some(_) => value,
        None if keep_first => value,
        None => 0.0,
    };
    let entry = CounterLast { value, timestamp_ms, delete_deadline_ms };
    match last.get_mut(key) {
        Some(slot) => *slot = entry,
        None => _ = last.insert(key.into(), entry),
    }
    Some(added)
}

fn rate_push(series: &mut HashMap<Box<[u8]>, RateSeries>, key: &[u8], timestamp_ms: i64, value: f64, delete_deadline_ms: i64, now_s_ms: i64) {
    if series.get(key).is_some_and(|sv| sv.delete_deadline_ms < now_s_ms) {
        series.remove(key);
    }
    match series.get_mut(key) {
        Some(sv) => {
            if timestamp_ms < sv.timestamp_ms || timestamp_ms < sv.previous_timestamp_ms {
                return;
            }
            sv.increase += if value >= sv.value { value - sv.value } else { value };
            sv.value = value;
            sv.delete_deadline_ms = delete_deadline_ms;
            sv.timestamp_ms = timestamp_ms;
        }
        None => {
            series.insert(key.into(), RateSeries { value, delete_deadline_ms, previous_timestamp_ms: timestamp_ms, increase: 0.0, timestamp_ms });
        }
    }
}

/// Go's `strconv.FormatFloat(v, 'g', -1, 64)` for a phi in [0, 1]: shortest digits, in
/// exponent form below 1e-4 (`1e-05`).
fn go_shortest_g(v: f64) -> String {
    if v != 0.0 && v.abs() < 1e-4 {
        let text = format!("{v:e}");
        if let Some((mantissa, exponent)) = text.split_once('e') {
            let exponent: i32 = exponent.parse().unwrap_or(0);
            return format!("{mantissa}e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.abs());
        }
    }
    format!("{v}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST_COUNTS: PushContext = PushContext { now_ms: 1_000_000, delete_deadline_ms: 1_060_000, first_sample_counts: true };

    /// Pushes `(input key, timestamp, value)` samples, flushes at `flush_ms`, and gives the
    /// values written.
    fn run(state: &mut OutputState, kind: &OutputKind, samples: &[(&str, i64, f64)], cx: PushContext, flush_ms: i64) -> Vec<f64> {
        for &(key, t, v) in samples {
            state.push(kind, key.as_bytes(), t, v, cx);
        }
        let mut out = Vec::new();
        state.flush(kind, flush_ms, false, &mut out);
        out.into_iter().map(|(_, v)| v).collect()
    }

    fn one(text: &str, samples: &[(&str, i64, f64)]) -> Vec<f64> {
        let kind = OutputKind::parse(text).unwrap();
        run(&mut kind.new_state(), &kind, samples, FIRST_COUNTS, 1_050_000)
    }

    #[test]
    fn sample_statistics_by_hand() {
        let samples = [("a", 1, 2.0), ("b", 2, 4.0), ("a", 3, 4.0), ("b", 4, 6.0), ("a", 0, 9.0)];
        assert_eq!(one("count_samples", &samples), vec![5.0]);
        assert_eq!(one("count_series", &samples), vec![2.0]);
        assert_eq!(one("unique_samples", &samples), vec![4.0], "2, 4, 6, 9");
        assert_eq!(one("sum_samples", &samples), vec![25.0]);
        assert_eq!(one("min", &samples), vec![2.0]);
        assert_eq!(one("max", &samples), vec![9.0]);
        assert_eq!(one("avg", &samples), vec![5.0]);
        // Mean 5; squared deviations 9+1+1+1+16 = 28; /5.
        assert_eq!(one("stdvar", &samples), vec![5.6]);
        assert!((one("stddev", &samples)[0] - 5.6f64.sqrt()).abs() < 1e-12);
        assert_eq!(one("last", &samples), vec![6.0], "the latest timestamp's value (t=4), not the last pushed");
        assert_eq!(one("quantiles(0, 0.5, 1)", &samples), vec![2.0, 4.0, 9.0]);
        assert_eq!(one("unique_samples", &[("a", 1, 0.0), ("a", 2, -0.0)]), vec![1.0], "-0 equals 0");
        for text in ["count_samples", "min", "avg", "last", "stddev", "quantiles(0.5)", "increase", "rate_sum", "count_series"] {
            assert_eq!(one(text, &[]), Vec::<f64>::new(), "{text}: nothing written without samples");
        }
        assert_eq!(one("sum_samples", &[]), vec![0.0], "sum_samples writes 0 while its entry lives");
    }

    #[test]
    fn sums_reset_or_accumulate() {
        let kind = OutputKind::SumSamplesTotal;
        let mut state = kind.new_state();
        assert_eq!(run(&mut state, &kind, &[("a", 1, 2.0), ("b", 1, 3.0)], FIRST_COUNTS, 1_050_000), vec![5.0]);
        assert_eq!(run(&mut state, &kind, &[("a", 2, 1.0)], FIRST_COUNTS, 1_110_000), vec![6.0]);
        let kind = OutputKind::SumSamples;
        let mut state = kind.new_state();
        assert_eq!(run(&mut state, &kind, &[("a", 1, 2.0), ("b", 1, 3.0)], FIRST_COUNTS, 1_050_000), vec![5.0]);
        assert_eq!(run(&mut state, &kind, &[("a", 2, 1.0)], FIRST_COUNTS, 1_110_000), vec![1.0]);
    }

    #[test]
    fn total_counts_increases_resets_and_the_first_sample() {
        let kind = OutputKind::Total { keep_first_sample: true };
        let mut state = kind.new_state();
        // a: 10 (first, counted) → 15 (+5) → 3 (reset: +3) → 2 (out of order, skipped); b: 7.
        let samples = [("a", 1000, 10.0), ("a", 2000, 15.0), ("a", 3000, 3.0), ("a", 2500, 2.0), ("b", 1000, 7.0)];
        assert_eq!(run(&mut state, &kind, &samples, FIRST_COUNTS, 1_050_000), vec![25.0]);
        // Written at every flush while the entry lives, growing with new increases.
        assert_eq!(run(&mut state, &kind, &[], FIRST_COUNTS, 1_055_000), vec![25.0]);
        assert_eq!(run(&mut state, &kind, &[("a", 4000, 5.0)], FIRST_COUNTS, 1_059_000), vec![27.0]);

        let kind = OutputKind::Total { keep_first_sample: false };
        let mut state = kind.new_state();
        assert_eq!(run(&mut state, &kind, &samples, FIRST_COUNTS, 1_050_000), vec![8.0], "total_prometheus skips first values");
        // Within ignore_first_sample_interval even `total` skips them.
        let kind = OutputKind::Total { keep_first_sample: true };
        let early = PushContext { first_sample_counts: false, ..FIRST_COUNTS };
        assert_eq!(run(&mut kind.new_state(), &kind, &samples, early, 1_050_000), vec![8.0]);
    }

    #[test]
    fn counter_state_goes_stale() {
        let kind = OutputKind::Total { keep_first_sample: false };
        let mut state = kind.new_state();
        let at = |now_ms: i64| PushContext { now_ms, delete_deadline_ms: now_ms + 60_000, first_sample_counts: true };
        assert_eq!(run(&mut state, &kind, &[("a", 1000, 10.0)], at(1_000_000), 1_030_000), vec![0.0]);
        assert_eq!(run(&mut state, &kind, &[("a", 2000, 14.0)], at(1_030_000), 1_060_000), vec![4.0]);
        // The last value was pushed at 1_030_000 with deadline 1_090_000: pushed after that,
        // the series starts over (its first value skipped), so 100 adds nothing.
        assert_eq!(run(&mut state, &kind, &[("a", 3000, 100.0)], at(1_091_000), 1_120_000), vec![4.0]);
        assert_eq!(run(&mut state, &kind, &[("a", 4000, 101.0)], at(1_120_000), 1_150_000), vec![5.0]);
        // A flush past an input's deadline forgets it too.
        let mut out = Vec::new();
        state.flush(&kind, 1_181_000, false, &mut out);
        let OutputState::Total { last, .. } = &state else { unreachable!("a total's state") };
        assert!(last.is_empty());
    }

    #[test]
    fn increase_writes_per_interval_and_only_after_samples() {
        let kind = OutputKind::Increase { keep_first_sample: true };
        let mut state = kind.new_state();
        assert_eq!(run(&mut state, &kind, &[("a", 1000, 10.0), ("a", 2000, 15.0)], FIRST_COUNTS, 1_050_000), vec![15.0]);
        assert_eq!(run(&mut state, &kind, &[], FIRST_COUNTS, 1_055_000), Vec::<f64>::new());
        assert_eq!(run(&mut state, &kind, &[("a", 3000, 12.0)], FIRST_COUNTS, 1_059_000), vec![12.0], "reset: the new value");
        assert_eq!(run(&mut state, &kind, &[("a", 4000, 12.0)], FIRST_COUNTS, 1_059_500), vec![0.0]);
        let kind = OutputKind::Increase { keep_first_sample: false };
        assert_eq!(run(&mut kind.new_state(), &kind, &[("a", 1000, 10.0), ("a", 2000, 15.0)], FIRST_COUNTS, 1_050_000), vec![5.0]);
    }

    #[test]
    fn rates_per_series_then_summed_or_averaged() {
        for (text, first, second) in [("rate_sum", 3.0, 1.0), ("rate_avg", 1.5, 1.0)] {
            let kind = OutputKind::parse(text).unwrap();
            let mut state = kind.new_state();
            // a: 0 → 10 over 10s (1/s); b: 0 → 40 over 20s (2/s); c: one sample, no rate.
            let samples = [("a", 10_000, 0.0), ("a", 20_000, 10.0), ("b", 10_000, 0.0), ("b", 30_000, 40.0), ("c", 5_000, 3.0)];
            assert_eq!(run(&mut state, &kind, &samples, FIRST_COUNTS, 1_050_000), vec![first], "{text}");
            // Next interval: a 10 → 5 (reset: +5) from its last sample 20s to 25s: 1/s. c's
            // second sample: +6 over 6s = 1/s; b sends nothing and is left out.
            let next = [("a", 25_000, 5.0), ("c", 11_000, 9.0)];
            assert_eq!(run(&mut state, &kind, &next, FIRST_COUNTS, 1_055_000), vec![if text == "rate_sum" { 2.0 } else { second }], "{text}");
        }
    }

    #[test]
    fn histogram_buckets_accumulate_and_quantiles_reset() {
        let kind = OutputKind::HistogramBucket;
        let mut state = kind.new_state();
        state.push(&kind, b"a", 1, 1.1, FIRST_COUNTS);
        let mut out = Vec::new();
        state.flush(&kind, 1, false, &mut out);
        state.push(&kind, b"a", 2, 1.05, FIRST_COUNTS);
        state.flush(&kind, 2, false, &mut out);
        let shown: Vec<(String, f64)> = out.into_iter().map(|(label, v)| (label.map(|(n, v)| format!("{n}={v}")).unwrap_or_default(), v)).collect();
        assert_eq!(shown, vec![("vmrange=1.000e+00...1.136e+00".to_string(), 1.0), ("vmrange=1.000e+00...1.136e+00".to_string(), 2.0)]);

        let kind = OutputKind::parse("quantiles(0.5, 0.00001)").unwrap();
        let mut state = kind.new_state();
        state.push(&kind, b"a", 1, 7.0, FIRST_COUNTS);
        let mut out = Vec::new();
        state.flush(&kind, 1, false, &mut out);
        state.flush(&kind, 2, false, &mut out);
        assert_eq!(out, vec![(Some(("quantile", "0.5".to_string())), 7.0), (Some(("quantile", "1e-05".to_string())), 7.0)], "and nothing from the second flush");
    }
}
