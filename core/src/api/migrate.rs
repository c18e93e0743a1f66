//! Migration endpoints: `/api/v1/export` (VictoriaMetrics-compatible JSON lines for every
//! series matching `match[]` within `start`/`end`, streamed page by page), and what every
//! import shares: batch sizes, the line limit, and feeding a body to the import as it
//! arrives, decoded a step at a time when it is compressed (the imports themselves:
//! `line_import`, `csv`, `vm_native`).
use std::collections::BTreeMap;

use bytes::Bytes;
use http::{header, Response};
use tsdb::{Labels, SeriesSamples};

use super::labels::{filtered_match_sets, window};
use super::body_encoding::{DecodeFailure, StreamDecoder};
use super::params::Params;
use super::{Api, ApiError};
use crate::ingest::{json_lines, DecodeError};
use crate::shard::messages::Select;

/// Series sent to the shards per append during an import, so one request never builds one
/// enormous batch.
pub const IMPORT_BATCH_SERIES_MAX: usize = 5_000;
/// Samples sent to the shards per append during an import (a text import of one series, or
/// a JSON line holding a long history, is one series).
pub const IMPORT_BATCH_SAMPLES_MAX: usize = 200_000;
/// Bytes one import line may hold; a longer line is refused (400) rather than buffered.
pub const IMPORT_LINE_BYTES_MAX: usize = 64 << 20;

/// First window an export reads (the smallest); it then doubles while pages stay well under
/// `EXPORT_PAGE_SAMPLES` and halves after one over it.
const EXPORT_WINDOW_MIN_MS: i64 = 60_000;
const EXPORT_WINDOW_INITIAL_MS: i64 = EXPORT_WINDOW_MIN_MS;
const EXPORT_WINDOW_MAX_MS: i64 = 7 * 24 * 3_600_000;
/// Samples one export page aims to hold in memory.
pub const EXPORT_PAGE_SAMPLES: usize = 500_000;
/// Bytes of an export (JSON lines, CSV, native frames) per chunk handed to the connection.
const EXPORT_CHUNK_BYTES: usize = 64 * 1024;
/// Chunks queued between the export task and the connection (the backpressure bound).
const EXPORT_CHUNKS_IN_FLIGHT: usize = 4;

/// `/api/v1/export`: streams JSON lines while it reads, one time window at a time, so memory
/// stays near `EXPORT_PAGE_SAMPLES` whatever the export's size. A series spanning several
/// windows appears on several lines (as VictoriaMetrics' export does; its import and ours
/// merge them).
///
/// As in VictoriaMetrics, `format=prometheus` writes the text format instead (a line per
/// sample, as `/api/v1/import/prometheus` reads it), `format=promapi` one Prometheus API
/// answer (a matrix, streamed like the lines; staleness markers left out, as the query API
/// never shows them), and `max_rows_per_line=N` splits a series' samples over lines (or
/// matrix entries) of at most N.
pub async fn handle_export(api: &Api, params: &Params) -> Result<Response<Bytes>, ApiError> {
    let max_rows = match params.get("max_rows_per_line").filter(|t| !t.is_empty()) {
        None => 0,
        Some(text) => text.parse::<i64>().map_err(|_| ApiError::bad_data(format!("invalid parameter \"max_rows_per_line\": {text:?} is not an integer")))?.max(0) as usize,
    };
    let (content_type, write_series): (&'static str, fn(&mut String, &SeriesSamples)) = match params.get("format").unwrap_or("") {
        "" | "json" => ("application/stream+json", json_lines::write_line),
        "prometheus" => ("text/plain; charset=utf-8", crate::ingest::text_format::write_lines),
        "promapi" => {
            let first = std::cell::Cell::new(true);
            let write_entry = move |out: &mut String, series: &SeriesSamples| {
                if !first.replace(false) {
                    out.push(',');
                }
                write_promapi_entry(out, series);
            };
            let (sets, w) = (export_match_sets(params)?, window(params)?);
            let (head, tail) = (PROMAPI_HEAD.to_string(), PROMAPI_TAIL.to_string());
            return stream_series(api, sets, (w.mint_ms, w.maxt_ms), "application/json", head, tail, move |out, series| {
                let live: Vec<tsdb::Sample> = series.samples.iter().filter(|s| s.value.to_bits() != tsdb::STALE_NAN_BITS).copied().collect();
                if !live.is_empty() {
                    let series = SeriesSamples { labels: series.labels.clone(), samples: live, histograms: Vec::new(), starts: None };
                    write_in_lines_of(out, &series, max_rows, &write_entry);
                }
            })
            .await;
        }
        other => {
            return Err(ApiError::bad_data(format!(
                "invalid parameter \"format\": {other:?}; /api/v1/export writes JSON lines (no format), the text format (format=prometheus) or a Prometheus API answer (format=promapi); CSV is /api/v1/export/csv, the native format /api/v1/export/native"
            )))
        }
    };
    stream_export(api, params, content_type, move |out, series| write_in_lines_of(out, series, max_rows, &write_series)).await
}

