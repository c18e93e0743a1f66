//! Fuzz target: Datadog series bodies (v1 JSON, v2 JSON, v2 protobuf) never panic the
//! parsers; every series they accept is named by its first label, `__name__`, whose value is
//! already sanitized (sanitizing it again changes nothing), and no label value is empty.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use metricstor::ingest::datadog::{parse_v1, parse_v2_json, parse_v2_protobuf, sanitize_name};
    let now_ms = 1_700_000_000_123;
    for parsed in [parse_v1(data, now_ms), parse_v2_json(data, now_ms), parse_v2_protobuf(data, now_ms)] {
        let Ok(series) = parsed else { continue };
        for s in series {
            assert_eq!(s.labels.first().map(|(n, _)| n.as_str()), Some("__name__"));
            assert_eq!(sanitize_name(s.metric()), s.metric(), "sanitizing is idempotent");
            assert!(s.labels.iter().skip(1).all(|(_, v)| !v.is_empty()), "no empty label value");
        }
    }
});
