//! Export from one server, import into another (VictoriaMetrics JSON lines), and import of
//! the Prometheus text format: everything read back over the query API.

mod support;

use support::*;

#[test]
fn export_import_round_trip_and_text_import() {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let a = Server::start(&write_config(dir_a.path(), ""));
    let b = Server::start(&write_config(dir_b.path(), ""));
    // Two hours ago, whole seconds: older samples than the retention are refused.
    let t0 = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 - 7200) * 1000;
    let samples: Vec<(i64, f64)> = (0..50).map(|i| (t0 + i * 15_000, i as f64)).collect();
    let body = v1_request(&[
        (vec![("__name__", "mig_x"), ("job", "a")], samples.clone()),
        (vec![("__name__", "mig_y"), ("job", "b")], vec![(t0, f64::NAN), (t0 + 15_000, 2.0)]),
        (vec![("__name__", "other"), ("job", "c")], vec![(t0, 1.0)]),
        (vec![("__name__", "stalez"), ("job", "d")], vec![(t0, 1.0), (t0 + 15_000, f64::from_bits(0x7ff0_0000_0000_0002))]),
    ]);
    assert_eq!(post(&a.url("/api/v1/write"), "application/x-protobuf", &body).status, 204);

    let export = agent().get(&a.url("/api/v1/export?match[]=%7B__name__%3D~%22mig_.*%22%7D")).call().unwrap().into_string().unwrap();
    let lines: Vec<&str> = export.lines().collect();
    assert_eq!(lines.len(), 2, "{export}");
    assert!(lines[0].starts_with("{\"metric\":{\"__name__\":\"mig_x\",\"job\":\"a\"},\"values\":[0,1,2"), "{}", lines[0]);
    assert!(lines[1].contains("\"values\":[NaN,2]"), "{}", lines[1]);

    let reply = post_plain(&b.url("/api/v1/import"), "application/json", export.as_bytes());
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(agent().get(&b.url("/api/v1/export?match[]=%7B__name__%3D~%22mig_.*%22%7D")).call().unwrap().into_string().unwrap(), export);

    let text = format!("# TYPE mig_text gauge\nmig_text{{job=\"t\"}} 3.5 {t0}\nmig_text{{job=\"t\"}} 4.5 {}\n", t0 + 15_000);
    assert_eq!(post_plain(&b.url("/api/v1/import/prometheus"), "text/plain", text.as_bytes()).status, 204);
    let (_, body) = get_json(&b.url(&format!("/api/v1/query?query=mig_text&time={}", (t0 + 15_000) / 1000)));
    assert_eq!(body["data"]["result"][0]["value"][1], "4.5", "{body}");
    // VictoriaMetrics' `timestamp` parameter: the time (Unix ms) of lines without one.
    let at = t0 + 30_000;
    let url = b.url(&format!("/api/v1/import/prometheus?timestamp={at}"));
    assert_eq!(post_plain(&url, "text/plain", b"mig_default_time{job=\"t\"} 7\nmig_default_time{job=\"u\"} 8 1000\n").status, 204);
    let (_, body) = get_json(&b.url("/api/v1/export?match[]=mig_default_time&format=promapi"));
    let stamps: Vec<&serde_json::Value> = body["data"]["result"].as_array().expect("a matrix").iter().map(|e| &e["values"][0][0]).collect();
    assert_eq!(stamps, [&serde_json::json!(at / 1000), &serde_json::json!(1)], "{body}");
    let reply = post_plain(&b.url("/api/v1/import/prometheus?timestamp=soon"), "text/plain", b"mig_default_time 9\n");
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("invalid parameter \\\"timestamp\\\""), "{}", reply.body);

    // VictoriaMetrics' export options: lines of at most N samples, and the text format,
    // which the text import reads back.
    let split = agent().get(&a.url("/api/v1/export?match[]=mig_x&max_rows_per_line=20")).call().unwrap().into_string().unwrap();
    let counts: Vec<usize> = split.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line")["values"].as_array().map_or(0, Vec::len)).collect();
    assert_eq!(counts, vec![20, 20, 10], "{split}");
    let text = agent().get(&a.url("/api/v1/export?match[]=mig_x&format=prometheus")).call().unwrap();
    assert_eq!(text.content_type(), "text/plain");
    let text = text.into_string().unwrap();
    assert_eq!(text.lines().count(), 50, "{text}");
    assert_eq!(text.lines().nth(3), Some(format!("mig_x{{job=\"a\"}} 3 {}", t0 + 45_000).as_str()), "{text}");
    let dir_c = tempfile::tempdir().unwrap();
    let c = Server::start(&write_config(dir_c.path(), ""));
    assert_eq!(post_plain(&c.url("/api/v1/import/prometheus"), "text/plain", text.as_bytes()).status, 204);
    let reexported = agent().get(&c.url("/api/v1/export?match[]=mig_x")).call().unwrap().into_string().unwrap();
    assert_eq!(reexported, lines[0].to_string() + "\n");
    assert!(c.stop());
    // `format=promapi`: one Prometheus API matrix, as the query API answers a range selector
    // over the same samples (staleness markers left out; a plain NaN kept).
    let promapi = agent().get(&a.url("/api/v1/export?match[]=%7B__name__%3D~%22mig_.*%22%7D&match[]=stalez&format=promapi")).call().unwrap();
    assert_eq!(promapi.content_type(), "application/json");
    let promapi: serde_json::Value = serde_json::from_str(&promapi.into_string().unwrap()).expect("one JSON document");
    let query = format!("/api/v1/query?query=%7B__name__%3D~%22mig_.*%7Cstalez%22%7D%5B3h%5D&time={}", t0 / 1000 + 3600);
    let (_, queried) = get_json(&a.url(&query));
    assert_eq!(promapi["status"], "success");
    assert_eq!(promapi["data"], queried["data"], "{promapi}");
    assert_eq!(promapi["data"]["result"].as_array().map(Vec::len), Some(3), "{promapi}");
    assert_eq!(promapi["data"]["result"][2]["values"], serde_json::json!([[t0 / 1000, "1"]]), "{promapi}");
    let split = agent().get(&a.url("/api/v1/export?match[]=mig_x&format=promapi&max_rows_per_line=20")).call().unwrap().into_string().unwrap();
    let split: serde_json::Value = serde_json::from_str(&split).expect("one JSON document");
    let counts: Vec<usize> = split["data"]["result"].as_array().expect("a matrix").iter().map(|e| e["values"].as_array().map_or(0, Vec::len)).collect();
    assert_eq!(counts, vec![20, 20, 10], "{split}");
    let none = agent().get(&a.url("/api/v1/export?match[]=no_such_metric&format=promapi")).call().unwrap().into_string().unwrap();
    assert_eq!(none, r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#);
    for bad in ["format=json2", "format=csv", "max_rows_per_line=ten"] {
        let (status, answer) = get_json(&a.url(&format!("/api/v1/export?match[]=mig_x&{bad}")));
        assert_eq!(status, 400, "{bad}: {answer}");
        assert!(answer["error"].as_str().is_some_and(|e| e.contains(bad.split('=').next().unwrap_or(bad))), "{bad}: {answer}");
    }

    let reply = post_plain(&b.url("/api/v1/import"), "application/json", b"{\"metric\":{\"job\":\"x\"},\"values\":[1],\"timestamps\":[1]}\n");
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("metric name"), "{}", reply.body);
    assert!(a.stop());
    assert!(b.stop());
}

