//! Fuzz target: iterating an arbitrary (possibly corrupt) XOR chunk never panics and stops.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut it = tsdb::chunk::XorIterator::new(data);
    for _ in it.by_ref().take(1 << 16) {}
});
