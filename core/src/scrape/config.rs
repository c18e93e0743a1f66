//! The scrape configuration: the `global` and `scrape_configs` sections of a Prometheus
//! configuration file named by `scrape.config_file` (VictoriaMetrics' `-promscrape.config`),
//! read with Prometheus' keys and defaults and checked once at start-up, with its
//! `rule_files` and `alerting` (`rules::settings`). Other top-level sections of such a file
//! (`remote_write`, `remote_read`, ...) are ignored, as VictoriaMetrics ignores them; an unknown key inside a scrape config (a service discovery
//! this project does not have, say) is an error naming it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::api::params::parse_prometheus_duration_ms;
use crate::ingest::label_limits::LabelLimits;
use crate::ingest::relabel::{RelabelConfig, Relabeler};

use super::proxy::ProxyChoice;

/// Declares a section that takes, after its own keys, the HTTP client keys every job and
/// every HTTP-speaking discovery entry takes (`client_sections!` moves them out again):
/// serde cannot flatten them into one struct under `deny_unknown_fields`.
macro_rules! with_client_keys {
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($(#[$field_meta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        $vis struct $name {
            $($(#[$field_meta])* $field: $ty,)*
            basic_auth: Option<$crate::scrape::config::BasicAuthSection>,
            authorization: Option<$crate::scrape::config::AuthorizationSection>,
            bearer_token: Option<String>,
            bearer_token_file: Option<std::path::PathBuf>,
            tls_config: Option<$crate::scrape::config::TlsSection>,
            http_headers: std::collections::BTreeMap<String, $crate::scrape::config::HeaderSection>,
            /// Prometheus' proxy settings (see `scrape::proxy`).
            proxy_url: Option<String>,
            no_proxy: Option<String>,
            proxy_from_environment: bool,
            proxy_connect_header: std::collections::BTreeMap<String, Vec<String>>,
            oauth2: Option<$crate::scrape::config::OAuth2Section>,
            /// Accepted for compatibility: requests speak HTTP/1.1 either way.
            enable_http2: Option<bool>,
            follow_redirects: Option<bool>,
        }
    };
}

/// The `ClientSections` of a job's or discovery entry's section `$s`, moved out of it: the
/// sections all have these keys, which serde cannot flatten into one under
/// `deny_unknown_fields`. `$basic_auth` when the entry makes its own (Consul's
/// `username`/`password`).
macro_rules! client_sections {
    ($s:ident) => {
        $crate::scrape::config::client_sections!($s, $s.basic_auth)
    };
    ($s:ident, $basic_auth:expr) => {
        $crate::scrape::config::ClientSections {
            basic_auth: $basic_auth,
            authorization: $s.authorization,
            bearer_token: $s.bearer_token,
            bearer_token_file: $s.bearer_token_file,
            tls_config: $s.tls_config,
            http_headers: $s.http_headers,
            proxy_url: $s.proxy_url,
            no_proxy: $s.no_proxy,
            proxy_from_environment: $s.proxy_from_environment,
            proxy_connect_header: $s.proxy_connect_header,
            oauth2: $s.oauth2,
            follow_redirects: $s.follow_redirects,
        }
    };
}

pub(crate) use {client_sections, with_client_keys};

/// `aws_sd_configs`: a child of this module, to reuse its private sections.
#[path = "aws_sd/section.rs"]
mod aws_sd_section;

/// Prometheus' default scrape interval and timeout.
const INTERVAL_DEFAULT_MS: i64 = 60_000;
const TIMEOUT_DEFAULT_MS: i64 = 10_000;
/// How often file_sd files are re-read when `refresh_interval` is not given (Prometheus').
const FILE_SD_REFRESH_DEFAULT_MS: i64 = 300_000;
/// The largest response body read when a job sets no `body_size_limit` (VictoriaMetrics'
/// `-promscrape.maxScrapeSize` default): a target cannot make the server hold gigabytes.
pub const BODY_BYTES_DEFAULT: usize = 16 << 20;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FileRoot {
    global: GlobalSection,
    scrape_configs: Vec<JobSection>,
    /// More files of `scrape_configs` (Prometheus 2.43's key; `*` in the last path element).
    scrape_config_files: Vec<String>,
}

/// A file named by `scrape_config_files`: only `scrape_configs`, as in Prometheus.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct JobsFile {
    scrape_configs: Vec<JobSection>,
}

/// The jobs of a file as written, for `/api/v1/scrape_pools/config` (`shown_config`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WrittenJobs {
    scrape_configs: Vec<serde_json::Value>,
}

/// `text`'s jobs as written (none when it is empty; read after the typed parse succeeded).
/// Only `true`/`false` read as booleans: a string such as `y` in `params` stays a string,
/// as the typed parse reads it.
fn written_jobs(text: &str) -> Vec<serde_json::Value> {
    if text.trim().is_empty() {
        return Vec::new();
    }
    let options = serde_saphyr::Options { strict_booleans: true, ..serde_saphyr::Options::default() };
    serde_saphyr::from_str_with_options::<WrittenJobs>(text, options).map(|w| w.scrape_configs).unwrap_or_default()
}

/// Only the file list of a configuration, for `files_checksum`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListedFiles {
    scrape_config_files: Vec<String>,
    rule_files: Vec<String>,
}

/// A SHA-256 over the configuration file and every file its `scrape_config_files` and
/// `rule_files` name now, each named and ended as Prometheus' `config.GenerateChecksum` writes
/// them (`s` or `r`, NUL, the path, NUL, the content, NUL): what `scrape.config_check_interval_seconds` compares to
/// tell that a reload would read something else.
pub fn files_checksum(path: &Path) -> Result<[u8; 32], String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    hash.update(&text);
    let listed: ListedFiles = match std::str::from_utf8(&text) {
        Ok(text) if !text.trim().is_empty() => serde_saphyr::from_str(text).map_err(|e| format!("{}: {e}", path.display()))?,
        Ok(_) => ListedFiles::default(),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let base = path.parent().unwrap_or(Path::new("."));
    for pattern in &listed.scrape_config_files {
        let pattern = base.join(pattern);
        for file in super::discovery::expand(std::slice::from_ref(&pattern)).into_iter().filter(|f| f.exists()) {
            let content = std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            hash.update(format!("s\0{}\0", file.display()).as_bytes());
            hash.update(&content);
            hash.update(b"\0");
        }
    }
    for file in crate::rules::settings::rule_file_paths(&listed.rule_files, base)? {
        let content = std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        hash.update(format!("r\0{}\0", file.display()).as_bytes());
        hash.update(&content);
        hash.update(b"\0");
    }
    let mut sum = [0u8; 32];
    sum.copy_from_slice(hash.finish().as_ref());
    Ok(sum)
}

/// The jobs of every file `scrape_config_files` names now (relative names from `base`),
/// each with where it came from (for errors) and its file's directory (relative names in a
/// job are taken from there, as Prometheus takes them).
fn jobs_from_files(patterns: &[String], base: &Path) -> Result<Vec<(String, PathBuf, JobSection, serde_json::Value)>, String> {
    let mut jobs = Vec::new();
    for pattern in patterns {
        let path = base.join(pattern);
        if path.parent().is_some_and(|p| p.to_string_lossy().contains('*')) {
            return Err(format!("scrape_config_files: {pattern:?}: only the last path element may hold *"));
        }
        // As Go's Glob: a name without `*` that does not exist matches no file (a tool may
        // write it later; a reload reads it then).
        for file in super::discovery::expand(std::slice::from_ref(&path)).into_iter().filter(|f| pattern.contains('*') || f.exists()) {
            let text = std::fs::read_to_string(&file).map_err(|e| format!("scrape_config_files: cannot read {}: {e}", file.display()))?;
            let parsed: JobsFile = if text.trim().is_empty() { JobsFile::default() } else { serde_saphyr::from_str(&text).map_err(|e| format!("scrape_config_files: {}: {e}", file.display()))? };
            let dir = file.parent().map(Path::to_path_buf).unwrap_or_else(|| base.to_path_buf());
            let mut written = written_jobs(&text).into_iter();
            for (i, job) in parsed.scrape_configs.into_iter().enumerate() {
                jobs.push((format!("{} scrape_configs[{i}]", file.display()), dir.clone(), job, written.next().unwrap_or_default()));
            }
        }
    }
    Ok(jobs)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GlobalSection {
    scrape_interval: Option<String>,
    scrape_timeout: Option<String>,
    external_labels: BTreeMap<String, String>,
    sample_limit: Option<u64>,
    body_size_limit: Option<String>,
    label_limit: Option<u64>,
    label_name_length_limit: Option<u64>,
    label_value_length_limit: Option<u64>,
    target_limit: Option<u64>,
    keep_dropped_targets: Option<u64>,
    scrape_failure_log_file: Option<PathBuf>,
    scrape_protocols: Option<Vec<String>>,
    scrape_native_histograms: Option<bool>,
    always_scrape_classic_histograms: Option<bool>,
    convert_classic_histograms_to_nhcb: Option<bool>,
    /// `scrape_timeout_seconds`, `scrape_sample_limit` and `scrape_body_size_bytes` written
    /// with the other scrape series.
    extra_scrape_metrics: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct JobSection {
    job_name: String,
    scrape_interval: Option<String>,
    scrape_timeout: Option<String>,
    metrics_path: Option<String>,
    scheme: Option<String>,
    params: BTreeMap<String, Vec<String>>,
    honor_labels: bool,
    honor_timestamps: Option<bool>,
    static_configs: Vec<StaticSection>,
    file_sd_configs: Vec<FileSdSection>,
    http_sd_configs: Vec<HttpSdSection>,
    docker_sd_configs: Vec<DockerSdSection>,
    dockerswarm_sd_configs: Vec<DockerSwarmSdSection>,
    ec2_sd_configs: Vec<Ec2SdSection>,
    aws_sd_configs: Vec<aws_sd_section::AwsSdSection>,
    /// Prometheus' one-role AWS keys (`aws_sd_section::STANDALONE_KEYS`).
    lightsail_sd_configs: Vec<aws_sd_section::AwsSdSection>,
    ecs_sd_configs: Vec<aws_sd_section::AwsSdSection>,
    rds_sd_configs: Vec<aws_sd_section::AwsSdSection>,
    elasticache_sd_configs: Vec<aws_sd_section::AwsSdSection>,
    msk_sd_configs: Vec<aws_sd_section::AwsSdSection>,
    gce_sd_configs: Vec<GceSdSection>,
    dns_sd_configs: Vec<DnsSdSection>,
    consul_sd_configs: Vec<ConsulSdSection>,
    kubernetes_sd_configs: Vec<KubernetesSdSection>,
    nomad_sd_configs: Vec<super::nomad_sd::config::NomadSdSection>,
    eureka_sd_configs: Vec<super::eureka_sd::config::EurekaSdSection>,
    puppetdb_sd_configs: Vec<super::puppetdb_sd::config::PuppetDbSdSection>,
    digitalocean_sd_configs: Vec<super::digitalocean_sd::config::DigitalOceanSdSection>,
    openstack_sd_configs: Vec<super::openstack_sd::config::OpenStackSdSection>,
    azure_sd_configs: Vec<super::azure_sd::config::AzureSdSection>,
    linode_sd_configs: Vec<super::linode_sd::config::LinodeSdSection>,
    vultr_sd_configs: Vec<super::vultr_sd::config::VultrSdSection>,
    hetzner_sd_configs: Vec<super::hetzner_sd::config::HetznerSdSection>,
    scaleway_sd_configs: Vec<super::scaleway_sd::config::ScalewaySdSection>,
    marathon_sd_configs: Vec<super::marathon_sd::config::MarathonSdSection>,
    ionos_sd_configs: Vec<super::ionos_sd::config::IonosSdSection>,
    outscale_sd_configs: Vec<super::outscale_sd::config::OutscaleSdSection>,
    triton_sd_configs: Vec<super::triton_sd::config::TritonSdSection>,
    uyuni_sd_configs: Vec<super::uyuni_sd::config::UyuniSdSection>,
    kuma_sd_configs: Vec<super::kuma_sd::config::KumaSdSection>,
    ovhcloud_sd_configs: Vec<super::ovhcloud_sd::config::OvhcloudSdSection>,
    stackit_sd_configs: Vec<super::stackit_sd::config::StackitSdSection>,
    serverset_sd_configs: Vec<super::zookeeper_sd::config::ZookeeperSdSection>,
    nerve_sd_configs: Vec<super::zookeeper_sd::config::ZookeeperSdSection>,
    oci_sd_configs: Vec<super::oci_sd::config::OciSdSection>,
    relabel_configs: Vec<RelabelConfig>,
    metric_relabel_configs: Vec<RelabelConfig>,
    basic_auth: Option<BasicAuthSection>,
    authorization: Option<AuthorizationSection>,
    bearer_token: Option<String>,
    bearer_token_file: Option<PathBuf>,
    tls_config: Option<TlsSection>,
    http_headers: BTreeMap<String, HeaderSection>,
    /// Prometheus' proxy settings (see `scrape::proxy`).
    proxy_url: Option<String>,
    no_proxy: Option<String>,
    proxy_from_environment: bool,
    proxy_connect_header: BTreeMap<String, Vec<String>>,
    oauth2: Option<OAuth2Section>,
    sample_limit: Option<u64>,
    body_size_limit: Option<String>,
    label_limit: Option<u64>,
    label_name_length_limit: Option<u64>,
    label_value_length_limit: Option<u64>,
    target_limit: Option<u64>,
    keep_dropped_targets: Option<u64>,
    /// With `honor_timestamps`, series with their own timestamps get staleness markers too.
    track_timestamps_staleness: bool,
    /// Prometheus 3's file of failed scrapes (a JSON line each).
    scrape_failure_log_file: Option<PathBuf>,
    /// False: ask targets not to compress (`Accept-Encoding: identity`).
    enable_compression: Option<bool>,
    /// Native histograms from protobuf answers (else they are read as classic ones), and
    /// the classic series of those that have classic buckets too; the old name of the
    /// latter (Prometheus 2.x) is read as well.
    scrape_native_histograms: Option<bool>,
    always_scrape_classic_histograms: Option<bool>,
    scrape_classic_histograms: Option<bool>,
    /// More buckets than this lower a native histogram's resolution until it fits (0: no limit).
    native_histogram_bucket_limit: Option<u64>,
    /// Native histograms are stored no finer than the schema whose bucket growth factor is at
    /// least this.
    native_histogram_min_bucket_factor: Option<f64>,
    /// Classic histograms stored as native histograms with custom buckets (`scrape::nhcb`).
    convert_classic_histograms_to_nhcb: Option<bool>,
    /// `scrape_timeout_seconds`, `scrape_sample_limit` and `scrape_body_size_bytes` written
    /// with the other scrape series.
    extra_scrape_metrics: Option<bool>,
    /// Accepted: the text format's names are legacy names under either scheme.
    metric_name_validation_scheme: Option<String>,
    metric_name_escaping_scheme: Option<String>,
    /// How an answer without a known Content-Type is read (the text format by default).
    fallback_scrape_protocol: Option<String>,
    /// Accepted for compatibility: scrapes speak HTTP/1.1 either way.
    enable_http2: Option<bool>,
    /// Whether a 3xx is followed (true unless set false, as in Prometheus).
    follow_redirects: Option<bool>,
    /// The formats asked for, in order (the `Accept` header, as Prometheus makes it).
    scrape_protocols: Option<Vec<String>>,
}

/// `static_configs` (of a job, or of an `alertmanagers` entry).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct StaticSection {
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// `file_sd_configs` (of a job, or of an `alertmanagers` entry).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct FileSdSection {
    files: Vec<String>,
    refresh_interval: Option<String>,
}

with_client_keys! {
    /// Prometheus' `http_sd_config`: a URL answering a JSON list of target groups, with the
    /// HTTP client settings a job has.
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct HttpSdSection {
        url: String,
        refresh_interval: Option<String>,
    }
}

with_client_keys! {
    /// Prometheus' `docker_sd_config`: the containers of a Docker daemon, with the HTTP client
    /// settings a job has (used for `http://` and `https://` hosts).
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct DockerSdSection {
        host: String,
        #[serde(default = "default_port_80")]
        port: u16,
        filters: Vec<FilterSection>,
        #[serde(default = "docker_sd_default_host_networking_host")]
        host_networking_host: String,
        refresh_interval: Option<String>,
        #[serde(default = "default_true")]
        match_first_network: bool,
    }
}

with_client_keys! {
    /// Prometheus' `dockerswarm_sd_config`: the services, tasks or nodes of a Docker Swarm
    /// manager, with the HTTP client settings a job has (used for `http://` and `https://` hosts).
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct DockerSwarmSdSection {
        host: String,
        role: String,
        #[serde(default = "default_port_80")]
        port: u16,
        filters: Vec<FilterSection>,
        refresh_interval: Option<String>,
    }
}

with_client_keys! {
    /// Prometheus' `ec2_sd_config`: the instances of an AWS region, asked with Signature Version
    /// 4; the HTTP client settings' TLS, proxy and `http_headers` are used (credentials are not:
    /// AWS' signature takes the `Authorization` header, as in Prometheus).
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Ec2SdSection {
        endpoint: String,
        region: String,
        access_key: String,
        secret_key: Option<String>,
        profile: String,
        role_arn: String,
        external_id: String,
        refresh_interval: Option<String>,
        #[serde(default = "default_port_80")]
        port: u16,
        filters: Vec<FilterSection>,
    }
}

/// Prometheus' `gce_sd_config`: the instances of a Compute Engine project's zone, asked with
/// Google's Application Default Credentials (Prometheus gives it no HTTP client settings).
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct GceSdSection {
    project: String,
    zone: String,
    filter: String,
    refresh_interval: Option<String>,
    port: u16,
    tag_separator: String,
}

impl Default for GceSdSection {
    /// Prometheus' defaults.
    fn default() -> Self {
        GceSdSection { project: String::new(), zone: String::new(), filter: String::new(), refresh_interval: None, port: 80, tag_separator: ",".into() }
    }
}

/// Prometheus' defaults of the keys whose default is not the type's (80: docker_sd's,
/// dockerswarm_sd's and ec2_sd's `port`).
fn default_port_80() -> u16 {
    80
}

fn docker_sd_default_host_networking_host() -> String {
    "localhost".into()
}

fn default_true() -> bool {
    true
}

/// A Docker or EC2 `filters` entry: containers or instances matching any of `values` for `name`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FilterSection {
    name: String,
    values: Vec<String>,
}

