//! `meta.json`: a block's identity, time range `[minTime, maxTime)`, statistics and
//! compaction lineage, in the JSON shape Prometheus writes and reads (version 1).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Error;

pub const META_FILENAME: &str = "meta.json";
pub const META_VERSION: u32 = 1;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockStats {
    #[serde(rename = "numSamples", default)]
    pub num_samples: u64,
    #[serde(rename = "numSeries", default)]
    pub num_series: u64,
    #[serde(rename = "numChunks", default)]
    pub num_chunks: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockCompaction {
    pub level: u32,
    #[serde(default)]
    pub sources: Vec<String>,
    /// Blocks this one replaces (a rewrite without tombstoned data): once this block exists,
    /// its parents are deleted, at open if a crash came first (as Prometheus does).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<BlockParent>,
}

/// A parent block as Prometheus' `BlockDesc` names it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockParent {
    pub ulid: String,
    #[serde(rename = "minTime")]
    pub min_time_ms: i64,
    #[serde(rename = "maxTime")]
    pub max_time_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMeta {
    pub ulid: String,
    /// Inclusive lower bound of the block's range, Unix ms.
    #[serde(rename = "minTime")]
    pub min_time_ms: i64,
    /// Exclusive upper bound of the block's range, Unix ms.
    #[serde(rename = "maxTime")]
    pub max_time_ms: i64,
    #[serde(default)]
    pub stats: BlockStats,
    pub compaction: BlockCompaction,
    pub version: u32,
}

impl BlockMeta {
    /// True when the block's range `[min, max)` meets the query range `[mint_ms, maxt_ms]`.
    pub fn overlaps(&self, mint_ms: i64, maxt_ms: i64) -> bool {
        self.min_time_ms <= maxt_ms && self.max_time_ms > mint_ms
    }

    pub fn read(block_dir: &Path) -> Result<BlockMeta, Error> {
        let path = block_dir.join(META_FILENAME);
        let bytes = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        let meta: BlockMeta = serde_json::from_slice(&bytes)
            .map_err(|e| Error::corrupt(&path, format!("invalid JSON: {e}")))?;
        if meta.version != META_VERSION {
            return Err(Error::corrupt(
                &path,
                format!("unsupported meta version {}", meta.version),
            ));
        }
        if meta.min_time_ms >= meta.max_time_ms {
            return Err(Error::corrupt(&path, "minTime is not below maxTime"));
        }
        Ok(meta)
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain strings and integers cannot fail.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}
