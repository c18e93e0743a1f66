//! `otlp.delta_to_cumulative`: delta sums, histograms and exponential histograms of a decoded
//! request turned into cumulative points before translation, as OpenTelemetry's
//! deltatocumulative processor does for Prometheus' `otlp-deltatocumulative` feature: each
//! stream keeps its running total; out-of-order points and new streams past the limit are
//! dropped and counted. Pure apart from the clock value each pass is given.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use prost::Message;
use proto::otlp_metrics::{
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point, AggregationTemporality, ExponentialHistogramDataPoint,
    ExportMetricsServiceRequest, HistogramDataPoint, KeyValue, Metric, NumberDataPoint,
};

/// Most streams tracked at once (`otlp.delta_to_cumulative_max_streams`). The processor's
/// own default is unlimited; a bound keeps the state's memory bounded.
pub const MAX_STREAMS_DEFAULT: usize = 1_000_000;
/// How long a stream may go unseen before it is forgotten (the processor's `max_stale`).
pub const MAX_STALE_SECONDS_DEFAULT: u64 = 300;
/// Forgotten streams are swept at most this often (the processor's interval), or every
/// `max_stale` when that is shorter.
const STALE_SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// Most buckets one side of a merged exponential histogram keeps (the processor's limit);
/// wider merges are downscaled.
const EXPONENTIAL_BUCKETS_MAX: i64 = 160;
/// Collapsing more than this often changes nothing more (every index is then 0 or -1), so
/// a wild scale difference cannot make a pass slow.
const COLLAPSES_MAX: i64 = 64;

/// The bounds of the conversion's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeltaLimits {
    pub max_streams: usize,
    pub max_stale: Duration,
}

impl Default for DeltaLimits {
    fn default() -> Self {
        DeltaLimits { max_streams: MAX_STREAMS_DEFAULT, max_stale: Duration::from_secs(MAX_STALE_SECONDS_DEFAULT) }
    }
}

/// Delta points dropped by one pass, by reason (the processor drops them silently).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DroppedPoints {
    /// Not newer than the stream's last point, or starting before the stream's start.
    pub out_of_order: u64,
    /// Of a new stream while `max_streams` streams are tracked and none is stale.
    pub stream_limit: u64,
}

/// The running totals of every delta stream, shared by every executor (one lock, held for
/// one request's pass).
pub struct DeltaToCumulative {
    streams: Mutex<Streams>,
}

impl DeltaToCumulative {
    pub fn new(limits: DeltaLimits) -> Self {
        DeltaToCumulative { streams: Mutex::new(Streams { limits, by_identity: HashMap::new(), last_sweep: None }) }
    }

    /// Turns every delta sum, histogram and exponential histogram of `request` into
    /// cumulative points (metrics left without points are removed); other metrics are left
    /// as they are. `now` ages the streams.
    pub fn convert(&self, request: &mut ExportMetricsServiceRequest, now: Instant) -> DroppedPoints {
        // A panic mid-pass leaves at worst one stream half-updated; the totals stay usable.
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        streams.sweep_if_due(now);
        let mut dropped = DroppedPoints::default();
        for resource_metrics in &mut request.resource_metrics {
            let mut resource_identity = Vec::new();
            encode_attributes(resource_metrics.resource.as_ref().map_or(&[][..], |r| r.attributes.as_slice()), &mut resource_identity);
            for scope_metrics in &mut resource_metrics.scope_metrics {
                let mut scope_identity = resource_identity.clone();
                let scope = scope_metrics.scope.as_ref();
                encode_bytes(scope.map_or("", |s| s.name.as_str()).as_bytes(), &mut scope_identity);
                encode_bytes(scope.map_or("", |s| s.version.as_str()).as_bytes(), &mut scope_identity);
                encode_attributes(scope.map_or(&[][..], |s| s.attributes.as_slice()), &mut scope_identity);
                scope_metrics.metrics.retain_mut(|metric| streams.convert_metric(metric, &scope_identity, now, &mut dropped));
            }
        }
        dropped
    }

    /// Streams tracked now.
    pub fn stream_count(&self) -> usize {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner).by_identity.len()
    }
}

/// A stream's identity: resource attributes, scope name/version/attributes, metric
/// name/unit/type/monotonicity and point attributes, encoded (attributes sorted by key).
type StreamIdentity = Vec<u8>;

