//! The WAL checkpoint a head cut writes: what stays in the head (series, samples and native
//! histograms, with or without start times, and the exemplars of the series it keeps) as WAL
//! records of bounded size, yielding to the executor between series.

use crate::error::Error;
use crate::exemplar::{Exemplar, ExemplarBuffer};
use crate::head::Head;
use crate::model::{HistogramSample, Labels};
use crate::wal::checkpoint::CheckpointWriter;
use crate::wal::Record;

/// Series and samples per checkpoint record, far below the WAL record size limit.
const CHECKPOINT_SERIES_PER_RECORD: usize = 10_000;
const CHECKPOINT_SAMPLES_PER_RECORD: usize = 100_000;
/// Native histograms per checkpoint record (each a few hundred bytes).
const CHECKPOINT_HISTOGRAMS_PER_RECORD: usize = 10_000;
/// Exemplars per checkpoint record.
const CHECKPOINT_EXEMPLARS_PER_RECORD: usize = 10_000;

/// Writes the head's content as series records (ids = head ids) then samples records,
/// one series' samples decoded at a time, then the exemplars of the series it keeps. Between every `CUT_SERIES_PER_PAUSE` series of
/// each pass it yields if glommio asks for it, so the executor's other tasks run meanwhile.
pub(super) async fn write_checkpoint(head: &Head, exemplars: &ExemplarBuffer, writer: &mut CheckpointWriter) -> Result<(), Error> {
    let mut series: Vec<(u32, Labels)> = Vec::new();
    for id in head.series_ids() {
        crate::yield_between_steps(id as usize, crate::CUT_SERIES_PER_PAUSE).await;
        series.push((id, head.labels_of(id)));
        if series.len() >= CHECKPOINT_SERIES_PER_RECORD {
            writer.write(&Record::Series(std::mem::take(&mut series)))?;
        }
    }
    if !series.is_empty() {
        writer.write(&Record::Series(series))?;
    }
    let mut samples: Vec<(u32, crate::Sample)> = Vec::new();
    // A series with start times goes in started-samples records (each series' floats in one
    // kind of record, so in order either way).
    let mut started: Vec<(u32, crate::Sample, i64)> = Vec::new();
    for id in head.series_ids() {
        crate::yield_between_steps(id as usize, crate::CUT_SERIES_PER_PAUSE).await;
        let (series_samples, starts) = head.samples_with_starts_of(id);
        match starts {
            Some(starts) => {
                for (s, start_ms) in series_samples.into_iter().zip(starts) {
                    started.push((id, s, start_ms));
                    if started.len() >= CHECKPOINT_SAMPLES_PER_RECORD {
                        writer.write(&Record::StartedSamples(std::mem::take(&mut started)))?;
                    }
                }
            }
            None => {
                for s in series_samples {
                    samples.push((id, s));
                    if samples.len() >= CHECKPOINT_SAMPLES_PER_RECORD {
                        writer.write(&Record::Samples(std::mem::take(&mut samples)))?;
                    }
                }
            }
        }
    }
    if !samples.is_empty() {
        writer.write(&Record::Samples(samples))?;
    }
    if !started.is_empty() {
        writer.write(&Record::StartedSamples(started))?;
    }
    let mut histograms: Vec<(u32, HistogramSample)> = Vec::new();
    let mut started_histograms: Vec<(u32, HistogramSample, i64)> = Vec::new();
    for id in head.series_ids() {
        crate::yield_between_steps(id as usize, crate::CUT_SERIES_PER_PAUSE).await;
        let (series_histograms, starts) = head.histograms_with_starts_of(id);
        match starts {
            Some(starts) => {
                for (h, start_ms) in series_histograms.into_iter().zip(starts) {
                    started_histograms.push((id, h, start_ms));
                    if started_histograms.len() >= CHECKPOINT_HISTOGRAMS_PER_RECORD {
                        writer.write(&Record::StartedHistograms(std::mem::take(&mut started_histograms)))?;
                    }
                }
            }
            None => {
                for h in series_histograms {
                    histograms.push((id, h));
                    if histograms.len() >= CHECKPOINT_HISTOGRAMS_PER_RECORD {
                        writer.write(&Record::Histograms(std::mem::take(&mut histograms)))?;
                    }
                }
            }
        }
    }
    if !histograms.is_empty() {
        writer.write(&Record::Histograms(histograms))?;
    }
    if !started_histograms.is_empty() {
        writer.write(&Record::StartedHistograms(started_histograms))?;
    }
    // Oldest first, so replay rebuilds the buffer's order. Exemplars of a series the head
    // no longer holds (all its samples went into the block) are not kept across a restart.
    let mut kept: Vec<(u32, Exemplar)> = Vec::new();
    for (n, (series, e)) in exemplars.iter_oldest_first().enumerate() {
        crate::yield_between_steps(n, crate::CUT_SERIES_PER_PAUSE).await;
        let pairs = series.iter().map(|l| (l.name.as_bytes(), l.value.as_bytes()));
        if let Some(id) = head.lookup(series.stable_hash(), series.len(), pairs) {
            kept.push((id, e.clone()));
            if kept.len() >= CHECKPOINT_EXEMPLARS_PER_RECORD {
                writer.write(&Record::Exemplars(std::mem::take(&mut kept)))?;
            }
        }
    }
    if !kept.is_empty() {
        writer.write(&Record::Exemplars(kept))?;
    }
    Ok(())
}
