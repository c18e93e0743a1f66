//! `POST /api/v1/write`: remote_write 1.0 and 2.0. Acknowledges (204) only after every
//! owning shard has committed its part to the WAL; the 2.0 written-count headers on every 2xx
//! (exemplars: those stored; invalid or out-of-order ones are skipped and counted, as
//! Prometheus does, never a 400).
//! While a shard's write queue is full, writes get 429 before their body is decoded.

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};

use super::{Api, ApiError};
use crate::ingest::decode_request;

pub const SAMPLES_WRITTEN_HEADER: &str = "x-prometheus-remote-write-samples-written";
pub const HISTOGRAMS_WRITTEN_HEADER: &str = "x-prometheus-remote-write-histograms-written";
pub const EXEMPLARS_WRITTEN_HEADER: &str = "x-prometheus-remote-write-exemplars-written";

pub async fn handle_write(api: &Api, request: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
    // Under overload, refuse before decompressing and decoding: decoding requests that the
    // full queues would refuse anyway took the cores from the shards that drain them (with
    // 1000 senders, 95% of requests were refused and goodput fell to 3%).
    if let Some(shard) = api.router.full_shard() {
        return Err(crate::shard::SubmitError::QueueFull { shard }.into());
    }
    let extra_labels = api.extra_labels(request.uri().query())?;
    let header_text = |name| request.headers().get(name).and_then(|v: &header::HeaderValue| v.to_str().ok());
    let (_protocol, mut decoded) = decode_request(
        header_text(header::CONTENT_TYPE),
        header_text(header::CONTENT_ENCODING),
        request.body(),
        &api.config.storage.ingest_rules(),
    )
    .map_err(|e| if e.is_unsupported_media() { ApiError::unsupported_media(e.to_string()) } else { ApiError::bad_data(e.to_string()) })?;
    api.metrics.add_exemplars_dropped(decoded.exemplars_dropped);
    if !decoded.metadata.is_empty() {
        api.router.put_metadata(decoded.metadata);
    }
    decoded.series = super::extra_labels::apply_to_batch(decoded.series, &extra_labels, &api.config.storage.ingest_rules().label_limits)?;
    let (sent_samples, sent_histograms) = (decoded.samples, decoded.histograms);
    let (stored, exemplars) = if decoded.series.is_empty() { (0, 0) } else { append_counted(api, decoded.series).await? };
    // The shards count histograms as samples. All stored: the split is what was sent; some
    // refused (a float and a histogram at one timestamp): floats are counted first.
    let samples = stored.min(sent_samples);
    let histograms = (stored - samples).min(sent_histograms);
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(SAMPLES_WRITTEN_HEADER, header::HeaderValue::from(samples));
    headers.insert(HISTOGRAMS_WRITTEN_HEADER, header::HeaderValue::from(histograms));
    headers.insert(EXEMPLARS_WRITTEN_HEADER, header::HeaderValue::from(exemplars));
    Ok(response)
}

/// Whether `path` is a remote_write receiver: Prometheus' `/api/v1/write`, or
/// `/api/v1/push`, VictoriaMetrics' other name for it.
pub fn is_remote_write_path(path: &str) -> bool {
    path == "/api/v1/write" || path == "/api/v1/push"
}

/// Whether a query string asks `get_vm_proto_version` (vmagent's handshake: any non-empty
/// value, as VictoriaMetrics checks it).
pub fn asks_vm_proto_version(query: Option<&str>) -> bool {
    super::params::Params::from_request(query, None).is_ok_and(|p| p.get("get_vm_proto_version").is_some_and(|v| !v.is_empty()))
}

/// Appends a validated batch to its owning shards and counts the samples and exemplars
/// stored (exemplars the shards refused count as dropped); under the series limit the part
/// stored before the refusal is counted too. Every write path (remote_write, OTLP) ends
/// here, so they map errors alike.
pub(crate) async fn append_counted(api: &Api, series: tsdb::SeriesBatch) -> Result<(u64, u64), ApiError> {
    append_submitted(api, series).await.map_err(ApiError::from)
}

/// `append_counted` with the shards' own error, for callers that tell refusals apart.
pub(crate) async fn append_submitted(api: &Api, series: tsdb::SeriesBatch) -> Result<(u64, u64), crate::shard::SubmitError> {
    match api.router.append_with_exemplars(series).await {
        Ok((stored, exemplars)) => {
            api.metrics.add_samples_ingested(stored);
            api.metrics.add_exemplars_dropped(exemplars.refused);
            Ok((stored, exemplars.stored))
        }
        Err(error) => {
            api.metrics.add_samples_ingested(error.samples_appended());
            Err(error)
        }
    }
}