/// An export larger than one page: 300 series x 3,000 samples (the last 50 minutes at 1 s)
/// is 900,000 samples, more than `EXPORT_PAGE_SAMPLES`, so it is read and sent in several
/// time windows (chunked). Every sample comes back exactly once, in order per series, and the
/// server's memory does not hold the whole export at once.
#[test]
fn large_export_streams_in_windows_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    const SERIES: usize = 300;
    const SAMPLES: i64 = 3_000;
    const STEP_MS: i64 = 1_000;
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let base = (now_ms - 51 * 60_000) / 1000 * 1000;
    let names: Vec<String> = (0..SERIES).map(|i| format!("s{i}")).collect();
    for chunk in names.chunks(50) {
        let series: Vec<support::SeriesInput<'_>> = chunk
            .iter()
            .map(|n| (vec![("__name__", "big_export"), ("series", n.as_str())], (0..SAMPLES).map(|i| (base + i * STEP_MS, i as f64)).collect()))
            .collect();
        let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &v1_request(&series));
        assert_eq!(reply.status, 204, "{}", reply.body);
    }
    let response = agent().get(&server.url("/api/v1/export?match[]=big_export")).call().expect("export");
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut response.into_reader(), &mut text).expect("export body");
    let mut per_series: std::collections::HashMap<String, Vec<i64>> = std::collections::HashMap::new();
    let mut lines = 0;
    for line in text.lines() {
        lines += 1;
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let name = v["metric"]["series"].as_str().expect("series label").to_string();
        let timestamps = v["timestamps"].as_array().expect("timestamps");
        let values = v["values"].as_array().expect("values");
        assert_eq!(timestamps.len(), values.len(), "{line}");
        per_series.entry(name).or_default().extend(timestamps.iter().map(|t| t.as_i64().expect("integer timestamp")));
    }
    assert!(lines > SERIES, "an export over {SERIES} series took {lines} lines: it was not paged");
    assert_eq!(per_series.len(), SERIES);
    let expected: Vec<i64> = (0..SAMPLES).map(|i| base + i * STEP_MS).collect();
    for (name, timestamps) in &per_series {
        assert_eq!(timestamps, &expected, "series {name}: every sample once, in order");
    }
    // A window with no data, and start/end bounds, still answer well-formed (empty) exports.
    let empty = agent().get(&server.url("/api/v1/export?match[]=big_export&start=-1000&end=-1")).call().expect("export").into_string().unwrap_or_default();
    assert_eq!(empty, "");
    let url = format!("/api/v1/export?match[]=big_export%7Bseries%3D%22s7%22%7D&start={}&end={}", base / 1000, base / 1000 + 2);
    let one = agent().get(&server.url(&url)).call().expect("export").into_string().unwrap_or_default();
    assert_eq!(one.lines().count(), 1, "{one}");
    assert!(one.contains(&format!("\"timestamps\":[{},{},{}]", base, base + 1000, base + 2000)), "{one}");
    assert!(server.stop());
}

