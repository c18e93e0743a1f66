//! `/render` (Graphite's render API: JSON, csv or raw) and `/functions`: targets are evaluated by the
//! `graphite` crate on a thread of their own; this module serves that thread's fetches (the
//! raw samples each path glob or `seriesByTag` asks for) from the shards, under the
//! request's read filters.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_lite::future;
use graphite::{EvalConfig, FetchRequest, FetchSpec, Fetcher, RawSeries};
use http::{Response, StatusCode};
use tsdb::SeriesSamples;

use super::super::params::{now_ms, Params};
use super::super::query::{bounded_timeout, none_at, query_slot, CancelOnDrop};
use super::super::read_filters::ReadFilters;
use super::super::{Api, ApiError};
use super::{answer, json, jsonp_param, time_param};
use crate::shard::messages::Select;

/// VictoriaMetrics' `-search.graphiteStorageStep`: the interval raw samples are laid on when
/// the request names no `storage_step`.
const STORAGE_STEP_MS_DEFAULT: i64 = 10_000;

/// VictoriaMetrics' `-search.graphiteMaxPointsPerSeries`.
const POINTS_PER_SERIES_MAX: usize = 1_000_000;

/// The render API's default range: the last day (graphite-web's `from=-24h`).
const RANGE_MS_DEFAULT: i64 = 24 * 3_600_000;

/// Fetches from the shards for one render; the first storage error is kept whole (its
/// status and message) for the answer, as the evaluator only sees that a fetch failed. All
/// fetches of one request share `server.max_samples_per_query`, as one PromQL query's
/// selects do, so functions that fetch again (timeShift, aliasQuery, applyByNode, …) cannot
/// load it many times over.
struct StoreFetcher<'a> {
    api: &'a Api,
    filters: ReadFilters,
    failure: RefCell<Option<ApiError>>,
    samples_left: Cell<usize>,
}

impl StoreFetcher<'_> {
    /// One fetch's series, or the message of its failure (the first failure kept whole).
    async fn fetch(&self, request: FetchRequest) -> Result<Vec<RawSeries>, String> {
        self.fetch_series(request).await.map_err(|e| {
            let message = e.message.clone();
            self.failure.borrow_mut().get_or_insert(e);
            message
        })
    }

    async fn fetch_series(&self, request: FetchRequest) -> Result<Vec<RawSeries>, ApiError> {
        let matchers = match &request.spec {
            FetchSpec::Path(glob) => vec![promql::graphite_glob::name_matcher(glob, false).map_err(|e| ApiError::bad_data(format!("invalid path {glob:?}: {e}")))?],
            FetchSpec::Tags(exprs) => super::tags::matchers_of(exprs)?,
        };
        // The shards unite the read filters' alternatives: a series matching two is loaded
        // and counted against the sample limit once.
        let select = Select::all(matchers, request.from_ms, request.until_ms);
        let results = self.api.router.select_decoded(vec![select], self.filters.alternatives(), self.samples_left.get()).await?;
        let mut found: Vec<SeriesSamples> = results.into_iter().flatten().collect();
        let loaded: usize = found.iter().map(|s| s.samples.len()).sum();
        self.samples_left.set(self.samples_left.get().saturating_sub(loaded));
        // In name order, as graphite-web lists the series a path names.
        found.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(found
            .into_iter()
            .filter_map(|series| {
                let samples: Vec<_> = series.samples.iter().filter(|s| !tsdb::is_stale_nan(s.value)).collect();
                (!samples.is_empty()).then(|| RawSeries {
                    labels: series.labels.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect(),
                    timestamps_ms: samples.iter().map(|s| s.timestamp_ms).collect(),
                    values: samples.iter().map(|s| s.value).collect(),
                })
            })
            .collect())
    }
}

/// Stack of a render's evaluation thread. Evaluation recurses once per nesting level, up to
/// graphite's limit of 64; a debug build takes about 80 KiB a level (a 2 MiB thread
/// overflowed at about 26). Only the pages touched are ever backed by memory.
const EVALUATION_STACK_BYTES: usize = 16 << 20;

