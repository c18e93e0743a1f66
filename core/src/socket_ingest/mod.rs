//! VictoriaMetrics' raw-socket ingestion: Graphite plaintext (`server.graphite_listen_addr`),
//! Influx line protocol (`server.influx_listen_addr`) and OpenTSDB telnet `put` lines
//! (`server.opentsdb_listen_addr`), each a TCP listener and a UDP socket on every executor
//! (SO_REUSEPORT). Lines are parsed and written through the executor's `ShardRouter` in
//! batches (`lines`). Under `tls`, UDP is not opened: a datagram cannot be authenticated.

mod lines;
mod stats;

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::future;

use crate::api::Api;
use crate::ingest::graphite::LINE_BYTES_MAX;
use lines::{LineReader, LineSink, Piece, Pushed, WarningGate};
pub use stats::{write_metrics, Protocol, Refusal, SocketStats, Transport};

/// Bytes read from a TCP connection at a time.
const READ_BYTES: usize = 64 << 10;
/// Largest UDP datagram read whole (a longer one is cut, and its last line with it).
const DATAGRAM_BYTES_MAX: usize = 64 << 10;
/// Authorized as this HTTP path is: a write (`tls.write_allowed_sans`).
const AUTHORIZED_AS: &str = "/api/v1/write";

/// The listening addresses of the two protocols, where configured. Executor 0 binds the
/// configured ones (port 0 becomes a real port); the others bind what it reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketAddrs {
    pub graphite: Option<SocketAddr>,
    pub influx: Option<SocketAddr>,
    pub opentsdb: Option<SocketAddr>,
}

impl SocketAddrs {
    pub fn get(&self, protocol: Protocol) -> Option<SocketAddr> {
        match protocol {
            Protocol::Graphite => self.graphite,
            Protocol::Influx => self.influx,
            Protocol::OpenTsdb => self.opentsdb,
        }
    }

    fn set(&mut self, protocol: Protocol, addr: SocketAddr) {
        match protocol {
            Protocol::Graphite => self.graphite = Some(addr),
            Protocol::Influx => self.influx = Some(addr),
            Protocol::OpenTsdb => self.opentsdb = Some(addr),
        }
    }
}

/// One executor's sockets of one protocol.
struct Bound {
    protocol: Protocol,
    tcp: glommio::net::TcpListener,
    udp: Option<glommio::net::UdpSocket>,
}

/// One executor's bound sockets (`bind`), served by `serve`.
pub struct SocketListeners(Vec<Bound>);

/// Binds the TCP listener of each configured address, and the UDP socket on the same port
/// with a receive buffer of `udp_receive_buffer_bytes` when that is given (not under TLS).
/// Returns them with the addresses bound and the receive buffer the kernel granted (see
/// `set_receive_buffer`); an error names the config key.
pub fn bind(addrs: &SocketAddrs, udp_receive_buffer_bytes: Option<usize>) -> Result<(SocketListeners, SocketAddrs, Option<usize>), String> {
    let mut bound = Vec::new();
    let mut resolved = SocketAddrs::default();
    let mut granted = None;
    for protocol in Protocol::ALL {
        let Some(addr) = addrs.get(protocol) else { continue };
        let key = protocol.config_key();
        let tcp = glommio::net::TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr} ({key}): {e}"))?;
        let tcp_addr = tcp.local_addr().map_err(|e| format!("cannot read the bound address of {key}: {e}"))?;
        // Port 0 resolves to the TCP listener's port, so both transports share it as they do
        // with a fixed port.
        let udp = match udp_receive_buffer_bytes {
            None => None,
            Some(bytes) => {
                let udp = glommio::net::UdpSocket::bind(tcp_addr).map_err(|e| format!("cannot listen on UDP {tcp_addr} ({key}): {e}"))?;
                granted = Some(set_receive_buffer(&udp, bytes).map_err(|e| format!("cannot set the receive buffer of UDP {tcp_addr} (server.udp_receive_buffer_bytes): {e}"))?);
                Some(udp)
            }
        };
        resolved.set(protocol, tcp_addr);
        bound.push(Bound { protocol, tcp, udp });
    }
    Ok((SocketListeners(bound), resolved, granted))
}

