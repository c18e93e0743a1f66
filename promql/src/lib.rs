//! `promql` parses PromQL (nom), and evaluates it over `tsdb`'s `Querier`. It never sees
//! HTTP; the server calls `Engine::prepare_*`, fetches `selects()` from its shards and
//! calls `execute`. This is the first slice (selectors, literals, binary operators);
//! functions, aggregations, `@` and subqueries follow in issue 4.

pub mod ast;
pub mod duration;
pub mod engine;
pub mod format;
pub mod functions;
pub mod parser;
pub mod printer;
pub mod promqltest;

pub use engine::{Engine, EngineOptions, Error, InstantSample, MemQuerier, PreparedQuery, QueryResult, SelectRequest, Value};
pub use parser::{parse, parse_series_selector, ParseError};
