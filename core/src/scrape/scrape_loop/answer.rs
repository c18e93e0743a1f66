//! Asking a target and reading its answer: the GET (with the job's `Accept` header and
//! scrape timeout header), and the body read by its Content-Type (text, OpenMetrics or
//! protobuf; classic histograms converted with `convert_classic_histograms_to_nhcb`).

use std::time::Duration;

use crate::scrape::config::{HistogramScraping, Url};
use crate::scrape::discovery::Target;
use crate::scrape::http_get::Get;
use crate::scrape::protobuf::NativeHistogramLine;
use crate::scrape::start_timestamps::LineStarts;
use super::series_cache::SeriesCache;

/// The format of a scraped body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus' text format.
    Text,
    /// OpenMetrics text, rewritten into the text format by `openmetrics::to_text`, whose
    /// `# UNIT` lines and own types (`gaugehistogram`, `info`, `stateset`) count and whose
    /// sample lines may end with an exemplar (`scrape::exemplar`). The protobuf format's
    /// metadata and exemplars are rewritten as such too (`protobuf::to_text`).
    OpenMetrics,
}

/// A target's answer as the scrape loop reads it: text-format lines (OpenMetrics and
/// protobuf answers rewritten) and a protobuf answer's native histograms.
#[derive(Debug)]
pub struct Answer {
    pub text: Vec<u8>,
    pub format: Format,
    pub histograms: Vec<NativeHistogramLine>,
}

/// Where the target is scraped.
pub(super) fn target_location(target: &Target) -> Url {
    Url { scheme: target.scheme, host: target.host.clone(), port: target.port, path_and_query: target.path_and_query.clone() }
}

/// The target's answer's `Content-Type` and body (decompressed), or why there is none (as
/// Prometheus words scrape errors).
pub(super) async fn fetch(client: &mut net::client::HttpClient, target: &Target) -> Result<(String, Vec<u8>), String> {
    if let Some(error) = &target.unreachable {
        return Err(format!("Get {:?}: {error}", target.url));
    }
    let job = &target.job;
    let timeout = Duration::from_millis(target.timeout_ms as u64);
    let started = std::time::Instant::now();
    let mut headers = job.access.request_headers(&job.accept, Some(("X-Prometheus-Scrape-Timeout-Seconds", target.timeout_ms)), timeout).await?;
    if !job.enable_compression {
        headers.push(("Accept-Encoding".to_string(), "identity".to_string()));
    }
    // An OAuth2 token asked now takes its time out of the scrape's.
    let timeout = timeout.checked_sub(started.elapsed()).filter(|left| !left.is_zero()).ok_or_else(|| format!("Get {:?}: timeout after {timeout:?} while getting credentials", target.url))?;
    let location = target_location(target);
    let get = Get { client, url: &location, shown: &target.url, headers: &headers, timeout, body_bytes_max: job.body_bytes_max, access: &job.access };
    let response = crate::scrape::http_get::get(get).await?;
    if !(200..300).contains(&response.status) {
        return Err(crate::scrape::http_get::status_error(response.status));
    }
    let content_type = response.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    Ok((content_type, response.body))
}

/// The answer of a fetched body (`read_answer`, with its start timestamps when `read_starts`)
/// and the body's size for `scrape_body_size_bytes`, which Prometheus reports whether or not
/// the body parses (-1 when it was over `body_size_limit`, 0 without one).
pub(super) fn answer_of(fetched: Result<(String, Vec<u8>), String>, job: &crate::scrape::config::ScrapeJob, histograms: HistogramScraping, read_starts: bool) -> (Result<(Answer, LineStarts), String>, f64) {
    match fetched {
        // A panic reading the body (a bug) fails this scrape alone.
        Ok((content_type, body)) => {
            let size = body.len() as f64;
            (std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_answer(&content_type, body, job, histograms, read_starts))).unwrap_or_else(|_| Err(INTERNAL_ERROR.to_string())), size)
        }
        Err(error) if error == crate::scrape::http_get::BODY_SIZE_LIMIT_EXCEEDED => (Err(error), -1.0),
        Err(error) => (Err(error), 0.0),
    }
}

/// `fresh` knowing the series of `old`'s last successful scrape: the cache a scrape that
/// panicked (a bug) left half done is let go, and the failure still marks those series stale.
pub(super) fn fresh_after_panic(old: SeriesCache, mut fresh: SeriesCache) -> SeriesCache {
    fresh.inherit(old.into_handover());
    fresh
}

/// A scrape's error when reading its answer panicked (the log has the panic).
pub(super) const INTERNAL_ERROR: &str = "internal error reading the answer (the log has the details)";

/// Reads a body by its media type as Prometheus picks its parser (parameters are not
/// looked at): `application/vnd.google.protobuf` the protobuf format,
/// `application/openmetrics-text` OpenMetrics, `text/plain` the text format. Without a
/// Content-Type, or with another one, the job's `fallback_scrape_protocol` decides, the text
/// format when it is unset (Prometheus 3 fails such a scrape instead; VictoriaMetrics reads
/// the text format, as here). With `read_starts` (`storage.start_timestamp_zero_ingestion`)
/// the start timestamps of a protobuf or OpenMetrics answer are read too, an OpenMetrics
/// answer's `_created` lines then giving starts instead of series; the text format has none.
/// `histograms` are the target's choices (`Target::histograms`).
pub(super) fn read_answer(content_type: &str, body: Vec<u8>, job: &crate::scrape::config::ScrapeJob, histograms: HistogramScraping, read_starts: bool) -> Result<(Answer, LineStarts), String> {
    use crate::scrape::config::AnswerFormat;
    let media_type = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let format = match media_type.as_str() {
        "application/vnd.google.protobuf" => AnswerFormat::Protobuf,
        "application/openmetrics-text" => AnswerFormat::OpenMetrics,
        "text/plain" => AnswerFormat::Text,
        _ => job.fallback_format,
    };
    let (answer, starts) = match format {
        AnswerFormat::Text => (Answer { text: body, format: Format::Text, histograms: Vec::new() }, LineStarts::default()),
        AnswerFormat::OpenMetrics if read_starts => {
            let (text, starts) = crate::scrape::openmetrics::to_text_with_starts(&body)?;
            (Answer { text, format: Format::OpenMetrics, histograms: Vec::new() }, starts)
        }
        AnswerFormat::OpenMetrics => (Answer { text: crate::scrape::openmetrics::to_text(&body)?, format: Format::OpenMetrics, histograms: Vec::new() }, LineStarts::default()),
        AnswerFormat::Protobuf => {
            // Classic histograms to convert come as classic series (as Prometheus' parser
            // gives them to its converter) unless native ones replace them.
            let options = crate::scrape::protobuf::ProtobufOptions { native_histograms: histograms.native, classic_histograms_too: histograms.classic_too || histograms.convert_nhcb, utf8_names: job.utf8_names, exemplars: true };
            let exposition = if read_starts { crate::scrape::protobuf::to_text_with_starts(&body, options)? } else { crate::scrape::protobuf::to_text(&body, options)? };
            (Answer { text: exposition.text, format: Format::OpenMetrics, histograms: exposition.histograms }, exposition.starts)
        }
    };
    if histograms.convert_nhcb {
        return crate::scrape::nhcb::convert_with_starts(answer, &starts, histograms.classic_too, format == AnswerFormat::Protobuf);
    }
    Ok((answer, starts))
}
