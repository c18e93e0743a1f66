//! remote_write 2.0: a walk over the `Request` wire format (`protowire`); symbols are spans
//! of the body, which becomes the batch's text, and label references resolve to them.

use tsdb::{SeriesBatch, TextSpan, METRIC_NAME_LABEL, METRIC_TYPE_LABEL, METRIC_UNIT_LABEL};

use super::{push_valid_series, span_of, type_name, utf8, walk_histogram, walk_sample, DecodeError, Decoded, IngestRules, MetricMetadata, SeriesScratch, StoredCounts};
use crate::ingest::protowire::{Fields, Value, Varints};

/// Validates a 2.0 `Request` by walking its wire format; the body becomes the batch's text.
/// Symbols are found first (they may follow the series on the wire). As with a full decode
/// first, a wire error anywhere wins over a bad symbol table or an invalid series.
pub(super) fn decode(raw: Vec<u8>, rules: &IngestRules) -> Result<Decoded, DecodeError> {
    let mut out = Decoded::default();
    let mut first_invalid: Option<DecodeError> = None;
    let mut scratch = SeriesScratch::default();
    let mut stored = StoredCounts::default();
    let mut typed: Vec<TypedSeries> = Vec::new();
    let series = SeriesBatch::build(raw, |batch| {
        let text = batch.text();
        let mut symbols: Vec<TextSpan> = Vec::new();
        for field in Fields::new(text) {
            if let (4, value) = field? {
                symbols.push(span_of(text, utf8(value.bytes(4)?, "Request.symbols")?));
            }
        }
        if symbols.first().is_some_and(|s| s.end > s.start) {
            first_invalid = Some(DecodeError::Protobuf("symbols[0] must be the empty string".into()));
        }
        let symbol_text = |span: TextSpan| &text[span.start as usize..span.end as usize];
        let mut index = 0;
        for field in Fields::new(text) {
            let (5, value) = field? else { continue };
            let series = walk_time_series(value.bytes(5)?, text, &symbols, rules.read_start_timestamps, &mut scratch)?;
            if first_invalid.is_none() {
                let resolved = resolve_labels(index, &symbols, &mut scratch).and_then(|()| {
                    let mut labelled = None;
                    if let Some(m) = series.metadata {
                        let family = scratch.labels.iter().map(|&(n, v)| (symbol_text(n), symbol_text(v))).find(|(n, v)| *n == METRIC_NAME_LABEL.as_bytes() && !v.is_empty());
                        let symbol = |r: u32| symbols.get(r as usize).map_or_else(String::new, |&s| String::from_utf8_lossy(symbol_text(s)).into_owned());
                        // A series without a name fails validation below; its metadata goes with it.
                        if let Some((_, family)) = family {
                            if m.kind != 0 || m.help_ref != 0 || m.unit_ref != 0 {
                                out.metadata.push(MetricMetadata { family: String::from_utf8_lossy(family).into_owned(), kind: type_name(m.kind).into(), help: symbol(m.help_ref), unit: symbol(m.unit_ref) });
                            }
                        }
                        let (kind, unit) = (type_name(m.kind), symbol(m.unit_ref));
                        if rules.type_and_unit_labels && (kind != "unknown" || !unit.is_empty()) {
                            labelled = Some((kind, unit));
                        }
                    }
                    if let Some((kind, unit)) = &labelled {
                        check_labels_given(&scratch, text, kind, unit, rules)?;
                    }
                    let at = batch.series_count();
                    push_valid_series(batch, &mut scratch, rules, &mut stored)?;
                    if let Some((kind, unit)) = labelled.filter(|_| batch.series_count() > at) {
                        typed.push(TypedSeries { at, kind, unit });
                    }
                    Ok(())
                });
                if let Err(e) = resolved {
                    first_invalid = Some(e);
                }
            }
            index += 1;
        }
        Ok::<(), DecodeError>(())
    })?;
    out.series = if typed.is_empty() { series } else { with_type_and_unit_labels(&series, &typed) };
    (out.samples, out.histograms, out.exemplars, out.exemplars_dropped) = (stored.samples, stored.histograms, stored.exemplars, stored.exemplars_dropped);
    match first_invalid {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Checks the label limits against the labels a series will have once its metadata gives it
/// `__type__` (`kind`, none when unknown) and `__unit__` (none when empty), in place of any
/// sent: a series its type and unit take past `storage.max_labels_per_series` is refused as
/// one sent with them would be.
fn check_labels_given(scratch: &SeriesScratch, text: &[u8], kind: &str, unit: &str, rules: &IngestRules) -> Result<(), DecodeError> {
    let bytes = |s: TextSpan| &text[s.start as usize..s.end as usize];
    let pairs = scratch
        .labels
        .iter()
        .map(|&(n, v)| (bytes(n), bytes(v)))
        .filter(|(n, _)| *n != METRIC_TYPE_LABEL.as_bytes() && *n != METRIC_UNIT_LABEL.as_bytes())
        .chain(given_labels(kind, unit));
    match crate::ingest::label_limits::problem(&rules.label_limits, pairs.clone()) {
        Some(problem) => Err(DecodeError::InvalidSeries { series: super::series_text(pairs), problem }),
        None => Ok(()),
    }
}

/// A series of the batch whose metadata gives it `__type__`/`__unit__` labels
/// (`storage.type_and_unit_labels`): its index, its type (`unknown`: none) and its unit.
struct TypedSeries {
    at: usize,
    kind: &'static str,
    unit: String,
}

/// The batch with each typed series' `__type__` and `__unit__` labels set from its metadata,
/// as Prometheus' handler sets them under `type-and-unit-labels`: those sent are dropped, an
/// unknown type and an empty unit give no label. Other series keep their labels as sent.
fn with_type_and_unit_labels(batch: &SeriesBatch, typed: &[TypedSeries]) -> SeriesBatch {
    let mut index = 0;
    let mut typed = typed.iter().peekable();
    batch.relabeled(|series, sink| {
        let meta = typed.next_if(|t| t.at == index);
        index += 1;
        for (name, value) in series.label_pairs() {
            if meta.is_none() || (name != METRIC_TYPE_LABEL.as_bytes() && name != METRIC_UNIT_LABEL.as_bytes()) {
                sink.push(name, value);
            }
        }
        if let Some(meta) = meta {
            for (name, value) in given_labels(meta.kind, &meta.unit) {
                sink.push(name, value);
            }
        }
        true
    })
}

/// The labels a series' type and unit give it: `__type__` unless the type is unknown,
/// `__unit__` unless the unit is empty.
fn given_labels<'a>(kind: &'a str, unit: &'a str) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone {
    let kind = (kind != "unknown").then_some((METRIC_TYPE_LABEL.as_bytes(), kind.as_bytes()));
    let unit = (!unit.is_empty()).then_some((METRIC_UNIT_LABEL.as_bytes(), unit.as_bytes()));
    kind.into_iter().chain(unit)
}

/// `Metadata` of a 2.0 series (a singular field: occurrences merge, later values win).
#[derive(Clone, Copy, Default)]
struct SeriesMetadata {
    kind: i32,
    help_ref: u32,
    unit_ref: u32,
}

#[derive(Default)]
struct WalkedSeries {
    metadata: Option<SeriesMetadata>,
}

/// One 2.0 `TimeSeries`: label references into `scratch.refs`, samples into `scratch.samples`,
/// exemplars (their label references resolved through `symbols`) into `scratch.exemplars`,
/// and with `read_starts` (`storage.start_timestamp_zero_ingestion`) the samples' start
/// timestamps into `scratch.starts`.
fn walk_time_series(message: &[u8], text: &[u8], symbols: &[TextSpan], read_starts: bool, scratch: &mut SeriesScratch) -> Result<WalkedSeries, DecodeError> {
    scratch.clear();
    let mut series = WalkedSeries::default();
    // With `read_starts`: (start, timestamp, value) of each sample and histogram, in wire
    // order; the series-wide start (field 6) may come after them. Nothing is kept (or
    // allocated) otherwise.
    let mut own_starts: Vec<(i64, i64, f64)> = Vec::new();
    let mut series_start = 0;
    for field in Fields::new(message) {
        match field? {
            // Repeated uint32: packed (one length-delimited run of varints) or one by one.
            (1, Value::Len(packed)) => {
                for r in Varints::new(packed) {
                    scratch.refs.push(r? as u32);
                }
            }
            (1, value) => scratch.refs.push(value.varint(1)? as u32),
            (2, value) => {
                // The start is read either way (a malformed one fails the request, as the
                // field is known to 2.0), in the sample's one pass.
                let mut start = 0;
                let sample = walk_sample(value.bytes(2)?, Some(&mut start))?;
                scratch.samples.push(sample);
                if read_starts {
                    own_starts.push((start, sample.timestamp_ms, sample.value));
                }
            }
            (3, value) => {
                let kept = walk_histogram(value.bytes(3)?, scratch)?;
                if let Some((start, timestamp)) = kept.filter(|_| read_starts) {
                    own_starts.push((start, timestamp, 0.0));
                }
            }
            (4, value) => walk_exemplar(value.bytes(4)?, text, symbols, scratch)?,
            (5, value) => {
                let m = series.metadata.get_or_insert_with(SeriesMetadata::default);
                for field in Fields::new(value.bytes(5)?) {
                    match field? {
                        (1, v) => m.kind = v.varint(1)? as i32,
                        (3, v) => m.help_ref = v.varint(3)? as u32,
                        (4, v) => m.unit_ref = v.varint(4)? as u32,
                        _ => {}
                    }
                }
            }
            (6, value) => series_start = value.varint(6)? as i64,
            _ => {}
        }
    }
    // Prometheus takes a start with a timestamp, both non-zero (zero is "not given"); a
    // sample without its own takes the series-wide one of the older protocol. A staleness
    // marker has none.
    for (start, timestamp_ms, value) in own_starts {
        let start = if start != 0 { start } else { series_start };
        if start != 0 && timestamp_ms != 0 && !tsdb::is_stale_nan(value) {
            scratch.starts.push(tsdb::StartTimestamp { start_ms: start, sample_ms: timestamp_ms });
        }
    }
    Ok(series)
}

/// One 2.0 `Exemplar` (1 labels_refs, 2 value, 3 timestamp) into `scratch`, kept or counted
/// invalid (also when a reference is odd in number or outside the symbol table).
fn walk_exemplar(message: &[u8], text: &[u8], symbols: &[TextSpan], scratch: &mut SeriesScratch) -> Result<(), DecodeError> {
    let (mut refs, mut value, mut timestamp_ms) = (Vec::new(), 0.0, 0);
    for field in Fields::new(message) {
        match field? {
            (1, Value::Len(packed)) => {
                for r in Varints::new(packed) {
                    refs.push(r? as u32);
                }
            }
            (1, v) => refs.push(v.varint(1)? as u32),
            (2, v) => value = f64::from_bits(v.fixed64(2)?),
            (3, v) => timestamp_ms = v.varint(3)? as i64,
            _ => {}
        }
    }
    let symbol = |r: u32| symbols.get(r as usize).map(|s| &text[s.start as usize..s.end as usize]);
    let pairs: Option<Vec<(&[u8], &[u8])>> = refs.chunks(2).map(|pair| Some((symbol(pair[0])?, symbol(*pair.get(1)?)?))).collect();
    match pairs {
        Some(mut pairs) => scratch.push_exemplar(&mut pairs, value, timestamp_ms),
        None => scratch.exemplars_invalid += 1,
    }
    Ok(())
}

/// Turns `scratch.refs` into label spans (`scratch.labels`), naming series `#index` when a
/// reference is odd or outside the symbol table.
fn resolve_labels(index: usize, symbols: &[TextSpan], scratch: &mut SeriesScratch) -> Result<(), DecodeError> {
    let invalid = |problem: String| DecodeError::InvalidSeries { series: format!("#{index}"), problem };
    if !scratch.refs.len().is_multiple_of(2) {
        return Err(invalid(format!("labels_refs has odd length {}", scratch.refs.len())));
    }
    for pair in scratch.refs.chunks_exact(2) {
        let span = |r: u32| {
            symbols.get(r as usize).copied().ok_or_else(|| invalid(format!("label reference {r} is outside the symbol table ({} symbols)", symbols.len())))
        };
        scratch.labels.push((span(pair[0])?, span(pair[1])?));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{decode_request, Protocol};
    use super::*;
    use prost::Message;
    use proptest::prelude::*;
    use super::super::test_support::{check_walked, damaged_bodies_never_panic, len_field, reference_series};
    use proto::remote_write_v2 as v2;

    #[test]
    fn v2_resolves_symbols_and_checks_refs() {
        let request = v2::Request {
            symbols: vec!["".into(), "__name__".into(), "up".into(), "job".into(), "x".into()],
            timeseries: vec![v2::TimeSeries {
                labels_refs: vec![1, 2, 3, 4],
                samples: vec![v2::Sample { value: 2.5, timestamp: 10, start_timestamp: 0 }],
                ..Default::default()
            }],
        };
        let body = snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).unwrap();
        let (protocol, decoded) =
            decode_request(Some("application/x-protobuf;proto=io.prometheus.write.v2.Request"), None, &body, &IngestRules::default()).unwrap();
        assert_eq!(protocol, Protocol::V2);
        assert_eq!(decoded.series.get(0).to_labels().get("job"), Some("x"));
        let mut bad = request.clone();
        bad.timeseries[0].labels_refs = vec![1, 9];
        let body = snap::raw::Encoder::new().compress_vec(&bad.encode_to_vec()).unwrap();
        let err = decode_request(Some("application/x-protobuf;proto=io.prometheus.write.v2.Request"), None, &body, &IngestRules::default()).unwrap_err();
        assert!(err.to_string().contains("outside the symbol table"), "{err}");
    }


    #[test]
    fn start_timestamps_go_with_their_samples_when_zero_ingestion_is_on() {
        let stale = f64::from_bits(tsdb::STALE_NAN_BITS);
        let sample = |value: f64, timestamp: i64, start_timestamp: i64| v2::Sample { value, timestamp, start_timestamp };
        let histogram = |timestamp: i64, start_timestamp: i64| proto::remote_write_v1::Histogram {
            count: Some(proto::remote_write_v1::histogram::Count::CountInt(0)),
            zero_count: Some(proto::remote_write_v1::histogram::ZeroCount::ZeroCountInt(0)),
            timestamp,
            start_timestamp,
            ..Default::default()
        };
        let request = v2::Request {
            symbols: vec!["".into(), "__name__".into(), "a".into(), "b".into(), "h".into()],
            timeseries: vec![
                // Own starts; one not given, one with a zero timestamp, one on a stale marker.
                v2::TimeSeries { labels_refs: vec![1, 2], samples: vec![sample(1.0, 10, 5), sample(2.0, 20, 0), sample(3.0, 0, -7), sample(stale, 30, 5)], ..Default::default() },
                // The older protocol's series-wide start, for the samples without their own.
                v2::TimeSeries { labels_refs: vec![1, 3], samples: vec![sample(1.0, 10, 0), sample(2.0, 20, 15)], created_timestamp: 4, ..Default::default() },
                v2::TimeSeries { labels_refs: vec![1, 4], histograms: vec![histogram(100, 60)], ..Default::default() },
            ],
        };
        let body = snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).unwrap();
        let decode = |rules: &IngestRules| decode_request(Some("application/x-protobuf;proto=io.prometheus.write.v2.Request"), None, &body, rules).unwrap().1;
        let start = |start_ms: i64, sample_ms: i64| tsdb::StartTimestamp { start_ms, sample_ms };
        let on = decode(&IngestRules { read_start_timestamps: true, ..IngestRules::default() });
        let starts: Vec<Vec<tsdb::StartTimestamp>> = on.series.iter().map(|s| s.start_timestamps().to_vec()).collect();
        assert_eq!(starts, vec![vec![start(5, 10)], vec![start(4, 10), start(15, 20)], vec![start(60, 100)]]);
        assert_eq!(on.samples, 6, "starts are not counted as samples written");
        let off = decode(&IngestRules::default());
        assert!(off.series.iter().all(|s| s.start_timestamps().is_empty()), "off by default");
    }

    #[test]
    fn type_and_unit_labels_come_from_the_metadata_when_asked() {
        let meta = |r#type: i32, unit_ref: u32| Some(v2::Metadata { r#type, help_ref: 0, unit_ref });
        let series = |labels_refs: Vec<u32>, metadata| v2::TimeSeries { labels_refs, samples: vec![v2::Sample { value: 1.0, timestamp: 10, start_timestamp: 0 }], metadata, ..Default::default() };
        let request = v2::Request {
            symbols: ["", "__name__", "a_seconds_total", "b", "c", "seconds", "__type__", "gauge", "__unit__", "bytes", "d"].map(String::from).to_vec(),
            timeseries: vec![
                // Counter in seconds; a `__type__` sent gives way to the metadata's.
                series(vec![1, 2, 6, 7], meta(1, 5)),
                // A unit only (type unknown): no `__type__`, and the sent one is dropped.
                series(vec![1, 3, 6, 7], meta(0, 5)),
                // No type or unit: the labels stay as sent.
                series(vec![1, 4, 8, 9], meta(0, 0)),
                // A type only: a sent `__unit__` is dropped.
                series(vec![1, 10, 8, 9], meta(2, 0)),
            ],
        };
        let labels = |rules: &IngestRules| -> Vec<String> { decode(request.encode_to_vec(), rules).expect("decodes").series.iter().map(|s| s.to_labels().to_string()).collect() };
        assert_eq!(
            labels(&IngestRules { type_and_unit_labels: true, ..IngestRules::default() }),
            [
                r#"a_seconds_total{__type__="counter", __unit__="seconds"}"#,
                r#"b{__unit__="seconds"}"#,
                r#"c{__unit__="bytes"}"#,
                r#"d{__type__="gauge"}"#,
            ]
        );
        assert_eq!(
            labels(&IngestRules::default()),
            [r#"a_seconds_total{__type__="gauge"}"#, r#"b{__type__="gauge"}"#, r#"c{__unit__="bytes"}"#, r#"d{__unit__="bytes"}"#],
            "off: the labels as sent"
        );
    }

    #[test]
    fn labels_given_by_the_metadata_count_against_the_label_limit() {
        let series = |labels_refs: Vec<u32>, unit_ref: u32| v2::TimeSeries { labels_refs, samples: vec![v2::Sample { value: 1.0, timestamp: 10, start_timestamp: 0 }], metadata: Some(v2::Metadata { r#type: 1, help_ref: 0, unit_ref }), ..Default::default() };
        let symbols = ["", "__name__", "a_total", "job", "j", "__type__", "counter", "seconds"].map(String::from).to_vec();
        let limits = crate::ingest::label_limits::LabelLimits { labels_per_series: 3, ..Default::default() };
        let rules = IngestRules { type_and_unit_labels: true, label_limits: limits, ..IngestRules::default() };
        let decode_one = |labels_refs: Vec<u32>, unit_ref: u32, rules: &IngestRules| decode(v2::Request { symbols: symbols.clone(), timeseries: vec![series(labels_refs, unit_ref)] }.encode_to_vec(), rules);
        // Two sent, a type and a unit given: four.
        let refused = decode_one(vec![1, 2, 3, 4], 7, &rules).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(refused.contains("more than 3 labels (storage.max_labels_per_series)") && refused.contains("__unit__"), "{refused}");
        // A sent `__type__` is replaced, not added to: three.
        assert!(decode_one(vec![1, 2, 5, 6, 3, 4], 0, &rules).is_ok());
        // Without the option nothing is added: three sent labels pass.
        assert!(decode_one(vec![1, 2, 5, 6, 3, 4], 7, &IngestRules { label_limits: limits, ..IngestRules::default() }).is_ok());
    }

    #[test]
    fn exemplar_label_refs_resolve_through_the_symbols() {
        let request = v2::Request {
            symbols: vec!["".into(), "__name__".into(), "up".into(), "trace_id".into(), "abc".into(), "x".repeat(130)],
            timeseries: vec![v2::TimeSeries {
                labels_refs: vec![1, 2],
                samples: vec![v2::Sample { value: 2.5, timestamp: 10, start_timestamp: 0 }],
                exemplars: vec![
                    v2::Exemplar { labels_refs: vec![3, 4], value: 0.5, timestamp: 10 },
                    v2::Exemplar { labels_refs: vec![3, 5], value: 0.5, timestamp: 11 }, // 138 characters
                    v2::Exemplar { labels_refs: vec![3, 9], value: 0.5, timestamp: 12 }, // outside the table
                    v2::Exemplar { labels_refs: vec![3], value: 0.5, timestamp: 13 },    // odd
                ],
                ..Default::default()
            }],
        };
        let decoded = decode(request.encode_to_vec(), &IngestRules::default()).expect("an invalid exemplar is no 400");
        assert_eq!((decoded.samples, decoded.exemplars, decoded.exemplars_dropped), (1, 1, 3));
        let e = &decoded.series.get(0).exemplars()[0];
        assert_eq!((e.labels.get("trace_id"), e.value, e.timestamp_ms), (Some("abc"), 0.5, 10));
    }

    #[test]
    fn symbols_after_series_unpacked_refs_and_merged_metadata() {
        let sample = [vec![0x09], 2.5f64.to_bits().to_le_bytes().to_vec(), vec![0x10, 7]].concat();
        // labels_refs one varint at a time; metadata in two parts (type, then help).
        let series = [vec![0x08, 1, 0x08, 2], len_field(2, &sample), len_field(5, &[0x08, 1]), len_field(5, &[0x18, 3]), vec![0x30, 9]].concat();
        let symbols: Vec<u8> = ["", "__name__", "up", "help text"].iter().flat_map(|s| len_field(4, s.as_bytes())).collect();
        let raw = [len_field(5, &series), symbols].concat();
        let decoded = decode(raw, &IngestRules::default()).expect("decodes");
        assert_eq!(decoded.series.to_series()[0].labels, tsdb::Labels::from_pairs([("__name__", "up")]));
        assert_eq!(decoded.series.get(0).samples(), &[tsdb::Sample { timestamp_ms: 7, value: 2.5 }]);
        assert_eq!(decoded.metadata, vec![MetricMetadata { family: "up".into(), kind: "counter".into(), help: "help text".into(), unit: String::new() }]);
    }

    #[test]
    fn truncated_and_corrupted_bodies_are_errors_or_values_never_panics() {
        let request = v2::Request {
            symbols: vec!["".into(), "__name__".into(), "up".into(), "é".into()],
            timeseries: vec![v2::TimeSeries {
                labels_refs: vec![1, 2],
                samples: vec![v2::Sample { value: 1.5, timestamp: -3, start_timestamp: 0 }],
                metadata: Some(v2::Metadata { r#type: 1, help_ref: 3, unit_ref: 0 }),
                ..Default::default()
            }],
        };
        damaged_bodies_never_panic(&request.encode_to_vec(), decode);
    }

    /// What the walker must produce: prost's decode, then the spec rules on owned strings.
    fn reference(request: &v2::Request) -> Result<Vec<tsdb::SeriesSamples>, &'static str> {
        let symbols = &request.symbols;
        if symbols.first().is_some_and(|s| !s.is_empty()) {
            return Err("protobuf");
        }
        let mut out = Vec::new();
        for ts in &request.timeseries {
            if ts.labels_refs.len() % 2 != 0 || ts.labels_refs.iter().any(|&r| r as usize >= symbols.len()) {
                return Err("invalid");
            }
            let pairs: Vec<(&str, &str)> = ts.labels_refs.chunks_exact(2).map(|p| (symbols[p[0] as usize].as_str(), symbols[p[1] as usize].as_str())).collect();
            let series = reference_series(&pairs, ts.samples.iter().map(|s| (s.timestamp, s.value))).map_err(|()| "invalid")?;
            out.extend(series);
        }
        Ok(out)
    }

    fn arb_request() -> impl Strategy<Value = v2::Request> {
        let symbol = prop_oneof![Just(String::new()), Just("__name__".to_string()), "[a-c_]{1,3}", "[a-zé0-9]{1,6}"];
        let symbols = (any::<bool>(), prop::collection::vec(symbol, 0..8))
            .prop_map(|(valid_start, rest)| if valid_start { ["", "__name__", "up"].iter().map(|s| s.to_string()).chain(rest).collect() } else { rest });
        let series = (prop::collection::vec(3u32..9, 0..7), prop::collection::vec((any::<i64>(), any::<f64>()), 0..3)).prop_map(|(mut refs, samples)| {
            // Mostly a name first (valid with a valid symbol table), then random pairs.
            if refs.len() % 6 != 0 {
                refs.truncate(refs.len() / 4 * 2);
                refs.splice(0..0, [1, 2]);
            }
            v2::TimeSeries {
                labels_refs: refs,
                samples: samples.into_iter().map(|(timestamp, value)| v2::Sample { value, timestamp, start_timestamp: 0 }).collect(),
                ..Default::default()
            }
        });
        (symbols, prop::collection::vec(series, 0..4)).prop_map(|(symbols, timeseries)| v2::Request { symbols, timeseries })
    }

    proptest! {
        /// The walker accepts and refuses what prost + the rules do, keeps the same series
        /// and samples and hashes each label set as `Labels::stable_hash`.
        #[test]
        fn walker_matches_prost_decoding(request in arb_request()) {
            let raw = request.encode_to_vec();
            let walked = decode(raw.clone(), &IngestRules::default());
            let request = v2::Request::decode(raw.as_slice()).expect("prost reads its own encoding");
            match reference(&request) {
                Ok(expected) => check_walked(&walked.expect("valid requests decode"), &expected)?,
                Err(kind) => {
                    let matches = match &walked {
                        Err(DecodeError::Protobuf(_)) => kind == "protobuf",
                        Err(DecodeError::InvalidSeries { .. }) => kind == "invalid",
                        _ => false,
                    };
                    prop_assert!(matches, "expected {}, got {:?}", kind, walked);
                }
            }
        }
    }
}
