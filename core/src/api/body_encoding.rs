//! Request bodies under a `Content-Encoding`, as VictoriaMetrics reads them on its push and
//! import endpoints: `gzip` (also `x-gzip`), `deflate` (zlib), `zstd` and `snappy` (the
//! block format, read whole), or none (`identity`). A whole body is decompressed at once
//! (`decompressed_body`, for endpoints that parse one request at a time), and a streamed
//! import's body a piece at a time as it arrives (`StreamDecoder`), so a small body that
//! inflates to gigabytes never sits in memory at once.

use std::borrow::Cow;
use std::io::Write;

use bytes::Bytes;
use http::{HeaderMap, Request};

use super::ApiError;
use crate::ingest::snappy::{unsnappy, UnsnappyError};
use crate::ingest::zstd::{unzstd_into, ZstdStream};

/// The encodings a body may come in, for the 415 naming them.
const ENCODINGS: &str = "as is (identity), gzip, deflate, zstd or snappy";

/// Compressed bytes of a snappy body read whole (VictoriaMetrics' `maxSnappyBlockSize`):
/// the block format cannot be decoded as it arrives.
pub(super) const SNAPPY_BODY_BYTES_MAX: usize = 56_000_000;

/// Compressed input a gzip or deflate decoder takes at a time: deflate expands at most
/// ~1032:1, so one step hands on at most ~4 MiB of decoded bytes however the body was made.
const INFLATE_STEP_BYTES: usize = 4 << 10;

/// The window a streamed zstd body's frames may declare, which the decoder keeps in memory:
/// `zstd --long`'s default (2^27), the largest the zstd tool writes unless told otherwise.
const STREAM_ZSTD_WINDOW_BYTES_MAX: u64 = 128 << 20;

/// A body's `Content-Encoding`, when it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Gzip,
    Deflate,
    Zstd,
    Snappy,
}

impl Encoding {
    /// The encoding's name, as messages give it.
    fn name(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
            Encoding::Zstd => "zstd",
            Encoding::Snappy => "snappy",
        }
    }
}

/// The body's encoding as its `Content-Encoding` names it (`None`: not encoded); another is
/// a 415 naming it and `what` the body is.
fn encoding_of(headers: &HeaderMap, what: &str) -> Result<Option<Encoding>, ApiError> {
    let named = headers.get(http::header::CONTENT_ENCODING).map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_ascii_lowercase());
    match named.as_deref() {
        None | Some("" | "identity" | "none") => Ok(None),
        Some("gzip" | "x-gzip") => Ok(Some(Encoding::Gzip)),
        Some("deflate") => Ok(Some(Encoding::Deflate)),
        Some("zstd") => Ok(Some(Encoding::Zstd)),
        Some("snappy") => Ok(Some(Encoding::Snappy)),
        Some(other) => Err(ApiError::unsupported_media(format!("unsupported Content-Encoding \"{other}\" for {what}: send it {ENCODINGS}"))),
    }
}

