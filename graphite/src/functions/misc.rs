//! Sources and render attributes: seriesByTag, constantLine, identity, time, sin,
//! randomWalk, verticalLine,
//! and the graphical functions (color, alpha, dashed, lineWidth, secondYAxis,
//! drawAsInfinite, stacked, areaBetween) that leave values alone in a JSON answer.

use std::collections::BTreeMap;

use crate::args::Args;
use crate::eval::{fetch_series, FetchSpec};
use crate::parse::{fmt_num, Expr};
use crate::time::parse_time;
use crate::{tag_expr, Error, Series};

pub(super) async fn series_by_tag(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    if a.positional_len() == 0 {
        return Err(a.err("at least one tag expression is required"));
    }
    let mut exprs = Vec::with_capacity(a.positional_len());
    for i in 0..a.positional_len() {
        exprs.push(tag_expr::parse(a.string(i, "tagExpressions")?)?);
    }
    let text = Expr::Call(a.call.clone()).to_string();
    fetch_series(a.fetcher, &a.ec, FetchSpec::Tags(exprs), &text).await
}

pub(super) fn constant_line(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(1)?;
    let value = a.number(0, "value")?;
    let name = fmt_num(value);
    let step = ((a.ec.until_ms - a.ec.from_ms) / 2).max(1);
    let path = Expr::Call(a.call.clone()).to_string();
    Ok(vec![Series::new(name, BTreeMap::new(), path, a.ec.from_ms, step, vec![value; 3])])
}

pub(super) fn identity(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(1)?;
    let name = a.string(0, "name")?;
    let step = a.ec.storage_step_ms;
    a.ec.check_points(step)?;
    let values = (0..a.ec.len(step)).map(|i| ((a.ec.from_ms + i as i64 * step) / 1000) as f64).collect();
    Ok(vec![Series::new(name, BTreeMap::new(), name, a.ec.from_ms, step, values)])
}

/// time(name, step=60): a series whose value is its own timestamp in seconds, every
/// `step` seconds from `from` while before `until`.
pub(super) fn time_function(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(2)?;
    generated(a, 1, |seconds| seconds)
}

/// sin(name, amplitude=1, step=60): the sine of each point's timestamp in seconds, times
/// `amplitude`.
pub(super) fn sin_function(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(3)?;
    let amplitude = a.opt_number(1, "amplitude")?.unwrap_or(1.0);
    generated(a, 2, |seconds| seconds.sin() * amplitude)
}

/// randomWalk(name, step=60): 0, then each point the one before plus a uniform draw from
/// [-0.5, 0.5), for trying dashboards without data. Not reproducible between requests, as
/// in graphite-web.
pub(super) fn random_walk(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(2)?;
    let mut draws = SplitMix64::seeded_from_clock();
    let mut current = 0.0;
    generated(a, 1, |_| {
        let value = current;
        current += draws.next_unit() - 0.5;
        value
    })
}

/// A series named by the first argument with a point every `step` seconds (the argument at
/// `step_index`, 60 by default) from `from` while before `until`, each point's value
/// `value(its timestamp in seconds)`, computed in order.
fn generated(a: &Args<'_>, step_index: usize, mut value: impl FnMut(f64) -> f64) -> Result<Vec<Series>, Error> {
    let name = a.string(0, "name")?;
    let step_s = a.opt_number(step_index, "step")?.unwrap_or(60.0);
    if !(1.0..=1e9).contains(&step_s) || step_s.fract() != 0.0 {
        return Err(a.err(format!("step must be a positive whole number of seconds; got {step_s}")));
    }
    let step_ms = step_s as i64 * 1000;
    a.ec.check_points(step_ms)?;
    let span_ms = a.ec.until_ms.saturating_sub(a.ec.from_ms).max(0);
    let len = span_ms / step_ms + i64::from(span_ms % step_ms != 0);
    let values = (0..len).map(|i| value((a.ec.from_ms + i * step_ms).div_euclid(1000) as f64)).collect();
    Ok(vec![Series::new(name, BTreeMap::new(), name, a.ec.from_ms, step_ms, values)])
}

/// The SplitMix64 generator (Steele, Lea and Flood): enough for randomWalk's test data.
struct SplitMix64(u64);

impl SplitMix64 {
    fn seeded_from_clock() -> SplitMix64 {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        SplitMix64(nanos)
    }

