//! The HTTP listener (the HTTP and gRPC ports): its limits and counters, and what each
//! connection it accepts runs: TCP_NODELAY, the TLS handshake when configured, then HTTP/2
//! (ALPN or prior knowledge) or HTTP/1.1, in one local task per connection. Accepting,
//! the connection cap, balancing over executors and the drain are `accept`'s.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::future;

use crate::accept::{accept_until_shutdown, OpenConnections, OpenSlot, StartConnection};
use crate::balance::Balance;
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
    /// Connections open now (HTTP and gRPC together: their listeners share the cap).
    pub open: Arc<Counter>,
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

/// Starts HTTP connections: TLS first when configured, then HTTP/1.1 or HTTP/2.
struct HttpStarter {
    ctx: Rc<ConnectionContext>,
    tls: Option<Rc<ReloadingConfig>>,
}

impl StartConnection for HttpStarter {
    fn listener_name(&self) -> &'static str {
        "HTTP"
    }

    fn start(&self, stream: glommio::net::TcpStream, slot: OpenSlot) {
        let _ = stream.set_nodelay(true);
        let Ok(peer) = stream.peer_addr() else {
            return;
        };
        glommio::spawn_local(serve_stream(stream, peer, self.ctx.clone(), self.tls.clone(), slot)).detach();
    }

    fn count_accepted(&self, passed_on: bool) {
        let stats = &self.ctx.stats;
        stats.accepted.set(stats.accepted.get() + 1);
        if passed_on {
            stats.passed_on.set(stats.passed_on.get() + 1);
        }
    }

    fn count_over_limit(&self) {
        let stats = &self.ctx.stats;
        stats.rejected_over_limit.set(stats.rejected_over_limit.get() + 1);
    }
}

/// Accepts until `shutdown` is closed, then waits for open connections to finish (at most
/// `shutdown_drain_ms`). Connections refuse new requests once shutdown has begun. With a
/// `balance`, connections are evened out over executors (`accept::accept_until_shutdown`).
/// Listeners given the same `stats` share its cap of open connections.
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
    let open = OpenConnections::new(stats.open.clone(), limits.connections_max);
    let ctx = Rc::new(ConnectionContext { handler, limits, stats: stats.clone(), shutdown: shutdown.clone() });
    accept_until_shutdown(listener, shutdown, balance, open.clone(), Rc::new(HttpStarter { ctx, tls })).await;
    let still_open = open.drain(drain).await;
    if still_open > 0 {
        tracing::warn!(open = still_open, "shutdown drain deadline passed with connections still open");
    }
    stats
}

/// Serves one connection: the TLS handshake first when configured. `_slot` is dropped
/// when the connection ends.
async fn serve_stream(
    stream: glommio::net::TcpStream,
    peer: std::net::SocketAddr,
    ctx: Rc<ConnectionContext>,
    tls: Option<Rc<ReloadingConfig>>,
    _slot: OpenSlot,
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
