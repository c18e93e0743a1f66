//! Start (created) timestamps of scraped series, read under
//! `storage.start_timestamp_zero_ingestion` (Prometheus' `created-timestamp-zero-ingestion`):
//! `LineStarts` carries them beside an answer's text lines to the series cache, and
//! `CreatedPairing` finds them in OpenMetrics' `_created` lines as Prometheus' OpenMetrics
//! parser does. The shard writes the zero samples they ask for (`tsdb::StartTimestamp`).

use tsdb::{Labels, METRIC_NAME_LABEL};

use crate::ingest::label_limits::LabelLimits;

/// The start timestamps of an answer's series lines: each line's index among its text's
/// `lines()` and its start (ms since the epoch, never 0: 0 is "none", as in Prometheus), by
/// increasing line. They ride beside the `Answer`, whose text stays in the text format.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineStarts(Vec<(usize, i64)>);

impl LineStarts {
    /// Notes the start of line `line` (after every line noted so far); a start of 0 is none.
    pub fn push(&mut self, line: usize, start_ms: i64) {
        debug_assert!(self.0.last().is_none_or(|(last, _)| *last < line), "line starts are noted in increasing line order");
        if start_ms != 0 {
            self.0.push((line, start_ms));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// (line, start) pairs, by increasing line.
    pub fn iter(&self) -> impl Iterator<Item = (usize, i64)> + '_ {
        self.0.iter().copied()
    }

    /// A reader of the starts of lines asked in increasing order.
    pub fn reader(&self) -> LineStartReader<'_> {
        LineStartReader { rest: &self.0 }
    }
}

/// Reads `LineStarts` along the lines of their text.
pub struct LineStartReader<'a> {
    rest: &'a [(usize, i64)],
}

impl LineStartReader<'_> {
    /// The start of line `line`, if it has one; lines are asked in increasing order.
    pub fn start_of(&mut self, line: usize) -> Option<i64> {
        while let Some(((first, _), rest)) = self.rest.split_first() {
            if *first >= line {
                break;
            }
            self.rest = rest;
        }
        match self.rest.first() {
            Some(&(first, start_ms)) if first == line => Some(start_ms),
            _ => None,
        }
    }
}

/// The types whose series OpenMetrics starts with `_created` lines (Prometheus'
/// `typeRequiresST`), with the label that tells their series apart within one start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StartedKind {
    Counter,
    Summary,
    Histogram,
    Other,
}

impl StartedKind {
    fn of_type(kind: &str) -> StartedKind {
        match kind {
            "counter" => StartedKind::Counter,
            "summary" => StartedKind::Summary,
            "histogram" => StartedKind::Histogram,
            _ => StartedKind::Other,
        }
    }

    /// The label left out when pairing: a summary's quantiles and a histogram's buckets share
    /// their `_created`.
    fn bound_label(self) -> Option<&'static str> {
        match self {
            StartedKind::Summary => Some("quantile"),
            StartedKind::Histogram => Some("le"),
            StartedKind::Counter | StartedKind::Other => None,
        }
    }
}

/// What Prometheus compares to pair a series with a `_created` line: a name (the series'
/// metric name cut to the family name's length; the `_created` line's without that suffix)
/// and the labels but `__name__` and the kind's bound label.
#[derive(Debug, PartialEq, Eq)]
struct PairingKey {
    name: Vec<u8>,
    labels: Vec<(String, String)>,
}

impl PairingKey {
    fn new(name: &[u8], labels: &Labels, kind: StartedKind) -> PairingKey {
        let skipped = kind.bound_label();
        let labels = labels.iter().filter(|l| l.name != METRIC_NAME_LABEL && Some(l.name) != skipped).map(|l| (l.name.to_string(), l.value.to_string())).collect();
        PairingKey { name: name.to_vec(), labels }
    }
}

/// The suffix of the lines that give a start timestamp.
const CREATED_SUFFIX: &str = "_created";

/// No label limits: the lines parsed here are only compared (a `_created` line is not
/// stored; a series line is checked again by the scrape).
const NO_LABEL_LIMITS: LabelLimits = LabelLimits { labels_per_series: 0, name_bytes: 0, value_bytes: 0 };

/// The labels of a series text (name and label block), or the problem with them.
fn labels_of(series: &str) -> Result<Labels, String> {
    match crate::ingest::text_format::parse_line(&format!("{series} 0"), 0, 0, &NO_LABEL_LIMITS) {
        Ok(Some((labels, _))) => Ok(labels),
        Ok(None) => Err(format!("expected a series, got {series:?}")),
        Err(crate::ingest::DecodeError::InvalidSeries { problem, .. }) => Err(problem),
        Err(other) => Err(other.to_string()),
    }
}

/// A `_created` value (seconds since the epoch) in milliseconds, truncated as Prometheus'
/// `int64(v * 1000)` truncates it; 0 (none) when it is not a finite number, whose Go
/// conversion has no defined result.
fn created_start_ms(seconds: f64) -> i64 {
    if seconds.is_finite() {
        (seconds * 1000.0) as i64
    } else {
        0
    }
}