/// Asks for a receive buffer of `bytes` (SO_RCVBUF) and returns what the kernel granted:
/// Linux caps the request at `net.core.rmem_max` (and reports twice the usable size, which
/// is halved here). Datagrams that arrive while the buffer is full are lost, so a burst
/// larger than it is lost in part while an executor is busy.
fn set_receive_buffer(socket: &glommio::net::UdpSocket, bytes: usize) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd;
    let fd = socket.as_raw_fd();
    let asked = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: setsockopt/getsockopt on a socket this process owns, with a c_int option value
    // and its size.
    let set = unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, (&asked as *const libc::c_int).cast(), size) };
    if set != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut got: libc::c_int = 0;
    let mut got_size = size;
    // SAFETY: as above; `got_size` holds the size of `got`.
    let read = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, (&mut got as *mut libc::c_int).cast(), &mut got_size) };
    if read != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(usize::try_from(got).unwrap_or(0) / 2)
}

/// What every connection and datagram loop of one executor shares.
struct Context {
    api: Rc<Api>,
    tls: Option<Rc<net::ReloadingConfig>>,
    shutdown: async_channel::Receiver<()>,
    handshake_timeout: Duration,
    /// Each protocol's gate for bad-line warnings on this executor.
    bad_line_warnings: [WarningGate; Protocol::COUNT],
    /// HTTP/1.1 on the OpenTSDB port (a connection that does not start with `p` of `put`).
    opentsdb_http: Rc<net::http1::server::ConnectionContext>,
}

/// HTTP on the OpenTSDB port answers OpenTSDB's `/api/put` only, as VictoriaMetrics'
/// `-opentsdbListenAddr` does; every other path is a 404 there.
struct OpenTsdbHttp(Rc<Api>);

impl net::Handler for OpenTsdbHttp {
    fn handle(self: Rc<Self>, request: http::Request<bytes::Bytes>) -> net::ResponseFuture {
        if crate::api::is_opentsdb_put_path(request.uri().path()) {
            return self.0.clone().handle(request);
        }
        let path = request.uri().path().to_string();
        Box::pin(async move {
            crate::api::ApiError::not_found(&format!("{path} (the OpenTSDB port answers POST /api/put only)")).into_response()
        })
    }
}

/// Serves `listeners` until `shutdown` closes, then waits (at most
/// `server.shutdown_drain_seconds`) for connections to write out what they have read.
/// `balances` are this executor's members of the protocols' connection balances. TCP is
/// accepted by `net::accept_until_shutdown` as HTTP is (connections evened out by
/// `net::Balance`, the per-core cap, the drain).
pub async fn serve(
    listeners: SocketListeners,
    api: Rc<Api>,
    tls: Option<Rc<net::ReloadingConfig>>,
    http: (net::ServerLimits, std::sync::Arc<net::ConnectionStats>),
    shutdown: async_channel::Receiver<()>,
    mut balances: [Option<net::Balance>; Protocol::COUNT],
) {
    if listeners.0.is_empty() {
        return;
    }
    let server = &api.config.server;
    let drain = Duration::from_secs(server.shutdown_drain_seconds);
    // TCP connections of both protocols open on this executor, under
    // `server.max_connections_per_core` counted apart from HTTP's.
    let open = net::OpenConnections::new(Default::default(), server.max_connections_per_core);
    let (limits, stats) = http;
    let handler: Rc<dyn net::Handler> = Rc::new(OpenTsdbHttp(api.clone()));
    let opentsdb_http = Rc::new(net::http1::server::ConnectionContext { handler, limits, stats, shutdown: shutdown.clone() });
    let ctx = Rc::new(Context { handshake_timeout: Duration::from_secs(server.header_read_timeout_seconds), api, tls, shutdown, bad_line_warnings: Default::default(), opentsdb_http });
    let mut loops = Vec::new();
    for Bound { protocol, tcp, udp } in listeners.0 {
        let balance = balances[protocol as usize].take();
        let starter = Rc::new(SocketStarter { protocol, ctx: ctx.clone() });
        loops.push(glommio::spawn_local(net::accept_until_shutdown(tcp, ctx.shutdown.clone(), balance, open.clone(), starter)));
        if let Some(udp) = udp {
            loops.push(glommio::spawn_local(receive_udp(udp, protocol, ctx.clone())));
        }
    }
    for task in loops {
        task.await;
    }
    let still_open = open.drain(drain).await;
    if still_open > 0 {
        tracing::warn!(open = still_open, "shutdown drain deadline passed with Graphite/Influx socket connections still writing");
    }
}

