//! The function table: every PromQL function the engine knows, with its argument types
//! (the last one repeats for variadic functions), arity and return type.

use crate::ast::ValueType::{self, Matrix as M, Scalar as S, String as Str, Vector as V};

#[derive(Debug, PartialEq)]
pub struct Function {
    pub name: &'static str,
    pub arg_types: &'static [ValueType],
    pub min_args: usize,
    /// `None`: any number (the last type repeats).
    pub max_args: Option<usize>,
    pub return_type: ValueType,
}

const fn f(name: &'static str, arg_types: &'static [ValueType], min_args: usize, max_args: Option<usize>, return_type: ValueType) -> Function {
    Function { name, arg_types, min_args, max_args, return_type }
}

pub static FUNCTIONS: &[Function] = &[
    f("abs", &[V], 1, Some(1), V),
    f("absent", &[V], 1, Some(1), V),
    f("absent_over_time", &[M], 1, Some(1), V),
    f("acos", &[V], 1, Some(1), V),
    f("acosh", &[V], 1, Some(1), V),
    f("asin", &[V], 1, Some(1), V),
    f("asinh", &[V], 1, Some(1), V),
    f("atan", &[V], 1, Some(1), V),
    f("atanh", &[V], 1, Some(1), V),
    f("avg_over_time", &[M], 1, Some(1), V),
    f("ceil", &[V], 1, Some(1), V),
    f("changes", &[M], 1, Some(1), V),
    f("clamp", &[V, S, S], 3, Some(3), V),
    f("clamp_max", &[V, S], 2, Some(2), V),
    f("clamp_min", &[V, S], 2, Some(2), V),
    f("cos", &[V], 1, Some(1), V),
    f("cosh", &[V], 1, Some(1), V),
    f("count_over_time", &[M], 1, Some(1), V),
    f("day_of_month", &[V], 0, Some(1), V),
    f("day_of_week", &[V], 0, Some(1), V),
    f("day_of_year", &[V], 0, Some(1), V),
    f("days_in_month", &[V], 0, Some(1), V),
    f("deg", &[V], 1, Some(1), V),
    f("delta", &[M], 1, Some(1), V),
    f("deriv", &[M], 1, Some(1), V),
    f("exp", &[V], 1, Some(1), V),
    f("floor", &[V], 1, Some(1), V),
    f("histogram_avg", &[V], 1, Some(1), V),
    f("histogram_count", &[V], 1, Some(1), V),
    f("histogram_fraction", &[S, S, V], 3, Some(3), V),
    // A third argument (MetricsQL): the label of the quantile's lower and upper bound series.
    f("histogram_quantile", &[S, V, Str], 2, Some(3), V),
    f("histogram_stddev", &[V], 1, Some(1), V),
    f("histogram_stdvar", &[V], 1, Some(1), V),
    f("histogram_sum", &[V], 1, Some(1), V),
    f("hour", &[V], 0, Some(1), V),
    f("idelta", &[M], 1, Some(1), V),
    f("increase", &[M], 1, Some(1), V),
    f("irate", &[M], 1, Some(1), V),
    f("label_join", &[V, Str, Str, Str], 3, None, V),
    f("label_replace", &[V, Str, Str, Str, Str], 5, Some(5), V),
    f("last_over_time", &[M], 1, Some(1), V),
    f("ln", &[V], 1, Some(1), V),
    f("log10", &[V], 1, Some(1), V),
    f("log2", &[V], 1, Some(1), V),
    f("mad_over_time", &[M], 1, Some(1), V),
    f("max_over_time", &[M], 1, Some(1), V),
    f("min_over_time", &[M], 1, Some(1), V),
    f("minute", &[V], 0, Some(1), V),
    f("month", &[V], 0, Some(1), V),
    f("pi", &[], 0, Some(0), S),
    f("predict_linear", &[M, S], 2, Some(2), V),
    f("present_over_time", &[M], 1, Some(1), V),
    f("quantile_over_time", &[S, M], 2, Some(2), V),
    f("rad", &[V], 1, Some(1), V),
    f("rate", &[M], 1, Some(1), V),
    f("resets", &[M], 1, Some(1), V),
    f("round", &[V, S], 1, Some(2), V),
    f("scalar", &[V], 1, Some(1), S),
    f("sgn", &[V], 1, Some(1), V),
    f("sin", &[V], 1, Some(1), V),
    f("sinh", &[V], 1, Some(1), V),
    f("sort", &[V], 1, Some(1), V),
    f("sort_by_label", &[V, Str], 1, None, V),
    f("sort_by_label_desc", &[V, Str], 1, None, V),
    f("sort_desc", &[V], 1, Some(1), V),
    f("sqrt", &[V], 1, Some(1), V),
    f("stddev_over_time", &[M], 1, Some(1), V),
    f("stdvar_over_time", &[M], 1, Some(1), V),
    f("sum_over_time", &[M], 1, Some(1), V),
    f("tan", &[V], 1, Some(1), V),
    f("tanh", &[V], 1, Some(1), V),
    f("time", &[], 0, Some(0), S),
    f("timestamp", &[V], 1, Some(1), V),
    f("vector", &[S], 1, Some(1), V),
    f("year", &[V], 0, Some(1), V),
    f("first_over_time", &[M], 1, Some(1), V),
    f("ts_of_min_over_time", &[M], 1, Some(1), V),
    f("ts_of_max_over_time", &[M], 1, Some(1), V),
    f("ts_of_last_over_time", &[M], 1, Some(1), V),
    f("ts_of_first_over_time", &[M], 1, Some(1), V),
    // Experimental in Prometheus 3.x (enabled there with promql-experimental-functions).
    f("double_exponential_smoothing", &[M, S, S], 3, Some(3), V),
    // MetricsQL's `histogram_quantiles("label", φ1, …, φN, buckets)` too: a string first
    // (`Function::metricsql_histogram_quantiles_arg`).
    f("histogram_quantiles", &[V, Str, S], 3, None, V),
    // info(v, {label selectors}): the second argument is a selector without a metric name.
    f("info", &[V, V], 1, Some(2), V),
    f("step", &[], 0, Some(0), S),
    f("range", &[], 0, Some(0), S),
    f("start", &[], 0, Some(0), S),
    f("end", &[], 0, Some(0), S),
    f("min_of", &[S, S], 2, Some(2), S),
    f("max_of", &[S, S], 2, Some(2), S),
    // MetricsQL's rollups (VictoriaMetrics' range-vector functions).
    f("ascent_over_time", &[M], 1, Some(1), V),
    f("decreases_over_time", &[M], 1, Some(1), V),
    f("default_rollup", &[M], 1, Some(1), V),
    f("descent_over_time", &[M], 1, Some(1), V),
    f("distinct_over_time", &[M], 1, Some(1), V),
    f("geomean_over_time", &[M], 1, Some(1), V),
    f("ideriv", &[M], 1, Some(1), V),
    f("increase_pure", &[M], 1, Some(1), V),
    f("increases_over_time", &[M], 1, Some(1), V),
    f("integrate", &[M], 1, Some(1), V),
    f("lag", &[M], 1, Some(1), V),
    f("lifetime", &[M], 1, Some(1), V),
    f("median_over_time", &[M], 1, Some(1), V),
    f("mode_over_time", &[M], 1, Some(1), V),
    f("range_over_time", &[M], 1, Some(1), V),
    f("rate_over_sum", &[M], 1, Some(1), V),
    f("sum2_over_time", &[M], 1, Some(1), V),
    f("tfirst_over_time", &[M], 1, Some(1), V),
    f("tlast_over_time", &[M], 1, Some(1), V),
    f("tlast_change_over_time", &[M], 1, Some(1), V),
    f("tmax_over_time", &[M], 1, Some(1), V),
    f("tmin_over_time", &[M], 1, Some(1), V),
    f("zscore_over_time", &[M], 1, Some(1), V),
    f("deriv_fast", &[M], 1, Some(1), V),
    f("scrape_interval", &[M], 1, Some(1), V),
    // Several series per input series (`engine::functions::metricsql_multi_rollups`).
    f("count_values_over_time", &[Str, M], 2, Some(2), V),
    // The range vector comes last, after as many scalars as given (`TRAILING_RANGE_FUNCTIONS`).
    f("quantiles_over_time", &[Str, S, M], 3, None, V),
    f("rollup", &[M, Str], 1, Some(2), V),
    f("rollup_candlestick", &[M, Str], 1, Some(2), V),
    f("rollup_delta", &[M, Str], 1, Some(2), V),
    f("rollup_deriv", &[M, Str], 1, Some(2), V),
    f("rollup_increase", &[M, Str], 1, Some(2), V),
    f("rollup_rate", &[M, Str], 1, Some(2), V),
    f("rollup_scrape_interval", &[M, Str], 1, Some(2), V),
    f("count_eq_over_time", &[M, S], 2, Some(2), V),
    f("count_gt_over_time", &[M, S], 2, Some(2), V),
    f("count_le_over_time", &[M, S], 2, Some(2), V),
    f("count_ne_over_time", &[M, S], 2, Some(2), V),
    f("duration_over_time", &[M, S], 2, Some(2), V),
    f("share_eq_over_time", &[M, S], 2, Some(2), V),
    f("share_gt_over_time", &[M, S], 2, Some(2), V),
    f("share_le_over_time", &[M, S], 2, Some(2), V),
    f("sum_eq_over_time", &[M, S], 2, Some(2), V),
    f("sum_gt_over_time", &[M, S], 2, Some(2), V),
    f("sum_le_over_time", &[M, S], 2, Some(2), V),
    // MetricsQL's label functions, `union` and `now`.
    f("label_set", &[V, Str], 1, None, V),
    f("label_del", &[V, Str], 1, None, V),
    f("label_keep", &[V, Str], 1, None, V),
    f("label_copy", &[V, Str], 1, None, V),
    f("label_move", &[V, Str], 1, None, V),
    f("label_uppercase", &[V, Str], 2, None, V),
    f("label_lowercase", &[V, Str], 2, None, V),
    f("label_value", &[V, Str], 2, Some(2), V),
    f("label_match", &[V, Str, Str], 3, Some(3), V),
    f("label_mismatch", &[V, Str, Str], 3, Some(3), V),
    f("drop_common_labels", &[V], 1, None, V),
    f("union", &[V], 1, None, V),
    f("label_transform", &[V, Str, Str, Str], 4, Some(4), V),
    f("label_graphite_group", &[V, S], 2, None, V),
    f("sort_by_label_numeric", &[V, Str], 2, None, V),
    f("sort_by_label_numeric_desc", &[V, Str], 2, None, V),
    f("now", &[], 0, Some(0), S),
    // MetricsQL's histogram functions (`engine::vm_histogram`).
    f("prometheus_buckets", &[V], 1, Some(1), V),
    f("buckets_limit", &[S, V], 2, Some(2), V),
    f("histogram_share", &[S, V, Str], 2, Some(3), V),
    f("histogram_over_time", &[M], 1, Some(1), V),
    // MetricsQL's transforms of a whole series (`engine::series_wide`).
    f("running_sum", &[V], 1, Some(1), V),
    f("running_min", &[V], 1, Some(1), V),
    f("running_max", &[V], 1, Some(1), V),
    f("running_avg", &[V], 1, Some(1), V),
    f("range_sum", &[V], 1, Some(1), V),
    f("range_min", &[V], 1, Some(1), V),
    f("range_max", &[V], 1, Some(1), V),
    f("range_avg", &[V], 1, Some(1), V),
    f("range_first", &[V], 1, Some(1), V),
    f("range_last", &[V], 1, Some(1), V),
    f("range_median", &[V], 1, Some(1), V),
    f("range_stddev", &[V], 1, Some(1), V),
    f("range_stdvar", &[V], 1, Some(1), V),
    f("keep_last_value", &[V], 1, Some(1), V),
    f("keep_next_value", &[V], 1, Some(1), V),
    f("interpolate", &[V], 1, Some(1), V),
    f("remove_resets", &[V], 1, Some(1), V),
    f("range_quantile", &[S, V], 2, Some(2), V),
    f("smooth_exponential", &[V, S], 2, Some(2), V),
    f("range_normalize", &[V], 1, None, V),
    f("range_zscore", &[V], 1, Some(1), V),
    f("range_mad", &[V], 1, Some(1), V),
    f("range_trim_outliers", &[S, V], 2, Some(2), V),
    f("limit_offset", &[S, S, V], 3, Some(3), V),
    f("range_trim_spikes", &[S, V], 2, Some(2), V),
    f("range_trim_zscore", &[S, V], 2, Some(2), V),
    f("range_linear_regression", &[V], 1, Some(1), V),
    // MetricsQL's rollups added with `engine::functions::metricsql_window_rollups`: the
    // Prometheus forms, the Hoeffding bounds (φ first), Prometheus 2's holt_winters,
    // `aggr_over_time("name", m[d])` (one name; the list form needs the parser's list of strings).
    f("changes_prometheus", &[M], 1, Some(1), V),
    f("delta_prometheus", &[M], 1, Some(1), V),
    f("increase_prometheus", &[M], 1, Some(1), V),
    f("rate_prometheus", &[M], 1, Some(1), V),
    f("outlier_iqr_over_time", &[M], 1, Some(1), V),
    f("stale_samples_over_time", &[M], 1, Some(1), V),
    f("timestamp_with_name", &[M], 1, Some(1), V),
    f("hoeffding_bound_lower", &[S, M], 2, Some(2), V),
    f("hoeffding_bound_upper", &[S, M], 2, Some(2), V),
    f("holt_winters", &[M, S, S], 3, Some(3), V),
    f("aggr_over_time", &[Str, M], 2, Some(2), V),
    // MetricsQL's transforms of values (`engine::functions::metricsql_value_transforms`).
    f("bitmap_and", &[V, S], 2, Some(2), V),
    f("bitmap_or", &[V, S], 2, Some(2), V),
    f("bitmap_xor", &[V, S], 2, Some(2), V),
    f("drop_empty_series", &[V], 1, Some(1), V),
    f("rand", &[S], 0, Some(1), S),
    f("rand_normal", &[S], 0, Some(1), S),
    f("rand_exponential", &[S], 0, Some(1), S),
    f("timezone_offset", &[Str], 1, Some(1), S),
    // MetricsQL's label functions (`engine::functions::metricsql_labels`).
    f("label_map", &[V, Str], 2, None, V),
    f("labels_equal", &[V, Str], 3, None, V),
    // The start time of each sample an instant selector sees (nothing without the engine's
    // `use_start_timestamps`, or over an expression).
    f("start_timestamp", &[V], 1, Some(1), V),
];