/// What a `format=promapi` export starts and ends with around its matrix entries.
const PROMAPI_HEAD: &str = r#"{"status":"success","data":{"resultType":"matrix","result":["#;
const PROMAPI_TAIL: &str = "]}}";

/// One matrix entry, `{"metric":{…},"values":[[seconds,"value"],…]}`, as the query API
/// writes it.
fn write_promapi_entry(out: &mut String, series: &SeriesSamples) {
    out.push_str("{\"metric\":");
    super::json::push_labels(out, &series.labels);
    out.push_str(",\"values\":[");
    for (i, sample) in series.samples.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        super::json::push_point(out, sample.timestamp_ms, sample.value);
    }
    out.push_str("]}");
}

/// Writes `series` with `write_series`, its samples split over several series of at most
/// `max_rows` each (0: one).
fn write_in_lines_of(out: &mut String, series: &SeriesSamples, max_rows: usize, write_series: &dyn Fn(&mut String, &SeriesSamples)) {
    if max_rows == 0 || series.samples.len() <= max_rows {
        return write_series(out, series);
    }
    for part in series.samples.chunks(max_rows) {
        write_series(out, &SeriesSamples { labels: series.labels.clone(), samples: part.to_vec(), histograms: Vec::new(), starts: None });
    }
}

/// Streams every series `match[]` selects within `start`/`end` as `content_type` text, page
/// by page, `write_series` turning each into lines: `/api/v1/export` (JSON lines) and
/// `/api/v1/export/csv` share the selection and the paging.
pub(super) async fn stream_export(
    api: &Api,
    params: &Params,
    content_type: &'static str,
    write_series: impl Fn(&mut String, &SeriesSamples) + 'static,
) -> Result<Response<Bytes>, ApiError> {
    let sets = export_match_sets(params)?;
    let w = window(params)?;
    stream_series(api, sets, (w.mint_ms, w.maxt_ms), content_type, String::new(), String::new(), write_series).await
}

/// An export's `match[]` selectors (at least one is required), read filters enforced.
pub(super) fn export_match_sets(params: &Params) -> Result<Vec<Vec<tsdb::Matcher>>, ApiError> {
    filtered_match_sets(params, Some("missing match[] parameter"))
}

