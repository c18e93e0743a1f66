//! The HTTP API: one router (`Api::route`), one error mapper (`ApiError` → status + JSON
//! envelope), and handlers per endpoint family. One `Api` per executor, `!Send` by design.

mod access;
pub mod active_queries_file;
pub mod cors;
mod admin;
mod body_encoding;
pub mod compress;
mod csv;
mod error;
mod exemplars;
mod expand_with_exprs;
mod extra_labels;
mod federate;
mod features;
mod graphite;
mod influx;
mod json;
mod grpc;
mod handler;
mod labels;
mod line_import;
mod migrate;
mod datadog;
mod opentsdb_put;
mod newrelic;
mod notifications;
mod openapi;
mod otlp;
mod push;
pub mod pushgateway;
pub mod params;
mod process_metrics;
mod parse_query;
mod relabel_debug;
pub(crate) mod query;
mod query_log;
mod query_report;
mod query_stats;
mod query_statistics;
mod query_timings;
mod listing_cache;
mod range_cache;
pub mod read_filters;
mod relabel_steps;
mod remote_read;
mod rule_metrics;
mod route;
mod rules;
mod scrape_metrics;
mod search;
mod self_metrics;
mod self_metrics_json;
mod single_flight;
mod target_response;
mod ui;
pub(crate) mod status;
mod vm_native;
mod vm_native_export;
mod vm_snapshots;
mod vm_targets;
pub(crate) mod write;
mod zabbix;

use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};

pub use error::ApiError;
pub use listing_cache::ListingCache;
pub use query_log::{QueryLog, QueryOrigin};
pub use query_timings::QueryTimings;
pub use query_stats::{QueryStats, LAST_QUERIES_COUNT};
pub use range_cache::RangeCache;
pub use self_metrics::ExecutorMetrics;
pub use vm_snapshots::expire_old_snapshots;

use crate::config::Config;
use crate::shard::ShardRouter;
use params::Params;

/// Everything a handler needs on its executor.
pub struct Api {
    pub router: ShardRouter,
    pub config: Arc<Config>,
    pub engine: promql::Engine,
    /// This executor's counters (written here) and every executor's (read by `/metrics`).
    pub metrics: Arc<ExecutorMetrics>,
    pub all_metrics: Arc<Vec<Arc<ExecutorMetrics>>>,
    pub started_at_ms: i64,
    /// This executor's share of `server.max_concurrent_queries` (shared with the task that
    /// holds a slot until its query's evaluation has stopped).
    pub query_slots: std::rc::Rc<glommio::sync::Semaphore>,
    /// `queries.active` in the data directory (`active_queries_file`): each query holding a
    /// slot is written there while it runs; none when the file could not be made.
    pub active_queries: Option<Arc<active_queries_file::ActiveQueriesFile>>,
    /// Range-query results of settled data, shared by every executor.
    pub range_cache: Arc<RangeCache>,
    /// The queries running now and the last ones finished, shared by every executor
    /// (`/api/v1/status/active_queries`, `/api/v1/status/top_queries`).
    pub query_stats: Arc<QueryStats>,
    /// `global.query_log_file`: every query evaluated, one JSON line each (shared).
    pub query_log: Arc<QueryLog>,
    /// Every query's timings by part (`prometheus_engine_query_duration_seconds`; shared).
    pub query_timings: Arc<QueryTimings>,
    /// This executor's listing answers while no write or history change can have changed
    /// them.
    pub listing_cache: ListingCache,
    /// `tls.read_filters`: what each client identity's reads are confined to.
    pub identity_filters: Arc<read_filters::IdentityFilters>,
    /// Which origins' pages may call the API (`server.cors_origin`).
    pub cors_origins: cors::CorsOrigins,
    /// The scrape targets of every executor (`/api/v1/targets`).
    pub scrape_targets: Arc<crate::scrape::status::Registry>,
    /// The rule groups' state, kept by executor 0's evaluation (`/api/v1/rules`, `/api/v1/alerts`).
    pub rules: Arc<crate::rules::status::RulesStatus>,
    /// Where alerts are sent (`/api/v1/alertmanagers`, `/metrics`).
    pub notifier: Arc<crate::rules::notifier::Notifier>,
    /// The scrape configuration in force (`/-/reload` reads its file again).
    pub scrape_config: Arc<crate::scrape::SharedConfig>,
    /// The server's notifications, shared by every executor (`/api/v1/notifications`).
    pub notifications: Arc<crate::notifications::Notifications>,
    /// Whether every shard is open yet, and how far their WAL replay has got.
    pub startup: Arc<crate::startup::Startup>,
    /// `otlp.delta_to_cumulative`: every delta stream's running total, shared by every
    /// executor (an OTLP request lands on any); `None` when off.
    pub otlp_delta_to_cumulative: Option<Arc<crate::ingest::otlp::delta_to_cumulative::DeltaToCumulative>>,
}

