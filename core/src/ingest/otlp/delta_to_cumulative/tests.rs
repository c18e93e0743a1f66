//! Unit tests of `delta_to_cumulative`: running totals across requests, gaps and
//! out-of-order points, explicit and exponential histograms merged as OpenTelemetry's
//! processor merges them, staleness, the stream limit and stream identity.

use proto::otlp_metrics::*;

use super::*;

const SECOND_NS: u64 = 1_000_000_000;
const DELTA: i32 = AggregationTemporality::Delta as i32;
const CUMULATIVE: i32 = AggregationTemporality::Cumulative as i32;

fn s(key: &str, value: &str) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }) }
}

fn int_point(start_s: u64, time_s: u64, value: i64, attributes: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint { attributes, start_time_unix_nano: start_s * SECOND_NS, time_unix_nano: time_s * SECOND_NS, value: Some(number_data_point::Value::AsInt(value)), ..Default::default() }
}

fn delta_sum(points: Vec<NumberDataPoint>) -> Metric {
    Metric { name: "requests".into(), unit: "1".into(), data: Some(Data::Sum(Sum { data_points: points, aggregation_temporality: DELTA, is_monotonic: true })), ..Default::default() }
}

fn scoped(resource: Vec<KeyValue>, scope: Vec<KeyValue>, metrics: Vec<Metric>) -> ResourceMetrics {
    ResourceMetrics {
        resource: Some(Resource { attributes: resource, ..Default::default() }),
        scope_metrics: vec![ScopeMetrics { scope: Some(InstrumentationScope { name: "lib".into(), version: "1".into(), attributes: scope, ..Default::default() }), metrics, ..Default::default() }],
        ..Default::default()
    }
}

fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest { resource_metrics: vec![scoped(vec![s("service.name", "api")], vec![], metrics)] }
}

fn metrics_of(request: &ExportMetricsServiceRequest) -> Vec<&Metric> {
    request.resource_metrics.iter().flat_map(|r| &r.scope_metrics).flat_map(|s| &s.metrics).collect()
}

/// (start s, time s, value) of every sum point, and each sum's temporality.
fn sums(request: &ExportMetricsServiceRequest) -> Vec<(u64, u64, i64)> {
    let mut out = Vec::new();
    for metric in metrics_of(request) {
        let Some(Data::Sum(sum)) = &metric.data else { continue };
        assert_eq!(sum.aggregation_temporality, CUMULATIVE, "converted sums are cumulative");
        for p in &sum.data_points {
            let Some(number_data_point::Value::AsInt(v)) = p.value else { panic!("int value expected: {p:?}") };
            out.push((p.start_time_unix_nano / SECOND_NS, p.time_unix_nano / SECOND_NS, v));
        }
    }
    out
}

/// Converts one delta sum point of the `requests` stream.
fn pass(conversion: &DeltaToCumulative, now: Instant, point: NumberDataPoint) -> (Vec<(u64, u64, i64)>, DroppedPoints) {
    let mut r = request(vec![delta_sum(vec![point])]);
    let dropped = conversion.convert(&mut r, now);
    (sums(&r), dropped)
}

fn none() -> DroppedPoints {
    DroppedPoints::default()
}

