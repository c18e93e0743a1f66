//! The `/functions` answer: every implemented function with its signature, group and
//! parameters in graphite-web's format, which Grafana reads to build its editor.

use serde_json::{json, Map, Value};

use crate::aggr::Aggr;

/// (name, group, params, description). A param is `name:type` followed by `!` when
/// required, `*` when repeatable and `=default` when it has one.
type Entry = (&'static str, &'static str, &'static str, &'static str);

const SL: &str = "seriesList:seriesList!";

#[rustfmt::skip]
const FUNCTIONS: &[Entry] = &[
    ("seriesByTag", "Special", "tagExpressions:string!*", "Selects series by tag filters such as 'name=cpu', 'dc!=eu', 'host=~web.*', 'host!=~db.*'."),
    ("alias", "Alias", "seriesList:seriesList!,newName:string!", "Renames every series to the given name."),
    ("aliasByNode", "Alias", "seriesList:seriesList!,nodes:nodeOrTag!*", "Names each series after the chosen path components (zero-based, negative from the end) or tag values."),
    ("aliasByTags", "Alias", "seriesList:seriesList!,tags:nodeOrTag!*", "Names each series after the chosen tag values or path components."),
    ("aliasByMetric", "Alias", SL, "Names each series after the last component of its path."),
    ("aliasSub", "Alias", "seriesList:seriesList!,search:string!,replace:string!", "Rewrites series names with a regular expression; \\1 refers to a capture group."),
    ("sumSeries", "Combine", "seriesLists:seriesList!*", "Adds the series together point by point."),
    ("sum", "Combine", "seriesLists:seriesList!*", "Short name of sumSeries."),
    ("averageSeries", "Combine", "seriesLists:seriesList!*", "Averages the series point by point."),
    ("avg", "Combine", "seriesLists:seriesList!*", "Short name of averageSeries."),
    ("maxSeries", "Combine", "seriesLists:seriesList!*", "The largest value among the series at each point."),
    ("max", "Combine", "seriesLists:seriesList!*", "Short name of maxSeries."),
    ("minSeries", "Combine", "seriesLists:seriesList!*", "The smallest value among the series at each point."),
    ("min", "Combine", "seriesLists:seriesList!*", "Short name of minSeries."),
    ("diffSeries", "Combine", "seriesLists:seriesList!*", "The first series minus all the others, point by point."),
    ("multiplySeries", "Combine", "seriesLists:seriesList!*", "Multiplies the series point by point."),
    ("stddevSeries", "Combine", "seriesLists:seriesList!*", "Standard deviation across the series at each point."),
    ("rangeOfSeries", "Combine", "seriesLists:seriesList!*", "Largest minus smallest value across the series at each point."),
    ("countSeries", "Combine", "seriesLists:seriesList*", "How many series have a value at each point."),
    ("aggregate", "Combine", "seriesList:seriesList!,func:aggFunc!,xFilesFactor:float", "Merges the series point by point with the chosen aggregation."),
    ("percentileOfSeries", "Combine", "seriesList:seriesList!,n:float!,interpolate:boolean=false", "The n-th percentile across the series at each point."),
    ("divideSeries", "Combine", "dividendSeriesList:seriesList!,divisorSeries:seriesList!", "Divides each series by one divisor series; division by zero gives null."),
    ("divideSeriesLists", "Combine", "dividendSeriesList:seriesList!,divisorSeriesList:seriesList!", "Divides the i-th series of the first list by the i-th of the second."),
    ("sumSeriesLists", "Combine", "seriesListFirstPos:seriesList!,seriesListSecondPos:seriesList!", "Adds the i-th series of the first list to the i-th of the second."),
    ("diffSeriesLists", "Combine", "seriesListFirstPos:seriesList!,seriesListSecondPos:seriesList!", "Subtracts the i-th series of the second list from the i-th of the first."),
    ("multiplySeriesLists", "Combine", "seriesListFirstPos:seriesList!,seriesListSecondPos:seriesList!", "Multiplies the i-th series of both lists."),
    ("asPercent", "Combine", "seriesList:seriesList!,total:any,nodes:nodeOrTag*", "Each series as a percentage of a total: the sum of the list, a number, or a series (per node group when nodes are given)."),
    ("group", "Combine", "seriesLists:seriesList*", "Joins several series lists into one."),
    ("groupByNode", "Combine", "seriesList:seriesList!,nodeNum:nodeOrTag!,callback:aggFunc=average", "Groups series by one path component or tag and aggregates each group."),
    ("groupByNodes", "Combine", "seriesList:seriesList!,callback:aggFunc!,nodes:nodeOrTag*", "Groups series by several path components or tags and aggregates each group."),
    ("groupByTags", "Combine", "seriesList:seriesList!,callback:aggFunc!,tags:tag!*", "Groups series by the values of the given tags and aggregates each group."),
    ("sumSeriesWithWildcards", "Combine", "seriesList:seriesList!,position:node*", "Adds up the series that differ only in the given path positions."),
    ("averageSeriesWithWildcards", "Combine", "seriesList:seriesList!,position:node*", "Averages the series that differ only in the given path positions."),
    ("multiplySeriesWithWildcards", "Combine", "seriesList:seriesList!,position:node*", "Multiplies the series that differ only in the given path positions."),
    ("aggregateWithWildcards", "Combine", "seriesList:seriesList!,func:aggFunc!,positions:node*", "Aggregates the series that differ only in the given path positions."),
    ("movingAverage", "Calculate", "seriesList:seriesList!,windowSize:intOrInterval!,xFilesFactor:float", "Average over a trailing window of points or time; history before 'from' is fetched."),
    ("movingSum", "Calculate", "seriesList:seriesList!,windowSize:intOrInterval!,xFilesFactor:float", "Sum over a trailing window of points or time."),
    ("movingMin", "Calculate", "seriesList:seriesList!,windowSize:intOrInterval!,xFilesFactor:float", "Minimum over a trailing window of points or time."),
    ("movingMax", "Calculate", "seriesList:seriesList!,windowSize:intOrInterval!,xFilesFactor:float", "Maximum over a trailing window of points or time."),
    ("movingMedian", "Calculate", "seriesList:seriesList!,windowSize:intOrInterval!,xFilesFactor:float", "Median over a trailing window of points or time."),
    ("movingWindow", "Calculate", "seriesList:seriesList!,windowSize:intOrInterval!,func:aggFunc=average,xFilesFactor:float", "Any aggregation over a trailing window of points or time."),
    ("summarize", "Transform", "seriesList:seriesList!,intervalString:interval!,func:aggFunc=sum,alignToFrom:boolean=false", "Re-buckets each series into intervals, aggregating the points of each."),
    ("hitcount", "Transform", "seriesList:seriesList!,intervalString:interval!,alignToInterval:boolean=false", "Turns a per-second rate into counts per interval."),
    ("timeShift", "Transform", "seriesList:seriesList!,timeShift:interval!,resetEnd:boolean=true,alignDST:boolean=false", "Draws the series as it was at a time shifted into the past ('1d') or future ('+1d')."),
    ("highestCurrent", "Filter Series", "seriesList:seriesList!,n:integer=1", "The n series with the highest last value."),
    ("highestMax", "Filter Series", "seriesList:seriesList!,n:integer=1", "The n series with the highest maximum."),
    ("highestAverage", "Filter Series", "seriesList:seriesList!,n:integer=1", "The n series with the highest average."),
    ("lowestCurrent", "Filter Series", "seriesList:seriesList!,n:integer=1", "The n series with the lowest last value."),
    ("lowestAverage", "Filter Series", "seriesList:seriesList!,n:integer=1", "The n series with the lowest average."),
    ("highest", "Filter Series", "seriesList:seriesList!,n:integer=1,func:aggFunc=average", "The n series ranking highest by the given aggregation."),
    ("lowest", "Filter Series", "seriesList:seriesList!,n:integer=1,func:aggFunc=average", "The n series ranking lowest by the given aggregation."),
    ("limit", "Filter Series", "seriesList:seriesList!,n:integer!", "Only the first n series."),
    ("sortByName", "Sorting", "seriesList:seriesList!,natural:boolean=false,reverse:boolean=false", "Sorts by name, optionally comparing digit runs as numbers."),
    ("sortByMaxima", "Sorting", SL, "Sorts by maximum value, largest first."),
    ("sortByMinima", "Sorting", SL, "Sorts by minimum value, smallest first."),
    ("sortByTotal", "Sorting", SL, "Sorts by the sum of values, largest first."),
    ("sortBy", "Sorting", "seriesList:seriesList!,func:aggFunc=average,reverse:boolean=false", "Sorts by an aggregation, ascending unless reversed."),
    ("exclude", "Filter Series", "seriesList:seriesList!,pattern:string!", "Drops the series whose name matches the regular expression."),
    ("grep", "Filter Series", "seriesList:seriesList!,pattern:string!", "Keeps only the series whose name matches the regular expression."),
    ("removeBelowValue", "Filter Data", "seriesList:seriesList!,n:float!", "Nulls the points below n."),
    ("removeAboveValue", "Filter Data", "seriesList:seriesList!,n:float!", "Nulls the points above n."),
    ("removeBelowPercentile", "Filter Data", "seriesList:seriesList!,n:float!", "Nulls the points below the series' n-th percentile."),
    ("removeAbovePercentile", "Filter Data", "seriesList:seriesList!,n:float!", "Nulls the points above the series' n-th percentile."),
    ("currentAbove", "Filter Series", "seriesList:seriesList!,n:float!", "Keeps the series whose last value is above n."),
    ("currentBelow", "Filter Series", "seriesList:seriesList!,n:float!", "Keeps the series whose last value is at most n."),
    ("averageAbove", "Filter Series", "seriesList:seriesList!,n:float!", "Keeps the series whose average is above n."),
    ("averageBelow", "Filter Series", "seriesList:seriesList!,n:float!", "Keeps the series whose average is at most n."),
    ("maximumAbove", "Filter Series", "seriesList:seriesList!,n:float!", "Keeps the series whose maximum is above n."),
    ("maximumBelow", "Filter Series", "seriesList:seriesList!,n:float!", "Keeps the series whose maximum is at most n."),
    ("minimumAbove", "Filter Series", "seriesList:seriesList!,n:float!", "Keeps the series whose minimum is above n."),
    ("minimumBelow", "Filter Series", "seriesList:seriesList!,n:float!", "Keeps the series whose minimum is at most n."),
    ("filterSeries", "Filter Series", "seriesList:seriesList!,func:aggFunc!,operator:string!,threshold:float!", "Keeps the series whose aggregation compares true (=, !=, >, >=, <, <=) with the threshold."),
    ("removeEmptySeries", "Filter Series", "seriesList:seriesList!,xFilesFactor:float", "Drops series without values (or with too small a share of them)."),
    ("unique", "Filter Series", "seriesLists:seriesList*", "Joins the lists, keeping the first series of each name."),
    ("nPercentile", "Calculate", "seriesList:seriesList!,n:float!", "Replaces each series by a line at its n-th percentile."),
    ("constantLine", "Special", "value:float!", "A horizontal line at the given value."),
    ("identity", "Calculate", "name:string!", "A series whose value is its own timestamp in seconds."),
    ("color", "Graph", "seriesList:seriesList!,theColor:string!", "Sets the drawing color; values are unchanged."),
    ("alpha", "Graph", "seriesList:seriesList!,alpha:float!", "Sets the drawing opacity; values are unchanged."),
    ("dashed", "Graph", "seriesList:seriesList!,dashLength:float=5", "Draws dashed lines; values are unchanged."),
    ("lineWidth", "Graph", "seriesList:seriesList!,width:float!", "Sets the line width; values are unchanged."),
    ("secondYAxis", "Graph", SL, "Draws the series against the second Y axis."),
    ("drawAsInfinite", "Graph", SL, "Draws non-zero points as vertical lines."),
    ("stacked", "Graph", "seriesList:seriesList!,stackName:string", "Stacks the series: each becomes the running total of those before it."),
    ("scale", "Transform", "seriesList:seriesList!,factor:float!", "Multiplies every value by a constant."),
    ("offset", "Transform", "seriesList:seriesList!,factor:float!", "Adds a constant to every value."),
    ("add", "Transform", "seriesList:seriesList!,constant:float!", "Adds a constant to every value."),
    ("pow", "Transform", "seriesList:seriesList!,factor:float!", "Raises every value to a power."),
    ("scaleToSeconds", "Transform", "seriesList:seriesList!,seconds:float!", "Scales per-step values to per-'seconds' values."),
    ("absolute", "Transform", SL, "Absolute value of every point."),
    ("invert", "Transform", SL, "1 divided by every value (null for zero)."),
    ("squareRoot", "Transform", SL, "Square root of every value."),
    ("exp", "Transform", SL, "e raised to every value."),
    ("isNonNull", "Transform", SL, "1 where the series has a value, 0 where it has none."),
    ("logarithm", "Transform", "seriesList:seriesList!,base:float=10", "Logarithm of every value (null for values not above zero)."),
    ("log", "Transform", "seriesList:seriesList!,base:float=10", "Short name of logarithm."),
    ("round", "Transform", "seriesList:seriesList!,precision:integer=0", "Rounds every value to the given number of decimals."),
    ("derivative", "Transform", SL, "Difference between consecutive points."),
    ("nonNegativeDerivative", "Transform", "seriesList:seriesList!,maxValue:float,minValue:float", "Difference between consecutive points of a counter; resets give null, or wrap at maxValue / restart at minValue."),
    ("perSecond", "Transform", "seriesList:seriesList!,maxValue:float,minValue:float", "Per-second rate of a counter, handling resets like nonNegativeDerivative."),
    ("integral", "Transform", SL, "Running total of the values."),
    ("offsetToZero", "Transform", SL, "Shifts each series so that its minimum is zero."),
    ("minMax", "Transform", SL, "Scales each series onto 0..1 between its minimum and maximum."),
    ("changed", "Special", SL, "1 where the value differs from the previous value, else 0."),
    ("keepLastValue", "Transform", "seriesList:seriesList!,limit:integer", "Fills gaps (of at most 'limit' points) with the last value seen."),
    ("transformNull", "Transform", "seriesList:seriesList!,default:float=0,referenceSeries:seriesList", "Replaces nulls by a default, optionally only where a reference series has values."),
    ("delay", "Transform", "seriesList:seriesList!,steps:integer!", "Shifts the values by a number of steps."),
    ("consolidateBy", "Special", "seriesList:seriesList!,consolidationFunc:aggFunc!", "Chooses how points are merged when the series is consolidated for maxDataPoints."),
    ("cumulative", "Special", SL, "Consolidates by summing; the same as consolidateBy(seriesList, 'sum')."),
    ("setXFilesFactor", "Special", "seriesList:seriesList!,xFilesFactor:float!", "Sets the share of points needed for a consolidated point to have a value."),
    ("sigmoid", "Transform", SL, "Applies the logistic function 1/(1+e^-x) to every value."),
    ("logit", "Transform", SL, "Applies ln(x/(1-x)) to every value (null outside 0..1)."),
    ("powSeries", "Combine", "seriesLists:seriesList!*", "Raises the first series to the power of the next ones, point by point."),
    ("fallbackSeries", "Special", "seriesList:seriesList!,fallback:seriesList!", "Uses the fallback series when the series list is empty."),
    ("threshold", "Graph", "value:float!,label:string,color:string", "A horizontal line at the given value, named by its label."),
    ("aggregateLine", "Calculate", "seriesList:seriesList!,func:aggFunc=average,keepStep:boolean=false", "Replaces each series by a horizontal line at its aggregate."),
    ("substr", "Special", "seriesList:seriesList!,start:node=0,stop:node=0", "Names each series after a slice of its path components."),
    ("timeSlice", "Transform", "seriesList:seriesList!,startSliceAt:date!,endSliceAt:date=now", "Nulls the points outside the given time slice."),
    ("timeStack", "Transform", "seriesList:seriesList!,timeShiftUnit:interval=1d,timeShiftStart:integer=0,timeShiftEnd:integer=7", "Copies of the series shifted back by successive time units, drawn over the current range."),
    ("interpolate", "Transform", "seriesList:seriesList!,limit:float", "Fills gaps linearly between the surrounding values."),
    ("integralByInterval", "Transform", "seriesList:seriesList!,intervalUnit:interval!", "Running total that restarts at every interval boundary."),
    ("mostDeviant", "Filter Series", "seriesList:seriesList!,n:integer!", "The n series with the largest standard deviation."),
    ("stdev", "Calculate", "seriesList:seriesList!,points:integer!,windowTolerance:float=0.1", "Standard deviation over a trailing window of points."),
    ("exponentialMovingAverage", "Calculate", "seriesList:seriesList!,windowSize:intOrInterval!", "Exponential moving average with smoothing 2/(N+1) for a window of N points."),
    ("removeBetweenPercentile", "Filter Series", "seriesList:seriesList!,n:float!", "Keeps the series that at some point leave the band between the n-th and (100-n)-th percentile of all series."),
    ("xFilesFactor", "Special", "seriesList:seriesList!,xFilesFactor:float!", "Short name of setXFilesFactor."),
    ("aggregateSeriesLists", "Combine", "seriesListFirstPos:seriesList!,seriesListSecondPos:seriesList!,func:aggFunc!,xFilesFactor:float", "Aggregates the i-th series of the first list with the i-th of the second."),
    ("weightedAverage", "Combine", "seriesListAvg:seriesList!,seriesListWeight:seriesList!,nodes:nodeOrTag*", "Average of the first list weighted by the second, pairing series by the given nodes or tags."),
    ("pct", "Combine", "seriesList:seriesList!,total:any,nodes:nodeOrTag*", "Short name of asPercent."),
    ("mapSeries", "Combine", "seriesList:seriesList!,mapNodes:nodeOrTag!*", "Orders the series in groups sharing the given nodes or tags, for reduceSeries."),
    ("map", "Combine", "seriesList:seriesList!,mapNodes:nodeOrTag!*", "Short name of mapSeries."),
    ("reduceSeries", "Combine", "seriesLists:seriesLists!,reduceFunction:string!,reduceNode:node!,reduceMatchers:string!*", "Calls a function on the series whose node matches each matcher, per name prefix; results are named prefix.reduce.function."),
    ("reduce", "Combine", "seriesLists:seriesLists!,reduceFunction:string!,reduceNode:node!,reduceMatchers:string!*", "Short name of reduceSeries."),
    ("applyByNode", "Combine", "seriesList:seriesList!,nodeNum:node!,templateFunction:string!,newName:string", "Evaluates a target template once per name prefix up to nodeNum, '%' standing for the prefix."),
    ("aliasQuery", "Alias", "seriesList:seriesList!,search:string!,replace:string!,newName:string!", "Names each series with a %-format of the last value of the series its rewritten name selects."),
    ("cactiStyle", "Special", "seriesList:seriesList!,system:string,units:string", "Pads the names into columns with the current, largest and smallest value, with 'si' or 'binary' units and a units suffix when given."),
    ("legendValue", "Alias", "seriesList:seriesList!,valuesTypes:string*", "Appends aggregate values (avg, last, max ...) to the names; a last 'si' or 'binary' writes them with units."),
    ("upper", "Alias", "seriesList:seriesList!,pos:integer*", "Upper-cases the names, or only the characters at the given positions."),
    ("lower", "Alias", "seriesList:seriesList!,pos:integer*", "Lower-cases the names, or only the characters at the given positions."),
    ("areaBetween", "Graph", SL, "Draws the area between exactly two series."),
    ("verticalLine", "Graph", "ts:date!,label:string,color:string", "A vertical line at the given time, which must lie in the range."),
    ("averageOutsidePercentile", "Filter Series", "seriesList:seriesList!,n:float!", "Drops the series whose average lies strictly between the (100-n)-th and n-th percentile of all averages."),
    ("useSeriesAbove", "Filter Series", "seriesList:seriesList!,value:float!,search:string!,replace:string!", "Fetches the series named by rewriting the names of those whose maximum exceeds the value."),
    ("compressPeriodicGaps", "Transform", SL, "Moves series that only have a value every few points onto a grid of that period."),
    ("smartSummarize", "Transform", "seriesList:seriesList!,intervalString:interval!,func:aggFunc=sum,alignTo:string", "Re-buckets each series into intervals from the start of the range, optionally first aligned to a calendar unit."),
    ("time", "Transform", "name:string!,step:integer=60", "A series whose value is its own timestamp in seconds, every 'step' seconds."),
    ("timeFunction", "Transform", "name:string!,step:integer=60", "Long name of time."),
    ("sin", "Transform", "name:string!,amplitude:integer=1,step:integer=60", "The sine of each point's timestamp in seconds, times 'amplitude', every 'step' seconds."),
    ("sinFunction", "Transform", "name:string!,amplitude:integer=1,step:integer=60", "Long name of sin."),
    ("randomWalk", "Special", "name:string!,step:integer=60", "A random walk from 0, each point the one before plus a draw from -0.5 to 0.5, for trying dashboards without data."),
    ("randomWalkFunction", "Special", "name:string!,step:integer=60", "Long name of randomWalk."),
    ("holtWintersForecast", "Calculate", "seriesList:seriesList!,bootstrapInterval:interval=7d,seasonality:interval=1d", "Holt-Winters forecast, bootstrapped on the interval before the range."),
    ("holtWintersConfidenceBands", "Calculate", "seriesList:seriesList!,delta:integer=3,bootstrapInterval:interval=7d,seasonality:interval=1d", "Lower and upper bands 'delta' forecast deviations around the Holt-Winters forecast."),
    ("holtWintersConfidenceArea", "Calculate", "seriesList:seriesList!,delta:integer=3,bootstrapInterval:interval=7d,seasonality:interval=1d", "The area between the Holt-Winters confidence bands of one series."),
    ("holtWintersAberration", "Calculate", "seriesList:seriesList!,delta:integer=3,bootstrapInterval:interval=7d,seasonality:interval=1d", "How far each point lies outside the Holt-Winters confidence bands (0 inside)."),
    ("linearRegression", "Calculate", "seriesList:seriesList!,startSourceAt:date,endSourceAt:date", "The least-squares line through each series, fitted over the source range (the request's by default)."),
];

