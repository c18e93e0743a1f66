//! VictoriaMetrics-compatible JSON-lines export/import format: one series per line,
//! `{"metric":{...},"values":[...],"timestamps":[...]}` with millisecond timestamps. An
//! export imports back unchanged, non-finite values and staleness markers included.

use std::fmt::Write;

use tsdb::{Labels, Sample, SeriesSamples, METRIC_NAME_LABEL};

use super::label_limits::LabelLimits;
use super::DecodeError;

/// Appends one series as a JSON line. Non-finite values are written as the bare tokens `NaN`,
/// `Inf`, `-Inf`, and a staleness marker as `null` (as VictoriaMetrics' export writes its
/// NaNs, markers included), so the line imports back unchanged.
pub fn write_line(out: &mut String, series: &SeriesSamples) {
    out.push_str("{\"metric\":{");
    for (i, l) in series.labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(&l.name).unwrap_or_default());
        out.push(':');
        out.push_str(&serde_json::to_string(&l.value).unwrap_or_default());
    }
    out.push_str("},\"values\":[");
    for (i, s) in series.samples.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if s.value.to_bits() == tsdb::STALE_NAN_BITS {
            out.push_str("null");
        } else if s.value.is_nan() {
            out.push_str("NaN");
        } else if s.value.is_infinite() {
            out.push_str(if s.value > 0.0 { "Inf" } else { "-Inf" });
        } else {
            let _ = write!(out, "{}", s.value);
        }
    }
    out.push_str("],\"timestamps\":[");
    for (i, s) in series.samples.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{}", s.timestamp_ms);
    }
    out.push_str("]}\n");
}

fn bad(line: usize, problem: impl Into<String>) -> DecodeError {
    DecodeError::InvalidSeries { series: format!("line {line}"), problem: problem.into() }
}

/// A value token (bare or the inside of a quoted one): a number, or one of the non-finite
/// spellings VictoriaMetrics reads (`null` for a staleness marker, `NaN`, `Inf`, `-Inf` as
/// `write_line` writes them, and `nan`, `inf`, `Infinity`, `-infinity`, `Null`, …).
fn parse_value(token: &str, line: usize) -> Result<f64, DecodeError> {
    let (negative, magnitude) = match token.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, token.strip_prefix('+').unwrap_or(token)),
    };
    match magnitude {
        "null" | "Null" if !negative => Ok(f64::from_bits(tsdb::STALE_NAN_BITS)),
        "NaN" | "nan" => Ok(f64::NAN),
        "Inf" | "inf" | "Infinity" | "infinity" => Ok(if negative { f64::NEG_INFINITY } else { f64::INFINITY }),
        _ => token.parse::<f64>().map_err(|_| bad(line, format!("invalid value {token:?}"))),
    }
}

/// JSON's whitespace.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

/// What ends a bare token: the next element, the end of its array or object, or whitespace.
fn ends_token(byte: u8) -> bool {
    matches!(byte, b',' | b']' | b'}') || is_space(byte)
}