#[test]
fn sums_accumulate_across_requests() {
    let conversion = DeltaToCumulative::new(DeltaLimits::default());
    let now = Instant::now();
    // The first point starts the stream as sent; each next one (start = last time) adds.
    assert_eq!(pass(&conversion, now, int_point(10, 20, 3, vec![])), (vec![(10, 20, 3)], none()));
    assert_eq!(pass(&conversion, now, int_point(20, 30, 4, vec![])), (vec![(10, 30, 7)], none()));
    assert_eq!(pass(&conversion, now, int_point(30, 40, 5, vec![])), (vec![(10, 40, 12)], none()));
    // Doubles add as doubles; a point's attributes and exemplars stay its own.
    let mut r = request(vec![Metric {
        name: "bytes".into(),
        data: Some(Data::Sum(Sum { data_points: vec![NumberDataPoint { time_unix_nano: 5, value: Some(number_data_point::Value::AsDouble(1.5)), ..Default::default() }], aggregation_temporality: DELTA, is_monotonic: false })),
        ..Default::default()
    }]);
    conversion.convert(&mut r, now);
    let exemplar = Exemplar { time_unix_nano: 9, value: Some(exemplar::Value::AsDouble(2.0)), ..Default::default() };
    let point = NumberDataPoint { time_unix_nano: 9, value: Some(number_data_point::Value::AsDouble(2.25)), exemplars: vec![exemplar.clone()], ..Default::default() };
    let mut r2 = r.clone();
    let Some(Data::Sum(sum)) = &mut r2.resource_metrics[0].scope_metrics[0].metrics[0].data else { unreachable!() };
    sum.aggregation_temporality = DELTA;
    sum.data_points = vec![point];
    conversion.convert(&mut r2, now);
    let Some(Data::Sum(sum)) = &r2.resource_metrics[0].scope_metrics[0].metrics[0].data else { unreachable!() };
    assert_eq!(sum.data_points[0].value, Some(number_data_point::Value::AsDouble(3.75)));
    assert_eq!(sum.data_points[0].exemplars, vec![exemplar]);
    assert_eq!(conversion.stream_count(), 2);
}

#[test]
fn a_start_after_the_last_time_still_adds_and_an_earlier_start_or_time_is_dropped() {
    let conversion = DeltaToCumulative::new(DeltaLimits::default());
    let now = Instant::now();
    pass(&conversion, now, int_point(10, 20, 3, vec![]));
    // A gap (points lost in transit): the processor keeps adding, from the first start.
    assert_eq!(pass(&conversion, now, int_point(50, 60, 4, vec![])), (vec![(10, 60, 7)], none()));
    // Not newer than the last point: out of order, dropped (the metric with it).
    let (kept, dropped) = pass(&conversion, now, int_point(50, 60, 100, vec![]));
    assert_eq!((kept, dropped), (vec![], DroppedPoints { out_of_order: 1, stream_limit: 0 }));
    let (kept, dropped) = pass(&conversion, now, int_point(40, 55, 100, vec![]));
    assert_eq!((kept, dropped.out_of_order), (vec![], 1));
    // Starting before the stream's start: of an older writer, dropped too.
    let (kept, dropped) = pass(&conversion, now, int_point(5, 70, 100, vec![]));
    assert_eq!((kept, dropped.out_of_order), (vec![], 1));
    // The rest of a request is kept; the total went on unchanged.
    let mut r = request(vec![delta_sum(vec![int_point(60, 70, 1, vec![]), int_point(60, 65, 9, vec![]), int_point(70, 80, 2, vec![])])]);
    assert_eq!(conversion.convert(&mut r, now), DroppedPoints { out_of_order: 1, stream_limit: 0 });
    assert_eq!(sums(&r), vec![(10, 70, 8), (10, 80, 10)]);
}

#[test]
fn other_metrics_are_left_as_they_are() {
    let conversion = DeltaToCumulative::new(DeltaLimits::default());
    let cumulative = Metric { name: "c".into(), data: Some(Data::Sum(Sum { data_points: vec![int_point(1, 2, 3, vec![])], aggregation_temporality: CUMULATIVE, is_monotonic: true })), ..Default::default() };
    let gauge = Metric { name: "g".into(), data: Some(Data::Gauge(Gauge { data_points: vec![int_point(0, 2, 3, vec![])] })), ..Default::default() };
    let empty_gauge = Metric { name: "e".into(), data: Some(Data::Gauge(Gauge { data_points: vec![] })), ..Default::default() };
    let original = request(vec![cumulative, gauge, empty_gauge]);
    let mut r = original.clone();
    assert_eq!(conversion.convert(&mut r, Instant::now()), none());
    assert_eq!(r, original);
    assert_eq!(conversion.stream_count(), 0);
}

