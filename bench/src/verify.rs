//! The `verify` check after a `write` run: for every metric name of the generator, the
//! server must hold exactly the samples written (or, with `--expect`, at least the samples
//! the write run saw acknowledged, and at most those plus the rejected ones) in the written
//! window.

use std::collections::{BTreeMap, BTreeSet};
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
    /// Names whose samples were written as native histograms.
    pub native_histogram_names: BTreeSet<String>,
}

pub struct NameCount {
    pub name: String,
    pub expected: u64,
    pub extra_allowed: u64,
    pub found: u64,
    /// For a native histogram name: (series an instant query at the window's end sees (5 m
    /// lookback), those whose sample there reads back as a histogram, i.e. `histogram_count` of
    /// it exists). Every such series must read back as a histogram.
    pub histogram_series: Option<(u64, u64)>,
}

impl NameCount {
    pub fn histograms_unreadable(&self) -> bool {
        self.histogram_series.is_some_and(|(series, histograms)| (series == 0 && self.expected > 0) || histograms != series)
    }
}

type ByName = BTreeMap<String, u64>;

/// Every series of the layout holds `samples` points (churn replaces series, not samples):
/// samples per name, and the names written as native histograms.
pub fn expected_from_generator(o: &GenOptions, samples: usize) -> Result<(ByName, BTreeSet<String>), String> {
    let layout = Layout::new(o)?;
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    let mut native = BTreeSet::new();
    for (name, is_native) in layout.names().into_iter().zip(layout.native_histogram_offsets()) {
        *expected.entry(name.clone()).or_default() += (layout.targets * samples) as u64;
        if is_native {
            native.insert(name);
        }
    }
    Ok((expected, native))
}

/// What a `write --json` summary says was written.
pub struct WriteSummary {
    /// Acknowledged samples (floats and histograms) per name.
    pub expected: ByName,
    /// Samples per name in rejected requests.
    pub rejected: ByName,
    pub native_histogram_names: BTreeSet<String>,
    pub start_ms: i64,
    pub interval_ms: i64,
    pub samples_per_series: usize,
}

/// Reads a `write --json` summary (the last JSON line of the text).
pub fn expected_from_write_json(text: &str) -> Result<WriteSummary, String> {
    let line = text.lines().rev().find(|l| l.trim_start().starts_with('{')).ok_or("no JSON object in the --expect file")?;
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("--expect: {e}"))?;
    let field = |name: &str| v[name].as_i64().ok_or_else(|| format!("--expect: no integer {name:?}"));
    let by_name = v["acked_by_name"].as_object().ok_or("--expect: no \"acked_by_name\" object")?;
    let expected = by_name.iter().map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0))).collect();
    let rejected = v["rejected_by_name"].as_object().map(|m| m.iter().map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0))).collect()).unwrap_or_default();
    // Absent in summaries from before native histograms: none then.
    let native_histogram_names =
        v["native_histogram_names"].as_array().map(|names| names.iter().filter_map(|n| n.as_str().map(String::from)).collect()).unwrap_or_default();
    Ok(WriteSummary {
        expected,
        rejected,
        native_histogram_names,
        start_ms: field("start_ms")?,
        interval_ms: field("interval_ms")?,
        samples_per_series: field("samples_per_series")? as usize,
    })
}

/// The single value of an instant query's answer (0 when it has no series).
fn instant_value(agent: &ureq::Agent, o: &VerifyOptions, query: &str, time_ms: i64) -> Result<f64, String> {
    let url = format!("{}/api/v1/query?query={}&time={}", o.url, crate::query_load::enc(query), time_ms as f64 / 1000.0);
    let text = agent.get(&url).call().map_err(|e| format!("query {query} failed: {e}"))?.into_string().map_err(|e| e.to_string())?;
    let body: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("bad JSON for {query}: {e}"))?;
    Ok(body["data"]["result"][0]["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0))
}

/// Counts the stored samples of every expected name with `count_over_time` over the query API.
/// That counts float and histogram samples alike (in Prometheus since 2.40 and in ours), so
/// native histogram names are counted the same way. Not `last_over_time`: Prometheus 2.42's
/// drops histograms.
pub fn run(o: &VerifyOptions) -> Result<Vec<NameCount>, String> {
    let end_ms = o.start_ms + (o.samples as i64 - 1) * o.interval_ms;
    // A window that covers exactly the written samples: (start - 1ms, end].
    let window_ms = end_ms - o.start_ms + 1;
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(300)).build();
    let mut out = Vec::new();
    for (name, want) in &o.expected {
        let found = instant_value(&agent, o, &format!("sum(count_over_time({name}[{window_ms}ms]))"), end_ms)? as u64;
        let histogram_series = if o.native_histogram_names.contains(name) {
            let series = instant_value(&agent, o, &format!("count({name})"), end_ms)? as u64;
            let histograms = instant_value(&agent, o, &format!("count(histogram_count({name}))"), end_ms)? as u64;
            Some((series, histograms))
        } else {
            None
        };
        let extra_allowed = o.extra_allowed.get(name).copied().unwrap_or(0);
        out.push(NameCount { name: name.clone(), expected: *want, extra_allowed, found, histogram_series });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations() {
        let o = GenOptions { series: 63, ..GenOptions::default() };
        let (e, native) = expected_from_generator(&o, 10).unwrap();
        assert_eq!(e["http_requests_total"], 10);
        assert_eq!(e["http_request_duration_seconds_bucket"], 12 * 10);
        assert!(native.is_empty());
        let o = GenOptions { series: 24, histograms: crate::series_gen::Histograms::Native { schema: 3 }, ..GenOptions::default() };
        let (e, native) = expected_from_generator(&o, 10).unwrap();
        assert_eq!((e.len(), e["http_request_duration_seconds"], e["up"]), (24, 10, 10));
        assert!(!e.contains_key("http_request_duration_seconds_bucket"));
        let want: BTreeSet<String> = ["http_request_duration_seconds", "grpc_server_handling_seconds", "apiserver_request_duration_seconds"].map(String::from).into();
        assert_eq!(native, want);
        let json = r#"{"acked_by_name": {"up": 30, "x_bucket": 7}, "rejected_by_name": {"up": 2}, "start_ms": 5, "interval_ms": 1000, "samples_per_series": 3}"#;
        let w = expected_from_write_json(&format!("progress\n{json}\n")).unwrap();
        assert_eq!((w.expected["up"], w.expected["x_bucket"], w.start_ms, w.interval_ms, w.samples_per_series), (30, 7, 5, 1000, 3));
        assert_eq!((w.rejected["up"], w.rejected.get("x_bucket")), (2, None));
        assert!(w.native_histogram_names.is_empty());
        let json = r#"{"acked_by_name": {"h": 4}, "native_histogram_names": ["h"], "start_ms": 5, "interval_ms": 1000, "samples_per_series": 4}"#;
        assert_eq!(expected_from_write_json(json).unwrap().native_histogram_names, BTreeSet::from(["h".to_string()]));
        assert!(expected_from_write_json("{}").is_err());
        let row = |histogram_series| NameCount { name: "h".into(), expected: 4, extra_allowed: 0, found: 4, histogram_series };
        assert!(!row(None).histograms_unreadable());
        assert!(!row(Some((2, 2))).histograms_unreadable());
        assert!(row(Some((2, 1))).histograms_unreadable(), "a series whose newest sample reads back as a float");
        assert!(row(Some((0, 0))).histograms_unreadable());
    }
}
