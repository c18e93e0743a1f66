//! remote_write 1.0: a walk over the `WriteRequest` wire format (`protowire`) that keeps
//! label text as spans of the body; no allocation per label or sample.

use tsdb::SeriesBatch;

use super::{push_valid_series, span_of, type_name, utf8, walk_histogram, walk_sample, DecodeError, Decoded, IngestRules, MetricMetadata, SeriesScratch, StoredCounts};
use crate::ingest::protowire::Fields;

/// Validates a remote_write 1.0 `WriteRequest` (the HTTP body after snappy, or a gRPC
/// `Write` message) by walking its wire format: no allocation per label or sample. A wire
/// error anywhere wins over an invalid series (as with a full decode first); otherwise the
/// first invalid series in request order is reported.
pub fn decode_write_request(raw: Vec<u8>, rules: &IngestRules) -> Result<Decoded, DecodeError> {
    let mut out = Decoded::default();
    let mut first_invalid: Option<DecodeError> = None;
    let mut scratch = SeriesScratch::default();
    let mut stored = StoredCounts::default();
    let series = SeriesBatch::build(raw, |batch| {
        let text = batch.text();
        for field in Fields::new(text) {
            match field? {
                (1, value) => {
                    walk_time_series(text, value.bytes(1)?, &mut scratch)?;
                    if first_invalid.is_none() {
                        if let Err(e) = push_valid_series(batch, &mut scratch, rules, &mut stored) {
                            first_invalid = Some(e);
                        }
                    }
                }
                (3, value) => {
                    if let Some(m) = walk_metadata(value.bytes(3)?)? {
                        out.metadata.push(m);
                    }
                }
                _ => {} // unknown fields are skipped, as protobuf requires
            }
        }
        Ok::<(), DecodeError>(())
    })?;
    out.series = series;
    (out.samples, out.histograms, out.exemplars, out.exemplars_dropped) = (stored.samples, stored.histograms, stored.exemplars, stored.exemplars_dropped);
    match first_invalid {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// One `TimeSeries` into `scratch` (labels as spans of `text`, samples, histograms,
/// exemplars).
fn walk_time_series(text: &[u8], message: &[u8], scratch: &mut SeriesScratch) -> Result<(), DecodeError> {
    scratch.clear();
    for field in Fields::new(message) {
        match field? {
            (1, value) => {
                let label = value.bytes(1)?;
                let (mut name, mut label_value): (&[u8], &[u8]) = (&[], &[]);
                for field in Fields::new(label) {
                    match field? {
                        (1, v) => name = v.bytes(1)?,
                        (2, v) => label_value = v.bytes(2)?,
                        _ => {}
                    }
                }
                // One ASCII scan of the whole message (tags and short lengths are ASCII too)
                // covers both strings in the common case; otherwise each is checked.
                if !label.is_ascii() {
                    utf8(name, "Label.name")?;
                    utf8(label_value, "Label.value")?;
                }
                scratch.labels.push((span_of(text, name), span_of(text, label_value)));
            }
            (2, value) => scratch.samples.push(walk_sample(value.bytes(2)?, None)?),
            (3, value) => walk_exemplar(value.bytes(3)?, scratch)?,
            (4, value) => {
                walk_histogram(value.bytes(4)?, scratch)?; // 1.0 has no start timestamps
            }
            _ => {}
        }
    }
    Ok(())
}

/// One `Exemplar` (1 labels, 2 value, 3 timestamp) into `scratch`, kept or counted invalid.
fn walk_exemplar(message: &[u8], scratch: &mut SeriesScratch) -> Result<(), DecodeError> {
    let (mut pairs, mut value, mut timestamp_ms) = (Vec::new(), 0.0, 0);
    for field in Fields::new(message) {
        match field? {
            (1, v) => {
                let (mut name, mut label_value): (&[u8], &[u8]) = (&[], &[]);
                for field in Fields::new(v.bytes(1)?) {
                    match field? {
                        (1, v) => name = v.bytes(1)?,
                        (2, v) => label_value = v.bytes(2)?,
                        _ => {}
                    }
                }
                pairs.push((name, label_value));
            }
            (2, v) => value = f64::from_bits(v.fixed64(2)?),
            (3, v) => timestamp_ms = v.varint(3)? as i64,
            _ => {}
        }
    }
    scratch.push_exemplar(&mut pairs, value, timestamp_ms);
    Ok(())
}

/// One `MetricMetadata`; `None` when it names no family.
fn walk_metadata(message: &[u8]) -> Result<Option<MetricMetadata>, DecodeError> {
    let (mut kind, mut family, mut help, mut unit): (i32, &[u8], &[u8], &[u8]) = (0, &[], &[], &[]);
    for field in Fields::new(message) {
        match field? {
            (1, v) => kind = v.varint(1)? as i32,
            (2, v) => family = v.bytes(2)?,
            (4, v) => help = v.bytes(4)?,
            (5, v) => unit = v.bytes(5)?,
            _ => {}
        }
    }
    let text = |bytes, what| utf8(bytes, what).map(|b| String::from_utf8_lossy(b).into_owned());
    let (family, help, unit) = (text(family, "MetricMetadata.metric_family_name")?, text(help, "MetricMetadata.help")?, text(unit, "MetricMetadata.unit")?);
    Ok((!family.is_empty()).then(|| MetricMetadata { family, kind: type_name(kind).into(), help, unit }))
}


#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use proptest::prelude::*;
    use super::super::test_support::{check_walked, damaged_bodies_never_panic, len_field, reference_series};
    use proto::remote_write_v1 as v1;
    use tsdb::{Labels, Sample};


    #[test]
    fn unknown_fields_of_every_wire_type_are_skipped_and_groups_refused() {
        // Field 15 as varint, fixed64, length-delimited and fixed32.
        let unknown: Vec<u8> = [&[0x78, 0x96, 0x01][..], &[0x79, 1, 2, 3, 4, 5, 6, 7, 8], &[0x7a, 2, b'x', b'y'], &[0x7d, 1, 2, 3, 4]].concat();
        let label = |n: &str, v: &str| [len_field(1, n.as_bytes()), unknown.clone(), len_field(2, v.as_bytes())].concat();
        let sample = [vec![0x09], 2.5f64.to_bits().to_le_bytes().to_vec(), unknown.clone(), vec![0x10, 7]].concat();
        let series = [len_field(1, &label("__name__", "up")), unknown.clone(), len_field(1, &label("job", "a")), len_field(2, &sample), len_field(3, b""), len_field(4, b"")].concat();
        let request = [unknown.clone(), len_field(1, &series), unknown.clone()].concat();
        let decoded = decode_write_request(request.clone(), &IngestRules::default()).expect("unknown fields are skipped");
        assert_eq!(decoded.series.to_series()[0].labels, Labels::from_pairs([("__name__", "up"), ("job", "a")]));
        assert_eq!(decoded.series.get(0).samples(), &[Sample { timestamp_ms: 7, value: 2.5 }]);
        // An empty `Histogram` message is an empty integer histogram (no count: 0), stored.
        assert_eq!((decoded.exemplars, decoded.exemplars_dropped, decoded.histograms, decoded.series.get(0).histograms().len()), (1, 0, 1, 1));
        for bad in [&[0x7b, 0x7c][..], &[0x7f], &[0x0a, 0x05, 1]] {
            let garbage = [request.clone(), bad.to_vec()].concat();
            assert!(matches!(decode_write_request(garbage, &IngestRules::default()), Err(DecodeError::Protobuf(_))), "{bad:x?}");
        }
        let wrong_wire_type = [len_field(1, &[0x08, 0x01])].concat(); // Label field 1 as a varint
        assert!(matches!(decode_write_request(len_field(1, &wrong_wire_type), &IngestRules::default()), Err(DecodeError::Protobuf(_))));
        let not_utf8 = len_field(1, &len_field(1, &[len_field(1, b"__name__"), len_field(2, &[0xff])].concat()));
        assert!(matches!(decode_write_request(not_utf8, &IngestRules::default()), Err(DecodeError::Protobuf(_))));
    }

    #[test]
    fn exemplars_ride_with_their_series_and_invalid_ones_are_skipped() {
        let label = |n: &str, v: &str| v1::Label { name: n.into(), value: v.into() };
        let exemplar = |labels: Vec<v1::Label>, t: i64| v1::Exemplar { labels, value: 1.5, timestamp: t };
        let request = v1::WriteRequest {
            timeseries: vec![
                v1::TimeSeries {
                    labels: vec![label("__name__", "a")],
                    samples: vec![v1::Sample { value: 1.0, timestamp: 1 }],
                    exemplars: vec![
                        // Unsorted labels are sorted; an empty value is dropped.
                        exemplar(vec![label("trace_id", "t1"), label("span_id", "s1"), label("x", "")], 1),
                        // 129 characters: skipped.
                        exemplar(vec![label("trace_id", &"é".repeat(121))], 2),
                        exemplar(vec![label("a", "1"), label("a", "2")], 3),
                    ],
                    ..Default::default()
                },
                // Exemplars alone still create the series.
                v1::TimeSeries { labels: vec![label("__name__", "b")], exemplars: vec![exemplar(vec![], 4)], ..Default::default() },
            ],
            ..Default::default()
        };
        let decoded = decode_write_request(request.encode_to_vec(), &IngestRules::default()).expect("valid");
        assert_eq!((decoded.samples, decoded.exemplars, decoded.exemplars_dropped), (1, 2, 2));
        let first = decoded.series.get(0).exemplars();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].labels, Labels::from_pairs([("span_id", "s1"), ("trace_id", "t1")]));
        assert_eq!((first[0].value, first[0].timestamp_ms), (1.5, 1));
        assert_eq!((decoded.series.get(1).samples().len(), decoded.series.get(1).exemplars().len()), (0, 1));
        // Exactly 128 characters is allowed.
        let limit = v1::WriteRequest { timeseries: vec![v1::TimeSeries { labels: vec![label("__name__", "a")], samples: vec![v1::Sample { value: 1.0, timestamp: 1 }], exemplars: vec![exemplar(vec![label("trace_id", &"é".repeat(120))], 2)], ..Default::default() }], ..Default::default() };
        let decoded = decode_write_request(limit.encode_to_vec(), &IngestRules::default()).expect("valid");
        assert_eq!((decoded.exemplars, decoded.exemplars_dropped), (1, 0));
    }

    #[test]
    fn a_wire_error_wins_over_an_earlier_invalid_series() {
        let unnamed = v1::TimeSeries {
            labels: vec![v1::Label { name: "job".into(), value: "a".into() }],
            samples: vec![v1::Sample { value: 1.0, timestamp: 1 }],
            ..Default::default()
        };
        let raw = v1::WriteRequest { timeseries: vec![unnamed], metadata: vec![] }.encode_to_vec();
        assert!(matches!(decode_write_request(raw.clone(), &IngestRules::default()), Err(DecodeError::InvalidSeries { .. })));
        assert!(matches!(decode_write_request([raw, vec![0x0b]].concat(), &IngestRules::default()), Err(DecodeError::Protobuf(_))));
    }

    #[test]
    fn v1_metadata_is_collected() {
        let request = v1::WriteRequest {
            metadata: vec![
                v1::MetricMetadata { r#type: 1, metric_family_name: "up".into(), help: "h".into(), unit: "u".into() },
                v1::MetricMetadata { r#type: 2, metric_family_name: "".into(), ..Default::default() },
            ],
            ..Default::default()
        };
        let decoded = decode_write_request(request.encode_to_vec(), &IngestRules::default()).unwrap();
        assert_eq!(decoded.metadata, vec![MetricMetadata { family: "up".into(), kind: "counter".into(), help: "h".into(), unit: "u".into() }]);
    }

    #[test]
    fn truncated_and_corrupted_bodies_are_errors_or_values_never_panics() {
        let request = v1::WriteRequest {
            timeseries: vec![v1::TimeSeries {
                labels: vec![v1::Label { name: "__name__".into(), value: "up".into() }, v1::Label { name: "job".into(), value: "é".into() }],
                samples: vec![v1::Sample { value: 1.5, timestamp: -3 }, v1::Sample { value: f64::NAN, timestamp: 1 << 40 }],
                ..Default::default()
            }],
            metadata: vec![v1::MetricMetadata { r#type: 1, metric_family_name: "up".into(), help: "h".into(), unit: String::new() }],
        };
        damaged_bodies_never_panic(&request.encode_to_vec(), decode_write_request);
    }

    /// What the walker must produce: prost's decode, then the spec rules on owned strings.
    fn reference(request: &v1::WriteRequest) -> Result<Vec<tsdb::SeriesSamples>, ()> {
        let mut out = Vec::new();
        for ts in &request.timeseries {
            let pairs: Vec<(&str, &str)> = ts.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
            out.extend(reference_series(&pairs, ts.samples.iter().map(|s| (s.timestamp, s.value)))?);
        }
        Ok(out)
    }

    fn arb_request() -> impl Strategy<Value = v1::WriteRequest> {
        let name = prop_oneof![Just("__name__".to_string()), Just(String::new()), "[a-c_]{1,3}", "[a-zé]{1,8}"];
        let value = prop_oneof![Just(String::new()), "[a-z0-9é.:]{1,12}"];
        let labels = prop::collection::vec((name, value), 0..6).prop_map(|mut pairs| {
            // Mostly valid sets (sorted, unique), some left as generated.
            if pairs.len() % 3 != 0 {
                pairs.sort();
                pairs.dedup_by(|a, b| a.0 == b.0);
            }
            pairs.into_iter().map(|(name, value)| v1::Label { name, value }).collect::<Vec<_>>()
        });
        let samples = prop::collection::vec((any::<i64>(), any::<f64>()), 0..3)
            .prop_map(|s| s.into_iter().map(|(timestamp, value)| v1::Sample { value, timestamp }).collect::<Vec<_>>());
        let series = (labels, samples).prop_map(|(labels, samples)| v1::TimeSeries { labels, samples, ..Default::default() });
        prop::collection::vec(series, 0..5).prop_map(|timeseries| v1::WriteRequest { timeseries, metadata: vec![] })
    }

    proptest! {
        /// The walker accepts and refuses what prost + the rules do, keeps the same series
        /// and samples (bit-exact) and hashes each label set as `Labels::stable_hash`.
        #[test]
        fn walker_matches_prost_decoding(request in arb_request()) {
            let raw = request.encode_to_vec();
            let walked = decode_write_request(raw.clone(), &IngestRules::default());
            // What prost reads back (it does not encode -0.0, a default), not what was built.
            let request = v1::WriteRequest::decode(raw.as_slice()).expect("prost reads its own encoding");
            match reference(&request) {
                Ok(expected) => check_walked(&walked.expect("valid requests decode"), &expected)?,
                Err(()) => {
                    let refused = matches!(walked, Err(DecodeError::InvalidSeries { .. }));
                    prop_assert!(refused, "{:?}", walked);
                }
            }
        }
    }
}

