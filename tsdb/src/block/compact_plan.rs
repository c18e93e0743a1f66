//! The compaction planner: a pure function from block metas to the blocks to merge next,
//! with Prometheus' leveled semantics (overlapping blocks first, then aligned ranges that
//! are complete or older than the newest block, then single blocks with many tombstones;
//! ranges grow from the block duration d: d, 3d, 12d, then ×3 per level), except that small
//! blocks overlapping a much larger one wait before they are merged (`overlap_merge`).

/// What the planner needs to know about one block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanBlock {
    pub ulid: String,
    /// Inclusive lower bound, Unix ms.
    pub min_time_ms: i64,
    /// Exclusive upper bound, Unix ms.
    pub max_time_ms: i64,
    pub num_series: u64,
    pub num_samples: u64,
    /// Series with at least one tombstone interval (Prometheus counts intervals; one per
    /// series is the usual case and the same measure for "a large share of the series").
    pub num_tombstone_series: u64,
}

/// Level ranges above this many are not generated (`LEVELS_MAX` × 3 grows past any retention).
const LEVELS_MAX: usize = 16;
/// A block is rewritten alone when more than this share of its series carries tombstones.
pub const TOMBSTONE_SHARE_REWRITE: f64 = 0.05;
/// Blocks overlapping the largest of their overlapping run are merged with it once they hold
/// at least 1/`OVERLAP_MERGE_DIVISOR` of its samples (so each merge grows the large block by a
/// quarter at least, and its rewrites during a backfill stay few) …
pub const OVERLAP_MERGE_DIVISOR: u64 = 4;
/// Once this many blocks wait beside the largest, they are merged with each other (reads
/// merge every overlapping block, so their number is bounded).
pub const OVERLAPPING_SMALL_BLOCKS_MAX: usize = 8;
/// An overlapping run whose newest block (by ULID time) is younger than this is still
/// growing (an import of history cuts its late samples every few seconds): it is not merged
/// into its largest block yet, which would rewrite that block at every cut, only its small
/// blocks with each other once `OVERLAPPING_SMALL_BLOCKS_MAX` wait. Maintenance plans again
/// every minute, so a run is merged within a minute or two of its last block. The default of
/// `ShardOptions::overlap_settle_ms`.
pub const OVERLAP_SETTLE_MS: u64 = 30_000;

/// Compaction ranges for a block duration: `[d, 3d, 12d, 36d, 108d, …]`, keeping only ranges
/// up to `retention_ms / 10` (a block must age out in pieces, not all at once), and always
/// at least `[d]`.
pub fn compaction_ranges(block_duration_ms: i64, retention_ms: i64) -> Vec<i64> {
    debug_assert!(block_duration_ms > 0, "block duration is positive");
    let limit = retention_ms / 10;
    let mut ranges = vec![block_duration_ms];
    let mut next = block_duration_ms.saturating_mul(3);
    while ranges.len() < LEVELS_MAX && next <= limit && next > *ranges.last().unwrap_or(&0) {
        ranges.push(next);
        next = if ranges.len() == 2 { next.saturating_mul(4) } else { next.saturating_mul(3) };
    }
    ranges
}

