//! Status endpoints Grafana and promtool call: build info, runtime info, flags, config,
//! and the empty answers for features Metricstor does not have (targets, rules, alerts);
//! and VictoriaMetrics' `top_queries` and `series/count`.

use super::params::{parse_duration_ms, Params};
use super::query_stats::{MAX_LIFETIME_DEFAULT_MS, TOP_N_DEFAULT};
use super::{json, Api, ApiError};

/// Grafana needs `version` >= 2.24.0 and no `features` map (DESIGN §2): we report the
/// Prometheus API level we implement and keep our own version in `revision`.
pub fn build_info() -> String {
    format!(
        r#"{{"version":"2.53.0","revision":"metricstor-{}","branch":"main","buildUser":"metricstor","buildDate":"","goVersion":"rust"}}"#,
        env!("CARGO_PKG_VERSION")
    )
}

pub fn runtime_info(api: &Api) -> String {
    let mut out = String::from("{\"startTime\":");
    json::push_json_string(&mut out, &rfc3339(api.started_at_ms));
    let cwd = std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default();
    out.push_str(",\"CWD\":");
    json::push_json_string(&mut out, &cwd);
    out.push_str(&format!(
        ",\"reloadConfigSuccess\":true,\"lastConfigTime\":{},\"corruptionCount\":0,\"goroutineCount\":0,\"GOMAXPROCS\":{},\"GOGC\":\"\",\"GODEBUG\":\"\",\"storageRetention\":{}}}",
        serde_json::to_string(&rfc3339(api.started_at_ms)).unwrap_or_default(),
        api.all_metrics.len(),
        serde_json::to_string(&api.config.storage.retention_text()).unwrap_or_default()
    ));
    out
}

/// The names of Prometheus' `--enable-feature` flags whose behaviour the configuration
/// switches on here, sorted (those always on here, such as the experimental PromQL
/// functions, Prometheus has on without a flag or they are not listed).
fn enabled_features(c: &crate::config::Config) -> Vec<&'static str> {
    let mut on = vec![
        ("concurrent-rule-eval", c.rules.concurrent_evals > 1),
        ("created-timestamp-zero-ingestion", c.storage.start_timestamp_zero_ingestion),
        ("delayed-compaction", c.storage.delayed_compaction),
        ("exemplar-storage", c.storage.max_exemplars > 0),
        ("expand-external-labels", c.scrape.expand_external_labels),
        ("otlp-deltatocumulative", c.otlp.delta_to_cumulative),
        ("otlp-native-delta-ingestion", c.otlp.native_delta_ingestion),
        ("promql-delayed-name-removal", c.server.promql_delayed_name_removal),
        ("st-storage", c.storage.start_timestamp_storage),
        ("st-synthesis", c.storage.start_timestamp_synthesis),
        ("type-and-unit-labels", c.storage.type_and_unit_labels),
        ("use-start-timestamps", c.storage.start_timestamp_storage),
    ]
    .into_iter()
    .filter_map(|(name, enabled)| enabled.then_some(name))
    .collect::<Vec<_>>();
    on.sort_unstable();
    on
}