/// One `http_headers` entry (Prometheus' common HTTP client settings): values sent as
/// written, secrets likewise (kept out of logs), files read at every request.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct HeaderSection {
    values: Vec<String>,
    secrets: Vec<String>,
    files: Vec<PathBuf>,
}

/// Headers Prometheus refuses in `http_headers`: they change the connection, or are set by
/// the scraper itself.
const RESERVED_HEADERS: [&str; 18] = [
    "Authorization",
    "Host",
    "Content-Encoding",
    "Content-Length",
    "Content-Type",
    "User-Agent",
    "Connection",
    "Keep-Alive",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Www-Authenticate",
    "Accept-Encoding",
    "X-Prometheus-Remote-Write-Version",
    "X-Prometheus-Remote-Read-Version",
    "X-Prometheus-Scrape-Timeout-Seconds",
    "X-Amz-Date",
    "X-Amz-Security-Token",
    "X-Amz-Content-Sha256",
];

/// Extra request headers of a job or an http_sd entry, each value read when sent.
#[derive(Debug, Clone, Default)]
pub struct ExtraHeaders(Vec<(String, Secret)>);

impl ExtraHeaders {
    /// The headers to send now (files read again, trimmed, as Prometheus reads them).
    pub fn values(&self) -> Result<Vec<(String, String)>, String> {
        self.0.iter().map(|(name, value)| Ok((name.clone(), value.read()?))).collect()
    }
}

/// Checks `http_headers`: names that are HTTP tokens and not reserved; values without line
/// breaks; relative files from `base`.
fn extra_headers(sections: BTreeMap<String, HeaderSection>, base: &Path) -> Result<ExtraHeaders, String> {
    let mut headers = Vec::new();
    for (name, section) in sections {
        let token = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            return Err(format!("http_headers: {name:?} is not a header name"));
        }
        if let Some(reserved) = RESERVED_HEADERS.iter().find(|r| r.eq_ignore_ascii_case(&name)) {
            return Err(format!("http_headers: setting header {reserved:?} is not allowed"));
        }
        for value in section.values.iter().chain(&section.secrets) {
            if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                return Err(format!("http_headers: a value of {name:?} holds a line break"));
            }
        }
        headers.extend(section.values.into_iter().chain(section.secrets).map(|v| (name.clone(), Secret::Inline(v))));
        headers.extend(section.files.into_iter().map(|f| (name.clone(), Secret::File(base.join(f)))));
    }
    Ok(ExtraHeaders(headers))
}

with_client_keys! {
    /// Prometheus' `consul_sd_config`: a Consul agent's catalog, with the HTTP client settings a
    /// job has.
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct ConsulSdSection {
        server: Option<String>,
        path_prefix: String,
        token: Option<String>,
        datacenter: String,
        namespace: String,
        partition: String,
        tag_separator: Option<String>,
        scheme: Option<String>,
        username: Option<String>,
        password: Option<String>,
        allow_stale: Option<bool>,
        refresh_interval: Option<String>,
        services: Vec<String>,
        tags: Vec<String>,
        node_meta: BTreeMap<String, String>,
        filter: String,
        health_filter: String,
    }
}

