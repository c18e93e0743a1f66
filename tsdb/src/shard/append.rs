//! Appending to a shard: `append_batches` writes many requests' series, samples, native
//! histograms and exemplars with one WAL write (group commit), then applies them to the
//! head, prefetching series records ahead of use; a batch's start timestamps become zero
//! samples or stored starts here. Counting a head append's result is shared with replay.

use std::collections::HashMap;

use super::{AppendOutcome, ShardDb};
use crate::error::Error;
use crate::exemplar::{Exemplar, ExemplarAdd};
use crate::head::{AppendResult, Head};
use crate::model::{BatchPart, HistogramSample, Labels, SeriesBatch, SeriesSamples};
use crate::wal::Record;

/// How many series ahead of its use an append prefetches a series record (and half as
/// many, what the record points to).
const PREFETCH_SERIES_AHEAD: usize = 8;

/// Prefetch hints for an append's pass at `position` over its series (`id_at`: the id of
/// the series at a position, if known): the record of the series `PREFETCH_SERIES_AHEAD`
/// later, and what the record points to for the one half as far.
#[inline]
fn prefetch_ahead(head: &Head, position: usize, id_at: impl Fn(usize) -> Option<u32>) {
    if let Some(ahead) = id_at(position + PREFETCH_SERIES_AHEAD) {
        head.prefetch_series(ahead);
    }
    if let Some(ahead) = id_at(position + PREFETCH_SERIES_AHEAD / 2) {
        head.prefetch_series_data(ahead);
    }
}

/// The zero samples `series`' start timestamps ask for (see `StartTimestamp`), floats and
/// native histograms, each time-ordered: a start is taken when it lies before its sample, at
/// or after `watermark` (the head takes nothing older as in order) and after `newest` (what
/// the series held before this entry) and after every sample of the entry before its own.
fn start_zeros(series: crate::BatchSeries<'_>, newest: Option<i64>, watermark: i64) -> (Vec<crate::Sample>, Vec<HistogramSample>) {
    let (mut zeros, mut zero_histograms) = (Vec::new(), Vec::new());
    let mut newest = newest;
    for start in series.start_timestamps() {
        let before_own = |t: i64| t < start.sample_ms;
        let entry_newest = [
            series.samples().iter().map(|s| s.timestamp_ms).filter(|&t| before_own(t)).max(),
            series.histograms().iter().map(|h| h.timestamp_ms).filter(|&t| before_own(t)).max(),
        ];
        let newest_before = entry_newest.into_iter().flatten().chain(newest).max();
        if start.start_ms >= start.sample_ms || start.start_ms < watermark || newest_before.is_some_and(|n| start.start_ms <= n) {
            continue;
        }
        match series.histograms().iter().find(|h| h.timestamp_ms == start.sample_ms) {
            Some(own) => {
                let zero = crate::FloatHistogram {
                    counter_reset_hint: crate::CounterResetHint::CounterReset,
                    schema: own.histogram.schema,
                    zero_threshold: own.histogram.zero_threshold,
                    custom_values: own.histogram.custom_values.clone(),
                    ..crate::FloatHistogram::default()
                };
                zero_histograms.push(HistogramSample { timestamp_ms: start.start_ms, histogram: std::sync::Arc::new(zero) });
            }
            None => zeros.push(crate::Sample { timestamp_ms: start.start_ms, value: 0.0 }),
        }
        newest = Some(start.start_ms);
    }
    (zeros, zero_histograms)
}

/// The sample times a write may have under `ShardOptions::bound_by_clock`, inclusive.
#[derive(Clone, Copy, Debug)]
struct ClockBounds {
    oldest_ms: i64,
    newest_ms: i64,
}

