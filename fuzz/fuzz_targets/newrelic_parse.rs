//! Fuzz target: New Relic event bodies never panic the parser; every sample it accepts has a
//! non-empty name, every label a non-empty name and value, and every event a time.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(events) = metricstor::ingest::newrelic::parse(data, 1_700_000_000_123) else { return };
    for event in events {
        assert!(event.samples.iter().all(|(name, _)| !name.is_empty() && name != "timestamp"));
        assert!(event.labels.iter().all(|(name, value)| !name.is_empty() && !value.is_empty()));
        assert_ne!(event.timestamp_ms, 0, "no timestamp is now");
    }
});
