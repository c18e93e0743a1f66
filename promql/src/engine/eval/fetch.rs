//! The query's selects: built from its expression, each fetched whole once (or handed to the
//! series-major path one series at a time), counted against the sample limit, and read back
//! as the series of a selector or of an `info()` call.

use std::collections::HashMap;
use std::ops::ControlFlow;

use tsdb::{is_stale_nan, Querier, Sample, SeriesSamples};

use super::Evaluator;
use super::super::{info_key, selector_key, walk_selectors, SelectKey, Error, PreparedQuery};
use crate::ast::{Expr, VectorSelector};

/// One select evaluation needs: what it asks, and once fetched its series.
pub(super) struct Select {
    /// The matcher sets whose series are united: one, or one per alternative of MetricsQL's
    /// `or` filters.
    alternatives: Vec<Vec<tsdb::Matcher>>,
    mint_ms: i64,
    maxt_ms: i64,
    /// Only each series' last sample in the range is read (`Querier::select_last`).
    last_only: bool,
    /// Filled before the steps, except for a select read one series at a time by the
    /// series-major path (`Evaluator::stream`), which never holds it whole.
    fetched: std::cell::OnceCell<Fetched>,
    /// Read by the series-major path: its samples are counted against the limit.
    streamed: std::cell::Cell<bool>,
    /// Its histograms are read for their count and sum (`stats_decoding`).
    stats: bool,
}

/// A select's series, and for each whether it holds a staleness marker (computed once, so
/// range functions scan windows for markers only in those series).
struct Fetched {
    series: Vec<SeriesSamples>,
    has_stale: Vec<bool>,
    /// Whether any series holds a native histogram (known once, not at every step).
    has_histograms: bool,
}

impl Fetched {
    fn new(series: Vec<SeriesSamples>) -> Fetched {
        let has_stale = series.iter().map(|s| holds_stale(&s.samples)).collect();
        let has_histograms = series.iter().any(|s| !s.histograms.is_empty());
        Fetched { series, has_stale, has_histograms }
    }
}

/// Whether `samples` hold a staleness marker.
pub(in crate::engine) fn holds_stale(samples: &[Sample]) -> bool {
    samples.iter().any(|p| is_stale_nan(p.value))
}

/// Fetches the query's series and sets up its evaluation. The selects the series-major path
/// may read one series at a time (`series_major::streamable`) are left for it: it fetches
/// them whole only where it declines the aggregation (`fetch_remaining`).
pub(in crate::engine) fn evaluator<'q>(q: &'q PreparedQuery, querier: &'q dyn Querier, cancel: Option<&'q std::sync::atomic::AtomicBool>) -> Result<Evaluator<'q>, Error> {
    let streamable = if q.options.series_major && !q.instant { super::super::series_major::streamable(&q.expr) } else { Default::default() };
    let last_only = q.last_sample_selects();
    let stats_selects = super::super::stats_decoding::stats_selectors(&q.expr);
    let mut selects: HashMap<SelectKey, Select> = HashMap::new();
    walk_selectors(&q.expr, q.start_ms, q.end_ms, &q.options, &mut |key, matchers, mint_ms, maxt_ms| {
        let last_only = last_only.contains(&key);
        let stats = stats_selects.contains(&key);
        let mint_ms = super::super::stats_read_start(mint_ms, stats);
        match selects.entry(key) {
            std::collections::hash_map::Entry::Occupied(mut known) => known.get_mut().alternatives.push(matchers.to_vec()),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(Select { alternatives: vec![matchers.to_vec()], mint_ms, maxt_ms, last_only, fetched: Default::default(), streamed: Default::default(), stats });
            }
        }
    });
    // An instant query has no step: `step()` is 0 there.
    let step_ms = if q.instant { 0 } else { q.step_ms };
    let ev = Evaluator {
        options: &q.options,
        querier,
        selects,
        loaded: Default::default(),
        start_ms: q.start_ms,
        end_ms: q.end_ms,
        step_ms,
        cursors: Default::default(),
        cancel,
        stripped: Default::default(),
        keeping_names: Default::default(),
        stripped_series: Default::default(),
        group_caches: Default::default(),
        precomputed: Default::default(),
        grid: std::cell::Cell::new(super::super::series_wide::Grid::new(q.start_ms, q.end_ms, step_ms)),
        series_wide: Default::default(),
        annotations: Default::default(),
        param_ranges: Default::default(),
        non_counters: Default::default(),
        sample_stats: q.sample_stats.then(|| super::super::sample_stats::Counter::new(q.start_ms, q.end_ms, q.step_ms)),
        query_expr: super::super::functions::unparen(&q.expr),
    };
    for key in ev.selects.keys().filter(|key| !streamable.contains(*key)) {
        ev.fetch(key)?;
    }
    Ok(ev)
}

