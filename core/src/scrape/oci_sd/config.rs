//! An `oci_sd_configs` entry as written and as checked: Prometheus' keys, defaults (`auth`
//! api_key, `port` 80, `refresh_interval` 60 s) and refusals in its words, the API key read
//! from `key_file` now (PKCS#1 or PKCS#8 PEM; an encrypted key is refused), and the HTTP
//! client settings a job has. `auth: instance_principal` is refused at load.

use std::path::Path;

use serde::Deserialize;

use super::signing::SigningKey;
use crate::scrape::config::{client_access, client_sections, optional_duration, with_client_keys, ClientAccess};

/// Prometheus' defaults (its `DefaultSDConfig`).
const REFRESH_DEFAULT_MS: i64 = 60_000;
const PORT_DEFAULT: i64 = 80;
/// Prometheus' names of the two ways to sign in.
const AUTH_API_KEY: &str = "api_key";
const AUTH_INSTANCE_PRINCIPAL: &str = "instance_principal";

with_client_keys! {
    /// Prometheus' `oci_sd_config`: the compute instances of a tenancy's compartments in one
    /// region, with the HTTP client settings a job has.
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct OciSdSection {
        auth: Option<String>,
        tenancy: Option<String>,
        user: Option<String>,
        fingerprint: Option<String>,
        key_file: Option<String>,
        key_passphrase: Option<String>,
        key_passphrase_file: Option<String>,
        region: Option<String>,
        compartments: Vec<String>,
        port: Option<i64>,
        refresh_interval: Option<String>,
    }
}

/// One `oci_sd_configs` entry, checked.
pub struct OciSd {
    /// This entry's source name among the asked groups: the entry's position, region and port.
    pub source: String,
    /// The region whose API is asked (`us-ashburn-1`).
    pub region: String,
    /// The tenancy's OCID: the root of the compartments walked, and a label of every target.
    pub tenancy: String,
    /// The compartments listed; empty: every active compartment under the tenancy.
    pub compartments: Vec<String>,
    /// Every target's port.
    pub port: u16,
    pub refresh_ms: i64,
    /// Signs every request.
    pub key: SigningKey,
    /// How its requests are secured and sent (credentials are not sent: the signature is
    /// the `Authorization`, as with Prometheus).
    pub access: ClientAccess,
}

impl std::fmt::Debug for OciSd {
    /// The region, compartments, port and schedule (the key stays out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OciSd").field("region", &self.region).field("tenancy", &self.tenancy).field("compartments", &self.compartments).field("port", &self.port).field("refresh_ms", &self.refresh_ms).field("key", &self.key).finish_non_exhaustive()
    }
}

/// Checks entry `position` of a job's `oci_sd_configs` (relative files from `base`).
pub fn resolve(s: OciSdSection, base: &Path, position: usize) -> Result<OciSd, String> {
    // Prometheus' checks, in its order and words.
    let region = s.region.clone().filter(|r| !r.is_empty()).ok_or("oci_sd: region is required")?;
    let given = |value: &Option<String>| value.as_deref().is_some_and(|v| !v.is_empty());
    let auth = s.auth.as_deref().unwrap_or(AUTH_API_KEY);
    match auth {
        AUTH_API_KEY => {
            for (key, value) in [("tenancy", &s.tenancy), ("user", &s.user), ("fingerprint", &s.fingerprint), ("key_file", &s.key_file)] {
                if !given(value) {
                    return Err(format!("oci_sd: api_key auth requires {key}"));
                }
            }
            if given(&s.key_passphrase) && given(&s.key_passphrase_file) {
                return Err("oci_sd: at most one of key_passphrase and key_passphrase_file must be configured".into());
            }
        }
        AUTH_INSTANCE_PRINCIPAL => {
            if [&s.tenancy, &s.user, &s.fingerprint, &s.key_file, &s.key_passphrase, &s.key_passphrase_file].into_iter().any(given) {
                return Err("oci_sd: instance_principal auth must not have tenancy, user, fingerprint, key_file, key_passphrase, or key_passphrase_file set".into());
            }
        }
        other => return Err(format!("oci_sd: unknown auth method {other:?}, expected {AUTH_API_KEY:?} or {AUTH_INSTANCE_PRINCIPAL:?}")),
    }
    if let Some(i) = s.compartments.iter().position(String::is_empty) {
        return Err(format!("oci_sd: compartments[{i}] must not be empty"));
    }
    // A zero or negative one is refused there, as Prometheus refuses it.
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(REFRESH_DEFAULT_MS);
    let port = s.port.unwrap_or(PORT_DEFAULT);
    // Prometheus takes any int; here a port no target could have is refused at once.
    let port = u16::try_from(port).map_err(|_| format!("port {port} is not between 0 and 65535"))?;
    let _ = s.enable_http2;
    let sections = client_sections!(s);
    // OCI's APIs are https.
    let access = client_access(sections, true, base)?;
    if auth == AUTH_INSTANCE_PRINCIPAL {
        return Err("oci_sd: auth instance_principal (the instance metadata service's certificates and federation tokens) is not supported here; use auth api_key".into());
    }
    let (tenancy, user, fingerprint, key_file) = (s.tenancy.unwrap_or_default(), s.user.unwrap_or_default(), s.fingerprint.unwrap_or_default(), s.key_file.unwrap_or_default());
    // As Prometheus: the key is read once, when the entry is taken.
    let path = base.join(&key_file);
    let shown = path.display().to_string();
    let pem = std::fs::read_to_string(&path).map_err(|e| format!("oci_sd: reading OCI key file {shown:?}: {e}"))?;
    let key = SigningKey::new(&tenancy, &user, &fingerprint, &pem, &shown).map_err(|e| format!("oci_sd: {e}"))?;
    Ok(OciSd {
        // The position keeps apart two entries that differ only in their key.
        source: format!("oci #{position} {region} port {port}"),
        region,
        tenancy,
        compartments: s.compartments,
        port,
        refresh_ms,
        key,
        access,
    })
}

