//! `/api/v1/query` and `/api/v1/query_range`: Prometheus' parameter parsing and limits,
//! prepare → scatter/gather → evaluate, and the exact result JSON shapes.

use super::params::now_ms;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_lite::future;
use http::Response;
use promql::{QueryResult, Value};

use super::params::{parse_duration_ms, parse_time_ms, Params};
use super::range_cache::{append_later, cacheable_query, last_step_at_or_before, slice, Annotations, Lookup};
use super::active_queries_file::{ActiveQueriesFile, Slot};
use super::query_log::{QueryLogEntry, QueryOrigin};
use super::query_report::QueryReport;
use super::query_timings::Slice;
use super::query_stats::QueryWindow;
use super::query_statistics::{self, StatsAsked};
use super::single_flight::Answered;
use super::{json, json_response, Api, ApiError};
use super::read_filters::ReadFilters;
use crate::coordinator::PrefetchedQuerier;
use crate::shard::history::settled_before_ms;
use crate::shard::messages::Select;

/// Prometheus' cap on points per series in a range query.
pub const POINTS_PER_SERIES_MAX: i64 = 11_000;

fn time_param(params: &Params, name: &str, default_ms: i64) -> Result<i64, ApiError> {
    match params.get(name) {
        None | Some("") => Ok(default_ms),
        Some(text) => parse_time_ms(text).map_err(|e| ApiError::bad_data(format!("invalid parameter \"{name}\": {e}"))),
    }
}

fn query_text(params: &Params) -> Result<&str, ApiError> {
    match params.get("query") {
        Some(q) if !q.is_empty() => Ok(q),
        _ => Err(ApiError::bad_data("invalid parameter \"query\": query must not be empty")),
    }
}

fn timeout(api: &Api, params: &Params) -> Result<Duration, ApiError> {
    match params.get("timeout") {
        None | Some("") => Ok(bounded_timeout(api, None)),
        Some(text) => {
            let ms = parse_duration_ms(text).map_err(|e| ApiError::bad_data(format!("invalid parameter \"timeout\": {e}")))?;
            if ms <= 0 {
                return Err(ApiError::bad_data("invalid parameter \"timeout\": must be positive"));
            }
            Ok(bounded_timeout(api, Some(Duration::from_millis(ms as u64))))
        }
    }
}

fn limit(params: &Params) -> Result<usize, ApiError> {
    match params.get("limit") {
        None | Some("") => Ok(0),
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| ApiError::bad_data(format!("invalid parameter \"limit\": {text:?} is not a non-negative integer"))),
    }
}

/// How a query was asked for, beyond its text and times.
pub(super) struct Asked {
    pub timeout: Duration,
    /// Whether the range-query cache may answer (`nocache=1` says no).
    pub cache: bool,
    /// The query's own lookback delta (Prometheus' `lookback_delta` parameter); `None`:
    /// `server.lookback_delta_seconds`.
    pub lookback_ms: Option<i64>,
    /// `extra_label`/`extra_filters` and the client identity's `tls.read_filters`: every
    /// selector of the query also has to match them.
    pub filters: ReadFilters,
    /// The client's address, for `/api/v1/status/active_queries`.
    pub remote_addr: Option<std::net::SocketAddr>,
    /// Prometheus' `stats`: count samples and time the phases (never from the cache).
    pub stats: StatsAsked,
    /// Where the query came from, for the query log.
    pub origin: QueryOrigin,
    /// VictoriaMetrics' `stats` and, with `trace=1`, its trace (see `query_report`).
    pub report: QueryReport,
}

impl Asked {
    /// The server's defaults with `timeout`.
    pub fn with_timeout(timeout: Duration) -> Asked {
        Asked {
            timeout,
            cache: true,
            lookback_ms: None,
            filters: ReadFilters::default(),
            remote_addr: None,
            stats: StatsAsked::None,
            origin: QueryOrigin::Unknown,
            report: QueryReport::new(false),
        }
    }

    fn from_params(api: &Api, params: &Params) -> Result<Asked, ApiError> {
        let lookback_ms = match params.get("lookback_delta") {
            None | Some("") => None,
            Some(text) => {
                let ms = parse_duration_ms(text).map_err(|e| ApiError::bad_data(format!("error parsing lookback delta duration: {e}")))?;
                // As Prometheus: zero or less means the server's default.
                (ms > 0).then_some(ms)
            }
        };
        // `nocache=1` bypasses the result cache (as VictoriaMetrics' parameter of that name).
        let cache = !matches!(params.get("nocache"), Some("1" | "true"));
        Ok(Asked {
            timeout: timeout(api, params)?,
            cache,
            lookback_ms,
            filters: ReadFilters::from_params(params)?,
            remote_addr: params.remote_addr(),
            stats: StatsAsked::from_params(params),
            origin: QueryOrigin::Unknown,
            report: QueryReport::for_request(params),
        })
    }

