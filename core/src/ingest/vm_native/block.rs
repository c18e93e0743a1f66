//! One portable block of VictoriaMetrics' native format: a header (first timestamp, first
//! value, row count, decimal scale, the encoding of each array; VictoriaMetrics 1.82 added the
//! last timestamp and the precision bits) and two int64 arrays, timestamps and value
//! mantissas, each in one of six encodings: a constant, a constant delta, or varint deltas
//! (first order for gauges, second order for counters), the last two optionally zstd-framed.

use crate::ingest::zstd::unzstd_into;
use ruzstd::decoding::FrameDecoder;

/// Most rows one block may hold (VictoriaMetrics refuses more: twice its 8192 rows per
/// stored block).
pub const ROWS_PER_BLOCK_MAX: u64 = 16 * 1024;
/// Longest varint: a 64-bit value in 7-bit groups.
const VARINT_BYTES_MAX: usize = 10;
/// Largest window a zstd frame in a block may declare. What VictoriaMetrics compresses is at
/// most `ROWS_PER_BLOCK_MAX` varints (160 KiB), and both of its zstd encoders size the window
/// to the input; the bound keeps a forged frame header from reserving up to the 100 MiB the
/// decoder itself allows.
pub const ZSTD_WINDOW_BYTES_MAX: u64 = 8 << 20;
/// Precision bits of a lossless block (1 to 63: lossy, with timestamps clamped into order).
const PRECISION_BITS_LOSSLESS: u8 = 64;

/// The two layouts of a portable block header. A stream does not say which it uses: the
/// first block tells (`vm_native::NativeStream`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockLayout {
    /// VictoriaMetrics up to 1.81 (the 1.79 LTS line included).
    Before1_82,
    /// VictoriaMetrics 1.82 and later: the last timestamp follows the first, the precision
    /// bits follow the two encodings.
    Since1_82,
}

impl BlockLayout {
    pub fn describe(self) -> &'static str {
        match self {
            BlockLayout::Before1_82 => "as VictoriaMetrics before 1.82 writes it",
            BlockLayout::Since1_82 => "as VictoriaMetrics 1.82 and later writes it",
        }
    }
}

/// How one int64 array is stored (VictoriaMetrics' marshal type numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    ZstdNearestDelta2,
    DeltaConst,
    Const,
    ZstdNearestDelta,
    NearestDelta2,
    NearestDelta,
}

impl Encoding {
    fn from_byte(byte: u8, what: &str) -> Result<Encoding, String> {
        Ok(match byte {
            1 => Encoding::ZstdNearestDelta2,
            2 => Encoding::DeltaConst,
            3 => Encoding::Const,
            4 => Encoding::ZstdNearestDelta,
            5 => Encoding::NearestDelta2,
            6 => Encoding::NearestDelta,
            other => return Err(format!("unknown encoding {other} of the {what} (known: 1 to 6)")),
        })
    }
}

/// Buffers reused from block to block: the decoded arrays and the zstd decoder's state.
#[derive(Default)]
pub struct BlockScratch {
    pub timestamps_ms: Vec<i64>,
    pub mantissas: Vec<i64>,
    unzstd: Vec<u8>,
    zstd: FrameDecoder,
}

/// Decodes the whole of `block` in `layout` into `scratch.timestamps_ms` and
/// `scratch.mantissas` (as many of each) and returns the values' decimal scale; the problem,
/// with its byte in the block, otherwise. Bytes left after the block are a problem too.
pub fn decode(block: &[u8], layout: BlockLayout, scratch: &mut BlockScratch) -> Result<i16, String> {
    let mut reader = Reader { bytes: block, at: 0 };
    let min_timestamp_ms = reader.varint("the first timestamp")?;
    let max_timestamp_ms = match layout {
        BlockLayout::Before1_82 => None,
        BlockLayout::Since1_82 => Some(reader.varint("the last timestamp")?),
    };
    let first_mantissa = reader.varint("the first value")?;
    let rows = reader.uvarint("the row count")?;
    if rows == 0 || rows > ROWS_PER_BLOCK_MAX {
        return Err(format!("a row count of {rows} (a block holds 1 to {ROWS_PER_BLOCK_MAX} rows)"));
    }
    let rows = rows as usize;
    let scale = reader.varint("the decimal scale")?;
    let scale = i16::try_from(scale).map_err(|_| format!("a decimal scale of {scale}, outside -32768 to 32767"))?;
    let timestamps_encoding = Encoding::from_byte(reader.byte("the timestamps' encoding")?, "timestamps")?;
    let values_encoding = Encoding::from_byte(reader.byte("the values' encoding")?, "values")?;
    let precision_bits = match layout {
        BlockLayout::Before1_82 => PRECISION_BITS_LOSSLESS,
        BlockLayout::Since1_82 => reader.byte("the precision bits")?,
    };
    if !(1..=PRECISION_BITS_LOSSLESS).contains(&precision_bits) {
        return Err(format!("{precision_bits} precision bits (1 to 64)"));
    }
    let timestamps_data = reader.length_prefixed("the timestamps")?;
    let values_data = reader.length_prefixed("the values")?;
    if reader.at != block.len() {
        return Err(format!("{} bytes after the values, at byte {}", block.len() - reader.at, reader.at));
    }

    let BlockScratch { timestamps_ms, mantissas, unzstd, zstd } = scratch;
    decode_int64s(timestamps_ms, timestamps_data, timestamps_encoding, min_timestamp_ms, rows, unzstd, zstd)
        .map_err(|problem| format!("timestamps: {problem}"))?;
    decode_int64s(mantissas, values_data, values_encoding, first_mantissa, rows, unzstd, zstd).map_err(|problem| format!("values: {problem}"))?;
    if let Some(max_timestamp_ms) = max_timestamp_ms {
        if max_timestamp_ms < min_timestamp_ms {
            return Err(format!("the last timestamp {max_timestamp_ms} is before the first {min_timestamp_ms}"));
        }
        if precision_bits < PRECISION_BITS_LOSSLESS {
            clamp_into_order(timestamps_ms, min_timestamp_ms, max_timestamp_ms);
        } else {
            // What this layout's exporter writes always holds; checked for every encoding
            // (VictoriaMetrics checks the unframed ones), which also keeps a block of the
            // other layout from passing for this one.
            check_in_order(timestamps_ms, min_timestamp_ms, max_timestamp_ms)?;
        }
    }
    Ok(scale)
}