/// Whether `path` (as sent: `/prometheus/` prefix allowed) is OpenTSDB's HTTP `/api/put`,
/// the one path HTTP on the OpenTSDB socket listener answers.
pub fn is_opentsdb_put_path(path: &str) -> bool {
    opentsdb_put::is_put_path(api_path(path))
}

/// The API path of a request path: VictoriaMetrics answers every path also under
/// `/prometheus/` and `/graphite/` (its cluster layout: `/prometheus/api/v1/query`,
/// `/graphite/metrics/find`), and so do we, so configurations written for it need no change.
fn api_path(path: &str) -> &str {
    for prefix in ["/prometheus", "/graphite"] {
        if let Some(rest) = path.strip_prefix(prefix).filter(|rest| rest.starts_with('/')) {
            return rest;
        }
    }
    path
}

/// The body format of each import endpoint (their bodies are streamed).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ImportFormat {
    /// VictoriaMetrics' JSON lines.
    JsonLines,
    /// The Prometheus text format, timestamps optional.
    PrometheusText,
    /// VictoriaMetrics' native blocks (`vmctl vm-native`).
    VmNative,
    /// CSV read with the request's `format` column descriptors.
    Csv,
}

fn streamed_import_format(path: &str) -> Option<ImportFormat> {
    match path {
        "/api/v1/import" => Some(ImportFormat::JsonLines),
        "/api/v1/import/prometheus" => Some(ImportFormat::PrometheusText),
        "/api/v1/import/native" => Some(ImportFormat::VmNative),
        "/api/v1/import/csv" => Some(ImportFormat::Csv),
        p if pushgateway::is_push_path(p) => Some(ImportFormat::PrometheusText),
        _ => None,
    }
}

/// A low-cardinality label for request metrics.
fn endpoint_label(path: &str) -> &'static str {
    match path {
        p if write::is_remote_write_path(p) => "write",
        p if otlp::is_otlp_metrics_path(p) => "otlp",
        p if influx::is_influx_path(p) => influx::endpoint_label(p),
        p if opentsdb_put::is_put_path(p) => "opentsdb_put",
        p if datadog::is_datadog_path(p) => "datadog",
        p if newrelic::is_newrelic_path(p) => "newrelic",
        p if zabbix::is_zabbix_path(p) => "zabbix",
        p if graphite::is_graphite_path(p) => graphite::endpoint_label(p),
        "/api/v1/read" => "read",
        "/api/v1/export" | "/api/v1/export/csv" | "/api/v1/export/native" => "export",
        p if p.starts_with("/api/v1/import") => "import",
        "/api/v1/query" => "query",
        "/api/v1/query_range" => "query_range",
        "/api/v1/series" => "series",
        "/api/v1/series/count" => "series_count",
        "/api/v1/labels" => "labels",
        "/metrics" => "metrics",
        "/federate" => "federate",
        "/api/v1/openapi.yaml" => "openapi",
        p if p.starts_with("/api/v1/label/") => "label_values",
        p if p.starts_with("/api/v1/status/") => "status",
        p if p.starts_with("/api/v1/admin/") => "admin",
        p if p.starts_with("/-/") => "health",
        _ => "other",
    }
}

impl Api {
    /// A read request's parameters (query string and, for `application/x-www-form-urlencoded`
    /// POSTs, the body), with the read filters of the client's identity (`tls.read_filters`)
    /// and the client's address.
    fn params(&self, request: &Request<Bytes>) -> Result<Params, ApiError> {
        let peer = request.extensions().get::<net::PeerInfo>().map(|p| p.addr);
        Ok(query_and_form(request, &[Method::POST]).map_err(ApiError::bad_data)?.confined_to(self.confinement(request)).sent_from(peer))
    }

    /// The request's `extra_label` parameters (see `extra_labels`).
    fn extra_labels(&self, query: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
        let params = Params::from_request(query, None).map_err(ApiError::bad_data)?;
        extra_labels::from_params(&params, &self.config.storage.ingest_rules().label_limits)
    }

