//! Fuzz target: a VictoriaMetrics JSON-lines import line (`/api/v1/import`) never panics,
//! and a line that reads has as many samples as its arrays had, sorted by time, under a
//! metric name; written back by the export's writer, it reads again to the same labels and
//! sample bits.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use metricstor::ingest::json_lines::{parse_line, write_line};
    use metricstor::ingest::label_limits::LabelLimits;

    let Ok(text) = std::str::from_utf8(data) else { return };
    let limits = LabelLimits::default();
    for (index, line) in text.split('\n').enumerate() {
        let Ok(Some(series)) = parse_line(line, index + 1, &limits) else { continue };
        assert!(series.labels.get("__name__").is_some(), "a metric name");
        assert!(series.samples.windows(2).all(|w| w[0].timestamp_ms <= w[1].timestamp_ms), "sorted by time");
        let mut written = String::new();
        write_line(&mut written, &series);
        let again = match parse_line(written.trim_end(), 1, &limits) {
            Ok(Some(again)) => again,
            other => panic!("{written:?} does not read back: {other:?}"),
        };
        assert_eq!(again.labels, series.labels);
        let bits = |s: &tsdb::SeriesSamples| s.samples.iter().map(|x| (x.timestamp_ms, x.value.to_bits())).collect::<Vec<_>>();
        let (want, got) = (bits(&series), bits(&again));
        // NaN payloads other than the staleness marker come back as the plain NaN.
        let canonical = |v: &[(i64, u64)]| v.iter().map(|&(t, b)| (t, if f64::from_bits(b).is_nan() && b != tsdb::STALE_NAN_BITS { f64::NAN.to_bits() } else { b })).collect::<Vec<_>>();
        assert_eq!(canonical(&got), canonical(&want));
    }
});
