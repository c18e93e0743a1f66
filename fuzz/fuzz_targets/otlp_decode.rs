//! Fuzz target: OTLP/HTTP metrics decoding and translation (protobuf and JSON, gzip framing)
//! never panics, for raw bytes and valid gzip; raw bytes also with every resource attribute and the
//! scope metadata promoted, delta points accepted, UTF-8 names kept, explicit histograms made
//! custom buckets; with names escaped without suffixes and underscores collapsed; with start
//! timestamps taken; the batch built for the shards.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use metricstor::ingest::otlp::{decode_request, Naming, ResourcePromotion, TranslationOptions, TranslationStrategy};
    let rules = metricstor::ingest::IngestRules::default();
    let with_starts = metricstor::ingest::IngestRules { read_start_timestamps: true, ..Default::default() };
    let defaults = TranslationOptions::default();
    let promote_all = TranslationOptions {
        promotion: ResourcePromotion::AllExcept(["host.id".to_string()].into_iter().collect()),
        keep_identifying_resource_attributes: true,
        promote_scope_metadata: true,
        native_delta_ingestion: true,
        naming: Naming { strategy: TranslationStrategy::NoUTF8EscapingWithSuffixes, ..Naming::default() },
        convert_histograms_to_nhcb: true,
    };
    let collapsed = TranslationOptions {
        naming: Naming { strategy: TranslationStrategy::UnderscoreEscapingWithoutSuffixes, underscore_label_sanitization: false, preserve_multiple_underscores: false },
        ..TranslationOptions::default()
    };
    for (options, rules) in [(&defaults, &with_starts), (&promote_all, &rules), (&collapsed, &rules)] {
        if let Ok(translated) = decode_request(Some("application/x-protobuf"), None, data, rules, options) {
            let _ = translated.to_batch();
        }
    }
    if let Ok(translated) = decode_request(Some("application/json"), None, data, &rules, &promote_all) {
        let _ = translated.to_batch();
    }
    let _ = decode_request(Some("application/x-protobuf"), Some("gzip"), data, &rules, &defaults);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    if std::io::Write::write_all(&mut encoder, data).is_ok() {
        if let Ok(gzipped) = encoder.finish() {
            let _ = decode_request(Some("application/x-protobuf"), Some("gzip"), &gzipped, &rules, &defaults);
        }
    }
});
