//! Fuzz target: OpenTSDB `put` lines, and the same bytes read as an HTTP `/api/put` JSON
//! body, never panic the parsers, under strict non-finite rules or not; what they accept
//! becomes a valid write batch holding exactly what was parsed (`Parsed::assert_consistent`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use metricstor::ingest::influx::Parsed;
    use metricstor::ingest::opentsdb::{push_json_point, push_line};
    use metricstor::ingest::IngestRules;
    let rules = IngestRules { reject_non_finite: data.first().is_some_and(|b| b & 1 != 0), ..IngestRules::default() };
    let mut parsed = Parsed::default();
    for line in data.split(|&b| b == b'\n') {
        let _ = push_line(&mut parsed, line, 1_700_000_000_123, &rules);
    }
    parsed.assert_consistent();
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) {
        let mut parsed = Parsed::default();
        for point in json.as_array().map_or(std::slice::from_ref(&json), Vec::as_slice) {
            let _ = push_json_point(&mut parsed, point, 1_700_000_000_123, &rules);
        }
        parsed.assert_consistent();
    }
});