/// The request's body, decompressed as its `Content-Encoding` says, at most `bytes_max`
/// bytes (413 past it, so a small body cannot claim gigabytes); a body that does not decode
/// is a 400 naming the encoding, another encoding a 415 naming it and `what` the body is.
pub fn decompressed_body<'r>(request: &'r Request<Bytes>, what: &str, bytes_max: usize) -> Result<Cow<'r, [u8]>, ApiError> {
    use std::io::Read;
    let body = request.body().as_ref();
    let too_large = || ApiError::payload_too_large(format!("the decompressed body is larger than {bytes_max} bytes"));
    let malformed = |name: &str, error: &dyn std::fmt::Display| ApiError::bad_data(format!("cannot decompress the body (Content-Encoding: {name}): {error}"));
    let read_bounded = |reader: &mut dyn Read, name: &str| -> Result<Vec<u8>, ApiError> {
        let mut out = Vec::new();
        reader.take(bytes_max as u64 + 1).read_to_end(&mut out).map_err(|e| malformed(name, &e))?;
        if out.len() > bytes_max {
            return Err(too_large());
        }
        Ok(out)
    };
    match encoding_of(request.headers(), what)? {
        None => Ok(Cow::Borrowed(body)),
        Some(Encoding::Gzip) => Ok(read_bounded(&mut flate2::read::MultiGzDecoder::new(body), "gzip")?.into()),
        Some(Encoding::Deflate) => Ok(read_bounded(&mut flate2::read::ZlibDecoder::new(body), "deflate")?.into()),
        Some(Encoding::Snappy) => match unsnappy(body, bytes_max) {
            Ok(plain) => Ok(plain.into()),
            Err(UnsnappyError::TooLarge { .. }) => Err(too_large()),
            Err(UnsnappyError::Malformed(error)) => Err(malformed("snappy", &error)),
        },
        Some(Encoding::Zstd) => {
            let mut out = Vec::new();
            // A window over `bytes_max` (a single-segment frame's is its content size) would
            // hold more than the body may decode to.
            unzstd_into(&mut out, body, bytes_max, bytes_max as u64, &mut ruzstd::decoding::FrameDecoder::new()).map_err(|e| {
                if e.contains("decompresses to more than") || e.contains("declares a window") {
                    ApiError::payload_too_large(format!("the decompressed body is larger than {bytes_max} bytes ({e})"))
                } else {
                    malformed("zstd", &e)
                }
            })?;
            Ok(out.into())
        }
    }
}

/// Why a streamed body stopped decoding: its encoding and the decoder's words.
#[derive(Debug)]
pub(super) struct DecodeFailure {
    pub encoding: &'static str,
    pub error: String,
}

impl std::fmt::Display for DecodeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the {} body is malformed ({})", self.encoding, self.error)
    }
}

/// A streamed import body's decoder: fed the body's chunks a step at a time
/// (`decode_step`), each step leaving a bounded amount of decoded bytes (`decoded`) for
/// the import to take before the next.
pub(super) enum StreamDecoder {
    Gzip(flate2::write::MultiGzDecoder<Vec<u8>>),
    Deflate(flate2::write::ZlibDecoder<Vec<u8>>),
    Zstd(Box<ZstdStream>),
    /// The compressed block read so far (decoded whole at the end), and the decoded bytes.
    Snappy { compressed: Vec<u8>, decoded: Vec<u8> },
}

impl StreamDecoder {
    /// The decoder the request's `Content-Encoding` asks for (`None`: the body is as is); a
    /// 415 for another encoding, naming it and `what` the body is.
    pub fn for_request(headers: &HeaderMap, what: &str) -> Result<Option<StreamDecoder>, ApiError> {
        Ok(encoding_of(headers, what)?.map(|encoding| match encoding {
            Encoding::Gzip => StreamDecoder::Gzip(flate2::write::MultiGzDecoder::new(Vec::new())),
            Encoding::Deflate => StreamDecoder::Deflate(flate2::write::ZlibDecoder::new(Vec::new())),
            Encoding::Snappy => StreamDecoder::Snappy { compressed: Vec::new(), decoded: Vec::new() },
            Encoding::Zstd => StreamDecoder::Zstd(Box::new(ZstdStream::new(STREAM_ZSTD_WINDOW_BYTES_MAX))),
        }))
    }

    fn encoding(&self) -> Encoding {
        match self {
            StreamDecoder::Gzip(_) => Encoding::Gzip,
            StreamDecoder::Deflate(_) => Encoding::Deflate,
            StreamDecoder::Zstd(_) => Encoding::Zstd,
            StreamDecoder::Snappy { .. } => Encoding::Snappy,
        }
    }

    fn failure(&self, error: impl ToString) -> DecodeFailure {
        DecodeFailure { encoding: self.encoding().name(), error: error.to_string() }
    }