struct Streams {
    limits: DeltaLimits,
    by_identity: HashMap<StreamIdentity, Stream>,
    last_sweep: Option<Instant>,
}

struct Stream {
    last_seen: Instant,
    total: Accumulated,
}

/// A stream's running total: its last cumulative point, without attributes or exemplars.
enum Accumulated {
    Number(NumberDataPoint),
    Histogram(HistogramDataPoint),
    Exponential(ExponentialHistogramDataPoint),
}

impl Streams {
    fn is_stale(&self, stream: &Stream, now: Instant) -> bool {
        now.saturating_duration_since(stream.last_seen) > self.limits.max_stale
    }

    fn sweep_if_due(&mut self, now: Instant) {
        let interval = STALE_SWEEP_INTERVAL.min(self.limits.max_stale);
        if self.last_sweep.is_some_and(|last| now.saturating_duration_since(last) < interval) {
            return;
        }
        self.last_sweep = Some(now);
        self.forget_stale(now);
    }

    fn forget_stale(&mut self, now: Instant) {
        let max_stale = self.limits.max_stale;
        self.by_identity.retain(|_, stream| now.saturating_duration_since(stream.last_seen) <= max_stale);
    }

    /// Converts one metric's delta points; false when it was delta and no point is left.
    fn convert_metric(&mut self, metric: &mut Metric, scope_identity: &[u8], now: Instant, dropped: &mut DroppedPoints) -> bool {
        let delta = AggregationTemporality::Delta as i32;
        let mut identity = scope_identity.to_vec();
        encode_bytes(metric.name.as_bytes(), &mut identity);
        encode_bytes(metric.unit.as_bytes(), &mut identity);
        match &mut metric.data {
            Some(Data::Sum(sum)) if sum.aggregation_temporality == delta => {
                identity.extend_from_slice(&[1, u8::from(sum.is_monotonic)]);
                sum.data_points.retain_mut(|point| self.accumulate(&identity, point, now, dropped));
                sum.aggregation_temporality = AggregationTemporality::Cumulative as i32;
                !sum.data_points.is_empty()
            }
            Some(Data::Histogram(histogram)) if histogram.aggregation_temporality == delta => {
                identity.push(2);
                histogram.data_points.retain_mut(|point| self.accumulate(&identity, point, now, dropped));
                histogram.aggregation_temporality = AggregationTemporality::Cumulative as i32;
                !histogram.data_points.is_empty()
            }
            Some(Data::ExponentialHistogram(histogram)) if histogram.aggregation_temporality == delta => {
                identity.push(3);
                histogram.data_points.retain_mut(|point| self.accumulate(&identity, point, now, dropped));
                histogram.aggregation_temporality = AggregationTemporality::Cumulative as i32;
                !histogram.data_points.is_empty()
            }
            _ => true,
        }
    }

    /// Adds one delta point to its stream's total and turns it into that total; false when
    /// the point is dropped.
    fn accumulate<P: DeltaPoint>(&mut self, metric_identity: &[u8], point: &mut P, now: Instant, dropped: &mut DroppedPoints) -> bool {
        let mut identity = metric_identity.to_vec();
        encode_attributes(point.attributes(), &mut identity);
        let known = self.by_identity.get(&identity).map(|stream| self.is_stale(stream, now));
        if known == Some(false) {
            let Some(stream) = self.by_identity.get_mut(&identity) else { return false };
            stream.last_seen = now;
            let Some(total) = P::total_of(&mut stream.total) else {
                // The identity holds the metric type, so a stream's total has its point type.
                debug_assert!(false, "a stream's total has the type of its identity");
                return false;
            };
            if point.start_ns() < total.start_ns() || point.time_ns() <= total.time_ns() {
                dropped.out_of_order += 1;
                return false;
            }
            total.add(point);
            point.become_total(total);
            return true;
        }
        // New (or stale, so forgotten) stream: it starts with this point.
        if known.is_none() && self.by_identity.len() >= self.limits.max_streams {
            self.forget_stale(now);
            if self.by_identity.len() >= self.limits.max_streams {
                dropped.stream_limit += 1;
                return false;
            }
        }
        self.by_identity.insert(identity, Stream { last_seen: now, total: point.first_total() });
        true
    }
}