/// The ULIDs of the blocks to merge into one next (in ascending `min_time` order), or an
/// empty list when nothing is due. A one-element answer means "rewrite this block alone"
/// (its tombstones cover a large share of its series).
/// `settled_before_ms`: an overlapping run whose newest block was written (ULID time) at or
/// after this Unix ms is still growing (see `OVERLAP_SETTLE_MS`; blocks whose names are not
/// ULIDs count as settled).
pub fn plan(blocks: &[PlanBlock], ranges: &[i64], settled_before_ms: u64) -> Vec<String> {
    if blocks.is_empty() {
        return Vec::new();
    }
    let mut sorted: Vec<&PlanBlock> = blocks.iter().collect();
    sorted.sort_by(|a, b| (a.min_time_ms, &a.ulid).cmp(&(b.min_time_ms, &b.ulid)));
    let mut waiting: Vec<&str> = Vec::new();
    for run in overlapping_runs(&sorted) {
        let newest_ms = run.iter().filter_map(|b| super::ulid_time_ms(&b.ulid)).max();
        let settled = newest_ms.is_none_or(|t| t < settled_before_ms);
        let merged = overlap_merge(&run, settled);
        if !merged.is_empty() {
            return merged.iter().map(|b| b.ulid.clone()).collect();
        }
        waiting.extend(run.iter().map(|b| b.ulid.as_str()));
    }
    // The newest block (highest min time) stays out: it was just cut, and it may still be
    // joined by another block of its range. Overlapping runs that wait stay out too.
    sorted.pop();
    sorted.retain(|b| !waiting.contains(&b.ulid.as_str()));
    let leveled = select_leveled(&sorted, ranges);
    if !leveled.is_empty() {
        return leveled.iter().map(|b| b.ulid.clone()).collect();
    }
    let big_enough = ranges.get(ranges.len() / 2).copied().unwrap_or(i64::MAX);
    for b in sorted.iter().rev() {
        if b.max_time_ms - b.min_time_ms < big_enough {
            // Small blocks are rewritten early only when every series has tombstones.
            if b.num_tombstone_series > 0 && b.num_tombstone_series >= b.num_series {
                return vec![b.ulid.clone()];
            }
            break;
        }
        if b.num_tombstone_series as f64 / (b.num_series + 1) as f64 > TOMBSTONE_SHARE_REWRITE {
            return vec![b.ulid.clone()];
        }
    }
    Vec::new()
}

/// The runs of blocks (sorted by min time) whose ranges overlap, transitively, in time order.
fn overlapping_runs<'a>(sorted: &[&'a PlanBlock]) -> Vec<Vec<&'a PlanBlock>> {
    let mut runs = Vec::new();
    let mut group: Vec<&PlanBlock> = Vec::new();
    let Some(first) = sorted.first() else {
        return runs;
    };
    let mut max_t = first.max_time_ms;
    for pair in sorted.windows(2) {
        let (prev, b) = (pair[0], pair[1]);
        if b.min_time_ms < max_t {
            if group.is_empty() {
                group.push(prev);
            }
            group.push(b);
        } else if !group.is_empty() {
            runs.push(std::mem::take(&mut group));
        }
        max_t = max_t.max(b.max_time_ms);
    }
    if !group.is_empty() {
        runs.push(group);
    }
    runs
}

/// What of an overlapping run is merged now. Unlike Prometheus, small blocks overlapping a
/// much larger one (late samples of a backfill, cut behind the compacted history) wait until
/// they add up to a quarter of it: all of the run is merged when the blocks beside its largest
/// (by samples) hold at least 1/`OVERLAP_MERGE_DIVISOR` of its samples and the run has
/// `settled` (`OVERLAP_SETTLE_MS`); those blocks alone, into one, when they number
/// `OVERLAPPING_SMALL_BLOCKS_MAX` or more; nothing otherwise (the run waits; reads merge
/// overlapping blocks meanwhile). Merging each late block into the large one as it came, or
/// tiny ones for their count, rewrote the large one over and over (a day's block once per late
/// block, compaction levels reached 35 in a 30-day backfill: most of its compaction bytes).
fn overlap_merge<'a>(run: &[&'a PlanBlock], settled: bool) -> Vec<&'a PlanBlock> {
    let Some(largest) = run.iter().enumerate().max_by_key(|(_, b)| b.num_samples).map(|(i, _)| i) else {
        return Vec::new();
    };
    let others: Vec<&PlanBlock> = run.iter().enumerate().filter(|(i, _)| *i != largest).map(|(_, b)| *b).collect();
    let others_samples = others.iter().map(|b| b.num_samples).fold(0, u64::saturating_add);
    if settled && others_samples.saturating_mul(OVERLAP_MERGE_DIVISOR) >= run[largest].num_samples {
        run.to_vec()
    } else if others.len() >= OVERLAPPING_SMALL_BLOCKS_MAX {
        others
    } else {
        Vec::new()
    }
}