impl ClockBounds {
    /// The bounds at `now_ms`: back to `retention_ms` (none when it is not positive), ahead
    /// by `FUTURE_SAMPLES_MAX_MS`.
    fn at(now_ms: i64, retention_ms: i64) -> ClockBounds {
        let oldest_ms = if retention_ms > 0 { now_ms.saturating_sub(retention_ms) } else { i64::MIN };
        ClockBounds { oldest_ms, newest_ms: now_ms.saturating_add(super::FUTURE_SAMPLES_MAX_MS) }
    }

    fn admits(&self, t: i64) -> bool {
        (self.oldest_ms..=self.newest_ms).contains(&t)
    }

    /// How many of `series`' samples and native histograms lie before and after the bounds.
    fn outside(&self, series: crate::BatchSeries<'_>) -> (u64, u64) {
        let times = series.samples().iter().map(|s| s.timestamp_ms).chain(series.histograms().iter().map(|h| h.timestamp_ms));
        times.fold((0, 0), |(old, new), t| (old + u64::from(t < self.oldest_ms), new + u64::from(t > self.newest_ms)))
    }
}

pub(super) fn apply_to_head(head: &mut Head, id: u32, sample: crate::Sample, outcome: &mut AppendOutcome) {
    count_result(head.append(id, sample), outcome);
}

pub(super) fn apply_started_to_head(head: &mut Head, id: u32, sample: crate::Sample, start_ms: i64, outcome: &mut AppendOutcome) {
    count_result(head.append_started(id, sample, start_ms), outcome);
}

/// The start times `series`' batch entry gives, as `(sample_ms, start_ms)` sorted by sample
/// time, `None` when it gives none other than 0 (`start_timestamp_storage` then stores the
/// entry as any other).
fn entry_starts(series: crate::BatchSeries<'_>) -> Option<Vec<(i64, i64)>> {
    let starts = series.start_timestamps();
    if starts.iter().all(|s| s.start_ms == 0) {
        return None;
    }
    let mut by_sample: Vec<(i64, i64)> = starts.iter().map(|s| (s.sample_ms, s.start_ms)).collect();
    by_sample.sort_unstable();
    Some(by_sample)
}

/// The start of the sample at `t` in `entry_starts`' list, 0 when it has none.
fn start_at(starts: &[(i64, i64)], t: i64) -> i64 {
    starts.binary_search_by_key(&t, |(sample_ms, _)| *sample_ms).map_or(0, |i| starts[i].1)
}

pub(super) fn apply_histogram_to_head(head: &mut Head, id: u32, sample: &HistogramSample, outcome: &mut AppendOutcome) {
    count_result(head.append_histogram(id, sample), outcome);
}

pub(super) fn count_result(result: AppendResult, outcome: &mut AppendOutcome) {
    match result {
        AppendResult::Appended => outcome.samples_appended += 1,
        AppendResult::OutOfOrder => {
            outcome.samples_appended += 1;
            outcome.samples_out_of_order += 1;
        }
        AppendResult::Overwritten => {
            outcome.samples_appended += 1;
            outcome.duplicates_overwritten += 1;
        }
        AppendResult::Duplicate => {}
        AppendResult::Conflict => outcome.samples_refused_type_conflict += 1,
    }
}

impl ShardDb {
    /// Appends owned series (imports, tests, tools): the batch form of each group, then
    /// `append_batches`. An invalid native histogram is an `Error::InvalidHistogram` naming
    /// its series, and nothing is written.
    pub async fn append_group(
        &mut self,
        groups: &[&[SeriesSamples]],
    ) -> Result<Vec<AppendOutcome>, Error> {
        let batches: Vec<SeriesBatch> = groups.iter().map(|g| SeriesBatch::try_from_series(g)).collect::<Result<_, _>>()?;
        let parts: Vec<BatchPart<'_>> = batches.iter().map(BatchPart::whole).collect();
        self.append_batches(&parts).await
    }

