//! Target-rate pacing (`--rate`): every request gets a send time from the samples that come
//! before it in the run's global order, so C connections together offer the rate whatever
//! their share of requests. Pure functions; the sender sleeps until each request's time.

use std::time::Duration;

/// When a request is due, relative to the start of the run: the samples sent before it
/// divided by the rate. `None` for rate 0 (as fast as possible).
fn due_offset(samples_before: u64, rate_samples_per_s: f64) -> Option<Duration> {
    if rate_samples_per_s <= 0.0 || !rate_samples_per_s.is_finite() {
        return None;
    }
    Some(Duration::from_secs_f64(samples_before as f64 / rate_samples_per_s))
}

/// Send offsets for requests carrying `samples[i]` samples each, in global send order.
pub fn schedule(samples: &[u64], rate_samples_per_s: f64) -> Vec<Option<Duration>> {
    let mut before = 0u64;
    samples
        .iter()
        .map(|n| {
            let due = due_offset(before, rate_samples_per_s);
            before += n;
            due
        })
        .collect()
}

/// The run length the schedule implies: the time at which the last sample is due.
pub fn planned_seconds(total_samples: u64, rate_samples_per_s: f64) -> Option<f64> {
    due_offset(total_samples, rate_samples_per_s).map(|d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_spreads_samples_at_the_rate() {
        let ms = |v: u64| Some(Duration::from_millis(v));
        assert_eq!(schedule(&[100, 100, 100], 1000.0), vec![ms(0), ms(100), ms(200)]);
        // Uneven requests: the next one waits for the samples before it, not for a count.
        assert_eq!(schedule(&[500, 100, 400, 10], 1000.0), vec![ms(0), ms(500), ms(600), ms(1000)]);
        assert_eq!(schedule(&[2000; 4], 1_000_000.0), vec![ms(0), ms(2), ms(4), ms(6)]);
        assert_eq!(planned_seconds(30_000, 1000.0), Some(30.0));
    }

    #[test]
    fn rate_zero_means_unpaced() {
        assert_eq!(schedule(&[1, 2], 0.0), vec![None, None]);
        assert_eq!(due_offset(5, f64::NAN), None);
        assert_eq!(planned_seconds(5, 0.0), None);
    }
}
