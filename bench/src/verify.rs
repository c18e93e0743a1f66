//! The `verify` check after a `write` run: for every metric name of the generator, the
//! server must hold exactly the samples written (or, with `--expect`, at least the samples
//! the write run saw acknowledged, and at most those plus the rejected ones) in the written
//! window, counted with `count_over_time` over the query API.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::series_gen::{GenOptions, Layout};

pub struct VerifyOptions {
    pub url: String,
    pub start_ms: i64,
    pub interval_ms: i64,
    pub samples: usize,
    /// Expected samples per metric name.
    pub expected: BTreeMap<String, u64>,
    /// Samples per name that may be stored on top (from rejected requests).
    pub extra_allowed: BTreeMap<String, u64>,
}

pub struct NameCount {
    pub name: String,
    pub expected: u64,
    pub extra_allowed: u64,
    pub found: u64,
}

/// Every series of the layout holds `samples` points (churn replaces series, not samples).
pub fn expected_from_generator(o: &GenOptions, samples: usize) -> Result<BTreeMap<String, u64>, String> {
    let layout = Layout::new(o)?;
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for name in layout.names() {
        *expected.entry(name).or_default() += (layout.targets * samples) as u64;
    }
    Ok(expected)
}

type ByName = BTreeMap<String, u64>;

/// Reads a `write --json` summary: (acked and rejected samples per name, start_ms,
/// interval_ms, samples per series).
pub fn expected_from_write_json(text: &str) -> Result<(ByName, ByName, i64, i64, usize), String> {
    let line = text.lines().rev().find(|l| l.trim_start().starts_with('{')).ok_or("no JSON object in the --expect file")?;
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("--expect: {e}"))?;
    let field = |name: &str| v[name].as_i64().ok_or_else(|| format!("--expect: no integer {name:?}"));
    let by_name = v["acked_by_name"].as_object().ok_or("--expect: no \"acked_by_name\" object")?;
    let expected = by_name.iter().map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0))).collect();
    let rejected = v["rejected_by_name"].as_object().map(|m| m.iter().map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0))).collect()).unwrap_or_default();
    Ok((expected, rejected, field("start_ms")?, field("interval_ms")?, field("samples_per_series")? as usize))
}

/// Counts the stored samples of every expected name.
pub fn run(o: &VerifyOptions) -> Result<Vec<NameCount>, String> {
    let end_ms = o.start_ms + (o.samples as i64 - 1) * o.interval_ms;
    // A window that covers exactly the written samples: (start - 1ms, end].
    let window_ms = end_ms - o.start_ms + 1;
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(300)).build();
    let mut out = Vec::new();
    for (name, want) in &o.expected {
        let query = format!("sum(count_over_time({name}[{window_ms}ms]))");
        let url = format!("{}/api/v1/query?query={}&time={}", o.url, crate::query_load::enc(&query), end_ms as f64 / 1000.0);
        let text = agent.get(&url).call().map_err(|e| format!("query for {name} failed: {e}"))?.into_string().map_err(|e| e.to_string())?;
        let body: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("bad JSON for {name}: {e}"))?;
        let found = body["data"]["result"][0]["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) as u64;
        let extra_allowed = o.extra_allowed.get(name).copied().unwrap_or(0);
        out.push(NameCount { name: name.clone(), expected: *want, extra_allowed, found });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations() {
        let o = GenOptions { series: 63, ..GenOptions::default() };
        let e = expected_from_generator(&o, 10).unwrap();
        assert_eq!(e["http_requests_total"], 10);
        assert_eq!(e["http_request_duration_seconds_bucket"], 12 * 10);
        let json = r#"{"acked_by_name": {"up": 30, "x_bucket": 7}, "rejected_by_name": {"up": 2}, "start_ms": 5, "interval_ms": 1000, "samples_per_series": 3}"#;
        let (e, r, start, interval, samples) = expected_from_write_json(&format!("progress\n{json}\n")).unwrap();
        assert_eq!((e["up"], e["x_bucket"], start, interval, samples), (30, 7, 5, 1000, 3));
        assert_eq!((r["up"], r.get("x_bucket")), (2, None));
        assert!(expected_from_write_json("{}").is_err());
    }
}
