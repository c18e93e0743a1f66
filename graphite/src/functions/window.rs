//! Functions over time windows, which evaluate their argument over a shifted or widened
//! range: moving* windows (history before `from`), summarize, smartSummarize, hitcount,
//! timeShift and compressPeriodicGaps.

use crate::aggr::Aggr;
use crate::args::Args;
use crate::parse::{quote, Expr};
use crate::eval::align_up;
use crate::series::grid_len;
use crate::time::{floor_to_unit, parse_interval, CalendarUnit};
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
            // A wide window over a long range is the costliest loop a target can ask for.
            if k % 64 == 0 {
                a.check_cancelled()?;
            }
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

/// smartSummarize's alignTo as graphite-web reads it: by prefix (`s`, `min`, `h`, `d`,
/// `w`, `mon`, `y`); weeks start on Monday or on the ISO weekday of a trailing digit 1-7.
fn calendar_unit(text: &str) -> Option<CalendarUnit> {
    Some(if text.starts_with('s') {
        CalendarUnit::Seconds
    } else if text.starts_with("min") {
        CalendarUnit::Minutes
    } else if text.starts_with('h') {
        CalendarUnit::Hours
    } else if text.starts_with('d') {
        CalendarUnit::Days
    } else if text.starts_with('w') {
        let last = text.chars().last()?;
        match last.to_digit(10) {
            Some(d @ 1..=7) => CalendarUnit::Weeks(d),
            None if last.is_alphabetic() => CalendarUnit::Weeks(1),
            _ => return None,
        }
    } else if text.starts_with("mon") {
        CalendarUnit::Months
    } else if text.starts_with('y') {
        CalendarUnit::Years
    } else {
        return None;
    })
}

/// smartSummarize(seriesList, intervalString, func='sum', alignTo=None): buckets of the
/// interval starting at the series' start, which alignTo first rounds down to a calendar
/// unit (UTC); a boolean alignTo (the old alignToFrom) is ignored.
pub(super) async fn smart_summarize(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(4)?;
    let (interval, text) = interval_arg(a)?;
    let func = a.opt_string(2, "func")?.unwrap_or("sum");
    let aggr = Aggr::parse(func).map_err(|_| a.err(format!("unsupported aggregation function {func:?}")))?;
    let mut ec = a.ec;
    match a.get(3, "alignTo") {
        None | Some(Expr::None | Expr::Bool(_)) => {}
        Some(Expr::Str(unit)) => {
            let unit = calendar_unit(unit).ok_or_else(|| a.err(format!("invalid alignTo unit {unit:?}")))?;
            ec.from_ms = floor_to_unit(ec.from_ms, unit);
        }
        Some(_) => return Err(a.type_err(3, "alignTo", "string")),
    }
    let mut series = a.series_in(ec, 0, "seriesList").await?;
    for s in &mut series {
        let span = (s.values.len() as i64).saturating_mul(s.step_ms);
        let end = s.start_ms.saturating_add(align_up(span, interval));
        let mut bucketed = ec;
        (bucketed.from_ms, bucketed.until_ms) = (s.start_ms, end);
        bucketed.check_points(interval)?;
        let xff = s.x_files_factor;
        s.resample(aggr, s.start_ms, end, interval, xff);
        s.tags.insert("smartSummarize".into(), text.into());
        s.tags.insert("smartSummarizeFunction".into(), func.into());
        s.rename(format!("smartSummarize({},{},{})", s.name, quote(text), quote(func)));
    }
    Ok(series)
}

/// Python's truthiness of a value: null and 0 both count as "nothing here".
fn truthy(v: f64) -> bool {
    !v.is_nan() && v != 0.0
}

