//! The TLS client configuration Prometheus' `tls_config` describes: the CA, client
//! certificate and key as PEM files or inline text ([`Pem`]), the system roots read once
//! per process, the TLS versions allowed, and `insecure_skip_verify`'s verifier.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The system roots used when `tls_config` names no `ca_file`.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// `cert_file` and `key_file` as `tls_config` gives them: both or neither.
pub fn cert_and_key_pair<'a>(cert_file: Option<&'a Path>, key_file: Option<&'a Path>) -> Result<Option<(&'a Path, &'a Path)>, String> {
    match (cert_file, key_file) {
        (Some(cert), Some(key)) => Ok(Some((cert, key))),
        (None, None) => Ok(None),
        (Some(cert), None) => Err(format!("cert_file {} is set without key_file", cert.display())),
        (None, Some(key)) => Err(format!("key_file {} is set without cert_file", key.display())),
    }
}

/// Where a PEM document of a TLS configuration comes from: a file (`ca_file`, ...), or the
/// text itself (Prometheus' inline `ca`, `cert` and `key`; a kubeconfig's `*-data`), named
/// by `what` in messages.
#[derive(Clone, Copy, Debug)]
pub enum Pem<'a> {
    File(&'a Path),
    Inline { what: &'a str, pem: &'a [u8] },
}

impl Pem<'_> {
    /// How messages name it, `file_key` being the key a file is given under.
    fn describe(&self, file_key: &str) -> String {
        match self {
            Pem::File(path) => format!("{file_key} {}", path.display()),
            Pem::Inline { what, .. } => what.to_string(),
        }
    }

    fn certificates(&self, file_key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
        let certs: Result<Vec<CertificateDer<'static>>, _> = match self {
            Pem::File(path) => CertificateDer::pem_file_iter(path).and_then(|certs| certs.collect()),
            Pem::Inline { pem, .. } => CertificateDer::pem_slice_iter(pem).collect(),
        };
        let certs = certs.map_err(|e| format!("cannot read {}: {e}", self.describe(file_key)))?;
        if certs.is_empty() {
            return Err(format!("{} holds no PEM certificate", self.describe(file_key)));
        }
        Ok(certs)
    }

    fn private_key(&self, file_key: &str) -> Result<PrivateKeyDer<'static>, String> {
        let key = match self {
            Pem::File(path) => PrivateKeyDer::from_pem_file(path),
            Pem::Inline { pem, .. } => PrivateKeyDer::from_pem_slice(pem),
        };
        key.map_err(|e| format!("cannot read {}: {e}", self.describe(file_key)))
    }
}

/// A rustls client config as Prometheus' `tls_config` describes one: `ca_file` or inline `ca` (PEM bundle; without it the system roots from /etc/ssl/certs/ca-certificates.crt, or an empty store if that file does not exist), optional client `cert_file`+`key_file` or inline `cert`+`key` (PEM; [`cert_and_key_pair`] turns the two options into this argument, refusing one without the other), `insecure_skip_verify` (accept any server certificate, still checking the handshake's signatures). ALPN "http/1.1". Errors name the file and the problem.
pub fn client_tls_config(ca: Option<Pem<'_>>, cert_and_key: Option<(Pem<'_>, Pem<'_>)>, insecure_skip_verify: bool) -> Result<Arc<ClientConfig>, String> {
    client_tls_config_with_versions(ca, cert_and_key, insecure_skip_verify, TlsVersions::Both)
}

/// The TLS versions a client may speak (rustls speaks 1.2 and 1.3): Prometheus'
/// `min_version: TLS13` or `max_version: TLS12` narrow them to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersions {
    Both,
    Only12,
    Only13,
}

