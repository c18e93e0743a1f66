//! TLS and mutual TLS with rustls: server configuration from PEM files, client-certificate
//! verification against a CA and, when given, its certificate revocation lists, the client's
//! identity (SANs, CN) for authorization, and reloading when the files change (a bad new file
//! keeps the old configuration).

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

/// How often the files are checked for changes (on accept, so idle servers cost nothing).
pub const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

#[derive(Clone, Debug)]
pub struct TlsSettings {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// CA bundle that client certificates must chain to.
    pub ca_file: Option<PathBuf>,
    /// Certificate revocation lists (PEM, one or more) of the CAs in `ca_file`: a client
    /// certificate listed there is refused at the handshake, and so is one whose issuer has
    /// no list here (its status unknown). Only the client's own certificate is checked, not
    /// the intermediates above it.
    pub crl_file: Option<PathBuf>,
    pub require_client_cert: bool,
    pub min_version: TlsVersion,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {message}")]
    File { what: &'static str, path: PathBuf, message: String },
    #[error("invalid TLS configuration: {0}")]
    Config(String),
}

/// A verified client's identity, from its certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientIdentity {
    /// DNS names, URIs, e-mail addresses and IPs from the subjectAltName extension.
    pub sans: Vec<String>,
    pub common_name: Option<String>,
}

/// Every PEM section of type `T` in the file at `path` (`what` names the file in errors; a
/// file without one is an error saying which section was looked for, `missing`).
fn read_pem_sections<T: PemObject>(path: &Path, what: &'static str, missing: &str) -> Result<Vec<T>, TlsError> {
    let file_error = |message: String| TlsError::File { what, path: path.to_path_buf(), message };
    let sections: Vec<T> = T::pem_file_iter(path).map_err(|e| file_error(e.to_string()))?.collect::<Result<_, _>>().map_err(|e| file_error(e.to_string()))?;
    if sections.is_empty() {
        return Err(file_error(format!("no PEM {missing} found")));
    }
    Ok(sections)
}

fn read_certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    read_pem_sections(path, what, "certificate")
}

fn read_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    read_pem_sections(path, "certificate revocation list", "certificate revocation list (BEGIN X509 CRL)")
}

/// Builds a rustls server configuration (ALPN `h2`, `http/1.1`) from the settings' files.
pub fn load_server_config(settings: &TlsSettings) -> Result<ServerConfig, TlsError> {
    let certs = read_certs(&settings.cert_file, "certificate")?;
    let key = PrivateKeyDer::from_pem_file(&settings.key_file)
        .map_err(|e| TlsError::File { what: "private key", path: settings.key_file.clone(), message: e.to_string() })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&'static rustls::SupportedProtocolVersion] = match settings.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match &settings.ca_file {
        Some(ca_file) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(ca_file, "CA certificate")? {
                roots.add(cert).map_err(|e| TlsError::File { what: "CA certificate", path: ca_file.clone(), message: e.to_string() })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if settings.require_client_cert { verifier } else { verifier.allow_unauthenticated() };
            let verifier = match &settings.crl_file {
                Some(crl_file) => verifier.with_crls(read_crls(crl_file)?).only_check_end_entity_revocation(),
                None => verifier,
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| TlsError::Config(e.to_string()))?)
        }
        None if settings.crl_file.is_some() => return Err(TlsError::Config("crl_file needs ca_file: revocation lists apply to client certificates".into())),
        None if settings.require_client_cert => {
            return Err(TlsError::Config("require_client_cert needs ca_file to verify client certificates".into()))
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(format!("certificate and key do not match or are unsupported: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The current TLS configuration of one listener, reloaded when its files change.
pub struct ReloadingConfig {
    settings: TlsSettings,
    /// Bumped by the server (e.g. on SIGHUP) to force a reload on the next connection.
    trigger: Option<(Arc<std::sync::atomic::AtomicU64>, RefCell<u64>)>,
    current: RefCell<Arc<ServerConfig>>,
    stamps: RefCell<Vec<Option<SystemTime>>>,
    last_check: RefCell<Instant>,
}

impl ReloadingConfig {
    pub fn new(settings: TlsSettings) -> Result<Self, TlsError> {
        let config = load_server_config(&settings)?;
        let stamps = Self::stamps_of(&settings);
        Ok(ReloadingConfig {
            settings,
            trigger: None,
            current: RefCell::new(Arc::new(config)),
            stamps: RefCell::new(stamps),
            last_check: RefCell::new(Instant::now()),
        })
    }

    /// Also reload whenever `trigger` changes (the server bumps it on SIGHUP).
    pub fn with_trigger(mut self, trigger: Arc<std::sync::atomic::AtomicU64>) -> Self {
        let seen = trigger.load(std::sync::atomic::Ordering::Relaxed);
        self.trigger = Some((trigger, RefCell::new(seen)));
        self
    }

    fn stamps_of(settings: &TlsSettings) -> Vec<Option<SystemTime>> {
        let mut paths = vec![settings.cert_file.as_path(), settings.key_file.as_path()];
        paths.extend(settings.ca_file.as_deref());
        paths.extend(settings.crl_file.as_deref());
        paths.into_iter().map(modified).collect()
    }

    /// Rebuilds the configuration now; on error the old one stays. Returns whether it changed.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let config = load_server_config(&self.settings)?;
        *self.current.borrow_mut() = Arc::new(config);
        *self.stamps.borrow_mut() = Self::stamps_of(&self.settings);
        Ok(true)
    }

    /// The configuration to use for a new connection (checks the files at most every few seconds).
    pub fn current(&self) -> Arc<ServerConfig> {
        let triggered = self.trigger.as_ref().is_some_and(|(trigger, seen)| {
            let now = trigger.load(std::sync::atomic::Ordering::Relaxed);
            now != seen.replace(now)
        });
        let due = triggered || self.last_check.borrow().elapsed() >= RELOAD_CHECK_INTERVAL;
        if due {
            *self.last_check.borrow_mut() = Instant::now();
            if triggered || Self::stamps_of(&self.settings) != *self.stamps.borrow() {
                match self.reload() {
                    Ok(_) => tracing::info!(cert = %self.settings.cert_file.display(), "TLS certificates reloaded"),
                    Err(error) => {
                        // Keep serving with the old files; try again after the next change.
                        *self.stamps.borrow_mut() = Self::stamps_of(&self.settings);
                        tracing::warn!(%error, "TLS reload failed; keeping the previous certificates");
                    }
                }
            }
        }
        self.current.borrow().clone()
    }
}

/// Reads the identity from a verified client certificate (DER).
pub fn identity_of(cert: &CertificateDer<'_>) -> ClientIdentity {
    use x509_parser::extensions::GeneralName;
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert.as_ref()) else { return ClientIdentity::default() };
    let common_name = parsed.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_string);
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = parsed.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(d) => sans.push(d.to_string()),
                GeneralName::URI(u) => sans.push(u.to_string()),
                GeneralName::RFC822Name(e) => sans.push(e.to_string()),
                GeneralName::IPAddress(ip) => match ip.len() {
                    4 => sans.push(std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string()),
                    16 => {
                        let mut octets = [0u8; 16];
                        octets.copy_from_slice(ip);
                        sans.push(std::net::Ipv6Addr::from(octets).to_string());
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    ClientIdentity { sans, common_name }
}
