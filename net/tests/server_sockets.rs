//! The HTTP/1.1 server over real sockets: keep-alive, pipelining, chunked bodies, limits,
//! slow clients and shutdown draining, and streamed request bodies (no size limit, failures
//! handed to the handler, keep-alive after them). A glommio executor serves an echo handler on
//! 127.0.0.1:0; std sockets play the client.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;

use bytes::Bytes;
use net::{Handler, RequestBody, ResponseFuture, ServerLimits};

/// Echoes the request; `/echo` returns the body, `/slow/<ms>` reports that it started (on
/// `started`) and answers after that many milliseconds. `/streamed` takes its body streamed
/// and answers `streamed <bytes> <sum of bytes>`, or 400 with the body's failure (also sent
/// on `body_errors`).
struct Echo {
    started: Option<mpsc::Sender<()>>,
    body_errors: Option<mpsc::Sender<String>>,
}

impl Handler for Echo {
    fn handle(self: Rc<Self>, request: http::Request<Bytes>) -> ResponseFuture {
        Box::pin(async move {
            if let Some(ms) = request.uri().path().strip_prefix("/slow/") {
                if let Some(started) = &self.started {
                    let _ = started.send(());
                }
                glommio::timer::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
            }
            let text = format!("{} {} {}", request.method(), request.uri(), request.body().len());
            let body = if request.uri().path() == "/echo" { request.body().clone() } else { Bytes::from(text) };
            http::Response::new(body)
        })
    }

    fn wants_streamed_body(&self, request: &http::request::Parts) -> bool {
        matches!(request.uri.path(), "/streamed" | "/streamed-refused")
    }

    fn refuse_before_body(&self, request: &http::request::Parts, _peer: &net::PeerInfo) -> Option<http::Response<Bytes>> {
        (request.uri.path() == "/forbidden").then(|| {
            let mut response = http::Response::new(Bytes::from_static(b"not you"));
            *response.status_mut() = http::StatusCode::FORBIDDEN;
            response
        })
    }

    fn handle_streamed(self: Rc<Self>, request: http::Request<RequestBody>) -> ResponseFuture {
        Box::pin(async move {
            if request.uri().path() == "/streamed-refused" {
                // Answers without reading the body (as for an unsupported encoding).
                let mut response = http::Response::new(Bytes::from_static(b"refused"));
                *response.status_mut() = http::StatusCode::UNSUPPORTED_MEDIA_TYPE;
                return response;
            }
            let read = common::length_and_sum(request.into_body()).await;
            if let (Err(error), Some(errors)) = (&read, &self.body_errors) {
                let _ = errors.send(error.to_string());
            }
            common::streamed_answer(&read)
        })
    }
}

struct TestServer {
    addr: SocketAddr,
    shutdown: Option<async_channel::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    fn start(limits: ServerLimits) -> TestServer {
        TestServer::start_reporting(limits, None)
    }

    fn start_reporting(limits: ServerLimits, started: Option<mpsc::Sender<()>>) -> TestServer {
        TestServer::start_with(limits, started, None)
    }

    fn start_with(limits: ServerLimits, started: Option<mpsc::Sender<()>>, body_errors: Option<mpsc::Sender<String>>) -> TestServer {
        let (addr_tx, addr_rx) = mpsc::channel();
        let (shutdown_tx, shutdown_rx) = async_channel::bounded::<()>(1);
        let thread = common::serve_on_thread(move || Echo { started, body_errors }, limits, shutdown_rx, None, addr_tx);
        let addr = addr_rx.recv_timeout(Duration::from_secs(30)).expect("server started");
        TestServer { addr, shutdown: Some(shutdown_tx), thread: Some(thread) }
    }