/// Lossy timestamps (fewer than 64 precision bits) made non-decreasing from `first` to
/// `last`, as VictoriaMetrics restores them.
fn clamp_into_order(timestamps_ms: &mut [i64], first: i64, last: i64) {
    let Some((head, _)) = timestamps_ms.split_first_mut() else { return };
    *head = first;
    let mut previous = first;
    for t in timestamps_ms.iter_mut() {
        if *t < previous {
            *t = previous;
        }
        previous = *t;
    }
    for t in timestamps_ms.iter_mut().rev() {
        if *t <= last {
            break;
        }
        *t = last;
    }
    if let Some(tail) = timestamps_ms.last_mut() {
        *tail = last;
    }
}

fn check_in_order(timestamps_ms: &[i64], first: i64, last: i64) -> Result<(), String> {
    if timestamps_ms.first() != Some(&first) || timestamps_ms.last() != Some(&last) {
        return Err(format!("the timestamps do not run from the header's first {first} to its last {last}"));
    }
    match timestamps_ms.windows(2).position(|pair| pair[1] < pair[0]) {
        Some(row) => Err(format!("timestamp of row {} is before that of row {row}", row + 1)),
        None => Ok(()),
    }
}

/// Decodes `count` values stored as `encoding` (the first one is `first`, kept in the header)
/// into `out`, replacing what it held.
fn decode_int64s(
    out: &mut Vec<i64>,
    data: &[u8],
    encoding: Encoding,
    first: i64,
    count: usize,
    unzstd: &mut Vec<u8>,
    zstd: &mut FrameDecoder,
) -> Result<(), String> {
    out.clear();
    out.reserve(count);
    // A delta list holds `count - 1` varints of at most `VARINT_BYTES_MAX` bytes.
    let deltas_bytes_max = (count - 1) * VARINT_BYTES_MAX;
    match encoding {
        Encoding::Const => {
            if !data.is_empty() {
                return Err(format!("a constant with {} bytes of data (it has none)", data.len()));
            }
            out.resize(count, first);
        }
        Encoding::DeltaConst => {
            let mut reader = Reader { bytes: data, at: 0 };
            let delta = reader.varint("the constant delta")?;
            reader.expect_end("the constant delta")?;
            let mut value = first;
            for _ in 0..count {
                out.push(value);
                value = value.wrapping_add(delta);
            }
        }
        Encoding::NearestDelta => nearest_deltas(out, data, first, count)?,
        Encoding::NearestDelta2 => nearest_deltas2(out, data, first, count)?,
        Encoding::ZstdNearestDelta => {
            unzstd_into(unzstd, data, deltas_bytes_max, ZSTD_WINDOW_BYTES_MAX, zstd)?;
            nearest_deltas(out, unzstd, first, count).map_err(|problem| format!("after zstd: {problem}"))?;
        }
        Encoding::ZstdNearestDelta2 => {
            unzstd_into(unzstd, data, deltas_bytes_max, ZSTD_WINDOW_BYTES_MAX, zstd)?;
            nearest_deltas2(out, unzstd, first, count).map_err(|problem| format!("after zstd: {problem}"))?;
        }
    }
    Ok(())
}

/// `count` values from `first` and `count - 1` varint deltas that fill `data` exactly.
fn nearest_deltas(out: &mut Vec<i64>, data: &[u8], first: i64, count: usize) -> Result<(), String> {
    let mut reader = Reader { bytes: data, at: 0 };
    let mut value = first;
    out.push(value);
    for _ in 1..count {
        value = value.wrapping_add(reader.varint("a delta")?);
        out.push(value);
    }
    reader.expect_end("the deltas")
}