/// The settings in force under Prometheus' flag names (`/api/v1/status/flags`, `/flags`).
fn flag_pairs(api: &Api) -> [(&'static str, String); 18] {
    let c = &api.config;
    [
        ("config.file", std::env::args().skip_while(|a| a != "--config").nth(1).unwrap_or_default()),
        ("web.listen-address", c.server.http_addr.clone()),
        ("storage.tsdb.path", c.storage.data_dir.display().to_string()),
        ("storage.tsdb.retention.time", format!("{}d", c.storage.retention_days)),
        ("storage.tsdb.retention.size", crate::config::format_base2_bytes(c.storage.retention_bytes())),
        ("query.lookback-delta", format!("{}s", c.server.lookback_delta_seconds)),
        ("query.timeout", format!("{}s", c.server.query_timeout_seconds)),
        ("query.max-concurrency", c.server.max_concurrent_queries.to_string()),
        ("query.max-samples", c.server.max_samples_per_query.to_string()),
        ("web.enable-admin-api", c.server.enable_admin_api.to_string()),
        ("web.external-url", crate::rules::external_url(c)),
        ("web.cors.origin", c.server.cors_origin.clone()),
        ("rules.alert.resend-delay", promql::printer::format_duration((c.rules.alert_resend_delay_seconds * 1000) as i64)),
        ("rules.alert.for-outage-tolerance", promql::printer::format_duration((c.rules.alert_for_outage_tolerance_seconds * 1000) as i64)),
        ("rules.alert.for-grace-period", promql::printer::format_duration((c.rules.alert_for_grace_period_seconds * 1000) as i64)),
        ("storage.tsdb.min-block-duration", promql::printer::format_duration(c.storage.block_duration_ms())),
        ("storage.tsdb.wal-compression", c.storage.wal_compression.to_string()),
        ("enable-feature", enabled_features(c).join(",")),
    ]
}

/// `/api/v1/status/flags`: the flags as a JSON object.
pub fn flags(api: &Api) -> String {
    let pairs = flag_pairs(api);
    let mut out = String::from("{");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::push_json_string(&mut out, k);
        out.push(':');
        json::push_json_string(&mut out, v);
    }
    out.push('}');
    out
}

/// VictoriaMetrics' `/flags` page: one `-name="value"` line per flag (the value quoted as Go's
/// `%q` quotes it, which JSON's string quoting matches for these values).
pub fn flags_text(api: &Api) -> String {
    let mut out = String::new();
    for (name, value) in flag_pairs(api) {
        out.push('-');
        out.push_str(name);
        out.push('=');
        json::push_json_string(&mut out, &value);
        out.push('\n');
    }
    out
}

/// The configuration in force as YAML: the file read at start, with `relabel_configs` and
/// `stream_aggregation` as the last reload put them in force.
pub fn config_yaml(api: &Api) -> String {
    api.router.write_rules().config_in_force(&api.config).to_yaml()
}

/// `/api/v1/status/config`: Prometheus' `{"yaml": …}` of [`config_yaml`].
pub fn config(api: &Api) -> String {
    let mut out = String::from("{\"yaml\":");
    json::push_json_string(&mut out, &config_yaml(api));
    out.push('}');
    out
}

fn push_top(out: &mut String, key: &str, entries: Vec<(String, u64)>, limit: usize) {
    push_top_with(out, key, entries, limit, |_, _| {});
}

/// `push_top`, `more` adding fields to each entry's object (after `value`).
fn push_top_with(out: &mut String, key: &str, mut entries: Vec<(String, u64)>, limit: usize, more: impl Fn(&mut String, &str)) {
    entries.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out.push_str(&format!(",\"{key}\":["));
    for (i, (name, value)) in entries.iter().take(limit).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        json::push_json_string(out, name);
        out.push_str(&format!(",\"value\":{value}"));
        more(out, name);
        out.push('}');
    }
    out.push(']');
}