/// A walk over one line: JSON, except that values may be bare non-finite tokens.
struct Scanner<'a> {
    text: &'a str,
    at: usize,
    line: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&mut self) -> Option<u8> {
        while let Some(&byte) = self.text.as_bytes().get(self.at) {
            if !is_space(byte) {
                return Some(byte);
            }
            self.at += 1;
        }
        None
    }

    fn error(&self, problem: impl std::fmt::Display) -> DecodeError {
        bad(self.line, format!("invalid JSON at byte {}: {problem}", self.at + 1))
    }

    /// Takes `byte` (after any whitespace).
    fn expect(&mut self, byte: u8) -> Result<(), DecodeError> {
        match self.peek() {
            Some(found) if found == byte => {
                self.at += 1;
                Ok(())
            }
            Some(found) => Err(self.error(format!("expected '{}', found '{}'", byte as char, found as char))),
            None => Err(self.error(format!("expected '{}', found the end of the line", byte as char))),
        }
    }

    /// After an element: true at `,` (taken), false at `close` (taken).
    fn another(&mut self, close: u8) -> Result<bool, DecodeError> {
        match self.peek() {
            Some(b',') => {
                self.at += 1;
                Ok(true)
            }
            Some(found) if found == close => {
                self.at += 1;
                Ok(false)
            }
            _ => Err(self.error(format!("expected ',' or '{}'", close as char))),
        }
    }

    /// A JSON string, unescaped (borrowed when it has no escapes).
    fn string(&mut self) -> Result<std::borrow::Cow<'a, str>, DecodeError> {
        self.expect(b'"')?;
        let start = self.at;
        let bytes = self.text.as_bytes();
        let mut escaped = false;
        loop {
            match memchr::memchr2(b'"', b'\\', &bytes[self.at..]) {
                None => return Err(self.error("unterminated string")),
                Some(offset) if bytes[self.at + offset] == b'\\' => {
                    escaped = true;
                    self.at += offset + 2;
                    if self.at > bytes.len() {
                        return Err(self.error("unterminated string"));
                    }
                }
                Some(offset) => {
                    self.at += offset + 1;
                    break;
                }
            }
        }
        let quoted = &self.text[start - 1..self.at];
        if escaped || quoted.bytes().any(|b| b < 0x20) {
            return serde_json::from_str::<String>(quoted).map(std::borrow::Cow::Owned).map_err(|e| self.error(e));
        }
        Ok(std::borrow::Cow::Borrowed(&self.text[start..self.at - 1]))
    }

    /// A bare token up to the next `,`, `]`, `}` or whitespace.
    fn bare(&mut self) -> &'a str {
        let start = self.at;
        let bytes = self.text.as_bytes();
        while self.at < bytes.len() && !ends_token(bytes[self.at]) {
            self.at += 1;
        }
        &self.text[start..self.at]
    }

    /// A plain integer token (`-`, digits, then a delimiter) that fits an `i64`, taken;
    /// `None` (nothing taken) for any other token. `-0` is none, so a value keeps its sign.
    fn integer(&mut self) -> Option<i64> {
        let bytes = self.text.as_bytes();
        let negative = bytes.get(self.at) == Some(&b'-');
        let digits_from = self.at + usize::from(negative);
        let mut end = digits_from;
        let mut value: i64 = 0;
        while let Some(&byte) = bytes.get(end) {
            if !byte.is_ascii_digit() {
                break;
            }
            let digit = i64::from(byte - b'0');
            value = value.checked_mul(10)?;
            value = if negative { value.checked_sub(digit)? } else { value.checked_add(digit)? };
            end += 1;
        }
        let delimited = bytes.get(end).is_none_or(|&byte| ends_token(byte));
        if end == digits_from || !delimited || (negative && value == 0) {
            return None;
        }
        self.at = end;
        Some(value)
    }

    /// `[ element, ... ]`, each element read by `element`.
    fn array(&mut self, mut element: impl FnMut(&mut Self) -> Result<(), DecodeError>) -> Result<(), DecodeError> {
        self.expect(b'[')?;
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.peek();
            element(self)?;
            if !self.another(b']')? {
                return Ok(());
            }
        }
    }

    /// Any JSON value, skipped.
    fn skip_value(&mut self) -> Result<(), DecodeError> {
        self.peek();
        let mut values = serde_json::Deserializer::from_str(&self.text[self.at..]).into_iter::<serde::de::IgnoredAny>();
        match values.next() {
            Some(Ok(_)) => {
                self.at += values.byte_offset();
                Ok(())
            }
            Some(Err(e)) => Err(self.error(e)),
            None => Err(self.error("a value is missing")),
        }
    }
}

