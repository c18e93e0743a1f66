//! `tsdb` owns the data model and one shard's storage: WAL, in-memory head with
//! XOR chunks, inverted index, and Prometheus-format blocks.
//! It never sees HTTP, configuration files or other shards.

pub mod block;
pub mod chunk;
pub mod dedup;
pub mod encoded;
pub mod error;
pub mod exemplar;
#[cfg(feature = "fault-injection")]
pub mod fault;
/// Without fault injection there are no faults for work handed to another thread to carry.
#[cfg(not(feature = "fault-injection"))]
pub(crate) mod fault {
    pub(crate) struct Carried;
    pub(crate) fn carry() -> Carried {
        Carried
    }
    pub(crate) fn land(_: Carried) {}
}
pub mod head;
pub mod index;
pub mod merge;
pub mod model;
pub mod prefetch;
pub mod shard;
pub mod wal;

pub use model::{
    is_stale_nan, BatchPart, BucketSpan, CounterResetHint, FloatHistogram, HistogramSample, CUSTOM_BUCKETS_SCHEMA, EXPONENTIAL_SCHEMA_MAX, EXPONENTIAL_SCHEMA_MIN, BatchSeries, Label, LabelPair, LabelRef, Labels, LabelsIter, MatchOp, Matcher, Sample, SeriesBatch, SeriesBatchBuilder,
    SampleStarts, SeriesSamples, StartTimestamp, TextSpan, METRIC_NAME_LABEL, METRIC_TYPE_LABEL, METRIC_UNIT_LABEL, STALE_NAN_BITS,
};

/// What `Querier::select_each` hands each series to: its labels, float samples, native
/// histograms and their start times (`SeriesSamples::starts`: `None` where `select` gives
/// none, else two lists parallel to the samples and histograms), all valid during the call;
/// `Break` stops the walk.
pub type SeriesVisitor<'a> = dyn FnMut(&Labels, &[Sample], &[HistogramSample], Option<&SampleStarts>) -> ControlFlow<()> + 'a;

/// Read access to stored series, as PromQL evaluation needs it. Implementations return
/// every series whose labels satisfy all matchers, with its samples in `[mint_ms, maxt_ms]`
/// in timestamp order (series with no sample in range may be omitted).
pub trait Querier {
    fn select(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<SeriesSamples>;

    /// `select` for a reader that uses only each series' last sample in the range (an
    /// instant selector evaluated at one time): may answer a series with fewer samples as
    /// long as its last sample in the range is among them.
    fn select_last(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<SeriesSamples> {
        self.select(matchers, mint_ms, maxt_ms)
    }

    /// `select`'s series handed to `visit` one at a time, in the same order and with the same
    /// start times, until it breaks: a caller that reads each series once need not hold them
    /// all decoded. The slices are valid only during the call.
    fn select_each(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64, visit: &mut SeriesVisitor<'_>) {
        for series in self.select(matchers, mint_ms, maxt_ms) {
            if visit(&series.labels, &series.samples, &series.histograms, series.starts.as_deref()).is_break() {
                break;
            }
        }
    }
}

use std::ops::ControlFlow;

pub use encoded::{EncodedChunk, EncodedPart, EncodedSeries};
pub use error::Error;
pub use exemplar::{Exemplar, ExemplarAdd, ExemplarBuffer, SeriesExemplars, EXEMPLAR_LABELS_CHARS_MAX};
pub use shard::{AppendOutcome, CompactionOutcome, DeleteOutcome, MaintainOutcome, ShardDb, ShardOptions, ShardStats};

/// Series a select reads between two pauses (`ShardDb::select_yielding`):
/// well under a millisecond of copying chunks, so a label listing queued behind a select of
/// 100k series waits about that long, not the whole select.
pub const SELECT_SERIES_PER_PAUSE: usize = 256;

/// Reads the series of `items` with `read` (`None`: no samples in the range), pausing every
/// `SELECT_SERIES_PER_PAUSE` items (`pause`, then yield if glommio asks for it), and stops
/// with `None` once the series read hold more than `sample_limit` samples in `range`
/// (`EncodedSeries::samples_at_least`): the loop of the head's and every block's
/// `select_yielding`.
pub(crate) async fn read_within_limit<T>(
    items: impl IntoIterator<Item = T>,
    mut read: impl FnMut(T) -> Option<EncodedSeries>,
    (mint_ms, maxt_ms): (i64, i64),
    sample_limit: usize,
    pause: &mut dyn FnMut(),
) -> Option<Vec<EncodedSeries>> {
    let mut out = Vec::new();
    let mut samples = 0usize;
    for (step, item) in items.into_iter().enumerate() {
        if step > 0 && step.is_multiple_of(SELECT_SERIES_PER_PAUSE) {
            pause();
            glommio::yield_if_needed().await;
        }
        if let Some(series) = read(item) {
            samples += series.samples_at_least(mint_ms, maxt_ms);
            if samples > sample_limit {
                return None;
            }
            out.push(series);
        }
    }
    Some(out)
}

/// Series a head cut handles (splits off the head, writes to the WAL checkpoint) between two
/// chances for the executor's other tasks to run (`yield_if_needed`): splitting and
/// checkpointing 100k series then hold the core about a time slice at a time, not throughout.
pub const CUT_SERIES_PER_PAUSE: usize = 256;

/// Yields to the executor's other tasks if glommio asks for it (`yield_if_needed`), once
/// every `steps_per_pause` steps: call it before step `step` of a long loop.
pub(crate) async fn yield_between_steps(step: usize, steps_per_pause: usize) {
    if step > 0 && step.is_multiple_of(steps_per_pause) {
        glommio::yield_if_needed().await;
    }
}