/// Streams every series `sets` select within `[mint_ms, maxt_ms]` as `content_type`, page by
/// page: `head` first and `tail` last (both sent even when nothing matches; `tail` not after
/// a storage error), and between them `write_series`' output for each series, text or bytes
/// (`/api/v1/export/native` writes binary frames).
pub(super) async fn stream_series<B: Default + AsRef<[u8]> + Into<Bytes> + 'static>(
    api: &Api,
    sets: Vec<Vec<tsdb::Matcher>>,
    (mint_ms, maxt_ms): (i64, i64),
    content_type: &'static str,
    head: B,
    tail: B,
    write_series: impl Fn(&mut B, &SeriesSamples) + 'static,
) -> Result<Response<Bytes>, ApiError> {
    // Clamp the asked window to the data, so an export without start/end pages only over
    // time that holds samples.
    let nothing = || Bytes::from([head.as_ref(), tail.as_ref()].concat());
    let Some((first_ms, last_ms)) = api.router.time_range().await? else {
        return Ok(export_response(content_type, None, nothing()));
    };
    let (mint_ms, maxt_ms) = (mint_ms.max(first_ms), maxt_ms.min(last_ms));
    if mint_ms > maxt_ms {
        return Ok(export_response(content_type, None, nothing()));
    }
    let (chunks, body) = net::BodyStream::channel(EXPORT_CHUNKS_IN_FLIGHT);
    let router = api.router.clone();
    glommio::spawn_local(async move {
        if !head.as_ref().is_empty() && chunks.send(Ok(head.into())).await.is_err() {
            return;
        }
        match export_pages(&router, &sets, mint_ms, maxt_ms, &chunks, &write_series).await {
            Ok(()) if !tail.as_ref().is_empty() => {
                let _ = chunks.send(Ok(tail.into())).await;
            }
            Ok(()) => {}
            Err(message) => {
                let _ = chunks.send(Err(message)).await;
            }
        }
    })
    .detach();
    Ok(export_response(content_type, Some(body), Bytes::new()))
}

/// The response: `head` as the whole body, or `body` streamed.
fn export_response(content_type: &'static str, body: Option<net::BodyStream>, head: Bytes) -> Response<Bytes> {
    let mut response = Response::new(head);
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    if let Some(body) = body {
        response.extensions_mut().insert(body);
    }
    response
}

/// Reads `[mint_ms, maxt_ms]` window by window, gathering series until about
/// `EXPORT_PAGE_SAMPLES` are held, then writes them out (an export that fits in one page has
/// one line per series). Stops quietly when the client has gone (the channel is closed); a
/// storage error is returned for the stream.
async fn export_pages<B: Default + AsRef<[u8]> + Into<Bytes>>(
    router: &crate::shard::ShardRouter,
    sets: &[Vec<tsdb::Matcher>],
    mint_ms: i64,
    maxt_ms: i64,
    chunks: &async_channel::Sender<Result<Bytes, String>>,
    write_series: &impl Fn(&mut B, &SeriesSamples),
) -> Result<(), String> {
    let mut window_ms = EXPORT_WINDOW_INITIAL_MS;
    let mut from_ms = mint_ms;
    // Several match[] may select the same series, and a series recurs in every window:
    // each is kept once, its windows appended in time order.
    let mut held: BTreeMap<Labels, Vec<tsdb::Sample>> = BTreeMap::new();
    let mut held_samples = 0usize;
    loop {
        let to_ms = from_ms.saturating_add(window_ms - 1).min(maxt_ms);
        let selects: Vec<Select> = sets.iter().map(|m| Select::all(m.clone(), from_ms, to_ms)).collect();
        let results = router.select_decoded(selects, &[], usize::MAX).await.map_err(|e| format!("export failed reading the shards: {e}"))?;
        let mut loaded = 0usize;
        let mut seen_this_window: std::collections::HashSet<Labels> = std::collections::HashSet::new();
        for series in results.into_iter().flatten() {
            // The JSON-lines format has no native histograms: a series of only those is left out.
            if series.samples.is_empty() || !seen_this_window.insert(series.labels.clone()) {
                continue;
            }
            loaded += series.samples.len();
            held.entry(series.labels).or_default().extend(series.samples);
        }
        held_samples += loaded;
        let last = to_ms >= maxt_ms;
        if (held_samples >= EXPORT_PAGE_SAMPLES || last) && !send_lines(std::mem::take(&mut held), chunks, write_series).await {
            return Ok(());
        }
        if held.is_empty() {
            held_samples = 0;
        }
        if last {
            return Ok(());
        }
        window_ms = next_window_ms(window_ms, loaded);
        from_ms = to_ms + 1;
    }
}

