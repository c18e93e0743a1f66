//! One `scrape_configs` entry: its keys as written (`JobSection`), what it takes from
//! `global` when it does not set it, and its check into a `ScrapeJob` ready to run, each
//! service discovery entry checked by its own module's `config::resolve`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ingest::label_limits::LabelLimits;
use crate::ingest::relabel::{RelabelConfig, Relabeler};

use super::protocols::{accept_header, DEFAULT_PROTOCOLS, PROTO_FIRST_PROTOCOLS};
use super::{client_access, optional_duration, resolve_file_sd, valid_label_name, AnswerFormat, AuthorizationSection, BasicAuthSection, ClientAccess, FileSd, FileSdSection, HeaderSection, OAuth2Section, Scheme, StaticSection, TargetGroup, TlsSection, BODY_BYTES_DEFAULT};

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct JobSection {
    pub(super) job_name: String,
    scrape_interval: Option<String>,
    scrape_timeout: Option<String>,
    metrics_path: Option<String>,
    scheme: Option<String>,
    params: BTreeMap<String, Vec<String>>,
    honor_labels: bool,
    honor_timestamps: Option<bool>,
    static_configs: Vec<StaticSection>,
    file_sd_configs: Vec<FileSdSection>,
    http_sd_configs: Vec<crate::scrape::http_sd::config::HttpSdSection>,
    docker_sd_configs: Vec<crate::scrape::docker_sd::config::DockerSdSection>,
    dockerswarm_sd_configs: Vec<crate::scrape::dockerswarm_sd::config::DockerSwarmSdSection>,
    ec2_sd_configs: Vec<crate::scrape::ec2_sd::config::Ec2SdSection>,
    aws_sd_configs: Vec<crate::scrape::aws_sd::config::AwsSdSection>,
    /// Prometheus' one-role AWS keys (`crate::scrape::aws_sd::config::STANDALONE_KEYS`).
    lightsail_sd_configs: Vec<crate::scrape::aws_sd::config::AwsSdSection>,
    ecs_sd_configs: Vec<crate::scrape::aws_sd::config::AwsSdSection>,
    rds_sd_configs: Vec<crate::scrape::aws_sd::config::AwsSdSection>,
    elasticache_sd_configs: Vec<crate::scrape::aws_sd::config::AwsSdSection>,
    msk_sd_configs: Vec<crate::scrape::aws_sd::config::AwsSdSection>,
    gce_sd_configs: Vec<crate::scrape::gce_sd::config::GceSdSection>,
    dns_sd_configs: Vec<crate::scrape::dns_sd::config::DnsSdSection>,
    consul_sd_configs: Vec<crate::scrape::consul_sd::config::ConsulSdSection>,
    kubernetes_sd_configs: Vec<crate::scrape::kubernetes_sd::config::KubernetesSdSection>,
    nomad_sd_configs: Vec<crate::scrape::nomad_sd::config::NomadSdSection>,
    eureka_sd_configs: Vec<crate::scrape::eureka_sd::config::EurekaSdSection>,
    puppetdb_sd_configs: Vec<crate::scrape::puppetdb_sd::config::PuppetDbSdSection>,
    digitalocean_sd_configs: Vec<crate::scrape::digitalocean_sd::config::DigitalOceanSdSection>,
    openstack_sd_configs: Vec<crate::scrape::openstack_sd::config::OpenStackSdSection>,
    azure_sd_configs: Vec<crate::scrape::azure_sd::config::AzureSdSection>,
    linode_sd_configs: Vec<crate::scrape::linode_sd::config::LinodeSdSection>,
    /// VictoriaMetrics names it `vultr_configs`.
    #[serde(alias = "vultr_configs")]
    vultr_sd_configs: Vec<crate::scrape::vultr_sd::config::VultrSdSection>,
    hetzner_sd_configs: Vec<crate::scrape::hetzner_sd::config::HetznerSdSection>,
    scaleway_sd_configs: Vec<crate::scrape::scaleway_sd::config::ScalewaySdSection>,
    marathon_sd_configs: Vec<crate::scrape::marathon_sd::config::MarathonSdSection>,
    ionos_sd_configs: Vec<crate::scrape::ionos_sd::config::IonosSdSection>,
    outscale_sd_configs: Vec<crate::scrape::outscale_sd::config::OutscaleSdSection>,
    triton_sd_configs: Vec<crate::scrape::triton_sd::config::TritonSdSection>,
    uyuni_sd_configs: Vec<crate::scrape::uyuni_sd::config::UyuniSdSection>,
    kuma_sd_configs: Vec<crate::scrape::kuma_sd::config::KumaSdSection>,
    ovhcloud_sd_configs: Vec<crate::scrape::ovhcloud_sd::config::OvhcloudSdSection>,
    stackit_sd_configs: Vec<crate::scrape::stackit_sd::config::StackitSdSection>,
    serverset_sd_configs: Vec<crate::scrape::zookeeper_sd::config::ZookeeperSdSection>,
    nerve_sd_configs: Vec<crate::scrape::zookeeper_sd::config::ZookeeperSdSection>,
    oci_sd_configs: Vec<crate::scrape::oci_sd::config::OciSdSection>,
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
    /// Whether HTTP/2 is offered to TLS targets by ALPN (Prometheus' default: yes); a target
    /// that chooses it is scraped in HTTP/2, others in HTTP/1.1.
    enable_http2: Option<bool>,
    /// Whether a 3xx is followed (true unless set false, as in Prometheus).
    follow_redirects: Option<bool>,
    /// The formats asked for, in order (the `Accept` header, as Prometheus makes it).
    scrape_protocols: Option<Vec<String>>,
    /// VictoriaMetrics' scrape keys, so its `-promscrape.config` files load as they are:
    /// `max_scrape_size` (its `body_size_limit`), `disable_compression`, `disable_keepalive`
    /// (a new connection for every scrape), `headers` (`Name: value` entries),
    /// `scrape_align_interval` and `scrape_offset` (the scrape times), `no_stale_markers`;
    /// `stream_parse` is read and changes nothing stored (answers are read whole, up to the
    /// body limit). `series_limit`: at most so many series per target and UTC day (0: none).
    max_scrape_size: Option<String>,
    disable_compression: bool,
    disable_keepalive: bool,
    headers: Vec<String>,
    scrape_align_interval: Option<String>,
    scrape_offset: Option<String>,
    no_stale_markers: bool,
    stream_parse: bool,
    series_limit: Option<i64>,
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
    pub http_sd: Vec<crate::scrape::http_sd::config::HttpSd>,
    pub docker_sd: Vec<crate::scrape::docker_sd::config::DockerSd>,
    pub dockerswarm_sd: Vec<crate::scrape::dockerswarm_sd::config::DockerSwarmSd>,
    /// `ec2_sd_configs` and the `aws_sd_configs` of role ec2.
    pub ec2_sd: Vec<crate::scrape::ec2_sd::config::Ec2Sd>,
    /// The `aws_sd_configs` of the other roles.
    pub aws_sd: Vec<crate::scrape::aws_sd::AwsSd>,
    pub gce_sd: Vec<crate::scrape::gce_sd::config::GceSd>,
    pub dns_sd: Vec<crate::scrape::dns_sd::config::DnsSd>,
    pub consul_sd: Vec<crate::scrape::consul_sd::config::ConsulSd>,
    pub kubernetes_sd: Vec<crate::scrape::kubernetes_sd::config::KubernetesSd>,
    pub nomad_sd: Vec<crate::scrape::nomad_sd::config::NomadSd>,
    pub eureka_sd: Vec<crate::scrape::eureka_sd::config::EurekaSd>,
    pub puppetdb_sd: Vec<crate::scrape::puppetdb_sd::config::PuppetDbSd>,
    pub digitalocean_sd: Vec<crate::scrape::digitalocean_sd::config::DigitalOceanSd>,
    pub openstack_sd: Vec<crate::scrape::openstack_sd::config::OpenStackSd>,
    pub azure_sd: Vec<crate::scrape::azure_sd::config::AzureSd>,
    pub linode_sd: Vec<crate::scrape::linode_sd::config::LinodeSd>,
    pub vultr_sd: Vec<crate::scrape::vultr_sd::config::VultrSd>,
    pub hetzner_sd: Vec<crate::scrape::hetzner_sd::config::HetznerSd>,
    pub scaleway_sd: Vec<crate::scrape::scaleway_sd::config::ScalewaySd>,
    pub marathon_sd: Vec<crate::scrape::marathon_sd::config::MarathonSd>,
    pub ionos_sd: Vec<crate::scrape::ionos_sd::config::IonosSd>,
    pub outscale_sd: Vec<crate::scrape::outscale_sd::config::OutscaleSd>,
    pub triton_sd: Vec<crate::scrape::triton_sd::config::TritonSd>,
    pub uyuni_sd: Vec<crate::scrape::uyuni_sd::config::UyuniSd>,
    pub kuma_sd: Vec<crate::scrape::kuma_sd::config::KumaSd>,
    pub ovhcloud_sd: Vec<crate::scrape::ovhcloud_sd::config::OvhcloudSd>,
    pub stackit_sd: Vec<crate::scrape::stackit_sd::config::StackitSd>,
    pub serverset_sd: Vec<crate::scrape::zookeeper_sd::config::ZookeeperSd>,
    pub nerve_sd: Vec<crate::scrape::zookeeper_sd::config::ZookeeperSd>,
    pub oci_sd: Vec<crate::scrape::oci_sd::config::OciSd>,
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
    /// VictoriaMetrics' `disable_keepalive`: every scrape on a connection of its own.
    pub disable_keepalive: bool,
    /// Where in time scrapes fall, when not at each target's own offset: VictoriaMetrics'
    /// `scrape_align_interval` (on multiples of it) or `scrape_offset` (at this offset within
    /// each interval).
    pub schedule: ScrapeSchedule,
    /// VictoriaMetrics' `no_stale_markers`: no staleness marker is written for the job's
    /// series, whether they leave an answer, a scrape fails or the target goes.
    pub no_stale_markers: bool,
    /// VictoriaMetrics' `series_limit`: distinct series a target may write per UTC day (a
    /// target's `__series_limit__` label overrides it); 0: no limit.
    pub series_limit: usize,
}

