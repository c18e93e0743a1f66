//! Less common graphite functions: fallbackSeries, threshold, aggregateLine, substr,
//! timeSlice, timeStack, interpolate, integralByInterval, mostDeviant, stdev,
//! exponentialMovingAverage, removeBetweenPercentile and averageOutsidePercentile.

use std::collections::BTreeMap;

use crate::aggr::Aggr;
use crate::args::Args;
use crate::parse::{fmt_num, quote, Expr};
use crate::series::path_of_name;
use crate::time::{parse_interval, parse_time};
use crate::{Error, Series};

/// Longest timeStack (number of shifted copies).
const MAX_TIME_STACK: i64 = 1000;

pub(super) async fn fallback_series(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(2)?;
    let series = a.series(0, "seriesList").await?;
    if series.is_empty() {
        return a.series(1, "fallback").await;
    }
    Ok(series)
}

/// threshold(value, label=None, color=None): a constant line named by its label.
pub(super) fn threshold(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(3)?;
    let value = a.number(0, "value")?;
    a.opt_string(2, "color")?;
    let name = a.opt_string(1, "label")?.map(str::to_string).unwrap_or_else(|| fmt_num(value));
    let step = ((a.ec.until_ms - a.ec.from_ms) / 2).max(1);
    let path = Expr::Call(a.call.clone()).to_string();
    Ok(vec![Series::new(name, BTreeMap::new(), path, a.ec.from_ms, step, vec![value; 3])])
}

/// aggregateLine(seriesList, func='average', keepStep=False): each series becomes a line
/// at its aggregate.
pub(super) async fn aggregate_line(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(3)?;
    let func = a.opt_string(1, "func")?.unwrap_or("average");
    let aggr = Aggr::parse(func).map_err(|_| a.err(format!("unsupported aggregation function {func:?}")))?;
    let keep_step = a.opt_bool(2, "keepStep", false)?;
    let mut series = a.series(0, "seriesList").await?;
    for s in &mut series {
        let v = aggr.apply(&s.values);
        if keep_step {
            s.values.iter_mut().for_each(|x| *x = v);
        } else {
            s.start_ms = a.ec.from_ms;
            s.step_ms = ((a.ec.until_ms - a.ec.from_ms) / 2).max(1);
            s.values = vec![v; 3];
        }
        let text = if v.is_nan() { "None".to_string() } else { fmt_num(v) };
        s.rename(format!("aggregateLine({},{text})", s.name));
    }
    Ok(series)
}

/// Python-style slice bounds of `len` items for `start..stop` (negative from the end).
fn slice_bounds(len: usize, start: i64, stop: Option<i64>) -> (usize, usize) {
    let fix = |i: i64| -> usize {
        let i = if i < 0 { len as i64 + i } else { i };
        i.clamp(0, len as i64) as usize
    };
    let lo = fix(start);
    let hi = stop.map_or(len, fix);
    (lo, hi.max(lo))
}

/// substr(seriesList, start=0, stop=0): the name becomes a slice of its path components.
pub(super) async fn substr(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(3)?;
    let start = a.opt_number(1, "start")?.unwrap_or(0.0).clamp(-1e6, 1e6) as i64;
    let stop = a.opt_number(2, "stop")?.unwrap_or(0.0).clamp(-1e6, 1e6) as i64;
    let mut series = a.series(0, "seriesList").await?;
    for s in &mut series {
        let path = path_of_name(&s.name);
        let parts: Vec<&str> = path.split('.').collect();
        let (lo, hi) = slice_bounds(parts.len(), start, (stop != 0).then_some(stop));
        s.name = parts[lo..hi].join(".");
    }
    Ok(series)
}

