//! Forecasts: graphite-web's Holt-Winters triple exponential smoothing (forecast, confidence
//! bands and area, aberration), bootstrapped on history fetched before `from`, and the
//! least-squares linearRegression over the range or another source range.

use std::collections::HashMap;

use crate::args::Args;
use crate::eval::align_up;
use crate::parse::Expr;
use crate::time::{parse_interval, parse_time};
use crate::{Error, Series};

/// graphite-web's smoothing factors: level (alpha), trend (beta) and season (gamma).
const ALPHA: f64 = 0.1;
const BETA: f64 = 0.0035;
const GAMMA: f64 = 0.1;
/// The shortest season, in points, whatever the seasonality and step.
const SEASON_POINTS_MIN: i64 = 2;

/// The Holt-Winters predictions and deviations of a series, point by point (NaN = none).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HoltWinters {
    pub predictions: Vec<f64>,
    pub deviations: Vec<f64>,
}

/// Runs graphite-web's Holt-Winters analysis over `values` with a season of
/// `season_points` (>= 2) points. A missing value breaks the chain: its prediction is the
/// one made before it, the next one has none, and the level restarts at the next value.
pub(crate) fn holt_winters(values: &[f64], season_points: usize) -> HoltWinters {
    debug_assert!(season_points >= 2, "seasons are at least two points long");
    let n = values.len();
    let (mut intercepts, mut slopes, mut seasonals) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut predictions, mut deviations) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let season_ago = |v: &Vec<f64>, i: usize| if i >= season_points { v[i - season_points] } else { 0.0 };
    let mut next_prediction = f64::NAN;
    for (i, &actual) in values.iter().enumerate() {
        if actual.is_nan() {
            intercepts.push(f64::NAN);
            slopes.push(0.0);
            seasonals.push(0.0);
            predictions.push(next_prediction);
            deviations.push(0.0);
            next_prediction = f64::NAN;
            continue;
        }
        let (last_intercept, last_slope, prediction) = if i == 0 {
            (actual, 0.0, actual)
        } else {
            let li: f64 = intercepts[i - 1];
            (if li.is_nan() { actual } else { li }, slopes[i - 1], next_prediction)
        };
        let last_seasonal = season_ago(&seasonals, i);
        let next_last_seasonal = season_ago(&seasonals, i + 1);
        let last_deviation = season_ago(&deviations, i);
        let intercept = ALPHA * (actual - last_seasonal) + (1.0 - ALPHA) * (last_intercept + last_slope);
        let slope = BETA * (intercept - last_intercept) + (1.0 - BETA) * last_slope;
        let seasonal = GAMMA * (actual - intercept) + (1.0 - GAMMA) * last_seasonal;
        next_prediction = intercept + slope + next_last_seasonal;
        let predicted = if prediction.is_nan() { 0.0 } else { prediction };
        let deviation = GAMMA * (actual - predicted).abs() + (1.0 - GAMMA) * last_deviation;
        intercepts.push(intercept);
        slopes.push(slope);
        seasonals.push(seasonal);
        predictions.push(prediction);
        deviations.push(deviation);
    }
    HoltWinters { predictions, deviations }
}

/// Evaluates the series list over the range widened by bootstrapInterval (argument
/// `bootstrap_index`, seasonality after it), analyses each series and trims series and
/// analysis back to the requested range.
async fn analysed(a: &Args<'_>, bootstrap_index: usize) -> Result<Vec<(Series, HoltWinters)>, Error> {
    let bootstrap_text = a.opt_string(bootstrap_index, "bootstrapInterval")?.unwrap_or("7d");
    let bootstrap_ms = parse_interval(bootstrap_text)?;
    if bootstrap_ms < 0 {
        return Err(a.err(format!("bootstrapInterval must not be negative; got {bootstrap_text:?}")));
    }
    let seasonality_ms = parse_interval(a.opt_string(bootstrap_index + 1, "seasonality")?.unwrap_or("1d"))?;
    // Whole storage steps, so that the widened grid still meets `from`.
    let preview_ms = align_up(bootstrap_ms, a.ec.storage_step_ms.max(1));
    let mut ec = a.ec;
    ec.from_ms = ec.from_ms.saturating_sub(preview_ms);
    let series = a.series_in(ec, 0, "seriesList").await?;
    let mut out = Vec::with_capacity(series.len());
    for mut s in series {
        a.check_cancelled()?;
        let season_points = (seasonality_ms / s.step_ms).max(SEASON_POINTS_MIN) as usize;
        let mut hw = holt_winters(&s.values, season_points);
        let skip = usize::try_from(preview_ms / s.step_ms).unwrap_or(usize::MAX).min(s.values.len());
        s.values.drain(..skip);
        hw.predictions.drain(..skip);
        hw.deviations.drain(..skip);
        s.start_ms = s.start_ms.saturating_add(skip as i64 * s.step_ms);
        out.push((s, hw));
    }
    Ok(out)
}

