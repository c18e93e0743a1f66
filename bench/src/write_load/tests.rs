//! Tests of the write load plans: every sample once, native histograms, pacing, churn, start times.

use super::*;

fn options() -> WriteOptions {
    WriteOptions {
        url: String::new(),
        generator: GenOptions { series: 100, metrics: 3, ..GenOptions::default() },
        samples: 3,
        interval_ms: 1000,
        batch_series: 40,
        connections: 2,
        protocol: Protocol::V1,
        start_timestamps: false,
        start_ms: 0,
        churn_ratio: 0.0,
        churn_interval: 0,
        rate: 0.0,
        http2: false,
        tls: TlsFiles::default(),
        no_retry: false,
    }
}

#[test]
fn plans_cover_every_sample_once_with_per_name_counts() {
    let o = options();
    let plans = build_plans(&o).unwrap();
    let series = plans.series;
    assert!(series >= 100);
    let requests: Vec<&Request> = plans.per_connection.iter().flatten().collect();
    let total: u64 = requests.iter().map(|r| r.samples).sum();
    assert_eq!(total, series as u64 * 3);
    assert_eq!(requests.len(), series.div_ceil(40) * 3);
    let by_name: u64 = requests.iter().flat_map(|r| &r.by_name).map(|(_, n)| *n as u64).sum();
    assert_eq!(by_name, total);
    assert!(requests.iter().all(|r| r.due.is_none()));
    assert!(plans.names.iter().any(|n| n.ends_with("_bucket")));
}

/// Every histogram of a native run's pre-encoded bodies, per series (labels joined), in send
/// order, decoded with prost as a server would.
fn decoded_histograms(o: &WriteOptions) -> BTreeMap<String, Vec<proto::remote_write_v1::Histogram>> {
    use prost::Message;
    let plans = build_plans(o).unwrap();
    let mut by_series: BTreeMap<String, Vec<proto::remote_write_v1::Histogram>> = BTreeMap::new();
    let (mut floats, mut histograms) = (0, 0);
    // Each connection sends its requests in order and owns its series: per-series order holds.
    for request in plans.per_connection.iter().flatten() {
        let raw = snap::raw::Decoder::new().decompress_vec(&request.body).unwrap();
        let series: Vec<(String, Vec<f64>, Vec<proto::remote_write_v1::Histogram>)> = match o.protocol {
            Protocol::V1 => proto::remote_write_v1::WriteRequest::decode(raw.as_slice())
                .unwrap()
                .timeseries
                .into_iter()
                .map(|ts| (ts.labels.iter().map(|l| format!("{}={}", l.name, l.value)).collect::<Vec<_>>().join(","), ts.samples.iter().map(|s| s.value).collect(), ts.histograms))
                .collect(),
            Protocol::V2 => {
                let r = proto::remote_write_v2::Request::decode(raw.as_slice()).unwrap();
                r.timeseries
                    .into_iter()
                    .map(|ts| {
                        let labels = ts.labels_refs.chunks(2).map(|p| format!("{}={}", r.symbols[p[0] as usize], r.symbols[p[1] as usize])).collect::<Vec<_>>().join(",");
                        (labels, ts.samples.iter().map(|s| s.value).collect(), ts.histograms)
                    })
                    .collect()
            }
        };
        let (f, h): (usize, usize) = series.iter().fold((0, 0), |(f, h), s| (f + s.1.len(), h + s.2.len()));
        assert_eq!((f as u64, h as u64), (request.samples, request.histograms), "a request counts what it carries");
        (floats, histograms) = (floats + f, histograms + h);
        for (labels, samples, hs) in series {
            assert_eq!(samples.len() + hs.len(), 1, "one sample per series and request: {labels}");
            assert!(!labels.contains("le=") || hs.is_empty(), "native histograms have no le label");
            if !hs.is_empty() {
                by_series.entry(labels).or_default().extend(hs);
            }
        }
    }
    assert_eq!(by_series.values().map(Vec::len).sum::<usize>(), histograms);
    assert!(floats > 0);
    by_series
}

#[test]
fn native_histogram_bodies_decode_consistent_and_cumulative() {
    use crate::native_histogram::ZERO_THRESHOLD;
    use crate::series_gen::Histograms;
    use proto::remote_write_v1::histogram::{Count, ZeroCount};
    for (protocol, schema) in [(Protocol::V1, 3), (Protocol::V2, 3), (Protocol::V1, -2), (Protocol::V2, 8)] {
        let generator = GenOptions { histograms: Histograms::Native { schema }, ..options().generator };
        let o = WriteOptions { protocol, samples: 6, interval_ms: 15_000, generator, ..options() };
        let by_series = decoded_histograms(&o);
        let mut observed = 0;
        assert_eq!(by_series.len(), build_plans(&o).unwrap().series / 3, "one native histogram series per target (counter, gauge, histogram)");
        for (labels, hs) in &by_series {
            assert!(labels.starts_with("__name__=http_request_duration_seconds,"), "{labels}");
            assert_eq!(hs.len(), 6);
            let mut previous: Option<BTreeMap<i32, i64>> = None;
            for (step, h) in hs.iter().enumerate() {
                assert_eq!(h.timestamp, step as i64 * 15_000);
                assert_eq!((h.schema, h.zero_threshold), (schema, ZERO_THRESHOLD));
                assert!(h.negative_spans.is_empty() && h.negative_deltas.is_empty() && h.positive_counts.is_empty());
                let Some(Count::CountInt(count)) = h.count else { panic!("integer count") };
                let Some(ZeroCount::ZeroCountInt(zero)) = h.zero_count else { panic!("integer zero count") };
                // Spans and deltas back to absolute buckets, as the server does.
                let mut buckets = BTreeMap::new();
                let (mut index, mut current, mut deltas) = (0i32, 0i64, h.positive_deltas.iter());
                for (n, span) in h.positive_spans.iter().enumerate() {
                    assert!(n == 0 || span.offset > 2, "gaps of up to 2 stay in one span");
                    index += span.offset;
                    for _ in 0..span.length {
                        current += deltas.next().expect("spans cover the deltas");
                        assert!(current >= 0);
                        buckets.insert(index, current);
                        index += 1;
                    }
                }
                assert!(deltas.next().is_none(), "deltas cover the spans");
                let in_buckets: i64 = buckets.values().sum();
                assert_eq!(count, zero + in_buckets as u64, "count == zero + buckets");
                assert!(h.sum >= 0.0 && (count > 0 || h.sum == 0.0));
                if let Some(p) = &previous {
                    for (i, n) in p {
                        assert!(buckets.get(i).is_some_and(|m| m >= n), "bucket {i} only grows ({labels})");
                    }
                }
                previous = Some(buckets);
            }
            if let Some(Count::CountInt(last)) = hs.last().unwrap().count {
                observed += last;
            }
        }
        assert!(observed > 0, "observations happened");
    }
}

