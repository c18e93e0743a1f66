//! A fake ZooKeeper server for the tests, on 127.0.0.1 with a thread per connection: the
//! handshake, getData and getChildren2 with one-shot watches, pings, and the notifications a
//! real server sends when a node is created, changed or deleted. It can go away (every
//! connection closed, new ones closed at once) and counts what it was asked.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use super::jute::{self, Reader, Writer};

/// What the fake holds and has seen.
#[derive(Default)]
struct State {
    /// Every node and its data (an empty path list makes no node).
    nodes: BTreeMap<String, Vec<u8>>,
    connections: Vec<Connection>,
    /// Gone away: connections are closed as they come.
    refusing: bool,
    accepted: usize,
    pings: usize,
    /// Each handshake's (protocol version, last zxid, timeout, session id, password).
    handshakes: Vec<(i32, i64, i32, i64, Vec<u8>)>,
    /// Each request's (op, path, watch).
    requests: Vec<(i32, String, bool)>,
    zxid: i64,
}

struct Connection {
    writer: TcpStream,
    data_watches: BTreeSet<String>,
    child_watches: BTreeSet<String>,
}

/// A running fake; `address` is its `host:port`.
#[derive(Clone)]
pub struct Fake {
    pub address: String,
    state: Arc<Mutex<State>>,
}

/// ZooKeeper's event types (`Watcher.Event.EventType`).
const NODE_CREATED: i32 = 1;
const NODE_DELETED: i32 = 2;
const NODE_DATA_CHANGED: i32 = 3;
const NODE_CHILDREN_CHANGED: i32 = 4;
/// `KeeperState.SyncConnected`.
const SYNC_CONNECTED: i32 = 3;

