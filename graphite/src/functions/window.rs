//! Functions over time windows, which evaluate their argument over a shifted or widened
//! range: moving* windows (history before `from`), summarize, hitcount and timeShift.

use crate::aggr::Aggr;
use crate::args::Args;
use crate::parse::{quote, Expr};
use crate::eval::align_up;
use crate::series::grid_len;
use crate::time::parse_interval;
use crate::{Error, Series};

/// movingAverage/Sum/Min/Max/Median (`fixed` func) and movingWindow (func argument).
pub(super) async fn moving(a: &Args<'_>, fixed: Option<&str>) -> Result<Vec<Series>, Error> {
    let (func, xff_index) = match fixed {
        Some(f) => {
            a.max(3)?;
            (f, 2)
        }
        None => {
            a.max(4)?;
            (a.opt_string(2, "func")?.unwrap_or("average"), 3)
        }
    };
    let aggr = Aggr::parse(func).map_err(|_| a.err(format!("unsupported aggregation function {func:?}")))?;
    let xff = a.opt_number(xff_index, "xFilesFactor")?.unwrap_or(a.ec.x_files_factor);
    let size_expr = a.get(1, "windowSize").ok_or_else(|| a.err("missing windowSize"))?;
    let (mut window_ms, points) = match size_expr {
        Expr::Number(n) if *n >= 1.0 && *n <= 1e7 => ((*n as i64).saturating_mul(a.ec.storage_step_ms), Some(*n as i64)),
        Expr::Str(s) => (parse_interval(s)?.abs(), None),
        _ => return Err(a.type_err(1, "windowSize", "positive number or interval string")),
    };
    if window_ms <= 0 {
        return Err(a.err("windowSize must be positive"));
    }
    let mut ec = a.ec;
    ec.from_ms = a.ec.from_ms.saturating_sub(window_ms);
    let mut series = a.series_in(ec, 0, "seriesList").await?;
    if let (Some(n), Some(first)) = (points, series.first()) {
        if first.step_ms != a.ec.storage_step_ms {
            // The inner expression changed the step: a window of N points is N of those.
            window_ms = n.saturating_mul(first.step_ms);
            ec.from_ms = a.ec.from_ms.saturating_sub(window_ms);
            series = a.series_in(ec, 0, "seriesList").await?;
        }
    }
    let label = match fixed {
        Some("average") | None if func == "average" || func == "avg" => "movingAverage".to_string(),
        _ => {
            let mut chars = func.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase()).unwrap_or_default();
            format!("moving{first}{}", chars.as_str())
        }
    };
    let size_text = size_expr.to_string();
    for s in &mut series {
        let step = s.step_ms;
        a.ec.check_points(step)?;
        let len = grid_len(a.ec.from_ms, a.ec.until_ms, step);
        let mut values = Vec::with_capacity(len);
        for k in 0..len {
            let end = a.ec.from_ms + k as i64 * step;
            let lo = index_at(s, end - window_ms);
            let hi = index_at(s, end);
            values.push(aggr.apply_xff(xff, &s.values[lo..hi]));
        }
        s.values = values;
        s.start_ms = a.ec.from_ms;
        s.tags.insert(label.clone(), size_text.clone());
        s.rename(format!("{label}({},{size_text})", s.name));
    }
    Ok(series)
}

/// Index of the first point at or after `t` (clamped to the series).
fn index_at(s: &Series, t: i64) -> usize {
    if t <= s.start_ms {
        return 0;
    }
    let i = (t - s.start_ms + s.step_ms - 1) / s.step_ms;
    (i.max(0) as usize).min(s.values.len())
}

fn interval_arg<'a>(a: &Args<'a>) -> Result<(i64, &'a str), Error> {
    let text = a.string(1, "intervalString")?;
    let interval = parse_interval(text)?;
    if interval <= 0 {
        return Err(a.err(format!("interval must be positive; got {text:?}")));
    }
    Ok((interval, text))
}

