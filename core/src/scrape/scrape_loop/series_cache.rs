//! One answer into series (`SeriesCache::scrape`): the exposition read line by line, the
//! target's labels merged in, `metric_relabel_configs` and the scrape's limits applied,
//! metadata given when it changes, and the series of the last scrape that this one lacks
//! marked stale. Relabeled label sets are cached by their exposed text across scrapes.

use std::hash::BuildHasher;
use std::sync::Arc;

use tsdb::{Exemplar, FloatHistogram, HistogramSample, Labels, Sample, METRIC_NAME_LABEL, STALE_NAN_BITS};

use crate::scrape::discovery::Target;
use crate::scrape::protobuf::NativeHistogramLine;
use crate::scrape::start_timestamps::LineStarts;
use crate::ingest::label_limits::LabelLimits;
use super::metadata::{comment_keyword, metadata_of, type_comment};
use super::answer::{Answer, Format};
use super::start_synthesis::{is_cumulative, StartSynthesis, Synthesized};
use super::type_and_unit::{with_type_and_unit, FamilyContext};

/// Sets the target's labels on an exposed series: with `honor_labels` only those it lacks
/// (one it exposes empty, in `exposed_empty`, counts as present: it stays away); otherwise
/// the target's win and an exposed one of the same name is kept as `exported_<name>` (more
/// `exported_` while that name is taken too).
fn merge_target_labels(exposed: &Labels, exposed_empty: &[String], target: &[(String, String)], honor_labels: bool, external: &[(String, String)]) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = exposed.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect();
    let has = |labels: &[(String, String)], name: &str| labels.iter().any(|(n, v)| n == name && !v.is_empty());
    if honor_labels {
        for (name, value) in target {
            if !has(&labels, name) && !exposed_empty.contains(name) {
                labels.retain(|(n, _)| n != name);
                labels.push((name.clone(), value.clone()));
            }
        }
    } else {
        let mut conflicting = Vec::new();
        for (name, value) in target {
            if let Some(at) = labels.iter().position(|(n, _)| n == name) {
                let (_, exposed_value) = labels.remove(at);
                if !exposed_value.is_empty() {
                    conflicting.push((name.clone(), exposed_value));
                }
            }
            labels.push((name.clone(), value.clone()));
        }
        for (name, value) in conflicting {
            let mut renamed = format!("exported_{name}");
            while has(&labels, &renamed) {
                renamed = format!("exported_{renamed}");
            }
            labels.push((renamed, value));
        }
    }
    for (name, value) in external {
        if !has(&labels, name) {
            labels.push((name.clone(), value.clone()));
        }
    }
    labels.retain(|(_, v)| !v.is_empty());
    labels
}

/// Splits an exposition line (trimmed, not a comment) into its series text (the name and
/// label block, as written) and the rest (value and timestamp); `None` when a label block
/// does not end.
pub(crate) fn split_series(line: &str) -> Option<(&str, &str)> {
    let bytes = line.as_bytes();
    // The name ends where `text_format::parse_line` ends it: at `{` or any whitespace.
    let mut i = line.find(|c: char| c == '{' || c.is_whitespace()).unwrap_or(bytes.len());
    if bytes.get(i) == Some(&b'{') {
        let (mut quoted, mut escaped) = (false, false);
        i += 1;
        loop {
            let c = *bytes.get(i)?;
            i += 1;
            if quoted {
                if escaped {
                    escaped = false;
                } else if c == b'\\' {
                    escaped = true;
                } else if c == b'"' {
                    quoted = false;
                }
            } else if c == b'"' {
                quoted = true;
            } else if c == b'}' {
                break;
            }
        }
    }
    Some((&line[..i], &line[i..]))
}

/// What one target's series text (the name and label block as exposed) became: its labels
/// after the target's and relabeling (`None`: dropped).
#[derive(Debug)]
pub(super) struct CacheEntry {
    labels: Option<Labels>,
    /// The scrape that created it (removed again when that scrape fails) and the last that
    /// saw it (forgotten `CACHE_KEEP_SCRAPES` later).
    created: u64,
    seen: u64,
}

/// A label set in a hash set, hashed by its cached stable hash.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SeriesKey(Labels);

impl std::hash::Hash for SeriesKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.stable_hash());
    }
}

/// The series a scrape wrote, each with whether it is tracked (had no timestamp of its own).
type SeriesSet = std::collections::HashMap<SeriesKey, bool, foldhash::fast::RandomState>;

