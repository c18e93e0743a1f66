//! One target's scrape loop, as Prometheus runs it: a GET every interval (at an offset in
//! the interval fixed by the target, so targets spread out), the text exposition parsed,
//! the target's labels merged into each series (`honor_labels`, or the exposed label kept as
//! `exported_<name>`), `metric_relabel_configs` and `sample_limit` applied, and the series
//! stored at the scrape's start time (or their own, with `honor_timestamps`). A series
//! missing from the next scrape, every series of a failed scrape and, when the target goes
//! away, the target's series get a staleness marker. Each scrape also writes `up`,
//! `scrape_duration_seconds`, `scrape_samples_scraped`,
//! `scrape_samples_post_metric_relabeling` and `scrape_series_added`.

use std::collections::HashSet;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tsdb::{Labels, Sample, SeriesSamples, METRIC_NAME_LABEL, STALE_NAN_BITS};

use super::discovery::Target;
use super::status::{Health, Registry};
use crate::api::Api;
use crate::ingest::label_limits::LabelLimits;

/// What the scrape loops of one executor share.
pub struct ScrapeContext {
    pub api: Rc<Api>,
    pub registry: Arc<Registry>,
    pub external_labels: Arc<Vec<(String, String)>>,
}

/// What a target's exposition made, before staleness.
#[derive(Debug, Default)]
pub struct Exposition {
    /// Series of this scrape with their sample; `tracked` says which take part in
    /// staleness (those without their own timestamp).
    pub samples: Vec<(Labels, Sample, bool)>,
    /// Samples in the body (`scrape_samples_scraped`).
    pub scraped: usize,
}

/// Sets the target's labels on an exposed series: with `honor_labels` only those it lacks;
/// otherwise the target's win and an exposed one of the same name is kept as
/// `exported_<name>` (more `exported_` while that name is taken too).
fn merge_target_labels(exposed: &Labels, target: &[(String, String)], honor_labels: bool, external: &[(String, String)]) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = exposed.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect();
    let has = |labels: &[(String, String)], name: &str| labels.iter().any(|(n, v)| n == name && !v.is_empty());
    if honor_labels {
        for (name, value) in target {
            if !has(&labels, name) {
                labels.retain(|(n, _)| n != name);
                labels.push((name.clone(), value.clone()));
            }
        }
    } else {
        let mut conflicting = Vec::new();
        for (name, value) in target {
            if let Some(at) = labels.iter().position(|(n, _)| n == name) {
                let (_, exposed_value) = labels.remove(at);
                if !exposed_value.is_empty() {
                    conflicting.push((name.clone(), exposed_value));
                }
            }
            labels.push((name.clone(), value.clone()));
        }
        for (name, value) in conflicting {
            let mut renamed = format!("exported_{name}");
            while has(&labels, &renamed) {
                renamed = format!("exported_{renamed}");
            }
            labels.push((renamed, value));
        }
    }
    for (name, value) in external {
        if !has(&labels, name) {
            labels.push((name.clone(), value.clone()));
        }
    }
    labels.retain(|(_, v)| !v.is_empty());
    labels
}

/// Parses a body and applies the target's labels, the job's metric relabeling and sample
/// limit. `start_ms` is the scrape's start. An error fails the whole scrape (as a malformed
/// line or an exceeded limit fails it in Prometheus).
pub fn expose(target: &Target, external: &[(String, String)], body: &[u8], start_ms: i64, limits: &LabelLimits) -> Result<Exposition, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("the response is not UTF-8 text: {e}"))?;
    let job = &target.job;
    let mut out = Exposition::default();
    let mut seen: HashSet<Labels> = HashSet::new();
    // No exposed timestamp is this far back: it marks a sample without one.
    const NO_TIMESTAMP: i64 = i64::MIN;
    for (index, raw) in text.lines().enumerate() {
        let parsed = crate::ingest::text_format::parse_line(raw, index + 1, NO_TIMESTAMP, limits).map_err(|e| e.to_string())?;
        let Some((exposed, mut sample)) = parsed else { continue };
        out.scraped += 1;
        let tracked = sample.timestamp_ms == NO_TIMESTAMP || !job.honor_timestamps;
        if tracked {
            sample.timestamp_ms = start_ms;
        }
        let mut labels = merge_target_labels(&exposed, &target.labels, job.honor_labels, external);
        if !job.metric_relabeler.apply(&mut labels) || labels.iter().all(|(n, _)| n != METRIC_NAME_LABEL) {
            continue;
        }
        let labels = Labels::from_pairs(labels);
        // A series exposed twice keeps its first sample (Prometheus counts the rest as
        // duplicates and drops them).
        if !seen.insert(labels.clone()) {
            continue;
        }
        out.samples.push((labels, sample, tracked));
        if job.sample_limit != 0 && out.samples.len() > job.sample_limit {
            return Err(format!("sample_limit exceeded: more than {} samples after metric relabeling", job.sample_limit));
        }
    }
    Ok(out)
}

