//! Tests of the Datadog intake readers.

use super::*;

const NOW: i64 = 1_700_000_000_123;

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

/// Expected values are those of VictoriaMetrics' three regular expressions (checked with
/// the same expressions in Python's `re`).
#[test]
fn names_are_sanitized_as_datadog_does() {
    for (raw, want) in [
        ("system.cpu.user", "system.cpu.user"),
        ("my-app.requests/sec", "my_app.requests_sec"),
        ("a__b", "a_b"),
        ("a_.b", "a.b"),
        ("a._b", "a.b"),
        ("a_._b", "a.b"),
        ("a -+ b", "a_b"),
        ("a._.b", "a..b"),
        ("é.x", ".x"),
        ("_x_", "_x_"),
        ("", ""),
        ("._.", ".."),
        ("a_.._b", "a..b"),
        ("x._._.y", "x...y"),
        ("__.__", "."),
    ] {
        assert_eq!(sanitize_name(raw), want, "{raw:?}");
    }
}

#[test]
fn v1_series_become_labelled_samples() {
    let body = br#"{"series":[
        {"metric":"system.load.1","host":"web01","device":"sda","type":"gauge","interval":10,
         "points":[[1700000000,0.5],[1700000010.5,0.75],[0,1],[1700000020,null]],
         "tags":["env:prod","host:other","role","empty:"]},
        {"metric":"no.points"}
    ]}"#;
    let series = parse_v1(body, NOW).unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!(
        series[0].labels,
        labels(&[("__name__", "system.load.1"), ("host", "web01"), ("device", "sda"), ("env", "prod"), ("exported_host", "other"), ("role", "no_label_value")])
    );
    assert_eq!(series[0].points, vec![(1_700_000_000_000, 0.5), (1_700_000_010_500, 0.75), (1_700_000_000_000, 1.0)]);
    assert!(series[1].points.is_empty());
    assert!(parse_v1(b"{\"series\":[{\"points\":[[\"x\",1]]}]}", NOW).unwrap_err().contains("v1"));
    assert!(parse_v1(b"not json", NOW).is_err());
    assert!(parse_v1(b"{\"series\": null}", NOW).unwrap().is_empty());
    let many = format!("{{\"series\":[{}{{}}]}}", "{},".repeat(SERIES_PER_REQUEST_MAX));
    assert!(parse_v1(many.as_bytes(), NOW).unwrap_err().contains("smaller requests"), "refused while read");
    assert!(parse_v2_json(many.as_bytes(), NOW).unwrap_err().contains("smaller requests"));
}

#[test]
fn v2_json_series_become_labelled_samples() {
    let body = br#"{"series":[{"metric":"dd.req-count","type":1,"unit":"req",
        "points":[{"timestamp":1700000000,"value":3},{"value":4},{"timestamp":1700000010}],
        "resources":[{"name":"web01","type":"host"}],"tags":["env:prod"],"source_type_name":"nginx"}]}"#;
    let series = parse_v2_json(body, NOW).unwrap();
    assert_eq!(series[0].labels, labels(&[("__name__", "dd.req_count"), ("host", "web01"), ("env", "prod"), ("source_type_name", "nginx")]));
    assert_eq!(series[0].points, vec![(1_700_000_000_000, 3.0), (1_700_000_000_000, 4.0)]);
    assert!(parse_v2_json(b"{\"series\":[{\"points\":[{\"timestamp\":1.5}]}]}", NOW).is_err(), "a fractional timestamp");
    // A label needs a name: a tag `:x` and a resource without a type make none.
    let nameless = br#"{"series":[{"metric":"m","points":[{"timestamp":1,"value":1}],"resources":[{"name":"h"}],"tags":[":x","k:v"]}]}"#;
    assert_eq!(parse_v2_json(nameless, NOW).unwrap()[0].labels, labels(&[("__name__", "m"), ("k", "v")]));
}

/// Protobuf encoding helpers for the tests (field numbers as the agent's payload).
fn tag(field: u32, wire: u8) -> Vec<u8> {
    varint(u64::from(field << 3 | u32::from(wire)))
}

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

fn len_field(field: u32, bytes: &[u8]) -> Vec<u8> {
    [tag(field, 2), varint(bytes.len() as u64), bytes.to_vec()].concat()
}

