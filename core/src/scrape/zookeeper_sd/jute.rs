//! ZooKeeper's wire encoding (jute), as much as a reading client needs: big-endian ints and
//! longs, one-byte booleans, buffers and strings as an int length (-1 for null) and bytes,
//! vectors as an int count and elements, each packet framed by an int length.

/// Request types (ZooKeeper's `OpCode`).
pub const OP_GET_DATA: i32 = 4;
pub const OP_PING: i32 = 11;
pub const OP_GET_CHILDREN2: i32 = 12;
/// The xids the server gives its own packets: a watch notification and a ping's answer.
pub const XID_NOTIFICATION: i32 = -1;
pub const XID_PING: i32 = -2;
/// The error code of a node that does not exist (`ZNONODE`).
pub const ERR_NO_NODE: i32 = -101;
/// A `Stat` on the wire: czxid, mzxid, ctime, mtime (longs), version, cversion, aversion
/// (ints), ephemeralOwner (long), dataLength, numChildren (ints), pzxid (long).
pub const STAT_BYTES: usize = 4 * 8 + 3 * 4 + 8 + 2 * 4 + 8;
/// The password of a new session: sixteen zero bytes, as ZooKeeper's clients send.
pub const NEW_SESSION_PASSWORD: [u8; 16] = [0; 16];

/// A packet being written (its length prefix is added by `framed`).
#[derive(Debug, Default)]
pub struct Writer(Vec<u8>);

impl Writer {
    pub fn int(mut self, value: i32) -> Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub fn long(mut self, value: i64) -> Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub fn boolean(mut self, value: bool) -> Self {
        self.0.push(u8::from(value));
        self
    }

    /// A buffer or a string: its length, then its bytes. Callers keep it under
    /// `FRAME_BYTES_MAX` (a path), so the length fits an int.
    pub fn bytes(mut self, value: &[u8]) -> Self {
        let length = i32::try_from(value.len()).unwrap_or(i32::MAX);
        self.0.extend_from_slice(&length.to_be_bytes());
        self.0.extend_from_slice(value);
        self
    }

    /// The packet with its length before it.
    pub fn framed(self) -> Vec<u8> {
        let length = u32::try_from(self.0.len()).unwrap_or(u32::MAX);
        let mut out = Vec::with_capacity(self.0.len() + 4);
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(&self.0);
        out
    }
}

/// A received packet being read (without its length prefix); every read fails rather than
/// run past its end.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.bytes.len() < n {
            return Err(format!("a packet ends early: {n} byte(s) wanted, {} left", self.bytes.len()));
        }
        let (taken, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(taken)
    }

    pub fn int(&mut self) -> Result<i32, String> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn long(&mut self) -> Result<i64, String> {
        let b = self.take(8)?;
        Ok(i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }

    pub fn boolean(&mut self) -> Result<bool, String> {
        Ok(self.take(1)?[0] != 0)
    }

    /// A buffer: None when null (length -1; any negative length reads as null, as jute does).
    pub fn buffer(&mut self) -> Result<Option<&'a [u8]>, String> {
        match usize::try_from(self.int()?) {
            Ok(length) => Ok(Some(self.take(length)?)),
            Err(_) => Ok(None),
        }
    }

    /// A string (null reads as empty).
    pub fn string(&mut self) -> Result<String, String> {
        let bytes = self.buffer()?.unwrap_or_default();
        String::from_utf8(bytes.to_vec()).map_err(|_| "a string is not UTF-8".to_string())
    }

    /// A vector of strings (null reads as empty). A count that the packet cannot hold is an
    /// error before anything is allocated for it.
    pub fn strings(&mut self) -> Result<Vec<String>, String> {
        let Ok(count) = usize::try_from(self.int()?) else { return Ok(Vec::new()) };
        if count > self.bytes.len() / 4 {
            return Err(format!("a vector of {count} strings cannot fit the {} byte(s) left", self.bytes.len()));
        }
        (0..count).map(|_| self.string()).collect()
    }

    pub fn skip(&mut self, n: usize) -> Result<(), String> {
        self.take(n).map(|_| ())
    }
}

