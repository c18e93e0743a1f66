//! Bounded snappy decompression (the block format) for what clients send (remote_write,
//! compressed pushes and imports): the decoded length the block declares is checked before
//! anything is allocated, so a small block cannot claim gigabytes.

/// Why a block was not decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum UnsnappyError {
    /// The block declares more decoded bytes than allowed.
    TooLarge { declared: usize },
    /// The block is not snappy (the decoder's words).
    Malformed(String),
}

/// `block` decoded, at most `bytes_max` bytes.
pub fn unsnappy(block: &[u8], bytes_max: usize) -> Result<Vec<u8>, UnsnappyError> {
    let declared = snap::raw::decompress_len(block).map_err(|e| UnsnappyError::Malformed(e.to_string()))?;
    if declared > bytes_max {
        return Err(UnsnappyError::TooLarge { declared });
    }
    snap::raw::Decoder::new().decompress_vec(block).map_err(|e| UnsnappyError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_decoded_within_their_bound() {
        let block = snap::raw::Encoder::new().compress_vec(&[7u8; 1000]).expect("in memory");
        assert_eq!(unsnappy(&block, 1000), Ok(vec![7u8; 1000]));
        assert_eq!(unsnappy(&block, 999), Err(UnsnappyError::TooLarge { declared: 1000 }));
        assert!(matches!(unsnappy(b"\xff\xff\xff\xff\xff\xff", 1 << 20), Err(UnsnappyError::Malformed(_))));
    }
}
