//! Remote read against the real binary: SAMPLES and STREAMED_XOR_CHUNKS responses carry
//! exactly what was written (chunks decoded with our Prometheus-compatible XOR reader).

mod support;

use prost::Message;
use proto::remote_read as rr;
use support::*;

/// A streamed series: its name, (timestamp, value bits) samples, and its chunk count.
type StreamedSeries = (String, Vec<(i64, u64)>, usize);

fn read(server: &Server, accepted: Vec<i32>) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let request = rr::ReadRequest {
        queries: vec![rr::Query {
            start_timestamp_ms: 0,
            end_timestamp_ms: 100_000,
            matchers: vec![rr::LabelMatcher { r#type: rr::MatcherType::Re as i32, name: "__name__".into(), value: "rr_.*".into() }],
            hints: None,
        }],
        accepted_response_types: accepted,
    };
    let body = snappy(&request.encode_to_vec());
    match agent()
        .post(&server.url("/api/v1/read"))
        .set("Content-Type", "application/x-protobuf")
        .set("Content-Encoding", "snappy")
        .send_bytes(&body)
    {
        Ok(r) | Err(ureq::Error::Status(_, r)) => {
            let status = r.status();
            let headers = r.headers_names().into_iter().map(|n| (n.clone(), r.header(&n).unwrap_or("").to_string())).collect();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut r.into_reader(), &mut bytes).expect("body");
            (status, headers, bytes)
        }
        Err(e) => panic!("remote read failed: {e}"),
    }
}

/// The frames of a streamed answer (uvarint length, CRC32C big-endian, message), checksums checked.
fn frames(bytes: &[u8]) -> Vec<rr::ChunkedReadResponse> {
    let mut rest = bytes;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (mut length, mut shift) = (0u64, 0);
        loop {
            let byte = rest[0];
            rest = &rest[1..];
            length |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        let crc = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let message = &rest[4..4 + length as usize];
        assert_eq!(crc32c::crc32c(message), crc, "frame checksum");
        rest = &rest[4 + length as usize..];
        out.push(rr::ChunkedReadResponse::decode(message).expect("frame"));
    }
    out
}

#[test]
fn remote_read_samples_and_streamed_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    // 300 samples: spans three XOR chunks in the streamed response.
    let a: Vec<(i64, f64)> = (0..300).map(|i| (i * 100, i as f64 * 0.5)).collect();
    let b = vec![(1_000, f64::from_bits(tsdb::STALE_NAN_BITS)), (2_000, 7.0)];
    let body = v1_request(&[(vec![("__name__", "rr_a"), ("job", "x")], a.clone()), (vec![("__name__", "rr_b"), ("job", "y")], b.clone())]);
    assert_eq!(post(&server.url("/api/v1/write"), "application/x-protobuf", &body).status, 204);

    let (status, _, bytes) = read(&server, vec![]);
    assert_eq!(status, 200);
    let raw = snap::raw::Decoder::new().decompress_vec(&bytes).expect("snappy response");
    let response = rr::ReadResponse::decode(raw.as_slice()).expect("ReadResponse");
    let series = &response.results[0].timeseries;
    assert_eq!(series.len(), 2);
    assert_eq!(series[0].labels[0].value, "rr_a");
    let got: Vec<(i64, f64)> = series[0].samples.iter().map(|s| (s.timestamp, s.value)).collect();
    assert_eq!(got, a);
    assert_eq!(series[1].samples[0].value.to_bits(), tsdb::STALE_NAN_BITS, "stale marker bit-exact");

    let (status, headers, bytes) = read(&server, vec![rr::ResponseType::StreamedXorChunks as i32]);
    assert_eq!(status, 200);
    assert!(headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v.contains("ChunkedReadResponse")));
    let mut streamed: Vec<StreamedSeries> = Vec::new();
    for frame in frames(&bytes) {
        for s in frame.chunked_series {
            let mut samples = Vec::new();
            for c in &s.chunks {
                assert_eq!(c.r#type, rr::ChunkEncoding::Xor as i32);
                let decoded: Vec<(i64, u64)> = tsdb::chunk::XorIterator::new(&c.data).map(|p| (p.timestamp_ms, p.value.to_bits())).collect();
                assert_eq!(decoded.first().map(|p| p.0), Some(c.min_time_ms));
                assert_eq!(decoded.last().map(|p| p.0), Some(c.max_time_ms));
                samples.extend(decoded);
            }
            streamed.push((s.labels.iter().find(|l| l.name == "__name__").unwrap().value.clone(), samples, s.chunks.len()));
        }
    }
    assert_eq!(streamed.len(), 2);
    assert_eq!(streamed[0].0, "rr_a");
    assert_eq!(streamed[0].2, 3, "120-sample chunks");
    assert_eq!(streamed[0].1, a.iter().map(|(t, v)| (*t, v.to_bits())).collect::<Vec<_>>());
    assert_eq!(streamed[1].1, b.iter().map(|(t, v)| (*t, v.to_bits())).collect::<Vec<_>>());

    // Garbage is a 400, and the server keeps serving.
    let reply = post(&server.url("/api/v1/read"), "application/x-protobuf", b"\x00\x01garbage");
    assert_eq!(reply.status, 400, "{}", reply.body);
    // Five bytes that declare 4 GiB of request: refused before decoding, a 413 naming it.
    let reply = post(&server.url("/api/v1/read"), "application/x-protobuf", b"\xff\xff\xff\xff\x0f");
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert!(reply.body.contains("decompresses to 4294967295 bytes"), "{}", reply.body);
    assert!(server.stop());
}