    /// What a streamed import needs before its body: the decoder its `Content-Encoding`
    /// asks for (415 for another), the labels to set on every series (a Pushgateway-style
    /// path's grouping labels, then its `extra_label`s, which win over them) and its query's
    /// parameters, read once.
    fn import_setup<B>(&self, request: &Request<B>) -> Result<ImportSetup, ApiError> {
        let decoder = body_encoding::StreamDecoder::for_request(request.headers(), "an import")?;
        let params = Params::from_request(request.uri().query(), None).map_err(ApiError::bad_data)?;
        let limits = &self.config.storage.ingest_rules().label_limits;
        let mut extra_labels = pushgateway::grouping_labels(api_path(request.uri().path()))?;
        for (name, value) in extra_labels::from_params(&params, limits)? {
            extra_labels.retain(|(n, _)| *n != name);
            extra_labels.push((name, value));
        }
        if let Some(problem) = crate::ingest::label_limits::problem(limits, extra_labels.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()))) {
            return Err(ApiError::bad_data(format!("the grouping labels of the push: {problem}")));
        }
        Ok(ImportSetup { decoder, extra_labels, params })
    }
}

/// A streamed import's setup (`Api::import_setup`).
struct ImportSetup {
    decoder: Option<body_encoding::StreamDecoder>,
    extra_labels: Vec<(String, String)>,
    params: Params,
}

/// Whether metric family `family` has one of `names` (sorted): the family's own name or one
/// with a suffix the exposition formats give a family's series.
fn family_has_a_name_in(family: &str, names: &[String]) -> bool {
    const SERIES_SUFFIXES: [&str; 7] = ["", "_total", "_bucket", "_count", "_sum", "_created", "_info"];
    SERIES_SUFFIXES.iter().any(|suffix| names.binary_search_by(|n| n.as_str().cmp(&format!("{family}{suffix}"))).is_ok())
}

/// Query string plus the body when `request` uses one of `body_methods` and carries an
/// `application/x-www-form-urlencoded` or `multipart/form-data` body.
pub(super) fn query_and_form(request: &Request<Bytes>, body_methods: &[Method]) -> Result<Params, String> {
    let content_type = body_methods
        .contains(request.method())
        .then(|| request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()))
        .flatten()
        .unwrap_or("");
    if let Some(boundary) = params::multipart_boundary(content_type) {
        return Params::from_multipart(request.uri().query(), request.body(), boundary);
    }
    let is_form = content_type.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded");
    let body = is_form.then(|| request.body().as_ref());
    Params::from_request(request.uri().query(), body)
}

/// `/api/v1/metadata`: `{"family":[{"type":..,"help":..,"unit":..}, …]}`, from scrapes and
/// remote_write: each family's distinct entries (`shard::metadata_store`), the most recently
/// given first; `limit` families (0: none, as in Prometheus), `limit_per_metric` entries
/// each. Under read filters (`read_filters`), only the families of metric names the filters'
/// series carry.
async fn metadata(api: &Api, params: &Params) -> Result<Response<Bytes>, ApiError> {
    let filters = read_filters::ReadFilters::from_params(params)?;
    let metric = params.get("metric").filter(|m| !m.is_empty()).map(str::to_string);
    // Prometheus': a negative `limit` is none, 0 lists nothing; `limit_per_metric` 0 or less
    // is none.
    let limit = params.integer("limit").map_err(ApiError::bad_data)?.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let limit_per_metric = params.integer("limit_per_metric").map_err(ApiError::bad_data)?.filter(|n| *n > 0).map_or(usize::MAX, |n| n as usize);
    let mut entries = api.router.metadata(metric).await?;
    if !filters.is_empty() {
        let names = labels::collect_values(api, "__name__", filters.join(Vec::new()), params::MIN_TIME_MS, params::MAX_TIME_MS).await?;
        entries.retain(|m| family_has_a_name_in(&m.family, &names));
    }
    // Entries come grouped by family, each family's most recently given first.
    let mut data = String::from("{");
    let mut families = 0;
    let mut in_family = 0;
    for (i, m) in entries.iter().enumerate() {
        let first_of_family = i == 0 || entries[i - 1].family != m.family;
        if first_of_family {
            if families == limit {
                break;
            }
            if families > 0 {
                data.push_str("],");
            }
            families += 1;
            in_family = 0;
            json::push_json_string(&mut data, &m.family);
            data.push_str(":[");
        }
        if in_family == limit_per_metric {
            continue;
        }
        if in_family > 0 {
            data.push(',');
        }
        in_family += 1;
        data.push_str("{\"type\":");
        json::push_json_string(&mut data, &m.kind);
        data.push_str(",\"help\":");
        json::push_json_string(&mut data, &m.help);
        data.push_str(",\"unit\":");
        json::push_json_string(&mut data, &m.unit);
        data.push('}');
    }
    if families > 0 {
        data.push(']');
    }
    data.push('}');
    Ok(json_ok(&data))
}

