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

pub use engine::{Engine, EngineOptions, Error, InstantSample, MemQuerier, PreparedQuery, QueryResult, SelectRequest, Value};
pub use parser::{parse, parse_narrowing_selector, parse_series_selector, ParseError};