/// compressPeriodicGaps(seriesList): a series with values only every k-th point (k guessed
/// from the first two values and confirmed by a third between nulls) is re-bucketed onto
/// a k-step grid with the last value; other series only get the new name.
pub(super) async fn compress_periodic_gaps(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(1)?;
    let mut series = a.series(0, "seriesList").await?;
    for s in &mut series {
        s.rename(format!("compressPeriodicGaps({})", s.name));
        let mut seen = s.values.iter().enumerate().filter(|(_, v)| truthy(**v)).map(|(i, _)| i);
        let (Some(first), Some(second)) = (seen.next(), seen.next()) else { continue };
        let guess = second - first;
        let third = second + guess;
        if guess <= 1 || third + 2 > s.values.len() {
            continue;
        }
        if !(truthy(s.values[third]) && s.values[third - 1].is_nan() && s.values[third + 1].is_nan()) {
            continue;
        }
        let interval = guess as i64 * s.step_ms;
        let start = s.ts(first);
        let end = s.ts(s.values.len());
        let xff = s.x_files_factor;
        s.resample(Aggr::Last, start, start.saturating_add(align_up(end - start, interval)), interval, xff);
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

#[cfg(test)]
mod smart_tests {
    use crate::testutil::{check, eval, eval_with, config, FakeFetcher, block_on, raw, FROM, STEP, N};
    use crate::render;

    #[test]
    fn smart_summarize_buckets_from_the_start() {
        // Buckets of 20 s from FROM over 1..5: 1+2, 3+4, 5.
        check("smartSummarize(a.b.c,'20s')", &[("smartSummarize(a.b.c,'20s','sum')", &[Some(3.0), Some(7.0), Some(5.0)])]);
        check("smartSummarize(a.b.c,'20s','max',True)", &[("smartSummarize(a.b.c,'20s','max')", &[Some(2.0), Some(4.0), Some(5.0)])]);
        let s = eval("smartSummarize(a.b.d,'30s','avg')").unwrap();
        assert_eq!((s[0].start_ms, s[0].step_ms), (FROM, 30_000));
        assert_eq!(s[0].values, vec![15.0, 45.0]);
        assert_eq!(s[0].tags.get("smartSummarize").map(String::as_str), Some("30s"));
        assert_eq!(s[0].tags.get("smartSummarizeFunction").map(String::as_str), Some("avg"));
        assert_eq!(s[0].path_expression, "smartSummarize(a.b.d,'30s','avg')");
        // FROM = 2023-11-14T22:13:20Z: aligned to the minute the range starts 20 s earlier
        // and is fetched from there; a.b.c is -1, 0 there.
        let f = FakeFetcher::standard();
        let out = block_on(render(&["smartSummarize(a.b.c,'20s','sum','minutes')".to_string()], &config(), &f)).unwrap();
        assert_eq!(f.requests()[0].from_ms, FROM - 20_000);
        assert_eq!(out[0].start_ms, FROM - 20_000);
        assert_eq!(out[0].values, vec![-1.0, 3.0, 7.0, 5.0]);
        // To the hour: 22:00, 800 s before FROM (a.b.c only has 10 points before FROM).
        let mut ec = config();
        ec.max_points_per_series = 10_000;
        let out = eval_with("smartSummarize(a.b.c,'1h','count','hours')", &ec).unwrap();
        assert_eq!(out[0].start_ms, FROM - 800_000);
        assert_eq!(out[0].values, vec![15.0]);
        assert!(eval("smartSummarize(a.b.c,'20s','sum','fortnights')").is_err());
        assert!(eval("smartSummarize(a.b.c,'20s','sum','w9')").is_err());
        assert!(eval("smartSummarize(a.b.c,'20s','sum',1)").is_err());
        assert!(eval("smartSummarize(a.b.c,'0s')").is_err());
        assert!(eval("smartSummarize(a.b.c,'20s','bogus')").is_err());
    }

    #[test]
    fn compress_periodic_gaps() {
        // Values every third point (k = 0, 3, 6, 9) over 12 points of 10 s.
        let f = FakeFetcher::new(vec![
            raw(&[("__name__", "gappy")], [(0, 1.0), (3, 2.0), (6, 3.0), (9, 4.0)]),
            raw(&[("__name__", "late")], [(2, 7.0), (5, 8.0), (8, 9.0)]),
            raw(&[("__name__", "zeros")], [(0, 0.0), (3, 2.0), (6, 3.0), (9, 4.0)]),
        ]);
        let mut ec = config();
        ec.until_ms = FROM + 12 * STEP;
        let out = block_on(render(&["compressPeriodicGaps(*)".to_string()], &ec, &f)).unwrap();
        let got: Vec<(&str, i64, i64, &[f64])> = out.iter().map(|s| (s.name.as_str(), s.start_ms, s.step_ms, s.values.as_slice())).collect();
        assert_eq!(got[0], ("compressPeriodicGaps(gappy)", FROM, 30_000, &[1.0, 2.0, 3.0, 4.0][..]));
        // Starts at its first value; the last bucket [FROM+110 s, +140 s) holds no value.
        assert_eq!((got[1].0, got[1].1, got[1].2), ("compressPeriodicGaps(late)", FROM + 2 * STEP, 30_000));
        assert_eq!(crate::testutil::points(got[1].3), [Some(7.0), Some(8.0), Some(9.0), N]);
        // A zero reads as a gap when guessing: the grid starts at the first non-zero value
        // (k = 3) and the 0 before it is dropped.
        assert_eq!(got[2], ("compressPeriodicGaps(zeros)", FROM + 3 * STEP, 30_000, &[2.0, 3.0, 4.0][..]));
        assert_eq!(out[0].path_expression, "compressPeriodicGaps(gappy)");
        // Dense series keep their grid.
        let s = eval("compressPeriodicGaps(a.b.c)").unwrap();
        assert_eq!((s[0].name.as_str(), s[0].step_ms), ("compressPeriodicGaps(a.b.c)", STEP));
        assert_eq!(s[0].values, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!(eval("compressPeriodicGaps(a.b.c,1)").is_err());
    }
}
