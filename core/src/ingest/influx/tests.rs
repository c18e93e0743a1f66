//! Unit tests of the line-protocol parser: a table of tricky lines (escaping, quoting, field
//! types, empty parts), precisions, `db` and `extra_label`, limits, errors naming their line,
//! and a property test that escaped random rows parse back to their labels and values.

use proptest::prelude::*;
use tsdb::{Labels, Sample};

use super::*;
use crate::ingest::label_limits::LabelLimits;

const NOW_MS: i64 = 1_700_000_123_456;

fn defaults() -> LineOptions<'static> {
    LineOptions { precision: Precision::Guess, db: None, extra_labels: &[], now_ms: NOW_MS, rules: IngestRules::default(), parsed_bytes_max: PARSED_BYTES_MAX }
}

/// Every sample of `body` as (labels, value, timestamp), in order.
fn samples_with(body: &str, options: &LineOptions<'_>) -> Result<Vec<(Labels, f64, i64)>, InfluxError> {
    let parsed = parse(body.as_bytes(), options)?;
    let mut out = Vec::new();
    for series in &parsed.to_series() {
        for s in &series.samples {
            out.push((series.labels.clone(), s.value, s.timestamp_ms));
        }
    }
    assert_eq!(out.len() as u64, parsed.samples);
    Ok(out)
}

fn samples(body: &str) -> Vec<(Labels, f64, i64)> {
    samples_with(body, &defaults()).unwrap_or_else(|e| panic!("{body:?}: {e}"))
}

fn error(body: &str) -> String {
    match parse(body.as_bytes(), &defaults()) {
        Ok(parsed) => panic!("{body:?} parsed: {parsed:?}"),
        Err(e) => e.to_string(),
    }
}

/// A metric name and its other labels.
fn l(name: &str, labels: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(labels.iter().copied().chain([(METRIC_NAME_LABEL, name)]))
}

#[test]
fn fields_become_series_named_measurement_field_with_tags_as_labels() {
    let tags = [("tag1", "value1"), ("tag2", "value2")];
    assert_eq!(
        samples("foo,tag1=value1,tag2=value2 field1=12,field2=40 1560272508147\n"),
        vec![(l("foo_field1", &tags), 12.0, 1_560_272_508_147), (l("foo_field2", &tags), 40.0, 1_560_272_508_147)]
    );
}