    /// A draw from [0, 1).
    fn next_unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// verticalLine(ts, label=None, color=None): two points of 1 at the given time, which
/// must lie within the range; the label names the series.
pub(super) fn vertical_line(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(3)?;
    let ts_ms = match a.get(0, "ts") {
        Some(Expr::Str(text)) => parse_time(text, a.ec.now_ms)?,
        Some(Expr::Number(n)) if n.is_finite() && n.abs() < 1e14 => (n * 1000.0) as i64,
        Some(_) => return Err(a.type_err(0, "ts", "date")),
        None => return Err(Error::MissingArg { function: a.name().to_string(), position: "1st (ts)".into() }),
    };
    let label = a.opt_string(1, "label")?.unwrap_or("");
    a.opt_string(2, "color")?;
    let (ts, start, end) = (ts_ms.div_euclid(1000), a.ec.from_ms.div_euclid(1000), a.ec.until_ms.div_euclid(1000));
    if ts < start {
        return Err(a.err(format!("timestamp {ts} exists before start of range")));
    }
    if ts > end {
        return Err(a.err(format!("timestamp {ts} exists after end of range")));
    }
    Ok(vec![Series::new(label, BTreeMap::new(), label, ts * 1000, 1000, vec![1.0, 1.0])])
}

/// areaBetween(seriesList): exactly two series, both named after the second's
/// pathExpression and sharing its tags (drawn as a band by graphite-web's renderer).
pub(super) async fn area_between(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(1)?;
    let mut series = a.series(0, "seriesList").await?;
    if series.len() != 2 {
        return Err(a.err(format!("the series list must hold exactly 2 series; got {}", series.len())));
    }
    let name = format!("areaBetween({})", series[1].path_expression);
    let mut tags = series[1].tags.clone();
    tags.insert("areaBetween".into(), "1".into());
    for s in &mut series {
        s.tags = tags.clone();
        s.name = name.clone();
    }
    Ok(series)
}

/// Purely graphical functions: the series pass through unchanged.
pub(super) async fn cosmetic(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(2)?;
    a.series(0, "seriesList").await
}

/// secondYAxis and drawAsInfinite: values unchanged, the name and a tag record the flag.
pub(super) async fn flagged(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(1)?;
    let mut series = a.series(0, "seriesList").await?;
    for s in &mut series {
        s.name = format!("{}({})", a.name(), s.name);
        s.tags.insert(a.name().to_string(), "1".into());
    }
    Ok(series)
}

/// Running total across the series list, point by point.
pub(super) async fn stacked(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(2)?;
    let stack = a.opt_string(1, "stackName")?;
    let mut series = a.series(0, "seriesList").await?;
    super::align(&mut series, &a.ec);
    let mut total: Vec<f64> = Vec::new();
    for s in &mut series {
        total.resize(total.len().max(s.values.len()), 0.0);
        for (v, t) in s.values.iter_mut().zip(total.iter_mut()) {
            if !v.is_nan() {
                *t += *v;
                *v = *t;
            }
        }
        if stack.is_none() {
            s.tags.insert("stacked".into(), "__DEFAULT__".into());
            s.rename(format!("stacked({})", s.name));
        }
    }
    Ok(series)
}

#[cfg(test)]
mod tests {
    use crate::testutil::{check, eval, FakeFetcher, block_on, config, FROM, N};
    use crate::{render, FetchSpec, TagExpr, TagOp};

