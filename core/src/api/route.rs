//! The router: `Api::route` maps a request's method and path to its handler, after the
//! client's authorization; the path families of other protocols are routed in their modules.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};

use super::{admin, cors, csv, datadog, exemplars, expand_with_exprs, features, federate, graphite, influx, json, labels, migrate, newrelic, notifications, openapi, opentsdb_put, otlp, query, read_filters, relabel_steps, remote_read, rules, search, self_metrics, self_metrics_json, status, ui, vm_native_export, vm_snapshots, vm_targets, write, zabbix};
use super::{format_query, json_ok, json_response, landing_page, metadata, no_content, parse_query, prettify_query, quit, relabel_debug, target_response, streamed_import_format, text_response, Api, ApiError};


impl Api {
    pub(super) async fn route(&self, request: &Request<Bytes>, path: &str) -> Result<Response<Bytes>, ApiError> {
        self.authorize(request.extensions().get::<net::PeerInfo>(), path)?;
        let method = request.method();
        let get_or_post = method == Method::GET || method == Method::POST;
        match path {
            // A browser's preflight: Prometheus answers it 204 (its CORS headers added after).
            p if method == Method::OPTIONS && p.starts_with(cors::API_PATHS) => Ok(no_content()),
            // vmagent's handshake (1.88 to 1.115 ask it before writing; later ones send zstd at
            // once and fall back to snappy on a 400 or 415): "1" says that VictoriaMetrics'
            // protocol (the same request compressed with zstd) is understood.
            p if write::is_remote_write_path(p) && write::asks_vm_proto_version(request.uri().query()) => Ok(text_response(StatusCode::OK, "1")),
            p if write::is_remote_write_path(p) && method == Method::POST => write::handle_write(self, request).await,
            p if write::is_remote_write_path(p) => Err(ApiError::method_not_allowed("POST")),
            p if otlp::is_otlp_metrics_path(p) && method == Method::POST => otlp::handle_otlp_metrics(self, request).await,
            p if otlp::is_otlp_metrics_path(p) => Err(ApiError::method_not_allowed("POST")),
            // Prometheus 3's page path; InfluxDB clients, which ask /query for their own
            // answers, never ask for HTML.
            "/query" if (method == Method::GET || method == Method::HEAD) && ui::wants_html(request) => Ok(ui::page()),
            p if influx::is_influx_path(p) => influx::route(self, request, p).await,
            p if opentsdb_put::is_put_path(p) && method == Method::POST => opentsdb_put::handle_put(self, request).await,
            p if datadog::is_datadog_path(p) => datadog::route(self, request, p).await,
            p if newrelic::is_newrelic_path(p) => newrelic::route(self, request, p).await,
            p if zabbix::is_zabbix_path(p) => zabbix::route(self, request).await,
            p if opentsdb_put::is_put_path(p) => Err(ApiError::method_not_allowed("POST")),
            p if graphite::is_graphite_path(p) => graphite::route(self, request, p).await,
            "/api/v1/read" if method == Method::POST => remote_read::handle_read(self, request).await,
            "/api/v1/read" => Err(ApiError::method_not_allowed("POST")),
            "/api/v1/export" if get_or_post => migrate::handle_export(self, &self.params(request)?).await,
            "/api/v1/export/csv" if get_or_post => csv::handle_export(self, &self.params(request)?).await,
            "/api/v1/export/native" if get_or_post => vm_native_export::handle_export(self, &self.params(request)?).await,
            "/api/v1/query" if get_or_post => query::handle_instant(self, &self.params(request)?, request.method().as_str()).await,
            "/api/v1/query_range" if get_or_post => query::handle_range(self, &self.params(request)?, request.method().as_str()).await,
            "/api/v1/series" if get_or_post => labels::handle_series(self, &self.params(request)?).await,
            "/api/v1/labels" if get_or_post => labels::handle_label_names(self, &self.params(request)?).await,
            "/api/v1/search/metric_names" if get_or_post => search::handle(self, request, search::Endpoint::MetricNames).await,
            "/api/v1/search/label_names" if get_or_post => search::handle(self, request, search::Endpoint::LabelNames).await,
            "/api/v1/search/label_values" if get_or_post => search::handle(self, request, search::Endpoint::LabelValues).await,
            // POST too, as VictoriaMetrics takes it (Prometheus: GET only).
            p if is_label_values_path(p) && get_or_post => {
                let name = &p["/api/v1/label/".len()..p.len() - "/values".len()];
                labels::handle_label_values(self, name, &self.params(request)?).await
            }
            "/api/v1/status/buildinfo" if method == Method::GET => Ok(json_ok(&status::build_info())),
            "/api/v1/features" if method == Method::GET => {
                let data = serde_json::to_string(&features::features(&self.config)).map_err(|e| ApiError::internal(format!("cannot write the features: {e}")))?;
                Ok(json_ok(&data))
            }
            // Not while starting (not in `startup::served_while_starting`): Prometheus serves
            // it once ready, too.
            "/api/v1/openapi.yaml" if method == Method::GET => openapi::handle(request.uri().query()),
            "/api/v1/openapi.yaml" => Err(ApiError::method_not_allowed("GET")),
            "/api/v1/status/runtimeinfo" if method == Method::GET => Ok(json_ok(&status::runtime_info(self))),
            "/api/v1/status/flags" if method == Method::GET => Ok(json_ok(&status::flags(self))),
            // The configuration, as Prometheus' JSON or as VictoriaMetrics' plain-text page
            // (`curl host:9101/config`). It names every identity's read filters: not for a
            // client confined to its own series.
            "/api/v1/status/config" | "/config" if method == Method::GET => {
                if !self.confinement(request).is_empty() {
                    return Err(ApiError::forbidden(format!("{path} is not available to a client confined by tls.read_filters")));
                }
                if path == "/config" {
                    Ok(text_response(StatusCode::OK, &status::config_yaml(self)))
                } else {
                    Ok(json_ok(&status::config(self)))
                }
            }
            "/api/v1/status/self_metrics" if method == Method::GET => {
                let p = self.params(request)?;
                let exposition = self_metrics::exposition(self).await;
                Ok(json_ok(&self_metrics_json::families_json(&exposition, p.get("metric_name_pattern"))?))
            }
            "/api/v1/notifications" if method == Method::GET => Ok(json_ok(&notifications::list_json(&self.notifications))),
            "/api/v1/notifications/live" if method == Method::GET => Ok(notifications::live(&self.notifications)),
            "/api/v1/status/tsdb" if method == Method::GET => {
                let p = self.params(request)?;
                // VictoriaMetrics' `match[]` narrows the figures to the series selected, and
                // so do the read filters (URL's and the client's).
                let sets = labels::filtered_match_sets(&p, None)?;
                let limit = match p.get("limit").or_else(|| p.get("topN")) {
                    None | Some("") => 10,
                    Some(t) => t.parse::<usize>().map_err(|_| ApiError::bad_data(format!("invalid parameter \"limit\": {t:?}")))?,
                };
                let with_reads = self.confinement(request).is_empty();
                let focus = p.get("focusLabel").filter(|l| !l.is_empty());
                let day = status::status_day(&p)?;
                Ok(json_ok(&status::tsdb(self, sets, limit, with_reads, focus, day).await?))
            }
            "/api/v1/status/metric_names_stats" if method == Method::GET => {
                // Every stored name, and every client's reads: the answer cannot be confined.
                let p = self.refuse_other_clients_queries(request, "/api/v1/status/metric_names_stats")?;
                Ok(json_response(StatusCode::OK, status::metric_names_stats(self, &p).await?))
            }
            // VictoriaMetrics answers any method here; a write, as every admin path.
            "/api/v1/admin/status/metric_names_stats/reset" if get_or_post => match self.router.name_stats() {
                Some(stats) => {
                    stats.reset(crate::metric_names_stats::now_s());
                    Ok(no_content())
                }
                None => Err(ApiError::bad_data("metric names are not tracked here: server.track_metric_names_stats is off")),
            },
            "/api/v1/admin/status/metric_names_stats/reset" => Err(ApiError::method_not_allowed("GET, POST")),
            "/api/v1/status/tsdb/blocks" if method == Method::GET => {
                // Block figures count every tenant's series: not for a confined client.
                self.refuse_other_clients_queries(request, "/api/v1/status/tsdb/blocks")?;
                Ok(json_ok(&status::blocks(self).await?))
            }
            "/api/v1/series/count" if get_or_post => {
                let p = self.params(request)?;
                // Every series, or under read filters those they allow.
                let filters = read_filters::ReadFilters::from_params(&p)?;
                Ok(json_ok(&status::series_count(self, filters.alternatives().to_vec()).await?))
            }
            "/api/v1/status/active_queries" if get_or_post => {
                self.refuse_other_clients_queries(request, "/api/v1/status/active_queries")?;
                Ok(json_response(StatusCode::OK, self.query_stats.active_json()))
            }
            "/api/v1/status/top_queries" if get_or_post => {
                let p = self.refuse_other_clients_queries(request, "/api/v1/status/top_queries")?;
                Ok(json_response(StatusCode::OK, status::top_queries(self, &p)?))
            }
            // A browser gets the query page's view at Prometheus' /rules and /alerts; another
            // client there the API's answer, as VictoriaMetrics answers them.
            "/rules" | "/alerts" if method == Method::GET && ui::wants_html(request) => Ok(ui::page()),
            "/api/v1/rules" | "/rules" if method == Method::GET => {
                let p = self.refuse_other_clients_queries(request, "/api/v1/rules")?;
                Ok(json_ok(&rules::rules(&self.rules.groups(), &p)?.to_string()))
            }
            "/api/v1/alerts" | "/alerts" if method == Method::GET => {
                self.refuse_other_clients_queries(request, "/api/v1/alerts")?;
                Ok(json_ok(&rules::alerts(&self.rules.groups()).to_string()))
            }
            "/api/v1/alertmanagers" if method == Method::GET => {
                self.refuse_other_clients_queries(request, "/api/v1/alertmanagers")?;
                Ok(json_ok(&self.notifier.alertmanagers_json().to_string()))
            }
            "/api/v1/targets" if method == Method::GET => {
                // Every job's targets and URLs: not for a client confined to some series.
                let p = self.refuse_other_clients_queries(request, "/api/v1/targets")?;
                // Written straight into the body: 20,000 targets make about 30 MiB.
                let mut body = br#"{"status":"success","data":"#.to_vec();
                self.scrape_targets.write_json(p.get("state").unwrap_or("any"), p.get("scrapePool").unwrap_or(""), &mut body).map_err(|e| ApiError::internal(format!("cannot write the targets: {e}")))?;
                body.push(b'}');
                Ok(json_response(StatusCode::OK, body))
            }
            // A browser (Accept: text/html) gets the query page's targets view, curl
            // VictoriaMetrics' plain-text targets page (`curl host:8428/targets`).
            "/targets" if method == Method::GET && ui::wants_html(request) => Ok(ui::page()),
            "/targets" if method == Method::GET => vm_targets::handle(self, request),
            "/api/v1/targets/metadata" if method == Method::GET => {
                // Every target's labels and metadata: not for a client confined to some series.
                let p = self.refuse_other_clients_queries(request, "/api/v1/targets/metadata")?;
                let limit = p.integer("limit").map_err(ApiError::bad_data)?.unwrap_or(-1);
                let matchers = match p.get("match_target").filter(|m| !m.is_empty()) {
                    Some(text) => promql::parse_series_selector(text).map_err(|e| ApiError::bad_data(format!("invalid parameter \"match_target\": {e}")))?,
                    None => Vec::new(),
                };
                let metric = p.get("metric").filter(|m| !m.is_empty());
                let data = self.scrape_targets.target_metadata(&matchers, metric, usize::try_from(limit).ok());
                Ok(json_ok(&data.to_string()))
            }
            "/api/v1/targets/relabel_steps" if method == Method::GET => {
                // A job's relabeling rules: not for a client confined to some series.
                let p = self.refuse_other_clients_queries(request, "/api/v1/targets/relabel_steps")?;
                let data = relabel_steps::steps(&self.scrape_config.snapshot().1, p.get("scrapePool"), p.get("labels"))?;
                Ok(json_ok(&data))
            }
            "/api/v1/scrape_pools" if method == Method::GET => {
                // The job names of the scrape configuration in force, sorted (Prometheus').
                self.refuse_other_clients_queries(request, "/api/v1/scrape_pools")?;
                let mut pools: Vec<String> = self.scrape_config.snapshot().1.jobs.iter().map(|j| j.name.clone()).collect();
                pools.sort();
                Ok(json_response(StatusCode::OK, serde_json::json!({ "status": "success", "data": { "scrapePools": pools } }).to_string()))
            }
            "/api/v1/scrape_pools/config" if method == Method::GET => {
                // A job's configuration (targets, URLs; secrets masked): not for a confined client.
                let p = self.refuse_other_clients_queries(request, "/api/v1/scrape_pools/config")?;
                let pool = p.get("scrapePool").filter(|n| !n.is_empty()).ok_or_else(|| ApiError::bad_data("no scrapePool parameter provided"))?;
                let config = self.scrape_config.snapshot().1;
                let job = config.jobs.iter().find(|j| j.name == pool).ok_or_else(|| ApiError::bad_data(format!("error retrieving scrape config: scrape pool {pool:?} not found")))?;
                let mut data = String::from("{\"yaml\":");
                json::push_json_string(&mut data, &job.shown_yaml);
                data.push('}');
                Ok(json_ok(&data))
            }
            "/api/v1/metadata" if method == Method::GET => metadata(self, &self.params(request)?).await,
            "/api/v1/query_exemplars" if get_or_post => exemplars::handle_query_exemplars(self, &self.params(request)?).await,
            "/api/v1/format_query" if get_or_post => format_query(&self.params(request)?),
            // VictoriaMetrics' formatter for vmui: the query as `/api/v1/format_query` writes
            // it, in its `{"status":"success","query":…}`.
            "/prettify-query" if get_or_post => prettify_query(&self.params(request)?),
            // VictoriaMetrics' page showing a query with its WITH templates expanded.
            "/expand-with-exprs" if get_or_post => expand_with_exprs::handle(&self.params(request)?),
            // VictoriaMetrics' relabeling debuggers; the server's own rules are a starting
            // point only for a client that may see the configuration.
            "/metric-relabel-debug" | "/target-relabel-debug" if get_or_post => {
                let stage = if path == "/metric-relabel-debug" { relabel_debug::Stage::Series } else { relabel_debug::Stage::Target };
                let params = self.params(request)?;
                let unconfined = self.confinement(request).is_empty();
                let server_rules = unconfined.then_some(self.config.relabel_configs.as_slice());
                // A target named as /api/v1/targets lists it: its labels and its job's rules
                // (scrape targets are every client's: not for a confined one).
                let named = params.get("scrapePool").is_some_and(|p| !p.is_empty());
                let target = match named {
                    true if !unconfined => return Err(ApiError::forbidden(format!("{path} with a scrape target is not available to a client confined by tls.read_filters"))),
                    true => Some(target_response::named_target(self, &params)?),
                    false => None,
                };
                relabel_debug::handle(stage, &params, server_rules, target.as_ref())
            }
            // VictoriaMetrics' target response: what a target answers its scrapes now.
            "/target_response" if method == Method::GET => {
                let params = self.refuse_other_clients_queries(request, "/target_response")?;
                target_response::handle(self, &params).await
            }
            "/api/v1/parse_query" if get_or_post => parse_query(&self.params(request)?),
            // GET too: VictoriaMetrics takes any method here, and its documentation's command
            // is a GET (`curl 'http://host:8428/api/v1/admin/tsdb/delete_series?match[]=…'`).
            "/api/v1/admin/tsdb/delete_series" if method == Method::POST || method == Method::PUT || method == Method::GET => {
                admin::handle_delete_series(self, request).await
            }
            "/api/v1/admin/tsdb/clean_tombstones" if method == Method::POST || method == Method::PUT => {
                admin::handle_clean_tombstones(self).await
            }
            "/api/v1/admin/tsdb/snapshot" if method == Method::POST || method == Method::PUT => admin::handle_snapshot(self, request).await,
            "/api/v1/admin/tsdb/delete_series" => Err(ApiError::method_not_allowed("GET, POST, PUT")),
            "/api/v1/admin/tsdb/clean_tombstones" | "/api/v1/admin/tsdb/snapshot" => Err(ApiError::method_not_allowed("POST, PUT")),
            p if vm_snapshots::is_snapshot_path(p) && get_or_post => vm_snapshots::handle(self, request, p).await,
            p if vm_snapshots::is_snapshot_path(p) => Err(ApiError::method_not_allowed("GET, POST")),
            "/metrics" if method == Method::GET => Ok(self_metrics::handle_metrics(self).await),
            "/federate" if get_or_post => {
                let accept = request.headers().get(http::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                federate::handle_federate(self, &self.params(request)?, &accept).await
            }
            "/api/v1/status/walreplay" if method == Method::GET => Ok(json_ok(&self.startup.wal_replay_json())),
            "/-/ready" if (method == Method::GET || method == Method::HEAD) && !self.startup.is_ready() => {
                Ok(text_response(StatusCode::SERVICE_UNAVAILABLE, "Metricstor is starting: replaying the write-ahead log.\n"))
            }
            "/-/healthy" | "/-/ready" if method == Method::GET || method == Method::HEAD => {
                Ok(text_response(StatusCode::OK, "Metricstor is Healthy.\n"))
            }
            "/" if method == Method::GET || method == Method::HEAD => Ok(landing_page()),
            // The query page and its views (`ui`) at Prometheus' page paths, VictoriaMetrics'
            // /vmui/, and /graph/…, where VictoriaMetrics serves its UI for Grafana's links.
            "/graph" | "/vmui/" | "/service-discovery" | "/tsdb-status" | "/status" if method == Method::GET || method == Method::HEAD => Ok(ui::page()),
            p if p.starts_with("/graph/") && (method == Method::GET || method == Method::HEAD) => Ok(ui::page()),
            p if p.starts_with("/graph/") => Err(ApiError::method_not_allowed("GET")),
            // A browser gets the flags view, another client VictoriaMetrics' text.
            "/flags" if method == Method::HEAD || (method == Method::GET && ui::wants_html(request)) => Ok(ui::page()),
            "/flags" if method == Method::GET => Ok(text_response(StatusCode::OK, &status::flags_text(self))),
            "/alerts" | "/rules" if method == Method::HEAD => Ok(ui::page()),
            "/vmui" if method == Method::GET || method == Method::HEAD => Ok(ui::redirect_to_vmui()),
            "/graph" | "/vmui/" | "/vmui" | "/alerts" | "/rules" | "/service-discovery" | "/tsdb-status" | "/flags" | "/status" => Err(ApiError::method_not_allowed("GET")),
            // VictoriaMetrics' health check (vmctl pings it before importing; load balancers
            // set up for VictoriaMetrics probe it).
            "/health" if method == Method::GET || method == Method::HEAD => Ok(text_response(StatusCode::OK, "OK")),
            // VictoriaMetrics' readiness: 425 Too Early until it is ready (here: the WALs
            // replayed), then "OK".
            "/ready" if (method == Method::GET || method == Method::HEAD) && !self.startup.is_ready() => {
                Ok(text_response(StatusCode::TOO_EARLY, "Metricstor is starting: replaying the write-ahead log.\n"))
            }
            "/ready" if method == Method::GET || method == Method::HEAD => Ok(text_response(StatusCode::OK, "OK")),
            // VictoriaMetrics' endpoints that scripts call after an import, before they query.
            // Here every acknowledged sample is already readable: nothing is pending to flush.
            "/internal/force_flush" if get_or_post => Ok(text_response(StatusCode::OK, "")),
            "/internal/force_merge" if get_or_post => Ok(admin::handle_force_merge(self)),
            // Prometheus' lifecycle reload (POST/PUT) and VictoriaMetrics' (any method): the
            // scrape configuration file is read again, and the configuration file's
            // relabel_configs and stream_aggregation; a mistake keeps what is in force.
            "/-/reload" if get_or_post || method == Method::PUT => {
                let scrape = crate::scrape::log_reload(&self.scrape_config, &self.notifications, "/-/reload").map_err(|e| format!("scrape configuration not reloaded: {e}"));
                let rules = crate::write_rules::log_reload(self.router.write_rules(), &self.notifications, "/-/reload").map_err(|e| format!("relabel_configs and stream_aggregation not reloaded: {e}"));
                let errors: Vec<String> = [scrape, rules].into_iter().filter_map(Result::err).collect();
                if errors.is_empty() { Ok(text_response(StatusCode::OK, "")) } else { Err(ApiError::bad_data(errors.join("; "))) }
            }
            "/-/reload" => Err(ApiError::method_not_allowed("GET, POST, PUT")),
            // Prometheus' lifecycle quit: a graceful shutdown, as SIGTERM starts it.
            "/-/quit" if method == Method::POST || method == Method::PUT => Ok(quit(self.config.server.enable_lifecycle)),
            "/-/quit" => {
                let mut answer = text_response(StatusCode::METHOD_NOT_ALLOWED, "Only POST or PUT requests allowed");
                answer.headers_mut().insert(http::header::ALLOW, http::HeaderValue::from_static("POST, PUT"));
                Ok(answer)
            }
            // The caches already drop what a write into the past changed (the history
            // generation); moving it on is the reset this asks for, on every executor.
            "/internal/resetRollupResultCache" if get_or_post => {
                self.router.history().bump();
                Ok(text_response(StatusCode::OK, ""))
            }
            p if streamed_import_format(p).is_some() => Err(ApiError::method_not_allowed("POST, PUT")),
            "/api/v1/query"
            | "/api/v1/query_range"
            | "/api/v1/series"
            | "/api/v1/labels"
            | "/api/v1/search/metric_names"
            | "/api/v1/search/label_names"
            | "/api/v1/search/label_values"
            | "/federate"
            | "/api/v1/series/count"
            | "/api/v1/status/active_queries"
            | "/api/v1/status/top_queries"
            | "/api/v1/query_exemplars"
            | "/api/v1/format_query"
            | "/prettify-query"
            | "/expand-with-exprs"
            | "/metric-relabel-debug"
            | "/target-relabel-debug"
            | "/api/v1/parse_query"
            | "/api/v1/export"
            | "/api/v1/export/csv"
            | "/api/v1/export/native"
            | "/internal/force_flush"
            | "/internal/force_merge"
            | "/internal/resetRollupResultCache" => Err(ApiError::method_not_allowed("GET, POST")),
            p if is_label_values_path(p) => Err(ApiError::method_not_allowed("GET, POST")),
            // A path served for GET only, asked with another method: a 405 naming GET, as
            // Prometheus' router answers, not a 404 saying the path does not exist.
            p if GET_ONLY_PATHS.contains(&p) => Err(ApiError::method_not_allowed("GET")),
            _ => Err(ApiError::not_found(path)),
        }
    }
}

/// `/api/v1/label/<name>/values`.
fn is_label_values_path(path: &str) -> bool {
    path.starts_with("/api/v1/label/") && path.ends_with("/values")
}

/// The paths `Api::route` serves for GET (and some for HEAD) only: another method there is a
/// 405 naming GET.
const GET_ONLY_PATHS: &[&str] = &[
    "/",
    "/-/healthy",
    "/-/ready",
    "/health",
    "/ready",
    "/metrics",
    "/config",
    "/targets",
    "/api/v1/status/buildinfo",
    "/api/v1/status/runtimeinfo",
    "/api/v1/status/flags",
    "/api/v1/status/config",
    "/api/v1/status/self_metrics",
    "/api/v1/status/tsdb",
    "/api/v1/status/tsdb/blocks",
    "/api/v1/status/metric_names_stats",
    "/api/v1/status/walreplay",
    "/api/v1/features",
    "/api/v1/openapi.yaml",
    "/api/v1/notifications",
    "/api/v1/notifications/live",
    "/api/v1/rules",
    "/api/v1/alerts",
    "/api/v1/alertmanagers",
    "/api/v1/targets",
    "/api/v1/targets/metadata",
    "/api/v1/targets/relabel_steps",
    "/target_response",
    "/api/v1/scrape_pools",
    "/api/v1/scrape_pools/config",
    "/api/v1/metadata",
];
