//! Functions that merge series point by point: sumSeries and friends, aggregate,
//! percentileOfSeries, divideSeries, the *SeriesLists pairs, aggregateSeriesLists,
//! weightedAverage and asPercent.

use std::collections::BTreeMap;

use super::{align, combine, joined_paths, name_from_nodes};
use crate::aggr::{percentile, Aggr};
use crate::args::Args;
use crate::parse::{fmt_num, Expr};
use crate::{Error, Series};

fn divide(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        f64::NAN
    } else {
        a / b
    }
}

/// Merges every positional series-list argument with `aggr` into `<func>Series(paths)`.
pub(super) async fn aggregate_named(a: &Args<'_>, aggr: Aggr, func: &str) -> Result<Vec<Series>, Error> {
    let mut series = a.all_series(0).await?;
    Ok(merge(&mut series, a, aggr, func, a.ec.x_files_factor).into_iter().collect())
}

/// A flat line at the number of series given (graphite-web's countSeries).
pub(super) async fn count_series(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let mut series = a.all_series(0).await?;
    let n = series.len() as f64;
    Ok(merge(&mut series, a, Aggr::Count, "count", 0.0)
        .map(|mut s| {
            s.values.iter_mut().for_each(|v| *v = n);
            s
        })
        .into_iter()
        .collect())
}

fn merge(series: &mut [Series], a: &Args<'_>, aggr: Aggr, func: &str, xff: f64) -> Option<Series> {
    align(series, &a.ec);
    let name = format!("{func}Series({})", joined_paths(series, !aggr.is_ordered()));
    combine(series, aggr, xff, name, func)
}

pub(super) async fn aggregate(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(3)?;
    let func = a.string(1, "func")?;
    let aggr = Aggr::parse(func).map_err(|_| a.err(format!("unsupported aggregation function {func:?}")))?;
    let xff = a.opt_number(2, "xFilesFactor")?.unwrap_or(a.ec.x_files_factor);
    let func = func.strip_suffix("Series").unwrap_or(func);
    let mut series = a.series(0, "seriesList").await?;
    Ok(merge(&mut series, a, aggr, func, xff).into_iter().collect())
}

pub(super) async fn percentile_of_series(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(3)?;
    let n = a.percentile(1, "n")?;
    let interpolate = a.opt_bool(2, "interpolate", false)?;
    let mut series = a.series(0, "seriesList").await?;
    align(&mut series, &a.ec);
    let Some(first) = series.first() else { return Ok(vec![]) };
    let len = series.iter().map(|s| s.values.len()).min().unwrap_or(0);
    let values = (0..len)
        .map(|i| {
            let column: Vec<f64> = series.iter().map(|s| s.values[i]).collect();
            percentile(&column, n, interpolate)
        })
        .collect();
    let name = format!("percentileOfSeries({},{})", first.path_expression, fmt_num(n));
    Ok(vec![Series::new(name.clone(), BTreeMap::new(), name, first.start_ms, first.step_ms, values)])
}

pub(super) async fn divide_series(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(2)?;
    let divisors = a.series(1, "divisorSeries").await?;
    if divisors.len() > 1 {
        return Err(a.err(format!("divisorSeries must be a single series; got {}", divisors.len())));
    }
    let mut series = a.series(0, "dividendSeriesList").await?;
    let Some(divisor) = divisors.into_iter().next() else {
        for s in &mut series {
            s.values.iter_mut().for_each(|v| *v = f64::NAN);
            s.rename(format!("divideSeries({},MISSING)", s.name));
        }
        return Ok(series);
    };
    let divisor_name = divisor.name.clone();
    series.push(divisor);
    align(&mut series, &a.ec);
    let divisor = series.pop().map(|s| s.values).unwrap_or_default();
    for s in &mut series {
        for (v, d) in s.values.iter_mut().zip(divisor.iter().chain(std::iter::repeat(&f64::NAN))) {
            *v = divide(*v, *d);
        }
        s.rename(format!("divideSeries({},{divisor_name})", s.name));
    }
    Ok(series)
}