/// Prometheus' `label_limit`, `label_name_length_limit` and `label_value_length_limit` on a
/// scraped series' final labels; the error (Prometheus' words) fails the scrape.
pub(super) fn check_label_limits(labels: &Labels, job: &crate::scrape::config::ScrapeJob) -> Result<(), String> {
    let metric: String = labels.get(METRIC_NAME_LABEL).unwrap_or("").chars().take(50).collect();
    let count = labels.iter().count();
    if job.label_limit > 0 && count > job.label_limit {
        return Err(format!("{} (metric: {metric}, number of labels: {count}, limit: {})", LABEL_LIMIT_ERRORS[0], job.label_limit));
    }
    for label in labels.iter() {
        let (name, value) = (label.name, label.value);
        let short_name: String = name.chars().take(50).collect();
        if job.label_name_length_limit > 0 && name.len() > job.label_name_length_limit {
            return Err(format!("{} (metric: {metric}, label name: {short_name}, length: {}, limit: {})", LABEL_LIMIT_ERRORS[1], name.len(), job.label_name_length_limit));
        }
        if job.label_value_length_limit > 0 && value.len() > job.label_value_length_limit {
            let short_value: String = value.chars().take(50).collect();
            return Err(format!(
                "{} (metric: {metric}, label name: {short_name}, value: {short_value:?}, length: {}, limit: {})",
                LABEL_LIMIT_ERRORS[2],
                value.len(),
                job.label_value_length_limit
            ));
        }
    }
    Ok(())
}

/// A successful scrape's samples and counts.
#[derive(Debug, Default)]
pub struct Scraped {
    /// Each kept series with its sample, then a staleness marker for each series of the
    /// last successful scrape that this one lacks (a float marker for a native histogram's
    /// series too: it hides the histograms before it, as in PromQL).
    pub samples: Vec<(Labels, Sample)>,
    /// Each kept native histogram series with its sample (protobuf answers only).
    pub histograms: Vec<(Labels, HistogramSample)>,
    /// Samples in the body, a native histogram counting as one (`scrape_samples_scraped`).
    pub scraped: usize,
    /// Samples kept after metric relabeling (`scrape_samples_post_metric_relabeling`),
    /// those start synthesis held back included, as Prometheus counts them.
    pub kept: usize,
    /// Series not in the last successful scrape (`scrape_series_added`).
    pub added: usize,
    /// The families' `# TYPE` and `# HELP`, when they changed since they were last
    /// given or `METADATA_RESEND_MS` passed (for `/api/v1/metadata` and the target's own),
    /// with those of families gone from the answers less than `METADATA_KEEP_SCRAPES` scrapes
    /// ago; empty once there are none, so that a target's metadata goes with its comments.
    pub metadata: Option<Vec<crate::ingest::MetricMetadata>>,
    /// The kept series' exemplars (when the cache keeps them), each series' in the order
    /// its store checks them.
    pub exemplars: Vec<(Labels, Vec<Exemplar>)>,
    /// The start timestamps of kept series (those the answer gave: see
    /// `scrape_answer_with_starts`); staleness markers and the report series have none.
    pub starts: SeriesStarts,
}

/// Start timestamps of a scrape's kept series, each with the index of its series: in
/// `Scraped::samples`, or in `Scraped::histograms`. The sample's time is its own when
/// honored, else the scrape's.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeriesStarts {
    pub samples: Vec<(usize, tsdb::StartTimestamp)>,
    pub histograms: Vec<(usize, tsdb::StartTimestamp)>,
}

impl SeriesStarts {
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty() && self.histograms.is_empty()
    }
}

/// How often a target's unchanged metadata is given again (the shards' store is best
/// effort: an update meeting a full queue is dropped).
pub(super) const METADATA_RESEND_MS: i64 = 600_000;

/// Where the cache keeps a native histogram's series text: apart from the text lines' (a
/// byte no series text holds first).
const HISTOGRAM_KEY_PREFIX: char = '\u{1}';

/// What one scrape of a target reads its answer against: the target (its job and labels), the
/// external labels, the scrape's start time (the samples' time) and the label limits.
#[derive(Clone, Copy)]
struct ScrapeGivens<'a> {
    target: &'a Target,
    external: &'a [(String, String)],
    start_ms: i64,
    limits: &'a LabelLimits,
}