    /// Appends several requests' series with one WAL write (group commit), then applies them
    /// to the head; one outcome per group. Each series is looked up once, by its hash and
    /// its borrowed label bytes; a `Labels` is built only for a series that is new. Native
    /// histograms (valid: `SeriesBatch`'s invariant) go into the same WAL write as a
    /// histograms record after the samples record, and into the head after every group's
    /// floats, in that order on replay too.
    pub async fn append_batches(&mut self, groups: &[BatchPart<'_>]) -> Result<Vec<AppendOutcome>, Error> {
        // Series are created in the head only after the WAL write succeeds: a series that
        // exists in the head without its WAL record would lose its samples on replay.
        // New series get the ids the head will assign, in order of first appearance.
        let mut pending: HashMap<u64, Vec<u32>> = HashMap::new();
        let mut new_series: Vec<(u32, Labels)> = Vec::new();
        // In head order; `group_ends[g]` is where group `g`'s samples end.
        let mut samples = Vec::with_capacity(groups.iter().map(BatchPart::sample_count).sum());
        let mut group_ends = Vec::with_capacity(groups.len());
        // Likewise for native histograms (an empty list, not allocated, when none came).
        let mut histograms: Vec<(u32, HistogramSample)> = Vec::with_capacity(groups.iter().map(BatchPart::histogram_count).sum());
        let mut histogram_group_ends = Vec::with_capacity(groups.len());
        // Likewise for exemplars, unless the shard stores none.
        let store_exemplars = self.exemplars.capacity() > 0;
        let mut exemplars: Vec<(u32, Exemplar)> = Vec::with_capacity(if store_exemplars { groups.iter().map(BatchPart::exemplar_count).sum() } else { 0 });
        let mut exemplar_group_ends = Vec::with_capacity(groups.len());
        // Per group: samples refused by the series limit; exemplars refused.
        let mut refused = vec![0u64; groups.len()];
        let mut exemplars_refused = vec![0u64; groups.len()];
        // Per group: samples outside the clock's bounds, (too old, too new).
        let mut outside_bounds = vec![(0u64, 0u64); groups.len()];
        // Per group: samples refused by the cardinality limiter, (hourly, daily); its clock.
        let mut window_refused = vec![(0u64, 0u64); groups.len()];
        let limiter_now_ms = (self.hourly_series.is_some() || self.daily_series.is_some()).then(super::now_ms);
        let bounds = self.options.bound_by_clock.then(|| ClockBounds::at(super::now_ms(), self.options.retention_ms));
        let series_room = match self.options.max_series {
            0 => u64::MAX,
            max => max.saturating_sub(self.head.series_count() as u64),
        };
        let next_id =
            u32::try_from(self.head.series_count()).expect("fewer than 2^32 series per shard");
        // Every hash is probed first, then each series record is prefetched a few series
        // before its labels are compared (see `prefetch`): the cache misses overlap.
        let probes: Vec<Option<u32>> = groups.iter().flat_map(|g| g.series()).map(|s| self.head.probe(s.hash())).collect();
        let mut position = 0;
        let (watermark, mut late) = (self.cut_watermark_ms, 0u64);
        // With start timestamps in the call, the newest timestamp each series got in it so
        // far: a zero is written only after everything the series holds, the samples this
        // call writes before it included.
        let mut newest_in_call: Option<HashMap<u32, i64>> =
            (self.options.start_timestamp_zero_ingestion && groups.iter().any(|g| g.batch.has_start_timestamps())).then(HashMap::new);
        // With start-time storage, the floats of series whose entry carries starts, each with
        // its start (0: none), in head order; `started_group_ends[g]` as `group_ends`.
        let store_starts = self.options.start_timestamp_storage && groups.iter().any(|g| g.batch.has_start_timestamps());
        let mut started_samples: Vec<(u32, crate::Sample, i64)> = Vec::new();
        let mut started_group_ends = Vec::new();
        // Likewise for native histograms.
        let mut started_histograms: Vec<(u32, HistogramSample, i64)> = Vec::new();
        let mut started_histogram_group_ends = Vec::new();
        for ((((group, refused), exemplars_refused), outside_bounds), window_refused) in
            groups.iter().zip(&mut refused).zip(&mut exemplars_refused).zip(&mut outside_bounds).zip(&mut window_refused)
        {
            // A shard's part of a shared batch is every few series of it, an order the CPU's
            // own prefetcher misses: its incoming series are prefetched too, within the group.
            let scattered = group.indices.is_some();
            for nth in 0..group.series_count() {
                prefetch_ahead(&self.head, position, |p| probes.get(p).copied().flatten());
                if scattered {
                    if let Some(ahead) = group.get(nth + PREFETCH_SERIES_AHEAD) {
                        ahead.prefetch_spans();
                    }
                    if let Some(ahead) = group.get(nth + PREFETCH_SERIES_AHEAD / 2) {
                        ahead.prefetch_text();
                    }
                }
                let Some(series) = group.get(nth) else { break };
                let probed = probes[position];
                position += 1;
                // Samples outside the clock's bounds are left out here, before the WAL; a
                // series with nothing else is not created.
                let (too_old, too_new) = bounds.map_or((0, 0), |b| b.outside(series));
                let all_inside = too_old + too_new == 0;
                if !all_inside {
                    outside_bounds.0 += too_old;
                    outside_bounds.1 += too_new;
                    if (too_old + too_new) as usize == series.samples().len() + series.histograms().len() {
                        *exemplars_refused += series.exemplars().len() as u64;
                        continue;
                    }
                }
                let keep = |t: i64| all_inside || bounds.is_none_or(|b| b.admits(t));
                let hash = series.hash();
                if let Some(now_ms) = limiter_now_ms {
                    // An hour's refusal is counted as such; the day's window then does not
                    // see the series (as VictoriaMetrics checks the hour first).
                    let in_bounds = (series.samples().len() + series.histograms().len()) as u64 - (too_old + too_new);
                    if self.hourly_series.as_mut().is_some_and(|w| !w.admits(hash, now_ms)) {
                        window_refused.0 += in_bounds;
                        *exemplars_refused += series.exemplars().len() as u64;
                        continue;
                    }
                    if self.daily_series.as_mut().is_some_and(|w| !w.admits(hash, now_ms)) {
                        window_refused.1 += in_bounds;
                        *exemplars_refused += series.exemplars().len() as u64;
                        continue;
                    }
                }
                let id = match self.head.lookup_probed(probed, hash, series.label_count(), series.label_pairs()) {
                    Some(id) => id,
                    None => {
                        let same_hash = pending.entry(hash).or_default();
                        let known = same_hash
                            .iter()
                            .map(|&k| &new_series[k as usize])
                            .find(|(_, labels)| labels.equals_pairs(series.label_count(), series.label_pairs()));
                        match known {
                            Some((id, _)) => *id,
                            None if new_series.len() as u64 >= series_room => {
                                // Those outside the clock's bounds are counted as such.
                                *refused += (series.samples().len() + series.histograms().len()) as u64 - (too_old + too_new);
                                *exemplars_refused += series.exemplars().len() as u64;
                                continue;
                            }
                            None => {
                                let id = next_id + new_series.len() as u32;
                                same_hash.push(new_series.len() as u32);
                                new_series.push((id, series.to_labels()));
                                id
                            }
                        }
                    }
                };
                let series_samples = series.samples();
                if series_samples.first().is_some_and(|s| s.timestamp_ms < watermark) || series_samples.last().is_some_and(|s| s.timestamp_ms < watermark) {
                    late += series_samples.iter().filter(|s| s.timestamp_ms < watermark && keep(s.timestamp_ms)).count() as u64;
                }
                let starts = if store_starts { entry_starts(series) } else { None };
                if let Some(newest_in_call) = &mut newest_in_call {
                    let newest = newest_in_call.get(&id).copied().max(self.head.newest_timestamp(id));
                    let (zeros, zero_histograms) = start_zeros(series, newest, watermark);
                    // A zero lies before its own sample, so the entry's samples bound it.
                    let entry_newest = series_samples.iter().map(|s| s.timestamp_ms).chain(series.histograms().iter().map(|h| h.timestamp_ms)).max();
                    if let Some(t) = entry_newest {
                        let entry = newest_in_call.entry(id).or_insert(t);
                        *entry = (*entry).max(t);
                    }
                    // A zero before the bounds is left out (its sample is inside them).
                    let zeros = zeros.into_iter().filter(|s| keep(s.timestamp_ms));
                    let zero_histograms = zero_histograms.into_iter().filter(|h| keep(h.timestamp_ms));
                    match starts {
                        Some(_) => started_samples.extend(zeros.map(|s| (id, s, 0))),
                        None => samples.extend(zeros.map(|s| (id, s))),
                    }
                    match starts {
                        Some(_) => started_histograms.extend(zero_histograms.map(|h| (id, h, 0))),
                        None => histograms.extend(zero_histograms.map(|h| (id, h))),
                    }
                }
                match &starts {
                    // Every float of such an entry goes with its start (0 for one without),
                    // so that the series' floats are applied in their order.
                    Some(starts) => started_samples.extend(series_samples.iter().filter(|s| keep(s.timestamp_ms)).map(|s| (id, *s, start_at(starts, s.timestamp_ms)))),
                    None => samples.extend(series_samples.iter().filter(|s| keep(s.timestamp_ms)).map(|s| (id, *s))),
                }
                if !series.histograms().is_empty() {
                    let kept = series.histograms().iter().filter(|h| keep(h.timestamp_ms));
                    late += kept.clone().filter(|h| h.timestamp_ms < watermark).count() as u64;
                    match &starts {
                        Some(starts) => started_histograms.extend(kept.map(|h| (id, h.clone(), start_at(starts, h.timestamp_ms)))),
                        None => histograms.extend(kept.map(|h| (id, h.clone()))),
                    }
                }
                if !series.exemplars().is_empty() {
                    if store_exemplars {
                        exemplars.extend(series.exemplars().iter().map(|e| (id, e.clone())));
                    } else {
                        *exemplars_refused += series.exemplars().len() as u64;
                    }
                }
            }
            group_ends.push(samples.len());
            if store_starts {
                started_group_ends.push(started_samples.len());
                started_histogram_group_ends.push(started_histograms.len());
            }
            histogram_group_ends.push(histograms.len());
            exemplar_group_ends.push(exemplars.len());
        }
        let mut records = Vec::with_capacity(4);
        if !new_series.is_empty() {
            records.push(Record::Series(new_series));
        }
        if !samples.is_empty() {
            records.push(Record::Samples(samples));
        }
        if !started_samples.is_empty() {
            records.push(Record::StartedSamples(started_samples));
        }
        if !histograms.is_empty() {
            records.push(Record::Histograms(histograms));
        }
        if !started_histograms.is_empty() {
            records.push(Record::StartedHistograms(started_histograms));
        }
        if !exemplars.is_empty() {
            records.push(Record::Exemplars(exemplars));
        }
        self.wal.append(&records).await?;
        self.late_samples = self.late_samples.saturating_add(late);
        let mut samples: &[(u32, crate::Sample)] = &[];
        let mut started_samples: &[(u32, crate::Sample, i64)] = &[];
        let mut started_histograms: &[(u32, HistogramSample, i64)] = &[];
        let mut histograms: &[(u32, HistogramSample)] = &[];
        let mut exemplars: &[(u32, Exemplar)] = &[];
        for record in &records {
            match record {
                Record::Series(created) => {
                    for (id, labels) in created {
                        let (head_id, is_new) = self.head.get_or_create(labels);
                        debug_assert!(is_new && head_id == *id, "head assigns the ids the WAL recorded");
                    }
                }
                Record::Samples(recorded) => samples = recorded,
                Record::StartedSamples(recorded) => started_samples = recorded,
                Record::Histograms(recorded) => histograms = recorded,
                Record::StartedHistograms(recorded) => started_histograms = recorded,
                Record::Exemplars(recorded) => exemplars = recorded,
                Record::Tombstones(_) => unreachable!("appends write no tombstones"),
            }
        }
        let mut outcomes = Vec::with_capacity(groups.len());
        let mut group_start = 0;
        for ((((group_end, refused), exemplars_refused), (too_old, too_new)), (hourly, daily)) in
            group_ends.into_iter().zip(refused).zip(exemplars_refused).zip(outside_bounds).zip(window_refused)
        {
            let mut outcome = AppendOutcome {
                samples_refused_series_limit: refused,
                samples_refused_too_old: too_old,
                samples_refused_too_new: too_new,
                samples_refused_hourly_limit: hourly,
                samples_refused_daily_limit: daily,
                exemplars_refused,
                ..AppendOutcome::default()
            };
            for (position, &(id, sample)) in samples.iter().enumerate().take(group_end).skip(group_start) {
                prefetch_ahead(&self.head, position, |p| samples.get(p).map(|&(ahead, _)| ahead));
                apply_to_head(&mut self.head, id, sample, &mut outcome);
            }
            group_start = group_end;
            outcomes.push(outcome);
        }
        // Floats with start times after the others, as replay applies the records.
        let mut group_start = 0;
        for (group_end, outcome) in started_group_ends.into_iter().zip(&mut outcomes) {
            for &(id, sample, start_ms) in &started_samples[group_start..group_end] {
                apply_started_to_head(&mut self.head, id, sample, start_ms, outcome);
            }
            group_start = group_end;
        }
        // Histograms after every float, as replay applies the records.
        let mut group_start = 0;
        for (group_end, outcome) in histogram_group_ends.into_iter().zip(&mut outcomes) {
            for (id, h) in &histograms[group_start..group_end] {
                apply_histogram_to_head(&mut self.head, *id, h, outcome);
            }
            group_start = group_end;
        }
        // Histograms with start times after the others, as replay applies the records.
        let mut group_start = 0;
        for (group_end, outcome) in started_histogram_group_ends.into_iter().zip(&mut outcomes) {
            for (id, h, start_ms) in &started_histograms[group_start..group_end] {
                count_result(self.head.append_histogram_started(*id, h, *start_ms), outcome);
            }
            group_start = group_end;
        }
        // Exemplars last, as replay applies the records.
        let mut group_start = 0;
        for (group_end, outcome) in exemplar_group_ends.into_iter().zip(&mut outcomes) {
            for (id, e) in &exemplars[group_start..group_end] {
                match self.exemplars.add(&self.head.labels_of(*id), e.clone()) {
                    ExemplarAdd::Added => outcome.exemplars_appended += 1,
                    ExemplarAdd::Duplicate => {}
                    ExemplarAdd::OutOfOrder | ExemplarAdd::Disabled => outcome.exemplars_refused += 1,
                }
            }
            group_start = group_end;
        }
        for outcome in &outcomes {
            self.stats.samples_appended_total += outcome.samples_appended;
            self.stats.samples_out_of_order_total += outcome.samples_out_of_order;
            self.stats.duplicates_overwritten_total += outcome.duplicates_overwritten;
            self.stats.samples_refused_series_limit_total += outcome.samples_refused_series_limit;
            self.stats.samples_refused_type_conflict_total += outcome.samples_refused_type_conflict;
            self.stats.samples_refused_too_old_total += outcome.samples_refused_too_old;
            self.stats.samples_refused_too_new_total += outcome.samples_refused_too_new;
            self.stats.samples_refused_hourly_limit_total += outcome.samples_refused_hourly_limit;
            self.stats.samples_refused_daily_limit_total += outcome.samples_refused_daily_limit;
        }
        self.stats.series = self.head.series_count() as u64;
        Ok(outcomes)
    }
}
