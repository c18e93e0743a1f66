//! MetricsQL against the real VictoriaMetrics single-node (Debian's `victoria-metrics` 1.79
//! package): one fixed data set imported into both, then each query of [`QUERIES`] asked of
//! both as range queries (steps shorter and longer than the 15 s sample interval) and instant
//! queries, and the answers compared series for series, point for point. Runs when
//! METRICSTOR_VICTORIAMETRICS_BIN is set (`.ci/run` sets it); otherwise says why it skipped.

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::*;

/// Samples every `INTERVAL_S` seconds over `SPAN_S`, from an hour boundary two hours back
/// (inside VictoriaMetrics' default one-month retention, far from "now" and its latency offset).
const INTERVAL_S: i64 = 15;
const SPAN_S: i64 = 3_600;
/// Range queries run from `FROM_S` after the data starts (so 15-minute windows are full) to
/// its end, at each of these steps: shorter than, longer than, and a multiple of the interval.
const FROM_S: i64 = 900;
const STEPS_S: [i64; 3] = [10, 60, 300];
/// Instant queries at these offsets: on the sample grid, off it, and at the last sample.
const INSTANTS_S: [i64; 3] = [1_800, 2_707, 3_600];
const DEADLINE: Duration = Duration::from_secs(30);
const REL_TOLERANCE: f64 = 1e-9;
const ABS_TOLERANCE: f64 = 1e-12;

/// A query asked of both servers: the same text unless VictoriaMetrics needs another
/// spelling of the same question (`vm`).
struct Case {
    ours: &'static str,
    vm: &'static str,
}

const fn same(query: &'static str) -> Case {
    Case { ours: query, vm: query }
}