/// Resolves when the server begins to shut down.
async fn shutting_down(shutdown: &async_channel::Receiver<()>) {
    // Nothing is ever sent: the channel closes.
    let _ = shutdown.recv().await;
}

/// Starts the TCP connections of one protocol's listener.
struct SocketStarter {
    protocol: Protocol,
    ctx: Rc<Context>,
}

impl net::StartConnection for SocketStarter {
    fn listener_name(&self) -> &'static str {
        self.protocol.name()
    }

    fn start(&self, stream: glommio::net::TcpStream, slot: net::OpenSlot) {
        let Ok(peer) = stream.peer_addr() else { return };
        self.ctx.api.metrics.socket.count_connection(self.protocol);
        glommio::spawn_local(serve_connection(stream, peer, self.protocol, self.ctx.clone(), slot)).detach();
    }

    fn count_over_limit(&self) {
        self.ctx.api.metrics.socket.count_refused(self.protocol, Refusal::OverLimit);
    }
}

/// Reads one connection's lines until it closes or the server shuts down. Only a clean
/// close hands out a last line without a newline (a line cut by shutdown or an error may be
/// a truncated number). With `tls`, the connection speaks TLS (client certificates and
/// `tls.write_allowed_sans` as for HTTP writes). On the OpenTSDB port, a connection whose
/// first byte is an upper-case letter (an HTTP method) is HTTP and served as such
/// (`OpenTsdbHttp`, for its `/api/put`, as VictoriaMetrics serves both on that port), and
/// `version` commands are answered with a line.
async fn serve_connection(stream: glommio::net::TcpStream, peer: SocketAddr, protocol: Protocol, ctx: Rc<Context>, _slot: net::OpenSlot) {
    let stats = &ctx.api.metrics.socket;
    let (mut stream, identity) = match net::RawStream::accept(stream, ctx.tls.as_deref(), ctx.handshake_timeout).await {
        Ok(accepted) => accepted,
        Err(error) => {
            stats.count_refused(protocol, Refusal::TlsHandshake);
            tracing::info!(%peer, %error, protocol = protocol.name(), "TLS handshake rejected");
            return;
        }
    };
    // The same check as an HTTP write (it logs and counts a refusal).
    if ctx.api.authorize(Some(&net::PeerInfo { addr: peer, identity: identity.clone() }), AUTHORIZED_AS).is_err() {
        stats.count_refused(protocol, Refusal::Unauthorized);
        return;
    }
    let api = ctx.api.clone();
    let mut sink = LineSink::new(&api, protocol, Transport::Tcp, peer, &ctx.bad_line_warnings[protocol as usize]);
    let mut reader = LineReader::new(LINE_BYTES_MAX);
    let mut buf = vec![0u8; READ_BYTES];
    let mut first_read = true;
    let end = loop {
        let read = future::or(async { Some(stream.read(&mut buf).await) }, async {
            shutting_down(&ctx.shutdown).await;
            None
        })
        .await;
        let n = match read {
            Some(Ok(0)) => break End::Closed,
            Some(Ok(n)) => n,
            Some(Err(error)) => {
                tracing::debug!(%peer, %error, protocol = protocol.name(), "socket read failed");
                break End::Cut;
            }
            None => break End::Cut,
        };
        // OpenTSDB's port also speaks HTTP: a request starts with an upper-case method (`POST`,
        // or `PRI` of HTTP/2), a telnet command with a lower-case word (`put`, `version`).
        // (VictoriaMetrics takes anything but `p` for HTTP, so a `version` check goes astray.)
        if std::mem::take(&mut first_read) && protocol == Protocol::OpenTsdb && buf[0].is_ascii_uppercase() {
            break End::Http(n);
        }
        sink.set_now_ms(now_ms());
        consume(&mut reader, &mut sink, &buf[..n]).await;
        // What arrived together is written together; the sender is not read meanwhile.
        sink.flush().await;
        let versions = sink.take_version_requests();
        if versions > 0 {
            let answer = format!("metricstor {} (OpenTSDB telnet put)\n", env!("CARGO_PKG_VERSION")).repeat(versions);
            if let Err(error) = stream.write_all(answer.as_bytes()).await {
                tracing::debug!(%peer, %error, "cannot answer an OpenTSDB version command");
                break End::Cut;
            }
        }
    };
    match end {
        End::Http(n) => {
            buf.truncate(n);
            stream.serve_http(peer, identity, buf, ctx.opentsdb_http.clone()).await;
            return;
        }
        End::Closed => {
            if let Some(last) = reader.finish() {
                push(&mut sink, last).await;
            }
        }
        End::Cut => {}
    }
    sink.flush().await;
}