/// A target's series cache, as Prometheus keeps one per scrape loop: the exposed series text
/// of each line maps to its final labels, so a series seen before costs a lookup instead of
/// parsing, merging and relabeling its labels again. Staleness goes by final label sets: the
/// series (without timestamps of their own) that the last successful scrape wrote.
#[derive(Debug, Default)]
pub struct SeriesCache {
    pub(super) entries: std::collections::HashMap<Box<str>, CacheEntry, foldhash::fast::RandomState>,
    /// This scrape's number.
    generation: u64,
    /// The series of the last successful scrape (or the tracked ones handed over by the
    /// loop this one replaced).
    last_written: SeriesSet,
    /// The metadata last given (none before the first successful scrape); boxed, as the
    /// cache lives in every idle scrape loop.
    metadata: Option<Box<GivenMetadata>>,
    /// Whether the answers' exemplars are kept (the server stores exemplars).
    keep_exemplars: bool,
    /// Whether series get `__type__`/`__unit__` from their family's metadata
    /// (`storage.type_and_unit_labels`).
    type_and_unit_labels: bool,
    /// Under `storage.start_timestamp_synthesis`: the cumulative series' reference points.
    start_synthesis: Option<Box<StartSynthesis>>,
}

/// What a scrape loop hands the loop that replaces it (a reload): the series it tracks for
/// staleness and its start synthesis state, so that neither a staleness marker nor a new
/// reference point comes of the reload.
#[derive(Debug, Default)]
pub struct Handover {
    tracked: Vec<Labels>,
    start_synthesis: Option<Box<StartSynthesis>>,
}

/// The metadata a cache last gave.
#[derive(Debug)]
struct GivenMetadata {
    /// A hash of the metadata comments it was read from.
    comments_hash: u64,
    /// When it was given (scrape start time).
    at_ms: i64,
    /// Each family's, with the scrape that last saw it when it is no longer in the answers
    /// (`None` while it is). A family that leaves them is kept for `METADATA_KEEP_SCRAPES`
    /// more scrapes, as Prometheus keeps it.
    kept: Vec<(crate::ingest::MetricMetadata, Option<u64>)>,
}

/// Scrapes after which an entry no longer seen is forgotten.
const CACHE_KEEP_SCRAPES: u64 = 10;
/// Scrapes for which a family's metadata is kept once it is no longer in the answers
/// (Prometheus' scrape cache keeps it for 10).
pub(super) const METADATA_KEEP_SCRAPES: u64 = 10;

impl SeriesCache {
    /// Keeps the exemplars of the answers from now on (`Scraped::exemplars`).
    pub fn keep_exemplars(&mut self) {
        self.keep_exemplars = true;
    }

    /// Labels series with their family's type and unit from now on (`type_and_unit`).
    pub fn label_types_and_units(&mut self) {
        self.type_and_unit_labels = true;
    }

    /// Gives cumulative series without a start time one from now on (`start_synthesis`).
    pub fn synthesize_start_timestamps(&mut self) {
        self.start_synthesis.get_or_insert_with(Box::default);
    }

    /// Takes over what a loop this one replaces (a reload) handed over: its tracked series,
    /// so that its first scrape marks stale what the new job no longer writes, and its start
    /// synthesis state when this cache synthesizes too.
    pub fn inherit(&mut self, handover: Handover) {
        self.last_written.extend(handover.tracked.into_iter().map(|l| (SeriesKey(l), true)));
        if let (Some(mine), Some(inherited)) = (&mut self.start_synthesis, handover.start_synthesis) {
            *mine = inherited;
        }
    }

    /// The tracked series of the last successful scrape and the start synthesis state, for a
    /// loop that replaces this one.
    pub fn into_handover(self) -> Handover {
        let tracked = self.last_written.into_iter().filter(|(_, tracked)| *tracked).map(|(k, _)| k.0).collect();
        Handover { tracked, start_synthesis: self.start_synthesis }
    }

    /// Parses a body and applies the target's labels, the job's metric relabeling and
    /// sample limit, and staleness. `start_ms` is the scrape's start. An error fails the
    /// whole scrape (as a malformed line or an exceeded limit fails it in Prometheus) and
    /// leaves the cache as it was.
    pub fn scrape(&mut self, target: &Target, external: &[(String, String)], body: &[u8], start_ms: i64, limits: &LabelLimits) -> Result<Scraped, String> {
        self.scrape_format(target, external, body, Format::Text, start_ms, limits)
    }

    /// As [`SeriesCache::scrape`], for a body in `format` (an OpenMetrics answer rewritten
    /// by `openmetrics::to_text` keeps its own types and units for the metadata).
    pub fn scrape_format(&mut self, target: &Target, external: &[(String, String)], body: &[u8], format: Format, start_ms: i64, limits: &LabelLimits) -> Result<Scraped, String> {
        self.scrape_with_histograms(&ScrapeGivens { target, external, start_ms, limits }, body, format, &[], &LineStarts::default())
    }