    #[test]
    fn series_by_tag_fetches_with_filters() {
        let f = FakeFetcher::standard();
        let out = block_on(render(&["seriesByTag('name=cpu','dc!=us')".to_string()], &config(), &f)).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].name, "cpu;dc=eu;host=h1");
        assert_eq!(out[0].path_expression, "seriesByTag('name=cpu','dc!=us')");
        assert_eq!(out[0].tags.get("host").map(String::as_str), Some("h1"));
        assert_eq!(out[0].values, vec![1.0, 1.0, 2.0, 3.0, 5.0]);
        let req = f.requests();
        assert_eq!(
            req[0].spec,
            FetchSpec::Tags(vec![
                TagExpr { name: "name".into(), op: TagOp::Equal, value: "cpu".into() },
                TagExpr { name: "dc".into(), op: TagOp::NotEqual, value: "us".into() },
            ])
        );
        assert!(eval("seriesByTag()").is_err());
        assert!(eval("seriesByTag('nametag')").is_err());
        assert!(eval("seriesByTag(1)").is_err());
    }

    #[test]
    fn constant_and_identity() {
        let s = eval("constantLine(42.5)").unwrap();
        assert_eq!(s[0].name, "42.5");
        assert_eq!(s[0].values, vec![42.5; 3]);
        assert_eq!((s[0].start_ms, s[0].step_ms), (FROM, 25_000));
        let s = eval("identity('t')").unwrap();
        assert_eq!(s[0].values[1], (FROM / 1000 + 10) as f64);
    }

    #[test]
    fn time_and_vertical_line() {
        let s = eval("time('t',20)").unwrap();
        assert_eq!((s[0].name.as_str(), s[0].path_expression.as_str(), s[0].step_ms), ("t", "t", 20_000));
        let from_s = (FROM / 1000) as f64;
        assert_eq!(s[0].values, vec![from_s, from_s + 20.0, from_s + 40.0]);
        let s = eval("timeFunction('t')").unwrap();
        assert_eq!(s[0].values, vec![from_s]);
        assert_eq!(s[0].step_ms, 60_000);
        assert!(eval("time('t',0)").is_err());
        assert!(eval("time('t',1.5)").is_err());
        assert!(eval("time(a.b.c)").is_err());
        let s = eval("sinFunction('s',2,20)").unwrap();
        assert_eq!((s[0].name.as_str(), s[0].step_ms), ("s", 20_000));
        assert_eq!(s[0].values, vec![from_s.sin() * 2.0, (from_s + 20.0).sin() * 2.0, (from_s + 40.0).sin() * 2.0]);
        assert_eq!(eval("sin('s')").unwrap()[0].values, vec![from_s.sin()]);
        assert!(eval("sin('s',1,0)").is_err());
        let s = eval("randomWalk('w',10)").unwrap();
        assert_eq!((s[0].name.as_str(), s[0].values.len()), ("w", 5));
        assert_eq!(s[0].values[0], 0.0);
        assert!(s[0].values.windows(2).all(|w| (-0.5..0.5).contains(&(w[1] - w[0]))), "{:?}", s[0].values);
        assert!(s[0].values.windows(2).any(|w| w[1] != w[0]), "{:?}", s[0].values);
        assert_eq!(eval("randomWalkFunction('w')").unwrap()[0].values, vec![0.0]);
        assert!(eval("randomWalk('w',1,2)").is_err());

        let s = eval(&format!("verticalLine('{}','deploy','red')", FROM / 1000 + 20)).unwrap();
        assert_eq!(s[0].name, "deploy");
        assert_eq!((s[0].start_ms, s[0].step_ms), (FROM + 20_000, 1000));
        assert_eq!(s[0].values, vec![1.0, 1.0]);
        let s = eval(&format!("verticalLine({})", FROM / 1000 + 50)).unwrap();
        assert_eq!(s[0].name, "");
        let err = eval(&format!("verticalLine('{}')", FROM / 1000 - 1)).unwrap_err();
        assert!(err.to_string().contains("before start of range"), "{err}");
        let err = eval(&format!("verticalLine('{}')", FROM / 1000 + 51)).unwrap_err();
        assert!(err.to_string().contains("after end of range"), "{err}");
        assert!(eval("verticalLine()").is_err());
        assert!(eval("verticalLine('soon')").is_err());
    }

    #[test]
    fn area_between() {
        let s = eval("areaBetween(group(a.b.c,scale(a.x.c,2)))").unwrap();
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["areaBetween(scale(a.x.c,2))"; 2]);
        assert_eq!(s[0].values, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(s[1].values, vec![10.0, 8.0, 6.0, 4.0, 2.0]);
        for t in &s {
            assert_eq!(t.tags.get("areaBetween").map(String::as_str), Some("1"));
            assert_eq!(t.tags.get("name").map(String::as_str), Some("a.x.c"));
        }
        assert!(eval("areaBetween(a.b.c)").is_err());
        assert!(eval("areaBetween(a.*.*)").is_err());
    }

    #[test]
    fn graphical_functions() {
        let v = [Some(1.0), Some(2.0), Some(3.0), Some(4.0), Some(5.0)];
        check("color(a.b.c,'red')", &[("a.b.c", &v)]);
        check("lineWidth(alpha(dashed(a.b.c, 3), 0.5), 2)", &[("a.b.c", &v)]);
        check("secondYAxis(a.b.c)", &[("secondYAxis(a.b.c)", &v)]);
        check(
            "stacked(a.b.*)",
            &[("stacked(a.b.c)", &v), ("stacked(a.b.d)", &[Some(11.0), Some(22.0), N, Some(44.0), Some(55.0)])],
        );
    }
}