pub(super) async fn summarize(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(4)?;
    let (interval, text) = interval_arg(a)?;
    let func = a.opt_string(2, "func")?.unwrap_or("sum");
    let aggr = Aggr::parse(func).map_err(|_| a.err(format!("unsupported aggregation function {func:?}")))?;
    let align_to_from = a.opt_bool(3, "alignToFrom", false)?;
    let mut ec = a.ec;
    if align_to_from {
        ec.until_ms = ec.from_ms.saturating_add(align_up(ec.until_ms.saturating_sub(ec.from_ms), interval));
    } else {
        ec.from_ms -= ec.from_ms.rem_euclid(interval);
        ec.until_ms = align_up(ec.until_ms, interval);
    }
    ec.check_points(interval)?;
    let inner_ec = if align_to_from { a.ec } else { ec };
    let mut series = a.series_in(inner_ec, 0, "seriesList").await?;
    for s in &mut series {
        let xff = s.x_files_factor;
        s.resample(aggr, ec.from_ms, ec.until_ms, interval, xff);
        s.tags.insert("summarize".into(), text.into());
        s.tags.insert("summarizeFunction".into(), func.into());
        let tail = if align_to_from { ",true" } else { "" };
        s.rename(format!("summarize({},{},{}{tail})", s.name, quote(text), quote(func)));
    }
    Ok(series)
}

pub(super) async fn hitcount(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(3)?;
    let (interval, text) = interval_arg(a)?;
    let align = a.opt_bool(2, "alignToInterval", false)?;
    let mut ec = a.ec;
    if align {
        let unit = [86_400_000, 3_600_000, 60_000].into_iter().find(|u| interval >= *u).unwrap_or(1);
        ec.from_ms -= ec.from_ms.rem_euclid(unit);
    }
    let mut series = a.series_in(ec, 0, "seriesList").await?;
    let end = ec.from_ms.saturating_add(align_up(ec.until_ms.saturating_sub(ec.from_ms), interval));
    ec.check_points(interval)?;
    for s in &mut series {
        let secs = s.step_ms as f64 / 1000.0;
        s.values.iter_mut().for_each(|v| *v *= secs);
        s.resample(Aggr::Sum, ec.from_ms, end, interval, 0.0);
        s.tags.insert("hitcount".into(), text.into());
        let tail = if align { ",true" } else { "" };
        s.rename(format!("hitcount({},{}{tail})", s.name, quote(text)));
    }
    Ok(series)
}

pub(super) async fn time_shift(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(4)?;
    let text = a.string(1, "timeShift")?;
    let mut shift = parse_interval(text)?;
    if shift > 0 && !text.trim_start().starts_with('+') {
        shift = -shift;
    }
    let reset_end = a.opt_bool(2, "resetEnd", true)?;
    a.opt_bool(3, "alignDST", false)?;
    let mut ec = a.ec;
    ec.from_ms = ec.from_ms.saturating_add(shift);
    ec.until_ms = ec.until_ms.saturating_add(shift);
    let mut series = a.series_in(ec, 0, "seriesList").await?;
    for s in &mut series {
        s.start_ms = s.start_ms.saturating_sub(shift);
        if reset_end {
            let keep = grid_len(s.start_ms, a.ec.until_ms, s.step_ms);
            s.values.truncate(keep);
        }
        s.tags.insert("timeShift".into(), text.into());
        s.name = format!("timeShift({},{})", s.name, quote(text));
    }
    Ok(series)
}

#[cfg(test)]
mod tests {
    use crate::testutil::{check, eval, eval_with, config, FakeFetcher, block_on, FROM, STEP, N};
    use crate::render;