/// A fetch the evaluation thread asks the executor for, and where the answer goes.
type FetchAsked = (FetchRequest, async_channel::Sender<Result<Vec<RawSeries>, String>>);

/// What the evaluation thread hands back: the series, or the evaluator's error; `Err(())`
/// if evaluation panicked (a bug).
type Evaluated = Result<Result<Vec<graphite::Series>, graphite::Error>, ()>;

/// The evaluation thread's side: each fetch goes to the executor serving the request (the
/// shards are reached from there), and the request's cancel flag is what `cancelled` says.
struct ForwardingFetcher {
    asks: async_channel::Sender<FetchAsked>,
    cancel: Arc<AtomicBool>,
}

impl Fetcher for ForwardingFetcher {
    fn fetch<'a>(&'a self, request: FetchRequest) -> Pin<Box<dyn Future<Output = Result<Vec<RawSeries>, graphite::Error>> + 'a>> {
        Box::pin(async move {
            let given_up = || graphite::Error::Fetch("the render was given up".to_string());
            let (reply, answer) = async_channel::bounded(1);
            self.asks.send((request, reply)).await.map_err(|_| given_up())?;
            answer.recv().await.map_err(|_| given_up())?.map_err(graphite::Error::Fetch)
        })
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// Starts evaluating `targets` on a thread of its own (unpinned, at the evaluation threads'
/// lower priority, with a stack for the deepest target), so a long render never stalls the
/// executor's I/O, as PromQL evaluates in the blocking pool. Its own thread rather than a
/// pool thread because a render waits on the executor for every fetch, which would hold a
/// pool thread PromQL evaluations need. The answer arrives on the returned channel.
fn start_evaluation(targets: Vec<String>, config: EvalConfig, fetcher: ForwardingFetcher) -> Result<async_channel::Receiver<Evaluated>, ApiError> {
    let (done, finished) = async_channel::bounded(1);
    std::thread::Builder::new()
        .name("metricstor-render".to_string())
        .stack_size(EVALUATION_STACK_BYTES)
        .spawn(move || {
            crate::thread_priority::leave_executor_cpu();
            crate::thread_priority::lower_evaluation_thread_priority();
            let evaluated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| future::block_on(graphite::render(&targets, &config, &fetcher)))).map_err(|_| ());
            // Closes the executor's side of the fetch channel before the answer is sent.
            drop(fetcher);
            let _ = done.try_send(evaluated);
        })
        .map_err(|e| ApiError::unavailable(format!("cannot start a thread to evaluate the render: {e}")))?;
    Ok(finished)
}

/// graphite-web's answer formats this server writes.
#[derive(Clone, Copy)]
enum Format {
    Json,
    Csv,
    Raw,
}