/// MetricsQL's transforms that read their argument at every step of the query (evaluated by
/// `engine::series_wide`): a step's value depends on the query's other steps.
pub const SERIES_WIDE_FUNCTIONS: &[&str] = &[
    "running_sum",
    "running_min",
    "running_max",
    "running_avg",
    "range_sum",
    "range_min",
    "range_max",
    "range_avg",
    "range_first",
    "range_last",
    "range_median",
    "range_quantile",
    "range_stddev",
    "range_stdvar",
    "keep_last_value",
    "keep_next_value",
    "interpolate",
    "remove_resets",
    "smooth_exponential",
    "range_normalize",
    "range_zscore",
    "range_mad",
    "range_trim_outliers",
    "limit_offset",
    "range_trim_spikes",
    "range_trim_zscore",
    "range_linear_regression",
    "prometheus_buckets",
    "buckets_limit",
    // The labels common to every series of the range (`engine::functions::metricsql_labels`).
    "drop_common_labels",
];

/// Internal: several expressions held as one where the syntax tree has room for one
/// (`quantiles`' φs in `Aggregate::param`, MetricsQL's `avg(q1, q2, …)` in `Aggregate::expr`),
/// so that every walk over the tree visits each.
/// Evaluated to one vector: a scalar as an element without labels, vectors' elements in order.
/// Not in `FUNCTIONS`, so no query names it; printed as its arguments, comma-separated.
pub static ARGUMENT_LIST: Function = f("__argument_list", &[V], 0, None, V);