/// `/api/v1/status/tsdb`: Prometheus' cardinality statistics, plus series per shard, over
/// the series matching any of `match_sets` (every series when there are none). With
/// `with_reads` and the metric names' reads counted, each metric name's entry also has
/// VictoriaMetrics' `requestsCount` and `lastRequestTimestamp` (every client's reads: not for
/// a client confined by read filters). VictoriaMetrics' own figures come too, for its
/// cardinality explorer: `totalSeries`, `totalLabelValuePairs`, `seriesCountByLabelName`, and
/// with `focus_label` `seriesCountByFocusLabelValue` (the series per value of that label).
/// With `day` (days since the epoch, VictoriaMetrics' `date`), only the series holding
/// samples on that UTC day are counted.
pub async fn tsdb(api: &Api, match_sets: Vec<Vec<tsdb::Matcher>>, limit: usize, with_reads: bool, focus_label: Option<&str>, day: Option<i64>) -> Result<String, super::ApiError> {
    use std::collections::{HashMap, HashSet};
    const DAY_MS: i64 = 86_400_000;
    let (mint_ms, maxt_ms) = match day {
        Some(day) => (day * DAY_MS, day * DAY_MS + DAY_MS - 1),
        None => (i64::MIN, i64::MAX),
    };
    let shards = api.router.cardinality(match_sets, mint_ms, maxt_ms).await?;
    let mut by_metric: HashMap<String, u64> = HashMap::new();
    let mut by_pair: HashMap<(String, String), u64> = HashMap::new();
    for s in &shards {
        for (k, v) in &s.series_by_metric {
            *by_metric.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &s.series_by_pair {
            *by_pair.entry(k.clone()).or_default() += v;
        }
    }
    let mut values_by_name: HashMap<String, HashSet<String>> = HashMap::new();
    for (name, value) in by_pair.keys() {
        values_by_name.entry(name.clone()).or_default().insert(value.clone());
    }
    let series: u64 = shards.iter().map(|s| s.series).sum();
    // Each series has one value of a label it has: its pairs of a name add up to the series
    // having that name.
    let mut series_by_name: HashMap<String, u64> = HashMap::new();
    for ((name, _), count) in &by_pair {
        *series_by_name.entry(name.clone()).or_default() += count;
    }
    let focused: Option<Vec<(String, u64)>> =
        focus_label.map(|focus| by_pair.iter().filter(|((name, _), _)| name == focus).map(|((_, value), count)| (value.clone(), *count)).collect());
    let mut out = format!(
        "{{\"headStats\":{{\"numSeries\":{series},\"numLabelPairs\":{pairs}}},\"totalSeries\":{series},\"totalLabelValuePairs\":{pairs}",
        pairs = by_pair.len()
    );
    let metrics: Vec<(String, u64)> = by_metric.into_iter().collect();
    match api.router.name_stats().filter(|_| with_reads) {
        None => push_top(&mut out, "seriesCountByMetricName", metrics, limit),
        // Only the names shown are looked up (not a copy of every count).
        Some(stats) => {
            push_top_with(&mut out, "seriesCountByMetricName", metrics, limit, |out, name| {
                let read = stats.get(name);
                out.push_str(&format!(",\"requestsCount\":{},\"lastRequestTimestamp\":{}", read.requests, read.last_request_s));
            });
        }
    }
    push_top(&mut out, "seriesCountByLabelName", series_by_name.into_iter().collect(), limit);
    if let Some(focused) = focused {
        push_top(&mut out, "seriesCountByFocusLabelValue", focused, limit);
    }
    push_top(&mut out, "labelValueCountByLabelName", values_by_name.iter().map(|(k, v)| (k.clone(), v.len() as u64)).collect(), limit);
    push_top(&mut out, "memoryInBytesByLabelName", values_by_name.iter().map(|(k, v)| (k.clone(), v.iter().map(|x| x.len() as u64).sum())).collect(), limit);
    push_top(&mut out, "seriesCountByLabelValuePair", by_pair.into_iter().map(|((n, v), c)| (format!("{n}={v}"), c)).collect(), limit);
    push_top(&mut out, "seriesCountByShard", shards.iter().map(|s| (format!("shard-{}", s.shard), s.series)).collect(), usize::MAX);
    out.push('}');
    Ok(out)
}

/// The day VictoriaMetrics' `date` parameter names (`YYYY-MM-DD`, UTC), as days since the
/// epoch; `None` for every day: no date, or `1970-01-01` (VictoriaMetrics' "all days").
pub fn status_day(params: &Params) -> Result<Option<i64>, ApiError> {
    let Some(text) = params.get("date").filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let invalid = || ApiError::bad_data(format!("invalid parameter \"date\": {text:?} is not a date as YYYY-MM-DD"));
    let fields: Vec<&str> = text.split('-').collect();
    let [year, month, day] = fields.as_slice() else {
        return Err(invalid());
    };
    if year.len() != 4 || month.len() != 2 || day.len() != 2 || !text.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return Err(invalid());
    }
    let number = |field: &str| field.parse::<i64>().map_err(|_| invalid());
    let (year, month, day) = (number(year)?, number(month)?, number(day)?);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return Err(invalid()),
    };
    if !(1..=days_in_month).contains(&day) {
        return Err(invalid());
    }
    let days = promql::format::days_from_civil(year, month, day);
    Ok((days != 0).then_some(days))
}

