//! A TCP connection as a plain stream of bytes, behind TLS when configured, for protocols that
//! are not HTTP (core's Graphite and Influx line listeners). The handshake is bounded by a
//! timeout and yields the client certificate's identity, as for HTTP connections.

use std::io;
use std::time::Duration;

use futures_lite::future;
use tokio::io::AsyncReadExt;

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
    /// identity is that of the client's certificate, when it presented one.
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

    /// Reads what has arrived into `buf`: the byte count, 0 at the end of the stream.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.0 {
            Inner::Plain(stream) => stream.read(buf).await,
            Inner::Tls(stream) => stream.read(buf).await,
        }
    }
}