    #[test]
    fn moving_windows_use_history() {
        // a.b.c = k+1 at FROM + k*STEP, also before FROM.
        check("movingAverage(a.b.c,2)", &[("movingAverage(a.b.c,2)", &[Some(-0.5), Some(0.5), Some(1.5), Some(2.5), Some(3.5)])]);
        check("movingSum(a.b.c,'30s')", &[("movingSum(a.b.c,'30s')", &[Some(-3.0), Some(0.0), Some(3.0), Some(6.0), Some(9.0)])]);
        check("movingMax(a.b.d,2)", &[("movingMax(a.b.d,2)", &[Some(0.0), Some(10.0), Some(20.0), Some(20.0), Some(40.0)])]);
        check("movingMin(a.b.c,3)", &[("movingMin(a.b.c,3)", &[Some(-2.0), Some(-1.0), Some(0.0), Some(1.0), Some(2.0)])]);
        check("movingMedian(a.b.c,3)", &[("movingMedian(a.b.c,3)", &[Some(-1.0), Some(0.0), Some(1.0), Some(2.0), Some(3.0)])]);
        check("movingWindow(a.b.c,2,'sum')", &[("movingSum(a.b.c,2)", &[Some(-1.0), Some(1.0), Some(3.0), Some(5.0), Some(7.0)])]);
        check("movingWindow(a.b.c,2)", &[("movingAverage(a.b.c,2)", &[Some(-0.5), Some(0.5), Some(1.5), Some(2.5), Some(3.5)])]);
        // xFilesFactor: the window over a.b.d at FROM+3*STEP holds 20 and a gap.
        check("movingAverage(a.b.d,2,0.6)", &[("movingAverage(a.b.d,2)", &[Some(-5.0), Some(5.0), Some(15.0), N, N])]);
        let f = FakeFetcher::standard();
        block_on(render(&["movingAverage(a.b.c,'1min')".to_string()], &config(), &f)).unwrap();
        assert_eq!(f.requests()[0].from_ms, FROM - 60_000);
        assert!(eval("movingAverage(a.b.c,0)").is_err());
        assert!(eval("movingAverage(a.b.c,'x')").is_err());
    }

    #[test]
    fn summarize_buckets() {
        let mut ec = config();
        ec.until_ms = FROM + 6 * STEP;
        // FROM is a multiple of 20 s: buckets [FROM, +20s) ...
        let s = eval_with("summarize(a.b.c,'20s')", &ec).unwrap();
        assert_eq!(s[0].name, "summarize(a.b.c,'20s','sum')");
        assert_eq!(s[0].values, vec![3.0, 7.0, 11.0]);
        assert_eq!(s[0].step_ms, 20_000);
        let s = eval_with("summarize(a.b.c,'20s','max')", &ec).unwrap();
        assert_eq!(s[0].values, vec![2.0, 4.0, 6.0]);
        // Not aligned: FROM+10s is rounded down to FROM, history fetched.
        let mut ec2 = config();
        ec2.from_ms = FROM + STEP;
        let s = eval_with("summarize(a.b.c,'20s','avg')", &ec2).unwrap();
        assert_eq!(s[0].start_ms, FROM);
        assert_eq!(s[0].values, vec![1.5, 3.5, 5.5]);
        let s = eval_with("summarize(a.b.c,'20s','sum',true)", &ec2).unwrap();
        assert_eq!(s[0].name, "summarize(a.b.c,'20s','sum',true)");
        assert_eq!(s[0].start_ms, FROM + STEP);
        assert_eq!(s[0].values, vec![5.0, 9.0]);
        assert!(eval("summarize(a.b.c,'0s')").is_err());
    }

    #[test]
    fn hitcount_and_time_shift() {
        let mut ec = config();
        ec.until_ms = FROM + 6 * STEP;
        let s = eval_with("hitcount(a.b.c,'20s')", &ec).unwrap();
        assert_eq!(s[0].name, "hitcount(a.b.c,'20s')");
        assert_eq!(s[0].values, vec![30.0, 70.0, 110.0]);
        // a.b.c one minute earlier is k+1-6.
        check("timeShift(a.b.c,'1min')", &[("timeShift(a.b.c,'1min')", &[Some(-5.0), Some(-4.0), Some(-3.0), Some(-2.0), Some(-1.0)])]);
        check("timeShift(a.b.c,'-20s')", &[("timeShift(a.b.c,'-20s')", &[Some(-1.0), Some(0.0), Some(1.0), Some(2.0), Some(3.0)])]);
        let s = eval("timeShift(a.b.c,'+20s')").unwrap();
        assert_eq!(s[0].values, vec![3.0, 4.0, 5.0, 6.0, 7.0]);
        assert_eq!(s[0].start_ms, FROM);
        assert_eq!(s[0].path_expression, "a.b.c");
    }
}