/// Parses one import line (numbered `line` in errors) under the label `limits`; `None` for
/// a blank one. The keys may come in any order, with whitespace between tokens; others than
/// `metric`, `values` and `timestamps` are skipped, and of a key given twice the last counts.
pub fn parse_line(raw: &str, line: usize, limits: &LabelLimits) -> Result<Option<SeriesSamples>, DecodeError> {
    let mut scan = Scanner { text: raw, at: 0, line };
    if scan.peek().is_none() {
        return Ok(None);
    }
    let mut pairs: Option<Vec<(String, String)>> = None;
    let mut values: Option<Vec<f64>> = None;
    let mut timestamps: Option<Vec<i64>> = None;
    scan.expect(b'{')?;
    if scan.peek() != Some(b'}') {
        loop {
            let key = scan.string()?;
            scan.expect(b':')?;
            match scan.peek() {
                Some(b'{') if key == "metric" => pairs = Some(labels(&mut scan)?),
                Some(b'[') if key == "values" => {
                    let mut out = Vec::new();
                    scan.array(|scan| {
                        // Integers (counters, mostly) convert exactly as parsing their text would.
                        if let Some(integer) = scan.integer() {
                            out.push(integer as f64);
                            return Ok(());
                        }
                        let token = if scan.peek() == Some(b'"') { scan.string()? } else { std::borrow::Cow::Borrowed(scan.bare()) };
                        out.push(parse_value(&token, line)?);
                        Ok(())
                    })?;
                    values = Some(out);
                }
                Some(b'[') if key == "timestamps" => {
                    let mut out = Vec::new();
                    scan.array(|scan| {
                        let t = match scan.integer() {
                            Some(t) => t,
                            None => {
                                let token = scan.bare();
                                token.parse::<i64>().map_err(|_| bad(line, format!("timestamp {token} is not an integer of milliseconds")))?
                            }
                        };
                        out.push(t);
                        Ok(())
                    })?;
                    timestamps = Some(out);
                }
                _ if key == "metric" => return Err(bad(line, "missing \"metric\" object")),
                _ if key == "values" => return Err(bad(line, "\"values\" is not an array")),
                _ if key == "timestamps" => return Err(bad(line, "missing \"timestamps\" array")),
                _ => scan.skip_value()?,
            }
            if !scan.another(b'}')? {
                break;
            }
        }
    } else {
        scan.at += 1;
    }
    if scan.peek().is_some() {
        return Err(scan.error("text after the object"));
    }
    let pairs = pairs.ok_or_else(|| bad(line, "missing \"metric\" object"))?;
    let values = values.ok_or_else(|| bad(line, "missing \"values\""))?;
    let timestamps = timestamps.ok_or_else(|| bad(line, "missing \"timestamps\" array"))?;
    if let Some(problem) = super::label_limits::problem(limits, pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()))) {
        return Err(bad(line, problem));
    }
    let labels = Labels::from_pairs(pairs);
    if labels.get(METRIC_NAME_LABEL).is_none() {
        return Err(bad(line, "missing metric name (__name__)"));
    }
    if timestamps.len() != values.len() {
        return Err(bad(line, format!("{} values but {} timestamps", values.len(), timestamps.len())));
    }
    let mut samples: Vec<Sample> = timestamps.into_iter().zip(values).map(|(timestamp_ms, value)| Sample { timestamp_ms, value }).collect();
    samples.sort_by_key(|s| s.timestamp_ms);
    Ok(Some(SeriesSamples { labels, samples, histograms: Vec::new(), starts: None }))
}