/// `/api/v1/status/metric_names_stats?limit=&le=&match_pattern=`: VictoriaMetrics' metric
/// names usage statistics: every metric name stored or counted (`crate::metric_names_stats`),
/// with how many series of it queries read and when last (0: never), sorted by name; `le=N`
/// keeps the names read at most N times, `match_pattern` those a regular expression finds in
/// (unanchored, as VictoriaMetrics matches), `limit` (default 1000) the first so many.
pub async fn metric_names_stats(api: &Api, params: &Params) -> Result<String, ApiError> {
    use crate::metric_names_stats::{NameStat, BYTES_MAX};
    let Some(stats) = api.router.name_stats() else {
        return Err(ApiError::bad_data("metric names are not tracked here: server.track_metric_names_stats is off"));
    };
    let integer = |name: &str| match params.get(name).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(text) => text.parse::<i64>().map(Some).map_err(|_| ApiError::bad_data(format!("invalid parameter \"{name}\": {text:?} is not an integer"))),
    };
    let limit = integer("limit")?.filter(|n| *n > 0).map_or(1000, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let le = integer("le")?.unwrap_or(-1);
    let pattern = match params.get("match_pattern").filter(|p| !p.is_empty()) {
        None => None,
        Some(text) => Some(regex::Regex::new(text).map_err(|e| ApiError::bad_data(format!("invalid parameter \"match_pattern\": {e}")))?),
    };
    let stored = super::labels::collect_values(api, tsdb::METRIC_NAME_LABEL, Vec::new(), super::params::MIN_TIME_MS, super::params::MAX_TIME_MS).await?;
    let (since_s, counted) = stats.snapshot();
    let mut all: std::collections::BTreeMap<&str, NameStat> = stored.iter().map(|name| (name.as_str(), NameStat::default())).collect();
    all.extend(counted.iter().map(|(name, stat)| (name.as_str(), *stat)));
    let mut out = format!(
        "{{\"status\":\"success\",\"statsCollectedSince\":{since_s},\"statsCollectedRecordsTotal\":{},\"trackerMemoryMaxSizeBytes\":{},\"trackerCurrentMemoryUsageBytes\":{},\"records\":[",
        all.len(),
        BYTES_MAX,
        stats.approximate_bytes()
    );
    let kept = all.iter().filter(|(name, stat)| (le < 0 || stat.requests <= le as u64) && pattern.as_ref().is_none_or(|p| p.is_match(name)));
    for (i, (name, stat)) in kept.take(limit).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"metricName\":");
        json::push_json_string(&mut out, name);
        out.push_str(&format!(",\"queryRequestsCount\":{},\"lastQueryRequestTimestamp\":{}}}", stat.requests, stat.last_request_s));
    }
    out.push_str("]}");
    Ok(out)
}

/// VictoriaMetrics' largest duration parameter (`searchutils.maxDurationMsecs`): 100 years.
const DURATION_PARAM_MAX_MS: i64 = 100 * 365 * 24 * 3_600_000;

