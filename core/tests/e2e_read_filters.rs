//! VictoriaMetrics' read filters (`extra_label=name=value`, `extra_filters[]=selector`), which
//! tenant proxies add to every read URL: each read endpoint answers only the series they
//! allow (queries, range queries past the result cache, listings, exports, federation,
//! exemplars, remote read, metadata, deletes, cardinality and series counts), and a
//! malformed one is a 400.

mod support;

use prost::Message;
use proto::remote_read as rr;
use support::*;

/// Three `rf_up` series (teams a and b, and one without a team) and `rf_other` of team b,
/// at 1000 s and 1015 s, over two shards; plus metadata for both families.
fn start_with_tenants(dir: &std::path::Path) -> Server {
    let server = Server::start(&write_config(dir, "  enable_admin_api: true\n"));
    let samples = vec![(1_000_000, 1.0), (1_015_000, 2.0)];
    let body = v1_request(&[
        (vec![("__name__", "rf_up"), ("i", "1"), ("team", "a")], samples.clone()),
        (vec![("__name__", "rf_up"), ("i", "2"), ("team", "b")], samples.clone()),
        (vec![("__name__", "rf_up"), ("i", "3")], samples.clone()),
        (vec![("__name__", "rf_other"), ("i", "4"), ("team", "b")], samples),
    ]);
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &body);
    assert_eq!(reply.status, 204, "{}", reply.body);
    let metadata = proto::remote_write_v1::WriteRequest {
        timeseries: vec![],
        metadata: ["rf_up", "rf_other"]
            .into_iter()
            .map(|family| proto::remote_write_v1::MetricMetadata {
                r#type: proto::remote_write_v1::MetricType::Gauge as i32,
                metric_family_name: family.into(),
                help: "h".into(),
                unit: String::new(),
            })
            .collect(),
    };
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &snappy(&metadata.encode_to_vec()));
    assert_eq!(reply.status, 204, "{}", reply.body);
    server
}

/// The `i` label of every series in a query answer, a series listing or an export, sorted.
fn i_labels(series: &[serde_json::Value]) -> Vec<String> {
    let mut is: Vec<String> = series.iter().map(|s| s.get("metric").unwrap_or(s)["i"].as_str().unwrap_or("-").to_string()).collect();
    is.sort();
    is
}

fn query_is(server: &Server, path: &str) -> Vec<String> {
    let (status, answer) = get_json(&server.url(path));
    assert_eq!(status, 200, "{path}: {answer}");
    i_labels(answer["data"]["result"].as_array().unwrap_or_else(|| panic!("{path}: {answer}")))
}

fn data(server: &Server, path: &str) -> serde_json::Value {
    let (status, answer) = get_json(&server.url(path));
    assert_eq!(status, 200, "{path}: {answer}");
    answer["data"].clone()
}

// `{team="a"}`, `{i="3"}` and `{team!="a"}`, percent-encoded.
const TEAM_A: &str = "%7Bteam%3D%22a%22%7D";
const I_3: &str = "%7Bi%3D%223%22%7D";
const NOT_TEAM_A: &str = "%7Bteam%21%3D%22a%22%7D";