fn param_json(spec: &str) -> Value {
    let (name, rest) = spec.split_once(':').unwrap_or((spec, "any"));
    let (ty_flags, default) = match rest.split_once('=') {
        Some((t, d)) => (t, Some(d)),
        None => (rest, None),
    };
    let ty = ty_flags.trim_end_matches(['!', '*']);
    let mut p = Map::new();
    p.insert("name".into(), json!(name));
    p.insert("type".into(), json!(ty));
    p.insert("required".into(), json!(ty_flags.contains('!')));
    if ty_flags.contains('*') {
        p.insert("multiple".into(), json!(true));
    }
    if let Some(d) = default {
        let v = match ty {
            "boolean" => json!(d == "true"),
            "integer" | "float" => d.parse::<f64>().map(|n| if n.fract() == 0.0 { json!(n as i64) } else { json!(n) }).unwrap_or(json!(d)),
            _ => json!(d),
        };
        p.insert("default".into(), v);
    }
    if ty == "aggFunc" {
        p.insert("options".into(), json!(Aggr::NAMES));
    }
    Value::Object(p)
}

fn signature(name: &str, params: &str) -> String {
    let parts: Vec<String> = params
        .split(',')
        .map(|spec| {
            let (pname, rest) = spec.split_once(':').unwrap_or((spec, ""));
            if rest.contains('*') {
                format!("*{pname}")
            } else if let Some((_, d)) = rest.split_once('=') {
                let d = match d {
                    "true" => "True",
                    "false" => "False",
                    other if rest.starts_with("aggFunc") || rest.starts_with("interval") || rest.starts_with("string") => return format!("{pname}='{other}'"),
                    other => other,
                };
                format!("{pname}={d}")
            } else if rest.contains('!') {
                pname.to_string()
            } else {
                format!("{pname}=None")
            }
        })
        .collect();
    format!("{name}({})", parts.join(", "))
}

