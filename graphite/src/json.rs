//! The render answer in graphite-web's JSON format:
//! `[{"target":..,"tags":{..},"datapoints":[[value|null,unix_seconds],..]},..]`.

use std::fmt::Write;

use crate::Series;

fn push_str(out: &mut String, s: &str) {
    match serde_json::to_string(s) {
        Ok(q) => out.push_str(&q),
        Err(_) => out.push_str("\"\""),
    }
}

/// Writes the series as graphite-web's render JSON; non-finite values become `null` and
/// timestamps whole seconds. With `jsonp`, the answer is wrapped as `jsonp(...)`; the
/// callback name keeps only letters, digits, `_`, `$` and `.` so that it cannot inject
/// script.
pub fn render_json(series: &[Series], jsonp: Option<&str>) -> String {
    let mut out = String::with_capacity(64 + series.iter().map(|s| 64 + s.values.len() * 24).sum::<usize>());
    let callback: Option<String> = jsonp.map(|c| c.chars().filter(|c| c.is_ascii_alphanumeric() || "_$.".contains(*c)).collect());
    if let Some(c) = &callback {
        out.push_str(c);
        out.push('(');
    }
    out.push('[');
    for (i, s) in series.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"target\":");
        push_str(&mut out, &s.name);
        out.push_str(",\"tags\":{");
        for (j, (k, v)) in s.tags.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            push_str(&mut out, k);
            out.push(':');
            push_str(&mut out, v);
        }
        out.push_str("},\"datapoints\":[");
        for (j, v) in s.values.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push('[');
            if v.is_finite() {
                let _ = write!(out, "{v}");
            } else {
                out.push_str("null");
            }
            let _ = write!(out, ",{}]", s.ts(j) / 1000);
        }
        out.push_str("]}");
    }
    out.push(']');
    if callback.is_some() {
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn series() -> Series {
        let mut tags = BTreeMap::new();
        tags.insert("host".to_string(), "a\"b".to_string());
        Series::new("cpu\\load\n", tags, "cpu", 1_700_000_000_000, 10_000, vec![1.5, f64::NAN, -2.0, f64::INFINITY, 1e21, 0.1])
    }

    #[test]
    fn exact_output() {
        let got = render_json(&[series()], None);
        assert_eq!(
            got,
            concat!(
                r#"[{"target":"cpu\\load\n","tags":{"host":"a\"b","name":"cpu\\load\n"},"datapoints":"#,
                r#"[[1.5,1700000000],[null,1700000010],[-2,1700000020],[null,1700000030],"#,
                r#"[1000000000000000000000,1700000040],[0.1,1700000050]]}]"#
            )
        );
        let parsed: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert_eq!(parsed[0]["datapoints"][1][0], serde_json::Value::Null);
    }

    #[test]
    fn several_series_empty_and_jsonp() {
        let a = Series::new("a", BTreeMap::new(), "a", 0, 1000, vec![]);
        let b = Series::new("b", BTreeMap::new(), "b", 2500, 1000, vec![7.0]);
        assert_eq!(
            render_json(&[a, b], Some("cb_1")),
            r#"cb_1([{"target":"a","tags":{"name":"a"},"datapoints":[]},{"target":"b","tags":{"name":"b"},"datapoints":[[7,2]]}])"#
        );
        assert_eq!(render_json(&[], None), "[]");
        assert_eq!(render_json(&[], Some("x</script>(")), "xscript([])");
    }
}
