//! `/api/v1/rules` and `/api/v1/alerts` as Prometheus 3 answers them: the rule groups by
//! file and name with each rule's health, last error, timings and (alerting rules) alerts;
//! filtered by `type`, `rule_name[]`, `rule_group[]`, `file[]` and `match[]` (on the rules'
//! labels), alerts left out with `exclude_alerts`, and paged with `group_limit` /
//! `group_next_token`.

use serde_json::{json, Map, Value as Json};
use tsdb::Matcher;

use super::params::Params;
use super::ApiError;
use crate::rules::status::{AlertView, GroupView, RuleView, RuleViewKind};

/// Go's zero `time.Time` as its JSON encoder writes it: a rule or group not evaluated yet.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The `data` of `/api/v1/rules` for `groups`.
pub fn rules(groups: &[GroupView], params: &Params) -> Result<Json, ApiError> {
    let kind = params.get("type").unwrap_or("").to_ascii_lowercase();
    if !matches!(kind.as_str(), "" | "alert" | "record") {
        return Err(ApiError::bad_data(format!("invalid parameter \"type\": not supported value {kind:?}")));
    }
    let exclude_alerts = match params.get("exclude_alerts").map(str::to_ascii_lowercase).as_deref() {
        None | Some("") => false,
        Some(text) => go_bool(text).ok_or_else(|| ApiError::bad_data(format!("invalid parameter \"exclude_alerts\": error converting exclude_alerts: strconv.ParseBool: parsing {text:?}: invalid syntax")))?,
    };
    let (group_limit, next_token) = pagination(params)?;
    let names: Vec<&str> = params.all("rule_name[]").collect();
    let group_names: Vec<&str> = params.all("rule_group[]").collect();
    let files: Vec<&str> = params.all("file[]").collect();
    let match_sets = super::labels::match_sets(params)?;
    let mut out: Vec<Json> = Vec::new();
    let mut found_token = false;
    let mut group_next_token = None;
    for group in groups {
        if let (Some(_), Some(token)) = (group_limit, next_token) {
            if !found_token {
                if token != next_token_of(group) {
                    continue;
                }
                found_token = true;
            }
        }
        if !group_names.is_empty() && !group_names.contains(&group.name.as_str()) || !files.is_empty() && !files.contains(&group.file.as_str()) {
            continue;
        }
        let rules: Vec<Json> = group
            .rules
            .iter()
            .filter(|r| names.is_empty() || names.contains(&r.name.as_str()))
            .filter(|r| match_sets.is_empty() || match_sets.iter().any(|set| matches_labels(set, r)))
            .filter(|r| match r.kind {
                RuleViewKind::Alerting { .. } => kind != "record",
                RuleViewKind::Recording => kind != "alert",
            })
            .map(|r| rule_json(r, exclude_alerts))
            .collect();
        if rules.is_empty() {
            continue;
        }
        if group_limit.is_some_and(|limit| out.len() == limit) {
            group_next_token = Some(next_token_of(group));
            break;
        }
        out.push(json!({
            "name": group.name,
            "file": group.file,
            "rules": rules,
            "interval": number(group.interval_seconds),
            "limit": group.limit,
            "evaluationTime": number(group.evaluation_seconds),
            "lastEvaluation": time(group.last_evaluation_ms),
        }));
    }
    if let (Some(_), Some(token)) = (group_limit, next_token) {
        if !found_token {
            return Err(ApiError::bad_data(format!("invalid parameter \"group_next_token\": invalid group_next_token '{token}'. were rule groups changed?")));
        }
    }
    let mut data = Map::new();
    data.insert("groups".into(), Json::Array(out));
    if let Some(token) = group_next_token {
        data.insert("groupNextToken".into(), Json::String(token));
    }
    Ok(Json::Object(data))
}

/// The `data` of `/api/v1/alerts`: every pending and firing alert.
pub fn alerts(groups: &[GroupView]) -> Json {
    let alerts: Vec<Json> = groups
        .iter()
        .flat_map(|g| g.rules.iter())
        .flat_map(|r| match &r.kind {
            RuleViewKind::Alerting { alerts, .. } => alerts.iter().map(alert_json).collect(),
            RuleViewKind::Recording => Vec::new(),
        })
        .collect();
    json!({ "alerts": alerts })
}