/// `/render?target=…&from=…&until=…&format=json|csv|raw`: every target's series as
/// graphite-web writes them (JSON: `[{"target","tags","datapoints":[[value,seconds],…]}]`).
/// A render takes one of the query slots PromQL queries take and stops at the server's query
/// timeout, as VictoriaMetrics bounds it by `-search.maxQueryDuration`.
pub(super) async fn handle_render(api: &Api, params: &Params) -> Result<Response<Bytes>, ApiError> {
    let format = match params.get("format") {
        None | Some("" | "json") => Format::Json,
        Some("csv") => Format::Csv,
        Some("raw") => Format::Raw,
        Some(other) => return Err(ApiError::bad_data(format!("invalid parameter \"format\": {other:?}; expected \"json\", \"csv\" or \"raw\""))),
    };
    let targets: Vec<String> = params.all("target").filter(|t| !t.trim().is_empty()).map(str::to_string).collect();
    let jsonp = jsonp_param(params)?;
    let now = now_ms();
    let from_ms = time_param(params, "from", now, now - RANGE_MS_DEFAULT)?;
    let until_ms = time_param(params, "until", now, now)?;
    let storage_step_ms = match params.get("storage_step") {
        None | Some("") => STORAGE_STEP_MS_DEFAULT,
        Some(text) => super::super::params::parse_duration_ms(text).ok().filter(|ms| *ms > 0).ok_or_else(|| ApiError::bad_data(format!("invalid parameter \"storage_step\": {text:?} is not a positive duration")))?,
    };
    let x_files_factor = match params.get("xFilesFactor") {
        None | Some("") => 0.0,
        Some(text) => text.parse::<f64>().ok().filter(|f| (0.0..=1.0).contains(f)).ok_or_else(|| ApiError::bad_data(format!("invalid parameter \"xFilesFactor\": {text:?} is not a number from 0 to 1")))?,
    };
    let max_data_points = match params.get("maxDataPoints") {
        None | Some("") => None,
        Some(text) => Some(text.parse::<f64>().ok().filter(|n| *n >= 1.0 && n.is_finite()).map(|n| n as usize).ok_or_else(|| ApiError::bad_data(format!("invalid parameter \"maxDataPoints\": {text:?} is not a positive number")))?),
    };
    let config = EvalConfig { from_ms, until_ms, now_ms: now, storage_step_ms, x_files_factor, max_data_points, max_points_per_series: POINTS_PER_SERIES_MAX };
    let fetcher = StoreFetcher { api, filters: ReadFilters::from_params(params)?, failure: RefCell::new(None), samples_left: Cell::new(api.config.server.max_samples_per_query) };
    let timeout = bounded_timeout(api, None);
    let deadline = Instant::now() + timeout;
    let slot = query_slot(api, "render", deadline, timeout).await?;
    let cancel = Arc::new(AtomicBool::new(false));
    // If this future is dropped (the client went away), the evaluation stops too.
    let _cancel_on_drop = CancelOnDrop(cancel.clone());
    let (asks, asked) = async_channel::unbounded::<FetchAsked>();
    let finished = start_evaluation(targets, config, ForwardingFetcher { asks, cancel: cancel.clone() })?;
    // The slot is held until the evaluation thread has stopped, as a PromQL evaluation holds
    // its: a render past its deadline counts against `server.max_concurrent_queries` until
    // its next check of the cancel flag.
    let finished = glommio::spawn_local(async move {
        let evaluated = finished.recv().await;
        drop(slot);
        evaluated
    })
    .detach();
    let served = async {
        while let Ok((request, reply)) = asked.recv().await {
            let _ = reply.try_send(fetcher.fetch(request).await);
        }
        Some(finished.await)
    };
    let series = match future::or(served, none_at(deadline)).await {
        Some(Some(Ok(Ok(Ok(series))))) => series,
        Some(Some(Ok(Ok(Err(e))))) => return Err(fetcher.failure.into_inner().unwrap_or_else(|| ApiError::bad_data(e.to_string()))),
        Some(_) => return Err(ApiError::internal("the render's evaluation failed on an internal error (its thread panicked; the log has the details)")),
        None => {
            cancel.store(true, Ordering::Relaxed);
            return Err(ApiError::timeout(format!("render timed out after {timeout:?}")));
        }
    };
    Ok(match format {
        Format::Json => json(StatusCode::OK, graphite::render_json(&series, None), jsonp),
        Format::Csv => answer(StatusCode::OK, graphite::render_csv(&series), "text/csv"),
        Format::Raw => answer(StatusCode::OK, graphite::render_raw(&series), "text/plain; charset=utf-8"),
    })
}


/// `/functions/<name>`: one function's entry of `/functions`, or a 404 naming it.
pub(super) fn handle_function(name: &str) -> Result<Response<Bytes>, ApiError> {
    let all: serde_json::Value = serde_json::from_str(&graphite::functions_json()).map_err(|e| ApiError::internal(format!("cannot read the function list: {e}")))?;
    match all.get(name) {
        Some(entry) => Ok(json(StatusCode::OK, entry.to_string(), None)),
        None => Err(ApiError::no_such(format!("unknown Graphite function {name:?}"))),
    }
}
