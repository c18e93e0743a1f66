//! An `alertmanagers` entry's `sigv4` (Prometheus' `sigv4.SigV4Config`, as for Amazon Managed
//! Service for Prometheus): each post is signed with AWS Signature Version 4 for
//! `service_name` (`aps` by default), with keys found as `ec2_sd_configs` finds them
//! (`scrape::aws::credentials`) and kept until they near their expiry.

use std::sync::Mutex;

use serde::Deserialize;

use crate::scrape::aws::credentials::{self, Found, Lookup, Settings};
use crate::scrape::aws::{sigv4, Transport};
use crate::scrape::config::Secret;
use crate::scrape::proxy::ProxyChoice;

/// Prometheus' service name when `service_name` is not set.
const SERVICE_DEFAULT: &str = "aps";

/// `sigv4` as written; every key may be left out, to be found as the AWS SDK finds it.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sigv4Section {
    region: String,
    access_key: String,
    secret_key: String,
    profile: String,
    role_arn: String,
    external_id: String,
    use_fips_sts_endpoint: bool,
    service_name: String,
}

/// The signing settings of one entry, with the region and keys found so far.
pub struct Sigv4Signer {
    keys: Settings,
    region: String,
    service: String,
    /// TLS and proxy of requests for keys (STS, SSO, instance metadata): the AWS SDK's own
    /// HTTP client (system roots, the environment's proxy), not the Alertmanagers'.
    tls: Result<net::client::ClientTls, String>,
    proxy: ProxyChoice,
    found: Mutex<Option<(String, Found)>>,
}

impl Sigv4Signer {
    /// Checks `section` as Prometheus' `SigV4Config.Validate` does, and that a region is known
    /// (from the section, the process's environment or the shared files).
    pub fn new(section: Sigv4Section) -> Result<Sigv4Signer, String> {
        Sigv4Signer::with_env(section, &credentials::process_env)
    }

    /// `new`, the region looked for in the environment `env`.
    fn with_env(section: Sigv4Section, env: &dyn Fn(&str) -> Option<String>) -> Result<Sigv4Signer, String> {
        if section.access_key.is_empty() != section.secret_key.is_empty() {
            return Err("must provide a AWS SigV4 Access key and Secret Key if credentials are specified in the SigV4 config".into());
        }
        if !section.external_id.is_empty() && section.role_arn.is_empty() {
            return Err("external_id can only be used with role_arn".into());
        }
        let secret_key = Some(section.secret_key).filter(|k| !k.is_empty()).map(Secret::Inline);
        let keys = Settings { access_key: section.access_key, secret_key, profile: section.profile, role_arn: section.role_arn, external_id: section.external_id, use_fips_sts_endpoint: section.use_fips_sts_endpoint };
        let service = Some(section.service_name).filter(|s| !s.is_empty()).unwrap_or_else(|| SERVICE_DEFAULT.to_string());
        let tls = crate::scrape::http_get::system_roots_tls();
        let proxy = ProxyChoice::from_settings(None, None, true, &Default::default(), &tls, &credentials::process_env)?;
        let signer = Sigv4Signer { keys, region: section.region, service, tls, proxy, found: Mutex::new(None) };
        // As Prometheus, which loads AWS' configuration with the file: a region must be known
        // without asking the instance metadata.
        let lookup = Lookup { env, transport: Transport { tls: &signer.tls, proxy: &signer.proxy, headers: &[] } };
        if credentials::region_without_metadata(&signer.region, &signer.keys.profile, &lookup).is_none() {
            return Err("region not configured in sigv4 or in default credentials chain".into());
        }
        Ok(signer)
    }

