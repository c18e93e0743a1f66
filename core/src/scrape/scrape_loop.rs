//! One target's scrape loop, as Prometheus runs it: a GET every interval (at an offset in
//! the interval fixed by the target, so targets spread out), the exposition made into series
//! (`series_cache`), stored at the scrape's start time (or their own, with `honor_timestamps`).
//! A series missing from the next scrape, every series of a failed scrape and, when the target
//! goes away, the target's series get a staleness marker.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tsdb::{Exemplar, HistogramSample, Labels, Sample, STALE_NAN_BITS};

use super::status::{Health, Registry};
use crate::api::Api;

mod answer;
mod link;
mod metadata;
/// Each scrape also writes `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
/// `scrape_samples_post_metric_relabeling` and `scrape_series_added`.
mod report;
/// The text exposition parsed, the target's labels merged into each series (`honor_labels`,
/// or the exposed label kept as `exported_<name>`), `metric_relabel_configs` and
/// `sample_limit` applied.
mod series_cache;
mod start_synthesis;
mod type_and_unit;

pub use answer::{Answer, Format};
pub use link::{loop_link, LoopHandle, LoopInbox};
pub(crate) use metadata::type_comment;
pub(crate) use series_cache::split_series;
pub use series_cache::{Handover, Scraped, SeriesCache, SeriesStarts};
use answer::{answer_of, fetch, fresh_after_panic, target_location, INTERNAL_ERROR};
use link::{unless_stopped, Stop};
use report::{failure_cause, log_failure, report_labels, report_series, report_values};

/// What the scrape loops of one executor share.
pub struct ScrapeContext {
    pub api: Rc<Api>,
    pub registry: Arc<Registry>,
    pub external_labels: Arc<Vec<(String, String)>>,
    /// Jobs whose scrapes fail without asking their targets, with the error: those with
    /// more targets than their `target_limit` (set by `serve` at each discovery).
    pub forced_errors: std::cell::RefCell<std::collections::HashMap<String, String>>,
}

fn now_ms() -> i64 {
    crate::api::params::now_ms()
}

/// Slots per interval that targets are placed in (at most): targets of one executor sharing
/// a slot wake it once and overlap their requests, so it sleeps and wakes less often (each
/// sleep costs glommio a process-wide memory barrier), while scrapes still spread over the
/// interval.
const SLOTS_PER_INTERVAL: i64 = 16;
/// The narrowest slot.
const SLOT_MS_MIN: i64 = 50;

/// The first scrape time at or after `now_ms`: the target's slot in its interval.
fn first_slot(key: u64, interval_ms: i64, now_ms: i64) -> i64 {
    let interval_ms = interval_ms.max(1);
    let slot_ms = (interval_ms / SLOTS_PER_INTERVAL).max(SLOT_MS_MIN).min(interval_ms);
    let slots = (interval_ms / slot_ms).max(1);
    let offset = (key % slots as u64) as i64 * slot_ms;
    let mut next = now_ms - now_ms.rem_euclid(interval_ms) + offset;
    if next < now_ms {
        next += interval_ms;
    }
    next
}

/// The first scrape time at or after `now_ms` under the job's schedule: the target's slot
/// (`first_slot`), the next multiple of `scrape_align_interval`, or `scrape_offset` into the
/// interval (VictoriaMetrics' keys).
fn first_scrape_ms(schedule: crate::scrape::config::ScrapeSchedule, key: u64, interval_ms: i64, now_ms: i64) -> i64 {
    use crate::scrape::config::ScrapeSchedule;
    let interval_ms = interval_ms.max(1);
    match schedule {
        ScrapeSchedule::Spread => first_slot(key, interval_ms, now_ms),
        ScrapeSchedule::AlignedTo(align_ms) => now_ms + (align_ms - now_ms.rem_euclid(align_ms)).rem_euclid(align_ms),
        ScrapeSchedule::Offset(offset_ms) => {
            let at = now_ms - now_ms.rem_euclid(interval_ms) + offset_ms.rem_euclid(interval_ms);
            if at < now_ms { at + interval_ms } else { at }
        }
    }
}

/// One GET of `target` as its scrapes ask it (the job's headers, credentials, TLS, proxy
/// and limits), outside its loop: the answer's Content-Type and body, or why there is none
/// (VictoriaMetrics' `/target_response`).
pub(crate) async fn fetch_once(target: &crate::scrape::discovery::Target) -> Result<(String, Vec<u8>), String> {
    let mut client = target.job.access.client(&target_location(target))?.over_unix_socket(target.unix_socket.clone());
    fetch(&mut client, target).await
}

