//! One ZooKeeper session over TCP on glommio: the handshake, requests answered in order
//! (getData and getChildren2, each leaving a watch), a ping whenever a third of the
//! negotiated session timeout passes without a request, and watch notifications noted so
//! that the caller reads the tree again. A new session is opened for each connection (a
//! reading client has no ephemeral nodes to keep).

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;

use super::jute::{self, Reader};

/// The largest packet read: ZooKeeper's default `jute.maxbuffer` is 1 MiB, which a server
/// may raise for directories with many children.
pub const FRAME_BYTES_MAX: usize = 16 << 20;
/// The most bytes one read takes from the socket.
const READ_CHUNK_BYTES: usize = 64 << 10;

/// What `wait` saw.
#[derive(Debug, PartialEq, Eq)]
pub enum Waited {
    /// A watch fired: something under a watched path changed.
    Changed,
    /// `until` came with no notification.
    Quiet,
}

/// An open session.
pub struct Session {
    stream: TcpStream,
    /// Bytes received and not yet taken as packets.
    inbox: Vec<u8>,
    /// Where each read lands before it joins the inbox.
    chunk: Box<[u8]>,
    /// The next request's xid (positive, counting up).
    xid: i32,
    /// How long the server may stay silent before the connection is taken for dead: two
    /// thirds of the session timeout (as go-zookeeper), so pings at a third of it are
    /// answered in time on a live server.
    receive_timeout: Duration,
    ping_interval: Duration,
    last_sent: Instant,
    last_received: Instant,
    /// A notification came since `wait` last said so.
    changed: bool,
    /// The session timeout the server granted, in ms.
    pub negotiated_timeout_ms: i32,
}

impl Session {
    /// Connects to `server` (`host:port`) and opens a session asking for `timeout` (the
    /// handshake bounded by it too).
    pub async fn open(server: &str, timeout: Duration) -> Result<Session, String> {
        let started = Instant::now();
        let deadline = started.checked_add(timeout).ok_or("timeout too long")?;
        let stream = connect(server, deadline).await?;
        let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        let mut session = Session {
            stream,
            inbox: Vec::new(),
            chunk: vec![0; READ_CHUNK_BYTES].into_boxed_slice(),
            xid: 0,
            receive_timeout: timeout,
            ping_interval: timeout / 3,
            last_sent: started,
            last_received: started,
            changed: false,
            negotiated_timeout_ms: 0,
        };
        session.send(&jute::connect_request(timeout_ms)).await?;
        let Some(packet) = session.packet_before(deadline).await? else {
            return Err(format!("no answer to the connect request within {timeout:?}"));
        };
        let (negotiated_ms, _session_id) = jute::connect_response(&packet)?;
        // A server that cannot renew the session answers a timeout of 0 (go-zookeeper's
        // words for it).
        let negotiated = u64::try_from(negotiated_ms).ok().filter(|&ms| ms > 0).ok_or("zk: session has been expired by the server")?;
        session.negotiated_timeout_ms = negotiated_ms;
        session.receive_timeout = Duration::from_millis(negotiated * 2 / 3).max(Duration::from_millis(1));
        session.ping_interval = (session.receive_timeout / 2).max(Duration::from_millis(1));
        Ok(session)
    }

    /// The node's data (null data as empty), leaving a watch; None when there is no node.
    pub async fn get_data(&mut self, path: &str, watch: bool) -> Result<Option<Vec<u8>>, String> {
        let Some(answer) = self.call(jute::OP_GET_DATA, path, watch).await? else { return Ok(None) };
        let mut r = Reader::new(&answer);
        let data = r.buffer()?.unwrap_or_default().to_vec();
        r.skip(jute::STAT_BYTES)?;
        Ok(Some(data))
    }

    /// The node's children's names, leaving a watch; None when there is no node.
    pub async fn get_children(&mut self, path: &str, watch: bool) -> Result<Option<Vec<String>>, String> {
        let Some(answer) = self.call(jute::OP_GET_CHILDREN2, path, watch).await? else { return Ok(None) };
        let mut r = Reader::new(&answer);
        let children = r.strings()?;
        r.skip(jute::STAT_BYTES)?;
        Ok(Some(children))
    }

    /// Waits for a watch notification (one that came during the last requests counts),
    /// pinging meanwhile, until `until` (None: for ever). An error when the server goes
    /// silent for longer than the receive timeout or the connection fails.
    pub async fn wait(&mut self, until: Option<Instant>) -> Result<Waited, String> {
        loop {
            if std::mem::take(&mut self.changed) {
                return Ok(Waited::Changed);
            }
            let now = Instant::now();
            if until.is_some_and(|until| now >= until) {
                return Ok(Waited::Quiet);
            }
            if now >= self.last_sent + self.ping_interval {
                self.send(&jute::ping()).await?;
            }
            let silent_until = self.last_received + self.receive_timeout;
            if now >= silent_until {
                return Err(format!("no answer from the server within {:?}", self.receive_timeout));
            }
            let mut deadline = silent_until.min(self.last_sent + self.ping_interval);
            if let Some(until) = until {
                deadline = deadline.min(until);
            }
            if let Some(packet) = self.packet_before(deadline).await? {
                self.take_unasked(&packet)?;
            }
        }
    }

