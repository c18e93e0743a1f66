//! The flush loop of each aggregation, on executor 0: at every interval's end (aligned to
//! multiples of the interval unless `no_align_flush_to_interval`) its aggregates are
//! written at that time through the router, past relabeling and aggregation; at shutdown the
//! incomplete interval is written only with `flush_on_shutdown`. `serve` follows the
//! aggregations in force: after a reload it stops the loops of those removed or changed
//! (ending them as a shutdown does, as VictoriaMetrics does) and starts loops for new ones.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::{batch_of, first_flush_window_start_ms, Aggregator};
use crate::api::Api;

/// A running flush loop: dropping `stop` ends it (its last flush), `task` finishes after.
struct Running {
    aggregator: Arc<Aggregator>,
    stop: async_channel::Sender<()>,
    task: glommio::task::JoinHandle<()>,
}

/// Runs a flush loop for every aggregation in force until shutdown, following reloads (on
/// executor 0; others return).
pub async fn serve(api: Rc<Api>, executor: usize, shutdown: async_channel::Receiver<()>) {
    if executor != 0 {
        return;
    }
    let rules = api.router.write_rules().clone();
    let mut running: Vec<Running> = Vec::new();
    loop {
        let in_force = rules.in_force();
        let wanted: &[Arc<Aggregator>] = in_force.stream_aggr.as_deref().map(|set| set.aggregators()).unwrap_or_default();
        let (kept, stopped): (Vec<Running>, Vec<Running>) = running.into_iter().partition(|r| wanted.iter().any(|a| Arc::ptr_eq(a, &r.aggregator)));
        stop_all(stopped).await;
        running = kept;
        for aggregator in wanted {
            if !running.iter().any(|r| Arc::ptr_eq(aggregator, &r.aggregator)) {
                let (stop, stopped) = async_channel::bounded(1);
                let task = glommio::spawn_local(run(api.clone(), aggregator.clone(), stopped)).detach();
                running.push(Running { aggregator: aggregator.clone(), stop, task });
            }
        }
        drop(in_force);
        let reloaded = async {
            let _ = rules.aggregations_changed().recv().await;
            false
        };
        let stopping = async {
            let _ = shutdown.recv().await;
            true
        };
        if futures_lite::future::or(stopping, reloaded).await {
            break;
        }
    }
    stop_all(running).await;
}

/// Ends the loops, all at once (each writes its last flush as at shutdown), and waits for
/// them.
async fn stop_all(running: Vec<Running>) {
    let tasks: Vec<_> = running
        .into_iter()
        .map(|Running { stop, task, .. }| {
            drop(stop);
            task
        })
        .collect();
    for task in tasks {
        task.await;
    }
}

async fn run(api: Rc<Api>, aggregator: Arc<Aggregator>, stop: async_channel::Receiver<()>) {
    let config = &aggregator.config;
    let interval_ms = config.interval_ms;
    let window_start_ms = first_flush_window_start_ms(crate::api::params::now_ms(), interval_ms, config.align_flush_to_interval);
    aggregator.set_min_deadline_ms(window_start_ms);
    let mut schedule = Schedule { flush_ms: window_start_ms + interval_ms, interval_ms, ignored_intervals_left: config.ignore_first_intervals };
    // With dedup_interval, de-duplicated samples reach the outputs at every dedup tick and the
    // interval's flush comes at the tick it falls on; without it every tick is a flush.
    let dedup = config.dedup_interval_ms > 0;
    let tick_interval_ms = if dedup { config.dedup_interval_ms } else { interval_ms };
    let mut tick_ms = window_start_ms + tick_interval_ms;
    loop {
        if wait_until_or_shutdown(tick_ms, &stop).await {
            break;
        }
        if dedup {
            aggregator.flush_dedup(tick_ms, crate::api::params::now_ms());
            aggregator.set_min_deadline_ms(tick_ms);
        }
        if schedule.flush_ms <= tick_ms {
            let started = std::time::Instant::now();
            let flush_ms = schedule.flush_ms;
            let samples = aggregator.flush(flush_ms, false);
            if schedule.take_write() {
                write(&api, &aggregator, &samples, flush_ms).await;
            }
            count_flush(&aggregator, started);
            if !dedup {
                aggregator.set_min_deadline_ms(flush_ms);
            }
            schedule.advance(crate::api::params::now_ms());
        }
        let now_ms = crate::api::params::now_ms();
        tick_ms += tick_interval_ms;
        while now_ms > tick_ms {
            tick_ms += tick_interval_ms;
        }
    }
    let started = std::time::Instant::now();
    let now_ms = crate::api::params::now_ms();
    let (dedup_ms, last_ms) = if config.align_flush_to_interval { (tick_ms, schedule.flush_ms) } else { (now_ms, now_ms) };
    aggregator.flush_dedup(dedup_ms, now_ms);
    let samples = aggregator.flush(last_ms, true);
    if config.flush_on_shutdown && schedule.ignored_intervals_left == 0 {
        write(&api, &aggregator, &samples, last_ms).await;
    }
    count_flush(&aggregator, started);
}

