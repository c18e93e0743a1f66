//! HTTP/2 over real sockets: prior-knowledge h2c on the same plaintext port as HTTP/1.1,
//! request bodies, concurrent streams, and the body limit answered per stream.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use net::io_adapter::TokioIo;
use net::{Handler, ResponseFuture, ServerLimits};

struct Echo;

impl Handler for Echo {
    fn handle(self: Rc<Self>, request: http::Request<Bytes>) -> ResponseFuture {
        Box::pin(async move {
            let text = format!("{} {} {} {:?}", request.method(), request.uri().path(), request.body().len(), request.version());
            http::Response::new(Bytes::from(text))
        })
    }
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
                        while let Some(chunk) = body.data().await {
                            let chunk = chunk.expect("chunk");
                            let _ = body.flow_control().release_capacity(chunk.len());
                            text.extend_from_slice(&chunk);
                        }
                        out.push((status, String::from_utf8_lossy(&text).into_owned()));
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