pub fn v2_protobuf(metric: &str, tags: &[&str], host: &str, points: &[(i64, f64)]) -> Vec<u8> {
    let mut series = len_field(1, &[len_field(1, b"host"), len_field(2, host.as_bytes())].concat());
    series.extend(len_field(2, metric.as_bytes()));
    for t in tags {
        series.extend(len_field(3, t.as_bytes()));
    }
    for (timestamp, value) in points {
        let point = [tag(1, 1), value.to_bits().to_le_bytes().to_vec(), tag(2, 0), varint(*timestamp as u64)].concat();
        series.extend(len_field(4, &point));
    }
    series.extend([tag(5, 0), varint(3)].concat()); // type: skipped
    series.extend(len_field(7, b"src"));
    len_field(1, &series)
}

#[test]
fn v2_protobuf_series_become_labelled_samples() {
    let body = [v2_protobuf("pb.metric", &["env:prod"], "web01", &[(1_700_000_000, 1.5), (1_700_000_010, 2.5)]), v2_protobuf("pb.other", &[], "", &[(0, 7.0)])].concat();
    let series = parse_v2_protobuf(&body, NOW).unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!(series[0].labels, labels(&[("__name__", "pb.metric"), ("host", "web01"), ("env", "prod"), ("source_type_name", "src")]));
    assert_eq!(series[0].points, vec![(1_700_000_000_000, 1.5), (1_700_000_010_000, 2.5)]);
    assert_eq!(series[1].points, vec![(1_700_000_000_000, 7.0)], "timestamp 0: now");
    assert!(parse_v2_protobuf(&body[..body.len() - 3], NOW).is_err(), "truncated");
    // Two bytes per empty series on the wire: past the cap, refused before it is built.
    let many = len_field(1, &[]).repeat(SERIES_PER_REQUEST_MAX + 1);
    assert!(parse_v2_protobuf(&many, NOW).unwrap_err().contains("smaller requests"));
    let many_points = len_field(1, &len_field(4, &[]).repeat(POINTS_PER_REQUEST_MAX + 1));
    assert!(parse_v2_protobuf(&many_points, NOW).unwrap_err().contains("smaller requests"));
    let many_sketches = len_field(1, &len_field(7, &[]).repeat(POINTS_PER_REQUEST_MAX / 9 + 1));
    assert!(parse_sketches(&many_sketches).unwrap_err().contains("smaller requests"));
    assert!(parse_v2_protobuf(&len_field(1, &len_field(2, b"\xff")), NOW).unwrap_err().contains("UTF-8"));
}

/// A sketch of `values` with bins keyed as Datadog's agent keys them:
/// `ceil(ln v / ln gamma) + bias` for positive values.
fn sketch_of(values: &[f64], timestamp_s: i64) -> DogSketch {
    let bias = sketch_bias();
    let mut bins = std::collections::BTreeMap::<i32, u32>::new();
    for v in values {
        *bins.entry((v.ln() / SKETCH_GAMMA.ln()).ceil() as i32 + bias).or_default() += 1;
    }
    DogSketch {
        timestamp_s,
        count: values.len() as i64,
        min: values.iter().copied().fold(f64::INFINITY, f64::min),
        max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        sum: values.iter().sum(),
        keys: bins.keys().copied().collect(),
        counts: bins.values().copied().collect(),
    }
}

#[test]
fn sketch_quantiles_are_within_the_sketch_accuracy() {
    let values: Vec<f64> = (1..=1000).map(f64::from).collect();
    let sketch = sketch_of(&values, 1);
    for (q, exact) in [(0.5, 500.0), (0.75, 750.0), (0.9, 900.0), (0.99, 990.0)] {
        let got = sketch.quantile(q);
        assert!((got - exact).abs() / exact < 0.04, "q{q}: {got} vs {exact}");
    }
    assert_eq!((sketch.quantile(0.0), sketch.quantile(1.0)), (1.0, 1000.0), "the ends are min and max");
    assert_eq!(DogSketch::default().quantile(0.5), 0.0, "an empty sketch");
    let mismatched = DogSketch { count: 2, keys: vec![1], counts: vec![1, 1], ..DogSketch::default() };
    assert_eq!(mismatched.quantile(0.5), 0.0, "keys and counts of different lengths");
    let negative = DogSketch { count: i64::MIN, keys: vec![1], counts: vec![1], ..DogSketch::default() };
    assert_eq!(negative.quantile(0.5), 0.0, "a nonsensical count: nothing to estimate");
    let with_empty_bin = DogSketch { count: 1, min: 5.0, max: 5.0, keys: vec![1, 2], counts: vec![0, 1], ..DogSketch::default() };
    assert!(with_empty_bin.quantile(0.5).is_finite(), "an empty bin divides nothing by zero");
}