/// Writes `series` with `write_series` in chunks; false once the client has gone.
async fn send_lines<B: Default + AsRef<[u8]> + Into<Bytes>>(
    series: BTreeMap<Labels, Vec<tsdb::Sample>>,
    chunks: &async_channel::Sender<Result<Bytes, String>>,
    write_series: &impl Fn(&mut B, &SeriesSamples),
) -> bool {
    let mut pending = B::default();
    for (labels, samples) in series {
        write_series(&mut pending, &SeriesSamples { labels, samples, histograms: Vec::new(), starts: None });
        if pending.as_ref().len() >= EXPORT_CHUNK_BYTES && chunks.send(Ok(std::mem::take(&mut pending).into())).await.is_err() {
            return false;
        }
    }
    pending.as_ref().is_empty() || chunks.send(Ok(pending.into())).await.is_ok()
}

/// The next window: halved after a page over budget, doubled after a sparse one.
fn next_window_ms(window_ms: i64, loaded: usize) -> i64 {
    if loaded > EXPORT_PAGE_SAMPLES {
        (window_ms / 2).max(EXPORT_WINDOW_MIN_MS)
    } else if loaded < EXPORT_PAGE_SAMPLES / 4 {
        window_ms.saturating_mul(2).min(EXPORT_WINDOW_MAX_MS)
    } else {
        window_ms
    }
}


/// Why a streamed import (`line_import`, `vm_native`) stops before the end of its body: its
/// format's own `Problem` (a bad line, a malformed block), a compressed body that does not
/// decode, a body that fails, or a write the shards refused.
pub(super) enum StreamStop<Problem> {
    Problem(Problem),
    Decode(DecodeFailure),
    Body(String),
    Store(ApiError),
}

impl<Problem> From<ApiError> for StreamStop<Problem> {
    fn from(error: ApiError) -> Self {
        StreamStop::Store(error)
    }
}

/// An import fed its body's bytes as they arrive, decoded (`drive_import`).
pub(super) trait StreamedImport {
    type Problem;
    /// Takes the next bytes of the (decoded) body.
    async fn take_chunk(&mut self, chunk: &[u8]) -> Result<(), StreamStop<Self::Problem>>;
    /// The body ended.
    async fn take_end(&mut self) -> Result<(), StreamStop<Self::Problem>>;
    /// Stores everything taken and waits until it has landed.
    async fn finish(&mut self) -> Result<(), StreamStop<Self::Problem>>;
    /// The answer to an import stopped by `stop` (not a refused write), after storing what
    /// came before it.
    async fn refuse(self, stop: StreamStop<Self::Problem>) -> ApiError;
}

/// Feeds `body` to `import` as it arrives (through `decoder` a step at a time when the body
/// is compressed, so a small chunk cannot inflate to much at once) and answers: 204 once
/// all of it is stored, the shards' error for a refused write, otherwise
/// `StreamedImport::refuse`.
pub(super) async fn drive_import<I: StreamedImport>(
    mut import: I,
    mut body: net::RequestBody,
    mut decoder: Option<StreamDecoder>,
) -> Result<Response<Bytes>, ApiError> {
    let outcome = loop {
        let step = match (body.next_chunk().await, &mut decoder) {
            (Some(Ok(chunk)), None) => import.take_chunk(&chunk).await,
            (Some(Ok(chunk)), Some(decoder)) => take_decoded(&mut import, decoder, &chunk).await,
            (Some(Err(error)), _) => Err(StreamStop::Body(error.to_string())),
            (None, None) => break import.take_end().await,
            (None, Some(decoder)) => match decoder.finish() {
                Ok(()) => match hand_decoded(&mut import, decoder).await {
                    Ok(()) => break import.take_end().await,
                    Err(stop) => Err(stop),
                },
                Err(failure) => Err(StreamStop::Decode(failure)),
            },
        };
        if let Err(stop) = step {
            break Err(stop);
        }
    };
    let outcome = match outcome {
        Ok(()) => import.finish().await,
        Err(stop) => Err(stop),
    };
    match outcome {
        Ok(()) => {
            let mut response = Response::new(Bytes::new());
            *response.status_mut() = http::StatusCode::NO_CONTENT;
            Ok(response)
        }
        Err(StreamStop::Store(error)) => Err(error),
        Err(stop) => Err(import.refuse(stop).await),
    }
}

