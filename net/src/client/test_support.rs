//! Fixtures shared by the client's tests: a glommio executor per test, blocking servers on
//! 127.0.0.1:0 that read request heads and answer, and test CAs with TLS servers they sign.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream as StdStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::PrivatePkcs8KeyDer;

use super::HttpClient;

pub(super) const LIMIT: usize = 1 << 20;
pub(super) const LONG: Duration = Duration::from_secs(10);

/// Runs `test` on a glommio executor of its own (on this thread).
pub(super) fn run<T>(test: impl std::future::Future<Output = T>) -> T {
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound).io_memory(1 << 20).make().expect("executor").run(test)
}

/// A server thread on 127.0.0.1:0 running `serve`; returns the port it listens on.
pub(super) fn server<T: Send + 'static>(serve: impl FnOnce(TcpListener) -> T + Send + 'static) -> (u16, JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    (port, std::thread::spawn(move || serve(listener)))
}

pub(super) fn accept(listener: &TcpListener) -> StdStream {
    let (stream, _) = listener.accept().expect("accept");
    stream.set_read_timeout(Some(LONG)).expect("timeout");
    stream
}

/// One request head, or None when the client closed (or broke) the connection first.
pub(super) fn read_request(stream: &mut impl Read) -> Option<String> {
    let mut head = Vec::new();
    let mut chunk = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// Serves one connection: each response in turn, each after reading a request.
pub(super) fn serve_one(listener: TcpListener, responses: Vec<Vec<u8>>) -> Vec<String> {
    let mut stream = accept(&listener);
    let mut requests = Vec::new();
    for response in responses {
        requests.push(read_request(&mut stream).expect("request"));
        stream.write_all(&response).expect("respond");
    }
    requests
}

pub(super) fn client(port: u16) -> HttpClient {
    HttpClient::new("127.0.0.1".into(), port, None)
}

pub(super) struct Ca {
    pub(super) cert: rcgen::Certificate,
    key: KeyPair,
}

pub(super) fn ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().expect("key");
    Ca { cert: params.self_signed(&key).expect("self-signed"), key }
}

/// A test CA named `name` whose certificate is written to `dir/ca.pem` (its path returned).
pub(super) fn ca_in(dir: &std::path::Path, name: &str) -> (Ca, std::path::PathBuf) {
    let authority = ca(name);
    let path = dir.join("ca.pem");
    std::fs::write(&path, authority.cert.pem()).expect("write the CA");
    (authority, path)
}

/// A rustls server configuration speaking `versions`, with a certificate `ca` signs for `sans`.
pub(super) fn server_config(ca: &Ca, sans: &[&str], versions: &[&'static rustls::SupportedProtocolVersion]) -> Arc<rustls::ServerConfig> {
    let (cert, key) = leaf(ca, sans);
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], PrivatePkcs8KeyDer::from(key.serialize_der()).into())
        .expect("server config");
    Arc::new(config)
}

pub(super) fn leaf(ca: &Ca, sans: &[&str]) -> (rcgen::Certificate, KeyPair) {
    let params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("params");
    let key = KeyPair::generate().expect("key");
    (params.signed_by(&key, &ca.cert, &ca.key).expect("signed"), key)
}

/// A blocking rustls server answering `connections` connections in turn (those whose
/// handshake fails are skipped); returns how many got an answer.
pub(super) fn tls_server(ca: &Ca, connections: usize) -> (u16, JoinHandle<usize>) {
    tls_server_speaking(ca, connections, rustls::DEFAULT_VERSIONS)
}

/// A TLS server speaking only `versions`.
pub(super) fn tls_server_speaking(ca: &Ca, connections: usize, versions: &[&'static rustls::SupportedProtocolVersion]) -> (u16, JoinHandle<usize>) {
    let config = server_config(ca, &["localhost", "127.0.0.1"], versions);
    server(move |listener| {
        let mut answered = 0;
        for _ in 0..connections {
            let socket = accept(&listener);
            let mut tls = rustls::StreamOwned::new(rustls::ServerConnection::new(config.clone()).expect("connection"), socket);
            if read_request(&mut tls).is_none() {
                continue;
            }
            if tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecure").is_ok() {
                tls.conn.send_close_notify();
                let _ = tls.flush();
                answered += 1;
            }
        }
        answered
    })
}