/// The staleness bookkeeping of one target: the series its last successful scrape wrote.
#[derive(Debug, Default)]
pub struct Staleness {
    previous: HashSet<Labels>,
}

fn stale_sample(timestamp_ms: i64) -> Sample {
    Sample { timestamp_ms, value: f64::from_bits(STALE_NAN_BITS) }
}

impl Staleness {
    /// The series of a successful scrape plus a staleness marker at `start_ms` for each
    /// tracked series of the last one that this one lacks; and how many it added.
    pub fn scraped(&mut self, exposition: Exposition, start_ms: i64) -> (Vec<SeriesSamples>, usize) {
        let mut current = HashSet::with_capacity(exposition.samples.len());
        let mut series = Vec::with_capacity(exposition.samples.len());
        for (labels, sample, tracked) in exposition.samples {
            if tracked {
                current.insert(labels.clone());
            }
            series.push(SeriesSamples { labels, samples: vec![sample], histograms: Vec::new() });
        }
        let added = current.iter().filter(|l| !self.previous.contains(*l)).count();
        for gone in self.previous.difference(&current) {
            series.push(SeriesSamples { labels: gone.clone(), samples: vec![stale_sample(start_ms)], histograms: Vec::new() });
        }
        self.previous = current;
        (series, added)
    }

    /// A staleness marker at `at_ms` for every series of the last scrape (a failed scrape,
    /// or the target gone).
    pub fn all_stale(&mut self, at_ms: i64) -> Vec<SeriesSamples> {
        self.previous.drain().map(|labels| SeriesSamples { labels, samples: vec![stale_sample(at_ms)], histograms: Vec::new() }).collect()
    }
}

/// The series Prometheus writes about each scrape, with the target's labels (and the
/// external labels it lacks).
fn report_series(target: &Target, external: &[(String, String)], at_ms: i64, values: [f64; 5]) -> Vec<SeriesSamples> {
    const NAMES: [&str; 5] = ["up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling", "scrape_series_added"];
    NAMES
        .iter()
        .zip(values)
        .map(|(name, value)| SeriesSamples { labels: report_labels(target, external, name), samples: vec![Sample { timestamp_ms: at_ms, value }], histograms: Vec::new() })
        .collect()
}

fn report_labels(target: &Target, external: &[(String, String)], name: &str) -> Labels {
    let mut pairs: Vec<(String, String)> = target.labels.clone();
    for (n, v) in external {
        if !pairs.iter().any(|(p, _)| p == n) {
            pairs.push((n.clone(), v.clone()));
        }
    }
    pairs.push((METRIC_NAME_LABEL.to_string(), name.to_string()));
    Labels::from_pairs(pairs)
}

/// Why a loop ended: its target went away (write staleness markers) or the server stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Removed,
    Shutdown,
}

/// Runs `work` unless `stop` fires first: a message means the target was removed, a closed
/// channel that the server is stopping.
async fn unless_stopped<T>(stop: &async_channel::Receiver<()>, work: impl Future<Output = T>) -> Result<T, Stop> {
    futures_lite::future::or(async { Ok(work.await) }, async {
        match stop.recv().await {
            Ok(()) => Err(Stop::Removed),
            Err(_) => Err(Stop::Shutdown),
        }
    })
    .await
}

fn now_ms() -> i64 {
    crate::api::params::now_ms()
}

/// The first scrape time at or after `now_ms`: the target's offset into its interval.
fn first_slot(key: u64, interval_ms: i64, now_ms: i64) -> i64 {
    let offset = (key % interval_ms.max(1) as u64) as i64;
    let mut next = now_ms - now_ms.rem_euclid(interval_ms) + offset;
    if next < now_ms {
        next += interval_ms;
    }
    next
}