/// The `metric` object: label names and string values (a name given twice keeps its last
/// value).
fn labels(scan: &mut Scanner) -> Result<Vec<(String, String)>, DecodeError> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    scan.expect(b'{')?;
    if scan.peek() == Some(b'}') {
        scan.at += 1;
        return Ok(pairs);
    }
    loop {
        let name = scan.string()?;
        scan.expect(b':')?;
        if scan.peek() != Some(b'"') {
            return Err(bad(scan.line, format!("label {name} is not a string")));
        }
        let value = scan.string()?;
        if name.is_empty() {
            return Err(bad(scan.line, "empty label name"));
        }
        match pairs.iter_mut().find(|(n, _)| *n == name) {
            Some(pair) => pair.1 = value.into_owned(),
            None => pairs.push((name.into_owned(), value.into_owned())),
        }
        if !scan.another(b'}')? {
            return Ok(pairs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A whole body through `parse_line`, as the streamed import does line by line (tests only).
    fn parse_lines(body: &[u8]) -> Result<Vec<SeriesSamples>, DecodeError> {
        let text = std::str::from_utf8(body).map_err(|_| bad(0, "body is not valid UTF-8"))?;
        let mut out = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            if let Some(series) = parse_line(raw, index + 1, &LabelLimits::default())? {
                out.push(series);
            }
        }
        Ok(out)
    }

    #[test]
    fn round_trip_with_non_finite_values() {
        let series = SeriesSamples {
            labels: Labels::from_pairs([("__name__", "up"), ("job", "a\"b")]),
            samples: vec![Sample { timestamp_ms: 1, value: 1.5 }, Sample { timestamp_ms: 2, value: f64::NAN }, Sample { timestamp_ms: 3, value: f64::NEG_INFINITY }],
            histograms: Vec::new(),
            starts: None,
        };
        let mut text = String::new();
        write_line(&mut text, &series);
        assert_eq!(text, "{\"metric\":{\"__name__\":\"up\",\"job\":\"a\\\"b\"},\"values\":[1.5,NaN,-Inf],\"timestamps\":[1,2,3]}\n");
        let parsed = parse_lines(text.as_bytes()).unwrap();
        assert_eq!(parsed[0].labels, series.labels);
        assert_eq!(parsed[0].samples[0], series.samples[0]);
        assert!(parsed[0].samples[1].value.is_nan());
    }

    #[test]
    fn staleness_markers_round_trip_as_null_and_victoriametrics_spellings_are_read() {
        let stale = f64::from_bits(tsdb::STALE_NAN_BITS);
        let series = SeriesSamples {
            labels: Labels::from_pairs([("__name__", "up")]),
            samples: vec![Sample { timestamp_ms: 1, value: 1.0 }, Sample { timestamp_ms: 2, value: stale }, Sample { timestamp_ms: 3, value: f64::NAN }],
            histograms: Vec::new(),
            starts: None,
        };
        let mut text = String::new();
        write_line(&mut text, &series);
        assert!(text.contains("\"values\":[1,null,NaN]"), "{text}");
        let parsed = parse_lines(text.as_bytes()).unwrap();
        let bits: Vec<u64> = parsed[0].samples.iter().map(|s| s.value.to_bits()).collect();
        assert_eq!(bits[1], tsdb::STALE_NAN_BITS, "null is a staleness marker");
        assert!(parsed[0].samples[2].value.is_nan() && bits[2] != tsdb::STALE_NAN_BITS, "NaN stays a plain NaN");
        // VictoriaMetrics' export as written by 1.79 (null after the first value) and the
        // spellings its import accepts.
        let line = b"{\"metric\":{\"__name__\":\"x\"},\"values\":[1,null,\"Null\",\"nan\",inf,\"-Infinity\",\"+inf\"],\"timestamps\":[1,2,3,4,5,6,7]}\n";
        let values: Vec<f64> = parse_lines(line).unwrap()[0].samples.iter().map(|s| s.value).collect();
        assert_eq!((values[1].to_bits(), values[2].to_bits()), (tsdb::STALE_NAN_BITS, tsdb::STALE_NAN_BITS));
        assert!(values[3].is_nan());
        assert_eq!(&values[4..], &[f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY]);
        assert!(parse_lines(b"{\"metric\":{\"__name__\":\"x\"},\"values\":[-null],\"timestamps\":[1]}\n").is_err());
    }

    fn one(line: &str) -> Result<SeriesSamples, String> {
        match parse_line(line, 7, &LabelLimits::default()) {
            Ok(Some(series)) => Ok(series),
            Ok(None) => Err("blank".to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn any_json_layout_of_a_line_reads_alike() {
        let want = one("{\"metric\":{\"__name__\":\"m\",\"job\":\"a\"},\"values\":[1.5,NaN],\"timestamps\":[10,20]}").unwrap();
        for line in [
            // Python's json.dumps with its default separators, keys in another order.
            "{\"timestamps\": [10, 20], \"values\": [1.5, NaN], \"metric\": {\"job\": \"a\", \"__name__\": \"m\"}}",
            " {\r\n\"metric\" : { \"__name__\" : \"m\" , \"job\":\"a\" } ,\t\"values\" : [ \"1.5\" , \"NaN\" ] , \"timestamps\" : [ 10 , 20 ] } ",
            // Other keys are skipped, whatever they hold.
            "{\"extra\":{\"values\":[9,9,9],\"x\":[true,null,\"]\"]},\"metric\":{\"__name__\":\"m\",\"job\":\"a\"},\"n\":-1e3,\"values\":[1.5,NaN],\"timestamps\":[10,20],\"z\":\"}\"}",
            // A key given twice: the last counts.
            "{\"values\":[7],\"metric\":{\"__name__\":\"x\",\"job\":\"b\",\"job\":\"a\",\"__name__\":\"m\"},\"values\":[1.5,NaN],\"timestamps\":[10,20]}",
        ] {
            let got = one(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(got.labels, want.labels, "{line}");
            assert_eq!(got.samples[0], want.samples[0], "{line}");
            assert!(got.samples[1].value.is_nan() && got.samples[1].timestamp_ms == 20, "{line}");
        }
        // Label text that looks like keys, escapes and non-ASCII text.
        let tricky = one(r#"{"metric":{"__name__":"m","values":"[5]","timestamps":"6","q":"\"values\":[1],\"timestamps\":[2]","u":"caf\u00e9 ü \\ \/ \n"},"values":[3],"timestamps":[4]}"#).unwrap();
        assert_eq!(tricky.labels.get("q"), Some("\"values\":[1],\"timestamps\":[2]"));
        assert_eq!(tricky.labels.get("u"), Some("café ü \\ / \n"));
        assert_eq!((tricky.labels.get("values"), tricky.labels.get("timestamps")), (Some("[5]"), Some("6")), "labels named like the keys");
        assert_eq!((tricky.samples[0].timestamp_ms, tricky.samples[0].value), (4, 3.0));
        assert_eq!(one("   \t").unwrap_err(), "blank");
    }

    #[test]
    fn malformed_lines_are_refused_with_their_problem() {
        for (line, problem) in [
            ("{\"metric\":{\"__name__\":\"m\"},\"values\":[1],\"timestamps\":[1]} x", "text after the object"),
            ("{\"metric\":{\"__name__\":\"m\"},\"values\":[1],\"timestamps\":[1]", "expected ',' or '}'"),
            ("{\"metric\":{\"__name__\":\"m\",\"n\":5},\"values\":[1],\"timestamps\":[1]}", "label n is not a string"),
            ("{\"metric\":{\"__name__\":\"m\",\"\":\"v\"},\"values\":[1],\"timestamps\":[1]}", "empty label name"),
            ("{\"metric\":[],\"values\":[1],\"timestamps\":[1]}", "missing \"metric\" object"),
            ("{\"metric\":{\"__name__\":\"m\"},\"values\":null,\"timestamps\":[1]}", "\"values\" is not an array"),
            ("{\"metric\":{\"__name__\":\"m\"},\"timestamps\":[1]}", "missing \"values\""),
            ("{\"metric\":{\"__name__\":\"m\"},\"values\":[1]}", "missing \"timestamps\" array"),
            ("{\"metric\":{\"__name__\":\"m\"},\"values\":[1],\"timestamps\":[1.5]}", "timestamp 1.5 is not an integer"),
            ("{\"metric\":{\"__name__\":\"m\"},\"values\":[1,],\"timestamps\":[1,2]}", "invalid value \"\""),
            ("{\"metric\":{\"__name__\":\"m\"},\"values\":[one],\"timestamps\":[1]}", "invalid value \"one\""),
            ("{\"metric\":{\"__name__\":\"m\x01\"},\"values\":[1],\"timestamps\":[1]}", "control character"),
            ("{\"metric\":{\"__name__\":\"m", "unterminated string"),
            ("{\"metric\":{\"__name__\":\"m\\", "unterminated string"),
            ("{\"metric\":{\"__name__\":\"m\"},\"x\":[1,NaN],\"values\":[1],\"timestamps\":[1]}", "invalid JSON"),
            ("[1]", "expected '{'"),
        ] {
            let error = one(line).expect_err(line);
            assert!(error.contains("line 7") && error.contains(problem), "{line}: {error}");
        }
    }

    /// Integer values take a shortcut past float parsing: every one converts to the bits its
    /// text parses to, signed zero, the i64 bounds, past them and past 2^53 included.
    #[test]
    fn integer_values_read_as_their_text_parses() {
        let tokens = ["0", "-0", "7", "-7", "9007199254740993", "-9007199254740993", "9223372036854775807", "-9223372036854775808", "9223372036854775808", "-9223372036854775809", "123456789012345678901234567890", "00012", "1.0", "-0.0", "1e3"];
        let line = format!("{{\"metric\":{{\"__name__\":\"m\"}},\"values\":[{}],\"timestamps\":[{}]}}", tokens.join(","), (0..tokens.len()).map(|t| t.to_string()).collect::<Vec<_>>().join(","));
        let got: Vec<u64> = one(&line).unwrap().samples.iter().map(|s| s.value.to_bits()).collect();
        let want: Vec<u64> = tokens.iter().map(|t| t.parse::<f64>().expect("a number").to_bits()).collect();
        assert_eq!(got, want);
        let timestamps = one("{\"metric\":{\"__name__\":\"m\"},\"values\":[1,2,3],\"timestamps\":[-9223372036854775808, 9223372036854775807 ,0]}").unwrap();
        assert_eq!(timestamps.samples.iter().map(|s| s.timestamp_ms).collect::<Vec<_>>(), vec![i64::MIN, 0, i64::MAX]);
        let error = one("{\"metric\":{\"__name__\":\"m\"},\"values\":[1],\"timestamps\":[9223372036854775808]}").unwrap_err();
        assert!(error.contains("timestamp 9223372036854775808 is not an integer"), "{error}");
    }

    proptest::proptest! {
        /// Lines serde_json writes (any labels, finite values, keys in any order, compact or
        /// pretty) read as serde_json reads them.
        #[test]
        fn lines_read_as_serde_json_reads_them(
            labels in proptest::collection::btree_map("[a-z_]{1,6}", "\\PC{0,12}", 0..5),
            samples in proptest::collection::vec((proptest::prelude::any::<i64>(), proptest::num::f64::NORMAL | proptest::num::f64::ZERO), 0..20),
            order in 0usize..6,
            pretty in proptest::bool::ANY,
        ) {
            let mut metric = serde_json::Map::new();
            metric.insert("__name__".to_string(), serde_json::Value::from("m"));
            for (name, value) in &labels {
                metric.insert(name.clone(), serde_json::Value::from(value.clone()));
            }
            let entries = [
                ("metric", serde_json::Value::Object(metric.clone())),
                ("values", serde_json::Value::from(samples.iter().map(|(_, v)| *v).collect::<Vec<f64>>())),
                ("timestamps", serde_json::Value::from(samples.iter().map(|(t, _)| *t).collect::<Vec<i64>>())),
            ];
            let mut object = serde_json::Map::new();
            for k in 0..3 {
                let (key, value) = &entries[(order + k * if order % 2 == 0 { 1 } else { 2 }) % 3];
                object.insert(key.to_string(), value.clone());
            }
            let value = serde_json::Value::Object(object);
            let text = if pretty { serde_json::to_string_pretty(&value) } else { serde_json::to_string(&value) }.expect("serialises");
            let text = text.replace('\n', " ");
            let got = one(&text).map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{text}: {e}")))?;
            let want_labels = Labels::from_pairs(metric.iter().map(|(n, v)| (n.clone(), v.as_str().unwrap_or_default().to_string())));
            proptest::prop_assert_eq!(&got.labels, &want_labels);
            let mut want: Vec<(i64, u64)> = samples.iter().map(|(t, v)| (*t, v.to_bits())).collect();
            want.sort_by_key(|(t, _)| *t);
            let got: Vec<(i64, u64)> = got.samples.iter().map(|s| (s.timestamp_ms, s.value.to_bits())).collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse_lines(b"{\"metric\":{\"__name__\":\"x\"},\"values\":[1,2],\"timestamps\":[1]}\n").unwrap_err();
        assert!(err.to_string().contains("line 1") && err.to_string().contains("2 values but 1 timestamps"), "{err}");
        let err = parse_lines(b"\n{\"metric\":{\"job\":\"x\"},\"values\":[1],\"timestamps\":[1]}").unwrap_err();
        assert!(err.to_string().contains("line 2") && err.to_string().contains("metric name"), "{err}");
        let long = format!("{{\"metric\":{{\"__name__\":\"x\",\"v\":\"{}\"}},\"values\":[1],\"timestamps\":[1]}}", "a".repeat(16 * 1024 + 1));
        let err = parse_lines(long.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("line 1") && err.to_string().contains("16385 bytes"), "{err}");
    }
}
