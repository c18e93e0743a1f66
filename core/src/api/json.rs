//! Prometheus' JSON conventions: the `{status, data, errorType, error, warnings}` envelope,
//! timestamps as seconds with millisecond precision, values as strings formatted like Go's
//! `strconv.FormatFloat` ('f', or 'e' below 1e-6 and from 1e21; NaN, +Inf, -Inf).

use std::fmt::Write;

use tsdb::Labels;

/// Appends `value` as a JSON string literal (escaped).
pub fn push_json_string(out: &mut String, value: &str) {
    // serde_json escapes exactly as JSON requires; writing into a String cannot fail.
    out.push_str(&serde_json::to_string(value).unwrap_or_else(|_| "\"\"".to_string()));
}

/// Appends a millisecond timestamp as seconds (`1700000000.123`, trailing zeros trimmed).
pub fn push_timestamp(out: &mut String, timestamp_ms: i64) {
    let (sign, abs) = if timestamp_ms < 0 { ("-", timestamp_ms.unsigned_abs()) } else { ("", timestamp_ms as u64) };
    let _ = write!(out, "{sign}{}", abs / 1000);
    let mut fraction = abs % 1000;
    if fraction != 0 {
        let mut width = 3;
        while fraction % 10 == 0 {
            fraction /= 10;
            width -= 1;
        }
        let _ = write!(out, ".{fraction:0width$}");
    }
}

/// Appends `[ts, "value"]`, the value formatted as Prometheus' API does (Go's `FormatFloat` rules).
pub fn push_point(out: &mut String, timestamp_ms: i64, value: f64) {
    out.push('[');
    push_timestamp(out, timestamp_ms);
    out.push_str(",\"");
    promql::format::push_go_float(out, value);
    out.push_str("\"]");
}

/// Appends `[ts, {"count": "..", "sum": "..", "buckets": [[rule, "lower", "upper", "count"], ..]}]`,
/// a native histogram as Prometheus' API renders it (buckets without observations left
/// out, and `buckets` itself when none is left).
pub fn push_histogram_point(out: &mut String, timestamp_ms: i64, histogram: &tsdb::FloatHistogram) {
    out.push('[');
    push_timestamp(out, timestamp_ms);
    out.push_str(",{\"count\":\"");
    promql::format::push_go_float(out, histogram.count);
    out.push_str("\",\"sum\":\"");
    promql::format::push_go_float(out, histogram.sum);
    out.push('"');
    let mut first = true;
    for (rule, lower, upper, count) in promql::engine::histogram_buckets_for_api(histogram) {
        out.push_str(if first { ",\"buckets\":[" } else { "," });
        first = false;
        let _ = write!(out, "[{rule},\"");
        promql::format::push_go_float(out, lower);
        out.push_str("\",\"");
        promql::format::push_go_float(out, upper);
        out.push_str("\",\"");
        promql::format::push_go_float(out, count);
        out.push_str("\"]");
    }
    if !first {
        out.push(']');
    }
    out.push_str("}]");
}

/// Appends a label set as a JSON object.
pub fn push_labels(out: &mut String, labels: &Labels) {
    push_label_pairs(out, labels.iter().map(|l| (l.name, l.value)));
}

/// Appends `{"name":"value",...}` of (name, value) pairs, in their order.
pub fn push_label_pairs<'a>(out: &mut String, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) {
    out.push('{');
    for (i, (name, value)) in pairs.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(out, name);
        out.push(':');
        push_json_string(out, value);
    }
    out.push('}');
}

/// Appends a JSON array of strings.
pub fn push_string_array<'a>(out: &mut String, items: impl IntoIterator<Item = &'a str>) {
    out.push('[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(out, item);
    }
    out.push(']');
}

/// `{"status":"success","data":<data>[,"warnings":[..]][,"infos":[..]]}`.
pub fn success(data_json: &str, warnings: &[String], infos: &[String]) -> String {
    let mut out = String::with_capacity(data_json.len() + 48);
    out.push_str("{\"status\":\"success\",\"data\":");
    out.push_str(data_json);
    if !warnings.is_empty() {
        out.push_str(",\"warnings\":");
        push_string_array(&mut out, warnings.iter().map(String::as_str));
    }
    if !infos.is_empty() {
        out.push_str(",\"infos\":");
        push_string_array(&mut out, infos.iter().map(String::as_str));
    }
    out.push('}');
    out
}

/// `{"status":"error","errorType":..,"error":..}`.
pub fn error(error_type: &str, message: &str) -> String {
    let mut out = String::from("{\"status\":\"error\",\"errorType\":");
    push_json_string(&mut out, error_type);
    out.push_str(",\"error\":");
    push_json_string(&mut out, message);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_format_like_go() {
        let table: &[(f64, &str)] = &[
            (0.0, "0"),
            (1.0, "1"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (1e-6, "0.000001"),
            (1e-7, "1e-07"),
            (1.5e-10, "1.5e-10"),
            (123456789.0, "123456789"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (-1.25e300, "-1.25e+300"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (value, expected) in table {
            let mut point = String::new();
            push_point(&mut point, 1_000, *value);
            assert_eq!(point, format!("[1,\"{expected}\"]"), "{value}");
        }
    }

    #[test]
    fn timestamps_are_seconds() {
        let table: &[(i64, &str)] = &[
            (1_700_000_000_123, "1700000000.123"),
            (1_700_000_000_000, "1700000000"),
            (1_700_000_000_500, "1700000000.5"),
            (1_700_000_000_050, "1700000000.05"),
            (4_000, "4"),
            (-1_500, "-1.5"),
        ];
        for (ts, expected) in table {
            let mut s = String::new();
            push_timestamp(&mut s, *ts);
            assert_eq!(s, *expected);
        }
    }

    #[test]
    fn envelope_shapes() {
        assert_eq!(success("[]", &[], &[]), r#"{"status":"success","data":[]}"#);
        assert_eq!(error("bad_data", "x \"y\""), r#"{"status":"error","errorType":"bad_data","error":"x \"y\""}"#);
    }
}
