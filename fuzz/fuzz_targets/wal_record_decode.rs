//! Fuzz target: decoding a WAL record payload never panics (replay reads what is on disk).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = tsdb::wal::Record::decode(data);
});
