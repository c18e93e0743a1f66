//! Fuzz target: Graphite plaintext lines never panic the parser, under strict non-finite
//! rules or not; what it accepts becomes a valid write batch (sorted, unique, non-empty
//! labels: the batch builder's and `Labels::from_sorted`'s debug assertions) holding exactly
//! what was parsed.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use metricstor::ingest::graphite::push_line;
    use metricstor::ingest::influx::Parsed;
    use metricstor::ingest::IngestRules;
    let rules = IngestRules { reject_non_finite: data.first().is_some_and(|b| b & 1 != 0), ..IngestRules::default() };
    let mut parsed = Parsed::default();
    for line in data.split(|&b| b == b'\n') {
        let _ = push_line(&mut parsed, line, 1_700_000_000_123, &rules);
    }
    parsed.assert_consistent();
});
