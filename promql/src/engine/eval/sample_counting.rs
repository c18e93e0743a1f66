//! Sample statistics as evaluation reads: an instant selector's vector at each step, and each
//! window of a range selector or of a subquery's points, counted in total and as read (`Read`).

use tsdb::{HistogramSample, Sample};

use super::{Elem, Evaluator};
use crate::ast::VectorSelector;

impl Evaluator<'_> {
    /// Counts the samples of instant selector `vs`'s vector at this step (a histogram as its
    /// size); with `@` they count as read at its first evaluation only, as Prometheus reads it once.
    pub(in crate::engine) fn count_instant(&self, vs: &VectorSelector, elems: &[Elem]) {
        if let Some(counter) = &self.sample_stats {
            let n = elems.iter().map(|e| e.histogram.as_deref().map_or(1, super::super::sample_stats::histogram_size)).sum();
            let read = match self.window_read(vs) {
                Read::None => 0,
                Read::Whole | Read::New => n,
            };
            counter.borrow_mut().add(n, read);
        }
    }

    /// How range selector `vs`'s windows at this step count as read (call once per step,
    /// before its series): a selector with `@` is read whole at its first evaluation and
    /// never again (Prometheus evaluates it once); others as `Read::New`.
    pub(in crate::engine) fn window_read(&self, vs: &VectorSelector) -> Read {
        match &self.sample_stats {
            Some(counter) if vs.at.is_some() => {
                if counter.borrow_mut().read_fixed_once(vs as *const VectorSelector as usize) {
                    Read::Whole
                } else {
                    Read::None
                }
            }
            _ => Read::New,
        }
    }

    /// Counts one series' window ending at `window_end`, of a range selector or of a
    /// subquery's points (`Read::None`: what the subquery read is counted inside it): all of
    /// it towards the total, and as read what `read` says.
    pub(in crate::engine) fn count_window(&self, samples: &[Sample], histograms: &[HistogramSample], window_end: i64, read: Read) {
        let Some(counter) = &self.sample_stats else {
            return;
        };
        let mut counter = counter.borrow_mut();
        let size = |h: &HistogramSample| super::super::sample_stats::histogram_size(&h.histogram);
        let total = samples.len() as u64 + histograms.iter().map(size).sum::<u64>();
        let reading = counter.reading;
        let read = match read {
            Read::None => 0,
            Read::Whole => total,
            Read::New if reading.first => total,
            Read::New => {
                let after = window_end - reading.step_ms;
                samples.iter().filter(|p| p.timestamp_ms > after).count() as u64 + histograms.iter().filter(|h| h.timestamp_ms > after).map(size).sum::<u64>()
            }
        };
        counter.add(total, read);
    }
}

/// Which samples of a window count as read (`Evaluator::count_window`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(in crate::engine) enum Read {
    /// None (a subquery's points; a selector with `@` read before).
    None,
    /// All of them.
    Whole,
    /// Those the (sub)query's previous step did not read: after `window_end - step`, all at
    /// its first step.
    New,
}
