//! `/api/v1/query_exemplars`: the exemplars of every series that the vector selectors of a
//! PromQL `query` select in `[start, end]` (default: all time), asked of every shard, in
//! Prometheus' JSON: `[{"seriesLabels": {…}, "exemplars": [{"labels", "value", "timestamp"}]}]`.

use bytes::Bytes;
use http::Response;
use promql::ast::Expr;
use tsdb::{Matcher, SeriesExemplars};

use super::params::Params;
use super::{json, json_ok, Api, ApiError};

pub(super) async fn handle_query_exemplars(api: &Api, params: &Params) -> Result<Response<Bytes>, ApiError> {
    let query = params.get("query").unwrap_or("");
    let expr = promql::parse(query).map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))?;
    let window = super::labels::window(params)?;
    let mut matcher_sets = Vec::new();
    collect_selectors(&expr, &mut matcher_sets);
    // No selector to ask about (`1 + 1`): Prometheus answers `null`, not a list.
    if matcher_sets.is_empty() {
        return Ok(json_ok("null"));
    }
    let matcher_sets = super::read_filters::ReadFilters::from_params(params)?.join(matcher_sets);
    let found = api.router.exemplars(matcher_sets, window.mint_ms, window.maxt_ms).await?;
    Ok(json_ok(&to_json(&found)))
}

/// The matchers of every vector selector in `expr` (plain or inside a range), in source order.
fn collect_selectors(expr: &Expr, out: &mut Vec<Vec<Matcher>>) {
    match expr {
        Expr::VectorSelector(selector) | Expr::MatrixSelector { selector, .. } => out.extend(selector.alternatives().map(<[Matcher]>::to_vec)),
        other => other.children().into_iter().for_each(|child| collect_selectors(child, out)),
    }
}

fn to_json(found: &[SeriesExemplars]) -> String {
    let mut out = String::from("[");
    for (i, series) in found.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"seriesLabels\":");
        json::push_labels(&mut out, &series.series);
        out.push_str(",\"exemplars\":[");
        for (k, e) in series.exemplars.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            out.push_str("{\"labels\":");
            json::push_labels(&mut out, &e.labels);
            out.push_str(",\"value\":\"");
            promql::format::push_go_float(&mut out, e.value);
            out.push_str("\",\"timestamp\":");
            json::push_timestamp(&mut out, e.timestamp_ms);
            out.push('}');
        }
        out.push_str("]}");
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tsdb::{Exemplar, Labels};

    #[test]
    fn every_vector_selector_of_the_query_is_asked_for() {
        let expr = promql::parse(r#"rate(a{job="x"}[5m]) / on() group_left sum(b) + histogram_quantile(0.9, c_bucket)"#).expect("parses");
        let mut sets = Vec::new();
        collect_selectors(&expr, &mut sets);
        let names: Vec<String> = sets.iter().map(|s| s.iter().find(|m| m.name == "__name__").map(|m| m.value.clone()).unwrap_or_default()).collect();
        assert_eq!(names, vec!["a", "b", "c_bucket"]);
        assert_eq!(sets[0].len(), 2);
    }

    #[test]
    fn json_has_prometheus_shape() {
        let found = vec![SeriesExemplars {
            series: Labels::from_pairs([("__name__", "a"), ("job", "x")]),
            exemplars: vec![Exemplar { labels: Labels::from_pairs([("trace_id", "abc")]), value: 1.5, timestamp_ms: 1_600_096_945_479, own_timestamp: true }],
        }];
        assert_eq!(
            to_json(&found),
            r#"[{"seriesLabels":{"__name__":"a","job":"x"},"exemplars":[{"labels":{"trace_id":"abc"},"value":"1.5","timestamp":1600096945.479}]}]"#
        );
        assert_eq!(to_json(&[]), "[]");
    }
}
