//! VictoriaMetrics' cardinality limiter (`-storage.maxHourlySeries`, `-storage.maxDailySeries`)
//! for one shard: at most `limit` distinct series take samples within each window of the
//! wall clock (an hour, or a UTC day); past it, the samples of a series not yet seen in the
//! window are refused, while those seen go on. The series seen are forgotten when the window
//! turns, as VictoriaMetrics' limiter is reset. Series are known by their stable label hash
//! (`BatchSeries::hash`), so no label is copied and a window costs one hash per series seen.

use std::hash::{BuildHasherDefault, Hasher};

/// The series hashes are xxh3 already: the set uses them as they are.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// One window's limit (see the module documentation).
pub struct SeriesWindowLimit {
    limit: u64,
    window_ms: i64,
    /// The window the series seen belong to (`now_ms / window_ms`).
    window: i64,
    seen: hashbrown::HashSet<u64, BuildHasherDefault<PassThrough>>,
}

/// An hour and a day, the two windows VictoriaMetrics limits.
pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

impl SeriesWindowLimit {
    /// A limit of `limit` series per window of `window_ms`; `None` for 0 (no limit).
    pub fn new(limit: u64, window_ms: i64) -> Option<SeriesWindowLimit> {
        (limit > 0).then(|| SeriesWindowLimit { limit, window_ms, window: i64::MIN, seen: Default::default() })
    }

    /// Whether series `hash` may take samples at `now_ms`, noting it as seen when it may.
    pub fn admits(&mut self, hash: u64, now_ms: i64) -> bool {
        let window = now_ms.div_euclid(self.window_ms);
        if window != self.window {
            self.window = window;
            self.seen.clear();
            // A window's set can be large: its memory is not kept past a quieter window.
            self.seen.shrink_to(self.seen.capacity().min(self.limit as usize) / 2);
        }
        if self.seen.contains(&hash) {
            return true;
        }
        if self.seen.len() as u64 >= self.limit {
            return false;
        }
        self.seen.insert(hash);
        true
    }

    /// Whether series `hash` was seen in the window of `now_ms` (nothing noted): a staleness
    /// marker goes only to a series that was let in.
    pub fn has_seen(&self, hash: u64, now_ms: i64) -> bool {
        now_ms.div_euclid(self.window_ms) == self.window && self.seen.contains(&hash)
    }

    /// Series seen in the current window.
    pub fn current(&self) -> u64 {
        self.seen.len() as u64
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_past_the_limit_wait_for_the_next_window() {
        assert!(SeriesWindowLimit::new(0, HOUR_MS).is_none(), "0 is no limit");
        let mut hourly = SeriesWindowLimit::new(2, HOUR_MS).expect("a limit");
        let t = 10 * HOUR_MS + 5;
        assert!(hourly.admits(1, t) && hourly.admits(2, t));
        assert!(!hourly.admits(3, t + 1), "a third series in the hour");
        assert!(hourly.admits(1, t + 2) && hourly.admits(2, HOUR_MS * 11 - 1), "series seen go on");
        assert_eq!((hourly.current(), hourly.limit()), (2, 2));
        // The next hour starts afresh.
        assert!(hourly.admits(3, 11 * HOUR_MS));
        assert_eq!(hourly.current(), 1);
        assert!(hourly.admits(1, 11 * HOUR_MS) && !hourly.admits(2, 11 * HOUR_MS + 1));
    }
}
