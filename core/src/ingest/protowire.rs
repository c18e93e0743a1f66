//! A minimal protobuf wire-format reader over a borrowed buffer: tags, varints, fixed64 and
//! length-delimited fields as sub-slices, unknown fields skipped per the protobuf rules.
//! No allocation; callers map `WireError` to their own error type.

/// Why a buffer is not valid protobuf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    Truncated,
    VarintTooLong,
    /// Wire types 3 and 4 (groups) and 6, 7 (undefined) are refused, as prost refuses them.
    BadWireType(u8),
    /// Field number 0 is reserved.
    ZeroFieldNumber,
    /// A known field arrived with another wire type than its declaration's.
    UnexpectedWireType { field: u32, wire_type: u8 },
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Truncated => f.write_str("buffer underflow (truncated message)"),
            WireError::VarintTooLong => f.write_str("invalid varint"),
            WireError::BadWireType(t) => write!(f, "invalid wire type {t}"),
            WireError::ZeroFieldNumber => f.write_str("invalid tag value: 0"),
            WireError::UnexpectedWireType { field, wire_type } => write!(f, "field {field}: unexpected wire type {wire_type}"),
        }
    }
}

pub const WIRE_VARINT: u8 = 0;
pub const WIRE_FIXED64: u8 = 1;
pub const WIRE_LEN: u8 = 2;
pub const WIRE_FIXED32: u8 = 5;

/// One field's value, borrowed from the buffer.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    /// No field Metricstor reads is fixed32: only skipped, so its value is not kept.
    Fixed32,
}

impl<'a> Value<'a> {
    fn wire_type(&self) -> u8 {
        match self {
            Value::Varint(_) => WIRE_VARINT,
            Value::Fixed64(_) => WIRE_FIXED64,
            Value::Len(_) => WIRE_LEN,
            Value::Fixed32 => WIRE_FIXED32,
        }
    }

    fn mismatch(&self, field: u32) -> WireError {
        WireError::UnexpectedWireType { field, wire_type: self.wire_type() }
    }

    pub fn varint(self, field: u32) -> Result<u64, WireError> {
        match self {
            Value::Varint(v) => Ok(v),
            other => Err(other.mismatch(field)),
        }
    }

    pub fn fixed64(self, field: u32) -> Result<u64, WireError> {
        match self {
            Value::Fixed64(v) => Ok(v),
            other => Err(other.mismatch(field)),
        }
    }

    pub fn bytes(self, field: u32) -> Result<&'a [u8], WireError> {
        match self {
            Value::Len(v) => Ok(v),
            other => Err(other.mismatch(field)),
        }
    }
}