/// A scrape's float samples, native histograms and exemplars, each with its series.
type ScrapedSamples = (Vec<(Labels, Sample)>, Vec<(Labels, HistogramSample)>, Vec<(Labels, Vec<Exemplar>)>);

/// A scrape's samples made ready to store: within the target's series limit (`window`,
/// `limit_series`), then its report series at `at_ms` (`reports` with `values`, and with a
/// series limit its figures: the limit, the series let in, the samples left out); with
/// `no_stale_markers` every staleness marker taken out. (A plain function taking and giving
/// back the vectors, so that the loop's future, which every idle target holds, does not grow:
/// see `an_idle_loop_is_small`.)
fn limit_and_report(
    (mut series, mut histograms, mut exemplars): ScrapedSamples,
    window: Option<&mut tsdb::shard::series_window::SeriesWindowLimit>,
    (reports, at_ms, mut values): (&[Labels], i64, Vec<f64>),
    no_stale_markers: bool,
) -> ScrapedSamples {
    if let Some(window) = window {
        let dropped = limit_series(window, at_ms, &mut series, &mut histograms, &mut exemplars);
        values.extend([window.limit() as f64, window.current() as f64, dropped as f64]);
    }
    series.extend(report_series(reports, at_ms, &values));
    if no_stale_markers {
        series = without_stale_markers(series);
    }
    (series, histograms, exemplars)
}

/// A scrape's samples within the target's series limit (`window`, at `at_ms`): a series not
/// let in this day past the limit is left out, its samples counted (returned); a staleness
/// marker goes only to a series that was let in, so a left-out series never appears.
fn limit_series(
    window: &mut tsdb::shard::series_window::SeriesWindowLimit,
    at_ms: i64,
    series: &mut Vec<(Labels, Sample)>,
    histograms: &mut Vec<(Labels, HistogramSample)>,
    exemplars: &mut Vec<(Labels, Vec<Exemplar>)>,
) -> u64 {
    let mut dropped = 0u64;
    series.retain(|(labels, sample)| {
        let hash = labels.stable_hash();
        let stale = tsdb::is_stale_nan(sample.value);
        let kept = if stale { window.has_seen(hash, at_ms) } else { window.admits(hash, at_ms) };
        dropped += u64::from(!kept && !stale);
        kept
    });
    histograms.retain(|(labels, _)| {
        let kept = window.admits(labels.stable_hash(), at_ms);
        dropped += u64::from(!kept);
        kept
    });
    exemplars.retain(|(labels, _)| window.has_seen(labels.stable_hash(), at_ms));
    dropped
}

/// Without staleness markers (`no_stale_markers`): `series` less every staleness marker.
fn without_stale_markers(mut series: Vec<(Labels, Sample)>) -> Vec<(Labels, Sample)> {
    series.retain(|(_, sample)| !tsdb::is_stale_nan(sample.value));
    series
}