    /// As `from_params`, for a request to `path` with `method`.
    fn from_request(api: &Api, params: &Params, method: &str, path: &'static str) -> Result<Asked, ApiError> {
        let mut asked = Asked::from_params(api, params)?;
        asked.origin = QueryOrigin::Http { client_ip: asked.remote_addr.map(|a| a.ip()), method: method.to_string(), path };
        Ok(asked)
    }

    /// `query` prepared by `prepare` (parse and checks), counting samples if `stats` asks or
    /// the query log is on (`logged`); with the time it took.
    fn prepare(&self, logged: bool, prepare: impl FnOnce() -> Result<promql::PreparedQuery, promql::Error>) -> Result<(promql::PreparedQuery, Duration), ApiError> {
        let started = std::time::Instant::now();
        let prepared = prepare().map_err(map_engine_error)?;
        let prepared = if self.stats.wanted() || logged { prepared.with_sample_stats() } else { prepared };
        self.report.span(started.elapsed(), || format!("parse and check the query: {} selects", prepared.selects().len()));
        Ok((prepared, started.elapsed()))
    }

    /// The engine to prepare the query with.
    fn engine<'a>(&self, api: &'a Api) -> std::borrow::Cow<'a, promql::Engine> {
        match self.lookback_ms {
            Some(ms) => std::borrow::Cow::Owned(api.engine.with_lookback_delta(ms)),
            None => std::borrow::Cow::Borrowed(&api.engine),
        }
    }
}

pub async fn handle_instant(api: &Api, params: &Params, method: &str) -> Result<Response<Bytes>, ApiError> {
    let query = query_text(params)?;
    let time_ms = time_param(params, "time", now_ms())?;
    let digits = round_digits(params)?;
    let asked = Asked::from_request(api, params, method, "/api/v1/query")?;
    let result = instant_result(api, query, time_ms, &asked).await?;
    let root = |series: usize| format!("/api/v1/query: query={query:?}, time={time_ms}: series={series}");
    Ok(render(rounded(result, digits), limit(params)?, asked.stats, params, &asked.report, root))
}

/// Evaluates an instant query (shared by the HTTP and gRPC APIs).
pub(super) async fn instant_result(api: &Api, query: &str, time_ms: i64, asked: &Asked) -> Result<QueryResult, ApiError> {
    let started = std::time::Instant::now();
    // As VictoriaMetrics' instant queries: start and end at the time, its default step.
    let window = QueryWindow { start_ms: time_ms, end_ms: time_ms, step_ms: DEFAULT_STEP_MS };
    let _running = api.query_stats.start(query, window, asked.remote_addr);
    let logged = api.query_log.follow_config(&api.scrape_config);
    let result = match asked.prepare(logged, || asked.engine(api).prepare_instant(query, time_ms)) {
        Ok((prepared, parsed_in)) => run(api, prepared, parsed_in, &asked.filters, asked.timeout, &asked.report).await,
        Err(e) => Err(e),
    };
    log_if_slow(api, started, query, QueryTimes::Instant { time_ms }, &result);
    if logged {
        log_query(api, query, (time_ms, time_ms, 0), &result, &asked.origin);
    }
    result
}

/// Writes one query to the query log, unless it was refused before evaluation (a 400: bad
/// parameters or a query that does not parse, which Prometheus' engine never runs): its
/// text, times (start, end, step in ms), error or statistics, and origin.
fn log_query(api: &Api, query: &str, (start_ms, end_ms, step_ms): (i64, i64, i64), result: &Result<QueryResult, ApiError>, origin: &QueryOrigin) {
    let (error, stats) = match result {
        Ok(r) => (None, r.stats.as_ref()),
        Err(e) if e.status == http::StatusCode::BAD_REQUEST => return,
        Err(e) => (Some(e.message.as_str()), None),
    };
    api.query_log.write(&QueryLogEntry { query, start_ms, end_ms, step_ms, error, stats, origin });
}

