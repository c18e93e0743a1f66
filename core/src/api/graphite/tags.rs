//! The Graphite tags API (`/tags`, `/tags/<tag>`, `/tags/findSeries`,
//! `/tags/autoComplete/{tags,values}`, `/tags/tagSeries`, `/tags/tagMultiSeries`,
//! `/tags/delSeries`). Tags are labels; `name` is `__name__`. A series' Graphite path is its
//! name then `;tag=value` for each other label, tags in name order.

use bytes::Bytes;
use graphite::tag_expr::{self, TagExpr, TagOp};
use http::{Response, StatusCode};
use regex::Regex;
use tsdb::{Labels, MatchOp, Matcher, METRIC_NAME_LABEL};

use super::super::labels::{collect_names, collect_series, collect_values};
use super::super::params::{now_ms, Params, MAX_TIME_MS, MIN_TIME_MS};
use super::super::read_filters::ReadFilters;
use super::super::{admin, Api, ApiError};
use super::{json, jsonp_param, limit_param, quoted, string_array};

/// graphite-web's default `limit` of the auto-complete endpoints.
const AUTOCOMPLETE_LIMIT_DEFAULT: usize = 100;

/// Graphite's tag name for a label name.
fn tag_of_label(label: &str) -> &str {
    if label == METRIC_NAME_LABEL {
        "name"
    } else {
        label
    }
}

/// The label name of a Graphite tag name.
fn label_of_tag(tag: &str) -> &str {
    if tag == "name" {
        METRIC_NAME_LABEL
    } else {
        tag
    }
}

/// A series' Graphite path: `name;a=1;b=2` (tags sorted), or the name alone.
pub(super) fn canonical_path(labels: &Labels) -> String {
    // Labels are kept sorted by name.
    graphite::series_path(labels.metric_name().unwrap_or(""), labels.iter().filter(|l| l.name != METRIC_NAME_LABEL).map(|l| (l.name, l.value)))
}

/// A tag expression as a label matcher: `=~` matches from the value's start, as graphite-web
/// (Python's `re.match`) and VictoriaMetrics match it.
pub(super) fn matcher_of(expr: &TagExpr) -> Result<Matcher, ApiError> {
    let label = label_of_tag(&expr.name);
    let (op, value) = match expr.op {
        TagOp::Equal => (MatchOp::Equal, expr.value.clone()),
        TagOp::NotEqual => (MatchOp::NotEqual, expr.value.clone()),
        TagOp::Match => (MatchOp::RegexMatch, format!("(?:{}).*", expr.value)),
        TagOp::NotMatch => (MatchOp::RegexNoMatch, format!("(?:{}).*", expr.value)),
    };
    Matcher::new(op, label, value).map_err(|e| ApiError::bad_data(format!("invalid tag expression {:?}: {e}", expr.name)))
}

/// The matchers of tag expressions (`expr` parameters, or `seriesByTag`'s arguments). As in
/// graphite-web, one of them must need a non-empty value: none would select every series.
pub(super) fn matchers_of(exprs: &[TagExpr]) -> Result<Vec<Matcher>, ApiError> {
    let matchers = exprs.iter().map(matcher_of).collect::<Result<Vec<_>, _>>()?;
    if matchers.iter().all(Matcher::matches_empty) {
        return Err(ApiError::bad_data("at least one tag expression must require a non-empty value (like name=foo or tag=~.+)"));
    }
    Ok(matchers)
}

/// Every `expr` parameter, parsed.
fn expr_params(params: &Params) -> Result<Vec<TagExpr>, ApiError> {
    params.all("expr").map(|text| tag_expr::parse(text).map_err(|e| ApiError::bad_data(format!("invalid parameter \"expr\": {e}")))).collect()
}

/// graphite-web's `filter`: a regular expression matched from the start of the text.
fn prefix_regex(param: &str, filter: &str) -> Result<Option<Regex>, ApiError> {
    if filter.is_empty() {
        return Ok(None);
    }
    Regex::new(&format!("^(?:{filter})")).map(Some).map_err(|e| ApiError::bad_data(format!("invalid parameter \"{param}\": {e}")))
}

/// Series matching `exprs` under the read filters, all time.
async fn series_of(api: &Api, params: &Params, exprs: &[TagExpr]) -> Result<Vec<Labels>, ApiError> {
    let matchers = matchers_of(exprs)?;
    let sets = ReadFilters::from_params(params)?.join(vec![matchers]);
    collect_series(api, sets, MIN_TIME_MS, now_ms()).await
}

/// Every tag name (`name` for `__name__`), all time, matching `filter`, at most `limit`.
async fn tag_names(api: &Api, params: &Params) -> Result<Vec<String>, ApiError> {
    let sets = ReadFilters::from_params(params)?.join(Vec::new());
    let mut tags: Vec<String> = collect_names(api, sets, MIN_TIME_MS, MAX_TIME_MS).await?.iter().map(|l| tag_of_label(l).to_string()).collect();
    tags.sort();
    tags.dedup();
    Ok(tags)
}