/// The first block of a native export: (marshalled metric name, portable block).
fn first_native_block(export: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let frame = |at: usize| -> (Vec<u8>, usize) {
        let length = u32::from_be_bytes(export[at..at + 4].try_into().expect("4 bytes")) as usize;
        (export[at + 4..at + 4 + length].to_vec(), at + 4 + length)
    };
    let (name, next) = frame(16);
    let (block, _) = frame(next);
    (name, block)
}

/// A zigzag varint as VictoriaMetrics writes its int64s (Go's `PutVarint`).
fn zigzag_varint(value: i64) -> Vec<u8> {
    let mut out = tsdb::chunk::bits::BitWriter::default();
    tsdb::chunk::bits::write_varint(&mut out, value);
    out.bytes
}

/// `server.vm_native_export_version` picks the native export's block header: by default the
/// one VictoriaMetrics has read since 1.82 (the last timestamp after the first, the precision
/// bits after the two encodings), for "1.79" the one before; the rest of the block is alike.
/// Both import back into Metricstor.
#[test]
fn the_native_export_writes_the_header_of_the_victoriametrics_version_configured() {
    // An hour ago: older samples than the retention are refused.
    let first_ms = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64 - 3600) * 1000;
    let samples: Vec<(i64, f64)> = (0..30).map(|i| (first_ms + i * 15_000, (i * 7) as f64)).collect();
    let body = v1_request(&[(vec![("__name__", "native_hdr"), ("job", "a")], samples.clone())]);
    let export = |extra_server: &str| {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(&write_config(dir.path(), extra_server));
        assert_eq!(post(&server.url("/api/v1/write"), "application/x-protobuf", &body).status, 204);
        let url = server.url(&format!("/api/v1/export/native?match[]=native_hdr&start={}", first_ms / 1000 - 1));
        let reply = agent().get(&url).call().expect("native export");
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut reply.into_reader(), &mut bytes).expect("read the export");
        assert!(server.stop());
        bytes
    };
    let current = export("");
    let old = export("  vm_native_export_version: \"1.79\"\n");
    let (current_name, current_block) = first_native_block(&current);
    let (old_name, old_block) = first_native_block(&old);
    assert_eq!(current_name, old_name);
    let first_ts = zigzag_varint(samples[0].0);
    let last_ts = zigzag_varint(samples[samples.len() - 1].0);
    assert!(current_block.starts_with(&[first_ts.clone(), last_ts.clone()].concat()), "the newer header carries the last timestamp second");
    assert!(old_block.starts_with(&first_ts) && !old_block[first_ts.len()..].starts_with(&last_ts));
    // Without the last timestamp, the two headers differ only by the precision bits (64,
    // lossless) after the two encoding bytes.
    let current_rest = &current_block[first_ts.len() + last_ts.len()..];
    let old_rest = &old_block[first_ts.len()..];
    assert_eq!(current_rest.len(), old_rest.len() + 1);
    let precision_at = (0..old_rest.len()).find(|&i| current_rest[i] != old_rest[i]).expect("the headers differ");
    assert_eq!(current_rest[precision_at], 64, "lossless precision bits");
    assert_eq!(&current_rest[..precision_at], &old_rest[..precision_at]);
    assert_eq!(&current_rest[precision_at + 1..], &old_rest[precision_at..]);

    // Either imports back, every sample.
    for stream in [&current, &old] {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(&write_config(dir.path(), ""));
        let reply = post_plain(&server.url("/api/v1/import/native"), "application/octet-stream", stream);
        assert_eq!(reply.status, 204, "{}", reply.body);
        let back = agent().get(&server.url("/api/v1/export?match[]=native_hdr")).call().unwrap().into_string().unwrap();
        let values: Vec<String> = samples.iter().map(|(_, v)| v.to_string()).collect();
        assert!(back.contains(&format!("\"values\":[{}]", values.join(","))), "{back}");
        assert!(server.stop());
    }
}

