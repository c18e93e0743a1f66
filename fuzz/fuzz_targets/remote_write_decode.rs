//! Fuzz target: remote_write 1.0/2.0 decoding (snappy or zstd + protobuf + validation) never
//! panics, for raw bytes (as snappy and as zstd, vmagent's encoding) and for bytes that are
//! valid snappy (2.0 also with start timestamps taken).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use metricstor::ingest::decode_request;
    let v2 = Some("application/x-protobuf;proto=io.prometheus.write.v2.Request");
    let _ = decode_request(None, None, data, &metricstor::ingest::IngestRules::default());
    let _ = decode_request(v2, None, data, &metricstor::ingest::IngestRules::default());
    let _ = decode_request(None, Some("zstd"), data, &metricstor::ingest::IngestRules::default());
    if let Ok(compressed) = snap::raw::Encoder::new().compress_vec(data) {
        let _ = decode_request(None, None, &compressed, &metricstor::ingest::IngestRules { reject_non_finite: true, ..Default::default() });
        let _ = decode_request(v2, None, &compressed, &metricstor::ingest::IngestRules { read_start_timestamps: true, ..Default::default() });
    }
});
