//! Fuzz target: Datadog bodies (v1 JSON, v2 JSON, v2 protobuf, sketches) never panic the
//! parsers; every series they accept is named by its first label, `__name__`, and no label
//! value is empty. A series' name is already sanitized (sanitizing it again changes
//! nothing), except the `.sum`/`.count`/`.min`/`.max` suffixes a sketch's name gets after
//! sanitizing, as VictoriaMetrics names them.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use metricstor::ingest::datadog::{parse_sketches, parse_v1, parse_v2_json, parse_v2_protobuf, sanitize_name};
    let now_ms = 1_700_000_000_123;
    for (parsed, sketch) in [(parse_v1(data, now_ms), false), (parse_v2_json(data, now_ms), false), (parse_v2_protobuf(data, now_ms), false), (parse_sketches(data), true)] {
        let Ok(series) = parsed else { continue };
        for s in series {
            assert_eq!(s.labels.first().map(|(n, _)| n.as_str()), Some("__name__"));
            let base = if sketch { [".sum", ".count", ".min", ".max"].iter().find_map(|suffix| s.metric().strip_suffix(suffix)).unwrap_or(s.metric()) } else { s.metric() };
            assert_eq!(sanitize_name(base), base, "sanitizing is idempotent");
            assert!(s.labels.iter().skip(1).all(|(n, v)| !n.is_empty() && !v.is_empty()), "no empty label name or value");
        }
    }
});
