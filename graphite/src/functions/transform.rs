//! Per-series value transforms: scale, offset, derivatives, perSecond, integral, null
//! handling, math functions, delay and consolidation settings. Each renames the series
//! `f(name,args)` and records the function as a tag, as graphite-web does.

use super::align;
use crate::aggr::Aggr;
use crate::args::Args;
use crate::parse::{fmt_num, quote, Expr};
use crate::{Error, Series};

/// Dispatches the transforms; any other name is an unknown function.
pub(super) async fn call(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let name = a.name();
    let no_args = ["absolute", "invert", "squareRoot", "exp", "isNonNull", "derivative", "integral", "offsetToZero", "minMax", "changed", "sigmoid", "logit"];
    if no_args.contains(&name) {
        a.max(1)?;
    }
    match name {
        "scale" | "offset" | "add" | "pow" => {
            a.max(2)?;
            let n = a.number(1, if name == "add" { "constant" } else { "factor" })?;
            let f = move |v: f64| match name {
                "scale" => v * n,
                "pow" => v.powf(n),
                _ => v + n,
            };
            map_values(a, &fmt_num(n), f).await
        }
        "scaleToSeconds" => {
            a.max(2)?;
            let seconds = a.number(1, "seconds")?;
            let mut series = a.series(0, "seriesList").await?;
            for s in &mut series {
                let factor = seconds * 1000.0 / s.step_ms as f64;
                s.values.iter_mut().for_each(|v| *v *= factor);
            }
            Ok(finish(a, series, &fmt_num(seconds)))
        }
        "absolute" => map_values(a, "", f64::abs).await,
        "invert" => map_values(a, "", |v| if v == 0.0 { f64::NAN } else { 1.0 / v }).await,
        "squareRoot" => map_values(a, "", f64::sqrt).await,
        "exp" => map_values(a, "", f64::exp).await,
        "sigmoid" => map_values(a, "", |v| 1.0 / (1.0 + (-v).exp())).await,
        "logit" => map_values(a, "", |v| if v > 0.0 && v < 1.0 { (v / (1.0 - v)).ln() } else { f64::NAN }).await,
        "isNonNull" => map_values(a, "", |v| if v.is_nan() { 0.0 } else { 1.0 }).await,
        "logarithm" | "log" => {
            a.max(2)?;
            let base = a.opt_number(1, "base")?.unwrap_or(10.0);
            if base <= 0.0 || base == 1.0 {
                return Err(a.err(format!("invalid base {base}")));
            }
            map_values(a, &fmt_num(base), move |v| if v <= 0.0 { f64::NAN } else { v.ln() / base.ln() }).await
        }
        "round" => {
            a.max(2)?;
            let precision = a.opt_number(1, "precision")?.unwrap_or(0.0).clamp(-300.0, 300.0) as i32;
            let m = 10f64.powi(precision);
            let text = if precision == 0 { String::new() } else { precision.to_string() };
            map_values(a, &text, move |v| (v * m).round() / m).await
        }
        "derivative" => map_series(a, "", |v| delta(v, f64::NAN, f64::NAN, false)).await,
        "nonNegativeDerivative" | "perSecond" => {
            a.max(3)?;
            let max = a.opt_number(1, "maxValue")?.unwrap_or(f64::NAN);
            let min = a.opt_number(2, "minValue")?.unwrap_or(f64::NAN);
            let per_second = name == "perSecond";
            let mut series = a.series(0, "seriesList").await?;
            for s in &mut series {
                let secs = s.step_ms as f64 / 1000.0;
                let mut d = delta(&s.values, max, min, true);
                if per_second {
                    d.iter_mut().for_each(|v| *v /= secs);
                }
                s.values = d;
            }
            Ok(finish(a, series, ""))
        }
        "integral" => map_series(a, "", |values| {
            let mut total = 0.0;
            values.iter().map(|v| if v.is_nan() { f64::NAN } else { total += v; total }).collect()
        })
        .await,
        "offsetToZero" => map_series(a, "", |values| {
            let min = Aggr::Min.apply(values);
            values.iter().map(|v| v - min).collect()
        })
        .await,
        "minMax" => map_series(a, "", |values| {
            let (min, max) = (Aggr::Min.apply(values), Aggr::Max.apply(values));
            values.iter().map(|v| if max == min { 0.0 } else { (v - min) / (max - min) }).collect()
        })
        .await,
        "changed" => map_series(a, "", changed).await,
        "keepLastValue" => {
            a.max(2)?;
            let limit = a.opt_number(1, "limit")?.unwrap_or(f64::INFINITY);
            let text = if limit.is_finite() { fmt_num(limit) } else { String::new() };
            map_series(a, &text, move |values| keep_last(values, limit)).await
        }
        "transformNull" => transform_null(a).await,
        "delay" => {
            a.max(2)?;
            let steps = a.int(1, "steps")?;
            map_series(a, &steps.to_string(), move |values| {
                let n = values.len();
                let k = steps.unsigned_abs().min(n as u64) as usize;
                let mut out = vec![f64::NAN; n];
                if steps >= 0 {
                    out[k..].copy_from_slice(&values[..n - k]);
                } else {
                    out[..n - k].copy_from_slice(&values[k..]);
                }
                out
            })
            .await
        }
        "consolidateBy" | "cumulative" => {
            a.max(if name == "cumulative" { 1 } else { 2 })?;
            let func = if name == "cumulative" { "sum" } else { a.string(1, "consolidationFunc")? };
            let aggr = Aggr::parse(func).map_err(|_| a.err(format!("unsupported consolidation function {func:?}")))?;
            let mut series = a.series(0, "seriesList").await?;
            for s in &mut series {
                s.consolidation = Some(aggr);
                s.tags.insert("consolidateBy".into(), func.into());
                s.rename(format!("consolidateBy({},{})", s.name, quote(func)));
            }
            Ok(series)
        }
        "setXFilesFactor" | "xFilesFactor" => {
            a.max(2)?;
            let xff = a.number(1, "xFilesFactor")?;
            if !(0.0..=1.0).contains(&xff) {
                return Err(a.err(format!("xFilesFactor must be between 0 and 1; got {xff}")));
            }
            let mut series = a.series(0, "seriesList").await?;
            for s in &mut series {
                s.x_files_factor = xff;
                s.tags.insert("xFilesFactor".into(), fmt_num(xff));
            }
            Ok(series)
        }
        _ => Err(Error::UnknownFunction(name.to_string())),
    }
}

