//! `/federate`: the newest sample of every series selected by one or more `match[]`
//! selectors, in the Prometheus text format (0.0.4), for a Prometheus (or any scraper) that
//! federates from Metricstor as it would from a Prometheus or VictoriaMetrics server.
//! Semantics follow Prometheus' federation handler, except that a request without `match[]`
//! is a 400 (see `handle_federate`).

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{header, Response};
use tsdb::{Labels, Sample, METRIC_NAME_LABEL};

use super::labels::filtered_match_sets;
use super::params::{now_ms, Params};
use crate::ingest::text_format::is_legacy_metric_name;
use super::{Api, ApiError};
use crate::shard::messages::Select;

/// The content type of the text exposition format this endpoint writes (with the
/// `escaping=` of its names after it, as Prometheus 3 answers).
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How a metric or label name outside the legacy rules `[a-zA-Z_:][a-zA-Z0-9_:]*` (a UTF-8
/// name, as OTLP's `NoUTF8EscapingWithSuffixes` stores them) is written: Prometheus' escaping
/// schemes, as the `Accept` header's `escaping=` asks (`Underscores` by default), or with
/// `AllowUtf8` quoted, as Prometheus 3's `expfmt` encoder writes it. Escaping can make two
/// names one, as there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameEscaping {
    /// Each character outside the rules becomes `_`.
    Underscores,
    /// `_` doubled, `.` as `_dot_`, others as `__`.
    Dots,
    /// `U__`, `_` doubled, others as `_<hex code point>_`.
    Values,
    /// Kept and quoted (text format 1.0.0).
    AllowUtf8,
}

impl NameEscaping {
    /// The `escaping=` a scraper's `Accept` header asks for, as prometheus/common's
    /// `NegotiateAccept` reads it: media ranges by falling `q`, the last known `escaping=`
    /// seen up to the first `text/plain` one (the format served here) counts; underscores
    /// when none does.
    pub fn from_accept(accept: &str) -> NameEscaping {
        let q_of = |range: &str| range.split(';').skip(1).filter_map(|p| p.split_once('=')).find(|(k, _)| k.trim() == "q").and_then(|(_, v)| v.trim().parse::<f64>().ok()).unwrap_or(1.0);
        let mut ranges: Vec<&str> = accept.split(',').filter(|r| !r.trim().is_empty()).collect();
        ranges.sort_by(|a, b| q_of(b).total_cmp(&q_of(a)));
        let mut escaping = NameEscaping::Underscores;
        for range in ranges {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("");
            for (key, value) in parts.filter_map(|p| p.split_once('=')) {
                if key.trim().eq_ignore_ascii_case("escaping") {
                    escaping = match value.trim() {
                        "allow-utf-8" => NameEscaping::AllowUtf8,
                        "underscores" => NameEscaping::Underscores,
                        "dots" => NameEscaping::Dots,
                        "values" => NameEscaping::Values,
                        _ => escaping,
                    };
                }
            }
            if media.eq_ignore_ascii_case("text/plain") {
                break;
            }
        }
        escaping
    }

    /// Its name in an `escaping=` parameter.
    fn name(self) -> &'static str {
        match self {
            NameEscaping::Underscores => "underscores",
            NameEscaping::Dots => "dots",
            NameEscaping::Values => "values",
            NameEscaping::AllowUtf8 => "allow-utf-8",
        }
    }
}

/// A name as `escaping` writes it (Prometheus' `model.EscapeName` for a name outside the
/// rules; `AllowUtf8` leaves it, to be quoted).
fn escaped_name(name: &str, escaping: NameEscaping) -> std::borrow::Cow<'_, str> {
    if is_legacy_metric_name(name) || escaping == NameEscaping::AllowUtf8 {
        return std::borrow::Cow::Borrowed(name);
    }
    let legacy = |c: char, i: usize| c.is_ascii_alphabetic() || c == '_' || c == ':' || (c.is_ascii_digit() && i > 0);
    let mut out = String::with_capacity(name.len() + 3);
    if escaping == NameEscaping::Values {
        out.push_str("U__");
    }
    for (i, c) in name.chars().enumerate() {
        match escaping {
            NameEscaping::Underscores | NameEscaping::AllowUtf8 => out.push(if legacy(c, i) { c } else { '_' }),
            NameEscaping::Dots => match c {
                '_' => out.push_str("__"),
                '.' => out.push_str("_dot_"),
                c if legacy(c, i) => out.push(c),
                _ => out.push_str("__"),
            },
            NameEscaping::Values => match c {
                '_' => out.push_str("__"),
                c if legacy(c, i) => out.push(c),
                c => out.push_str(&format!("_{:x}_", c as u32)),
            },
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Appends a name as `escaping` writes it, quoted with the text format's escapes when it is
/// kept outside the rules.
fn push_name(out: &mut String, name: &str, escaping: NameEscaping) {
    if escaping == NameEscaping::AllowUtf8 && !is_legacy_metric_name(name) {
        crate::ingest::text_format::push_name(out, name, false);
    } else {
        out.push_str(&escaped_name(name, escaping));
    }
}

/// Answers `/federate` as Prometheus' federation handler does: for each series selected by
/// the `match[]` selectors (several are a union, each series once), its newest sample at or
/// before now within the lookback delta (`server.lookback_delta_seconds`), with its own
/// timestamp. Unlike Prometheus, a request without `match[]` is an error (400) rather than an
/// empty answer: it can never select anything, so it is a mistake in the scrape configuration.
pub async fn handle_federate(api: &Api, params: &Params, accept: &str) -> Result<Response<Bytes>, ApiError> {
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
    let escaping = NameEscaping::from_accept(accept);
    let mut body = String::new();
    write_text(&mut body, newest.iter().map(|(labels, sample)| (labels, *sample)), escaping);
    let mut response = Response::new(Bytes::from(body));
    let content_type = format!("{TEXT_FORMAT}; escaping={}", escaping.name());
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_str(&content_type).map_err(|e| ApiError::internal(e.to_string()))?);
    Ok(response)
}

/// Writes `series` (in label order) as the text format, grouped by metric name with one
/// `# TYPE <name> untyped` line per name, names as `escaping` writes them. As in Prometheus'
/// federation handler, a series whose newest sample is a staleness marker is left out (the
/// text format cannot carry one), and so is a series without a name; labels with an empty
/// value are not written, and a series without an `instance` label gets `instance=""`, so a
/// scraper with `honor_labels: true` keeps it without one.
fn write_text<'a>(out: &mut String, series: impl Iterator<Item = (&'a Labels, Sample)>, escaping: NameEscaping) {
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
            push_name(out, name, escaping);
            out.push_str(" untyped\n");
            current = Some(name);
        }
        // A name kept outside the rules goes first inside the braces, quoted.
        let quoted_name = escaping == NameEscaping::AllowUtf8 && !is_legacy_metric_name(name);
        let mut first = true;
        if quoted_name {
            out.push('{');
            push_name(out, name, escaping);
            first = false;
        } else {
            push_name(out, name, escaping);
            out.push('{');
        }
        let mut has_instance = false;
        for label in labels.iter().filter(|l| l.name != METRIC_NAME_LABEL && !l.value.is_empty()) {
            has_instance |= label.name == "instance";
            push_label(out, &mut first, label.name, label.value, escaping);
        }
        if !has_instance {
            push_label(out, &mut first, "instance", "", escaping);
        }
        out.push_str("} ");
        promql::format::push_go_float(out, sample.value);
        out.push(' ');
        out.push_str(&sample.timestamp_ms.to_string());
        out.push('\n');
    }
}