/// `ConnectRequest` (protocol version 0, the last zxid seen, the session timeout in ms, the
/// session id and its password: 0 and zeros for a new session).
pub fn connect_request(timeout_ms: i32) -> Vec<u8> {
    Writer::default().int(0).long(0).int(timeout_ms).long(0).bytes(&NEW_SESSION_PASSWORD).framed()
}

/// What `ConnectResponse` says: the negotiated session timeout (0 or less: the session
/// expired) and the session id. A trailing read-only flag (servers since 3.4) is not read.
pub fn connect_response(packet: &[u8]) -> Result<(i32, i64), String> {
    let mut r = Reader::new(packet);
    let _protocol_version = r.int()?;
    let timeout_ms = r.int()?;
    let session_id = r.long()?;
    let _password = r.buffer()?;
    Ok((timeout_ms, session_id))
}

/// A request: `RequestHeader` (xid, type), then for getData and getChildren2 the path and
/// whether to leave a watch.
pub fn path_request(xid: i32, op: i32, path: &str, watch: bool) -> Vec<u8> {
    Writer::default().int(xid).int(op).bytes(path.as_bytes()).boolean(watch).framed()
}

/// A ping: its header alone, with the xid kept for pings.
pub fn ping() -> Vec<u8> {
    Writer::default().int(XID_PING).int(OP_PING).framed()
}

/// `ReplyHeader`: xid, zxid, err.
pub fn reply_header(r: &mut Reader<'_>) -> Result<(i32, i64, i32), String> {
    Ok((r.int()?, r.long()?, r.int()?))
}

/// `WatcherEvent` (after the reply header of xid -1): type, state, path.
pub fn watcher_event(r: &mut Reader<'_>) -> Result<(i32, i32, String), String> {
    Ok((r.int()?, r.int()?, r.string()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_are_written_big_endian_with_their_length_first() {
        let connect = connect_request(10_000);
        // length 44 = int + long + int + long + (int + 16 bytes).
        assert_eq!(&connect[..4], &[0, 0, 0, 44]);
        assert_eq!(&connect[4..8], &[0, 0, 0, 0], "protocol version 0");
        assert_eq!(&connect[16..20], &10_000i32.to_be_bytes(), "the timeout after the last zxid");
        assert_eq!(&connect[28..32], &[0, 0, 0, 16], "a 16-byte password");
        assert_eq!(connect.len(), 48);
        let request = path_request(7, OP_GET_CHILDREN2, "/a", true);
        assert_eq!(request, [0, 0, 0, 15, 0, 0, 0, 7, 0, 0, 0, 12, 0, 0, 0, 2, b'/', b'a', 1]);
        assert_eq!(ping(), [0, 0, 0, 8, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11]);
        assert_eq!(STAT_BYTES, 68);
    }

    #[test]
    fn packets_are_read_without_running_past_their_end() {
        let packet = Writer::default().int(0).int(4000).long(0x0102).bytes(&[9; 16]).boolean(false).0;
        assert_eq!(connect_response(&packet), Ok((4000, 0x0102)));
        let children = Writer::default().int(2).bytes(b"m1").int(-1).0;
        assert_eq!(Reader::new(&children).strings(), Ok(vec!["m1".to_string(), String::new()]));
        let null = Writer::default().int(-1).0;
        assert_eq!(Reader::new(&null).buffer(), Ok(None));
        assert!(Reader::new(&Writer::default().int(1 << 30).0).strings().is_err(), "a count the packet cannot hold");
        assert!(Reader::new(&[0, 0, 0, 5, b'a', b'b']).buffer().is_err(), "a buffer longer than the packet");
        assert!(Reader::new(&[0, 0, 1]).int().is_err());
    }
}
