//! `/api/v1/series`, `/api/v1/labels`, `/api/v1/label/<name>/values`: `match[]` selectors
//! (union over several), `start`/`end` (default: all time), `limit` with a truncation warning.

use std::future::Future;

use bytes::Bytes;
use http::Response;
use tsdb::{Labels, Matcher};

use super::listing_cache::{Epoch, ListingKey};
use super::params::{Params, MAX_TIME_MS, MIN_TIME_MS};
use super::read_filters::ReadFilters;
use super::{json, json_response, Api, ApiError};
use crate::shard::messages::Select;

pub(super) struct Window {
    pub mint_ms: i64,
    pub maxt_ms: i64,
    pub limit: usize,
}

pub(super) fn window(params: &Params) -> Result<Window, ApiError> {
    let time = |name: &str, default: i64| match params.get(name) {
        None | Some("") => Ok(default),
        Some(text) => super::params::parse_time_ms(text).map_err(|e| ApiError::bad_data(format!("invalid parameter \"{name}\": {e}"))),
    };
    let mint_ms = time("start", MIN_TIME_MS)?;
    let maxt_ms = time("end", MAX_TIME_MS)?;
    if maxt_ms < mint_ms {
        return Err(ApiError::bad_data("invalid parameter \"end\": end timestamp must not be before start time"));
    }
    let limit = match params.get("limit") {
        None | Some("") => 0,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| ApiError::bad_data(format!("invalid parameter \"limit\": {text:?} is not a non-negative integer")))?,
    };
    Ok(Window { mint_ms, maxt_ms, limit })
}

/// Parses every `match[]` into matcher lists, one per alternative of MetricsQL's `or` filters
/// (the request's read filters not applied: see `filtered_match_sets`).
pub(super) fn match_sets(params: &Params) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let mut sets = Vec::new();
    for text in params.all("match[]") {
        sets.extend(promql::parse_series_selector_alternatives(text).map_err(|e| ApiError::bad_data(format!("invalid parameter \"match[]\": {e}")))?);
    }
    Ok(sets)
}

/// Every `match[]` with the request's `extra_label`/`extra_filters` enforced
/// (`read_filters`). `missing`: the 400's message when the endpoint needs a `match[]` and
/// there is none; without it, no `match[]` selects every series the filters allow.
pub(super) fn filtered_match_sets(params: &Params, missing: Option<&str>) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let sets = match_sets(params)?;
    if let (true, Some(message)) = (sets.is_empty(), missing) {
        return Err(ApiError::bad_data(message.to_string()));
    }
    Ok(ReadFilters::from_params(params)?.join(sets))
}

fn truncation_warning(total: usize, limit: usize) -> Vec<String> {
    if limit > 0 && total > limit {
        vec!["results truncated due to limit".to_string()]
    } else {
        Vec::new()
    }
}

pub(super) fn take_limit<T>(mut items: Vec<T>, limit: usize) -> (Vec<T>, Vec<String>) {
    let warnings = truncation_warning(items.len(), limit);
    if limit > 0 {
        items.truncate(limit);
    }
    (items, warnings)
}

/// Series matching any of `sets` within the window, sorted and deduplicated.
pub(super) async fn collect_series(api: &Api, sets: Vec<Vec<Matcher>>, mint_ms: i64, maxt_ms: i64) -> Result<Vec<Labels>, ApiError> {
    let mut all: Vec<Labels> = Vec::new();
    for matchers in sets {
        all.extend(api.router.series(Select::all(matchers, mint_ms, maxt_ms)).await?);
    }
    all.sort();
    all.dedup();
    Ok(all)
}