#[test]
fn queries_and_listings_answer_only_the_series_the_filters_allow() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_tenants(dir.path());

    assert_eq!(query_is(&server, "/api/v1/query?query=rf_up&time=1015"), vec!["1", "2", "3"]);
    assert_eq!(query_is(&server, "/api/v1/query?query=rf_up&time=1015&extra_label=team=a"), vec!["1"]);
    // Under the /prometheus/ prefix and by POST form alike.
    assert_eq!(query_is(&server, "/prometheus/api/v1/query?query=rf_up&time=1015&extra_label=team=b"), vec!["2"]);
    let reply = post_plain(&server.url("/api/v1/query"), "application/x-www-form-urlencoded", b"query=rf_up&time=1015&extra_label=team=b");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let answer: serde_json::Value = serde_json::from_str(&reply.body).expect("json");
    assert_eq!(i_labels(answer["data"]["result"].as_array().expect("vector")), vec!["2"]);
    // Alternatives: a series matching either counts once, in aggregations too.
    let either = format!("/api/v1/query?query=sum(rf_up)&time=1015&extra_filters[]={TEAM_A}&extra_filters[]={I_3}");
    let (_, answer) = get_json(&server.url(&either));
    assert_eq!(answer["data"]["result"][0]["value"][1], "4", "2 (team a) + 2 (i=3): {answer}");
    let overlapping = format!("/api/v1/query?query=rf_up&time=1015&extra_filters[]={TEAM_A}&extra_filters={NOT_TEAM_A}");
    assert_eq!(query_is(&server, &overlapping), vec!["1", "2", "3"]);
    // extra_label joins each alternative; a filter of empty-value matchers only narrows.
    assert_eq!(query_is(&server, &format!("/api/v1/query?query=rf_up&time=1015&extra_filters={NOT_TEAM_A}&extra_label=i=3")), vec!["3"]);
    // Every selector of the expression is confined, not only the first.
    let binary = "/api/v1/query?query=rf_up%20or%20rf_other&time=1015&extra_label=team=b";
    assert_eq!(query_is(&server, binary), vec!["2", "4"]);

    // Range queries: the result cache keeps a filtered and an unfiltered answer apart, in
    // either order of asking.
    let range = "/api/v1/query_range?query=rf_up&start=1000&end=1015&step=15";
    for _ in 0..2 {
        assert_eq!(query_is(&server, range), vec!["1", "2", "3"]);
        assert_eq!(query_is(&server, &format!("{range}&extra_label=team=a")), vec!["1"]);
        assert_eq!(query_is(&server, &format!("{range}&extra_label=team=b")), vec!["2"]);
    }

    // Listings.
    let series = data(&server, "/api/v1/series?match[]=%7B__name__%3D~%22rf_.%2B%22%7D&extra_label=team=b");
    assert_eq!(i_labels(series.as_array().expect("list")), vec!["2", "4"]);
    assert_eq!(data(&server, "/api/v1/label/__name__/values?extra_label=team=a"), serde_json::json!(["rf_up"]));
    assert_eq!(data(&server, &format!("/api/v1/label/i/values?extra_filters={NOT_TEAM_A}")), serde_json::json!(["2", "3", "4"]));
    assert_eq!(data(&server, "/api/v1/label/i/values?extra_label=team=a"), serde_json::json!(["1"]));
    assert_eq!(data(&server, "/api/v1/labels?extra_label=i=3"), serde_json::json!(["__name__", "i"]));
    assert_eq!(data(&server, "/api/v1/labels"), serde_json::json!(["__name__", "i", "team"]), "the listing cache keeps them apart");
    // Metadata: only the families of the names the filters' series carry.
    let metadata = data(&server, "/api/v1/metadata?extra_label=team=a");
    assert_eq!(metadata.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()), Some(vec!["rf_up".to_string()]), "{metadata}");
    assert_eq!(data(&server, "/api/v1/metadata").as_object().map(|m| m.len()), Some(2));

    // Exports and federation.
    let export = agent().get(&server.url("/api/v1/export?match[]=rf_up&extra_label=team=a")).call().expect("export").into_string().unwrap();
    let lines: Vec<serde_json::Value> = export.lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert_eq!(i_labels(&lines), vec!["1"], "{export}");
    let csv = agent()
        .get(&server.url("/api/v1/export/csv?match[]=rf_up&format=__value__,__timestamp__:unix_s,i&extra_label=team=b"))
        .call()
        .expect("csv export")
        .into_string()
        .unwrap();
    assert_eq!(csv.lines().collect::<Vec<_>>(), vec!["1,1000,2", "2,1015,2"], "{csv}");

    // Cardinality and series counts of the allowed series only; VictoriaMetrics' `match[]`
    // narrows the TSDB status further, and its `topN` is the limit.
    // (Names and counts of series; the entries also carry the names' read counts.)
    let by_name = |tsdb: &serde_json::Value| -> Vec<serde_json::Value> {
        let entries = tsdb["seriesCountByMetricName"].as_array().cloned().unwrap_or_default();
        entries.iter().map(|e| serde_json::json!({"name": e["name"], "value": e["value"]})).collect()
    };
    let tsdb = data(&server, "/api/v1/status/tsdb?extra_label=team=b");
    assert_eq!(tsdb["headStats"]["numSeries"], 2, "{tsdb}");
    assert_eq!(by_name(&tsdb), vec![serde_json::json!({"name": "rf_other", "value": 1}), serde_json::json!({"name": "rf_up", "value": 1})], "{tsdb}");
    assert_eq!(tsdb["seriesCountByLabelValuePair"][0], serde_json::json!({"name": "team=b", "value": 2}), "{tsdb}");
    let tsdb = data(&server, "/api/v1/status/tsdb?match[]=rf_up&extra_filters[]=%7Bteam%3D%22b%22%7D&extra_filters[]=%7Bi%3D%223%22%7D&topN=1");
    assert_eq!(tsdb["headStats"]["numSeries"], 2, "{tsdb}");
    assert_eq!(by_name(&tsdb), vec![serde_json::json!({"name": "rf_up", "value": 2})], "{tsdb}");
    assert_eq!(tsdb["labelValueCountByLabelName"].as_array().map(Vec::len), Some(1), "topN=1: {tsdb}");
    assert_eq!(data(&server, "/api/v1/status/tsdb?match[]=rf_up")["headStats"]["numSeries"], 3);
    assert_eq!(data(&server, "/api/v1/status/tsdb")["headStats"]["numSeries"], 4);
    assert_eq!(data(&server, "/api/v1/series/count?extra_label=team=b"), serde_json::json!([2]));
    assert_eq!(data(&server, "/api/v1/series/count?extra_filters[]=%7Bteam%3D%22a%22%7D&extra_filters[]=%7Bi%3D%223%22%7D"), serde_json::json!([2]));
    // A series matching two alternatives counts once (team b's rf_up).
    let overlapping = "extra_filters[]=%7Bteam%3D%22b%22%7D&extra_filters[]=%7B__name__%3D%22rf_up%22%7D";
    assert_eq!(data(&server, &format!("/api/v1/series/count?{overlapping}")), serde_json::json!([4]));
    assert_eq!(data(&server, &format!("/api/v1/status/tsdb?{overlapping}"))["headStats"]["numSeries"], 4);

    // A malformed filter is a 400; nothing is answered unfiltered.
    for bad in ["/api/v1/query?query=rf_up&extra_label=team", "/api/v1/series?match[]=rf_up&extra_filters[]=%7Bbad", "/api/v1/labels?extra_filters=%7B%7D"] {
        let (status, answer) = get_json(&server.url(bad));
        assert_eq!(status, 400, "{bad}: {answer}");
        assert!(answer["error"].as_str().unwrap_or("").contains("extra_"), "{bad}: {answer}");
    }
    // A series listing still needs its own match[].
    let (status, _) = get_json(&server.url("/api/v1/series?extra_label=team=a"));
    assert_eq!(status, 400);
    assert!(server.stop());
}