/// timeSlice(seriesList, startSliceAt, endSliceAt='now'): nulls outside the slice.
pub(super) async fn time_slice(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(3)?;
    let start = parse_time(a.string(1, "startSliceAt")?, a.ec.now_ms)?;
    let end = parse_time(a.opt_string(2, "endSliceAt")?.unwrap_or("now"), a.ec.now_ms)?;
    let mut series = a.series(0, "seriesList").await?;
    let (start_s, end_s) = ((start / 1000).to_string(), (end / 1000).to_string());
    for s in &mut series {
        for i in 0..s.values.len() {
            let t = s.ts(i);
            if t < start || t > end {
                s.values[i] = f64::NAN;
            }
        }
        s.tags.insert("timeSliceStart".into(), start_s.clone());
        s.tags.insert("timeSliceEnd".into(), end_s.clone());
        s.name = format!("timeSlice({},{start_s},{end_s})", s.name);
    }
    Ok(series)
}

/// timeStack(seriesList, timeShiftUnit='1d', timeShiftStart=0, timeShiftEnd=7): copies of
/// the series shifted back by 0..=7 units, drawn over the current range.
pub(super) async fn time_stack(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(4)?;
    let unit_text = a.opt_string(1, "timeShiftUnit")?.unwrap_or("1d");
    let mut unit = parse_interval(unit_text)?;
    if unit > 0 && !unit_text.starts_with('+') {
        unit = -unit;
    }
    let first = a.opt_number(2, "timeShiftStart")?.unwrap_or(0.0) as i64;
    let last = a.opt_number(3, "timeShiftEnd")?.unwrap_or(7.0) as i64;
    if last < first || last.saturating_sub(first) >= MAX_TIME_STACK {
        return Err(a.err(format!("timeShiftEnd must be within {MAX_TIME_STACK} of timeShiftStart and not below it")));
    }
    let mut out = Vec::new();
    for k in first..=last {
        let shift = unit.saturating_mul(k);
        let mut ec = a.ec;
        ec.from_ms = ec.from_ms.saturating_add(shift);
        ec.until_ms = ec.until_ms.saturating_add(shift);
        for mut s in a.series_in(ec, 0, "seriesList").await? {
            s.start_ms = s.start_ms.saturating_sub(shift);
            s.tags.insert("timeShiftUnit".into(), unit_text.into());
            s.tags.insert("timeShift".into(), k.to_string());
            s.rename(format!("timeShift({},{},{k})", s.name, quote(unit_text)));
            out.push(s);
        }
    }
    Ok(out)
}

/// interpolate(seriesList, limit=inf): fills interior gaps of at most `limit` points
/// linearly.
pub(super) async fn interpolate(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(2)?;
    let limit = a.opt_number(1, "limit")?.unwrap_or(f64::INFINITY);
    let mut series = a.series(0, "seriesList").await?;
    for s in &mut series {
        let mut last: Option<usize> = None;
        for i in 0..s.values.len() {
            if s.values[i].is_nan() {
                continue;
            }
            if let Some(p) = last {
                let gap = i - p - 1;
                if gap > 0 && gap as f64 <= limit {
                    let (from, to) = (s.values[p], s.values[i]);
                    for j in p + 1..i {
                        s.values[j] = from + (to - from) * (j - p) as f64 / (i - p) as f64;
                    }
                }
            }
            last = Some(i);
        }
        s.rename(format!("interpolate({})", s.name));
    }
    Ok(series)
}

/// integralByInterval(seriesList, intervalUnit): running total restarting at each
/// multiple of the interval (since the epoch).
pub(super) async fn integral_by_interval(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(2)?;
    let text = a.string(1, "intervalUnit")?;
    let interval = parse_interval(text)?;
    if interval <= 0 {
        return Err(a.err(format!("interval must be positive; got {text:?}")));
    }
    let mut series = a.series(0, "seriesList").await?;
    for s in &mut series {
        let (mut sum, mut bucket) = (0.0, None);
        for i in 0..s.values.len() {
            let v = s.values[i];
            if v.is_nan() {
                continue;
            }
            let b = s.ts(i).div_euclid(interval);
            if bucket != Some(b) {
                sum = 0.0;
                bucket = Some(b);
            }
            sum += v;
            s.values[i] = sum;
        }
        s.tags.insert("integralByInterval".into(), "1".into());
        s.rename(format!("integralByInterval({},{})", s.name, quote(text)));
    }
    Ok(series)
}

