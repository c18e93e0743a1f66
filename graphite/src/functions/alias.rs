//! Renaming: alias, aliasByNode/aliasByTags, aliasByMetric, aliasSub, legendValue and
//! upper/lower. Only the displayed name changes; pathExpression and tags stay.

use super::name_from_nodes;
use crate::aggr::Aggr;
use crate::args::Args;
use crate::pyfmt::{percent_format, repr};
use crate::series::path_of_name;
use crate::{Error, Series};

pub(super) async fn alias(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(2)?;
    let new_name = a.string(1, "newName")?;
    let mut series = a.series(0, "seriesList").await?;
    for s in &mut series {
        s.name = new_name.to_string();
    }
    Ok(series)
}

pub(super) async fn alias_by_node(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let nodes = a.nodes(1)?;
    let mut series = a.series(0, "seriesList").await?;
    for s in &mut series {
        s.name = name_from_nodes(s, &nodes);
    }
    Ok(series)
}

pub(super) async fn alias_by_metric(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(1)?;
    let mut series = a.series(0, "seriesList").await?;
    for s in &mut series {
        let path = path_of_name(&s.name);
        s.name = path.rsplit('.').next().unwrap_or(&path).to_string();
    }
    Ok(series)
}

/// Turns graphite's `\1` back-references into the regex crate's `${1}`.
pub(super) fn replacement(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            out.push_str("${");
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                out.push(d);
                chars.next();
            }
            out.push('}');
        } else if c == '$' {
            out.push_str("$$");
        } else {
            out.push(c);
        }
    }
    out
}

pub(super) async fn alias_sub(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(3)?;
    let re = a.regex(1, "search")?;
    let replace = replacement(a.string(2, "replace")?);
    let mut series = a.series(0, "seriesList").await?;
    for s in &mut series {
        s.name = re.replace_all(&s.name, replace.as_str()).into_owned();
    }
    Ok(series)
}

/// A legend value as graphite-web's aggregation functions give it: `None` for an unknown
/// aggregation, NaN for no value. `count` counts (0 for none) and `multiply` has no value
/// when any point is null, as in graphite-web.
fn legend_aggregate(name: &str, values: &[f64]) -> Option<f64> {
    const NAMES: &[&str] = &[
        "average", "avg", "avg_zero", "median", "sum", "total", "min", "max", "diff", "stddev", "count", "range",
        "rangeOf", "multiply", "last", "current",
    ];
    if !NAMES.contains(&name) {
        return None;
    }
    let aggr = Aggr::parse(name).ok()?;
    Some(match aggr {
        Aggr::Count => values.iter().filter(|v| !v.is_nan()).count() as f64,
        Aggr::Multiply if values.iter().any(|v| v.is_nan()) => f64::NAN,
        _ => aggr.apply(values),
    })
}

