//! A fake HTTP API on loopback for the discoveries' unit tests: each request read (method,
//! path, headers, body) is recorded and answered by the test's function, with a status, a
//! body and, if it likes, headers of its own; and `run`, a glommio executor for a test.
//! Test-only.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};

/// A request it saw: method, path, headers (names lowercased), body.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// An answer with headers: status, extra header lines (name, value), body.
pub type Answer = (u16, Vec<(&'static str, String)>, String);

/// Serves `answer` (status and body for each request) on loopback; returns the base URL
/// and what it saw.
pub fn serve(answer: fn(&Seen) -> (u16, String)) -> (String, Arc<Mutex<Vec<Seen>>>) {
    serve_with_headers(move |request| {
        let (status, body) = answer(request);
        (status, Vec::new(), body)
    })
}

/// `serve` with answers that carry headers of their own (a token header, a content type).
pub fn serve_with_headers(answer: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let answer = Arc::new(answer);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (record, answer) = (record.clone(), answer.clone());
            std::thread::spawn(move || {
                let Ok(reader) = stream.try_clone() else { return };
                let (mut reader, mut stream) = (BufReader::new(reader), stream);
                loop {
                    let mut first = String::new();
                    if reader.read_line(&mut first).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut headers = Vec::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = line.trim_end().split_once(':') {
                            headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
                        }
                    }
                    let length = headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let mut parts = first.split(' ');
                    let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
                    let request = Seen { method, path, headers, body: String::from_utf8_lossy(&body).into_owned() };
                    let (status, extra, body) = answer(&request);
                    record.lock().map(|mut r| r.push(request)).ok();
                    let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
                    for (name, value) in extra {
                        head.push_str(&format!("{name}: {value}\r\n"));
                    }
                    if stream.write_all(format!("{head}\r\n{body}").as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (base, seen)
}

/// Runs `test` on a glommio executor of its own.
pub fn run<T>(test: impl std::future::Future<Output = T>) -> T {
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound).io_memory(1 << 20).make().expect("executor").run(test)
}