/// The `/functions` JSON object, keyed by function name.
pub fn functions_json() -> String {
    let mut all = Map::new();
    for (name, group, params, description) in FUNCTIONS {
        let mut f = Map::new();
        f.insert("name".into(), json!(name));
        f.insert("function".into(), json!(signature(name, params)));
        f.insert("description".into(), json!(description));
        f.insert("module".into(), json!("graphite.render.functions"));
        f.insert("group".into(), json!(group));
        f.insert("params".into(), Value::Array(params.split(',').map(param_json).collect()));
        all.insert(name.to_string(), Value::Object(f));
    }
    Value::Object(all).to_string()
}

/// The parameter names of a catalogued function (for checking keyword arguments).
pub(crate) fn param_names(function: &str) -> Option<impl Iterator<Item = &'static str>> {
    let (_, _, params, _) = FUNCTIONS.iter().find(|f| f.0 == function)?;
    Some(params.split(',').map(|p| p.split(':').next().unwrap_or(p)))
}

/// Names in the catalog (for tests elsewhere).
#[cfg(test)]
pub(crate) fn names() -> impl Iterator<Item = &'static str> {
    FUNCTIONS.iter().map(|f| f.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::eval;
    use crate::Error;

    #[test]
    fn shape_of_an_entry() {
        let v: Value = serde_json::from_str(&functions_json()).unwrap();
        let m = &v["movingWindow"];
        assert_eq!(m["name"], "movingWindow");
        assert_eq!(m["function"], "movingWindow(seriesList, windowSize, func='average', xFilesFactor=None)");
        assert_eq!(m["group"], "Calculate");
        assert_eq!(m["module"], "graphite.render.functions");
        assert_eq!(m["params"][0], json!({"name": "seriesList", "type": "seriesList", "required": true}));
        assert_eq!(m["params"][2]["default"], "average");
        assert!(m["params"][2]["options"].as_array().is_some_and(|o| o.contains(&json!("median"))));
        assert_eq!(m["params"][3], json!({"name": "xFilesFactor", "type": "float", "required": false}));
        assert_eq!(v["sumSeries"]["function"], "sumSeries(*seriesLists)");
        assert_eq!(v["sumSeries"]["params"][0]["multiple"], true);
        assert_eq!(v["summarize"]["params"][3]["default"], false);
        assert_eq!(v["highestMax"]["params"][1]["default"], 1);
        assert_eq!(v["cactiStyle"]["function"], "cactiStyle(seriesList, system=None, units=None)");
        assert!(v.get("events").is_none());
        let hw = &v["holtWintersConfidenceBands"];
        assert_eq!(hw["function"], "holtWintersConfidenceBands(seriesList, delta=3, bootstrapInterval='7d', seasonality='1d')");
        assert_eq!(hw["params"][1], json!({"name": "delta", "type": "integer", "required": false, "default": 3}));
        assert_eq!(v["reduceSeries"]["function"], "reduceSeries(seriesLists, reduceFunction, reduceNode, *reduceMatchers)");
        assert_eq!(v["time"]["params"][1]["default"], 60);
        assert_eq!(v["upper"]["params"][1], json!({"name": "pos", "type": "integer", "required": false, "multiple": true}));
    }

    #[test]
    fn every_listed_function_is_implemented() {
        let mut count = 0;
        for name in names() {
            let target = match name {
                "seriesByTag" => "seriesByTag('name=cpu')".to_string(),
                "constantLine" => "constantLine(1)".to_string(),
                "identity" | "time" | "timeFunction" | "sin" | "sinFunction" | "randomWalk" | "randomWalkFunction" => format!("{name}('x')"),
                "verticalLine" => "verticalLine('now')".to_string(),
                _ => format!("{name}(a.b.c)"),
            };
            if let Err(Error::UnknownFunction(f)) = eval(&target) {
                panic!("{f} is in the catalog but not implemented");
            }
            count += 1;
        }
        assert!(count > 100);
    }
}
