//! `promql` parses PromQL (nom), prints it back, and evaluates it over `tsdb`'s `Querier`,
//! including Prometheus 3's experimental duration expressions, `anchored`/`smoothed`,
//! `fill*` and `info()`. It never sees HTTP; the server calls `Engine::prepare_*`, fetches
//! `selects()` from its shards and calls `execute`.

pub mod ast;
pub mod duration;
pub mod engine;
pub mod format;
pub mod functions;
pub mod parser;
pub mod printer;
pub mod promqltest;

pub use engine::{Engine, EngineOptions, Error, InstantSample, MemQuerier, PreparedQuery, QueryResult, QueryStats, QueryTimings, SampleStats, SelectRequest, Value};
pub use parser::{parse, parse_narrowing_selector, parse_series_selector, ParseError};

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
}
