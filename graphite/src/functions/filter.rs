//! Selecting, ordering and masking series: highest*/lowest*, limit, sortBy*, grep and
//! exclude, threshold filters (currentAbove ...), filterSeries, removeEmptySeries, unique,
//! value masks (removeAboveValue ...) and nPercentile.

use std::cmp::Ordering;

use crate::aggr::{percentile, Aggr};
use crate::args::Args;
use crate::parse::fmt_num;
use crate::{Error, Series};

fn parse_aggr(a: &Args<'_>, func: &str) -> Result<Aggr, Error> {
    Aggr::parse(func).map_err(|_| a.err(format!("unsupported aggregation function {func:?}")))
}

/// Orders by key, NaN keys last whatever the direction.
fn order(a: f64, b: f64, descending: bool) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ if descending => b.total_cmp(&a),
        _ => a.total_cmp(&b),
    }
}

fn sorted(series: Vec<Series>, aggr: Aggr, descending: bool) -> Vec<Series> {
    let mut keyed: Vec<(f64, Series)> = series.into_iter().map(|s| (aggr.apply(&s.values), s)).collect();
    keyed.sort_by(|x, y| order(x.0, y.0, descending));
    keyed.into_iter().map(|(_, s)| s).collect()
}

fn count(a: &Args<'_>, index: usize) -> Result<usize, Error> {
    let n = a.opt_number(index, "n")?.unwrap_or(1.0);
    if n < 0.0 || n.fract() != 0.0 {
        return Err(a.type_err(index, "n", "non-negative integer"));
    }
    Ok(n.min(usize::MAX as f64) as usize)
}

/// highestCurrent/Max/Average and lowestCurrent/Average: the `n` series with the
/// highest (lowest) `aggr`, best first.
pub(super) async fn top(a: &Args<'_>, aggr: Aggr, highest: bool, _default: usize) -> Result<Vec<Series>, Error> {
    a.max(2)?;
    let n = count(a, 1)?;
    let series = a.series(0, "seriesList").await?;
    Ok(sorted(series, aggr, highest).into_iter().take(n).collect())
}

/// highest/lowest(seriesList, n=1, func='average').
pub(super) async fn top_by(a: &Args<'_>, highest: bool) -> Result<Vec<Series>, Error> {
    a.max(3)?;
    let n = count(a, 1)?;
    let aggr = parse_aggr(a, a.opt_string(2, "func")?.unwrap_or("average"))?;
    let series = a.series(0, "seriesList").await?;
    Ok(sorted(series, aggr, highest).into_iter().take(n).collect())
}

pub(super) async fn limit(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(2)?;
    let n = count(a, 1)?;
    let mut series = a.series(0, "seriesList").await?;
    series.truncate(n);
    Ok(series)
}

/// Compares names with digit runs as numbers (`a2` < `a10`).
fn natural_cmp(x: &str, y: &str) -> Ordering {
    let (mut xs, mut ys) = (x.as_bytes(), y.as_bytes());
    loop {
        match (xs.first(), ys.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let xl = xs.iter().take_while(|b| b.is_ascii_digit()).count();
                let yl = ys.iter().take_while(|b| b.is_ascii_digit()).count();
                let xn = std::str::from_utf8(&xs[..xl]).unwrap_or("").trim_start_matches('0');
                let yn = std::str::from_utf8(&ys[..yl]).unwrap_or("").trim_start_matches('0');
                let o = xn.len().cmp(&yn.len()).then_with(|| xn.cmp(yn));
                if o != Ordering::Equal {
                    return o;
                }
                xs = &xs[xl..];
                ys = &ys[yl..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                xs = &xs[1..];
                ys = &ys[1..];
            }
        }
    }
}

pub(super) async fn sort_by_name(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(3)?;
    let natural = a.opt_bool(1, "natural", false)?;
    let reverse = a.opt_bool(2, "reverse", false)?;
    let mut series = a.series(0, "seriesList").await?;
    if natural {
        series.sort_by(|x, y| natural_cmp(&x.name, &y.name));
    } else {
        series.sort_by(|x, y| x.name.cmp(&y.name));
    }
    if reverse {
        series.reverse();
    }
    Ok(series)
}

/// sortByMaxima (descending), sortByMinima (ascending), sortByTotal (descending).
pub(super) async fn sort_by(a: &Args<'_>, aggr: Aggr, descending: bool) -> Result<Vec<Series>, Error> {
    a.max(1)?;
    let series = a.series(0, "seriesList").await?;
    Ok(sorted(series, aggr, descending))
}

/// sortBy(seriesList, func='average', reverse=False)
pub(super) async fn sort_by_func(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(3)?;
    let aggr = parse_aggr(a, a.opt_string(1, "func")?.unwrap_or("average"))?;
    let reverse = a.opt_bool(2, "reverse", false)?;
    let series = a.series(0, "seriesList").await?;
    Ok(sorted(series, aggr, reverse))
}

