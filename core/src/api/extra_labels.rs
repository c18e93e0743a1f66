//! VictoriaMetrics' `extra_label=name=value` query parameter on the write endpoints
//! (`/api/v1/write`, `/api/v1/import`, `/api/v1/import/prometheus`, OTLP; the InfluxDB writes
//! pass them to `ingest::influx`): every series the request stores gets the label, replacing one
//! of the same name. vmagent and vmctl put it
//! in their write URLs (`-remoteWrite.url=…?extra_label=dc=eu`, `vmctl --vm-extra-label`).

use tsdb::{Labels, SeriesBatch};

use super::params::Params;
use super::ApiError;
use crate::ingest::label_limits::{self, LabelLimits};

/// The labels a request asks to set, in its order with the last of a repeated name kept;
/// empty when it names none. A parameter without `=`, with an empty name or value, or past
/// the label limits is a 400 naming it.
pub(super) fn from_params(params: &Params, limits: &LabelLimits) -> Result<Vec<(String, String)>, ApiError> {
    let mut set: Vec<(String, String)> = Vec::new();
    for raw in params.all("extra_label") {
        let Some((name, value)) = raw.split_once('=') else {
            return Err(ApiError::bad_data(format!("`extra_label` must have the form name=value; got {raw:?}")));
        };
        if name.is_empty() || value.is_empty() {
            return Err(ApiError::bad_data(format!("`extra_label` needs a label name and a non-empty value; got {raw:?}")));
        }
        set.retain(|(n, _)| n != name);
        set.push((name.to_string(), value.to_string()));
    }
    if let Some(problem) = label_limits::problem(limits, set.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()))) {
        return Err(ApiError::bad_data(format!("`extra_label`: {problem}")));
    }
    Ok(set)
}

/// `batch` with `set` applied to every series (the batch itself when `set` is empty); a
/// series the added labels take past the label limits is a 400 naming it.
pub(super) fn apply_to_batch(batch: SeriesBatch, set: &[(String, String)], limits: &LabelLimits) -> Result<SeriesBatch, ApiError> {
    if set.is_empty() {
        return Ok(batch);
    }
    let batch = batch.with_labels_set(set);
    for series in batch.iter() {
        if let Some(problem) = label_limits::problem(limits, series.label_pairs()) {
            return Err(past_limits(&series.to_labels(), &problem));
        }
    }
    Ok(batch)
}

/// `labels` with `set` applied; past the label limits, a 400 naming the series.
pub(super) fn apply_to_labels(labels: &Labels, set: &[(String, String)], limits: &LabelLimits) -> Result<Labels, ApiError> {
    let own = labels.iter().map(|l| (l.name.to_string(), l.value.to_string()));
    let labels = Labels::from_pairs(own.chain(set.iter().cloned()));
    match label_limits::problem(limits, labels.iter().map(|l| (l.name.as_bytes(), l.value.as_bytes()))) {
        Some(problem) => Err(past_limits(&labels, &problem)),
        None => Ok(labels),
    }
}

fn past_limits(labels: &Labels, problem: &str) -> ApiError {
    let shown: String = labels.to_string().chars().take(SERIES_SHOWN_CHARS_MAX).collect();
    ApiError::bad_data(format!("series {shown}: with the `extra_label`s it has {problem}"))
}

/// Characters of a series shown in an error.
const SERIES_SHOWN_CHARS_MAX: usize = 200;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<Vec<(String, String)>, String> {
        let params = Params::from_request(Some(query), None).map_err(|e| e.to_string())?;
        from_params(&params, &LabelLimits::default()).map_err(|e| e.message)
    }

    #[test]
    fn repeated_parameters_set_several_labels_and_the_last_of_a_name_wins() {
        let got = parse("extra_label=dc%3Deu&x=1&extra_label=env=a=b&extra_label=dc=us").expect("valid");
        assert_eq!(got, vec![("env".to_string(), "a=b".to_string()), ("dc".to_string(), "us".to_string())]);
        assert_eq!(parse("x=1").expect("none"), Vec::new());
    }

    #[test]
    fn malformed_parameters_are_refused_with_their_text() {
        for (query, shown) in [("extra_label=dc", "\"dc\""), ("extra_label==eu", "\"=eu\""), ("extra_label=dc=", "\"dc=\"")] {
            let err = parse(query).expect_err(query);
            assert!(err.contains("extra_label") && err.contains(shown), "{query}: {err}");
        }
        let long = format!("extra_label=n={}", "v".repeat(label_limits::LABEL_VALUE_BYTES_MAX + 1));
        assert!(parse(&long).expect_err("too long").contains("storage.max_label_value_bytes"));
    }

    #[test]
    fn labels_are_replaced_or_added() {
        let labels = Labels::from_pairs([("__name__", "up"), ("dc", "old"), ("job", "a")]);
        let set = [("dc".to_string(), "eu".to_string()), ("a".to_string(), "1".to_string())];
        assert_eq!(apply_to_labels(&labels, &set, &LabelLimits::default()).expect("within"), Labels::from_pairs([("__name__", "up"), ("a", "1"), ("dc", "eu"), ("job", "a")]));
        let tight = LabelLimits { labels_per_series: 3, ..LabelLimits::default() };
        let err = apply_to_labels(&labels, &set, &tight).expect_err("four labels").message;
        assert!(err.contains("more than 3 labels") && err.contains("extra_label"), "{err}");
    }
}