/// Internal: MetricsQL's `Ni` and Grafana's `$__interval` where a number is wanted (`x * 2i`):
/// N steps of the grid evaluated, in seconds. The engine puts the number in when it prepares
/// the query (`engine::resolve_durations`, which knows each grid's step); printed as `Ni`.
/// Not in `FUNCTIONS`, so no query names it.
pub static STEP_MULTIPLE: Function = f("__step_multiple", &[S], 1, Some(1), S);

pub fn lookup(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// Functions whose last argument is a range vector after any number of arguments of the type
/// before it (`quantiles_over_time("label", φ1, …, φN, m[d])`): in `arg_types` the repeated
/// type comes second to last, the range vector last.
pub const TRAILING_RANGE_FUNCTIONS: &[&str] = &["quantiles_over_time"];

impl Function {
    /// The expected type of argument `i` of `count` (for `TRAILING_RANGE_FUNCTIONS` the last
    /// argument is a range vector and the ones before it repeat the type before that).
    pub fn arg_type_in(&self, i: usize, count: usize) -> Option<ValueType> {
        if !TRAILING_RANGE_FUNCTIONS.contains(&self.name) {
            return self.arg_type(i);
        }
        let (&last, leading) = self.arg_types.split_last()?;
        if i + 1 == count {
            return Some(last);
        }
        leading.get(i).or(leading.last()).copied()
    }

    /// The expected type of argument `i` of MetricsQL's `histogram_quantiles("label", φ1, …,
    /// φN, buckets)` (told from Prometheus' `histogram_quantiles(buckets, "label", φ…)` by its
    /// string first argument), `count` arguments in all.
    pub fn metricsql_histogram_quantiles_arg(i: usize, count: usize) -> ValueType {
        match i {
            0 => ValueType::String,
            i if i + 1 == count => ValueType::Vector,
            _ => ValueType::Scalar,
        }
    }

    /// The expected type of argument `i`.
    pub fn arg_type(&self, i: usize) -> Option<ValueType> {
        if let Some(t) = self.arg_types.get(i) {
            return Some(*t);
        }
        match self.max_args {
            None => self.arg_types.last().copied(),
            Some(_) => None,
        }
    }

    /// Functions whose result keeps the metric name (they do not change what the value means).
    pub fn keeps_metric_name(&self) -> bool {
        matches!(
            self.name,
            "last_over_time" | "first_over_time" | "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" | "sort_by_label_numeric" | "sort_by_label_numeric_desc" | "label_replace" | "label_join"
            // MetricsQL's, as VictoriaMetrics keeps it (`rollupFuncsKeepMetricName`).
            | "default_rollup" | "geomean_over_time" | "median_over_time" | "mode_over_time" | "rollup" | "rollup_candlestick"
            | "hoeffding_bound_lower" | "hoeffding_bound_upper" | "holt_winters" | "timestamp_with_name"
            // They pick series without changing them.
            | "drop_empty_series"
            // They relabel buckets (VictoriaMetrics keeps the name).
            | "prometheus_buckets" | "buckets_limit"
        )
    }
}