    /// Decodes a prefix of `input` (at least one byte of it when it is not empty), leaving
    /// at most a few MiB in `decoded`; returns how many bytes it took.
    pub fn decode_step(&mut self, input: &[u8]) -> Result<usize, DecodeFailure> {
        let step = &input[..input.len().min(INFLATE_STEP_BYTES)];
        let taken = match self {
            StreamDecoder::Gzip(decoder) => decoder.write_all(step).map(|()| step.len()).map_err(|e| e.to_string()),
            StreamDecoder::Deflate(decoder) => decoder.write_all(step).map(|()| step.len()).map_err(|e| e.to_string()),
            StreamDecoder::Zstd(decoder) => decoder.decode_step(input),
            StreamDecoder::Snappy { compressed, .. } if compressed.len() + input.len() > SNAPPY_BODY_BYTES_MAX => {
                Err(format!("a snappy body is read whole, and this one is larger than {SNAPPY_BODY_BYTES_MAX} bytes"))
            }
            StreamDecoder::Snappy { compressed, .. } => {
                compressed.extend_from_slice(input);
                Ok(input.len())
            }
        };
        taken.map_err(|error| self.failure(error))
    }

    /// The end of the body: what the decoder still holds goes to `decoded`; a body cut
    /// short is an error.
    pub fn finish(&mut self) -> Result<(), DecodeFailure> {
        let finished = match self {
            StreamDecoder::Gzip(decoder) => decoder.try_finish().map_err(|e| e.to_string()),
            StreamDecoder::Deflate(decoder) => decoder.try_finish().map_err(|e| e.to_string()),
            StreamDecoder::Zstd(decoder) => decoder.finish(),
            StreamDecoder::Snappy { compressed, decoded } => match unsnappy(&std::mem::take(compressed), SNAPPY_BODY_BYTES_MAX) {
                Ok(plain) => {
                    *decoded = plain;
                    Ok(())
                }
                Err(UnsnappyError::TooLarge { declared }) => Err(format!("the snappy block declares {declared} decoded bytes (at most {SNAPPY_BODY_BYTES_MAX})")),
                Err(UnsnappyError::Malformed(error)) => Err(error),
            },
        };
        finished.map_err(|error| self.failure(error))
    }

    /// The decoded bytes not yet taken; the import empties it after each step.
    pub fn decoded(&mut self) -> &mut Vec<u8> {
        match self {
            StreamDecoder::Gzip(decoder) => decoder.get_mut(),
            StreamDecoder::Deflate(decoder) => decoder.get_mut(),
            StreamDecoder::Zstd(decoder) => decoder.decoded(),
            StreamDecoder::Snappy { decoded, .. } => decoded,
        }
    }

    /// Takes the decoded bytes out, to be handed on while the decoder is borrowed elsewhere;
    /// `recycle` gives the buffer back emptied, so its allocation serves the next step.
    pub fn take_decoded(&mut self) -> Vec<u8> {
        std::mem::take(self.decoded())
    }

