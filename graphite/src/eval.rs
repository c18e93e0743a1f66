//! Evaluation: the caller's [`Fetcher`], the request's [`EvalConfig`], recursive async
//! evaluation of targets and [`render`], which aligns the range, evaluates every target
//! and applies maxDataPoints consolidation.

use std::future::Future;
use std::pin::Pin;

use crate::args::Args;
use crate::parse::{Expr, MAX_DEPTH};
use crate::series::{grid_len, Series};
use crate::tag_expr::TagExpr;
use crate::{functions, parse_target, Error};

/// What to fetch: series whose name matches a glob, or a seriesByTag filter list.
#[derive(Debug, Clone, PartialEq)]
pub enum FetchSpec {
    /// A path glob like `a.*.{b,c}.d`.
    Path(String),
    /// seriesByTag filters, all of which must match.
    Tags(Vec<TagExpr>),
}

/// One fetch: the series selection and the inclusive ms range of raw samples wanted.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchRequest {
    pub spec: FetchSpec,
    pub from_ms: i64,
    pub until_ms: i64,
}

/// Raw samples of one stored series.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawSeries {
    /// Prometheus labels including `__name__`.
    pub labels: Vec<(String, String)>,
    /// Ascending.
    pub timestamps_ms: Vec<i64>,
    pub values: Vec<f64>,
}

/// Where series come from; implemented by the server over its storage.
pub trait Fetcher {
    fn fetch<'a>(
        &'a self,
        request: FetchRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<RawSeries>, Error>> + 'a>>;

    /// Whether the caller has given up on this evaluation (its deadline passed, its client
    /// went away): evaluation checks at every function call and inside long loops, and
    /// stops with [`Error::Cancelled`]. Never, unless the caller says so.
    fn cancelled(&self) -> bool {
        false
    }
}

/// The request's range and knobs. Functions evaluate their arguments with modified copies
/// (timeShift shifts the range, moving windows widen it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalConfig {
    pub from_ms: i64,
    pub until_ms: i64,
    pub now_ms: i64,
    /// Distance of the grid raw samples are normalized onto (VictoriaMetrics'
    /// `-search.graphiteStorageStep`, default 10 s).
    pub storage_step_ms: i64,
    /// The request's xFilesFactor (0 by default).
    pub x_files_factor: f64,
    pub max_data_points: Option<usize>,
    /// Ranges needing more points than this per series are refused.
    pub max_points_per_series: usize,
}

impl EvalConfig {
    /// Points of this range on a grid of `step_ms`.
    pub(crate) fn len(&self, step_ms: i64) -> usize {
        grid_len(self.from_ms, self.until_ms, step_ms)
    }

    /// Refuses a range with more points per series than allowed.
    pub(crate) fn check_points(&self, step_ms: i64) -> Result<(), Error> {
        if step_ms <= 0 {
            return Err(Error::bad_arg("render", format!("step must be positive; got {step_ms} ms")));
        }
        let points = (self.until_ms.saturating_sub(self.from_ms)) / step_ms;
        if points > self.max_points_per_series as i64 {
            return Err(Error::TooManyPoints { points, limit: self.max_points_per_series });
        }
        Ok(())
    }
}

pub(crate) type SeriesFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<Series>, Error>> + 'a>>;

/// Evaluates a series-list expression (a path or a function call).
pub(crate) fn eval_expr<'a>(fetcher: &'a dyn Fetcher, ec: EvalConfig, expr: &'a Expr, depth: usize) -> SeriesFuture<'a> {
    Box::pin(async move {
        if depth > MAX_DEPTH {
            return Err(Error::TooDeep(MAX_DEPTH));
        }
        if fetcher.cancelled() {
            return Err(Error::Cancelled);
        }
        match expr {
            Expr::Path(glob) => fetch_series(fetcher, &ec, FetchSpec::Path(glob.clone()), &expr.to_string()).await,
            Expr::Call(call) => functions::call(&Args::new(fetcher, ec, call, depth)).await,
            other => Err(Error::BadArg {
                function: "render".into(),
                message: format!("target {other} is not a series list"),
            }),
        }
    })
}