/// Scrapes `target` until `stop` fires.
pub async fn run(context: Rc<ScrapeContext>, target: Arc<Target>, stop: async_channel::Receiver<()>) {
    let job = target.job.clone();
    let tls = match target.scheme {
        super::config::Scheme::Https => job.tls.clone(),
        super::config::Scheme::Http => None,
    };
    let mut client = net::client::HttpClient::new(target.host.clone(), target.port, tls);
    let limits = context.api.config.storage.ingest_rules().label_limits;
    let mut staleness = Staleness::default();
    let mut was_up: Option<bool> = None;
    let mut next = first_slot(target.key, target.interval_ms, now_ms());
    let stopped = loop {
        let wait = next - now_ms();
        if wait > 0 {
            if let Err(stop) = unless_stopped(&stop, glommio::timer::sleep(Duration::from_millis(wait as u64))).await {
                break stop;
            }
        }
        let start_ms = now_ms();
        let started = Instant::now();
        let fetched = match unless_stopped(&stop, fetch(&mut client, &target)).await {
            Ok(fetched) => fetched,
            Err(stop) => break stop,
        };
        let result = fetched.and_then(|body| expose(&target, &context.external_labels, &body, start_ms, &limits));
        let duration = started.elapsed().as_secs_f64();
        let (mut series, up, error, report) = match result {
            Ok(exposition) => {
                let scraped = exposition.scraped;
                let kept = exposition.samples.len();
                let (series, added) = staleness.scraped(exposition, start_ms);
                (series, true, String::new(), [1.0, duration, scraped as f64, kept as f64, added as f64])
            }
            Err(error) => (staleness.all_stale(start_ms), false, error, [0.0, duration, 0.0, 0.0, 0.0]),
        };
        series.extend(report_series(&target, &context.external_labels, start_ms, report));
        if was_up != Some(up) {
            if up {
                tracing::info!(job = %job.name, url = %target.url, "scrape target is up");
            } else {
                tracing::warn!(job = %job.name, url = %target.url, %error, "scrape failed; the target is down until a scrape succeeds");
            }
            was_up = Some(up);
        }
        let stored = store(&context.api, series).await;
        let last_error = match (error.is_empty(), stored) {
            (true, Err(store_error)) => format!("cannot store the scraped samples: {store_error}"),
            _ => error,
        };
        context.registry.update(&job.name, target.key, |status| {
            status.health = if up { Health::Up } else { Health::Down };
            status.last_error = last_error;
            status.last_scrape_ms = start_ms;
            status.last_duration_seconds = duration;
        });
        next += target.interval_ms;
        let now = now_ms();
        if next <= now {
            // Slower than the interval: skip the slots already past, as Prometheus does.
            next += (now - next) / target.interval_ms * target.interval_ms + target.interval_ms;
        }
    };
    if stopped == Stop::Removed {
        let at = now_ms();
        let mut series = staleness.all_stale(at);
        series.extend(report_series(&target, &context.external_labels, at, [f64::from_bits(STALE_NAN_BITS); 5]));
        let _ = store(&context.api, series).await;
    }
}