/// Scrapes `target` until `stop` fires. `inherited`: the tracked series (and start synthesis
/// state) of the loop this one replaces after a reload. Returns this loop's when it ends
/// quietly (for its replacement), nothing when its target was removed (they are marked stale).
pub async fn run(context: Rc<ScrapeContext>, inbox: LoopInbox, inherited: Handover) -> Handover {
    // What a rediscovered target can change (its discovered labels) is not read here: its
    // identity (labels, URL, schedule) is its key, so it is the same for this loop's life.
    let target = inbox.target();
    let job = target.job.clone();
    let mut client = job.access.client(&target_location(&target)).map(|client| client.over_unix_socket(target.unix_socket.clone()));
    let limits = context.api.config.storage.ingest_rules().label_limits;
    // Read as `keep_exemplars` is: a server setting, the same for every job.
    let read_starts = context.api.config.storage.reads_start_timestamps();
    let new_cache = || {
        let mut cache = SeriesCache::default();
        if context.api.config.storage.max_exemplars > 0 {
            cache.keep_exemplars();
        }
        if context.api.config.storage.type_and_unit_labels {
            cache.label_types_and_units();
        }
        if context.api.config.storage.start_timestamp_synthesis {
            cache.synthesize_start_timestamps();
        }
        cache
    };
    let mut cache = new_cache();
    cache.inherit(inherited);
    let reports = report_labels(&target, &context.external_labels);
    // VictoriaMetrics' per-target series limit: the series let in this UTC day.
    // Boxed: every idle target's loop holds it (see `an_idle_loop_is_small`).
    let mut series_window = tsdb::shard::series_window::SeriesWindowLimit::new(target.series_limit as u64, tsdb::shard::series_window::DAY_MS).map(Box::new);
    let mut was_up: Option<bool> = None;
    // Whether the last scrape had samples the store left out (series limit, time bounds).
    let mut was_partly_stored = false;
    // The first slot is placed on the wall clock (the target's offset in its interval); the
    // schedule then runs on the monotonic clock, so a clock step neither stalls nor bunches it.
    let interval = Duration::from_millis(target.interval_ms as u64);
    let now = now_ms();
    let mut next = Instant::now() + Duration::from_millis((first_scrape_ms(job.schedule, target.key, target.interval_ms, now) - now) as u64);
    // Held only while a scrape runs, so a loop keeps no replaced target while it sleeps.
    drop(target);
    let stopped = loop {
        if let Err(stop) = unless_stopped(&inbox, glommio::timer::sleep(next.saturating_duration_since(Instant::now()))).await {
            break stop;
        }
        let target = inbox.target();
        // One reading of the clock: the samples' time and the listed last scrape.
        let start_ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        let start_ms = start_ns.div_euclid(1_000_000);
        let started = Instant::now();
        let forced = context.forced_errors.borrow().get(&job.name).cloned();
        // `disable_keepalive`: the last scrape's connection is closed, this one opens its own.
        if job.disable_keepalive {
            client = job.access.client(&target_location(&target)).map(|client| client.over_unix_socket(target.unix_socket.clone()));
        }
        let fetched = match &mut client {
            _ if forced.is_some() => Err(forced.unwrap_or_default()),
            Ok(client) => match unless_stopped(&inbox, Box::pin(fetch(client, &target))).await {
                Ok(fetched) => fetched,
                Err(stop) => break stop,
            },
            Err(error) => Err(error.clone()),
        };
        let (fetched, body_bytes) = answer_of(fetched, &job, target.histograms, read_starts);
        let scraped = fetched.map(|(answer, starts)| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cache.scrape_answer_with_starts(&target, &context.external_labels, &answer, &starts, start_ms, &limits))));
        let result = match scraped {
            Ok(Ok(result)) => result,
            Err(error) => Err(error),
            // A panic (a bug) fails this scrape; the cache it left half done starts afresh,
            // keeping the series of the last successful scrape (a scrape replaces them only
            // when it succeeds), so that this failure marks them stale as any other does.
            Ok(Err(_)) => {
                cache = fresh_after_panic(std::mem::replace(&mut cache, new_cache()), new_cache());
                Err(INTERNAL_ERROR.to_string())
            }
        };
        let duration = started.elapsed().as_secs_f64();
        let mut new_metadata = None;
        let (series, histograms, exemplars, starts, up, error, report) = match result {
            Ok(s) => {
                if let Some(metadata) = s.metadata {
                    new_metadata = Some(Arc::new(metadata.clone()));
                    if !metadata.is_empty() {
                        context.api.router.put_metadata(metadata);
                    }
                }
                (s.samples, s.histograms, s.exemplars, s.starts, true, String::new(), [1.0, duration, s.scraped as f64, s.kept as f64, s.added as f64])
            }
            Err(error) => (cache.all_stale(start_ms), Vec::new(), Vec::new(), SeriesStarts::default(), false, error, [0.0, duration, 0.0, 0.0, 0.0]),
        };
        let (series, histograms, exemplars) =
            limit_and_report((series, histograms, exemplars), series_window.as_deref_mut(), (&reports, start_ms, report_values(&target, report, body_bytes)), job.no_stale_markers);
        let stored = Box::pin(store(&context.api, series, histograms, exemplars, starts)).await;
        if let Ok(left_out) = &stored {
            if left_out.is_some() != was_partly_stored {
                match left_out {
                    Some(why) => tracing::warn!(job = %job.name, url = %target.url, "scraped samples left out: {why}; logged again only after a scrape stores all its samples"),
                    None => tracing::info!(job = %job.name, url = %target.url, "scrapes store all their samples again"),
                }
                was_partly_stored = left_out.is_some();
            }
        }
        // A scrape whose samples could not be stored counts as failed, as in Prometheus.
        let (up, error) = match (up, stored) {
            (true, Err(store_error)) => (false, format!("cannot store the scraped samples: {store_error}")),
            (up, _) => (up, error),
        };
        if let (false, Some(file)) = (up, &job.scrape_failure_log_file) {
            log_failure(file, &target.url, &error, start_ms);
        }
        if was_up != Some(up) {
            if up {
                tracing::info!(job = %job.name, url = %target.url, "scrape target is up");
            } else {
                tracing::warn!(job = %job.name, url = %target.url, %error, "scrape failed; the target is down until a scrape succeeds");
            }
            was_up = Some(up);
        }
        context.registry.count_scrape(&job.name, (!up).then(|| failure_cause(&error)));
        context.registry.update(&job.name, target.key, |status| {
            status.health = if up { Health::Up } else { Health::Down };
            status.last_error = error;
            status.last_scrape_ns = start_ns;
            status.last_duration_seconds = duration;
            status.scrapes_total += 1;
            status.scrapes_failed += u64::from(!up);
            status.samples_scraped = report[2] as u64;
            if let Some(metadata) = new_metadata {
                status.metadata = metadata;
            }
        });
        next += interval;
        let now = Instant::now();
        if next <= now {
            // Slower than the interval: skip the slots already past, as Prometheus does.
            let behind = now.duration_since(next).as_millis() as u64 / interval.as_millis().max(1) as u64;
            next += interval * (behind as u32 + 1);
        }
    };
    // A removed target's series end now; one never scraped has none (not even `up`).
    if stopped == Stop::Shutdown {
        return cache.into_handover();
    }
    if was_up.is_some() && !job.no_stale_markers {
        let at = now_ms();
        let mut series = cache.all_stale(at);
        series.extend(report_series(&reports, at, &vec![f64::from_bits(STALE_NAN_BITS); reports.len()]));
        let _ = Box::pin(store(&context.api, series, Vec::new(), Vec::new(), SeriesStarts::default())).await;
    }
    Handover::default()
}

