//! Accepting connections on one glommio listener: TCP_NODELAY, the per-executor connection
//! cap, passing connections between executors to even them out (`balance`), one local
//! task per connection, and the graceful drain on shutdown.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::future;

use crate::balance::{Balance, Placed, Serving};
use crate::http1::server::{serve_connection, ConnectionContext};
use crate::http2::{serve_h2, PREFACE};
use crate::rewind::Rewind;
use crate::io_adapter::TokioIo;
use crate::tls::{identity_of, ReloadingConfig};
use crate::Handler;

/// Limits for one listener. Defaults match the server's configuration defaults.
#[derive(Clone, Debug)]
pub struct ServerLimits {
    pub head_bytes_max: usize,
    pub body_bytes_max: usize,
    pub header_read_timeout_ms: u64,
    pub body_read_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    pub connections_max: usize,
    pub shutdown_drain_ms: u64,
    /// Concurrent HTTP/2 streams per connection.
    pub h2_concurrent_streams_max: u32,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            head_bytes_max: 64 << 10,
            body_bytes_max: 64 << 20,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 60_000,
            idle_timeout_ms: 120_000,
            connections_max: 10_000,
            shutdown_drain_ms: 10_000,
            h2_concurrent_streams_max: crate::http2::CONCURRENT_STREAMS_MAX,
        }
    }
}

/// A counter written by one executor and read by any (relaxed atomics: no contention).
#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }
}

/// Counters of one listener; the server sums them over executors for `/metrics`.
#[derive(Default, Debug)]
pub struct ConnectionStats {
    pub accepted: Counter,
    /// Connections accepted here and passed to an executor that served fewer.
    pub passed_on: Counter,
    pub rejected_over_limit: Counter,
    pub open: Counter,
    pub requests: Counter,
    pub header_timeouts: Counter,
    pub body_timeouts: Counter,
    /// Protocol errors answered, by status (400, 408, 413, 431, other).
    pub errors_400: Counter,
    pub errors_413: Counter,
    pub errors_431: Counter,
    pub errors_other: Counter,
    /// TLS handshakes that failed (no or bad client certificate, protocol errors, timeouts).
    pub tls_handshake_failures: Counter,
    /// Requests whose client closed the connection (or reset the HTTP/2 stream) before the
    /// answer was ready; their handling was cancelled.
    pub abandoned: Counter,
}

impl ConnectionStats {
    pub fn count_protocol_error(&self, status: u16) {
        let cell = match status {
            400 => &self.errors_400,
            413 => &self.errors_413,
            431 => &self.errors_431,
            _ => &self.errors_other,
        };
        cell.set(cell.get() + 1);
    }
}

struct OpenGuard(Arc<ConnectionStats>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        let open = self.0.open.get();
        debug_assert!(open > 0, "every open connection holds exactly one guard");
        self.0.open.set(open.saturating_sub(1));
    }
}

