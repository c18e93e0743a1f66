//! Fuzz target: the PromQL parser never panics, and whatever parses prints to a query that
//! parses again; the series-selector parsers (`match[]`, and `extra_filters`, whose matchers
//! may all match the empty value) never panic, and what parses as a plain selector parses as
//! a narrowing one to as many matchers.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(expr) = promql::parse(text) {
            let printed = promql::printer::print(&expr);
            assert!(promql::parse(&printed).is_ok(), "{text:?} printed as {printed:?} does not parse");
        }
        let narrowing = promql::parse_narrowing_selector(text);
        if let Ok(matchers) = promql::parse_series_selector(text) {
            // What parses as a selector parses as a narrowing one too, to the same matchers.
            assert_eq!(narrowing.ok().map(|m| m.len()), Some(matchers.len()), "{text:?}");
        }
    }
});