/// Renames every series `f(name,args)` (`f(name)` without args) and tags it `f=args`.
fn finish(a: &Args<'_>, mut series: Vec<Series>, args: &str) -> Vec<Series> {
    let f = if a.name() == "logarithm" { "log" } else { a.name() };
    for s in &mut series {
        let name = if args.is_empty() { format!("{f}({})", s.name) } else { format!("{f}({},{args})", s.name) };
        s.tags.insert(f.to_string(), if args.is_empty() { "1".to_string() } else { args.to_string() });
        s.rename(name);
    }
    series
}

async fn map_values(a: &Args<'_>, args: &str, f: impl Fn(f64) -> f64) -> Result<Vec<Series>, Error> {
    map_series(a, args, |values| values.iter().map(|v| f(*v)).collect()).await
}

/// Applies `f` to each series' values; callers with extra args check their count first.
async fn map_series(a: &Args<'_>, args: &str, f: impl Fn(&[f64]) -> Vec<f64>) -> Result<Vec<Series>, Error> {
    let mut series = a.series(0, "seriesList").await?;
    for s in &mut series {
        s.values = f(&s.values);
    }
    Ok(finish(a, series, args))
}

/// Differences between consecutive points. Non-negative mode handles counter resets as
/// graphite does: with maxValue a wrap-around, with minValue a restart from it, else null.
fn delta(values: &[f64], max: f64, min: f64, non_negative: bool) -> Vec<f64> {
    let mut prev = f64::NAN;
    values
        .iter()
        .map(|&v| {
            if (!max.is_nan() && v > max) || (!min.is_nan() && v < min) {
                prev = f64::NAN;
                return f64::NAN;
            }
            let d = v - prev;
            let p = prev;
            prev = v;
            if d.is_nan() || !non_negative || d >= 0.0 {
                return d;
            }
            if !max.is_nan() {
                max + 1.0 + v - p - if min.is_nan() { 0.0 } else { min }
            } else if !min.is_nan() {
                v - min
            } else {
                f64::NAN
            }
        })
        .collect()
}

fn changed(values: &[f64]) -> Vec<f64> {
    let mut prev = f64::NAN;
    values
        .iter()
        .map(|&v| {
            if prev.is_nan() {
                prev = v;
                0.0
            } else if !v.is_nan() && v != prev {
                prev = v;
                1.0
            } else {
                0.0
            }
        })
        .collect()
}

