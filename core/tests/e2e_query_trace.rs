//! End-to-end: VictoriaMetrics' additions to query answers against the real binary: the
//! top-level `stats` (`seriesFetched` as a string, `executionTimeMsec`) when the query was
//! evaluated here, and with `trace=1` the trace vmui shows, whose spans name the parse, the
//! fetch, the evaluation, the range cache's part and the writing of the answer.

mod support;

use support::*;

/// Every span's message in the trace, depth first.
fn messages(span: &serde_json::Value, out: &mut Vec<String>) {
    out.push(span["message"].as_str().expect("a message").to_string());
    assert!(span["duration_msec"].as_f64().is_some_and(|d| d >= 0.0), "{span}");
    for child in span["children"].as_array().into_iter().flatten() {
        messages(child, out);
    }
}

#[test]
fn answers_carry_stats_and_a_trace_when_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), ""));
    let mut at_ms = 0;
    for instance in ["a", "b", "c"] {
        for minutes_ago in [60, 59, 58] {
            at_ms = import_sample(&server, &format!("tq{{instance=\"{instance}\"}}"), 1.0, minutes_ago * 60);
        }
    }
    let at_s = at_ms / 1000;

    // Without trace: VictoriaMetrics' stats, and no trace.
    let (status, answer) = get_json(&server.url(&format!("/api/v1/query?query=sum(tq)&time={at_s}")));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["result"][0]["value"][1], "3", "{answer}");
    assert_eq!(answer["stats"]["seriesFetched"], "3", "{answer}");
    assert!(answer["stats"]["executionTimeMsec"].is_u64(), "{answer}");
    assert!(answer.get("trace").is_none(), "{answer}");

    // With it: the root names the query and the series answered; the spans say what ran.
    let (status, answer) = get_json(&server.url(&format!("/api/v1/query?query=sum(tq)&time={at_s}&trace=1")));
    assert_eq!(status, 200, "{answer}");
    let trace = &answer["trace"];
    let mut all = Vec::new();
    messages(trace, &mut all);
    assert_eq!(all[0], format!("/api/v1/query: query=\"sum(tq)\", time={}: series=1", at_s * 1000), "{trace}");
    for expected in ["parse and check the query: 1 selects", "wait for a query slot", "series, at least", "evaluate: 1 series, 1 points", "write the answer: 1 series, 1 points"] {
        assert!(all.iter().any(|m| m.contains(expected)), "{expected:?} not in {all:?}");
    }
    assert!(all.iter().any(|m| m.starts_with("fetch from ") && m.contains(": 3 series")), "{all:?}");

    // A range query over settled time: evaluated and cached, then answered by the cache,
    // which fetched nothing (no stats then) and says so in the trace.
    let range = format!("/api/v1/query_range?query=tq&start={}&end={at_s}&step=60&trace=1", at_s - 120);
    let (status, first) = get_json(&server.url(&range));
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["stats"]["seriesFetched"], "3", "{first}");
    let mut all = Vec::new();
    messages(&first["trace"], &mut all);
    assert!(all.iter().any(|m| m == "range cache: nothing cached for this query, step and start"), "{all:?}");
    assert!(all.iter().any(|m| m.contains("evaluate: 3 series, 9 points")), "{all:?}");
    let (status, second) = get_json(&server.url(&range));
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["data"], first["data"]);
    assert!(second.get("stats").is_none(), "answered from the cache: {second}");
    let mut all = Vec::new();
    messages(&second["trace"], &mut all);
    assert!(all.iter().any(|m| m.starts_with("range cache: every step from")), "{all:?}");
    assert!(!all.iter().any(|m| m.starts_with("fetch from")), "{all:?}");
    // nocache=1 says why the cache was not used.
    let (_, uncached) = get_json(&server.url(&format!("{range}&nocache=1")));
    let mut all = Vec::new();
    messages(&uncached["trace"], &mut all);
    assert!(all.iter().any(|m| m == "range cache: not used (nocache=1)"), "{all:?}");
    assert!(server.stop());
}
