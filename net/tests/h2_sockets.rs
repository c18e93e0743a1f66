//! HTTP/2 over real sockets: prior-knowledge h2c on the same plaintext port as HTTP/1.1,
//! request bodies, concurrent streams, the body limit answered per stream, and bodies the
//! handler takes streamed (past the body limit and the flow-control windows).

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

mod common;

use bytes::Bytes;
use net::io_adapter::TokioIo;
use net::{Handler, RequestBody, ResponseFuture, ServerLimits};

struct Echo;

impl Handler for Echo {
    fn handle(self: Rc<Self>, request: http::Request<Bytes>) -> ResponseFuture {
        Box::pin(async move {
            if let Some(outcome) = request.uri().path().strip_prefix("/stream/") {
                return streamed(outcome == "fail");
            }
            let text = format!("{} {} {} {:?}", request.method(), request.uri().path(), request.body().len(), request.version());
            http::Response::new(Bytes::from(text))
        })
    }

    fn wants_streamed_body(&self, request: &http::request::Parts) -> bool {
        request.uri.path() == "/streamed"
    }

    /// Answers `streamed <bytes> <sum of bytes>`, or 400 when the body failed.
    fn handle_streamed(self: Rc<Self>, request: http::Request<RequestBody>) -> ResponseFuture {
        Box::pin(async move { common::streamed_answer(&common::length_and_sum(request.into_body()).await) })
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

fn start(limits: ServerLimits) -> (SocketAddr, async_channel::Sender<()>, std::thread::JoinHandle<()>) {
    let (addr_tx, addr_rx) = mpsc::channel();
    let (shutdown_tx, shutdown_rx) = async_channel::bounded::<()>(1);
    let thread = std::thread::spawn(move || {
        let executor = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound).io_memory(1 << 20).make().expect("executor");
        executor.run(async move {
            let listener = glommio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            addr_tx.send(listener.local_addr().expect("addr")).expect("report");
            net::accept_loop(listener, Rc::new(Echo), limits, shutdown_rx, None, Default::default()).await;
        });
    });
    (addr_rx.recv_timeout(Duration::from_secs(30)).expect("started"), shutdown_tx, thread)
}

/// Runs an h2 client on its own executor; returns (status, body) per request.
fn h2_requests(addr: SocketAddr, requests: Vec<(&'static str, Vec<u8>)>) -> Vec<(u16, String)> {
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .io_memory(1 << 20)
        .spawn(move || async move {
            let stream = glommio::net::TcpStream::connect(addr).await.expect("connect");
            let (client, connection) = h2::client::handshake(TokioIo(stream)).await.expect("h2 handshake");
            glommio::spawn_local(async move {
                let _ = connection.await;
            })
            .detach();
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
                match response.await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let mut body = response.into_body();
                        let mut text = Vec::new();
                        let mut failed = None;
                        while let Some(chunk) = body.data().await {
                            match chunk {
                                Ok(chunk) => {
                                    let _ = body.flow_control().release_capacity(chunk.len());
                                    text.extend_from_slice(&chunk);
                                }
                                Err(e) => {
                                    failed = Some(e.to_string());
                                    break;
                                }
                            }
                        }
                        // A stream reset midway reads as status 0 with the error.
                        match failed {
                            None => out.push((status, String::from_utf8_lossy(&text).into_owned())),
                            Some(error) => out.push((0, error)),
                        }
                    }
                    Err(e) => out.push((0, e.to_string())),
                }
            }
            out
        })
        .expect("client executor")
        .join()
        .expect("client ran")
}

#[test]
fn h2c_prior_knowledge_and_http1_share_a_port() {
    let (addr, shutdown, thread) = start(ServerLimits { body_bytes_max: 100_000, ..ServerLimits::default() });
    let results = h2_requests(addr, vec![("/a", b"hello".to_vec()), ("/b", vec![7u8; 90_000]), ("/too-big", vec![1u8; 200_000])]);
    assert_eq!(results[0], (200, "POST /a 5 HTTP/2.0".to_string()));
    assert_eq!(results[1], (200, "POST /b 90000 HTTP/2.0".to_string()));
    assert_eq!(results[2].0, 413, "{:?}", results[2]);
    // HTTP/1.1 on the same port still works.
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /plain HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200") && response.ends_with("GET /plain 0 HTTP/1.1"), "{response}");
    drop(shutdown);
    thread.join().unwrap();
}

#[test]
fn streamed_bodies_over_h2_and_http1() {
    let (addr, shutdown, thread) = start(ServerLimits::default());
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
    drop(shutdown);
    thread.join().expect("server thread");
}

/// A streamed body passes the body limit and both flow-control windows (3 MB against a 1 MiB
/// stream and 4 MiB connection window, twice on one connection): capacity is released as the
/// handler takes the chunks.
#[test]
fn streamed_request_body_over_h2() {
    let (addr, shutdown, thread) = start(ServerLimits { body_bytes_max: 100_000, ..ServerLimits::default() });
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let expected = format!("streamed {} {}", body.len(), body.iter().map(|b| *b as u64).sum::<u64>());
    let results = h2_requests(addr, vec![("/streamed", body.clone()), ("/streamed", body), ("/too-big", vec![1u8; 200_000])]);
    assert_eq!(results[0], (200, expected.clone()));
    assert_eq!(results[1], (200, expected));
    assert_eq!(results[2].0, 413, "{:?}", results[2]);
    drop(shutdown);
    thread.join().unwrap();
}