fn rule_json(r: &RuleView, exclude_alerts: bool) -> Json {
    let mut out = Map::new();
    match &r.kind {
        RuleViewKind::Alerting { hold_seconds, keep_firing_for_seconds, annotations, state, alerts } => {
            out.insert("state".into(), state.as_str().into());
            out.insert("name".into(), r.name.clone().into());
            out.insert("query".into(), r.query.clone().into());
            out.insert("duration".into(), number(*hold_seconds));
            out.insert("keepFiringFor".into(), number(*keep_firing_for_seconds));
            out.insert("labels".into(), json!(r.labels));
            out.insert("annotations".into(), json!(annotations));
            // Go writes the nil list of excluded alerts as null.
            out.insert("alerts".into(), if exclude_alerts { Json::Null } else { Json::Array(alerts.iter().map(alert_json).collect()) });
        }
        RuleViewKind::Recording => {
            out.insert("name".into(), r.name.clone().into());
            out.insert("query".into(), r.query.clone().into());
            out.insert("labels".into(), json!(r.labels));
        }
    }
    out.insert("health".into(), r.health.as_str().into());
    if let Some(error) = &r.last_error {
        out.insert("lastError".into(), error.clone().into());
    }
    out.insert("evaluationTime".into(), number(r.evaluation_seconds));
    out.insert("lastEvaluation".into(), time(r.last_evaluation_ms));
    let kind = if matches!(r.kind, RuleViewKind::Recording) { "recording" } else { "alerting" };
    out.insert("type".into(), kind.into());
    Json::Object(out)
}

fn alert_json(a: &AlertView) -> Json {
    let mut out = Map::new();
    out.insert("labels".into(), json!(a.labels));
    out.insert("annotations".into(), json!(a.annotations));
    out.insert("state".into(), a.state.as_str().into());
    out.insert("activeAt".into(), time(Some(a.active_at_ms)));
    if let Some(since) = a.keep_firing_since_ms {
        out.insert("keepFiringSince".into(), time(Some(since)));
    }
    out.insert("value".into(), promql::format::go_float_e(a.value).into());
    Json::Object(out)
}

/// A rule's labels against one `match[]` set (all must match; `__name__` is not a label of
/// a rule).
fn matches_labels(set: &[Matcher], r: &RuleView) -> bool {
    set.iter().all(|m| m.matches(r.labels.get(&m.name).map(String::as_str).unwrap_or("")))
}

/// `group_limit` and `group_next_token`, checked as Prometheus checks them.
fn pagination(params: &Params) -> Result<(Option<usize>, Option<&str>), ApiError> {
    let limit = params.get("group_limit").filter(|t| !t.is_empty());
    let token = params.get("group_next_token").filter(|t| !t.is_empty());
    if token.is_some() && limit.is_none() {
        return Err(ApiError::bad_data("invalid parameter \"group_next_token\": group_limit needs to be present in order to paginate over the groups"));
    }
    let Some(text) = limit else { return Ok((None, None)) };
    let limit: i64 = text.parse().map_err(|_| ApiError::bad_data(format!("invalid parameter \"group_limit\": group_limit needs to be a valid number: strconv.ParseInt: parsing {text:?}: invalid syntax")))?;
    if limit <= 0 {
        return Err(ApiError::bad_data("invalid parameter \"group_limit\": group_limit needs to be greater than 0"));
    }
    Ok((Some(limit as usize), token))
}

/// Prometheus' page token of a group: SHA-256 of `file;name`, in hex.
fn next_token_of(group: &GroupView) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, format!("{};{}", group.file, group.name).as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn time(ms: Option<i64>) -> Json {
    match ms {
        Some(ms) => super::status::rfc3339_nano(ms.saturating_mul(1_000_000)).into(),
        None => ZERO_TIME.into(),
    }
}

/// A float as Go's JSON encoder writes it: integers without a fraction, exponent form only
/// below 1e-6 and from 1e21.
fn number(v: f64) -> Json {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return Json::from(v as i64);
    }
    serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number)
}

