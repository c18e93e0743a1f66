//! VictoriaMetrics' `/targets` page in its plain-text form, which its users read with curl:
//! per job `job=<name> (<up>/<total> up)`, then per target (by URL) a tab and
//! `state=…, endpoint=…, labels={…}, scrapes_total=…, scrapes_failed=…, last_scrape=…ms ago,
//! scrape_duration=…ms, samples_scraped=…, error=…`; configured jobs without targets as
//! `job=<name> (0/0 up)`. Its filters: `show_only_unhealthy`, `show_original_labels` (the
//! labels before relabeling), `endpoint_search` (a regular expression over the URL) and
//! `label_search` (a series selector over the target's labels); a job left without targets
//! by the last two is not listed, nor are the empty jobs then.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::status::{Health, TargetStatus};

/// What `/targets` is asked to show.
#[derive(Debug, Default)]
pub struct TargetsFilter {
    pub show_original_labels: bool,
    pub show_only_unhealthy: bool,
    /// Over the whole URL (unanchored, as Go's `MatchString`).
    pub endpoint_search: Option<regex::Regex>,
    pub label_search: Option<Vec<tsdb::Matcher>>,
}

impl TargetsFilter {
    fn searches(&self) -> bool {
        self.endpoint_search.is_some() || self.label_search.is_some()
    }

    fn keeps(&self, status: &TargetStatus) -> bool {
        let target = &status.target;
        self.endpoint_search.as_ref().is_none_or(|search| search.is_match(&target.url)) && self.label_search.as_ref().is_none_or(|matchers| target.matches(matchers))
    }
}

/// The page for `active` targets (any order) and the `configured` job names, at `now_ns`.
pub fn targets_page(active: Vec<TargetStatus>, configured: &[String], filter: &TargetsFilter, now_ns: i64) -> String {
    let mut by_job: BTreeMap<String, Vec<TargetStatus>> = BTreeMap::new();
    for status in active {
        by_job.entry(status.target.job.name.clone()).or_default().push(status);
    }
    let mut out = String::new();
    for (job, statuses) in &mut by_job {
        statuses.sort_by(|a, b| a.target.url.cmp(&b.target.url));
        let up = statuses.iter().filter(|s| s.health == Health::Up).count();
        let total = statuses.len();
        let shown: Vec<&TargetStatus> = statuses.iter().filter(|s| !(filter.show_only_unhealthy && s.health == Health::Up)).filter(|s| filter.keeps(s)).collect();
        if shown.is_empty() && filter.searches() {
            continue;
        }
        let _ = writeln!(out, "job={job} ({up}/{total} up)");
        for status in shown {
            write_target(&mut out, status, filter.show_original_labels, now_ns);
        }
    }
    if !filter.searches() {
        let mut empty: Vec<&String> = configured.iter().filter(|job| !by_job.contains_key(job.as_str())).collect();
        empty.sort();
        empty.dedup();
        for job in empty {
            let _ = writeln!(out, "job={job} (0/0 up)");
        }
    }
    out
}

fn write_target(out: &mut String, status: &TargetStatus, show_original_labels: bool, now_ns: i64) {
    let target = &status.target;
    let state = if status.health == Health::Up { "up" } else { "down" };
    let _ = write!(out, "\tstate={state}, endpoint={}, labels={}, ", target.url, labels_text(&target.labels));
    if show_original_labels {
        let _ = write!(out, "originalLabels={}, ", labels_text(&target.discovered.labels()));
    }
    let last_scrape = if status.last_scrape_ns == 0 { "never".to_string() } else { format!("{}ms ago", (now_ns - status.last_scrape_ns).max(0) / 1_000_000) };
    let _ = writeln!(
        out,
        "scrapes_total={}, scrapes_failed={}, last_scrape={last_scrape}, scrape_duration={}ms, samples_scraped={}, error={}",
        status.scrapes_total,
        status.scrapes_failed,
        (status.last_duration_seconds * 1000.0) as u64,
        status.samples_scraped,
        status.last_error
    );
}

