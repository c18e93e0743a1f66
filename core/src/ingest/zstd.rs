//! Bounded zstd decompression for what clients send (VictoriaMetrics' native blocks,
//! Datadog agent payloads): output and the decoder's window are capped before decoding, so
//! a small input cannot claim gigabytes.

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

/// Decompresses `input` (one or more zstd frames; skippable frames are skipped) into `out`,
/// refusing more than `bytes_max` bytes of output, a frame declaring a window over
/// `window_bytes_max` (the memory the decoder would take), and a checksum that does not
/// match.
pub fn unzstd_into(out: &mut Vec<u8>, mut input: &[u8], bytes_max: usize, window_bytes_max: u64, zstd: &mut FrameDecoder) -> Result<(), String> {
    out.clear();
    while !input.is_empty() {
        if let Some(window) = declared_window_bytes(input) {
            if window > window_bytes_max {
                return Err(format!("a zstd frame declares a window of {window} bytes (at most {window_bytes_max} accepted)"));
            }
        }
        match zstd.reset(&mut input) {
            Ok(()) => {}
            Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame { length, .. })) => {
                input = input.get(length as usize..).ok_or("a skippable zstd frame runs past the data")?;
                continue;
            }
            Err(error) => return Err(format!("zstd: {error}")),
        }
        // Decoding stops once the output passes the budget, so a frame cannot inflate past it.
        let budget = bytes_max.saturating_sub(out.len()) + 1;
        let finished = zstd.decode_blocks(&mut input, BlockDecodingStrategy::UptoBytes(budget)).map_err(|error| format!("zstd: {error}"))?;
        if !finished || out.len() + zstd.can_collect() > bytes_max {
            return Err(format!("zstd data that decompresses to more than {bytes_max} bytes"));
        }
        zstd.collect_to_writer(&mut *out).map_err(|error| format!("zstd: {error}"))?;
        if let (Some(stored), Some(computed)) = (zstd.get_checksum_from_data(), zstd.get_calculated_checksum()) {
            if stored != computed {
                return Err(format!("zstd checksum mismatch (stored {stored:08x}, computed {computed:08x})"));
            }
        }
    }
    Ok(())
}

/// The window a zstd frame header at the start of `input` declares (RFC 8878 §3.1.1.1);
/// `None` for anything else (a skippable frame, or too short: the decoder says why).
fn declared_window_bytes(input: &[u8]) -> Option<u64> {
    let magic = u32::from_le_bytes(input.get(..4)?.try_into().ok()?);
    if magic != ZSTD_MAGIC {
        return None;
    }
    let descriptor = *input.get(4)?;
    let single_segment = descriptor & 0x20 != 0;
    if !single_segment {
        let window_descriptor = *input.get(5)?;
        let base = 1u64 << (10 + (window_descriptor >> 3));
        return Some(base + base / 8 * u64::from(window_descriptor & 7));
    }
    // A single-segment frame's window is its content size.
    let dictionary_id_bytes = [0, 1, 2, 4][usize::from(descriptor & 3)];
    let content_size_bytes = [1, 2, 4, 8][usize::from(descriptor >> 6)];
    let at = 5 + dictionary_id_bytes;
    let field = input.get(at..at + content_size_bytes)?;
    let mut size = 0u64;
    for (shift, byte) in field.iter().enumerate() {
        size |= u64::from(*byte) << (8 * shift);
    }
    Some(if content_size_bytes == 2 { size + 256 } else { size })
}

/// The magic number a zstd frame starts with (little-endian on the wire).
const ZSTD_MAGIC: u32 = 0xFD2F_B528;

/// The largest block content zstd allows (RFC 8878 §3.1.1.2.4, `Block_Maximum_Size`).
const BLOCK_BYTES_MAX: usize = 128 << 10;

/// What a `ZstdStream` expects next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expecting {
    /// A frame's magic number (zstd or skippable), or the end of the data.
    Frame,
    /// This many more bytes of a skippable frame, which are dropped.
    Skip(u64),
    /// The next block of a frame, whose header says whether a checksum follows the last.
    Block { checksum: bool },
}

