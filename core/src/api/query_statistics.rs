//! Prometheus' `stats` parameter of `/api/v1/query` and `/api/v1/query_range`: which values
//! ask for what, the deprecation warning for the others, and `data.stats` as Prometheus'
//! `util/stats/query_stats.go` writes it. (`query_stats` is VictoriaMetrics' top queries.)

use promql::QueryStats;

use super::params::Params;

/// What a request's `stats` asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) enum StatsAsked {
    /// Absent or empty: no statistics, nothing counted.
    #[default]
    None,
    /// `true` (or any other non-empty value, deprecated): timings and sample totals.
    Totals,
    /// `all`: also the total per step.
    PerStep,
}

impl StatsAsked {
    pub(super) fn from_params(params: &Params) -> StatsAsked {
        match params.get("stats") {
            None | Some("") => StatsAsked::None,
            Some("all") => StatsAsked::PerStep,
            Some(_) => StatsAsked::Totals,
        }
    }

    pub(super) fn wanted(self) -> bool {
        self != StatsAsked::None
    }
}

/// Prometheus' warning for a `stats` value other than `true` and `all` (still answered with
/// statistics, as Prometheus does until its next major release).
pub(super) fn deprecation_warning(params: &Params) -> Option<String> {
    match params.get("stats") {
        None | Some("" | "true" | "all") => None,
        Some(other) => Some(format!("value {} for parameter \"stats\" is deprecated and will be rejected in the next major release, use \"true\" or \"all\"", go_quoted(other))),
    }
}

/// A string as Go's `%q` writes it (close enough for parameter values: JSON escaping).
fn go_quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_string())
}

/// Appends `"stats":{…}`: timings in seconds, then the samples (each per-step list before
/// its total, as Prometheus' struct orders them, only for `all`).
pub(super) fn push_stats(out: &mut String, stats: &QueryStats, asked: StatsAsked) {
    let t = &stats.timings;
    out.push_str("\"stats\":{\"timings\":{");
    for (i, (name, seconds)) in [
        ("evalTotalTime", t.eval_total_seconds),
        ("resultSortTime", t.result_sort_seconds),
        ("queryPreparationTime", t.query_preparation_seconds),
        ("innerEvalTime", t.inner_eval_seconds),
        ("execQueueTime", t.exec_queue_seconds),
        ("execTotalTime", t.exec_total_seconds),
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(name);
        out.push_str("\":");
        push_json_number(out, seconds);
    }
    out.push_str("},\"samples\":{");
    let s = &stats.samples;
    let per_step = asked == StatsAsked::PerStep;
    push_per_step(out, "totalQueryableSamplesPerStep", &s.total_queryable_samples_per_step, per_step);
    out.push_str(&format!("\"totalQueryableSamples\":{},", s.total_queryable_samples));
    push_per_step(out, "samplesReadPerStep", &s.samples_read_per_step, per_step);
    out.push_str(&format!("\"samplesRead\":{},\"peakSamples\":{}}}}}", s.samples_read, s.peak_samples));
}

/// `"name":[[time in seconds, samples],…],` of per-step counts, when `asked` and there are
/// steps (Prometheus leaves an empty list out).
fn push_per_step(out: &mut String, name: &str, counts: &[(i64, u64)], asked: bool) {
    if !asked || counts.is_empty() {
        return;
    }
    out.push_str(&format!("\"{name}\":["));
    for (i, (t_ms, n)) in counts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        super::json::push_timestamp(out, *t_ms);
        out.push_str(&format!(",{n}]"));
    }
    out.push_str("],");
}

/// A float as Go's `encoding/json` writes one (shortest form; exponent without a leading 0).
fn push_json_number(out: &mut String, value: f64) {
    if !value.is_finite() {
        out.push('0');
        return;
    }
    let mut text = String::new();
    promql::format::push_go_float(&mut text, value);
    out.push_str(&text.replace("e-0", "e-").replace("e+0", "e+"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> QueryStats {
        let mut stats = QueryStats::default();
        stats.timings.eval_total_seconds = 0.5;
        stats.timings.exec_queue_seconds = 0.000_000_25;
        stats.samples.total_queryable_samples = 12;
        stats.samples.total_queryable_samples_per_step = vec![(1_000, 5), (1_500, 7)];
        stats.samples.samples_read = 9;
        stats.samples.samples_read_per_step = vec![(1_000, 5), (1_500, 4)];
        stats.samples.peak_samples = 20;
        stats
    }

    #[test]
    fn stats_are_written_in_prometheus_field_order() {
        let mut out = String::new();
        push_stats(&mut out, &stats(), StatsAsked::Totals);
        assert_eq!(
            out,
            "\"stats\":{\"timings\":{\"evalTotalTime\":0.5,\"resultSortTime\":0,\"queryPreparationTime\":0,\"innerEvalTime\":0,\"execQueueTime\":2.5e-7,\"execTotalTime\":0},\
             \"samples\":{\"totalQueryableSamples\":12,\"samplesRead\":9,\"peakSamples\":20}}"
        );
        let mut out = String::new();
        push_stats(&mut out, &stats(), StatsAsked::PerStep);
        assert!(out.ends_with("\"samples\":{\"totalQueryableSamplesPerStep\":[[1,5],[1.5,7]],\"totalQueryableSamples\":12,\"samplesReadPerStep\":[[1,5],[1.5,4]],\"samplesRead\":9,\"peakSamples\":20}}"), "{out}");
    }

    #[test]
    fn only_true_and_all_are_without_a_warning() {
        let params = |value: &str| Params::from_request(Some(&format!("stats={value}")), None).unwrap();
        assert_eq!(StatsAsked::from_params(&params("")), StatsAsked::None);
        assert_eq!(StatsAsked::from_params(&params("true")), StatsAsked::Totals);
        assert_eq!(StatsAsked::from_params(&params("1")), StatsAsked::Totals);
        assert_eq!(StatsAsked::from_params(&params("all")), StatsAsked::PerStep);
        assert_eq!(deprecation_warning(&params("true")), None);
        assert_eq!(deprecation_warning(&params("all")), None);
        assert_eq!(
            deprecation_warning(&params("1")).as_deref(),
            Some("value \"1\" for parameter \"stats\" is deprecated and will be rejected in the next major release, use \"true\" or \"all\"")
        );
    }
}
