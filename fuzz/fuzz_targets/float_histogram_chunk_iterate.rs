//! Fuzz target: iterating an arbitrary (possibly corrupt) float histogram chunk never panics
//! and stops (bucket counts, spans and custom bounds are read from the bytes).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut it = tsdb::chunk::FloatHistogramIterator::new(data);
    for _ in it.by_ref().take(1 << 16) {}
});