/// A rule's instant query at `time_ms`, under the server's timeout and lookback delta (the
/// rule evaluator's and alert templates' queries), logged as the group's (`origin`).
pub(crate) async fn rule_query(api: &Api, query: &str, time_ms: i64, origin: QueryOrigin) -> Result<promql::Value, String> {
    let asked = Asked { origin, ..Asked::with_timeout(bounded_timeout(api, None)) };
    instant_result(api, query, time_ms, &asked).await.map(|r| r.value).map_err(|e| e.message)
}

/// Every sample (stale markers included) of the series matching `matchers` in
/// `[mint_ms, maxt_ms]`, from every shard (restoring alerts' `for` state reads them).
pub(crate) async fn select_raw(api: &Api, matchers: Vec<tsdb::Matcher>, mint_ms: i64, maxt_ms: i64) -> Result<Vec<tsdb::SeriesSamples>, String> {
    let selects = vec![Select::all(matchers.clone(), mint_ms, maxt_ms)];
    let querier = PrefetchedQuerier::fetch(&api.router, selects, &[], api.config.server.max_samples_per_query, 0).await.map_err(|e| e.to_string())?;
    Ok(tsdb::Querier::select(&querier, &matchers, mint_ms, maxt_ms))
}

/// When a query was asked for, for the slow-query log.
enum QueryTimes {
    Instant { time_ms: i64 },
    Range { start_ms: i64, end_ms: i64, step_ms: i64 },
}

/// Logs and counts a query that took longer than `server.slow_query_log_seconds`: its
/// text, its times, how long it took and how it ended.
fn log_if_slow(api: &Api, started: std::time::Instant, query: &str, times: QueryTimes, result: &Result<QueryResult, ApiError>) {
    let threshold = api.config.server.slow_query_log_seconds;
    let seconds = started.elapsed().as_secs_f64();
    if threshold <= 0.0 || seconds <= threshold {
        return;
    }
    api.metrics.count_slow_query();
    let outcome = match result {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("{} {}", e.status.as_u16(), e.message),
    };
    let seconds = format_args!("{seconds:.3}");
    match times {
        QueryTimes::Instant { time_ms } => tracing::warn!(query, time_ms, seconds, outcome = %outcome, "slow query"),
        QueryTimes::Range { start_ms, end_ms, step_ms } => {
            tracing::warn!(query, start_ms, end_ms, step_ms, seconds, outcome = %outcome, "slow query")
        }
    }
}

