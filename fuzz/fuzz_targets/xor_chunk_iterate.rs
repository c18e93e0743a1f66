//! Fuzz target: iterating an arbitrary (possibly corrupt) XOR chunk never panics and stops;
//! nor does joining it (`XorAppender::append_chunk`, `into_chunk_with`) after a valid chunk
//! or into an empty appender, and a join that succeeds holds both chunks' sample counts.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut it = tsdb::chunk::XorIterator::new(data);
    for _ in it.by_ref().take(1 << 16) {}

    let mut before = tsdb::chunk::XorAppender::default();
    for (t, v) in [(-3_000_000i64, 1.0), (-2_000_000, 2.5), (-1_000_000, 2.5)] {
        before.append(t, v);
    }
    let total = u32::from(tsdb::chunk::xor_num_samples(data));
    for mut joined in [before, tsdb::chunk::XorAppender::default()] {
        let had = u32::from(joined.num_samples());
        if joined.clone().append_chunk(data) {
            let _ = joined.clone().into_chunk().iter().take(1 << 17).count();
        }
        if let Some(chunk) = joined.clone().into_chunk_with(data) {
            assert_eq!(u32::from(chunk.num_samples()), had + total);
            let _ = chunk.iter().take(1 << 17).count();
        }
        let _ = joined.append_chunk(data);
    }
});
