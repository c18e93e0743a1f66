//! TLS and mTLS over real sockets with a PKI generated at run time (rcgen): a valid client
//! certificate is accepted and its identity reaches the handler; no certificate, a
//! certificate from another CA and an expired one are refused; certificate rotation
//! reaches new connections without a restart; a revoked certificate (`crl_file`) is refused,
//! and so is one whose CA has no list there.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

mod common;

use bytes::Bytes;
use net::{Handler, PeerInfo, ResponseFuture, ServerLimits, TlsSettings, TlsVersion};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

struct WhoAmI;

impl Handler for WhoAmI {
    fn handle(self: Rc<Self>, request: http::Request<Bytes>) -> ResponseFuture {
        Box::pin(async move {
            let who = request
                .extensions()
                .get::<PeerInfo>()
                .and_then(|p| p.identity.clone())
                .map(|i| format!("sans={:?} cn={:?}", i.sans, i.common_name))
                .unwrap_or_else(|| "anonymous".into());
            http::Response::new(Bytes::from(who))
        })
    }
}

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    Ca { cert: params.self_signed(&key).unwrap(), key }
}

fn leaf(ca: &Ca, sans: &[&str], cn: &str, expired: bool) -> (String, String) {
    let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    if expired {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn write_server_files(dir: &Path, ca: &Ca, cn: &str) {
    let (cert, key) = leaf(ca, &["localhost"], cn, false);
    std::fs::write(dir.join("server.crt"), cert).unwrap();
    std::fs::write(dir.join("server.key"), key).unwrap();
    std::fs::write(dir.join("ca.crt"), ca.cert.pem()).unwrap();
}

/// A client certificate with the given serial number (what a revocation list names).
fn leaf_with_serial(ca: &Ca, cn: &str, serial: u64) -> (String, String) {
    let mut params = CertificateParams::new(vec![cn.to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.serial_number = Some(rcgen::SerialNumber::from(serial));
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// `ca`'s revocation list (PEM) naming `serials`, numbered `number`.
fn crl(ca: &Ca, number: u64, serials: &[u64]) -> String {
    let params = rcgen::CertificateRevocationListParams {
        this_update: rcgen::date_time_ymd(2020, 1, 1),
        next_update: rcgen::date_time_ymd(2999, 1, 1),
        crl_number: rcgen::SerialNumber::from(number),
        issuing_distribution_point: None,
        revoked_certs: serials
            .iter()
            .map(|s| rcgen::RevokedCertParams { serial_number: rcgen::SerialNumber::from(*s), revocation_time: rcgen::date_time_ymd(2020, 1, 1), reason_code: None, invalidity_date: None })
            .collect(),
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    };
    params.signed_by(&ca.cert, &ca.key).unwrap().pem().unwrap()
}

fn start(dir: &Path) -> (SocketAddr, async_channel::Sender<()>, std::thread::JoinHandle<()>) {
    start_with_crl(dir, None)
}

fn start_with_crl(dir: &Path, crl_file: Option<std::path::PathBuf>) -> (SocketAddr, async_channel::Sender<()>, std::thread::JoinHandle<()>) {
    let settings = TlsSettings {
        cert_file: dir.join("server.crt"),
        key_file: dir.join("server.key"),
        ca_file: Some(dir.join("ca.crt")),
        crl_file,
        require_client_cert: true,
        min_version: TlsVersion::Tls12,
    };
    let (addr_tx, addr_rx) = mpsc::channel();
    let (shutdown_tx, shutdown_rx) = async_channel::bounded::<()>(1);
    let limits = ServerLimits { header_read_timeout_ms: 3_000, ..ServerLimits::default() };
    let thread = common::serve_tls_on_thread(|| WhoAmI, limits, settings, Default::default(), shutdown_rx, addr_tx);
    (addr_rx.recv_timeout(Duration::from_secs(30)).expect("started"), shutdown_tx, thread)
}

type ClientStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// One request over TLS; Err when the handshake or exchange fails.
fn request(addr: SocketAddr, ca_pem: &str, client: Option<(&str, &str)>) -> Result<(String, Vec<u8>), String> {
    let mut tls = connect_tls(addr, ca_pem, client)?;
    tls.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    tls.read_to_end(&mut response).map_err(|e| e.to_string())?;
    let server_cert = tls.conn.peer_certificates().and_then(|c| c.first()).map(|c| c.as_ref().to_vec()).unwrap_or_default();
    Ok((String::from_utf8_lossy(&response).into_owned(), server_cert))
}

fn connect_tls(addr: SocketAddr, ca_pem: &str, client: Option<(&str, &str)>) -> Result<ClientStream, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.as_bytes()).collect::<Result<_, _>>().map_err(|e| e.to_string())?;
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| e.to_string())?;
            builder.with_client_auth_cert(chain, key).map_err(|e| e.to_string())?
        }
    };
    let connection = rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap()).map_err(|e| e.to_string())?;
    let socket = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    Ok(rustls::StreamOwned::new(connection, socket))
}

