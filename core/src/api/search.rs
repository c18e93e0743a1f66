//! Prometheus' search API (`/api/v1/search/{metric_names,label_names,label_values}`, behind
//! `--enable-feature=search-api` there, always on here): names and values listed as
//! `/api/v1/labels` and `/api/v1/label/<name>/values` list them (`match[]`, read filters),
//! kept and scored by `search[]` as Prometheus scores them (substring, subsequence,
//! Jaro-Winkler), ordered, cut at `limit` and written as NDJSON batches and a trailer.

use std::collections::HashMap;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use tsdb::Matcher;

use super::params::{now_ms, parse_time_ms, Params};
use super::read_filters::ReadFilters;
use super::{labels, Api, ApiError};

mod score;
use score::SearchFilter;

/// `limit` when the request names none (Prometheus' `defaultSearchLimit`).
pub const LIMIT_DEFAULT: usize = 100;
/// Largest `limit` accepted: the default of Prometheus' `--web.search.max-limit`.
pub const LIMIT_MAX: usize = 10_000;
/// Results per NDJSON line when the request names no `batch_size`.
pub const BATCH_SIZE_DEFAULT: usize = 100;
/// Most `search[]` terms in one request: each term costs a scoring pass over every value.
pub const SEARCH_TERMS_MAX: usize = 32;

const FUZZ_ALGORITHMS: &str = "[subsequence jarowinkler]";

/// The three endpoints; each lists one kind of string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    MetricNames,
    LabelNames,
    LabelValues,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::MetricNames => "metric_names",
            Endpoint::LabelNames => "label_names",
            Endpoint::LabelValues => "label_values",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FuzzAlg {
    Subsequence,
    JaroWinkler,
}

/// Result order: `sort_by` unset or `alpha` (with `sort_dir`), or `score` (best first,
/// ties by value ascending).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    ValueAsc,
    ValueDesc,
    ScoreDesc,
}

/// The parameters common to the three endpoints, checked in Prometheus' order.
#[derive(Debug)]
struct SearchParams {
    match_sets: Vec<Vec<Matcher>>,
    searches: Vec<String>,
    fuzz_threshold: u8,
    fuzz_alg: FuzzAlg,
    case_sensitive: bool,
    include_score: bool,
    order: Order,
    mint_ms: i64,
    maxt_ms: i64,
    limit: usize,
    batch_size: usize,
}