    /// As [`SeriesCache::scrape_format`], for a whole answer (a protobuf one's native
    /// histograms too).
    pub fn scrape_answer(&mut self, target: &Target, external: &[(String, String)], answer: &Answer, start_ms: i64, limits: &LabelLimits) -> Result<Scraped, String> {
        self.scrape_answer_with_starts(target, external, answer, &LineStarts::default(), start_ms, limits)
    }

    /// As [`SeriesCache::scrape_answer`], with the start timestamps of the answer's lines
    /// (`storage.start_timestamp_zero_ingestion`; its native histograms carry their own):
    /// each series kept gets its line's (`Scraped::starts`), a repeated series' first only.
    pub fn scrape_answer_with_starts(&mut self, target: &Target, external: &[(String, String)], answer: &Answer, starts: &LineStarts, start_ms: i64, limits: &LabelLimits) -> Result<Scraped, String> {
        self.scrape_with_histograms(&ScrapeGivens { target, external, start_ms, limits }, &answer.text, answer.format, &answer.histograms, starts)
    }

    fn scrape_with_histograms(&mut self, givens: &ScrapeGivens<'_>, body: &[u8], format: Format, histograms: &[NativeHistogramLine], starts: &LineStarts) -> Result<Scraped, String> {
        let start_ms = givens.start_ms;
        self.generation += 1;
        let generation = self.generation;
        let mut written = SeriesSet::default();
        let mut comments: Vec<&str> = Vec::new();
        let text = std::str::from_utf8(body).map_err(|e| format!("the response is not UTF-8 text: {e}"))?;
        // Under `type_and_unit_labels` a native histogram takes its family's metadata (read
        // once, for the metadata given below too).
        let mut families: Option<Vec<crate::ingest::MetricMetadata>> = None;
        let result = self.parse(givens, text, format, starts, &mut written, &mut comments).and_then(|mut scraped| {
            if self.type_and_unit_labels && !histograms.is_empty() {
                families = Some(metadata_of(&comments, format));
            }
            // Start synthesis reads each native histogram's family type from the comments.
            let types: Vec<_> = if self.start_synthesis.is_some() && !histograms.is_empty() { comments.iter().filter_map(|line| type_comment(line)).collect() } else { Vec::new() };
            self.parse_histograms(givens, histograms, families.as_deref().unwrap_or_default(), &types, &mut written, &mut scraped)?;
            Ok(scraped)
        });
        let mut scraped = match result {
            Ok(scraped) => scraped,
            Err(error) => {
                self.entries.retain(|_, e| e.created != generation);
                return Err(error);
            }
        };
        // Series of the last successful scrape that this one did not write end here.
        for (gone, _) in self.last_written.iter().filter(|(k, tracked)| **tracked && !written.contains_key(*k)) {
            scraped.samples.push((gone.0.clone(), stale_sample(start_ms)));
        }
        scraped.added = written.iter().filter(|(k, tracked)| **tracked && self.last_written.get(*k) != Some(&true)).count();
        self.last_written = written;
        self.entries.retain(|_, e| e.seen + CACHE_KEEP_SCRAPES >= generation);
        if let Some(synthesis) = &mut self.start_synthesis {
            synthesis.forget_unseen(generation);
        }
        let hash = foldhash::quality::FixedState::default().hash_one(&comments);
        let due = match &self.metadata {
            Some(given) => {
                given.comments_hash != hash
                    || start_ms.saturating_sub(given.at_ms) >= METADATA_RESEND_MS
                    || given.kept.iter().any(|(_, seen)| seen.is_some_and(|seen| generation - seen > METADATA_KEEP_SCRAPES))
            }
            None => true,
        };
        if due {
            let families = families.unwrap_or_else(|| metadata_of(&comments, format));
            scraped.metadata = Some(self.keep_metadata(families, hash, start_ms));
        }
        Ok(scraped)
    }