/// mostDeviant(seriesList, n): the n series with the largest standard deviation.
pub(super) async fn most_deviant(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(2)?;
    let n = a.number(1, "n")?;
    if n < 0.0 {
        return Err(a.type_err(1, "n", "non-negative integer"));
    }
    let series = a.series(0, "seriesList").await?;
    let mut keyed: Vec<(f64, Series)> = series.into_iter().map(|s| (Aggr::Stddev.apply(&s.values), s)).collect();
    keyed.retain(|k| !k.0.is_nan());
    keyed.sort_by(|x, y| y.0.total_cmp(&x.0));
    Ok(keyed.into_iter().take(n as usize).map(|k| k.1).collect())
}

/// stdev(seriesList, points, windowTolerance=0.1): standard deviation of the last
/// `points` points (current included), null when too few of them have values.
pub(super) async fn stdev(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(3)?;
    let points = a.int(1, "points")?;
    if points <= 0 {
        return Err(a.err("points must be positive"));
    }
    let tolerance = a.opt_number(2, "windowTolerance")?.unwrap_or(0.1);
    let mut series = a.series(0, "seriesList").await?;
    for s in &mut series {
        let values: Vec<f64> = (0..s.values.len())
            .map(|i| {
                let window = &s.values[(i + 1).saturating_sub(points as usize)..=i];
                let present = window.iter().filter(|v| !v.is_nan()).count();
                if present > 0 && present as f64 / points as f64 >= tolerance {
                    Aggr::Stddev.apply(window)
                } else {
                    f64::NAN
                }
            })
            .collect();
        s.values = values;
        s.tags.insert("stdev".into(), points.to_string());
        s.name = format!("stdev({},{points})", s.name);
    }
    Ok(series)
}

/// exponentialMovingAverage(seriesList, windowSize): EMA with smoothing 2/(N+1) for a
/// window of N points, seeded with the average of the window before `from`. Nulls are
/// skipped (the average carries over).
pub(super) async fn exponential_moving_average(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(2)?;
    let size = a.get(1, "windowSize").ok_or_else(|| a.err("missing windowSize"))?;
    let (window_ms, points) = match size {
        Expr::Number(n) if *n >= 1.0 && *n <= 1e7 => ((*n as i64).saturating_mul(a.ec.storage_step_ms), Some(*n)),
        Expr::Str(s) => (parse_interval(s)?.abs(), None),
        _ => return Err(a.type_err(1, "windowSize", "positive number or interval string")),
    };
    if window_ms <= 0 {
        return Err(a.err("windowSize must be positive"));
    }
    let mut ec = a.ec;
    ec.from_ms = ec.from_ms.saturating_sub(window_ms);
    let mut series = a.series_in(ec, 0, "seriesList").await?;
    let text = size.to_string();
    for s in &mut series {
        let n = points.unwrap_or(window_ms as f64 / s.step_ms as f64).max(1.0);
        let c = 2.0 / (n + 1.0);
        let skip = ((a.ec.from_ms - s.start_ms).max(0) / s.step_ms) as usize;
        let skip = skip.min(s.values.len());
        let mut ema = Aggr::Avg.apply(&s.values[..skip]);
        if ema.is_nan() {
            ema = 0.0;
        }
        let values = s.values[skip..]
            .iter()
            .map(|&v| {
                if v.is_nan() {
                    return f64::NAN;
                }
                ema = c * v + (1.0 - c) * ema;
                ema
            })
            .collect();
        s.values = values;
        s.start_ms = s.ts(skip);
        s.tags.insert("exponentialMovingAverage".into(), text.clone());
        s.rename(format!("exponentialMovingAverage({},{text})", s.name));
    }
    Ok(series)
}

