//! VictoriaMetrics' native format, as `vmctl vm-native` streams it from
//! `/api/v1/export/native` into `/api/v1/import/native`: a 16-byte time range, then per block
//! a big-endian u32 length and a marshalled metric name, a u32 length and a portable block.
//! Decoded as the bytes arrive (`NativeStream`), a block entering the batch whole, after every
//! check, or not at all; written by `encode` (for `/api/v1/export/native`).

mod block;
mod decimal;
pub mod encode;
mod metric_name;
#[cfg(test)]
mod tests;

use std::ops::Range;

use tsdb::{Sample, SeriesBatch, TextSpan, METRIC_NAME_LABEL};

pub use block::{BlockLayout, ROWS_PER_BLOCK_MAX, ZSTD_WINDOW_BYTES_MAX};

use super::label_limits::{self, LabelLimits};
use block::BlockScratch;
use metric_name::MetricName;

/// Bytes of the stream header: the export's first and last millisecond, each a zigzag int64
/// in big-endian order. Samples outside that range are left out, as VictoriaMetrics does.
pub const STREAM_HEADER_BYTES: usize = 16;
/// Longest marshalled metric name VictoriaMetrics accepts in a stream.
pub const METRIC_NAME_BYTES_MAX: usize = 1 << 20;
/// Longest portable block VictoriaMetrics accepts in a stream.
pub const BLOCK_BYTES_MAX: usize = 1 << 20;
/// The length before a metric name and before a block.
const FRAME_LENGTH_BYTES: usize = 4;
/// Characters of a series shown in an error.
const SERIES_SHOWN_CHARS_MAX: usize = 200;

/// Why a native stream was refused. Blocks are numbered from 1; offsets count bytes of the
/// stream (after gunzip when the body is gzip).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NativeError {
    #[error("the body ends after {length} bytes, inside the 16-byte time range a native stream starts with")]
    ShortHeader { length: u64 },
    #[error("block {block} (at byte {offset} of the stream): {problem}")]
    Block { block: u64, offset: u64, problem: String },
    #[error("the body ends inside block {block} (at byte {offset} of the stream): {missing}")]
    Truncated { block: u64, offset: u64, missing: String },
}

impl NativeError {
    /// The number of the first block not imported.
    pub fn block(&self) -> u64 {
        match self {
            NativeError::ShortHeader { .. } => 1,
            NativeError::Block { block, .. } | NativeError::Truncated { block, .. } => *block,
        }
    }
}

/// One native stream being decoded: bytes go in with `push`; whole blocks come out of
/// `next_block` into a `NativeBatch`, holding one frame (at most 2 MiB) and the batch being
/// filled, or runs of whole frames out of `next_frames`, to be decoded by a `BlockDecoder`
/// elsewhere (another thread), run after run in stream order.
pub struct NativeStream {
    /// Bytes pushed and not yet decoded (or cut into runs) start at `read_at`.
    pending: Vec<u8>,
    read_at: usize,
    /// Offset in the stream of `pending[0]`.
    pending_offset: u64,
    /// Blocks decoded or cut into runs so far (those whose samples all fell outside the time
    /// range too).
    blocks: u64,
    blocks_decoder: BlockDecoder,
}

/// Decodes blocks: one at a time for `NativeStream::next_block`, or a `FrameRun` at once.
/// Made by `NativeStream::block_decoder` for one run; `Send`, so a run can be decoded on
/// another thread.
pub struct BlockDecoder {
    time_range_ms: Option<(i64, i64)>,
    /// Known from the first block.
    layout: Option<BlockLayout>,
    limits: LabelLimits,
    scratch: BlockScratch,
    name: MetricName,
    floats: Vec<f64>,
}

/// Whole frames cut from a stream by `NativeStream::next_frames`: consecutive frames, the
/// first numbered `first_block`, starting at byte `offset` of the stream; their lengths are
/// checked, their contents not yet.
#[derive(Debug)]
pub struct FrameRun {
    bytes: Vec<u8>,
    first_block: u64,
    offset: u64,
}

