//! `/federate`: the newest sample of every series selected by one or more `match[]`
//! selectors, in the Prometheus text format (0.0.4), for a Prometheus (or any scraper) that
//! federates from Metricstor as it would from a Prometheus or VictoriaMetrics server.
//!
//! Semantics follow Prometheus' federation handler:
//! - the newest sample at or before now, within the lookback delta
//!   (`server.lookback_delta_seconds`), with its own timestamp;
//! - a series whose newest sample is a staleness marker is left out (the text format cannot
//!   carry one);
//! - several `match[]` are a union, each series once; series are grouped by metric name,
//!   one `# TYPE <name> untyped` line per name; series without a name are left out;
//! - labels with an empty value are not written, and a series without an `instance` label
//!   gets `instance=""`, so a scraper with `honor_labels: true` keeps it without one.
//!
//! Unlike Prometheus, a request without `match[]` is an error (400) rather than an empty
//! answer: it can never select anything, so it is a mistake in the scrape configuration.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{header, Response};
use tsdb::{Labels, Sample, METRIC_NAME_LABEL};

use super::labels::filtered_match_sets;
use super::params::{now_ms, Params};
use super::{Api, ApiError};
use crate::shard::messages::Select;

/// The content type of the text exposition format this endpoint writes.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn handle_federate(api: &Api, params: &Params) -> Result<Response<Bytes>, ApiError> {
    let sets = filtered_match_sets(params, Some("missing match[] parameter: federation needs at least one series selector"))?;
    let maxt_ms = now_ms();
    let mint_ms = maxt_ms.saturating_sub(api.config.server.lookback_delta_ms());
    let selects: Vec<Select> = sets.into_iter().map(|m| Select { last_only: true, ..Select::all(m, mint_ms, maxt_ms) }).collect();
    let results = api.router.select_decoded(selects, &[], api.config.server.max_samples_per_query).await?;
    // Union of the selectors, each series once, in label order.
    let mut newest: BTreeMap<Labels, Sample> = BTreeMap::new();
    for series in results.into_iter().flatten() {
        // The text format has no native histograms: a series whose newest sample is one is
        // left out (not answered with an older float).
        let newest_histogram_ms = series.histograms.last().map(|h| h.timestamp_ms);
        if let Some(last) = series.samples.last().filter(|s| newest_histogram_ms.is_none_or(|h| h < s.timestamp_ms)) {
            newest.entry(series.labels).or_insert(*last);
        }
    }
    let mut body = String::new();
    write_text(&mut body, newest.iter().map(|(labels, sample)| (labels, *sample)));
    let mut response = Response::new(Bytes::from(body));
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(TEXT_FORMAT));
    Ok(response)
}

/// Writes `series` (in label order) as the text format, grouped by metric name.
fn write_text<'a>(out: &mut String, series: impl Iterator<Item = (&'a Labels, Sample)>) {
    let mut by_name: Vec<(&str, &Labels, Sample)> = series
        .filter(|(_, sample)| !tsdb::is_stale_nan(sample.value))
        .filter_map(|(labels, sample)| Some((labels.metric_name().filter(|n| !n.is_empty())?, labels, sample)))
        .collect();
    // Stable: within a name, series keep their label order.
    by_name.sort_by(|a, b| a.0.cmp(b.0));
    let mut current: Option<&str> = None;
    for (name, labels, sample) in by_name {
        if current != Some(name) {
            out.push_str("# TYPE ");
            out.push_str(name);
            out.push_str(" untyped\n");
            current = Some(name);
        }
        out.push_str(name);
        out.push('{');
        let mut has_instance = false;
        let mut first = true;
        for label in labels.iter().filter(|l| l.name != METRIC_NAME_LABEL && !l.value.is_empty()) {
            has_instance |= label.name == "instance";
            push_label(out, &mut first, label.name, label.value);
        }
        if !has_instance {
            push_label(out, &mut first, "instance", "");
        }
        out.push_str("} ");
        promql::format::push_go_float(out, sample.value);
        out.push(' ');
        out.push_str(&sample.timestamp_ms.to_string());
        out.push('\n');
    }
}

/// Appends `name="value"` (with a separating comma after the first), the value escaped as
/// the text format requires: backslash, double quote and line feed.
fn push_label(out: &mut String, first: &mut bool, name: &str, value: &str) {
    if !std::mem::take(first) {
        out.push(',');
    }
    out.push_str(name);
    out.push_str("=\"");
    crate::ingest::text_format::push_escaped_label_value(out, value);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn groups_by_name_escapes_values_and_adds_an_empty_instance() {
        let a = series(&[("__name__", "b_metric"), ("job", "x"), ("instance", "h:1")]);
        let b = series(&[("__name__", "a_metric"), ("path", "C:\\dir \"q\"\nnext"), ("empty", "")]);
        let c = series(&[("__name__", "b_metric"), ("job", "w")]);
        let stale = series(&[("__name__", "a_metric"), ("job", "gone")]);
        let nameless = series(&[("job", "nameless")]);
        let sample = |t: i64, v: f64| Sample { timestamp_ms: t, value: v };
        let mut sorted = [
            (&a, sample(1_000, 1.5)),
            (&b, sample(2_000, f64::INFINITY)),
            (&c, sample(3_000, -2.0)),
            (&stale, sample(4_000, f64::from_bits(tsdb::STALE_NAN_BITS))),
            (&nameless, sample(5_000, 1.0)),
        ];
        sorted.sort_by(|x, y| x.0.cmp(y.0));
        let mut out = String::new();
        write_text(&mut out, sorted.into_iter());
        assert_eq!(
            out,
            "# TYPE a_metric untyped\n\
             a_metric{path=\"C:\\\\dir \\\"q\\\"\\nnext\",instance=\"\"} +Inf 2000\n\
             # TYPE b_metric untyped\n\
             b_metric{instance=\"h:1\",job=\"x\"} 1.5 1000\n\
             b_metric{job=\"w\",instance=\"\"} -2 3000\n"
        );
    }
}
