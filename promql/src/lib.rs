//! `promql` parses PromQL (nom), prints it back, and evaluates it over `tsdb`'s `Querier`,
//! including Prometheus 3's experimental duration expressions, `anchored`/`smoothed`,
//! `fill*` and `info()`. It never sees HTTP; the server calls `Engine::prepare_*`, fetches
//! `selects()` from its shards and calls `execute`.

pub mod ast;
pub mod duration;
pub mod engine;
pub mod format;
pub mod functions;
pub mod graphite_glob;
/// VictoriaMetrics' histogram buckets (`vmrange`), for what else counts values in them
/// (stream aggregation's `histogram_bucket`).
pub mod vm_buckets {
    pub use crate::engine::vm_histogram::layout::{Bucket, VmHistogram};
}
pub mod parser;
pub mod printer;
pub mod promqltest;

pub use engine::{Engine, EngineOptions, Error, InstantSample, MemQuerier, PreparedQuery, QueryResult, QueryStats, QueryTimings, SampleStats, SelectRequest, Value};
pub use parser::{parse, parse_narrowing_selector, parse_series_selector, parse_series_selector_alternatives, ParseError};

/// Native histogram layout operations that ingestion needs too (the scraper's bucket limits).
pub mod histogram_layout {
    use tsdb::FloatHistogram;

    /// Prometheus' `Compact(0)`: empty buckets dropped, adjacent spans merged.
    pub fn compact(h: &FloatHistogram) -> FloatHistogram {
        crate::engine::native_histogram::compact(h)
    }

    /// Prometheus' `Compact(max_empty)`: runs of more than `max_empty` empty buckets split a
    /// span, shorter ones stay, empty buckets at span edges go.
    pub fn compact_keeping(h: &FloatHistogram, max_empty: u32) -> FloatHistogram {
        crate::engine::native_histogram::compact_keeping(h, max_empty)
    }

    /// Prometheus' `ReduceResolution`: the buckets merged into the coarser exponential
    /// `target_schema`; `None` for custom buckets or a target finer than the schema.
    pub fn reduce_resolution(h: &FloatHistogram, target_schema: i32) -> Option<FloatHistogram> {
        crate::engine::native_histogram::reduce_resolution(h, target_schema).ok()
    }

    /// Prometheus' `DetectReset`: whether `current` follows a counter reset after `previous`
    /// (its hint decides when it says reset or not; otherwise the counts and buckets).
    pub fn detect_reset(previous: &FloatHistogram, current: &FloatHistogram) -> bool {
        crate::engine::native_histogram::detect_reset(previous, current)
    }

    /// Prometheus' `Sub` then `Compact(0)`: `a - b` at the lower of their schemas, keeping
    /// `a`'s counter reset hint; `None` when they cannot be subtracted (exponential and custom
    /// buckets).
    pub fn sub_compacted(a: &FloatHistogram, b: &FloatHistogram) -> Option<FloatHistogram> {
        let mut difference = crate::engine::native_histogram::raw_sub(a, b, &mut Default::default()).ok()?;
        difference.counter_reset_hint = a.counter_reset_hint;
        Some(crate::engine::native_histogram::compact(&difference))
    }
}
