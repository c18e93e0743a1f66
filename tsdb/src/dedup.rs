//! Deduplication of a series' samples by interval, as VictoriaMetrics'
//! `-dedup.minScrapeInterval`: of the samples in each interval `(k·d − d, k·d]` (intervals
//! aligned to the epoch, closed on the right) only the last is kept. Two Prometheus servers
//! of an HA pair writing the same series then read as one scraping at `d`.

/// Keeps, of `items` (sorted by time), the last one of each interval of `interval_ms`
/// (see the module docs); `interval_ms <= 0` keeps everything.
pub fn dedup_by_interval<T>(items: &mut Vec<T>, interval_ms: i64, timestamp_ms: impl Fn(&T) -> i64) {
    if interval_ms <= 0 || items.len() < 2 {
        return;
    }
    let interval_end = |t: i64| {
        let q = t.div_euclid(interval_ms);
        if t.rem_euclid(interval_ms) == 0 { q } else { q + 1 }
    };
    if !items.windows(2).any(|pair| interval_end(timestamp_ms(&pair[0])) == interval_end(timestamp_ms(&pair[1]))) {
        return; // the usual case: one sample per interval already
    }
    let ends: Vec<i64> = items.iter().map(|item| interval_end(timestamp_ms(item))).collect();
    let mut index = 0;
    items.retain(|_| {
        index += 1;
        ends.get(index).is_none_or(|&following| following != ends[index - 1])
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Sample;
    use proptest::prelude::*;

    fn times(points: &[i64], interval: i64) -> Vec<i64> {
        let mut samples: Vec<Sample> = points.iter().map(|&t| Sample { timestamp_ms: t, value: t as f64 }).collect();
        dedup_by_interval(&mut samples, interval, |s| s.timestamp_ms);
        samples.iter().map(|s| s.timestamp_ms).collect()
    }

    #[test]
    fn the_last_sample_of_each_right_closed_interval_is_kept() {
        // Intervals of 10 s: (0, 10000], (10000, 20000], (20000, 30000].
        assert_eq!(times(&[1_000, 3_000, 10_000, 11_000, 19_000, 20_000, 21_000], 10_000), vec![10_000, 20_000, 21_000]);
        // An HA pair 200 ms apart, scraping every 15 s, deduplicated at 15 s: one per scrape.
        let pair: Vec<i64> = (0..8).flat_map(|k| [k * 15_000 + 1_100, k * 15_000 + 1_300]).collect();
        assert_eq!(times(&pair, 15_000), (0..8).map(|k| k * 15_000 + 1_300).collect::<Vec<_>>());
        assert_eq!(times(&[5, 6, 7], 0), vec![5, 6, 7]);
        assert_eq!(times(&[-5_000, -1, 0, 1], 10_000), vec![0, 1]);
    }

    proptest! {
        /// Against the definition: a sample is kept exactly when no later sample shares its
        /// interval; the kept ones stay in order and no two share an interval.
        #[test]
        fn matches_the_definition(mut points in proptest::collection::vec(-100_000i64..100_000, 0..60), interval in 1i64..20_000) {
            points.sort_unstable();
            points.dedup();
            let end = |t: i64| (t as f64 / interval as f64).ceil() as i64;
            let expected: Vec<i64> = points.iter().enumerate().filter(|&(i, &t)| points[i + 1..].iter().all(|&u| end(u) != end(t))).map(|(_, &t)| t).collect();
            prop_assert_eq!(times(&points, interval), expected);
        }
    }
}