impl FrameRun {
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl NativeStream {
    pub fn new(limits: LabelLimits) -> NativeStream {
        NativeStream { pending: Vec::new(), read_at: 0, pending_offset: 0, blocks: 0, blocks_decoder: BlockDecoder::new(None, None, limits) }
    }

    /// Blocks decoded (or cut into runs) so far.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// The header layout the stream's blocks use, once its first block is decoded (here, or
    /// in a run whose decoder was handed to `learn_layout`).
    pub fn layout(&self) -> Option<BlockLayout> {
        self.blocks_decoder.layout
    }

    /// Settles the stream's layout from what a run's decoder found (`BlockDecoder::layout`;
    /// the first that knows it wins).
    pub fn learn_layout(&mut self, layout: Option<BlockLayout>) {
        if self.blocks_decoder.layout.is_none() {
            self.blocks_decoder.layout = layout;
        }
    }

    /// A decoder for runs of this stream (its time range, label limits and layout as known
    /// now); none before the stream's 16-byte header has arrived.
    pub fn block_decoder(&self) -> Option<BlockDecoder> {
        let decoder = &self.blocks_decoder;
        decoder.time_range_ms.map(|range| BlockDecoder::new(Some(range), decoder.layout, decoder.limits))
    }

    /// Takes the next bytes of the stream. Memory: the bytes not yet decoded, which
    /// `next_block` keeps to part of one frame when called until it answers false (and
    /// `next_frames` to part of one frame more than its `bytes_min`).
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.drain(..self.read_at);
        self.pending_offset += self.read_at as u64;
        self.read_at = 0;
        self.pending.extend_from_slice(bytes);
    }

    /// Decodes the next block into `batch` when its bytes have all arrived: true when one was
    /// decoded (its samples may all have fallen outside the time range), false when more
    /// bytes are needed. After an error nothing more is decoded.
    pub fn next_block(&mut self, batch: &mut NativeBatch) -> Result<bool, NativeError> {
        if !self.read_header() {
            return Ok(false);
        }
        let Some(length) = self.frame_at(self.read_at, self.blocks + 1)? else { return Ok(false) };
        let (block, offset) = (self.blocks + 1, self.pending_offset + self.read_at as u64);
        let refuse = |problem: String| NativeError::Block { block, offset, problem };
        let Some((name_bytes, block_bytes)) = split_frame(&self.pending[self.read_at..self.read_at + length]) else {
            return Err(refuse("a frame cut short".into()));
        };
        self.blocks_decoder.decode(name_bytes, block_bytes, batch).map_err(refuse)?;
        self.read_at += length;
        self.blocks += 1;
        Ok(true)
    }

    /// Cuts whole frames off the stream once at least `bytes_min` bytes of them have arrived
    /// (the run ends with the frame that reaches it); none while fewer have. Frames before a
    /// frame with an impossible length come out as a run of their own, however short; the
    /// next call reports that frame.
    pub fn next_frames(&mut self, bytes_min: usize) -> Result<Option<FrameRun>, NativeError> {
        self.cut_frames(bytes_min.max(1), false)
    }

    /// Cuts every whole frame that has arrived (at the end of the body, before `finish`).
    pub fn rest_frames(&mut self) -> Result<Option<FrameRun>, NativeError> {
        self.cut_frames(usize::MAX, true)
    }

    fn cut_frames(&mut self, bytes_min: usize, take_short: bool) -> Result<Option<FrameRun>, NativeError> {
        if !self.read_header() {
            return Ok(None);
        }
        let (mut end, mut blocks) = (self.read_at, self.blocks);
        let mut refused = None;
        while end - self.read_at < bytes_min {
            match self.frame_at(end, blocks + 1) {
                Ok(Some(length)) => {
                    end += length;
                    blocks += 1;
                }
                Ok(None) => break,
                Err(error) => {
                    refused = Some(error);
                    break;
                }
            }
        }
        let whole = end - self.read_at;
        if whole == 0 {
            return refused.map_or(Ok(None), Err);
        }
        if whole < bytes_min && !take_short && refused.is_none() {
            return Ok(None);
        }
        let run = FrameRun {
            bytes: self.pending[self.read_at..end].to_vec(),
            first_block: self.blocks + 1,
            offset: self.pending_offset + self.read_at as u64,
        };
        self.read_at = end;
        self.blocks = blocks;
        Ok(Some(run))
    }