with_client_keys! {
    /// Prometheus' `kubernetes_sd_config`: objects of a Kubernetes API server, with the HTTP
    /// client settings a job has.
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct KubernetesSdSection {
        role: String,
        api_server: Option<String>,
        kubeconfig_file: Option<PathBuf>,
        namespaces: KubernetesNamespacesSection,
        selectors: Vec<KubernetesSelectorSection>,
        attach_metadata: KubernetesAttachSection,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct KubernetesNamespacesSection {
    own_namespace: bool,
    names: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct KubernetesSelectorSection {
    role: String,
    label: String,
    field: String,
}

/// `attach_metadata` (`kubernetes_sd::roles::Attach`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct KubernetesAttachSection {
    node: bool,
    namespace: bool,
    deployment: bool,
    job: bool,
    cronjob: bool,
}

/// Prometheus' `dns_sd_config`: names looked up every `refresh_interval` (30 s by default).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct DnsSdSection {
    names: Vec<String>,
    refresh_interval: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    port: u16,
}

/// Prometheus' `oauth2`: the client credentials grant (see `scrape::oauth2`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct OAuth2Section {
    client_id: String,
    client_secret: Option<String>,
    client_secret_file: Option<PathBuf>,
    /// Prometheus 3's secret manager reference: refused (there is no secret manager here).
    client_secret_ref: Option<String>,
    /// The jwt-bearer grant is refused; any other value asks client credentials, as in
    /// Prometheus.
    grant_type: Option<String>,
    /// The jwt-bearer grant's settings: read so that such a section is refused naming the
    /// grant, and ignored with client credentials (as Prometheus ignores them).
    client_certificate_key_id: Option<String>,
    client_certificate_key: Option<String>,
    client_certificate_key_file: Option<PathBuf>,
    client_certificate_key_ref: Option<String>,
    signature_algorithm: Option<String>,
    iss: Option<String>,
    audience: Option<String>,
    claims: Option<serde::de::IgnoredAny>,
    scopes: Vec<String>,
    token_url: String,
    endpoint_params: BTreeMap<String, String>,
    tls_config: Option<TlsSection>,
    proxy_url: Option<String>,
    no_proxy: Option<String>,
    proxy_from_environment: bool,
    proxy_connect_header: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct BasicAuthSection {
    username: String,
    password: Option<String>,
    password_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct AuthorizationSection {
    #[serde(rename = "type")]
    kind: Option<String>,
    credentials: Option<String>,
    credentials_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct TlsSection {
    /// Inline PEM text, each instead of its file (Prometheus' `ca`, `cert`, `key`).
    ca: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    server_name: Option<String>,
    insecure_skip_verify: bool,
    /// Prometheus' `TLS10` ... `TLS13` (rustls speaks 1.2 and 1.3).
    min_version: Option<String>,
    max_version: Option<String>,
}

/// The TLS versions `tls_config`'s `min_version` and `max_version` allow, as rustls can speak
/// them: a minimum below 1.2 allows 1.2 and 1.3 (rustls has no older version); a maximum
/// below 1.2 cannot be honoured and is refused.
fn tls_versions(min: Option<&str>, max: Option<&str>) -> Result<net::client::TlsVersions, String> {
    let number = |key: &str, text: &str| -> Result<u8, String> {
        match text {
            "TLS10" => Ok(10),
            "TLS11" => Ok(11),
            "TLS12" => Ok(12),
            "TLS13" => Ok(13),
            _ => Err(format!("tls_config.{key}: unknown TLS version {text:?} (TLS10, TLS11, TLS12 or TLS13)")),
        }
    };
    let min = min.filter(|t| !t.is_empty()).map(|t| number("min_version", t)).transpose()?;
    let max = max.filter(|t| !t.is_empty()).map(|t| number("max_version", t)).transpose()?;
    if let (Some(min), Some(max)) = (min, max) {
        if max < min {
            return Err("tls_config.max_version must be greater than or equal to tls_config.min_version if both are specified".into());
        }
    }
    let (min, max) = (min.unwrap_or(12), max.unwrap_or(13));
    match (min.max(12), max) {
        (_, 10 | 11) => Err(format!("tls_config.max_version TLS{max}: only TLS 1.2 and 1.3 can be spoken")),
        (13, _) => Ok(net::client::TlsVersions::Only13),
        (_, 12) => Ok(net::client::TlsVersions::Only12),
        _ => Ok(net::client::TlsVersions::Both),
    }
}

/// The `http` or `https` scheme of a job's targets (`__scheme__` may change it per target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn parse(text: &str) -> Option<Scheme> {
        match text {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Where the `Authorization` header of a job's scrapes comes from; files are read at every
/// scrape, so rotated credentials are picked up as Prometheus picks them up.
#[derive(Debug, Clone)]
pub enum Credentials {
    None,
    Basic { username: String, password: Secret },
    /// `<type> <credentials>` (Bearer unless `authorization.type` says otherwise).
    Typed { kind: String, credentials: Secret },
    /// A token from an OAuth2 server (`oauth2`), shared by every request.
    OAuth2(Arc<super::oauth2::TokenSource>),
}

#[derive(Debug, Clone)]
pub enum Secret {
    Inline(String),
    File(PathBuf),
}

impl Secret {
    pub(crate) fn read(&self) -> Result<String, String> {
        match self {
            Secret::Inline(text) => Ok(text.clone()),
            Secret::File(path) => std::fs::read_to_string(path).map(|t| t.trim().to_string()).map_err(|e| format!("cannot read {}: {e}", path.display())),
        }
    }
}

impl Credentials {
    /// The `Authorization` header's value, if any (an OAuth2 token asked within `timeout`
    /// when none is cached).
    pub async fn header(&self, timeout: std::time::Duration) -> Result<Option<String>, String> {
        match self {
            Credentials::None => Ok(None),
            Credentials::Basic { username, password } => Ok(Some(format!("Basic {}", base64(format!("{username}:{}", password.read()?).as_bytes())))),
            Credentials::Typed { kind, credentials } => Ok(Some(format!("{kind} {}", credentials.read()?))),
            Credentials::OAuth2(source) => source.authorization(timeout).await.map(Some),
        }
    }
}

/// Standard base64 with padding (RFC 4648), for basic authentication.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A `static_configs` entry or one target group of a file_sd file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroup {
    pub targets: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// One `file_sd_configs` entry: file patterns (`*` allowed in the last path element) read
/// every `refresh_ms`, and sooner when a file changes.
#[derive(Debug, Clone)]
pub struct FileSd {
    pub patterns: Vec<PathBuf>,
    pub refresh_ms: i64,
}

/// How often an http_sd URL is asked again when `refresh_interval` is not given (Prometheus').
const HTTP_SD_REFRESH_DEFAULT_MS: i64 = 60_000;

/// A URL split for `net::client`: scheme, host (IPv6 without brackets), port, and the path
/// with its query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    pub path_and_query: String,
}

impl Url {
    /// Reads an absolute `http://` or `https://` URL (no user information, no fragment kept).
    pub fn parse(text: &str) -> Result<Url, String> {
        // The scheme in any case, as Go reads it.
        let prefix = |p: &str| text.get(..p.len()).filter(|head| head.eq_ignore_ascii_case(p)).map(|_| &text[p.len()..]);
        let (scheme, rest) = if let Some(rest) = prefix("http://") {
            (Scheme::Http, rest)
        } else if let Some(rest) = prefix("https://") {
            (Scheme::Https, rest)
        } else {
            return Err(format!("URL {text:?} must start with http:// or https://"));
        };
        let rest = rest.split('#').next().unwrap_or("");
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(split);
        if authority.contains('@') {
            return Err(format!("URL {text:?}: user information is not supported (use basic_auth)"));
        }
        if authority.is_empty() {
            return Err(format!("URL {text:?} has no host"));
        }
        let (host, port) = super::discovery::split_address(authority, scheme).map_err(|e| format!("URL {text:?}: {e}"))?;
        let path_and_query = match path_and_query {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        if path_and_query.contains(|c: char| c.is_ascii_control() || c == ' ') {
            return Err(format!("URL {text:?} holds a space or a control character"));
        }
        Ok(Url { scheme, host, port, path_and_query })
    }
}

/// One `http_sd_configs` entry, checked.
pub struct HttpSd {
    /// As written (it is also the `__meta_url` label of its targets).
    pub url: String,
    pub location: Url,
    pub refresh_ms: i64,
    /// How its requests are authorized, secured and sent.
    pub access: ClientAccess,
}

impl std::fmt::Debug for HttpSd {
    /// The URL and schedule (credentials and TLS keys stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSd").field("url", &self.url).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// How often a Docker daemon is asked when `refresh_interval` is not given (Prometheus').
const DOCKER_SD_REFRESH_DEFAULT_MS: i64 = 60_000;

/// Where a Docker daemon listens.
#[derive(Debug, Clone)]
pub enum DockerHost {
    /// `unix:///path`: plain HTTP over the socket.
    Unix(PathBuf),
    /// `http://`, `https://` (with the entry's HTTP client settings) or `tcp://` (as http).
    Http(Url),
}

/// How a Docker daemon is reached and spoken to (docker_sd's and dockerswarm_sd's `host`
/// and HTTP client settings), checked.
pub struct DockerDaemon {
    /// As written, for messages.
    pub host_text: String,
    pub host: DockerHost,
    /// Whether the credentials and `http_headers` are sent: for `http://` and `https://`
    /// hosts only, as Prometheus gives its HTTP client settings to those alone.
    pub client_settings: bool,
    /// How its requests are authorized, secured and sent.
    pub access: ClientAccess,
}

/// One `docker_sd_configs` entry, checked.
pub struct DockerSd {
    pub daemon: DockerDaemon,
    /// This entry's source name among the asked groups: the host and the entry's position.
    pub source: String,
    pub port: u16,
    /// `filters` as the Docker API's JSON (`{"name": ["value", ...]}`), empty for none.
    pub filters: String,
    pub host_networking_host: String,
    pub refresh_ms: i64,
    pub match_first_network: bool,
}

impl std::fmt::Debug for DockerSd {
    /// The host and schedule (credentials stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerSd").field("host", &self.daemon.host_text).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// How often a Docker Swarm manager is asked when `refresh_interval` is not given
/// (Prometheus').
const DOCKERSWARM_SD_REFRESH_DEFAULT_MS: i64 = 60_000;

/// What a `dockerswarm_sd_configs` entry lists, one kind of target each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwarmRole {
    /// A target per service virtual IP and published TCP port.
    Services,
    /// A target per task network address and service TCP port, and per published task port.
    Tasks,
    /// A target per node.
    Nodes,
}

/// One `dockerswarm_sd_configs` entry, checked.
pub struct DockerSwarmSd {
    pub daemon: DockerDaemon,
    /// This entry's source name among the asked groups: the host, role and the entry's position.
    pub source: String,
    pub role: SwarmRole,
    /// The port of targets that have none of their own (and of every node).
    pub port: u16,
    /// `filters` as the Docker API's JSON (`{"name": ["value", ...]}`), empty for none; sent
    /// with the role's own listing only.
    pub filters: String,
    pub refresh_ms: i64,
}

impl std::fmt::Debug for DockerSwarmSd {
    /// The host, role and schedule (credentials stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerSwarmSd").field("host", &self.daemon.host_text).field("role", &self.role).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// How often EC2 is asked when `refresh_interval` is not given (Prometheus').
const EC2_SD_REFRESH_DEFAULT_MS: i64 = 60_000;

/// One `ec2_sd_configs` entry, checked.
pub struct Ec2Sd {
    /// This entry's source name among the asked groups: its region or endpoint and position.
    pub source: String,
    /// The region or endpoint, for messages.
    pub shown: String,
    /// Empty: found as `scrape::aws::credentials::region` says.
    pub region: String,
    /// `endpoint` (none: the environment's or EC2's regional one).
    pub endpoint: Option<Url>,
    pub keys: super::aws::credentials::Settings,
    pub port: u16,
    /// `filters` in order, each name with its values.
    pub filters: Vec<(String, Vec<String>)>,
    pub refresh_ms: i64,
    pub tls: Result<net::client::ClientTls, String>,
    pub proxy: ProxyChoice,
    pub http_headers: ExtraHeaders,
}

impl std::fmt::Debug for Ec2Sd {
    /// The region and schedule (keys stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ec2Sd").field("shown", &self.shown).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// How often Compute Engine is asked when `refresh_interval` is not given (Prometheus').
const GCE_SD_REFRESH_DEFAULT_MS: i64 = 60_000;

/// One `gce_sd_configs` entry, checked.
#[derive(Debug, Clone)]
pub struct GceSd {
    /// This entry's source name among the asked groups: its project, zone and position.
    pub source: String,
    pub project: String,
    pub zone: String,
    pub filter: String,
    pub refresh_ms: i64,
    pub port: u16,
    pub tag_separator: String,
}

/// How often dns_sd names are looked up when `refresh_interval` is not given (Prometheus').
const DNS_SD_REFRESH_DEFAULT_MS: i64 = 30_000;

/// One `dns_sd_configs` entry, checked: each name is a source of its own.
#[derive(Debug, Clone)]
pub struct DnsSd {
    pub names: Vec<String>,
    pub kind: super::dns::RecordType,
    /// The targets' port for A, AAAA, MX and NS records (SRV records carry theirs).
    pub port: u16,
    pub refresh_ms: i64,
}

impl DnsSd {
    /// What identifies `name`'s groups among the asked sources.
    pub fn source(&self, name: &str) -> String {
        format!("dns {:?} {} {name}", self.kind, self.port)
    }
}

/// How often a Consul catalog is read when `refresh_interval` is not given (Prometheus').
const CONSUL_SD_REFRESH_DEFAULT_MS: i64 = 30_000;

/// One `consul_sd_configs` entry, checked.
pub struct ConsulSd {
    /// `scheme://server/path_prefix`, as shown in messages.
    pub base_url: String,
    /// This entry's source name among the asked groups: the base URL and a hash of every
    /// setting that changes the answer (two entries on one server stay apart).
    pub source: String,
    pub location: Url,
    pub token: Option<String>,
    /// Empty: the agent's own (asked at `/v1/agent/self`).
    pub datacenter: String,
    pub namespace: String,
    pub partition: String,
    pub tag_separator: String,
    pub allow_stale: bool,
    pub refresh_ms: i64,
    pub services: Vec<String>,
    pub tags: Vec<String>,
    pub node_meta: Vec<(String, String)>,
    pub filter: String,
    pub health_filter: String,
    /// How its requests are authorized, secured and sent.
    pub access: ClientAccess,
}

impl std::fmt::Debug for ConsulSd {
    /// The server and schedule (the token and credentials stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsulSd").field("base_url", &self.base_url).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// Where a pod's service account keeps its token, CA and namespace (Kubernetes' fixed path).
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// One `kubernetes_sd_configs` entry, checked.
pub struct KubernetesSd {
    /// Prometheus' role name: pod, service, endpoints, endpointslice, node or ingress.
    pub role: String,
    /// The API server's URL, as shown in messages.
    pub api_server: String,
    /// This entry's source name among the asked groups: the API server and a hash of every
    /// setting that changes the answer.
    pub source: String,
    pub location: Url,
    /// Empty: every namespace.
    pub namespaces: Vec<String>,
    /// Per selector role (`pod`, `node`, ...): its label and field selectors.
    pub selectors: BTreeMap<String, (String, String)>,
    /// `attach_metadata`: what targets get from their node, namespace and controllers.
    pub attach: super::kubernetes_sd::roles::Attach,
    /// How its requests are authorized, secured and sent.
    pub access: ClientAccess,
    /// Why the API server cannot be reached (no `api_server` outside a cluster), logged
    /// when discovery starts; the entry then finds nothing, as in Prometheus.
    pub unavailable: Option<String>,
}

impl std::fmt::Debug for KubernetesSd {
    /// The server and role (credentials stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesSd").field("api_server", &self.api_server).field("role", &self.role).finish_non_exhaustive()
    }
}

/// One scrape job, checked and ready to run.
pub struct ScrapeJob {
    pub name: String,
    pub interval_ms: i64,
    pub timeout_ms: i64,
    pub metrics_path: String,
    pub scheme: Scheme,
    /// `params`, in order; the first value of each is also its `__param_<name>` label.
    pub params: Vec<(String, Vec<String>)>,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub static_groups: Vec<TargetGroup>,
    pub file_sd: Vec<FileSd>,
    pub http_sd: Vec<HttpSd>,
    pub docker_sd: Vec<DockerSd>,
    pub dockerswarm_sd: Vec<DockerSwarmSd>,
    /// `ec2_sd_configs` and the `aws_sd_configs` of role ec2.
    pub ec2_sd: Vec<Ec2Sd>,
    /// The `aws_sd_configs` of the other roles.
    pub aws_sd: Vec<super::aws_sd::AwsSd>,
    pub gce_sd: Vec<GceSd>,
    pub dns_sd: Vec<DnsSd>,
    pub consul_sd: Vec<ConsulSd>,
    pub kubernetes_sd: Vec<KubernetesSd>,
    pub nomad_sd: Vec<super::nomad_sd::config::NomadSd>,
    pub eureka_sd: Vec<super::eureka_sd::config::EurekaSd>,
    pub puppetdb_sd: Vec<super::puppetdb_sd::config::PuppetDbSd>,
    pub digitalocean_sd: Vec<super::digitalocean_sd::config::DigitalOceanSd>,
    pub openstack_sd: Vec<super::openstack_sd::config::OpenStackSd>,
    pub azure_sd: Vec<super::azure_sd::config::AzureSd>,
    pub linode_sd: Vec<super::linode_sd::config::LinodeSd>,
    pub vultr_sd: Vec<super::vultr_sd::config::VultrSd>,
    pub hetzner_sd: Vec<super::hetzner_sd::config::HetznerSd>,
    pub scaleway_sd: Vec<super::scaleway_sd::config::ScalewaySd>,
    pub marathon_sd: Vec<super::marathon_sd::config::MarathonSd>,
    pub ionos_sd: Vec<super::ionos_sd::config::IonosSd>,
    pub outscale_sd: Vec<super::outscale_sd::config::OutscaleSd>,
    pub triton_sd: Vec<super::triton_sd::config::TritonSd>,
    pub uyuni_sd: Vec<super::uyuni_sd::config::UyuniSd>,
    pub kuma_sd: Vec<super::kuma_sd::config::KumaSd>,
    pub ovhcloud_sd: Vec<super::ovhcloud_sd::config::OvhcloudSd>,
    pub stackit_sd: Vec<super::stackit_sd::config::StackitSd>,
    pub serverset_sd: Vec<super::zookeeper_sd::config::ZookeeperSd>,
    pub nerve_sd: Vec<super::zookeeper_sd::config::ZookeeperSd>,
    pub oci_sd: Vec<super::oci_sd::config::OciSd>,
    pub target_relabeler: Relabeler,
    pub metric_relabeler: Relabeler,
    /// How scrapes are authorized, secured and sent. Its TLS settings are those of https
    /// targets, or why there are none (a job on http whose system roots cannot be read: its
    /// targets relabeled to https fail with this).
    pub access: ClientAccess,
    /// 0: no limit. This and the limits below: a job's 0 or none takes `global`'s, as in
    /// Prometheus.
    pub sample_limit: usize,
    /// Prometheus' label limits on every scraped series after relabeling (0: none); a
    /// series past one fails the scrape.
    pub label_limit: usize,
    pub label_name_length_limit: usize,
    pub label_value_length_limit: usize,
    /// More active targets than this fail every target of the job (0: no limit).
    pub target_limit: usize,
    /// How many dropped targets `/api/v1/targets` lists (0: all).
    pub keep_dropped_targets: usize,
    pub track_timestamps_staleness: bool,
    /// `scrape_failure_log_file` (the job's, else `global`'s): every failed scrape is
    /// appended to it as a JSON line, as Prometheus 3 writes them.
    pub scrape_failure_log_file: Option<PathBuf>,
    pub enable_compression: bool,
    /// `body_size_limit`: 16 MiB when unset (VictoriaMetrics' default), none when 0 (as in
    /// Prometheus).
    pub body_bytes_max: usize,
    /// The scrapes' `Accept` header (from `scrape_protocols`).
    pub accept: String,
    /// How an answer without a known Content-Type is read (`fallback_scrape_protocol`; the
    /// text format when unset).
    pub fallback_format: AnswerFormat,
    /// `scrape_native_histograms`: native histograms of protobuf answers are stored as such
    /// (else read as classic histograms).
    pub native_histograms: bool,
    /// `always_scrape_classic_histograms`: a native histogram's classic buckets are stored too.
    pub classic_histograms_too: bool,
    /// `convert_classic_histograms_to_nhcb`: classic histograms become native histograms
    /// with custom buckets (their classic series kept only with `classic_histograms_too`).
    pub convert_classic_histograms_to_nhcb: bool,
    /// `extra_scrape_metrics`: `scrape_timeout_seconds`, `scrape_sample_limit` and
    /// `scrape_body_size_bytes` are written with the other scrape series.
    pub extra_scrape_metrics: bool,
    /// `metric_name_validation_scheme` is not `legacy`: metric and label names may be any
    /// UTF-8 (else a series with another name fails the scrape).
    pub utf8_names: bool,
    /// `native_histogram_bucket_limit` (0: none).
    pub native_histogram_bucket_limit: usize,
    /// The finest schema stored (from `native_histogram_min_bucket_factor`; 8 when unset).
    pub native_histogram_max_schema: i32,
    /// The job's configuration as `/api/v1/scrape_pools/config` shows it (`shown_config`).
    pub shown_yaml: String,
}

/// How a target's histograms are read: the job's `scrape_native_histograms`,
/// `always_scrape_classic_histograms` and `convert_classic_histograms_to_nhcb`, each of which
/// a target's `__scrape_native_histograms__`, `__always_scrape_classic_histograms__` and
/// `__convert_classic_histograms_to_nhcb__` labels may set otherwise (Prometheus 3.13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistogramScraping {
    pub native: bool,
    pub classic_too: bool,
    pub convert_nhcb: bool,
}

impl ScrapeJob {
    /// The job's own histogram settings (a target's labels start from these).
    pub fn histogram_scraping(&self) -> HistogramScraping {
        HistogramScraping { native: self.native_histograms, classic_too: self.classic_histograms_too, convert_nhcb: self.convert_classic_histograms_to_nhcb }
    }
}

impl std::fmt::Debug for ScrapeJob {
    /// The job's name and schedule (its credentials and TLS keys stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapeJob").field("name", &self.name).field("interval_ms", &self.interval_ms).field("timeout_ms", &self.timeout_ms).finish_non_exhaustive()
    }
}

/// Every scrape job and the labels added to every scraped series.
#[derive(Debug, Default)]
pub struct ScrapeConfig {
    pub jobs: Vec<Arc<ScrapeJob>>,
    /// `global.external_labels`: set on every scraped series that lacks them (as
    /// VictoriaMetrics' scraper does).
    pub external_labels: Vec<(String, String)>,
    /// Read while start times are read (see `ServerOptions`); a reload reads the file under
    /// the same again.
    pub read_start_timestamps: bool,
    /// `rule_files` with `global.evaluation_interval`/`rule_query_offset`, and `alerting`.
    pub rules: Arc<crate::rules::settings::RuleSettings>,
}

/// What the server's own configuration changes in the scrape jobs it reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerOptions {
    /// The label limits relabeling checks against (`storage.max_label_*`).
    pub label_limits: LabelLimits,
    /// `storage.start_timestamp_zero_ingestion` or `start_timestamp_storage`
    /// (`StorageConfig::reads_start_timestamps`): start timestamps are read from the answers
    /// (`scrape::start_timestamps`), so `global.scrape_protocols` defaults to the protobuf
    /// format first (Prometheus' `DefaultProtoFirstScrapeProtocols`, as its
    /// `created-timestamp-zero-ingestion` sets it): a job without `scrape_protocols` of its
    /// own asks for it unless `global.scrape_protocols` is set.
    pub read_start_timestamps: bool,
}

impl ScrapeConfig {
    /// Reads and checks `path`; an error names the file, the job and the key.
    pub fn load(path: &Path, server: ServerOptions) -> Result<ScrapeConfig, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        ScrapeConfig::from_yaml_with_options(&text, base, server).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses a Prometheus configuration's text; relative file names are taken from `base`
    /// (the configuration file's directory, as Prometheus takes them).
    pub fn from_yaml(text: &str, base: &Path, limits: LabelLimits) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml_with_options(text, base, ServerOptions { label_limits: limits, ..ServerOptions::default() })
    }

    /// As [`ScrapeConfig::from_yaml`], under the server's options.
    pub fn from_yaml_with_options(text: &str, base: &Path, server: ServerOptions) -> Result<ScrapeConfig, String> {
        let limits = server.label_limits;
        let root: FileRoot = if text.trim().is_empty() { FileRoot::default() } else { serde_saphyr::from_str(text).map_err(|e| e.to_string())? };
        let global_interval = optional_duration(root.global.scrape_interval.as_deref(), "global.scrape_interval")?.unwrap_or(INTERVAL_DEFAULT_MS);
        let global_timeout = optional_duration(root.global.scrape_timeout.as_deref(), "global.scrape_timeout")?.unwrap_or(TIMEOUT_DEFAULT_MS.min(global_interval));
        if global_timeout > global_interval {
            return Err("global.scrape_timeout must not be greater than global.scrape_interval".into());
        }
        let mut jobs: Vec<Arc<ScrapeJob>> = Vec::new();
        let mut written = written_jobs(text).into_iter();
        let mut sections: Vec<(String, PathBuf, JobSection, serde_json::Value)> =
            root.scrape_configs.into_iter().enumerate().map(|(i, s)| (format!("scrape_configs[{i}]"), base.to_path_buf(), s, written.next().unwrap_or_default())).collect();
        sections.extend(jobs_from_files(&root.scrape_config_files, base)?);
        if let Some(protocols) = &root.global.scrape_protocols {
            accept_header(protocols, "underscores").map_err(|e| format!("global: {e}"))?;
        }
        // As Prometheus' feature flag changes the default of `global.scrape_protocols`.
        let global_protocols = root.global.scrape_protocols.clone().or_else(|| server.read_start_timestamps.then(|| PROTO_FIRST_PROTOCOLS.map(String::from).to_vec()));
        for (place, job_base, section, written) in sections {
            let name = section.job_name.clone();
            if name.is_empty() {
                return Err(format!("{place}: job_name is required"));
            }
            if jobs.iter().any(|j| j.name == name) {
                return Err(format!("{place}: job_name {name:?} is used twice"));
            }
            let g = &root.global;
            let globals = Globals {
                interval_ms: global_interval,
                timeout_ms: global_timeout,
                sample_limit: g.sample_limit,
                body_size_limit: g.body_size_limit.clone(),
                label_limit: g.label_limit,
                label_name_length_limit: g.label_name_length_limit,
                label_value_length_limit: g.label_value_length_limit,
                target_limit: g.target_limit,
                keep_dropped_targets: g.keep_dropped_targets,
                scrape_failure_log_file: g.scrape_failure_log_file.as_ref().filter(|f| !f.as_os_str().is_empty()).map(|f| base.join(f)),
                scrape_protocols: global_protocols.clone(),
                scrape_native_histograms: g.scrape_native_histograms,
                always_scrape_classic_histograms: g.always_scrape_classic_histograms,
                convert_classic_histograms_to_nhcb: g.convert_classic_histograms_to_nhcb,
                extra_scrape_metrics: g.extra_scrape_metrics,
            };
            let mut job = resolve_job(section, &globals, &job_base, limits).map_err(|e| format!("{place} (job {name:?}): {e}"))?;
            job.shown_yaml = super::shown_config::shown_yaml(&written, &job);
            jobs.push(Arc::new(job));
        }
        let mut external_labels = Vec::new();
        for (name, value) in root.global.external_labels {
            if !valid_label_name(&name) {
                return Err(format!("global.external_labels: {name:?} is not a valid label name"));
            }
            if !value.is_empty() {
                external_labels.push((name, value));
            }
        }
        let rules = crate::rules::settings::RuleSettings::from_config_text(text, base)?;
        Ok(ScrapeConfig { jobs, external_labels, read_start_timestamps: server.read_start_timestamps, rules: Arc::new(rules) })
    }
}

/// A job that only discovers: the service discoveries of `sections` (a JSON object of
/// `*_sd_configs` keys, as an `alertmanagers` entry of `alerting` holds them) under the name
/// `name`, resolved as a scrape job's, so that the discoveries' askers can serve it
/// (`scrape::start_asking`) though nothing scrapes it.
pub(crate) fn discovery_job(name: &str, mut sections: serde_json::Map<String, serde_json::Value>, base: &Path) -> Result<ScrapeJob, String> {
    sections.insert("job_name".into(), serde_json::Value::String(name.to_string()));
    let section: JobSection = serde_json::from_value(serde_json::Value::Object(sections)).map_err(|e| e.to_string())?;
    let globals = Globals { interval_ms: INTERVAL_DEFAULT_MS, timeout_ms: TIMEOUT_DEFAULT_MS, ..Globals::default() };
    resolve_job(section, &globals, base, LabelLimits::default())
}

/// One `file_sd_configs` entry: its file patterns (relative names from `base`; JSON or YAML
/// files, `*` only in the last path element) and refresh interval.
pub(crate) fn resolve_file_sd(section: &FileSdSection, base: &Path) -> Result<FileSd, String> {
    if section.files.is_empty() {
        return Err("file_sd_configs: files must not be empty".into());
    }
    let mut patterns = Vec::new();
    for file in &section.files {
        let path = base.join(file);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !(name.ends_with(".json") || name.ends_with(".yml") || name.ends_with(".yaml")) {
            return Err(format!("file_sd_configs: {file:?} must end in .json, .yml or .yaml"));
        }
        if path.parent().is_some_and(|p| p.to_string_lossy().contains('*')) {
            return Err(format!("file_sd_configs: {file:?}: only the last path element may hold *"));
        }
        patterns.push(path);
    }
    let refresh_ms = optional_duration(section.refresh_interval.as_deref(), "file_sd_configs.refresh_interval")?.unwrap_or(FILE_SD_REFRESH_DEFAULT_MS);
    Ok(FileSd { patterns, refresh_ms })
}

pub(crate) fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(super) fn optional_duration(text: Option<&str>, key: &str) -> Result<Option<i64>, String> {
    match text {
        None => Ok(None),
        Some(t) => match parse_prometheus_duration_ms(t.trim()) {
            Some(ms) if ms > 0 => Ok(Some(ms)),
            _ => Err(format!("{key}: {t:?} is not a positive duration such as 15s or 1m")),
        },
    }
}

/// Prometheus' byte sizes (`body_size_limit`): a number with an optional unit B, KB, MB,
/// GB, TB (powers of 1024, as Prometheus reads them; KiB, MiB, ... too).
fn parse_bytes(text: &str) -> Option<usize> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let number: usize = t[..split].parse().ok()?;
    let shift = match t[split..].trim() {
        "" | "B" => 0,
        "KB" | "KiB" => 10,
        "MB" | "MiB" => 20,
        "GB" | "GiB" => 30,
        "TB" | "TiB" => 40,
        _ => return None,
    };
    number.checked_mul(1usize << shift)
}

/// The protocols asked for when `scrape_protocols` is not set (Prometheus'
/// `DefaultScrapeProtocols`): OpenMetrics first, which carries exemplars.
const DEFAULT_PROTOCOLS: [&str; 4] = ["OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText1.0.0", "PrometheusText0.0.4"];

/// The three formats a scrape answer can come in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerFormat {
    Text,
    OpenMetrics,
    Protobuf,
}

/// The protocols asked for when `scrape_native_histograms` is on and `scrape_protocols` is
/// not set (Prometheus' `DefaultProtoFirstScrapeProtocols`): native histograms come in the
/// protobuf format only. Also `global.scrape_protocols`' default under
/// `storage.start_timestamp_zero_ingestion` (`ServerOptions`): start timestamps come best in
/// it.
const PROTO_FIRST_PROTOCOLS: [&str; 5] = ["PrometheusProto", "OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText1.0.0", "PrometheusText0.0.4"];

/// Prometheus' scrape protocols and their media types.
const SCRAPE_PROTOCOLS: [(&str, &str); 5] = [
    ("PrometheusProto", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"),
    ("PrometheusText0.0.4", "text/plain;version=0.0.4"),
    ("PrometheusText1.0.0", "text/plain;version=1.0.0"),
    ("OpenMetricsText0.0.1", "application/openmetrics-text;version=0.0.1"),
    ("OpenMetricsText1.0.0", "application/openmetrics-text;version=1.0.0"),
];

/// The `Accept` header Prometheus makes of `scrape_protocols` (each with a falling `q`, the
/// newer text formats with `escaping=<escaping>`, then `*/*`), checked as Prometheus checks
/// the list.
fn accept_header(protocols: &[String], escaping: &str) -> Result<String, String> {
    if protocols.is_empty() {
        return Err("scrape_protocols cannot be empty".into());
    }
    let mut values = Vec::new();
    let mut weight = SCRAPE_PROTOCOLS.len() + 1;
    for (i, protocol) in protocols.iter().enumerate() {
        if protocols[..i].iter().any(|p| p.eq_ignore_ascii_case(protocol)) {
            return Err(format!("duplicated protocol in scrape_protocols, got {protocols:?}"));
        }
        let Some((_, media)) = SCRAPE_PROTOCOLS.iter().find(|(name, _)| name == protocol) else {
            let known: Vec<&str> = SCRAPE_PROTOCOLS.iter().map(|(name, _)| *name).collect();
            return Err(format!("scrape_protocols: unknown scrape protocol {protocol}, supported: {known:?}"));
        };
        let escaping = if matches!(protocol.as_str(), "PrometheusText1.0.0" | "OpenMetricsText1.0.0") { format!(";escaping={escaping}") } else { String::new() };
        values.push(format!("{media}{escaping};q=0.{weight}"));
        weight -= 1;
    }
    values.push(format!("*/*;q=0.{weight}"));
    Ok(values.join(","))
}

/// What a job takes from `global` when it does not set it.
#[derive(Default)]
struct Globals {
    interval_ms: i64,
    timeout_ms: i64,
    sample_limit: Option<u64>,
    body_size_limit: Option<String>,
    label_limit: Option<u64>,
    label_name_length_limit: Option<u64>,
    label_value_length_limit: Option<u64>,
    target_limit: Option<u64>,
    keep_dropped_targets: Option<u64>,
    /// `global.scrape_failure_log_file`, relative names taken from the configuration's directory.
    scrape_failure_log_file: Option<PathBuf>,
    scrape_protocols: Option<Vec<String>>,
    scrape_native_histograms: Option<bool>,
    always_scrape_classic_histograms: Option<bool>,
    convert_classic_histograms_to_nhcb: Option<bool>,
    /// `scrape_timeout_seconds`, `scrape_sample_limit` and `scrape_body_size_bytes` written
    /// with the other scrape series.
    extra_scrape_metrics: Option<bool>,
}

/// A job's or an http_sd entry's credentials and TLS sections, as written.
#[derive(Default)]
pub(crate) struct ClientSections {
    pub(crate) basic_auth: Option<BasicAuthSection>,
    pub(crate) authorization: Option<AuthorizationSection>,
    pub(crate) bearer_token: Option<String>,
    pub(crate) bearer_token_file: Option<PathBuf>,
    pub(crate) tls_config: Option<TlsSection>,
    pub(crate) http_headers: BTreeMap<String, HeaderSection>,
    /// Prometheus' proxy settings (see `scrape::proxy`).
    pub(crate) proxy_url: Option<String>,
    pub(crate) no_proxy: Option<String>,
    pub(crate) proxy_from_environment: bool,
    pub(crate) proxy_connect_header: BTreeMap<String, Vec<String>>,
    pub(crate) oauth2: Option<OAuth2Section>,
    pub(crate) follow_redirects: Option<bool>,
}

/// How a job's or a discovery entry's requests are authorized, secured and sent, from
/// Prometheus' HTTP client settings (`scrape::http_get` builds clients and requests of it).
pub struct ClientAccess {
    pub credentials: Credentials,
    /// `http_headers`: sent with every request.
    pub headers: ExtraHeaders,
    /// The TLS settings for https, or why there are none (when not needed at once).
    pub tls: Result<net::client::ClientTls, String>,
    /// Which proxy, if any, requests go through.
    pub proxy: ProxyChoice,
    /// Whether redirects are followed (Prometheus' default: yes).
    pub follow_redirects: bool,
}

/// One PEM document of `tls_config`, from a file or written inline.
enum OwnedPem {
    File(PathBuf),
    /// The key it was given under (`ca`, `cert`, `key`, or a kubeconfig's) and its text.
    Inline(String, Vec<u8>),
}

impl OwnedPem {
    /// The inline text or the file (relative to `base`), at most one of them.
    fn choose(inline: Option<String>, file: Option<PathBuf>, inline_key: &str, file_key: &str, base: &Path) -> Result<Option<OwnedPem>, String> {
        match (inline.filter(|t| !t.is_empty()), file.filter(|f| !f.as_os_str().is_empty())) {
            (Some(_), Some(_)) => Err(format!("tls_config: at most one of {inline_key} and {file_key} may be set")),
            (Some(text), None) => Ok(Some(OwnedPem::Inline(inline_key.to_string(), text.into_bytes()))),
            (None, Some(file)) => Ok(Some(OwnedPem::File(base.join(file)))),
            (None, None) => Ok(None),
        }
    }

    fn as_pem(&self) -> net::client::Pem<'_> {
        match self {
            OwnedPem::File(path) => net::client::Pem::File(path),
            OwnedPem::Inline(what, pem) => net::client::Pem::Inline { what, pem },
        }
    }
}

/// Checks a job's or an http_sd entry's HTTP client settings (`https`: its URLs are https,
/// so TLS settings that cannot be built are an error now, not at the first request).
pub(crate) fn client_access(s: ClientSections, https: bool, base: &Path) -> Result<ClientAccess, String> {
    let bearer = match (s.bearer_token, s.bearer_token_file) {
        (Some(_), Some(_)) => return Err("bearer_token and bearer_token_file are exclusive".into()),
        (Some(t), None) => Some(Secret::Inline(t)),
        (None, Some(f)) => Some(Secret::File(base.join(f))),
        (None, None) => None,
    };
    let authorization = match s.authorization {
        None => None,
        Some(a) => {
            let kind = a.kind.unwrap_or_else(|| "Bearer".to_string());
            if kind.eq_ignore_ascii_case("basic") {
                return Err("authorization.type Basic is not allowed: use basic_auth".into());
            }
            let credentials = match (a.credentials, a.credentials_file) {
                (Some(_), Some(_)) => return Err("authorization.credentials and credentials_file are exclusive".into()),
                (Some(c), None) => Secret::Inline(c),
                (None, Some(f)) => Secret::File(base.join(f)),
                (None, None) => Secret::Inline(String::new()),
            };
            Some((kind, credentials))
        }
    };
    let basic = match s.basic_auth {
        None => None,
        Some(b) => {
            let password = match (b.password, b.password_file) {
                (Some(_), Some(_)) => return Err("basic_auth.password and password_file are exclusive".into()),
                (Some(p), None) => Secret::Inline(p),
                (None, Some(f)) => Secret::File(base.join(f)),
                (None, None) => Secret::Inline(String::new()),
            };
            Some((b.username, password))
        }
    };
    let credentials = match (basic, authorization, bearer, s.oauth2) {
        (None, None, None, Some(o)) => Credentials::OAuth2(Arc::new(oauth2_source(o, base)?)),
        (_, _, _, Some(_)) => return Err("at most one of basic_auth, oauth2, authorization and bearer_token(_file) may be set".into()),
        (basic, authorization, bearer, None) => match (basic, authorization, bearer) {
        (None, None, None) => Credentials::None,
        (Some((username, password)), None, None) => Credentials::Basic { username, password },
        (None, Some((kind, credentials)), None) => Credentials::Typed { kind, credentials },
        (None, None, Some(token)) => Credentials::Typed { kind: "Bearer".into(), credentials: token },
        _ => return Err("at most one of basic_auth, authorization and bearer_token(_file) may be set".into()),
        },
    };
    let tls = tls_settings(s.tls_config, https, base)?;
    let headers = extra_headers(s.http_headers, base)?;
    let proxy = ProxyChoice::from_settings(s.proxy_url.as_deref(), s.no_proxy.as_deref(), s.proxy_from_environment, &s.proxy_connect_header, &tls, &|name| std::env::var(name).ok())?;
    Ok(ClientAccess { credentials, headers, tls, proxy, follow_redirects: s.follow_redirects.unwrap_or(true) })
}

/// Checks every entry of a discovery key (`key`: `linode_sd_configs`) with `resolve`, given
/// each entry's position; an error names the key and position (`linode_sd_configs[1]: ...`).
fn resolve_entries<S, R>(key: &str, sections: Vec<S>, base: &Path, resolve: impl Fn(S, &Path, usize) -> Result<R, String>) -> Result<Vec<R>, String> {
    sections.into_iter().enumerate().map(|(i, section)| resolve(section, base, i).map_err(|e| format!("{key}[{i}]: {e}"))).collect()
}

/// The TLS client settings of a `tls_config` (`https`: they are needed now, so settings
/// that cannot be built are an error; otherwise why there are none is kept for later).
fn tls_settings(section: Option<TlsSection>, https: bool, base: &Path) -> Result<Result<net::client::ClientTls, String>, String> {
    let tls_section = section.unwrap_or_default();
    let cert = OwnedPem::choose(tls_section.cert, tls_section.cert_file, "cert", "cert_file", base)?;
    let key = OwnedPem::choose(tls_section.key, tls_section.key_file, "key", "key_file", base)?;
    let cert_and_key = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => return Err("tls_config.cert_file (or cert) and key_file (or key) must be set together".into()),
    };
    let ca = OwnedPem::choose(tls_section.ca, tls_section.ca_file, "ca", "ca_file", base)?;
    let versions = tls_versions(tls_section.min_version.as_deref(), tls_section.max_version.as_deref())?;
    let needs_tls = https || ca.is_some() || cert_and_key.is_some() || tls_section.insecure_skip_verify || tls_section.server_name.is_some() || versions != net::client::TlsVersions::Both;
    // A job on http can still reach https targets through `__scheme__` (and an http_sd
    // endpoint redirect to https), so TLS is always prepared; with no tls_config it trusts
    // the system's roots.
    let config = net::client::client_tls_config_with_versions(ca.as_ref().map(OwnedPem::as_pem), cert_and_key.as_ref().map(|(c, k)| (c.as_pem(), k.as_pem())), tls_section.insecure_skip_verify, versions)
        .map_err(|e| format!("tls_config: {e}"));
    match config {
        Ok(config) => Ok(Ok(net::client::ClientTls { config, server_name: tls_section.server_name.clone() })),
        Err(e) if needs_tls => Err(e),
        Err(e) => Ok(Err(e)),
    }
}

