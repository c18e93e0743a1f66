//! Incremental `Transfer-Encoding: chunked` decoding (chunk extensions ignored, trailers
//! read and dropped), bounded by the body size limit.

use super::ProtocolError;

/// Longest chunk-size or trailer line accepted.
pub const CHUNK_LINE_BYTES_MAX: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

/// Feed it bytes as they arrive; it appends decoded data to `body`.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    body_bytes_max: u64,
    pub body: Vec<u8>,
}

impl ChunkedDecoder {
    pub fn new(body_bytes_max: u64) -> Self {
        ChunkedDecoder { state: State::Size, body_bytes_max, body: Vec::new() }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes what it can from `input`; returns how many bytes it used.
    pub fn feed(&mut self, input: &[u8]) -> Result<usize, ProtocolError> {
        let mut pos = 0;
        loop {
            match self.state {
                State::Done => return Ok(pos),
                State::Size | State::Trailers => {
                    let rest = &input[pos..];
                    let Some(end) = memchr::memmem::find(rest, b"\r\n") else {
                        if rest.len() > CHUNK_LINE_BYTES_MAX {
                            return Err(ProtocolError::new(400, "chunk line too long"));
                        }
                        return Ok(pos);
                    };
                    let line = &rest[..end];
                    pos += end + 2;
                    if self.state == State::Trailers {
                        if line.is_empty() {
                            self.state = State::Done;
                        }
                        continue;
                    }
                    let size_text = line.split(|b| *b == b';').next().unwrap_or(b"");
                    let size = parse_chunk_size(size_text).ok_or_else(|| {
                        ProtocolError::new(400, format!("invalid chunk size {:?}", String::from_utf8_lossy(size_text)))
                    })?;
                    if size == 0 {
                        self.state = State::Trailers;
                    } else {
                        // Checked: a huge size must not wrap around the limit.
                        let total = (self.body.len() as u64).checked_add(size);
                        if !matches!(total, Some(total) if total <= self.body_bytes_max) {
                            return Err(ProtocolError::new(
                                413,
                                format!("chunked request body exceeds the limit of {} bytes", self.body_bytes_max),
                            ));
                        }
                        self.state = State::Data(size);
                    }
                }
                State::Data(remaining) => {
                    let available = (input.len() - pos) as u64;
                    if available == 0 {
                        return Ok(pos);
                    }
                    let take = remaining.min(available) as usize;
                    self.body.extend_from_slice(&input[pos..pos + take]);
                    pos += take;
                    let left = remaining - take as u64;
                    self.state = if left == 0 { State::DataEnd } else { State::Data(left) };
                }
                State::DataEnd => {
                    if input.len() - pos < 2 {
                        return Ok(pos);
                    }
                    if &input[pos..pos + 2] != b"\r\n" {
                        return Err(ProtocolError::new(400, "missing CRLF after chunk data"));
                    }
                    pos += 2;
                    self.state = State::Size;
                }
            }
        }
    }
}

/// Hex digits only (surrounding blanks tolerated); `from_str_radix` alone also takes a `+`.
fn parse_chunk_size(text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?.trim_matches(|c| c == ' ' || c == '\t');
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(text, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_in_pieces(input: &[u8], piece: usize) -> Result<(Vec<u8>, usize), ProtocolError> {
        let mut decoder = ChunkedDecoder::new(1 << 20);
        let mut buffered: Vec<u8> = Vec::new();
        let mut fed = 0;
        for part in input.chunks(piece.max(1)) {
            buffered.extend_from_slice(part);
            let used = decoder.feed(&buffered)?;
            buffered.drain(..used);
            fed += used;
            if decoder.is_done() {
                return Ok((decoder.body, fed));
            }
        }
        Err(ProtocolError::new(0, "incomplete"))
    }

    #[test]
    fn decodes_with_extensions_and_trailers_in_any_split() {
        let input = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: y\r\n\r\nNEXT";
        for piece in 1..input.len() {
            let (body, used) = decode_in_pieces(input, piece).unwrap();
            assert_eq!(body, b"hello world");
            assert_eq!(used, input.len() - 4, "leaves the next request's bytes");
        }
    }

    #[test]
    fn errors() {
        assert_eq!(decode_in_pieces(b"zz\r\n", 64).unwrap_err().status, 400);
        assert_eq!(decode_in_pieces(b"3\r\nabcX\r\n", 64).unwrap_err().status, 400);
        assert_eq!(decode_in_pieces(b"+3\r\nabc\r\n0\r\n\r\n", 64).unwrap_err().status, 400);
        assert_eq!(decode_in_pieces(b"\r\n", 64).unwrap_err().status, 400);
        assert_eq!(decode_in_pieces(b"10000000000000000\r\n", 64).unwrap_err().status, 400);
        let mut small = ChunkedDecoder::new(4);
        assert_eq!(small.feed(b"5\r\nhello\r\n").unwrap_err().status, 413);
        // A size that would wrap the running total past the limit is still refused.
        let mut decoder = ChunkedDecoder::new(1 << 20);
        assert_eq!(decoder.feed(b"1\r\na\r\nffffffffffffffff\r\n").unwrap_err().status, 413);
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = ChunkedDecoder::new(1 << 10).feed(&bytes);
        }
    }
}