    /// Sends a request about `path` and reads packets until its answer: the answer's body
    /// after the reply header, None for a node that does not exist, an error for any other
    /// error code.
    async fn call(&mut self, op: i32, path: &str, watch: bool) -> Result<Option<Vec<u8>>, String> {
        if path.len() > FRAME_BYTES_MAX / 2 {
            return Err("a path over the packet limit".to_string());
        }
        self.xid = self.xid.checked_add(1).unwrap_or(1);
        let xid = self.xid;
        self.send(&jute::path_request(xid, op, path, watch)).await?;
        loop {
            let deadline = self.last_received.max(self.last_sent) + self.receive_timeout;
            let Some(packet) = self.packet_before(deadline).await? else {
                return Err(format!("no answer from the server within {:?}", self.receive_timeout));
            };
            let mut r = Reader::new(&packet);
            let (answered, _zxid, error) = jute::reply_header(&mut r)?;
            if answered != xid {
                self.take_unasked(&packet)?;
                continue;
            }
            return match error {
                0 => Ok(Some(packet.get(16..).unwrap_or_default().to_vec())),
                jute::ERR_NO_NODE => Ok(None),
                code => Err(format!("{} {path}: {}", if op == jute::OP_GET_DATA { "getData" } else { "getChildren" }, error_name(code))),
            };
        }
    }

    /// Takes a packet the server sent on its own: a notification (noted) or a ping's answer.
    fn take_unasked(&mut self, packet: &[u8]) -> Result<(), String> {
        let mut r = Reader::new(packet);
        match jute::reply_header(&mut r)? {
            (jute::XID_NOTIFICATION, _, _) => {
                let (kind, _state, path) = jute::watcher_event(&mut r)?;
                tracing::debug!(kind, path, "zookeeper watch fired");
                self.changed = true;
                Ok(())
            }
            (jute::XID_PING, _, _) => Ok(()),
            (xid, _, _) => Err(format!("an answer to request {xid}, which is not waiting")),
        }
    }

    async fn send(&mut self, packet: &[u8]) -> Result<(), String> {
        self.stream.set_write_timeout(Some(self.receive_timeout)).map_err(|e| format!("setting the write timeout: {e}"))?;
        self.stream.write_all(packet).await.map_err(|e| format!("writing to the server: {e}"))?;
        self.last_sent = Instant::now();
        Ok(())
    }

    /// The next packet, read before `deadline`; None when none came in time.
    async fn packet_before(&mut self, deadline: Instant) -> Result<Option<Vec<u8>>, String> {
        loop {
            if let Some(packet) = self.take_packet()? {
                return Ok(Some(packet));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.stream.set_read_timeout(Some(left)).map_err(|e| format!("setting the read timeout: {e}"))?;
            match self.stream.read(&mut self.chunk).await {
                Ok(0) => return Err("the server closed the connection".to_string()),
                Ok(n) => {
                    self.inbox.extend_from_slice(self.chunk.get(..n).unwrap_or_default());
                    self.last_received = Instant::now();
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => return Err(format!("reading from the server: {e}")),
            }
        }
    }

    /// A whole packet from the inbox, if one is there.
    fn take_packet(&mut self) -> Result<Option<Vec<u8>>, String> {
        let Some(prefix) = self.inbox.get(..4) else { return Ok(None) };
        let length = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        if length > FRAME_BYTES_MAX {
            return Err(format!("a packet of {length} bytes is over the limit of {FRAME_BYTES_MAX}"));
        }
        let Some(packet) = self.inbox.get(4..4 + length) else { return Ok(None) };
        let packet = packet.to_vec();
        self.inbox.drain(..4 + length);
        Ok(Some(packet))
    }
}

/// Resolves `server` (`host:port`) and connects to its addresses in turn before `deadline`.
async fn connect(server: &str, deadline: Instant) -> Result<TcpStream, String> {
    let name = server.to_string();
    let addrs: Vec<SocketAddr> = glommio::executor().spawn_blocking(move || name.to_socket_addrs().map(|a| a.collect())).await.map_err(|e| format!("cannot resolve {server}: {e}"))?;
    let mut failures = Vec::new();
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            failures.push(format!("{addr}: no time left"));
            break;
        }
        match TcpStream::connect_timeout(addr, left).await {
            Ok(stream) => {
                // Requests are small and must not wait for more to send.
                stream.set_nodelay(true).map_err(|e| format!("setting TCP_NODELAY: {e}"))?;
                return Ok(stream);
            }
            Err(e) => failures.push(format!("{addr}: {e}")),
        }
    }
    if failures.is_empty() {
        return Err(format!("cannot resolve {server}: no addresses found"));
    }
    Err(format!("cannot connect to {server}: {}", failures.join("; ")))
}

/// go-zookeeper's words for an error code a read may meet.
fn error_name(code: i32) -> String {
    match code {
        -102 => "zk: not authenticated".to_string(),
        -112 => "zk: session has been expired by the server".to_string(),
        -114 => "zk: client authentication failed".to_string(),
        code => format!("zk: unknown error ({code})"),
    }
}
