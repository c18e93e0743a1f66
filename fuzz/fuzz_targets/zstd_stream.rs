//! Fuzz target: the streamed zstd decoder (imports under `Content-Encoding: zstd`) never
//! panics, and agrees with the whole-body decoder: raw bytes fed in pieces of a size the
//! first byte picks decode (or fail) as `unzstd_into` decodes them whole, and the bytes
//! compressed by ruzstd come back exactly, whatever the pieces.
#![no_main]
use metricstor::ingest::zstd::{unzstd_into, ZstdStream};

const WINDOW_BYTES_MAX: u64 = 1 << 20;
const BYTES_MAX: usize = 8 << 20;

/// Streams `data` in pieces of `piece` bytes: the decoded bytes or the error.
fn streamed(data: &[u8], piece: usize) -> Result<Vec<u8>, String> {
    let mut zstd = ZstdStream::new(WINDOW_BYTES_MAX);
    let mut out = Vec::new();
    for mut chunk in data.chunks(piece) {
        while !chunk.is_empty() {
            let taken = zstd.decode_step(chunk)?;
            assert!(taken > 0 && taken <= chunk.len(), "a step took {taken} of {} bytes", chunk.len());
            chunk = &chunk[taken..];
            out.append(zstd.decoded());
            if out.len() > BYTES_MAX {
                return Err("past the test's output budget".into());
            }
        }
    }
    zstd.finish()?;
    Ok(out)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let piece = usize::from(first) % 64 + 1;
    let mut whole = Vec::new();
    let whole = unzstd_into(&mut whole, rest, BYTES_MAX, WINDOW_BYTES_MAX, &mut ruzstd::decoding::FrameDecoder::new()).map(|()| whole);
    if let (Ok(whole), Ok(streamed)) = (&whole, streamed(rest, piece)) {
        assert!(whole == &streamed, "the streamed decoder decoded {} bytes, the whole-body one {}", streamed.len(), whole.len());
    }
    let compressed = ruzstd::encoding::compress_to_vec(rest, ruzstd::encoding::CompressionLevel::Fastest);
    let back = streamed(&compressed, piece).expect("ruzstd's own output decodes");
    assert!(back == rest, "a round trip changed the bytes");
});