/// `/tags`: `[{"tag":"…"},…]`.
pub(super) async fn handle_tags(api: &Api, params: &Params) -> Result<Response<Bytes>, ApiError> {
    let filter = prefix_regex("filter", params.get("filter").unwrap_or(""))?;
    let limit = limit_param(params, usize::MAX)?;
    let tags = tag_names(api, params).await?;
    let items: Vec<String> = tags.iter().filter(|t| filter.as_ref().is_none_or(|f| f.is_match(t))).take(limit).map(|t| format!(r#"{{"tag":{}}}"#, quoted(t))).collect();
    Ok(json(StatusCode::OK, format!("[{}]", items.join(",")), None))
}

/// `/tags/<tag>`: `{"tag":"…","values":[{"count":1,"value":"…"},…]}`; `count` is 1, as
/// VictoriaMetrics answers (counting series per value would read every series).
pub(super) async fn handle_tag_values(api: &Api, tag: &str, params: &Params) -> Result<Response<Bytes>, ApiError> {
    let tag = super::super::params::percent_decode(tag).map_err(|e| ApiError::bad_data(format!("invalid tag name in the path: {e}")))?;
    let filter = prefix_regex("filter", params.get("filter").unwrap_or(""))?;
    let limit = limit_param(params, usize::MAX)?;
    let sets = ReadFilters::from_params(params)?.join(Vec::new());
    let values = collect_values(api, label_of_tag(&tag), sets, MIN_TIME_MS, MAX_TIME_MS).await?;
    let items: Vec<String> = values.iter().filter(|v| filter.as_ref().is_none_or(|f| f.is_match(v))).take(limit).map(|v| format!(r#"{{"count":1,"value":{}}}"#, quoted(v))).collect();
    Ok(json(StatusCode::OK, format!(r#"{{"tag":{},"values":[{}]}}"#, quoted(&tag), items.join(",")), None))
}

/// `/tags/findSeries?expr=…`: the paths of the series matching every `expr`, sorted.
pub(super) async fn handle_find_series(api: &Api, params: &Params) -> Result<Response<Bytes>, ApiError> {
    let exprs = expr_params(params)?;
    if exprs.is_empty() {
        return Err(ApiError::bad_data("missing parameter \"expr\": findSeries needs at least one tag expression"));
    }
    let limit = limit_param(params, usize::MAX)?;
    let mut paths: Vec<String> = series_of(api, params, &exprs).await?.iter().map(canonical_path).collect();
    paths.sort();
    paths.truncate(limit);
    Ok(json(StatusCode::OK, string_array(paths.iter().map(String::as_str)), None))
}

/// `/tags/autoComplete/tags`: tag names beginning with `tagPrefix`, of the series matching
/// the `expr`s when there are any.
pub(super) async fn handle_autocomplete_tags(api: &Api, params: &Params) -> Result<Response<Bytes>, ApiError> {
    let prefix = params.get("tagPrefix").unwrap_or("");
    let limit = limit_param(params, AUTOCOMPLETE_LIMIT_DEFAULT)?;
    let jsonp = jsonp_param(params)?;
    let exprs = expr_params(params)?;
    let mut tags: Vec<String> = if exprs.is_empty() {
        tag_names(api, params).await?
    } else {
        series_of(api, params, &exprs).await?.iter().flat_map(|labels| labels.iter().map(|l| tag_of_label(l.name).to_string()).collect::<Vec<_>>()).collect()
    };
    tags.retain(|t| t.starts_with(prefix));
    tags.sort();
    tags.dedup();
    tags.truncate(limit);
    Ok(json(StatusCode::OK, string_array(tags.iter().map(String::as_str)), jsonp))
}

/// `/tags/autoComplete/values?tag=…`: values of `tag` beginning with `valuePrefix`, of the
/// series matching the `expr`s when there are any.
pub(super) async fn handle_autocomplete_values(api: &Api, params: &Params) -> Result<Response<Bytes>, ApiError> {
    let tag = match params.get("tag") {
        None | Some("") => return Err(ApiError::bad_data("missing parameter \"tag\"")),
        Some(tag) => tag,
    };
    let prefix = params.get("valuePrefix").unwrap_or("");
    let limit = limit_param(params, AUTOCOMPLETE_LIMIT_DEFAULT)?;
    let jsonp = jsonp_param(params)?;
    let exprs = expr_params(params)?;
    let label = label_of_tag(tag);
    let mut values: Vec<String> = if exprs.is_empty() {
        let sets = ReadFilters::from_params(params)?.join(Vec::new());
        collect_values(api, label, sets, MIN_TIME_MS, MAX_TIME_MS).await?
    } else {
        series_of(api, params, &exprs).await?.iter().filter_map(|labels| labels.get(label).filter(|v| !v.is_empty()).map(str::to_string)).collect()
    };
    values.retain(|v| v.starts_with(prefix));
    values.sort();
    values.dedup();
    values.truncate(limit);
    Ok(json(StatusCode::OK, string_array(values.iter().map(String::as_str)), jsonp))
}

/// A `path` parameter (`name;tag=value;…`) as its name and tags, sorted by tag.
fn parse_path(path: &str) -> Result<(String, Vec<(String, String)>), ApiError> {
    let mut parts = path.split(';');
    let name = parts.next().unwrap_or("");
    if name.is_empty() {
        return Err(ApiError::bad_data(format!("invalid parameter \"path\": {path:?} has no metric name")));
    }
    let mut tags = Vec::new();
    for part in parts {
        match part.split_once('=') {
            Some((tag, value)) if !tag.is_empty() && !value.is_empty() && tag != "name" => tags.push((tag.to_string(), value.to_string())),
            _ => return Err(ApiError::bad_data(format!("invalid parameter \"path\": {part:?} in {path:?} is not tag=value"))),
        }
    }
    tags.sort();
    tags.dedup_by(|a, b| a.0 == b.0);
    Ok((name.to_string(), tags))
}

/// `/tags/tagSeries?path=…` (one path, answered as a JSON string) and
/// `/tags/tagMultiSeries?path=…&path=…` (a JSON array): each path in canonical form. carbon
/// calls these to register series in graphite-web's tag database; here a series is in the
/// index once its first sample is stored, whatever protocol brings it, so nothing is stored
/// by these calls.
pub(super) fn handle_tag_series(params: &Params, multi: bool) -> Result<Response<Bytes>, ApiError> {
    let paths: Vec<&str> = params.all("path").collect();
    if paths.is_empty() || (!multi && paths.len() > 1) {
        return Err(ApiError::bad_data(if multi { "missing parameter \"path\"" } else { "tagSeries takes exactly one \"path\"; use tagMultiSeries for several" }));
    }
    let mut canonical = Vec::with_capacity(paths.len());
    for path in paths {
        let (name, tags) = parse_path(path)?;
        canonical.push(graphite::series_path(&name, tags.iter().map(|(tag, value)| (tag.as_str(), value.as_str()))));
    }
    let body = if multi { string_array(canonical.iter().map(String::as_str)) } else { quoted(&canonical[0]) };
    Ok(json(StatusCode::OK, body, None))
}

/// `/tags/delSeries?path=…`: deletes every series with the path's name and tags (and any
/// others), all time, as `/api/v1/admin/tsdb/delete_series` does; `true` when one was.
pub(super) async fn handle_del_series(api: &Api, params: &Params) -> Result<Response<Bytes>, ApiError> {
    admin::enabled(api)?;
    let paths: Vec<&str> = params.all("path").collect();
    if paths.is_empty() {
        return Err(ApiError::bad_data("missing parameter \"path\""));
    }
    let filters = ReadFilters::from_params(params)?;
    let mut sets = Vec::with_capacity(paths.len());
    for path in &paths {
        let (name, tags) = parse_path(path)?;
        let mut matchers = vec![Matcher::new(MatchOp::Equal, METRIC_NAME_LABEL, name).map_err(|e| ApiError::internal(e.to_string()))?];
        for (tag, value) in tags {
            matchers.push(Matcher::new(MatchOp::Equal, &tag, value).map_err(|e| ApiError::internal(e.to_string()))?);
        }
        sets.push(matchers);
    }
    let sets = filters.join(sets);
    let found = collect_series(api, sets.clone(), MIN_TIME_MS, MAX_TIME_MS).await?;
    tracing::info!(paths = ?paths, series = found.len(), "graphite: delSeries");
    if !found.is_empty() {
        api.router.delete_series(sets, MIN_TIME_MS, MAX_TIME_MS).await?;
    }
    Ok(json(StatusCode::OK, (!found.is_empty()).to_string(), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_canonical() {
        let labels = Labels::from_pairs([("__name__", "disk.used"), ("server", "s1"), ("dc", "x")]);
        assert_eq!(canonical_path(&labels), "disk.used;dc=x;server=s1");
        assert_eq!(canonical_path(&Labels::from_pairs([("__name__", "a.b")])), "a.b");
        assert_eq!(parse_path("m;z=1;a=2").unwrap(), ("m".to_string(), vec![("a".to_string(), "2".to_string()), ("z".to_string(), "1".to_string())]));
        assert!(parse_path(";a=1").is_err());
        assert!(parse_path("m;a").is_err());
    }

    #[test]
    fn tag_expressions_become_matchers() {
        let m = |text: &str| matcher_of(&tag_expr::parse(text).unwrap()).unwrap();
        assert!(m("name=cpu").matches("cpu"));
        assert_eq!(m("name=cpu").name, METRIC_NAME_LABEL);
        assert!(m("dc=~us").matches("us-east"));
        assert!(!m("dc=~us").matches("eu-us"));
        assert!(!m("dc!=~us").matches("us-east"));
        assert!(m("dc!=x").matches("y"));
        let only_empty = [tag_expr::parse("dc!=x").unwrap()];
        assert!(matchers_of(&only_empty).is_err());
    }
}
