//! `scrape_protocols` and `fallback_scrape_protocol`: Prometheus' names of the answer
//! formats, their media types, and the `Accept` header a job's scrapes send.

/// The protocols asked for when `scrape_protocols` is not set (Prometheus'
/// `DefaultScrapeProtocols`): OpenMetrics first, which carries exemplars.
pub(super) const DEFAULT_PROTOCOLS: [&str; 4] = ["OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText1.0.0", "PrometheusText0.0.4"];

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
pub(super) const PROTO_FIRST_PROTOCOLS: [&str; 5] = ["PrometheusProto", "OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText1.0.0", "PrometheusText0.0.4"];

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
pub(super) fn accept_header(protocols: &[String], escaping: &str) -> Result<String, String> {
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
