//! The loop that owns one shard's `ShardDb` on its executor: drains its queue, commits every
//! queued append in one WAL group commit (one fdatasync for many requests), answers reads,
//! and runs storage maintenance (head cut into blocks, retention) between groups. Block
//! compaction merges on its own thread; the owner plans it and swaps the result in.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_channel::Receiver;
use futures_lite::future;
use tsdb::block::{CompactionJob, CompactionOutput};
use tsdb::{BatchPart, EncodedSeries, Labels, Matcher, SeriesBatch, ShardDb};

use super::history::HistoryGeneration;
use super::metadata_store::MetadataStore;
use super::messages::{AppendAck, Select, ShardRequest, ShardStatsSnapshot};

/// Most requests folded into one group commit, so one commit's latency stays bounded.
pub const GROUP_COMMIT_REQUESTS_MAX: usize = 64;

/// Maintenance (retention, and a cut that became due without new appends) runs at least this
/// often; a cut that an append makes due runs right after that append's group.
pub const MAINTAIN_INTERVAL: Duration = Duration::from_secs(60);

fn unix_now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Cuts due blocks and applies retention. Runs between groups, so requests queued meanwhile
/// wait for it (a cut is bounded by `tsdb::shard::CUTS_PER_MAINTAIN_MAX` blocks per call);
/// the executor's other tasks run during a cut (it yields and writes blocks off the executor).
async fn maintain(shard: usize, db: &mut ShardDb, history: &HistoryGeneration) {
    match db.maintain(unix_now_ms()).await {
        Ok(outcome) => {
            if !outcome.blocks_deleted.is_empty() {
                history.bump(); // retention removed data that cached results may hold
            }
            if !outcome.blocks_cut.is_empty() || !outcome.blocks_deleted.is_empty() {
                tracing::info!(shard, cut = ?outcome.blocks_cut, deleted = ?outcome.blocks_deleted, "storage maintenance");
            }
        }
        Err(error) => {
            // Retention ran all the same and may have deleted blocks.
            history.bump();
            let retry_seconds = tsdb::shard::CUT_RETRY_DELAY.as_secs();
            tracing::error!(shard, %error, retry_seconds, "storage maintenance failed; a cut is tried again after retry_seconds at the soonest (retention has run)");
        }
    }
}

type CompactionResult = Result<CompactionOutput, tsdb::Error>;

/// Plans the next compaction when none is in flight and runs its merge on a new thread
/// (blocks are immutable, so the shard keeps serving from the parents meanwhile); the result
/// comes back on `done` and is swapped in by `finish_compaction`.
fn start_compaction(shard: usize, db: &mut ShardDb, done: &async_channel::Sender<CompactionResult>) {
    let Some(job) = db.plan_compaction() else {
        return;
    };
    tracing::info!(shard, block = %job.ulid, parents = ?job.parents, "compaction started");
    let shard_dir = job.shard_dir.clone();
    let tx = done.clone();
    let spawned = std::thread::Builder::new().name(format!("compact-{shard}")).spawn(move || {
        let result = run_job(job);
        // The owner may have stopped: then the result is dropped and `.tmp` removed at open.
        let _ = tx.send_blocking(result);
    });
    if let Err(e) = spawned {
        let _ = db.finish_compaction(Err(tsdb::Error::io("spawn compaction thread", shard_dir, e)));
    }
}

/// Runs the merge; a panic in it becomes an error, so the shard retries later.
fn run_job(job: CompactionJob) -> CompactionResult {
    let dir = job.shard_dir.clone();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run())).unwrap_or_else(|_| {
        Err(tsdb::Error::corrupt(dir, "the compaction thread panicked"))
    })
}

fn finish_compaction(shard: usize, db: &mut ShardDb, result: CompactionResult) {
    match db.finish_compaction(result) {
        Ok(outcome) => tracing::debug!(shard, ?outcome, "compaction finished"),
        Err(error) => tracing::error!(shard, %error, "compaction failed; retried after a delay"),
    }
}

enum Next {
    Request(ShardRequest),
    Tick,
    Compacted(CompactionResult),
    Stop,
}

