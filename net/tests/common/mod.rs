//! Shared by the socket tests: a server on a thread of its own (plain or TLS), and the
//! handler side of a request body taken streamed. (Each test file uses some of it.)
#![allow(dead_code)]

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::mpsc;

use bytes::Bytes;
use net::{Balance, BodyError, Handler, RequestBody, ServerLimits};

/// Runs `net::accept_loop` on 127.0.0.1:0 in a glommio executor on a new thread until
/// `shutdown` closes, with the handler `handler` builds there; the bound address is sent on
/// `addr_tx` once listening.
pub fn serve_on_thread<H: Handler>(
    handler: impl FnOnce() -> H + Send + 'static,
    limits: ServerLimits,
    shutdown: async_channel::Receiver<()>,
    balance: Option<Balance>,
    addr_tx: mpsc::Sender<SocketAddr>,
) -> std::thread::JoinHandle<()> {
    serve(handler, limits, None, Default::default(), balance, shutdown, addr_tx)
}

/// As `serve_on_thread` (no balance), with TLS from `settings` (reloadable, as the server's)
/// and connections counted in `stats`.
pub fn serve_tls_on_thread<H: Handler>(
    handler: impl FnOnce() -> H + Send + 'static,
    limits: ServerLimits,
    settings: net::TlsSettings,
    stats: std::sync::Arc<net::ConnectionStats>,
    shutdown: async_channel::Receiver<()>,
    addr_tx: mpsc::Sender<SocketAddr>,
) -> std::thread::JoinHandle<()> {
    serve(handler, limits, Some(settings), stats, None, shutdown, addr_tx)
}

fn serve<H: Handler>(
    handler: impl FnOnce() -> H + Send + 'static,
    limits: ServerLimits,
    tls: Option<net::TlsSettings>,
    stats: std::sync::Arc<net::ConnectionStats>,
    balance: Option<Balance>,
    shutdown: async_channel::Receiver<()>,
    addr_tx: mpsc::Sender<SocketAddr>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let executor = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .io_memory(1 << 20)
            .make()
            .expect("glommio executor");
        executor.run(async move {
            let tls = tls.map(|settings| Rc::new(net::ReloadingConfig::new(settings).expect("tls config")));
            let listener = glommio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            addr_tx.send(listener.local_addr().expect("addr")).expect("report addr");
            net::accept_loop(listener, Rc::new(handler()), limits, shutdown, tls, stats, balance).await;
        });
    })
}

/// Reads a streamed body to its end: its length and the sum of its bytes, or its failure.
pub async fn length_and_sum(mut body: RequestBody) -> Result<(usize, u64), BodyError> {
    let (mut length, mut sum) = (0usize, 0u64);
    while let Some(chunk) = body.next_chunk().await {
        let chunk = chunk?;
        length += chunk.len();
        sum += chunk.iter().map(|b| *b as u64).sum::<u64>();
    }
    Ok((length, sum))
}

/// `streamed <bytes> <sum of bytes>`, or 400 `body failed: <error>`.
pub fn streamed_answer(read: &Result<(usize, u64), BodyError>) -> http::Response<Bytes> {
    match read {
        Ok((length, sum)) => http::Response::new(Bytes::from(format!("streamed {length} {sum}"))),
        Err(error) => {
            let mut response = http::Response::new(Bytes::from(format!("body failed: {error}")));
            *response.status_mut() = http::StatusCode::BAD_REQUEST;
            response
        }
    }
}
