//! `ShardDb`: one shard's storage as the server sees it. Appends go WAL-first (one group
//! commit for many requests), then into the head; reads come from the head.

use std::collections::HashMap;
use std::path::Path;

use crate::error::Error;
use crate::head::{AppendResult, Head};
use crate::model::{Labels, Matcher, SeriesSamples};
use crate::wal::{Record, Wal, WalOptions};
use crate::Querier;

#[derive(Clone, Debug)]
pub struct ShardOptions {
    pub wal_segment_bytes: u64,
    pub fsync_on_commit: bool,
}

/// What happened to one group's samples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    pub samples_appended: u64,
    pub samples_out_of_order: u64,
    pub duplicates_overwritten: u64,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct ShardStats {
    pub series: u64,
    pub samples_appended_total: u64,
    pub samples_out_of_order_total: u64,
    pub duplicates_overwritten_total: u64,
    pub wal_bytes_written_total: u64,
    pub wal_fsyncs_total: u64,
}

pub struct ShardDb {
    head: Head,
    wal: Wal,
    stats: ShardStats,
}

fn apply_to_head(head: &mut Head, id: u32, sample: crate::Sample, outcome: &mut AppendOutcome) {
    match head.append(id, sample) {
        AppendResult::Appended => outcome.samples_appended += 1,
        AppendResult::OutOfOrder => {
            outcome.samples_appended += 1;
            outcome.samples_out_of_order += 1;
        }
        AppendResult::Overwritten => {
            outcome.samples_appended += 1;
            outcome.duplicates_overwritten += 1;
        }
        AppendResult::Duplicate => {}
    }
}

impl ShardDb {
    /// Opens the shard in `dir` (created if missing) and replays its WAL into the head.
    pub async fn open(dir: &Path, options: ShardOptions) -> Result<ShardDb, Error> {
        let mut head = Head::default();
        // WAL series refs are head ids of the process that wrote them; map them on replay.
        let mut refs: HashMap<u32, u32> = HashMap::new();
        let mut replayed = AppendOutcome::default();
        let mut unknown_refs = 0u64;
        let wal_options = WalOptions {
            segment_bytes: options.wal_segment_bytes,
            fsync_on_commit: options.fsync_on_commit,
        };
        let wal = Wal::open(&dir.join("wal"), wal_options, |record| match record {
            Record::Series(series) => {
                for (r, labels) in series {
                    let (id, _) = head.get_or_create(&labels);
                    refs.insert(r, id);
                }
            }
            Record::Samples(samples) => {
                for (r, sample) in samples {
                    match refs.get(&r) {
                        Some(&id) => apply_to_head(&mut head, id, sample, &mut replayed),
                        None => unknown_refs += 1,
                    }
                }
            }
        })
        .await?;
        if unknown_refs > 0 {
            tracing::warn!(dir = %dir.display(), unknown_refs, "WAL replay: samples for series without a series record were skipped");
        }
        tracing::info!(dir = %dir.display(), series = head.series_count(), samples = replayed.samples_appended, "shard opened");
        let stats = ShardStats {
            series: head.series_count() as u64,
            ..ShardStats::default()
        };
        Ok(ShardDb { head, wal, stats })
    }

    /// Group commit: all groups' records in one WAL write (+ fdatasync), then the head.
    /// One outcome per group, in order.
    pub async fn append_group(
        &mut self,
        groups: &[&[SeriesSamples]],
    ) -> Result<Vec<AppendOutcome>, Error> {
        // Series are created in the head only after the WAL write succeeds: a series that
        // exists in the head without its WAL record would lose its samples on replay.
        // New series get the ids the head will assign, in order of first appearance.
        let mut pending: HashMap<&Labels, u32> = HashMap::new();
        let mut new_series: Vec<(u32, Labels)> = Vec::new();
        let mut samples = Vec::new();
        let next_id =
            u32::try_from(self.head.series_count()).expect("fewer than 2^32 series per shard");
        for group in groups {
            for series in group.iter() {
                let hash = series.labels.stable_hash();
                let id = match self.head.lookup(&series.labels, hash) {
                    Some(id) => id,
                    None => *pending.entry(&series.labels).or_insert_with(|| {
                        let id = next_id + new_series.len() as u32;
                        new_series.push((id, series.labels.clone()));
                        id
                    }),
                };
                samples.extend(series.samples.iter().map(|s| (id, *s)));
            }
        }
        let mut records = Vec::with_capacity(2);
        if !new_series.is_empty() {
            records.push(Record::Series(new_series));
        }
        if !samples.is_empty() {
            records.push(Record::Samples(samples));
        }
        self.wal.append(&records).await?;
        let mut outcomes = Vec::with_capacity(groups.len());
        for group in groups {
            let mut outcome = AppendOutcome::default();
            for series in group.iter() {
                let (id, _) = self.head.get_or_create(&series.labels);
                debug_assert!(
                    pending.get(&series.labels).is_none_or(|p| *p == id),
                    "head assigns the ids the WAL recorded"
                );
                for sample in &series.samples {
                    apply_to_head(&mut self.head, id, *sample, &mut outcome);
                }
            }
            self.stats.samples_appended_total += outcome.samples_appended;
            self.stats.samples_out_of_order_total += outcome.samples_out_of_order;
            self.stats.duplicates_overwritten_total += outcome.duplicates_overwritten;
            outcomes.push(outcome);
        }
        self.stats.series = self.head.series_count() as u64;
        Ok(outcomes)
    }

    pub fn select(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<SeriesSamples> {
        self.head.select(matchers, mint_ms, maxt_ms)
    }

    pub fn series(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<Labels> {
        self.head.series(matchers, mint_ms, maxt_ms)
    }

    pub fn label_names(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<String> {
        self.head.label_names(matchers, mint_ms, maxt_ms)
    }

    pub fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Vec<String> {
        self.head.label_values(name, matchers, mint_ms, maxt_ms)
    }

    pub fn stats(&self) -> ShardStats {
        ShardStats {
            wal_bytes_written_total: self.wal.stats.bytes_written_total,
            wal_fsyncs_total: self.wal.stats.fsyncs_total,
            ..self.stats
        }
    }

    /// Syncs the WAL and closes the shard.
    pub async fn close(self) -> Result<(), Error> {
        self.wal.close().await
    }
}

impl Querier for ShardDb {
    fn select(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<SeriesSamples> {
        self.head.select(matchers, mint_ms, maxt_ms)
    }
}