/// A delta point type the conversion adds up.
trait DeltaPoint: Sized {
    fn start_ns(&self) -> u64;
    fn time_ns(&self) -> u64;
    fn attributes(&self) -> &[KeyValue];
    /// The stream's total when this point is its first (attributes and exemplars left out).
    fn first_total(&self) -> Accumulated;
    fn total_of(total: &mut Accumulated) -> Option<&mut Self>;
    /// `self += delta`, its time becoming the delta's.
    fn add(&mut self, delta: &Self);
    /// This (outgoing) point takes the total's values and times, keeping its attributes,
    /// exemplars and flags.
    fn become_total(&mut self, total: &Self);
}

/// The `DeltaPoint` methods that only read the OTLP point's common fields, alike for the
/// three point types (`$variant`: its `Accumulated` variant).
macro_rules! point_fields {
    ($point:ident, $variant:ident) => {
        fn start_ns(&self) -> u64 {
            self.start_time_unix_nano
        }

        fn time_ns(&self) -> u64 {
            self.time_unix_nano
        }

        fn attributes(&self) -> &[KeyValue] {
            &self.attributes
        }

        fn first_total(&self) -> Accumulated {
            Accumulated::$variant($point { attributes: Vec::new(), exemplars: Vec::new(), ..self.clone() })
        }

        fn total_of(total: &mut Accumulated) -> Option<&mut Self> {
            if let Accumulated::$variant(point) = total {
                Some(point)
            } else {
                None
            }
        }
    };
}

impl DeltaPoint for NumberDataPoint {
    point_fields!(NumberDataPoint, Number);

    fn add(&mut self, delta: &Self) {
        use number_data_point::Value::{AsDouble, AsInt};
        // As the processor does: the delta's value type wins, a total of the other type
        // counting as zero.
        self.value = match (self.value, delta.value) {
            (Some(AsDouble(total)), Some(AsDouble(d))) => Some(AsDouble(total + d)),
            (_, Some(AsDouble(d))) => Some(AsDouble(d)),
            (Some(AsInt(total)), Some(AsInt(d))) => Some(AsInt(total.wrapping_add(d))),
            (_, Some(AsInt(d))) => Some(AsInt(d)),
            (total, None) => total,
        };
        self.time_unix_nano = delta.time_unix_nano;
    }

    fn become_total(&mut self, total: &Self) {
        self.start_time_unix_nano = total.start_time_unix_nano;
        self.time_unix_nano = total.time_unix_nano;
        self.value = total.value;
    }
}

impl DeltaPoint for HistogramDataPoint {
    point_fields!(HistogramDataPoint, Histogram);

    fn add(&mut self, delta: &Self) {
        // Other bounds cannot be merged: the total restarts from the delta (its start too).
        if self.explicit_bounds != delta.explicit_bounds {
            *self = HistogramDataPoint { attributes: Vec::new(), exemplars: Vec::new(), ..delta.clone() };
            return;
        }
        // Bucket by bucket, over the buckets both have (the processor's best effort).
        for (total, d) in self.bucket_counts.iter_mut().zip(&delta.bucket_counts) {
            *total = total.wrapping_add(*d);
        }
        self.time_unix_nano = delta.time_unix_nano;
        self.count = self.count.wrapping_add(delta.count);
        (self.sum, self.min, self.max) = add_sum_min_max((self.sum, self.min, self.max), (delta.sum, delta.min, delta.max));
    }

    fn become_total(&mut self, total: &Self) {
        let HistogramDataPoint { attributes: _, exemplars: _, flags: _, start_time_unix_nano, time_unix_nano, count, sum, bucket_counts, explicit_bounds, min, max } = total.clone();
        (self.start_time_unix_nano, self.time_unix_nano, self.count, self.sum) = (start_time_unix_nano, time_unix_nano, count, sum);
        (self.bucket_counts, self.explicit_bounds, self.min, self.max) = (bucket_counts, explicit_bounds, min, max);
    }
}

impl DeltaPoint for ExponentialHistogramDataPoint {
    point_fields!(ExponentialHistogramDataPoint, Exponential);