fn histogram(start_s: u64, time_s: u64, bounds: &[f64], counts: &[u64], sum: Option<f64>, min_max: Option<(f64, f64)>) -> HistogramDataPoint {
    HistogramDataPoint {
        start_time_unix_nano: start_s * SECOND_NS,
        time_unix_nano: time_s * SECOND_NS,
        count: counts.iter().sum(),
        sum,
        bucket_counts: counts.to_vec(),
        explicit_bounds: bounds.to_vec(),
        min: min_max.map(|m| m.0),
        max: min_max.map(|m| m.1),
        ..Default::default()
    }
}

fn histogram_pass(conversion: &DeltaToCumulative, point: HistogramDataPoint) -> HistogramDataPoint {
    let mut r = request(vec![Metric { name: "latency".into(), unit: "s".into(), data: Some(Data::Histogram(Histogram { data_points: vec![point], aggregation_temporality: DELTA })), ..Default::default() }]);
    conversion.convert(&mut r, Instant::now());
    let Some(Data::Histogram(h)) = &r.resource_metrics[0].scope_metrics[0].metrics[0].data else { panic!("histogram kept") };
    assert_eq!(h.aggregation_temporality, CUMULATIVE);
    h.data_points[0].clone()
}

#[test]
fn explicit_histograms_add_bucket_by_bucket_and_restart_on_other_bounds() {
    let conversion = DeltaToCumulative::new(DeltaLimits::default());
    histogram_pass(&conversion, histogram(10, 20, &[1.0, 5.0], &[1, 2, 3], Some(10.0), Some((0.5, 7.0))));
    let total = histogram_pass(&conversion, histogram(20, 30, &[1.0, 5.0], &[4, 0, 1], Some(5.0), Some((0.25, 6.0))));
    assert_eq!(total, histogram(10, 30, &[1.0, 5.0], &[5, 2, 4], Some(15.0), Some((0.25, 7.0))));
    // A side without a sum (or min/max) removes it from the total.
    let total = histogram_pass(&conversion, histogram(30, 40, &[1.0, 5.0], &[1, 1, 1], None, None));
    assert_eq!(total, histogram(10, 40, &[1.0, 5.0], &[6, 3, 5], None, None));
    // Other bounds cannot be added to: the total restarts from this point, its start too.
    let total = histogram_pass(&conversion, histogram(40, 50, &[2.0], &[7, 8], Some(1.0), None));
    assert_eq!(total, histogram(40, 50, &[2.0], &[7, 8], Some(1.0), None));
    let total = histogram_pass(&conversion, histogram(50, 60, &[2.0], &[1, 1], Some(1.0), None));
    assert_eq!(total, histogram(40, 60, &[2.0], &[8, 9], Some(2.0), None));
}

fn buckets(offset: i32, counts: &[u64]) -> Option<Buckets> {
    Some(Buckets { offset, bucket_counts: counts.to_vec() })
}

fn exponential(time_s: u64, scale: i32, zero_threshold: f64, zero_count: u64, positive: Option<Buckets>, negative: Option<Buckets>) -> ExponentialHistogramDataPoint {
    let total = |b: &Option<Buckets>| b.as_ref().map_or(0, |b| b.bucket_counts.iter().sum::<u64>());
    ExponentialHistogramDataPoint {
        start_time_unix_nano: 10 * SECOND_NS,
        time_unix_nano: time_s * SECOND_NS,
        count: zero_count + total(&positive) + total(&negative),
        sum: Some(1.0),
        scale,
        zero_count,
        zero_threshold,
        positive,
        negative,
        ..Default::default()
    }
}

fn exponential_pass(conversion: &DeltaToCumulative, point: ExponentialHistogramDataPoint) -> ExponentialHistogramDataPoint {
    let mut r = request(vec![Metric { name: "size".into(), data: Some(Data::ExponentialHistogram(ExponentialHistogram { data_points: vec![point], aggregation_temporality: DELTA })), ..Default::default() }]);
    conversion.convert(&mut r, Instant::now());
    let Some(Data::ExponentialHistogram(h)) = &r.resource_metrics[0].scope_metrics[0].metrics[0].data else { panic!("histogram kept") };
    assert_eq!(h.aggregation_temporality, CUMULATIVE);
    h.data_points[0].clone()
}

