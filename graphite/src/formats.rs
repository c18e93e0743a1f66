//! The render answer in graphite-web's text formats: `format=csv` (one
//! `name,YYYY-MM-DD HH:MM:SS,value` row per point, UTC) and `format=raw` (one
//! `name,start,end,step|v1,v2,None,...` line per series). Numbers are written as Python's
//! `repr` writes floats (`1.0`, `0.5`, `1e+16`).

use crate::pyfmt::repr;
use crate::time::utc_datetime_text;
use crate::Series;

/// A csv field as Python's `csv` module writes it (excel dialect, minimal quoting): quoted
/// when it holds a comma, a quote or a line break, quotes doubled.
fn push_csv_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

/// graphite-web's csv answer: for every point of every series, `name,time,value` with the
/// time in UTC as `YYYY-MM-DD HH:MM:SS`, an empty value for null, and `\r\n` line ends.
pub fn render_csv(series: &[Series]) -> String {
    let mut out = String::with_capacity(series.iter().map(|s| s.values.len() * (s.name.len() + 32)).sum());
    for s in series {
        for (i, v) in s.values.iter().enumerate() {
            push_csv_field(&mut out, &s.name);
            out.push(',');
            let t_ms = s.start_ms.saturating_add((i as i64).saturating_mul(s.step_ms));
            out.push_str(&utc_datetime_text(t_ms.div_euclid(1000)));
            out.push(',');
            if !v.is_nan() {
                out.push_str(&repr(*v));
            }
            out.push_str("\r\n");
        }
    }
    out
}

/// graphite-web's raw answer: per series one line `name,start,end,step|values` with
/// whole seconds (end = start + points * step) and `None` for null values.
pub fn render_raw(series: &[Series]) -> String {
    let mut out = String::with_capacity(series.iter().map(|s| 64 + s.name.len() + s.values.len() * 20).sum());
    for s in series {
        let end_ms = s.start_ms.saturating_add((s.values.len() as i64).saturating_mul(s.step_ms));
        out.push_str(&format!("{},{},{},{}|", s.name, s.start_ms.div_euclid(1000), end_ms.div_euclid(1000), s.step_ms / 1000));
        for (i, v) in s.values.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            if v.is_nan() {
                out.push_str("None");
            } else {
                out.push_str(&repr(*v));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn series(name: &str, values: Vec<f64>) -> Series {
        // 1700000000 is 2023-11-14 22:13:20 UTC.
        Series::new(name, BTreeMap::new(), name, 1_700_000_000_000, 10_000, values)
    }

    #[test]
    fn csv_rows() {
        let got = render_csv(&[series("a.b", vec![1.0, f64::NAN, 0.5]), series("x,\"y\"", vec![-2.0, 1e16])]);
        assert_eq!(
            got,
            concat!(
                "a.b,2023-11-14 22:13:20,1.0\r\n",
                "a.b,2023-11-14 22:13:30,\r\n",
                "a.b,2023-11-14 22:13:40,0.5\r\n",
                "\"x,\"\"y\"\"\",2023-11-14 22:13:20,-2.0\r\n",
                "\"x,\"\"y\"\"\",2023-11-14 22:13:30,1e+16\r\n",
            )
        );
        assert_eq!(render_csv(&[]), "");
        assert_eq!(render_csv(&[series("empty", vec![])]), "");
    }

    #[test]
    fn raw_lines() {
        let got = render_raw(&[series("a.b", vec![1.0, f64::NAN, 0.1 + 0.2, 3.0]), series("c", vec![])]);
        assert_eq!(got, "a.b,1700000000,1700000040,10|1.0,None,0.30000000000000004,3.0\nc,1700000000,1700000000,10|\n");
        let inf = series("i", vec![f64::INFINITY, -1.5e-7]);
        assert_eq!(render_raw(&[inf]), "i,1700000000,1700000020,10|inf,-1.5e-07\n");
    }
}