    /// Where keys are found: the process's environment and shared files, over the SDK's
    /// own HTTP settings.
    fn lookup(&self) -> Lookup<'_> {
        Lookup { env: &credentials::process_env, transport: Transport { tls: &self.tls, proxy: &self.proxy, headers: &[] } }
    }

    /// The headers that sign a `method` request for `path_and_query` on `host` (the `Host`
    /// header as sent) with `headers` (all signed) and `body`: `X-Amz-Date`,
    /// `X-Amz-Security-Token` for temporary keys, and `Authorization`.
    pub async fn sign(&self, method: &str, host: &str, path_and_query: &str, headers: &[(String, String)], body: &[u8], now_ms: i64) -> Result<Vec<(String, String)>, String> {
        let (region, found) = self.region_and_keys(now_ms).await.map_err(|e| format!("sigv4: {e}"))?;
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let query = query_pairs(query)?;
        let amz_date = sigv4::amz_date(now_ms);
        let canonical_path = canonical_path(path);
        let request = sigv4::Request { method, host, path: &canonical_path, query: &query, headers, body, region: &region, service: &self.service, amz_date: &amz_date };
        Ok(sigv4::sign(&found.keys, &request))
    }

    /// The region and keys, found once and again when the keys near their expiry.
    async fn region_and_keys(&self, now_ms: i64) -> Result<(String, Found), String> {
        if let Some((region, found)) = self.lock().as_ref().filter(|(_, found)| found.fresh(now_ms)) {
            return Ok((region.clone(), found.clone()));
        }
        let lookup = self.lookup();
        let region = credentials::region(&self.region, &self.keys.profile, &lookup).await?;
        let found = credentials::find(&self.keys, &region, &lookup).await.map_err(|e| format!("could not get SigV4 credentials: {e}"))?;
        *self.lock() = Some((region.clone(), found.clone()));
        Ok((region, found))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(String, Found)>> {
        // The guarded value is a cache: one poisoned by a panic is still usable.
        self.found.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The path as AWS' SDKs sign it for every service but S3: each segment, as sent, escaped
/// once more.
fn canonical_path(path: &str) -> String {
    let path = if path.is_empty() { "/" } else { path };
    path.split('/').map(sigv4::escape).collect::<Vec<_>>().join("/")
}

/// The query's pairs, unescaped (`sigv4::canonical_query` escapes them again).
fn query_pairs(query: &str) -> Result<Vec<(String, String)>, String> {
    let decode = |text: &str| crate::api::params::percent_decode(&text.replace('+', " ")).map_err(|e| format!("sigv4: query {query:?}: {e}"));
    query.split('&').filter(|pair| !pair.is_empty()).map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        Ok((decode(name)?, decode(value)?))
    }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(yaml: &str) -> Result<Sigv4Signer, String> {
        let section: Sigv4Section = serde_saphyr::from_str(yaml).map_err(|e| e.to_string())?;
        Sigv4Signer::new(section)
    }

    #[test]
    fn checks_keys_as_prometheus() {
        assert_eq!(section("access_key: AKID").err().as_deref(), Some("must provide a AWS SigV4 Access key and Secret Key if credentials are specified in the SigV4 config"));
        assert_eq!(section("secret_key: s").err().as_deref(), Some("must provide a AWS SigV4 Access key and Secret Key if credentials are specified in the SigV4 config"));
        assert_eq!(section("external_id: x").err().as_deref(), Some("external_id can only be used with role_arn"));
        assert!(section("region: x\nkey: y").err().is_some_and(|e| e.contains("key")), "unknown keys are refused");
        let signer = section("region: eu-west-1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((signer.service.as_str(), signer.region.as_str()), ("aps", "eu-west-1"));
        let signer = section("region: us-gov-west-1\nservice_name: execute-api\nrole_arn: arn:aws:iam::1:role/r\nexternal_id: x\nuse_fips_sts_endpoint: true").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(signer.service, "execute-api");
        assert!(signer.keys.use_fips_sts_endpoint);
    }

    #[test]
    fn a_region_must_be_known_without_the_instance_metadata() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("config");
        std::fs::write(&config, "[profile eu]\nregion = eu-central-1\n").expect("config");
        let config_text = config.display().to_string();
        let env = |name: &str| match name {
            "HOME" => Some("/nonexistent".to_string()),
            "AWS_CONFIG_FILE" => Some(config_text.clone()),
            _ => None,
        };
        let parsed = |yaml: &str| serde_saphyr::from_str::<Sigv4Section>(yaml).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Sigv4Signer::with_env(parsed("access_key: a\nsecret_key: b"), &env).err().as_deref(), Some("region not configured in sigv4 or in default credentials chain"));
        assert!(Sigv4Signer::with_env(parsed("profile: eu"), &env).is_ok(), "the profile's region");
        let with_region_env = |name: &str| (name == "AWS_REGION").then(|| "us-east-2".to_string());
        assert!(Sigv4Signer::with_env(parsed("{}"), &with_region_env).is_ok(), "AWS_REGION");
    }

    /// The expected headers were made by botocore 1.43's `SigV4Auth` for the same request
    /// (its clock set to 2026-12-05T17:30:00Z).
    #[test]
    fn signs_a_post_as_botocore_does() {
        let signer = section("region: eu-west-1\naccess_key: AKIDEXAMPLE\nsecret_key: wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY").unwrap_or_else(|e| panic!("{e}"));
        let headers = [("Content-Type".to_string(), "application/json".to_string())];
        let body = br#"[{"labels":{"alertname":"Up"}}]"#;
        let signed = crate::scrape::fake_api::run(signer.sign("POST", "aps-workspaces.eu-west-1.amazonaws.com", "/workspaces/ws-1a2b/alertmanager/api/v2/alerts", &headers, body, 1_796_491_800_000));
        let expected = [
            ("X-Amz-Date", "20261205T173000Z"),
            ("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261205/eu-west-1/aps/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=8f16a16da517e9fc66bf3da0547a0f39b481a93f1d80ec2af4560b8dd355c8f4"),
        ];
        assert_eq!(signed, Ok(expected.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect::<Vec<_>>()));
    }

    #[test]
    fn paths_are_escaped_again_and_queries_read() {
        assert_eq!(canonical_path("/workspaces/ws-1/alertmanager/api/v2/alerts"), "/workspaces/ws-1/alertmanager/api/v2/alerts");
        assert_eq!(canonical_path("/a%20b/c d"), "/a%2520b/c%20d");
        assert_eq!(canonical_path(""), "/");
        assert_eq!(query_pairs("b=2&a=x%2Fy&c"), Ok(vec![("b".into(), "2".into()), ("a".into(), "x/y".into()), ("c".into(), String::new())]));
    }
}
