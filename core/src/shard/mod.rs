//! Shards: the typed messages between executors (`messages`), the loop that owns one
//! shard's `ShardDb` (`owner`), and the routing of series and requests to shards (`router`).

pub mod messages;
pub mod owner;
pub mod router;

pub use messages::{ShardRequest, ShardStatsSnapshot};
pub use router::{ShardRouter, SubmitError};
