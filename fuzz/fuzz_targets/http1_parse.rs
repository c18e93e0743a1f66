//! Fuzz target: the HTTP/1.1 request-head parser and the chunked body decoder never panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = net::http1::parse::parse_head(data, 1 << 20);
    let mut decoder = net::http1::body::ChunkedDecoder::new(1 << 16);
    let _ = decoder.feed(data);
});
