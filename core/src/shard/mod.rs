//! Shards: the typed messages between executors (`messages`), the loop that owns one
//! shard's `ShardDb` (`owner`) and its metric metadata (`metadata_store`), the routing of series and requests to shards (`router`), and
//! the generation counter of settled history that query caches check (`history`).

pub mod history;
pub mod metadata_store;
pub mod messages;
pub mod owner;
pub mod router;

pub use history::HistoryGeneration;
pub use messages::{ShardRequest, ShardStatsSnapshot};
pub use router::{ShardRouter, SubmitError};