#[test]
fn mutual_tls_accepts_only_valid_client_certificates_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let good_ca = ca("metricstor test CA");
    let other_ca = ca("someone else's CA");
    write_server_files(dir.path(), &good_ca, "server-1");
    let ca_pem = good_ca.cert.pem();
    let (addr, shutdown, thread) = start(dir.path());

    let (agent_cert, agent_key) = leaf(&good_ca, &["agent.example"], "agent", false);
    let (response, first_server_cert) = request(addr, &ca_pem, Some((&agent_cert, &agent_key))).expect("valid client accepted");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("sans=[\"agent.example\"] cn=Some(\"agent\")"), "{response}");

    // `Expect: 100-continue` over TLS: the interim response must leave before the body comes.
    let mut tls = connect_tls(addr, &ca_pem, Some((&agent_cert, &agent_key))).expect("valid client accepted");
    tls.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n").unwrap();
    let mut interim = [0u8; 25];
    tls.read_exact(&mut interim).expect("100 Continue before the body");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    tls.write_all(b"ok").unwrap();
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response);
    assert!(String::from_utf8_lossy(&response).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&response));

    assert!(request(addr, &ca_pem, None).is_err(), "no client certificate must be refused");
    let (foreign_cert, foreign_key) = leaf(&other_ca, &["agent.example"], "agent", false);
    assert!(request(addr, &ca_pem, Some((&foreign_cert, &foreign_key))).is_err(), "a certificate from another CA must be refused");
    let (old_cert, old_key) = leaf(&good_ca, &["agent.example"], "agent", true);
    assert!(request(addr, &ca_pem, Some((&old_cert, &old_key))).is_err(), "an expired certificate must be refused");

    // Rotate the server certificate; new connections get it without a restart.
    write_server_files(dir.path(), &good_ca, "server-2");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (response, cert) = request(addr, &ca_pem, Some((&agent_cert, &agent_key))).expect("still serving during rotation");
        assert!(response.starts_with("HTTP/1.1 200"));
        if cert != first_server_cert {
            break;
        }
        assert!(Instant::now() < deadline, "rotated certificate not served within 20 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    // A broken new key keeps the previous (working) configuration.
    std::fs::write(dir.path().join("server.key"), "not a key").unwrap();
    std::thread::sleep(Duration::from_millis(2_200));
    assert!(request(addr, &ca_pem, Some((&agent_cert, &agent_key))).is_ok(), "a bad new file must not break serving");
    drop(shutdown);
    thread.join().unwrap();
}

#[test]
fn revoked_client_certificates_are_refused_and_a_new_list_reaches_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    let good_ca = ca("metricstor test CA");
    write_server_files(dir.path(), &good_ca, "server");
    let ca_pem = good_ca.cert.pem();
    let crl_file = dir.path().join("ca.crl");
    std::fs::write(&crl_file, crl(&good_ca, 1, &[7])).unwrap();
    let (addr, shutdown, thread) = start_with_crl(dir.path(), Some(crl_file.clone()));
    let (kept_cert, kept_key) = leaf_with_serial(&good_ca, "kept", 6);
    let (revoked_cert, revoked_key) = leaf_with_serial(&good_ca, "revoked", 7);
    let (response, _) = request(addr, &ca_pem, Some((&kept_cert, &kept_key))).expect("a certificate the list does not name is accepted");
    assert!(response.starts_with("HTTP/1.1 200") && response.contains("cn=Some(\"kept\")"), "{response}");
    let refused = request(addr, &ca_pem, Some((&revoked_cert, &revoked_key))).expect_err("a revoked certificate must be refused");
    assert!(refused.to_lowercase().contains("revoked"), "the client is told why: {refused}");
    // A new list (the next number) revokes the other one too, on new connections, no restart.
    std::fs::write(&crl_file, crl(&good_ca, 2, &[6, 7])).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while request(addr, &ca_pem, Some((&kept_cert, &kept_key))).is_ok() {
        assert!(Instant::now() < deadline, "the new revocation list not in force within 20 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    // A list from another CA only: the status of this CA's certificates is unknown, refused.
    let other_ca = ca("someone else's CA");
    std::fs::write(&crl_file, crl(&other_ca, 1, &[])).unwrap();
    let (fresh_cert, fresh_key) = leaf_with_serial(&good_ca, "fresh", 8);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match request(addr, &ca_pem, Some((&fresh_cert, &fresh_key))) {
            Err(error) if !error.to_lowercase().contains("revoked") => break,
            _ => assert!(Instant::now() < deadline, "a certificate of unknown status still accepted or named revoked after 20 s"),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(shutdown);
    thread.join().unwrap();
}

#[test]
fn revocation_list_files_are_checked_when_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let good_ca = ca("metricstor test CA");
    write_server_files(dir.path(), &good_ca, "server");
    let settings = |crl_file: Option<std::path::PathBuf>, ca_file: Option<std::path::PathBuf>| TlsSettings {
        cert_file: dir.path().join("server.crt"),
        key_file: dir.path().join("server.key"),
        ca_file,
        crl_file,
        require_client_cert: false,
        min_version: TlsVersion::Tls12,
    };
    let ca_file = Some(dir.path().join("ca.crt"));
    let crl_file = dir.path().join("ca.crl");
    std::fs::write(&crl_file, crl(&good_ca, 1, &[])).unwrap();
    assert!(net::tls::load_server_config(&settings(Some(crl_file.clone()), ca_file.clone())).is_ok());
    let error = net::tls::load_server_config(&settings(Some(crl_file.clone()), None)).unwrap_err().to_string();
    assert!(error.contains("crl_file needs ca_file"), "{error}");
    std::fs::write(&crl_file, good_ca.cert.pem()).unwrap();
    let error = net::tls::load_server_config(&settings(Some(crl_file.clone()), ca_file.clone())).unwrap_err().to_string();
    assert!(error.contains("certificate revocation list") && error.contains("ca.crl") && error.contains("BEGIN X509 CRL"), "{error}");
    let error = net::tls::load_server_config(&settings(Some(dir.path().join("missing.crl")), ca_file)).unwrap_err().to_string();
    assert!(error.contains("missing.crl"), "{error}");
}