/// `/api/v1/status/top_queries?topN=&maxLifetime=`: VictoriaMetrics' statistics of the
/// queries finished in the last `maxLifetime` (default 10m), `topN` (default 20) of each.
pub fn top_queries(api: &Api, params: &Params) -> Result<String, ApiError> {
    let top_n = match params.get("topN") {
        None | Some("") => TOP_N_DEFAULT,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| ApiError::bad_data(format!("invalid parameter \"topN\": {text:?} is not a non-negative integer")))?,
    };
    let max_lifetime_ms = match params.get("maxLifetime") {
        None | Some("") => MAX_LIFETIME_DEFAULT_MS,
        Some(text) => {
            let ms = parse_duration_ms(text).map_err(|e| ApiError::bad_data(format!("invalid parameter \"maxLifetime\": {e}")))?;
            // VictoriaMetrics' range for duration parameters.
            if ms <= 0 || ms > DURATION_PARAM_MAX_MS {
                return Err(ApiError::bad_data(format!(
                    "invalid parameter \"maxLifetime\": {ms}ms is out of allowed range [0 ... {DURATION_PARAM_MAX_MS}]"
                )));
            }
            ms
        }
    };
    Ok(api.query_stats.top_json(top_n, max_lifetime_ms))
}

/// `/api/v1/series/count`: how many distinct series hold samples, head and blocks of every
/// shard (a series in both counts once; one whose samples were all deleted does not count),
/// of those matching any of `filter_sets` (all when there are none: the request's read
/// filters). VictoriaMetrics counts its index, which also remembers series without samples
/// left.
pub async fn series_count(api: &Api, filter_sets: Vec<Vec<tsdb::Matcher>>) -> Result<String, ApiError> {
    use super::params::{MAX_TIME_MS, MIN_TIME_MS};
    // Each series counted by the shard that holds it.
    let count = api.router.series_count(filter_sets, MIN_TIME_MS, MAX_TIME_MS).await?;
    Ok(format!("[{count}]"))
}

/// Milliseconds since the epoch as RFC3339 UTC with milliseconds.
pub fn rfc3339(ms: i64) -> String {
    utc(ms.div_euclid(1000), &format!(".{:03}", ms.rem_euclid(1000)))
}

/// Nanoseconds since the epoch as Go's `time.RFC3339Nano` in UTC: the fraction's trailing
/// zeros left out, and the fraction too when it is zero (as Prometheus writes times such as
/// a target's `lastScrape`).
pub fn rfc3339_nano(ns: i64) -> String {
    let nanos = ns.rem_euclid(1_000_000_000);
    let fraction = if nanos == 0 { String::new() } else { format!(".{nanos:09}").trim_end_matches('0').to_string() };
    utc(ns.div_euclid(1_000_000_000), &fraction)
}

/// `seconds` since the epoch as an RFC3339 UTC date and time, `fraction` after the seconds.
fn utc(seconds: i64, fraction: &str) -> String {
    let (year, month, day) = promql::format::civil_from_days(seconds.div_euclid(86_400));
    let of_day = seconds.rem_euclid(86_400);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{fraction}Z", of_day / 3600, of_day % 3600 / 60, of_day % 60)
}

/// `/api/v1/status/tsdb/blocks`: `{"blocks":[…]}`, each block's `meta.json` as Prometheus
/// answers it (ulid, minTime, maxTime, stats, compaction, version), every shard's together,
/// ordered by time.
pub async fn blocks(api: &Api) -> Result<String, ApiError> {
    let blocks = api.router.blocks().await?;
    let listed = serde_json::to_string(&blocks).map_err(|e| ApiError::internal(format!("cannot write the block list: {e}")))?;
    Ok(format!("{{\"blocks\":{listed}}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(951_825_600_000), "2000-02-29T12:00:00.000Z");
    }

    #[test]
    fn enabled_features_follow_the_configuration() {
        let mut config = crate::config::Config::default();
        assert_eq!(enabled_features(&config), ["exemplar-storage"]);
        config.storage.max_exemplars = 0;
        config.storage.start_timestamp_storage = true;
        config.storage.delayed_compaction = true;
        config.scrape.expand_external_labels = true;
        config.rules.concurrent_evals = 4;
        assert_eq!(enabled_features(&config), ["concurrent-rule-eval", "delayed-compaction", "expand-external-labels", "st-storage", "use-start-timestamps"]);
    }
}
