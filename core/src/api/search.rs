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

/// `limit` when the request names none (Prometheus' `defaultSearchLimit`).
pub const LIMIT_DEFAULT: usize = 100;
/// Largest `limit` accepted: the default of Prometheus' `--web.search.max-limit`.
pub const LIMIT_MAX: usize = 10_000;
/// Results per NDJSON line when the request names no `batch_size`.
pub const BATCH_SIZE_DEFAULT: usize = 100;
/// Most `search[]` terms in one request: each term costs a scoring pass over every value.
pub const SEARCH_TERMS_MAX: usize = 32;

const FUZZ_ALGORITHMS: &str = "[subsequence jarowinkler]";
/// Non-exact subsequence matches are scaled below 1.0 so they never tie an exact one.
const SUBSEQUENCE_NON_EXACT_SCALE: f64 = 0.999;
/// Winkler's prefix weight and the longest prefix it rewards.
const WINKLER_PREFIX_WEIGHT: f64 = 0.1;
const WINKLER_PREFIX_MAX: usize = 4;

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
fn go_quote(text: &str) -> String {
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

/// Go's `strconv.ParseBool`.
fn go_parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn bool_param(params: &Params, name: &str, default: bool) -> Result<bool, ApiError> {
    match params.get(name) {
        None | Some("") => Ok(default),
        Some(text) => go_parse_bool(text).ok_or_else(|| ApiError::bad_data(format!("invalid {name} {}: must be boolean", go_quote(text)))),
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
        let match_sets = params
            .all("match[]")
            .map(|text| promql::parse_series_selector(text).map_err(|e| ApiError::bad_data(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
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

/// Go's `strings.ToLower`: one lower-case character per character (simple case mapping, so
/// `İ` becomes `i` and a final `Σ` is `σ`, unlike `str::to_lowercase`).
fn go_to_lower(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == '\u{130}' {
                return 'i';
            }
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(l), None) => l,
                _ => c,
            }
        })
        .collect()
}

/// Calls `on_bytes` with both texts' bytes when both are ASCII (the same sequence as their
/// characters, cheaper), else `on_chars` with their characters.
fn with_units<R>(a: &str, b: &str, on_bytes: impl Fn(&[u8], &[u8]) -> R, on_chars: impl Fn(&[char], &[char]) -> R) -> R {
    if a.is_ascii() && b.is_ascii() {
        return on_bytes(a.as_bytes(), b.as_bytes());
    }
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    on_chars(&a, &b)
}

/// Substring score: 1.0 for a prefix, else from 1.0 down to 0.1 as the first match lies
/// later (positions in characters); `None` when `query` does not occur in `value`.
fn substring_score(query: &str, value: &str) -> Option<f64> {
    if query.is_empty() {
        return Some(1.0);
    }
    let at = value.find(query)?;
    if at == 0 {
        return Some(1.0);
    }
    let position = value[..at].chars().count() as i64;
    let last_position = value.chars().count() as i64 - query.chars().count() as i64;
    if last_position <= 0 {
        return Some(1.0);
    }
    Some(1.0 - 0.9 * position as f64 / last_position as f64)
}

/// Subsequence score in [0, 1]: 0 unless every character of `pattern` occurs in `text` in
/// order; 1 only for equal strings. From each start where the first character occurs (the
/// best one counts), characters are taken greedily in runs; the raw score is the sum of
/// squared run lengths less the gaps before and between runs (each per character of `text`)
/// and half the trailing gap, divided by the squared pattern length and scaled by 0.999.
fn subsequence_score(pattern: &str, text: &str) -> f64 {
    if pattern.is_empty() || pattern == text {
        return 1.0;
    }
    if text.is_empty() || pattern.len() > text.len() {
        return 0.0;
    }
    with_units(pattern, text, subsequence_units, subsequence_units)
}

fn subsequence_units<T: PartialEq>(pattern: &[T], text: &[T]) -> f64 {
    let (pattern_len, text_len) = (pattern.len(), text.len());
    if pattern_len > text_len {
        return 0.0;
    }
    let per_char = 1.0 / text_len as f64;
    let score_from = |start: usize| -> Option<f64> {
        let (mut i, mut next) = (start, 0);
        let mut score = 0.0;
        let mut previous_end: Option<usize> = None;
        while next < pattern_len {
            // The next occurrence of the pattern's next character starts a run.
            let from = i + text[i..].iter().position(|u| *u == pattern[next])?;
            let mut to = from;
            next += 1;
            while next < pattern_len && to + 1 < text_len && text[to + 1] == pattern[next] {
                to += 1;
                next += 1;
            }
            let gap = match previous_end {
                None => from,
                Some(end) => from - end - 1,
            };
            if gap > 0 {
                score -= gap as f64 * per_char;
            }
            let run = (to - from + 1) as f64;
            score += run * run;
            previous_end = Some(to);
            i = to + 1;
        }
        let trailing = text_len - 1 - previous_end?;
        if trailing > 0 {
            score -= trailing as f64 * per_char * 0.5;
        }
        Some(score)
    };
    let mut best = -1.0_f64;
    for (start, unit) in text.iter().enumerate().take(text_len - pattern_len + 1) {
        if *unit != pattern[0] {
            continue;
        }
        // A start that cannot complete the pattern leaves no later one that can.
        let Some(score) = score_from(start) else { break };
        if score > best {
            best = score;
        }
    }
    if best < 0.0 {
        return 0.0;
    }
    best / (pattern_len * pattern_len) as f64 * SUBSEQUENCE_NON_EXACT_SCALE
}

/// Jaro-Winkler similarity in [0, 1] (1 for equal strings, 0 when either is empty), counted
/// in characters, matching from the shorter string; prefix bonus on up to 4 characters.
fn jaro_winkler(term: &str, text: &str) -> f64 {
    if term == text {
        return 1.0;
    }
    if term.is_empty() || text.is_empty() {
        return 0.0;
    }
    with_units(term, text, jaro_winkler_units, jaro_winkler_units)
}

fn jaro_winkler_units<T: PartialEq>(a: &[T], b: &[T]) -> f64 {
    let (short, long) = if a.len() > b.len() { (b, a) } else { (a, b) };
    let (l1, l2) = (short.len(), long.len());
    let window = (l2 / 2).saturating_sub(1);
    let mut short_matched = vec![false; l1];
    let mut long_matched = vec![false; l2];
    let mut matches = 0.0_f64;
    for i in 0..l1 {
        for j in i.saturating_sub(window)..(i + window + 1).min(l2) {
            if !long_matched[j] && short[i] == long[j] {
                short_matched[i] = true;
                long_matched[j] = true;
                matches += 1.0;
                break;
            }
        }
    }
    if matches == 0.0 {
        return 0.0;
    }
    let mut transpositions = 0.0_f64;
    let mut k = 0;
    for i in (0..l1).filter(|&i| short_matched[i]) {
        while !long_matched[k] {
            k += 1;
        }
        if short[i] != long[k] {
            transpositions += 1.0;
        }
        k += 1;
    }
    let (inv_l1, inv_l2) = (1.0 / l1 as f64, 1.0 / l2 as f64);
    let jaro = (matches * inv_l1 + matches * inv_l2 + (matches - transpositions * 0.5) / matches) / 3.0;
    let prefix = (0..WINKLER_PREFIX_MAX.min(l1)).take_while(|&p| short[p] == long[p]).count();
    jaro + prefix as f64 * WINKLER_PREFIX_WEIGHT * (1.0 - jaro)
}

/// How one `search[]` term keeps and scores a value (already case-folded when asked).
#[derive(Debug)]
enum TermFilter {
    /// A prefix scores 1; otherwise the subsequence score, kept when above 0 and at least
    /// the threshold.
    Subsequence { query: String, threshold: f64 },
    /// The substring score; failing that, with a threshold, Jaro-Winkler when at least it.
    SubstringOrJaroWinkler { query: String, threshold: Option<f64> },
}

impl TermFilter {
    fn score(&self, value: &str) -> Option<f64> {
        match self {
            TermFilter::Subsequence { query, threshold } => {
                if value.starts_with(query.as_str()) {
                    return Some(1.0);
                }
                let score = subsequence_score(query, value);
                (score > 0.0 && score >= *threshold).then_some(score)
            }
            TermFilter::SubstringOrJaroWinkler { query, threshold } => substring_score(query, value).or_else(|| {
                let threshold = (*threshold)?;
                let score = jaro_winkler(query, value);
                (score >= threshold).then_some(score)
            }),
        }
    }
}

/// The `search[]` terms: a value is kept when any term keeps it, with the best score.
#[derive(Debug)]
struct SearchFilter {
    terms: Vec<TermFilter>,
    case_fold: bool,
}

impl SearchFilter {
    /// `None` when no non-empty term is left: every value is kept, each scoring 1.
    fn build(searches: &[String], fuzz_threshold: u8, fuzz_alg: FuzzAlg, case_sensitive: bool) -> Option<SearchFilter> {
        let threshold = f64::from(fuzz_threshold) / 100.0;
        let terms: Vec<TermFilter> = searches
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| if case_sensitive { s.clone() } else { go_to_lower(s) })
            .map(|query| match fuzz_alg {
                FuzzAlg::Subsequence => TermFilter::Subsequence { query, threshold },
                FuzzAlg::JaroWinkler => TermFilter::SubstringOrJaroWinkler { query, threshold: (fuzz_threshold > 0).then_some(threshold) },
            })
            .collect();
        (!terms.is_empty()).then_some(SearchFilter { terms, case_fold: !case_sensitive })
    }

    fn score(&self, value: &str) -> Option<f64> {
        let folded;
        let value = if self.case_fold {
            folded = go_to_lower(value);
            folded.as_str()
        } else {
            value
        };
        let mut best: Option<f64> = None;
        for term in &self.terms {
            if let Some(score) = term.score(value) {
                let better = best.map_or(score, |b| b.max(score));
                best = Some(better);
                if better >= 1.0 {
                    break;
                }
            }
        }
        best
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

/// Appends `value` as a JSON string the way Go's encoding/json writes it: `<`, `>`, `&`,
/// U+2028 and U+2029 escaped as `\u00XX`/`\u20XX`, control characters other than `\n`, `\r`,
/// `\t` as `\u00XX`.
fn push_go_json_string(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
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
    push_go_json_string(out, &hit.value);
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
                    push_go_json_string(out, text);
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
mod tests {
    use super::*;

    fn close(got: f64, want: f64, tolerance: f64) -> bool {
        (got - want).abs() <= tolerance
    }

    // Cases and numbers re-derived from Prometheus' search_filters_test.go (substring).
    #[test]
    fn substring_scores_fall_with_the_match_position_in_characters() {
        let table: &[(&str, &str, Option<f64>)] = &[
            ("prometheus", "prometheus", Some(1.0)),
            ("prom", "prometheus", Some(1.0)),
            ("meth", "prometheus", Some(0.55)), // position 3 of 6
            ("heus", "prometheus", Some(0.1)),  // the last position
            ("prometheus", "Prometheus", None),
            ("grafana", "prometheus", None),
            ("本", "東京日本京都", Some(0.46)), // position 3 of 5 characters, not bytes
            ("fo", "infor", Some(0.4)),
            ("b", "abc日本", Some(0.775)),  // ASCII match, multi-byte tail: 1 of 4
            ("c", "日本cabc", Some(0.64)), // multi-byte head: 2 of 5
        ];
        for &(query, value, want) in table {
            let got = substring_score(query, value);
            assert_eq!(got.is_some(), want.is_some(), "{query} in {value}");
            if let (Some(got), Some(want)) = (got, want) {
                assert!(close(got, want, 1e-12), "{query} in {value}: {got} != {want}");
            }
        }
    }

    // Prometheus' strutil subsequence_test.go expectations, re-derived from its formula.
    #[test]
    fn subsequence_scores_reward_runs_and_penalise_gaps() {
        let table: &[(&str, &str, f64)] = &[
            ("", "anything", 1.0),
            ("abc", "", 0.0),
            ("my awesome text", "my awesome text", 1.0),
            ("my", "my awesome text", 107.0 / 120.0 * 0.999), // (4 - 13/30) / 4
            ("tex", "my awesome text", 247.0 / 270.0 * 0.999), // (9 - 11/15 - 1/30) / 9
            ("met", "my awesome text", 43.0 / 90.0 * 0.999), // (5 - 9/15 - 3/30) / 9
            ("bac", "babac", 43.0 / 45.0 * 0.999), // the later start with one run wins
            ("handler1", "handler10", 1_149_849.0 / 1_152_000.0),
            ("abcd", "abc", 0.0),
            ("abc", "éé", 0.0),
            ("é", "ab", 0.0),
            ("xyz", "abc", 0.0),
            ("éàü", "éàü", 1.0),
            ("éà", "éàü", 23.0 / 24.0 * 0.999),
            ("üé", "éàü", 0.0),
            ("éàx", "éàü", 0.0),
            ("éü", "éàü", 5.0 / 12.0 * 0.999),
            ("aé", "aéb", 23.0 / 24.0 * 0.999),
            ("é", "ã", 0.0), // same leading UTF-8 byte, different characters
            ("a", "a", 1.0),
        ];
        for &(pattern, text, want) in table {
            let got = subsequence_score(pattern, text);
            assert!(close(got, want, 1e-12), "{pattern} in {text}: {got} != {want}");
        }
    }

    // Prometheus' strutil jarowinkler_test.go ranges, plus the textbook values.
    #[test]
    fn jaro_winkler_scores_are_symmetric_and_in_the_expected_ranges() {
        let table: &[(&str, &str, f64, f64)] = &[
            ("prometheus", "prometheus", 1.0, 1.0),
            ("", "", 1.0, 1.0),
            ("", "abc", 0.0, 0.0),
            ("abc", "xyz", 0.0, 0.0),
            ("mimir", "mimer", 0.90, 0.92),
            ("martha", "marhta", 0.961_111, 0.961_112),
            ("dwayne", "duane", 0.84, 0.840_001),
            ("dixon", "dicksonx", 0.813_333, 0.813_334),
            ("a", "b", 0.0, 0.0),
            ("prefix_abc", "prefix_xyz", 0.80, 0.90),
            ("café", "cafe", 0.88, 0.89),
            ("naïve", "naive", 0.89, 0.90),
            ("résumé", "resume", 0.79, 0.81),
            ("préfixe_abc", "préfixe_xyz", 0.80, 0.90),
            ("naïve_long", "naïve", 0.89, 0.91),
            ("äöü", "éèê", 0.0, 0.0),
            ("màrthà", "màrhtà", 0.96, 0.97),
        ];
        for &(a, b, low, high) in table {
            let score = jaro_winkler(a, b);
            assert!((low..=high).contains(&score), "{a} ~ {b}: {score} not in [{low}, {high}]");
            assert!(close(score, jaro_winkler(b, a), 1e-10), "{a} ~ {b} is not symmetric");
        }
    }

    fn filter(search: &str, fuzz_threshold: u8, fuzz_alg: FuzzAlg, case_sensitive: bool) -> SearchFilter {
        SearchFilter::build(&[search.to_string()], fuzz_threshold, fuzz_alg, case_sensitive).expect("a non-empty term")
    }

    // Prometheus' TestMatchName (Jaro-Winkler chain) and TestSubsequenceFilter.
    #[test]
    fn filters_keep_and_score_as_prometheus_chains_them() {
        use FuzzAlg::{JaroWinkler, Subsequence};
        // Term, fuzz_threshold, fuzz_alg, case_sensitive, value, score (None: not kept).
        type Case<'a> = (&'a str, u8, FuzzAlg, bool, &'a str, Option<f64>);
        let table: &[Case] = &[
            ("go_gor", 100, JaroWinkler, true, "go_goroutines", Some(1.0)),
            ("GO_GOR", 100, JaroWinkler, true, "go_goroutines", None),
            ("GO_GOR", 100, JaroWinkler, false, "go_goroutines", Some(1.0)),
            ("xyz_not_found", 100, JaroWinkler, true, "go_goroutines", None),
            ("go_goroutins", 100, JaroWinkler, true, "go_goroutines", None),
            ("goroutine", 100, JaroWinkler, true, "go_goroutines", Some(0.325)),
            // No threshold: substring only.
            ("go_goroutins", 0, JaroWinkler, true, "go_goroutines", None),
            ("prometheus", 80, JaroWinkler, true, "PROMETHEUS", None),
            ("prometheus", 80, JaroWinkler, true, "grafana", None),
            ("prometheus", 100, Subsequence, true, "prometheus", Some(1.0)),
            ("prom", 100, Subsequence, true, "prometheus", Some(1.0)),
            ("xyz", 0, Subsequence, true, "prometheus", None),
            ("prom", 0, Subsequence, true, "PROMETHEUS", None),
            ("prom", 0, Subsequence, false, "PROMETHEUS", Some(1.0)),
            ("pms", 99, Subsequence, true, "prometheus", None),
        ];
        for &(search, threshold, alg, case_sensitive, value, want) in table {
            let got = filter(search, threshold, alg, case_sensitive).score(value);
            assert_eq!(got.is_some(), want.is_some(), "{search} ({alg:?}, {threshold}) on {value}: {got:?}");
            if let (Some(got), Some(want)) = (got, want) {
                assert!(close(got, want, 1e-12), "{search} on {value}: {got} != {want}");
            }
        }
        let fuzzy = filter("go_goroutins", 80, JaroWinkler, true).score("go_goroutines").expect("kept by Jaro-Winkler");
        assert!((0.8..1.0).contains(&fuzzy), "{fuzzy}");
        let pms = filter("pms", 0, Subsequence, true).score("prometheus").expect("a subsequence");
        assert!(pms > 0.0 && pms < 0.99, "{pms}");
        // Terms are ORed, the best score counts; empty terms are no filter at all.
        let two = SearchFilter::build(&["heus".into(), "meth".into()], 0, JaroWinkler, true).expect("terms");
        assert_eq!(two.score("prometheus"), Some(0.55));
        assert!(SearchFilter::build(&[String::new()], 0, Subsequence, true).is_none());
        // Go's simple lower-casing: İ is i, a final Σ is σ.
        assert_eq!(go_to_lower("İSTANBUL ΟΔΟΣ"), "istanbul οδοσ");
    }

    fn params(query: &str) -> Params {
        Params::from_request(Some(query), None).expect("valid query string")
    }

    #[test]
    fn bad_parameters_are_400s_with_prometheus_messages_in_its_order() {
        let now = 7_200_000;
        let table: &[(&str, &str)] = &[
            ("start=yesterday", "invalid time value for 'start': cannot parse \"yesterday\" to a valid timestamp"),
            ("end=x", "invalid time value for 'end': cannot parse \"x\" to a valid timestamp"),
            ("start=7200&end=3600", "end timestamp must not be before start timestamp"),
            ("match[]=%7Bjob%3D%22%22%7D", "1:1: parse error: vector selector must contain at least one non-empty matcher"),
            ("fuzz_threshold=200", "invalid fuzz_threshold \"200\": must be 0-100"),
            ("fuzz_threshold=-1", "invalid fuzz_threshold \"-1\": must be 0-100"),
            ("fuzz_alg=levenshtein", "unsupported fuzz_alg \"levenshtein\": must be one of [subsequence jarowinkler]"),
            ("case_sensitive=maybe", "invalid case_sensitive \"maybe\": must be boolean"),
            ("include_score=yes", "invalid include_score \"yes\": must be boolean"),
            ("sort_dir=asc", "sort_dir is only valid when sort_by is set"),
            ("sort_by=score&sort_dir=asc&search[]=a", "sort_dir is not supported for sort_by=score"),
            ("sort_by=alpha&sort_dir=up", "invalid sort_dir \"up\": must be \"asc\" or \"dsc\""),
            ("sort_by=score", "sort_by=score requires search[] to be set"),
            ("limit=0", "invalid limit \"0\": must be a positive integer"),
            ("limit=-1", "invalid limit \"-1\": must be a positive integer"),
            ("limit=x", "invalid limit \"x\": must be a positive integer"),
            ("limit=10001", "limit 10001 exceeds the configured maximum (10000, see --web.search.max-limit)"),
            ("batch_size=0", "invalid batch_size \"0\": must be a positive integer"),
            ("sort_by=cardinality", "invalid sort_by \"cardinality\" for label_values: must be \"alpha\" or \"score\""),
            // Checked in Prometheus' order: the sort direction before the sort key.
            ("sort_by=frequency&sort_dir=x", "invalid sort_dir \"x\": must be \"asc\" or \"dsc\""),
            ("limit=0&batch_size=0", "invalid limit \"0\": must be a positive integer"),
        ];
        for (query, message) in table {
            let error = SearchParams::parse(&params(query), Endpoint::LabelValues, now).expect_err(query);
            assert_eq!((error.status.as_u16(), error.error_type, error.message.as_str()), (400, "bad_data", *message), "{query}");
        }
        let terms: String = (0..33).map(|i| format!("search[]=t{i}&")).collect();
        let error = SearchParams::parse(&params(&terms), Endpoint::MetricNames, now).expect_err("33 terms");
        assert_eq!(error.message, "too many search[] terms: got 33, maximum is 32");
        let error = SearchParams::parse(&params("sort_by=x"), Endpoint::MetricNames, now).expect_err("bad sort_by");
        assert_eq!(error.message, "invalid sort_by \"x\" for metric_names: must be \"alpha\" or \"score\"");
    }

    #[test]
    fn parameters_default_as_prometheus_defaults_them() {
        let now = 10_000_000;
        let p = SearchParams::parse(&params(""), Endpoint::MetricNames, now).expect("defaults");
        assert_eq!((p.mint_ms, p.maxt_ms), (now - 3_600_000, now));
        assert_eq!((p.limit, p.batch_size, p.fuzz_threshold), (100, 100, 0));
        assert_eq!((p.fuzz_alg, p.order, p.case_sensitive, p.include_score), (FuzzAlg::Subsequence, Order::ValueAsc, true, false));
        assert!(p.match_sets.is_empty() && p.searches.is_empty());
        let p = SearchParams::parse(&params("sort_by=alpha&sort_dir=dsc&limit=%2B7&case_sensitive=F&include_score=1&start=5&end=5"), Endpoint::LabelNames, now)
            .expect("valid");
        assert_eq!((p.order, p.limit, p.case_sensitive, p.include_score, p.mint_ms, p.maxt_ms), (Order::ValueDesc, 7, false, true, 5000, 5000));
        let p = SearchParams::parse(&params("sort_by=score&search[]=&match[]=up&extra_label=job=a"), Endpoint::LabelNames, now).expect("valid");
        assert_eq!(p.order, Order::ScoreDesc);
        // The read filters are joined with every match[].
        assert_eq!(p.match_sets.len(), 1);
        assert_eq!(p.match_sets[0].len(), 2);
    }

    fn values(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn ndjson_batches_split_at_batch_size_and_has_more_tells_a_cut() {
        let five = values(&["a", "b", "c", "d", "e"]);
        let (hits, has_more) = rank(five.clone(), None, Order::ValueAsc, 100);
        let body = ndjson(&hits, has_more, 2, |out, hit| {
            push_hit_open(out, "value", hit, false);
            out.push('}');
        });
        assert_eq!(
            body,
            "{\"results\":[{\"value\":\"a\"},{\"value\":\"b\"}]}\n{\"results\":[{\"value\":\"c\"},{\"value\":\"d\"}]}\n\
             {\"results\":[{\"value\":\"e\"}]}\n{\"status\":\"success\",\"has_more\":false}\n"
        );
        // A limit that cuts: has_more; one exactly as large: not.
        let (hits, has_more) = rank(five.clone(), None, Order::ValueDesc, 3);
        assert_eq!(hits.iter().map(|h| h.value.as_str()).collect::<Vec<_>>(), ["e", "d", "c"]);
        assert!(has_more);
        let body = ndjson(&hits, has_more, 2, |out, hit| out.push_str(&hit.value));
        assert_eq!(body, "{\"results\":[e,d]}\n{\"results\":[c]}\n{\"status\":\"success\",\"has_more\":true}\n");
        let (hits, has_more) = rank(five, None, Order::ValueAsc, 5);
        assert!(!has_more);
        assert_eq!(hits.len(), 5);
        // Nothing found: one empty batch, then the trailer.
        assert_eq!(ndjson(&[], false, 2, |_, _| {}), "{\"results\":[]}\n{\"status\":\"success\",\"has_more\":false}\n");
    }

    #[test]
    fn score_order_breaks_ties_by_value_and_scores_print_as_go_does() {
        let f = SearchFilter::build(&["meth".into()], 0, FuzzAlg::JaroWinkler, true);
        let (hits, has_more) = rank(values(&["a_meth_b", "meth", "promethe", "prometheus", "zmeth"]), f.as_ref(), Order::ScoreDesc, 4);
        let got: Vec<(&str, f64)> = hits.iter().map(|h| (h.value.as_str(), h.score)).collect();
        // 0.55 twice (positions 2 of 4 and 3 of 6): the lesser value first.
        assert_eq!(got, [("meth", 1.0), ("a_meth_b", 0.55), ("prometheus", 0.55), ("promethe", 1.0 - 0.9 * 3.0 / 4.0)]);
        assert!(has_more);
        let mut out = String::new();
        push_hit_open(&mut out, "name", &Hit { value: "a<b>&c\u{2028}\u{2029}\"\\\n\r\t\u{1}\u{8}\u{c}\u{7f}é".into(), score: 0.55 }, true);
        assert_eq!(out, "{\"name\":\"a\\u003cb\\u003e\\u0026c\\u2028\\u2029\\\"\\\\\\n\\r\\t\\u0001\\u0008\\u000c\u{7f}é\",\"score\":0.55");
        let mut out = String::new();
        push_hit_open(&mut out, "value", &Hit { value: "x".into(), score: 1.0 }, true);
        assert_eq!(out, "{\"value\":\"x\",\"score\":1");
    }
}