/// Go's `strconv.ParseBool`.
fn go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "true" => Some(true),
        "0" | "f" | "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::alerting::AlertState;
    use crate::rules::status::Health;
    use std::collections::BTreeMap;

    fn group(file: &str, name: &str) -> GroupView {
        let labels: BTreeMap<String, String> = [("severity".to_string(), "page".to_string())].into();
        let alert = AlertView { labels: [("alertname".to_string(), "Down".to_string())].into(), annotations: BTreeMap::new(), state: AlertState::Firing, active_at_ms: 1_500, keep_firing_since_ms: None, value: 1.0 };
        GroupView {
            name: name.into(),
            file: file.into(),
            interval_seconds: 60.0,
            limit: 0,
            evaluation_seconds: 0.25,
            last_evaluation_ms: None,
            last_timestamp_ms: None,
            last_samples: 0,
            evaluations: 0,
            failures: 0,
            iterations: 0,
            missed: 0,
            rules: vec![
                RuleView { name: "r".into(), query: "up".into(), labels: BTreeMap::new(), health: Health::Ok, last_error: None, evaluation_seconds: 0.5, last_evaluation_ms: Some(2_000), kind: RuleViewKind::Recording },
                RuleView {
                    name: "Down".into(),
                    query: "up == 0".into(),
                    labels,
                    health: Health::Err,
                    last_error: Some("boom".into()),
                    evaluation_seconds: 0.0,
                    last_evaluation_ms: None,
                    kind: RuleViewKind::Alerting { hold_seconds: 300.0, keep_firing_for_seconds: 0.0, annotations: BTreeMap::new(), state: AlertState::Firing, alerts: vec![alert] },
                },
            ],
        }
    }

    fn params(query: &str) -> Params {
        Params::from_request(Some(query), None).unwrap()
    }

    #[test]
    fn rules_are_written_as_prometheus_writes_them() {
        let data = rules(&[group("a.yml", "g")], &params("")).unwrap();
        let g = &data["groups"][0];
        assert_eq!((g["name"].as_str(), g["file"].as_str(), g["interval"].to_string(), g["lastEvaluation"].as_str()), (Some("g"), Some("a.yml"), "60".to_string(), Some(ZERO_TIME)));
        let recording = &g["rules"][0];
        assert_eq!(recording["type"], "recording");
        assert_eq!(recording["lastEvaluation"], "1970-01-01T00:00:02Z");
        assert!(recording.get("lastError").is_none());
        let alerting = &g["rules"][1];
        assert_eq!((alerting["state"].as_str(), alerting["duration"].to_string(), alerting["health"].as_str(), alerting["lastError"].as_str()), (Some("firing"), "300".to_string(), Some("err"), Some("boom")));
        assert_eq!(alerting["alerts"][0]["value"], "1e+00");
        assert_eq!(alerting["alerts"][0]["activeAt"], "1970-01-01T00:00:01.5Z");
        let alerts = super::alerts(&[group("a.yml", "g")]);
        assert_eq!(alerts["alerts"].as_array().map(Vec::len), Some(1));
    }

    #[test]
    fn filters_and_pages_as_prometheus() {
        let groups = [group("a.yml", "g1"), group("a.yml", "g2"), group("b.yml", "g3")];
        let only = |query: &str| -> Vec<String> { rules(&groups, &params(query)).unwrap()["groups"].as_array().unwrap().iter().map(|g| format!("{}:{}", g["name"].as_str().unwrap(), g["rules"].as_array().unwrap().len())).collect() };
        assert_eq!(only("type=record"), ["g1:1", "g2:1", "g3:1"]);
        assert_eq!(only("type=alert&rule_group[]=g2"), ["g2:1"]);
        assert_eq!(only("file[]=b.yml&rule_name[]=r"), ["g3:1"]);
        assert_eq!(only("match[]={severity=\"page\"}"), ["g1:1", "g2:1", "g3:1"]);
        let first = rules(&groups, &params("group_limit=2")).unwrap();
        assert_eq!(first["groups"].as_array().map(Vec::len), Some(2));
        let token = first["groupNextToken"].as_str().unwrap().to_string();
        let second = rules(&groups, &params(&format!("group_limit=2&group_next_token={token}"))).unwrap();
        assert_eq!(second["groups"][0]["name"], "g3");
        assert!(second.get("groupNextToken").is_none());
        let excluded = rules(&groups, &params("exclude_alerts=true")).unwrap();
        assert!(excluded["groups"][0]["rules"][1]["alerts"].is_null());
        for bad in ["type=x", "exclude_alerts=maybe", "group_limit=0", "group_next_token=abc", "group_limit=1&group_next_token=abc", "match[]={"] {
            assert!(rules(&groups, &params(bad)).is_err(), "{bad}");
        }
    }
}