    /// Keeps the families' metadata of this scrape's answer (read from comments hashing to
    /// `comments_hash`) with the families that left the answers less than
    /// `METADATA_KEEP_SCRAPES` scrapes ago (those of the answer first); what is to be given.
    fn keep_metadata(&mut self, current: Vec<crate::ingest::MetricMetadata>, comments_hash: u64, at_ms: i64) -> Vec<crate::ingest::MetricMetadata> {
        let generation = self.generation;
        let previous = self.metadata.take().map(|given| given.kept).unwrap_or_default();
        let mut kept: Vec<_> = current.into_iter().map(|m| (m, None)).collect();
        for (metadata, seen) in previous {
            if kept.iter().any(|(m, _)| m.family == metadata.family) {
                continue;
            }
            // A family in the answers until now was last seen by the scrape before this one.
            let seen = seen.unwrap_or(generation - 1);
            if generation - seen <= METADATA_KEEP_SCRAPES {
                kept.push((metadata, Some(seen)));
            }
        }
        let given = kept.iter().map(|(m, _)| m.clone()).collect();
        self.metadata = Some(Box::new(GivenMetadata { comments_hash, at_ms, kept }));
        given
    }

    /// Reads `text`'s samples into the returned `Scraped` and `written` (with their lines'
    /// `starts`), and its metadata comment lines into `comments`.
    fn parse<'t>(&mut self, givens: &ScrapeGivens<'_>, text: &'t str, format: Format, starts: &LineStarts, written: &mut SeriesSet, comments: &mut Vec<&'t str>) -> Result<Scraped, String> {
        let ScrapeGivens { target, external, start_ms, limits } = *givens;
        let job = &target.job;
        let generation = self.generation;
        let mut out = Scraped::default();
        let mut line_starts = starts.reader();
        // The type of the last `# TYPE` line, whichever family it named (as Prometheus'
        // parsers keep it), for `normalized_bound_label`.
        let mut family_kind = FamilyKind::Other;
        // The family and type the last `# TYPE` line named, for start synthesis, and the
        // first samples it held back (counted as kept, as Prometheus counts them).
        let mut family_type = None;
        let mut held_back = 0;
        // Under `type_and_unit_labels`: the metadata lines read so far, and the cache key (that
        // metadata, then the series text).
        let mut families = FamilyContext::default();
        let mut key = String::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            if line.starts_with('#') {
                if let Some(keyword) = comment_keyword(line, format) {
                    comments.push(line);
                    if keyword == "TYPE" {
                        family_kind = FamilyKind::of_type_line(line);
                        family_type = type_comment(line);
                    }
                    if self.type_and_unit_labels {
                        families.read_comment(line, keyword, format);
                    }
                }
                continue;
            }
            let bad = |problem: String| format!("line {}: {problem}", index + 1);
            let (series, rest) = split_series(line).ok_or_else(|| bad("a label block does not end".into()))?;
            let (rest, exemplar) = match format {
                Format::OpenMetrics => crate::scrape::exemplar::split(rest),
                Format::Text => (rest, None),
            };
            let line = &line[..series.len() + rest.len()];
            out.scraped += 1;
            let mut fields = rest.split_whitespace();
            let value_text = fields.next().ok_or_else(|| bad("missing value".into()))?;
            let mut value = crate::ingest::text_format::parse_value(value_text).ok_or_else(|| bad(format!("invalid value {value_text:?}")))?;
            let own_timestamp = match fields.next() {
                Some(t) => Some(t.parse::<i64>().map_err(|_| bad(format!("invalid timestamp {t:?} (milliseconds expected)")))?),
                None => None,
            };
            let honored = own_timestamp.filter(|_| job.honor_timestamps);
            let timestamp_ms = honored.unwrap_or(start_ms);
            // A series with its own timestamp gets no staleness marker unless the job
            // tracks them (`track_timestamps_staleness`), as in Prometheus.
            let tracked = honored.is_none() || job.track_timestamps_staleness;
            let key = match self.type_and_unit_labels {
                true => {
                    key.clear();
                    families.push_key(&mut key);
                    key.push_str(series);
                    key.as_str()
                }
                false => series,
            };
            let labels = match self.entries.get_mut(key) {
                Some(entry) => {
                    entry.seen = generation;
                    entry.labels.clone()
                }
                None => {
                    let parsed = crate::ingest::text_format::parse_line(line, index + 1, start_ms, limits).map_err(|e| e.to_string())?;
                    let Some((exposed, sample)) = parsed else { continue };
                    // The full parse must read the line as the split did; otherwise its
                    // labels cannot be told from its value (a label name holding `}`).
                    if sample.value.to_bits() != value.to_bits() || sample.timestamp_ms != own_timestamp.unwrap_or(start_ms) {
                        return Err(bad("malformed series: its labels cannot be told from its value".into()));
                    }
                    let mut exposed = normalized_bound_label(exposed, family_kind);
                    if self.type_and_unit_labels {
                        exposed = families.label(exposed);
                    }
                    self.cache_new_series(key.into(), line, &exposed, target, external)?
                }
            };
            let Some(labels) = labels else { continue };
            // The decoders wrote the exemplar: one that does not read back is dropped. A
            // repeated series' is kept as Prometheus keeps it (only the sample is a duplicate).
            if let Some(stored) = exemplar.filter(|_| self.keep_exemplars).and_then(|text| crate::scrape::exemplar::parse(text, crate::scrape::exemplar::TimestampUnit::Milliseconds).ok()).and_then(|e| e.stored(Some(timestamp_ms))) {
                out.exemplars.push((labels.clone(), vec![stored]));
            }
            if !first_write(written, &labels, tracked) {
                continue;
            }
            if let Some(start_ms) = line_starts.start_of(index) {
                out.starts.samples.push((out.samples.len(), tsdb::StartTimestamp { start_ms, sample_ms: timestamp_ms }));
            } else if let Some(synthesis) = self.start_synthesis.as_deref_mut().filter(|_| family_type.as_ref().is_some_and(|(family, kind)| is_cumulative(&labels, family, kind))) {
                match synthesis.float(&labels, timestamp_ms, value, generation) {
                    Synthesized::First => {
                        not_written(written, &mut out.exemplars, &labels);
                        held_back += 1;
                        continue;
                    }
                    Synthesized::Counted { value: counted, start_ms } => {
                        value = counted;
                        out.starts.samples.push((out.samples.len(), tsdb::StartTimestamp { start_ms, sample_ms: timestamp_ms }));
                    }
                }
            }
            out.samples.push((labels, Sample { timestamp_ms, value }));
            check_sample_limit(&out, job)?;
        }
        out.kept = out.samples.len() + held_back;
        Ok(out)
    }

    /// Works out the final labels of a series text not in the cache (`exposed`: its labels
    /// as `line` gives them): the target's merged in, metric relabeling, the label limits.
    /// Caches them under `key`; `None` when relabeling drops the series.
    fn cache_new_series(&mut self, key: Box<str>, line: &str, exposed: &Labels, target: &Target, external: &[(String, String)]) -> Result<Option<Labels>, String> {
        let job = &target.job;
        let exposed_empty = if job.honor_labels { crate::ingest::text_format::empty_label_names(line) } else { Vec::new() };
        let mut labels = merge_target_labels(exposed, &exposed_empty, &target.labels, job.honor_labels, external);
        let kept = job.metric_relabeler.apply(&mut labels) && labels.iter().any(|(n, _)| n == METRIC_NAME_LABEL);
        let labels = kept.then(|| Labels::from_pairs(labels));
        if let Some(labels) = &labels {
            check_label_limits(labels, job)?;
            // Prometheus' check under `metric_name_validation_scheme: legacy`.
            let legacy = labels.iter().all(|l| if l.name == METRIC_NAME_LABEL { crate::ingest::text_format::is_legacy_metric_name(l.value) } else { crate::ingest::text_format::is_legacy_label_name(l.name) });
            if !job.utf8_names && !legacy {
                return Err(format!("invalid metric name or label names: {labels}"));
            }
        }
        self.entries.insert(key, CacheEntry { labels: labels.clone(), created: self.generation, seen: self.generation });
        Ok(labels)
    }

    /// Adds a protobuf answer's native histograms to `out` as `parse` adds text lines, each
    /// first brought within the job's `native_histogram_min_bucket_factor` and
    /// `native_histogram_bucket_limit` as Prometheus does.
    /// Under `type_and_unit_labels` each takes the type and unit its family has in `families`.
    /// `types`: the answer's `# TYPE` lines (family, type), read under start synthesis.
    fn parse_histograms(&mut self, givens: &ScrapeGivens<'_>, histograms: &[NativeHistogramLine], families: &[crate::ingest::MetricMetadata], types: &[(std::borrow::Cow<'_, str>, &str)], written: &mut SeriesSet, out: &mut Scraped) -> Result<(), String> {
        let ScrapeGivens { target, external, start_ms, limits } = *givens;
        let job = &target.job;
        let mut key = String::new();
        let mut held_back = 0;
        for native in histograms {
            out.scraped += 1;
            key.clear();
            key.push(HISTOGRAM_KEY_PREFIX);
            let metadata = if self.type_and_unit_labels { families.iter().find(|m| native_family(&native.series) == m.family) } else { None };
            if let Some(m) = metadata {
                for part in [&m.kind, &m.unit] {
                    key.push_str(part);
                    key.push('\u{2}');
                }
            }
            key.push_str(&native.series);
            let labels = match self.entries.get_mut(key.as_str()) {
                Some(entry) => {
                    entry.seen = self.generation;
                    entry.labels.clone()
                }
                None => {
                    let line = format!("{} 0", native.series);
                    let parsed = crate::ingest::text_format::parse_line(&line, 0, start_ms, limits).map_err(|e| format!("native histogram {}: {e}", native.series))?;
                    let Some((exposed, _)) = parsed else { continue };
                    let exposed = match metadata {
                        Some(m) => with_type_and_unit(exposed, Some(m.kind.as_str()).filter(|k| *k != "unknown"), Some(m.unit.as_str())),
                        None => exposed,
                    };
                    self.cache_new_series(key.as_str().into(), &line, &exposed, target, external)?
                }
            };
            let Some(labels) = labels else { continue };
            let honored = native.timestamp_ms.filter(|_| job.honor_timestamps);
            let tracked = honored.is_none() || job.track_timestamps_staleness;
            if !first_write(written, &labels, tracked) {
                continue;
            }
            let mut histogram = within_job_limits(native.histogram.clone(), job).map_err(|e| format!("{e} ({})", native.series))?;
            // A native histogram's exemplars must have their own timestamps.
            let mut exemplars: Vec<Exemplar> = if self.keep_exemplars { native.exemplars.iter().filter_map(|e| e.stored(None)).collect() } else { Vec::new() };
            if !exemplars.is_empty() {
                crate::scrape::exemplar::sort_for_store(&mut exemplars);
                out.exemplars.push((labels.clone(), exemplars));
            }
            let timestamp_ms = honored.unwrap_or(start_ms);
            if let Some(start_ms) = native.start_ms {
                out.starts.histograms.push((out.histograms.len(), tsdb::StartTimestamp { start_ms, sample_ms: timestamp_ms }));
            } else if let Some(synthesis) = self.start_synthesis.as_deref_mut() {
                let family = native_family(&native.series);
                let kind = types.iter().rev().find(|(name, _)| *name == family).map_or("", |(_, kind)| *kind);
                if is_cumulative(&labels, &family, kind) {
                    match synthesis.histogram(&labels, timestamp_ms, &histogram, self.generation) {
                        Synthesized::First => {
                            not_written(written, &mut out.exemplars, &labels);
                            held_back += 1;
                            continue;
                        }
                        Synthesized::Counted { value, start_ms } => {
                            if let Some(counted) = value {
                                histogram = counted;
                            }
                            out.starts.histograms.push((out.histograms.len(), tsdb::StartTimestamp { start_ms, sample_ms: timestamp_ms }));
                        }
                    }
                }
            }
            out.histograms.push((labels, HistogramSample { timestamp_ms, histogram: Arc::new(histogram) }));
            check_sample_limit(out, job)?;
        }
        // `parse` counted the text's samples; the histograms kept or held back add to them.
        out.kept += out.histograms.len() + held_back;
        Ok(())
    }

    /// A staleness marker at `at_ms` for every series of the last successful scrape (a
    /// failed scrape, or the target gone); afterwards no series counts as last scraped.
    pub fn all_stale(&mut self, at_ms: i64) -> Vec<(Labels, Sample)> {
        std::mem::take(&mut self.last_written).into_iter().filter(|(_, tracked)| *tracked).map(|(k, _)| (k.0, stale_sample(at_ms))).collect()
    }
}