/// divideSeriesLists and sum/diff/multiplySeriesLists: the i-th series of the first list
/// with the i-th of the second.
pub(super) async fn series_lists(a: &Args<'_>, func: &str) -> Result<Vec<Series>, Error> {
    a.max(2)?;
    let (first_name, second_name) = if func == "divide" {
        ("dividendSeriesList", "divisorSeriesList")
    } else {
        ("seriesListFirstPos", "seriesListSecondPos")
    };
    let (mut first, second) = paired_lists(a, first_name, second_name).await?;
    for (s, t) in first.iter_mut().zip(&second) {
        for (v, w) in s.values.iter_mut().zip(&t.values) {
            *v = match func {
                "divide" => divide(*v, *w),
                "diff" => Aggr::Diff.apply(&[*v, *w]),
                "multiply" => Aggr::Multiply.apply(&[*v, *w]),
                _ => Aggr::Sum.apply(&[*v, *w]),
            };
        }
        s.rename(format!("{func}Series({},{})", s.name, t.name));
    }
    Ok(first)
}

/// The first two arguments, lists of equally many series, on one grid: the i-th series
/// of one is paired with the i-th of the other.
async fn paired_lists(a: &Args<'_>, first_name: &str, second_name: &str) -> Result<(Vec<Series>, Vec<Series>), Error> {
    let mut first = a.series(0, first_name).await?;
    let second = a.series(1, second_name).await?;
    if first.len() != second.len() {
        return Err(a.err(format!("both lists must have the same number of series; got {} and {}", first.len(), second.len())));
    }
    let n = first.len();
    first.extend(second);
    align(&mut first, &a.ec);
    let second = first.split_off(n);
    Ok((first, second))
}

/// aggregateSeriesLists(first, second, func, xFilesFactor=None): `func` over the i-th
/// series of both lists, named `funcSeries(first,second)`.
pub(super) async fn aggregate_series_lists(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    a.max(4)?;
    let func = a.string(2, "func")?;
    let aggr = Aggr::parse(func).map_err(|_| a.err(format!("unsupported aggregation function {func:?}")))?;
    let func = func.strip_suffix("Series").unwrap_or(func);
    let xff = a.opt_number(3, "xFilesFactor")?.unwrap_or(a.ec.x_files_factor);
    let (first, second) = paired_lists(a, "seriesListFirstPos", "seriesListSecondPos").await?;
    let mut out = Vec::with_capacity(first.len());
    for (f, s) in first.into_iter().zip(second) {
        let pair = [f, s];
        let path = format!("{func}Series({})", joined_paths(&pair, false));
        if let Some(mut merged) = combine(&pair, aggr, xff, path.clone(), func) {
            merged.name = format!("{func}Series({},{})", pair[0].name, pair[1].name);
            merged.path_expression = path;
            out.push(merged);
        }
    }
    Ok(out)
}