/// The queries compared (`$END` stands for the data's last timestamp, in seconds). Where
/// VictoriaMetrics 1.79 and we differ by design (README) or by a quirk of 1.79 fixed later, a
/// query is asked in a form where both mean the same, or left out, each with why. Left out:
/// - `rate`/`increase`/`delta`/`irate`/`changes` (explicit or omitted windows): VictoriaMetrics
///   reads the sample before the window and no extrapolation, ours PromQL's (deliberate).
/// - functions 1.79 does not know (an error there): `share`, `sort_by_label_numeric`,
///   `range_stddev`/`_stdvar`, `range_zscore`, `range_mad`, `range_normalize`,
///   `range_linear_regression`, `range_trim_*`, `count_values_over_time`, `sum_*_over_time`,
///   `outliers_iqr`, `rate_prometheus`, `drop_empty_series`, `labels_equal`,
///   `outlier_iqr_over_time`, `rollup(m, "max")`'s second argument; syntax it does not parse: `or`
///   between label filters, `group_left(*)` and `prefix`.
/// - `q == (C1, C2)`: 1.79 reads `(C1, C2)` as `union(C1, C2)`, which keeps C1 alone (the
///   comparison with each constant came in 2024).
/// - `rand*`: Go's generator, not reproduced (seeded calls are deterministic, other values).
/// - `ttf`: its `deriv_fast` of an instant vector is a subquery here, of the window before it
///   there (as for `rate` above): at a 10 s step (`ttf(o_temp)`, `ttf(last_over_time(…))`) the
///   two differ; `metricsql_with.test` checks ttf against VictoriaMetrics' own test values.
/// - `any`, `limit N` and `limit_offset` on unordered input: VictoriaMetrics picks series in
///   its storage order; they are compared where the choice does not matter.
/// - `(q > on(l) r) default d` over a series a comparison of two vectors empties at every
///   step: VictoriaMetrics keeps it (all NaN) and fills it with d, here it is gone (after a
///   comparison with a scalar both keep it).
const QUERIES: &[Case] = &[
    // Plain selections over explicit windows (both read (t - d, t]).
    same("last_over_time(o_temp[1m])"),
    same("last_over_time(o_requests_total[2m])"),
    // Rollups. Windows of 10m never fall in a gap of o_temp (5m at most): 1.79 answers an
    // empty window from the sample before it (0 or that sample; NaN since) for
    // `distinct_over_time`, `sum2_over_time`, `geomean_over_time`, `rate_over_sum`.
    same("median_over_time(o_temp[5m])"),
    same("range_over_time(o_temp[5m])"),
    same("distinct_over_time(o_temp[10m])"),
    same("tmin_over_time(o_temp[5m])"),
    same("tmax_over_time(o_temp[5m])"),
    same("tfirst_over_time(o_temp[5m])"),
    same("tlast_over_time(o_temp[5m])"),
    // Over the whole data: VictoriaMetrics also reads the sample before the window (NaN when it
    // equals the last value and nothing changed in the window), ours the window alone.
    same("tlast_change_over_time(o_temp[2h])"),
    same("tlast_change_over_time(o_requests_total[2h])"),
    same("count_gt_over_time(o_temp[5m], 21)"),
    same("count_le_over_time(o_temp[5m], 21)"),
    same("count_eq_over_time(o_temp[5m], 22)"),
    same("count_ne_over_time(o_temp[5m], 22)"),
    same("share_le_over_time(o_temp[5m], 21.5)"),
    same("share_gt_over_time(o_temp[5m], 21.5)"),
    same("geomean_over_time(o_temp{job=\"db\"}[10m])"),
    same("sum2_over_time(o_temp[10m])"),
    same("rate_over_sum(o_temp[10m])"),
    same("ideriv(o_requests_total[15m])"),
    same("duration_over_time(o_temp[10m], 1m)"),
    same("histogram_over_time(o_temp[5m])"),
    same("quantiles_over_time(\"phi\", 0.1, 0.5, 0.9, o_temp[5m])"),
    same("stddev_over_time(o_temp[5m])"),
    same("present_over_time(o_temp[5m])"),
    same("first_over_time(o_temp[5m])"),
    same("default_rollup(o_temp[1m])"),
    // Rollups that read the sample before the window in VictoriaMetrics (README: ours read
    // (t - d, t] only): over 2h windows, which hold every sample from the first, so that
    // there is none before.
    same("mode_over_time(o_temp[2h])"),
    same("increases_over_time(o_temp[2h])"),
    same("decreases_over_time(o_temp[2h])"),
    same("ascent_over_time(o_temp[2h])"),
    same("descent_over_time(o_temp[2h])"),
    same("lifetime(o_temp[2h])"),
    same("lag(o_temp[2h])"),
    same("integrate(o_temp[2h])"),
    same("zscore_over_time(o_temp[2h])"),
    same("increase_pure(o_requests_total[2h])"),
    same("scrape_interval(o_temp[2h])"),
    same("deriv_fast(o_requests_total[2h])"),
    // The rollup* family: VictoriaMetrics opens a candle at the sample before the window,
    // closes one with the sample after it, and counts the last pair's change twice in its
    // `avg`, and pairs a lone sample with those (README): the candle at the data's end,
    // where there is neither, and `min`/`max` of series without gaps.
    same("rollup(o_temp[2h] @ $END)"),
    same("rollup(o_temp[5m])"),
    same("rollup_candlestick(o_temp[2h] @ $END)"),
    same("label_mismatch(rollup_rate(o_requests_total{instance!=\"c\"}[5m]), \"rollup\", \"avg\")"),
    same("label_mismatch(rollup_deriv(o_temp{instance!=\"c\"}[5m]), \"rollup\", \"avg\")"),
    same("label_mismatch(rollup_delta(o_temp{instance!=\"c\"}[5m]), \"rollup\", \"avg\")"),
    same("label_mismatch(rollup_increase(o_requests_total{instance!=\"c\"}[5m]), \"rollup\", \"avg\")"),
    same("label_mismatch(rollup_scrape_interval(o_temp{instance!=\"c\"}[5m]), \"rollup\", \"avg\")"),
    // PromQL's `*_over_time` drop the name here (Prometheus' meaning); VictoriaMetrics keeps
    // it for `min`/`max`/`avg`/`quantile_over_time`: compared after an operator drops it.
    same("quantile_over_time(0.25, o_temp[5m]) + 0"),
    // Windows in steps, omitted windows, implicit subqueries.
    same("max_over_time(o_temp[3i]) + 0"),
    same("max_over_time(o_temp) + 0"),
    same("max_over_time((o_temp + 1)[10m])"),
    // A bare selector's lookback differs in gaps (README): o_temp{instance="c"} has one.
    same("sum_over_time(sum(o_temp{instance!=\"c\"}) by (job)[5m])"),
    // Label functions.
    same("label_set(last_over_time(o_temp[1m]), \"env\", \"prod\", \"job\", \"x\")"),
    same("label_del(last_over_time(o_temp[1m]), \"job\")"),
    same("label_keep(last_over_time(o_temp[1m]), \"instance\")"),
    same("label_copy(last_over_time(o_temp[1m]), \"instance\", \"host\", \"job\", \"zone\")"),
    same("label_move(last_over_time(o_temp[1m]), \"instance\", \"host\")"),
    same("label_value(last_over_time(o_numbered[1m]), \"n\")"),
    same("label_match(last_over_time(o_temp[1m]), \"instance\", \"a|c\")"),
    same("label_mismatch(last_over_time(o_temp[1m]), \"instance\", \"a|c\")"),
    same("label_transform(last_over_time(o_temp[1m]), \"job\", \"[ab]\", \"X\")"),
    same("label_uppercase(last_over_time(o_temp[1m]), \"job\")"),
    same("drop_common_labels(last_over_time(o_temp{job=\"db\"}[1m]))"),
    same("union(last_over_time(o_temp{job=\"api\"}[1m]), last_over_time(o_temp{job=\"db\"}[1m]))"),
    same("alias(last_over_time(o_temp[1m]), \"renamed\")"),
    // Aggregations.
    same("median(last_over_time(o_temp[1m]))"),
    same("median(last_over_time(o_temp[1m])) by (job)"),
    same("mode(last_over_time(o_temp[1m]))"),
    // 1.79's zscore drops the name (kept since, as here): compared without one.
    same("zscore(last_over_time(o_temp[1m]) + 0)"),
    same("mad(last_over_time(o_temp[1m]))"),
    same("distinct(last_over_time(o_temp[1m]))"),
    same("geomean(last_over_time(o_requests_total[1m]))"),
    same("sum2(last_over_time(o_temp[1m]))"),
    same("quantiles(\"phi\", 0.2, 0.8, last_over_time(o_temp[1m]))"),
    same("topk_avg(2, last_over_time(o_temp[1m]))"),
    same("topk_avg(2, last_over_time(o_temp[1m]), \"instance=other\")"),
    same("bottomk_max(1, last_over_time(o_temp[1m]))"),
    same("bottomk_max(1, last_over_time(o_temp[1m]), \"instance=rest\")"),
    same("topk_last(1, last_over_time(o_temp[1m])) by (job)"),
    // VictoriaMetrics ranks a series with a gap last (README): o_temp{instance="c"} has one.
    same("outliersk(1, last_over_time(o_temp{instance!=\"c\"}[1m]))"),
    same("outliers_mad(1, last_over_time(o_temp[1m]))"),
    // `limit N` and `any` pick groups and series for the whole range in VictoriaMetrics, in
    // an order that varies from run to run (README: per step here): over series without gaps.
    same("count(sum(last_over_time(o_temp{instance!=\"c\"}[1m])) by (instance) limit 2)"),
    same("count(any(last_over_time(o_temp{instance!=\"c\"}[1m])) by (job))"),
    same("count(last_over_time(o_temp[1m]))"),
    // Transforms of whole series. `running_avg`/`range_avg` divide by the steps since the
    // first value in VictoriaMetrics, gaps included (README), and 1.79's `range_first`,
    // `range_last`, `range_quantile` leave a gap's steps empty (filled since, as here): over
    // series without gaps.
    same("running_sum(last_over_time(o_temp[1m]))"),
    same("running_max(last_over_time(o_temp[1m]))"),
    same("running_min(last_over_time(o_temp[1m]))"),
    same("running_avg(last_over_time(o_temp{instance!=\"c\"}[1m]))"),
    same("range_sum(last_over_time(o_temp[1m]))"),
    same("range_min(last_over_time(o_temp[1m]))"),
    same("range_max(last_over_time(o_temp[1m]))"),
    same("range_avg(last_over_time(o_temp{instance!=\"c\"}[1m]))"),
    same("range_first(last_over_time(o_temp{instance!=\"c\"}[1m]))"),
    same("range_last(last_over_time(o_temp{instance!=\"c\"}[1m]))"),
    same("range_quantile(0.3, last_over_time(o_temp{instance!=\"c\"}[1m]))"),
    same("range_median(last_over_time(o_temp{instance!=\"c\"}[1m]))"),
    same("keep_last_value(last_over_time(o_temp[1m]))"),
    same("keep_next_value(last_over_time(o_temp[1m]))"),
    same("interpolate(last_over_time(o_temp[1m]))"),
    same("remove_resets(last_over_time(o_requests_total[1m]))"),
    same("smooth_exponential(last_over_time(o_temp[1m]), 0.5)"),
    same("limit_offset(2, 1, sort_by_label(last_over_time(o_temp[1m]), \"instance\"))"),
    // WITH, if/ifnot/default, keep_metric_names, suffixes, lists.
    same("WITH (t = o_temp{job=\"api\"}, w(m) = max_over_time(m[5m])) w(t) + 1"),
    same("last_over_time(o_temp[1m]) if last_over_time(o_temp[1m]) > 21"),
    same("last_over_time(o_temp[1m]) ifnot last_over_time(o_temp[1m]) > 21"),
    same("last_over_time(o_temp[1m]) default 7"),
    same("(last_over_time(o_temp{instance=\"c\"}[1m]) > 0) default 0"),
    // Series the comparison empties at every step (a, b, d never pass 90) are filled too.
    same("(last_over_time(o_temp[1m]) > 90) default 0"),
    same("max_over_time(o_temp[5m]) keep_metric_names"),
    same("last_over_time(o_requests_total[1m]) > 1Ki"),
    same("(last_over_time(o_temp{instance=\"a\"}[1m]), last_over_time(o_temp{instance=\"c\"}[1m]))"),
    same("last_over_time(o_temp[1m]) * on(job, instance) group_left(version) last_over_time(o_info[1m])"),
    // Histograms: the counters themselves as bucket counts, and their increase from the
    // start (VictoriaMetrics' increase_pure over a shorter window reads the sample before it).
    same("histogram_quantile(0.5, sum(last_over_time(o_size_bucket[1m])) by (vmrange))"),
    same("histogram_quantile(0.9, sum(last_over_time(o_size_bucket[1m])) by (vmrange))"),
    same("histogram_quantile(0.9, increase_pure(o_size_bucket[2h]))"),
    same("histogram_quantile(0.9, last_over_time(o_latency_seconds_bucket[1m]))"),
    same("histogram_quantiles(\"phi\", 0.25, 0.75, last_over_time(o_size_bucket[1m]))"),
    same("prometheus_buckets(last_over_time(o_size_bucket[1m]))"),
    // 1.79 keeps the empty buckets at the ends that buckets_limit trims since (upstream
    // issue 10417, as here): o_size_bucket has empty ones once made `le` buckets, so only
    // the `le` histogram is compared.
    same("buckets_limit(3, last_over_time(o_latency_seconds_bucket[1m]))"),
    same("histogram(last_over_time(o_temp[1m]))"),
    same("histogram_share(1, last_over_time(o_latency_seconds_bucket[1m]))"),
    same("histogram_share(2, last_over_time(o_size_bucket[1m]))"),
    same("histogram_avg(last_over_time(o_size_bucket[1m]))"),
    same("histogram_stddev(last_over_time(o_latency_seconds_bucket[1m]))"),
    // MetricsQL's Prometheus forms and other rollups added later.
    same("changes_prometheus(o_temp[5m])"),
    same("changes_prometheus(o_requests_total[10m])"),
    same("delta_prometheus(o_temp[5m])"),
    same("increase_prometheus(o_requests_total[5m])"),
    same("increase_prometheus(o_requests_total[15m])"),
    same("hoeffding_bound_upper(0.9, o_temp[5m])"),
    same("hoeffding_bound_lower(0.5, o_temp[5m])"),
    same("holt_winters(o_temp[2h], 0.5, 0.3)"),
    same("timestamp_with_name(o_temp[5m])"),
    same("stale_samples_over_time(o_temp[5m])"),
    same("aggr_over_time(\"max_over_time\", o_temp[5m])"),
    same("aggr_over_time(\"tmin_over_time\", o_temp[5m])"),
    same("aggr_over_time((\"min_over_time\", \"max_over_time\", \"count_over_time\"), o_temp[5m])"),
    // Transforms of values and labels. 1.79's bitmap_* turn a gap's NaN into bits (NaN stays
    // NaN since, as here): over series without gaps. Negative values wrap as on amd64.
    same("bitmap_and(last_over_time(o_requests_total{instance!=\"c\"}[1m]), 7)"),
    same("bitmap_or(last_over_time(o_requests_total{instance!=\"c\"}[1m]), 8)"),
    same("bitmap_xor(last_over_time(o_temp{instance!=\"c\"}[1m]), 5)"),
    same("label_map(last_over_time(o_temp[1m]), \"instance\", \"a\", \"A\", \"b\", \"\")"),
    same("timezone_offset(\"Europe/Berlin\")"),
    same("timezone_offset(\"America/New_York\")"),
    // `@` and `offset` after an expression that reads the time itself: evaluated whole then.
    same("time() @ $END"),
    same("(time() - last_over_time(o_temp[1m])) @ $END"),
    // (To the minute: at an instant off the grid, 2,707 s, 1.79 reads time() 7 s early.)
    same("floor(time() / 60) offset 1h"),
    same("minute() offset 30m"),
    // A scalar where a function or an aggregation wants series.
    same("round(time() / 7, 0.5)"),
    same("sum(2) + count(last_over_time(o_temp[1m]))"),
    same("sum(last_over_time(o_temp[1m]), 2)"),
];

