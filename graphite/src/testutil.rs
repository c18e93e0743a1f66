//! Test helpers: a synchronous executor, a fake [`Fetcher`] over fixed raw series and
//! shortcuts to evaluate a target against it.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use regex::Regex;

use crate::tag_expr::TagOp;
use crate::{render, EvalConfig, Error, FetchRequest, FetchSpec, Fetcher, RawSeries, Series};

/// Start of the standard test range (a multiple of the 10 s step).
pub const FROM: i64 = 1_700_000_000_000;
pub const STEP: i64 = 10_000;

/// Polls a future that never waits (the fake fetcher answers at once) to completion.
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = Box::pin(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// The standard range: 5 points of 10 s from [`FROM`].
pub fn config() -> EvalConfig {
    EvalConfig {
        from_ms: FROM,
        until_ms: FROM + 5 * STEP,
        now_ms: FROM + 5 * STEP,
        storage_step_ms: STEP,
        x_files_factor: 0.0,
        max_data_points: None,
        max_points_per_series: 1000,
    }
}

pub struct FakeFetcher {
    series: Vec<RawSeries>,
    requests: RefCell<Vec<FetchRequest>>,
}

/// A raw series with point k at FROM + k*STEP (NaN points left out).
pub fn raw(labels: &[(&str, &str)], points: impl IntoIterator<Item = (i64, f64)>) -> RawSeries {
    let (timestamps_ms, values) = points.into_iter().filter(|p| !p.1.is_nan()).map(|(k, v)| (FROM + k * STEP, v)).unzip();
    RawSeries { labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), timestamps_ms, values }
}

impl FakeFetcher {
    /// A fetcher over the given series only.
    pub fn new(series: Vec<RawSeries>) -> FakeFetcher {
        FakeFetcher { series, requests: RefCell::new(Vec::new()) }
    }

    /// a.b.c = k+1, a.b.d = 10(k+1) with k=2 missing, a.x.c = 5-k (for k in -10..10, point k
    /// at FROM + k*STEP); cpu{host=h1,dc=eu} = 1,1,2,3,5; cpu{host=h2,dc=us} = 2 x5;
    /// req.count = 100,110,130,5,25 (k in 0..5).
    pub fn standard() -> FakeFetcher {
        let nan = f64::NAN;
        let series = vec![
            raw(&[("__name__", "a.b.c")], (-10..10).map(|k| (k, (k + 1) as f64))),
            raw(&[("__name__", "a.b.d")], (-10..10).map(|k| (k, if k == 2 { nan } else { 10.0 * (k + 1) as f64 }))),
            raw(&[("__name__", "a.x.c")], (-10..10).map(|k| (k, (5 - k) as f64))),
            raw(&[("__name__", "cpu"), ("host", "h1"), ("dc", "eu")], [1.0, 1.0, 2.0, 3.0, 5.0].into_iter().enumerate().map(|(k, v)| (k as i64, v))),
            raw(&[("__name__", "cpu"), ("host", "h2"), ("dc", "us")], (0..5).map(|k| (k, 2.0))),
            raw(&[("__name__", "req.count")], [100.0, 110.0, 130.0, 5.0, 25.0].into_iter().enumerate().map(|(k, v)| (k as i64, v))),
        ];
        FakeFetcher { series, requests: RefCell::new(Vec::new()) }
    }

    pub fn requests(&self) -> Vec<FetchRequest> {
        self.requests.borrow().clone()
    }