/// An `oauth2` section checked as Prometheus checks it, its secret file relative to `base`.
fn oauth2_source(o: OAuth2Section, base: &Path) -> Result<super::oauth2::TokenSource, String> {
    if o.client_secret_ref.as_deref().is_some_and(|r| !r.is_empty()) {
        return Err("oauth2 client_secret_ref is not supported (there is no secret manager): use client_secret or client_secret_file".into());
    }
    if o.grant_type.as_deref() == Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return Err("oauth2 grant_type urn:ietf:params:oauth:grant-type:jwt-bearer is not supported (only client_credentials)".into());
    }
    let client_secret = match (o.client_secret.filter(|c| !c.is_empty()), o.client_secret_file.filter(|f| !f.as_os_str().is_empty())) {
        (Some(_), Some(_)) => return Err("at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be configured using grant-type=client_credentials".into()),
        (Some(secret), None) => Secret::Inline(secret),
        (None, Some(file)) => Secret::File(base.join(file)),
        (None, None) => Secret::Inline(String::new()),
    };
    let https = o.token_url.get(..8).is_some_and(|p| p.eq_ignore_ascii_case("https://"));
    let tls = tls_settings(o.tls_config, https, base).map_err(|e| format!("oauth2 {e}"))?;
    let proxy = ProxyChoice::from_settings(o.proxy_url.as_deref(), o.no_proxy.as_deref(), o.proxy_from_environment, &o.proxy_connect_header, &tls, &|name| std::env::var(name).ok()).map_err(|e| format!("oauth2: {e}"))?;
    super::oauth2::TokenSource::new(super::oauth2::Settings { client_id: o.client_id, client_secret, scopes: o.scopes, token_url: o.token_url, endpoint_params: o.endpoint_params.into_iter().collect(), tls, proxy })
}

fn resolve_consul_sd(s: ConsulSdSection, base: &Path, position: usize) -> Result<ConsulSd, String> {
    let mut scheme = s.scheme.unwrap_or_else(|| "http".to_string());
    let mut server = s.server.unwrap_or_else(|| "localhost:8500".to_string());
    // As Consul's client reads its address: an `http://` or `https://` prefix sets the scheme.
    if let Some((prefix, rest)) = server.split_once("://") {
        match prefix.to_ascii_lowercase().as_str() {
            "http" => {}
            "https" => scheme = "https".to_string(),
            other => return Err(format!("server {server:?}: unknown scheme {other:?}")),
        }
        server = rest.to_string();
    }
    if server.trim().is_empty() {
        return Err("server must not be empty".into());
    }
    if s.token.as_deref().is_some_and(|t| !t.is_empty()) && (s.authorization.is_some() || s.bearer_token.is_some() || s.bearer_token_file.is_some()) {
        return Err("at most one of token, authorization and bearer_token(_file) may be set".into());
    }
    let prefix = s.path_prefix.trim_end_matches('/');
    let prefix = if prefix.is_empty() || prefix.starts_with('/') { prefix.to_string() } else { format!("/{prefix}") };
    let base_url = format!("{scheme}://{server}{prefix}");
    let location = Url::parse(&format!("{base_url}/")).map_err(|e| format!("scheme and server: {e}"))?;
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(CONSUL_SD_REFRESH_DEFAULT_MS);
    // As Prometheus: `username`/`password` are basic auth when either is not empty.
    let (username, password) = (s.username.unwrap_or_default(), s.password.unwrap_or_default());
    let basic_auth = match (username.is_empty() && password.is_empty(), s.basic_auth) {
        (false, Some(_)) => return Err("at most one of username/password and basic_auth may be set".into()),
        (false, None) => Some(BasicAuthSection { username, password: Some(password), password_file: None }),
        (true, basic) => basic,
    };
    let _ = s.enable_http2;
    let access = client_access(
        client_sections!(s, basic_auth),
        location.scheme == Scheme::Https,
        base,
    )?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    // The token (an ACL sees its own services) and the entry's position keep apart entries
    // on one server that differ in credentials.
    std::hash::Hash::hash(&(&s.datacenter, &s.namespace, &s.partition, &s.services, &s.tags, &s.node_meta, &s.filter, &s.health_filter, s.allow_stale, &s.tag_separator, &s.token), &mut hasher);
    let source = format!("{base_url} #{position} {:016x}", std::hash::Hasher::finish(&hasher));
    Ok(ConsulSd {
        base_url,
        source,
        location,
        token: s.token.filter(|t| !t.is_empty()),
        datacenter: s.datacenter,
        namespace: s.namespace,
        partition: s.partition,
        tag_separator: s.tag_separator.unwrap_or_else(|| ",".to_string()),
        allow_stale: s.allow_stale.unwrap_or(true),
        refresh_ms,
        services: s.services,
        tags: s.tags,
        node_meta: s.node_meta.into_iter().collect(),
        filter: s.filter,
        health_filter: s.health_filter,
        access,
    })
}

