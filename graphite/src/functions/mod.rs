//! The Graphite function library: dispatch by name to the families below, plus the helpers
//! they share (common grid alignment, node selection, naming).

mod alias;
mod combine;
mod extra;
mod filter;
mod forecast;
mod group;
mod misc;
mod subquery;
mod transform;
mod window;

use crate::aggr::Aggr;
use crate::args::{Args, Node};
use crate::eval::EvalConfig;
use crate::series::{path_of_name, Series};
use crate::Error;

/// Evaluates one function call. Names are case-sensitive, as in graphite-web.
pub(crate) async fn call(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    let name = a.name();
    if let Some(params) = crate::catalog::param_names(name) {
        let params: Vec<&str> = params.collect();
        if let Some(kw) = a.call.args.iter().filter_map(|x| x.name.as_deref()).find(|kw| !params.contains(kw)) {
            return Err(a.err(format!("unknown keyword argument {kw:?}")));
        }
    }
    match name {
        "seriesByTag" => misc::series_by_tag(a).await,
        "alias" => alias::alias(a).await,
        "aliasByNode" | "aliasByTags" => alias::alias_by_node(a).await,
        "aliasByMetric" => alias::alias_by_metric(a).await,
        "aliasSub" => alias::alias_sub(a).await,
        "sumSeries" | "sum" => combine::aggregate_named(a, Aggr::Sum, "sum").await,
        "averageSeries" | "avg" => combine::aggregate_named(a, Aggr::Avg, "average").await,
        "maxSeries" | "max" => combine::aggregate_named(a, Aggr::Max, "max").await,
        "minSeries" | "min" => combine::aggregate_named(a, Aggr::Min, "min").await,
        "diffSeries" => combine::aggregate_named(a, Aggr::Diff, "diff").await,
        "multiplySeries" => combine::aggregate_named(a, Aggr::Multiply, "multiply").await,
        "stddevSeries" => combine::aggregate_named(a, Aggr::Stddev, "stddev").await,
        "rangeOfSeries" => combine::aggregate_named(a, Aggr::Range, "rangeOf").await,
        "countSeries" => combine::count_series(a).await,
        "aggregate" => combine::aggregate(a).await,
        "percentileOfSeries" => combine::percentile_of_series(a).await,
        "divideSeries" => combine::divide_series(a).await,
        "divideSeriesLists" => combine::series_lists(a, "divide").await,
        "sumSeriesLists" => combine::series_lists(a, "sum").await,
        "diffSeriesLists" => combine::series_lists(a, "diff").await,
        "multiplySeriesLists" => combine::series_lists(a, "multiply").await,
        "asPercent" => combine::as_percent(a).await,
        "group" => a.all_series(0).await,
        "groupByNode" => group::group_by_node(a).await,
        "groupByNodes" => group::group_by_nodes(a).await,
        "groupByTags" => group::group_by_tags(a).await,
        "sumSeriesWithWildcards" => group::with_wildcards(a, "sum").await,
        "averageSeriesWithWildcards" => group::with_wildcards(a, "average").await,
        "multiplySeriesWithWildcards" => group::with_wildcards(a, "multiply").await,
        "aggregateWithWildcards" => group::aggregate_with_wildcards(a).await,
        "movingAverage" => window::moving(a, Some("average")).await,
        "movingSum" => window::moving(a, Some("sum")).await,
        "movingMin" => window::moving(a, Some("min")).await,
        "movingMax" => window::moving(a, Some("max")).await,
        "movingMedian" => window::moving(a, Some("median")).await,
        "movingWindow" => window::moving(a, None).await,
        "summarize" => window::summarize(a).await,
        "hitcount" => window::hitcount(a).await,
        "timeShift" => window::time_shift(a).await,
        "highestCurrent" => filter::top(a, Aggr::Last, true, 1).await,
        "highestMax" => filter::top(a, Aggr::Max, true, 1).await,
        "highestAverage" => filter::top(a, Aggr::Avg, true, 1).await,
        "lowestCurrent" => filter::top(a, Aggr::Last, false, 1).await,
        "lowestAverage" => filter::top(a, Aggr::Avg, false, 1).await,
        "highest" => filter::top_by(a, true).await,
        "lowest" => filter::top_by(a, false).await,
        "limit" => filter::limit(a).await,
        "sortByName" => filter::sort_by_name(a).await,
        "sortByMaxima" => filter::sort_by(a, Aggr::Max, true).await,
        "sortByMinima" => filter::sort_by(a, Aggr::Min, false).await,
        "sortByTotal" => filter::sort_by(a, Aggr::Sum, true).await,
        "sortBy" => filter::sort_by_func(a).await,
        "exclude" => filter::grep(a, false).await,
        "grep" => filter::grep(a, true).await,
        "removeBelowValue" => filter::remove_values(a, false).await,
        "removeAboveValue" => filter::remove_values(a, true).await,
        "removeBelowPercentile" => filter::remove_percentile(a, false).await,
        "removeAbovePercentile" => filter::remove_percentile(a, true).await,
        "currentAbove" => filter::threshold(a, Aggr::Last, true).await,
        "currentBelow" => filter::threshold(a, Aggr::Last, false).await,
        "averageAbove" => filter::threshold(a, Aggr::Avg, true).await,
        "averageBelow" => filter::threshold(a, Aggr::Avg, false).await,
        "maximumAbove" => filter::threshold(a, Aggr::Max, true).await,
        "maximumBelow" => filter::threshold(a, Aggr::Max, false).await,
        "minimumAbove" => filter::threshold(a, Aggr::Min, true).await,
        "minimumBelow" => filter::threshold(a, Aggr::Min, false).await,
        "filterSeries" => filter::filter_series(a).await,
        "removeEmptySeries" => filter::remove_empty(a).await,
        "unique" => filter::unique(a).await,
        "nPercentile" => filter::n_percentile(a).await,
        "constantLine" => misc::constant_line(a),
        "color" | "alpha" | "dashed" | "lineWidth" => misc::cosmetic(a).await,
        "secondYAxis" | "drawAsInfinite" => misc::flagged(a).await,
        "stacked" => misc::stacked(a).await,
        "identity" => misc::identity(a),
        "powSeries" => combine::aggregate_named(a, Aggr::Pow, "pow").await,
        "fallbackSeries" => extra::fallback_series(a).await,
        "threshold" => extra::threshold(a),
        "aggregateLine" => extra::aggregate_line(a).await,
        "substr" => extra::substr(a).await,
        "timeSlice" => extra::time_slice(a).await,
        "timeStack" => extra::time_stack(a).await,
        "interpolate" => extra::interpolate(a).await,
        "integralByInterval" => extra::integral_by_interval(a).await,
        "mostDeviant" => extra::most_deviant(a).await,
        "stdev" => extra::stdev(a).await,
        "exponentialMovingAverage" => extra::exponential_moving_average(a).await,
        "removeBetweenPercentile" => extra::remove_between_percentile(a).await,
        name if LATER_NAMES.contains(&name) => Box::pin(call_later(a)).await,
        _ => transform::call(a).await,
    }
}

