//! The read-path coordinator: the executor that received a query prepares it, scatters
//! every selector (with its exact time range) to all shards at once, and gathers the
//! series with their chunks still encoded; the evaluation thread decodes each select as
//! the engine asks for it, so decoding never runs on a shard's core.

use tsdb::encoded::DecodeScratch;
use tsdb::{EncodedSeries, Matcher, Querier, SampleStarts, SeriesSamples};

use crate::shard::messages::Select;
use crate::shard::{ShardRouter, SubmitError};

/// Series fetched for one query, keyed by the selects the engine announced.
pub struct PrefetchedQuerier {
    entries: Vec<(Select, Vec<EncodedSeries>)>,
    /// `storage.dedup_interval_ms`: each decoded series keeps only the last sample of each
    /// such interval (`tsdb::dedup`); 0 keeps every sample.
    dedup_interval_ms: i64,
}

impl PrefetchedQuerier {
    /// Fetches every select from every shard in one scatter; a shard stops (and the fetch
    /// fails with `TooManySamples`) once the selects would load more than `sample_limit`.
    /// The exact limit is the engine's, on the decoded samples. With `filters` (alternatives
    /// of matchers, see `api::read_filters`), each select gets only the series that also
    /// match one alternative; the engine still asks for it by its own matchers.
    pub async fn fetch(router: &ShardRouter, selects: Vec<Select>, filters: &[Vec<Matcher>], sample_limit: usize, dedup_interval_ms: i64) -> Result<Self, SubmitError> {
        let results = router.select(&selects, filters, sample_limit).await?;
        Ok(PrefetchedQuerier { entries: selects.into_iter().zip(results).collect(), dedup_interval_ms })
    }

    /// One series' samples and histograms, each deduplicated by `dedup_interval_ms`; with
    /// their start times (parallel to them), each kept sample's start is kept with it.
    fn dedup(&self, samples: &mut Vec<tsdb::Sample>, histograms: &mut Vec<tsdb::HistogramSample>, starts: Option<&mut SampleStarts>) {
        let interval_ms = self.dedup_interval_ms;
        if interval_ms <= 0 {
            return;
        }
        let Some(starts) = starts else {
            tsdb::dedup::dedup_by_interval(samples, interval_ms, |s| s.timestamp_ms);
            tsdb::dedup::dedup_by_interval(histograms, interval_ms, |h| h.timestamp_ms);
            return;
        };
        let mut floats: Vec<(tsdb::Sample, i64)> = samples.drain(..).zip(starts.floats.drain(..)).collect();
        tsdb::dedup::dedup_by_interval(&mut floats, interval_ms, |(s, _)| s.timestamp_ms);
        (*samples, starts.floats) = floats.into_iter().unzip();
        let mut started_histograms: Vec<(tsdb::HistogramSample, i64)> = histograms.drain(..).zip(starts.histograms.drain(..)).collect();
        tsdb::dedup::dedup_by_interval(&mut started_histograms, interval_ms, |(h, _)| h.timestamp_ms);
        (*histograms, starts.histograms) = started_histograms.into_iter().unzip();
    }

    /// The most series one select fetched.
    pub fn largest_select(&self) -> usize {
        self.entries.iter().map(|(_, series)| series.len()).max().unwrap_or(0)
    }

    /// Series fetched, over every select (a series two selects fetched counts twice).
    pub fn series_fetched(&self) -> usize {
        self.entries.iter().map(|(_, series)| series.len()).sum()
    }

    /// Samples fetched, at least (counted from chunk headers: see
    /// `EncodedSeries::samples_at_least`).
    pub fn samples_loaded(&self) -> usize {
        self.entries
            .iter()
            .flat_map(|(select, series)| series.iter().map(|s| s.samples_at_least(select.mint_ms, select.maxt_ms)))
            .sum()
    }

