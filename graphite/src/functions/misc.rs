//! Sources and render attributes: seriesByTag, constantLine, identity, and the graphical
//! functions (color, alpha, dashed, lineWidth, secondYAxis, drawAsInfinite, stacked) that
//! leave values alone in a JSON answer.

use std::collections::BTreeMap;

use crate::args::Args;
use crate::eval::{fetch_series, FetchSpec};
use crate::parse::{fmt_num, Expr};
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
