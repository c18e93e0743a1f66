//! Fuzz target: OTLP/HTTP metrics decoding and translation (protobuf, and gzip framing)
//! never panics, for raw bytes and for bytes that are valid gzip.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use metricstor::ingest::otlp::decode_request;
    let rules = metricstor::ingest::IngestRules::default();
    let _ = decode_request(Some("application/x-protobuf"), None, data, &rules);
    let _ = decode_request(Some("application/x-protobuf"), Some("gzip"), data, &rules);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    if std::io::Write::write_all(&mut encoder, data).is_ok() {
        if let Ok(gzipped) = encoder.finish() {
            let _ = decode_request(Some("application/x-protobuf"), Some("gzip"), &gzipped, &rules);
        }
    }
});