/// The target's exposition body, or why there is none (as Prometheus words scrape errors).
async fn fetch(client: &mut net::client::HttpClient, target: &Target) -> Result<Vec<u8>, String> {
    let job = &target.job;
    let mut headers = vec![
        ("Accept".to_string(), "text/plain;version=0.0.4;q=1,*/*;q=0.1".to_string()),
        ("User-Agent".to_string(), format!("Metricstor/{}", env!("CARGO_PKG_VERSION"))),
        ("X-Prometheus-Scrape-Timeout-Seconds".to_string(), format!("{}", target.timeout_ms as f64 / 1000.0)),
    ];
    if let Some(value) = job.credentials.header()? {
        headers.push(("Authorization".to_string(), value));
    }
    let timeout = Duration::from_millis(target.timeout_ms as u64);
    let response = client.get(&target.path_and_query, &headers, timeout, job.body_bytes_max).await.map_err(|e| format!("Get {:?}: {e}", target.url))?;
    if !(200..300).contains(&response.status) {
        let reason = http::StatusCode::from_u16(response.status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
        return Err(format!("server returned HTTP status {} {reason}", response.status).trim_end().to_string());
    }
    let content_type = response.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.starts_with("application/openmetrics-text") || content_type.starts_with("application/vnd.google.protobuf") {
        return Err(format!("unsupported Content-Type {content_type:?}: only the Prometheus text format is read"));
    }
    Ok(response.body)
}

async fn store(api: &Api, series: Vec<SeriesSamples>) -> Result<(), String> {
    if series.is_empty() {
        return Ok(());
    }
    let batch = tsdb::SeriesBatch::from_series(&series);
    crate::api::write::append_counted(api, batch).await.map(|_| ()).map_err(|e| e.message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::config::ScrapeConfig;
    use crate::scrape::discovery::{targets, Discovered};

    fn target(job_yaml: &str) -> Target {
        let job = ScrapeConfig::from_yaml(job_yaml, std::path::Path::new("/tmp"), LabelLimits::default()).unwrap().jobs.remove(0);
        let groups = job.static_groups.clone();
        match targets(&job, &groups).pop() {
            Some(Discovered::Active(t)) => t,
            other => panic!("{other:?}"),
        }
    }

    fn names(exposition: &Exposition) -> Vec<String> {
        exposition.samples.iter().map(|(l, s, _)| format!("{} {} {}", l, s.value, s.timestamp_ms)).collect()
    }

    #[test]
    fn target_labels_win_unless_honored() {
        let t = target("scrape_configs: [{job_name: node, static_configs: [{targets: ['h:1']}]}]");
        let body = b"# HELP a_total A.\n# TYPE a_total counter\na_total{job=\"other\",instance=\"\"} 3\nb{exported_job=\"x\",job=\"y\"} 4 1000\n";
        let e = expose(&t, &[("dc".into(), "eu".into())], body, 5000, &LabelLimits::default()).unwrap();
        assert_eq!(e.scraped, 2);
        assert_eq!(
            names(&e),
            vec![
                "a_total{dc=\"eu\", exported_job=\"other\", instance=\"h:1\", job=\"node\"} 3 5000",
                "b{dc=\"eu\", exported_exported_job=\"y\", exported_job=\"x\", instance=\"h:1\", job=\"node\"} 4 1000",
            ]
        );
        // Only the sample without a timestamp takes part in staleness.
        assert_eq!(e.samples.iter().map(|s| s.2).collect::<Vec<_>>(), vec![true, false]);
        let honored = target("scrape_configs: [{job_name: node, honor_labels: true, honor_timestamps: false, static_configs: [{targets: ['h:1']}]}]");
        let e = expose(&honored, &[], body, 5000, &LabelLimits::default()).unwrap();
        assert_eq!(names(&e), vec!["a_total{instance=\"h:1\", job=\"other\"} 3 5000", "b{exported_job=\"x\", instance=\"h:1\", job=\"y\"} 4 5000"]);
    }

    #[test]
    fn metric_relabeling_and_the_sample_limit_apply_after_the_merge() {
        let t = target("scrape_configs: [{job_name: j, sample_limit: 1, metric_relabel_configs: [{source_labels: [__name__], regex: 'go_.*', action: drop}], static_configs: [{targets: ['h:1']}]}]");
        let e = expose(&t, &[], b"go_a 1\nkept 2\ngo_b 3\nkept 5\n", 0, &LabelLimits::default()).unwrap();
        // Four scraped, one kept: the duplicate of `kept` is dropped, the go_ ones relabeled away.
        assert_eq!((e.scraped, e.samples.len()), (4, 1));
        let error = expose(&t, &[], b"a 1\nb 2\n", 0, &LabelLimits::default()).unwrap_err();
        assert!(error.contains("sample_limit exceeded"), "{error}");
        let error = expose(&t, &[], b"a 1\nb{ 2\n", 0, &LabelLimits::default()).unwrap_err();
        assert!(error.contains("line 2"), "{error}");
    }

    #[test]
    fn series_gone_from_a_scrape_get_a_staleness_marker() {
        let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]");
        let mut staleness = Staleness::default();
        let first = expose(&t, &[], b"a 1\nb 2\nc 3 77\n", 1000, &LabelLimits::default()).unwrap();
        let (series, added) = staleness.scraped(first, 1000);
        assert_eq!((series.len(), added), (3, 2));
        let second = expose(&t, &[], b"a 1\n", 2000, &LabelLimits::default()).unwrap();
        let (series, added) = staleness.scraped(second, 2000);
        assert_eq!(added, 0);
        let stale: Vec<_> = series.iter().filter(|s| tsdb::is_stale_nan(s.samples[0].value)).map(|s| (s.labels.metric_name().unwrap_or("").to_string(), s.samples[0].timestamp_ms)).collect();
        // `c` had its own timestamp: Prometheus does not mark such series stale.
        assert_eq!(stale, vec![("b".to_string(), 2000)]);
        let failed = staleness.all_stale(3000);
        assert_eq!(failed.len(), 1);
        assert!(staleness.all_stale(4000).is_empty());
    }

    #[test]
    fn report_series_carry_the_target_labels() {
        let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1'], labels: {env: p}}]}]");
        let series = report_series(&t, &[("env".into(), "ignored".into()), ("dc".into(), "x".into())], 9, [1.0, 0.5, 3.0, 2.0, 1.0]);
        let text: Vec<String> = series.iter().map(|s| format!("{} {}", s.labels, s.samples[0].value)).collect();
        assert_eq!(text[0], "up{dc=\"x\", env=\"p\", instance=\"h:1\", job=\"j\"} 1");
        assert_eq!(text[4], "scrape_series_added{dc=\"x\", env=\"p\", instance=\"h:1\", job=\"j\"} 1");
    }

    #[test]
    fn scrapes_start_at_the_targets_offset() {
        assert_eq!(first_slot(7, 1000, 10_500), 11_007);
        assert_eq!(first_slot(7, 1000, 10_005), 10_007);
        assert_eq!(first_slot(1007, 1000, 10_007), 10_007);
    }
}
