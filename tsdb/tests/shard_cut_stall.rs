//! A head cut must not stall its executor: while `force_cut` splits the head, checkpoints
//! the rest and writes the block, a ticking task on the same executor keeps running. The
//! ignored test prints the figures for a large shard (run it with `--release`).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

mod common;

use common::on_executor;
use tsdb::{Labels, Sample, SeriesSamples, ShardDb};

/// The ticker's period; a stalled executor shows up as one long gap between its ticks.
const TICK_PERIOD: Duration = Duration::from_millis(1);
/// Samples per series in one appended group (so appending stays quick).
const SAMPLES_PER_APPEND: usize = 20;

/// What one cut did to its executor.
#[derive(Debug)]
struct CutStall {
    cut: Duration,
    /// Ticks that happened while `force_cut` was in progress.
    ticks_during_cut: usize,
    /// The longest time without a tick during the cut (its start and end count as ticks).
    gap_max: Duration,
    /// When that gap began, from the cut's start (printed, to tell which step stalled).
    #[allow(dead_code)]
    gap_max_at: Duration,
    block_samples: u64,
}

/// Fills a shard with `series` series of `samples` samples each, `interval_ms` apart from
/// time 0, then times `force_cut` while a task on the same executor ticks every
/// `TICK_PERIOD`.
fn measure_cut(series: usize, samples: usize, interval_ms: i64) -> CutStall {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir_path = dir.path().to_path_buf();
    on_executor(move || async move {
        let mut db = ShardDb::open(&dir_path, common::block_test_options()).await.expect("open");
        let labels: Vec<Labels> = (0..series)
            .map(|i| Labels::from_pairs([("__name__", "stall".to_string()), ("i", i.to_string())]))
            .collect();
        for first in (0..samples).step_by(SAMPLES_PER_APPEND) {
            let group: Vec<SeriesSamples> = labels
                .iter()
                .enumerate()
                .map(|(i, l)| SeriesSamples {
                    labels: l.clone(),
                    samples: (first..(first + SAMPLES_PER_APPEND).min(samples))
                        .map(|n| Sample { timestamp_ms: n as i64 * interval_ms, value: (i + n) as f64 })
                        .collect(),
                    histograms: Vec::new(),
                    starts: None,
                })
                .collect();
            db.append_group(&[group.as_slice()]).await.expect("append");
        }
        let ticks: Rc<RefCell<Vec<Instant>>> = Rc::default();
        let stop = Rc::new(Cell::new(false));
        let ticker = glommio::spawn_local({
            let (ticks, stop) = (ticks.clone(), stop.clone());
            async move {
                while !stop.get() {
                    glommio::timer::sleep(TICK_PERIOD).await;
                    ticks.borrow_mut().push(Instant::now());
                }
            }
        });
        // Let the ticker start before the cut does.
        glommio::timer::sleep(10 * TICK_PERIOD).await;
        let start = Instant::now();
        let meta = db.force_cut().await.expect("cut").expect("a block");
        let end = Instant::now();
        stop.set(true);
        ticker.await;
        db.close().await.expect("close");
        let during: Vec<Instant> = ticks.borrow().iter().copied().filter(|t| *t > start && *t < end).collect();
        let mut bounds = vec![start];
        bounds.extend(&during);
        bounds.push(end);
        let (gap_max, gap_max_at) =
            bounds.windows(2).map(|w| (w[1] - w[0], w[0] - start)).max().unwrap_or_default();
        CutStall { cut: end - start, ticks_during_cut: during.len(), gap_max, gap_max_at, block_samples: meta.stats.num_samples }
    })
}

#[test]
fn other_tasks_on_the_executor_run_during_a_cut() {
    // 20k series × 200 samples a minute apart: 120 per series go into the [0, 2 h) block.
    let stall = measure_cut(20_000, 200, 60_000);
    println!("{stall:?}");
    assert_eq!(stall.block_samples, 20_000 * 120);
    assert!(stall.ticks_during_cut >= 3, "the ticker ran during the cut: {stall:?}");
    assert!(stall.gap_max < stall.cut / 2, "no single stall takes most of the cut: {stall:?}");
}

/// The figures for the issue: 100k series × 420 samples, 240 of them into the block.
/// `cargo test --release -p metricstor-tsdb --test shard_cut_stall -- --ignored --nocapture`
#[test]
#[ignore = "large; prints figures, run in release"]
fn cut_stall_figures_for_100k_series() {
    let stall = measure_cut(100_000, 420, 30_000);
    println!("100k series x 420 samples (240 into the block): {stall:?}");
    assert_eq!(stall.block_samples, 100_000 * 240);
}