/// Fetches raw series and normalizes them onto the storage-step grid of `ec`.
pub(crate) async fn fetch_series(
    fetcher: &dyn Fetcher,
    ec: &EvalConfig,
    spec: FetchSpec,
    path_expression: &str,
) -> Result<Vec<Series>, Error> {
    ec.check_points(ec.storage_step_ms)?;
    let request = FetchRequest { spec, from_ms: ec.from_ms, until_ms: ec.until_ms };
    let raws = fetcher.fetch(request).await?;
    Ok(raws
        .iter()
        .map(|r| Series::from_raw(r, path_expression, ec.from_ms, ec.until_ms, ec.storage_step_ms))
        .collect())
}

/// Rounds `t` up to a multiple of `step` (> 0), saturating at the ends of i64.
pub(crate) fn align_up(t: i64, step: i64) -> i64 {
    let rem = t.rem_euclid(step);
    if rem == 0 {
        t
    } else {
        t.saturating_sub(rem).saturating_add(step)
    }
}

/// Evaluates all targets and returns their series in order. `from`/`until` are first
/// rounded up to multiples of the storage step; with maxDataPoints, series with more
/// points are re-bucketed onto `(until - from) / maxDataPoints` steps using their
/// consolidation function (avg unless consolidateBy said otherwise).
pub async fn render(targets: &[String], config: &EvalConfig, fetcher: &dyn Fetcher) -> Result<Vec<Series>, Error> {
    let mut ec = *config;
    if ec.storage_step_ms <= 0 {
        return Err(Error::bad_arg("render", format!("storage step must be positive; got {} ms", ec.storage_step_ms)));
    }
    ec.from_ms = align_up(ec.from_ms, ec.storage_step_ms);
    ec.until_ms = align_up(ec.until_ms, ec.storage_step_ms);
    if ec.until_ms < ec.from_ms {
        return Err(Error::Range { from_ms: config.from_ms, until_ms: config.until_ms });
    }
    ec.check_points(ec.storage_step_ms)?;
    let mut out = Vec::new();
    for target in targets {
        let expr = parse_target(target)?;
        let mut series = eval_expr(fetcher, ec, &expr, 0).await?;
        if let Some(max_points) = ec.max_data_points.filter(|&n| n > 0) {
            let step = (ec.until_ms - ec.from_ms) / max_points as i64;
            for s in series.iter_mut().filter(|s| s.values.len() > max_points && step > 0) {
                let aggr = s.consolidation.unwrap_or(crate::aggr::Aggr::Avg);
                let xff = if s.x_files_factor > 0.0 { s.x_files_factor } else { ec.x_files_factor };
                s.resample(aggr, ec.from_ms, ec.until_ms, step, xff);
            }
        }
        out.extend(series);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{block_on, config, FakeFetcher};

    #[test]
    fn render_aligns_range_and_fetches() {
        let f = FakeFetcher::standard();
        let mut ec = config();
        ec.from_ms += 3_000;
        ec.until_ms -= 7_000;
        let out = block_on(render(&["a.b.c".to_string()], &ec, &f)).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].start_ms, config().from_ms + 10_000);
        assert_eq!(out[0].values, vec![2.0, 3.0, 4.0, 5.0]);
        let req = f.requests();
        assert_eq!(req[0].from_ms, config().from_ms + 10_000);
        assert_eq!(req[0].until_ms, config().until_ms);
        assert_eq!(req[0].spec, FetchSpec::Path("a.b.c".into()));
    }

    #[test]
    fn max_data_points_consolidates_with_average() {
        let f = FakeFetcher::standard();
        let mut ec = config();
        ec.max_data_points = Some(2);
        let out = block_on(render(&["a.b.c".to_string(), "consolidateBy(a.b.c,'max')".into()], &ec, &f)).unwrap();
        assert_eq!(out[0].values, vec![2.0, 4.5]);
        assert_eq!(out[0].step_ms, 25_000);
        assert_eq!(out[1].values, vec![3.0, 5.0]);
        ec.max_data_points = Some(5);
        let out = block_on(render(&["a.b.c".to_string()], &ec, &f)).unwrap();
        assert_eq!(out[0].values.len(), 5);
        assert_eq!(out[0].step_ms, 10_000);
    }

    #[test]
    fn limits_and_errors() {
        let f = FakeFetcher::standard();
        let mut ec = config();
        ec.max_points_per_series = 4;
        let err = block_on(render(&["a.b.c".to_string()], &ec, &f)).unwrap_err();
        assert_eq!(err, Error::TooManyPoints { points: 5, limit: 4 });
        let mut ec = config();
        ec.until_ms = ec.from_ms - 20_000;
        assert!(matches!(block_on(render(&["a".to_string()], &ec, &f)), Err(Error::Range { .. })));
        let ec = config();
        let err = block_on(render(&["nosuch(a.b)".to_string()], &ec, &f)).unwrap_err();
        assert_eq!(err.to_string(), "unknown function \"nosuch\"");
        let err = block_on(render(&["42".to_string()], &ec, &f)).unwrap_err();
        assert!(err.to_string().contains("not a series list"), "{err}");
        let err = block_on(render(&["sumSeries(a.b.c".to_string()], &ec, &f)).unwrap_err();
        assert!(matches!(err, Error::Parse { .. }));
        let mut ec = config();
        (ec.from_ms, ec.until_ms) = (i64::MIN, i64::MAX);
        let err = block_on(render(&["a.b.c".to_string()], &ec, &f)).unwrap_err();
        assert!(matches!(err, Error::TooManyPoints { .. }), "{err}");
        ec.storage_step_ms = 0;
        let err = block_on(render(&["a.b.c".to_string()], &ec, &f)).unwrap_err();
        assert!(err.to_string().contains("storage step must be positive"), "{err}");
    }

    /// The standard fetcher, which says it is cancelled from its `after`-th check on.
    struct CancelledAfter {
        inner: FakeFetcher,
        checks: std::cell::Cell<usize>,
        after: usize,
    }

    impl Fetcher for CancelledAfter {
        fn fetch<'a>(&'a self, request: FetchRequest) -> Pin<Box<dyn Future<Output = Result<Vec<RawSeries>, Error>> + 'a>> {
            self.inner.fetch(request)
        }

        fn cancelled(&self) -> bool {
            self.checks.set(self.checks.get() + 1);
            self.checks.get() >= self.after
        }
    }

    fn cancelled_after(after: usize) -> CancelledAfter {
        CancelledAfter { inner: FakeFetcher::standard(), checks: std::cell::Cell::new(0), after }
    }

    #[test]
    fn cancellation_stops_evaluation_at_calls_and_inside_long_windows() {
        let target = ["movingMedian(scale(a.b.c,2),50)".to_string()];
        // Far more points than one check covers: 40,000 points of 10 s.
        let mut ec = config();
        ec.until_ms = ec.from_ms + 40_000 * ec.storage_step_ms;
        ec.max_points_per_series = 100_000;
        let never = cancelled_after(usize::MAX);
        assert!(block_on(render(&target, &ec, &never)).is_ok());
        // Three expressions (two calls and the path), then one check per 64 window points.
        assert_eq!(never.checks.get(), 3 + 40_000usize.div_ceil(64), "checks made");
        // Given up on before the first call, at the path, and inside the window loop.
        for after in [1, 3, 10, 500] {
            let fetcher = cancelled_after(after);
            assert_eq!(block_on(render(&target, &ec, &fetcher)).unwrap_err(), Error::Cancelled, "cancelled at check {after}");
            assert_eq!(fetcher.checks.get(), after, "evaluation went on after check {after}");
        }
        // Holt-Winters checks once per series.
        let forecast = ["holtWintersForecast(a.*.*)".to_string()];
        let mut ec = config();
        ec.max_points_per_series = 100_000;
        assert_eq!(block_on(render(&forecast, &ec, &cancelled_after(usize::MAX))).map(|s| s.len()), Ok(3));
        let fetcher = cancelled_after(4);
        assert_eq!(block_on(render(&forecast, &ec, &fetcher)).unwrap_err(), Error::Cancelled);
        assert_eq!(fetcher.checks.get(), 4, "the call, the path, the first two series");
    }
}
