//! The scrape and service discovery figures of `/metrics`, per job, under Metricstor's
//! `metricstor_` names (Prometheus keeps the like as `prometheus_sd_*` and
//! `prometheus_target_*`, VictoriaMetrics as `vm_promscrape_*`).

use std::fmt::Write;

use super::self_metrics::family;
use crate::ingest::text_format::push_escaped_label_value;
use crate::scrape::status::JobFigures;

/// Appends the scrape and discovery families to `out`: per job, targets discovered, active by
/// health and dropped (`scrape::status::Registry::job_figures`), scrapes and failed scrapes by
/// the limit that failed them, and each discovery mechanism's requests, failures and request
/// time (`scrape::asked_groups::AskedGroups::refresh_counts`). A family without a sample (no
/// scrape configuration) is left out.
pub(super) fn write(out: &mut String, jobs: &[JobFigures], refreshes: &[((&'static str, String), crate::scrape::asked_groups::RefreshCounts)]) {
    if !jobs.is_empty() {
        let by_job = |out: &mut String, name: &str, kind: &str, help: &str, label: &str, value: fn(&JobFigures) -> u64| {
            family(out, name, kind, help);
            for job in jobs {
                sample(out, name, &[(label, &job.job)], value(job));
            }
        };
        by_job(out, "metricstor_sd_discovered_targets", "gauge", "Targets the job's discoveries and static configs gave at the last discovery, before relabeling (Prometheus' prometheus_sd_discovered_targets).", "config", |j| j.discovered as u64);
        family(out, "metricstor_scrape_targets", "gauge", "The job's active targets by the health of their last scrape (unknown: not scraped yet).");
        for job in jobs {
            for (health, count) in [("up", job.up), ("down", job.down), ("unknown", job.unknown)] {
                sample(out, "metricstor_scrape_targets", &[("scrape_job", &job.job), ("health", health)], count as u64);
            }
        }
        by_job(out, "metricstor_scrape_dropped_targets", "gauge", "The job's targets dropped by relabel_configs at the last discovery.", "scrape_job", |j| j.dropped as u64);
        by_job(out, "metricstor_scrapes_total", "counter", "Scrapes of the job's targets.", "scrape_job", |j| j.scrapes.scrapes);
        by_job(out, "metricstor_scrapes_failed_total", "counter", "Scrapes of the job's targets that failed (up 0), whatever the cause.", "scrape_job", |j| j.scrapes.failed);
        family(out, "metricstor_scrapes_exceeded_limit_total", "counter", "Scrapes failed by a limit of the job (Prometheus' prometheus_target_scrapes_exceeded_*_total).");
        for job in jobs {
            let s = &job.scrapes;
            for (limit, count) in [("sample_limit", s.sample_limit), ("body_size_limit", s.body_size_limit), ("label_limits", s.label_limits), ("native_histogram_bucket_limit", s.bucket_limit)] {
                sample(out, "metricstor_scrapes_exceeded_limit_total", &[("scrape_job", &job.job), ("limit", limit)], count);
            }
        }
    }
    if refreshes.is_empty() {
        return;
    }
    let by_refresh = |out: &mut String, name: &str, kind: &str, help: &str, value: &dyn Fn(&crate::scrape::asked_groups::RefreshCounts) -> String| {
        if !help.is_empty() {
            family(out, name, kind, help);
        }
        for ((mechanism, job), counts) in refreshes {
            let _ = write!(out, "{name}{{mechanism=\"{mechanism}\",config=\"");
            push_escaped_label_value(out, job);
            let _ = writeln!(out, "\"}} {}", value(counts));
        }
    };
    by_refresh(out, "metricstor_sd_refreshes_total", "counter", "Requests of the job's discovery: each refresh of a polling one, each list, watch or long poll of Kubernetes, Consul, Kuma and ZooKeeper.", &|c| c.requests.to_string());
    by_refresh(out, "metricstor_sd_refresh_failures_total", "counter", "Those requests that failed (their last good targets are kept; Prometheus' prometheus_sd_refresh_failures_total).", &|c| c.failures.to_string());
    family(out, "metricstor_sd_refresh_duration_seconds", "summary", "Time the polling discoveries' refreshes took (watches and long polls are not timed).");
    by_refresh(out, "metricstor_sd_refresh_duration_seconds_sum", "", "", &|c| c.seconds.to_string());
    by_refresh(out, "metricstor_sd_refresh_duration_seconds_count", "", "", &|c| c.timed.to_string());
}

/// One sample line: `name{labels} value`, the label values escaped.
pub(super) fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    out.push_str(name);
    out.push('{');
    for (i, (label, text)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{label}=\"");
        push_escaped_label_value(out, text);
        out.push('"');
    }
    let _ = writeln!(out, "}} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::asked_groups::RefreshCounts;
    use crate::scrape::status::ScrapeCounts;

    #[test]
    fn jobs_and_refreshes_are_written_with_escaped_labels() {
        let jobs = [JobFigures { job: "node \"a\"".into(), discovered: 5, up: 2, down: 1, unknown: 0, dropped: 2, scrapes: ScrapeCounts { scrapes: 10, failed: 3, sample_limit: 1, body_size_limit: 0, label_limits: 2, bucket_limit: 0 } }];
        let refreshes = [(("http", "node \"a\"".to_string()), RefreshCounts { requests: 4, failures: 1, timed: 4, seconds: 0.5 })];
        let mut out = String::new();
        write(&mut out, &jobs, &refreshes);
        for line in [
            "metricstor_sd_discovered_targets{config=\"node \\\"a\\\"\"} 5",
            "metricstor_scrape_targets{scrape_job=\"node \\\"a\\\"\",health=\"up\"} 2",
            "metricstor_scrape_targets{scrape_job=\"node \\\"a\\\"\",health=\"down\"} 1",
            "metricstor_scrape_dropped_targets{scrape_job=\"node \\\"a\\\"\"} 2",
            "metricstor_scrapes_failed_total{scrape_job=\"node \\\"a\\\"\"} 3",
            "metricstor_scrapes_exceeded_limit_total{scrape_job=\"node \\\"a\\\"\",limit=\"label_limits\"} 2",
            "metricstor_sd_refresh_failures_total{mechanism=\"http\",config=\"node \\\"a\\\"\"} 1",
            "metricstor_sd_refresh_duration_seconds_sum{mechanism=\"http\",config=\"node \\\"a\\\"\"} 0.5",
            "metricstor_sd_refresh_duration_seconds_count{mechanism=\"http\",config=\"node \\\"a\\\"\"} 4",
            "# TYPE metricstor_sd_refresh_duration_seconds summary",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} missing from:\n{out}");
        }
        let mut empty = String::new();
        write(&mut empty, &[], &[]);
        assert!(empty.is_empty(), "no scrape configuration, no families: {empty}");
    }
}
