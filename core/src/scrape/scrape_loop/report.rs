//! What each scrape reports about itself: `up`, `scrape_duration_seconds` and the other
//! report series (with `extra_scrape_metrics` three more), the cause counted for a failed
//! scrape, and Prometheus 3's `scrape_failure_log_file` lines.

use tsdb::{Labels, Sample, METRIC_NAME_LABEL};

use crate::scrape::discovery::Target;
use super::series_cache::{BUCKET_LIMIT_EXCEEDED, LABEL_LIMIT_ERRORS, SAMPLE_LIMIT_EXCEEDED};

/// Which limit a failed scrape's `error` names, if any (for the per-job counts).
pub(super) fn failure_cause(error: &str) -> crate::scrape::status::ScrapeFailure {
    use crate::scrape::status::ScrapeFailure;
    if error.starts_with(SAMPLE_LIMIT_EXCEEDED) {
        ScrapeFailure::SampleLimit
    } else if error == crate::scrape::http_get::BODY_SIZE_LIMIT_EXCEEDED {
        ScrapeFailure::BodySizeLimit
    } else if LABEL_LIMIT_ERRORS.iter().any(|start| error.starts_with(start)) {
        ScrapeFailure::LabelLimits
    } else if error == BUCKET_LIMIT_EXCEEDED {
        ScrapeFailure::BucketLimit
    } else {
        ScrapeFailure::Other
    }
}

/// The names of the series Prometheus writes about each scrape.
const REPORT_NAMES: [&str; 5] = ["up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling", "scrape_series_added"];
/// Those it writes too with `extra_scrape_metrics`.
const EXTRA_REPORT_NAMES: [&str; 3] = ["scrape_timeout_seconds", "scrape_sample_limit", "scrape_body_size_bytes"];

/// Those VictoriaMetrics writes for a target with a series limit (`series_limit`).
const SERIES_LIMIT_REPORT_NAMES: [&str; 3] = ["scrape_series_limit", "scrape_series_current", "scrape_series_limit_samples_dropped"];

/// The labels of those series (the extra ones when the job asks for them, then the series
/// limit's when the target has one): the target's (and the external labels it lacks).
pub(super) fn report_labels(target: &Target, external: &[(String, String)]) -> Vec<Labels> {
    let extra: &[&str] = if target.job.extra_scrape_metrics { &EXTRA_REPORT_NAMES } else { &[] };
    let limited: &[&str] = if target.series_limit > 0 { &SERIES_LIMIT_REPORT_NAMES } else { &[] };
    REPORT_NAMES.iter().chain(extra).chain(limited).map(|name| {
        let mut pairs: Vec<(String, String)> = target.labels.clone();
        for (n, v) in external {
            if !pairs.iter().any(|(p, _)| p == n) {
                pairs.push((n.clone(), v.clone()));
            }
        }
        pairs.push((METRIC_NAME_LABEL.to_string(), name.to_string()));
        Labels::from_pairs(pairs)
    })
    .collect()
}

/// The report series at `at_ms`: each of `labels` with its value of `values` (the extra
/// series' values last).
pub(super) fn report_series<'a>(labels: &'a [Labels], at_ms: i64, values: &'a [f64]) -> impl Iterator<Item = (Labels, Sample)> + 'a {
    labels.iter().zip(values).map(move |(l, &value)| (l.clone(), Sample { timestamp_ms: at_ms, value }))
}

/// The values of the report series of one scrape: `up`, its duration, the samples scraped
/// and kept, the series added; with `extra_scrape_metrics` the timeout, the sample limit and
/// the body's size (0 without a body, -1 when it was over `body_size_limit`, as Prometheus).
pub(super) fn report_values(target: &Target, basic: [f64; 5], body_bytes: f64) -> Vec<f64> {
    let mut values = basic.to_vec();
    if target.job.extra_scrape_metrics {
        values.extend([target.timeout_ms as f64 / 1000.0, target.job.sample_limit as f64, body_bytes]);
    }
    values
}

/// Appends a failed scrape to `file` as Prometheus 3's `scrape_failure_log_file` holds them:
/// one JSON object per line with `time`, `level`, `msg` (the error) and `target` (the URL).
/// A file that cannot be written is logged and the scrape goes on.
pub(super) fn log_failure(file: &std::path::Path, url: &str, error: &str, at_ms: i64) {
    let line = serde_json::json!({"time": crate::api::status::rfc3339(at_ms), "level": "ERROR", "msg": error, "target": url}).to_string() + "\n";
    let written = std::fs::OpenOptions::new().create(true).append(true).open(file).and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
    if let Err(e) = written {
        tracing::warn!(file = %file.display(), error = %e, "cannot append to scrape_failure_log_file");
    }
}
