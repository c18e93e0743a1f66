//! A scrape job's configuration as `/api/v1/scrape_pools/config` shows it, in YAML: the
//! job's section as written, with the settings Prometheus always writes filled in, keys in
//! Prometheus' `ScrapeConfig` order, and every secret written `<secret>` as Prometheus writes
//! its `Secret` fields.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use super::config::ScrapeJob;
use super::discovery::duration_text;

/// What Prometheus writes for a secret.
const SECRET: &str = "<secret>";

/// Prometheus' `ScrapeConfig` keys in the order it writes them, its inline HTTP client
/// settings among them; keys of the section not listed here (service discoveries) follow
/// in the order written, and the relabeling rules come last.
const KEY_ORDER: [&str; 42] = [
    "job_name",
    "honor_labels",
    "honor_timestamps",
    "track_timestamps_staleness",
    "params",
    "scrape_interval",
    "scrape_timeout",
    "scrape_protocols",
    "fallback_scrape_protocol",
    "scrape_native_histograms",
    "always_scrape_classic_histograms",
    "scrape_classic_histograms",
    "convert_classic_histograms_to_nhcb",
    "scrape_failure_log_file",
    "metrics_path",
    "scheme",
    "enable_compression",
    "body_size_limit",
    "sample_limit",
    "target_limit",
    "label_limit",
    "label_name_length_limit",
    "label_value_length_limit",
    "native_histogram_bucket_limit",
    "native_histogram_min_bucket_factor",
    "keep_dropped_targets",
    "metric_name_validation_scheme",
    "metric_name_escaping_scheme",
    "extra_scrape_metrics",
    "basic_auth",
    "authorization",
    "oauth2",
    "bearer_token",
    "bearer_token_file",
    "tls_config",
    "follow_redirects",
    "enable_http2",
    "proxy_url",
    "no_proxy",
    "proxy_from_environment",
    "proxy_connect_header",
    "http_headers",
];

/// Written after every other key.
const LAST_KEYS: [&str; 2] = ["relabel_configs", "metric_relabel_configs"];

/// Keys whose values are secrets wherever they appear in a job.
const SECRET_KEYS: [&str; 13] = ["password", "credentials", "client_secret", "bearer_token", "secret_key", "token", "application_credential_secret", "auth_token", "application_secret", "consumer_key", "service_account_key", "private_key", "key_passphrase"];

/// A map written in the order of its entries.
struct Ordered(Vec<(String, Value)>);