/// Serves `requests` until `stop` is closed, then answers what is still queued, closes the
/// queue and closes the database (WAL synced).
pub async fn run_shard_owner(
    shard: usize,
    mut db: ShardDb,
    requests: Receiver<ShardRequest>,
    stop: Receiver<()>,
    history: Arc<HistoryGeneration>,
) {
    // Metric metadata lives in memory only (senders resend it periodically).
    let mut metadata = MetadataStore::default();
    // At most one compaction runs per shard: one result can be waiting at a time.
    let (compacted_tx, compacted_rx) = async_channel::bounded::<CompactionResult>(1);
    // A head replayed from the WAL may already be due for a cut.
    maintain(shard, &mut db, &history).await;
    start_compaction(shard, &mut db, &compacted_tx);
    let mut last_maintain = Instant::now();
    // Requests taken off the queue in the middle of a select (`answer_waiting_listings`)
    // and not answered there: they start the next group, in the order they came.
    let mut deferred: Vec<ShardRequest> = Vec::new();
    loop {
        let mut group = std::mem::take(&mut deferred);
        if !group.is_empty() {
            top_up(&requests, &mut group);
            process_group(shard, &mut db, &mut metadata, group, &requests, &mut deferred).await;
            continue;
        }
        let wait = MAINTAIN_INTERVAL.saturating_sub(last_maintain.elapsed());
        let received = future::or(
            async {
                match requests.recv().await {
                    Ok(request) => Next::Request(request),
                    Err(_) => Next::Stop,
                }
            },
            async {
                let _ = stop.recv().await;
                Next::Stop
            },
        );
        let compacted = async {
            match compacted_rx.recv().await {
                Ok(result) => Next::Compacted(result),
                // Never closed while this loop holds the sender.
                Err(_) => future::pending().await,
            }
        };
        let next = future::or(
            future::or(received, compacted),
            async {
                glommio::timer::sleep(wait).await;
                Next::Tick
            },
        )
        .await;
        let first = match next {
            Next::Request(request) => request,
            Next::Tick => {
                maintain(shard, &mut db, &history).await;
                start_compaction(shard, &mut db, &compacted_tx);
                // A quiet minute: give back what this executor freed (e.g. a big query's
                // selected series, dropped by the evaluation thread).
                crate::allocator::release_thread_free_memory();
                last_maintain = Instant::now();
                continue;
            }
            Next::Compacted(result) => {
                finish_compaction(shard, &mut db, result);
                // Several levels may be due at once (e.g. after a restart): chain them.
                start_compaction(shard, &mut db, &compacted_tx);
                continue;
            }
            Next::Stop => break,
        };
        group.push(first);
        top_up(&requests, &mut group);
        process_group(shard, &mut db, &mut metadata, group, &requests, &mut deferred).await;
        if db.cut_due() || last_maintain.elapsed() >= MAINTAIN_INTERVAL {
            maintain(shard, &mut db, &history).await;
            start_compaction(shard, &mut db, &compacted_tx);
            last_maintain = Instant::now();
        }
    }
    requests.close();
    loop {
        let mut rest = std::mem::take(&mut deferred);
        while let Ok(request) = requests.try_recv() {
            rest.push(request);
        }
        if rest.is_empty() {
            break;
        }
        process_group(shard, &mut db, &mut metadata, rest, &requests, &mut deferred).await;
    }
    if let Err(error) = db.close().await {
        tracing::error!(shard, %error, "closing shard failed");
    } else {
        tracing::info!(shard, "shard closed");
    }
}

/// Adds queued requests to `group` until it holds `GROUP_COMMIT_REQUESTS_MAX`.
fn top_up(requests: &Receiver<ShardRequest>, group: &mut Vec<ShardRequest>) {
    while group.len() < GROUP_COMMIT_REQUESTS_MAX {
        match requests.try_recv() {
            Ok(request) => group.push(request),
            Err(_) => break,
        }
    }
}

