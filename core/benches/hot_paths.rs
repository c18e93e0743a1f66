//! Micro-benchmarks of the hot paths (criterion): remote_write and OTLP (protobuf, JSON) decoding, label hashing,
//! series creation and lookup in a head, XOR chunk append/iterate, postings intersection, WAL group commit and PromQL rate/sum.
//! Run: `cargo bench -p metricstor --bench hot_paths`

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;
use proto::remote_write_v1 as v1;
use tsdb::chunk::{XorAppender, XorChunk, XorIterator};
use tsdb::{Labels, Sample, SeriesSamples};

fn write_request(series: usize) -> Vec<u8> {
    let request = v1::WriteRequest {
        timeseries: (0..series)
            .map(|i| v1::TimeSeries {
                labels: vec![
                    v1::Label { name: "__name__".into(), value: "http_requests_total".into() },
                    v1::Label { name: "instance".into(), value: format!("10.0.{}.{}:9100", i / 256, i % 256) },
                    v1::Label { name: "job".into(), value: format!("job-{}", i % 20) },
                    v1::Label { name: "pod".into(), value: format!("pod-{i}") },
                ],
                samples: vec![v1::Sample { value: i as f64, timestamp: 1_700_000_000_000 }],
                ..Default::default()
            })
            .collect(),
        metadata: vec![],
    };
    snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).expect("compress")
}

fn decode(c: &mut Criterion) {
    let body = write_request(2000);
    let mut group = c.benchmark_group("remote_write");
    group.throughput(Throughput::Elements(2000));
    group.bench_function("decode_validate_2000_series", |b| {
        b.iter(|| metricstor::ingest::decode_request(None, Some("snappy"), black_box(&body), &metricstor::ingest::IngestRules::default()).expect("decodes"))
    });
    group.finish();
}