pub(super) async fn forecast(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(3)?;
    let mut out = Vec::new();
    for (mut s, hw) in analysed(a, 1).await? {
        s.values = hw.predictions;
        s.tags.insert("holtWintersForecast".into(), "1".into());
        s.rename(format!("holtWintersForecast({})", s.name));
        out.push(s);
    }
    Ok(out)
}

/// Per series: the trimmed input, then its lower and upper band at `delta` deviations
/// around the forecast. The bands keep the input's pathExpression, as graphite-web does.
async fn bands(a: &Args<'_>) -> Result<Vec<(Series, Series, Series)>, Error> {
    a.max(4)?;
    let delta = a.opt_number(1, "delta")?.unwrap_or(3.0);
    let mut out = Vec::new();
    for (s, hw) in analysed(a, 2).await? {
        let band = |sign: f64| -> Vec<f64> {
            hw.predictions.iter().zip(&hw.deviations).map(|(p, d)| if p.is_nan() || d.is_nan() { f64::NAN } else { p + sign * delta * d }).collect()
        };
        let mut lower = s.with_values(band(-1.0));
        lower.name = format!("holtWintersConfidenceLower({})", s.name);
        lower.tags.insert("holtWintersConfidenceLower".into(), "1".into());
        let mut upper = s.with_values(band(1.0));
        upper.name = format!("holtWintersConfidenceUpper({})", s.name);
        upper.tags.insert("holtWintersConfidenceUpper".into(), "1".into());
        out.push((s, lower, upper));
    }
    Ok(out)
}

pub(super) async fn confidence_bands(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    Ok(bands(a).await?.into_iter().flat_map(|(_, lower, upper)| [lower, upper]).collect())
}

/// The two bands of exactly one series drawn as an area (graphite-web's areaBetween over
/// holtWintersConfidenceBands), both named after the input's pathExpression.
pub(super) async fn confidence_area(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let mut all = bands(a).await?;
    if all.len() != 1 {
        return Err(a.err(format!("the series list must hold exactly one series; got {}", all.len())));
    }
    let (s, mut lower, mut upper) = all.remove(0);
    let name = format!("holtWintersConfidenceArea({})", s.path_expression);
    let mut tags = s.tags;
    tags.insert("holtWintersConfidenceArea".into(), "1".into());
    for band in [&mut lower, &mut upper] {
        band.tags = tags.clone();
        band.rename(name.clone());
    }
    Ok(vec![lower, upper])
}

/// How far each point lies outside the confidence bands (0 inside or where null).
pub(super) async fn aberration(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let by_name: HashMap<String, (Vec<f64>, Vec<f64>)> =
        bands(a).await?.into_iter().map(|(s, lower, upper)| (s.name, (lower.values, upper.values))).collect();
    let mut series = a.series(0, "seriesList").await?;
    for s in &mut series {
        let (lower, upper) = by_name.get(&s.name).map(|b| (b.0.as_slice(), b.1.as_slice())).unwrap_or((&[], &[]));
        for (i, v) in s.values.iter_mut().enumerate() {
            let hi = upper.get(i).copied().unwrap_or(f64::NAN);
            let lo = lower.get(i).copied().unwrap_or(f64::NAN);
            *v = if v.is_nan() {
                0.0
            } else if !hi.is_nan() && *v > hi {
                *v - hi
            } else if !lo.is_nan() && *v < lo {
                *v - lo
            } else {
                0.0
            };
        }
        s.tags.insert("holtWintersAberration".into(), "1".into());
        s.rename(format!("holtWintersAberration({})", s.name));
    }
    Ok(series)
}

