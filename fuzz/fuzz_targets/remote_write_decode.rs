//! Fuzz target: remote_write 1.0/2.0 decoding (snappy + protobuf + validation) never panics,
//! for raw bytes and for bytes that are valid snappy.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use metricstor::ingest::decode_request;
    let v2 = Some("application/x-protobuf;proto=io.prometheus.write.v2.Request");
    let _ = decode_request(None, None, data, false);
    let _ = decode_request(v2, None, data, false);
    if let Ok(compressed) = snap::raw::Encoder::new().compress_vec(data) {
        let _ = decode_request(None, None, &compressed, true);
        let _ = decode_request(v2, None, &compressed, false);
    }
});
