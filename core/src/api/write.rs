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

/// Appends a validated batch to its owning shards and counts the samples and exemplars
/// stored (exemplars the shards refused count as dropped); under the series limit the part
/// stored before the refusal is counted too. Every write path (remote_write, OTLP) ends
/// here, so they map errors alike.
pub(super) async fn append_counted(api: &Api, series: tsdb::SeriesBatch) -> Result<(u64, u64), ApiError> {
    match api.router.append_with_exemplars(series).await {
        Ok((stored, exemplars)) => {
            api.metrics.add_samples_ingested(stored);
            api.metrics.add_exemplars_dropped(exemplars.refused);
            Ok((stored, exemplars.stored))
        }
        Err(error) => {
            if let crate::shard::SubmitError::SeriesLimit { appended, .. } = error {
                api.metrics.add_samples_ingested(appended);
            }
            Err(error.into())
        }
    }
}

/// The one write of an import still landing while the importer reads on: the next batch
/// is decoded while the shards append the one before, and a batch is sent only once the one
/// before it has landed, so each shard gets an import's batches in order.
#[derive(Default)]
pub(super) struct Landing<'a> {
    in_flight: Option<LandingWrite<'a>>,
}

/// A write started by `Landing::start`.
type LandingWrite<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), ApiError>> + 'a>>;

impl<'a> Landing<'a> {
    /// Waits for the write before (its error, if any, is this call's), then starts `write`:
    /// polled once, which hands every shard its part; `landed` or the next `start` waits for
    /// the shards' answers.
    pub(super) async fn start(&mut self, write: impl std::future::Future<Output = Result<(), ApiError>> + 'a) -> Result<(), ApiError> {
        self.landed().await?;
        let mut write = Box::pin(write);
        match futures_lite::future::poll_once(&mut write).await {
            Some(result) => result,
            None => {
                self.in_flight = Some(write);
                Ok(())
            }
        }
    }

    /// Waits until the write started last (if any) is appended.
    pub(super) async fn landed(&mut self) -> Result<(), ApiError> {
        match self.in_flight.take() {
            Some(write) => write.await,
            None => Ok(()),
        }
    }
}