/// Takes back the series of a sample not stored after all (start synthesis' first): it was
/// not written by this scrape, and the exemplars just kept for it go too.
fn not_written(written: &mut SeriesSet, exemplars: &mut Vec<(Labels, Vec<Exemplar>)>, labels: &Labels) {
    written.remove(&SeriesKey(labels.clone()));
    if exemplars.last().is_some_and(|(of, _)| of == labels) {
        exemplars.pop();
    }
}

/// The metric name of a native histogram's series text (`name{…}`, or `{"name",…}` for a
/// name written quoted).
fn native_family(series: &str) -> std::borrow::Cow<'_, str> {
    match series.strip_prefix('{') {
        Some(_) => crate::ingest::text_format::parse_line(&format!("{series} 0"), 0, 0, &LabelLimits::default())
            .ok()
            .flatten()
            .and_then(|(labels, _)| labels.get(METRIC_NAME_LABEL).map(|n| std::borrow::Cow::Owned(n.to_string())))
            .unwrap_or_default(),
        None => std::borrow::Cow::Borrowed(series.split('{').next().unwrap_or(series)),
    }
}

/// What the last `# TYPE` line said, as far as `normalized_bound_label` cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FamilyKind {
    Histogram,
    Summary,
    Other,
}

impl FamilyKind {
    /// The kind a `# TYPE name kind` line gives.
    fn of_type_line(line: &str) -> FamilyKind {
        match type_comment(line) {
            Some((_, "histogram")) => FamilyKind::Histogram,
            Some((_, "summary")) => FamilyKind::Summary,
            _ => FamilyKind::Other,
        }
    }
}