/// Label names of series matching any of `sets` (all series when there are none).
pub(super) async fn collect_names(api: &Api, mut sets: Vec<Vec<Matcher>>, mint_ms: i64, maxt_ms: i64) -> Result<Vec<String>, ApiError> {
    if sets.is_empty() {
        sets.push(Vec::new());
    }
    let mut names: Vec<String> = Vec::new();
    for matchers in sets {
        names.extend(api.router.label_names(Select::all(matchers, mint_ms, maxt_ms)).await?);
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// Values of label `name` on series matching any of `sets` (all series when there are none).
pub(super) async fn collect_values(api: &Api, name: &str, mut sets: Vec<Vec<Matcher>>, mint_ms: i64, maxt_ms: i64) -> Result<Vec<String>, ApiError> {
    if sets.is_empty() {
        sets.push(Vec::new());
    }
    let mut values: Vec<String> = Vec::new();
    for matchers in sets {
        values.extend(api.router.label_values(name, Select::all(matchers, mint_ms, maxt_ms)).await?);
    }
    values.sort();
    values.dedup();
    Ok(values)
}

pub async fn handle_series(api: &Api, params: &Params) -> Result<Response<Bytes>, ApiError> {
    let sets = filtered_match_sets(params, Some("no match[] parameter provided"))?;
    let w = window(params)?;
    let key = listing_key("series", "", params, &w)?;
    cached_listing(api, key, async {
        let all = collect_series(api, sets, w.mint_ms, w.maxt_ms).await?;
        let (series, warnings) = take_limit(all, w.limit);
        let mut data = String::from("[");
        for (i, labels) in series.iter().enumerate() {
            if i > 0 {
                data.push(',');
            }
            json::push_labels(&mut data, labels);
        }
        data.push(']');
        Ok(json::success(&data, &warnings, &[]))
    })
    .await
}

pub async fn handle_label_names(api: &Api, params: &Params) -> Result<Response<Bytes>, ApiError> {
    let w = window(params)?;
    let sets = filtered_match_sets(params, None)?;
    let key = listing_key("labels", "", params, &w)?;
    cached_listing(api, key, async { Ok(string_list(collect_names(api, sets, w.mint_ms, w.maxt_ms).await?, w.limit)) }).await
}

pub async fn handle_label_values(api: &Api, raw_name: &str, params: &Params) -> Result<Response<Bytes>, ApiError> {
    let name = super::params::percent_decode(raw_name).map_err(ApiError::bad_data)?;
    let name = unescape_label_name(&name).ok_or_else(|| ApiError::bad_data(format!("invalid label name: {raw_name:?}")))?;
    if name.is_empty() {
        return Err(ApiError::bad_data(format!("invalid label name: {raw_name:?}")));
    }
    let w = window(params)?;
    let sets = filtered_match_sets(params, None)?;
    let key = listing_key("label_values", &name, params, &w)?;
    cached_listing(api, key, async { Ok(string_list(collect_values(api, &name, sets, w.mint_ms, w.maxt_ms).await?, w.limit)) }).await
}

/// A listing request's cache key: `match[]` as sent, the read filters (URL's and identity's
/// together), window and limit as parsed.
fn listing_key(endpoint: &'static str, name: &str, params: &Params, w: &Window) -> Result<ListingKey, ApiError> {
    Ok(ListingKey {
        endpoint,
        name: name.to_string(),
        matches: params.all("match[]").map(str::to_string).chain([ReadFilters::from_params(params)?.key()]).collect(),
        mint_ms: w.mint_ms,
        maxt_ms: w.maxt_ms,
        limit: w.limit,
    })
}

/// The listing's JSON answer from this executor's cache when nothing can have changed
/// since it was computed (see `listing_cache`), else from `compute`, then kept.
async fn cached_listing(api: &Api, key: ListingKey, compute: impl Future<Output = Result<String, ApiError>>) -> Result<Response<Bytes>, ApiError> {
    // Read before computing: the answer holds every change the epoch counts.
    let epoch = Epoch::now(api.router.history());
    let body = match api.listing_cache.get(&key, epoch) {
        Some(body) => {
            api.metrics.count_listing_cache_hit();
            body
        }
        None => {
            let body = Bytes::from(compute.await?);
            api.listing_cache.put(key, epoch, body.clone());
            body
        }
    };
    Ok(json_response(http::StatusCode::OK, body))
}

/// The JSON answer listing `items` (at most `limit` of them, with a warning when cut).
fn string_list(items: Vec<String>, limit: usize) -> String {
    let (items, warnings) = take_limit(items, limit);
    let mut data = String::new();
    json::push_string_array(&mut data, items.iter().map(String::as_str));
    json::success(&data, &warnings, &[])
}

/// Decodes Prometheus' `U__` value escaping of label names in URL paths (Grafana sends
/// `U__http_2e_status` for `http.status`): `__` is `_`, `_<hex>_` is that code point.
/// Names without the prefix are returned unchanged; `None` for a malformed escape.
pub fn unescape_label_name(name: &str) -> Option<String> {
    let Some(rest) = name.strip_prefix("U__") else { return Some(name.to_string()) };
    let mut out = String::with_capacity(rest.len());
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '_' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'_') {
            chars.next();
            out.push('_');
            continue;
        }
        let mut hex = String::new();
        loop {
            match chars.next() {
                Some('_') => break,
                Some(h) if h.is_ascii_hexdigit() => hex.push(h),
                _ => return None,
            }
        }
        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u_escaping() {
        assert_eq!(unescape_label_name("job").as_deref(), Some("job"));
        assert_eq!(unescape_label_name("U__http_2e_status").as_deref(), Some("http.status"));
        assert_eq!(unescape_label_name("U__a__b").as_deref(), Some("a_b"));
        assert_eq!(unescape_label_name("U__bad_zz_"), None);
    }

    #[test]
    fn limit_warns_only_when_truncating() {
        let (items, warnings) = take_limit(vec![1, 2, 3], 2);
        assert_eq!(items, vec![1, 2]);
        assert_eq!(warnings.len(), 1);
        let (items, warnings) = take_limit(vec![1, 2], 2);
        assert_eq!(items.len(), 2);
        assert!(warnings.is_empty());
    }
}