/// The data set, as JSON lines of VictoriaMetrics' import format, from `t0_ms`.
fn data_set(t0_ms: i64) -> String {
    let steps = SPAN_S / INTERVAL_S;
    let mut lines = String::new();
    let mut series = |labels: &[(&str, &str)], points: Vec<(i64, f64)>| {
        let metric: BTreeMap<&str, &str> = labels.iter().copied().collect();
        let (timestamps, values): (Vec<i64>, Vec<f64>) = points.into_iter().map(|(k, v)| (t0_ms + k * INTERVAL_S * 1000, v)).unzip();
        let line = serde_json::json!({ "metric": metric, "values": values, "timestamps": timestamps });
        writeln!(lines, "{line}").expect("write to a String");
    };
    // A counter from its increments at sample k (None: no sample), reset where asked.
    // Each starts at 0, as a counter does: `increase_pure` then reads the same from the first
    // sample on as VictoriaMetrics does from 0 before it.
    let counter = |increment: &dyn Fn(i64) -> Option<f64>, reset_at: Option<i64>| {
        let mut total = 0.0;
        let mut points = Vec::new();
        for k in 0..=steps {
            if Some(k) == reset_at {
                total = 0.0;
            }
            if let Some(inc) = increment(k) {
                total += if k == 0 { 0.0 } else { inc };
                points.push((k, total));
            }
        }
        points
    };
    series(&[("__name__", "o_requests_total"), ("job", "api"), ("instance", "a")], counter(&|k| Some((k * 7 % 5 + 1) as f64), Some(120)));
    series(&[("__name__", "o_requests_total"), ("job", "api"), ("instance", "b")], counter(&|k| Some((k * 3 % 4) as f64 * 0.5 + 0.25), None));
    // A 10-minute gap (k 80..=120 missing).
    series(&[("__name__", "o_requests_total"), ("job", "db"), ("instance", "c")], counter(&|k| (!(80..=120).contains(&k)).then_some(2.0), None));
    let gauge = |value: &dyn Fn(i64) -> f64, gap: Option<std::ops::RangeInclusive<i64>>| (0..=steps).filter(|k| !gap.as_ref().is_some_and(|g| g.contains(k))).map(|k| (k, value(k))).collect::<Vec<_>>();
    series(&[("__name__", "o_temp"), ("job", "api"), ("instance", "a")], gauge(&|k| ((k * 7 + 3) % 11) as f64 * 0.5 + 20.0, None));
    series(&[("__name__", "o_temp"), ("job", "api"), ("instance", "b")], gauge(&|k| ((k * 5 + 1) % 9) as f64 - 3.0, None));
    // A 5-minute gap (k 150..=169 missing).
    series(&[("__name__", "o_temp"), ("job", "db"), ("instance", "c")], gauge(&|k| 100.0 + (k % 13) as f64 * 1.25, Some(150..=169)));
    series(&[("__name__", "o_temp"), ("job", "db"), ("instance", "d"), ("zone", "z1")], gauge(&|k| (k / 10) as f64, None));
    series(&[("__name__", "o_info"), ("job", "api"), ("instance", "a"), ("version", "1.2"), ("zone", "z9")], gauge(&|_| 1.0, None));
    series(&[("__name__", "o_info"), ("job", "db"), ("instance", "c"), ("version", "2.0")], gauge(&|_| 1.0, None));
    for (n, v) in [("10", 1.0), ("9", 2.0), ("-1.5", 3.0), ("2.25", 4.0)] {
        series(&[("__name__", "o_numbered"), ("n", n)], gauge(&|_| v, None));
    }
    // A classic histogram per instance: observations spread over the buckets by k.
    for (instance, scale) in [("a", 1i64), ("b", 3)] {
        let bounds = ["0.1", "0.5", "1", "5", "+Inf"];
        let mut cumulative = [0.0f64; 5];
        let mut per_bucket: Vec<Vec<(i64, f64)>> = vec![Vec::new(); 5];
        for k in 0..=steps {
            let mut in_bucket = 0.0;
            for (b, total) in cumulative.iter_mut().enumerate() {
                in_bucket += ((k * scale + b as i64 * 3) % 4) as f64;
                *total += in_bucket;
                per_bucket[b].push((k, *total));
            }
        }
        for (b, points) in per_bucket.into_iter().enumerate() {
            series(&[("__name__", "o_latency_seconds_bucket"), ("job", "api"), ("instance", instance), ("le", bounds[b])], points);
        }
    }
    // A VictoriaMetrics histogram: counters of vmrange buckets (18 per decade, %.3e bounds).
    let ranges = ["8.799e-01...1.000e+00", "1.000e+00...1.136e+00", "2.154e+00...2.448e+00", "4.642e+00...5.275e+00", "1.000e+01...1.136e+01"];
    for (b, range) in ranges.iter().enumerate() {
        let b = b as i64;
        series(&[("__name__", "o_size_bucket"), ("job", "api"), ("vmrange", range)], counter(&|k| Some(((k * (b + 2) + b) % 5) as f64), None));
    }
    lines
}