/// Pairs the series lines of an OpenMetrics answer with their `_created` lines as Prometheus'
/// OpenMetrics parser does when it skips them (`WithOMParserSTSeriesSkipped`):
/// - in a `counter`, `summary` or `histogram` family (the last `# TYPE`), a sample whose
///   metric name ends with `_created` is no series; its value (seconds) starts series;
/// - a series' start is that of the first `_created` line after it before the next
///   comment line, when that line has the series' name (cut to the length of the family
///   name the last `# HELP`, `# TYPE` or `# UNIT` gave) and labels (`le` aside in a
///   histogram, `quantile` in a summary); a `_created` line of other labels found first, or
///   none before the comment, leaves the series without a start;
/// - the last pairing found (with a start after the epoch) is remembered and given to
///   later series of the same name and labels without looking ahead, until a series finds
///   none or a series of another type comes, as Prometheus caches it (so a histogram's
///   `_count` after its `_created` still gets its start).
///
/// Prometheus compares hashes of the label bytes run together; the labels are compared
/// here. It looks for the start of each series it stores; here every series line asks, the
/// ones relabeling drops or that repeat a series included (which only matters when a
/// `_created` line stands between two series of one label set).
#[derive(Debug, Default)]
pub struct CreatedPairing<'a> {
    kind: Option<StartedKind>,
    /// Bytes of the family name the last `# HELP`, `# TYPE` or `# UNIT` named.
    family_bytes: usize,
    /// The series lines (index, series text) since the last `_created` line or comment,
    /// waiting for the next `_created` line.
    pending: Vec<(usize, &'a str)>,
    /// The last pairing found with a start after the epoch (Prometheus' cached start).
    last: Option<(PairingKey, i64)>,
    starts: LineStarts,
}

impl<'a> CreatedPairing<'a> {
    /// A `# HELP`, `# TYPE` or `# UNIT` comment for `family` (`kind`: the type a `# TYPE`
    /// gives): the series before it find no `_created` line after it.
    pub fn comment(&mut self, family: &str, kind: Option<&str>) {
        self.resolve(None);
        self.family_bytes = family.len();
        if let Some(kind) = kind {
            self.kind = Some(StartedKind::of_type(kind));
        }
    }

    /// Sample line `index` (0-based) with series text `series` and value `value`: `true`
    /// when it is a `_created` line, which gives a start and is no series. A `_created`
    /// line whose labels do not parse is an error (the scrape will not read it to refuse
    /// it).
    pub fn sample(&mut self, index: usize, series: &'a str, value: f64) -> Result<bool, String> {
        let kind = self.kind.unwrap_or(StartedKind::Other);
        if kind == StartedKind::Other {
            // Prometheus' fast path for other types forgets the cached start.
            self.last = None;
            return Ok(false);
        }
        // Only a line naming `_created` somewhere can be one; the others wait unparsed.
        if series.contains(CREATED_SUFFIX) {
            let labels = labels_of(series)?;
            if let Some(base) = labels.metric_name().and_then(|name| name.strip_suffix(CREATED_SUFFIX)) {
                let key = PairingKey::new(base.as_bytes(), &labels, kind);
                self.resolve(Some((key, created_start_ms(value))));
                return Ok(true);
            }
        }
        self.pending.push((index, series));
        Ok(false)
    }

    /// The starts found, once every line was given.
    pub fn finish(mut self) -> LineStarts {
        self.resolve(None);
        self.starts
    }

    /// Gives the waiting series their starts: `created` is the `_created` line that ends
    /// their wait (its key and start), `None` when a comment or the end did.
    fn resolve(&mut self, created: Option<(PairingKey, i64)>) {
        let kind = self.kind.unwrap_or(StartedKind::Other);
        let mut pending = std::mem::take(&mut self.pending);
        for (index, series) in pending.drain(..) {
            if self.last.is_none() && created.is_none() {
                // Nothing left that could start the rest.
                break;
            }
            // A series whose labels do not parse gets no start; the scrape refuses its line.
            let key = labels_of(series).ok().and_then(|labels| {
                let name = labels.metric_name()?.as_bytes().get(..self.family_bytes)?.to_vec();
                Some(PairingKey::new(&name, &labels, kind))
            });
            if let (Some(key), Some((last_key, last_start))) = (&key, &self.last) {
                if key == last_key {
                    self.starts.push(index, *last_start);
                    continue;
                }
            }
            match (key, &created) {
                (Some(key), Some((created_key, start_ms))) if key == *created_key => {
                    self.starts.push(index, *start_ms);
                    self.last = (*start_ms > 0).then_some((key, *start_ms));
                }
                _ => self.last = None,
            }
        }
        self.pending = pending;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_starts_are_read_along_the_lines() {
        let mut starts = LineStarts::default();
        starts.push(1, 100);
        starts.push(2, 0);
        starts.push(4, -5);
        assert_eq!(starts.iter().collect::<Vec<_>>(), vec![(1, 100), (4, -5)], "a 0 start is none");
        let mut reader = starts.reader();
        let read: Vec<Option<i64>> = (0..6).map(|line| reader.start_of(line)).collect();
        assert_eq!(read, vec![None, Some(100), None, None, Some(-5), None]);
        // Lines skipped in between are passed over.
        let mut reader = starts.reader();
        assert_eq!((reader.start_of(4), reader.start_of(5)), (Some(-5), None));
        assert!(LineStarts::default().is_empty());
    }

    #[test]
    fn created_values_are_truncated_to_milliseconds() {
        assert_eq!(created_start_ms(1_700_000_000.123_9), 1_700_000_000_123);
        assert_eq!(created_start_ms(-1.5009), -1500);
        assert_eq!(created_start_ms(f64::NAN), 0);
        assert_eq!(created_start_ms(f64::INFINITY), 0);
        assert_eq!(created_start_ms(1e300), i64::MAX);
    }
}
