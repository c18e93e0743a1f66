//! Splitting a body that arrives in chunks into numbered lines, for the line-oriented import
//! formats: a line may span chunks (its start is kept until its end arrives) and one line is
//! bounded in length, so memory stays at one line whatever the body's size.

use super::DecodeError;

/// Splits chunks at `\n` (a `\r` before it is dropped too) and hands out each complete line
/// with its 1-based number.
#[derive(Debug)]
pub struct LineSplitter {
    /// The start of a line whose end has not arrived yet.
    partial: Vec<u8>,
    line_bytes_max: usize,
    /// The number of the last line handed out (or refused).
    line_number: usize,
}

impl LineSplitter {
    pub fn new(line_bytes_max: usize) -> Self {
        LineSplitter { partial: Vec::new(), line_bytes_max, line_number: 0 }
    }

    /// The number of the last line handed out, or refused as too long.
    pub fn line_number(&self) -> usize {
        self.line_number
    }

    /// Calls `each(number, line)` for every line `chunk` completes, in order; stops at the
    /// first error (its own, or a line over the length limit).
    pub fn feed(&mut self, chunk: &[u8], mut each: impl FnMut(usize, &[u8]) -> Result<(), DecodeError>) -> Result<(), DecodeError> {
        let mut rest = chunk;
        while let Some(end) = memchr::memchr(b'\n', rest) {
            let (head, tail) = (&rest[..end], &rest[end + 1..]);
            rest = tail;
            if self.partial.is_empty() {
                self.hand_out(head, &mut each)?;
            } else {
                self.check_length(self.partial.len() + head.len())?;
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(head);
                self.hand_out(&line, &mut each)?;
                // Keep the allocation for the next line that spans chunks.
                line.clear();
                self.partial = line;
            }
        }
        self.check_length(self.partial.len() + rest.len())?;
        self.partial.extend_from_slice(rest);
        Ok(())
    }

    /// Hands out the last line when the body did not end with a newline.
    pub fn finish(&mut self, mut each: impl FnMut(usize, &[u8]) -> Result<(), DecodeError>) -> Result<(), DecodeError> {
        if self.partial.is_empty() {
            return Ok(());
        }
        let line = std::mem::take(&mut self.partial);
        self.hand_out(&line, &mut each)
    }

    fn hand_out(&mut self, line: &[u8], each: &mut impl FnMut(usize, &[u8]) -> Result<(), DecodeError>) -> Result<(), DecodeError> {
        self.check_length(line.len())?;
        self.line_number += 1;
        each(self.line_number, line.strip_suffix(b"\r").unwrap_or(line))
    }

    fn check_length(&mut self, length: usize) -> Result<(), DecodeError> {
        if length <= self.line_bytes_max {
            return Ok(());
        }
        self.line_number += 1;
        Err(DecodeError::InvalidSeries {
            series: format!("line {}", self.line_number),
            problem: format!("the line is longer than the limit of {} bytes", self.line_bytes_max),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &[u8], piece: usize, line_bytes_max: usize) -> Result<Vec<(usize, String)>, DecodeError> {
        let mut splitter = LineSplitter::new(line_bytes_max);
        let mut lines = Vec::new();
        for part in input.chunks(piece.max(1)) {
            splitter.feed(part, |n, line| {
                lines.push((n, String::from_utf8_lossy(line).into_owned()));
                Ok(())
            })?;
        }
        splitter.finish(|n, line| {
            lines.push((n, String::from_utf8_lossy(line).into_owned()));
            Ok(())
        })?;
        Ok(lines)
    }

    #[test]
    fn lines_in_any_split_match_str_lines() {
        let input = "first\r\n\nthird line\nlast without newline";
        let expected: Vec<(usize, String)> = input.lines().enumerate().map(|(i, l)| (i + 1, l.to_string())).collect();
        for piece in 1..=input.len() {
            assert_eq!(split(input.as_bytes(), piece, 64).unwrap(), expected, "pieces of {piece}");
        }
        assert_eq!(split(b"a\n", 1, 64).unwrap(), vec![(1, "a".to_string())]);
        assert!(split(b"", 1, 64).unwrap().is_empty());
    }

    #[test]
    fn a_line_over_the_limit_is_refused_with_its_number() {
        for piece in [1, 3, 100] {
            let error = split(b"ok\n0123456789\nnext\n", piece, 8).unwrap_err().to_string();
            assert!(error.contains("line 2") && error.contains("longer than the limit of 8 bytes"), "{error}");
        }
        assert_eq!(split(b"12345678\n", 3, 8).unwrap(), vec![(1, "12345678".to_string())]);
    }

    #[test]
    fn an_error_from_the_line_parser_stops_the_split() {
        let mut splitter = LineSplitter::new(64);
        let mut seen = Vec::new();
        let error = splitter.feed(b"a\nbad\nc\n", |n, line| {
            if line == b"bad" {
                return Err(DecodeError::InvalidSeries { series: format!("line {n}"), problem: "bad".into() });
            }
            seen.push(n);
            Ok(())
        });
        assert!(error.unwrap_err().to_string().contains("line 2"));
        assert_eq!(seen, vec![1]);
        assert_eq!(splitter.line_number(), 2);
    }
}