/// The API server of a pod's own cluster, as client-go's in-cluster configuration finds it:
/// `KUBERNETES_SERVICE_HOST` and `_PORT` (`host`, `port`), the service account's token (read
/// at every request, so a rotated token is used) and CA in `account_dir`.
fn in_cluster(host: Option<String>, port: Option<String>, account_dir: &Path) -> Result<(String, ClientSections), String> {
    let (Some(host), Some(port)) = (host.filter(|h| !h.is_empty()), port.filter(|p| !p.is_empty())) else {
        return Err("no api_server, and not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set to use the pod's service account".into());
    };
    let host = if host.contains(':') { format!("[{host}]") } else { host };
    let sections = ClientSections {
        bearer_token_file: Some(account_dir.join("token")),
        tls_config: Some(TlsSection { ca_file: Some(account_dir.join("ca.crt")), ..TlsSection::default() }),
        // client-go's in-cluster client takes its proxy from the environment.
        proxy_from_environment: true,
        ..ClientSections::default()
    };
    Ok((format!("https://{host}:{port}"), sections))
}

/// The pod's own namespace, from its service account.
fn own_namespace(account_dir: &Path) -> Result<String, String> {
    let file = account_dir.join("namespace");
    let own = std::fs::read_to_string(&file).map_err(|e| format!("could not determine the pod's namespace from {}: {e}", file.display()))?;
    if own.trim().is_empty() {
        return Err(format!("could not read own namespace name ({} is empty)", file.display()));
    }
    Ok(own.trim().to_string())
}

/// The API server and client settings of a kubeconfig's current context.
fn kubeconfig_sections(file: &Path) -> Result<(String, ClientSections), String> {
    let access = super::kubeconfig::read(file)?;
    let tls = TlsSection {
        ca: access.ca_pem,
        cert: access.cert_pem,
        key: access.key_pem,
        ca_file: access.ca_file,
        cert_file: access.cert_file,
        key_file: access.key_file,
        server_name: access.server_name,
        insecure_skip_verify: access.insecure_skip_verify,
        min_version: None,
        max_version: None,
    };
    let basic_auth = access.basic.map(|(username, password)| BasicAuthSection { username, password: Some(password), password_file: None });
    // client-go: the cluster's proxy-url, else the environment's proxy.
    let from_environment = access.proxy_url.is_none();
    let sections = ClientSections {
        basic_auth,
        bearer_token: access.token,
        bearer_token_file: access.token_file,
        tls_config: Some(tls),
        proxy_url: access.proxy_url,
        proxy_from_environment: from_environment,
        ..ClientSections::default()
    };
    Ok((access.server, sections))
}

fn resolve_kubernetes_sd(s: KubernetesSdSection, base: &Path, position: usize) -> Result<KubernetesSd, String> {
    let Some(allowed) = super::kubernetes_sd::roles::Role::parse(&s.role).map(|r| r.selector_roles()) else {
        return Err(if s.role.is_empty() { "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)".to_string() } else { format!("unknown Kubernetes SD role {:?}", s.role) });
    };
    let a = &s.attach_metadata;
    let attach = super::kubernetes_sd::roles::Attach { node: a.node, namespace: a.namespace, deployment: a.deployment, job: a.job, cronjob: a.cronjob };
    let selectors = kubernetes_selectors(&s.role, allowed, &s.selectors)?;
    // As Prometheus: an empty name means every namespace (the pod's own one included).
    let every_namespace = s.namespaces.names.iter().any(String::is_empty);
    let mut namespaces = if every_namespace { Vec::new() } else { s.namespaces.names.clone() };
    if let Some(bad) = namespaces.iter().find(|n| !path_safe_name(n)) {
        return Err(format!("namespaces.names: {bad:?} holds a character that cannot be in a namespace's URL path (/, ?, #, %, a space or a control character)"));
    }
    // Prometheus counts any setting of its HTTP client that is not its default as custom
    // (empty values are its defaults).
    let tls_set = s.tls_config.as_ref().is_some_and(|t| t.ca.is_some() || t.cert.is_some() || t.key.is_some() || t.ca_file.is_some() || t.cert_file.is_some() || t.key_file.is_some() || t.server_name.is_some() || t.insecure_skip_verify || t.min_version.is_some() || t.max_version.is_some());
    let custom_client = s.basic_auth.is_some() || s.authorization.is_some() || s.bearer_token.as_deref().is_some_and(|t| !t.is_empty()) || s.bearer_token_file.is_some() || tls_set || !s.http_headers.is_empty() || s.follow_redirects == Some(false) || s.enable_http2 == Some(false)
        || s.proxy_url.as_deref().is_some_and(|u| !u.is_empty())
        || s.no_proxy.as_deref().is_some_and(|n| !n.is_empty())
        || s.proxy_from_environment
        || !s.proxy_connect_header.is_empty()
        || s.oauth2.is_some();
    let client_settings = client_sections!(s);
    let api_server = s.api_server.filter(|a| !a.trim().is_empty());
    let kubeconfig_file = s.kubeconfig_file.filter(|f| !f.as_os_str().is_empty());
    let mut unavailable = None;
    let in_cluster_entry = api_server.is_none() && kubeconfig_file.is_none();
    let (api_server, sections) = match (api_server, kubeconfig_file) {
        (Some(_), Some(_)) => return Err("cannot use 'kubeconfig_file' and 'api_server' simultaneously".into()),
        (None, Some(file)) => {
            if custom_client {
                return Err("cannot use a custom HTTP client configuration together with 'kubeconfig_file'".into());
            }
            if s.namespaces.own_namespace {
                return Err("cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously".into());
            }
            kubeconfig_sections(&base.join(file))?
        }
        (Some(api_server), None) => {
            if s.namespaces.own_namespace {
                return Err("cannot use 'api_server' and 'namespaces.own_namespace' simultaneously".into());
            }
            (api_server.trim_end_matches('/').to_string(), client_settings)
        }
        (None, None) => {
            if custom_client {
                return Err("to use custom HTTP client configuration please provide the 'api_server' URL explicitly".into());
            }
            // As Prometheus, a configuration for a pod's own cluster loads anywhere: outside
            // one, the entry's discovery logs why it cannot start and finds nothing.
            let account_dir = Path::new(SERVICE_ACCOUNT_DIR);
            let own = if s.namespaces.own_namespace { own_namespace(account_dir).map(Some) } else { Ok(None) };
            match own.and_then(|own| Ok((own, in_cluster(std::env::var("KUBERNETES_SERVICE_HOST").ok(), std::env::var("KUBERNETES_SERVICE_PORT").ok(), account_dir)?))) {
                Ok((own, found)) => {
                    if !every_namespace {
                        namespaces.extend(own);
                    }
                    found
                }
                Err(error) => {
                    unavailable = Some(error);
                    ("https://kubernetes.default.svc".to_string(), ClientSections::default())
                }
            }
        }
    };
    let location = Url::parse(&format!("{api_server}/")).map_err(|e| format!("api_server: {e}"))?;
    namespaces.sort();
    namespaces.dedup();
    let access = match client_access(sections, location.scheme == Scheme::Https, base) {
        Ok(access) => access,
        // The service account's CA cannot be read: the same, logged when discovery starts.
        Err(error) if unavailable.is_none() && in_cluster_entry => {
            unavailable = Some(error);
            ClientAccess { credentials: Credentials::None, headers: ExtraHeaders::default(), tls: Err("unavailable".into()), proxy: ProxyChoice::Direct, follow_redirects: true }
        }
        Err(error) => return Err(error),
    };
    // The entry's position keeps apart two entries that differ only in credentials.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&(&s.role, &namespaces, &selectors, attach), &mut hasher);
    let source = format!("kubernetes {api_server} #{position} {:016x}", std::hash::Hasher::finish(&hasher));
    Ok(KubernetesSd {
        role: s.role,
        api_server,
        source,
        location,
        namespaces,
        selectors,
        attach,
        access,
        unavailable,
    })
}

/// A name that can stand in a URL path as it is (Prometheus takes any namespace name; one
/// Kubernetes does not allow just finds nothing).
fn path_safe_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| matches!(c, '/' | '?' | '#' | '%') || c.is_whitespace() || c.is_control())
}

/// The selectors by role, checked as Prometheus checks them: roles this role allows, each
/// once, and label and field selectors that parse.
fn kubernetes_selectors(role: &str, allowed: &[&str], sections: &[KubernetesSelectorSection]) -> Result<BTreeMap<String, (String, String)>, String> {
    let mut selectors = BTreeMap::new();
    for selector in sections {
        if selectors.contains_key(&selector.role) {
            return Err(format!("duplicated selector role: {}", selector.role));
        }
        if !allowed.contains(&selector.role.as_str()) {
            return Err(format!("{role} role supports only {} selectors", allowed.join(", ")));
        }
        check_selector(&selector.label, true).map_err(|e| format!("selectors: label selector {:?}: {e}", selector.label))?;
        check_selector(&selector.field, false).map_err(|e| format!("selectors: field selector {:?}: {e}", selector.field))?;
        selectors.insert(selector.role.clone(), (selector.label.clone(), selector.field.clone()));
    }
    Ok(selectors)
}

/// Checks what can be checked of a Kubernetes selector without the API server's full
/// grammar (it refuses the rest, which is then logged): balanced parentheses, no control
/// characters, no empty `in`/`notin` set, and for field selectors an operator (`=`, `==`,
/// `!=`) in every term (empty terms are skipped, as Kubernetes skips them; `\,` is an
/// escaped comma).
fn check_selector(text: &str, label: bool) -> Result<(), String> {
    let mut depth = 0i32;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if c.is_control() => return Err("it holds a control character".into()),
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return Err("unbalanced parentheses".into());
        }
    }
    if depth != 0 {
        return Err("unbalanced parentheses".into());
    }
    if label {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.contains("in()") {
            return Err("an empty set of values".into());
        }
        return Ok(());
    }
    let unescaped = text.replace("\\,", "");
    match unescaped.split(',').map(str::trim).find(|term| !term.is_empty() && !term.contains('=')) {
        Some(term) => Err(format!("{term:?} has no =, == or !=")),
        None => Ok(()),
    }
}

fn resolve_dns_sd(s: DnsSdSection) -> Result<DnsSd, String> {
    if s.names.is_empty() || s.names.iter().any(|n| n.trim().is_empty()) {
        return Err("names must hold at least one name, none empty".into());
    }
    let type_text = s.kind.unwrap_or_else(|| "SRV".to_string());
    let kind = super::dns::RecordType::parse(&type_text).ok_or_else(|| format!("type {type_text:?} must be SRV, A, AAAA, MX or NS"))?;
    if kind != super::dns::RecordType::Srv && s.port == 0 {
        return Err(format!("a port is required for {type_text} records (only SRV records carry one)"));
    }
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(DNS_SD_REFRESH_DEFAULT_MS);
    Ok(DnsSd { names: s.names, kind, port: s.port, refresh_ms })
}

fn resolve_http_sd(s: HttpSdSection, base: &Path) -> Result<HttpSd, String> {
    if s.url.is_empty() {
        return Err("url is required".into());
    }
    let location = Url::parse(&s.url)?;
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(HTTP_SD_REFRESH_DEFAULT_MS);
    let _ = s.enable_http2;
    let access = client_access(
        client_sections!(s),
        location.scheme == Scheme::Https,
        base,
    )?;
    Ok(HttpSd { url: s.url, location, refresh_ms, access })
}

/// A Docker daemon's `host` and HTTP client settings, as docker_sd and dockerswarm_sd take
/// them: `unix://` (settings unused), `tcp://` (as `http://`, settings unused), `http://` or
/// `https://`.
fn resolve_docker_daemon(host_text: String, sections: ClientSections, base: &Path) -> Result<DockerDaemon, String> {
    if host_text.is_empty() {
        return Err("host missing".into());
    }
    let lower = host_text.to_ascii_lowercase();
    let host = if let Some(path) = lower.strip_prefix("unix://").map(|_| &host_text["unix://".len()..]) {
        if path.is_empty() {
            return Err(format!("host {:?}: no socket path", host_text));
        }
        DockerHost::Unix(PathBuf::from(path))
    } else if lower.starts_with("tcp://") {
        DockerHost::Http(Url::parse(&format!("http://{}", &host_text["tcp://".len()..])).map_err(|e| format!("host: {e}"))?)
    } else if lower.starts_with("http://") || lower.starts_with("https://") {
        DockerHost::Http(Url::parse(&host_text).map_err(|e| format!("host: {e}"))?)
    } else {
        return Err(format!("host {:?}: use unix://, tcp://, http:// or https://", host_text));
    };
    let https = matches!(&host, DockerHost::Http(url) if url.scheme == Scheme::Https);
    let access = client_access(sections, https, base)?;
    Ok(DockerDaemon {
        client_settings: lower.starts_with("http://") || lower.starts_with("https://"),
        host_text,
        host,
        access,
    })
}

/// Docker's filter form of `filters`: each name with all its values, in the order given
/// (`{"name": ["value", ...]}`), or empty when there is none to send.
fn docker_filters(sections: Vec<FilterSection>) -> Result<String, String> {
    let mut filters: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for filter in sections {
        if filter.name.is_empty() {
            return Err("filters: a filter needs a name".into());
        }
        // As Prometheus adds them, value by value: a filter without values is not sent.
        if !filter.values.is_empty() {
            filters.entry(filter.name).or_default().extend(filter.values);
        }
    }
    if filters.is_empty() {
        return Ok(String::new());
    }
    serde_json::to_string(&filters).map_err(|e| format!("filters: {e}"))
}

fn resolve_docker_sd(s: DockerSdSection, base: &Path, position: usize) -> Result<DockerSd, String> {
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(DOCKER_SD_REFRESH_DEFAULT_MS);
    let _ = s.enable_http2;
    let source = format!("docker {} #{position}", s.host);
    let daemon = resolve_docker_daemon(s.host, client_sections!(s), base)?;
    Ok(DockerSd {
        daemon,
        source,
        port: s.port,
        filters: docker_filters(s.filters)?,
        host_networking_host: s.host_networking_host,
        refresh_ms,
        match_first_network: s.match_first_network,
    })
}

fn resolve_dockerswarm_sd(s: DockerSwarmSdSection, base: &Path, position: usize) -> Result<DockerSwarmSd, String> {
    if s.host.is_empty() {
        return Err("host missing".into());
    }
    // Prometheus' messages.
    let role = match s.role.as_str() {
        "services" => SwarmRole::Services,
        "tasks" => SwarmRole::Tasks,
        "nodes" => SwarmRole::Nodes,
        "" => return Err("role missing (one of: tasks, services, nodes)".into()),
        other => return Err(format!("invalid role {other}, expected tasks, services, or nodes")),
    };
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(DOCKERSWARM_SD_REFRESH_DEFAULT_MS);
    let _ = s.enable_http2;
    let source = format!("dockerswarm {} {} #{position}", s.host, s.role);
    let daemon = resolve_docker_daemon(s.host, client_sections!(s), base)?;
    Ok(DockerSwarmSd { daemon, source, role, port: s.port, filters: docker_filters(s.filters)?, refresh_ms })
}

fn resolve_ec2_sd(s: Ec2SdSection, base: &Path, position: usize) -> Result<Ec2Sd, String> {
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(EC2_SD_REFRESH_DEFAULT_MS);
    let _ = (s.enable_http2, s.follow_redirects);
    let endpoint = match s.endpoint.as_str() {
        "" => None,
        text => Some(Url::parse(text).map_err(|e| format!("endpoint: {e}"))?),
    };
    // A query would be sent but not signed (AWS would refuse every request).
    if endpoint.as_ref().is_some_and(|url| url.path_and_query.contains('?')) {
        return Err(format!("endpoint {:?}: a query is not allowed", s.endpoint));
    }
    let https = endpoint.as_ref().is_none_or(|url| url.scheme == Scheme::Https);
    let access = client_access(client_sections!(s), https, base)?;
    let mut filters = Vec::new();
    for filter in s.filters {
        // Prometheus' check, in its words.
        if filter.values.is_empty() {
            return Err("EC2 SD configuration filter values cannot be empty".into());
        }
        if filter.name.is_empty() {
            return Err("filters: a filter needs a name".into());
        }
        filters.push((filter.name, filter.values));
    }
    let shown = if s.endpoint.is_empty() { s.region.clone() } else { s.endpoint.clone() };
    let shown = if shown.is_empty() { "(region from the environment)".to_string() } else { shown };
    Ok(Ec2Sd {
        source: format!("ec2 {shown} #{position}"),
        shown,
        region: s.region,
        endpoint,
        keys: super::aws::credentials::Settings { access_key: s.access_key, secret_key: s.secret_key.filter(|k| !k.is_empty()).map(Secret::Inline), profile: s.profile, role_arn: s.role_arn, external_id: s.external_id },
        port: s.port,
        filters,
        refresh_ms,
        tls: access.tls,
        proxy: access.proxy,
        http_headers: access.headers,
    })
}

fn resolve_gce_sd(s: GceSdSection, position: usize) -> Result<GceSd, String> {
    // Prometheus' checks, in its words.
    if s.project.is_empty() {
        return Err("GCE SD configuration requires a project".into());
    }
    if s.zone.is_empty() {
        return Err("GCE SD configuration requires a zone".into());
    }
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(GCE_SD_REFRESH_DEFAULT_MS);
    Ok(GceSd { source: format!("gce {}/{} #{position}", s.project, s.zone), project: s.project, zone: s.zone, filter: s.filter, refresh_ms, port: s.port, tag_separator: s.tag_separator })
}