/// Evaluates a range query after Prometheus' checks on end, step and resolution.
/// With `asked.cache`, settled points come from and go to the range-query cache.
pub(super) async fn range_result(
    api: &Api,
    query: &str,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    asked: &Asked,
) -> Result<QueryResult, ApiError> {
    let started = std::time::Instant::now();
    // The checks and evaluation, in a block so that each early answer is logged too.
    let result = async {
        let timeout = asked.timeout;
        if end_ms < start_ms {
            return Err(ApiError::bad_data("invalid parameter \"end\": end timestamp must not be before start time"));
        }
        if step_ms <= 0 {
            return Err(ApiError::bad_data(
                "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        if (end_ms - start_ms) / step_ms > POINTS_PER_SERIES_MAX {
            return Err(ApiError::bad_data(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            ));
        }
        // Registered once the request is valid, as VictoriaMetrics registers at evaluation.
        let _running = api.query_stats.start(query, QueryWindow { start_ms, end_ms, step_ms }, asked.remote_addr);
        let logged = api.query_log.follow_config(&api.scrape_config);
        // A query with its own lookback delta is evaluated apart: the cache holds answers under
        // the server's.
        // A query asking for statistics is evaluated whole too: they describe its evaluation.
        if !asked.cache || asked.lookback_ms.is_some() || asked.stats.wanted() || !api.range_cache.enabled() || !cacheable_query(query) {
            asked.report.span(Duration::ZERO, || {
                let why = if !asked.cache {
                    "nocache=1"
                } else if asked.lookback_ms.is_some() {
                    "the query's own lookback_delta"
                } else if asked.stats.wanted() {
                    "stats asked for"
                } else if !api.range_cache.enabled() {
                    "server.query_cache_mb is 0"
                } else {
                    "the query reads start(), end(), range(), now(), @, a negative offset or other steps"
                };
                format!("range cache: not used ({why})")
            });
            let (prepared, parsed_in) = asked.prepare(logged, || asked.engine(api).prepare_range(query, start_ms, end_ms, step_ms))?;
            return run(api, prepared, parsed_in, &asked.filters, timeout, &asked.report).await;
        }
        // Identical requests in flight (a dashboard opened by several people, panels refreshed
        // together on cold caches) are evaluated once; the others wait for that answer, and
        // evaluate with what is left of their own timeout if it fails.
        let history = api.router.history();
        let key = (cache_text(query, &asked.filters), start_ms, end_ms, step_ms, history.current());
        let timed_out = || ApiError::timeout(format!("query timed out waiting for an identical query's evaluation after {timeout:?}"));
        let report = &asked.report;
        let evaluate = || cached_range_result(api, query, &asked.filters, (start_ms, end_ms, step_ms), timeout.saturating_sub(started.elapsed()), logged, report);
        let (result, answered) = api.range_cache.in_flight.run(key, history.writes_answered(), timeout, timed_out, evaluate).await;
        if answered == Answered::Shared && result.is_ok() {
            api.range_cache.counters.coalesced.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            report.span(started.elapsed(), || "answered by an identical query evaluated at the same time".into());
        }
        result
    }
    .await;
    log_if_slow(api, started, query, QueryTimes::Range { start_ms, end_ms, step_ms }, &result);
    if api.query_log.enabled() {
        log_query(api, query, (start_ms, end_ms, step_ms), &result, &asked.origin);
    }
    result
}

/// What the range-query cache and the in-flight table know a query by: its text, and the
/// read filters it was evaluated under (they change its answer).
fn cache_text(query: &str, filters: &ReadFilters) -> String {
    match filters.key() {
        key if key.is_empty() => query.to_string(),
        key => format!("{query}\n{key}"),
    }
}

/// A range query through the result cache (see `range_cache`): cached settled points are
/// reused, the steps after them evaluated, and the settled part of the answer kept. With
/// the query log on (`logged`) the answer has statistics for it: those of the steps
/// evaluated, or for an answer wholly from the cache no samples and the time it took.
async fn cached_range_result(
    api: &Api,
    query: &str,
    filters: &ReadFilters,
    (start_ms, end_ms, step_ms): (i64, i64, i64),
    timeout: Duration,
    logged: bool,
    report: &QueryReport,
) -> Result<QueryResult, ApiError> {
    let started = std::time::Instant::now();
    let cache = &api.range_cache;
    let cached_as = cache_text(query, filters);
    // Read before evaluating: a change of history during the evaluation makes what is
    // stored below stale at once instead of served.
    let generation = api.router.history().current();
    // `end` need not be on the grid: the request's steps end at `last_step`.
    let last_step = last_step_at_or_before(start_ms, step_ms, end_ms);
    let settled_end = last_step_at_or_before(start_ms, step_ms, settled_before_ms(now_ms())).min(last_step);
    let (cached, evaluate_from) = match cache.lookup(&cached_as, start_ms, step_ms, generation) {
        Lookup::Covered(entry) if entry.end_ms >= last_step => {
            cache.count_use(true);
            let series = slice(entry.series(), start_ms, end_ms);
            let Annotations { warnings, infos } = entry.annotations.clone();
            report.span(started.elapsed(), || format!("range cache: every step from {start_ms} to {last_step} cached; {} series", series.len()));
            let stats = logged.then(|| {
                let mut stats = promql::QueryStats::default();
                stats.timings.exec_total_seconds = started.elapsed().as_secs_f64();
                stats
            });
            return Ok(QueryResult { value: Value::Matrix(series), warnings, infos, stats });
        }
        Lookup::Covered(entry) => {
            cache.count_use(false);
            let from = entry.end_ms + step_ms;
            report.span(started.elapsed(), || format!("range cache: steps from {} to {} cached; evaluating the steps from {from}", entry.start_ms, entry.end_ms));
            (Some(entry), from)
        }
        Lookup::Miss => {
            report.span(started.elapsed(), || "range cache: nothing cached for this query, step and start".into());
            (None, start_ms)
        }
    };
    // The engine prepares (parses, checks) the whole query either way, so errors are the same.
    let prepared = api.engine.prepare_range(query, evaluate_from, end_ms, step_ms).map_err(map_engine_error)?;
    let prepared = if logged { prepared.with_sample_stats() } else { prepared };
    let fresh = run(api, prepared, Duration::ZERO, filters, timeout, report).await?;
    let Value::Matrix(fresh_series) = fresh.value else {
        return Ok(fresh);
    };
    let fresh_stats = fresh.stats;
    let fresh_annotations = Annotations { warnings: fresh.warnings, infos: fresh.infos };
    let mut annotations = cached.as_ref().map(|e| e.annotations.clone()).unwrap_or_default();
    annotations.extend(&fresh_annotations);
    // The settled part is copied out before the fresh series move into the answer.
    let settled_fresh = (settled_end >= evaluate_from).then(|| slice(&fresh_series, evaluate_from, settled_end));
    let answer = match &cached {
        Some(entry) => append_later(slice(entry.series(), start_ms, entry.end_ms), fresh_series),
        None => fresh_series,
    };
    if let Some(settled_fresh) = settled_fresh {
        let (first, series) = match cached {
            Some(entry) => (entry.start_ms, append_later(entry.series().to_vec(), settled_fresh)),
            None => (start_ms, settled_fresh),
        };
        // The steps after the settled edge may have given annotations of their own; kept
        // with the entry too (they can only over-report, never hide one).
        cache.store(&cached_as, step_ms, generation, first..=settled_end, series, annotations.clone());
    }
    let Annotations { warnings, infos } = annotations;
    Ok(QueryResult { value: Value::Matrix(answer), warnings, infos, stats: fresh_stats })
}

/// The server's query timeout, or a shorter one the client asked for.
pub(super) fn bounded_timeout(api: &Api, requested: Option<Duration>) -> Duration {
    let max = Duration::from_secs(api.config.server.query_timeout_seconds);
    requested.map_or(max, |r| r.min(max))
}

pub async fn handle_range(api: &Api, params: &Params, method: &str) -> Result<Response<Bytes>, ApiError> {
    let query = query_text(params)?;
    // Missing ones as VictoriaMetrics defaults them (Prometheus refuses): the last 5 minutes
    // in 5-minute steps.
    let now = now_ms();
    let end_ms = time_param(params, "end", now)?;
    let start_ms = time_param(params, "start", end_ms.saturating_sub(DEFAULT_STEP_MS))?;
    let step_ms = match params.get("step") {
        None | Some("") => DEFAULT_STEP_MS,
        Some(t) => parse_duration_ms(t).map_err(|e| ApiError::bad_data(format!("invalid parameter \"step\": {e}")))?,
    };
    let digits = round_digits(params)?;
    let asked = Asked::from_request(api, params, method, "/api/v1/query_range")?;
    let result = range_result(api, query, start_ms, end_ms, step_ms, &asked).await?;
    let root = |series: usize| format!("/api/v1/query_range: query={query:?}, start={start_ms}, end={end_ms}, step={step_ms}: series={series}");
    Ok(render(rounded(result, digits), limit(params)?, asked.stats, params, &asked.report, root))
}

/// A range query's `step`, and its window before `end`, when the request leaves them out
/// (VictoriaMetrics' `defaultStep`).
const DEFAULT_STEP_MS: i64 = 5 * 60_000;

/// VictoriaMetrics' `round_digits=N`: answer values rounded to N decimal digits (negative:
/// to tens, hundreds…); `None` when absent or out of ±100.
fn round_digits(params: &Params) -> Result<Option<i32>, ApiError> {
    match params.get("round_digits") {
        None | Some("") => Ok(None),
        Some(text) => match text.parse::<i32>() {
            Ok(n) if n.abs() < 100 => Ok(Some(n)),
            Ok(_) => Ok(None),
            Err(_) => Err(ApiError::bad_data(format!("invalid parameter \"round_digits\": {text:?} is not an integer"))),
        },
    }
}

/// `result` with every float value rounded to `digits` decimal digits, as VictoriaMetrics
/// rounds (half away from zero at that digit); histograms and strings as they are. `None`:
/// `result` unchanged.
fn rounded(mut result: QueryResult, digits: Option<i32>) -> QueryResult {
    let Some(digits) = digits else {
        return result;
    };
    let scale = 10f64.powi(digits);
    let round = |v: &mut f64| *v = (*v * scale).round() / scale;
    match &mut result.value {
        Value::Scalar { value, .. } => round(value),
        Value::String { .. } => {}
        Value::Vector(samples) => samples.iter_mut().filter(|s| s.histogram.is_none()).for_each(|s| round(&mut s.value)),
        Value::Matrix(series) => series.iter_mut().flat_map(|s| s.samples.iter_mut()).for_each(|p| round(&mut p.value)),
    }
    result
}

fn map_engine_error(error: promql::Error) -> ApiError {
    match error {
        promql::Error::Parse(e) => ApiError::bad_data(format!("invalid parameter \"query\": {e}")),
        promql::Error::Cancelled => ApiError::timeout("query timed out in expression evaluation"),
        other => ApiError::execution(other.to_string()),
    }
}

/// One of the `server.max_concurrent_queries` slots, waited for until `deadline`; past it a
/// 503 saying that `what` (a query, a render) timed out after `timeout`.
pub(super) async fn query_slot(api: &Api, what: &str, deadline: std::time::Instant, timeout: Duration) -> Result<glommio::sync::StaticPermit, ApiError> {
    match future::or(async { Some(api.query_slots.acquire_static_permit(1).await) }, none_at(deadline)).await {
        Some(Ok(permit)) => Ok(permit),
        Some(Err(_)) => Err(ApiError::unavailable("query slots closed: the server is shutting down")),
        None => Err(ApiError::timeout(format!(
            "{what} timed out waiting for one of the {} concurrent query slots after {timeout:?}",
            api.config.server.max_concurrent_queries
        ))),
    }
}

/// Nothing, at `deadline`: the losing side of a race against it.
pub(super) async fn none_at<T>(deadline: std::time::Instant) -> Option<T> {
    glommio::timer::sleep(deadline.saturating_duration_since(std::time::Instant::now())).await;
    None
}

/// Waits (bounded by `timeout`) for a query slot, fetches every select from the shards,
/// then evaluates in the executor's blocking pool, so a long evaluation never stalls this
/// executor's I/O (ingestion keeps flowing); at the deadline evaluation is cancelled. Each
/// select is confined to the series `filters` allow. A query prepared with sample statistics
/// gets its timings here (`parsed_in`: how long preparing it took).
async fn run(api: &Api, prepared: promql::PreparedQuery, parsed_in: Duration, filters: &ReadFilters, timeout: Duration, report: &QueryReport) -> Result<QueryResult, ApiError> {
    let started = std::time::Instant::now();
    let deadline = started + timeout;
    let slot = query_slot(api, "query", deadline, timeout).await?;
    let written = ActiveQueryWritten::new(api.active_queries.clone(), prepared.query());
    let queued_in = started.elapsed();
    report.span(queued_in, || "wait for a query slot".into());
    let selects: Vec<Select> = prepared
        .selects()
        .into_iter()
        .map(|s| Select { matchers: s.matchers, mint_ms: s.mint_ms, maxt_ms: s.maxt_ms, last_only: s.last_only })
        .collect();
    let fetch = async { Some(PrefetchedQuerier::fetch(&api.router, selects, filters.alternatives(), api.config.server.max_samples_per_query, api.config.storage.dedup_interval_ms()).await) };
    let querier = match future::or(fetch, none_at(deadline)).await {
        Some(result) => result?,
        None => return Err(ApiError::timeout(format!("query timed out in fetching series after {timeout:?}"))),
    };
    let fetched_in = started.elapsed() - queued_in;
    let (series_max, largest) = (api.config.server.max_series_per_select, querier.largest_select());
    if series_max > 0 && largest > series_max {
        return Err(ApiError::execution(format!(
            "a selector of the query selects {largest} series, more than server.max_series_per_select ({series_max}) allows: narrow it with more label matchers"
        )));
    }
    let series_fetched = querier.series_fetched();
    report.add_series_fetched(series_fetched);
    report.span(fetched_in, || format!("fetch from {} shards: {series_fetched} series, at least {} samples", api.router.shard_count(), querier.samples_loaded()));
    let cancel = Arc::new(AtomicBool::new(false));
    // If this future is dropped (the client went away), the evaluation stops too.
    let _cancel_on_drop = CancelOnDrop(cancel.clone());
    let flag = cancel.clone();
    let evaluation_started = std::time::Instant::now();
    let evaluation = glommio::executor().spawn_blocking(move || {
        crate::thread_priority::lower_evaluation_thread_priority();
        // A panic in evaluation (a bug) fails this query alone, with a 500.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| prepared.execute_cancellable(&querier, &flag))).map_err(|_| ());
        let big = querier.samples_loaded() >= RELEASE_MEMORY_AFTER_SAMPLES;
        drop(querier);
        if big {
            crate::allocator::release_thread_free_memory();
        }
        result
    });
    // The query's slot and its `queries.active` entry are held until the evaluation has
    // stopped, not only while its request waits: a client that goes away, or a query past its
    // timeout, leaves an evaluation running until its next step sees the flag, and it still
    // counts against `server.max_concurrent_queries` (as Prometheus' query stays tracked until
    // its engine returns).
    let evaluation = glommio::spawn_local(async move {
        let result = evaluation.await;
        drop((slot, written));
        result
    })
    .detach();
    // None only if the executor dropped the task (it is shutting down).
    let evaluation = async { Some(evaluation.await.unwrap_or(Err(()))) };
    match future::or(evaluation, none_at(deadline)).await {
        Some(Ok(result)) => result.map_err(map_engine_error).map(|mut result| {
            report.span(evaluation_started.elapsed(), || {
                let (series, points) = series_and_points(&result.value);
                format!("evaluate: {series} series, {points} points")
            });
            let timings = &api.query_timings;
            timings.observe(Slice::QueueTime, queued_in.as_secs_f64());
            timings.observe(Slice::PrepareTime, (parsed_in + fetched_in).as_secs_f64());
            timings.observe(Slice::InnerEval, evaluation_started.elapsed().as_secs_f64());
            if let Some(stats) = &result.stats {
                timings.observe(Slice::ResultSort, stats.timings.result_sort_seconds);
            }
            if let Some(stats) = &mut result.stats {
                let t = &mut stats.timings;
                // As Prometheus' timers: preparation (here parse and fetch) and evaluation inside
                // the evaluation total, the queue wait and all of it inside the execution total.
                t.query_preparation_seconds = (parsed_in + fetched_in).as_secs_f64();
                t.exec_queue_seconds = queued_in.as_secs_f64();
                t.exec_total_seconds = (parsed_in + started.elapsed()).as_secs_f64();
                t.eval_total_seconds = t.exec_total_seconds - t.exec_queue_seconds;
            }
            result
        }),
        Some(Err(())) => Err(ApiError::internal("the query's evaluation failed on an internal error (its thread panicked; the log has the details)")),
        None => {
            // The evaluation thread sees the flag at its next step and drops its data.
            cancel.store(true, Ordering::Relaxed);
            Err(ApiError::timeout(format!("query timed out in expression evaluation after {timeout:?}")))
        }
    }
}

/// A query that loaded at least this many samples hands its evaluation thread's freed
/// memory back to the OS when it is done (the pool thread may then stay idle for long).
const RELEASE_MEMORY_AFTER_SAMPLES: usize = 1_000_000;

/// Raises the evaluation's cancel flag when dropped.
pub(super) struct CancelOnDrop(pub(super) Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A running query's entry in `queries.active`, wiped when dropped (its evaluation ended,
/// failed or was never started).
struct ActiveQueryWritten(Option<(Arc<ActiveQueriesFile>, Slot)>);

impl ActiveQueryWritten {
    fn new(file: Option<Arc<ActiveQueriesFile>>, query: &str) -> ActiveQueryWritten {
        ActiveQueryWritten(file.and_then(|file| {
            let slot = file.insert(query, now_ms().div_euclid(1000))?;
            Some((file, slot))
        }))
    }
}

impl Drop for ActiveQueryWritten {
    fn drop(&mut self) {
        if let Some((file, slot)) = self.0.take() {
            file.remove(slot);
        }
    }
}

/// Series and points (samples and histograms) in a query's value; a scalar or string is one
/// series of one point.
fn series_and_points(value: &Value) -> (usize, usize) {
    match value {
        Value::Scalar { .. } | Value::String { .. } => (1, 1),
        Value::Vector(samples) => (samples.len(), samples.len()),
        Value::Matrix(series) => (series.len(), series.iter().map(|s| s.samples.len() + s.histograms.len()).sum()),
    }
}

/// The answer's JSON, with VictoriaMetrics' `stats` and trace from `report` (the trace's root
/// message made by `root` from the series in the answer).
fn render(result: QueryResult, limit: usize, stats: StatsAsked, params: &Params, report: &QueryReport, root: impl FnOnce(usize) -> String) -> Response<Bytes> {
    let started = std::time::Instant::now();
    let (series, points) = series_and_points(&result.value);
    let mut data = String::with_capacity(256);
    let mut warnings = result.warnings;
    warnings.extend(query_statistics::deprecation_warning(params));
    match result.value {
        Value::Scalar { timestamp_ms, value } => {
            data.push_str("{\"resultType\":\"scalar\",\"result\":");
            json::push_point(&mut data, timestamp_ms, value);
        }
        Value::String { timestamp_ms, value } => {
            data.push_str("{\"resultType\":\"string\",\"result\":[");
            json::push_timestamp(&mut data, timestamp_ms);
            data.push(',');
            json::push_json_string(&mut data, &value);
            data.push(']');
        }
        Value::Vector(samples) => {
            data.push_str("{\"resultType\":\"vector\",\"result\":[");
            let total = samples.len();
            for (i, s) in samples.iter().enumerate().take(if limit > 0 { limit } else { usize::MAX }) {
                if i > 0 {
                    data.push(',');
                }
                data.push_str("{\"metric\":");
                json::push_labels(&mut data, &s.labels);
                match &s.histogram {
                    Some(h) => {
                        data.push_str(",\"histogram\":");
                        json::push_histogram_point(&mut data, s.timestamp_ms, h);
                    }
                    None => {
                        data.push_str(",\"value\":");
                        json::push_point(&mut data, s.timestamp_ms, s.value);
                    }
                }
                data.push('}');
            }
            data.push(']');
            if limit > 0 && total > limit {
                warnings.push("results truncated due to limit".to_string());
            }
        }
        Value::Matrix(series) => {
            data.push_str("{\"resultType\":\"matrix\",\"result\":[");
            let total = series.len();
            for (i, s) in series.iter().enumerate().take(if limit > 0 { limit } else { usize::MAX }) {
                if i > 0 {
                    data.push(',');
                }
                data.push_str("{\"metric\":");
                json::push_labels(&mut data, &s.labels);
                // As Prometheus: `values` and `histograms` each only when the series has some.
                if !s.samples.is_empty() || s.histograms.is_empty() {
                    data.push_str(",\"values\":[");
                    for (j, p) in s.samples.iter().enumerate() {
                        if j > 0 {
                            data.push(',');
                        }
                        json::push_point(&mut data, p.timestamp_ms, p.value);
                    }
                    data.push(']');
                }
                if !s.histograms.is_empty() {
                    data.push_str(",\"histograms\":[");
                    for (j, p) in s.histograms.iter().enumerate() {
                        if j > 0 {
                            data.push(',');
                        }
                        json::push_histogram_point(&mut data, p.timestamp_ms, &p.histogram);
                    }
                    data.push(']');
                }
                data.push('}');
            }
            data.push(']');
            if limit > 0 && total > limit {
                warnings.push("results truncated due to limit".to_string());
            }
        }
    }
    if let Some(query_stats) = result.stats.as_ref().filter(|_| stats.wanted()) {
        data.push(',');
        query_statistics::push_stats(&mut data, query_stats, stats);
    }
    data.push('}');
    let warnings = at_most_annotations(warnings, "warning");
    let infos = at_most_annotations(result.infos, "info");
    let envelope = json::success(&data, &warnings, &infos);
    let bytes = envelope.len();
    let writing = (started.elapsed(), move || format!("write the answer: {series} series, {points} points, {bytes} bytes"));
    json_response(http::StatusCode::OK, report.finish_envelope(envelope, || root(series), writing))
}

/// Warnings or infos an answer lists, as Prometheus' API caps them: the first ten, then one
/// line counting the rest.
const ANNOTATIONS_PER_KIND_MAX: usize = 10;

fn at_most_annotations(mut all: Vec<String>, kind: &str) -> Vec<String> {
    if all.len() > ANNOTATIONS_PER_KIND_MAX {
        let omitted = all.len() - ANNOTATIONS_PER_KIND_MAX;
        all.truncate(ANNOTATIONS_PER_KIND_MAX);
        all.push(format!("{omitted} more {kind} annotations omitted"));
    }
    all
}

#[cfg(test)]
mod tests {
    use super::at_most_annotations;

    #[test]
    fn annotations_are_capped_at_ten_per_kind_with_a_count_of_the_rest() {
        let few: Vec<String> = (0..10).map(|i| format!("w{i}")).collect();
        assert_eq!(at_most_annotations(few.clone(), "warning"), few);
        let many: Vec<String> = (0..13).map(|i| format!("i{i}")).collect();
        let capped = at_most_annotations(many, "info");
        assert_eq!(capped.len(), 11);
        assert_eq!(capped[9], "i9");
        assert_eq!(capped[10], "3 more info annotations omitted");
    }
}