fn keep_last(values: &[f64], limit: f64) -> Vec<f64> {
    let mut out = values.to_vec();
    let mut i = 0;
    while i < out.len() {
        if !out[i].is_nan() {
            i += 1;
            continue;
        }
        let gap_end = out[i..].iter().position(|v| !v.is_nan()).map_or(out.len(), |p| i + p);
        if i > 0 && (gap_end - i) as f64 <= limit {
            let last = out[i - 1];
            out[i..gap_end].iter_mut().for_each(|v| *v = last);
        }
        i = gap_end;
    }
    out
}

async fn transform_null(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(3)?;
    let default = a.opt_number(1, "default")?.unwrap_or(0.0);
    let text = fmt_num(default);
    let reference = match a.get(2, "referenceSeries") {
        None | Some(Expr::None) => None,
        Some(_) => Some(a.series(2, "referenceSeries").await?),
    };
    let mut series = a.series(0, "seriesList").await?;
    let Some(refs) = reference else {
        for s in &mut series {
            s.values.iter_mut().filter(|v| v.is_nan()).for_each(|v| *v = default);
        }
        return Ok(finish(a, series, &text));
    };
    let n = series.len();
    series.extend(refs);
    align(&mut series, &a.ec);
    let refs = series.split_off(n);
    for s in &mut series {
        for (i, v) in s.values.iter_mut().enumerate() {
            if v.is_nan() && refs.iter().any(|r| r.values.get(i).is_some_and(|x| !x.is_nan())) {
                *v = default;
            }
        }
        s.tags.insert("referenceSeries".into(), "1".into());
    }
    let mut out = finish(a, series, &format!("{text},referenceSeries"));
    for s in &mut out {
        s.tags.insert("transformNull".into(), text.clone());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{delta, keep_last};
    use crate::testutil::{check, eval, points as s, N};


    #[test]
    fn arithmetic() {
        let d = [Some(10.0), Some(20.0), N, Some(40.0), Some(50.0)];
        let table: &[(&str, &str, Vec<Option<f64>>)] = &[
            ("scale(a.b.c,2)", "scale(a.b.c,2)", s(&[2.0, 4.0, 6.0, 8.0, 10.0])),
            ("scale(a.b.c,-0.5)", "scale(a.b.c,-0.5)", s(&[-0.5, -1.0, -1.5, -2.0, -2.5])),
            ("offset(a.b.c,-1)", "offset(a.b.c,-1)", s(&[0.0, 1.0, 2.0, 3.0, 4.0])),
            ("add(a.b.c,1)", "add(a.b.c,1)", s(&[2.0, 3.0, 4.0, 5.0, 6.0])),
            ("pow(a.b.c,2)", "pow(a.b.c,2)", s(&[1.0, 4.0, 9.0, 16.0, 25.0])),
            ("absolute(offset(a.b.c,-3))", "absolute(offset(a.b.c,-3))", s(&[2.0, 1.0, 0.0, 1.0, 2.0])),
            ("invert(offset(a.b.c,-1))", "invert(offset(a.b.c,-1))", vec![N, Some(1.0), Some(0.5), Some(1.0 / 3.0), Some(0.25)]),
            ("squareRoot(pow(a.b.c,2))", "squareRoot(pow(a.b.c,2))", s(&[1.0, 2.0, 3.0, 4.0, 5.0])),
            ("logarithm(a.b.d)", "log(a.b.d,10)", vec![Some(1.0), Some(20f64.log10()), N, Some(40f64.log10()), Some(50f64.log10())]),
            ("log(a.b.c,2)", "log(a.b.c,2)", s(&[0.0, 1.0, 3f64.log2(), 2.0, 5f64.log2()])),
            ("scaleToSeconds(a.b.c,1)", "scaleToSeconds(a.b.c,1)", s(&[0.1, 0.2, 0.3, 0.4, 0.5])),
            ("isNonNull(a.b.d)", "isNonNull(a.b.d)", s(&[1.0, 1.0, 0.0, 1.0, 1.0])),
            ("transformNull(a.b.d)", "transformNull(a.b.d,0)", s(&[10.0, 20.0, 0.0, 40.0, 50.0])),
            ("transformNull(a.b.d,-1)", "transformNull(a.b.d,-1)", s(&[10.0, 20.0, -1.0, 40.0, 50.0])),
            ("keepLastValue(a.b.d)", "keepLastValue(a.b.d)", s(&[10.0, 20.0, 20.0, 40.0, 50.0])),
            ("integral(a.b.d)", "integral(a.b.d)", vec![Some(10.0), Some(30.0), N, Some(70.0), Some(120.0)]),
            ("derivative(a.b.d)", "derivative(a.b.d)", vec![N, Some(10.0), N, N, Some(10.0)]),
            ("offsetToZero(a.x.c)", "offsetToZero(a.x.c)", s(&[4.0, 3.0, 2.0, 1.0, 0.0])),
            ("round(scale(a.b.c,0.26),1)", "round(scale(a.b.c,0.26),1)", s(&[0.3, 0.5, 0.8, 1.0, 1.3])),
            ("delay(a.b.c,2)", "delay(a.b.c,2)", vec![N, N, Some(1.0), Some(2.0), Some(3.0)]),
            ("delay(a.b.c,-1)", "delay(a.b.c,-1)", vec![Some(2.0), Some(3.0), Some(4.0), Some(5.0), N]),
            ("delay(a.b.c,9)", "delay(a.b.c,9)", vec![N; 5]),
            ("changed(a.b.d)", "changed(a.b.d)", s(&[0.0, 1.0, 0.0, 1.0, 1.0])),
            ("sigmoid(offset(a.b.c,-1))", "sigmoid(offset(a.b.c,-1))", s(&[0.5, 1.0 / (1.0 + (-1f64).exp()), 1.0 / (1.0 + (-2f64).exp()), 1.0 / (1.0 + (-3f64).exp()), 1.0 / (1.0 + (-4f64).exp())])),
            ("logit(scale(a.b.c,0.2))", "logit(scale(a.b.c,0.2))", vec![Some((0.25f64).ln()), Some((0.4f64 / 0.6).ln()), Some((0.6f64 / 0.4).ln()), Some(4f64.ln()), N]),
            ("exp(offset(a.b.c,-1))", "exp(offset(a.b.c,-1))", s(&[1.0, 1f64.exp(), 2f64.exp(), 3f64.exp(), 4f64.exp()])),
            ("minMax(a.b.c)", "minMax(a.b.c)", s(&[0.0, 0.25, 0.5, 0.75, 1.0])),
        ];
        for (target, name, want) in table {
            check(target, &[(name, want)]);
        }
        let _ = d;
    }

    #[test]
    fn counters() {
        // req.count = 100,110,130,5,25 every 10 s
        check("nonNegativeDerivative(req.count)", &[("nonNegativeDerivative(req.count)", &[N, Some(10.0), Some(20.0), N, Some(20.0)])]);
        check("perSecond(req.count)", &[("perSecond(req.count)", &[N, Some(1.0), Some(2.0), N, Some(2.0)])]);
        check("nonNegativeDerivative(req.count,199)", &[("nonNegativeDerivative(req.count)", &[N, Some(10.0), Some(20.0), Some(75.0), Some(20.0)])]);
        check("perSecond(req.count,minValue=0)", &[("perSecond(req.count)", &[N, Some(1.0), Some(2.0), Some(0.5), Some(2.0)])]);
        check("nonNegativeDerivative(req.count,120)", &[("nonNegativeDerivative(req.count)", &[N, Some(10.0), N, N, Some(20.0)])]);
        let s = eval("perSecond(req.count)").unwrap();
        assert_eq!(s[0].tags.get("perSecond").map(String::as_str), Some("1"));
        assert_eq!(s[0].path_expression, "perSecond(req.count)");
    }

    #[test]
    fn helpers() {
        let n = f64::NAN;
        let d = delta(&[1.0, n, 3.0, 4.0], n, n, false);
        assert!(d[0].is_nan() && d[1].is_nan() && d[2].is_nan());
        assert_eq!(d[3], 1.0);
        let k = keep_last(&[n, 1.0, n, n, 2.0, n, n, n], 2.0);
        assert!(k[0].is_nan());
        assert_eq!(&k[1..5], &[1.0, 1.0, 1.0, 2.0]);
        assert!(k[5..].iter().all(|v| v.is_nan()));
    }

    #[test]
    fn consolidation_settings() {
        let s = eval("consolidateBy(a.b.c,'max')").unwrap();
        assert_eq!(s[0].name, "consolidateBy(a.b.c,'max')");
        assert_eq!(s[0].tags.get("consolidateBy").map(String::as_str), Some("max"));
        assert!(eval("consolidateBy(a.b.c,'bogus')").is_err());
        let s = eval("cumulative(a.b.c)").unwrap();
        assert_eq!(s[0].name, "consolidateBy(a.b.c,'sum')");
        assert!(eval("setXFilesFactor(a.b.c,2)").is_err());
    }

    #[test]
    fn transform_null_with_reference() {
        check("transformNull(a.b.d,5,a.b.c)", &[("transformNull(a.b.d,5,referenceSeries)", &[Some(10.0), Some(20.0), Some(5.0), Some(40.0), Some(50.0)])]);
    }
}