    fn add(&mut self, delta: &Self) {
        let mut delta = ExponentialHistogramDataPoint { attributes: Vec::new(), exemplars: Vec::new(), ..delta.clone() };
        // The finer of the two is downscaled to the coarser.
        let coarser = self.scale.min(delta.scale);
        downscale_point(self, i64::from(coarser));
        downscale_point(&mut delta, i64::from(coarser));
        // Then both, further, if the merged buckets would be too many.
        let reduction = scale_reduction(self.positive.as_ref(), delta.positive.as_ref()).max(scale_reduction(self.negative.as_ref(), delta.negative.as_ref()));
        if reduction > 0 {
            let target = i64::from(self.scale) - reduction;
            downscale_point(self, target);
            downscale_point(&mut delta, target);
        }
        // The narrower zero bucket is widened to the wider one's threshold.
        if self.zero_threshold != delta.zero_threshold {
            if self.zero_threshold > delta.zero_threshold {
                widen_zero(&mut delta, self.zero_threshold);
            } else {
                widen_zero(self, delta.zero_threshold);
            }
        }
        merge_buckets(&mut self.positive, delta.positive.as_ref());
        merge_buckets(&mut self.negative, delta.negative.as_ref());
        self.time_unix_nano = delta.time_unix_nano;
        self.count = self.count.wrapping_add(delta.count);
        self.zero_count = self.zero_count.wrapping_add(delta.zero_count);
        (self.sum, self.min, self.max) = add_sum_min_max((self.sum, self.min, self.max), (delta.sum, delta.min, delta.max));
    }

    fn become_total(&mut self, total: &Self) {
        let ExponentialHistogramDataPoint {
            attributes: _,
            exemplars: _,
            flags: _,
            start_time_unix_nano,
            time_unix_nano,
            count,
            sum,
            scale,
            zero_count,
            positive,
            negative,
            min,
            max,
            zero_threshold,
        } = total.clone();
        (self.start_time_unix_nano, self.time_unix_nano, self.count, self.sum, self.scale) = (start_time_unix_nano, time_unix_nano, count, sum, scale);
        (self.zero_count, self.positive, self.negative, self.min, self.max, self.zero_threshold) = (zero_count, positive, negative, min, max, zero_threshold);
    }
}

type SumMinMax = (Option<f64>, Option<f64>, Option<f64>);

/// Sums add up and min/max combine only when both sides have them; otherwise they are
/// removed, as the processor does.
fn add_sum_min_max(total: SumMinMax, delta: SumMinMax) -> SumMinMax {
    let both = |a: Option<f64>, b: Option<f64>, f: fn(f64, f64) -> f64| a.zip(b).map(|(a, b)| f(a, b));
    (both(total.0, delta.0, |a, b| a + b), both(total.1, delta.1, f64::min), both(total.2, delta.2, f64::max))
}

/// The count of the bucket at absolute index `index` (0 outside the buckets).
fn count_at(buckets: &Buckets, index: i64) -> u64 {
    let relative = index - i64::from(buckets.offset);
    usize::try_from(relative).ok().and_then(|i| buckets.bucket_counts.get(i)).copied().unwrap_or(0)
}

fn upper(buckets: &Buckets) -> i64 {
    i64::from(buckets.offset) + buckets.bucket_counts.len() as i64
}

/// The absolute index range `lo..up` of two bucket sets' counts, leading and trailing empty
/// buckets trimmed as the processor trims them (`up == lo` when every count is 0).
fn occupied_range(a: &Buckets, b: &Buckets) -> (i64, i64) {
    let up = upper(a).max(upper(b));
    let nonzero = |buckets: &Buckets| {
        let offset = i64::from(buckets.offset);
        let first = buckets.bucket_counts.iter().position(|&c| c != 0).map(|i| offset + i as i64);
        let last = buckets.bucket_counts.iter().rposition(|&c| c != 0).map(|i| offset + i as i64);
        first.zip(last)
    };
    match (nonzero(a), nonzero(b)) {
        (None, None) => (up, up),
        (Some((first, last)), None) | (None, Some((first, last))) => (first, last + 1),
        (Some((first_a, last_a)), Some((first_b, last_b))) => (first_a.min(first_b), last_a.max(last_b) + 1),
    }
}

/// How many scales two bucket sets must drop so that their merge has at most
/// `EXPONENTIAL_BUCKETS_MAX` buckets.
fn scale_reduction(a: Option<&Buckets>, b: Option<&Buckets>) -> i64 {
    let empty = Buckets::default();
    let (mut lo, mut up) = occupied_range(a.unwrap_or(&empty), b.unwrap_or(&empty));
    let mut reduction = 0;
    while up - lo > EXPONENTIAL_BUCKETS_MAX {
        lo >>= 1;
        up >>= 1;
        reduction += 1;
    }
    reduction
}

