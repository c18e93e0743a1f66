//! HTTP/2 over real sockets: prior-knowledge h2c on the same plaintext port as HTTP/1.1,
//! request bodies, concurrent streams, the body limit answered per stream, bodies the
//! handler takes streamed (past the body limit and the flow-control windows), and answers
//! given before the body is done (refusal, 413, 408, a streamed handler's early answer):
//! the uploading stream is reset with NO_ERROR and the connection's next stream works.

use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

mod common;

use bytes::Bytes;
use futures_lite::future;
use net::io_adapter::TokioIo;
use net::{ConnectionStats, Handler, RequestBody, ResponseFuture, ServerLimits};

/// Echoes the request; `/stream/<ok|fail>` answers with a streamed body. Bodies on paths
/// starting with `/streamed` are taken streamed: `/streamed/first-chunk` is answered after
/// its first chunk, the others once read whole. Paths ending in `/forbidden` are refused
/// before their body. `handled` counts the calls of `handle` and `handle_streamed`.
struct Echo {
    handled: Arc<AtomicUsize>,
}

impl Handler for Echo {
    fn handle(self: Rc<Self>, request: http::Request<Bytes>) -> ResponseFuture {
        self.handled.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            if let Some(outcome) = request.uri().path().strip_prefix("/stream/") {
                return streamed(outcome == "fail");
            }
            let text = format!("{} {} {} {:?}", request.method(), request.uri().path(), request.body().len(), request.version());
            http::Response::new(Bytes::from(text))
        })
    }

    fn wants_streamed_body(&self, request: &http::request::Parts) -> bool {
        request.uri.path().starts_with("/streamed")
    }

    fn refuse_before_body(&self, request: &http::request::Parts, _peer: &net::PeerInfo) -> Option<http::Response<Bytes>> {
        request.uri.path().ends_with("/forbidden").then(|| {
            let mut response = http::Response::new(Bytes::from_static(b"not you"));
            *response.status_mut() = http::StatusCode::FORBIDDEN;
            response
        })
    }

    /// Answers `streamed <bytes> <sum of bytes>`, or 400 when the body failed;
    /// `/streamed/first-chunk` answers `first chunk <bytes>` and leaves the rest unread.
    fn handle_streamed(self: Rc<Self>, request: http::Request<RequestBody>) -> ResponseFuture {
        self.handled.fetch_add(1, Ordering::Relaxed);
        Box::pin(async move {
            if request.uri().path() == "/streamed/first-chunk" {
                let first = request.into_body().next_chunk().await.and_then(Result::ok).map_or(0, |chunk| chunk.len());
                return http::Response::new(Bytes::from(format!("first chunk {first}")));
            }
            common::streamed_answer(&common::length_and_sum(request.into_body()).await)
        })
    }
}

const STREAM_CHUNKS: usize = 200;
const STREAM_CHUNK_BYTES: usize = 16 * 1024;

/// The streamed body's expected content: chunk i is STREAM_CHUNK_BYTES of byte b'a' + i % 26.
fn stream_content() -> Vec<u8> {
    (0..STREAM_CHUNKS).flat_map(|i| std::iter::repeat_n(b'a' + (i % 26) as u8, STREAM_CHUNK_BYTES)).collect()
}

/// 3.2 MB in 200 chunks, produced while sent (far over HTTP/2's initial 64 KiB window);
/// with `fail`, the producer fails after half of them.
fn streamed(fail: bool) -> http::Response<Bytes> {
    let (tx, body) = net::BodyStream::channel(2);
    glommio::spawn_local(async move {
        for i in 0..STREAM_CHUNKS {
            if fail && i == STREAM_CHUNKS / 2 {
                let _ = tx.send(Err("storage failed".into())).await;
                return;
            }
            if tx.send(Ok(Bytes::from(vec![b'a' + (i % 26) as u8; STREAM_CHUNK_BYTES]))).await.is_err() {
                return;
            }
        }
    })
    .detach();
    let mut response = http::Response::new(Bytes::new());
    response.extensions_mut().insert(body);
    response
}