    /// Reads the stream's 16-byte header if it has arrived and was not read yet: whether
    /// blocks may follow.
    fn read_header(&mut self) -> bool {
        if self.blocks_decoder.time_range_ms.is_some() {
            return true;
        }
        let Some(header) = self.pending.get(self.read_at..self.read_at + STREAM_HEADER_BYTES) else { return false };
        let zigzag = |bytes: &[u8]| {
            // Always 8 bytes (sliced so above); no panic path either way.
            let raw = bytes.try_into().map_or(0, u64::from_be_bytes);
            (raw >> 1) as i64 ^ -((raw & 1) as i64)
        };
        self.blocks_decoder.time_range_ms = Some((zigzag(&header[..8]), zigzag(&header[8..])));
        self.read_at += STREAM_HEADER_BYTES;
        true
    }

    /// The length of the frame (block number `block`) at `at` of `pending` when all of it has
    /// arrived; an error when its name or block is longer than VictoriaMetrics allows.
    fn frame_at(&self, at: usize, block: u64) -> Result<Option<usize>, NativeError> {
        let available = &self.pending[at..];
        let refuse = |problem: String| NativeError::Block { block, offset: self.pending_offset + at as u64, problem };
        let Some(name_length) = length_at(available, 0) else { return Ok(None) };
        if name_length > METRIC_NAME_BYTES_MAX {
            return Err(refuse(format!("a metric name of {name_length} bytes (at most {METRIC_NAME_BYTES_MAX})")));
        }
        let block_length_at = FRAME_LENGTH_BYTES + name_length;
        let Some(block_length) = length_at(available, block_length_at) else { return Ok(None) };
        if block_length > BLOCK_BYTES_MAX {
            return Err(refuse(format!("a block of {block_length} bytes (at most {BLOCK_BYTES_MAX})")));
        }
        let length = block_length_at + FRAME_LENGTH_BYTES + block_length;
        Ok((available.len() >= length).then_some(length))
    }

    /// At the end of the body: whether it ended between blocks.
    pub fn finish(&self) -> Result<(), NativeError> {
        let left = self.pending.len() - self.read_at;
        if self.blocks_decoder.time_range_ms.is_none() {
            return Err(NativeError::ShortHeader { length: left as u64 });
        }
        if left == 0 {
            return Ok(());
        }
        let available = &self.pending[self.read_at..];
        let missing = match (length_at(available, 0), available.len()) {
            (None, n) => format!("{n} of the 4 bytes of its metric name's length"),
            (Some(name), n) if n < FRAME_LENGTH_BYTES + name + FRAME_LENGTH_BYTES => {
                format!("{n} bytes of its metric name ({name} bytes) and the block's length")
            }
            (Some(name), n) => {
                let block = length_at(available, FRAME_LENGTH_BYTES + name).unwrap_or_default();
                format!("{} of the block's {block} bytes", n - 2 * FRAME_LENGTH_BYTES - name)
            }
        };
        Err(NativeError::Truncated { block: self.blocks + 1, offset: self.pending_offset + self.read_at as u64, missing })
    }
}

/// The big-endian u32 length at `at` of `bytes`, if all four bytes are there.
fn length_at(bytes: &[u8], at: usize) -> Option<usize> {
    let raw: [u8; FRAME_LENGTH_BYTES] = bytes.get(at..at + FRAME_LENGTH_BYTES)?.try_into().ok()?;
    Some(u32::from_be_bytes(raw) as usize)
}

/// A whole frame's metric name and block (lengths as `NativeStream::frame_at` checked).
fn split_frame(frame: &[u8]) -> Option<(&[u8], &[u8])> {
    let name_length = length_at(frame, 0)?;
    let block_length_at = FRAME_LENGTH_BYTES + name_length;
    let block_length = length_at(frame, block_length_at)?;
    let block_at = block_length_at + FRAME_LENGTH_BYTES;
    Some((frame.get(FRAME_LENGTH_BYTES..block_length_at)?, frame.get(block_at..block_at + block_length)?))
}

impl BlockDecoder {
    fn new(time_range_ms: Option<(i64, i64)>, layout: Option<BlockLayout>, limits: LabelLimits) -> BlockDecoder {
        BlockDecoder { time_range_ms, layout, limits, scratch: BlockScratch::default(), name: MetricName::default(), floats: Vec::new() }
    }

    /// The layout of the blocks decoded so far, once one was.
    pub fn layout(&self) -> Option<BlockLayout> {
        self.layout
    }