/// grep keeps the series whose name matches the regex, exclude drops them.
pub(super) async fn grep(a: &Args<'_>, keep: bool) -> Result<Vec<Series>, Error> {
    a.max(2)?;
    let re = a.regex(1, "pattern")?;
    let mut series = a.series(0, "seriesList").await?;
    series.retain(|s| re.is_match(&s.name) == keep);
    Ok(series)
}

/// removeAboveValue / removeBelowValue: points beyond `n` become null.
pub(super) async fn remove_values(a: &Args<'_>, above: bool) -> Result<Vec<Series>, Error> {
    a.max(2)?;
    let n = a.number(1, "n")?;
    let mut series = a.series(0, "seriesList").await?;
    for s in &mut series {
        mask(s, n, above);
        s.rename(format!("{}({},{})", a.name(), s.name, fmt_num(n)));
    }
    Ok(series)
}

fn mask(s: &mut Series, n: f64, above: bool) {
    for v in &mut s.values {
        if (above && *v > n) || (!above && *v < n) {
            *v = f64::NAN;
        }
    }
}

/// removeAbovePercentile / removeBelowPercentile: points beyond the series' n-th percentile
/// become null.
pub(super) async fn remove_percentile(a: &Args<'_>, above: bool) -> Result<Vec<Series>, Error> {
    a.max(2)?;
    let n = a.percentile(1, "n")?;
    let mut series = a.series(0, "seriesList").await?;
    for s in &mut series {
        let p = percentile(&s.values, n, false);
        mask(s, p, above);
        s.rename(format!("{}({},{})", a.name(), s.name, fmt_num(n)));
    }
    Ok(series)
}

fn compare(value: f64, op: &str, n: f64) -> bool {
    match op {
        "=" => value == n,
        "!=" => value != n,
        ">" => value > n,
        ">=" => value >= n,
        "<" => value < n,
        _ => value <= n,
    }
}

/// currentAbove/averageAbove/... keep series whose `aggr` is above `n`; the *Below
/// variants keep those at or below it (graphite-web's `<=`).
pub(super) async fn threshold(a: &Args<'_>, aggr: Aggr, above: bool) -> Result<Vec<Series>, Error> {
    a.max(2)?;
    let n = a.number(1, "n")?;
    let mut series = a.series(0, "seriesList").await?;
    series.retain(|s| {
        let v = aggr.apply(&s.values);
        !v.is_nan() && compare(v, if above { ">" } else { "<=" }, n)
    });
    Ok(series)
}

/// filterSeries(seriesList, func, operator, threshold)
pub(super) async fn filter_series(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(4)?;
    let aggr = parse_aggr(a, a.string(1, "func")?)?;
    let op = a.string(2, "operator")?;
    if !["=", "!=", ">", ">=", "<", "<="].contains(&op) {
        return Err(a.err(format!("unsupported operator {op:?}")));
    }
    let n = a.number(3, "threshold")?;
    let mut series = a.series(0, "seriesList").await?;
    series.retain(|s| {
        let v = aggr.apply(&s.values);
        !v.is_nan() && compare(v, op, n)
    });
    Ok(series)
}

/// Drops series whose share of non-null points is not above xFilesFactor (0: all null).
pub(super) async fn remove_empty(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(2)?;
    let xff = a.opt_number(1, "xFilesFactor")?.unwrap_or(a.ec.x_files_factor);
    let mut series = a.series(0, "seriesList").await?;
    series.retain(|s| {
        let present = s.values.iter().filter(|v| !v.is_nan()).count();
        let xff = if s.x_files_factor > 0.0 { s.x_files_factor } else { xff };
        present > 0 && present as f64 / s.values.len() as f64 >= xff
    });
    Ok(series)
}

/// The series of all arguments, keeping only the first of each name.
pub(super) async fn unique(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let series = a.all_series(0).await?;
    let mut seen = std::collections::HashSet::new();
    Ok(series.into_iter().filter(|s| seen.insert(s.name.clone())).collect())
}

/// Each series becomes a flat line at its n-th percentile.
pub(super) async fn n_percentile(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(2)?;
    let n = a.percentile(1, "n")?;
    let mut series = a.series(0, "seriesList").await?;
    for s in &mut series {
        let p = percentile(&s.values, n, false);
        s.values.iter_mut().for_each(|v| *v = p);
        s.tags.insert("nPercentile".into(), fmt_num(n));
        s.rename(format!("nPercentile({},{})", s.name, fmt_num(n)));
    }
    Ok(series)
}

#[cfg(test)]
mod tests {
    use super::natural_cmp;
    use crate::testutil::{eval, names};
    use std::cmp::Ordering;