/// Functions dispatched by [`call_later`], kept out of [`call`]'s own match so that every
/// level of a deeply nested target does not pay for their futures on the stack.
const LATER_NAMES: &[&str] = &[
    "cactiStyle", "averageOutsidePercentile", "aggregateSeriesLists", "weightedAverage", "pct", "legendValue", "upper",
    "lower", "aliasQuery", "applyByNode", "useSeriesAbove", "mapSeries", "map", "reduceSeries", "reduce",
    "holtWintersForecast", "holtWintersConfidenceBands", "holtWintersConfidenceArea", "holtWintersAberration",
    "linearRegression", "smartSummarize", "compressPeriodicGaps", "time", "timeFunction", "sin", "sinFunction", "randomWalk", "randomWalkFunction", "verticalLine",
    "areaBetween",
];

async fn call_later(a: &Args<'_>) -> Result<Vec<Series>, Error> {
    match a.name() {
        "averageOutsidePercentile" => extra::average_outside_percentile(a).await,
        "aggregateSeriesLists" => combine::aggregate_series_lists(a).await,
        "weightedAverage" => combine::weighted_average(a).await,
        "pct" => combine::as_percent(a).await,
        "legendValue" => alias::legend_value(a).await,
        "cactiStyle" => alias::cacti_style(a).await,
        "upper" => alias::change_case(a, true).await,
        "lower" => alias::change_case(a, false).await,
        "aliasQuery" => subquery::alias_query(a).await,
        "applyByNode" => subquery::apply_by_node(a).await,
        "useSeriesAbove" => subquery::use_series_above(a).await,
        "mapSeries" | "map" => subquery::map_series(a).await,
        "reduceSeries" | "reduce" => subquery::reduce_series(a).await,
        "holtWintersForecast" => forecast::forecast(a).await,
        "holtWintersConfidenceBands" => forecast::confidence_bands(a).await,
        "holtWintersConfidenceArea" => forecast::confidence_area(a).await,
        "holtWintersAberration" => forecast::aberration(a).await,
        "linearRegression" => forecast::linear_regression(a).await,
        "smartSummarize" => window::smart_summarize(a).await,
        "compressPeriodicGaps" => window::compress_periodic_gaps(a).await,
        "time" | "timeFunction" => misc::time_function(a),
        "sin" | "sinFunction" => misc::sin_function(a),
        "randomWalk" | "randomWalkFunction" => misc::random_walk(a),
        "verticalLine" => misc::vertical_line(a),
        "areaBetween" => misc::area_between(a).await,
        other => Err(Error::UnknownFunction(other.to_string())),
    }
}