    /// Decodes a run's blocks into `batch` in order, calling `after_block` after each (to
    /// take the batch away when it is full). On a malformed block the blocks before it are
    /// in `batch` (or were taken), it and those after are not.
    pub fn decode_run(&mut self, run: &FrameRun, batch: &mut NativeBatch, mut after_block: impl FnMut(&mut NativeBatch)) -> Result<(), NativeError> {
        let (mut at, mut block) = (0, run.first_block);
        while at < run.bytes.len() {
            let rest = &run.bytes[at..];
            let offset = run.offset + at as u64;
            let refuse = |problem: String| NativeError::Block { block, offset, problem };
            let Some((name_bytes, block_bytes)) = split_frame(rest) else {
                return Err(refuse("a frame cut short (not a frame cut by NativeStream::next_frames)".into()));
            };
            self.decode(name_bytes, block_bytes, batch).map_err(refuse)?;
            after_block(batch);
            at += 2 * FRAME_LENGTH_BYTES + name_bytes.len() + block_bytes.len();
            block += 1;
        }
        Ok(())
    }

    /// Decodes one block and its metric name into `batch`; nothing is added on a problem.
    fn decode(&mut self, name_bytes: &[u8], block_bytes: &[u8], batch: &mut NativeBatch) -> Result<(), String> {
        self.name.decode(name_bytes).map_err(|problem| format!("metric name: {problem}"))?;
        let scale = self.decode_block(block_bytes)?;
        let (min_ms, max_ms) = self.time_range_ms.unwrap_or((i64::MIN, i64::MAX));
        // Trimmed at both ends, as VictoriaMetrics filters (a block's timestamps are sorted).
        let timestamps_ms = &self.scratch.timestamps_ms;
        let start = timestamps_ms.iter().position(|t| *t >= min_ms).unwrap_or(timestamps_ms.len());
        let end = start + timestamps_ms[start..].iter().rposition(|t| *t <= max_ms).map_or(0, |last| last + 1);
        if start == end {
            return Ok(());
        }
        self.floats.clear();
        decimal::append_floats(&mut self.floats, &self.scratch.mantissas[start..end], scale);
        batch.push_block(&self.name, &timestamps_ms[start..end], &self.floats, &self.limits)
    }

    /// The block into the scratch arrays; the stream's layout is settled by its first block:
    /// the newer layout when it decodes, else the older one.
    fn decode_block(&mut self, block_bytes: &[u8]) -> Result<i16, String> {
        if let Some(layout) = self.layout {
            return block::decode(block_bytes, layout, &mut self.scratch);
        }
        let newer = block::decode(block_bytes, BlockLayout::Since1_82, &mut self.scratch);
        let (layout, decoded) = match newer {
            Ok(scale) => (BlockLayout::Since1_82, Ok(scale)),
            Err(newer_problem) => match block::decode(block_bytes, BlockLayout::Before1_82, &mut self.scratch) {
                Ok(scale) => (BlockLayout::Before1_82, Ok(scale)),
                Err(older_problem) => {
                    return Err(format!(
                        "decodes in neither block layout: {}, {older_problem}; {}, {newer_problem}",
                        BlockLayout::Before1_82.describe(),
                        BlockLayout::Since1_82.describe()
                    ))
                }
            },
        };
        self.layout = Some(layout);
        decoded
    }
}

/// Decoded blocks not yet stored, in flat buffers: label text, label spans, samples, and per
/// series a range of each (no allocation per block once the buffers have grown).
#[derive(Debug, Default)]
pub struct NativeBatch {
    text: Vec<u8>,
    labels: Vec<(TextSpan, TextSpan)>,
    series: Vec<(Range<usize>, Range<usize>)>,
    samples: Vec<Sample>,
    /// One block's (name, value) ranges in `text` while it is checked.
    block_labels: Vec<(Range<usize>, Range<usize>)>,
}