fn packed(field: u32, values: &[u64]) -> Vec<u8> {
    let body: Vec<u8> = values.iter().flat_map(|v| varint(*v)).collect();
    len_field(field, &body)
}

fn dogsketch_bytes(d: &DogSketch) -> Vec<u8> {
    let double = |field: u32, v: f64| [tag(field, 1), v.to_bits().to_le_bytes().to_vec()].concat();
    let zigzag = |k: i32| ((k << 1) ^ (k >> 31)) as u32 as u64;
    [
        tag(1, 0),
        varint(d.timestamp_s as u64),
        tag(2, 0),
        varint(d.count as u64),
        double(3, d.min),
        double(4, d.max),
        double(6, d.sum),
        packed(7, &d.keys.iter().map(|&k| zigzag(k)).collect::<Vec<_>>()),
        packed(8, &d.counts.iter().map(|&n| u64::from(n)).collect::<Vec<_>>()),
    ]
    .concat()
}

#[test]
fn sketches_become_quantile_sum_count_min_max_series() {
    let first = sketch_of(&[1.0, 2.0, 3.0, 4.0], 1_700_000_000);
    let second = sketch_of(&[10.0], 1_700_000_010);
    let sketch = [len_field(1, b"dd.latency-ms"), len_field(2, b"web01"), len_field(4, b"env:prod"), len_field(7, &dogsketch_bytes(&first)), len_field(7, &dogsketch_bytes(&second))].concat();
    let series = parse_sketches(&len_field(1, &sketch)).unwrap();
    let names: Vec<String> = series.iter().map(|s| format!("{}{:?}", s.metric(), s.labels.iter().find(|(n, _)| n == "quantile").map(|(_, v)| v))).collect();
    assert_eq!(
        names,
        [
            "dd.latency_ms Some(\"0.5\")", "dd.latency_ms Some(\"0.75\")", "dd.latency_ms Some(\"0.9\")", "dd.latency_ms Some(\"0.95\")", "dd.latency_ms Some(\"0.99\")",
            "dd.latency_ms.sumNone", "dd.latency_ms.countNone", "dd.latency_ms.minNone", "dd.latency_ms.maxNone"
        ]
        .map(|n| n.replace(' ', ""))
    );
    assert_eq!(series[0].labels, labels(&[("__name__", "dd.latency_ms"), ("host", "web01"), ("quantile", "0.5"), ("env", "prod")]));
    assert_eq!(series[5].points, vec![(1_700_000_000_000, 10.0), (1_700_000_010_000, 10.0)], "sums");
    assert_eq!(series[6].points, vec![(1_700_000_000_000, 4.0), (1_700_000_010_000, 1.0)], "counts");
    assert_eq!(series[7].points[0].1, 1.0);
    assert_eq!(series[8].points[0].1, 4.0);
    assert_eq!(series[0].points[0].1, first.quantile(0.5));
    assert_eq!(series[0].points[1].1, 10.0, "one value: the first bin starts at min");
    assert!(parse_sketches(&len_field(1, &len_field(7, &tag(1, 0)))).is_err(), "a truncated dogsketch");
    // A sketch without data makes no series; a `host` tag is `exported_host`.
    assert!(parse_sketches(&len_field(1, &len_field(1, b"empty"))).unwrap().is_empty());
    let tagged = [len_field(1, b"m"), len_field(2, b"web01"), len_field(4, b"host:other"), len_field(7, &dogsketch_bytes(&second))].concat();
    let series = parse_sketches(&len_field(1, &tagged)).unwrap();
    assert!(series.iter().all(|s| s.labels.contains(&("host".into(), "web01".into())) && s.labels.contains(&("exported_host".into(), "other".into()))));
}