/// Series and label listings and statistics: short reads, answered ahead of a group's WAL
/// commit and in the pauses of its selects.
fn is_listing(request: &ShardRequest) -> bool {
    matches!(
        request,
        ShardRequest::Series { .. }
            | ShardRequest::SeriesCount { .. }
            | ShardRequest::Exemplars { .. }
            | ShardRequest::LabelNames { .. }
            | ShardRequest::LabelValues { .. }
            | ShardRequest::LabelValueChildren { .. }
            | ShardRequest::Stats { .. }
            | ShardRequest::TimeRange { .. }
            | ShardRequest::Blocks { .. }
    )
}

/// Called in the pauses of a select (every few hundred series, `ShardDb::select_yielding`):
/// answers the listings queued meanwhile and sets every other request aside in `deferred`, in
/// order, for the next group (at most a group's worth, so the queue's bound still holds
/// writers back). The executor runs its other tasks in the pauses too, so short requests do
/// not wait out a long select. A listing that arrived during the select is concurrent with it
/// and with the queued writes, so answering it first is valid.
fn answer_waiting_listings(shard: usize, db: &ShardDb, requests: &Receiver<ShardRequest>, deferred: &mut Vec<ShardRequest>) {
    while deferred.len() < GROUP_COMMIT_REQUESTS_MAX {
        match requests.try_recv() {
            Ok(request) if is_listing(&request) => answer_read(shard, db, request),
            Ok(request) => deferred.push(request),
            Err(_) => break,
        }
    }
}

async fn process_group(
    shard: usize,
    db: &mut ShardDb,
    metadata: &mut MetadataStore,
    group: Vec<ShardRequest>,
    requests: &Receiver<ShardRequest>,
    deferred: &mut Vec<ShardRequest>,
) {
    type Reply = futures_channel::oneshot::Sender<Result<AppendAck, String>>;
    let mut appends: Vec<(Arc<SeriesBatch>, Vec<u32>, Reply)> = Vec::new();
    let mut reads = Vec::new();
    for request in group {
        match request {
            ShardRequest::Append { batch, series, reply } => appends.push((batch, series, reply)),
            // Listings are answered before the group's WAL commit instead of waiting out its
            // fdatasync. They came in with the appends, not after their acknowledgment, so
            // either state is a valid answer.
            listing if is_listing(&listing) => answer_read(shard, db, listing),
            other => reads.push(other),
        }
    }
    if !appends.is_empty() {
        let groups: Vec<BatchPart<'_>> = appends.iter().map(|(batch, series, _)| BatchPart { batch, indices: Some(series) }).collect();
        match db.append_batches(&groups).await {
            Ok(outcomes) => {
                debug_assert_eq!(outcomes.len(), appends.len(), "one outcome per group");
                for ((_, _, reply), outcome) in appends.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(AppendAck {
                        samples_appended: outcome.samples_appended,
                        samples_refused: outcome.samples_refused_series_limit,
                        samples_too_old: outcome.samples_refused_too_old,
                        samples_too_new: outcome.samples_refused_too_new,
                        samples_refused_hourly: outcome.samples_refused_hourly_limit,
                        samples_refused_daily: outcome.samples_refused_daily_limit,
                        exemplars_appended: outcome.exemplars_appended,
                        exemplars_refused: outcome.exemplars_refused,
                    }));
                }
            }
            Err(error) => {
                tracing::error!(shard, %error, "WAL commit failed; requests answered with an error");
                let message = error.to_string();
                for (_, _, reply) in appends {
                    let _ = reply.send(Err(message.clone()));
                }
            }
        }
    }
    // Selects (a query's data, often many series) go after the group's other reads.
    // Requests in one group are concurrent, so any order among them is valid.
    reads.sort_by_key(|r| matches!(r, ShardRequest::Select { .. }));
    for request in reads {
        match request {
            ShardRequest::PutMetadata { entries } => {
                let now = Instant::now();
                for m in entries {
                    metadata.put(m, now);
                }
            }
            // Deletes run in queue order after this group's appends: a client's acknowledged
            // writes are always older than its delete.
            ShardRequest::DeleteSeries { matcher_sets, mint_ms, maxt_ms, reply } => {
                let result = db.delete(&matcher_sets, mint_ms, maxt_ms).await.map(|_| ()).map_err(|error| {
                    tracing::error!(shard, %error, "delete_series failed");
                    error.to_string()
                });
                let _ = reply.send(result);
            }
            ShardRequest::CleanTombstones { reply } => {
                let result = db.clean_tombstones().map(|_| ()).map_err(|error| {
                    tracing::error!(shard, %error, "clean_tombstones failed");
                    error.to_string()
                });
                let _ = reply.send(result);
            }
            // In queue order after this group's appends, as deletes: a client's acknowledged
            // writes are in the snapshot.
            ShardRequest::Snapshot { root, skip_head, reply } => {
                let dest = crate::data_dir::shard_dir(&root, shard);
                let result = match db.snapshot(&dest, skip_head).await {
                    Ok(blocks) => {
                        tracing::info!(shard, dir = %dest.display(), blocks = blocks.len(), "snapshot written");
                        Ok(())
                    }
                    Err(error) => {
                        tracing::error!(shard, %error, "snapshot failed");
                        Err(error.to_string())
                    }
                };
                let _ = reply.send(result);
            }
            ShardRequest::Metadata { metric, reply } => {
                let _ = reply.send(metadata.get(metric.as_deref(), Instant::now()));
            }
            ShardRequest::Select { selects, alternatives, sample_limit, reply } => {
                let mut pause = |db: &ShardDb| answer_waiting_listings(shard, db, requests, deferred);
                let _ = reply.send(select_united(db, &selects, alternatives, sample_limit, &mut pause).await);
            }
            other => answer_read(shard, db, other),
        }
    }
}

