//! Fuzz target: New Relic event bodies never panic the parser; every sample it accepts has a
//! non-empty name, every label a non-empty name and value, and every event a time. The same
//! bytes, line by line, never panic the Zabbix connector's line reader, whose item values
//! always carry a name, a host and a hostname.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let all = metricstor::ingest::zabbix::ZabbixLabels {
            groups_value: Some("1".into()),
            empty_tags_value: Some("e".into()),
            duplicate_tags_separator: Some(",".into()),
        };
        for line in text.lines() {
            for labels in [&all, &Default::default()] {
                if let Ok(Some(item)) = metricstor::ingest::zabbix::parse_line(line, labels) {
                    assert!(!item.metric.is_empty());
                    assert!(item.labels.len() >= 2 && item.labels.iter().all(|(name, value)| !name.is_empty() && !value.is_empty()));
                }
            }
        }
    }
    let Ok(events) = metricstor::ingest::newrelic::parse(data, 1_700_000_000_123) else { return };
    for event in events {
        assert!(event.samples.iter().all(|(name, _)| !name.is_empty() && name != "timestamp"));
        assert!(event.labels.iter().all(|(name, value)| !name.is_empty() && !value.is_empty()));
        assert_ne!(event.timestamp_ms, 0, "no timestamp is now");
    }
});