fn resolve_job(s: JobSection, globals: &Globals, base: &Path, limits: LabelLimits) -> Result<ScrapeJob, String> {
    let interval_ms = optional_duration(s.scrape_interval.as_deref(), "scrape_interval")?.unwrap_or(globals.interval_ms);
    // As Prometheus: a job's timeout defaults to the global one, capped by its interval.
    let timeout_ms = optional_duration(s.scrape_timeout.as_deref(), "scrape_timeout")?.unwrap_or(globals.timeout_ms.min(interval_ms));
    let _ = s.enable_http2;
    let convert_classic_histograms_to_nhcb = s.convert_classic_histograms_to_nhcb.or(globals.convert_classic_histograms_to_nhcb).unwrap_or(false);
    let extra_scrape_metrics = s.extra_scrape_metrics.or(globals.extra_scrape_metrics).unwrap_or(false);
    for (key, scheme) in [("metric_name_validation_scheme", &s.metric_name_validation_scheme), ("metric_name_escaping_scheme", &s.metric_name_escaping_scheme)] {
        if let Some(value) = scheme {
            if !matches!(value.as_str(), "" | "utf8" | "legacy" | "underscores" | "allow-utf-8" | "dots" | "values") {
                return Err(format!("{key} {value:?} is not a scheme Prometheus knows"));
            }
        }
    }
    // As Prometheus 3: UTF-8 names are valid unless the job asks for legacy ones, and are
    // then asked for as they are (`allow-utf-8`) unless the job asks to have them escaped.
    let utf8_names = s.metric_name_validation_scheme.as_deref().is_none_or(|scheme| scheme != "legacy");
    let escaping = match s.metric_name_escaping_scheme.as_deref().filter(|scheme| !scheme.is_empty()) {
        Some("allow-utf-8") if !utf8_names => return Err("metric_name_escaping_scheme allow-utf-8 cannot be used with metric_name_validation_scheme legacy".into()),
        Some(scheme) => scheme,
        None if utf8_names => "allow-utf-8",
        None => "underscores",
    };
    let native_histograms = s.scrape_native_histograms.or(globals.scrape_native_histograms).unwrap_or(false);
    let accept = match s.scrape_protocols.as_ref().or(globals.scrape_protocols.as_ref()) {
        Some(protocols) => accept_header(protocols, escaping)?,
        None if native_histograms => accept_header(&PROTO_FIRST_PROTOCOLS.map(String::from), escaping)?,
        None => accept_header(&DEFAULT_PROTOCOLS.map(String::from), escaping)?,
    };
    let fallback_format = match s.fallback_scrape_protocol.as_deref() {
        None | Some("") => AnswerFormat::Text,
        Some("PrometheusProto") => AnswerFormat::Protobuf,
        Some("OpenMetricsText0.0.1" | "OpenMetricsText1.0.0") => AnswerFormat::OpenMetrics,
        Some("PrometheusText0.0.4" | "PrometheusText1.0.0") => AnswerFormat::Text,
        Some(protocol) => return Err(format!("fallback_scrape_protocol: unknown scrape protocol {protocol}")),
    };
    let classic_histograms_too = s.always_scrape_classic_histograms.or(s.scrape_classic_histograms).or(globals.always_scrape_classic_histograms).unwrap_or(false);
    let native_histogram_max_schema = max_schema_for_bucket_factor(s.native_histogram_min_bucket_factor.unwrap_or(0.0));
    if timeout_ms > interval_ms {
        return Err("scrape_timeout must not be greater than scrape_interval".into());
    }
    let metrics_path = s.metrics_path.unwrap_or_else(|| "/metrics".to_string());
    if !metrics_path.starts_with('/') {
        return Err(format!("metrics_path {metrics_path:?} must start with /"));
    }
    let scheme_text = s.scheme.unwrap_or_else(|| "http".to_string());
    let scheme = Scheme::parse(&scheme_text).ok_or_else(|| format!("scheme {scheme_text:?} must be http or https"))?;
    for group in &s.static_configs {
        for name in group.labels.keys() {
            if !valid_label_name(name) {
                return Err(format!("static_configs: {name:?} is not a valid label name"));
            }
        }
    }
    let file_sd = s.file_sd_configs.iter().map(|section| resolve_file_sd(section, base)).collect::<Result<Vec<_>, _>>()?;
    let target_relabeler = Relabeler::new(&s.relabel_configs, limits)?;
    let metric_relabeler = Relabeler::new(&s.metric_relabel_configs, limits).map_err(|e| e.replacen("relabel_configs", "metric_relabel_configs", 1))?;
    let needs_tls = scheme == Scheme::Https;
    let access = client_access(client_sections!(s), needs_tls, base)?;
    let http_sd = resolve_entries("http_sd_configs", s.http_sd_configs, base, |section, base, _| resolve_http_sd(section, base))?;
    let docker_sd = resolve_entries("docker_sd_configs", s.docker_sd_configs, base, resolve_docker_sd)?;
    let dockerswarm_sd = resolve_entries("dockerswarm_sd_configs", s.dockerswarm_sd_configs, base, resolve_dockerswarm_sd)?;
    let mut ec2_sd = resolve_entries("ec2_sd_configs", s.ec2_sd_configs, base, resolve_ec2_sd)?;
    let mut aws_sd = Vec::new();
    for (i, section) in s.aws_sd_configs.into_iter().enumerate() {
        match aws_sd_section::resolve(section, base, i).map_err(|e| format!("aws_sd_configs[{i}]: {e}"))? {
            aws_sd_section::Resolved::Ec2(sd) => ec2_sd.push(sd),
            aws_sd_section::Resolved::Other(sd) => aws_sd.push(sd),
        }
    }
    let standalone = [s.lightsail_sd_configs, s.ecs_sd_configs, s.rds_sd_configs, s.elasticache_sd_configs, s.msk_sd_configs];
    for ((key, role), sections) in aws_sd_section::STANDALONE_KEYS.into_iter().zip(standalone) {
        for (i, section) in sections.into_iter().enumerate() {
            aws_sd.push(aws_sd_section::resolve_standalone(section, base, i, key, role).map_err(|e| format!("{key}[{i}]: {e}"))?);
        }
    }
    let gce_sd = resolve_entries("gce_sd_configs", s.gce_sd_configs, base, |section, _, i| resolve_gce_sd(section, i))?;
    let dns_sd = resolve_entries("dns_sd_configs", s.dns_sd_configs, base, |section, _, _| resolve_dns_sd(section))?;
    let consul_sd = resolve_entries("consul_sd_configs", s.consul_sd_configs, base, resolve_consul_sd)?;
    let kubernetes_sd = resolve_entries("kubernetes_sd_configs", s.kubernetes_sd_configs, base, resolve_kubernetes_sd)?;
    let nomad_sd = resolve_entries("nomad_sd_configs", s.nomad_sd_configs, base, super::nomad_sd::config::resolve)?;
    let eureka_sd = resolve_entries("eureka_sd_configs", s.eureka_sd_configs, base, super::eureka_sd::config::resolve)?;
    let puppetdb_sd = resolve_entries("puppetdb_sd_configs", s.puppetdb_sd_configs, base, super::puppetdb_sd::config::resolve)?;
    let digitalocean_sd = resolve_entries("digitalocean_sd_configs", s.digitalocean_sd_configs, base, super::digitalocean_sd::config::resolve)?;
    let openstack_sd = resolve_entries("openstack_sd_configs", s.openstack_sd_configs, base, super::openstack_sd::config::resolve)?;
    let azure_sd = resolve_entries("azure_sd_configs", s.azure_sd_configs, base, super::azure_sd::config::resolve)?;
    let linode_sd = resolve_entries("linode_sd_configs", s.linode_sd_configs, base, super::linode_sd::config::resolve)?;
    let vultr_sd = resolve_entries("vultr_sd_configs", s.vultr_sd_configs, base, super::vultr_sd::config::resolve)?;
    let hetzner_sd = resolve_entries("hetzner_sd_configs", s.hetzner_sd_configs, base, super::hetzner_sd::config::resolve)?;
    let scaleway_sd = resolve_entries("scaleway_sd_configs", s.scaleway_sd_configs, base, super::scaleway_sd::config::resolve)?;
    let marathon_sd = resolve_entries("marathon_sd_configs", s.marathon_sd_configs, base, super::marathon_sd::config::resolve)?;
    let ionos_sd = resolve_entries("ionos_sd_configs", s.ionos_sd_configs, base, super::ionos_sd::config::resolve)?;
    let outscale_sd = resolve_entries("outscale_sd_configs", s.outscale_sd_configs, base, super::outscale_sd::config::resolve)?;
    let triton_sd = resolve_entries("triton_sd_configs", s.triton_sd_configs, base, super::triton_sd::config::resolve)?;
    let uyuni_sd = resolve_entries("uyuni_sd_configs", s.uyuni_sd_configs, base, super::uyuni_sd::config::resolve)?;
    let kuma_sd = resolve_entries("kuma_sd_configs", s.kuma_sd_configs, base, super::kuma_sd::config::resolve)?;
    let ovhcloud_sd = resolve_entries("ovhcloud_sd_configs", s.ovhcloud_sd_configs, base, super::ovhcloud_sd::config::resolve)?;
    let stackit_sd = resolve_entries("stackit_sd_configs", s.stackit_sd_configs, base, super::stackit_sd::config::resolve)?;
    let serverset_sd = resolve_entries("serverset_sd_configs", s.serverset_sd_configs, base, super::zookeeper_sd::config::resolve_serverset)?;
    let nerve_sd = resolve_entries("nerve_sd_configs", s.nerve_sd_configs, base, super::zookeeper_sd::config::resolve_nerve)?;
    let oci_sd = resolve_entries("oci_sd_configs", s.oci_sd_configs, base, super::oci_sd::config::resolve)?;
    let body_bytes_max = match s.body_size_limit.as_deref().or(globals.body_size_limit.as_deref()) {
        None => BODY_BYTES_DEFAULT,
        Some(t) => match parse_bytes(t) {
            Some(0) => usize::MAX,
            Some(n) => n,
            None => return Err(format!("body_size_limit {t:?} is not a size such as 10MB")),
        },
    };
    Ok(ScrapeJob {
        shown_yaml: String::new(),
        name: s.job_name,
        interval_ms,
        timeout_ms,
        metrics_path,
        scheme,
        params: s.params.into_iter().collect(),
        honor_labels: s.honor_labels,
        honor_timestamps: s.honor_timestamps.unwrap_or(true),
        static_groups: s.static_configs.into_iter().map(|g| TargetGroup { targets: g.targets, labels: g.labels }).collect(),
        file_sd,
        http_sd,
        docker_sd,
        dockerswarm_sd,
        ec2_sd,
        aws_sd,
        gce_sd,
        dns_sd,
        consul_sd,
        kubernetes_sd,
        nomad_sd,
        eureka_sd,
        puppetdb_sd,
        digitalocean_sd,
        openstack_sd,
        azure_sd,
        linode_sd,
        vultr_sd,
        hetzner_sd,
        scaleway_sd,
        marathon_sd,
        ionos_sd,
        outscale_sd,
        triton_sd,
        uyuni_sd,
        kuma_sd,
        ovhcloud_sd,
        stackit_sd,
        serverset_sd,
        nerve_sd,
        oci_sd,
        target_relabeler,
        metric_relabeler,
        access,
        sample_limit: s.sample_limit.filter(|n| *n > 0).or(globals.sample_limit).unwrap_or(0) as usize,
        label_limit: s.label_limit.filter(|n| *n > 0).or(globals.label_limit).unwrap_or(0) as usize,
        label_name_length_limit: s.label_name_length_limit.filter(|n| *n > 0).or(globals.label_name_length_limit).unwrap_or(0) as usize,
        label_value_length_limit: s.label_value_length_limit.filter(|n| *n > 0).or(globals.label_value_length_limit).unwrap_or(0) as usize,
        target_limit: s.target_limit.filter(|n| *n > 0).or(globals.target_limit).unwrap_or(0) as usize,
        keep_dropped_targets: s.keep_dropped_targets.filter(|n| *n > 0).or(globals.keep_dropped_targets).unwrap_or(0) as usize,
        track_timestamps_staleness: s.track_timestamps_staleness,
        scrape_failure_log_file: s.scrape_failure_log_file.filter(|f| !f.as_os_str().is_empty()).map(|f| base.join(f)).or_else(|| globals.scrape_failure_log_file.clone()),
        enable_compression: s.enable_compression.unwrap_or(true),
        body_bytes_max,
        accept,
        fallback_format,
        native_histograms,
        classic_histograms_too,
        convert_classic_histograms_to_nhcb,
        extra_scrape_metrics,
        utf8_names,
        native_histogram_bucket_limit: s.native_histogram_bucket_limit.unwrap_or(0) as usize,
        native_histogram_max_schema,
    })
}

