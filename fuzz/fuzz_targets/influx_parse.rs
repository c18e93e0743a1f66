//! Fuzz target: InfluxDB line protocol parsing never panics, under every precision, with
//! `db` and extra labels, and strict non-finite rules; what it accepts becomes a valid write
//! batch (sorted, unique, non-empty labels: the batch builder's and `Labels::from_sorted`'s
//! debug assertions) holding exactly what was parsed.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use metricstor::ingest::influx::{parse, LineOptions, Precision, PARSED_BYTES_MAX};
    use metricstor::ingest::IngestRules;
    let extra = [("dc".to_string(), "eu".to_string())];
    let precisions = [Precision::Guess, Precision::Nanoseconds, Precision::Milliseconds, Precision::Hours];
    let selector = data.first().copied().unwrap_or(0) as usize;
    let options = LineOptions {
        precision: precisions[selector % precisions.len()],
        db: (selector & 4 != 0).then_some("telegraf"),
        extra_labels: if selector & 8 != 0 { &extra } else { &[] },
        now_ms: 1_700_000_000_000,
        rules: IngestRules { reject_non_finite: selector & 16 != 0, ..IngestRules::default() },
        parsed_bytes_max: PARSED_BYTES_MAX,
    };
    if let Ok(parsed) = parse(data, &options) {
        parsed.assert_consistent();
    }
});