/// A date argument: a time string or unix seconds.
fn time_arg(a: &Args<'_>, index: usize, name: &str) -> Result<Option<i64>, Error> {
    match a.get(index, name) {
        None | Some(Expr::None) => Ok(None),
        Some(Expr::Str(s)) => parse_time(s, a.ec.now_ms).map(Some),
        Some(Expr::Number(n)) if n.is_finite() && n.abs() < 1e14 => Ok(Some((n * 1000.0) as i64)),
        Some(_) => Err(a.type_err(index, name, "date")),
    }
}

/// Least-squares line through the non-null points: (per-second factor, offset at t = 0 s).
fn regression(s: &Series) -> Option<(f64, f64)> {
    let (mut n, mut sum_i, mut sum_v, mut sum_ii, mut sum_iv) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, v) in s.values.iter().enumerate().filter(|(_, v)| !v.is_nan()) {
        let x = i as f64;
        n += 1.0;
        sum_i += x;
        sum_v += v;
        sum_ii += x * x;
        sum_iv += x * v;
    }
    let denominator = n * sum_ii - sum_i * sum_i;
    if denominator == 0.0 {
        return None;
    }
    let factor = (n * sum_iv - sum_i * sum_v) / denominator / (s.step_ms as f64 / 1000.0);
    let offset = (sum_ii * sum_v - sum_iv * sum_i) / denominator - factor * (s.start_ms as f64 / 1000.0);
    Some((factor, offset))
}

