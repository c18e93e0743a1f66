//! Fuzz target: VictoriaMetrics' CSV import (`/api/v1/import/csv`) never panics: the first
//! line is read as the `format` column descriptors, every later line as a row under them.
//! A row that reads has a value per metric column and a label value per label column, and a
//! time that is never 0 (0 means "the request's time"); that time writes back in its own
//! format without a panic, whatever its year.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use metricstor::ingest::csv_import::{CsvFormat, CsvRow, TimeFormat};

    let Ok(text) = std::str::from_utf8(data) else { return };
    let (format, body) = text.split_once('\n').unwrap_or((text, ""));
    let Ok(format) = CsvFormat::parse(format) else { return };
    let time_format = format.time_format().cloned().unwrap_or(TimeFormat::Rfc3339);
    let mut row = CsvRow::default();
    let mut written = String::new();
    for line in body.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if format.parse_row(line, &mut row).is_err() {
            continue;
        }
        assert_eq!(row.values.len(), format.metric_names().len(), "a value per metric column");
        assert_eq!(row.label_values().count(), format.label_names().len(), "a label value per label column");
        if let Some(timestamp_ms) = row.timestamp_ms {
            assert_ne!(timestamp_ms, 0, "a time of 0 is no time");
            written.clear();
            time_format.write(&mut written, timestamp_ms);
        }
    }
});
