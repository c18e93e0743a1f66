//! Samples and series-with-samples, the unit of writes and of query results.

use super::{HistogramSample, Labels};

/// The exact bit pattern Prometheus uses for a staleness marker. It must survive
/// storage bit-exact: PromQL treats it as "series ended here".
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// True when `value` is the staleness marker (not any other NaN).
pub fn is_stale_nan(value: f64) -> bool {
    value.to_bits() == STALE_NAN_BITS
}

/// One float sample. Timestamps are Unix milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub timestamp_ms: i64,
    pub value: f64,
}

impl PartialEq for Sample {
    /// Bit equality on the value, so NaN == NaN and stale markers are distinguished.
    fn eq(&self, other: &Self) -> bool {
        self.timestamp_ms == other.timestamp_ms && self.value.to_bits() == other.value.to_bits()
    }
}

/// A series and some of its samples, ordered by timestamp. Used for write batches
/// (one request's samples for a series) and for query results.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesSamples {
    pub labels: Labels,
    pub samples: Vec<Sample>,
    /// Native histogram samples, ordered by timestamp; no timestamp is in both lists.
    pub histograms: Vec<HistogramSample>,
    /// Each sample's start time (the time its counter started counting), when the
    /// series has any; `None` for the usual series that has none.
    pub starts: Option<Box<SampleStarts>>,
}

/// Start times parallel to a [`SeriesSamples`]' two lists: `floats[i]` is the start
/// of `samples[i]`, `histograms[i]` that of `histograms[i]`, in Unix milliseconds;
/// 0 means that sample came without one (Prometheus' "unknown start").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SampleStarts {
    pub floats: Vec<i64>,
    pub histograms: Vec<i64>,
}

impl SampleStarts {
    /// The `starts` of an answer holding `floats_count` floats and `histograms_count`
    /// histograms from each list's starts (parallel to it, `None` for a list without any):
    /// `None` unless some start is non-zero, a missing list filled with zeros.
    pub fn answer(floats: Option<Vec<i64>>, histograms: Option<Vec<i64>>, floats_count: usize, histograms_count: usize) -> Option<Box<SampleStarts>> {
        let any = |list: &Option<Vec<i64>>| list.as_ref().is_some_and(|l| l.iter().any(|&s| s != 0));
        if !any(&floats) && !any(&histograms) {
            return None;
        }
        let filled = |list: Option<Vec<i64>>, count: usize| list.filter(|l| l.len() == count).unwrap_or_else(|| vec![0; count]);
        debug_assert!(floats.as_ref().is_none_or(|l| l.len() == floats_count) && histograms.as_ref().is_none_or(|l| l.len() == histograms_count), "starts are parallel to their samples");
        Some(Box::new(SampleStarts { floats: filled(floats, floats_count), histograms: filled(histograms, histograms_count) }))
    }
}