/// When a target's scrapes fall (see `ScrapeJob::schedule`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ScrapeSchedule {
    /// Each target at its own offset in the interval (from its key), as Prometheus spreads them.
    #[default]
    Spread,
    /// On multiples of this many milliseconds, then every interval.
    AlignedTo(i64),
    /// At this offset within each interval.
    Offset(i64),
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

/// What a job takes from `global` when it does not set it.
#[derive(Default)]
pub(super) struct Globals {
    pub(super) interval_ms: i64,
    pub(super) timeout_ms: i64,
    pub(super) sample_limit: Option<u64>,
    pub(super) body_size_limit: Option<String>,
    pub(super) label_limit: Option<u64>,
    pub(super) label_name_length_limit: Option<u64>,
    pub(super) label_value_length_limit: Option<u64>,
    pub(super) target_limit: Option<u64>,
    pub(super) keep_dropped_targets: Option<u64>,
    /// `global.scrape_failure_log_file`, relative names taken from the configuration's directory.
    pub(super) scrape_failure_log_file: Option<PathBuf>,
    pub(super) scrape_protocols: Option<Vec<String>>,
    pub(super) scrape_native_histograms: Option<bool>,
    pub(super) always_scrape_classic_histograms: Option<bool>,
    pub(super) convert_classic_histograms_to_nhcb: Option<bool>,
    /// `scrape_timeout_seconds`, `scrape_sample_limit` and `scrape_body_size_bytes` written
    /// with the other scrape series.
    pub(super) extra_scrape_metrics: Option<bool>,
    /// `global.metric_name_validation_scheme` and `metric_name_escaping_scheme`, when set.
    pub(super) metric_name_validation_scheme: Option<String>,
    pub(super) metric_name_escaping_scheme: Option<String>,
}

