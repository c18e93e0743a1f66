//! Fuzz target: opening a block's `index` file (format v2) and walking everything it claims
//! to hold never panics — a damaged block must be an error, never a crash.
#![no_main]
use tsdb::block::index_format::IndexReader;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(index) = IndexReader::new(data.to_vec()) else { return };
    if let Ok(ids) = index.all_series() {
        for id in ids.into_iter().take(1_000) {
            let _ = index.series(id);
        }
    }
    let offsets: Vec<u64> = index.label_postings().values().flat_map(|values| values.values().copied()).take(1_000).collect();
    for offset in offsets {
        let _ = index.postings_at(offset);
    }
});