/// An answer: series (labels as sorted JSON) → points (seconds, value).
type Answer = BTreeMap<String, Vec<(f64, f64)>>;

fn number(text: &Value) -> f64 {
    match text.as_str() {
        Some(t) => match t {
            "NaN" => f64::NAN,
            "+Inf" | "Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            t => t.parse().unwrap_or(f64::NAN),
        },
        None => text.as_f64().unwrap_or(f64::NAN),
    }
}

fn point(pair: &Value) -> (f64, f64) {
    (pair[0].as_f64().unwrap_or(f64::NAN), number(&pair[1]))
}

/// The answer of a query API, or what went wrong.
fn ask(url: &str) -> Result<Answer, String> {
    let (status, body) = match agent().get(url).call() {
        Ok(r) | Err(ureq::Error::Status(_, r)) => (r.status(), r.into_string().unwrap_or_default()),
        Err(e) => return Err(format!("GET failed: {e}")),
    };
    let parsed: Value = serde_json::from_str(&body).map_err(|_| format!("{status}: {body}"))?;
    if parsed["status"] != "success" {
        return Err(format!("{status}: {}", parsed["error"].as_str().unwrap_or(&body)));
    }
    let data = &parsed["data"];
    let mut answer = Answer::new();
    let labels = |s: &Value| {
        let map: BTreeMap<String, String> = serde_json::from_value(s["metric"].clone()).unwrap_or_default();
        serde_json::to_string(&map).unwrap_or_default()
    };
    match data["resultType"].as_str() {
        Some("matrix") => {
            for s in data["result"].as_array().into_iter().flatten() {
                let points = s["values"].as_array().into_iter().flatten().map(point).collect();
                answer.insert(labels(s), points);
            }
        }
        Some("vector") => {
            for s in data["result"].as_array().into_iter().flatten() {
                answer.insert(labels(s), vec![point(&s["value"])]);
            }
        }
        Some("scalar") => {
            answer.insert("{}".to_string(), vec![point(&data["result"])]);
        }
        other => return Err(format!("result type {other:?}")),
    }
    // A NaN point is no point (VictoriaMetrics leaves them out of its answers).
    for points in answer.values_mut() {
        points.retain(|p| !p.1.is_nan());
    }
    answer.retain(|_, points| !points.is_empty());
    Ok(answer)
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= ABS_TOLERANCE || (a - b).abs() <= REL_TOLERANCE * a.abs().max(b.abs())
}