/// Prometheus 3's normalization of bucket and quantile bounds: in a histogram family an `le`
/// value, in a summary a `quantile` value, that reads as a number is written as OpenMetrics
/// writes floats (`1` → `1.0`, `1e3` → `1000.0`), so a bound has one series however a
/// client spells it. Other values stay as exposed.
fn normalized_bound_label(labels: Labels, kind: FamilyKind) -> Labels {
    let name = match kind {
        FamilyKind::Histogram => "le",
        FamilyKind::Summary => "quantile",
        FamilyKind::Other => return labels,
    };
    let Some(value) = labels.get(name) else { return labels };
    let Ok(number) = value.parse::<f64>() else { return labels };
    let normal = promql::format::open_metrics_float(number);
    if normal == value {
        return labels;
    }
    let pairs: Vec<(String, String)> = labels.iter().map(|l| (l.name.to_string(), if l.name == name { normal.clone() } else { l.value.to_string() })).collect();
    Labels::from_pairs(pairs)
}

/// Notes that `labels` was written by this scrape; false when it already was. A series
/// written twice keeps its first sample (Prometheus counts the rest as duplicates and drops
/// them), whether its text repeated or relabeling made two texts one series.
fn first_write(written: &mut SeriesSet, labels: &Labels, tracked: bool) -> bool {
    match written.entry(SeriesKey(labels.clone())) {
        std::collections::hash_map::Entry::Occupied(_) => false,
        std::collections::hash_map::Entry::Vacant(slot) => {
            slot.insert(tracked);
            true
        }
    }
}