/// removeBetweenPercentile(seriesList, n): keeps the series that leave, at some point, the
/// band between the n-th and (100-n)-th percentiles across all series.
pub(super) async fn remove_between_percentile(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(2)?;
    let mut n = a.percentile(1, "n")?;
    if n > 50.0 {
        n = 100.0 - n;
    }
    let mut series = a.series(0, "seriesList").await?;
    super::align(&mut series, &a.ec);
    let len = series.iter().map(|s| s.values.len()).min().unwrap_or(0);
    let bands: Vec<(f64, f64)> = (0..len)
        .map(|i| {
            let column: Vec<f64> = series.iter().map(|s| s.values[i]).collect();
            (crate::aggr::percentile(&column, n, false), crate::aggr::percentile(&column, 100.0 - n, false))
        })
        .collect();
    series.retain(|s| s.values.iter().zip(&bands).any(|(v, (lo, hi))| v < lo || v > hi));
    Ok(series)
}

/// averageOutsidePercentile(seriesList, n): keeps the series whose average is not strictly
/// between the (100-n)-th and n-th percentile of all the averages (graphite-web keeps those
/// on the boundaries and those without an average).
pub(super) async fn average_outside_percentile(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(2)?;
    let mut n = a.percentile(1, "n")?;
    if n < 50.0 {
        n = 100.0 - n;
    }
    let series = a.series(0, "seriesList").await?;
    let averages: Vec<f64> = series.iter().map(|s| Aggr::Avg.apply(&s.values)).collect();
    let low = crate::aggr::percentile(&averages, 100.0 - n, false);
    let high = crate::aggr::percentile(&averages, n, false);
    Ok(series.into_iter().zip(averages).filter(|(_, avg)| !(low < *avg && *avg < high)).map(|(s, _)| s).collect())
}

#[cfg(test)]
mod tests {
    use super::slice_bounds;
    use crate::testutil::{check, eval, FROM, STEP, N};


    #[test]
    fn average_outside_percentile() {
        // Averages 3, 30, 3, 6; sorted 3,3,6,30. n=70 (or 30): the 30th percentile has
        // rank 0.3*5 = 1.5 -> 2nd = 3, the 70th rank 3.5 -> 4th = 30; only 6 lies strictly
        // between, the boundary values stay.
        let target = |n: &str| format!("averageOutsidePercentile(group(a.b.c,a.b.d,a.x.c,scale(a.b.c,2)),{n})");
        for n in ["70", "30"] {
            let names: Vec<String> = eval(&target(n)).unwrap().into_iter().map(|s| s.name).collect();
            assert_eq!(names, ["a.b.c", "a.b.d", "a.x.c"], "n={n}");
        }
        // n=50: both percentiles are the 3rd value, 6, and nothing lies strictly between.
        assert_eq!(eval(&target("50")).unwrap().len(), 4);
        assert_eq!(eval("averageOutsidePercentile(removeAboveValue(a.b.c,0),90)").unwrap().len(), 1);
        assert!(eval("averageOutsidePercentile(a.b.c,101)").is_err());
        assert!(eval("averageOutsidePercentile(a.b.c)").is_err());
    }

