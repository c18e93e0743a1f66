//! Per-sample start timestamps as Prometheus' start-time chunk encodings store them
//! (`chunkenc/st.go`): one header byte (bit 7: the first sample's start is stored; bits 6-0:
//! the index of the first sample whose start differs, after which every sample carries one,
//! at most 127), then in the bit stream after a sample's own fields a varint `t - start` for
//! the first sample, `prev_t - start` at the first change and varbit deltas of it afterwards.

use super::bits::{write_varint, BitReader, BitWriter};
use super::varbit::{read_varbit_int, write_varbit_int};
use crate::model::{HistogramSample, Sample};

/// Header bit set when the first sample's start is stored in the stream.
const FIRST_START_KNOWN_BIT: u8 = 0x80;
/// The header's 7 bits cannot name a later first change, so an encoder switches to per-sample
/// starts at this sample index at the latest, whether the start changed or not.
pub const FIRST_START_CHANGE_INDEX_MAX: u16 = 0x7F;

/// A float sample with its start time (0: not known, as Prometheus writes it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StartedSample {
    pub start_ms: i64,
    pub sample: Sample,
}

/// A histogram sample with its start time (0: not known).
#[derive(Clone, Debug)]
pub struct StartedHistogram {
    pub start_ms: i64,
    pub histogram: HistogramSample,
}

/// The two fields of a start-time header byte: whether the first sample's start is stored,
/// and the index of the first sample from which every sample carries a start (0: none).
pub(crate) fn read_start_header(byte: u8) -> (bool, u8) {
    (byte & FIRST_START_KNOWN_BIT != 0, byte & 0x7F)
}

/// Records that the first sample's start is stored (the header is still 0 then).
pub(crate) fn mark_first_start_known(header: &mut u8) {
    *header = FIRST_START_KNOWN_BIT;
}

/// Records the index of the first sample whose start differs from the first one's.
pub(crate) fn mark_first_start_change(header: &mut u8, index: u16) {
    // A later index cannot be stored; encoders never ask for one (they switch at 127).
    if index <= FIRST_START_CHANGE_INDEX_MAX {
        *header |= index as u8;
    }
}

/// Writes histogram chunks' starts (Prometheus' `stEncoder`), after each sample's fields.
#[derive(Clone, Debug, Default)]
pub(crate) struct StartTimeEncoder {
    start_ms: i64,
    start_diff: i64,
    first_change_on: u8,
}

impl StartTimeEncoder {
    /// Writes the start of the sample just appended: `count` samples are in the chunk now,
    /// this one at `t_ms`, the one before it at `prev_t_ms`; `header_byte` is the index of
    /// the start-time header byte in `w`'s bytes.
    pub(crate) fn encode(&mut self, w: &mut BitWriter, header_byte: usize, count: u16, t_ms: i64, prev_t_ms: i64, start_ms: i64) {
        match count {
            1 => {
                if start_ms != 0 {
                    write_varint(w, t_ms.wrapping_sub(start_ms));
                    mark_first_start_known(&mut w.bytes[header_byte]);
                }
            }
            2 => {
                if start_ms != self.start_ms {
                    self.start_diff = prev_t_ms.wrapping_sub(start_ms);
                    self.first_change_on = 1;
                    mark_first_start_change(&mut w.bytes[header_byte], 1);
                    write_varbit_int(w, self.start_diff);
                }
            }
            _ => {
                let index = count - 1;
                if self.first_change_on > 0 {
                    let start_diff = prev_t_ms.wrapping_sub(start_ms);
                    write_varbit_int(w, start_diff.wrapping_sub(self.start_diff));
                    self.start_diff = start_diff;
                } else if start_ms != self.start_ms || index == FIRST_START_CHANGE_INDEX_MAX {
                    self.start_diff = prev_t_ms.wrapping_sub(start_ms);
                    self.first_change_on = index as u8;
                    mark_first_start_change(&mut w.bytes[header_byte], index);
                    write_varbit_int(w, self.start_diff);
                }
            }
        }
        self.start_ms = start_ms;
    }
}

/// Reads histogram chunks' starts (Prometheus' `stDecoder`).
#[derive(Clone, Debug, Default)]
pub(crate) struct StartTimeDecoder {
    start_ms: i64,
    start_diff: i64,
    first_change_on: u8,
    first_known: bool,
}

impl StartTimeDecoder {
    pub(crate) fn new(header: u8) -> Self {
        let (first_known, first_change_on) = read_start_header(header);
        StartTimeDecoder { first_known, first_change_on, ..StartTimeDecoder::default() }
    }

    /// The start of the sample read last.
    pub(crate) fn start_ms(&self) -> i64 {
        self.start_ms
    }

    /// Reads the start of the sample just read: the `read`th, at `t_ms`, after one at
    /// `prev_t_ms`. `None` when the bits run out or are malformed.
    pub(crate) fn decode(&mut self, r: &mut BitReader<'_>, read: u16, t_ms: i64, prev_t_ms: i64) -> Option<()> {
        match read {
            1 => {
                if self.first_known {
                    self.start_diff = r.read_varint()?;
                    self.start_ms = t_ms.wrapping_sub(self.start_diff);
                }
            }
            2 => {
                if self.first_change_on == 1 {
                    self.start_diff = read_varbit_int(r)?;
                    self.start_ms = prev_t_ms.wrapping_sub(self.start_diff);
                }
            }
            _ => {
                let index = read - 1;
                let first = u16::from(self.first_change_on);
                if first > 0 && index >= first {
                    let delta = read_varbit_int(r)?;
                    self.start_diff = if index == first { delta } else { self.start_diff.wrapping_add(delta) };
                    self.start_ms = prev_t_ms.wrapping_sub(self.start_diff);
                }
            }
        }
        Some(())
    }
}