/// Where two answers differ, in a line; None when they agree.
fn difference(ours: &Answer, vm: &Answer) -> Option<String> {
    let (our_keys, vm_keys): (Vec<&String>, Vec<&String>) = (ours.keys().collect(), vm.keys().collect());
    if our_keys != vm_keys {
        return Some(format!("series differ: ours {our_keys:?}, VictoriaMetrics {vm_keys:?}"));
    }
    for (key, our_points) in ours {
        let vm_points = &vm[key];
        let our_times: Vec<f64> = our_points.iter().map(|p| p.0).collect();
        let vm_times: Vec<f64> = vm_points.iter().map(|p| p.0).collect();
        if our_times != vm_times {
            let only_ours: Vec<f64> = our_times.iter().filter(|t| !vm_times.contains(t)).copied().collect();
            let only_vm: Vec<f64> = vm_times.iter().filter(|t| !our_times.contains(t)).copied().collect();
            return Some(format!("{key}: timestamps differ: only ours {}, only VictoriaMetrics {}", brief(&only_ours), brief(&only_vm)));
        }
        if let Some((o, v)) = our_points.iter().zip(vm_points).find(|(o, v)| !close(o.1, v.1)) {
            return Some(format!("{key} at {}: ours {}, VictoriaMetrics {}", o.0, o.1, v.1));
        }
    }
    None
}