/// One OTLP request of `metrics` gauges with `points` data points each (5 attributes a
/// point, 3 resource attributes), as protobuf and as the OTLP/JSON an SDK writes.
fn otlp_request(metrics: usize, points: usize) -> (Vec<u8>, Vec<u8>) {
    use proto::otlp_metrics as pb;
    let text = |key: &str, value: String| pb::KeyValue { key: key.into(), value: Some(pb::AnyValue { value: Some(pb::any_value::Value::StringValue(value)) }) };
    let t0: u64 = 1_700_000_000_000_000_000;
    let request = pb::ExportMetricsServiceRequest {
        resource_metrics: vec![pb::ResourceMetrics {
            resource: Some(pb::Resource { attributes: vec![text("service.name", "checkout".into()), text("service.instance.id", "pod-1".into()), text("host.name", "h1".into())], ..Default::default() }),
            scope_metrics: vec![pb::ScopeMetrics {
                metrics: (0..metrics)
                    .map(|m| pb::Metric {
                        name: format!("app.queue.depth.{m}"),
                        unit: "{item}".into(),
                        data: Some(pb::metric::Data::Gauge(pb::Gauge {
                            data_points: (0..points)
                                .map(|p| pb::NumberDataPoint {
                                    attributes: ["region", "zone", "queue", "tenant", "shard"].iter().map(|k| text(k, format!("{k}-{}", p % 7))).collect(),
                                    time_unix_nano: t0 + p as u64 * 1_000_000_000,
                                    value: Some(pb::number_data_point::Value::AsDouble(p as f64 * 1.5)),
                                    ..Default::default()
                                })
                                .collect(),
                        })),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let mut json = String::from(r#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}},{"key":"service.instance.id","value":{"stringValue":"pod-1"}},{"key":"host.name","value":{"stringValue":"h1"}}]},"scopeMetrics":[{"metrics":["#);
    for m in 0..metrics {
        let points: Vec<String> = (0..points)
            .map(|p| {
                let attributes: Vec<String> = ["region", "zone", "queue", "tenant", "shard"].iter().map(|k| format!(r#"{{"key":"{k}","value":{{"stringValue":"{k}-{}"}}}}"#, p % 7)).collect();
                format!(r#"{{"attributes":[{}],"timeUnixNano":"{}","asDouble":{}}}"#, attributes.join(","), t0 + p as u64 * 1_000_000_000, p as f64 * 1.5)
            })
            .collect();
        json.push_str(&format!(r#"{}{{"name":"app.queue.depth.{m}","unit":"{{item}}","gauge":{{"dataPoints":[{}]}}}}"#, if m > 0 { "," } else { "" }, points.join(",")));
    }
    json.push_str("]}]}]}");
    (request.encode_to_vec(), json.into_bytes())
}

fn otlp_decode(c: &mut Criterion) {
    use metricstor::ingest::otlp::{decode_body, decode_request, TranslationOptions};
    let (protobuf, json) = otlp_request(200, 10);
    let rules = metricstor::ingest::IngestRules::default();
    let options = TranslationOptions::default();
    // The two bodies are the same request: equal work for both decoders.
    assert_eq!(decode_body(Some("application/json"), None, &json).expect("json"), decode_body(Some("application/x-protobuf"), None, &protobuf).expect("protobuf"));
    let mut group = c.benchmark_group("otlp");
    group.throughput(Throughput::Elements(2000));
    for (name, content_type, body) in [("protobuf", "application/x-protobuf", &protobuf), ("json", "application/json", &json)] {
        group.bench_function(format!("decode_{name}_2000_points"), |b| b.iter(|| decode_body(Some(content_type), None, black_box(body)).expect("decodes")));
        group.bench_function(format!("decode_translate_{name}_2000_points"), |b| b.iter(|| decode_request(Some(content_type), None, black_box(body), &rules, &options).expect("translates")));
    }
    group.finish();
}

/// A realistic 1.0 request: `series` series with 10 labels each (node-exporter-like) and one sample.
fn write_request_10_labels(series: usize) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(&request_10_labels(series).encode_to_vec()).expect("compress")
}

fn request_10_labels(series: usize) -> v1::WriteRequest {
    v1::WriteRequest {
        timeseries: (0..series)
            .map(|i| v1::TimeSeries {
                labels: labels_10(i).into_iter().map(|(name, value)| v1::Label { name, value }).collect(),
                samples: vec![v1::Sample { value: i as f64, timestamp: 1_700_000_000_000 }],
                ..Default::default()
            })
            .collect(),
        metadata: vec![],
    }
}

fn labels_10(i: usize) -> Vec<(String, String)> {
    vec![
        ("__name__".into(), format!("node_metric_{}", i % 50)),
        ("cluster".into(), "prod-eu-west-1".into()),
        ("container".into(), "node-exporter".into()),
        ("cpu".into(), format!("{}", i % 16)),
        ("instance".into(), format!("10.0.{}.{}:9100", (i / 16) / 256, (i / 16) % 256)),
        ("job".into(), "node-exporter".into()),
        ("mode".into(), ["idle", "user", "system", "iowait"][i % 4].into()),
        ("namespace".into(), "monitoring".into()),
        ("pod".into(), format!("node-exporter-{}", i / 16)),
        ("service".into(), "kube-prometheus-node-exporter".into()),
    ]
}

/// Decode + validate + split by shard (16 shards) of one request: the CPU a write costs
/// before it reaches the shard queues.
fn decode_route(c: &mut Criterion) {
    let body = write_request_10_labels(2000);
    let mut group = c.benchmark_group("remote_write");
    group.throughput(Throughput::Elements(2000));
    group.bench_function("decode_route_2000_series_10_labels", |b| {
        b.iter(|| {
            let (_, decoded) = metricstor::ingest::decode_request(None, Some("snappy"), black_box(&body), &metricstor::ingest::IngestRules::default()).expect("decodes");
            let parts = metricstor::shard::router::split_by_shard(&decoded.series, 16);
            black_box((decoded, parts))
        })
    });
    group.finish();
}

fn hashing(c: &mut Criterion) {
    let labels = Labels::from_pairs([("__name__", "http_requests_total"), ("instance", "10.0.0.1:9100"), ("job", "api"), ("pod", "pod-17")]);
    c.bench_function("labels_stable_hash", |b| b.iter(|| black_box(&labels).stable_hash()));
}

/// A shard's head creating 200k series of ten labels (hash lookup, index insert, series
/// record), then finding each again: what a new target or a churned pod costs.
fn series_create_lookup(c: &mut Criterion) {
    const SERIES: usize = 200_000;
    let all: Vec<Labels> = (0..SERIES).map(|i| Labels::from_pairs(labels_10(i))).collect();
    let mut group = c.benchmark_group("head_series");
    group.sample_size(10);
    group.throughput(Throughput::Elements(SERIES as u64));
    group.bench_function("create_200k", |b| {
        b.iter_with_large_drop(|| {
            let mut head = tsdb::head::Head::default();
            for labels in &all {
                black_box(head.get_or_create(labels));
            }
            head
        })
    });
    let mut head = tsdb::head::Head::default();
    for labels in &all {
        head.get_or_create(labels);
    }
    group.bench_function("lookup_200k", |b| {
        b.iter(|| {
            for labels in &all {
                black_box(head.get_or_create(labels));
            }
        })
    });
    group.finish();
}

/// gzip of a range query's JSON answer (200 series x 241 points), as sent to clients that
/// accept it.
fn answer_gzip(c: &mut Criterion) {
    let mut json = String::from(r#"{"status":"success","data":{"resultType":"matrix","result":["#);
    for s in 0..200 {
        if s > 0 {
            json.push(',');
        }
        json.push_str(&format!(r#"{{"metric":{{"job":"job-{}","pod":"pod-{s}"}},"values":["#, s % 10));
        for k in 0..241 {
            if k > 0 {
                json.push(',');
            }
            json.push_str(&format!(r#"[{},"{}"]"#, 1_700_000_000 + k * 15, (s * 7 + k * 3) as f64 * 0.25));
        }
        json.push_str("]}");
    }
    json.push_str("]}}");
    let mut group = c.benchmark_group("answer_gzip");
    group.throughput(Throughput::Bytes(json.len() as u64));
    group.bench_function("range_200x241", |b| b.iter(|| metricstor::api::compress::gzip(black_box(json.as_bytes()))));
    group.finish();
}

fn xor(c: &mut Criterion) {
    let mut group = c.benchmark_group("xor_chunk");
    group.throughput(Throughput::Elements(120));
    group.bench_function("append_120", |b| {
        b.iter(|| {
            let mut a = XorAppender::default();
            for i in 0..120i64 {
                a.append(1_700_000_000_000 + i * 15_000, (i * 3) as f64 + 0.5);
            }
            black_box(a.into_chunk())
        })
    });
    let mut a = XorAppender::default();
    for i in 0..120i64 {
        a.append(1_700_000_000_000 + i * 15_000, (i * 3) as f64 + 0.5);
    }
    let chunk = a.into_chunk();
    group.bench_function("iterate_120", |b| b.iter(|| XorIterator::new(black_box(&chunk.bytes)).count()));
    group.finish();

    // Compaction's join of two adjacent 120-sample chunks (gauge-like values, jittered
    // timestamps): by copying bits, and by decoding and encoding every sample as before.
    let pair: Vec<XorChunk> = (0..2i64)
        .map(|half| {
            let mut a = XorAppender::default();
            for i in half * 120..half * 120 + 120 {
                a.append(1_700_000_000_000 + i * 15_000 + (i * 7919) % 250, ((i * 37) % 101) as f64 * 0.25 - 3.0);
            }
            a.into_chunk()
        })
        .collect();
    let mut group = c.benchmark_group("xor_chunk_join");
    group.throughput(Throughput::Elements(240));
    group.bench_function("copy_bits_120_120", |b| {
        b.iter(|| {
            let mut joined = XorAppender::default();
            assert!(joined.append_chunk(black_box(&pair[0].bytes)));
            black_box(joined.into_chunk_with(black_box(&pair[1].bytes)))
        })
    });
    group.bench_function("reencode_120_120", |b| {
        b.iter(|| {
            let mut joined = XorAppender::default();
            for chunk in &pair {
                for s in XorIterator::new(black_box(&chunk.bytes)) {
                    joined.append(s.timestamp_ms, s.value);
                }
            }
            black_box(joined.into_chunk())
        })
    });
    group.finish();
}

fn postings(c: &mut Criterion) {
    let a: Vec<u32> = (0..100_000).step_by(3).collect();
    let b: Vec<u32> = (0..100_000).step_by(7).collect();
    c.bench_function("postings_intersect_33k_x_14k", |bench| bench.iter(|| tsdb::index::intersect(black_box(&a), black_box(&b))));
}

fn wal(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let batch: Vec<SeriesSamples> = (0..2000)
        .map(|i| SeriesSamples {
            labels: Labels::from_pairs([("__name__", "m".to_string()), ("pod", format!("pod-{i}"))]),
            samples: vec![Sample { timestamp_ms: 1, value: 1.0 }],
            histograms: Vec::new(),
            starts: None,
        })
        .collect();
    let mut group = c.benchmark_group("shard");
    group.throughput(Throughput::Elements(2000));
    group.sample_size(20);
    group.bench_function("append_group_2000_samples_fdatasync", |b| {
        b.iter_custom(|iterations| {
            let (path, batch) = (path.clone(), batch.clone());
            glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
                .io_memory(1 << 20)
                .spawn(move || async move {
                    let options = tsdb::ShardOptions { wal_segment_bytes: 64 << 20, fsync_on_commit: true, ..Default::default() };
                    let mut db = tsdb::ShardDb::open(&path, options).await.expect("open");
                    let started = std::time::Instant::now();
                    for i in 0..iterations {
                        let step: Vec<SeriesSamples> = batch
                            .iter()
                            .map(|s| SeriesSamples { labels: s.labels.clone(), samples: vec![Sample { timestamp_ms: 2 + i as i64, value: 1.0 }], histograms: Vec::new(), starts: None })
                            .collect();
                        db.append_group(&[step.as_slice()]).await.expect("append");
                    }
                    let elapsed = started.elapsed();
                    db.close().await.expect("close");
                    elapsed
                })
                .expect("executor")
                .join()
                .expect("ran")
        })
    });
    // The shard side alone for series that already exist (the steady state), no fdatasync:
    // lookups, WAL record encoding and head appends.
    let dir_existing = tempfile::tempdir().expect("tempdir");
    let path = dir_existing.path().to_path_buf();
    let batch: Vec<SeriesSamples> =
        (0..2000).map(|i| SeriesSamples { labels: Labels::from_pairs(labels_10(i)), samples: vec![Sample { timestamp_ms: 1, value: 1.0 }], histograms: Vec::new(), starts: None }).collect();
    group.bench_function("append_group_existing_2000_series_10_labels", |b| {
        b.iter_custom(|iterations| {
            let (path, batch) = (path.clone(), batch.clone());
            glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
                .io_memory(1 << 20)
                .spawn(move || async move {
                    let options = tsdb::ShardOptions { wal_segment_bytes: 64 << 20, fsync_on_commit: false, ..Default::default() };
                    let mut db = tsdb::ShardDb::open(&path, options).await.expect("open");
                    db.append_group(&[batch.as_slice()]).await.expect("create the series");
                    let mut elapsed = std::time::Duration::ZERO;
                    for i in 0..iterations {
                        // The request as the decoder hands it over is built outside the timing.
                        let step: Vec<SeriesSamples> = batch
                            .iter()
                            .map(|s| SeriesSamples { labels: Labels::from_sorted(s.labels.iter()), samples: vec![Sample { timestamp_ms: 1_000 + i as i64, value: 1.0 }], histograms: Vec::new(), starts: None })
                            .collect();
                        let step = tsdb::SeriesBatch::from_series(&step);
                        let started = std::time::Instant::now();
                        db.append_batches(&[tsdb::BatchPart::whole(&step)]).await.expect("append");
                        elapsed += started.elapsed();
                    }
                    db.close().await.expect("close");
                    elapsed
                })
                .expect("executor")
                .join()
                .expect("ran")
        })
    });
    group.finish();
}

fn promql(c: &mut Criterion) {
    let data = promql::MemQuerier {
        series: (0..1000)
            .map(|i| SeriesSamples {
                labels: Labels::from_pairs([("__name__", "http_requests_total".to_string()), ("job", format!("job-{}", i % 10)), ("pod", format!("pod-{i}"))]),
                samples: (0..480).map(|k| Sample { timestamp_ms: k * 15_000, value: (k * (i % 5 + 1)) as f64 }).collect(),
                histograms: Vec::new(),
                starts: None,
            })
            .collect(),
    };
    let engine = promql::Engine::new(promql::EngineOptions::default());
    let mut group = c.benchmark_group("promql");
    group.sample_size(20);
    group.bench_function("range_sum_rate_1000_series_241_steps", |b| {
        b.iter(|| {
            let q = engine.prepare_range("sum by (job) (rate(http_requests_total[5m]))", 3_600_000, 7_200_000, 15_000).expect("parses");
            black_box(q.execute(&data).expect("runs"))
        })
    });
    group.finish();
}

criterion_group!(benches, decode, decode_route, otlp_decode, hashing, series_create_lookup, answer_gzip, xor, postings, wal, promql);
criterion_main!(benches);