/// The server's per-stream receive window (`initial_window_size` in `serve_h2`): what a client
/// may send on a stream beyond the bytes the server has taken.
const STREAM_WINDOW_BYTES: usize = 1 << 20;
/// The largest DATA frame (HTTP/2's default `SETTINGS_MAX_FRAME_SIZE`): the server takes and
/// releases a body one frame at a time.
const DATA_FRAME_BYTES_MAX: usize = 16_384;
/// How long one client conversation may take before its test fails.
const CONVERSATION_DEADLINE: Duration = Duration::from_secs(30);
/// How long a client that stopped sending waits for the server to reset its stream.
const RESET_WAIT: Duration = Duration::from_secs(5);

/// An `Echo` server on 127.0.0.1:0, on its own thread and executor.
struct TestServer {
    addr: SocketAddr,
    /// Calls of the handler's `handle` and `handle_streamed`.
    handled: Arc<AtomicUsize>,
    stats: Arc<ConnectionStats>,
    shutdown: async_channel::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl TestServer {
    fn stop(self) {
        drop(self.shutdown);
        self.thread.join().expect("server thread");
    }
}

fn start(limits: ServerLimits) -> TestServer {
    let (addr_tx, addr_rx) = mpsc::channel();
    let (shutdown, shutdown_rx) = async_channel::bounded::<()>(1);
    let handled = Arc::new(AtomicUsize::new(0));
    let stats = Arc::new(ConnectionStats::default());
    let (handler_calls, server_stats) = (handled.clone(), stats.clone());
    let thread = std::thread::spawn(move || {
        let executor = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound).io_memory(1 << 20).make().expect("executor");
        executor.run(async move {
            let listener = glommio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            addr_tx.send(listener.local_addr().expect("addr")).expect("report");
            let echo = Rc::new(Echo { handled: handler_calls });
            net::accept_loop(listener, echo, limits, shutdown_rx, None, server_stats, None).await;
        });
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(30)).expect("started");
    TestServer { addr, handled, stats, shutdown, thread }
}

/// Runs `conversation` with an h2 client connected to `addr`, on its own executor, and fails
/// the test if it takes longer than `CONVERSATION_DEADLINE`.
fn on_h2_connection<T, F, Fut>(addr: SocketAddr, conversation: F) -> T
where
    T: Send + 'static,
    F: FnOnce(h2::client::SendRequest<Bytes>) -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .io_memory(1 << 20)
        .spawn(move || async move {
            let talk = async move {
                let stream = glommio::net::TcpStream::connect(addr).await.expect("connect");
                let (client, connection) = h2::client::handshake(TokioIo(stream)).await.expect("h2 handshake");
                glommio::spawn_local(async move {
                    let _ = connection.await;
                })
                .detach();
                conversation(client).await
            };
            let deadline = async {
                glommio::timer::sleep(CONVERSATION_DEADLINE).await;
                None
            };
            future::or(async { Some(talk.await) }, deadline).await.expect("the client conversation ended in time")
        })
        .expect("client executor")
        .join()
        .expect("client ran")
}

/// Reads a response whole: (status, body). A stream reset before its end reads as status 0
/// with the error.
async fn read_answer(response: h2::client::ResponseFuture) -> (u16, String) {
    let response = match response.await {
        Ok(response) => response,
        Err(e) => return (0, e.to_string()),
    };
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut text = Vec::new();
    while let Some(chunk) = body.data().await {
        match chunk {
            Ok(chunk) => {
                let _ = body.flow_control().release_capacity(chunk.len());
                text.extend_from_slice(&chunk);
            }
            Err(e) => return (0, e.to_string()),
        }
    }
    (status, String::from_utf8_lossy(&text).into_owned())
}