/// Refuses a `metric_name_validation_scheme` or `metric_name_escaping_scheme` Prometheus does
/// not know (each checked against its own list).
pub(super) fn check_name_schemes(validation: Option<&str>, escaping: Option<&str>) -> Result<(), String> {
    if let Some(value) = validation.filter(|v| !matches!(*v, "" | "utf8" | "legacy")) {
        return Err(format!("metric_name_validation_scheme {value:?} is not a scheme Prometheus knows (utf8 or legacy)"));
    }
    if let Some(value) = escaping.filter(|v| !matches!(*v, "" | "allow-utf-8" | "underscores" | "dots" | "values")) {
        return Err(format!("metric_name_escaping_scheme {value:?} is not a scheme Prometheus knows (allow-utf-8, underscores, dots or values)"));
    }
    Ok(())
}

pub(super) fn resolve_job(mut s: JobSection, globals: &Globals, base: &Path, limits: LabelLimits) -> Result<ScrapeJob, String> {
    let interval_ms = optional_duration(s.scrape_interval.as_deref(), "scrape_interval")?.unwrap_or(globals.interval_ms);
    // As Prometheus: a job's timeout defaults to the global one, capped by its interval.
    let timeout_ms = optional_duration(s.scrape_timeout.as_deref(), "scrape_timeout")?.unwrap_or(globals.timeout_ms.min(interval_ms));
    let convert_classic_histograms_to_nhcb = s.convert_classic_histograms_to_nhcb.or(globals.convert_classic_histograms_to_nhcb).unwrap_or(false);
    let extra_scrape_metrics = s.extra_scrape_metrics.or(globals.extra_scrape_metrics).unwrap_or(false);
    let validation = s.metric_name_validation_scheme.as_deref().filter(|v| !v.is_empty());
    check_name_schemes(validation, s.metric_name_escaping_scheme.as_deref())?;
    // As Prometheus 3: UTF-8 names are valid unless the job (or, when it says nothing, the
    // global section) asks for legacy ones, and are then asked for as they are (`allow-utf-8`)
    // unless escaping is asked for. A job without a scheme of its own takes the global
    // escaping (itself following the global validation); one with its own, its default.
    let utf8_names = validation.or(globals.metric_name_validation_scheme.as_deref()) != Some("legacy");
    let escaping = match s.metric_name_escaping_scheme.as_deref().filter(|scheme| !scheme.is_empty()) {
        Some(scheme) => scheme,
        None => match (validation, globals.metric_name_escaping_scheme.as_deref()) {
            (None, Some(global)) => global,
            _ if utf8_names => "allow-utf-8",
            _ => "underscores",
        },
    };
    if escaping == "allow-utf-8" && !utf8_names {
        return Err("metric_name_escaping_scheme allow-utf-8 cannot be used with metric_name_validation_scheme legacy".into());
    }
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
    super::client::add_listed_headers(&mut s.http_headers, &s.headers)?;
    let mut access = client_access(client_sections!(s), needs_tls, base)?;
    access.offer_http2_unless_off(s.enable_http2);
    let http_sd = resolve_entries("http_sd_configs", s.http_sd_configs, base, |section, base, _| crate::scrape::http_sd::config::resolve(section, base))?;
    let docker_sd = resolve_entries("docker_sd_configs", s.docker_sd_configs, base, crate::scrape::docker_sd::config::resolve)?;
    let dockerswarm_sd = resolve_entries("dockerswarm_sd_configs", s.dockerswarm_sd_configs, base, crate::scrape::dockerswarm_sd::config::resolve)?;
    let mut ec2_sd = resolve_entries("ec2_sd_configs", s.ec2_sd_configs, base, crate::scrape::ec2_sd::config::resolve)?;
    let mut aws_sd = Vec::new();
    for (i, section) in s.aws_sd_configs.into_iter().enumerate() {
        match crate::scrape::aws_sd::config::resolve(section, base, i).map_err(|e| format!("aws_sd_configs[{i}]: {e}"))? {
            crate::scrape::aws_sd::config::Resolved::Ec2(sd) => ec2_sd.push(sd),
            crate::scrape::aws_sd::config::Resolved::Other(sd) => aws_sd.push(sd),
        }
    }
    let standalone = [s.lightsail_sd_configs, s.ecs_sd_configs, s.rds_sd_configs, s.elasticache_sd_configs, s.msk_sd_configs];
    for ((key, role), sections) in crate::scrape::aws_sd::config::STANDALONE_KEYS.into_iter().zip(standalone) {
        for (i, section) in sections.into_iter().enumerate() {
            aws_sd.push(crate::scrape::aws_sd::config::resolve_standalone(section, base, i, key, role).map_err(|e| format!("{key}[{i}]: {e}"))?);
        }
    }
    let gce_sd = resolve_entries("gce_sd_configs", s.gce_sd_configs, base, |section, _, i| crate::scrape::gce_sd::config::resolve(section, i))?;
    let dns_sd = resolve_entries("dns_sd_configs", s.dns_sd_configs, base, |section, _, _| crate::scrape::dns_sd::config::resolve(section))?;
    let consul_sd = resolve_entries("consul_sd_configs", s.consul_sd_configs, base, crate::scrape::consul_sd::config::resolve)?;
    let kubernetes_sd = resolve_entries("kubernetes_sd_configs", s.kubernetes_sd_configs, base, crate::scrape::kubernetes_sd::config::resolve)?;
    let nomad_sd = resolve_entries("nomad_sd_configs", s.nomad_sd_configs, base, crate::scrape::nomad_sd::config::resolve)?;
    let eureka_sd = resolve_entries("eureka_sd_configs", s.eureka_sd_configs, base, crate::scrape::eureka_sd::config::resolve)?;
    let puppetdb_sd = resolve_entries("puppetdb_sd_configs", s.puppetdb_sd_configs, base, crate::scrape::puppetdb_sd::config::resolve)?;
    let digitalocean_sd = resolve_entries("digitalocean_sd_configs", s.digitalocean_sd_configs, base, crate::scrape::digitalocean_sd::config::resolve)?;
    let openstack_sd = resolve_entries("openstack_sd_configs", s.openstack_sd_configs, base, crate::scrape::openstack_sd::config::resolve)?;
    let azure_sd = resolve_entries("azure_sd_configs", s.azure_sd_configs, base, crate::scrape::azure_sd::config::resolve)?;
    let linode_sd = resolve_entries("linode_sd_configs", s.linode_sd_configs, base, crate::scrape::linode_sd::config::resolve)?;
    let vultr_sd = resolve_entries("vultr_sd_configs", s.vultr_sd_configs, base, crate::scrape::vultr_sd::config::resolve)?;
    let hetzner_sd = resolve_entries("hetzner_sd_configs", s.hetzner_sd_configs, base, crate::scrape::hetzner_sd::config::resolve)?;
    let scaleway_sd = resolve_entries("scaleway_sd_configs", s.scaleway_sd_configs, base, crate::scrape::scaleway_sd::config::resolve)?;
    let marathon_sd = resolve_entries("marathon_sd_configs", s.marathon_sd_configs, base, crate::scrape::marathon_sd::config::resolve)?;
    let ionos_sd = resolve_entries("ionos_sd_configs", s.ionos_sd_configs, base, crate::scrape::ionos_sd::config::resolve)?;
    let outscale_sd = resolve_entries("outscale_sd_configs", s.outscale_sd_configs, base, crate::scrape::outscale_sd::config::resolve)?;
    let triton_sd = resolve_entries("triton_sd_configs", s.triton_sd_configs, base, crate::scrape::triton_sd::config::resolve)?;
    let uyuni_sd = resolve_entries("uyuni_sd_configs", s.uyuni_sd_configs, base, crate::scrape::uyuni_sd::config::resolve)?;
    let kuma_sd = resolve_entries("kuma_sd_configs", s.kuma_sd_configs, base, crate::scrape::kuma_sd::config::resolve)?;
    let ovhcloud_sd = resolve_entries("ovhcloud_sd_configs", s.ovhcloud_sd_configs, base, crate::scrape::ovhcloud_sd::config::resolve)?;
    let stackit_sd = resolve_entries("stackit_sd_configs", s.stackit_sd_configs, base, crate::scrape::stackit_sd::config::resolve)?;
    let serverset_sd = resolve_entries("serverset_sd_configs", s.serverset_sd_configs, base, crate::scrape::zookeeper_sd::config::resolve_serverset)?;
    let nerve_sd = resolve_entries("nerve_sd_configs", s.nerve_sd_configs, base, crate::scrape::zookeeper_sd::config::resolve_nerve)?;
    let oci_sd = resolve_entries("oci_sd_configs", s.oci_sd_configs, base, crate::scrape::oci_sd::config::resolve)?;
    if s.disable_compression && s.enable_compression == Some(true) {
        return Err("disable_compression and enable_compression: true contradict each other".into());
    }
    let schedule = match (optional_duration(s.scrape_align_interval.as_deref(), "scrape_align_interval")?, optional_duration(s.scrape_offset.as_deref(), "scrape_offset")?) {
        (Some(_), Some(_)) => return Err("scrape_align_interval and scrape_offset cannot both be set".into()),
        (Some(align_ms), None) if align_ms > 0 => ScrapeSchedule::AlignedTo(align_ms),
        (None, Some(offset_ms)) if offset_ms >= 0 => ScrapeSchedule::Offset(offset_ms),
        _ => ScrapeSchedule::Spread,
    };
    let body_size_limit = match (s.body_size_limit.as_deref(), s.max_scrape_size.as_deref()) {
        (Some(_), Some(_)) => return Err("body_size_limit and max_scrape_size (VictoriaMetrics' name for it) cannot both be set".into()),
        (Some(limit), None) | (None, Some(limit)) => Some(limit),
        (None, None) => globals.body_size_limit.as_deref(),
    };
    let body_bytes_max = match body_size_limit {
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
        enable_compression: s.enable_compression.unwrap_or(!s.disable_compression),
        disable_keepalive: s.disable_keepalive,
        schedule,
        no_stale_markers: s.no_stale_markers,
        series_limit: s.series_limit.filter(|n| *n > 0).unwrap_or(0) as usize,
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

/// Prometheus' byte sizes (`body_size_limit`): a number with an optional unit B, KB, MB,
/// GB, TB (powers of 1024, as Prometheus reads them; KiB, MiB, ... too).
pub(super) fn parse_bytes(text: &str) -> Option<usize> {
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

/// The finest exponential schema whose buckets grow by at least `factor` (Prometheus'
/// `pickSchema`): a factor of 1 or less allows schema 8, the finest.
pub(super) fn max_schema_for_bucket_factor(factor: f64) -> i32 {
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

/// Checks every entry of a discovery key (`key`: `linode_sd_configs`) with `resolve`, given
/// each entry's position; an error names the key and position (`linode_sd_configs[1]: ...`).
fn resolve_entries<S, R>(key: &str, sections: Vec<S>, base: &Path, resolve: impl Fn(S, &Path, usize) -> Result<R, String>) -> Result<Vec<R>, String> {
    sections.into_iter().enumerate().map(|(i, section)| resolve(section, base, i).map_err(|e| format!("{key}[{i}]: {e}"))).collect()
}
