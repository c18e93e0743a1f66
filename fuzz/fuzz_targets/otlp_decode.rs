//! Fuzz target: OTLP/HTTP metrics decoding and translation (protobuf, and gzip framing)
//! never panics, for raw bytes and for bytes that are valid gzip; raw bytes also with every
//! resource attribute and the scope metadata promoted and delta points accepted, and the
//! batch built for the shards.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use metricstor::ingest::otlp::{decode_request, ResourcePromotion, TranslationOptions};
    let rules = metricstor::ingest::IngestRules::default();
    let defaults = TranslationOptions::default();
    let promote_all = TranslationOptions {
        promotion: ResourcePromotion::AllExcept(["host.id".to_string()].into_iter().collect()),
        keep_identifying_resource_attributes: true,
        promote_scope_metadata: true,
        native_delta_ingestion: true,
    };
    if let Ok(translated) = decode_request(Some("application/x-protobuf"), None, data, &rules, &defaults) {
        let _ = translated.to_batch();
    }
    let _ = decode_request(Some("application/x-protobuf"), None, data, &rules, &promote_all);
    let _ = decode_request(Some("application/x-protobuf"), Some("gzip"), data, &rules, &defaults);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    if std::io::Write::write_all(&mut encoder, data).is_ok() {
        if let Ok(gzipped) = encoder.finish() {
            let _ = decode_request(Some("application/x-protobuf"), Some("gzip"), &gzipped, &rules, &defaults);
        }
    }
});