/// Counts one flush and the time it took (its `vm_streamaggr_flush_duration_seconds`).
fn count_flush(aggregator: &Aggregator, started: std::time::Instant) {
    aggregator.count(|c| &c.flushes, 1);
    aggregator.count(|c| &c.flush_micros, started.elapsed().as_micros() as u64);
}

/// When the next flush is due and whether it is written (`ignore_first_intervals`).
#[derive(Debug, Clone, PartialEq)]
struct Schedule {
    flush_ms: i64,
    interval_ms: i64,
    ignored_intervals_left: u64,
}

impl Schedule {
    /// Whether the flush due now is written; the first `ignore_first_intervals` are not.
    fn take_write(&mut self) -> bool {
        if self.ignored_intervals_left > 0 {
            self.ignored_intervals_left -= 1;
            return false;
        }
        true
    }

    /// The next flush: one interval on, past `now_ms` (intervals missed are skipped).
    fn advance(&mut self, now_ms: i64) {
        self.flush_ms += self.interval_ms;
        while now_ms > self.flush_ms {
            self.flush_ms += self.interval_ms;
        }
    }
}

/// Sleeps until `deadline_ms` on the server's clock; true when the loop is told to stop
/// first (shutdown, or a reload that removed or changed its aggregation).
async fn wait_until_or_shutdown(deadline_ms: i64, shutdown: &async_channel::Receiver<()>) -> bool {
    let wait_ms = (deadline_ms - crate::api::params::now_ms()).max(0) as u64;
    crate::rules::wait_or_shutdown(Duration::from_millis(wait_ms), shutdown).await
}

async fn write(api: &Api, aggregator: &Aggregator, samples: &[super::OutputSample], timestamp_ms: i64) {
    if samples.is_empty() {
        return;
    }
    let count = samples.len() as u64;
    match api.router.append_aggregates(batch_of(samples, timestamp_ms)).await {
        Ok(_) => aggregator.count(|c| &c.output_samples_written, count),
        Err(error) => {
            aggregator.count(|c| &c.output_samples_failed, count);
            tracing::warn!(aggregation = aggregator.config.item.name, samples = count, error = %error, "cannot store stream aggregation output");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_intervals_are_not_written_and_missed_ones_skipped() {
        let mut schedule = Schedule { flush_ms: 60_000, interval_ms: 60_000, ignored_intervals_left: 2 };
        let mut written = Vec::new();
        for now_ms in [60_001, 120_001, 180_001, 240_001] {
            written.push((schedule.flush_ms, schedule.take_write()));
            schedule.advance(now_ms);
        }
        assert_eq!(written, vec![(60_000, false), (120_000, false), (180_000, true), (240_000, true)]);
        // A flush late by more than an interval goes on at the next one still ahead.
        schedule.advance(500_000);
        assert_eq!(schedule.flush_ms, 540_000);
    }
}