    /// Returns a buffer `take_decoded` gave out, emptied.
    pub fn recycle(&mut self, mut buffer: Vec<u8>) {
        buffer.clear();
        *self.decoded() = buffer;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(encoding: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(encoding) = encoding {
            headers.insert(http::header::CONTENT_ENCODING, encoding.parse().expect("a header value"));
        }
        headers
    }

    fn encoded(encoding: &str, plain: &[u8]) -> Vec<u8> {
        match encoding {
            "gzip" | "x-gzip" => {
                let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                gzip.write_all(plain).expect("in memory");
                gzip.finish().expect("in memory")
            }
            "deflate" => {
                let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
                zlib.write_all(plain).expect("in memory");
                zlib.finish().expect("in memory")
            }
            "zstd" => ruzstd::encoding::compress_to_vec(plain, ruzstd::encoding::CompressionLevel::Fastest),
            "snappy" => snap::raw::Encoder::new().compress_vec(plain).expect("in memory"),
            _ => plain.to_vec(),
        }
    }

    /// Streams `body` in chunks of `chunk` bytes: the decoded bytes, or the failure.
    fn streamed(decoder: &mut StreamDecoder, body: &[u8], chunk: usize) -> Result<Vec<u8>, DecodeFailure> {
        let mut out = Vec::new();
        for mut piece in body.chunks(chunk) {
            while !piece.is_empty() {
                let taken = decoder.decode_step(piece)?;
                assert!(taken > 0, "a step took nothing");
                piece = &piece[taken..];
                out.append(decoder.decoded());
            }
        }
        decoder.finish()?;
        out.append(decoder.decoded());
        Ok(out)
    }

    #[test]
    fn every_encoding_decodes_whole_and_streamed() {
        let plain: Vec<u8> = (0..50_000).map(|i| format!("m{{i=\"{}\"}} {i}\n", i % 331)).collect::<String>().into_bytes();
        for encoding in ["gzip", "x-gzip", "deflate", "zstd", "snappy", "identity"] {
            let body = encoded(encoding, &plain);
            let request = {
                let mut request = Request::new(Bytes::from(body.clone()));
                *request.headers_mut() = headers(Some(encoding));
                request
            };
            let whole = decompressed_body(&request, "a test", 10 << 20).expect("decodes");
            assert!(whole.as_ref() == plain.as_slice(), "{encoding}: whole body differs");
            match StreamDecoder::for_request(&headers(Some(encoding)), "a test").expect("known") {
                None => assert_eq!(encoding, "identity"),
                Some(mut decoder) => {
                    for chunk in [1, 1000, 65_536] {
                        let mut decoder_again = StreamDecoder::for_request(&headers(Some(encoding)), "a test").expect("known").expect("encoded");
                        let out = streamed(&mut decoder_again, &body, chunk).expect("decodes");
                        assert!(out == plain, "{encoding} in chunks of {chunk}: {} bytes, {} expected", out.len(), plain.len());
                    }
                    assert!(streamed(&mut decoder, &body, body.len()).expect("decodes") == plain);
                }
            }
            // Too large for the limit: a 413.
            if encoding != "identity" {
                assert_eq!(decompressed_body(&request, "a test", 1000).expect_err("over the limit").status, http::StatusCode::PAYLOAD_TOO_LARGE, "{encoding}");
            }
        }
    }

    #[test]
    fn bad_bodies_and_unknown_encodings_are_named() {
        let not = b"this is not compressed at all, whatever the header says";
        for encoding in ["gzip", "deflate", "zstd", "snappy"] {
            let mut decoder = StreamDecoder::for_request(&headers(Some(encoding)), "a test").expect("known").expect("encoded");
            let failure = streamed(&mut decoder, not, 16).expect_err("malformed");
            assert!(failure.to_string().starts_with(&format!("the {encoding} body is malformed (")), "{failure}");
            let mut request = Request::new(Bytes::from_static(not));
            *request.headers_mut() = headers(Some(encoding));
            let error = decompressed_body(&request, "a test", 1 << 20).expect_err("malformed");
            assert_eq!(error.status, http::StatusCode::BAD_REQUEST);
            assert!(error.message.contains(&format!("(Content-Encoding: {encoding})")), "{}", error.message);
        }
        // A body cut short.
        let cut = encoded("gzip", b"a line\n");
        let mut decoder = StreamDecoder::for_request(&headers(Some("gzip")), "a test").expect("known").expect("encoded");
        assert!(streamed(&mut decoder, &cut[..cut.len() - 3], 100).is_err());
        // Names are read without regard to case.
        assert!(matches!(StreamDecoder::for_request(&headers(Some(" GZIP ")), "a test"), Ok(Some(StreamDecoder::Gzip(_)))));
        let error = StreamDecoder::for_request(&headers(Some("br")), "an import").err().expect("unknown");
        assert_eq!(error.status, http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert!(error.message.contains("\"br\" for an import"), "{}", error.message);
        // A snappy body larger than it may be read whole.
        let mut decoder = StreamDecoder::for_request(&headers(Some("snappy")), "a test").expect("known").expect("encoded");
        let big = vec![0u8; SNAPPY_BODY_BYTES_MAX / 4 + 1];
        let failure = (0..4).map(|_| decoder.decode_step(&big)).find_map(Result::err).expect("too large");
        assert!(failure.error.contains("read whole"), "{failure}");
    }
}
