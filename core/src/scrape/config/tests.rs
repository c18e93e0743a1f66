//! Tests of the scrape configuration: Prometheus files read with its defaults, globals and
//! limits, `scrape_config_files` and the checksum, and mistakes named.

use super::client::base64;
use super::job::{max_schema_for_bucket_factor, parse_bytes};
use super::*;
use crate::scrape::docker_api::config::DockerHost;
use crate::scrape::dockerswarm_sd::config::SwarmRole;
use crate::scrape::proxy::ProxyChoice;

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
    // HTTP/2 is offered to TLS targets unless `enable_http2: false`.
    let alpn = |job: usize| config.jobs[job].access.tls.as_ref().map(|t| t.config.alpn_protocols.clone()).unwrap_or_default();
    assert_eq!((alpn(0), alpn(1)), (vec![b"h2".to_vec(), b"http/1.1".to_vec()], vec![b"http/1.1".to_vec()]));
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
    // Each key takes only its own schemes.
    assert!(parse("scrape_configs: [{job_name: a, metric_name_validation_scheme: underscores}]").unwrap_err().contains("utf8 or legacy"));
    assert!(parse("scrape_configs: [{job_name: a, metric_name_escaping_scheme: legacy}]").unwrap_err().contains("allow-utf-8, underscores, dots or values"));
    // The global section's schemes are the jobs' defaults, as Prometheus 3 resolves them.
    let schemes = |text: &str| -> Vec<(bool, String)> {
        let config = parse(&format!("{text}\nscrape_configs: [{{job_name: a, scrape_protocols: [PrometheusText1.0.0]}}, {{job_name: b, metric_name_validation_scheme: utf8, scrape_protocols: [PrometheusText1.0.0]}}, {{job_name: c, metric_name_validation_scheme: legacy, scrape_protocols: [PrometheusText1.0.0]}}]")).unwrap();
        config.jobs.iter().map(|j| (j.utf8_names, j.accept.split("escaping=").nth(1).and_then(|rest| rest.split(';').next()).unwrap_or("").to_string())).collect()
    };
    let pairs = |list: [(bool, &str); 3]| list.map(|(utf8, escaping)| (utf8, escaping.to_string())).to_vec();
    assert_eq!(schemes("global: {metric_name_validation_scheme: legacy}"), pairs([(false, "underscores"), (true, "allow-utf-8"), (false, "underscores")]));
    assert_eq!(schemes("global: {metric_name_escaping_scheme: dots}"), pairs([(true, "dots"), (true, "allow-utf-8"), (false, "underscores")]));
    assert_eq!(schemes("global: {}"), pairs([(true, "allow-utf-8"), (true, "allow-utf-8"), (false, "underscores")]));
    assert!(parse("global: {metric_name_validation_scheme: legacy, metric_name_escaping_scheme: allow-utf-8}\nscrape_configs: [{job_name: a}]").unwrap_err().contains("cannot be used"));
    assert!(parse("global: {metric_name_escaping_scheme: bogus}").unwrap_err().starts_with("global: metric_name_escaping_scheme \"bogus\""));
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
    assert!(config.server.read_start_timestamps);
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
    assert!(!plain.server.read_start_timestamps);
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
fn tls_versions_rustls_can_speak_are_taken() {
    for versions in ["{min_version: TLS13}", "{min_version: TLS10, max_version: TLS12}", "{max_version: TLS13}"] {
        let job = parse(&format!("scrape_configs: [{{job_name: t, scheme: https, tls_config: {versions}}}]")).unwrap_or_else(|e| panic!("{versions}: {e}"));
        assert!(job.jobs[0].access.tls.is_ok(), "{versions}");
    }
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
fn victoriametrics_scrape_keys_are_read() {
    let config = parse("scrape_configs:\n  - job_name: vm\n    max_scrape_size: 32MiB\n    disable_compression: true\n    disable_keepalive: true\n    stream_parse: true\n    no_stale_markers: true\n    scrape_align_interval: 1m\n    headers: ['TenantID: 42', 'X-Team: infra']\n    vultr_configs: []\n  - job_name: offset\n    scrape_offset: 5s\n    series_limit: 0\n").unwrap();
    let vm = &config.jobs[0];
    assert_eq!((vm.body_bytes_max, vm.enable_compression, vm.disable_keepalive, vm.no_stale_markers), (32 << 20, false, true, true));
    assert_eq!(vm.schedule, ScrapeSchedule::AlignedTo(60_000));
    assert_eq!(vm.access.headers.values().unwrap(), vec![("TenantID".to_string(), "42".to_string()), ("X-Team".to_string(), "infra".to_string())]);
    assert_eq!(config.jobs[1].schedule, ScrapeSchedule::Offset(5_000));
    assert_eq!((vm.series_limit, config.jobs[1].series_limit), (0, 0), "none, and 0 is none");
    assert_eq!(parse("scrape_configs: [{job_name: a, series_limit: 1000}]").unwrap().jobs[0].series_limit, 1000);
    assert!(config.jobs[1].enable_compression && !config.jobs[1].no_stale_markers);
    for (text, named) in [
        ("scrape_configs: [{job_name: a, scrape_offset: 1s, scrape_align_interval: 1m}]", "cannot both be set"),
        ("scrape_configs: [{job_name: a, max_scrape_size: 1MB, body_size_limit: 2MB}]", "max_scrape_size"),
        ("scrape_configs: [{job_name: a, disable_compression: true, enable_compression: true}]", "contradict"),
        ("scrape_configs: [{job_name: a, headers: ['no colon']}]", "Name: value"),
        ("scrape_configs: [{job_name: a, headers: ['Host: x']}]", "not allowed"),
    ] {
        let error = parse(text).err().unwrap_or_else(|| panic!("{text} loaded"));
        assert!(error.contains(named), "{text}: {error}");
    }
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

/// Under `scrape.expand_external_labels` environment references in external label values
/// are replaced (an unset variable gives nothing, so a label of only that goes); off, they
/// stay as written.
#[test]
fn external_labels_expand_environment_references_when_asked() {
    let text = "global: {external_labels: {path: 'p=${PATH}', unset: '$METRICSTOR_TEST_SURELY_UNSET', dollar: 'a$$b'}}";
    let read = |expand_external_labels: bool| {
        let server = ServerOptions { expand_external_labels, ..ServerOptions::default() };
        ScrapeConfig::from_yaml_with_options(text, Path::new("/etc/prom"), server).unwrap()
    };
    let path = std::env::var("PATH").unwrap_or_default();
    assert!(!path.is_empty(), "the test environment has a PATH");
    let expanded = read(true);
    assert_eq!(expanded.external_labels, vec![("dollar".to_string(), "a$b".to_string()), ("path".to_string(), format!("p={path}"))]);
    assert!(expanded.server.expand_external_labels, "kept for reloads");
    let literal = read(false);
    assert_eq!(
        literal.external_labels,
        vec![("dollar".to_string(), "a$$b".to_string()), ("path".to_string(), "p=${PATH}".to_string()), ("unset".to_string(), "$METRICSTOR_TEST_SURELY_UNSET".to_string())]
    );
}

#[test]
fn sections_prometheus_reads_and_we_do_not_are_named_with_their_meaning() {
    let text = "global:\n  scrape_interval: 15s\nscrape_configs: []\nremote_write:\n  - url: http://thanos:19291/api/v1/receive\nremote_read: []\nstorage:\n  tsdb:\n    out_of_order_time_window: 30m\ntracing: {}\nrule_files: [a.yml]\n";
    let unread: Vec<&str> = unread_sections(text).into_iter().map(|(section, _)| section).collect();
    // Empty sections say nothing; the sections read (global, scrape_configs, rule_files) are not named.
    assert_eq!(unread, ["remote_write", "storage"]);
    assert!(unread_sections(text)[0].1.contains("nothing is forwarded"));
    assert!(unread_sections("scrape_configs: []\n").is_empty());
    assert!(unread_sections("").is_empty());
}