/// `count` values from `first`, the first delta, then `count - 2` deltas of the delta, all
/// varints that fill `data` exactly.
fn nearest_deltas2(out: &mut Vec<i64>, data: &[u8], first: i64, count: usize) -> Result<(), String> {
    if count < 2 {
        return Err("second-order deltas for a single row (they need two)".to_string());
    }
    let mut reader = Reader { bytes: data, at: 0 };
    let mut value = first;
    out.push(value);
    let mut delta = reader.varint("the first delta")?;
    value = value.wrapping_add(delta);
    out.push(value);
    for _ in 2..count {
        delta = delta.wrapping_add(reader.varint("a delta of the delta")?);
        value = value.wrapping_add(delta);
        out.push(value);
    }
    reader.expect_end("the deltas")
}


/// A cursor over a block's bytes; every problem names what was being read and where.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self, what: &str) -> Result<u8, String> {
        let byte = *self.bytes.get(self.at).ok_or_else(|| format!("the data ends at byte {} before {what}", self.at))?;
        self.at += 1;
        Ok(byte)
    }

    /// An unsigned LEB128 varint of at most `VARINT_BYTES_MAX` bytes.
    fn uvarint(&mut self, what: &str) -> Result<u64, String> {
        let start = self.at;
        let mut value = 0u64;
        for index in 0..VARINT_BYTES_MAX {
            let Some(&byte) = self.bytes.get(self.at) else {
                return Err(format!("the data ends at byte {} inside {what}", self.at));
            };
            self.at += 1;
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(format!("{what} at byte {start} is a varint longer than {VARINT_BYTES_MAX} bytes"))
    }

    /// A zigzag-encoded signed varint.
    fn varint(&mut self, what: &str) -> Result<i64, String> {
        let raw = self.uvarint(what)?;
        Ok((raw >> 1) as i64 ^ -((raw & 1) as i64))
    }

    /// A varint length, then that many bytes.
    fn length_prefixed(&mut self, what: &str) -> Result<&'a [u8], String> {
        let length = self.uvarint(&format!("the length of {what}"))?;
        let left = self.bytes.len() - self.at;
        if length > left as u64 {
            return Err(format!("{what} claim {length} bytes at byte {}, {left} are left", self.at));
        }
        let data = &self.bytes[self.at..self.at + length as usize];
        self.at += length as usize;
        Ok(data)
    }

    fn expect_end(&self, what: &str) -> Result<(), String> {
        match self.bytes.len() - self.at {
            0 => Ok(()),
            extra => Err(format!("{extra} bytes left after {what}")),
        }
    }
}

#[cfg(test)]
pub(super) mod encode {
    //! The writing side, for tests: blocks built by hand in either layout.

    use super::BlockLayout;
    pub(crate) use crate::ingest::vm_native::encode::{uvarint, varint};

    pub fn varints(values: &[i64]) -> Vec<u8> {
        let mut out = Vec::new();
        for v in values {
            varint(&mut out, *v);
        }
        out
    }

    pub fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    /// One array as stored: (encoding number, first value, data).
    pub struct Array {
        pub encoding: u8,
        pub first: i64,
        pub data: Vec<u8>,
    }

    /// `values` in `encoding` (1 to 6; the zstd ones compressed with ruzstd).
    pub fn array(encoding: u8, values: &[i64]) -> Array {
        let first = values[0];
        let deltas: Vec<i64> = values.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
        let deltas2: Vec<i64> = deltas.first().copied().into_iter().chain(deltas.windows(2).map(|w| w[1].wrapping_sub(w[0]))).collect();
        let data = match encoding {
            1 => zstd(&varints(&deltas2)),
            2 => varints(&deltas[..1]),
            3 => Vec::new(),
            4 => zstd(&varints(&deltas)),
            5 => varints(&deltas2),
            6 => varints(&deltas),
            other => panic!("no encoding {other}"),
        };
        Array { encoding, first, data }
    }

    /// A portable block of `timestamps` and `values` (same length, non-empty) in `layout`.
    pub fn block(layout: BlockLayout, timestamps: &Array, last_timestamp: i64, rows: u64, scale: i64, values: &Array) -> Vec<u8> {
        let mut out = Vec::new();
        varint(&mut out, timestamps.first);
        if layout == BlockLayout::Since1_82 {
            varint(&mut out, last_timestamp);
        }
        varint(&mut out, values.first);
        uvarint(&mut out, rows);
        varint(&mut out, scale);
        out.push(timestamps.encoding);
        out.push(values.encoding);
        if layout == BlockLayout::Since1_82 {
            out.push(64);
        }
        uvarint(&mut out, timestamps.data.len() as u64);
        out.extend_from_slice(&timestamps.data);
        uvarint(&mut out, values.data.len() as u64);
        out.extend_from_slice(&values.data);
        out
    }
}
