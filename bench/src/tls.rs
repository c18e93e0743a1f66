//! Client TLS for `write` against https:// URLs: the CA to trust (`--ca-file`) and an
//! optional client certificate for mutual TLS (`--cert-file`, `--key-file`), as one rustls
//! configuration shared by every connection (ALPN `h2` for HTTP/2, none for HTTP/1.1).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

#[derive(Clone, Debug, Default)]
pub struct TlsFiles {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

impl TlsFiles {
    pub fn is_empty(&self) -> bool {
        self.ca_file.is_none() && self.cert_file.is_none() && self.key_file.is_none()
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("no PEM certificate in {}", path.display()));
    }
    Ok(certs)
}

/// A client configuration from the files; `alpn` is e.g. `[b"h2"]` for HTTP/2.
pub fn client_config(files: &TlsFiles, alpn: &[&[u8]]) -> Result<Arc<ClientConfig>, String> {
    let ca_file = files.ca_file.as_ref().ok_or("https needs --ca-file (the CA that signed the server's certificate)")?;
    let mut roots = RootCertStore::empty();
    for cert in read_certs(ca_file)? {
        roots.add(cert).map_err(|e| format!("bad CA certificate in {}: {e}", ca_file.display()))?;
    }
    let builder = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_root_certificates(roots);
    let mut config = match (&files.cert_file, &files.key_file) {
        (Some(cert), Some(key)) => {
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("cannot read private key {}: {e}", key.display()))?;
            builder.with_client_auth_cert(read_certs(cert)?, key).map_err(|e| format!("client certificate: {e}"))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err("--cert-file and --key-file go together".into()),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_are_errors_not_panics() {
        let files = TlsFiles { ca_file: Some("/nonexistent/ca.crt".into()), ..Default::default() };
        assert!(client_config(&files, &[]).unwrap_err().contains("/nonexistent/ca.crt"));
        assert!(client_config(&TlsFiles::default(), &[]).is_err());
        assert!(TlsFiles::default().is_empty());
    }
}