    fn stop(&mut self) {
        self.shutdown.take();
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    s
}

/// Reads until `count` complete responses (by content-length) or EOF.
fn read_responses(stream: &mut TcpStream, count: usize) -> Vec<String> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let mut responses = Vec::new();
    loop {
        while let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            if data.len() < end + 4 + length {
                break;
            }
            let body = String::from_utf8_lossy(&data[end + 4..end + 4 + length]).to_string();
            responses.push(format!("{head}\r\n\r\n{body}"));
            data.drain(..end + 4 + length);
        }
        if responses.len() >= count {
            return responses;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return responses,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn keep_alive_pipelining_and_chunked() {
    let mut server = TestServer::start(ServerLimits::default());
    let mut s = connect(server.addr);
    s.write_all(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let r = read_responses(&mut s, 1);
    assert!(r[0].starts_with("HTTP/1.1 200 OK") && r[0].ends_with("GET /a 0"), "{r:?}");
    // Same connection, two pipelined requests, the second chunked.
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcPOST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n1;e=1\r\nz\r\n0\r\n\r\n")
        .unwrap();
    let r = read_responses(&mut s, 2);
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(r[0].ends_with("\r\n\r\nabc"), "{r:?}");
    assert!(r[1].ends_with("\r\n\r\nxyz"), "{r:?}");
    // Expect: 100-continue gets an interim response first.
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n").unwrap();
    let mut interim = [0u8; 25];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"ok").unwrap();
    assert!(read_responses(&mut s, 1)[0].ends_with("ok"));
    // A request the handler refuses before its body: the final answer comes instead of
    // 100 Continue, and the connection closes (its body was never read).
    let mut refused = connect(server.addr);
    refused.write_all(b"POST /forbidden HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n").unwrap();
    let r = read_responses(&mut refused, 2);
    assert_eq!(r.len(), 1, "one answer, then the server closes: {r:?}");
    assert!(r[0].starts_with("HTTP/1.1 403") && r[0].contains("connection: close") && r[0].ends_with("not you"), "{r:?}");
    // Without Expect the body is read and the handler answers as before.
    let mut plain = connect(server.addr);
    plain.write_all(b"POST /forbidden HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").unwrap();
    assert!(read_responses(&mut plain, 1)[0].starts_with("HTTP/1.1 200"));
    // Connection: close is honoured.
    s.write_all(b"GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let r = read_responses(&mut s, 2);
    assert_eq!(r.len(), 1);
    assert!(r[0].contains("connection: close"));
    server.stop();
}

#[test]
fn limits_and_malformed_input() {
    let limits = ServerLimits { body_bytes_max: 1000, head_bytes_max: 2048, ..ServerLimits::default() };
    let mut server = TestServer::start(limits);
    // `wanted` > responses expected: the read ends only because the server closes.
    let exchange = |request: &[u8], wanted: usize| {
        let mut s = connect(server.addr);
        s.write_all(request).unwrap();
        read_responses(&mut s, wanted)
    };
    let r = exchange(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n", 2);
    assert_eq!(r.len(), 1);
    assert!(r[0].starts_with("HTTP/1.1 413"), "{r:?}");
    let r = exchange(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n", 2);
    assert!(r[0].starts_with("HTTP/1.1 413"), "{r:?}");
    let mut big = b"GET / HTTP/1.1\r\nHost: x\r\nX: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 4096));
    let r = exchange(&big, 2);
    assert!(r[0].starts_with("HTTP/1.1 431"), "{r:?}");
    // A complete head over the limit that arrives in one read is refused as well.
    let mut big = b"GET / HTTP/1.1\r\nHost: x\r\nX: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 3000));
    big.extend_from_slice(b"\r\n\r\n");
    let r = exchange(&big, 2);
    assert!(r[0].starts_with("HTTP/1.1 431"), "{r:?}");
    let r = exchange(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", 2);
    assert_eq!(r.len(), 1, "closed after the error");
    assert!(r[0].starts_with("HTTP/1.1 400"), "{r:?}");
    let r = exchange(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\nffffffffffffffff\r\n", 2);
    assert!(r[0].starts_with("HTTP/1.1 413"), "{r:?}");
    let r = exchange(b"\x16\x03\x01\x02\x00garbage\r\n\r\n", 2);
    assert_eq!(r.len(), 1, "closed after the error");
    assert!(r[0].starts_with("HTTP/1.1 400"), "{r:?}");
    // Still serving.
    assert!(exchange(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n", 1)[0].starts_with("HTTP/1.1 200"));
    server.stop();
}

#[test]
fn slow_client_is_cut_by_the_header_timeout() {
    let limits = ServerLimits { header_read_timeout_ms: 300, ..ServerLimits::default() };
    let mut server = TestServer::start(limits);
    let mut s = connect(server.addr);
    let started = Instant::now();
    // Dribble header bytes but never finish the head.
    for part in [&b"GET / HT"[..], b"TP/1.1\r\n", b"X-Slow: 1\r\n"] {
        if s.write_all(part).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = read_responses(&mut s, 1);
    assert!(started.elapsed() < Duration::from_secs(5), "cut after {:?}", started.elapsed());
    assert!(r.first().is_some_and(|r| r.starts_with("HTTP/1.1 408")), "{r:?}");
    // A connection that sends nothing at all is closed too.
    let mut idle = connect(server.addr);
    let mut buf = [0u8; 16];
    assert_eq!(idle.read(&mut buf).unwrap_or(0), 0);
    server.stop();
}

#[test]
fn shutdown_closes_idle_connections_and_returns() {
    let mut server = TestServer::start(ServerLimits::default());
    let mut s = connect(server.addr);
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_responses(&mut s, 1).len(), 1);
    let started = Instant::now();
    server.stop();
    assert!(started.elapsed() < Duration::from_secs(5), "drain took {:?}", started.elapsed());
    let mut buf = [0u8; 16];
    assert_eq!(s.read(&mut buf).unwrap_or(0), 0, "idle keep-alive connection closed");
}

#[test]
fn slow_body_is_cut_by_the_body_timeout() {
    let limits = ServerLimits { body_read_timeout_ms: 300, ..ServerLimits::default() };
    let mut server = TestServer::start(limits);
    let mut s = connect(server.addr);
    let started = Instant::now();
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc").unwrap();
    let r = read_responses(&mut s, 2);
    assert!(started.elapsed() < Duration::from_secs(5), "cut after {:?}", started.elapsed());
    assert_eq!(r.len(), 1, "closed after the 408: {r:?}");
    assert!(r[0].starts_with("HTTP/1.1 408"), "{r:?}");
    server.stop();
}

#[test]
fn shutdown_lets_the_request_in_flight_finish() {
    let (started_tx, started_rx) = mpsc::channel();
    let mut server = TestServer::start_reporting(ServerLimits::default(), Some(started_tx));
    let mut s = connect(server.addr);
    s.write_all(b"GET /slow/300 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    started_rx.recv_timeout(Duration::from_secs(20)).expect("handler started");
    // Begin the shutdown while the handler is still working.
    server.shutdown.take();
    let r = read_responses(&mut s, 2);
    assert_eq!(r.len(), 1, "answered, then closed: {r:?}");
    assert!(r[0].starts_with("HTTP/1.1 200") && r[0].contains("connection: close"), "{r:?}");
    let started = Instant::now();
    server.stop();
    assert!(started.elapsed() < Duration::from_secs(5), "drain took {:?}", started.elapsed());
}

#[test]
fn shutdown_drain_has_a_deadline() {
    let (started_tx, started_rx) = mpsc::channel();
    let limits = ServerLimits { shutdown_drain_ms: 200, ..ServerLimits::default() };
    let mut server = TestServer::start_reporting(limits, Some(started_tx));
    let mut s = connect(server.addr);
    s.write_all(b"GET /slow/60000 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    started_rx.recv_timeout(Duration::from_secs(20)).expect("handler started");
    let started = Instant::now();
    server.stop();
    assert!(started.elapsed() < Duration::from_secs(5), "accept_loop returned after {:?}", started.elapsed());
}

#[test]
fn connections_over_the_cap_are_refused() {
    let limits = ServerLimits { connections_max: 1, ..ServerLimits::default() };
    let mut server = TestServer::start(limits);
    let mut first = connect(server.addr);
    first.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_responses(&mut first, 1).len(), 1);
    // The first connection is open and idle: a second one is closed without an answer.
    let mut second = connect(server.addr);
    let _ = second.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(read_responses(&mut second, 1).is_empty(), "refused over the cap");
    // Once the first one is gone, connections are served again (its task notices the close
    // asynchronously: retry until a deadline).
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut s = connect(server.addr);
        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        if read_responses(&mut s, 1).first().is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
            break;
        }
        assert!(Instant::now() < deadline, "never served again after the first connection closed");
    }
    server.stop();
}

#[test]
fn idle_keep_alive_connection_is_closed_without_an_answer() {
    let limits = ServerLimits { idle_timeout_ms: 300, ..ServerLimits::default() };
    let mut server = TestServer::start(limits);
    let mut s = connect(server.addr);
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_responses(&mut s, 1).len(), 1);
    let started = Instant::now();
    let mut buf = [0u8; 64];
    assert_eq!(s.read(&mut buf).unwrap_or(0), 0, "closed quietly, no 408");
    assert!(started.elapsed() < Duration::from_secs(5), "closed after {:?}", started.elapsed());
    server.stop();
}

/// A streamed body is not bound by the body limit, arrives whole (Content-Length, or chunked
/// with a trailer) and leaves the connection usable for the next request, pipelined or not;
/// a body over the limit on a path that is not streamed is still a 413.
#[test]
fn streamed_bodies_keep_the_connection_alive() {
    let mut server = TestServer::start(ServerLimits { body_bytes_max: 1000, ..ServerLimits::default() });
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let expected = format!("streamed {} {}", body.len(), body.iter().map(|b| *b as u64).sum::<u64>());
    let mut s = connect(server.addr);
    write!(s, "POST /streamed HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len()).unwrap();
    s.write_all(&body).unwrap();
    let r = read_responses(&mut s, 1);
    assert!(r[0].starts_with("HTTP/1.1 200") && r[0].ends_with(&expected), "{r:?}");
    let mut chunked = b"POST /streamed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for part in body.chunks(4096) {
        chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        chunked.extend_from_slice(part);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\nX-Trailer: t\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    s.write_all(&chunked).unwrap();
    let r = read_responses(&mut s, 2);
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(r[0].starts_with("HTTP/1.1 200") && r[0].ends_with(&expected), "{r:?}");
    assert!(r[1].ends_with("GET /after 0"), "{r:?}");
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n").unwrap();
    let r = read_responses(&mut s, 2);
    assert_eq!(r.len(), 1, "closed after the 413: {r:?}");
    assert!(r[0].starts_with("HTTP/1.1 413"), "{r:?}");
    server.stop();
}

/// A client that sends its whole body before reading the answer (as many HTTP clients do)
/// reads the answer given before the body's end, not a reset: the server reads the rest of a
/// body of several MiB, well past what socket buffers hold, before closing. Both early
/// answers: a streamed handler's, and a 413 for a declared length over the limit.
#[test]
fn an_answer_before_the_body_end_reaches_a_client_still_sending() {
    let mut server = TestServer::start(ServerLimits { body_bytes_max: 1000, ..ServerLimits::default() });
    let body = vec![b'x'; 24 << 20];
    for (path, status) in [("/streamed-refused", "415"), ("/echo", "413")] {
        let mut s = connect(server.addr);
        write!(s, "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len()).unwrap();
        let sent = s.write_all(&body);
        assert!(sent.is_ok(), "{path}: the body could not be sent: {sent:?}");
        let r = read_responses(&mut s, 1);
        assert!(r.first().is_some_and(|r| r.starts_with(&format!("HTTP/1.1 {status}"))), "{path}: {r:?}");
    }
    server.stop();
}

/// A streamed body that fails (client gone, bad chunk framing, silence past the body read
/// timeout) reaches the handler as an error; its answer is sent and the connection closed.
/// The timeout is per read: a slow upload that keeps sending is not cut.
#[test]
fn streamed_body_failures_reach_the_handler() {
    let (errors_tx, errors) = mpsc::channel();
    let limits = ServerLimits { body_read_timeout_ms: 300, ..ServerLimits::default() };
    let mut server = TestServer::start_with(limits, None, Some(errors_tx));
    let wait_error = || errors.recv_timeout(Duration::from_secs(20)).expect("the handler saw the failure");

    let mut s = connect(server.addr);
    s.write_all(b"POST /streamed HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n").unwrap();
    s.write_all(&[1u8; 10_000]).unwrap();
    drop(s);
    let error = wait_error();
    assert!(error.contains("closed before"), "{error}");

    let mut s = connect(server.addr);
    s.write_all(b"POST /streamed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX\r\nGET /never HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let r = read_responses(&mut s, 2);
    assert_eq!(r.len(), 1, "closed after the answer: {r:?}");
    assert!(r[0].starts_with("HTTP/1.1 400") && r[0].contains("CRLF"), "{r:?}");
    assert!(r[0].contains("connection: close"), "{r:?}");
    assert!(wait_error().contains("CRLF"));

    let mut s = connect(server.addr);
    s.write_all(b"POST /streamed HTTP/1.1\r\nHost: x\r\nContent-Length: 8000\r\n\r\n").unwrap();
    let started = Instant::now();
    for _ in 0..8 {
        s.write_all(&[2u8; 1000]).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = read_responses(&mut s, 1);
    assert!(started.elapsed() > Duration::from_millis(300), "the upload outlasted the timeout");
    assert!(r[0].starts_with("HTTP/1.1 200") && r[0].ends_with("streamed 8000 16000"), "{r:?}");

    s.write_all(b"POST /streamed HTTP/1.1\r\nHost: x\r\nContent-Length: 8000\r\n\r\n").unwrap();
    s.write_all(&[2u8; 1000]).unwrap();
    let r = read_responses(&mut s, 2);
    assert_eq!(r.len(), 1, "closed after the answer: {r:?}");
    assert!(r[0].starts_with("HTTP/1.1 400") && r[0].contains("no request body data for 300 ms"), "{r:?}");
    assert!(wait_error().contains("no request body data"));
    server.stop();
}