/// The answer to a `ShardRequest::Select`: per group of `alternatives` consecutive selects,
/// the union of their series (each once), or `None` once the selects would load more than
/// `sample_limit` samples. One budget serves all of a query's selects, as the engine counts
/// them; a group's alternatives are each checked against what is left before it and the
/// union is what the budget pays, so a series that two alternatives match counts once.
async fn select_united(
    db: &ShardDb,
    selects: &[Select],
    alternatives: usize,
    sample_limit: usize,
    pause: &mut dyn FnMut(&ShardDb),
) -> Option<Vec<Vec<EncodedSeries>>> {
    let mut budget = sample_limit;
    let mut results = Vec::with_capacity(selects.len() / alternatives.max(1));
    for group in selects.chunks(alternatives.max(1)) {
        let mut united: Vec<EncodedSeries> = Vec::new();
        for s in group {
            // Each alternative alone past what is left means the union is too.
            let mut alternative_budget = budget;
            united.extend(db.select_yielding(&s.matchers, s.mint_ms, s.maxt_ms, s.last_only, &mut alternative_budget, pause).await?);
        }
        if group.len() > 1 {
            united.sort_by(|a, b| a.labels.cmp(&b.labels));
            united.dedup_by(|a, b| a.labels == b.labels);
        }
        if let Some(first) = group.first() {
            let counted: usize = united.iter().map(|s| s.samples_at_least(first.mint_ms, first.maxt_ms)).sum();
            budget = budget.saturating_sub(counted);
        }
        results.push(united);
    }
    Some(results)
}

/// The series with samples in `[mint_ms, maxt_ms]` that match any of `matcher_sets`, each
/// once; every series when there are no sets.
fn series_matching_any(db: &ShardDb, matcher_sets: &[Vec<Matcher>], mint_ms: i64, maxt_ms: i64) -> Vec<Labels> {
    match matcher_sets {
        [] => db.series(&[], mint_ms, maxt_ms),
        [only] => db.series(only, mint_ms, maxt_ms),
        sets => {
            let mut all: Vec<Labels> = sets.iter().flat_map(|set| db.series(set, mint_ms, maxt_ms)).collect();
            all.sort();
            all.dedup();
            all
        }
    }
}