    /// The prefetched select with the same matchers whose range covers the asked one; for
    /// an asker of all samples (`last_only` false), one that fetched all samples. A select
    /// of last samples serves only its exact range: the last sample of a wider one may lie
    /// outside the asked range. The engine only asks what it announced.
    fn covering(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64, last_only: bool) -> Option<&[EncodedSeries]> {
        let serves = |s: &Select| {
            s.matchers.as_slice() == matchers
                && if s.last_only { last_only && s.mint_ms == mint_ms && s.maxt_ms == maxt_ms } else { s.mint_ms <= mint_ms && s.maxt_ms >= maxt_ms }
        };
        let covering = self.entries.iter().find(|(s, _)| serves(s)).map(|(_, series)| series.as_slice());
        debug_assert!(covering.is_some() || cfg!(test), "engine asked for a select it did not announce: {matchers:?} [{mint_ms}, {maxt_ms}]");
        covering
    }

    /// The covering select (`covering`) decoded to the asked range.
    fn decode_covering(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64, last_only: bool) -> Vec<SeriesSamples> {
        let mut decoded = self.covering(matchers, mint_ms, maxt_ms, last_only).map(|series| tsdb::encoded::decode_all(series, mint_ms, maxt_ms)).unwrap_or_default();
        for series in &mut decoded {
            // Start times (`SeriesSamples::starts`) stay with the samples they belong to.
            self.dedup(&mut series.samples, &mut series.histograms, series.starts.as_deref_mut());
        }
        decoded
    }
}