fn brief(times: &[f64]) -> String {
    let shown: Vec<String> = times.iter().take(6).map(|t| t.to_string()).collect();
    format!("[{}{}] ({})", shown.join(", "), if times.len() > 6 { ", …" } else { "" }, times.len())
}

/// An answer in a few lines: each series with its first points.
fn compact(answer: &Answer) -> String {
    let mut out = String::new();
    for (key, points) in answer.iter().take(8) {
        let shown: Vec<String> = points.iter().take(5).map(|(t, v)| format!("{t}:{v}")).collect();
        let _ = writeln!(out, "    {key} {}{}", shown.join(" "), if points.len() > 5 { format!(" … ({} points)", points.len()) } else { String::new() });
    }
    if answer.len() > 8 {
        let _ = writeln!(out, "    … ({} series)", answer.len());
    }
    out
}

/// VictoriaMetrics with answers that do not depend on when they are asked: no caches, no
/// latency offset.
fn start_victoria(binary: &str, dir: &Path) -> (KillOnDrop, String, std::path::PathBuf) {
    start_victoriametrics_with(binary, dir, &["-search.latencyOffset=0s", "-search.disableCache", "-search.cacheTimestampOffset=0s"])
}

#[test]
fn metricsql_answers_as_victoriametrics_answers() {
    let Ok(victoria) = std::env::var("METRICSTOR_VICTORIAMETRICS_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_VICTORIAMETRICS_BIN (bash .ci/run does) to run the MetricsQL comparison with VictoriaMetrics");
        return;
    };
    let began = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    let (_vm, vm, log) = start_victoria(&victoria, dir.path());
    let now_s = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() as i64;
    let t0 = (now_s / 3_600 - 3) * 3_600;
    let data = data_set(t0 * 1000);
    let series_count = data.lines().count();
    for base in [vm.as_str(), &format!("http://{}", server.http_addr)] {
        let reply = post_plain(&format!("{base}/api/v1/import"), "application/json", data.as_bytes());
        assert_eq!(reply.status, 204, "import into {base}: {}", reply.body);
    }
    agent().get(&format!("{vm}/internal/force_flush")).call().expect("force flush");
    // Both hold every series before any comparison.
    let count_query = format!("/api/v1/query?query={}&time={}", percent_encode("count(last_over_time({__name__=~\"o_.+\"}[1h]))"), t0 + SPAN_S);
    for base in [vm.as_str(), &format!("http://{}", server.http_addr)] {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let counted = ask(&format!("{base}{count_query}")).ok().and_then(|a| a.values().next().and_then(|p| p.first()).map(|p| p.1));
            if counted == Some(series_count as f64) {
                break;
            }
            assert!(Instant::now() < deadline, "{base} holds {counted:?} of {series_count} series; VictoriaMetrics log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    let ours_base = format!("http://{}", server.http_addr);
    let mut asked = Vec::new();
    for step in STEPS_S {
        asked.push(format!("start={}&end={}&step={step}s&nocache=1", t0 + FROM_S, t0 + SPAN_S));
    }
    for at in INSTANTS_S {
        asked.push(format!("time={}&nocache=1", t0 + at));
    }
    let mut mismatches = Vec::new();
    let mut agreeing = 0;
    for case in QUERIES {
        let mut failed = None;
        for params in &asked {
            let api = if params.starts_with("time=") { "query" } else { "query_range" };
            let end = (t0 + SPAN_S).to_string();
            let ours = ask(&format!("{ours_base}/api/v1/{api}?query={}&{params}", percent_encode(&case.ours.replace("$END", &end))));
            let theirs = ask(&format!("{vm}/api/v1/{api}?query={}&{params}", percent_encode(&case.vm.replace("$END", &end))));
            let why = match (&ours, &theirs) {
                (Ok(o), Ok(v)) => difference(o, v),
                (o, v) => Some(format!("an error: ours {:?}, VictoriaMetrics {:?}", o.as_ref().err(), v.as_ref().err())),
            };
            if let Some(why) = why {
                let show = |a: &Result<Answer, String>| a.as_ref().map(compact).unwrap_or_else(|e| format!("    error {e}\n"));
                failed = Some(format!(
                    "{}{} ({api} {params}): {why}\n  ours:\n{}  VictoriaMetrics:\n{}",
                    case.ours,
                    if case.vm != case.ours { format!(" / VictoriaMetrics: {}", case.vm) } else { String::new() },
                    show(&ours),
                    show(&theirs)
                ));
                break;
            }
        }
        match failed {
            Some(report) => mismatches.push(report),
            None => agreeing += 1,
        }
    }
    eprintln!("{agreeing} of {} queries agree with VictoriaMetrics ({} parameter sets each) in {:?}", QUERIES.len(), asked.len(), began.elapsed());
    assert!(mismatches.is_empty(), "{} of {} queries answer differently from VictoriaMetrics:\n{}", mismatches.len(), QUERIES.len(), mismatches.join("\n"));
    assert!(server.stop());
}