/// A zstd decoder fed the data as it arrives (an import's body), a piece at a time: each
/// `decode_step` decodes at most one block (at most 128 KiB of output), buffering only
/// an incomplete frame header or block, so neither a slow client nor a block of
/// repeated bytes makes it hold more than a block and the frame's window.
pub struct ZstdStream {
    frame: FrameDecoder,
    expecting: Expecting,
    /// The start of a frame header or block whose end has not arrived yet.
    partial: Vec<u8>,
    /// Decoded bytes not yet taken (`decoded`).
    decoded: Vec<u8>,
    window_bytes_max: u64,
}

impl ZstdStream {
    /// A decoder refusing frames that declare a window over `window_bytes_max`.
    pub fn new(window_bytes_max: u64) -> Self {
        ZstdStream { frame: FrameDecoder::new(), expecting: Expecting::Frame, partial: Vec::new(), decoded: Vec::new(), window_bytes_max }
    }

    /// The bytes decoded so far and not yet taken; the caller empties it.
    pub fn decoded(&mut self) -> &mut Vec<u8> {
        &mut self.decoded
    }

    /// Takes a prefix of `input` (at least one byte when it is not empty) and decodes the
    /// frame header or block it completes; returns how many bytes it took.
    pub fn decode_step(&mut self, input: &[u8]) -> Result<usize, String> {
        if input.is_empty() {
            return Ok(0);
        }
        if let Expecting::Skip(left) = self.expecting {
            let taken = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
            self.expecting = if left == taken as u64 { Expecting::Frame } else { Expecting::Skip(left - taken as u64) };
            return Ok(taken);
        }
        // The unit (frame header or block) whose start is buffered or at the start of input.
        let buffered = self.partial.len();
        let wanted = {
            let mut head = [0u8; 18];
            let have = buffered.min(head.len());
            head[..have].copy_from_slice(&self.partial[..have]);
            let more = (head.len() - have).min(input.len());
            head[have..have + more].copy_from_slice(&input[..more]);
            self.unit_bytes(&head[..have + more])?
        };
        match wanted {
            Some(unit) if buffered == 0 && input.len() >= unit => {
                self.decode_unit_from(&input[..unit])?;
                Ok(unit)
            }
            Some(unit) if buffered + input.len() >= unit => {
                let taken = unit - buffered;
                self.partial.extend_from_slice(&input[..taken]);
                let whole = std::mem::take(&mut self.partial);
                let decoded = self.decode_unit_from(&whole);
                self.partial = whole;
                self.partial.clear();
                decoded.map(|()| taken)
            }
            // The unit's end has not come yet, or too few bytes have to tell how long it is
            // (fewer than 5 in all): keep what came.
            Some(_) | None => {
                self.partial.extend_from_slice(input);
                Ok(input.len())
            }
        }
    }

    /// The end of the data: a frame (or skippable frame) cut short is an error.
    pub fn finish(&mut self) -> Result<(), String> {
        if self.expecting != Expecting::Frame || !self.partial.is_empty() {
            return Err("the zstd data ends inside a frame".into());
        }
        Ok(())
    }

    /// How many bytes the unit starting with `head` takes (`None`: `head` is too short to
    /// tell); a skippable frame's unit is its 8-byte header.
    fn unit_bytes(&self, head: &[u8]) -> Result<Option<usize>, String> {
        const SKIPPABLE_MAGIC: std::ops::RangeInclusive<u32> = 0x184D_2A50..=0x184D_2A5F;
        match self.expecting {
            Expecting::Frame => {
                let Some(magic) = head.get(..4) else { return Ok(None) };
                let magic = u32::from_le_bytes([magic[0], magic[1], magic[2], magic[3]]);
                if SKIPPABLE_MAGIC.contains(&magic) {
                    return Ok(Some(8));
                }
                if magic != ZSTD_MAGIC {
                    return Err(format!("not zstd data (a frame starts with {magic:#010x})"));
                }
                let Some(&descriptor) = head.get(4) else { return Ok(None) };
                let single_segment = descriptor & 0x20 != 0;
                let content_size_bytes = match descriptor >> 6 {
                    0 => usize::from(single_segment),
                    flag => 1 << flag,
                };
                let dictionary_id_bytes = [0, 1, 2, 4][usize::from(descriptor & 3)];
                Ok(Some(5 + usize::from(!single_segment) + dictionary_id_bytes + content_size_bytes))
            }
            Expecting::Block { checksum } => {
                let Some(header) = head.get(..3) else { return Ok(None) };
                let header = u32::from(header[0]) | u32::from(header[1]) << 8 | u32::from(header[2]) << 16;
                let last = header & 1 != 0;
                let size = (header >> 3) as usize;
                let content = match (header >> 1) & 3 {
                    1 => 1,
                    3 => return Err("a zstd block of the reserved type".into()),
                    _ => size,
                };
                if size > BLOCK_BYTES_MAX {
                    return Err(format!("a zstd block of {size} bytes (at most {BLOCK_BYTES_MAX})"));
                }
                Ok(Some(3 + content + if last && checksum { 4 } else { 0 }))
            }
            // Skipped bytes are not units (`decode_step` drops them before asking).
            Expecting::Skip(left) => Err(format!("internal: asked for a unit while {left} bytes are to be skipped")),
        }
    }