impl NativeBatch {
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    /// Bytes of label text held.
    pub fn label_bytes(&self) -> usize {
        self.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// The batch as a `SeriesBatch` (the label text moved, not copied); `self` is left empty.
    pub fn take(&mut self) -> SeriesBatch {
        let text = std::mem::take(&mut self.text);
        let (labels, series, samples) = (&self.labels, &self.series, &self.samples);
        let built = SeriesBatch::build(text, |builder| {
            for (label_range, sample_range) in series {
                builder.push_series(&labels[label_range.clone()], &samples[sample_range.clone()]);
            }
            Ok::<(), std::convert::Infallible>(())
        });
        self.labels.clear();
        self.series.clear();
        self.samples.clear();
        match built {
            Ok(batch) => batch,
            Err(never) => match never {},
        }
    }

    /// Adds one block's series: its labels checked (UTF-8, a metric name, no name twice,
    /// the label limits), empty values dropped as absent, samples put in time order. On a
    /// problem the batch is left as it was.
    fn push_block(&mut self, name: &MetricName, timestamps_ms: &[i64], values: &[f64], limits: &LabelLimits) -> Result<(), String> {
        let text_before = self.text.len();
        let result = self.push_labels(name, limits);
        if let Err(problem) = result {
            self.text.truncate(text_before);
            return Err(problem);
        }
        let labels_start = self.labels.len();
        for (name_range, value_range) in &self.block_labels {
            let span = |r: &Range<usize>| TextSpan { start: r.start as u32, end: r.end as u32 };
            self.labels.push((span(name_range), span(value_range)));
        }
        let samples_start = self.samples.len();
        self.samples.extend(timestamps_ms.iter().zip(values).map(|(&timestamp_ms, &value)| Sample { timestamp_ms, value }));
        let samples = &mut self.samples[samples_start..];
        if samples.windows(2).any(|pair| pair[1].timestamp_ms < pair[0].timestamp_ms) {
            samples.sort_by_key(|s| s.timestamp_ms);
        }
        self.series.push((labels_start..self.labels.len(), samples_start..self.samples.len()));
        Ok(())
    }

    /// Copies the block's non-empty labels into `text` and checks them, leaving their sorted
    /// ranges in `block_labels`.
    fn push_labels(&mut self, name: &MetricName, limits: &LabelLimits) -> Result<(), String> {
        self.block_labels.clear();
        let pairs = std::iter::once((METRIC_NAME_LABEL.as_bytes(), name.metric())).chain(name.labels());
        for (label, value) in pairs.filter(|(_, value)| !value.is_empty()) {
            if label.is_empty() {
                return Err(format!("series {}: a label with an empty name", shown(name)));
            }
            if std::str::from_utf8(label).is_err() || std::str::from_utf8(value).is_err() {
                return Err(format!("series {}: label {:?} is not valid UTF-8", shown(name), String::from_utf8_lossy(label)));
            }
            let name_start = self.text.len();
            self.text.extend_from_slice(label);
            let value_start = self.text.len();
            self.text.extend_from_slice(value);
            self.block_labels.push((name_start..value_start, value_start..self.text.len()));
        }
        let text = &self.text;
        self.block_labels.sort_unstable_by(|a, b| text[a.0.clone()].cmp(&text[b.0.clone()]));
        if let Some(pair) = self.block_labels.windows(2).find(|pair| text[pair[0].0.clone()] == text[pair[1].0.clone()]) {
            return Err(format!("series {}: label {:?} appears twice", shown(name), String::from_utf8_lossy(&text[pair[0].0.clone()])));
        }
        if name.metric().is_empty() && !self.block_labels.iter().any(|(n, _)| &text[n.clone()] == METRIC_NAME_LABEL.as_bytes()) {
            return Err(format!("series {}: no metric name (__name__)", shown(name)));
        }
        let checked = self.block_labels.iter().map(|(n, v)| (&text[n.clone()], &text[v.clone()]));
        match label_limits::problem(limits, checked) {
            Some(problem) => Err(format!("series {}: {problem}", shown(name))),
            None => Ok(()),
        }
    }
}

/// A series as `name{label="value", …}` for an error, cut at `SERIES_SHOWN_CHARS_MAX`.
fn shown(name: &MetricName) -> String {
    let mut text = String::from_utf8_lossy(name.metric()).into_owned();
    text.push('{');
    for (index, (label, value)) in name.labels().enumerate() {
        if index > 0 {
            text.push_str(", ");
        }
        text.push_str(&format!("{}={:?}", String::from_utf8_lossy(label), String::from_utf8_lossy(value)));
        if text.len() > SERIES_SHOWN_CHARS_MAX {
            break;
        }
    }
    text.push('}');
    text.chars().take(SERIES_SHOWN_CHARS_MAX).collect()
}