/// How a connection's read loop ended.
enum End {
    /// The client closed its side: a last line without a newline is whole.
    Closed,
    /// An error or shutdown: a last line without a newline may be cut short.
    Cut,
    /// HTTP on the OpenTSDB port, its first bytes read (this many of the buffer).
    Http(usize),
}

/// Receives datagrams until shutdown; each is a set of whole lines, parsed on its own into
/// the batch that a writer beside this loop takes whenever it is free. So reading never
/// waits for a write to land (a sender is not held back by UDP: what the kernel's buffer
/// cannot hold while the reader waits is lost), and under load one write carries many
/// datagrams; only a full batch (`LineSink::is_full`) waits for the writer.
async fn receive_udp(socket: glommio::net::UdpSocket, protocol: Protocol, ctx: Rc<Context>) {
    let stats = &ctx.api.metrics.socket;
    let mut buf = vec![0u8; DATAGRAM_BYTES_MAX];
    let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
    let sink = RefCell::new(LineSink::new(&ctx.api, protocol, Transport::Udp, unspecified, &ctx.bad_line_warnings[protocol as usize]));
    let done = Cell::new(false);
    // Coalescing wake-ups: "the batch has lines" to the writer, "the batch was taken" back.
    let (work_tx, work_rx) = async_channel::bounded::<()>(1);
    let (room_tx, room_rx) = async_channel::bounded::<()>(1);
    let receive = async {
        loop {
            let received = future::or(async { Some(socket.recv_from(&mut buf).await) }, async {
                shutting_down(&ctx.shutdown).await;
                None
            })
            .await;
            let (n, peer) = match received {
                None => break,
                Some(Ok(got)) => got,
                Some(Err(error)) => {
                    tracing::debug!(%error, protocol = protocol.name(), "UDP receive failed");
                    glommio::timer::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            stats.count_datagram(protocol);
            {
                let mut sink = sink.borrow_mut();
                sink.set_peer(peer);
                sink.set_now_ms(now_ms());
            }
            let mut reader = LineReader::new(LINE_BYTES_MAX);
            let datagram = &buf[..n];
            let mut position = 0;
            loop {
                let line = match reader.next(datagram, &mut position) {
                    Piece::Line(range) => &datagram[range],
                    Piece::Joined => reader.joined(),
                    Piece::TooLong => {
                        sink.borrow_mut().too_long();
                        continue;
                    }
                    Piece::NeedMore => match reader.finish() {
                        Some(last) => last,
                        None => break,
                    },
                };
                push(&mut WriterBeside { sink: &sink, work: &work_tx, room: &room_rx }, line).await;
            }
            let _ = work_tx.try_send(());
        }
        done.set(true);
        let _ = work_tx.try_send(());
    };
    let write = async {
        loop {
            let taken = sink.borrow_mut().take_batch();
            match taken {
                Some(taken) => {
                    let _ = room_tx.try_send(());
                    taken.write(&ctx.api).await;
                }
                None if done.get() => break,
                None => {
                    if work_rx.recv().await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    future::zip(receive, write).await;
}

/// Hands every line of `chunk` to `sink`, writing the batch out whenever it fills.
async fn consume(reader: &mut LineReader, sink: &mut LineSink<'_>, chunk: &[u8]) {
    let mut position = 0;
    loop {
        match reader.next(chunk, &mut position) {
            Piece::Line(range) => push(sink, &chunk[range]).await,
            Piece::Joined => push(sink, reader.joined()).await,
            Piece::TooLong => sink.too_long(),
            Piece::NeedMore => return,
        }
    }
}

/// A batch being filled, and how it is emptied when full: a TCP connection writes it itself
/// (`LineSink`), the UDP loop has its writer take it (`WriterBeside`).
trait FillingBatch {
    fn push(&mut self, line: &[u8]) -> Pushed;
    fn is_full(&self) -> bool;
    /// Returns once the batch is empty (written, or taken to be written).
    async fn empty(&mut self);
}

impl FillingBatch for LineSink<'_> {
    fn push(&mut self, line: &[u8]) -> Pushed {
        LineSink::push(self, line)
    }

    fn is_full(&self) -> bool {
        LineSink::is_full(self)
    }

    async fn empty(&mut self) {
        self.flush().await;
    }
}

/// The UDP loop's batch: a writer beside the loop takes it when told there is work, and
/// says when it has (`room`).
struct WriterBeside<'s, 'a> {
    sink: &'s RefCell<LineSink<'a>>,
    work: &'s async_channel::Sender<()>,
    room: &'s async_channel::Receiver<()>,
}

impl FillingBatch for WriterBeside<'_, '_> {
    fn push(&mut self, line: &[u8]) -> Pushed {
        self.sink.borrow_mut().push(line)
    }

    fn is_full(&self) -> bool {
        self.sink.borrow().is_full()
    }

    async fn empty(&mut self) {
        // A "taken" signal may be left from an earlier batch: wait until this one is taken.
        while self.sink.borrow().has_batch() {
            let _ = self.work.try_send(());
            // The writer outlives this loop, so the channel is not closed while it runs.
            if self.room.recv().await.is_err() {
                return;
            }
        }
    }
}

/// Adds `line` to the batch, emptying the batch first when it cannot take the line (an
/// empty batch skips a line too large, never refuses it again) and after when it is full.
async fn push(batch: &mut impl FillingBatch, line: &[u8]) {
    if batch.push(line) == Pushed::FlushFirst {
        batch.empty().await;
        let _ = batch.push(line);
    }
    if batch.is_full() {
        batch.empty().await;
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Logs where the socket listeners listen, once at start (tests read the addresses here),
/// and the UDP receive buffer when the kernel granted less than `asked_udp_buffer`.
pub fn log_listening(addrs: &SocketAddrs, tls: bool, mtls: &str, asked_udp_buffer: usize, granted_udp_buffer: Option<usize>) {
    for protocol in Protocol::ALL {
        let Some(addr) = addrs.get(protocol) else { continue };
        let what = match protocol {
            Protocol::Graphite => "Graphite plaintext",
            Protocol::Influx => "InfluxDB line protocol",
            Protocol::OpenTsdb => "OpenTSDB put lines (and HTTP /api/put over TCP)",
        };
        if tls {
            tracing::info!(%addr, "listening for {what} on tls://{addr} (TCP{mtls})");
            tracing::info!(key = protocol.config_key(), "{what}: UDP not opened on {addr}, since TLS is configured and a datagram cannot be authenticated");
        } else {
            tracing::info!(%addr, "listening for {what} on tcp://{addr} and udp://{addr}");
        }
    }
    if let Some(granted) = granted_udp_buffer.filter(|&granted| granted < asked_udp_buffer) {
        tracing::info!(
            granted,
            asked = asked_udp_buffer,
            "UDP receive buffers hold {granted} bytes, not the {asked_udp_buffer} of server.udp_receive_buffer_bytes: the kernel's net.core.rmem_max caps them (raise it to lose fewer datagrams in bursts)"
        );
    }
}