fn answer_read(shard: usize, db: &ShardDb, request: ShardRequest) {
    // A dropped receiver means the asker went away (e.g. a cancelled query): nothing to do.
    match request {
        ShardRequest::Append { .. }
        | ShardRequest::PutMetadata { .. }
        | ShardRequest::Metadata { .. }
        | ShardRequest::DeleteSeries { .. }
        | ShardRequest::CleanTombstones { .. }
        | ShardRequest::Snapshot { .. }
        | ShardRequest::Select { .. } => {
            unreachable!("appends, metadata, admin requests and selects are handled in process_group")
        }
        ShardRequest::Series { select, reply } => {
            let _ = reply.send(db.series(&select.matchers, select.mint_ms, select.maxt_ms));
        }
        ShardRequest::SeriesCount { matcher_sets, mint_ms, maxt_ms, reply } => {
            let _ = reply.send(series_matching_any(db, &matcher_sets, mint_ms, maxt_ms).len());
        }
        ShardRequest::Exemplars { matcher_sets, mint_ms, maxt_ms, reply } => {
            let _ = reply.send(db.exemplars(&matcher_sets, mint_ms, maxt_ms));
        }
        ShardRequest::LabelNames { select, reply } => {
            let _ = reply.send(db.label_names(&select.matchers, select.mint_ms, select.maxt_ms));
        }
        ShardRequest::LabelValues { name, select, reply } => {
            let _ = reply.send(db.label_values(&name, &select.matchers, select.mint_ms, select.maxt_ms));
        }
        ShardRequest::LabelValueChildren { name, prefixes, delimiter, select, reply } => {
            let children = prefixes
                .iter()
                .map(|prefix| db.label_value_children(&name, prefix, delimiter, &select.matchers, select.mint_ms, select.maxt_ms))
                .collect();
            let _ = reply.send(children);
        }
        ShardRequest::Cardinality { matcher_sets, mint_ms, maxt_ms, reply } => {
            let mut c = super::messages::ShardCardinality { shard, ..Default::default() };
            for labels in series_matching_any(db, &matcher_sets, mint_ms, maxt_ms) {
                c.series += 1;
                if let Some(name) = labels.metric_name() {
                    *c.series_by_metric.entry(name.to_string()).or_default() += 1;
                }
                for l in labels.iter() {
                    *c.series_by_pair.entry((l.name.to_string(), l.value.to_string())).or_default() += 1;
                }
            }
            let _ = reply.send(c);
        }
        ShardRequest::TimeRange { reply } => {
            let _ = reply.send(db.time_range());
        }
        ShardRequest::Stats { reply } => {
            let _ = reply.send(ShardStatsSnapshot { shard, stats: db.stats() });
        }
        ShardRequest::Blocks { reply } => {
            let _ = reply.send(db.blocks());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_channel::oneshot;
    use tsdb::{Labels, Sample, SeriesSamples, ShardOptions};

    const SERIES: usize = 3 * tsdb::SELECT_SERIES_PER_PAUSE + 10;

    /// Runs `test` on a glommio executor with a new shard (a temporary directory, no fsync),
    /// then closes the shard it hands back.
    fn with_new_shard<Fut: std::future::Future<Output = ShardDb> + 'static>(test: impl FnOnce(ShardDb) -> Fut + Send + 'static) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_path_buf();
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .io_memory(1 << 20)
            .spawn(move || async move {
                let options = ShardOptions { fsync_on_commit: false, ..ShardOptions::default() };
                let db = ShardDb::open(&path, options).await.expect("open");
                test(db).await.close().await.expect("close");
            })
            .expect("spawn executor")
            .join()
            .expect("executor finished");
    }

    fn all_series() -> Select {
        Select::all(vec![tsdb::Matcher::new(tsdb::MatchOp::Equal, "__name__", "m").expect("matcher")], 0, 10_000)
    }

    /// A select of more series than one pause's worth answers the listings that were queued
    /// after its group was formed (before it finished), and sets the other requests aside
    /// in order, at most a group's worth.
    #[test]
    fn listings_queued_during_a_select_are_answered_in_its_pauses() {
        with_new_shard(|mut db| async move {
            let series: Vec<SeriesSamples> = (0..SERIES)
                .map(|i| SeriesSamples {
                    labels: Labels::from_pairs([("__name__", "m".to_string()), ("i", format!("{i:04}"))]),
                    samples: vec![Sample { timestamp_ms: 1_000, value: i as f64 }],
                    histograms: Vec::new(),
                    starts: None,
                })
                .collect();
            db.append_group(&[series.as_slice()]).await.expect("append");

            let (requests_tx, requests) = async_channel::unbounded();
            let (values_reply, mut values) = oneshot::channel();
            requests_tx
                .try_send(ShardRequest::LabelValues { name: "i".into(), select: all_series(), reply: values_reply })
                .expect("queue");
            for _ in 0..GROUP_COMMIT_REQUESTS_MAX + 3 {
                requests_tx.try_send(ShardRequest::PutMetadata { entries: Vec::new() }).expect("queue");
            }
            let (stats_reply, mut stats) = oneshot::channel();
            requests_tx.try_send(ShardRequest::Stats { reply: stats_reply }).expect("queue");

            let (select_reply, mut selected) = oneshot::channel();
            let group = vec![ShardRequest::Select { selects: vec![all_series()], alternatives: 1, sample_limit: usize::MAX, reply: select_reply }];
            let mut deferred = Vec::new();
            process_group(0, &mut db, &mut MetadataStore::default(), group, &requests, &mut deferred).await;

            let selected = selected.try_recv().expect("select answered").expect("select reply").expect("no sample limit");
            assert_eq!(selected[0].len(), SERIES);
            let values = values.try_recv().expect("listing answered").expect("label values in a pause");
            assert_eq!(values.len(), SERIES);
            assert_eq!(deferred.len(), GROUP_COMMIT_REQUESTS_MAX, "at most a group's worth set aside");
            assert!(deferred.iter().all(|r| matches!(r, ShardRequest::PutMetadata { .. })));
            assert_eq!(requests.len(), 4, "the rest stays queued, the stats request behind it");
            assert!(stats.try_recv().expect("open").is_none(), "not reached: the set-aside requests are full");
            db
        });
    }

    /// Read filters with two alternatives that both match a series: the shard answers it
    /// once, and its samples count once toward the limit (a limit of exactly its samples
    /// passes); a limit below them still stops the select.
    #[test]
    fn a_series_two_alternatives_match_is_answered_and_counted_once() {
        with_new_shard(|mut db| async move {
            let labels = |team: &str, i: &str| Labels::from_pairs([("__name__", "m"), ("i", i), ("team", team)]);
            let samples: Vec<Sample> = (1..=10).map(|t| Sample { timestamp_ms: t * 100, value: t as f64 }).collect();
            let series = vec![
                SeriesSamples { labels: labels("a", "1"), samples: samples.clone(), histograms: Vec::new(), starts: None },
                SeriesSamples { labels: labels("b", "2"), samples: samples[..4].to_vec(), histograms: Vec::new(), starts: None },
            ];
            db.append_group(&[series.as_slice()]).await.expect("append");
            let m = |name: &str, value: &str| tsdb::Matcher::new(tsdb::MatchOp::Equal, name, value).expect("matcher");
            // team="a" matches series 1 only; i="1" matches it again.
            let filters = vec![vec![m("team", "a")], vec![m("i", "1")]];
            let asked = super::super::router::filtered_selects(&[all_series()], &filters);
            assert_eq!(asked.len(), 2);
            let mut pause = |_: &ShardDb| {};
            let united = select_united(&db, &asked, 2, 10, &mut pause).await.expect("10 samples fit a limit of 10");
            assert_eq!(united.len(), 1, "one answer per asked select");
            let names: Vec<String> = united[0].iter().map(|s| s.labels.get("i").unwrap_or_default().to_string()).collect();
            assert_eq!(names, vec!["1"]);
            assert!(select_united(&db, &asked, 2, 9, &mut pause).await.is_none(), "10 samples do not fit 9");
            // The budget is shared by the query's selects: the first's union (both series,
            // 14 samples) leaves 4 of 18, enough for series 2's 4 samples in the second.
            let second = Select::all(vec![m("__name__", "m"), m("team", "b")], 0, 10_000);
            let both = super::super::router::filtered_selects(&[all_series(), second], &[vec![m("team", "a")], vec![m("i", "1")], vec![m("i", "2")]]);
            let united = select_united(&db, &both, 3, 18, &mut pause).await.expect("14 + 4 samples fit 18");
            assert_eq!(united.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 1]);
            assert!(select_united(&db, &both, 3, 17, &mut pause).await.is_none(), "but not 17");
            db
        });
    }
}