/// `/`: what a browser pointed at the server gets (Prometheus and VictoriaMetrics answer
/// there too): the version and where to go.
fn landing_page() -> Response<Bytes> {
    let body = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Metricstor</title></head><body>\n\
         <h1>Metricstor {}</h1>\n<p>A Prometheus-compatible time-series database. Query it with Grafana (a Prometheus \
         data source at this address) or the Prometheus HTTP API; write to it with remote_write at \
         <code>/api/v1/write</code>.</p>\n<ul>\n\
         <li><a href=\"graph\">/graph</a> (query page: tables and graphs of PromQL expressions)</li>\n\
         <li><a href=\"api/v1/status/buildinfo\">/api/v1/status/buildinfo</a></li>\n\
         <li><a href=\"api/v1/status/tsdb\">/api/v1/status/tsdb</a> (series and label statistics)</li>\n\
         <li><a href=\"api/v1/status/config\">/api/v1/status/config</a></li>\n\
         <li><a href=\"metrics\">/metrics</a> (this server's own metrics)</li>\n\
         <li><a href=\"-/healthy\">/-/healthy</a></li>\n</ul>\n</body></html>\n",
        env!("CARGO_PKG_VERSION")
    );
    let mut response = Response::new(Bytes::from(body));
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/html; charset=utf-8"));
    response
}

/// `/api/v1/format_query`: the query in canonical form.
fn format_query(params: &Params) -> Result<Response<Bytes>, ApiError> {
    let query = params.get("query").unwrap_or("");
    let expr = promql::parse(query).map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))?;
    let mut data = String::new();
    json::push_json_string(&mut data, &promql::printer::print(&expr));
    Ok(json_ok(&data))
}

/// `/prettify-query`: VictoriaMetrics' formatter (vmui's "prettify" button), the query as
/// `format_query` writes it in `{"status":"success","query":…}`; a query that does not parse
/// is a 400 naming the problem (VictoriaMetrics answers it with a 200 and `"status":"error"`).
fn prettify_query(params: &Params) -> Result<Response<Bytes>, ApiError> {
    let query = params.get("query").unwrap_or("");
    let expr = promql::parse(query).map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))?;
    let mut body = String::from("{\"status\":\"success\",\"query\":");
    json::push_json_string(&mut body, &promql::printer::print(&expr));
    body.push('}');
    Ok(json_response(StatusCode::OK, body))
}

/// `/api/v1/parse_query`: the query's syntax tree (see `parse_query`).
fn parse_query(params: &Params) -> Result<Response<Bytes>, ApiError> {
    let query = params.get("query").unwrap_or("");
    let expr = promql::parse(query).map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))?;
    Ok(json_ok(&parse_query::translate(&expr).to_string()))
}

pub(crate) fn json_ok(data_json: &str) -> Response<Bytes> {
    json_response(StatusCode::OK, json::success(data_json, &[], &[]))
}

pub(crate) fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Response<Bytes> {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    response
}

/// An empty 204 No Content.
pub(crate) fn no_content() -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

pub(crate) fn text_response(status: StatusCode, body: &str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// `/-/quit` (Prometheus' words): when `enabled`, asks this process to shut down gracefully
/// with SIGTERM (the signal thread starts the same drain as for an outside SIGTERM) once;
/// 403 when the lifecycle API is off.
fn quit(enabled: bool) -> Response<Bytes> {
    static REQUESTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !enabled {
        return text_response(StatusCode::FORBIDDEN, "Lifecycle API is not enabled.");
    }
    if REQUESTED.swap(true, std::sync::atomic::Ordering::AcqRel) {
        return text_response(StatusCode::OK, "Termination already in progress.");
    }
    tracing::info!("/-/quit: shutting down");
    // SAFETY: kill(2) on this very process, with a signal its signal thread handles.
    unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
    text_response(StatusCode::OK, "Requesting termination... Goodbye!")
}
