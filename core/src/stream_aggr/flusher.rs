//! The flush loop of each aggregation, on executor 0: at every interval's end (aligned to
//! multiples of the interval unless `no_align_flush_to_interval`) its aggregates are
//! written at that time through the router, past relabeling and aggregation; at shutdown the
//! incomplete interval is written only with `flush_on_shutdown`.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::{batch_of, first_flush_window_start_ms, StreamAggregators};
use crate::api::Api;

/// Runs every aggregation's flush loop until shutdown (on executor 0; others return).
pub async fn serve(api: Rc<Api>, executor: usize, shutdown: async_channel::Receiver<()>) {
    let Some(aggregators) = api.router.stream_aggr().cloned() else { return };
    if executor != 0 {
        return;
    }
    let loops: Vec<_> = (0..aggregators.aggregators().len()).map(|index| glommio::spawn_local(run(api.clone(), aggregators.clone(), index, shutdown.clone()))).collect();
    for task in loops {
        task.await;
    }
}

async fn run(api: Rc<Api>, aggregators: Arc<StreamAggregators>, index: usize, shutdown: async_channel::Receiver<()>) {
    let aggregator = &aggregators.aggregators()[index];
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
        if wait_until_or_shutdown(tick_ms, &shutdown).await {
            break;
        }
        if dedup {
            aggregator.flush_dedup(tick_ms, crate::api::params::now_ms());
            aggregator.set_min_deadline_ms(tick_ms);
        }
        if schedule.flush_ms <= tick_ms {
            let flush_ms = schedule.flush_ms;
            let samples = aggregator.flush(flush_ms, false);
            if schedule.take_write() {
                write(&api, &aggregators, &samples, flush_ms, &config.name).await;
            }
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
    let now_ms = crate::api::params::now_ms();
    let (dedup_ms, last_ms) = if config.align_flush_to_interval { (tick_ms, schedule.flush_ms) } else { (now_ms, now_ms) };
    aggregator.flush_dedup(dedup_ms, now_ms);
    let samples = aggregator.flush(last_ms, true);
    if config.flush_on_shutdown && schedule.ignored_intervals_left == 0 {
        write(&api, &aggregators, &samples, last_ms, &config.name).await;
    }
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

/// Sleeps until `deadline_ms` on the server's clock; true when shutdown came first.
async fn wait_until_or_shutdown(deadline_ms: i64, shutdown: &async_channel::Receiver<()>) -> bool {
    let wait_ms = (deadline_ms - crate::api::params::now_ms()).max(0) as u64;
    crate::rules::wait_or_shutdown(Duration::from_millis(wait_ms), shutdown).await
}

async fn write(api: &Api, aggregators: &StreamAggregators, samples: &[super::OutputSample], timestamp_ms: i64, name: &str) {
    if samples.is_empty() {
        return;
    }
    let counters = &aggregators.counters;
    let count = samples.len() as u64;
    match api.router.append_aggregates(batch_of(samples, timestamp_ms)).await {
        Ok(_) => _ = counters.output_samples_written.fetch_add(count, std::sync::atomic::Ordering::Relaxed),
        Err(error) => {
            counters.output_samples_failed.fetch_add(count, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(aggregation = name, samples = count, error = %error, "cannot store stream aggregation output");
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
