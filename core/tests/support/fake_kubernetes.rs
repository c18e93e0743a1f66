//! A Kubernetes API server on 127.0.0.1: lists and watches of the objects it is given, their
//! changes streamed to the watches as events (for kubernetes_sd).

use std::io::{BufReader, Write};
use std::sync::mpsc;

use super::read_request_head;

/// A Kubernetes API server on a loopback port for kubernetes_sd tests: lists the objects it
/// holds (`GET <collection>?limit=…`, in pages of `set_page_size` objects with `continue`
/// tokens) and streams watch events (`GET <collection>?watch=1&…`, chunked JSON lines) for
/// what `apply` changes after the watch opened; `end_watches` ends the open watches as a
/// server's timeout does, `expire_watches` with a `410 Gone` error event; a `forbid`den
/// collection answers 403. Collections are paths such as `/api/v1/pods` or
/// `/api/v1/namespaces/a/pods`. It records each request's head. Its threads end with the
/// test process.
pub struct FakeKubernetes {
    pub port: u16,
    state: std::sync::Arc<std::sync::Mutex<FakeKubernetesState>>,
}

#[derive(Default)]
struct FakeKubernetesState {
    version: u64,
    /// Collection path → "namespace/name" → object.
    objects: std::collections::HashMap<String, std::collections::BTreeMap<String, serde_json::Value>>,
    /// Open watches: collection path and the sender of their event lines (None: expire).
    watches: Vec<(String, mpsc::Sender<Option<String>>)>,
    heads: Vec<String>,
    /// Objects per list page (0: all in one).
    page_size: usize,
    forbidden: std::collections::HashSet<String>,
    /// Collections whose watches end at once, without an event.
    short_watches: std::collections::HashSet<String>,
}

impl FakeKubernetes {
    pub fn start() -> FakeKubernetes {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fake Kubernetes");
        let port = listener.local_addr().expect("fake Kubernetes address").port();
        let state: std::sync::Arc<std::sync::Mutex<FakeKubernetesState>> = std::sync::Arc::default();
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = shared.clone();
                std::thread::spawn(move || fake_kubernetes_connection(stream, &state));
            }
        });
        FakeKubernetes { port, state }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Adds, changes (`ADDED`, `MODIFIED`) or removes (`DELETED`) `object` in `collection`,
    /// giving it the next resource version and telling the open watches.
    pub fn apply(&self, collection: &str, event: &str, object: serde_json::Value) {
        self.change(collection, event, object, true);
    }

    /// As `apply`, without telling the open watches: only a new list sees the change.
    pub fn apply_unwatched(&self, collection: &str, event: &str, object: serde_json::Value) {
        self.change(collection, event, object, false);
    }

    fn change(&self, collection: &str, event: &str, mut object: serde_json::Value, tell: bool) {
        let Ok(mut state) = self.state.lock() else { return };
        state.version += 1;
        object["metadata"]["resourceVersion"] = serde_json::Value::String(state.version.to_string());
        let key = format!("{}/{}", object["metadata"]["namespace"].as_str().unwrap_or(""), object["metadata"]["name"].as_str().unwrap_or(""));
        let objects = state.objects.entry(collection.to_string()).or_default();
        if event == "DELETED" {
            objects.remove(&key);
        } else {
            objects.insert(key, object.clone());
        }
        if !tell {
            return;
        }
        let line = serde_json::json!({"type": event, "object": object}).to_string();
        state.watches.retain(|(path, sender)| path != collection || sender.send(Some(line.clone())).is_ok());
    }

    /// Ends every open watch with a `410 Gone` error event (the client must list again).
    pub fn expire_watches(&self) {
        if let Ok(mut state) = self.state.lock() {
            for (_, sender) in state.watches.drain(..) {
                let _ = sender.send(None);
            }
        }
    }

    /// Ends every open watch normally (the client opens another from its last version).
    pub fn end_watches(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.watches.clear();
        }
    }

    pub fn set_page_size(&self, objects: usize) {
        if let Ok(mut state) = self.state.lock() {
            state.page_size = objects;
        }
    }

    /// Watches of `collection` end as soon as they open, without an event (a proxy that does
    /// not hold them open).
    pub fn end_watches_at_once(&self, collection: &str) {
        if let Ok(mut state) = self.state.lock() {
            state.short_watches.insert(collection.to_string());
        }
    }

    /// Lists and watches of `collection` are answered 403 Forbidden.
    pub fn forbid(&self, collection: &str) {
        if let Ok(mut state) = self.state.lock() {
            state.forbidden.insert(collection.to_string());
        }
    }

    /// How many watches are open now.
    pub fn open_watches(&self) -> usize {
        self.state.lock().map(|s| s.watches.len()).unwrap_or(0)
    }

    /// The heads of the requests seen so far.
    pub fn request_heads(&self) -> Vec<String> {
        self.state.lock().map(|s| s.heads.clone()).unwrap_or_default()
    }
}

/// Serves one connection of `FakeKubernetes` (requests one after another).
fn fake_kubernetes_connection(stream: std::net::TcpStream, state: &std::sync::Mutex<FakeKubernetesState>) {
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut stream = stream;
    while let Some(head) = read_request_head(&mut reader) {
        let target = head.split(' ').nth(1).unwrap_or("").to_string();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let (path, watch) = (path.to_string(), query.split('&').any(|p| p == "watch=1"));
        let offset: usize = query.split('&').find_map(|p| p.strip_prefix("continue=")).and_then(|c| c.parse().ok()).unwrap_or(0);
        let (sender, events) = mpsc::channel();
        let list = {
            let Ok(mut state) = state.lock() else { return };
            state.heads.push(head);
            if state.forbidden.contains(&path) {
                Some((403, serde_json::json!({"kind": "Status", "status": "Failure", "message": format!("forbidden: cannot list {path}"), "reason": "Forbidden", "code": 403}).to_string()))
            } else if watch && state.short_watches.contains(&path) {
                Some((200, String::new()))
            } else if watch {
                state.watches.push((path.clone(), sender));
                None
            } else {
                let items: Vec<serde_json::Value> = state.objects.get(&path).map(|o| o.values().cloned().collect()).unwrap_or_default();
                let size = if state.page_size == 0 { items.len().max(1) } else { state.page_size };
                let page: Vec<serde_json::Value> = items.iter().skip(offset).take(size).cloned().collect();
                let next = if offset + size < items.len() { (offset + size).to_string() } else { String::new() };
                Some((200, serde_json::json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": state.version.to_string(), "continue": next}, "items": page}).to_string()))
            }
        };
        if let Some((status, body)) = list {
            let answer = format!("HTTP/1.1 {status} Answer\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            if stream.write_all(answer.as_bytes()).is_err() {
                return;
            }
            continue;
        }
        if stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").is_err() {
            return;
        }
        // Events until the watch is expired (or the client goes); a watch is not reused.
        while let Ok(event) = events.recv() {
            let line = match event {
                Some(line) => line,
                None => serde_json::json!({"type": "ERROR", "object": {"kind": "Status", "status": "Failure", "message": "too old resource version", "reason": "Expired", "code": 410}}).to_string(),
            };
            let chunk = format!("{:x}\r\n{line}\n\r\n", line.len() + 1);
            if stream.write_all(chunk.as_bytes()).is_err() {
                return;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n");
    }
}
