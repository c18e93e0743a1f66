//! Start-up status. The listeners open before the shards replay their WALs, so during a
//! long replay a load balancer or a readiness probe gets an answer instead of a hanging
//! connection: `/-/healthy` says the process lives, `/-/ready` and the API answer 503 (a
//! remote_write sender retries), and `/api/v1/status/walreplay` shows how far the replay has
//! got. Once every executor has opened its shards the server is ready and stays so.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tsdb::wal::ReplayProgress;

/// Readiness and WAL replay progress, shared by every executor.
#[derive(Debug, Default)]
pub struct Startup {
    ready: AtomicBool,
    /// Every shard's WAL segments: found to replay, and replayed so far.
    pub replay: Arc<ReplayProgress>,
}

impl Startup {
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Every shard is open: requests are served from now on.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// `/api/v1/status/walreplay`'s answer, `{"min":0,"max":M,"current":C}`: Prometheus
    /// numbers its one WAL's segments, ours counts over every shard's WAL, so `max` is the
    /// segments found to replay and `current` those replayed (equal once ready).
    pub fn wal_replay_json(&self) -> String {
        let total = self.replay.segments_total.load(Ordering::Relaxed);
        let replayed = self.replay.segments_replayed.load(Ordering::Relaxed);
        format!("{{\"min\":0,\"max\":{total},\"current\":{}}}", replayed.min(total))
    }
}

/// Paths served while the shards are still opening: they read no shard. Among them
/// VictoriaMetrics' liveness (`/health`) and readiness (`/ready`), so that a probe set up for
/// VictoriaMetrics does not take a long WAL replay for a dead process.
pub fn served_while_starting(path: &str) -> bool {
    matches!(path, "/-/healthy" | "/-/ready" | "/health" | "/ready" | "/api/v1/status/walreplay" | "/api/v1/notifications" | "/api/v1/notifications/live" | "/api/v1/status/buildinfo")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_progress_reads_as_counts() {
        let startup = Startup::default();
        assert!(!startup.is_ready());
        assert_eq!(startup.wal_replay_json(), r#"{"min":0,"max":0,"current":0}"#);
        startup.replay.segments_total.fetch_add(7, Ordering::Relaxed);
        startup.replay.segments_replayed.fetch_add(3, Ordering::Relaxed);
        assert_eq!(startup.wal_replay_json(), r#"{"min":0,"max":7,"current":3}"#);
        startup.set_ready();
        assert!(startup.is_ready());
    }
}