/// Decodes `chunk` step by step, handing `import` what each step decoded.
async fn take_decoded<I: StreamedImport>(import: &mut I, decoder: &mut StreamDecoder, mut chunk: &[u8]) -> Result<(), StreamStop<I::Problem>> {
    while !chunk.is_empty() {
        let taken = decoder.decode_step(chunk).map_err(StreamStop::Decode)?;
        chunk = &chunk[taken..];
        hand_decoded(import, decoder).await?;
    }
    Ok(())
}

/// Hands `import` the bytes `decoder` holds and empties it (keeping its allocation).
async fn hand_decoded<I: StreamedImport>(import: &mut I, decoder: &mut StreamDecoder) -> Result<(), StreamStop<I::Problem>> {
    let plain = decoder.take_decoded();
    let taken = if plain.is_empty() { Ok(()) } else { import.take_chunk(&plain).await };
    decoder.recycle(plain);
    taken
}

/// Why an import stopped early: a line that does not parse, or a compressed body that does
/// not decode.
pub(super) enum ImportStop {
    Line(DecodeError),
    Decode(DecodeFailure),
}

/// Decodes `input` (the next piece of a compressed body) and hands the decoded bytes to
/// `out` step by step.
pub(super) fn decode_into(decoder: &mut StreamDecoder, mut input: &[u8], out: &mut dyn FnMut(&[u8]) -> Result<(), DecodeError>) -> Result<(), ImportStop> {
    while !input.is_empty() {
        let taken = decoder.decode_step(input).map_err(ImportStop::Decode)?;
        input = &input[taken..];
        hand_on(decoder, out)?;
    }
    Ok(())
}

/// Ends a compressed body: what the decoder still holds goes to `out`; a body that stops
/// inside a member or frame is an error.
pub(super) fn decode_end(decoder: &mut StreamDecoder, out: &mut dyn FnMut(&[u8]) -> Result<(), DecodeError>) -> Result<(), ImportStop> {
    decoder.finish().map_err(ImportStop::Decode)?;
    hand_on(decoder, out)
}

/// Passes the decoder's output on and empties it (keeping its allocation).
fn hand_on(decoder: &mut StreamDecoder, out: &mut dyn FnMut(&[u8]) -> Result<(), DecodeError>) -> Result<(), ImportStop> {
    let plain = decoder.take_decoded();
    let result = if plain.is_empty() { Ok(()) } else { out(&plain).map_err(ImportStop::Line) };
    decoder.recycle(plain);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_adapt_to_the_page_budget() {
        assert_eq!(next_window_ms(4 * EXPORT_WINDOW_MIN_MS, EXPORT_PAGE_SAMPLES * 3), 2 * EXPORT_WINDOW_MIN_MS);
        assert_eq!(next_window_ms(EXPORT_WINDOW_INITIAL_MS, 0), EXPORT_WINDOW_INITIAL_MS * 2);
        assert_eq!(next_window_ms(EXPORT_WINDOW_INITIAL_MS, EXPORT_PAGE_SAMPLES / 2), EXPORT_WINDOW_INITIAL_MS);
        assert_eq!(next_window_ms(EXPORT_WINDOW_MIN_MS, usize::MAX), EXPORT_WINDOW_MIN_MS);
        assert_eq!(next_window_ms(EXPORT_WINDOW_MAX_MS, 0), EXPORT_WINDOW_MAX_MS);
    }
}
