//! Float histogram chunks in Prometheus' exact byte layout (`chunkenc.FloatHistogramChunk`,
//! encoding 3): a 2-byte big-endian sample count, one header byte whose top two bits are the
//! counter-reset header, then a bit stream. A chunk keeps one layout: a histogram with
//! another one (or a counter reset) starts a new chunk (`FloatHistogramAppender::appendable`).

use crate::model::HistogramSample;

mod appender;
/// The bit stream's fields. The first sample carries the layout (zero threshold byte, varbit
/// schema, positive then negative spans as varbit `(length, offset)` pairs, custom bounds with
/// schema -53), a varbit timestamp and raw 64-bit count, zero count, sum and bucket counts;
/// later samples a varbit delta-of-delta timestamp and every field XOR-encoded against the
/// previous sample.
mod fields;
mod header;
mod iterator;
#[cfg(test)]
mod tests;

pub use appender::{Appendable, FloatHistogramAppender};
pub use header::{histogram_chunk_header, CounterResetHeader};
pub(crate) use header::{HeaderLayout, START_TIMES_COUNT_MASK};
pub use iterator::{decode_histograms_kept, FloatHistogramIterator};

/// Bytes before the bit stream: the sample count (2) and the counter-reset header byte.
pub const HISTOGRAM_HEADER_BYTES: usize = 3;
/// A histogram chunk is cut at this many samples, as float chunks are.
pub const HISTOGRAM_SAMPLES_PER_CHUNK_MAX: u16 = 120;
/// A histogram chunk of at least `HISTOGRAM_SAMPLES_PER_CHUNK_MIN` samples is cut once it
/// holds this many bytes (Prometheus' `targetBytesPerHistogramChunk`): histograms with many
/// buckets would otherwise make chunks of tens of KiB.
pub const HISTOGRAM_CHUNK_BYTES_TARGET: usize = 1024;
pub const HISTOGRAM_SAMPLES_PER_CHUNK_MIN: u16 = 10;

/// The sample count in an encoded histogram chunk's header (the same two bytes as XOR's).
pub fn histogram_num_samples(bytes: &[u8]) -> u16 {
    super::xor_num_samples(bytes)
}

/// One encoded histogram chunk with its inclusive time range and sample count.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedHistogramChunk {
    pub min_time_ms: i64,
    pub max_time_ms: i64,
    pub num_samples: u16,
    pub bytes: Vec<u8>,
}

/// Encodes time-ordered histograms (unique timestamps, each valid) as chunks of at most
/// `samples_per_chunk` samples, cut where the layout changes or the counters reset, with
/// the headers Prometheus would give them.
pub fn encode_histogram_chunks(histograms: &[HistogramSample], samples_per_chunk: u16) -> Vec<EncodedHistogramChunk> {
    let mut out = Vec::new();
    let mut current: Option<(i64, FloatHistogramAppender)> = None;
    let finish = |out: &mut Vec<EncodedHistogramChunk>, min_t: i64, a: FloatHistogramAppender| {
        let max_t = a.last_timestamp().unwrap_or(min_t);
        out.push(EncodedHistogramChunk { min_time_ms: min_t, max_time_ms: max_t, num_samples: a.num_samples(), bytes: a.bytes().to_vec() });
    };
    for s in histograms {
        let h = &s.histogram;
        let next = match &current {
            None => Some(FloatHistogramAppender::after(None, h)),
            Some((_, a)) if a.is_full(samples_per_chunk) => Some(FloatHistogramAppender::after(Some(a), h)),
            Some((_, a)) => match a.appendable(h) {
                Appendable::Yes => None,
                Appendable::Cut(header) => Some(FloatHistogramAppender::new(header)),
            },
        };
        if let Some(fresh) = next {
            if let Some((min_t, done)) = current.replace((s.timestamp_ms, fresh)) {
                finish(&mut out, min_t, done);
            }
        }
        if let Some((_, a)) = current.as_mut() {
            a.append(s.timestamp_ms, h);
        }
    }
    if let Some((min_t, done)) = current {
        finish(&mut out, min_t, done);
    }
    out
}