impl Querier for PrefetchedQuerier {
    /// Decodes the prefetched select with the same matchers whose range covers the asked
    /// one, to the asked range. The engine only asks what it announced.
    fn select(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<SeriesSamples> {
        self.decode_covering(matchers, mint_ms, maxt_ms, false)
    }

    /// The select fetched as `last_only` (the shards may have sent only each series' last
    /// sample in the range), or one of all samples.
    fn select_last(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<SeriesSamples> {
        self.decode_covering(matchers, mint_ms, maxt_ms, true)
    }

    /// Decodes one series at a time into the same buffers (`EncodedSeries::decode_both_into`),
    /// start times included: the select is never held decoded whole.
    fn select_each(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64, visit: &mut tsdb::SeriesVisitor<'_>) {
        let Some(series) = self.covering(matchers, mint_ms, maxt_ms, false) else {
            return;
        };
        let (mut samples, mut histograms, mut starts, mut scratch) = (Vec::new(), Vec::new(), SampleStarts::default(), DecodeScratch::default());
        for s in series {
            let started = s.decode_both_into(mint_ms, maxt_ms, (&mut samples, &mut histograms), &mut starts, &mut scratch);
            // As `select`: a series with start times keeps them through the deduplication.
            self.dedup(&mut samples, &mut histograms, started.then_some(&mut starts));
            if (!samples.is_empty() || !histograms.is_empty()) && visit(&s.labels, &samples, &histograms, started.then_some(&starts)).is_break() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tsdb::{EncodedPart, Labels, MatchOp, Sample};

    fn series(points: &[(i64, f64)]) -> Vec<EncodedSeries> {
        let samples = points.iter().map(|&(timestamp_ms, value)| Sample { timestamp_ms, value }).collect();
        vec![EncodedSeries { labels: Labels::from_pairs([("__name__", "x")]), parts: vec![EncodedPart { samples, ..Default::default() }] }]
    }

    #[test]
    fn a_select_of_last_samples_serves_only_its_own_range_and_only_last_sample_askers() {
        let x = vec![tsdb::Matcher::new(MatchOp::Equal, "__name__", "x").expect("matcher")];
        let last_only = Select { last_only: true, ..Select::all(x.clone(), 0, 100) };
        // As a shard may answer it: only the last sample of [0, 100].
        let querier = PrefetchedQuerier { entries: vec![(last_only, series(&[(90, 9.0)]))], dedup_interval_ms: 0 };
        assert_eq!(querier.select_last(&x, 0, 100).len(), 1);
        // Its last sample says nothing about [0, 50], nor about all samples of [0, 100].
        assert!(querier.covering(&x, 0, 50, true).is_none());
        assert!(querier.covering(&x, 0, 100, false).is_none());
        // A select of all samples serves both kinds of askers within its range.
        let querier = PrefetchedQuerier { entries: vec![(Select::all(x.clone(), 0, 100), series(&[(10, 1.0), (40, 4.0), (90, 9.0)]))], dedup_interval_ms: 0 };
        let last_in = |mint, maxt| querier.select_last(&x, mint, maxt)[0].samples.last().map(|s| s.timestamp_ms);
        assert_eq!((last_in(0, 50), last_in(0, 100)), (Some(40), Some(90)));
        assert_eq!(querier.select(&x, 0, 50)[0].samples.len(), 2);
    }

    /// A querier holding one series `x` of an XOR2 chunk at 1, 4, 11 and 12 ms (starts -1, -1,
    /// 9, 10: restarted twice), deduplicating at `dedup_interval_ms`.
    fn started(dedup_interval_ms: i64) -> (Vec<tsdb::Matcher>, PrefetchedQuerier) {
        let mut chunk = tsdb::chunk::Xor2Appender::default();
        for (start, t, value) in [(-1, 1, 1.0), (-1, 4, 2.0), (9, 11, 0.5), (10, 12, 1.5)] {
            chunk.append(start, t, value);
        }
        let encoded = tsdb::EncodedChunk { min_time_ms: 1, max_time_ms: 12, encoding: tsdb::chunk::ChunkEncoding::Xor2, bytes: chunk.bytes().to_vec().into() };
        let series = EncodedSeries { labels: Labels::from_pairs([("__name__", "x")]), parts: vec![EncodedPart { chunks: vec![encoded], ..Default::default() }] };
        let x = vec![tsdb::Matcher::new(MatchOp::Equal, "__name__", "x").expect("matcher")];
        (x.clone(), PrefetchedQuerier { entries: vec![(Select::all(x, 0, 100), vec![series])], dedup_interval_ms })
    }

    #[test]
    fn select_each_hands_each_series_start_times_as_select_gives_them() {
        for dedup_interval_ms in [0, 5] {
            let (x, querier) = started(dedup_interval_ms);
            let mut handed = Vec::new();
            querier.select_each(&x, 0, 100, &mut |_, samples, _, starts| {
                handed.push((samples.iter().map(|s| s.timestamp_ms).collect::<Vec<_>>(), starts.map(|s| s.floats.clone())));
                std::ops::ControlFlow::Continue(())
            });
            let selected: Vec<_> = querier.select(&x, 0, 100).into_iter().map(|s| (s.samples.iter().map(|p| p.timestamp_ms).collect::<Vec<_>>(), s.starts.map(|st| st.floats))).collect();
            assert_eq!(handed, selected, "dedup interval {dedup_interval_ms}");
            // At 5 ms, (0, 5] keeps 4 and (10, 15] keeps 12, each with its own start.
            let expected = if dedup_interval_ms == 0 { (vec![1, 4, 11, 12], vec![-1, -1, 9, 10]) } else { (vec![4, 12], vec![-1, 10]) };
            assert_eq!(handed, vec![(expected.0, Some(expected.1))]);
        }
    }

    #[test]
    fn dedup_keeps_each_kept_samples_start_time() {
        let querier = PrefetchedQuerier { entries: Vec::new(), dedup_interval_ms: 10 };
        let samples: Vec<Sample> = [(1, 1.0), (5, 2.0), (10, 3.0), (12, 4.0)].iter().map(|&(timestamp_ms, value)| Sample { timestamp_ms, value }).collect();
        let mut series = SeriesSamples {
            labels: Labels::from_pairs([("__name__", "x")]),
            samples,
            histograms: Vec::new(),
            starts: Some(Box::new(tsdb::SampleStarts { floats: vec![-1, -5, -10, -12], histograms: Vec::new() })),
        };
        querier.dedup(&mut series.samples, &mut series.histograms, series.starts.as_deref_mut());
        // The interval (0, 10] keeps its last sample, 10; (10, 20] keeps 12.
        assert_eq!(series.samples.iter().map(|s| s.timestamp_ms).collect::<Vec<_>>(), vec![10, 12]);
        assert_eq!(series.starts.as_deref().map(|s| s.floats.clone()), Some(vec![-10, -12]));
    }
}
