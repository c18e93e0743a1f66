//! Status endpoints Grafana and promtool call: build info, runtime info, flags, config,
//! and the empty answers for features Metricstor does not have (targets, rules, alerts).

use super::{json, Api};

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
        ",\"reloadConfigSuccess\":true,\"lastConfigTime\":{},\"corruptionCount\":0,\"goroutineCount\":0,\"GOMAXPROCS\":{},\"GOGC\":\"\",\"GODEBUG\":\"\",\"storageRetention\":\"{}d\"}}",
        serde_json::to_string(&rfc3339(api.started_at_ms)).unwrap_or_default(),
        api.all_metrics.len(),
        api.config.storage.retention_days
    ));
    out
}

pub fn flags(api: &Api) -> String {
    let c = &api.config;
    let pairs = [
        ("config.file", std::env::args().skip_while(|a| a != "--config").nth(1).unwrap_or_default()),
        ("web.listen-address", c.server.http_addr.clone()),
        ("storage.tsdb.path", c.storage.data_dir.display().to_string()),
        ("storage.tsdb.retention.time", format!("{}d", c.storage.retention_days)),
        ("query.lookback-delta", format!("{}s", c.server.lookback_delta_seconds)),
        ("query.timeout", format!("{}s", c.server.query_timeout_seconds)),
        ("query.max-samples", c.server.max_samples_per_query.to_string()),
    ];
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

pub fn config(api: &Api) -> String {
    let mut out = String::from("{\"yaml\":");
    json::push_json_string(&mut out, &api.config.to_yaml());
    out.push('}');
    out
}

/// Milliseconds since the epoch as RFC3339 UTC with milliseconds.
pub fn rfc3339(ms: i64) -> String {
    let seconds = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let secs_of_day = seconds.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60,
        secs_of_day % 60
    )
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
}
