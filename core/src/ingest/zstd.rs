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
    const ZSTD_MAGIC: u32 = 0xFD2F_B528;
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