/// Brings all series onto one grid so that they can be combined point by point. Series
/// already sharing a grid are left alone; otherwise all are consolidated onto the
/// evaluation range with the coarsest step among them.
pub(crate) fn align(series: &mut [Series], ec: &EvalConfig) {
    let Some(first) = series.first() else { return };
    let (start, step, len) = (first.start_ms, first.step_ms, first.values.len());
    if series.iter().all(|s| s.start_ms == start && s.step_ms == step && s.values.len() == len) {
        return;
    }
    let step = series.iter().map(|s| s.step_ms).max().unwrap_or(ec.storage_step_ms);
    for s in series.iter_mut() {
        s.consolidate(ec.from_ms, ec.until_ms, step, ec.x_files_factor);
    }
}

/// The name built from the selected nodes: path components by index (negative counts
/// from the end) and tag values by name, joined with dots.
pub(crate) fn name_from_nodes(s: &Series, nodes: &[Node]) -> String {
    let path = path_of_name(&s.name);
    let parts: Vec<&str> = path.split('.').collect();
    let mut out: Vec<&str> = Vec::new();
    for node in nodes {
        match node {
            Node::Index(i) => {
                let idx = if *i < 0 { parts.len() as i64 + i } else { *i };
                if idx >= 0 && (idx as usize) < parts.len() {
                    out.push(parts[idx as usize]);
                }
            }
            Node::Tag(t) => {
                if let Some(v) = s.tags.get(t).filter(|v| !v.is_empty()) {
                    out.push(v);
                }
            }
        }
    }
    out.join(".")
}

/// The comma-joined distinct path expressions of the inputs, sorted unless the
/// aggregation depends on order.
pub(crate) fn joined_paths(series: &[Series], sort: bool) -> String {
    let mut paths: Vec<&str> = Vec::new();
    for s in series {
        if !paths.contains(&s.path_expression.as_str()) {
            paths.push(&s.path_expression);
        }
    }
    if sort {
        paths.sort_unstable();
    }
    paths.join(",")
}

/// Combines aligned series point by point into one series named `name`, keeping the tags
/// all inputs share and marking `aggregatedBy`.
pub(crate) fn combine(series: &[Series], aggr: Aggr, x_files_factor: f64, name: String, func: &str) -> Option<Series> {
    let first = series.first()?;
    let len = series.iter().map(|s| s.values.len()).min().unwrap_or(0);
    let mut column = Vec::with_capacity(series.len());
    let values = (0..len)
        .map(|i| {
            column.clear();
            column.extend(series.iter().map(|s| s.values[i]));
            aggr.apply_xff(x_files_factor, &column)
        })
        .collect();
    let mut tags = first.tags.clone();
    tags.retain(|k, v| series.iter().all(|s| s.tags.get(k) == Some(v)));
    tags.insert("aggregatedBy".to_string(), func.to_string());
    tags.entry("name".to_string()).or_insert_with(|| name.clone());
    let mut out = Series::new(name.clone(), tags, name, first.start_ms, first.step_ms, values);
    out.x_files_factor = first.x_files_factor;
    Some(out)
}

#[cfg(test)]
mod tests {
    use crate::testutil::eval;
    use crate::Error;

    #[test]
    fn unknown_functions_and_wrong_args() {
        assert_eq!(eval("cactusStyle(a.b.c)").unwrap_err(), Error::UnknownFunction("cactusStyle".into()));
        // There is no events store: events stays unknown.
        assert_eq!(eval("events('deploy')").unwrap_err(), Error::UnknownFunction("events".into()));
        assert_eq!(eval("toUpperCase(a.b.c)").unwrap_err(), Error::UnknownFunction("toUpperCase".into()));
        assert_eq!(eval("SumSeries(a.b.c)").unwrap_err(), Error::UnknownFunction("SumSeries".into()));
        assert_eq!(
            eval("scale(a.b.c,'x')").unwrap_err().to_string(),
            "wrong argument type for 2nd (factor) arg of scale: expected number"
        );
        assert_eq!(
            eval("scale(3,2)").unwrap_err().to_string(),
            "wrong argument type for 1st (seriesList) arg of scale: expected seriesList"
        );
        assert_eq!(eval("scale(a.b.c)").unwrap_err().to_string(), "missing 2nd (factor) arg of scale");
        assert!(matches!(eval("scale(a.b.c,1,2)").unwrap_err(), Error::TooManyArgs { .. }));
        assert!(matches!(eval("aliasSub(a.b.c,'(','x')").unwrap_err(), Error::BadRegex { .. }));
        assert!(matches!(eval("aggregate(a.b.c,'nope')").unwrap_err(), Error::BadArg { .. }));
        assert_eq!(
            eval("summarize(a.b.c,'20s',fun='max')").unwrap_err().to_string(),
            "bad argument for summarize: unknown keyword argument \"fun\""
        );
        let s = eval("summarize(seriesList=a.b.c,intervalString='50s',func='max')").unwrap();
        assert_eq!(s[0].values, vec![5.0]);
        let s = eval("offset(a.b.c,factor=1)").unwrap();
        assert_eq!(s[0].values, vec![2.0, 3.0, 4.0, 5.0, 6.0]);
        let s = eval("divideSeriesLists(dividendSeriesList=a.b.c,divisorSeriesList=a.b.c)").unwrap();
        assert_eq!(s[0].values, vec![1.0; 5]);
    }
}