/// Writes a scrape's samples as one batch (`scrape_batch`), so that they are stored or
/// refused together (its `up` with them), as Prometheus commits a scrape whole. `Ok(Some(why))`
/// when the store left some out and kept the rest.
async fn store(api: &Api, series: Vec<(Labels, Sample)>, histograms: Vec<(Labels, HistogramSample)>, exemplars: Vec<(Labels, Vec<Exemplar>)>, starts: SeriesStarts) -> Result<Option<String>, String> {
    let Some(batch) = scrape_batch(series, histograms, exemplars, starts)? else { return Ok(None) };
    match crate::api::write::append_submitted(api, batch).await {
        Ok(_) => Ok(None),
        // Samples a target timestamps outside the store's bounds, and those of new series past
        // `storage.max_series`, are left out and counted (the shards' refused counters); the
        // rest, `up` included, is stored and the target stays up: Prometheus skips
        // out-of-bounds samples, and VictoriaMetrics' scrapes go on past its series limits.
        Err(partial @ (crate::shard::SubmitError::OutsideTimeBounds { .. } | crate::shard::SubmitError::SeriesLimit { .. })) => {
            Ok(Some(partial.to_string()))
        }
        Err(error) => Err(crate::api::ApiError::from(error).message),
    }
}

/// A scrape's batch (none when it has nothing): its float series, then its native
/// histograms, then its exemplars as entries of their own (those the store refuses, out of
/// order say, count as dropped and fail nothing). So do the start timestamps the answer gives
/// under `storage.start_timestamp_zero_ingestion` (`scrape::start_timestamps`; `starts`, by
/// index in `series` and `histograms`), each on its series' entry: the shard writes the zero
/// of one only when it is newer than everything the series holds and drops it quietly
/// otherwise, as Prometheus' scrape ignores its out-of-order start timestamps.
pub fn scrape_batch(series: Vec<(Labels, Sample)>, histograms: Vec<(Labels, HistogramSample)>, exemplars: Vec<(Labels, Vec<Exemplar>)>, starts: SeriesStarts) -> Result<Option<tsdb::SeriesBatch>, String> {
    if histograms.is_empty() && exemplars.is_empty() && starts.is_empty() {
        return Ok((!series.is_empty()).then(|| tsdb::SeriesBatch::from_single_samples(&series)));
    }
    // One list of starts per entry (floats, then histograms), or none at all.
    let mut per_series: Vec<Vec<tsdb::StartTimestamp>> = Vec::new();
    if !starts.is_empty() {
        per_series.resize(series.len() + histograms.len(), Vec::new());
        let at_histograms = starts.histograms.iter().map(|&(at, start)| (series.len() + at, start));
        for (at, start) in starts.samples.iter().copied().chain(at_histograms) {
            if let Some(list) = per_series.get_mut(at) {
                list.push(start);
            }
        }
    }
    let floats = series.into_iter().map(|(labels, sample)| tsdb::SeriesSamples { labels, samples: vec![sample], histograms: Vec::new(), starts: None });
    let natives = histograms.into_iter().map(|(labels, h)| tsdb::SeriesSamples { labels, samples: Vec::new(), histograms: vec![h], starts: None });
    let owned: Vec<tsdb::SeriesSamples> = floats.chain(natives).collect();
    tsdb::SeriesBatch::try_from_series_starts_and_exemplars(&owned, &per_series, &exemplars).map(Some).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