#[test]
fn tricky_lines_parse_as_victoriametrics_reads_them() {
    let t = 1_560_272_508_147i64;
    // (line, [(name, other labels, value)]), at timestamp `t`.
    type Expected<'a> = &'a [(&'a str, &'a [(&'a str, &'a str)], f64)];
    let table: &[(&str, Expected<'_>)] = &[
        // Escaped comma, space and equals in measurement, tag keys and values, field keys.
        (r"cpu\,x,host\ name=a\=b\,c f\ 1=1", &[("cpu,x_f 1", &[("host name", "a=b,c")], 1.0)]),
        // `\\` is one backslash; a backslash before any other character stays.
        (r"m\\,t=a\\ v=2", &[("m\\_v", &[("t", "a\\")], 2.0)]),
        (r"m,t=a\b v=3", &[("m_v", &[("t", "a\\b")], 3.0)]),
        // An unescaped `=` in a measurement is part of it; a tag value may hold `=` after the first.
        ("m=1,t=a=b v=4", &[("m=1_v", &[("t", "a=b")], 4.0)]),
        // Types: integer, unsigned, booleans, exponent, signs.
        ("m a=-5i,b=18446744073709551615u,c=t,d=FALSE,e=True,f=1e3,g=+.5,h=-0,i=0u", &[
            ("m_a", &[], -5.0), ("m_b", &[], 18_446_744_073_709_551_615.0), ("m_c", &[], 1.0), ("m_d", &[], 0.0),
            ("m_e", &[], 1.0), ("m_f", &[], 1000.0), ("m_g", &[], 0.5), ("m_h", &[], -0.0), ("m_i", &[], 0.0),
        ]),
        // Strings: a number in quotes is that number; other text (with escaped quotes,
        // commas, equals and spaces inside) is skipped.
        (r#"m s="a \"quoted\", spaced=text",n="12.5",v=1"#, &[("m_n", &[], 12.5), ("m_v", &[], 1.0)]),
        // Empty measurement (with tags, or none: the line starts with a space): field names alone.
        (",t=x v=5", &[("v", &[("t", "x")], 5.0)]),
        (" v=6", &[("v", &[], 6.0)]),
        // Leading blanks that do not read as an empty measurement are ignored, as InfluxDB
        // ignores them (the `influx` CLI's INSERT sends them).
        ("  weather,city=paris temp=21.5", &[("weather_temp", &[("city", "paris")], 21.5)]),
        ("  weather temp=21.5", &[("weather_temp", &[], 21.5)]),
        // Tags with an empty key or value are left out; of a repeated tag the last wins.
        ("m,a=,=b,c=1,c=2 v=7", &[("m_v", &[("c", "2")], 7.0)]),
        // A `__name__` tag loses to the field's name.
        ("m,__name__=x v=8", &[("m_v", &[], 8.0)]),
        // Several spaces between the parts; trailing blanks.
        ("m,t=a   v=9    1560272508147  ", &[("m_v", &[("t", "a")], 9.0)]),
        // Dots and dashes stay in names, as VictoriaMetrics keeps them.
        ("disk.io,host-name=a read-bytes=10", &[("disk.io_read-bytes", &[("host-name", "a")], 10.0)]),
        // UTF-8 everywhere.
        ("température,pièce=salle\\ à\\ manger degrés=21.5", &[("température_degrés", &[("pièce", "salle à manger")], 21.5)]),
    ];
    for (line, expected) in table {
        let body = if line.contains("1560272508147") { format!("{line}\r\n") } else { format!("{line} {t}") };
        let got = samples(&body);
        let want: Vec<(Labels, u64, i64)> = expected.iter().map(|(name, labels, v)| (l(name, labels), v.to_bits(), t)).collect();
        let got: Vec<(Labels, u64, i64)> = got.into_iter().map(|(labels, v, t)| (labels, v.to_bits(), t)).collect();
        assert_eq!(got, want, "{line:?}");
    }
}

#[test]
fn blank_lines_and_comments_are_skipped_and_string_fields_counted() {
    let body = "# a comment\n\n   \nm v=1 1000000000000\r\n\n#m v=2\nm s=\"up\" 1000000000000\n";
    let parsed = parse(body.as_bytes(), &defaults()).expect("valid");
    assert_eq!(parsed.to_series().len(), 1);
    assert_eq!(parsed.to_series()[0].samples, vec![Sample { timestamp_ms: 1_000_000_000_000, value: 1.0 }]);
    assert_eq!(parsed.string_fields_skipped, 1);
    assert_eq!(parse(b"", &defaults()).expect("empty"), Parsed::default());
}

#[test]
fn consecutive_lines_of_one_series_share_an_entry_while_time_rises() {
    let parsed = parse(b"m v=1 1000000000000\nm v=2 1000000001000\nm v=3 1000000000500\nm,t=a v=4 1000000002000", &defaults()).expect("valid");
    let shape: Vec<(Labels, Vec<i64>)> = parsed.to_series().iter().map(|s| (s.labels.clone(), s.samples.iter().map(|x| x.timestamp_ms).collect())).collect();
    assert_eq!(
        shape,
        vec![
            (l("m_v", &[]), vec![1_000_000_000_000, 1_000_000_001_000]),
            (l("m_v", &[]), vec![1_000_000_000_500]),
            (l("m_v", &[("t", "a")]), vec![1_000_000_002_000]),
        ]
    );
    assert_eq!(parsed.samples, 4);
}

#[test]
fn precisions_scale_timestamps_and_guessing_follows_the_magnitude() {
    let at = |precision: Precision, line: &str| -> i64 {
        let options = LineOptions { precision, ..defaults() };
        samples_with(line, &options).expect(line)[0].2
    };
    assert_eq!(at(Precision::Nanoseconds, "m v=1 1560272508147999999"), 1_560_272_508_147);
    assert_eq!(at(Precision::Microseconds, "m v=1 1560272508147999"), 1_560_272_508_147);
    assert_eq!(at(Precision::Milliseconds, "m v=1 1560272508147"), 1_560_272_508_147);
    assert_eq!(at(Precision::Seconds, "m v=1 1560272508"), 1_560_272_508_000);
    assert_eq!(at(Precision::Minutes, "m v=1 26004541"), 1_560_272_460_000);
    assert_eq!(at(Precision::Hours, "m v=1 433409"), 1_560_272_400_000);
    // Small values in an explicit precision are taken as they are.
    assert_eq!(at(Precision::Nanoseconds, "m v=1 5000000"), 5);
    assert_eq!(at(Precision::Milliseconds, "m v=1 -1000"), -1000);
    // No precision: nanoseconds, microseconds, milliseconds or seconds by size.
    assert_eq!(at(Precision::Guess, "m v=1 1560272508147999999"), 1_560_272_508_147);
    assert_eq!(at(Precision::Guess, "m v=1 1560272508147999"), 1_560_272_508_147);
    assert_eq!(at(Precision::Guess, "m v=1 1560272508147"), 1_560_272_508_147);
    assert_eq!(at(Precision::Guess, "m v=1 1560272508"), 1_560_272_508_000);
    // None, or 0, is the arrival time; a coarse precision cuts it to its unit.
    for line in ["m v=1", "m v=1 0"] {
        assert_eq!(at(Precision::Guess, line), NOW_MS);
        assert_eq!(at(Precision::Nanoseconds, line), NOW_MS);
        assert_eq!(at(Precision::Seconds, line), 1_700_000_123_000);
        assert_eq!(at(Precision::Minutes, line), 1_700_000_100_000);
        assert_eq!(at(Precision::Hours, line), 1_699_999_200_000);
    }
    let options = LineOptions { precision: Precision::Hours, ..defaults() };
    let err = samples_with("m v=1 9223372036854775", &options).expect_err("overflows").to_string();
    assert!(err.starts_with("line 1 ") && err.contains("out of range"), "{err}");
}

#[test]
fn precision_parameter_values() {
    let table = [
        (None, Precision::Guess),
        (Some(""), Precision::Guess),
        (Some("ns"), Precision::Nanoseconds),
        (Some("u"), Precision::Microseconds),
        (Some("us"), Precision::Microseconds),
        (Some("µ"), Precision::Microseconds),
        (Some("ms"), Precision::Milliseconds),
        (Some("s"), Precision::Seconds),
        (Some("m"), Precision::Minutes),
        (Some("h"), Precision::Hours),
        (Some("weeks"), Precision::Guess),
    ];
    for (param, precision) in table {
        assert_eq!(Precision::from_param(param), precision, "{param:?}");
    }
}

#[test]
fn db_parameter_labels_lines_without_a_db_tag() {
    let options = LineOptions { db: Some("telegraf"), ..defaults() };
    let got = samples_with("m v=1 1000000000000\nm,db=own v=2 1000000000000\nm,db= v=3 1000000000000", &options).expect("valid");
    let labels: Vec<Labels> = got.into_iter().map(|g| g.0).collect();
    // An empty `db` tag is no tag: the parameter applies.
    assert_eq!(labels, [l("m_v", &[("db", "telegraf")]), l("m_v", &[("db", "own")]), l("m_v", &[("db", "telegraf")])]);
    let empty = LineOptions { db: Some(""), ..options };
    assert_eq!(samples_with("m v=1 1000000000000", &empty).expect("valid")[0].0, l("m_v", &[]));
}

#[test]
fn extra_labels_replace_tags_and_db_but_not_the_name() {
    let extra = [("dc".to_string(), "eu".to_string()), ("db".to_string(), "x".to_string()), ("__name__".to_string(), "other".to_string())];
    let options = LineOptions { db: Some("telegraf"), extra_labels: &extra, ..defaults() };
    let got = samples_with("m,dc=us,host=a v=1 1000000000000", &options).expect("valid");
    assert_eq!(got[0].0, l("m_v", &[("db", "x"), ("dc", "eu"), ("host", "a")]));
}

#[test]
fn label_limits_and_non_finite_values_refuse_the_line() {
    let limits = LabelLimits { labels_per_series: 3, name_bytes: 8, value_bytes: 12 };
    let options = LineOptions { rules: IngestRules { reject_non_finite: false, label_limits: limits, ..IngestRules::default() }, ..defaults() };
    assert!(samples_with("m,a=1,b=2 v=1", &options).is_ok());
    let err = samples_with("m v=1\nm,a=1,b=2,c=3 v=1", &options).expect_err("4 labels").to_string();
    assert!(err.starts_with("line 2 ") && err.contains("more than 3 labels (storage.max_labels_per_series)"), "{err}");
    let err = samples_with("m,long_name=1 v=1", &options).expect_err("long name").to_string();
    assert!(err.contains("storage.max_label_name_bytes"), "{err}");
    let err = samples_with("measurement v=1", &options).expect_err("long metric name").to_string();
    assert!(err.contains(r#"series "measurement_v""#) && err.contains("storage.max_label_value_bytes"), "{err}");

    assert!(samples("m v=NaN,w=inf,x=-Infinity")[0].1.is_nan());
    let strict = LineOptions { rules: IngestRules { reject_non_finite: true, ..IngestRules::default() }, ..defaults() };
    let err = samples_with("m v=1,w=-inf", &strict).expect_err("non-finite").to_string();
    assert!(err.contains(r#"field "w""#) && err.contains("storage.reject_non_finite"), "{err}");
}

#[test]
fn malformed_lines_are_named_by_number_with_the_problem() {
    let table = [
        ("m", "no fields"),
        ("m ", "no fields after the measurement"),
        ("m,t v=1", r#"tag "t" has no value"#),
        ("m v", r#"field "v" has no value"#),
        ("m v,w=1", r#"field "v" has no value"#),
        ("m v w=1", r#"field "v" has no value"#),
        ("m =1", "empty key"),
        ("m v=", r#"field "v": empty value"#),
        ("m v=1,", "ends with a comma"),
        ("m v=abc", r#"invalid value "abc""#),
        ("m v=1.5i", r#"invalid integer "1.5i""#),
        ("m v=-1u", r#"invalid unsigned integer "-1u""#),
        ("m v=9223372036854775808i", "invalid integer"),
        ("m v=\"open", "no closing quote"),
        ("m v=\"a\"b", "unexpected text after the string value"),
        ("m v=1 12:00", r#"invalid timestamp "12:00""#),
        ("m v=1 1 2", r#"invalid timestamp "1 2""#),
        (" m v=x", r#"field "v": invalid value "x""#),
    ];
    for (line, problem) in table {
        let err = error(&format!("ok v=1\n# fine\n{line}\nok v=2"));
        assert!(err.starts_with(&format!("line 3 ({line:?}): ")), "{line:?}: {err}");
        assert!(err.contains(problem), "{line:?}: {err}");
    }
    let err = match parse(b"m v=1\n\xffm v=1", &defaults()) {
        Err(e) => e.to_string(),
        Ok(p) => panic!("{p:?}"),
    };
    assert!(err.starts_with("line 2") && err.contains("UTF-8"), "{err}");
    // A long line, and a long name or value in the problem, are shortened in the message.
    let err = error(&format!("m,t={} v=x", "a".repeat(10_000)));
    assert!(err.len() < 400 && err.contains('…'), "{err}");
    let err = error(&format!("m {}=x", "k".repeat(100_000)));
    assert!(err.len() < 400 && err.contains(&format!("field \"{}…\": invalid value \"x\"", "k".repeat(64))), "{err}");
}

#[test]
fn a_request_whose_series_would_take_too_much_memory_is_refused() {
    // One line with a long tag and many fields: each field repeats the tag.
    let line = format!("m,t={} {}", "x".repeat(1000), (0..100).map(|i| format!("f{i}=1")).collect::<Vec<_>>().join(","));
    let small = LineOptions { parsed_bytes_max: 50_000, ..defaults() };
    match parse(line.as_bytes(), &small) {
        Err(InfluxError::TooLarge { line: 1, bytes_max: 50_000 }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(parse(line.as_bytes(), &defaults()).expect("within the default").series_count(), 100);
}

/// A name or value with the characters that need escaping.
fn text_strategy() -> impl Strategy<Value = String> {
    proptest::string::string_regex(r#"[a-zA-Z0-9 ,=\\"_.é#-]{0,8}"#).expect("valid regex")
}

fn escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if matches!(c, ' ' | ',' | '=' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[derive(Clone, Debug)]
enum Generated {
    Float(f64),
    Integer(i64),
    Unsigned(u64),
    Boolean(bool, usize),
    Text(String),
}

fn value_strategy() -> impl Strategy<Value = Generated> {
    prop_oneof![
        proptest::num::f64::NORMAL.prop_map(Generated::Float),
        any::<i64>().prop_map(Generated::Integer),
        any::<u64>().prop_map(Generated::Unsigned),
        (any::<bool>(), 0usize..5).prop_map(|(b, spelling)| Generated::Boolean(b, spelling)),
        text_strategy().prop_map(Generated::Text),
    ]
}

impl Generated {
    fn render(&self) -> String {
        match self {
            Generated::Float(v) => format!("{v}"),
            Generated::Integer(v) => format!("{v}i"),
            Generated::Unsigned(v) => format!("{v}u"),
            Generated::Boolean(b, spelling) => {
                let spellings = if *b { ["t", "T", "true", "True", "TRUE"] } else { ["f", "F", "false", "False", "FALSE"] };
                spellings[*spelling].to_string()
            }
            Generated::Text(t) => format!("\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\"")),
        }
    }

    /// The sample value, or `None` for text that is not a number.
    fn expected(&self) -> Option<f64> {
        match self {
            Generated::Float(v) => Some(*v),
            Generated::Integer(v) => Some(*v as f64),
            Generated::Unsigned(v) => Some(*v as f64),
            Generated::Boolean(b, _) => Some(if *b { 1.0 } else { 0.0 }),
            Generated::Text(t) => t.parse::<f64>().ok(),
        }
    }
}

type Row = (String, Vec<(String, String)>, Vec<(String, Generated)>, Option<i64>);

fn row_strategy() -> impl Strategy<Value = Row> {
    (
        text_strategy().prop_filter("a comment is no row", |m| !m.starts_with('#')),
        proptest::collection::vec((text_strategy(), text_strategy()), 0..4),
        proptest::collection::vec((text_strategy().prop_filter("keys are non-empty", |k| !k.is_empty()), value_strategy()), 1..4),
        proptest::option::of(1_000_000_000_000i64..2_000_000_000_000),
    )
}

proptest! {
    #[test]
    fn escaped_rows_parse_back_to_their_labels_and_values(rows in proptest::collection::vec(row_strategy(), 1..5), db in proptest::option::of("[a-z]{1,3}")) {
        let mut body = String::new();
        let mut expected: Vec<(Labels, u64, i64)> = Vec::new();
        for (measurement, tags, fields, timestamp) in &rows {
            body.push_str(&escape(measurement));
            for (k, v) in tags {
                body.push_str(&format!(",{}={}", escape(k), escape(v)));
            }
            body.push(' ');
            let rendered: Vec<String> = fields.iter().map(|(k, v)| format!("{}={}", escape(k), v.render())).collect();
            body.push_str(&rendered.join(","));
            if let Some(t) = timestamp {
                body.push_str(&format!(" {t}"));
            }
            body.push('\n');
            let kept: Vec<(String, String)> = tags.iter().filter(|(k, v)| !k.is_empty() && !v.is_empty()).cloned().collect();
            let has_db = kept.iter().any(|(k, _)| k == DB_LABEL);
            for (key, value) in fields {
                let Some(value) = value.expected() else { continue };
                let name = if measurement.is_empty() { key.clone() } else { format!("{measurement}_{key}") };
                let mut pairs = kept.clone();
                if let (Some(db), false) = (&db, has_db) {
                    pairs.push((DB_LABEL.to_string(), db.clone()));
                }
                pairs.push((METRIC_NAME_LABEL.to_string(), name));
                expected.push((Labels::from_pairs(pairs), value.to_bits(), timestamp.unwrap_or(NOW_MS)));
            }
        }
        let options = LineOptions { precision: Precision::Milliseconds, db: db.as_deref(), ..defaults() };
        let parsed = parse(body.as_bytes(), &options).map_err(|e| TestCaseError::fail(format!("{body:?}: {e}")))?;
        let got: Vec<(Labels, u64, i64)> = parsed.to_series().iter().flat_map(|s| s.samples.iter().map(|x| (s.labels.clone(), x.value.to_bits(), x.timestamp_ms))).collect();
        prop_assert_eq!(got, expected, "{:?}", body);
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse(&body, &defaults());
    }
}

#[test]
fn skipping_bad_lines_keeps_every_good_line_and_no_field_of_a_bad_one() {
    let options = LineOptions { rules: IngestRules { reject_non_finite: true, ..IngestRules::default() }, ..defaults() };
    // Line 2 extends line 1's series with `v` before its `w` is refused: that sample goes too.
    let body = "m v=1 1000000000000\nm v=2,w=+Inf 1000000001000\nbroken\nm v=3 1000000002000\n";
    let (parsed, skipped) = parse_skipping_bad_lines(body.as_bytes(), &options).expect("not too large");
    let skipped = skipped.expect("two bad lines");
    assert_eq!(skipped.lines, 2);
    assert!(skipped.first.to_string().starts_with("line 2 ") && skipped.first.to_string().contains("non-finite"), "{}", skipped.first);
    assert_eq!(parsed.to_series().len(), 1);
    let values: Vec<(i64, f64)> = parsed.to_series()[0].samples.iter().map(|s| (s.timestamp_ms, s.value)).collect();
    assert_eq!(values, vec![(1_000_000_000_000, 1.0), (1_000_000_002_000, 3.0)]);
    assert_eq!(parsed.samples, 2);
    // Nothing bad: nothing skipped, and the strict parse agrees.
    let (parsed, skipped) = parse_skipping_bad_lines(b"m v=1 1000000000000\n", &options).expect("parsed");
    assert_eq!((skipped, parsed.samples), (None, 1));
    assert!(parse(body.as_bytes(), &options).is_err());
}