/// Accepts until `shutdown` is closed, then waits for open connections to finish (at most
/// `shutdown_drain_ms`). Connections refuse new requests once shutdown has begun. With a
/// `balance`, a connection accepted here while another executor serves fewer is passed
/// there, and connections passed here are served like accepted ones (by a task of their
/// own: an accept in flight must not be dropped for them, its connection would be lost).
pub async fn accept_loop(
    listener: glommio::net::TcpListener,
    handler: Rc<dyn Handler>,
    limits: ServerLimits,
    shutdown: async_channel::Receiver<()>,
    tls: Option<Rc<ReloadingConfig>>,
    stats: Arc<ConnectionStats>,
    balance: Option<Balance>,
) -> Arc<ConnectionStats> {
    let drain = Duration::from_millis(limits.shutdown_drain_ms);
    let ctx = Rc::new(ConnectionContext { handler, limits, stats: stats.clone(), shutdown: shutdown.clone() });
    let balance = balance.map(Rc::new);
    let pickup = balance.clone().map(|balance| {
        let (ctx, tls, shutdown) = (ctx.clone(), tls.clone(), shutdown.clone());
        glommio::spawn_local(async move {
            loop {
                let passed_in = async { Some(balance.passed_in().await) };
                let stopped = async {
                    let _ = shutdown.recv().await;
                    None
                };
                // Cancelling a channel receive loses nothing.
                match future::or(passed_in, stopped).await {
                    Some((stream, serving)) => start_serving(stream, &ctx, &tls, Some(serving)),
                    None => break,
                }
            }
        })
    });
    loop {
        let next = future::or(async { Some(listener.accept().await) }, async {
            let _ = shutdown.recv().await;
            None
        })
        .await;
        let stream = match next {
            None => break,
            Some(Ok(stream)) => stream,
            Some(Err(error)) => {
                // Typically EMFILE/ENFILE: back off briefly instead of spinning.
                tracing::warn!(%error, "accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        stats.accepted.set(stats.accepted.get() + 1);
        match &balance {
            None => start_serving(stream, &ctx, &tls, None),
            Some(balance) => match balance.place(stream) {
                Placed::Here(stream, serving) => start_serving(stream, &ctx, &tls, Some(serving)),
                Placed::Passed => stats.passed_on.set(stats.passed_on.get() + 1),
            },
        }
    }
    if let Some(pickup) = pickup {
        pickup.await;
    }
    let deadline = Instant::now() + drain;
    while stats.open.get() > 0 && Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(10)).await;
    }
    if stats.open.get() > 0 {
        tracing::warn!(open = stats.open.get(), "shutdown drain deadline passed with connections still open");
    }
    stats
}

/// Spawns the task serving `stream` on this executor, within the connection cap.
fn start_serving(stream: glommio::net::TcpStream, ctx: &Rc<ConnectionContext>, tls: &Option<Rc<ReloadingConfig>>, serving: Option<Serving>) {
    let stats = &ctx.stats;
    if stats.open.get() as usize >= ctx.limits.connections_max {
        stats.rejected_over_limit.set(stats.rejected_over_limit.get() + 1);
        return;
    }
    let _ = stream.set_nodelay(true);
    let Ok(peer) = stream.peer_addr() else {
        return;
    };
    stats.open.set(stats.open.get() + 1);
    let guard = OpenGuard(stats.clone());
    glommio::spawn_local(serve_stream(stream, peer, ctx.clone(), tls.clone(), (guard, serving))).detach();
}

/// Serves one connection: the TLS handshake first when configured. `_counted` is dropped
/// when the connection ends.
async fn serve_stream(
    stream: glommio::net::TcpStream,
    peer: std::net::SocketAddr,
    ctx: Rc<ConnectionContext>,
    tls: Option<Rc<ReloadingConfig>>,
    _counted: (OpenGuard, Option<Serving>),
) {
    let Some(tls) = tls else {
        return serve_plaintext(TokioIo(stream), peer, ctx).await;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
    let timeout = Duration::from_millis(ctx.limits.header_read_timeout_ms);
    let handshake = future::or(async { Some(acceptor.accept(TokioIo(stream)).await) }, async {
        glommio::timer::sleep(timeout).await;
        None
    });
    match handshake.await {
        Some(Ok(tls_stream)) => {
            let session = tls_stream.get_ref().1;
            let identity = session.peer_certificates().and_then(|c| c.first()).map(identity_of);
            if session.alpn_protocol() == Some(b"h2") {
                serve_h2(tls_stream, peer, identity, ctx).await;
            } else {
                serve_connection(tls_stream, peer, identity, Vec::new(), ctx).await;
            }
        }
        Some(Err(error)) => {
            ctx.stats.tls_handshake_failures.set(ctx.stats.tls_handshake_failures.get() + 1);
            tracing::info!(%peer, %error, "TLS handshake rejected");
        }
        None => {
            ctx.stats.tls_handshake_failures.set(ctx.stats.tls_handshake_failures.get() + 1);
            tracing::info!(%peer, "TLS handshake timed out");
        }
    }
}

/// Plaintext: HTTP/2 with prior knowledge when the connection starts with the h2 preface,
/// HTTP/1.1 otherwise (the sniffed bytes are replayed either way).
async fn serve_plaintext(mut stream: TokioIo<glommio::net::TcpStream>, peer: std::net::SocketAddr, ctx: Rc<ConnectionContext>) {
    use tokio::io::AsyncReadExt;
    let deadline = Instant::now() + Duration::from_millis(ctx.limits.header_read_timeout_ms);
    let mut prefix = Vec::with_capacity(PREFACE.len());
    while prefix.len() < PREFACE.len() && PREFACE.starts_with(&prefix) {
        let mut chunk = [0u8; 24];
        let want = PREFACE.len() - prefix.len();
        let read = future::or(async { Some(stream.read(&mut chunk[..want]).await) }, async {
            glommio::timer::sleep(deadline.saturating_duration_since(Instant::now())).await;
            None
        })
        .await;
        match read {
            Some(Ok(n)) if n > 0 => prefix.extend_from_slice(&chunk[..n]),
            // Nothing at all: close quietly. Otherwise hand what we have to HTTP/1.1, which
            // answers (408/400) or closes as appropriate.
            _ if prefix.is_empty() => return,
            _ => break,
        }
    }
    if prefix == PREFACE {
        serve_h2(Rewind::new(prefix, stream), peer, None, ctx).await;
    } else {
        serve_connection(stream, peer, None, prefix, ctx).await;
    }
}
