//! The Metricstor server: configuration, the thread-per-core runtime, shard ownership and
//! routing, the read-path coordinator, remote_write ingestion and the HTTP API. It wires
//! `net`, `tsdb`, `promql` and `proto` together; storage and query logic live in those crates.

pub mod allocator;
pub mod api;
pub mod certs;
pub mod config;
pub mod coordinator;
pub mod data_dir;
pub mod ingest;
pub mod io_uring_probe;
pub mod join;
pub mod metric_names_stats;
pub mod notifications;
pub mod port_claim;
pub mod rules;
pub mod runtime;
pub mod scrape;
pub mod shard;
pub mod startup;
pub mod stream_aggr;
pub mod socket_ingest;
pub mod thread_priority;
pub mod write_rules;