/// weightedAverage(seriesListAvg, seriesListWeight, *nodes): the sum of avg*weight over the
/// pairs that share a node key, divided by the sum of all weights.
pub(super) async fn weighted_average(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let nodes = a.nodes(2)?;
    let mut series = a.series(0, "seriesListAvg").await?;
    let weights = a.series(1, "seriesListWeight").await?;
    if series.len() != weights.len() {
        return Err(a.err(format!(
            "seriesListAvg and seriesListWeight must have the same number of series; got {} and {}",
            series.len(),
            weights.len()
        )));
    }
    let n = series.len();
    series.extend(weights);
    align(&mut series, &a.ec);
    let weights = series.split_off(n);
    // Key -> (avg, weight), the last series of each key winning, keys in first-seen order.
    type Pair = (String, Option<usize>, Option<usize>);
    fn slot(pairs: &mut Vec<Pair>, key: String) -> &mut Pair {
        let i = pairs.iter().position(|p| p.0 == key).unwrap_or_else(|| {
            pairs.push((key, None, None));
            pairs.len() - 1
        });
        &mut pairs[i]
    }
    let mut pairs: Vec<Pair> = Vec::new();
    for (i, (avg, weight)) in series.iter().zip(&weights).enumerate() {
        slot(&mut pairs, name_from_nodes(avg, &nodes)).1 = Some(i);
        slot(&mut pairs, name_from_nodes(weight, &nodes)).2 = Some(i);
    }
    let products: Vec<Series> = pairs
        .iter()
        .filter_map(|p| Some((p.1?, p.2?)))
        .map(|(avg, weight)| {
            let values = series[avg].values.iter().zip(&weights[weight].values).map(|(v, w)| v * w).collect();
            series[avg].with_values(values)
        })
        .collect();
    let xff = a.ec.x_files_factor;
    let (Some(sum_products), Some(sum_weights)) =
        (combine(&products, Aggr::Sum, xff, String::new(), "sum"), combine(&weights, Aggr::Sum, xff, String::new(), "sum"))
    else {
        return Ok(vec![]);
    };
    let values = sum_products.values.iter().zip(&sum_weights.values).map(|(p, w)| divide(*p, *w)).collect();
    let paths = |list: &[Series]| {
        let mut p: Vec<&str> = list.iter().map(|s| s.path_expression.as_str()).collect();
        p.sort_unstable();
        p.dedup();
        p.join(",")
    };
    let node_text: Vec<String> = nodes
        .iter()
        .map(|n| match n {
            crate::args::Node::Index(i) => i.to_string(),
            crate::args::Node::Tag(t) => t.clone(),
        })
        .collect();
    let name = format!("weightedAverage({}, {}, {})", paths(&series), paths(&weights), node_text.join(","));
    Ok(vec![Series::new(name.clone(), BTreeMap::new(), name, sum_products.start_ms, sum_products.step_ms, values)])
}

fn percent_of(s: &mut Series, total: &[f64], total_name: &str) {
    for (v, t) in s.values.iter_mut().zip(total.iter().chain(std::iter::repeat(&f64::NAN))) {
        *v = divide(*v, *t) * 100.0;
    }
    let name = format!("asPercent({},{total_name})", s.name);
    s.tags.insert("name".into(), name.clone());
    s.rename(name);
}

/// The per-point sum of `group` and its name (the only path, or `sumSeries(paths)`).
fn total_of(group: &[Series], xff: f64) -> (Vec<f64>, String) {
    let name = if group.len() == 1 { group[0].path_expression.clone() } else { format!("sumSeries({})", joined_paths(group, true)) };
    let values = combine(group, Aggr::Sum, xff, String::new(), "sum").map(|s| s.values).unwrap_or_default();
    (values, name)
}

fn group_by(series: Vec<Series>, nodes: &[crate::args::Node]) -> BTreeMap<String, Vec<Series>> {
    let mut groups: BTreeMap<String, Vec<Series>> = BTreeMap::new();
    for s in series {
        groups.entry(name_from_nodes(&s, nodes)).or_default().push(s);
    }
    groups
}