#[test]
fn exponential_histograms_of_other_scales_merge_at_the_coarser() {
    let conversion = DeltaToCumulative::new(DeltaLimits::default());
    // Scale 1, positive indices 0..=3 and negative -1..=1 (odd offset: pairs align to 0).
    exponential_pass(&conversion, exponential(20, 1, 0.0, 2, buckets(0, &[1, 2, 3, 4]), buckets(-1, &[1, 1, 1])));
    // Scale 0: the total is collapsed to it (1+2, 3+4 | -1, 0+1; lengths kept), then added.
    let total = exponential_pass(&conversion, exponential(30, 0, 0.0, 1, buckets(0, &[10, 20]), buckets(0, &[5])));
    let mut expected = exponential(30, 0, 0.0, 3, buckets(0, &[13, 27]), buckets(-1, &[1, 7]));
    expected.sum = Some(2.0);
    assert_eq!(total, expected);
    // A finer delta is collapsed to the total's scale instead.
    let total = exponential_pass(&conversion, exponential(40, 2, 0.0, 0, buckets(0, &[1, 1, 1, 1, 1]), None));
    assert_eq!((total.scale, total.positive, total.negative.clone()), (0, buckets(0, &[17, 28]), buckets(-1, &[1, 7])));
    assert_eq!(total.count, expected.count + 5);
}

#[test]
fn exponential_merges_past_160_buckets_downscale_both() {
    let conversion = DeltaToCumulative::new(DeltaLimits::default());
    exponential_pass(&conversion, exponential(20, 3, 0.0, 0, buckets(0, &[1]), None));
    // Indices 0 and 200 span 201 buckets: one scale down (0..=100) fits.
    let total = exponential_pass(&conversion, exponential(30, 3, 0.0, 0, buckets(200, &[1]), None));
    assert_eq!(total.scale, 2);
    let positive = total.positive.unwrap();
    assert_eq!((positive.offset, positive.bucket_counts.len(), positive.bucket_counts.iter().sum::<u64>()), (0, 101, 2));
    assert_eq!((positive.bucket_counts[0], positive.bucket_counts[100]), (1, 1));
}

#[test]
fn a_wider_zero_bucket_takes_the_other_sides_small_buckets() {
    let conversion = DeltaToCumulative::new(DeltaLimits::default());
    // Scale 0: bucket -2 is (1/4, 1/2], -1 is (1/2, 1], 0 is (1, 2].
    exponential_pass(&conversion, exponential(20, 0, 0.0, 1, buckets(-2, &[5, 6, 7]), buckets(-1, &[2, 3])));
    // A zero threshold of 1 holds buckets up to -1: they move into the zero count.
    let total = exponential_pass(&conversion, exponential(30, 0, 1.0, 4, buckets(0, &[1]), None));
    let mut expected = exponential(30, 0, 1.0, 1 + 11 + 2 + 4, buckets(0, &[8]), buckets(0, &[3]));
    expected.sum = Some(2.0);
    assert_eq!(total, expected);
    assert_eq!(bucket_index(0, 1.0), -1);
    assert_eq!(bucket_index(0, 1.5), 0);
    assert_eq!(bucket_index(1, 4.0), 3);
    assert_eq!(bucket_upper_bound(0, -1), 1.0);
}

#[test]
fn streams_unseen_for_max_stale_are_forgotten() {
    let limits = DeltaLimits { max_streams: 10, max_stale: Duration::from_secs(300) };
    let conversion = DeltaToCumulative::new(limits);
    let start = Instant::now();
    pass(&conversion, start, int_point(10, 20, 3, vec![]));
    // Seen again within max_stale: added.
    assert_eq!(pass(&conversion, start + Duration::from_secs(300), int_point(20, 30, 4, vec![])).0, vec![(10, 30, 7)]);
    // Not seen for longer: forgotten, so this point starts it again, as sent.
    let later = start + Duration::from_secs(601);
    assert_eq!(pass(&conversion, later, int_point(700, 710, 5, vec![])).0, vec![(700, 710, 5)]);
    // Sweeps forget streams nobody sends any more.
    pass(&conversion, later, int_point(0, 1, 1, vec![s("other", "x")]));
    assert_eq!(conversion.stream_count(), 2);
    pass(&conversion, later + Duration::from_secs(400), int_point(710, 720, 1, vec![]));
    assert_eq!(conversion.stream_count(), 1, "the unseen stream was swept");
}