#[cfg(test)]
mod tests {
    use crate::ingest::label_limits::LabelLimits;
    use crate::scrape::config::ScrapeConfig;
    use crate::scrape::oci_sd::test_key;

    /// A folder holding the test key as `key.pem` (PKCS#1), `key8.pem` (PKCS#8) and
    /// `encrypted.pem`.
    fn keys() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a temporary folder");
        for (name, pem) in [("key.pem", test_key::PKCS1_PEM), ("key8.pem", test_key::PKCS8_PEM), ("encrypted.pem", test_key::ENCRYPTED_PKCS8_PEM)] {
            std::fs::write(dir.path().join(name), pem).expect("written");
        }
        dir
    }

    fn load(dir: &tempfile::TempDir, entries: &str) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: o, oci_sd_configs: [{entries}]}}]"), dir.path(), LabelLimits::default())
    }

    const VALID: &str = "region: us-ashburn-1, tenancy: ocid1.tenancy.oc1..t001, user: ocid1.user.oc1..u001, fingerprint: 'aa:bb:cc'";

    #[test]
    fn an_entry_takes_prometheus_defaults_and_reads_its_key() {
        let dir = keys();
        let config = load(&dir, &format!("{{{VALID}, key_file: key.pem}}, {{{VALID}, auth: api_key, key_file: key8.pem, compartments: [ocid1.compartment.oc1..c001, ocid1.compartment.oc1..c002], port: 9100, refresh_interval: 2m, key_passphrase: unused}}")).expect("valid");
        let sds = &config.jobs[0].oci_sd;
        assert_eq!((sds[0].region.as_str(), sds[0].tenancy.as_str(), sds[0].port, sds[0].refresh_ms), ("us-ashburn-1", "ocid1.tenancy.oc1..t001", 80, 60_000));
        assert!(sds[0].compartments.is_empty());
        assert_eq!((sds[1].port, sds[1].refresh_ms, sds[1].compartments.len()), (9100, 120_000, 2));
        assert_ne!(sds[0].source, sds[1].source);
        assert_eq!(crate::scrape::asked_sources(&config.jobs[0]).len(), 2);
        let debug = format!("{:?}", sds[1]);
        assert!(debug.contains("ocid1.tenancy.oc1..t001/ocid1.user.oc1..u001/aa:bb:cc") && !debug.contains("MII") && !debug.contains("unused"), "{debug}");
    }

    #[test]
    fn bad_entries_are_refused_in_prometheus_words() {
        let dir = keys();
        for (entry, expected) in [
            ("tenancy: t".to_string(), "oci_sd_configs[0]: oci_sd: region is required"),
            ("region: r, tenancy: '', user: u".to_string(), "api_key auth requires tenancy"),
            ("region: r, tenancy: t".to_string(), "api_key auth requires user"),
            ("region: r, tenancy: t, user: u".to_string(), "api_key auth requires fingerprint"),
            (VALID.to_string(), "api_key auth requires key_file"),
            (format!("{VALID}, key_file: key.pem, key_passphrase: a, key_passphrase_file: b"), "at most one of key_passphrase and key_passphrase_file"),
            (format!("{VALID}, auth: instance_principal"), "must not have tenancy"),
            ("region: r, auth: instance_principal, key_passphrase_file: p".to_string(), "instance_principal auth must not have"),
            ("region: r, auth: magic".to_string(), "oci_sd: unknown auth method \"magic\", expected \"api_key\" or \"instance_principal\""),
            (format!("{VALID}, key_file: key.pem, compartments: [ocid1.compartment.oc1..good, '']"), "compartments[1] must not be empty"),
            (format!("{VALID}, key_file: key.pem, refresh_interval: 0s"), "refresh_interval: \"0s\" is not a positive duration"),
            (format!("{VALID}, key_file: key.pem, port: 70000"), "not between 0 and 65535"),
            (format!("{VALID}, key_file: key.pem, server: x"), "unknown field"),
            ("region: r, auth: instance_principal".to_string(), "auth instance_principal (the instance metadata service's certificates and federation tokens) is not supported here"),
            (format!("{VALID}, key_file: missing.pem"), "oci_sd: reading OCI key file"),
            (format!("{VALID}, key_file: encrypted.pem, key_passphrase: pw"), "the key is encrypted; decrypting it (key_passphrase, key_passphrase_file) is not supported here"),
        ] {
            let error = load(&dir, &format!("{{{entry}}}")).err().unwrap_or_else(|| panic!("{entry} loaded"));
            assert!(error.contains(expected), "{entry}: {error}");
        }
    }

    #[test]
    fn the_shown_config_masks_the_passphrase() {
        let dir = keys();
        let config = load(&dir, &format!("{{{VALID}, key_file: key.pem, key_passphrase: hunter2, port: 9100}}")).expect("valid");
        let yaml = &config.jobs[0].shown_yaml;
        assert!(yaml.contains("oci_sd_configs:") && yaml.contains("port: 9100") && yaml.contains("key_file: key.pem"), "{yaml}");
        assert!(!yaml.contains("hunter2"), "{yaml}");
        assert_eq!(yaml.matches("<secret>").count(), 1, "{yaml}");
    }
}