/// linearRegression(seriesList, startSourceAt=None, endSourceAt=None): each series becomes
/// the least-squares line fitted over the source range (the request's range by default).
/// Series with fewer than two points in the source are dropped.
pub(super) async fn linear_regression(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(3)?;
    let start = time_arg(a, 1, "startSourceAt")?;
    let end = time_arg(a, 2, "endSourceAt")?;
    let series = a.series(0, "seriesList").await?;
    let mut source_ec = a.ec;
    source_ec.from_ms = start.unwrap_or(a.ec.from_ms);
    source_ec.until_ms = end.unwrap_or(a.ec.until_ms);
    let (from_s, until_s) = (source_ec.from_ms.div_euclid(1000), source_ec.until_ms.div_euclid(1000));
    let sources = if start.is_none() && end.is_none() {
        series.clone()
    } else {
        let step = a.ec.storage_step_ms.max(1);
        source_ec.from_ms = align_up(source_ec.from_ms, step);
        source_ec.until_ms = align_up(source_ec.until_ms, step);
        if source_ec.until_ms < source_ec.from_ms {
            return Err(Error::Range { from_ms: source_ec.from_ms, until_ms: source_ec.until_ms });
        }
        a.series_in(source_ec, 0, "seriesList").await?
    };
    let mut out = Vec::new();
    for (source, mut s) in sources.iter().zip(series) {
        let Some((factor, offset)) = regression(source) else { continue };
        let (start_s, step_s) = (s.start_ms as f64 / 1000.0, s.step_ms as f64 / 1000.0);
        for (i, v) in s.values.iter_mut().enumerate() {
            *v = offset + (start_s + i as f64 * step_s) * factor;
        }
        s.tags.insert("linearRegressions".into(), format!("{from_s}, {until_s}"));
        s.rename(format!("linearRegression({}, {from_s}, {until_s})", s.name));
        out.push(s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{check, eval, eval_with, config, FakeFetcher, block_on, FROM, STEP};
    use crate::render;

    /// A second, independent Holt-Winters written from the textbook recurrences
    /// (level L, trend T, season S, deviation D) with graphite-web's seeding rules, kept
    /// deliberately different in shape from `holt_winters` (state carried in named
    /// variables and season rings, not index arithmetic over growing vectors).
    fn reference(values: &[f64], m: usize) -> (Vec<f64>, Vec<f64>) {
        let (a, b, g) = (0.1, 0.0035, 0.1);
        let mut season = vec![0.0; values.len() + 1];
        let mut dev = vec![0.0; values.len() + 1];
        let (mut level, mut trend): (Option<f64>, f64) = (None, 0.0);
        let mut forecast: Option<f64> = None;
        let (mut preds, mut devs) = (vec![], vec![]);
        for (t, &y) in values.iter().enumerate() {
            if y.is_nan() {
                preds.push(forecast.unwrap_or(f64::NAN));
                devs.push(0.0);
                level = None;
                trend = 0.0;
                forecast = None;
                continue;
            }
            let s_prev = if t >= m { season[t - m] } else { 0.0 };
            let d_prev = if t >= m { dev[t - m] } else { 0.0 };
            let l0 = level.unwrap_or(y);
            let predicted = if t == 0 { Some(y) } else { forecast };
            let l1 = a * (y - s_prev) + (1.0 - a) * (l0 + trend);
            let t1 = b * (l1 - l0) + (1.0 - b) * trend;
            season[t] = g * (y - l1) + (1.0 - g) * s_prev;
            dev[t] = g * (y - predicted.unwrap_or(0.0)).abs() + (1.0 - g) * d_prev;
            let s_next = if t + 1 >= m { season[t + 1 - m] } else { 0.0 };
            forecast = Some(l1 + t1 + s_next);
            preds.push(predicted.unwrap_or(f64::NAN));
            devs.push(dev[t]);
            level = Some(l1);
            trend = t1;
        }
        (preds, devs)
    }

    fn assert_close(got: &[f64], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: {got:?}");
        for (g, w) in got.iter().zip(want) {
            assert!((g.is_nan() && w.is_nan()) || (g - w).abs() <= 1e-9 * w.abs().max(1.0), "{what}: got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn analysis_by_hand_and_against_the_reference() {
        // Worked by hand for -1, 0, 1, 2 with a season of 2 (alpha = gamma = 0.1,
        // beta = 0.0035): the first prediction is the first value; after -1 the level is -1
        // and the forecast -1; after 0 the level is -0.9, trend 0.00035, season 0.09 and
        // the forecast -0.89965; after 1 the level is -0.709685, trend 0.0010148775 and the
        // forecast -0.709685 + 0.0010148775 + 0.09 = -0.6186701225. Deviations: 0, then
        // 0.1*|0-(-1)| = 0.1, then 0.1*|1-(-0.89965)| = 0.189965, then
        // 0.1*|2-(-0.6186701225)| + 0.9*0.1 = 0.35186701225.
        let hw = holt_winters(&[-1.0, 0.0, 1.0, 2.0], 2);
        assert_close(&hw.predictions, &[-1.0, -1.0, -0.89965, -0.6186701225], "predictions");
        assert_close(&hw.deviations, &[0.0, 0.1, 0.189965, 0.35186701225], "deviations");
        // Gaps, a leading gap and a longer season, against the reference.
        let values = [f64::NAN, 3.0, 5.0, f64::NAN, 4.0, 8.0, 1.0, 2.0, f64::NAN, f64::NAN, 6.0, 7.0, 3.0, 9.0];
        for m in [2, 3, 5] {
            let hw = holt_winters(&values, m);
            let (p, d) = reference(&values, m);
            assert_close(&hw.predictions, &p, "predictions");
            assert_close(&hw.deviations, &d, "deviations");
        }
        // A gap: the prediction made before it is kept, the point after it has none.
        let hw = holt_winters(&[2.0, f64::NAN, 4.0], 2);
        assert_eq!(hw.predictions[0], 2.0);
        assert!(hw.predictions[1] == 2.0 && hw.predictions[2].is_nan(), "{:?}", hw.predictions);
        assert_eq!(hw.deviations, vec![0.0, 0.0, 0.1 * 4.0]);
    }

    #[test]
    fn analysis_matches_graphite_web_published_bands() {
        // graphite-web's test_holtWintersConfidenceBands: 1008 bootstrap points (a week of
        // 600 s steps) plus 10, valued (i % 10), season 1d = 144 points, delta 3; the
        // expected band values are the ones that test asserts.
        let values: Vec<f64> = (0..1018).map(|i| (i % 10) as f64).collect();
        let hw = holt_winters(&values, 144);
        let band = |sign: f64| -> Vec<f64> { (1008..1018).map(|i| hw.predictions[i] + sign * 3.0 * hw.deviations[i]).collect() };
        let lower = [0.2841206166091448, 1.0581027098774411, 0.3338172102994683, 0.5116859493263242, -0.18199175514936972, 0.2366173792019426, -1.2941554508809152, -0.513426806531049, -0.7970905542723132, 0.09868900726536012];
        let upper = [8.424944558327624, 9.409422251880809, 10.607070189221787, 10.288439865038768, 9.491556863132963, 9.474595784593738, 8.572310478053845, 8.897670449095346, 8.941566968508148, 9.409728797779282];
        assert_close(&band(-1.0), &lower, "lower");
        assert_close(&band(1.0), &upper, "upper");
    }

    #[test]
    fn forecast_fetches_the_bootstrap_and_trims_it() {
        // a.b.c = k+1 at FROM + k*STEP: with a 20 s bootstrap the analysis runs over
        // -1, 0, 1, 2, 3, 4, 5 and the first two points are cut off.
        let f = FakeFetcher::standard();
        let out = block_on(render(&["holtWintersForecast(a.b.c,'20s','20s')".to_string()], &config(), &f)).unwrap();
        assert_eq!(f.requests()[0].from_ms, FROM - 2 * STEP);
        let s = &out[0];
        assert_eq!(s.name, "holtWintersForecast(a.b.c)");
        assert_eq!(s.path_expression, "holtWintersForecast(a.b.c)");
        assert_eq!(s.tags.get("holtWintersForecast").map(String::as_str), Some("1"));
        assert_eq!(s.tags.get("name").map(String::as_str), Some("a.b.c"));
        assert_eq!((s.start_ms, s.step_ms), (FROM, STEP));
        let (p, _) = reference(&[-1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0], 2);
        assert_close(&s.values, &p[2..], "forecast");
        assert_close(&s.values[..2], &[-0.89965, -0.6186701225], "by hand");
        // A bootstrap that is not a whole number of steps is rounded up to one.
        let f = FakeFetcher::standard();
        block_on(render(&["holtWintersForecast(a.b.c,'15s','20s')".to_string()], &config(), &f)).unwrap();
        assert_eq!(f.requests()[0].from_ms, FROM - 2 * STEP);
        // Seven days of 10 s points exceed the test's 1000-point limit.
        assert!(matches!(eval("holtWintersForecast(a.b.c)"), Err(Error::TooManyPoints { .. })));
        assert!(eval("holtWintersForecast(a.b.c,'-1d')").is_err());
        assert!(eval("holtWintersForecast(a.b.c,'x')").is_err());
        assert!(eval("holtWintersForecast(a.b.c,'20s',5)").is_err());
    }

    #[test]
    fn bands_area_and_aberration() {
        let values = [-1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        let (p, d) = reference(&values, 2);
        let lower: Vec<f64> = (2..7).map(|i| p[i] - 2.0 * d[i]).collect();
        let upper: Vec<f64> = (2..7).map(|i| p[i] + 2.0 * d[i]).collect();
        let out = eval("holtWintersConfidenceBands(a.b.c,2,'20s','20s')").unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].name, "holtWintersConfidenceLower(a.b.c)");
        assert_eq!(out[1].name, "holtWintersConfidenceUpper(a.b.c)");
        assert_eq!(out[0].path_expression, "a.b.c");
        assert_eq!(out[0].tags.get("holtWintersConfidenceLower").map(String::as_str), Some("1"));
        assert_eq!(out[1].tags.get("holtWintersConfidenceUpper").map(String::as_str), Some("1"));
        assert_close(&out[0].values, &lower, "lower");
        assert_close(&out[1].values, &upper, "upper");
        // First point by hand: forecast -0.89965, deviation 0.189965, delta 3.
        let out = eval("holtWintersConfidenceBands(a.b.c,bootstrapInterval='20s',seasonality='20s')").unwrap();
        assert_close(&out[0].values[..1], &[-0.89965 - 3.0 * 0.189965], "lower by hand");
        assert_close(&out[1].values[..1], &[-0.89965 + 3.0 * 0.189965], "upper by hand");

        let area = eval("holtWintersConfidenceArea(a.b.c,2,'20s','20s')").unwrap();
        let names: Vec<&str> = area.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["holtWintersConfidenceArea(a.b.c)"; 2]);
        assert_close(&area[0].values, &lower, "area lower");
        assert_close(&area[1].values, &upper, "area upper");
        assert_eq!(area[1].tags.get("holtWintersConfidenceArea").map(String::as_str), Some("1"));
        assert!(eval("holtWintersConfidenceArea(a.b.*,2,'20s','20s')").is_err());

        // a.b.c is 1..5 over the range: above the upper band by value - upper, or 0.
        let want: Vec<f64> = (0..5).map(|i| {
            let v = (i + 1) as f64;
            if v > upper[i] { v - upper[i] } else if v < lower[i] { v - lower[i] } else { 0.0 }
        }).collect();
        assert!(want.iter().any(|v| *v != 0.0), "{want:?}");
        let ab = eval("holtWintersAberration(a.b.c,2,'20s','20s')").unwrap();
        assert_eq!(ab[0].name, "holtWintersAberration(a.b.c)");
        assert_eq!(ab[0].tags.get("holtWintersAberration").map(String::as_str), Some("1"));
        assert_close(&ab[0].values, &want, "aberration");
        // By hand for the first point: 1 - (-0.89965 + 3 * 0.189965) = 1.329755.
        let ab = eval("holtWintersAberration(a.b.c,3,'20s','20s')").unwrap();
        assert_close(&ab[0].values[..1], &[1.329755], "aberration by hand");
        // Null points have no aberration.
        let ab = eval("holtWintersAberration(a.b.d,3,'20s','20s')").unwrap();
        assert_eq!(ab[0].values[2], 0.0);
    }

    #[test]
    fn linear_regressions() {
        // a.b.d = 10,20,-,40,50: the line through the four points is 10(i+1); graphite-web
        // counts only non-null points (n = 4), so the gap does not bend it.
        let s = eval("linearRegression(a.b.d)").unwrap();
        let (from_s, until_s) = (FROM / 1000, FROM / 1000 + 50);
        assert_eq!(s[0].name, format!("linearRegression(a.b.d, {from_s}, {until_s})"));
        assert_eq!(s[0].path_expression, s[0].name);
        assert_eq!(s[0].tags.get("linearRegressions"), Some(&format!("{from_s}, {until_s}")));
        // The offset is taken at t = 0 s, so 1.7e9 s cancel out: allow 1e-6.
        for (got, want) in s[0].values.iter().zip([10.0, 20.0, 30.0, 40.0, 50.0]) {
            assert!((got - want).abs() < 1e-6, "{:?}", s[0].values);
        }
        // Fitted over the 100 s before `from` (a.x.c = 5-k there too), drawn over the range.
        let target = format!("linearRegression(a.x.c,'{}','{}')", from_s - 100, from_s);
        let s = eval(&target).unwrap();
        assert_eq!(s[0].name, format!("linearRegression(a.x.c, {}, {from_s})", from_s - 100));
        for (got, want) in s[0].values.iter().zip([5.0, 4.0, 3.0, 2.0, 1.0]) {
            assert!((got - want).abs() < 1e-6, "{:?}", s[0].values);
        }
        let f = FakeFetcher::standard();
        block_on(render(&[target], &config(), &f)).unwrap();
        assert_eq!(f.requests()[1].from_ms, FROM - 100_000);
        // One point only: no line, the series is dropped.
        let mut ec = config();
        ec.until_ms = FROM + STEP;
        assert!(eval_with("linearRegression(a.b.c)", &ec).unwrap().is_empty());
        assert!(eval("linearRegression(a.b.c,'nonsense')").is_err());
        assert!(eval(&format!("linearRegression(a.b.c,'{}','{}')", from_s, from_s - 100)).is_err());
        check("linearRegression(removeAboveValue(a.b.c,0))", &[]);
    }
}