/// For each range above the first, the first aligned group of ≥ 2 blocks that spans the
/// whole range or ends before the newest remaining block starts.
fn select_leveled<'a>(sorted: &[&'a PlanBlock], ranges: &[i64]) -> Vec<&'a PlanBlock> {
    let Some(newest) = sorted.last() else {
        return Vec::new();
    };
    let high_time = newest.min_time_ms;
    for &range in ranges.iter().skip(1) {
        for group in split_by_range(sorted, range) {
            let (Some(first), Some(last)) = (group.first(), group.last()) else {
                continue;
            };
            let spans_range = last.max_time_ms - first.min_time_ms == range;
            if group.len() > 1 && (spans_range || last.max_time_ms <= high_time) {
                return group;
            }
        }
    }
    Vec::new()
}

/// Groups consecutive blocks lying wholly inside one aligned range `[k·range, (k+1)·range)`;
/// blocks wider than the range (or straddling its edge) belong to no group.
fn split_by_range<'a>(sorted: &[&'a PlanBlock], range: i64) -> Vec<Vec<&'a PlanBlock>> {
    let mut groups = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i].min_time_ms - sorted[i].min_time_ms.rem_euclid(range);
        let end = start.saturating_add(range);
        if sorted[i].max_time_ms > end {
            i += 1;
            continue;
        }
        let mut group = Vec::new();
        while i < sorted.len() && sorted[i].min_time_ms >= start && sorted[i].max_time_ms <= end {
            group.push(sorted[i]);
            i += 1;
        }
        groups.push(group);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600 * 1000;
    const RANGES: [i64; 4] = [2 * H, 6 * H, 24 * H, 72 * H];

    fn b(name: &str, min_h: i64, max_h: i64) -> PlanBlock {
        PlanBlock {
            ulid: name.to_string(),
            min_time_ms: min_h * H,
            max_time_ms: max_h * H,
            num_series: 100,
            num_samples: 1000,
            num_tombstone_series: 0,
        }
    }

    fn samples(mut block: PlanBlock, n: u64) -> PlanBlock {
        block.num_samples = n;
        block
    }

    fn stones(mut block: PlanBlock, series: u64, with_tombstones: u64) -> PlanBlock {
        block.num_series = series;
        block.num_tombstone_series = with_tombstones;
        block
    }

    #[test]
    fn ranges_follow_the_block_duration_and_retention() {
        assert_eq!(compaction_ranges(2 * H, 15 * 24 * H), vec![2 * H, 6 * H, 24 * H]);
        assert_eq!(compaction_ranges(2 * H, 30 * 24 * H), vec![2 * H, 6 * H, 24 * H, 72 * H]);
        assert_eq!(compaction_ranges(2 * H, 10 * 216 * H), vec![2 * H, 6 * H, 24 * H, 72 * H, 216 * H]);
        assert_eq!(compaction_ranges(2 * H, 24 * H), vec![2 * H], "6h > retention/10: only the first level");
        assert_eq!(compaction_ranges(2 * H, 60 * H), vec![2 * H, 6 * H]);
        assert_eq!(compaction_ranges(H, 1), vec![H], "at least the first level");
        assert!(compaction_ranges(1, i64::MAX).len() <= LEVELS_MAX);
    }

    /// Each case: blocks (name, min h, max h), expected plan.
    #[test]
    fn planner_cases() {
        let cases: Vec<(&str, Vec<PlanBlock>, Vec<&str>)> = vec![
            ("no blocks", vec![], vec![]),
            ("one block", vec![b("a", 0, 2)], vec![]),
            ("two: the newest is excluded", vec![b("a", 0, 2), b("b", 2, 4)], vec![]),
            (
                "three adjacent 2h blocks fill 6h, but the newest is excluded",
                vec![b("a", 0, 2), b("b", 2, 4), b("c", 4, 6)],
                vec![],
            ),
            (
                "a fourth block makes the first 6h range complete",
                vec![b("a", 0, 2), b("b", 2, 4), b("c", 4, 6), b("d", 6, 8)],
                vec!["a", "b", "c"],
            ),
            (
                "a partial range ending before the newest remaining block starts is merged",
                vec![b("a", 0, 2), b("b", 2, 4), b("d", 6, 8), b("e", 8, 10)],
                vec!["a", "b"],
            ),
            (
                "a partial range reaching past the newest remaining block's start waits",
                vec![b("a", 0, 2), b("b", 2, 4), b("c", 4, 6)],
                vec![],
            ),
            (
                "gaps inside a complete range",
                vec![b("a", 0, 2), b("c", 4, 6), b("d", 12, 14)],
                vec!["a", "c"],
            ),
            (
                "a single block in its range is not merged",
                vec![b("a", 0, 2), b("d", 6, 8), b("e", 12, 14)],
                vec![],
            ),
            (
                "6h blocks merge into 24h once the range is complete",
                vec![b("a", 0, 6), b("b", 6, 12), b("c", 12, 18), b("d", 18, 24), b("e", 24, 26)],
                vec!["a", "b", "c", "d"],
            ),
            (
                "lower levels are planned first",
                vec![b("a", 0, 6), b("b", 6, 12), b("c", 24, 26), b("d", 26, 28), b("e", 28, 30), b("f", 40, 42)],
                vec!["c", "d", "e"],
            ),
            (
                "a block straddling an aligned edge stays out of that range's group",
                vec![b("a", 4, 8), b("b", 8, 10), b("c", 10, 12), b("d", 12, 14), b("e", 30, 32)],
                vec!["b", "c"],
            ),
            (
                "overlapping blocks first, whatever their level",
                vec![b("a", 0, 6), b("b", 6, 8), b("c", 8, 10), b("d", 8, 10), b("e", 20, 22)],
                vec!["c", "d"],
            ),
            (
                "overlap is transitive and includes the newest block",
                vec![b("a", 0, 2), b("b", 1, 3), b("c", 2, 4), b("d", 4, 6)],
                vec!["a", "b", "c"],
            ),
            (
                "only the first overlapping run",
                vec![b("a", 0, 2), b("b", 0, 2), b("c", 4, 6), b("d", 4, 6)],
                vec!["a", "b"],
            ),
            (
                "a small late block waits beside a large one; the next run and the levels go on",
                vec![samples(b("a", 0, 24), 12_000), b("l", 2, 4), b("c", 30, 32), b("d", 30, 32), b("z", 48, 50)],
                vec!["c", "d"],
            ),
            (
                "a waiting run stays out of leveled merges",
                vec![samples(b("a", 0, 24), 12_000), b("l", 2, 4), b("c", 24, 26), b("d", 26, 28), b("e", 28, 30), b("z", 40, 42)],
                vec!["c", "d", "e"],
            ),
            (
                "small late blocks wait while they hold less than a quarter of the large one",
                vec![samples(b("a", 0, 24), 12_000), b("l", 2, 4), samples(b("m", 6, 8), 1999), b("z", 48, 50)],
                vec![],
            ),
            (
                "a quarter exactly is enough",
                vec![samples(b("a", 0, 24), 12_000), b("l", 2, 4), samples(b("m", 6, 8), 2000), b("z", 48, 50)],
                vec!["a", "l", "m"],
            ),
            (
                "seven small ones still wait",
                (0..7).map(|i| samples(b(&format!("l{i}"), 2 * i, 2 * i + 2), 1)).chain([samples(b("a", 0, 24), 12_000)]).collect(),
                vec![],
            ),
            (
                "eight are merged with each other, not into the large one",
                (0..8).map(|i| samples(b(&format!("l{i}"), 2 * i, 2 * i + 2), 1)).chain([samples(b("a", 0, 24), 12_000)]).collect(),
                vec!["l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7"],
            ),
            (
                "their merge then waits beside the large one",
                vec![samples(b("a", 0, 24), 12_000), samples(b("l", 0, 16), 8), b("z", 48, 50)],
                vec![],
            ),
            (
                "a block inside a bigger one overlaps it",
                vec![b("a", 0, 6), b("b", 2, 4)],
                vec!["a", "b"],
            ),
            (
                "negative times align like positive ones",
                vec![b("a", -6, -4), b("b", -4, -2), b("c", -2, 0), b("d", 0, 2)],
                vec!["a", "b", "c"],
            ),
        ];
        for (name, blocks, want) in cases {
            let got = plan(&blocks, &RANGES, u64::MAX);
            assert_eq!(got, want.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{name}");
        }
    }

    #[test]
    fn plan_is_independent_of_input_order() {
        let mut blocks = vec![b("a", 0, 2), b("b", 2, 4), b("c", 4, 6), b("d", 6, 8)];
        blocks.reverse();
        assert_eq!(plan(&blocks, &RANGES, u64::MAX), vec!["a", "b", "c"]);
    }

    #[test]
    fn tombstones_rewrite_big_blocks_alone() {
        // Big enough (≥ the middle range, 24h here): more than 5% of series with tombstones.
        let cases: Vec<(&str, Vec<PlanBlock>, Vec<&str>)> = vec![
            ("5% is not more than 5%", vec![stones(b("a", 0, 24), 99, 5), b("z", 48, 50)], vec![]),
            ("6% is", vec![stones(b("a", 0, 24), 99, 6), b("z", 48, 50)], vec!["a"]),
            (
                "the newest big block with tombstones first",
                vec![stones(b("a", 0, 24), 99, 50), stones(b("b", 24, 48), 99, 50), b("z", 48, 50)],
                vec!["b"],
            ),
            (
                "the newest block is never rewritten",
                vec![b("a", 0, 24), stones(b("z", 24, 48), 10, 10)],
                vec![],
            ),
            (
                "a small block only when every series has tombstones",
                vec![stones(b("a", 0, 2), 10, 10), b("z", 12, 14)],
                vec!["a"],
            ),
            (
                "a small block with some tombstones waits",
                vec![stones(b("a", 0, 2), 10, 9), b("z", 12, 14)],
                vec![],
            ),
            (
                "the scan stops at the first small block from the newest",
                vec![stones(b("a", 0, 24), 99, 50), b("b", 24, 26), b("z", 48, 50)],
                vec![],
            ),
            (
                "merging wins over rewriting",
                vec![stones(b("a", 0, 24), 99, 50), b("b", 24, 26), b("c", 26, 28), b("d", 30, 32), b("z", 48, 50)],
                vec!["b", "c"],
            ),
        ];
        for (name, blocks, want) in cases {
            assert_eq!(plan(&blocks, &RANGES, u64::MAX), want.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{name}");
        }
    }

    /// A run still growing (its newest block younger than `OVERLAP_SETTLE_MS`) is not merged
    /// into its largest block, only its small blocks with each other once enough wait; once
    /// settled it is merged whole.
    #[test]
    fn a_growing_overlapping_run_waits_until_it_settles() {
        let t0 = 1_800_000_000_000u64;
        let named = |ms: u64, min_h: i64, max_h: i64, n: u64| PlanBlock { ulid: crate::block::new_ulid(ms), ..samples(b("", min_h, max_h), n) };
        let large = named(t0, 0, 24, 1_000_000);
        let late: Vec<PlanBlock> = (1..=3).map(|k| named(t0 + k * 2_000, 0, 2, 300_000)).collect();
        let mut blocks = vec![large.clone()];
        blocks.extend(late.iter().cloned());
        let newest = t0 + 6_000;
        assert!(plan(&blocks, &RANGES, newest + 1_000 - OVERLAP_SETTLE_MS).is_empty(), "growing: waits");
        let mut all: Vec<String> = blocks.iter().map(|b| b.ulid.clone()).collect();
        all.sort();
        let mut got = plan(&blocks, &RANGES, newest + 1);
        got.sort();
        assert_eq!(got, all, "settled: merged whole");
        // Eight small blocks waiting beside the large one merge with each other, growing or not.
        let small: Vec<PlanBlock> = (1..=8).map(|k| named(t0 + k * 2_000, 0, 2, 1_000)).collect();
        let mut blocks = vec![large.clone()];
        blocks.extend(small.iter().cloned());
        let mut got = plan(&blocks, &RANGES, t0);
        got.sort();
        let mut want: Vec<String> = small.iter().map(|b| b.ulid.clone()).collect();
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn only_the_first_level_configured_means_no_leveled_merges() {
        let blocks = vec![b("a", 0, 2), b("b", 2, 4), b("c", 4, 6), b("d", 6, 8)];
        assert!(plan(&blocks, &[2 * H], u64::MAX).is_empty());
        let overlapping = vec![b("a", 0, 2), b("b", 0, 2)];
        assert_eq!(plan(&overlapping, &[2 * H], u64::MAX), vec!["a", "b"], "vertical merges still happen");
    }
}
