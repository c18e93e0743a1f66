//! Aggregation functions over a bucket of values (NaN = missing), shared by
//! consolidation, summarize, moving windows and the series-combining functions.

use crate::Error;

/// A named aggregation (`sum`, `avg`, `median`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggr {
    Avg,
    AvgZero,
    Median,
    Sum,
    Min,
    Max,
    Diff,
    Pow,
    Stddev,
    Count,
    Range,
    Multiply,
    First,
    Last,
}

impl Aggr {
    /// Parses graphite's names for aggregations; a trailing `Series` is ignored.
    pub(crate) fn parse(name: &str) -> Result<Aggr, Error> {
        let base = name.strip_suffix("Series").unwrap_or(name);
        Ok(match base {
            "average" | "avg" => Aggr::Avg,
            "avg_zero" => Aggr::AvgZero,
            "median" => Aggr::Median,
            "sum" | "total" => Aggr::Sum,
            "min" => Aggr::Min,
            "max" => Aggr::Max,
            "diff" => Aggr::Diff,
            "pow" => Aggr::Pow,
            "stddev" => Aggr::Stddev,
            "count" => Aggr::Count,
            "range" | "rangeOf" => Aggr::Range,
            "multiply" => Aggr::Multiply,
            "first" => Aggr::First,
            "last" | "current" => Aggr::Last,
            _ => {
                return Err(Error::BadArg {
                    function: "aggregation".into(),
                    message: format!("unsupported aggregation function {name:?}"),
                })
            }
        })
    }

    /// Names accepted by [`Aggr::parse`], for the function catalog.
    pub(crate) const NAMES: &'static [&'static str] = &[
        "average", "avg", "avg_zero", "median", "sum", "total", "min", "max", "diff", "pow",
        "stddev", "count", "range", "rangeOf", "multiply", "first", "last", "current",
    ];

    /// Whether the order of inputs matters (`diff`, `pow`, `first`, `last`).
    pub(crate) fn is_ordered(self) -> bool {
        matches!(self, Aggr::Diff | Aggr::Pow | Aggr::First | Aggr::Last)
    }

    /// Aggregates the non-NaN values; NaN when there is none (`avg_zero` and `count` aside).
    pub(crate) fn apply(self, values: &[f64]) -> f64 {
        let mut present = values.iter().copied().filter(|v| !v.is_nan());
        let Some(first) = present.clone().next() else {
            return match self {
                Aggr::AvgZero if !values.is_empty() => 0.0,
                _ => f64::NAN,
            };
        };
        match self {
            Aggr::Avg => {
                let (sum, n) = present.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
                sum / n as f64
            }
            Aggr::AvgZero => present.sum::<f64>() / values.len() as f64,
            Aggr::Median => percentile(values, 50.0, true),
            Aggr::Sum => present.sum(),
            Aggr::Min => present.fold(first, f64::min),
            Aggr::Max => present.fold(first, f64::max),
            Aggr::Diff => first - present.skip(1).sum::<f64>(),
            Aggr::Pow => present.skip(1).fold(first, f64::powf),
            Aggr::Stddev => {
                let avg = Aggr::Avg.apply(values);
                let (sq, n) = present.fold((0.0, 0usize), |(s, n), v| (s + (v - avg) * (v - avg), n + 1));
                (sq / n as f64).sqrt()
            }
            Aggr::Count => present.count() as f64,
            Aggr::Range => Aggr::Max.apply(values) - Aggr::Min.apply(values),
            Aggr::Multiply => present.product(),
            Aggr::First => first,
            Aggr::Last => present.next_back().unwrap_or(first),
        }
    }

    /// Like [`Aggr::apply`], but NaN when fewer than `x_files_factor` of the values are present.
    pub(crate) fn apply_xff(self, x_files_factor: f64, values: &[f64]) -> f64 {
        let present = values.iter().filter(|v| !v.is_nan()).count() as f64;
        if present >= values.len() as f64 * x_files_factor {
            self.apply(values)
        } else {
            f64::NAN
        }
    }
}

/// Graphite's percentile of the non-NaN values: rank `n/100 * (len + 1)` in the sorted
/// values, rounded up unless `interpolate`, in which case the fractional rank is
/// interpolated towards the next value. NaN when there are no values.
pub(crate) fn percentile(values: &[f64], n: f64, interpolate: bool) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let fractional = n / 100.0 * (sorted.len() as f64 + 1.0);
    let mut rank = fractional.floor().max(0.0) as usize;
    let fraction = fractional - fractional.floor();
    if !interpolate && fraction > 0.0 {
        rank += 1;
    }
    let value = if rank == 0 {
        sorted[0]
    } else if rank > sorted.len() {
        sorted[sorted.len() - 1]
    } else {
        sorted[rank - 1]
    };
    if interpolate && rank > 0 && rank < sorted.len() {
        value + fraction * (sorted[rank] - value)
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: f64 = f64::NAN;

    #[test]
    fn aggregations() {
        let values = [3.0, N, 1.0, 4.0, N, 2.0];
        let cases = [
            ("avg", 2.5),
            ("average", 2.5),
            ("avg_zero", 10.0 / 6.0),
            ("median", 2.5),
            ("sum", 10.0),
            ("total", 10.0),
            ("min", 1.0),
            ("max", 4.0),
            ("diff", 3.0 - 7.0),
            ("stddev", 1.25f64.sqrt()),
            ("count", 4.0),
            ("range", 3.0),
            ("rangeOfSeries", 3.0),
            ("multiply", 24.0),
            ("first", 3.0),
            ("last", 2.0),
            ("current", 2.0),
            ("sumSeries", 10.0),
        ];
        for (name, want) in cases {
            let got = Aggr::parse(name).unwrap().apply(&values);
            assert!((got - want).abs() < 1e-12, "{name}: {got} != {want}");
        }
        assert_eq!(Aggr::Pow.apply(&[2.0, 3.0, 2.0]), 64.0);
        assert!(Aggr::Sum.apply(&[N, N]).is_nan());
        assert!(Aggr::Count.apply(&[]).is_nan());
        assert_eq!(Aggr::AvgZero.apply(&[N, N]), 0.0);
        assert!(Aggr::parse("bogus").is_err());
    }

    #[test]
    fn x_files_factor() {
        let values = [1.0, N, N, 3.0];
        assert_eq!(Aggr::Sum.apply_xff(0.5, &values), 4.0);
        assert!(Aggr::Sum.apply_xff(0.51, &values).is_nan());
        assert_eq!(Aggr::Sum.apply_xff(0.0, &values), 4.0);
    }

    #[test]
    fn percentiles() {
        let v = [15.0, 20.0, 35.0, 40.0, 50.0];
        assert_eq!(percentile(&v, 50.0, false), 35.0);
        assert_eq!(percentile(&v, 30.0, false), 20.0);
        assert_eq!(percentile(&v, 100.0, false), 50.0);
        assert_eq!(percentile(&v, 0.0, false), 15.0);
        assert!((percentile(&v, 40.0, true) - 26.0).abs() < 1e-9);
        assert!(percentile(&[N], 50.0, false).is_nan());
    }
}