/// Writes of one import sent and not yet landed, at most: a shard that has appended its part
/// of one batch finds the next queued instead of idling until every shard has, and a group
/// commit takes several. Measured (40M samples, 2 cores, bench/RESULTS.md "session 28"):
/// 1 → 3 (with the native import's parallel decoding) took the native import from
/// 7.5–8.0 s to 6.8–7.4 s and JSON lines from 9.4–9.8 s to 7.5–8.9 s, for 20–50 MiB more
/// peak RSS; 4 held ~100 MiB more than 3 during a JSON import (the allocator keeps the
/// freed batches' pages a while).
pub const IMPORT_WRITES_IN_FLIGHT_MAX: usize = 3;

/// The writes of an import still landing while the importer reads on: the next batch is
/// decoded while the shards append those before. Each write hands every shard its part
/// when started, and writes start in order, so each shard's queue gets an import's batches
/// in order. After a write failed, none is started (those already sent may still land).
#[derive(Default)]
pub(super) struct Landing<'a> {
    in_flight: std::collections::VecDeque<LandingWrite<'a>>,
    /// The first failure of a write waited for, kept until `landed` reports it.
    failed: Option<ApiError>,
    /// Samples the writes left out for their times (`append_imported`).
    outside: OutsideBounds,
}

/// Samples an import's writes left out because the store refused their times (older than
/// the retention, or too far ahead of the clock), as (too old, too new), summed over them.
#[derive(Clone, Debug, Default)]
pub(super) struct OutsideBounds(std::rc::Rc<std::cell::Cell<(u64, u64)>>);

/// Stores one write of an import, as `append_counted`, and returns the samples stored. Samples
/// outside the store's time bounds do not fail it: they are added to `outside`, so that the
/// import goes on with its other samples (history older than the retention, say, ahead of
/// recent data) and answers for them at its end (`Landing::landed`).
pub(super) async fn append_imported(api: &Api, batch: tsdb::SeriesBatch, outside: &OutsideBounds) -> Result<u64, ApiError> {
    match append_submitted(api, batch).await {
        Ok((stored, _)) => Ok(stored),
        Err(crate::shard::SubmitError::OutsideTimeBounds { too_old, too_new, appended }) => {
            let (old, new) = outside.0.get();
            outside.0.set((old + too_old, new + too_new));
            Ok(appended)
        }
        Err(error) => Err(error.into()),
    }
}

/// A write started by `Landing::start`.
type LandingWrite<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ApiError>> + 'a>>;

impl<'a> Landing<'a> {
    /// Starts `write` once fewer than `IMPORT_WRITES_IN_FLIGHT_MAX` are in flight (waiting
    /// for the oldest; a failure of any write waited for is this call's): polled once, which
    /// hands every shard its part; `landed` or later calls wait for the shards' answers.
    pub(super) async fn start(&mut self, write: impl std::future::Future<Output = Result<(), ApiError>> + 'a) -> Result<(), ApiError> {
        while self.in_flight.len() >= IMPORT_WRITES_IN_FLIGHT_MAX {
            self.land_oldest().await;
        }
        if let Some(error) = self.failed.take() {
            return Err(error);
        }
        let mut write = Box::pin(write);
        match futures_lite::future::poll_once(&mut write).await {
            Some(result) => result,
            None => {
                self.in_flight.push_back(write);
                Ok(())
            }
        }
    }

    /// Where the writes started here count the samples left out for their times.
    pub(super) fn outside_bounds(&self) -> OutsideBounds {
        self.outside.clone()
    }

    /// Waits until every write started is appended: the first failure, if any, else a 400
    /// counting the samples left out for their times, if any.
    pub(super) async fn landed(&mut self) -> Result<(), ApiError> {
        while !self.in_flight.is_empty() {
            self.land_oldest().await;
        }
        if let Some(error) = self.failed.take() {
            return Err(error);
        }
        match self.outside.0.get() {
            (0, 0) => Ok(()),
            (too_old, too_new) => Err(ApiError::bad_data(format!(
                "{}; the import's other samples were stored",
                crate::shard::router::outside_time_bounds(too_old, too_new)
            ))),
        }
    }

    async fn land_oldest(&mut self) {
        if let Some(write) = self.in_flight.pop_front() {
            if let Err(error) = write.await {
                self.failed.get_or_insert(error);
            }
        }
    }
}