/// A native stream of `series` series (`run_<i>`), `samples` each 15 s apart ending an hour
/// ago, values that do not compress to nothing; and where each frame starts.
fn native_stream(series: usize, samples: usize) -> (Vec<u8>, Vec<usize>) {
    use metricstor::ingest::vm_native::{encode, BlockLayout};
    let mut out = Vec::new();
    encode::write_stream_header(&mut out, 0, i64::MAX);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut starts = Vec::new();
    // Recent enough for the default retention: the import cuts blocks of the older hours.
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let start_ms = now_ms - 3_600_000 - samples as i64 * 15_000;
    for i in 0..series {
        let points: Vec<tsdb::Sample> = (0..samples as i64)
            .map(|k| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                tsdb::Sample { timestamp_ms: start_ms + k * 15_000, value: (state % 100_000) as f64 / 8.0 }
            })
            .collect();
        let labels = tsdb::Labels::from_pairs([("__name__", format!("run_{i}")), ("job", "runs".to_string())]);
        starts.push(out.len());
        encode::write_series(&mut out, &labels, &points, BlockLayout::Since1_82);
    }
    (out, starts)
}

/// Samples of `job="runs"` the server exports, by series name (the export streams a long
/// series in several lines, one per time window).
fn exported_runs(server: &Server) -> std::collections::BTreeMap<String, usize> {
    let reply = agent().get(&server.url("/api/v1/export?match[]={job=\"runs\"}&start=0")).call().expect("export");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut reply.into_reader(), &mut text).expect("export text");
    let mut samples = std::collections::BTreeMap::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let series: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let name = series["metric"]["__name__"].as_str().expect("a name").to_string();
        *samples.entry(name).or_insert(0) += series["timestamps"].as_array().expect("timestamps").len();
    }
    samples
}

/// A native body of many decode runs (~3 MiB; runs are cut every 256 KiB and decoded on
/// other threads) imports whole; with a malformed block far into it, exactly the blocks
/// before it are stored, whichever run they were decoded in, and the 400 names it; with a
/// frame of an impossible length, likewise.
#[test]
fn a_native_import_of_many_runs_stores_every_block_before_a_malformed_one_and_none_after() {
    let (series, samples) = (400, 2000);
    let (stream, starts) = native_stream(series, samples);
    assert!(stream.len() > 2 << 20, "a dozen runs or so: {} bytes", stream.len());
    let import = |body: &[u8]| {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(&write_config(dir.path(), ""));
        let reply = post_plain(&server.url("/api/v1/import/native"), "application/octet-stream", body);
        let stored = exported_runs(&server);
        assert!(server.stop());
        (reply, stored)
    };
    let (reply, stored) = import(&stream);
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(stored.len(), series);
    assert!(stored.values().all(|&n| n == samples), "every sample of every series: {:?}", stored.iter().filter(|(_, &n)| n != samples).take(5).collect::<Vec<_>>());

    // Block 251's bytes become varints that never end: it decodes in neither layout.
    let bad = 250;
    let mut broken = stream.clone();
    let name_length = u32::from_be_bytes(broken[starts[bad]..starts[bad] + 4].try_into().unwrap()) as usize;
    let block_at = starts[bad] + 8 + name_length;
    let block_length = u32::from_be_bytes(broken[block_at - 4..block_at].try_into().unwrap()) as usize;
    broken[block_at..block_at + block_length].fill(0xff);
    let (reply, stored) = import(&broken);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("block 251 (at byte") && reply.body.contains("blocks 1 to 250 were imported, none from block 251 on"), "{}", reply.body);
    let expected: std::collections::BTreeMap<String, usize> = (0..bad).map(|i| (format!("run_{i}"), samples)).collect();
    assert_eq!(stored, expected, "the blocks before the malformed one, none after");

    // Block 301's name length is over VictoriaMetrics' 1 MiB limit.
    let bad = 300;
    let mut broken = stream.clone();
    broken[starts[bad]..starts[bad] + 4].copy_from_slice(&(2u32 << 20).to_be_bytes());
    let (reply, stored) = import(&broken);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains(&format!("block 301 (at byte {} of the stream)", starts[bad])) && reply.body.contains("blocks 1 to 300 were imported"), "{}", reply.body);
    let expected: std::collections::BTreeMap<String, usize> = (0..bad).map(|i| (format!("run_{i}"), samples)).collect();
    assert_eq!(stored, expected);
}