    /// Decodes one whole unit: starts a frame (or a skip) from a header, or decodes a block
    /// into `decoded`, checking the frame's checksum after its last.
    fn decode_unit_from(&mut self, mut unit: &[u8]) -> Result<(), String> {
        match self.expecting {
            Expecting::Frame => {
                if unit[..4] != ZSTD_MAGIC.to_le_bytes() {
                    // A skippable frame's header: its length follows the magic number.
                    let length = u32::from_le_bytes([unit[4], unit[5], unit[6], unit[7]]);
                    self.expecting = if length == 0 { Expecting::Frame } else { Expecting::Skip(u64::from(length)) };
                    return Ok(());
                }
                if let Some(window) = declared_window_bytes(unit) {
                    if window > self.window_bytes_max {
                        return Err(format!("a zstd frame declares a window of {window} bytes (at most {} accepted)", self.window_bytes_max));
                    }
                }
                let checksum = unit[4] & 0x04 != 0;
                self.frame.reset(&mut unit).map_err(|error| format!("zstd: {error}"))?;
                self.expecting = Expecting::Block { checksum };
                Ok(())
            }
            Expecting::Block { .. } => {
                let finished = self.frame.decode_blocks(&mut unit, BlockDecodingStrategy::UptoBlocks(1)).map_err(|error| format!("zstd: {error}"))?;
                self.frame.collect_to_writer(&mut self.decoded).map_err(|error| format!("zstd: {error}"))?;
                if finished {
                    if let (Some(stored), Some(computed)) = (self.frame.get_checksum_from_data(), self.frame.get_calculated_checksum()) {
                        if stored != computed {
                            return Err(format!("zstd checksum mismatch (stored {stored:08x}, computed {computed:08x})"));
                        }
                    }
                    self.expecting = Expecting::Frame;
                }
                Ok(())
            }
            Expecting::Skip(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `data` to a stream `piece` bytes at a time; the decoded bytes, and the most
    /// any one step left to take.
    fn stream(data: &[u8], piece: usize, window_bytes_max: u64) -> Result<(Vec<u8>, usize), String> {
        let mut zstd = ZstdStream::new(window_bytes_max);
        let (mut out, mut most) = (Vec::new(), 0);
        for mut chunk in data.chunks(piece) {
            while !chunk.is_empty() {
                let taken = zstd.decode_step(chunk)?;
                assert!(taken > 0, "a step took nothing");
                chunk = &chunk[taken..];
                most = most.max(zstd.decoded().len());
                out.append(zstd.decoded());
            }
        }
        zstd.finish()?;
        Ok((out, most))
    }

    fn lines(count: usize) -> Vec<u8> {
        (0..count).map(|i| format!("{{\"metric\":{{\"__name__\":\"m\",\"i\":\"{}\"}},\"values\":[{i}],\"timestamps\":[{}]}}\n", i % 977, i * 15)).collect::<String>().into_bytes()
    }

    /// A frame with a 1 MiB window (no content size, no checksum) of `blocks` RLE blocks of
    /// 128 KiB of `byte` each: four input bytes per 128 KiB of output.
    fn rle_frame(blocks: usize, byte: u8) -> Vec<u8> {
        let mut frame = ZSTD_MAGIC.to_le_bytes().to_vec();
        frame.extend([0x00, 10 << 3]);
        for i in 0..blocks {
            let header = u32::from(i + 1 == blocks) | 1 << 1 | (BLOCK_BYTES_MAX as u32) << 3;
            frame.extend(&header.to_le_bytes()[..3]);
            frame.push(byte);
        }
        frame
    }

    #[test]
    fn frames_decode_the_same_whatever_pieces_they_arrive_in() {
        let plain = lines(20_000);
        let one = ruzstd::encoding::compress_to_vec(plain.as_slice(), ruzstd::encoding::CompressionLevel::Fastest);
        let two = ruzstd::encoding::compress_to_vec(&plain[..1000], ruzstd::encoding::CompressionLevel::Fastest);
        // Two frames with a skippable frame of 5 bytes between them.
        let mut data = one.clone();
        data.extend(0x184D_2A53u32.to_le_bytes());
        data.extend(5u32.to_le_bytes());
        data.extend(b"skip!");
        data.extend(&two);
        let mut expected = plain.clone();
        expected.extend(&plain[..1000]);
        for piece in [1, 2, 3, 7, 100, 4096, 65_536, data.len()] {
            let (out, _) = stream(&data, piece, 8 << 20).expect("valid zstd");
            assert!(out == expected, "pieces of {piece}: {} bytes decoded, {} expected", out.len(), expected.len());
        }
        // The whole-body decoder reads the same data the same way.
        let mut whole = Vec::new();
        unzstd_into(&mut whole, &data, 64 << 20, 8 << 20, &mut FrameDecoder::new()).expect("valid zstd");
        assert!(whole == expected);
    }

    #[test]
    fn the_zstd_tools_output_decodes() {
        // `zstd -q -c --check` (v1.5.4) of `m{i="1"} 1 1000\n` written 100 times: a
        // compressed block that repeats its first line, a 2 MiB window and a content checksum.
        let frame = [
            0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x58, 0xc5, 0x00, 0x00, 0x80, 0x6d, 0x7b, 0x69, 0x3d, 0x22, 0x31, 0x22, 0x7d, 0x20, 0x31, 0x20, 0x31,
            0x30, 0x30, 0x30, 0x0a, 0x01, 0x00, 0x5a, 0x9c, 0x7f, 0x2e, 0x01, 0x0c, 0x45, 0x31, 0x2b,
        ];
        let expected = "m{i=\"1\"} 1 1000\n".repeat(100).into_bytes();
        for piece in [1, 5, frame.len()] {
            assert!(stream(&frame, piece, 8 << 20).expect("valid zstd").0 == expected, "pieces of {piece}");
        }
    }

    #[test]
    fn a_step_leaves_at_most_a_block_past_the_window() {
        // 1,000 blocks of 128 KiB (125 MiB) from 4 KiB of input.
        let frame = rle_frame(1000, b'x');
        assert!(frame.len() < 4100);
        let (out, most) = stream(&frame, 4096, 1 << 20).expect("valid zstd");
        assert_eq!(out.len(), 1000 * BLOCK_BYTES_MAX);
        assert!(out.iter().all(|&b| b == b'x'));
        assert!(most <= (1 << 20) + BLOCK_BYTES_MAX, "one step left {most} bytes");
    }

    #[test]
    fn bad_data_is_named() {
        let error = |data: &[u8], window_bytes_max: u64| stream(data, 1000, window_bytes_max).expect_err("bad zstd");
        assert!(error(b"plain text, not zstd", 1 << 20).contains("not zstd data"));
        assert!(error(&rle_frame(3, b'x'), 512 << 10).contains("declares a window of 1048576 bytes (at most 524288 accepted)"));
        let frame = rle_frame(3, b'x');
        assert!(error(&frame[..frame.len() - 2], 1 << 20).contains("ends inside a frame"));
        let mut reserved = rle_frame(1, b'x');
        let at = reserved.len() - 4;
        reserved[at] |= 3 << 1;
        assert!(error(&reserved, 1 << 20).contains("reserved type"));
        let mut skip = 0x184D_2A50u32.to_le_bytes().to_vec();
        skip.extend(10u32.to_le_bytes());
        skip.extend(b"short");
        assert!(error(&skip, 1 << 20).contains("ends inside a frame"));
        // A flipped bit in a frame's stored checksum.
        let plain = lines(2000);
        let mut data = ruzstd::encoding::compress_to_vec(plain.as_slice(), ruzstd::encoding::CompressionLevel::Fastest);
        assert!(data[4] & 0x04 != 0, "ruzstd's encoder writes a content checksum (its default `hash` feature)");
        let at = data.len() - 1;
        data[at] ^= 1;
        assert!(error(&data, 8 << 20).contains("checksum mismatch"));
    }
}