/// How the errors of the scrape limits begin (`failure_cause` reads them back).
pub(super) const SAMPLE_LIMIT_EXCEEDED: &str = "sample_limit exceeded";
pub(super) const BUCKET_LIMIT_EXCEEDED: &str = "histogram bucket limit exceeded";
pub(super) const LABEL_LIMIT_ERRORS: [&str; 3] = ["label_limit exceeded", "label_name_length_limit exceeded", "label_value_length_limit exceeded"];

/// The job's `sample_limit` over the samples kept so far (a native histogram counts as one).
pub(super) fn check_sample_limit(out: &Scraped, job: &crate::scrape::config::ScrapeJob) -> Result<(), String> {
    if job.sample_limit != 0 && out.samples.len() + out.histograms.len() > job.sample_limit {
        return Err(format!("{SAMPLE_LIMIT_EXCEEDED}: more than {} samples after metric relabeling", job.sample_limit));
    }
    Ok(())
}

/// A native histogram as the job stores it (Prometheus' scrape appenders, in their order):
/// an exponential schema finer than `native_histogram_min_bucket_factor` allows lowered to
/// it, then, past `native_histogram_bucket_limit` buckets, the resolution lowered a step at
/// a time until it fits; one that cannot fit (custom buckets, or schema -4 reached) fails
/// the scrape, as in Prometheus.
pub(super) fn within_job_limits(mut h: FloatHistogram, job: &crate::scrape::config::ScrapeJob) -> Result<FloatHistogram, String> {
    if !h.uses_custom_buckets() && h.schema > job.native_histogram_max_schema {
        h = promql::histogram_layout::reduce_resolution(&h, job.native_histogram_max_schema).ok_or("histogram resolution cannot be lowered")?;
    }
    let limit = job.native_histogram_bucket_limit;
    let buckets = |h: &FloatHistogram| h.positive_buckets.len() + h.negative_buckets.len();
    if limit == 0 || buckets(&h) <= limit {
        return Ok(h);
    }
    const EXCEEDED: &str = BUCKET_LIMIT_EXCEEDED;
    if h.uses_custom_buckets() {
        return Err(EXCEEDED.into());
    }
    while buckets(&h) > limit {
        if h.schema <= tsdb::model::EXPONENTIAL_SCHEMA_MIN {
            return Err(EXCEEDED.into());
        }
        h = promql::histogram_layout::reduce_resolution(&h, h.schema - 1).ok_or(EXCEEDED)?;
    }
    Ok(h)
}

fn stale_sample(timestamp_ms: i64) -> Sample {
    Sample { timestamp_ms, value: f64::from_bits(STALE_NAN_BITS) }
}