pub(super) async fn as_percent(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let nodes = a.nodes(2)?;
    let xff = a.ec.x_files_factor;
    let mut series = a.series(0, "seriesList").await?;
    match a.get(1, "total") {
        None | Some(Expr::None) => {
            align(&mut series, &a.ec);
            if nodes.is_empty() {
                let (total, name) = total_of(&series, xff);
                series.iter_mut().for_each(|s| percent_of(s, &total, &name));
                return Ok(series);
            }
            let mut out = Vec::new();
            for (_, mut group) in group_by(series, &nodes) {
                let (total, name) = total_of(&group, xff);
                group.iter_mut().for_each(|s| percent_of(s, &total, &name));
                out.extend(group);
            }
            Ok(out)
        }
        Some(Expr::Number(total)) => {
            if !nodes.is_empty() {
                return Err(a.err("nodes cannot be combined with a numeric total"));
            }
            let name = fmt_num(*total);
            for s in &mut series {
                let totals = vec![*total; s.values.len()];
                percent_of(s, &totals, &name);
            }
            Ok(series)
        }
        Some(Expr::Path(_) | Expr::Call(_)) => {
            let totals = a.series(1, "total").await?;
            let n = series.len();
            series.extend(totals);
            align(&mut series, &a.ec);
            let totals = series.split_off(n);
            if nodes.is_empty() {
                if totals.len() == 1 {
                    let t = &totals[0];
                    series.iter_mut().for_each(|s| percent_of(s, &t.values, &t.name));
                } else if totals.len() == series.len() {
                    series.iter_mut().zip(&totals).for_each(|(s, t)| percent_of(s, &t.values, &t.name));
                } else if !totals.is_empty() {
                    return Err(a.err(format!("total must be one series or as many as seriesList ({}); got {}", n, totals.len())));
                } else {
                    return Ok(vec![]);
                }
                return Ok(series);
            }
            let mut groups = group_by(series, &nodes);
            let total_groups = group_by(totals, &nodes);
            let mut out = Vec::new();
            for (key, total_group) in &total_groups {
                let (total, name) = total_of(total_group, xff);
                match groups.remove(key) {
                    Some(mut group) => {
                        group.iter_mut().for_each(|s| percent_of(s, &total, &name));
                        out.extend(group);
                    }
                    None => {
                        let t = &total_group[0];
                        let mut s = t.with_values(vec![f64::NAN; t.values.len()]);
                        s.name = "MISSING".into();
                        percent_of(&mut s, &total, &name);
                        out.push(s);
                    }
                }
            }
            for (_, mut group) in groups {
                for s in &mut group {
                    percent_of(s, &[], "MISSING");
                }
                out.extend(group);
            }
            Ok(out)
        }
        Some(_) => Err(a.type_err(1, "total", "number or seriesList")),
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{check, eval, points as s, N};


    #[test]
    fn point_by_point_aggregations() {
        // a.b.c = 1..5, a.b.d = 10,20,-,40,50, a.x.c = 5..1
        let n = f64::NAN;
        let table: &[(&str, &str, Vec<Option<f64>>)] = &[
            ("sumSeries(a.b.*)", "sumSeries(a.b.*)", s(&[11.0, 22.0, 3.0, 44.0, 55.0])),
            ("sum(a.x.c,a.b.c)", "sumSeries(a.b.c,a.x.c)", s(&[6.0; 5])),
            ("averageSeries(a.b.*)", "averageSeries(a.b.*)", s(&[5.5, 11.0, 3.0, 22.0, 27.5])),
            ("avg(a.b.c,a.x.c)", "averageSeries(a.b.c,a.x.c)", s(&[3.0; 5])),
            ("maxSeries(a.*.c)", "maxSeries(a.*.c)", s(&[5.0, 4.0, 3.0, 4.0, 5.0])),
            ("minSeries(a.*.c)", "minSeries(a.*.c)", s(&[1.0, 2.0, 3.0, 2.0, 1.0])),
            ("diffSeries(a.b.d,a.b.c)", "diffSeries(a.b.d,a.b.c)", s(&[9.0, 18.0, 3.0, 36.0, 45.0])),
            ("multiplySeries(a.b.c,a.x.c)", "multiplySeries(a.b.c,a.x.c)", s(&[5.0, 8.0, 9.0, 8.0, 5.0])),
            ("stddevSeries(a.b.c,a.x.c)", "stddevSeries(a.b.c,a.x.c)", s(&[2.0, 1.0, 0.0, 1.0, 2.0])),
            ("rangeOfSeries(a.b.c,a.x.c)", "rangeOfSeries(a.b.c,a.x.c)", s(&[4.0, 2.0, 0.0, 2.0, 4.0])),
            ("countSeries(a.*.*)", "countSeries(a.*.*)", s(&[3.0; 5])),
            ("aggregate(a.b.*,'sum')", "sumSeries(a.b.*)", s(&[11.0, 22.0, 3.0, 44.0, 55.0])),
            ("aggregate(a.b.*,'avg_zero')", "avg_zeroSeries(a.b.*)", s(&[5.5, 11.0, 1.5, 22.0, 27.5])),
            ("aggregate(a.b.*,'maxSeries')", "maxSeries(a.b.*)", s(&[10.0, 20.0, 3.0, 40.0, 50.0])),
            ("aggregate(a.b.*,'sum',1)", "sumSeries(a.b.*)", s(&[11.0, 22.0, n, 44.0, 55.0])),
            ("percentileOfSeries(a.*.*,50)", "percentileOfSeries(a.*.*,50)", s(&[5.0, 4.0, 3.0, 4.0, 5.0])),
            ("divideSeries(a.b.d,a.b.c)", "divideSeries(a.b.d,a.b.c)", s(&[10.0, 10.0, n, 10.0, 10.0])),
            ("divideSeries(a.b.c,offset(a.b.c,-1))", "divideSeries(a.b.c,offset(a.b.c,-1))", s(&[n, 2.0, 1.5, 4.0 / 3.0, 1.25])),
            ("divideSeries(a.b.c,no.such)", "divideSeries(a.b.c,MISSING)", s(&[n; 5])),
            ("asPercent(a.b.c,10)", "asPercent(a.b.c,10)", s(&[10.0, 20.0, 30.0, 40.0, 50.0])),
        ];
        for (target, name, want) in table {
            check(target, &[(name, want)]);
        }
        assert!(eval("sumSeries(no.such)").unwrap().is_empty());
        assert!(eval("divideSeries(a.b.c,a.*.c)").is_err());
        let s = eval("sumSeries(seriesByTag('name=cpu'))").unwrap();
        assert_eq!(s[0].tags.get("name").map(String::as_str), Some("cpu"));
        assert_eq!(s[0].tags.get("aggregatedBy").map(String::as_str), Some("sum"));
        assert!(!s[0].tags.contains_key("host"));
    }

    #[test]
    fn pairwise_lists() {
        check(
            "divideSeriesLists(a.b.*,a.*.c)",
            &[("divideSeries(a.b.c,a.b.c)", &s(&[1.0; 5])), ("divideSeries(a.b.d,a.x.c)", &s(&[2.0, 5.0, f64::NAN, 20.0, 50.0]))],
        );
        check(
            "sumSeriesLists(a.b.*,a.*.c)",
            &[("sumSeries(a.b.c,a.b.c)", &s(&[2.0, 4.0, 6.0, 8.0, 10.0])), ("sumSeries(a.b.d,a.x.c)", &s(&[15.0, 24.0, 3.0, 42.0, 51.0]))],
        );
        assert!(eval("divideSeriesLists(a.b.*,a.b.c)").is_err());
    }

    #[test]
    fn aggregate_series_lists() {
        check(
            "aggregateSeriesLists(a.b.*,a.*.c,'max')",
            &[("maxSeries(a.b.c,a.b.c)", &s(&[1.0, 2.0, 3.0, 4.0, 5.0])), ("maxSeries(a.b.d,a.x.c)", &s(&[10.0, 20.0, 3.0, 40.0, 50.0]))],
        );
        // xFilesFactor 1: the point where a.b.d is null has no value.
        check(
            "aggregateSeriesLists(a.b.d,a.x.c,'sumSeries',1)",
            &[("sumSeries(a.b.d,a.x.c)", &[Some(15.0), Some(24.0), N, Some(42.0), Some(51.0)])],
        );
        let out = eval("aggregateSeriesLists(a.b.d,a.x.c,'avg')").unwrap();
        assert_eq!(out[0].path_expression, "avgSeries(a.b.d,a.x.c)");
        assert_eq!(out[0].tags.get("aggregatedBy").map(String::as_str), Some("avg"));
        assert_eq!(out[0].values, vec![7.5, 12.0, 3.0, 21.0, 25.5]);
        assert!(eval("aggregateSeriesLists(a.b.*,a.b.c,'sum')").is_err());
        assert!(eval("aggregateSeriesLists(a.b.c,a.b.c,'nope')").is_err());
        assert!(eval("aggregateSeriesLists(a.b.c,a.b.c)").is_err());
    }

    #[test]
    fn weighted_average() {
        // Keys by node 1: b pairs a.b.c (1..5) with weight a.b.d (10,20,-,40,50); x pairs
        // a.x.c (5..1) with itself. Products 10,40,-,160,250 and 25,16,9,4,1; their sums
        // 35,56,9,164,251 over the summed weights 15,24,3,42,51.
        check(
            "weightedAverage(group(a.b.c,a.x.c),group(a.b.d,a.x.c),1)",
            &[(
                "weightedAverage(a.b.c,a.x.c, a.b.d,a.x.c, 1)",
                &s(&[35.0 / 15.0, 56.0 / 24.0, 3.0, 164.0 / 42.0, 251.0 / 51.0]),
            )],
        );
        // Keyed by the name tag only a.x.c pairs up (products 25,16,9,4,1), but every
        // weight counts in the divisor.
        check(
            "weightedAverage(group(a.x.c,a.b.c),group(a.x.c,a.b.d),'name')",
            &[("weightedAverage(a.b.c,a.x.c, a.b.d,a.x.c, name)", &s(&[25.0 / 15.0, 16.0 / 24.0, 3.0, 4.0 / 42.0, 1.0 / 51.0]))],
        );
        check("weightedAverage(a.b.c,a.x.c,0,1)", &[]);
        let out = eval("weightedAverage(a.b.c,a.b.c)").unwrap();
        assert_eq!(out[0].name, "weightedAverage(a.b.c, a.b.c, )");
        assert_eq!(out[0].tags.get("name"), Some(&out[0].name));
        // (1*1 + .. ) / 1 per point: the values themselves.
        assert_eq!(out[0].values, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        assert!(eval("weightedAverage(a.b.*,a.b.c)").is_err());
        assert!(eval("weightedAverage(a.b.c,a.b.c,1.5)").is_err());
    }

    #[test]
    fn pct_is_as_percent() {
        check("pct(a.b.c,10)", &[("asPercent(a.b.c,10)", &s(&[10.0, 20.0, 30.0, 40.0, 50.0]))]);
    }

    #[test]
    fn as_percent() {
        let t = 100.0 / 11.0;
        check(
            "asPercent(a.b.*)",
            &[
                ("asPercent(a.b.c,sumSeries(a.b.*))", &s(&[t, t, 100.0, t, t])),
                ("asPercent(a.b.d,sumSeries(a.b.*))", &[Some(10.0 * t), Some(10.0 * t), N, Some(10.0 * t), Some(10.0 * t)]),
            ],
        );
        check(
            "asPercent(a.*.c,a.b.c)",
            &[("asPercent(a.b.c,a.b.c)", &s(&[100.0; 5])), ("asPercent(a.x.c,a.b.c)", &s(&[500.0, 200.0, 100.0, 50.0, 20.0]))],
        );
        check(
            "asPercent(a.*.*,None,1)",
            &[
                ("asPercent(a.b.c,sumSeries(a.*.*))", &s(&[t, t, 100.0, t, t])),
                ("asPercent(a.b.d,sumSeries(a.*.*))", &[Some(10.0 * t), Some(10.0 * t), N, Some(10.0 * t), Some(10.0 * t)]),
                ("asPercent(a.x.c,a.*.*)", &s(&[100.0; 5])),
            ],
        );
        check(
            "asPercent(a.b.*,a.*.c,1)",
            &[
                ("asPercent(a.b.c,a.*.c)", &s(&[100.0; 5])),
                ("asPercent(a.b.d,a.*.c)", &s(&[1000.0, 1000.0, f64::NAN, 1000.0, 1000.0])),
                ("asPercent(MISSING,a.*.c)", &s(&[f64::NAN; 5])),
            ],
        );
        assert!(eval("asPercent(a.b.*,a.*.*)").is_err());
        check("asPercent(a.b.*,a.*.c)", &[("asPercent(a.b.c,a.b.c)", &s(&[100.0; 5])), ("asPercent(a.b.d,a.x.c)", &s(&[200.0, 500.0, f64::NAN, 2000.0, 5000.0]))]);
        assert!(eval("asPercent(a.b.c,'x')").is_err());
    }
}