/// Go's `%q` for the ASCII range (what parameter values mostly are); other characters are
/// kept unless they are control characters.
pub(super) fn go_quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.Atoi` on a 64-bit machine: optional sign, decimal digits, no spaces.
fn go_atoi(text: &str) -> Option<i64> {
    text.parse::<i64>().ok()
}

fn bool_param(params: &Params, name: &str, default: bool) -> Result<bool, ApiError> {
    match params.get(name) {
        None | Some("") => Ok(default),
        Some(text) => super::admin::parse_go_bool(text).ok_or_else(|| ApiError::bad_data(format!("invalid {name} {}: must be boolean", go_quote(text)))),
    }
}

fn time_param(params: &Params, name: &str, default_ms: i64) -> Result<i64, ApiError> {
    match params.get(name) {
        None | Some("") => Ok(default_ms),
        Some(text) => parse_time_ms(text).map_err(|e| ApiError::bad_data(format!("invalid time value for '{name}': {e}"))),
    }
}

impl SearchParams {
    /// Every check Prometheus makes before it reads, with its messages, in its order.
    fn parse(params: &Params, endpoint: Endpoint, now_ms: i64) -> Result<SearchParams, ApiError> {
        let mint_ms = time_param(params, "start", now_ms.saturating_sub(3_600_000))?;
        let maxt_ms = time_param(params, "end", now_ms)?;
        if maxt_ms < mint_ms {
            return Err(ApiError::bad_data("end timestamp must not be before start timestamp"));
        }
        let mut match_sets = Vec::new();
        for text in params.all("match[]") {
            match_sets.extend(promql::parse_series_selector_alternatives(text).map_err(|e| ApiError::bad_data(e.to_string()))?);
        }
        // The request's and the client's read filters confine the search as they confine
        // the label listings.
        let match_sets = ReadFilters::from_params(params)?.join(match_sets);
        let searches: Vec<String> = params.all("search[]").map(str::to_string).collect();
        if searches.len() > SEARCH_TERMS_MAX {
            return Err(ApiError::bad_data(format!("too many search[] terms: got {}, maximum is {SEARCH_TERMS_MAX}", searches.len())));
        }
        let fuzz_threshold = match params.get("fuzz_threshold") {
            None | Some("") => 0,
            Some(text) => match go_atoi(text) {
                Some(t @ 0..=100) => t as u8,
                _ => return Err(ApiError::bad_data(format!("invalid fuzz_threshold {}: must be 0-100", go_quote(text)))),
            },
        };
        let fuzz_alg = match params.get("fuzz_alg") {
            None | Some("") | Some("subsequence") => FuzzAlg::Subsequence,
            Some("jarowinkler") => FuzzAlg::JaroWinkler,
            Some(other) => return Err(ApiError::bad_data(format!("unsupported fuzz_alg {}: must be one of {FUZZ_ALGORITHMS}", go_quote(other)))),
        };
        let case_sensitive = bool_param(params, "case_sensitive", true)?;
        let include_score = bool_param(params, "include_score", false)?;
        let sort_by = params.get("sort_by").unwrap_or("");
        let sort_dir = params.get("sort_dir").unwrap_or("");
        if !sort_dir.is_empty() && sort_by.is_empty() {
            return Err(ApiError::bad_data("sort_dir is only valid when sort_by is set"));
        }
        if !sort_dir.is_empty() && sort_by == "score" {
            return Err(ApiError::bad_data("sort_dir is not supported for sort_by=score"));
        }
        let descending = match sort_dir {
            "" | "asc" => false,
            "dsc" => true,
            other => return Err(ApiError::bad_data(format!("invalid sort_dir {}: must be \"asc\" or \"dsc\"", go_quote(other)))),
        };
        if sort_by == "score" && searches.is_empty() {
            return Err(ApiError::bad_data("sort_by=score requires search[] to be set"));
        }
        let limit = match params.get("limit") {
            None | Some("") => LIMIT_DEFAULT,
            Some(text) => match go_atoi(text) {
                Some(l) if l > LIMIT_MAX as i64 => {
                    return Err(ApiError::bad_data(format!("limit {l} exceeds the configured maximum ({LIMIT_MAX}, see --web.search.max-limit)")))
                }
                Some(l) if l > 0 => l as usize,
                _ => return Err(ApiError::bad_data(format!("invalid limit {}: must be a positive integer", go_quote(text)))),
            },
        };
        let batch_size = match params.get("batch_size") {
            None | Some("") => BATCH_SIZE_DEFAULT,
            Some(text) => match go_atoi(text).and_then(|b| usize::try_from(b).ok()) {
                Some(b) if b > 0 => b,
                _ => return Err(ApiError::bad_data(format!("invalid batch_size {}: must be a positive integer", go_quote(text)))),
            },
        };
        let order = match sort_by {
            "" | "alpha" if descending => Order::ValueDesc,
            "" | "alpha" => Order::ValueAsc,
            "score" => Order::ScoreDesc,
            other => {
                return Err(ApiError::bad_data(format!("invalid sort_by {} for {}: must be \"alpha\" or \"score\"", go_quote(other), endpoint.name())))
            }
        };
        Ok(SearchParams { match_sets, searches, fuzz_threshold, fuzz_alg, case_sensitive, include_score, order, mint_ms, maxt_ms, limit, batch_size })
    }
}

/// One result: a name or value and its score.
#[derive(Debug, PartialEq)]
struct Hit {
    value: String,
    score: f64,
}

/// The values (sorted, unique) the filter keeps, in `order`, at most `limit`; and whether
/// more were kept than `limit`.
fn rank(values: Vec<String>, filter: Option<&SearchFilter>, order: Order, limit: usize) -> (Vec<Hit>, bool) {
    debug_assert!(values.windows(2).all(|w| w[0] < w[1]), "listings come sorted and deduplicated");
    let mut hits: Vec<Hit> = match filter {
        None => values.into_iter().map(|value| Hit { value, score: 1.0 }).collect(),
        Some(filter) => values.into_iter().filter_map(|value| filter.score(&value).map(|score| Hit { value, score })).collect(),
    };
    match order {
        Order::ValueAsc => {}
        Order::ValueDesc => hits.reverse(),
        Order::ScoreDesc => hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.value.cmp(&b.value))),
    }
    let has_more = hits.len() > limit;
    hits.truncate(limit);
    (hits, has_more)
}

/// The NDJSON body: `hits` in lines of `batch_size` (`{"results":[…]}`, one even when
/// empty), then `{"status":"success","has_more":…}`.
fn ndjson(hits: &[Hit], has_more: bool, batch_size: usize, mut push_hit: impl FnMut(&mut String, &Hit)) -> String {
    let mut out = String::new();
    if hits.is_empty() {
        out.push_str("{\"results\":[]}\n");
    }
    for batch in hits.chunks(batch_size.max(1)) {
        out.push_str("{\"results\":[");
        for (i, hit) in batch.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_hit(&mut out, hit);
        }
        out.push_str("]}\n");
    }
    out.push_str(if has_more { "{\"status\":\"success\",\"has_more\":true}\n" } else { "{\"status\":\"success\",\"has_more\":false}\n" });
    out
}

/// `{"<key>":"…"[,"score":…]`, left open for the metadata fields.
fn push_hit_open(out: &mut String, key: &str, hit: &Hit, include_score: bool) {
    out.push_str("{\"");
    out.push_str(key);
    out.push_str("\":");
    promql::format::push_go_json_string(out, &hit.value);
    if include_score {
        out.push_str(",\"score\":");
        promql::format::push_go_float(out, hit.score);
    }
}

/// Type, help and unit of each metric family (the first entry of a family when several).
async fn metadata_by_family(api: &Api) -> HashMap<String, [String; 3]> {
    let mut by_family = HashMap::new();
    match api.router.metadata(None).await {
        Ok(entries) => {
            for m in entries {
                by_family.entry(m.family).or_insert([m.kind, m.help, m.unit]);
            }
        }
        // As Prometheus without its scrape targets: the names go out without metadata.
        Err(error) => tracing::warn!(%error, "search: metric metadata unavailable, answering without it"),
    }
    by_family
}

/// GET/POST `/api/v1/search/<endpoint>`.
pub async fn handle(api: &Api, request: &Request<Bytes>, endpoint: Endpoint) -> Result<Response<Bytes>, ApiError> {
    let params = super::query_and_form(request, &[Method::POST])
        .map_err(|e| ApiError::bad_data(format!("error parsing form values: {e}")))?
        .confined_to(api.confinement(request));
    let search = SearchParams::parse(&params, endpoint, now_ms())?;
    let include_metadata = endpoint == Endpoint::MetricNames && bool_param(&params, "include_metadata", false)?;
    let (sets, mint_ms, maxt_ms) = (search.match_sets, search.mint_ms, search.maxt_ms);
    let values = match endpoint {
        Endpoint::MetricNames => labels::collect_values(api, "__name__", sets, mint_ms, maxt_ms).await?,
        Endpoint::LabelNames => labels::collect_names(api, sets, mint_ms, maxt_ms).await?,
        Endpoint::LabelValues => match params.get("label") {
            None | Some("") => return Err(ApiError::bad_data("missing required parameter \"label\"")),
            Some(name) => labels::collect_values(api, name, sets, mint_ms, maxt_ms).await?,
        },
    };
    let filter = SearchFilter::build(&search.searches, search.fuzz_threshold, search.fuzz_alg, search.case_sensitive);
    let (hits, has_more) = rank(values, filter.as_ref(), search.order, search.limit);
    let metadata = if include_metadata && !hits.is_empty() { metadata_by_family(api).await } else { HashMap::new() };
    let include_score = search.include_score;
    let body = ndjson(&hits, has_more, search.batch_size, |out, hit| match endpoint {
        Endpoint::LabelValues => {
            push_hit_open(out, "value", hit, include_score);
            out.push('}');
        }
        Endpoint::LabelNames | Endpoint::MetricNames => {
            push_hit_open(out, "name", hit, include_score);
            for (key, text) in ["type", "help", "unit"].into_iter().zip(metadata.get(&hit.value).into_iter().flatten()) {
                if !text.is_empty() {
                    out.push_str(",\"");
                    out.push_str(key);
                    out.push_str("\":");
                    promql::format::push_go_json_string(out, text);
                }
            }
            out.push('}');
        }
    });
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/x-ndjson; charset=utf-8"));
    Ok(response)
}

#[cfg(test)]
mod tests;
