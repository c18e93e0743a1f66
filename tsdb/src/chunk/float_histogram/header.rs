//! The three header bytes of a float histogram chunk: the counter-reset header (why the
//! chunk was started) and the sample count, in the plain layout (encoding 3) or the
//! start-time one (encoding 6).

use super::HISTOGRAM_HEADER_BYTES;

/// The top two bits of a histogram chunk's third byte: why the chunk was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum CounterResetHeader {
    /// Not known (the first chunk of a series, or a layout change Prometheus does not judge).
    Unknown = 0b0000_0000,
    /// Started because the counters went down (or the producer said so).
    CounterReset = 0b1000_0000,
    /// Started for another reason (full chunk, new buckets): no reset before its first sample.
    NotCounterReset = 0b0100_0000,
    /// Holds gauge histograms only.
    Gauge = 0b1100_0000,
}

const HEADER_MASK: u8 = 0b1100_0000;

impl CounterResetHeader {
    pub fn from_byte(byte: u8) -> CounterResetHeader {
        match byte & HEADER_MASK {
            0b1000_0000 => CounterResetHeader::CounterReset,
            0b0100_0000 => CounterResetHeader::NotCounterReset,
            0b1100_0000 => CounterResetHeader::Gauge,
            _ => CounterResetHeader::Unknown,
        }
    }
}

/// The counter-reset header of an encoded histogram chunk (`Unknown` when too short).
pub fn histogram_chunk_header(bytes: &[u8]) -> CounterResetHeader {
    HeaderLayout::Plain.counter_reset_header(bytes)
}

/// Where a histogram chunk's three header bytes keep the sample count and the counter-reset
/// header: the float histogram chunk and its start-time variant share every other byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeaderLayout {
    /// A 16-bit count, then the counter-reset header's byte (encoding 3).
    Plain,
    /// The counter-reset header in the top two bits of a 14-bit count, then the start-time
    /// header byte (encoding 6).
    StartTimes,
}

/// Bits of the first two header bytes that hold the sample count in the start-time layout.
pub(crate) const START_TIMES_COUNT_MASK: u16 = 0x3FFF;

impl HeaderLayout {
    /// The sample count in `bytes`' header (0 when too short).
    pub(crate) fn num_samples(self, bytes: &[u8]) -> u16 {
        let Some(h) = bytes.get(..HISTOGRAM_HEADER_BYTES) else {
            return 0;
        };
        let word = u16::from_be_bytes([h[0], h[1]]);
        match self {
            HeaderLayout::Plain => word,
            HeaderLayout::StartTimes => word & START_TIMES_COUNT_MASK,
        }
    }

    /// The counter-reset header in `bytes`' header (`Unknown` when too short).
    pub(crate) fn counter_reset_header(self, bytes: &[u8]) -> CounterResetHeader {
        let at = match self {
            HeaderLayout::Plain => 2,
            HeaderLayout::StartTimes => 0,
        };
        match bytes.get(..HISTOGRAM_HEADER_BYTES) {
            Some(h) => CounterResetHeader::from_byte(h[at]),
            None => CounterResetHeader::Unknown,
        }
    }

    /// The header bytes of an empty chunk.
    pub(super) fn empty_header(self, header: CounterResetHeader) -> Vec<u8> {
        match self {
            HeaderLayout::Plain => vec![0, 0, header as u8],
            HeaderLayout::StartTimes => vec![header as u8, 0, 0],
        }
    }

    /// Writes `count` into the header in `bytes`, keeping the counter-reset header.
    pub(super) fn write_num_samples(self, bytes: &mut [u8], count: u16) {
        let word = match self {
            HeaderLayout::Plain => count,
            HeaderLayout::StartTimes => (u16::from(bytes[0] & HEADER_MASK) << 8) | (count & START_TIMES_COUNT_MASK),
        };
        bytes[..2].copy_from_slice(&word.to_be_bytes());
    }
}