/// `{name="value",…}`, values quoted as Go's `strconv.Quote` would for printable text.
fn labels_text(labels: &[(String, String)]) -> String {
    let mut text = String::from("{");
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        let _ = write!(text, "{name}={value:?}");
    }
    text.push('}');
    text
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::ingest::label_limits::LabelLimits;
    use crate::scrape::config::ScrapeConfig;
    use crate::scrape::config::TargetGroup;
    use crate::scrape::discovery::{targets, Discovered};

    /// Job `node` with targets `a:1` (up, 12 samples, scraped 1.5 s before NOW) and `b:2`
    /// (down, failing); job `idle` configured with none.
    fn statuses() -> (Vec<TargetStatus>, Vec<String>) {
        let config = ScrapeConfig::from_yaml("scrape_configs: [{job_name: node}, {job_name: idle}]", Path::new("/tmp"), LabelLimits::default()).unwrap();
        let group = Arc::new(TargetGroup { targets: vec!["b:2".into(), "a:1".into()], labels: [("env".to_string(), "prod".to_string())].into_iter().collect() });
        let found = targets(&config.jobs[0], &[group]);
        let active: Vec<TargetStatus> = found
            .into_iter()
            .map(|d| {
                let Discovered::Active(target) = d else { panic!("{d:?}") };
                let mut status = TargetStatus::new(target);
                status.scrapes_total = 4;
                if status.target.url.contains("a:1") {
                    (status.health, status.samples_scraped, status.last_scrape_ns, status.last_duration_seconds) = (Health::Up, 12, NOW - 1_500_000_000, 0.0042);
                } else {
                    (status.health, status.scrapes_failed, status.last_error) = (Health::Down, 4, "connection refused".into());
                }
                status
            })
            .collect();
        (active, config.jobs.iter().map(|j| j.name.clone()).collect())
    }

    const NOW: i64 = 1_700_000_000_000_000_000;

    #[test]
    fn jobs_and_targets_read_as_victoriametrics_writes_them() {
        let (active, configured) = statuses();
        assert_eq!(
            targets_page(active, &configured, &TargetsFilter::default(), NOW),
            "job=node (1/2 up)\n\
             \tstate=up, endpoint=http://a:1/metrics, labels={env=\"prod\",instance=\"a:1\",job=\"node\"}, scrapes_total=4, scrapes_failed=0, last_scrape=1500ms ago, scrape_duration=4ms, samples_scraped=12, error=\n\
             \tstate=down, endpoint=http://b:2/metrics, labels={env=\"prod\",instance=\"b:2\",job=\"node\"}, scrapes_total=4, scrapes_failed=4, last_scrape=never, scrape_duration=0ms, samples_scraped=0, error=connection refused\n\
             job=idle (0/0 up)\n"
        );
    }

    #[test]
    fn filters_narrow_the_page_as_victoriametrics_does() {
        let page = |filter: TargetsFilter| {
            let (active, configured) = statuses();
            targets_page(active, &configured, &filter, NOW)
        };
        let unhealthy = page(TargetsFilter { show_only_unhealthy: true, ..TargetsFilter::default() });
        assert!(unhealthy.starts_with("job=node (1/2 up)\n\tstate=down, endpoint=http://b:2/metrics") && !unhealthy.contains("a:1"), "{unhealthy}");
        assert!(unhealthy.ends_with("job=idle (0/0 up)\n"), "empty jobs stay without a search: {unhealthy}");
        let by_endpoint = page(TargetsFilter { endpoint_search: Some(regex::Regex::new("a:[0-9]").unwrap()), ..TargetsFilter::default() });
        assert_eq!(by_endpoint.lines().count(), 2, "the job line and a:1 only, no empty job: {by_endpoint}");
        assert!(by_endpoint.contains("endpoint=http://a:1/metrics"));
        let by_labels = page(TargetsFilter { label_search: Some(promql::parse_series_selector(r#"{instance=~"b.*"}"#).unwrap()), ..TargetsFilter::default() });
        assert!(by_labels.contains("b:2") && !by_labels.contains("a:1") && !by_labels.contains("idle"), "{by_labels}");
        let nothing = page(TargetsFilter { label_search: Some(promql::parse_series_selector(r#"{env="dev"}"#).unwrap()), ..TargetsFilter::default() });
        assert_eq!(nothing, "", "a job left without targets by a search is not listed");
        let original = page(TargetsFilter { show_original_labels: true, ..TargetsFilter::default() });
        assert!(original.contains(r#"originalLabels={"#) && original.contains(r#"__address__="a:1""#), "{original}");
    }
}