/// Federation is asked at the current time, so these samples are written just before.
#[test]
fn federation_remote_read_and_deletes_are_confined_too() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_tenants(dir.path());
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let body = v1_request(&[
        (vec![("__name__", "rf_live"), ("team", "a")], vec![(now_ms - 1_000, 1.0)]),
        (vec![("__name__", "rf_live"), ("team", "b")], vec![(now_ms - 1_000, 2.0)]),
    ]);
    assert_eq!(post(&server.url("/api/v1/write"), "application/x-protobuf", &body).status, 204);
    let federated = agent().get(&server.url("/federate?match[]=rf_live&extra_label=team=b")).call().expect("federate").into_string().unwrap();
    let samples: Vec<&str> = federated.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(samples.len(), 1, "{federated}");
    assert!(samples[0].starts_with("rf_live{team=\"b\""), "{federated}");

    // Remote read: the URL's filters confine every query of the request.
    let request = rr::ReadRequest {
        queries: vec![rr::Query {
            start_timestamp_ms: 0,
            end_timestamp_ms: 2_000_000,
            matchers: vec![rr::LabelMatcher { r#type: rr::MatcherType::Eq as i32, name: "__name__".into(), value: "rf_up".into() }],
            hints: None,
        }],
        accepted_response_types: vec![rr::ResponseType::Samples as i32],
    };
    let read_is = |query: &str| -> Vec<String> {
        let response = agent()
            .post(&server.url(&format!("/api/v1/read{query}")))
            .set("Content-Type", "application/x-protobuf")
            .set("Content-Encoding", "snappy")
            .send_bytes(&snappy(&request.encode_to_vec()))
            .expect("remote read");
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes).expect("body");
        let raw = snap::raw::Decoder::new().decompress_vec(&bytes).expect("snappy");
        let answer = rr::ReadResponse::decode(raw.as_slice()).expect("protobuf");
        let mut is: Vec<String> = answer.results[0]
            .timeseries
            .iter()
            .map(|s| s.labels.iter().find(|l| l.name == "i").map(|l| l.value.clone()).unwrap_or_default())
            .collect();
        is.sort();
        is
    };
    assert_eq!(read_is(""), vec!["1", "2", "3"]);
    assert_eq!(read_is("?extra_label=team=a"), vec!["1"]);
    assert_eq!(read_is(&format!("?extra_filters[]={TEAM_A}&extra_filters[]={I_3}")), vec!["1", "3"]);

    // A delete under a filter removes only the series it allows.
    let reply = post_plain(&server.url("/api/v1/admin/tsdb/delete_series?match[]=rf_up&extra_label=team=b"), "application/x-www-form-urlencoded", b"");
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(query_is(&server, "/api/v1/query?query=rf_up&time=1015"), vec!["1", "3"]);
    assert!(server.stop());
}
