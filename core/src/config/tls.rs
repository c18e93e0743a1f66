//! `tls:`: the server's certificate and key, and the client CA that turns on mutual TLS.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Server certificate (PEM). With `key_file`, both ports speak TLS.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// CA bundle client certificates must chain to.
    pub ca_file: Option<PathBuf>,
    /// Certificate revocation lists (PEM) of those CAs: a client certificate listed is refused,
    /// and so is one whose issuer has no list in the file. Reloaded when the file changes.
    pub crl_file: Option<PathBuf>,
    pub require_client_cert: bool,
    /// "1.2" or "1.3".
    pub min_version: String,
    /// Client identities (certificate SAN or CN) allowed to write; empty: any verified client.
    pub write_allowed_sans: Vec<String>,
    /// Client identities allowed to query; empty: any verified client.
    pub read_allowed_sans: Vec<String>,
    /// Per client identity (SAN or CN), series selectors its reads are confined to (a series
    /// must match one); identities not listed read unconfined (`api::read_filters`).
    pub read_filters: std::collections::BTreeMap<String, Vec<String>>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert_file: None,
            key_file: None,
            ca_file: None,
            crl_file: None,
            require_client_cert: false,
            min_version: "1.2".into(),
            write_allowed_sans: Vec::new(),
            read_allowed_sans: Vec::new(),
            read_filters: std::collections::BTreeMap::new(),
        }
    }
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some()
    }

    /// Transport settings for `net`, when TLS is on.
    pub fn settings(&self) -> Option<net::TlsSettings> {
        let (cert_file, key_file) = (self.cert_file.clone()?, self.key_file.clone()?);
        Some(net::TlsSettings {
            cert_file,
            key_file,
            ca_file: self.ca_file.clone(),
            crl_file: self.crl_file.clone(),
            require_client_cert: self.require_client_cert,
            min_version: if self.min_version == "1.3" { net::TlsVersion::Tls13 } else { net::TlsVersion::Tls12 },
        })
    }
}