#[test]
fn new_streams_past_max_streams_are_dropped_until_one_is_stale() {
    let conversion = DeltaToCumulative::new(DeltaLimits { max_streams: 1, max_stale: Duration::from_secs(300) });
    let start = Instant::now();
    let a = || vec![s("path", "/a")];
    let b = || vec![s("path", "/b")];
    pass(&conversion, start, int_point(10, 20, 1, a()));
    let (kept, dropped) = pass(&conversion, start, int_point(10, 20, 1, b()));
    assert_eq!((kept, dropped), (vec![], DroppedPoints { out_of_order: 0, stream_limit: 1 }));
    // The tracked stream goes on.
    assert_eq!(pass(&conversion, start + Duration::from_secs(60), int_point(20, 30, 2, a())).0, vec![(10, 30, 3)]);
    // Only a stale stream makes room.
    let (kept, dropped) = pass(&conversion, start + Duration::from_secs(120), int_point(10, 40, 1, b()));
    assert_eq!((kept.len(), dropped.stream_limit), (0, 1));
    let (kept, dropped) = pass(&conversion, start + Duration::from_secs(361), int_point(10, 50, 6, b()));
    assert_eq!((kept, dropped), (vec![(10, 50, 6)], none()));
    assert_eq!(conversion.stream_count(), 1);
}

#[test]
fn streams_differ_by_resource_scope_and_point_attributes_not_their_order() {
    let conversion = DeltaToCumulative::new(DeltaLimits::default());
    let now = Instant::now();
    let resource = |zone: &str| vec![s("service.name", "api"), s("zone", zone)];
    let mut first = ExportMetricsServiceRequest {
        resource_metrics: vec![
            scoped(resource("a"), vec![], vec![delta_sum(vec![int_point(10, 20, 1, vec![s("k", "v"), s("j", "w")])])]),
            scoped(resource("b"), vec![], vec![delta_sum(vec![int_point(10, 20, 2, vec![s("k", "v"), s("j", "w")])])]),
            scoped(resource("a"), vec![s("scope.attr", "x")], vec![delta_sum(vec![int_point(10, 20, 4, vec![s("k", "v"), s("j", "w")])])]),
        ],
    };
    conversion.convert(&mut first, now);
    assert_eq!(conversion.stream_count(), 3);
    // The same three streams again (attributes in another order): each adds to its own.
    let mut second = ExportMetricsServiceRequest {
        resource_metrics: vec![
            scoped(vec![s("zone", "a"), s("service.name", "api")], vec![], vec![delta_sum(vec![int_point(20, 30, 10, vec![s("j", "w"), s("k", "v")])])]),
            scoped(resource("b"), vec![], vec![delta_sum(vec![int_point(20, 30, 20, vec![s("j", "w"), s("k", "v")])])]),
            scoped(resource("a"), vec![s("scope.attr", "x")], vec![delta_sum(vec![int_point(20, 30, 40, vec![s("k", "v"), s("j", "w")])])]),
        ],
    };
    assert_eq!(conversion.convert(&mut second, now), none());
    assert_eq!(sums(&second), vec![(10, 30, 11), (10, 30, 22), (10, 30, 44)]);
    assert_eq!(conversion.stream_count(), 3);
    // Another metric type, unit or monotonicity is another stream.
    let mut other = request(vec![Metric { name: "requests".into(), unit: "1".into(), data: Some(Data::Sum(Sum { data_points: vec![int_point(20, 30, 1, vec![])], aggregation_temporality: DELTA, is_monotonic: false })), ..Default::default() }]);
    conversion.convert(&mut other, now);
    let mut monotonic = request(vec![delta_sum(vec![int_point(20, 30, 1, vec![])])]);
    conversion.convert(&mut monotonic, now);
    assert_eq!((sums(&other), sums(&monotonic)), (vec![(20, 30, 1)], vec![(20, 30, 1)]));
    assert_eq!(conversion.stream_count(), 5);
}