/// The finest exponential schema whose buckets grow by at least `factor` (Prometheus'
/// `pickSchema`): a factor of 1 or less allows schema 8, the finest.
fn max_schema_for_bucket_factor(factor: f64) -> i32 {
    use tsdb::model::{EXPONENTIAL_SCHEMA_MAX, EXPONENTIAL_SCHEMA_MIN};
    let factor = if factor <= 1.0 { 1.00271 } else { factor };
    let floor = (-factor.log2().log2()).floor();
    if floor >= f64::from(EXPONENTIAL_SCHEMA_MAX) {
        EXPONENTIAL_SCHEMA_MAX
    } else if floor <= f64::from(EXPONENTIAL_SCHEMA_MIN) {
        EXPONENTIAL_SCHEMA_MIN
    } else {
        floor as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml(text, Path::new("/etc/prom"), LabelLimits::default())
    }

    #[test]
    fn a_prometheus_file_reads_with_its_defaults() {
        let config = parse(
            "global:\n  scrape_interval: 15s\n  evaluation_interval: 30s\n  external_labels: {dc: eu1}\nrule_files: [a.yml]\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['localhost:9100']\n        labels: {env: prod}\n  - job_name: app\n    scrape_interval: 5s\n    metrics_path: /m\n    params: {module: [http_2xx]}\n    file_sd_configs: [{files: ['targets/*.json']}]\n",
        )
        .unwrap();
        assert_eq!(config.external_labels, vec![("dc".to_string(), "eu1".to_string())]);
        let node = &config.jobs[0];
        assert_eq!((node.interval_ms, node.timeout_ms, node.metrics_path.as_str(), node.scheme), (15_000, 10_000, "/metrics", Scheme::Http));
        assert!(node.honor_timestamps && !node.honor_labels);
        assert_eq!(node.static_groups[0].targets, vec!["localhost:9100".to_string()]);
        let app = &config.jobs[1];
        // The timeout is capped by the job's own interval.
        assert_eq!((app.interval_ms, app.timeout_ms), (5_000, 5_000));
        assert_eq!(app.params, vec![("module".to_string(), vec!["http_2xx".to_string()])]);
        assert_eq!(app.file_sd[0].patterns, vec![PathBuf::from("/etc/prom/targets/*.json")]);
        assert_eq!(app.file_sd[0].refresh_ms, 300_000);
    }

    /// The `Accept` header Prometheus 3 sends by default.
    const DEFAULT_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

    #[test]
    fn limits_come_from_global_unless_the_job_sets_them() {
        let config = parse("global: {sample_limit: 100, body_size_limit: 1MB}\nscrape_configs: [{job_name: a}, {job_name: b, sample_limit: 5, body_size_limit: 0, enable_http2: false, scrape_protocols: [OpenMetricsText1.0.0, PrometheusText0.0.4]}]").unwrap();
        assert_eq!((config.jobs[0].sample_limit, config.jobs[0].body_bytes_max), (100, 1 << 20));
        assert_eq!((config.jobs[1].sample_limit, config.jobs[1].body_bytes_max), (5, usize::MAX));
        // The Accept header as Prometheus makes it of scrape_protocols (the job's, else
        // global's); Prometheus' default (OpenMetrics first) when neither is set.
        assert_eq!(config.jobs[0].accept, DEFAULT_ACCEPT);
        assert_eq!(config.jobs[1].accept, "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,text/plain;version=0.0.4;q=0.5,*/*;q=0.4");
        let config = parse("global: {scrape_protocols: [PrometheusProto, OpenMetricsText0.0.1, PrometheusText1.0.0]}\nscrape_configs: [{job_name: a}, {job_name: b, scrape_protocols: [PrometheusText0.0.4]}]").unwrap();
        assert_eq!(config.jobs[0].accept, "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,*/*;q=0.3");
        assert_eq!(config.jobs[1].accept, "text/plain;version=0.0.4;q=0.6,*/*;q=0.5");
        assert!(parse("scrape_configs: [{job_name: a, scrape_protocols: [PrometheusText0.0.4, PrometheusText0.0.4]}]").unwrap_err().contains("duplicated protocol in scrape_protocols"));
        assert!(parse("scrape_configs: [{job_name: a, scrape_protocols: [Text]}]").unwrap_err().contains("unknown scrape protocol Text"));
        assert!(parse("scrape_configs: [{job_name: a, scrape_protocols: [OpenMetricsText1.0.0, openmetricstext1.0.0]}]").unwrap_err().contains("duplicated protocol"));
        assert!(parse("global: {scrape_protocols: []}\nscrape_configs: [{job_name: a, scrape_protocols: [PrometheusText0.0.4]}]").unwrap_err().contains("global: scrape_protocols cannot be empty"));
        let config = parse("scrape_configs: [{job_name: a, metric_name_escaping_scheme: dots, scrape_protocols: [PrometheusText1.0.0]}]").unwrap();
        assert_eq!(config.jobs[0].accept, "text/plain;version=1.0.0;escaping=dots;q=0.6,*/*;q=0.5");
        assert_eq!(parse("scrape_configs: [{job_name: a}]").unwrap().jobs[0].body_bytes_max, BODY_BYTES_DEFAULT);
        // The label and target limits: a job's 0 takes global's, as in Prometheus.
        let config = parse("global: {label_limit: 30, label_name_length_limit: 40, label_value_length_limit: 50, target_limit: 60, keep_dropped_targets: 70}\nscrape_configs: [{job_name: a, label_limit: 0}, {job_name: b, label_limit: 3, target_limit: 4, keep_dropped_targets: 5, track_timestamps_staleness: true, enable_compression: false}]").unwrap();
        let limits = |j: &ScrapeJob| (j.label_limit, j.label_name_length_limit, j.label_value_length_limit, j.target_limit, j.keep_dropped_targets, j.track_timestamps_staleness, j.enable_compression);
        assert_eq!(limits(&config.jobs[0]), (30, 40, 50, 60, 70, false, true));
        assert_eq!(limits(&config.jobs[1]), (3, 40, 50, 4, 5, true, false));
        // Native histogram settings: off by default; on, the protobuf format is asked first
        // (Prometheus' DefaultProtoFirstScrapeProtocols); global's unless the job sets them.
        let histograms = |j: &ScrapeJob| (j.native_histograms, j.classic_histograms_too, j.native_histogram_bucket_limit, j.native_histogram_max_schema, j.fallback_format == AnswerFormat::Protobuf);
        let config = parse("global: {scrape_native_histograms: true, always_scrape_classic_histograms: true}\nscrape_configs: [{job_name: a, native_histogram_bucket_limit: 10, native_histogram_min_bucket_factor: 1.1, fallback_scrape_protocol: PrometheusProto}, {job_name: b, scrape_native_histograms: false, always_scrape_classic_histograms: false}, {job_name: c, scrape_classic_histograms: false, native_histogram_min_bucket_factor: 70000}]").unwrap();
        assert_eq!(histograms(&config.jobs[0]), (true, true, 10, 2, true));
        assert_eq!(histograms(&config.jobs[1]), (false, false, 0, 8, false));
        assert_eq!(histograms(&config.jobs[2]), (true, false, 0, -4, false));
        assert_eq!(config.jobs[0].accept, "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1");
        assert_eq!(config.jobs[1].accept, DEFAULT_ACCEPT);
        assert_eq!(histograms(&parse("scrape_configs: [{job_name: a}]").unwrap().jobs[0]), (false, false, 0, 8, false));
        // Schemas for bucket factors as Prometheus' pickSchema picks them.
        for (factor, schema) in [(0.0, 8), (1.0, 8), (1.002, 8), (1.003, 7), (1.01, 6), (1.1, 2), (1.18, 2), (1.19, 1), (1.2, 1), (2.0, 0), (4.0, -1), (65536.0, -4), (1e9, -4)] {
            assert_eq!(max_schema_for_bucket_factor(factor), schema, "factor {factor}");
        }
        assert!(parse("scrape_configs: [{job_name: a, metric_name_validation_scheme: legacy, metric_name_escaping_scheme: underscores, fallback_scrape_protocol: PrometheusText0.0.4}]").is_ok());
        assert_eq!(parse("scrape_configs: [{job_name: a, fallback_scrape_protocol: OpenMetricsText1.0.0}]").unwrap().jobs[0].fallback_format, AnswerFormat::OpenMetrics);
        assert!(parse("scrape_configs: [{job_name: a, fallback_scrape_protocol: Proto}]").unwrap_err().contains("unknown scrape protocol Proto"));
        let config = parse("global: {convert_classic_histograms_to_nhcb: true}\nscrape_configs: [{job_name: a}, {job_name: b, convert_classic_histograms_to_nhcb: false}]").unwrap();
        assert_eq!((config.jobs[0].convert_classic_histograms_to_nhcb, config.jobs[1].convert_classic_histograms_to_nhcb), (true, false));
        // extra_scrape_metrics: off unless the job or global sets it.
        let config = parse("global: {extra_scrape_metrics: true}\nscrape_configs: [{job_name: a}, {job_name: b, extra_scrape_metrics: false}]").unwrap();
        assert_eq!((config.jobs[0].extra_scrape_metrics, config.jobs[1].extra_scrape_metrics), (true, false));
        assert!(!parse("scrape_configs: [{job_name: a}]").unwrap().jobs[0].extra_scrape_metrics);
        assert!(parse("scrape_configs: [{job_name: a, metric_name_validation_scheme: bogus}]").unwrap_err().contains("bogus"));
        // Prometheus 3: UTF-8 names unless legacy ones are asked for, then escaped names.
        let config = parse("scrape_configs: [{job_name: a, scrape_protocols: [PrometheusText1.0.0]}, {job_name: b, metric_name_validation_scheme: legacy, scrape_protocols: [PrometheusText1.0.0]}]").unwrap();
        assert_eq!((config.jobs[0].utf8_names, config.jobs[0].accept.as_str()), (true, "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.6,*/*;q=0.5"));
        assert_eq!((config.jobs[1].utf8_names, config.jobs[1].accept.as_str()), (false, "text/plain;version=1.0.0;escaping=underscores;q=0.6,*/*;q=0.5"));
        assert!(parse("scrape_configs: [{job_name: a, metric_name_validation_scheme: legacy, metric_name_escaping_scheme: allow-utf-8}]").unwrap_err().contains("cannot be used with metric_name_validation_scheme legacy"));
    }

    /// Under `storage.start_timestamp_zero_ingestion` the default of `global.scrape_protocols`
    /// asks for the protobuf format first (Prometheus' `DefaultProtoFirstScrapeProtocols`),
    /// with the job's escaping on the newer text formats; set protocols stay as set.
    #[test]
    fn start_timestamps_ask_for_the_protobuf_format_first_unless_protocols_are_set() {
        let with_starts = |text: &str| {
            let server = ServerOptions { read_start_timestamps: true, ..ServerOptions::default() };
            ScrapeConfig::from_yaml_with_options(text, Path::new("/etc/prom"), server).unwrap()
        };
        const PROTO_FIRST: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
        let jobs = "scrape_configs: [{job_name: a}, {job_name: b, scrape_protocols: [OpenMetricsText1.0.0]}, {job_name: c, metric_name_validation_scheme: legacy}, {job_name: d, scrape_native_histograms: false}]";
        let config = with_starts(jobs);
        assert!(config.read_start_timestamps);
        let accepts: Vec<&str> = config.jobs.iter().map(|j| j.accept.as_str()).collect();
        assert_eq!(
            accepts,
            vec![
                PROTO_FIRST,
                "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,*/*;q=0.5",
                &PROTO_FIRST.replace("allow-utf-8", "underscores"),
                PROTO_FIRST,
            ]
        );
        // Without the option: Prometheus' default, OpenMetrics first.
        let plain = parse(jobs).unwrap();
        assert!(!plain.read_start_timestamps);
        assert_eq!(plain.jobs[0].accept, DEFAULT_ACCEPT);
        // An explicit global list wins over the option's default, as there.
        let config = with_starts("global: {scrape_protocols: [PrometheusText0.0.4]}\nscrape_configs: [{job_name: a}]");
        assert_eq!(config.jobs[0].accept, "text/plain;version=0.0.4;q=0.6,*/*;q=0.5");
    }

    #[test]
    fn scrape_config_files_add_jobs_from_their_own_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let jobs_dir = dir.path().join("jobs");
        std::fs::create_dir(&jobs_dir).expect("jobs dir");
        std::fs::write(jobs_dir.join("a.yml"), "scrape_configs:\n- job_name: from_a\n  file_sd_configs: [{files: [targets.json]}]\n").expect("a.yml");
        std::fs::write(jobs_dir.join("b.yml"), "scrape_configs: [{job_name: from_b, scrape_interval: 5s}]\n").expect("b.yml");
        std::fs::write(jobs_dir.join("ignored.txt"), "not yaml: [").expect("other file");
        let text = "global: {scrape_interval: 30s}\nscrape_configs: [{job_name: main}]\nscrape_config_files: ['jobs/*.yml']\n";
        let config = ScrapeConfig::from_yaml(text, dir.path(), LabelLimits::default()).expect("valid");
        let names: Vec<(&str, i64)> = config.jobs.iter().map(|j| (j.name.as_str(), j.interval_ms)).collect();
        assert_eq!(names, vec![("main", 30_000), ("from_a", 30_000), ("from_b", 5_000)]);
        // A relative file_sd file in a job file is taken from that file's directory.
        assert_eq!(config.jobs[1].file_sd[0].patterns, vec![jobs_dir.join("targets.json")]);
        // A named file that does not exist matches nothing, as Go's Glob.
        let missing = "scrape_configs: [{job_name: main}]\nscrape_config_files: ['jobs/not_yet.yml']\n";
        assert_eq!(ScrapeConfig::from_yaml(missing, dir.path(), LabelLimits::default()).expect("valid").jobs.len(), 1);
        // A job name used again in a job file, and a key Prometheus' job files do not have.
        let twice = "scrape_configs: [{job_name: from_b}]\nscrape_config_files: ['jobs/*.yml']\n";
        let error = ScrapeConfig::from_yaml(twice, dir.path(), LabelLimits::default()).expect_err("twice");
        assert!(error.contains("b.yml scrape_configs[0]: job_name \"from_b\" is used twice"), "{error}");
        std::fs::write(jobs_dir.join("c.yml"), "global: {scrape_interval: 1s}\n").expect("c.yml");
        let error = ScrapeConfig::from_yaml(text, dir.path(), LabelLimits::default()).expect_err("global in a job file");
        assert!(error.contains("c.yml") && error.contains("global"), "{error}");
    }

    #[test]
    fn the_files_checksum_follows_the_file_and_the_scrape_config_files_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("prometheus.yml");
        std::fs::write(&main, "scrape_config_files: [more/*.yml]\nscrape_configs: []\n").unwrap();
        let first = files_checksum(&main).unwrap();
        assert_eq!(files_checksum(&main).unwrap(), first, "nothing changed");
        std::fs::create_dir(dir.path().join("more")).unwrap();
        std::fs::write(dir.path().join("more/a.yml"), "scrape_configs: []\n").unwrap();
        let with_a = files_checksum(&main).unwrap();
        assert_ne!(with_a, first, "a file appearing under the pattern");
        std::fs::write(dir.path().join("more/a.yml"), "scrape_configs: [{job_name: x}]\n").unwrap();
        assert_ne!(files_checksum(&main).unwrap(), with_a, "a named file's content");
        std::fs::write(dir.path().join("more/ignored.txt"), "x").unwrap();
        let before = files_checksum(&main).unwrap();
        assert_eq!(files_checksum(&main).unwrap(), before);
        std::fs::write(&main, "scrape_config_files: [more/*.yml]\nscrape_configs: []\n# a comment\n").unwrap();
        assert_ne!(files_checksum(&main).unwrap(), before, "the main file's bytes");
        std::fs::write(&main, "scrape_config_files: {not: a list}\n").unwrap();
        assert!(files_checksum(&main).is_err());
        assert!(files_checksum(&dir.path().join("missing.yml")).is_err());
    }

    #[test]
    fn kubernetes_entries_read_as_prometheus_reads_them() {
        let config = parse("scrape_configs: [{job_name: k, kubernetes_sd_configs: [{role: endpoints, api_server: 'https://k8s.example:6443/', bearer_token_file: token, namespaces: {names: [b, a, a]}, selectors: [{role: pod, label: 'app=x', field: 'spec.nodeName=n1'}], attach_metadata: {node: true}}, {role: pod, api_server: 'http://127.0.0.1:8001'}]}]").expect("valid");
        let sds = &config.jobs[0].kubernetes_sd;
        assert_eq!((sds[0].role.as_str(), sds[0].api_server.as_str(), sds[0].location.port, sds[0].location.scheme), ("endpoints", "https://k8s.example:6443", 6443, Scheme::Https));
        assert_eq!(sds[0].namespaces, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(sds[0].selectors.get("pod"), Some(&("app=x".to_string(), "spec.nodeName=n1".to_string())));
        assert!(sds[0].attach.node && !sds[1].attach.node && sds[1].namespaces.is_empty());
        assert!(!sds[0].attach.namespace && !sds[0].attach.deployment && !sds[0].attach.job && !sds[0].attach.cronjob);
        assert!(matches!(&sds[0].access.credentials, Credentials::Typed { kind, credentials: Secret::File(f) } if kind == "Bearer" && f == Path::new("/etc/prom/token")));
        assert_ne!(sds[0].source, sds[1].source);

        // Prometheus 3's other attach_metadata keys, each its own setting (and source).
        let attached = parse("scrape_configs: [{job_name: k, kubernetes_sd_configs: [{role: pod, api_server: 'http://127.0.0.1:8001', attach_metadata: {namespace: true, deployment: true}}, {role: pod, api_server: 'http://127.0.0.1:8001', attach_metadata: {job: true, cronjob: true}}]}]").expect("valid");
        let sds = &attached.jobs[0].kubernetes_sd;
        assert_eq!((sds[0].attach.namespace, sds[0].attach.deployment, sds[0].attach.job, sds[0].attach.cronjob, sds[0].attach.node), (true, true, false, false, false));
        assert_eq!((sds[1].attach.namespace, sds[1].attach.deployment, sds[1].attach.job, sds[1].attach.cronjob), (false, false, true, true));
        assert_ne!(sds[0].source.rsplit(' ').next(), sds[1].source.rsplit(' ').next());

        let outside = parse("scrape_configs: [{job_name: k, kubernetes_sd_configs: [{role: pod, namespaces: {names: ['']}}]}]").expect("loads outside a cluster too");
        if std::env::var_os("KUBERNETES_SERVICE_HOST").is_none() {
            let unavailable = outside.jobs[0].kubernetes_sd[0].unavailable.clone().unwrap_or_default();
            assert!(unavailable.contains("KUBERNETES_SERVICE_HOST"), "{unavailable:?}");
        }
        assert!(outside.jobs[0].kubernetes_sd[0].namespaces.is_empty(), "an empty name means every namespace");
        for (text, label) in [("app=web,tier!=db", true), ("env in (prod, staging), !canary", true), ("release notin (a),x>3", true), ("replicas > 2, ! partition", true), ("spec.nodeName=n1,status.phase!=Failed", false), ("metadata.name==x", false), ("spec.nodeName=n1,", false), ("metadata.name=a\\,b", false), ("", true)] {
            assert_eq!(check_selector(text, label), Ok(()), "{text}");
        }
        for (text, label) in [("app in (a", true), ("env in ()", true), ("a)(", true), ("spec.nodeName", false), ("a=b,c", false)] {
            assert!(check_selector(text, label).is_err(), "{text}");
        }

        for versions in ["{min_version: TLS13}", "{min_version: TLS10, max_version: TLS12}", "{max_version: TLS13}"] {
            let job = parse(&format!("scrape_configs: [{{job_name: t, scheme: https, tls_config: {versions}}}]")).unwrap_or_else(|e| panic!("{versions}: {e}"));
            assert!(job.jobs[0].access.tls.is_ok(), "{versions}");
        }

        let error = in_cluster(None, Some("443".into()), Path::new("/sa")).err().expect("outside a cluster");
        assert!(error.contains("KUBERNETES_SERVICE_HOST"), "{error}");
        let (url, sections) = in_cluster(Some("fd00::1".into()), Some("443".into()), Path::new("/sa")).expect("in a cluster");
        assert_eq!(url, "https://[fd00::1]:443");
        assert_eq!(sections.bearer_token_file, Some(PathBuf::from("/sa/token")));
        assert_eq!(sections.tls_config.and_then(|t| t.ca_file), Some(PathBuf::from("/sa/ca.crt")));
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            ("scrape_configs: [{job_name: a, nonexistent_sd_configs: []}]", "nonexistent_sd_configs"),
            ("scrape_configs: [{job_name: a, ec2_sd_configs: [{region: eu-west-1, filters: [{name: 'tag:team', values: []}]}]}]", "ec2_sd_configs[0]: EC2 SD configuration filter values cannot be empty"),
            ("scrape_configs: [{job_name: a, ec2_sd_configs: [{endpoint: 'ec2.local'}]}]", "ec2_sd_configs[0]: endpoint"),
            ("scrape_configs: [{job_name: a, ec2_sd_configs: [{endpoint: 'http://localhost:4566/?x=1'}]}]", "a query is not allowed"),
            ("scrape_configs: [{job_name: a, ec2_sd_configs: [{region: eu-west-1, role: ec2}]}]", "role"),
            ("scrape_configs: [{job_name: a, gce_sd_configs: [{zone: europe-west1-b}]}]", "gce_sd_configs[0]: GCE SD configuration requires a project"),
            ("scrape_configs: [{job_name: a, gce_sd_configs: [{project: p}]}]", "gce_sd_configs[0]: GCE SD configuration requires a zone"),
            ("scrape_configs: [{job_name: a, gce_sd_configs: [{project: p, zone: z, tls_config: {}}]}]", "tls_config"),
            ("scrape_configs: [{job_name: a, kubernetes_sd_configs: [{api_server: 'https://k:6443'}]}]", "kubernetes_sd_configs[0]: role missing"),
            ("scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pods, api_server: 'https://k:6443'}]}]", "unknown Kubernetes SD role \"pods\""),
            ("scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pod, api_server: 'https://k:6443', selectors: [{role: service, label: 'a=b'}]}]}]", "pod role supports only pod, node selectors"),
            ("scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pod, api_server: 'https://k:6443', selectors: [{role: pod}, {role: pod}]}]}]", "duplicated selector role: pod"),
            ("scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pod, api_server: 'https://k:6443', namespaces: {own_namespace: true}}]}]", "'namespaces.own_namespace'"),
            ("scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pod, bearer_token: t}]}]", "provide the 'api_server' URL explicitly"),
            ("scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pod, follow_redirects: false}]}]", "provide the 'api_server' URL explicitly"),
            ("scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pod, api_server: 'https://k:6443', namespaces: {names: ['a?x']}}]}]", "\"a?x\" holds a character"),
            ("scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pod, api_server: 'https://k:6443', selectors: [{role: pod, label: 'app in (a'}]}]}]", "label selector \"app in (a\": unbalanced"),
            ("scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pod, api_server: 'https://k:6443', selectors: [{role: pod, field: 'spec.nodeName'}]}]}]", "field selector \"spec.nodeName\""),
            ("scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pod, kubeconfig_file: /nonexistent/k.yml}]}]", "cannot read kubeconfig_file /nonexistent/k.yml"),
            ("scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pod, kubeconfig_file: k.yml, api_server: 'https://k:6443'}]}]", "'kubeconfig_file' and 'api_server'"),
            ("scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pod, kubeconfig_file: k.yml, bearer_token: t}]}]", "custom HTTP client configuration together with 'kubeconfig_file'"),
            ("scrape_configs: [{job_name: a, tls_config: {ca: x, ca_file: ca.pem}}]", "at most one of ca and ca_file"),
            ("scrape_configs: [{job_name: a, tls_config: {min_version: TLS13, max_version: TLS12}}]", "max_version must be greater than or equal"),
            ("scrape_configs: [{job_name: a, tls_config: {max_version: TLS11}}]", "only TLS 1.2 and 1.3"),
            ("scrape_configs: [{job_name: a, tls_config: {min_version: SSL3}}]", "unknown TLS version \"SSL3\""),
            ("scrape_configs: [{job_name: a, scheme: https, tls_config: {ca: 'not PEM'}}]", "tls_config: ca holds no PEM certificate"),
            ("scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pod, api_server: 'https://k:6443', attach_metadata: {replicaset: true}}]}]", "unknown field `replicaset`"),
            ("scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pod, api_server: 'https://k:6443', proxy_url: 'gopher://p'}]}]", "kubernetes_sd_configs[0]: proxy_url: \"gopher://p\": unsupported proxy scheme \"gopher\""),
            ("scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pod, proxy_url: 'http://p'}]}]", "please provide the 'api_server' URL explicitly"),
            ("scrape_configs: [{job_name: a, proxy_url: 'http://p', proxy_from_environment: true}]", "if proxy_from_environment is configured, proxy_url must not be configured"),
            ("scrape_configs: [{job_name: a, http_sd_configs: [{url: 'http://sd', no_proxy: 'x'}]}]", "http_sd_configs[0]: if no_proxy is configured, proxy_url must also be configured"),
            ("scrape_configs: [{job_name: a, consul_sd_configs: [{proxy_connect_header: {X: [y]}}]}]", "if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured"),
            ("scrape_configs: [{job_name: a, oauth2: {client_id: c, token_url: 'http://t/'}, bearer_token: x}]", "at most one of basic_auth, oauth2, authorization and bearer_token(_file) may be set"),
            ("scrape_configs: [{job_name: a, oauth2: {token_url: 'http://t/'}}]", "oauth2 client_id must be configured"),
            ("scrape_configs: [{job_name: a, docker_sd_configs: [{port: 9100}]}]", "docker_sd_configs[0]: host missing"),
            ("scrape_configs: [{job_name: a, docker_sd_configs: [{host: 'ssh://docker-host'}]}]", "docker_sd_configs[0]: host \"ssh://docker-host\": use unix://, tcp://, http:// or https://"),
            ("scrape_configs: [{job_name: a, docker_sd_configs: [{host: 'unix://'}]}]", "no socket path"),
            ("scrape_configs: [{job_name: a, docker_sd_configs: [{host: 'tcp://d:2375', filters: [{values: [x]}]}]}]", "filters: a filter needs a name"),
            ("scrape_configs: [{job_name: a, docker_sd_configs: [{host: 'unix:///s', role: x}]}]", "role"),
            ("scrape_configs: [{job_name: a, dockerswarm_sd_configs: [{role: nodes}]}]", "dockerswarm_sd_configs[0]: host missing"),
            ("scrape_configs: [{job_name: a, dockerswarm_sd_configs: [{host: 'unix:///s'}]}]", "dockerswarm_sd_configs[0]: role missing (one of: tasks, services, nodes)"),
            ("scrape_configs: [{job_name: a, dockerswarm_sd_configs: [{host: 'unix:///s', role: containers}]}]", "dockerswarm_sd_configs[0]: invalid role containers, expected tasks, services, or nodes"),
            ("scrape_configs: [{job_name: a, dockerswarm_sd_configs: [{host: 'ssh://m', role: nodes}]}]", "dockerswarm_sd_configs[0]: host \"ssh://m\": use unix://, tcp://, http:// or https://"),
            ("scrape_configs: [{job_name: a, dockerswarm_sd_configs: [{host: 'tcp://m:2375', role: tasks, filters: [{values: [x]}]}]}]", "dockerswarm_sd_configs[0]: filters: a filter needs a name"),
            ("scrape_configs: [{job_name: a, dockerswarm_sd_configs: [{host: 'unix:///s', role: nodes, match_first_network: true}]}]", "match_first_network"),
            ("scrape_configs: [{job_name: a, dockerswarm_sd_configs: [{host: 'https://m:2376', role: nodes, refresh_interval: often}]}]", "refresh_interval"),
            ("scrape_configs: [{job_name: a, http_sd_configs: [{url: 'http://sd/', oauth2: {client_id: c}}]}]", "http_sd_configs[0]: oauth2 token_url must be configured"),
            ("scrape_configs: [{job_name: a, oauth2: {client_id: c, token_url: 'http://t/', client_secret: s, client_secret_file: f}}]", "at most one of oauth2 client_secret, client_secret_file"),
            ("scrape_configs: [{job_name: a, oauth2: {client_id: c, token_url: 'http://t/', grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', client_certificate_key_file: k.pem, signature_algorithm: RS256, claims: {x: 1}}}]", "jwt-bearer is not supported"),
            ("scrape_configs: [{job_name: a, oauth2: {client_id: c, token_url: 'http://t/', client_secret_ref: vault}}]", "client_secret_ref is not supported"),
            ("scrape_configs: [{job_name: a, oauth2: {client_id: c, token_url: 'http://t/', proxy_url: 'ftp://p'}}]", "oauth2: proxy_url: "),
            ("scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pod, oauth2: {client_id: c, token_url: 'http://t/'}}]}]", "please provide the 'api_server' URL explicitly"),
            ("scrape_configs: [{job_name: a}, {job_name: a}]", "used twice"),
            ("scrape_configs: [{static_configs: []}]", "job_name is required"),
            ("scrape_configs: [{job_name: a, scrape_interval: 5s, scrape_timeout: 10s}]", "scrape_timeout must not be greater"),
            ("scrape_configs: [{job_name: a, scheme: ftp}]", "scheme \"ftp\""),
            ("scrape_configs: [{job_name: a, scrape_interval: soon}]", "scrape_interval: \"soon\""),
            ("scrape_configs: [{job_name: a, body_size_limit: lots}]", "body_size_limit"),
            ("scrape_configs: [{job_name: a, relabel_configs: [{action: replace, regex: '('}]}]", "relabel_configs[0]"),
            ("scrape_configs: [{job_name: a, metric_relabel_configs: [{action: hashmod, target_label: x, modulus: 0}]}]", "metric_relabel_configs[0]"),
            ("scrape_configs: [{job_name: a, bearer_token: x, basic_auth: {username: u}}]", "at most one"),
            ("scrape_configs: [{job_name: a, tls_config: {cert_file: c.pem}}]", "set together"),
            ("scrape_configs: [{job_name: a, scheme: https, tls_config: {ca_file: /nonexistent/ca.pem}}]", "/nonexistent/ca.pem"),
            ("scrape_configs: [{job_name: a, file_sd_configs: [{files: [t.txt]}]}]", ".json, .yml or .yaml"),
            ("scrape_configs: [{job_name: a, static_configs: [{targets: [x], labels: {'1x': y}}]}]", "not a valid label name"),
            ("scrape_configs: [{job_name: a, http_sd_configs: [{url: 'ftp://sd/'}]}]", "http_sd_configs[0]: URL \"ftp://sd/\" must start with http:// or https://"),
            ("scrape_configs: [{job_name: a, http_sd_configs: [{refresh_interval: 1m}]}]", "url is required"),
            ("scrape_configs: [{job_name: a, http_sd_configs: [{url: 'http://sd/', role: x}]}]", "role"),
            ("scrape_configs: [{job_name: a, dns_sd_configs: [{names: []}]}]", "dns_sd_configs[0]: names must hold"),
            ("scrape_configs: [{job_name: a, consul_sd_configs: [{scheme: ftp}]}]", "consul_sd_configs[0]: scheme and server"),
            ("scrape_configs: [{job_name: a, consul_sd_configs: [{username: u, basic_auth: {username: v}}]}]", "at most one of username/password and basic_auth"),
            ("scrape_configs: [{job_name: a, consul_sd_configs: [{token: t, bearer_token: b}]}]", "at most one of token, authorization"),
            ("scrape_configs: [{job_name: a, consul_sd_configs: [{server: 'ftp://c:8500'}]}]", "unknown scheme \"ftp\""),
            ("scrape_configs: [{job_name: a, consul_sd_configs: [{services: [x], role: y}]}]", "role"),
            ("scrape_configs: [{job_name: a, http_headers: {user-agent: {values: [x]}}}]", "setting header \"User-Agent\" is not allowed"),
            ("scrape_configs: [{job_name: a, http_headers: {'X Y': {values: [x]}}}]", "\"X Y\" is not a header name"),
            ("scrape_configs: [{job_name: a, http_sd_configs: [{url: 'http://sd/', http_headers: {Authorization: {values: [x]}}}]}]", "http_sd_configs[0]: http_headers: setting header \"Authorization\""),
            ("scrape_configs: [{job_name: a, dns_sd_configs: [{names: [x], type: A}]}]", "a port is required for A records"),
            ("scrape_configs: [{job_name: a, dns_sd_configs: [{names: [x], type: TXT}]}]", "type \"TXT\" must be SRV"),
            ("scrape_config_files: ['/nonexistent/*/jobs.yml']", "only the last path element"),
        ];
        for (text, want) in cases {
            let error = parse(text).err().unwrap_or_default();
            assert!(error.contains(want), "{text}: {error:?} should mention {want:?}");
        }
    }

    #[test]
    fn credentials_make_the_authorization_header() {
        let config = parse("scrape_configs: [{job_name: a, basic_auth: {username: Aladdin, password: 'open sesame'}}, {job_name: b, bearer_token: t0k}, {job_name: c, authorization: {type: Token, credentials: xyz}}]").unwrap();
        let headers: Vec<_> = config.jobs.iter().map(|j| futures_lite::future::block_on(j.access.credentials.header(std::time::Duration::from_secs(1))).unwrap()).collect();
        assert_eq!(headers, vec![Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".to_string()), Some("Bearer t0k".to_string()), Some("Token xyz".to_string())]);
        // A Docker daemon gets the HTTP client settings over http(s) only, as in Prometheus;
        // a filter without values is not sent.
        let config = parse("scrape_configs: [{job_name: a, docker_sd_configs: [{host: 'unix:///run/d.sock', basic_auth: {username: u}, filters: [{name: label, values: []}, {name: name, values: [web]}]}, {host: 'tcp://d:2375', basic_auth: {username: u}}, {host: 'HTTP://d:2375', basic_auth: {username: u}}]}]").unwrap();
        let docker = &config.jobs[0].docker_sd;
        assert_eq!(docker.iter().map(|d| d.daemon.client_settings).collect::<Vec<_>>(), vec![false, false, true]);
        // ec2_sd: Prometheus' defaults, filters in order, the secret kept out of Debug.
        let config = parse("scrape_configs: [{job_name: a, ec2_sd_configs: [{region: eu-west-1, access_key: AKID, secret_key: s3cr3t, filters: [{name: 'tag:team', values: [a, b]}, {name: instance-state-name, values: [running]}]}, {endpoint: 'http://localhost:4566', port: 9100, refresh_interval: 5m, profile: p}]}]").unwrap();
        let ec2 = &config.jobs[0].ec2_sd;
        assert_eq!((ec2[0].port, ec2[0].refresh_ms, ec2[0].region.as_str(), ec2[0].endpoint.is_none()), (80, 60_000, "eu-west-1", true));
        assert_eq!(ec2[0].filters, vec![("tag:team".to_string(), vec!["a".to_string(), "b".to_string()]), ("instance-state-name".to_string(), vec!["running".to_string()])]);
        assert!(!format!("{:?} {:?}", ec2[0], ec2[0].keys).contains("s3cr3t"));
        assert_eq!((ec2[1].port, ec2[1].refresh_ms, ec2[1].keys.profile.as_str(), ec2[1].shown.as_str()), (9100, 300_000, "p", "http://localhost:4566"));
        assert_ne!(ec2[0].source, ec2[1].source);
        let config = parse("scrape_configs: [{job_name: a, gce_sd_configs: [{project: p, zone: z}, {project: p, zone: z, port: 9100, tag_separator: '|', filter: 'status = RUNNING', refresh_interval: 2m}]}]").unwrap();
        let gce = &config.jobs[0].gce_sd;
        assert_eq!((gce[0].port, gce[0].tag_separator.as_str(), gce[0].refresh_ms, gce[0].filter.as_str()), (80, ",", 60_000, ""));
        assert_eq!((gce[1].port, gce[1].tag_separator.as_str(), gce[1].refresh_ms, gce[1].filter.as_str()), (9100, "|", 120_000, "status = RUNNING"));
        assert_ne!(gce[0].source, gce[1].source);
        assert_eq!(docker[0].filters, r#"{"name":["web"]}"#);
        // Prometheus' defaults.
        assert_eq!((docker[0].port, docker[0].host_networking_host.as_str(), docker[0].match_first_network, docker[0].refresh_ms), (80, "localhost", true, 60_000));
        assert!(matches!(&docker[0].daemon.host, DockerHost::Unix(path) if path == Path::new("/run/d.sock")));
        let config = parse("scrape_configs: [{job_name: a, proxy_url: 'https://p:3129', tls_config: {insecure_skip_verify: true}}]").unwrap();
        assert!(matches!(&config.jobs[0].access.proxy, ProxyChoice::All(p) if matches!(p.kind, net::client::ProxyKind::Https(_))));
        let config = parse("scrape_configs: [{job_name: a, oauth2: {client_id: c, client_secret_file: secret, token_url: 'https://auth.example/token', scopes: [s], tls_config: {insecure_skip_verify: true}, proxy_url: 'http://p:3128'}}]").unwrap();
        assert!(matches!(&config.jobs[0].access.credentials, Credentials::OAuth2(source) if format!("{source:?}").contains("https://auth.example/token")));
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b""), "");
    }

    #[test]
    fn dockerswarm_sd_takes_prometheus_defaults_and_docker_sd_client_rules() {
        let config = parse("scrape_configs: [{job_name: a, dockerswarm_sd_configs: [{host: 'unix:///run/d.sock', role: services, basic_auth: {username: u}}, {host: 'https://m:2376', role: tasks, port: 9323, refresh_interval: 30s, filters: [{name: label, values: [prometheus-job]}, {name: label, values: [team=a]}, {name: desired-state, values: []}], tls_config: {insecure_skip_verify: true}, follow_redirects: false, enable_http2: false}, {host: 'tcp://m:2375', role: nodes, authorization: {credentials: t}}]}]").unwrap();
        let swarm = &config.jobs[0].dockerswarm_sd;
        assert_eq!(swarm.iter().map(|sd| sd.role).collect::<Vec<_>>(), [SwarmRole::Services, SwarmRole::Tasks, SwarmRole::Nodes]);
        assert_eq!((swarm[0].port, swarm[0].refresh_ms, swarm[0].filters.as_str(), swarm[0].daemon.access.follow_redirects), (80, 60_000, "", true));
        assert_eq!((swarm[1].port, swarm[1].refresh_ms, swarm[1].daemon.access.follow_redirects), (9323, 30_000, false));
        assert_eq!(swarm[1].filters, r#"{"label":["prometheus-job","team=a"]}"#);
        // The HTTP client settings reach http(s) hosts only, as for docker_sd.
        assert_eq!(swarm.iter().map(|sd| sd.daemon.client_settings).collect::<Vec<_>>(), [false, true, false]);
        assert!(matches!(&swarm[0].daemon.host, DockerHost::Unix(path) if path == Path::new("/run/d.sock")));
        assert!(matches!(&swarm[2].daemon.host, DockerHost::Http(url) if url.scheme == Scheme::Http));
        let sources: std::collections::HashSet<&str> = swarm.iter().map(|sd| sd.source.as_str()).collect();
        assert_eq!(sources.len(), 3, "each entry keeps its own groups");
    }

    #[test]
    fn sizes_read_as_prometheus_reads_them() {
        assert_eq!(parse_bytes("10MB"), Some(10 << 20));
        assert_eq!(parse_bytes("512"), Some(512));
        assert_eq!(parse_bytes("1GiB"), Some(1 << 30));
        assert_eq!(parse_bytes("1.5MB"), None);
    }
}