impl Evaluator<'_> {
    /// Fetches select `key` whole, once, counting its samples against the limit.
    fn fetch(&self, key: &SelectKey) -> Result<(), Error> {
        let Some(select) = self.selects.get(key) else {
            return Ok(());
        };
        if select.fetched.get().is_some() {
            return Ok(());
        }
        let series = select_whole(self.querier, select);
        self.count_loaded(series.iter().map(|s| s.samples.len() + s.histograms.len()).sum())?;
        let _ = select.fetched.set(Fetched::new(series));
        Ok(())
    }

    fn count_loaded(&self, samples: usize) -> Result<(), Error> {
        let loaded = self.loaded.get().saturating_add(samples);
        self.loaded.set(loaded);
        if loaded > self.options.max_samples {
            return Err(Error::TooManySamples);
        }
        Ok(())
    }

    /// Fetches every select the series-major path did not read (it declined the
    /// aggregation, or was off): the step-major evaluation needs them whole.
    pub(in crate::engine) fn fetch_remaining(&self) -> Result<(), Error> {
        for (key, select) in &self.selects {
            if !select.streamed.get() {
                self.fetch(key)?;
            }
        }
        Ok(())
    }

    /// Hands `vs`'s series to `visit` one at a time (`Querier::select_each`: a select not
    /// fetched yet is decoded series by series, never held whole), counting their samples
    /// against the limit. `Ok(false)` when `visit` broke off: nothing is counted then, and
    /// `fetch_remaining` fetches the select whole for the step-major path.
    pub(in crate::engine) fn stream(&self, vs: &VectorSelector, visit: &mut tsdb::SeriesVisitor<'_>) -> Result<bool, Error> {
        let key = selector_key(vs);
        let Some(select) = self.selects.get(&key) else {
            return Ok(true);
        };
        if select.alternatives.len() > 1 {
            // Alternatives are united whole (a series two of them match is handed once).
            self.fetch(&key)?;
        }
        if let Some(fetched) = select.fetched.get() {
            let finished = fetched.series.iter().all(|s| visit(&s.labels, &s.samples, &s.histograms, s.starts.as_deref()).is_continue());
            return Ok(finished);
        }
        let room = self.options.max_samples.saturating_sub(self.loaded.get());
        let (mut counted, mut too_many, mut broke_off) = (0usize, false, false);
        let Some(matchers) = select.alternatives.first() else {
            return Ok(true);
        };
        self.querier.select_each(matchers, select.mint_ms, select.maxt_ms, &mut |labels, samples, histograms, starts| {
            counted += samples.len() + histograms.len();
            too_many = counted > room;
            broke_off = too_many || visit(labels, samples, histograms, starts).is_break();
            if broke_off {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        if too_many {
            return Err(Error::TooManySamples);
        }
        if broke_off {
            return Ok(false);
        }
        select.streamed.set(true);
        self.count_loaded(counted)?;
        Ok(true)
    }

    /// A select's series whole: fetched before the steps, or (a select the series-major path
    /// read, asked for again) fetched now, its samples counted already.
    fn fetched(&self, key: &SelectKey) -> Option<&Fetched> {
        let select = self.selects.get(key)?;
        Some(select.fetched.get_or_init(|| Fetched::new(select_whole(self.querier, select))))
    }
}

fn select_whole(querier: &dyn Querier, select: &Select) -> Vec<SeriesSamples> {
    let one = |matchers: &[tsdb::Matcher]| {
        if select.last_only {
            querier.select_last(matchers, select.mint_ms, select.maxt_ms)
        } else {
            querier.select(matchers, select.mint_ms, select.maxt_ms)
        }
    };
    let mut series = match select.alternatives.as_slice() {
        [matchers] => one(matchers),
        alternatives => {
            let mut united: Vec<SeriesSamples> = alternatives.iter().flat_map(|matchers| one(matchers)).collect();
            united.sort_by(|a, b| a.labels.cmp(&b.labels));
            united.dedup_by(|a, b| a.labels == b.labels);
            united
        }
    };
    if select.stats {
        super::super::stats_decoding::decode_stats(&mut series);
    }
    series
}

impl Evaluator<'_> {
    /// For each series of `selected(vs)`, whether it holds a staleness marker.
    pub(in crate::engine) fn stale_flags(&self, vs: &VectorSelector) -> &[bool] {
        self.fetched(&selector_key(vs)).map_or(&[], |f| f.has_stale.as_slice())
    }

    /// Whether any series of `selected(vs)` holds a native histogram.
    pub(in crate::engine) fn holds_histograms(&self, vs: &VectorSelector) -> bool {
        self.fetched(&selector_key(vs)).is_some_and(|f| f.has_histograms)
    }

    pub(in crate::engine) fn selected(&self, vs: &VectorSelector) -> &[SeriesSamples] {
        self.fetched(&selector_key(vs)).map_or(&[], |f| f.series.as_slice())
    }

    /// The info series of the `info()` call with these arguments.
    pub(in crate::engine) fn info_series(&self, args: &[Expr]) -> &[SeriesSamples] {
        self.fetched(&info_key(args)).map_or(&[], |f| f.series.as_slice())
    }
}
