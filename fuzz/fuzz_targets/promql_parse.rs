//! Fuzz target: the PromQL parser never panics, and whatever parses prints to a query that
//! parses again.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(expr) = promql::parse(text) {
            let printed = promql::printer::print(&expr);
            assert!(promql::parse(&printed).is_ok(), "{text:?} printed as {printed:?} does not parse");
        }
    }
});