impl Fake {
    /// Starts a fake holding `nodes` (path, data), which grants sessions of
    /// `negotiated_timeout_ms`.
    pub fn start(nodes: &[(&str, &str)], negotiated_timeout_ms: i32) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        let state = Arc::new(Mutex::new(State { nodes: nodes.iter().map(|(p, d)| (p.to_string(), d.as_bytes().to_vec())).collect(), ..State::default() }));
        let fake = Fake { address, state };
        let accepting = fake.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let mut state = accepting.state.lock().expect("state");
                state.accepted += 1;
                if state.refusing {
                    continue;
                }
                let serving = accepting.clone();
                std::thread::spawn(move || serving.serve(stream, negotiated_timeout_ms));
            }
        });
        fake
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("state")
    }

    pub fn accepted(&self) -> usize {
        self.lock().accepted
    }

    pub fn pings(&self) -> usize {
        self.lock().pings
    }

    pub fn handshakes(&self) -> Vec<(i32, i64, i32, i64, Vec<u8>)> {
        self.lock().handshakes.clone()
    }

    pub fn requests(&self) -> Vec<(i32, String, bool)> {
        self.lock().requests.clone()
    }

    /// Creates or changes a node, notifying as a server does: for a new one its parent's
    /// children watchers, for a changed one its data watchers.
    pub fn set(&self, path: &str, data: &str) {
        let mut state = self.lock();
        let created = state.nodes.insert(path.to_string(), data.as_bytes().to_vec()).is_none();
        if created {
            state.notify(&parent(path), NODE_CHILDREN_CHANGED, false);
            state.notify(path, NODE_CREATED, true);
        } else {
            state.notify(path, NODE_DATA_CHANGED, true);
        }
    }

    /// Creates a node without a word to anyone (a watch that was never left).
    pub fn set_quietly(&self, path: &str, data: &str) {
        self.lock().nodes.insert(path.to_string(), data.as_bytes().to_vec());
    }

    /// Deletes a node, notifying its watchers and its parent's children watchers.
    pub fn remove(&self, path: &str) {
        let mut state = self.lock();
        state.nodes.remove(path);
        state.notify(path, NODE_DELETED, true);
        state.notify(path, NODE_DELETED, false);
        state.notify(&parent(path), NODE_CHILDREN_CHANGED, false);
    }

    /// Goes away: every connection is closed, and every new one at once.
    pub fn go_away(&self) {
        let mut state = self.lock();
        state.refusing = true;
        for connection in state.connections.drain(..) {
            let _ = connection.writer.shutdown(Shutdown::Both);
        }
    }

    /// One connection: the handshake, then requests until it closes.
    fn serve(&self, mut stream: TcpStream, negotiated_timeout_ms: i32) {
        let Some(packet) = read_packet(&mut stream) else { return };
        let mut r = Reader::new(&packet);
        let handshake = (r.int().expect("version"), r.long().expect("zxid"), r.int().expect("timeout"), r.long().expect("session"), r.buffer().expect("password").unwrap_or_default().to_vec());
        let index = {
            let mut state = self.lock();
            state.handshakes.push(handshake);
            let session_id = state.handshakes.len() as i64;
            // The answer, with the read-only flag servers since 3.4 add.
            let answer = Writer::default().int(0).int(negotiated_timeout_ms).long(session_id).bytes(&[7; 16]).boolean(false).framed();
            let Ok(writer) = stream.try_clone() else { return };
            state.connections.push(Connection { writer, data_watches: BTreeSet::new(), child_watches: BTreeSet::new() });
            let index = state.connections.len() - 1;
            state.write(index, &answer);
            index
        };
        while let Some(packet) = read_packet(&mut stream) {
            let mut r = Reader::new(&packet);
            let (xid, op) = (r.int().expect("xid"), r.int().expect("op"));
            let mut state = self.lock();
            if state.refusing {
                return;
            }
            state.zxid += 1;
            let header = |error: i32| Writer::default().int(xid).long(0x100).int(error);
            let answer = match op {
                jute::OP_PING => {
                    state.pings += 1;
                    header(0)
                }
                jute::OP_GET_DATA | jute::OP_GET_CHILDREN2 => {
                    let path = r.string().expect("path");
                    let watch = r.boolean().expect("watch");
                    state.requests.push((op, path.clone(), watch));
                    match state.nodes.get(&path).cloned() {
                        None => header(jute::ERR_NO_NODE),
                        Some(data) => {
                            let children = state.children(&path);
                            if let Some(connection) = state.connections.get_mut(index).filter(|_| watch) {
                                let watches = if op == jute::OP_GET_DATA { &mut connection.data_watches } else { &mut connection.child_watches };
                                watches.insert(path.clone());
                            }
                            let body = if op == jute::OP_GET_DATA {
                                header(0).bytes(&data)
                            } else {
                                children.iter().fold(header(0).int(children.len() as i32), |w, child| w.bytes(child.as_bytes()))
                            };
                            // A Stat: only its child count is not zero.
                            body.long(1).long(2).long(3).long(4).int(0).int(0).int(0).long(0).int(data.len() as i32).int(children.len() as i32).long(5)
                        }
                    }
                }
                _ => header(-6),
            };
            state.write(index, &answer.framed());
        }
    }
}

impl State {
    /// Writes a packet to connection `index` (under the lock, so packets never interleave).
    fn write(&mut self, index: usize, packet: &[u8]) {
        if let Some(connection) = self.connections.get_mut(index) {
            let _ = connection.writer.write_all(packet);
        }
    }

    /// The names of `path`'s children.
    fn children(&self, path: &str) -> Vec<String> {
        self.nodes.keys().filter(|k| k.as_str() != path && parent(k) == path).filter_map(|k| k.rsplit('/').next().map(str::to_string)).collect()
    }

    /// Sends event `kind` about `path` to every connection with a data (or children) watch
    /// on it, which the event uses up.
    fn notify(&mut self, path: &str, kind: i32, data: bool) {
        let zxid = self.zxid;
        let event = Writer::default().int(jute::XID_NOTIFICATION).long(zxid).int(0).int(kind).int(SYNC_CONNECTED).bytes(path.as_bytes()).framed();
        for connection in &mut self.connections {
            let watches = if data { &mut connection.data_watches } else { &mut connection.child_watches };
            if watches.remove(path) {
                let _ = connection.writer.write_all(&event);
            }
        }
    }
}

/// A path's parent ("/" for a top node).
fn parent(path: &str) -> String {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/".to_string(),
        Some((parent, _)) => parent.to_string(),
    }
}

/// One length-prefixed packet; None when the connection ends.
fn read_packet(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix).ok()?;
    let mut packet = vec![0u8; u32::from_be_bytes(prefix) as usize];
    stream.read_exact(&mut packet).ok()?;
    Some(packet)
}