    #[test]
    fn extras() {
        check("fallbackSeries(no.such,a.b.c)", &[("a.b.c", &[Some(1.0), Some(2.0), Some(3.0), Some(4.0), Some(5.0)])]);
        check("fallbackSeries(a.x.c,a.b.c)", &[("a.x.c", &[Some(5.0), Some(4.0), Some(3.0), Some(2.0), Some(1.0)])]);
        check("threshold(7,'limit')", &[("limit", &[Some(7.0); 3])]);
        check("aggregateLine(a.b.d,'max')", &[("aggregateLine(a.b.d,50)", &[Some(50.0); 3])]);
        check("aggregateLine(a.b.c,keepStep=True)", &[("aggregateLine(a.b.c,3)", &[Some(3.0); 5])]);
        check("substr(scale(a.b.c,2),1)", &[("b.c", &[Some(2.0), Some(4.0), Some(6.0), Some(8.0), Some(10.0)])]);
        check("substr(a.b.c,0,-1)", &[("a.b", &[Some(1.0), Some(2.0), Some(3.0), Some(4.0), Some(5.0)])]);
        check("interpolate(a.b.d)", &[("interpolate(a.b.d)", &[Some(10.0), Some(20.0), Some(30.0), Some(40.0), Some(50.0)])]);
        check("interpolate(a.b.d,0)", &[("interpolate(a.b.d)", &[Some(10.0), Some(20.0), N, Some(40.0), Some(50.0)])]);
        check("integralByInterval(a.b.d,'20s')", &[("integralByInterval(a.b.d,'20s')", &[Some(10.0), Some(30.0), N, Some(40.0), Some(50.0)])]);
        check("mostDeviant(a.*.*,1)", &[("a.b.d", &[Some(10.0), Some(20.0), N, Some(40.0), Some(50.0)])]);
        let s = eval(&format!("timeSlice(a.b.c,'{}','{}')", (FROM + STEP) / 1000, (FROM + 3 * STEP) / 1000)).unwrap();
        assert_eq!(s[0].name, format!("timeSlice(a.b.c,{},{})", (FROM + STEP) / 1000, (FROM + 3 * STEP) / 1000));
        assert!(s[0].values[0].is_nan() && s[0].values[4].is_nan());
        assert_eq!(&s[0].values[1..4], &[2.0, 3.0, 4.0]);
        let s = eval("timeStack(a.b.c,'10s',0,2)").unwrap();
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["timeShift(a.b.c,'10s',0)", "timeShift(a.b.c,'10s',1)", "timeShift(a.b.c,'10s',2)"]);
        assert_eq!(s[2].values, vec![-1.0, 0.0, 1.0, 2.0, 3.0]);
        assert_eq!(s[2].start_ms, FROM);
        assert!(eval("timeStack(a.b.c,'1d',0,5000)").is_err());
        // Population stddev of the last 2 points: |a - b| / 2.
        check("stdev(a.b.d,2)", &[("stdev(a.b.d,2)", &[Some(0.0), Some(5.0), Some(0.0), Some(0.0), Some(5.0)])]);
        check("stdev(a.b.d,2,0.6)", &[("stdev(a.b.d,2)", &[N, Some(5.0), N, N, Some(5.0)])]);
        // a.b.c history before FROM: k=-3..-1 -> -2,-1,0 (avg -1); c = 2/4.
        check(
            "exponentialMovingAverage(a.b.c,3)",
            &[("exponentialMovingAverage(a.b.c,3)", &[Some(0.0), Some(1.0), Some(2.0), Some(3.0), Some(4.0)])],
        );
        let s = eval("exponentialMovingAverage(a.b.c,'30s')").unwrap();
        assert_eq!(s[0].values, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(s[0].start_ms, FROM);
        // Across a.*.*: 10th/90th percentiles at each point are the min/max, so nothing leaves the band.
        assert!(eval("removeBetweenPercentile(a.*.*,10)").unwrap().is_empty());
        let names: Vec<String> = eval("removeBetweenPercentile(a.*.*,40)").unwrap().into_iter().map(|s| s.name).collect();
        // 40th/60th: the middle value and the maximum; a.b.d is always the maximum.
        assert_eq!(names, ["a.b.c", "a.x.c"]);
    }

    #[test]
    fn python_slices() {
        assert_eq!(slice_bounds(3, 0, None), (0, 3));
        assert_eq!(slice_bounds(3, 1, Some(-1)), (1, 2));
        assert_eq!(slice_bounds(3, -2, None), (1, 3));
        assert_eq!(slice_bounds(3, 5, Some(1)), (3, 3));
    }
}