/// Runs an h2 client on its own executor; returns (status, body) per request.
fn h2_requests(addr: SocketAddr, requests: Vec<(&'static str, Vec<u8>)>) -> Vec<(u16, String)> {
    on_h2_connection(addr, move |client| async move {
        let mut pending = Vec::new();
        for (path, body) in requests {
            let mut client = client.clone().ready().await.expect("ready");
            let request = http::Request::builder().method("POST").uri(format!("http://{addr}{path}")).body(()).unwrap();
            let (response, mut send) = client.send_request(request, false).expect("send");
            send.send_data(Bytes::from(body), true).expect("data");
            pending.push(response);
        }
        let mut out = Vec::new();
        for response in pending {
            out.push(read_answer(response).await);
        }
        out
    })
}

/// How a client's upload ended.
#[derive(Debug, PartialEq)]
enum SendEnd {
    /// The whole body was sent and the stream ended.
    Complete,
    /// The server reset the stream, with this reason.
    Reset(h2::Reason),
    /// The client stopped sending and the server left the stream open for `RESET_WAIT`.
    StillOpen,
    /// The connection failed.
    Failed(String),
}

/// What a client saw of one upload.
#[derive(Debug)]
struct Upload {
    status: u16,
    text: String,
    body_bytes_sent: usize,
    send_end: SendEnd,
}

/// POSTs a body of `body_bytes` bytes to `path` on a new stream, in DATA frames as fast as
/// flow control lets it (never waiting for the answer first), until all is sent or the server
/// stops the stream. With `stall_after`, it goes quiet after that many bytes and leaves the
/// stream open. Then reads the answer and, unless the body was sent whole, how the stream
/// ended.
async fn upload(client: &h2::client::SendRequest<Bytes>, path: &str, body_bytes: usize, stall_after: Option<usize>) -> Upload {
    upload_declaring(client, path, body_bytes, stall_after, false).await
}

/// `upload`; with `declare_length`, the request head carries `content-length: body_bytes`.
async fn upload_declaring(
    client: &h2::client::SendRequest<Bytes>,
    path: &str,
    body_bytes: usize,
    stall_after: Option<usize>,
    declare_length: bool,
) -> Upload {
    let mut client = client.clone().ready().await.expect("ready");
    let mut request = http::Request::builder().method("POST").uri(format!("http://metricstor.test{path}"));
    if declare_length {
        request = request.header(http::header::CONTENT_LENGTH, body_bytes);
    }
    let request = request.body(()).expect("request");
    let (response, mut send) = client.send_request(request, false).expect("send request");
    let to_send = stall_after.map_or(body_bytes, |stall| stall.min(body_bytes));
    let mut sent = 0;
    while sent < to_send {
        send.reserve_capacity(to_send - sent);
        let granted = match send.capacity() {
            0 => match std::future::poll_fn(|cx| send.poll_capacity(cx)).await {
                Some(Ok(granted)) => granted,
                // The server reset the stream, or the connection closed.
                Some(Err(_)) | None => break,
            },
            granted => granted,
        };
        let part = granted.min(to_send - sent);
        if send.send_data(Bytes::from(vec![b'x'; part]), false).is_err() {
            break;
        }
        sent += part;
    }
    let complete = sent == body_bytes && stall_after.is_none() && send.send_data(Bytes::new(), true).is_ok();
    let (status, text) = read_answer(response).await;
    let send_end = if complete {
        SendEnd::Complete
    } else {
        let reset = async { Some(std::future::poll_fn(|cx| send.poll_reset(cx)).await) };
        let gave_up = async {
            glommio::timer::sleep(RESET_WAIT).await;
            None
        };
        match future::or(reset, gave_up).await {
            Some(Ok(reason)) => SendEnd::Reset(reason),
            Some(Err(error)) => SendEnd::Failed(error.to_string()),
            None => SendEnd::StillOpen,
        }
    };
    Upload { status, text, body_bytes_sent: sent, send_end }
}

/// Asserts that a small request after the early answers was served on the same connection.
fn assert_served_after(after: &Upload) {
    assert_eq!((after.status, after.text.as_str()), (200, "POST /after 5 HTTP/2.0"), "{after:?}");
    assert_eq!(after.send_end, SendEnd::Complete, "{after:?}");
}

#[test]
fn h2c_prior_knowledge_and_http1_share_a_port() {
    let server = start(ServerLimits { body_bytes_max: 100_000, ..ServerLimits::default() });
    let addr = server.addr;
    let results = h2_requests(addr, vec![("/a", b"hello".to_vec()), ("/b", vec![7u8; 90_000]), ("/too-big", vec![1u8; 200_000])]);
    assert_eq!(results[0], (200, "POST /a 5 HTTP/2.0".to_string()));
    assert_eq!(results[1], (200, "POST /b 90000 HTTP/2.0".to_string()));
    assert_eq!(results[2].0, 413, "{:?}", results[2]);
    // HTTP/1.1 on the same port still works.
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200") && response.ends_with("GET /plain 0 HTTP/1.1"), "{response}");
    server.stop();
}

#[test]
fn streamed_bodies_over_h2_and_http1() {
    let server = start(ServerLimits::default());
    let addr = server.addr;
    // HTTP/2: the whole body arrives through flow control; a failed producer resets the stream.
    // One request per connection: this test client reads streams one after another, and two
    // concurrent 3 MB streams would share (and exhaust) the connection's flow-control window.
    let results: Vec<(u16, String)> =
        ["/stream/ok", "/stream/fail"].iter().flat_map(|path| h2_requests(addr, vec![(path, Vec::new())])).collect();
    assert_eq!(results[0].0, 200);
    assert!(results[0].1.as_bytes() == stream_content().as_slice(), "h2 streamed body differs ({} bytes)", results[0].1.len());
    assert_eq!(results[1].0, 0, "a failed stream must not look complete: {:?}", &results[1].1[..results[1].1.len().min(200)]);
    assert!(results[1].1.contains("internal error"), "{}", results[1].1);

    // HTTP/1.1: chunked; a failed producer closes the connection without the final chunk.
    use std::io::{Read, Write};
    let exchange = |path: &str| {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").expect("write");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    };
    let ok = exchange("/stream/ok");
    let head_end = ok.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4;
    let head = String::from_utf8_lossy(&ok[..head_end]).to_lowercase();
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let mut decoder = net::http1::body::ChunkedDecoder::new(u64::MAX);
    let used = decoder.feed(&ok[head_end..]).map_err(|e| format!("{e:?}"));
    assert_eq!(used, Ok(ok.len() - head_end));
    assert!(decoder.is_done(), "the chunked body ends with its last chunk");
    assert!(decoder.body == stream_content(), "HTTP/1.1 streamed body differs");
    let failed = exchange("/stream/fail");
    let head_end = failed.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4;
    let mut decoder = net::http1::body::ChunkedDecoder::new(u64::MAX);
    let _ = decoder.feed(&failed[head_end..]);
    assert!(!decoder.is_done(), "a failed producer must not end the body cleanly");
    assert_eq!(decoder.body.len(), STREAM_CHUNKS / 2 * STREAM_CHUNK_BYTES);
    server.stop();
}

/// A streamed body passes the body limit and both flow-control windows (3 MB against a 1 MiB
/// stream and 4 MiB connection window, twice on one connection): capacity is released as the
/// handler takes the chunks.
#[test]
fn streamed_request_body_over_h2() {
    let server = start(ServerLimits { body_bytes_max: 100_000, ..ServerLimits::default() });
    let addr = server.addr;
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let expected = format!("streamed {} {}", body.len(), body.iter().map(|b| *b as u64).sum::<u64>());
    let results = h2_requests(addr, vec![("/streamed", body.clone()), ("/streamed", body), ("/too-big", vec![1u8; 200_000])]);
    assert_eq!(results[0], (200, expected.clone()));
    assert_eq!(results[1], (200, expected));
    assert_eq!(results[2].0, 413, "{:?}", results[2]);
    server.stop();
}

/// A body over the limit is answered 413 while the client is still sending (5 MB against a
/// 100 kB limit): the stream is reset with NO_ERROR after the answer, the client sent no more
/// than what the server read plus one stream window, and the same connection serves the next
/// requests (four such uploads in a row, then a small one).
#[test]
fn too_large_body_over_h2_is_answered_before_its_end() {
    const BODY_BYTES_MAX: usize = 100_000;
    let server = start(ServerLimits { body_bytes_max: BODY_BYTES_MAX, ..ServerLimits::default() });
    let (uploads, after) = on_h2_connection(server.addr, |client| async move {
        let mut uploads = Vec::new();
        for _ in 0..4 {
            uploads.push(upload(&client, "/too-big", 5_000_000, None).await);
        }
        (uploads, upload(&client, "/after", 5, None).await)
    });
    for too_big in &uploads {
        assert_eq!(too_big.status, 413, "{too_big:?}");
        assert!(too_big.text.contains("exceeds the limit of 100000 bytes"), "{too_big:?}");
        assert_eq!(too_big.send_end, SendEnd::Reset(h2::Reason::NO_ERROR), "{too_big:?}");
        assert!(too_big.body_bytes_sent <= BODY_BYTES_MAX + DATA_FRAME_BYTES_MAX + STREAM_WINDOW_BYTES, "{too_big:?}");
    }
    assert_served_after(&after);
    assert_eq!(server.stats.errors_413.get(), 4);
    assert_eq!(server.handled.load(Ordering::Relaxed), 1, "only the last request reached the handler");
    server.stop();
}

/// A body whose declared content-length is past the limit is refused from its head: the
/// answer names the declared size, and at most the stream's first window was sent.
#[test]
fn declared_too_large_body_over_h2_is_refused_from_its_head() {
    const BODY_BYTES_MAX: usize = 100_000;
    let server = start(ServerLimits { body_bytes_max: BODY_BYTES_MAX, ..ServerLimits::default() });
    let (declared, after) = on_h2_connection(server.addr, |client| async move {
        (upload_declaring(&client, "/too-big", 5_000_000, None, true).await, upload(&client, "/after", 5, None).await)
    });
    assert_eq!(declared.status, 413, "{declared:?}");
    assert!(declared.text.contains("request body of 5000000 bytes exceeds the limit of 100000 bytes"), "{declared:?}");
    assert_eq!(declared.send_end, SendEnd::Reset(h2::Reason::NO_ERROR), "{declared:?}");
    assert!(declared.body_bytes_sent <= STREAM_WINDOW_BYTES, "{declared:?}");
    assert_served_after(&after);
    assert_eq!(server.stats.errors_413.get(), 1);
    assert_eq!(server.handled.load(Ordering::Relaxed), 1, "only the last request reached the handler");
    server.stop();
}

/// A client that goes quiet midway through a whole body gets 408 once the body read timeout
/// has passed, its stream is reset with NO_ERROR, and the connection serves the next request.
#[test]
fn stalled_body_over_h2_times_out_on_its_stream() {
    let server = start(ServerLimits { body_read_timeout_ms: 300, ..ServerLimits::default() });
    let ((stalled, waited), after) = on_h2_connection(server.addr, |client| async move {
        let started = Instant::now();
        let stalled = upload(&client, "/slow", 1_000_000, Some(10_000)).await;
        let waited = started.elapsed();
        ((stalled, waited), upload(&client, "/after", 5, None).await)
    });
    assert_eq!(stalled.status, 408, "{stalled:?}");
    assert!(stalled.text.contains("not received in time"), "{stalled:?}");
    assert_eq!(stalled.send_end, SendEnd::Reset(h2::Reason::NO_ERROR), "{stalled:?}");
    assert!(waited >= Duration::from_millis(300) && waited < RESET_WAIT, "answered after {waited:?}");
    assert_served_after(&after);
    assert_eq!(server.stats.body_timeouts.get(), 1);
    assert_eq!(server.handled.load(Ordering::Relaxed), 1, "only the last request reached the handler");
    server.stop();
}

/// A streamed body whose client goes quiet reaches the handler as an error chunk after the
/// per-read timeout; the handler's answer (400 with the error) is sent, the stream reset with
/// NO_ERROR, and the connection serves the next request.
#[test]
fn stalled_streamed_body_over_h2_reaches_the_handler_as_an_error() {
    let server = start(ServerLimits { body_read_timeout_ms: 300, ..ServerLimits::default() });
    let (stalled, after) = on_h2_connection(server.addr, |client| async move {
        (upload(&client, "/streamed", 1_000_000, Some(10_000)).await, upload(&client, "/after", 5, None).await)
    });
    assert_eq!(stalled.status, 400, "{stalled:?}");
    assert!(stalled.text.contains("body failed: no request body data for 300 ms"), "{stalled:?}");
    assert_eq!(stalled.send_end, SendEnd::Reset(h2::Reason::NO_ERROR), "{stalled:?}");
    assert_served_after(&after);
    assert_eq!(server.handled.load(Ordering::Relaxed), 2);
    assert_eq!(server.stats.body_timeouts.get(), 1);
    server.stop();
}

/// A streamed-body handler that answers after the first chunk of an 8 MB upload: the client
/// gets the answer, its stream is reset with NO_ERROR having sent no more than one stream
/// window past that chunk, and the connection serves the next request.
#[test]
fn streamed_body_over_h2_answered_early_stops_the_upload() {
    let server = start(ServerLimits::default());
    let (early, after) = on_h2_connection(server.addr, |client| async move {
        (upload(&client, "/streamed/first-chunk", 8_000_000, None).await, upload(&client, "/after", 5, None).await)
    });
    assert_eq!(early.status, 200, "{early:?}");
    let first_chunk_bytes: usize = early.text.strip_prefix("first chunk ").and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!((1..=DATA_FRAME_BYTES_MAX).contains(&first_chunk_bytes), "{early:?}");
    assert_eq!(early.send_end, SendEnd::Reset(h2::Reason::NO_ERROR), "{early:?}");
    assert!(early.body_bytes_sent <= STREAM_WINDOW_BYTES + first_chunk_bytes, "{early:?}");
    assert_served_after(&after);
    assert_eq!(server.handled.load(Ordering::Relaxed), 2);
    server.stop();
}

/// `refuse_before_body` is asked for every HTTP/2 request: a refused upload (whole-body and
/// streamed paths) gets its 403 without the handler being called or any of the body being
/// taken (the client sent at most the stream window), its stream is reset with NO_ERROR, and
/// the connection serves the next request.
#[test]
fn refusal_over_h2_comes_before_the_body() {
    let server = start(ServerLimits { body_bytes_max: 100_000, ..ServerLimits::default() });
    let (refused, after) = on_h2_connection(server.addr, |client| async move {
        let whole = upload(&client, "/forbidden", 5_000_000, None).await;
        let streamed = upload(&client, "/streamed/forbidden", 5_000_000, None).await;
        ([whole, streamed], upload(&client, "/after", 5, None).await)
    });
    for upload in &refused {
        assert_eq!((upload.status, upload.text.as_str()), (403, "not you"), "{upload:?}");
        assert_eq!(upload.send_end, SendEnd::Reset(h2::Reason::NO_ERROR), "{upload:?}");
        assert!(upload.body_bytes_sent <= STREAM_WINDOW_BYTES, "{upload:?}");
    }
    assert_served_after(&after);
    assert_eq!(server.handled.load(Ordering::Relaxed), 1, "only the last request reached the handler");
    assert_eq!(server.stats.requests.get(), 3, "refusals count as requests");
    server.stop();
}