    fn matches(&self, spec: &FetchSpec, labels: &[(String, String)]) -> Result<bool, Error> {
        let get = |k: &str| {
            let k = if k == "name" { "__name__" } else { k };
            labels.iter().find(|l| l.0 == k).map(|l| l.1.as_str()).unwrap_or("")
        };
        match spec {
            FetchSpec::Path(glob) => Ok(glob_regex(glob)?.is_match(get("__name__"))),
            FetchSpec::Tags(exprs) => {
                for e in exprs {
                    let v = get(&e.name);
                    let ok = match e.op {
                        TagOp::Equal => v == e.value,
                        TagOp::NotEqual => v != e.value,
                        TagOp::Match | TagOp::NotMatch => {
                            let re = Regex::new(&format!("^(?:{})", e.value)).map_err(|e| Error::Fetch(e.to_string()))?;
                            re.is_match(v) == (e.op == TagOp::Match)
                        }
                    };
                    if !ok {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
        }
    }
}

fn glob_regex(glob: &str) -> Result<Regex, Error> {
    let mut re = String::from("^");
    let mut in_braces = false;
    for c in glob.chars() {
        match c {
            '*' => re.push_str("[^.]*"),
            '{' => {
                in_braces = true;
                re.push_str("(?:")
            }
            '}' => {
                in_braces = false;
                re.push(')')
            }
            ',' if in_braces => re.push('|'),
            '[' | ']' => re.push(c),
            _ => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    Regex::new(&re).map_err(|e| Error::Fetch(e.to_string()))
}

impl Fetcher for FakeFetcher {
    fn fetch<'a>(&'a self, request: FetchRequest) -> Pin<Box<dyn Future<Output = Result<Vec<RawSeries>, Error>> + 'a>> {
        Box::pin(async move {
            self.requests.borrow_mut().push(request.clone());
            let mut out = Vec::new();
            for s in &self.series {
                if !self.matches(&request.spec, &s.labels)? {
                    continue;
                }
                let mut r = RawSeries { labels: s.labels.clone(), ..Default::default() };
                for (t, v) in s.timestamps_ms.iter().zip(&s.values) {
                    if *t >= request.from_ms && *t <= request.until_ms {
                        r.timestamps_ms.push(*t);
                        r.values.push(*v);
                    }
                }
                out.push(r);
            }
            Ok(out)
        })
    }
}

/// Renders one target over the standard data and range.
pub fn eval(target: &str) -> Result<Vec<Series>, Error> {
    eval_with(target, &config())
}

/// The names of the series `target` evaluates to over the standard series; panics (naming
/// the target) on an error.
pub fn names(target: &str) -> Vec<String> {
    match eval(target) {
        Ok(s) => s.into_iter().map(|s| s.name).collect(),
        Err(e) => panic!("{target}: {e}"),
    }
}

pub fn eval_with(target: &str, ec: &EvalConfig) -> Result<Vec<Series>, Error> {
    block_on(render(&[target.to_string()], ec, &FakeFetcher::standard()))
}

/// `(name, values)` of each series, NaN written as `None`.
pub fn summary(series: &[Series]) -> Vec<(String, Vec<Option<f64>>)> {
    series
        .iter()
        .map(|s| (s.name.clone(), s.values.iter().map(|v| if v.is_nan() { None } else { Some(*v) }).collect()))
        .collect()
}

/// Asserts the names and values (NaN = None) that a target renders to.
#[track_caller]
pub fn check(target: &str, want: &[(&str, &[Option<f64>])]) {
    let got = match eval(target) {
        Ok(s) => summary(&s),
        Err(e) => panic!("{target}: {e}"),
    };
    let want: Vec<(String, Vec<Option<f64>>)> = want.iter().map(|(n, v)| (n.to_string(), v.to_vec())).collect();
    assert_eq!(got.len(), want.len(), "{target}: {got:?}");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.0, w.0, "{target}");
        assert_eq!(g.1.len(), w.1.len(), "{target} {}: {:?}", g.0, g.1);
        for (a, b) in g.1.iter().zip(&w.1) {
            let same = match (a, b) {
                (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                (None, None) => true,
                _ => false,
            };
            assert!(same, "{target} {}: got {:?}, want {:?}", g.0, g.1, w.1);
        }
    }
}

/// "No value" in the expected points of `check`.
pub const N: Option<f64> = None;

/// Expected points from floats, NaN standing for no value.
pub fn points(v: &[f64]) -> Vec<Option<f64>> {
    v.iter().map(|x| if x.is_nan() { None } else { Some(*x) }).collect()
}