/// As [`client_tls_config`], speaking only `versions`.
pub fn client_tls_config_with_versions(ca: Option<Pem<'_>>, cert_and_key: Option<(Pem<'_>, Pem<'_>)>, insecure_skip_verify: bool, versions: TlsVersions) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = match ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in ca.certificates("ca_file")? {
                roots.add(cert).map_err(|e| format!("{}: unusable certificate: {e}", ca.describe("ca_file")))?;
            }
            Arc::new(roots)
        }
        None => system_roots()?,
    };
    let versions: &[&rustls::SupportedProtocolVersion] = match versions {
        TlsVersions::Both => rustls::DEFAULT_VERSIONS,
        TlsVersions::Only12 => &[&rustls::version::TLS12],
        TlsVersions::Only13 => &[&rustls::version::TLS13],
    };
    let builder = ClientConfig::builder_with_provider(provider.clone()).with_protocol_versions(versions).map_err(|e| format!("TLS configuration: {e}"))?;
    let builder = if insecure_skip_verify {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyServerCertificate { algorithms: provider.signature_verification_algorithms }))
    } else {
        builder.with_root_certificates(roots)
    };
    let mut config = match cert_and_key {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = cert.certificates("cert_file")?;
            let private_key = key.private_key("key_file")?;
            builder
                .with_client_auth_cert(chain, private_key)
                .map_err(|e| format!("{} and {} cannot be used together: {e}", cert.describe("cert_file"), key.describe("key_file")))?
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// `config` offering HTTP/2 first by ALPN (`h2`, then `http/1.1`), as Prometheus'
/// `enable_http2` does; a server that chooses `h2` is then spoken to in HTTP/2.
pub fn with_http2(config: &Arc<ClientConfig>) -> Arc<ClientConfig> {
    let mut config = ClientConfig::clone(config);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// The system's roots, read from [`SYSTEM_CA_BUNDLE`] once per process (as Go reads its
/// system pool once) and shared by every configuration without a `ca_file`: hundreds of
/// scrape jobs parse the bundle once. An empty store when the file does not exist.
fn system_roots() -> Result<Arc<RootCertStore>, String> {
    // Only a good read is kept: a failed one is tried again at the next configuration (a
    // reload), as before the roots were shared.
    static ROOTS: std::sync::OnceLock<Arc<RootCertStore>> = std::sync::OnceLock::new();
    if let Some(roots) = ROOTS.get() {
        return Ok(roots.clone());
    }
    let mut roots = RootCertStore::empty();
    let system = Path::new(SYSTEM_CA_BUNDLE);
    if system.exists() {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(system)
            .and_then(|certs| certs.collect::<Result<_, _>>())
            .map_err(|e| format!("cannot read the system CA bundle {SYSTEM_CA_BUNDLE}: {e}"))?;
        // A system bundle may hold a certificate webpki cannot use; skip those.
        roots.add_parsable_certificates(certs);
    }
    Ok(ROOTS.get_or_init(|| Arc::new(roots)).clone())
}

/// `insecure_skip_verify`: any certificate chain and name is accepted, but the handshake's
/// signatures are still checked against the presented certificate.
#[derive(Debug)]
struct AnyServerCertificate {
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyServerCertificate {
    fn verify_server_cert(&self, _end_entity: &CertificateDer<'_>, _intermediates: &[CertificateDer<'_>], _server_name: &ServerName<'_>, _ocsp_response: &[u8], _now: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{ca, ca_in, leaf, run, tls_server, tls_server_speaking, LIMIT, LONG};
    use super::super::{ClientError, ClientTls, HttpClient};
    use super::*;

    #[test]
    fn min_and_max_versions_are_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (good, ca_path) = ca_in(dir.path(), "versions CA");
        // A server speaking TLS 1.2 only: a client kept to 1.3 cannot talk to it, one
        // allowed 1.2 can.
        let (port, thread) = tls_server_speaking(&good, 2, &[&rustls::version::TLS12]);
        let get = |versions: TlsVersions| {
            let config = client_tls_config_with_versions(Some(Pem::File(&ca_path)), None, false, versions).expect("config");
            let mut client = HttpClient::new("127.0.0.1".into(), port, Some(ClientTls { config, server_name: None }));
            run(async move { client.get("/metrics", &[], LONG, LIMIT).await })
        };
        assert!(matches!(get(TlsVersions::Only13), Err(ClientError::Tls(_))), "TLS 1.3 only against a TLS 1.2 server");
        assert_eq!(get(TlsVersions::Only12).expect("TLS 1.2").body, b"secure");
        assert_eq!(thread.join().expect("server"), 1);
    }

    #[test]
    fn verified_refused_and_insecure() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = ca("client test CA");
        let other = ca("another CA");
        let good_path = dir.path().join("ca.pem");
        let other_path = dir.path().join("other.pem");
        std::fs::write(&good_path, good.cert.pem()).expect("write");
        std::fs::write(&other_path, other.cert.pem()).expect("write");
        let (port, thread) = tls_server(&good, 5);
        let trusting = client_tls_config(Some(Pem::File(&good_path)), None, false).expect("config");
        let good_pem = good.cert.pem();
        let trusting_inline = client_tls_config(Some(Pem::Inline { what: "ca", pem: good_pem.as_bytes() }), None, false).expect("inline config");
        let distrusting = client_tls_config(Some(Pem::File(&other_path)), None, false).expect("config");
        let insecure = client_tls_config(Some(Pem::File(&other_path)), None, true).expect("config");
        let get = |config: &Arc<ClientConfig>, server_name: Option<&str>| {
            let mut client = HttpClient::new("127.0.0.1".into(), port, Some(ClientTls { config: config.clone(), server_name: server_name.map(str::to_string) }));
            run(async move { client.get("/metrics", &[], LONG, LIMIT).await })
        };
        assert_eq!(get(&trusting, None).expect("IP SAN verified").body, b"secure");
        assert_eq!(get(&trusting, Some("localhost")).expect("server_name verified").body, b"secure");
        match get(&distrusting, None) {
            Err(error @ ClientError::Tls(_)) => assert!(error.to_string().contains("certificate"), "{error}"),
            other => panic!("expected a TLS error, got {other:?}"),
        }
        assert_eq!(get(&insecure, Some("wrong.example")).expect("insecure_skip_verify").body, b"secure");
        assert_eq!(get(&trusting_inline, None).expect("inline CA verified").body, b"secure");
        assert_eq!(thread.join().expect("server"), 4);
        let error = client_tls_config(Some(Pem::Inline { what: "ca", pem: b"not PEM" }), None, false).expect_err("no certificate inline");
        assert_eq!(error, "ca holds no PEM certificate");
    }

    #[test]
    fn config_errors_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing-ca.pem");
        let error = client_tls_config(Some(Pem::File(&missing)), None, false).expect_err("missing file");
        assert!(error.contains(&missing.display().to_string()), "{error}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let error = client_tls_config(Some(Pem::File(&empty)), None, false).expect_err("no certificate");
        assert!(error.contains(&empty.display().to_string()) && error.contains("no PEM certificate"), "{error}");

        let authority = ca("client test CA");
        let (cert, key) = leaf(&authority, &["scraper"]);
        let (cert_path, key_path) = (dir.path().join("client.crt"), dir.path().join("client.key"));
        std::fs::write(&cert_path, cert.pem()).expect("write");
        std::fs::write(&key_path, key.serialize_pem()).expect("write");
        let config = client_tls_config(None, Some((Pem::File(&cert_path), Pem::File(&key_path))), false).expect("client certificate loads");
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let error = client_tls_config(None, Some((Pem::File(&cert_path), Pem::File(&missing))), false).expect_err("missing key");
        assert!(error.contains("key_file") && error.contains(&missing.display().to_string()), "{error}");
        assert!(cert_and_key_pair(Some(&cert_path), None).expect_err("cert without key").contains("without key_file"));
        assert_eq!(cert_and_key_pair(None, None), Ok(None));
    }
}
