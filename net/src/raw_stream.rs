//! A TCP connection as a plain stream of bytes, behind TLS when configured, for protocols that
//! are not HTTP (core's Graphite, Influx and OpenTSDB line listeners).

use std::io;
use std::time::Duration;

use futures_lite::future;
use tokio::io::AsyncReadExt;

use crate::http1::server::{serve_connection, ConnectionContext};
use crate::http2::{serve_h2, PREFACE};
use crate::rewind::Rewind;
use crate::io_adapter::TokioIo;
use crate::tls::{identity_of, ClientIdentity, ReloadingConfig};

/// An accepted connection's bytes, read in order (`read`).
pub struct RawStream(Inner);

enum Inner {
    Plain(TokioIo<glommio::net::TcpStream>),
    Tls(Box<tokio_rustls::server::TlsStream<TokioIo<glommio::net::TcpStream>>>),
}

impl RawStream {
    /// Plaintext without `tls`; otherwise the TLS handshake first (at most `handshake_timeout`;
    /// under `require_client_cert` rustls refuses a client without a valid certificate). The
    /// identity is that of the client's certificate, when it presented one, as for HTTP
    /// connections.
    pub async fn accept(stream: glommio::net::TcpStream, tls: Option<&ReloadingConfig>, handshake_timeout: Duration) -> io::Result<(RawStream, Option<ClientIdentity>)> {
        let Some(tls) = tls else {
            return Ok((RawStream(Inner::Plain(TokioIo(stream))), None));
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
        let handshake = future::or(async { Some(acceptor.accept(TokioIo(stream)).await) }, async {
            glommio::timer::sleep(handshake_timeout).await;
            None
        });
        match handshake.await {
            Some(Ok(tls_stream)) => {
                let identity = tls_stream.get_ref().1.peer_certificates().and_then(|c| c.first()).map(identity_of);
                Ok((RawStream(Inner::Tls(Box::new(tls_stream))), identity))
            }
            Some(Err(error)) => Err(error),
            None => Err(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")),
        }
    }

    /// Serves the rest of the connection as HTTP, `initial` being the bytes already read from
    /// it (replayed first): HTTP/2 when TLS negotiated `h2` or a plaintext connection starts
    /// with the HTTP/2 preface (prior knowledge), HTTP/1.1 otherwise; until it closes. A
    /// listener that also speaks HTTP/1.1 on its port (OpenTSDB's: its telnet `put` lines and
    /// its HTTP `/api/put`) hands the connection over here once it has seen which.
    pub async fn serve_http(self, peer: std::net::SocketAddr, identity: Option<ClientIdentity>, initial: Vec<u8>, ctx: std::rc::Rc<ConnectionContext>) {
        // The preface's first line is enough to tell: a first read holds at least that much
        // of it from any real HTTP/2 client.
        let h2_preface = initial.starts_with(&PREFACE[..16]);
        match self.0 {
            Inner::Plain(stream) if h2_preface => serve_h2(Rewind::new(initial, stream), peer, identity, ctx).await,
            Inner::Plain(stream) => serve_connection(stream, peer, identity, initial, ctx).await,
            Inner::Tls(stream) if stream.get_ref().1.alpn_protocol() == Some(b"h2") => serve_h2(Rewind::new(initial, *stream), peer, identity, ctx).await,
            Inner::Tls(stream) => serve_connection(*stream, peer, identity, initial, ctx).await,
        }
    }

    /// Writes all of `bytes` to the client (a line protocol's answer to a command).
    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        use tokio::io::AsyncWriteExt;
        match &mut self.0 {
            Inner::Plain(stream) => {
                stream.write_all(bytes).await?;
                stream.flush().await
            }
            Inner::Tls(stream) => {
                stream.write_all(bytes).await?;
                stream.flush().await
            }
        }
    }

    /// Reads what has arrived into `buf`: the byte count, 0 at the end of the stream.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.0 {
            Inner::Plain(stream) => stream.read(buf).await,
            Inner::Tls(stream) => stream.read(buf).await,
        }
    }
}