impl Serialize for Ordered {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The YAML shown for `job`, whose section was written as `written` (a mapping), with the
/// settings Prometheus always writes (job name, interval, timeout, path, scheme, ...) filled
/// in with what this server resolved.
pub fn shown_yaml(written: &Value, job: &ScrapeJob) -> String {
    let mut section = match written {
        Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    // What Prometheus always writes, as resolved here.
    let resolved = [
        ("job_name", Value::from(job.name.clone())),
        ("honor_timestamps", Value::from(job.honor_timestamps)),
        ("track_timestamps_staleness", Value::from(job.track_timestamps_staleness)),
        ("scrape_interval", Value::from(duration_text(job.interval_ms))),
        ("scrape_timeout", Value::from(duration_text(job.timeout_ms))),
        ("metrics_path", Value::from(job.metrics_path.clone())),
        ("scheme", Value::from(job.scheme.as_str())),
        ("enable_compression", Value::from(job.enable_compression)),
        ("follow_redirects", Value::from(job.access.follow_redirects)),
    ];
    for (key, value) in resolved {
        section.insert(key.to_string(), value);
    }
    section.entry("enable_http2").or_insert(Value::Bool(true));
    if !job.honor_labels {
        // Prometheus leaves it out when false.
        section.remove("honor_labels");
    }
    let mut ordered: Vec<(String, Value)> = Vec::with_capacity(section.len());
    for key in KEY_ORDER {
        if let Some(value) = section.remove(key) {
            ordered.push((key.to_string(), value));
        }
    }
    let last: Vec<(String, Value)> = LAST_KEYS.iter().filter_map(|k| section.remove(*k).map(|v| (k.to_string(), v))).collect();
    // What is left (service discoveries) in the order written: serde_json's map is sorted,
    // so this is their name order, as Prometheus writes its discoveries too.
    ordered.extend(section);
    ordered.extend(last);
    for (key, value) in &mut ordered {
        mask(key, value);
    }
    serde_saphyr::to_string(&Ordered(ordered)).unwrap_or_else(|e| format!("# cannot write the job's configuration: {e}\n"))
}

/// Writes `<secret>` over the secrets in `value`, found under `key` (passwords, tokens,
/// credentials, client secrets, inline TLS keys, secret headers).
fn mask(key: &str, value: &mut Value) {
    match key {
        _ if SECRET_KEYS.contains(&key) => {
            if !value.is_null() {
                *value = Value::from(SECRET);
            }
            return;
        }
        // A TLS key given inline; `key_file` is a path, shown.
        "tls_config" => {
            if let Some(inline) = value.get_mut("key").filter(|k| !k.is_null()) {
                *inline = Value::from(SECRET);
            }
        }
        // Each header's secret values, and every proxy CONNECT header value.
        "http_headers" => {
            if let Value::Object(headers) = value {
                for header in headers.values_mut() {
                    if let Some(Value::Array(secrets)) = header.get_mut("secrets") {
                        secrets.iter_mut().for_each(|s| *s = Value::from(SECRET));
                    }
                }
            }
        }
        "proxy_connect_header" => {
            if let Value::Object(headers) = value {
                for values in headers.values_mut() {
                    match values {
                        Value::Array(list) => list.iter_mut().for_each(|s| *s = Value::from(SECRET)),
                        other => *other = Value::from(SECRET),
                    }
                }
            }
            return;
        }
        _ => {}
    }
    match value {
        Value::Object(map) => map.iter_mut().for_each(|(k, v)| mask(k, v)),
        Value::Array(items) => items.iter_mut().for_each(|v| mask("", v)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::config::ScrapeConfig;
    use crate::ingest::label_limits::LabelLimits;

    fn shown(text: &str) -> String {
        let config = ScrapeConfig::from_yaml(text, Path::new("/etc"), LabelLimits::default()).expect("config reads");
        config.jobs.iter().map(|j| j.shown_yaml.as_str()).collect::<Vec<_>>().join("---\n")
    }

    #[test]
    fn defaults_are_filled_in_and_keys_follow_prometheus_order() {
        let text = "global: {scrape_interval: 30s}\nscrape_configs:\n- job_name: node\n  relabel_configs: [{target_label: a, replacement: b}]\n  static_configs: [{targets: ['h:9100']}]\n  params: {x: [y]}\n";
        let yaml = shown(text);
        let keys: Vec<&str> = yaml.lines().filter(|l| !l.starts_with(' ') && !l.starts_with('-')).filter_map(|l| l.split(':').next()).collect();
        assert_eq!(
            keys,
            [
                "job_name",
                "honor_timestamps",
                "track_timestamps_staleness",
                "params",
                "scrape_interval",
                "scrape_timeout",
                "metrics_path",
                "scheme",
                "enable_compression",
                "follow_redirects",
                "enable_http2",
                "static_configs",
                "relabel_configs"
            ],
            "{yaml}"
        );
        for line in ["job_name: node", "scrape_interval: 30s", "scrape_timeout: 10s", "metrics_path: /metrics", "scheme: http", "honor_timestamps: true"] {
            assert!(yaml.lines().any(|l| l == line), "{line:?} missing in\n{yaml}");
        }
        assert!(yaml.contains("h:9100") && yaml.contains("target_label: a"), "{yaml}");
        // `y` is the string the job reads, not YAML 1.1's true.
        assert!(yaml.contains("- \"y\"") && !yaml.contains("- true"), "{yaml}");
    }

    #[test]
    fn secrets_are_never_shown() {
        let text = "scrape_configs:\n- job_name: secret\n  basic_auth: {username: u, password: hunter2}\n  http_headers: {X-A: {values: [plain], secrets: [hidden1]}}\n  proxy_url: http://p:3128\n  proxy_connect_header: {Proxy-Authorization: [pcreds]}\n  consul_sd_configs: [{server: 'c:8500', token: ctoken}]\n  static_configs: [{targets: ['h:1']}]\n- job_name: oauth\n  oauth2: {client_id: c, client_secret: s3cr3t, token_url: 'http://t/'}\n";
        let yaml = shown(text);
        for secret in ["hunter2", "s3cr3t", "hidden1", "pcreds", "ctoken"] {
            assert!(!yaml.contains(secret), "{secret} shown in\n{yaml}");
        }
        assert!(yaml.contains("username: u") && yaml.contains("plain") && yaml.contains("client_id: c"), "{yaml}");
        assert!(yaml.matches("<secret>").count() >= 5, "{yaml}");
    }

    #[test]
    fn a_dockerswarm_sd_entry_is_shown_as_written_with_its_secrets_masked() {
        let text = "scrape_configs:\n- job_name: swarm\n  dockerswarm_sd_configs: [{host: 'https://m:2376', role: tasks, port: 9323, basic_auth: {username: u, password: swarmpass}, filters: [{name: label, values: [team=a]}]}]\n";
        let yaml = shown(text);
        assert!(!yaml.contains("swarmpass"), "{yaml}");
        assert!(yaml.contains("dockerswarm_sd_configs:\n  - host: https://m:2376\n    role: tasks\n    port: 9323\n    basic_auth:\n      username: u\n      password: <secret>\n"), "{yaml}");
    }

    #[test]
    fn an_inline_tls_key_is_a_secret_and_its_file_is_not() {
        let mut tls = serde_json::json!({"key": "-----BEGIN PRIVATE KEY-----", "key_file": "/k.pem", "cert": "C"});
        super::mask("tls_config", &mut tls);
        assert_eq!(tls, serde_json::json!({"key": "<secret>", "key_file": "/k.pem", "cert": "C"}));
    }
}