/// Iterates the fields of one message: `(field number, value)`.
pub struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Fields { buf }
    }

    /// Offset of `slice` (a sub-slice handed out by this reader) in `whole`, the buffer the
    /// outermost reader was made from.
    pub fn offset_in(whole: &[u8], slice: &[u8]) -> usize {
        let offset = (slice.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
        debug_assert!(offset + slice.len() <= whole.len(), "slice lies inside the buffer");
        offset
    }

    #[inline]
    fn varint(&mut self) -> Result<u64, WireError> {
        // Tags and lengths of label text are almost always one byte.
        if let Some((&byte, rest)) = self.buf.split_first() {
            if byte < 0x80 {
                self.buf = rest;
                return Ok(u64::from(byte));
            }
        }
        self.varint_multi_byte()
    }

    fn varint_multi_byte(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for (i, &byte) in self.buf.iter().enumerate().take(10) {
            // The 10th byte may only hold the top bit of a u64.
            if i == 9 && byte > 1 {
                return Err(WireError::VarintTooLong);
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                self.advance(i + 1);
                return Ok(value);
            }
        }
        Err(if self.buf.len() >= 10 { WireError::VarintTooLong } else { WireError::Truncated })
    }

    fn advance(&mut self, n: usize) {
        self.buf = &self.buf[n..];
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.buf.len() < n {
            return Err(WireError::Truncated);
        }
        let (head, _) = self.buf.split_at(n);
        self.advance(n);
        Ok(head)
    }

    // Always inlined: called out of line, its 40-byte result went through the stack on every
    // field of the write path (profiled: about a tenth of the ingestion CPU on reloading it).
    #[inline(always)]
    fn field(&mut self) -> Result<(u32, Value<'a>), WireError> {
        let key = self.varint()?;
        let wire_type = (key & 7) as u8;
        let field = u32::try_from(key >> 3).map_err(|_| WireError::VarintTooLong)?;
        if field == 0 {
            return Err(WireError::ZeroFieldNumber);
        }
        let value = match wire_type {
            WIRE_VARINT => Value::Varint(self.varint()?),
            WIRE_FIXED64 => Value::Fixed64(u64::from_le_bytes(self.take(8)?.try_into().expect("took 8 bytes"))),
            WIRE_LEN => {
                let len = usize::try_from(self.varint()?).map_err(|_| WireError::Truncated)?;
                Value::Len(self.take(len)?)
            }
            WIRE_FIXED32 => {
                self.take(4)?;
                Value::Fixed32
            }
            other => return Err(WireError::BadWireType(other)),
        };
        Ok((field, value))
    }
}

/// The varints of a packed repeated field (`[packed = true]` scalars).
pub struct Varints<'a>(Fields<'a>);

impl<'a> Varints<'a> {
    pub fn new(packed: &'a [u8]) -> Self {
        Varints(Fields::new(packed))
    }
}

impl Iterator for Varints<'_> {
    type Item = Result<u64, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.buf.is_empty() {
            return None;
        }
        let next = self.0.varint();
        if next.is_err() {
            self.0.buf = &[];
        }
        Some(next)
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>), WireError>;

    // Always inlined, as `field` is: with more decoders calling it, the compiler had left it
    // out of line, returning the same 40-byte result through the stack on every field.
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let next = self.field();
        if next.is_err() {
            self.buf = &[]; // one error ends the walk
        }
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(buf: &[u8]) -> Result<Vec<(u32, u64)>, WireError> {
        Fields::new(buf)
            .map(|f| {
                f.map(|(n, v)| {
                    let v = match v {
                        Value::Varint(x) | Value::Fixed64(x) => x,
                        Value::Fixed32 => 32,
                        Value::Len(b) => b.len() as u64,
                    };
                    (n, v)
                })
            })
            .collect()
    }

    type Case<'a> = (&'a [u8], Result<Vec<(u32, u64)>, WireError>);

    #[test]
    fn reads_every_wire_type_and_refuses_groups_and_garbage() {
        let table: Vec<Case> = vec![
            (&[0x08, 0x96, 0x01], Ok(vec![(1, 150)])),
            (&[0x11, 1, 0, 0, 0, 0, 0, 0, 0], Ok(vec![(2, 1)])),
            (&[0x1a, 0x02, b'h', b'i', 0x25, 7, 0, 0, 0], Ok(vec![(3, 2), (4, 32)])),
            (&[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], Ok(vec![(1, u64::MAX)])),
            (&[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], Err(WireError::VarintTooLong)),
            (&[0x0b], Err(WireError::BadWireType(3))),
            (&[0x0c], Err(WireError::BadWireType(4))),
            (&[0x0f], Err(WireError::BadWireType(7))),
            (&[0x00, 0x00], Err(WireError::ZeroFieldNumber)),
            (&[0x1a, 0x05, b'h'], Err(WireError::Truncated)),
            (&[0x08, 0x80], Err(WireError::Truncated)),
            (&[0x11, 1, 0], Err(WireError::Truncated)),
        ];
        for (buf, expected) in table {
            assert_eq!(fields(buf), expected, "{buf:x?}");
        }
    }
}