    #[test]
    fn selection_and_order() {
        // last: a.b.c 5, a.b.d 50, a.x.c 1; max: 5, 50, 5; avg: 3, 30, 3; min: 1, 10, 1; sum: 15, 120, 15
        let table: &[(&str, &[&str])] = &[
            ("highestCurrent(a.*.*,2)", &["a.b.d", "a.b.c"]),
            ("highestCurrent(a.*.*)", &["a.b.d"]),
            ("lowestCurrent(a.*.*,2)", &["a.x.c", "a.b.c"]),
            ("highestMax(a.*.*,1)", &["a.b.d"]),
            ("highestAverage(a.*.*,3)", &["a.b.d", "a.b.c", "a.x.c"]),
            ("lowestAverage(a.*.*,1)", &["a.b.c"]),
            ("highest(a.*.*,1,'min')", &["a.b.d"]),
            ("lowest(a.*.*,2,'current')", &["a.x.c", "a.b.c"]),
            ("limit(a.*.*,2)", &["a.b.c", "a.b.d"]),
            ("limit(a.*.*,0)", &[]),
            ("sortByName(group(a.x.c,a.b.d,a.b.c))", &["a.b.c", "a.b.d", "a.x.c"]),
            ("sortByName(a.*.*,reverse=true)", &["a.x.c", "a.b.d", "a.b.c"]),
            ("sortByMaxima(group(a.b.c,a.b.d))", &["a.b.d", "a.b.c"]),
            ("sortByMinima(group(a.b.d,a.b.c))", &["a.b.c", "a.b.d"]),
            ("sortByTotal(group(a.b.c,a.b.d))", &["a.b.d", "a.b.c"]),
            ("sortBy(group(a.b.d,a.b.c),'max')", &["a.b.c", "a.b.d"]),
            ("sortBy(group(a.b.c,a.b.d),'max',true)", &["a.b.d", "a.b.c"]),
            ("grep(a.*.*,'x')", &["a.x.c"]),
            ("exclude(a.*.*,'^a\\.b')", &["a.x.c"]),
            ("currentAbove(a.*.*,4)", &["a.b.c", "a.b.d"]),
            ("currentBelow(a.*.*,5)", &["a.b.c", "a.x.c"]),
            ("averageAbove(a.*.*,3)", &["a.b.d"]),
            ("averageBelow(a.*.*,3)", &["a.b.c", "a.x.c"]),
            ("maximumAbove(a.*.*,5)", &["a.b.d"]),
            ("maximumBelow(a.*.*,49)", &["a.b.c", "a.x.c"]),
            ("minimumAbove(a.*.*,1)", &["a.b.d"]),
            ("minimumBelow(a.*.*,1)", &["a.b.c", "a.x.c"]),
            ("filterSeries(a.*.*,'sum','>=',120)", &["a.b.d"]),
            ("filterSeries(a.*.*,'max','!=',5)", &["a.b.d"]),
            ("unique(a.b.c,a.*.c,a.b.c)", &["a.b.c", "a.x.c"]),
            ("removeEmptySeries(group(a.b.c,transformNull(removeAboveValue(a.b.c,0),-1)))", &["a.b.c", "transformNull(removeAboveValue(a.b.c,0),-1)"]),
            ("removeEmptySeries(removeAboveValue(a.*.*,0))", &[]),
            ("removeEmptySeries(removeAboveValue(a.*.*,2),0.4)", &["removeAboveValue(a.b.c,2)", "removeAboveValue(a.x.c,2)"]),
            ("removeEmptySeries(removeAboveValue(a.*.*,2),0.5)", &[]),
        ];
        for (target, want) in table {
            assert_eq!(names(target), *want, "{target}");
        }
        assert!(eval("filterSeries(a.b.c,'sum','~',1)").is_err());
        assert!(eval("limit(a.b.c,-1)").is_err());
    }

    #[test]
    fn value_masks() {
        let s = eval("removeAboveValue(a.b.c,3)").unwrap();
        assert_eq!(s[0].name, "removeAboveValue(a.b.c,3)");
        assert_eq!(&s[0].values[..3], &[1.0, 2.0, 3.0]);
        assert!(s[0].values[3].is_nan() && s[0].values[4].is_nan());
        let s = eval("removeBelowValue(a.b.c,2)").unwrap();
        assert!(s[0].values[0].is_nan());
        assert_eq!(&s[0].values[1..], &[2.0, 3.0, 4.0, 5.0]);
        let s = eval("removeBelowPercentile(a.b.c,50)").unwrap();
        assert!(s[0].values[1].is_nan());
        assert_eq!(&s[0].values[2..], &[3.0, 4.0, 5.0]);
        let s = eval("nPercentile(a.b.d,50)").unwrap();
        assert_eq!(s[0].name, "nPercentile(a.b.d,50)");
        // non-null 10,20,40,50: rank 0.5*5 = 2.5 -> 3rd = 40
        assert_eq!(s[0].values, vec![40.0; 5]);
    }

    #[test]
    fn natural_order() {
        assert_eq!(natural_cmp("a2", "a10"), Ordering::Less);
        assert_eq!(natural_cmp("a10b", "a10a"), Ordering::Greater);
        assert_eq!(natural_cmp("x", "x"), Ordering::Equal);
        assert_eq!(natural_cmp("a02", "a2"), Ordering::Equal);
    }
}