/// A read that would return more samples than `server.max_samples_per_query` is a 400
/// naming the limit (as Prometheus' `--storage.remote.read-sample-limit`); one within it
/// is answered whole.
#[test]
fn remote_read_past_the_sample_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), "  max_samples_per_query: 301\n"));
    let a: Vec<(i64, f64)> = (0..300).map(|i| (i * 100, i as f64)).collect();
    let body = v1_request(&[(vec![("__name__", "rr_a"), ("job", "x")], a)]);
    assert_eq!(post(&server.url("/api/v1/write"), "application/x-protobuf", &body).status, 204);
    let (status, _, bytes) = read(&server, vec![]);
    assert_eq!(status, 200, "300 samples are within a limit of 301");
    let raw = snap::raw::Decoder::new().decompress_vec(&bytes).expect("snappy response");
    assert_eq!(rr::ReadResponse::decode(raw.as_slice()).expect("ReadResponse").results[0].timeseries[0].samples.len(), 300);

    let more = v1_request(&[(vec![("__name__", "rr_b"), ("job", "y")], vec![(50_000, 1.0), (60_000, 2.0)])]);
    assert_eq!(post(&server.url("/api/v1/write"), "application/x-protobuf", &more).status, 204);
    for accepted in [vec![], vec![rr::ResponseType::StreamedXorChunks as i32]] {
        let (status, _, bytes) = read(&server, accepted);
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(status, 400, "302 samples are past the limit: {text}");
        assert!(text.contains("exceeded sample limit (301, server.max_samples_per_query)"), "{text}");
    }
    assert!(server.stop());
}

/// Native histograms come back whole: in SAMPLES answers as float-flavour `Histogram`s, in
/// streamed answers as float histogram chunks (encoding 3) our Prometheus-compatible reader
/// decodes to what was written.
#[test]
fn remote_read_answers_native_histograms() {
    use proto::remote_write_v1::{self as v1, histogram};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    // 150 histograms: two chunks in the streamed answer.
    let written: Vec<v1::Histogram> = (0..150i64)
        .map(|i| v1::Histogram {
            count: Some(histogram::Count::CountInt(4 * i as u64)),
            sum: i as f64 * 1.5,
            positive_spans: vec![v1::BucketSpan { offset: 1, length: 2 }],
            positive_deltas: vec![i, i],
            zero_count: Some(histogram::ZeroCount::ZeroCountInt(i as u64)),
            zero_threshold: 0.001,
            timestamp: i * 100,
            ..Default::default()
        })
        .collect();
    let request = v1::WriteRequest {
        timeseries: vec![v1::TimeSeries { labels: vec![v1::Label { name: "__name__".into(), value: "rr_h".into() }], histograms: written.clone(), ..Default::default() }],
        ..Default::default()
    };
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &snappy(&request.encode_to_vec()));
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(reply.header("X-Prometheus-Remote-Write-Histograms-Written"), Some("150"));

    let expected: Vec<(i64, f64, f64, f64, Vec<f64>)> = (0..150i64).map(|i| (i * 100, 4.0 * i as f64, i as f64 * 1.5, i as f64, vec![i as f64, 2.0 * i as f64])).collect();
    let (status, _, bytes) = read(&server, vec![]);
    assert_eq!(status, 200);
    let raw = snap::raw::Decoder::new().decompress_vec(&bytes).expect("snappy response");
    let response = rr::ReadResponse::decode(raw.as_slice()).expect("ReadResponse");
    let series = &response.results[0].timeseries;
    assert_eq!(series.len(), 1);
    let got: Vec<(i64, f64, f64, f64, Vec<f64>)> = series[0]
        .histograms
        .iter()
        .map(|h| {
            let count = match h.count { Some(histogram::Count::CountFloat(c)) => c, other => panic!("float count expected, got {other:?}") };
            let zero = match h.zero_count { Some(histogram::ZeroCount::ZeroCountFloat(c)) => c, other => panic!("float zero count expected, got {other:?}") };
            (h.timestamp, count, h.sum, zero, h.positive_counts.clone())
        })
        .collect();
    assert_eq!(got, expected);

    let (status, _, bytes) = read(&server, vec![rr::ResponseType::StreamedXorChunks as i32]);
    assert_eq!(status, 200);
    let mut decoded = Vec::new();
    let mut chunks = 0;
    for frame in frames(&bytes) {
        for s in frame.chunked_series {
            for c in &s.chunks {
                assert_eq!(c.r#type, rr::ChunkEncoding::FloatHistogram as i32);
                chunks += 1;
                decoded.extend(tsdb::chunk::FloatHistogramIterator::new(&c.data).map(|h| (h.timestamp_ms, h.histogram.count, h.histogram.sum, h.histogram.zero_count, h.histogram.positive_buckets.clone())));
            }
        }
    }
    assert_eq!(chunks, 2, "120-sample chunks");
    assert_eq!(decoded, expected);
    assert!(server.stop());
}
