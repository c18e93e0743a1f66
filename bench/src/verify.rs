//! The `verify` check after a `write` run: for every metric name of the generator, the
//! server must hold exactly series × samples points in the written window (via
//! `count_over_time` over the query API), so lost or duplicated samples show up.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::series_gen::series_def;

pub struct VerifyOptions {
    pub url: String,
    pub series: usize,
    pub samples: usize,
    pub start_ms: i64,
    pub interval_ms: i64,
}

/// Returns (metric name, expected, found) for every name; all must match.
pub fn run(o: &VerifyOptions) -> Result<Vec<(String, u64, u64)>, String> {
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..o.series {
        let def = series_def(i);
        let name = def.labels.iter().find(|(n, _)| n == "__name__").map(|(_, v)| v.clone()).unwrap_or_default();
        *expected.entry(name).or_default() += o.samples as u64;
    }
    let end_ms = o.start_ms + (o.samples as i64 - 1) * o.interval_ms;
    // A window that covers exactly the written samples: (start - 1ms, end].
    let window_ms = end_ms - o.start_ms + 1;
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(120)).build();
    let mut out = Vec::new();
    for (name, want) in expected {
        let query = format!("sum(count_over_time({name}[{window_ms}ms]))");
        let url = format!("{}/api/v1/query?query={}&time={}", o.url, crate::query_load::enc(&query), end_ms as f64 / 1000.0);
        let text = agent.get(&url).call().map_err(|e| format!("query for {name} failed: {e}"))?.into_string().map_err(|e| e.to_string())?;
        let body: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("bad JSON for {name}: {e}"))?;
        let found = body["data"]["result"][0]["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) as u64;
        out.push((name, want, found));
    }
    Ok(out)
}