fn downscale_point(point: &mut ExponentialHistogramDataPoint, target_scale: i64) {
    let collapses = i64::from(point.scale) - target_scale;
    if collapses <= 0 {
        return;
    }
    for buckets in [&mut point.positive, &mut point.negative].into_iter().flatten() {
        for _ in 0..collapses.min(COLLAPSES_MAX) {
            collapse(buckets);
        }
    }
    point.scale = i32::try_from(target_scale).unwrap_or(i32::MIN);
}

/// One scale down: each pair of neighbours (aligned to index 0) becomes one bucket. The
/// count list keeps its length, zero-filled at the end, as the processor's does.
fn collapse(buckets: &mut Buckets) {
    let offset = i64::from(buckets.offset);
    let new_offset = offset >> 1;
    let mut counts = vec![0u64; buckets.bucket_counts.len()];
    for (i, &count) in buckets.bucket_counts.iter().enumerate() {
        let slot = (((offset + i as i64) >> 1) - new_offset) as usize;
        counts[slot] = counts[slot].wrapping_add(count);
    }
    buckets.bucket_counts = counts;
    buckets.offset = new_offset as i32;
}

/// Adds `from`'s counts into `into` (same scale).
fn merge_buckets(into: &mut Option<Buckets>, from: Option<&Buckets>) {
    let Some(from) = from.filter(|b| !b.bucket_counts.is_empty()) else { return };
    let into = into.get_or_insert_with(Buckets::default);
    if into.bucket_counts.is_empty() {
        *into = from.clone();
        return;
    }
    let (lo, up) = occupied_range(into, from);
    let counts = (lo..up).map(|i| count_at(into, i).wrapping_add(count_at(from, i))).collect();
    into.bucket_counts = counts;
    into.offset = lo as i32;
}

/// Moves every bucket inside `[-width, width]` into the zero bucket, whose threshold
/// becomes the upper bound of the last bucket moved.
fn widen_zero(point: &mut ExponentialHistogramDataPoint, width: f64) {
    let last_inside = bucket_index(point.scale, width);
    for buckets in [&mut point.positive, &mut point.negative].into_iter().flatten() {
        let offset = i64::from(buckets.offset);
        let moved: u64 = buckets.bucket_counts.iter().enumerate().filter(|&(i, _)| offset + i as i64 <= last_inside).fold(0u64, |sum, (_, &c)| sum.wrapping_add(c));
        point.zero_count = point.zero_count.wrapping_add(moved);
        let new_offset = (last_inside + 1).clamp(offset, upper(buckets));
        buckets.bucket_counts.drain(..(new_offset - offset) as usize);
        buckets.offset = new_offset as i32;
    }
    point.zero_threshold = bucket_upper_bound(point.scale, last_inside);
}

/// The bucket a positive value falls in at `scale` (buckets are upper-inclusive).
fn bucket_index(scale: i32, value: f64) -> i64 {
    let bits = value.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i64;
    let exact_power_of_two = value.is_finite() && value > 0.0 && exponent != 0 && bits & ((1 << 52) - 1) == 0;
    if exact_power_of_two {
        let power = exponent - 1023;
        let shifted = if scale >= 0 { (i128::from(power) << scale.min(62)) - 1 } else { i128::from(power - 1) >> (-i64::from(scale)).min(62) };
        return shifted.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    }
    (value.ln() * std::f64::consts::LOG2_E * 2f64.powi(scale)).floor() as i64
}

/// The upper bound of bucket `index` at `scale`.
fn bucket_upper_bound(scale: i32, index: i64) -> f64 {
    ((index + 1) as f64 * std::f64::consts::LN_2 * 2f64.powi(-scale)).exp()
}

/// Appends attributes, sorted by key, to a stream identity.
fn encode_attributes(attributes: &[KeyValue], identity: &mut Vec<u8>) {
    let mut sorted: Vec<&KeyValue> = attributes.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    identity.extend_from_slice(&(sorted.len() as u64).to_le_bytes());
    for attribute in sorted {
        encode_bytes(&attribute.encode_to_vec(), identity);
    }
}

fn encode_bytes(bytes: &[u8], identity: &mut Vec<u8>) {
    identity.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    identity.extend_from_slice(bytes);
}


#[cfg(test)]
mod tests;