#[test]
fn native_histograms_are_counted_apart_and_paced_with_floats() {
    let generator = GenOptions { histograms: crate::series_gen::Histograms::Native { schema: 3 }, ..options().generator };
    let o = WriteOptions { generator, rate: 1000.0, churn_ratio: 0.5, churn_interval: 1, ..options() };
    let plans = build_plans(&o).unwrap();
    let requests: Vec<&Request> = plans.per_connection.iter().flatten().collect();
    let histograms: u64 = requests.iter().map(|r| r.histograms).sum();
    let floats: u64 = requests.iter().map(|r| r.samples).sum();
    assert_eq!(histograms, plans.series as u64 / 3 * 3, "a third of the series, 3 samples each");
    assert_eq!(floats + histograms, plans.series as u64 * 3);
    assert_eq!(plans.native_histogram_names, vec!["http_request_duration_seconds"]);
    let by_name: u64 = requests.iter().flat_map(|r| &r.by_name).map(|(_, n)| *n as u64).sum();
    assert_eq!(by_name, floats + histograms);
    let last_due = requests.iter().map(|r| r.due.unwrap()).max().unwrap();
    let last = requests.iter().find(|r| r.due == Some(last_due)).unwrap();
    assert_eq!(last_due, Duration::from_secs_f64((floats + histograms - last.samples - last.histograms) as f64 / 1000.0));
}

#[test]
fn paced_plans_follow_the_global_schedule() {
    let o = WriteOptions { rate: 1000.0, ..options() };
    let plans = build_plans(&o).unwrap();
    let mut dues: Vec<(Duration, u64)> = plans.per_connection.iter().flatten().map(|r| (r.due.unwrap(), r.samples)).collect();
    dues.sort();
    let mut before = 0;
    for (due, samples) in dues {
        assert_eq!(due, Duration::from_secs_f64(before as f64 / 1000.0));
        before += samples;
    }
}

#[test]
fn churn_keeps_sample_counts_and_adds_series() {
    let o = WriteOptions { churn_ratio: 0.5, churn_interval: 1, samples: 4, ..options() };
    let plans = build_plans(&o).unwrap();
    let total: u64 = plans.per_connection.iter().flatten().map(|r| r.samples).sum();
    assert_eq!(total, plans.series as u64 * 4, "churn replaces series, it does not add samples");
}

#[test]
fn start_times_are_each_counters_first_sample_and_restart_with_churn() {
    use prost::Message;
    let o = WriteOptions { protocol: Protocol::V2, start_timestamps: true, start_ms: 1_000_000, churn_ratio: 0.5, churn_interval: 2, samples: 4, ..options() };
    let plans = build_plans(&o).unwrap();
    // series labels -> (first sample time, every start seen)
    let mut seen: BTreeMap<String, (i64, Vec<i64>)> = BTreeMap::new();
    for request in plans.per_connection.iter().flatten() {
        let raw = snap::raw::Decoder::new().decompress_vec(&request.body).unwrap();
        let r = proto::remote_write_v2::Request::decode(raw.as_slice()).unwrap();
        for ts in r.timeseries {
            let labels = ts.labels_refs.chunks(2).map(|p| format!("{}={}", r.symbols[p[0] as usize], r.symbols[p[1] as usize])).collect::<Vec<_>>().join(",");
            let s = &ts.samples[0];
            let entry = seen.entry(labels).or_insert((s.timestamp, Vec::new()));
            entry.0 = entry.0.min(s.timestamp);
            entry.1.push(s.start_timestamp);
        }
    }
    let (mut counters, mut gauges, mut reborn) = (0, 0, 0);
    for (labels, (first, starts)) in &seen {
        if labels.starts_with("__name__=node_memory_MemAvailable_bytes,") {
            gauges += 1;
            assert!(starts.iter().all(|s| *s == 0), "a gauge has no start: {labels}");
        } else {
            counters += 1;
            assert!(starts.iter().all(|s| s == first), "start = the series' first sample time: {labels} {first} {starts:?}");
            reborn += usize::from(*first > o.start_ms);
        }
    }
    assert!(gauges > 0 && counters > 0 && reborn > 0, "{gauges} gauges, {counters} counters, {reborn} born by churn");
}

#[test]
fn quantiles() {
    let v: Vec<u64> = (1..=100).collect();
    assert_eq!(quantile(&v, 0.5), 51);
    assert_eq!(quantile(&v, 0.99), 99);
    assert_eq!(quantile(&[], 0.5), 0);
}