/// Appends `name="value"` (with a separating comma after the first), the name as
/// `escaping` writes it, the value escaped as the text format requires: backslash, double
/// quote and line feed.
fn push_label(out: &mut String, first: &mut bool, name: &str, value: &str, escaping: NameEscaping) {
    if !std::mem::take(first) {
        out.push(',');
    }
    push_name(out, name, escaping);
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
        write_text(&mut out, sorted.into_iter(), NameEscaping::Underscores);
        assert_eq!(
            out,
            "# TYPE a_metric untyped\n\
             a_metric{path=\"C:\\\\dir \\\"q\\\"\\nnext\",instance=\"\"} +Inf 2000\n\
             # TYPE b_metric untyped\n\
             b_metric{instance=\"h:1\",job=\"x\"} 1.5 1000\n\
             b_metric{job=\"w\",instance=\"\"} -2 3000\n"
        );
    }

    #[test]
    fn utf8_names_are_escaped_as_asked_or_quoted() {
        let labels = series(&[("__name__", "http.server.requests_total"), ("http.route", "/a"), ("job", "x"), ("instance", "h")]);
        let write = |escaping| {
            let mut out = String::new();
            write_text(&mut out, [(&labels, Sample { timestamp_ms: 5, value: 1.0 })].into_iter(), escaping);
            out
        };
        assert_eq!(write(NameEscaping::Underscores), "# TYPE http_server_requests_total untyped\nhttp_server_requests_total{http_route=\"/a\",instance=\"h\",job=\"x\"} 1 5\n");
        assert_eq!(write(NameEscaping::AllowUtf8), "# TYPE \"http.server.requests_total\" untyped\n{\"http.server.requests_total\",\"http.route\"=\"/a\",instance=\"h\",job=\"x\"} 1 5\n");
        assert_eq!(write(NameEscaping::Dots), "# TYPE http_dot_server_dot_requests__total untyped\nhttp_dot_server_dot_requests__total{http_dot_route=\"/a\",instance=\"h\",job=\"x\"} 1 5\n");
        // Values: U__, `_` doubled, other characters by code point (Prometheus' examples).
        assert_eq!(escaped_name("http.status:sum", NameEscaping::Values), "U__http_2e_status:sum");
        assert_eq!(escaped_name("label with 😱", NameEscaping::Values), "U__label_20_with_20__1f631_");
        assert_eq!(escaped_name("1a", NameEscaping::Underscores), "_a");
        assert_eq!(escaped_name("ok_name", NameEscaping::Dots), "ok_name", "a legacy name is left alone");
        let accept = |header: &str| NameEscaping::from_accept(header);
        assert_eq!(accept("text/plain;version=1.0.0;escaping=allow-utf-8;q=0.6,*/*;q=0.1"), NameEscaping::AllowUtf8);
        // Prometheus' header for [OpenMetricsText1.0.0, PrometheusText0.0.4]: the OpenMetrics
        // range's escaping counts; a range after the first text/plain one does not.
        assert_eq!(accept("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,text/plain;version=0.0.4;q=0.5,*/*;q=0.4"), NameEscaping::AllowUtf8);
        assert_eq!(accept("text/plain;version=0.0.4;q=0.9,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.5"), NameEscaping::Underscores);
        assert_eq!(accept("text/plain;version=1.0.0;escaping=bogus"), NameEscaping::Underscores);
        assert_eq!(accept("text/plain; version=1.0.0; escaping=dots"), NameEscaping::Dots);
        assert_eq!(accept(""), NameEscaping::Underscores);
    }
}