/// graphite's format_units: the value scaled to the largest unit it reaches (k, M, ... or
/// Ki, Mi, ...) with the unit's prefix.
fn scaled_to_unit(v: f64, binary: bool) -> (f64, &'static str) {
    let units: [(&str, f64); 5] = if binary {
        [("Pi", 1024f64.powi(5)), ("Ti", 1024f64.powi(4)), ("Gi", 1024f64.powi(3)), ("Mi", 1024f64.powi(2)), ("Ki", 1024.0)]
    } else {
        [("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)]
    };
    units.iter().find(|(_, size)| v.abs() >= *size).map_or((v, ""), |(p, size)| (v / size, *p))
}

/// Python's `"%.2f" % v`.
fn two_decimals(v: f64) -> String {
    percent_format("%.2f", v).unwrap_or_else(|_| repr(v))
}

/// The value with two decimals and its unit prefix (`1.50k`), as legendValue and
/// cactiStyle write it with a unit system.
fn with_units(v: f64, binary: bool) -> String {
    let (scaled, prefix) = scaled_to_unit(v, binary);
    format!("{}{prefix}", two_decimals(scaled))
}

/// cactiStyle(seriesList, system=None, units=None): names padded into columns with the
/// last, largest and smallest value (`name Current:5.00 Max:9.00 Min:1.00 `), written with
/// a unit system ('si' or 'binary') and a units suffix when given; `nan` for a series
/// without values. Column widths come from every series of the list, as graphite-web
/// measures them (a value of 0 or none measured as 3, whole part only).
pub(super) async fn cacti_style(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(3)?;
    let system = a.opt_string(1, "system")?.filter(|s| !s.is_empty());
    let binary = match system {
        None | Some("si") => false,
        Some("binary") => true,
        Some(other) => return Err(a.err(format!("system must be 'si' or 'binary'; got {other:?}"))),
    };
    let units = a.opt_string(2, "units")?.filter(|u| !u.is_empty());
    let format = |v: f64| -> String {
        match (system.is_some(), units) {
            (true, Some(u)) => {
                let (scaled, prefix) = scaled_to_unit(v, binary);
                format!("{} {prefix}{u}", two_decimals(scaled))
            }
            (true, None) => with_units(v, binary),
            (false, Some(u)) => format!("{} {u}", two_decimals(v)),
            (false, None) => two_decimals(v),
        }
    };
    let mut series = a.series(0, "seriesList").await?;
    let width_of = |aggr: Aggr| {
        series
            .iter()
            .map(|s| {
                let v = aggr.apply(&s.values);
                let measured = if v.is_nan() || v == 0.0 { 3.0 } else { v.trunc() };
                format(measured).chars().count()
            })
            .max()
            .unwrap_or(0)
            + 3
    };
    let (last_width, max_width, min_width) = (width_of(Aggr::Last), width_of(Aggr::Max), width_of(Aggr::Min));
    let name_width = series.iter().map(|s| s.name.chars().count()).max().unwrap_or(0);
    let text = |v: f64| if v.is_nan() { "nan".to_string() } else { format(v) };
    for s in &mut series {
        let (last, max, min) = (text(Aggr::Last.apply(&s.values)), text(Aggr::Max.apply(&s.values)), text(Aggr::Min.apply(&s.values)));
        s.name = format!("{:<name_width$} Current:{last:<last_width$} Max:{max:<max_width$} Min:{min:<min_width$} ", s.name);
    }
    Ok(series)
}

/// legendValue(seriesList, *valueTypes): appends ` (avg: 3.0)` per value type, or with a
/// last argument 'si' or 'binary', columns of name, type and the value with units.
pub(super) async fn legend_value(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let mut types: Vec<&str> = (1..a.positional_len()).map(|i| a.string(i, "valuesTypes")).collect::<Result<_, _>>()?;
    let system = match types.last() {
        None => return Err(a.err("at least one value type is required")),
        Some(&t) if t == "si" || t == "binary" => types.pop(),
        Some(_) => None,
    };
    let mut series = a.series(0, "seriesList").await?;
    for s in &mut series {
        for t in &types {
            let value = legend_aggregate(t, &s.values);
            s.name = match (system, value) {
                (None, None) => format!("{} ({t}: (?))", s.name),
                (None, Some(v)) if v.is_nan() => format!("{} ({t}: None)", s.name),
                (None, Some(v)) if *t == "count" => format!("{} ({t}: {})", s.name, v as u64),
                (None, Some(v)) => format!("{} ({t}: {})", s.name, repr(v)),
                (Some(system), value) => {
                    let text = match value {
                        None => "(?)".to_string(),
                        Some(v) if v.is_nan() => "None".to_string(),
                        Some(v) => with_units(v, system == "binary"),
                    };
                    format!("{:<20}{t:<5}{text:<10}", s.name)
                }
            };
        }
    }
    Ok(series)
}

/// upper/lower(seriesList, *pos): the whole name, or only the characters at the given
/// positions (negative from the end, out-of-range ignored), in upper or lower case.
pub(super) async fn change_case(a: &Args<'_>, upper: bool) -> Result<Vec<Series>, Error> {
    let positions: Vec<i64> = (1..a.positional_len()).map(|i| a.int(i, "pos")).collect::<Result<_, _>>()?;
    let convert = |c: &str| if upper { c.to_uppercase() } else { c.to_lowercase() };
    let mut series = a.series(0, "seriesList").await?;
    for s in &mut series {
        if positions.is_empty() {
            s.name = convert(&s.name);
            continue;
        }
        let mut chars: Vec<String> = s.name.chars().map(String::from).collect();
        let len = chars.len() as i64;
        for &p in &positions {
            let i = if p < 0 { len + p } else { p };
            if (0..len).contains(&i) {
                chars[i as usize] = convert(&chars[i as usize]);
            }
        }
        s.name = chars.concat();
    }
    Ok(series)
}

#[cfg(test)]
mod tests {
    use super::replacement;
    use crate::testutil::{check, eval, names};

    const V: [Option<f64>; 5] = [Some(1.0), Some(2.0), Some(3.0), Some(4.0), Some(5.0)];

    #[test]
    fn aliases() {
        check("alias(a.b.c,'x y')", &[("x y", &V)]);
        check("a.b.c|alias('piped')", &[("piped", &V)]);
        check("aliasByNode(a.b.c,0,2)", &[("a.c", &V)]);
        check("aliasByNode(a.b.c,-1)", &[("c", &V)]);
        check("aliasByNode(scale(a.b.c,1),1)", &[("b", &V)]);
        check("aliasByMetric(a.b.c)", &[("c", &V)]);
        check("aliasSub(a.b.c,'^a\\.(\\w)\\.','X-\\1-')", &[("X-b-c", &V)]);
        let s = eval("alias(a.b.c,'n')").unwrap();
        assert_eq!(s[0].path_expression, "a.b.c");
    }

    #[test]
    fn alias_by_tags() {
        let s = eval("aliasByTags(seriesByTag('name=cpu'),'host',0,'missing')").unwrap();
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["h1.cpu", "h2.cpu"]);
    }

    #[test]
    fn legend_values() {
        // a.b.c = 1..5: avg 3, last 5, total 15, count 5; a.b.d max 50, multiply has a null.
        assert_eq!(names("legendValue(a.b.c,'avg','last')"), ["a.b.c (avg: 3.0) (last: 5.0)"]);
        assert_eq!(names("legendValue(a.b.c,'total','count','bogus')"), ["a.b.c (total: 15.0) (count: 5) (bogus: (?))"]);
        assert_eq!(names("legendValue(a.b.d,'multiply','median')"), ["a.b.d (multiply: None) (median: 30.0)"]);
        assert_eq!(names("legendValue(removeAboveValue(a.b.c,0),'avg')"), ["removeAboveValue(a.b.c,0) (avg: None)"]);
        // Columns of 20, 5 and 10 characters, values with two decimals and units.
        assert_eq!(names("legendValue(a.b.d,'max','si')"), ["a.b.d               max  50.00     "]);
        assert_eq!(names("legendValue(scale(a.b.c,300),'max','min','si')"), ["scale(a.b.c,300)    max  1.50k     min  300.00    "]);
        assert_eq!(names("legendValue(scale(a.b.c,1024),'last','binary')"), ["scale(a.b.c,1024)   last 5.00Ki    "]);
        assert_eq!(names("legendValue(a.b.c,'x','si')"), ["a.b.c               x    (?)       "]);
        let s = eval("legendValue(a.b.c,'avg')").unwrap();
        assert_eq!(s[0].values, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(s[0].path_expression, "a.b.c");
        assert!(eval("legendValue(a.b.c)").is_err());
        assert!(eval("legendValue(a.b.c,1)").is_err());
    }

    #[test]
    fn cacti_style_columns() {
        // a.b.c = 1..5, a.b.d = 10..50 (last 50, max 50, min 10). Widths: names 5, values
        // "50.00" (5) + 3 = 8 for every column.
        assert_eq!(
            names("cactiStyle(a.b.{c,d})"),
            ["a.b.c Current:5.00     Max:5.00     Min:1.00     ", "a.b.d Current:50.00    Max:50.00    Min:10.00    "]
        );
        // With a unit system and units: 1500 is "1.50 kB"; the widths measure the whole
        // part of each value (1500 → "1.50 kB", 7 + 3).
        assert_eq!(
            names("cactiStyle(scale(a.b.c,300),'si','B')"),
            ["scale(a.b.c,300) Current:1.50 kB    Max:1.50 kB    Min:300.00 B    "]
        );
        assert_eq!(names("cactiStyle(scale(a.b.c,1024),'binary')"), ["scale(a.b.c,1024) Current:5.00Ki    Max:5.00Ki    Min:1.00Ki    "]);
        assert_eq!(names("cactiStyle(a.b.c,units='req')"), ["a.b.c Current:5.00 req    Max:5.00 req    Min:1.00 req    "]);
        // No values: nan, measured as 3.
        assert_eq!(names("cactiStyle(removeAboveValue(a.b.c,0))"), ["removeAboveValue(a.b.c,0) Current:nan     Max:nan     Min:nan     "]);
        assert!(names("cactiStyle(nothing.here)").is_empty());
        assert!(eval("cactiStyle(a.b.c,'sec')").is_err());
    }

    #[test]
    fn upper_and_lower() {
        assert_eq!(names("upper(aliasByTags(seriesByTag('name=cpu','host=h1'),'host'))"), ["H1"]);
        assert_eq!(names("upper(a.b.c,0,-1,99,-99)"), ["A.b.C"]);
        assert_eq!(names("lower(alias(a.b.c,'ÀB.CD'))"), ["àb.cd"]);
        assert_eq!(names("lower(alias(a.b.c,'ÀB.CD'),1)"), ["Àb.CD"]);
        assert!(eval("upper(a.b.c,'x')").is_err());
        assert!(eval("lower(a.b.c,0.5)").is_err());
    }

    #[test]
    fn back_references() {
        assert_eq!(replacement(r"a\1b\12$"), "a${1}b${12}$$");
    }
}
