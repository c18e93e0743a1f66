//! One target's scrape loop, as Prometheus runs it: a GET every interval (at an offset in
//! the interval fixed by the target, so targets spread out), the text exposition parsed,
//! the target's labels merged into each series (`honor_labels`, or the exposed label kept as
//! `exported_<name>`), `metric_relabel_configs` and `sample_limit` applied, and the series
//! stored at the scrape's start time (or their own, with `honor_timestamps`). A series
//! missing from the next scrape, every series of a failed scrape and, when the target goes
//! away, the target's series get a staleness marker. Each scrape also writes `up`,
//! `scrape_duration_seconds`, `scrape_samples_scraped`,
//! `scrape_samples_post_metric_relabeling` and `scrape_series_added`. Under
//! `storage.start_timestamp_zero_ingestion` the stored series carry the start timestamps
//! the answer gives (`scrape::start_timestamps`), written as zero samples by the shard.

use std::future::Future;
use std::hash::BuildHasher;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tsdb::{Exemplar, FloatHistogram, HistogramSample, Labels, Sample, METRIC_NAME_LABEL, STALE_NAN_BITS};

use super::config::{HistogramScraping, Url};
use super::discovery::Target;
use super::http_get::Get;
use super::protobuf::NativeHistogramLine;
use super::start_timestamps::LineStarts;
use super::status::{Health, Registry};
use crate::api::Api;
use crate::ingest::label_limits::LabelLimits;

/// What the scrape loops of one executor share.
pub struct ScrapeContext {
    pub api: Rc<Api>,
    pub registry: Arc<Registry>,
    pub external_labels: Arc<Vec<(String, String)>>,
    /// Jobs whose scrapes fail without asking their targets, with the error: those with
    /// more targets than their `target_limit` (set by `serve` at each discovery).
    pub forced_errors: std::cell::RefCell<std::collections::HashMap<String, String>>,
}

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
struct CacheEntry {
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
fn check_label_limits(labels: &Labels, job: &super::config::ScrapeJob) -> Result<(), String> {
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
    /// Samples kept after metric relabeling (`scrape_samples_post_metric_relabeling`).
    pub kept: usize,
    /// Series not in the last successful scrape (`scrape_series_added`).
    pub added: usize,
    /// The families' `# TYPE` and `# HELP`, when they changed since they were last
    /// given or `METADATA_RESEND_MS` passed (for `/api/v1/metadata`).
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
const METADATA_RESEND_MS: i64 = 600_000;

/// The format of a scraped body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus' text format.
    Text,
    /// OpenMetrics text, rewritten into the text format by `openmetrics::to_text`, whose
    /// `# UNIT` lines and own types (`gaugehistogram`, `info`, `stateset`) count and whose
    /// sample lines may end with an exemplar (`scrape::exemplar`). The protobuf format's
    /// metadata and exemplars are rewritten as such too (`protobuf::to_text`).
    OpenMetrics,
}

/// A target's answer as the scrape loop reads it: text-format lines (OpenMetrics and
/// protobuf answers rewritten) and a protobuf answer's native histograms.
#[derive(Debug)]
pub struct Answer {
    pub text: Vec<u8>,
    pub format: Format,
    pub histograms: Vec<NativeHistogramLine>,
}

/// Where the cache keeps a native histogram's series text: apart from the text lines' (a
/// byte no series text holds first).
const HISTOGRAM_KEY_PREFIX: char = '\u{1}';

/// The metadata of an exposition's comment lines (those `comment_keyword` keeps), in order
/// of first mention: `# TYPE name type` (`untyped` shown as `unknown`, as Prometheus shows
/// it; a type the format does not have is skipped), `# HELP name text` (its `\\\\`
/// and `\\n` escapes read) and, in OpenMetrics, `# UNIT name unit`.
fn metadata_of(lines: &[&str], format: Format) -> Vec<crate::ingest::MetricMetadata> {
    let mut out: Vec<crate::ingest::MetricMetadata> = Vec::new();
    for line in lines {
        let Some(keyword) = comment_keyword(line, format) else { continue };
        let rest = line.trim_start_matches('#').trim_start()[keyword.len()..].trim_start();
        let Some((family, text)) = crate::ingest::text_format::comment_family(rest) else { continue };
        let text = text.trim();
        if family.is_empty() {
            continue;
        }
        let kind = match (keyword, text) {
            ("TYPE", "untyped") => "unknown",
            ("TYPE", kind @ ("counter" | "gauge" | "histogram" | "summary")) => kind,
            ("TYPE", kind @ ("gaugehistogram" | "info" | "stateset")) if format == Format::OpenMetrics => kind,
            ("TYPE", _) => continue,
            _ => "",
        };
        let at = match out.iter().position(|m| m.family == family) {
            Some(at) => at,
            None => {
                out.push(crate::ingest::MetricMetadata { family: family.to_string(), kind: "unknown".into(), help: String::new(), unit: String::new() });
                out.len() - 1
            }
        };
        match keyword {
            "TYPE" => out[at].kind = kind.to_string(),
            "UNIT" => out[at].unit = text.to_string(),
            _ => out[at].help = unescape_help(text, format),
        }
    }
    out
}

/// `HELP` or `TYPE` (and in OpenMetrics `UNIT`) when `line` is such a comment: `#`,
/// whitespace, the keyword, whitespace (Prometheus' lexer; in the text format `#TYPE` and
/// `# UNIT` are plain comments).
fn comment_keyword(line: &str, format: Format) -> Option<&'static str> {
    let rest = line.strip_prefix('#')?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let rest = rest.trim_start();
    let keywords: &[&'static str] = match format {
        Format::Text => &["HELP", "TYPE"],
        Format::OpenMetrics => &["HELP", "TYPE", "UNIT"],
    };
    keywords.iter().copied().find(|k| rest.strip_prefix(k).is_some_and(|after| after.starts_with([' ', '\t'])))
}

/// The family name (plain or quoted) and type of a `# TYPE name type` comment (`#`,
/// whitespace, `TYPE`, as `comment_keyword` reads it).
pub(crate) fn type_comment(line: &str) -> Option<(std::borrow::Cow<'_, str>, &str)> {
    let rest = line.strip_prefix('#').filter(|rest| rest.starts_with([' ', '\t']))?.trim_start();
    let rest = rest.strip_prefix("TYPE").filter(|after| after.starts_with([' ', '\t']))?.trim_start();
    let (family, kind) = crate::ingest::text_format::comment_family(rest)?;
    if family.is_empty() {
        return None;
    }
    Some((family, kind.split_whitespace().next().unwrap_or("")))
}

/// A `# HELP` text with its escapes read: `\\`, `\n`, and in OpenMetrics also `\"`.
fn unescape_help(text: &str, format: Format) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some('"')) if format == Format::OpenMetrics => {
                out.push('"');
                chars.next();
            }
            ('\\', Some('n')) => {
                out.push('\n');
                chars.next();
            }
            ('\\', Some('\\')) => {
                out.push('\\');
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

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
    entries: std::collections::HashMap<Box<str>, CacheEntry, foldhash::fast::RandomState>,
    /// This scrape's number.
    generation: u64,
    /// The series of the last successful scrape (or the tracked ones handed over by the
    /// loop this one replaced).
    last_written: SeriesSet,
    /// A hash of the last metadata given, and when (scrape start time).
    metadata_given: Option<(u64, i64)>,
    /// Whether the answers' exemplars are kept (the server stores exemplars).
    keep_exemplars: bool,
}

/// Scrapes after which an entry no longer seen is forgotten.
const CACHE_KEEP_SCRAPES: u64 = 10;

impl SeriesCache {
    /// Keeps the exemplars of the answers from now on (`Scraped::exemplars`).
    pub fn keep_exemplars(&mut self) {
        self.keep_exemplars = true;
    }

    /// Takes over the tracked series of a loop this one replaces (a reload), so that its
    /// first scrape marks stale what the new job no longer writes.
    pub fn inherit(&mut self, tracked: Vec<Labels>) {
        self.last_written.extend(tracked.into_iter().map(|l| (SeriesKey(l), true)));
    }

    /// The tracked series of the last successful scrape, for a loop that replaces this one.
    pub fn into_tracked(self) -> Vec<Labels> {
        self.last_written.into_iter().filter(|(_, tracked)| *tracked).map(|(k, _)| k.0).collect()
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
        let result = self.parse(givens, text, format, starts, &mut written, &mut comments).and_then(|mut scraped| {
            self.parse_histograms(givens, histograms, &mut written, &mut scraped)?;
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
        let hash = foldhash::quality::FixedState::default().hash_one(&comments);
        let due = match self.metadata_given {
            Some((given, at_ms)) => given != hash || start_ms.saturating_sub(at_ms) >= METADATA_RESEND_MS,
            None => true,
        };
        if due {
            self.metadata_given = Some((hash, start_ms));
            scraped.metadata = Some(metadata_of(&comments, format)).filter(|m| !m.is_empty());
        }
        Ok(scraped)
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
                    }
                }
                continue;
            }
            let bad = |problem: String| format!("line {}: {problem}", index + 1);
            let (series, rest) = split_series(line).ok_or_else(|| bad("a label block does not end".into()))?;
            let (rest, exemplar) = match format {
                Format::OpenMetrics => super::exemplar::split(rest),
                Format::Text => (rest, None),
            };
            let line = &line[..series.len() + rest.len()];
            out.scraped += 1;
            let mut fields = rest.split_whitespace();
            let value_text = fields.next().ok_or_else(|| bad("missing value".into()))?;
            let value = crate::ingest::text_format::parse_value(value_text).ok_or_else(|| bad(format!("invalid value {value_text:?}")))?;
            let own_timestamp = match fields.next() {
                Some(t) => Some(t.parse::<i64>().map_err(|_| bad(format!("invalid timestamp {t:?} (milliseconds expected)")))?),
                None => None,
            };
            let honored = own_timestamp.filter(|_| job.honor_timestamps);
            let timestamp_ms = honored.unwrap_or(start_ms);
            // A series with its own timestamp gets no staleness marker unless the job
            // tracks them (`track_timestamps_staleness`), as in Prometheus.
            let tracked = honored.is_none() || job.track_timestamps_staleness;
            let labels = match self.entries.get_mut(series) {
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
                    let exposed = normalized_bound_label(exposed, family_kind);
                    self.cache_new_series(series.into(), line, &exposed, target, external)?
                }
            };
            let Some(labels) = labels else { continue };
            // The decoders wrote the exemplar: one that does not read back is dropped. A
            // repeated series' is kept as Prometheus keeps it (only the sample is a duplicate).
            if let Some(stored) = exemplar.filter(|_| self.keep_exemplars).and_then(|text| super::exemplar::parse(text, super::exemplar::TimestampUnit::Milliseconds).ok()).and_then(|e| e.stored(Some(timestamp_ms))) {
                out.exemplars.push((labels.clone(), vec![stored]));
            }
            if !first_write(written, &labels, tracked) {
                continue;
            }
            if let Some(start_ms) = line_starts.start_of(index) {
                out.starts.samples.push((out.samples.len(), tsdb::StartTimestamp { start_ms, sample_ms: timestamp_ms }));
            }
            out.samples.push((labels, Sample { timestamp_ms, value }));
            check_sample_limit(&out, job)?;
        }
        out.kept = out.samples.len();
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
    fn parse_histograms(&mut self, givens: &ScrapeGivens<'_>, histograms: &[NativeHistogramLine], written: &mut SeriesSet, out: &mut Scraped) -> Result<(), String> {
        let ScrapeGivens { target, external, start_ms, limits } = *givens;
        let job = &target.job;
        let mut key = String::new();
        for native in histograms {
            out.scraped += 1;
            key.clear();
            key.push(HISTOGRAM_KEY_PREFIX);
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
                    self.cache_new_series(key.as_str().into(), &line, &exposed, target, external)?
                }
            };
            let Some(labels) = labels else { continue };
            let honored = native.timestamp_ms.filter(|_| job.honor_timestamps);
            let tracked = honored.is_none() || job.track_timestamps_staleness;
            if !first_write(written, &labels, tracked) {
                continue;
            }
            let histogram = within_job_limits(native.histogram.clone(), job).map_err(|e| format!("{e} ({})", native.series))?;
            // A native histogram's exemplars must have their own timestamps.
            let mut exemplars: Vec<Exemplar> = if self.keep_exemplars { native.exemplars.iter().filter_map(|e| e.stored(None)).collect() } else { Vec::new() };
            if !exemplars.is_empty() {
                super::exemplar::sort_for_store(&mut exemplars);
                out.exemplars.push((labels.clone(), exemplars));
            }
            let timestamp_ms = honored.unwrap_or(start_ms);
            if let Some(start_ms) = native.start_ms {
                out.starts.histograms.push((out.histograms.len(), tsdb::StartTimestamp { start_ms, sample_ms: timestamp_ms }));
            }
            out.histograms.push((labels, HistogramSample { timestamp_ms, histogram: Arc::new(histogram) }));
            check_sample_limit(out, job)?;
        }
        out.kept = out.samples.len() + out.histograms.len();
        Ok(())
    }

    /// A staleness marker at `at_ms` for every series of the last successful scrape (a
    /// failed scrape, or the target gone); afterwards no series counts as last scraped.
    pub fn all_stale(&mut self, at_ms: i64) -> Vec<(Labels, Sample)> {
        std::mem::take(&mut self.last_written).into_iter().filter(|(_, tracked)| *tracked).map(|(k, _)| (k.0, stale_sample(at_ms))).collect()
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
const SAMPLE_LIMIT_EXCEEDED: &str = "sample_limit exceeded";
const BUCKET_LIMIT_EXCEEDED: &str = "histogram bucket limit exceeded";
const LABEL_LIMIT_ERRORS: [&str; 3] = ["label_limit exceeded", "label_name_length_limit exceeded", "label_value_length_limit exceeded"];

/// Which limit a failed scrape's `error` names, if any (for the per-job counts).
fn failure_cause(error: &str) -> super::status::ScrapeFailure {
    use super::status::ScrapeFailure;
    if error.starts_with(SAMPLE_LIMIT_EXCEEDED) {
        ScrapeFailure::SampleLimit
    } else if error == super::http_get::BODY_SIZE_LIMIT_EXCEEDED {
        ScrapeFailure::BodySizeLimit
    } else if LABEL_LIMIT_ERRORS.iter().any(|start| error.starts_with(start)) {
        ScrapeFailure::LabelLimits
    } else if error == BUCKET_LIMIT_EXCEEDED {
        ScrapeFailure::BucketLimit
    } else {
        ScrapeFailure::Other
    }
}

/// The job's `sample_limit` over the samples kept so far (a native histogram counts as one).
fn check_sample_limit(out: &Scraped, job: &super::config::ScrapeJob) -> Result<(), String> {
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
fn within_job_limits(mut h: FloatHistogram, job: &super::config::ScrapeJob) -> Result<FloatHistogram, String> {
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

/// The names of the series Prometheus writes about each scrape.
const REPORT_NAMES: [&str; 5] = ["up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling", "scrape_series_added"];
/// Those it writes too with `extra_scrape_metrics`.
const EXTRA_REPORT_NAMES: [&str; 3] = ["scrape_timeout_seconds", "scrape_sample_limit", "scrape_body_size_bytes"];

/// The labels of those series (the extra ones when the job asks for them): the target's
/// (and the external labels it lacks).
fn report_labels(target: &Target, external: &[(String, String)]) -> Vec<Labels> {
    let extra: &[&str] = if target.job.extra_scrape_metrics { &EXTRA_REPORT_NAMES } else { &[] };
    REPORT_NAMES.iter().chain(extra).map(|name| {
        let mut pairs: Vec<(String, String)> = target.labels.clone();
        for (n, v) in external {
            if !pairs.iter().any(|(p, _)| p == n) {
                pairs.push((n.clone(), v.clone()));
            }
        }
        pairs.push((METRIC_NAME_LABEL.to_string(), name.to_string()));
        Labels::from_pairs(pairs)
    })
    .collect()
}

/// The report series at `at_ms`: each of `labels` with its value of `values` (the extra
/// series' values last).
fn report_series<'a>(labels: &'a [Labels], at_ms: i64, values: &'a [f64]) -> impl Iterator<Item = (Labels, Sample)> + 'a {
    labels.iter().zip(values).map(move |(l, &value)| (l.clone(), Sample { timestamp_ms: at_ms, value }))
}

/// The values of the report series of one scrape: `up`, its duration, the samples scraped
/// and kept, the series added; with `extra_scrape_metrics` the timeout, the sample limit and
/// the body's size (0 without a body, -1 when it was over `body_size_limit`, as Prometheus).
fn report_values(target: &Target, basic: [f64; 5], body_bytes: f64) -> Vec<f64> {
    let mut values = basic.to_vec();
    if target.job.extra_scrape_metrics {
        values.extend([target.timeout_ms as f64 / 1000.0, target.job.sample_limit as f64, body_bytes]);
    }
    values
}

/// Why a loop ended: its target went away (write staleness markers) or the server stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Removed,
    Shutdown,
}

/// What `scrape::serve` and a target's loop share: the target as last discovered (a changed
/// group can rediscover the same target with other discovered labels) and how the loop is
/// told to end. Both live on one executor, so this is cells and a waker (a few dozen bytes
/// per target), not a channel (about 700).
struct LoopShared {
    target: std::cell::RefCell<Arc<Target>>,
    stop: std::cell::Cell<Option<Stop>>,
    waker: std::cell::Cell<Option<std::task::Waker>>,
}

impl LoopShared {
    fn target(&self) -> Arc<Target> {
        self.target.borrow().clone()
    }

    fn stop(&self, stop: Stop) {
        if self.stop.get().is_none() {
            self.stop.set(Some(stop));
            if let Some(waker) = self.waker.take() {
                waker.wake();
            }
        }
    }
}

/// `scrape::serve`'s end of a loop: `remove` ends the loop with staleness markers (its target
/// is gone); dropped without that, the loop ends quietly (a reload hands its series to a new
/// loop, or the server stops).
pub struct LoopHandle(Rc<LoopShared>);

impl LoopHandle {
    pub fn target(&self) -> Arc<Target> {
        self.0.target()
    }

    /// The same target (same key) rediscovered: the loop scrapes this one from its next
    /// scrape on, and the one it had is let go (with the group it came from, which a
    /// long-lived loop would otherwise keep, one group version per loop).
    pub fn set_target(&self, target: Arc<Target>) {
        *self.0.target.borrow_mut() = target;
    }

    pub fn remove(self) {
        self.0.stop(Stop::Removed);
    }
}

impl Drop for LoopHandle {
    fn drop(&mut self) {
        self.0.stop(Stop::Shutdown);
    }
}

/// The loop's end.
pub struct LoopInbox(Rc<LoopShared>);

impl LoopInbox {
    fn target(&self) -> Arc<Target> {
        self.0.target()
    }

    /// Ready with how the loop was told to end, once it was.
    fn stopped(&self) -> impl Future<Output = Stop> + '_ {
        std::future::poll_fn(|cx| match self.0.stop.get() {
            Some(stop) => std::task::Poll::Ready(stop),
            None => {
                self.0.waker.set(Some(cx.waker().clone()));
                std::task::Poll::Pending
            }
        })
    }
}

/// Both ends of a new loop for `target`.
pub fn loop_link(target: Arc<Target>) -> (LoopHandle, LoopInbox) {
    let shared = Rc::new(LoopShared { target: std::cell::RefCell::new(target), stop: std::cell::Cell::new(None), waker: std::cell::Cell::new(None) });
    (LoopHandle(shared.clone()), LoopInbox(shared))
}

/// Runs `work` unless the loop is told to stop first.
async fn unless_stopped<T>(stop: &LoopInbox, work: impl Future<Output = T>) -> Result<T, Stop> {
    futures_lite::future::or(async { Ok(work.await) }, async { Err(stop.stopped().await) }).await
}

fn now_ms() -> i64 {
    crate::api::params::now_ms()
}

/// Slots per interval that targets are placed in (at most): targets of one executor sharing
/// a slot wake it once and overlap their requests, so it sleeps and wakes less often (each
/// sleep costs glommio a process-wide memory barrier), while scrapes still spread over the
/// interval.
const SLOTS_PER_INTERVAL: i64 = 16;
/// The narrowest slot.
const SLOT_MS_MIN: i64 = 50;

/// The first scrape time at or after `now_ms`: the target's slot in its interval.
fn first_slot(key: u64, interval_ms: i64, now_ms: i64) -> i64 {
    let interval_ms = interval_ms.max(1);
    let slot_ms = (interval_ms / SLOTS_PER_INTERVAL).max(SLOT_MS_MIN).min(interval_ms);
    let slots = (interval_ms / slot_ms).max(1);
    let offset = (key % slots as u64) as i64 * slot_ms;
    let mut next = now_ms - now_ms.rem_euclid(interval_ms) + offset;
    if next < now_ms {
        next += interval_ms;
    }
    next
}

/// Scrapes `target` until `stop` fires. `inherited`: the tracked series of the loop this
/// one replaces after a reload. Returns this loop's tracked series when it ends quietly (for
/// its replacement), nothing when its target was removed (they are marked stale).
pub async fn run(context: Rc<ScrapeContext>, inbox: LoopInbox, inherited: Vec<Labels>) -> Vec<Labels> {
    // What a rediscovered target can change (its discovered labels) is not read here: its
    // identity (labels, URL, schedule) is its key, so it is the same for this loop's life.
    let target = inbox.target();
    let job = target.job.clone();
    let mut client = job.access.client(&target_location(&target));
    let limits = context.api.config.storage.ingest_rules().label_limits;
    // Read as `keep_exemplars` is: a server setting, the same for every job.
    let read_starts = context.api.config.storage.reads_start_timestamps();
    let new_cache = || {
        let mut cache = SeriesCache::default();
        if context.api.config.storage.max_exemplars > 0 {
            cache.keep_exemplars();
        }
        cache
    };
    let mut cache = new_cache();
    cache.inherit(inherited);
    let reports = report_labels(&target, &context.external_labels);
    let mut was_up: Option<bool> = None;
    // The first slot is placed on the wall clock (the target's offset in its interval); the
    // schedule then runs on the monotonic clock, so a clock step neither stalls nor bunches it.
    let interval = Duration::from_millis(target.interval_ms as u64);
    let now = now_ms();
    let mut next = Instant::now() + Duration::from_millis((first_slot(target.key, target.interval_ms, now) - now) as u64);
    // Held only while a scrape runs, so a loop keeps no replaced target while it sleeps.
    drop(target);
    let stopped = loop {
        if let Err(stop) = unless_stopped(&inbox, glommio::timer::sleep(next.saturating_duration_since(Instant::now()))).await {
            break stop;
        }
        let target = inbox.target();
        // One reading of the clock: the samples' time and the listed last scrape.
        let start_ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        let start_ms = start_ns.div_euclid(1_000_000);
        let started = Instant::now();
        let forced = context.forced_errors.borrow().get(&job.name).cloned();
        let fetched = match &mut client {
            _ if forced.is_some() => Err(forced.unwrap_or_default()),
            Ok(client) => match unless_stopped(&inbox, Box::pin(fetch(client, &target))).await {
                Ok(fetched) => fetched,
                Err(stop) => break stop,
            },
            Err(error) => Err(error.clone()),
        };
        let (fetched, body_bytes) = answer_of(fetched, &job, target.histograms, read_starts);
        let scraped = fetched.map(|(answer, starts)| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cache.scrape_answer_with_starts(&target, &context.external_labels, &answer, &starts, start_ms, &limits))));
        let result = match scraped {
            Ok(Ok(result)) => result,
            Err(error) => Err(error),
            // A panic (a bug) fails this scrape; the cache it left half done starts afresh,
            // keeping the series of the last successful scrape (a scrape replaces them only
            // when it succeeds), so that this failure marks them stale as any other does.
            Ok(Err(_)) => {
                cache = fresh_after_panic(std::mem::replace(&mut cache, new_cache()), new_cache());
                Err(INTERNAL_ERROR.to_string())
            }
        };
        let duration = started.elapsed().as_secs_f64();
        let (mut series, histograms, exemplars, starts, up, error, report) = match result {
            Ok(s) => {
                if let Some(metadata) = s.metadata {
                    context.api.router.put_metadata(metadata);
                }
                (s.samples, s.histograms, s.exemplars, s.starts, true, String::new(), [1.0, duration, s.scraped as f64, s.kept as f64, s.added as f64])
            }
            Err(error) => (cache.all_stale(start_ms), Vec::new(), Vec::new(), SeriesStarts::default(), false, error, [0.0, duration, 0.0, 0.0, 0.0]),
        };
        series.extend(report_series(&reports, start_ms, &report_values(&target, report, body_bytes)));
        let stored = Box::pin(store(&context.api, series, histograms, exemplars, starts)).await;
        // A scrape whose samples could not be stored counts as failed, as in Prometheus.
        let (up, error) = match (up, stored) {
            (true, Err(store_error)) => (false, format!("cannot store the scraped samples: {store_error}")),
            (up, _) => (up, error),
        };
        if let (false, Some(file)) = (up, &job.scrape_failure_log_file) {
            log_failure(file, &target.url, &error, start_ms);
        }
        if was_up != Some(up) {
            if up {
                tracing::info!(job = %job.name, url = %target.url, "scrape target is up");
            } else {
                tracing::warn!(job = %job.name, url = %target.url, %error, "scrape failed; the target is down until a scrape succeeds");
            }
            was_up = Some(up);
        }
        context.registry.count_scrape(&job.name, (!up).then(|| failure_cause(&error)));
        context.registry.update(&job.name, target.key, |status| {
            status.health = if up { Health::Up } else { Health::Down };
            status.last_error = error;
            status.last_scrape_ns = start_ns;
            status.last_duration_seconds = duration;
        });
        next += interval;
        let now = Instant::now();
        if next <= now {
            // Slower than the interval: skip the slots already past, as Prometheus does.
            let behind = now.duration_since(next).as_millis() as u64 / interval.as_millis().max(1) as u64;
            next += interval * (behind as u32 + 1);
        }
    };
    // A removed target's series end now; one never scraped has none (not even `up`).
    if stopped == Stop::Shutdown {
        return cache.into_tracked();
    }
    if was_up.is_some() {
        let at = now_ms();
        let mut series = cache.all_stale(at);
        series.extend(report_series(&reports, at, &vec![f64::from_bits(STALE_NAN_BITS); reports.len()]));
        let _ = Box::pin(store(&context.api, series, Vec::new(), Vec::new(), SeriesStarts::default())).await;
    }
    Vec::new()
}

/// Where the target is scraped.
fn target_location(target: &Target) -> Url {
    Url { scheme: target.scheme, host: target.host.clone(), port: target.port, path_and_query: target.path_and_query.clone() }
}

/// The target's answer's `Content-Type` and body (decompressed), or why there is none (as
/// Prometheus words scrape errors).
async fn fetch(client: &mut net::client::HttpClient, target: &Target) -> Result<(String, Vec<u8>), String> {
    if let Some(error) = &target.unreachable {
        return Err(format!("Get {:?}: {error}", target.url));
    }
    let job = &target.job;
    let timeout = Duration::from_millis(target.timeout_ms as u64);
    let started = std::time::Instant::now();
    let mut headers = job.access.request_headers(&job.accept, Some(("X-Prometheus-Scrape-Timeout-Seconds", target.timeout_ms)), timeout).await?;
    if !job.enable_compression {
        headers.push(("Accept-Encoding".to_string(), "identity".to_string()));
    }
    // An OAuth2 token asked now takes its time out of the scrape's.
    let timeout = timeout.checked_sub(started.elapsed()).filter(|left| !left.is_zero()).ok_or_else(|| format!("Get {:?}: timeout after {timeout:?} while getting credentials", target.url))?;
    let location = target_location(target);
    let get = Get { client, url: &location, shown: &target.url, headers: &headers, timeout, body_bytes_max: job.body_bytes_max, access: &job.access };
    let response = super::http_get::get(get).await?;
    if !(200..300).contains(&response.status) {
        return Err(super::http_get::status_error(response.status));
    }
    let content_type = response.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    Ok((content_type, response.body))
}

/// The answer of a fetched body (`read_answer`, with its start timestamps when `read_starts`)
/// and the body's size for `scrape_body_size_bytes`, which Prometheus reports whether or not
/// the body parses (-1 when it was over `body_size_limit`, 0 without one).
fn answer_of(fetched: Result<(String, Vec<u8>), String>, job: &super::config::ScrapeJob, histograms: HistogramScraping, read_starts: bool) -> (Result<(Answer, LineStarts), String>, f64) {
    match fetched {
        // A panic reading the body (a bug) fails this scrape alone.
        Ok((content_type, body)) => {
            let size = body.len() as f64;
            (std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_answer(&content_type, body, job, histograms, read_starts))).unwrap_or_else(|_| Err(INTERNAL_ERROR.to_string())), size)
        }
        Err(error) if error == super::http_get::BODY_SIZE_LIMIT_EXCEEDED => (Err(error), -1.0),
        Err(error) => (Err(error), 0.0),
    }
}

/// `fresh` knowing the series of `old`'s last successful scrape: the cache a scrape that
/// panicked (a bug) left half done is let go, and the failure still marks those series stale.
fn fresh_after_panic(old: SeriesCache, mut fresh: SeriesCache) -> SeriesCache {
    fresh.inherit(old.into_tracked());
    fresh
}

/// A scrape's error when reading its answer panicked (the log has the panic).
const INTERNAL_ERROR: &str = "internal error reading the answer (the log has the details)";

/// Reads a body by its media type as Prometheus picks its parser (parameters are not
/// looked at): `application/vnd.google.protobuf` the protobuf format,
/// `application/openmetrics-text` OpenMetrics, `text/plain` the text format. Without a
/// Content-Type, or with another one, the job's `fallback_scrape_protocol` decides, the text
/// format when it is unset (Prometheus 3 fails such a scrape instead; VictoriaMetrics reads
/// the text format, as here). With `read_starts` (`storage.start_timestamp_zero_ingestion`)
/// the start timestamps of a protobuf or OpenMetrics answer are read too, an OpenMetrics
/// answer's `_created` lines then giving starts instead of series; the text format has none.
/// `histograms` are the target's choices (`Target::histograms`).
fn read_answer(content_type: &str, body: Vec<u8>, job: &super::config::ScrapeJob, histograms: HistogramScraping, read_starts: bool) -> Result<(Answer, LineStarts), String> {
    use super::config::AnswerFormat;
    let media_type = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let format = match media_type.as_str() {
        "application/vnd.google.protobuf" => AnswerFormat::Protobuf,
        "application/openmetrics-text" => AnswerFormat::OpenMetrics,
        "text/plain" => AnswerFormat::Text,
        _ => job.fallback_format,
    };
    let (answer, starts) = match format {
        AnswerFormat::Text => (Answer { text: body, format: Format::Text, histograms: Vec::new() }, LineStarts::default()),
        AnswerFormat::OpenMetrics if read_starts => {
            let (text, starts) = super::openmetrics::to_text_with_starts(&body)?;
            (Answer { text, format: Format::OpenMetrics, histograms: Vec::new() }, starts)
        }
        AnswerFormat::OpenMetrics => (Answer { text: super::openmetrics::to_text(&body)?, format: Format::OpenMetrics, histograms: Vec::new() }, LineStarts::default()),
        AnswerFormat::Protobuf => {
            // Classic histograms to convert come as classic series (as Prometheus' parser
            // gives them to its converter) unless native ones replace them.
            let options = super::protobuf::ProtobufOptions { native_histograms: histograms.native, classic_histograms_too: histograms.classic_too || histograms.convert_nhcb, utf8_names: job.utf8_names };
            let exposition = if read_starts { super::protobuf::to_text_with_starts(&body, options)? } else { super::protobuf::to_text(&body, options)? };
            (Answer { text: exposition.text, format: Format::OpenMetrics, histograms: exposition.histograms }, exposition.starts)
        }
    };
    if histograms.convert_nhcb {
        return super::nhcb::convert_with_starts(answer, &starts, histograms.classic_too, format == AnswerFormat::Protobuf);
    }
    Ok((answer, starts))
}

/// Writes a scrape's samples as one batch (`scrape_batch`), so that they are stored or
/// refused together (its `up` with them), as Prometheus commits a scrape whole.
async fn store(api: &Api, series: Vec<(Labels, Sample)>, histograms: Vec<(Labels, HistogramSample)>, exemplars: Vec<(Labels, Vec<Exemplar>)>, starts: SeriesStarts) -> Result<(), String> {
    let Some(batch) = scrape_batch(series, histograms, exemplars, starts)? else { return Ok(()) };
    crate::api::write::append_counted(api, batch).await.map(|_| ()).map_err(|e| e.message)
}

/// A scrape's batch (none when it has nothing): its float series, then its native
/// histograms, then its exemplars as entries of their own (those the store refuses, out of
/// order say, count as dropped and fail nothing). So do the start timestamps (`starts`, by
/// index in `series` and `histograms`), each on its series' entry: the shard writes the zero
/// of one only when it is newer than everything the series holds and drops it quietly
/// otherwise, as Prometheus' scrape ignores its out-of-order start timestamps.
pub fn scrape_batch(series: Vec<(Labels, Sample)>, histograms: Vec<(Labels, HistogramSample)>, exemplars: Vec<(Labels, Vec<Exemplar>)>, starts: SeriesStarts) -> Result<Option<tsdb::SeriesBatch>, String> {
    if histograms.is_empty() && exemplars.is_empty() && starts.is_empty() {
        return Ok((!series.is_empty()).then(|| tsdb::SeriesBatch::from_single_samples(&series)));
    }
    // One list of starts per entry (floats, then histograms), or none at all.
    let mut per_series: Vec<Vec<tsdb::StartTimestamp>> = Vec::new();
    if !starts.is_empty() {
        per_series.resize(series.len() + histograms.len(), Vec::new());
        let at_histograms = starts.histograms.iter().map(|&(at, start)| (series.len() + at, start));
        for (at, start) in starts.samples.iter().copied().chain(at_histograms) {
            if let Some(list) = per_series.get_mut(at) {
                list.push(start);
            }
        }
    }
    let floats = series.into_iter().map(|(labels, sample)| tsdb::SeriesSamples { labels, samples: vec![sample], histograms: Vec::new(), starts: None });
    let natives = histograms.into_iter().map(|(labels, h)| tsdb::SeriesSamples { labels, samples: Vec::new(), histograms: vec![h], starts: None });
    let owned: Vec<tsdb::SeriesSamples> = floats.chain(natives).collect();
    tsdb::SeriesBatch::try_from_series_starts_and_exemplars(&owned, &per_series, &exemplars).map(Some).map_err(|e| e.to_string())
}

/// Appends a failed scrape to `file` as Prometheus 3's `scrape_failure_log_file` holds them:
/// one JSON object per line with `time`, `level`, `msg` (the error) and `target` (the URL).
/// A file that cannot be written is logged and the scrape goes on.
fn log_failure(file: &std::path::Path, url: &str, error: &str, at_ms: i64) {
    let line = serde_json::json!({"time": crate::api::status::rfc3339(at_ms), "level": "ERROR", "msg": error, "target": url}).to_string() + "\n";
    let written = std::fs::OpenOptions::new().create(true).append(true).open(file).and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
    if let Err(e) = written {
        tracing::warn!(file = %file.display(), error = %e, "cannot append to scrape_failure_log_file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::config::ScrapeConfig;
    use crate::scrape::discovery::{targets, Discovered};

    fn target(job_yaml: &str) -> Target {
        let job = ScrapeConfig::from_yaml(job_yaml, std::path::Path::new("/tmp"), LabelLimits::default()).unwrap().jobs.remove(0);
        let groups: Vec<Arc<_>> = job.static_groups.iter().cloned().map(Arc::new).collect();
        match targets(&job, &groups).pop() {
            Some(Discovered::Active(t)) => Arc::unwrap_or_clone(t),
            other => panic!("{other:?}"),
        }
    }

    fn names(scraped: &Scraped) -> Vec<String> {
        scraped.samples.iter().map(|(l, s)| format!("{} {} {}", l, s.value, s.timestamp_ms)).collect()
    }

    fn scrape(t: &Target, external: &[(String, String)], body: &[u8], start_ms: i64) -> Result<Scraped, String> {
        SeriesCache::default().scrape(t, external, body, start_ms, &LabelLimits::default())
    }

    #[test]
    fn quoted_utf8_names_are_scraped_with_their_metadata() {
        let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]");
        let body = "# HELP \"http.server.requests\" Requests.\n# TYPE \"http.server.requests\" counter\n{\"http.server.requests\",\"http.route\"=\"/a\"} 3\n";
        for format in [Format::Text, Format::OpenMetrics] {
            let scraped = SeriesCache::default().scrape_format(&t, &[], body.as_bytes(), format, 1000, &LabelLimits::default()).unwrap();
            assert_eq!(names(&scraped), vec!["{\"http.server.requests\", \"http.route\"=\"/a\", instance=\"h:1\", job=\"j\"} 3 1000"]);
            let meta = scraped.metadata.unwrap_or_default();
            assert_eq!(meta.iter().map(|m| (m.family.as_str(), m.kind.as_str(), m.help.as_str())).collect::<Vec<_>>(), vec![("http.server.requests", "counter", "Requests.")]);
        }
        // An OpenMetrics answer with them rewrites and reads the same.
        let om = super::super::openmetrics::to_text(b"# TYPE \"a.b\" counter\n# UNIT \"a.b_seconds\" seconds\n{\"a.b_total\",\"x.y\"=\"1\"} 2 # {\"trace.id\"=\"t\"} 1\n# EOF\n").unwrap();
        assert_eq!(String::from_utf8(om).unwrap_or_default(), "# TYPE \"a.b\" counter\n# UNIT \"a.b_seconds\" seconds\n{\"a.b_total\",\"x.y\"=\"1\"} 2 # {\"trace.id\"=\"t\"} 1.0\n");
    }

    #[test]
    fn legacy_validation_fails_a_scrape_with_utf8_names() {
        let legacy = target("scrape_configs: [{job_name: j, metric_name_validation_scheme: legacy, static_configs: [{targets: ['h:1']}]}]");
        let error = scrape(&legacy, &[], b"{\"my.metric\"} 1\n", 1000).unwrap_err();
        assert!(error.starts_with("invalid metric name or label names: "), "{error}");
        assert!(scrape(&legacy, &[], b"ok{\"a.b\"=\"1\"} 1\n", 1000).is_err(), "a UTF-8 label name too");
        assert!(scrape(&legacy, &[], b"ok:name{a=\"1\"} 1\n", 1000).is_ok());
        let utf8 = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]");
        assert!(scrape(&utf8, &[], b"{\"my.metric\"} 1\n", 1000).is_ok());
    }

    #[test]
    fn metadata_is_given_when_it_changes() {
        let t = target("scrape_configs: [{job_name: node, static_configs: [{targets: ['h:1']}]}]");
        let body = b"# HELP a_total Requests \\\\ served.\\nAll.\n# TYPE a_total counter\na_total 1\n# TYPE  b\tuntyped\nb 2\n#TYPE c gauge\n# UNIT c seconds\n# TYPE d info\n# TYPE e nonsense\n# just a comment\n";
        let mut cache = SeriesCache::default();
        let first = cache.scrape(&t, &[], body, 1000, &LabelLimits::default()).unwrap();
        let meta = |family: &str, kind: &str, help: &str, unit: &str| crate::ingest::MetricMetadata { family: family.into(), kind: kind.into(), help: help.into(), unit: unit.into() };
        // `#TYPE` and `# UNIT` are plain comments in the text format, `info` no type of it.
        assert_eq!(first.metadata, Some(vec![meta("a_total", "counter", "Requests \\ served.\nAll.", ""), meta("b", "unknown", "", "")]));
        // An OpenMetrics answer (rewritten) keeps its units and its own types.
        let om = SeriesCache::default().scrape_format(&t, &[], b"# TYPE d info\n# UNIT c_seconds seconds\n# TYPE c_seconds gauge\n# HELP c_seconds A \\\"quoted\\\" \\\\ word.\n", Format::OpenMetrics, 1000, &LabelLimits::default()).unwrap();
        assert_eq!(om.metadata, Some(vec![meta("d", "info", "", ""), meta("c_seconds", "gauge", "A \"quoted\" \\ word.", "seconds")]));
        // In the text format `\"` is no escape.
        let text = SeriesCache::default().scrape(&t, &[], b"# HELP q A \\\"b\\\".\n", 1000, &LabelLimits::default()).unwrap();
        assert_eq!(text.metadata, Some(vec![meta("q", "unknown", "A \\\"b\\\".", "")]));
        // The same comments again: nothing to give until the resend interval passes.
        assert_eq!(cache.scrape(&t, &[], body, 2000, &LabelLimits::default()).unwrap().metadata, None);
        assert!(cache.scrape(&t, &[], body, 1000 + METADATA_RESEND_MS, &LabelLimits::default()).unwrap().metadata.is_some());
        let changed = b"# HELP a_total Requests.\na_total 2\n";
        assert_eq!(cache.scrape(&t, &[], changed, 3000 + METADATA_RESEND_MS, &LabelLimits::default()).unwrap().metadata, Some(vec![meta("a_total", "unknown", "Requests.", "")]));
        // No comments at all: nothing.
        assert_eq!(SeriesCache::default().scrape(&t, &[], b"x 1\n", 0, &LabelLimits::default()).unwrap().metadata, None);
    }

    #[test]
    fn target_labels_win_unless_honored() {
        let t = target("scrape_configs: [{job_name: node, static_configs: [{targets: ['h:1']}]}]");
        let body = b"# HELP a_total A.\n# TYPE a_total counter\na_total{job=\"other\"} 3\nb{exported_job=\"x\",job=\"y\"} 4 1000\n";
        let e = scrape(&t, &[("dc".into(), "eu".into())], body, 5000).unwrap();
        assert_eq!((e.scraped, e.kept, e.added), (2, 2, 1));
        assert_eq!(
            names(&e),
            vec![
                "a_total{dc=\"eu\", exported_job=\"other\", instance=\"h:1\", job=\"node\"} 3 5000",
                "b{dc=\"eu\", exported_exported_job=\"y\", exported_job=\"x\", instance=\"h:1\", job=\"node\"} 4 1000",
            ]
        );
        let honored = target("scrape_configs: [{job_name: node, honor_labels: true, honor_timestamps: false, static_configs: [{targets: ['h:1']}]}]");
        let e = scrape(&honored, &[], body, 5000).unwrap();
        assert_eq!(names(&e), vec!["a_total{instance=\"h:1\", job=\"other\"} 3 5000", "b{exported_job=\"x\", instance=\"h:1\", job=\"y\"} 4 5000"]);
        // An exposed empty label keeps the target's away with honor_labels (a Pushgateway's
        // `instance=""`), and is simply absent without it.
        let pushed = b"pushed{instance=\"\",job=\"batch\"} 1\n";
        assert_eq!(names(&scrape(&honored, &[], pushed, 5000).unwrap()), vec!["pushed{job=\"batch\"} 1 5000"]);
        assert_eq!(names(&scrape(&t, &[], pushed, 5000).unwrap()), vec!["pushed{exported_job=\"batch\", instance=\"h:1\", job=\"node\"} 1 5000"]);
    }

    #[test]
    fn metric_relabeling_and_the_sample_limit_apply_after_the_merge() {
        let t = target("scrape_configs: [{job_name: j, sample_limit: 1, metric_relabel_configs: [{source_labels: [__name__], regex: 'go_.*', action: drop}], static_configs: [{targets: ['h:1']}]}]");
        let e = scrape(&t, &[], b"go_a 1\nkept 2\ngo_b 3\nkept 5\n", 0).unwrap();
        // Four scraped, one kept: the duplicate of `kept` is dropped, the go_ ones relabeled away.
        assert_eq!((e.scraped, e.samples.len()), (4, 1));
        let error = scrape(&t, &[], b"a 1\nb 2\n", 0).unwrap_err();
        assert!(error.contains("sample_limit exceeded"), "{error}");
        for (body, want) in [(&b"a 1\nb{ 2\n"[..], "line 2"), (b"a{x=\"}\"} 1\nb\n", "line 2: missing value"), (b"a x\n", "invalid value"), (b"a 1 2.5\n", "invalid timestamp")] {
            let error = scrape(&t, &[], body, 0).unwrap_err();
            assert!(error.contains(want), "{error} should say {want}");
        }
    }

    #[test]
    fn a_label_value_may_hold_braces_spaces_and_escapes() {
        assert_eq!(split_series("a{x=\"} {\\\"\",y=\"z\"} 1 2"), Some(("a{x=\"} {\\\"\",y=\"z\"}", " 1 2")));
        assert_eq!(split_series("a 1"), Some(("a", " 1")));
        assert_eq!(split_series("a{x=\"1\" 1"), None);
        let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]");
        let e = scrape(&t, &[], b"a{x=\"} {\\\"\"} 1\n", 0).unwrap();
        assert_eq!(e.samples[0].0.get("x"), Some("} {\""));
    }

    #[test]
    fn a_fresh_cache_after_a_panic_still_marks_the_last_scrapes_series_stale() {
        let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]");
        let mut cache = SeriesCache::default();
        cache.scrape(&t, &[], b"a 1\nb 2\n", 1000, &LabelLimits::default()).unwrap();
        let mut fresh = fresh_after_panic(cache, SeriesCache::default());
        let mut stale: Vec<String> = fresh.all_stale(2000).into_iter().map(|(l, s)| format!("{l} {}", s.timestamp_ms)).collect();
        stale.sort();
        assert_eq!(stale, vec![r#"a{instance="h:1", job="j"} 2000"#, r#"b{instance="h:1", job="j"} 2000"#]);
    }

    #[test]
    fn series_gone_from_a_scrape_get_a_staleness_marker() {
        let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]");
        let limits = LabelLimits::default();
        let mut cache = SeriesCache::default();
        let stale = |s: &Scraped| s.samples.iter().filter(|(_, x)| tsdb::is_stale_nan(x.value)).map(|(l, x)| (l.metric_name().unwrap_or("").to_string(), x.timestamp_ms)).collect::<Vec<_>>();
        let first = cache.scrape(&t, &[], b"a 1\nb 2\nc 3 77\n", 1000, &limits).unwrap();
        assert_eq!((first.samples.len(), first.added), (3, 2));
        let second = cache.scrape(&t, &[], b"a 1\n", 2000, &limits).unwrap();
        assert_eq!(second.added, 0);
        // `c` had its own timestamp: Prometheus does not mark such series stale.
        assert_eq!(stale(&second), vec![("b".to_string(), 2000)]);
        // A failed scrape leaves the cache as it was (the series it met first are forgotten):
        // the next failure marks `a` stale once.
        assert!(cache.scrape(&t, &[], b"a 1\nnew 1\nb{ 2\n", 3000, &limits).is_err());
        assert!(!cache.entries.contains_key("new"));
        let failed = cache.all_stale(3000);
        assert_eq!(failed.iter().map(|(l, _)| l.metric_name().unwrap_or("").to_string()).collect::<Vec<_>>(), vec!["a".to_string()]);
        assert!(cache.all_stale(4000).is_empty());
        // After a failure every series is new again, and none is marked stale twice.
        let back = cache.scrape(&t, &[], b"b 2\n", 5000, &limits).unwrap();
        assert_eq!((back.added, stale(&back)), (1, vec![]));
    }

    /// A native histogram line: schema 1, buckets 1..=4 each holding `1`, zero bucket 1.
    fn native_line(series: &str, timestamp_ms: Option<i64>) -> NativeHistogramLine {
        let histogram = FloatHistogram {
            schema: 1,
            zero_threshold: 0.001,
            zero_count: 1.0,
            count: 5.0,
            sum: 6.0,
            positive_spans: vec![tsdb::BucketSpan { offset: 1, length: 4 }],
            positive_buckets: vec![1.0; 4],
            ..FloatHistogram::default()
        };
        NativeHistogramLine { series: series.into(), timestamp_ms, histogram, exemplars: Vec::new(), start_ms: None }
    }

    /// `read_answer` without start timestamps.
    fn read(content_type: &str, body: Vec<u8>, job: &super::super::config::ScrapeJob) -> Result<Answer, String> {
        read_answer(content_type, body, job, job.histogram_scraping(), false).map(|(answer, starts)| {
            assert!(starts.is_empty(), "starts read unasked");
            answer
        })
    }

    fn answer(text: &str, histograms: Vec<NativeHistogramLine>) -> Answer {
        Answer { text: text.as_bytes().to_vec(), format: Format::OpenMetrics, histograms }
    }

    #[test]
    fn failed_scrapes_are_told_apart_by_the_limit_their_error_names() {
        use crate::scrape::status::ScrapeFailure;
        let j = target("scrape_configs: [{job_name: j, sample_limit: 1, label_limit: 1, static_configs: [{targets: ['h:1']}]}]").job;
        let labels = Labels::from_pairs(vec![("__name__".to_string(), "x".to_string()), ("a".to_string(), "b".to_string())]);
        let label_error = check_label_limits(&labels, &j).unwrap_err();
        assert_eq!(failure_cause(&label_error), ScrapeFailure::LabelLimits, "{label_error}");
        let two = Scraped { samples: vec![(labels.clone(), Sample { timestamp_ms: 1, value: 1.0 }); 2], ..Scraped::default() };
        let sample_error = check_sample_limit(&two, &j).unwrap_err();
        assert_eq!(failure_cause(&sample_error), ScrapeFailure::SampleLimit, "{sample_error}");
        assert_eq!(failure_cause(super::super::http_get::BODY_SIZE_LIMIT_EXCEEDED), ScrapeFailure::BodySizeLimit);
        assert_eq!(failure_cause(BUCKET_LIMIT_EXCEEDED), ScrapeFailure::BucketLimit);
        assert_eq!(failure_cause("Get \"http://h:1/metrics\": connection refused"), ScrapeFailure::Other);
    }

    #[test]
    fn bucket_and_quantile_bounds_are_normalized_as_prometheus_3_does() {
        let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]");
        let body = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"2.50\"} 2\nh_bucket{le=\"1e3\"} 3\nh_bucket{le=\"+Inf\"} 4\nh_bucket{le=\"x\"} 5\n\
                    # TYPE s summary\ns{quantile=\"1\"} 1\ns{quantile=\"0.50\",le=\"1\"} 2\n\
                    # TYPE g gauge\ng{le=\"1\",quantile=\"1\"} 3\n";
        let got: Vec<String> = scrape(&t, &[], body.as_bytes(), 1000).unwrap().samples.iter().map(|(l, _)| format!("{}/{}", l.get("le").unwrap_or("-"), l.get("quantile").unwrap_or("-"))).collect();
        assert_eq!(got, vec!["1.0/-", "2.5/-", "1000.0/-", "+Inf/-", "x/-", "-/1.0", "1/0.5", "1/1"]);
        // Each bound keeps one series however it is written.
        let two = scrape(&t, &[], b"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"1.0\"} 2\n", 1000).unwrap();
        assert_eq!(two.samples.len(), 1);
    }

    #[test]
    fn native_histograms_get_the_target_labels_relabeling_limits_and_staleness() {
        let t = target("scrape_configs: [{job_name: j, sample_limit: 3, static_configs: [{targets: ['h:1']}], metric_relabel_configs: [{source_labels: [__name__], regex: dropped, action: drop}]}]");
        let limits = LabelLimits::default();
        let mut cache = SeriesCache::default();
        let first = cache.scrape_answer(&t, &[], &answer("a 1\n", vec![native_line("lat{path=\"/x\"}", None), native_line("dropped", None), native_line("own", Some(1500))]), 2000, &limits).unwrap();
        let written: Vec<String> = first.histograms.iter().map(|(l, h)| format!("{l} {}", h.timestamp_ms)).collect();
        assert_eq!(written, vec!["lat{instance=\"h:1\", job=\"j\", path=\"/x\"} 2000", "own{instance=\"h:1\", job=\"j\"} 1500"]);
        // The histograms as exposed (no limits set).
        assert!(first.histograms.iter().all(|(_, h)| *h.histogram == native_line("x", None).histogram));
        // Counted as samples: four in the body, three kept, two new tracked series (`own`
        // has its own timestamp).
        assert_eq!((first.scraped, first.kept, first.added), (4, 3, 2));
        // Gone from the next answer: a staleness marker, as for a float series.
        let second = cache.scrape_answer(&t, &[], &answer("a 1\n", vec![]), 3000, &limits).unwrap();
        let stale: Vec<String> = second.samples.iter().filter(|(_, s)| tsdb::is_stale_nan(s.value)).map(|(l, s)| format!("{} {}", l.metric_name().unwrap_or(""), s.timestamp_ms)).collect();
        assert_eq!(stale, vec!["lat 3000"]);
        // A histogram and a text line of the same text are different series caches.
        let both = cache.scrape_answer(&t, &[], &answer("a 1\nlat 1\n", vec![native_line("lat", None)]), 4000, &limits).unwrap();
        assert_eq!((both.samples.len(), both.histograms.len()), (2, 0), "the same final labels written twice keep the first");
        // The sample limit counts histograms.
        let over = cache.scrape_answer(&t, &[], &answer("a 1\nb 1\n", vec![native_line("h1", None), native_line("h2", None)]), 5000, &limits);
        assert_eq!(over.unwrap_err(), "sample_limit exceeded: more than 3 samples after metric relabeling");
    }

    #[test]
    fn exemplars_go_with_their_series_final_labels_when_kept() {
        let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}], metric_relabel_configs: [{source_labels: [__name__], regex: dropped, action: drop}, {target_label: env, replacement: prod}]}]");
        let limits = LabelLimits::default();
        let text = "a_total{code=\"200\"} 5 # {trace_id=\"t1\",empty=\"\"} 1.5\n\
                    b_total 6 1500 # {trace_id=\"t2\"} 2.5 1200\n\
                    dropped 1 # {trace_id=\"t3\"} 1\n\
                    a_total{code=\"200\"} 9 # {trace_id=\"t4\"} 1\n\
                    c 1 # {trace_id=\"too long\",x=\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"} 1\n\
                    d 1\n";
        let mut h1 = native_line("lat", None);
        h1.exemplars = vec![
            super::super::exemplar::ScrapedExemplar { labels: vec![("trace_id".into(), "late".into())], value: 9.0, timestamp_ms: Some(1900) },
            super::super::exemplar::ScrapedExemplar { labels: vec![("trace_id".into(), "untimed".into())], value: 1.0, timestamp_ms: None },
            super::super::exemplar::ScrapedExemplar { labels: vec![("trace_id".into(), "early".into())], value: 2.0, timestamp_ms: Some(1800) },
        ];
        let the_answer = answer(text, vec![h1]);
        let mut cache = SeriesCache::default();
        let off = cache.scrape_answer(&t, &[], &the_answer, 2000, &limits).unwrap();
        assert!(off.exemplars.is_empty(), "kept only when the server stores exemplars");
        let mut cache = SeriesCache::default();
        cache.keep_exemplars();
        let kept = cache.scrape_answer(&t, &[], &the_answer, 2000, &limits).unwrap();
        // Only an exemplar that came without a time repeats itself on the next scrape.
        let untimed: Vec<bool> = kept.exemplars.iter().map(|(_, list)| list.iter().any(|e| !e.own_timestamp)).collect();
        assert_eq!(untimed, vec![true, false, true, false]);
        let got: Vec<String> = kept.exemplars.iter().map(|(series, list)| format!("{series} {}", list.iter().map(|e| format!("{}={}@{}", e.labels, e.value, e.timestamp_ms)).collect::<Vec<_>>().join(" "))).collect();
        // An exemplar without a time takes its sample's (the scrape's, or the line's own);
        // a dropped series' goes with it; a repeated line's is kept (only its sample is a
        // duplicate, as in Prometheus); one over 128 characters is left out; a native
        // histogram's need their own times and are ordered by them.
        assert_eq!(
            got,
            vec![
                "a_total{code=\"200\", env=\"prod\", instance=\"h:1\", job=\"j\"} {trace_id=\"t1\"}=1.5@2000",
                "b_total{env=\"prod\", instance=\"h:1\", job=\"j\"} {trace_id=\"t2\"}=2.5@1200",
                "a_total{code=\"200\", env=\"prod\", instance=\"h:1\", job=\"j\"} {trace_id=\"t4\"}=1@2000",
                "lat{env=\"prod\", instance=\"h:1\", job=\"j\"} {trace_id=\"early\"}=2@1800 {trace_id=\"late\"}=9@1900",
            ]
        );
        // The samples are read as without their exemplars, and a text-format answer has none.
        assert_eq!(names(&kept), names(&SeriesCache::default().scrape_answer(&t, &[], &answer("a_total{code=\"200\"} 5\nb_total 6 1500\nc 1\nd 1\n", vec![]), 2000, &limits).unwrap()));
        let refused = SeriesCache::default().scrape(&t, &[], b"a 1 # {trace_id=\"x\"} 1\n", 1000, &limits).unwrap_err();
        assert!(refused.contains("invalid timestamp \"#\""), "{refused}");
    }

    #[test]
    fn native_histograms_are_brought_within_the_bucket_limit_and_factor_as_in_prometheus() {
        let job = |extra: &str| target(&format!("scrape_configs: [{{job_name: j, static_configs: [{{targets: ['h:1']}}]{extra}}}]")).job;
        let h = native_line("x", None).histogram;
        // No limits: unchanged.
        assert_eq!(within_job_limits(h.clone(), &job("")).unwrap(), h);
        // Four buckets at schema 1 (indexes 1..=4, bounds 2^(i/2)): at schema 0 indexes 1,2
        // become 1 and 3,4 become 2; at -1 they become 1 and 1.
        let two = within_job_limits(h.clone(), &job(", native_histogram_bucket_limit: 3")).unwrap();
        assert_eq!((two.schema, two.positive_spans.clone(), two.positive_buckets.clone()), (0, vec![tsdb::BucketSpan { offset: 1, length: 2 }], vec![2.0, 2.0]));
        assert_eq!((two.count, two.sum, two.zero_count), (5.0, 6.0, 1.0));
        let one = within_job_limits(h.clone(), &job(", native_histogram_bucket_limit: 1")).unwrap();
        assert_eq!((one.schema, one.positive_buckets.clone()), (-1, vec![4.0]));
        // A factor of 2 allows schema 0 at most.
        assert_eq!(within_job_limits(h.clone(), &job(", native_histogram_min_bucket_factor: 2")).unwrap(), two);
        // Buckets that never merge enough fail the scrape, as do custom buckets over the limit.
        let spread = FloatHistogram { positive_spans: vec![tsdb::BucketSpan { offset: -1000, length: 1 }, tsdb::BucketSpan { offset: 2000, length: 1 }], positive_buckets: vec![1.0, 1.0], ..h.clone() };
        assert_eq!(within_job_limits(spread, &job(", native_histogram_bucket_limit: 1")).unwrap_err(), "histogram bucket limit exceeded");
        let custom = FloatHistogram { schema: tsdb::model::CUSTOM_BUCKETS_SCHEMA, zero_threshold: 0.0, zero_count: 0.0, custom_values: vec![1.0, 2.0, 3.0], positive_spans: vec![tsdb::BucketSpan { offset: 0, length: 4 }], positive_buckets: vec![1.0; 4], ..FloatHistogram::default() };
        assert_eq!(within_job_limits(custom.clone(), &job(", native_histogram_bucket_limit: 2")).unwrap_err(), "histogram bucket limit exceeded");
        assert_eq!(within_job_limits(custom.clone(), &job(", native_histogram_bucket_limit: 4, native_histogram_min_bucket_factor: 4")).unwrap(), custom);
    }

    #[test]
    fn answers_are_read_by_their_content_type() {
        let job = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]").job;
        let fallback = target("scrape_configs: [{job_name: j, fallback_scrape_protocol: PrometheusProto, static_configs: [{targets: ['h:1']}]}]").job;
        let fallback_om = target("scrape_configs: [{job_name: j, fallback_scrape_protocol: OpenMetricsText1.0.0, static_configs: [{targets: ['h:1']}]}]").job;
        let text = read("text/plain; version=0.0.4", b"a 1\n".to_vec(), &job).unwrap();
        assert_eq!((text.text.as_slice(), text.format), (&b"a 1\n"[..], Format::Text));
        let om = read("application/openmetrics-text; version=1.0.0", b"a 1\n# EOF\n".to_vec(), &job).unwrap();
        assert_eq!((om.text.as_slice(), om.format), (&b"a 1\n"[..], Format::OpenMetrics));
        // An empty protobuf answer is an empty exposition; without a Content-Type the
        // fallback protocol decides (the text format by default).
        let empty = read("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited", Vec::new(), &job).unwrap();
        assert_eq!((empty.text.len(), empty.histograms.len()), (0, 0));
        assert_eq!(read("", b"a 1\n".to_vec(), &job).unwrap().format, Format::Text);
        assert_eq!(read("", b"a 1\n".to_vec(), &fallback).unwrap_err(), "protobuf message 1 (byte 0): length 97 exceeds the 3 bytes left", "read as protobuf");
        assert_eq!(read("application/x-unknown", b"a 1\n".to_vec(), &fallback).unwrap_err(), "protobuf message 1 (byte 0): length 97 exceeds the 3 bytes left");
        // OpenMetrics as the fallback: its timestamps in seconds, its # EOF required.
        let om = read("", b"a 1 2.5\n# EOF\n".to_vec(), &fallback_om).unwrap();
        assert_eq!((om.text.as_slice(), om.format), (&b"a 1 2500\n"[..], Format::OpenMetrics));
        // The media type decides, not its parameters.
        assert!(read("application/vnd.google.protobuf; proto=other.Message", Vec::new(), &job).is_ok());
    }

    #[test]
    fn track_timestamps_staleness_marks_series_with_their_own_timestamps() {
        let t = target("scrape_configs: [{job_name: j, track_timestamps_staleness: true, static_configs: [{targets: ['h:1']}]}]");
        let limits = LabelLimits::default();
        let mut cache = SeriesCache::default();
        let first = cache.scrape(&t, &[], b"a 1\nc 3 77\n", 1000, &limits).unwrap();
        assert_eq!(first.samples.iter().map(|(_, x)| x.timestamp_ms).collect::<Vec<_>>(), vec![1000, 77], "its own timestamp is still honoured");
        let second = cache.scrape(&t, &[], b"a 1\n", 2000, &limits).unwrap();
        let stale: Vec<&str> = second.samples.iter().filter(|(_, x)| tsdb::is_stale_nan(x.value)).map(|(l, _)| l.metric_name().unwrap_or("")).collect();
        assert_eq!(stale, vec!["c"]);
    }

    #[test]
    fn label_limits_fail_the_scrape_naming_the_series() {
        let t = target("scrape_configs: [{job_name: j, label_limit: 3, label_name_length_limit: 8, static_configs: [{targets: ['h:1']}]}]");
        let limits = LabelLimits::default();
        // __name__, instance and job: three labels.
        assert!(SeriesCache::default().scrape(&t, &[], b"ok 1\n", 0, &limits).is_ok());
        let error = SeriesCache::default().scrape(&t, &[], b"ok 1\nmany{a=\"1\"} 1\n", 0, &limits).unwrap_err();
        assert_eq!(error, "label_limit exceeded (metric: many, number of labels: 4, limit: 3)");
        let t = target("scrape_configs: [{job_name: j, label_name_length_limit: 8, static_configs: [{targets: ['h:1']}]}]");
        let error = SeriesCache::default().scrape(&t, &[], b"x{a_long_name=\"1\"} 1\n", 0, &limits).unwrap_err();
        assert_eq!(error, "label_name_length_limit exceeded (metric: x, label name: a_long_name, length: 11, limit: 8)");
    }

    #[test]
    fn two_texts_of_one_series_write_it_once_and_keep_it_live() {
        // `labeldrop` makes a{x="1"} and a{x="2"} one series.
        let t = target("scrape_configs: [{job_name: j, metric_relabel_configs: [{regex: x, action: labeldrop}], static_configs: [{targets: ['h:1']}]}]");
        let limits = LabelLimits::default();
        let mut cache = SeriesCache::default();
        let first = cache.scrape(&t, &[], b"a{x=\"1\"} 1\na{x=\"2\"} 2\na{x=\"1\",} 3\n", 1000, &limits).unwrap();
        assert_eq!(first.samples.iter().map(|(_, s)| s.value).collect::<Vec<_>>(), vec![1.0]);
        // One of the two texts gone: the series is still written, so not marked stale.
        let second = cache.scrape(&t, &[], b"a{x=\"2\"} 5\n", 2000, &limits).unwrap();
        assert_eq!(second.samples.iter().map(|(_, s)| s.value).collect::<Vec<_>>(), vec![5.0]);
    }

    #[test]
    fn start_timestamps_go_with_the_series_kept_and_their_sample_times() {
        let t = target("scrape_configs: [{job_name: j, honor_timestamps: true, metric_relabel_configs: [{source_labels: [__name__], regex: 'drop_.*', action: drop}], static_configs: [{targets: ['h:1']}]}]");
        let limits = LabelLimits::default();
        let text = "a_total 1\ndrop_me_total 2\nb_total 3 1500\na_total 4\nc 5\n";
        let mut starts = LineStarts::default();
        for line in 0..4 {
            starts.push(line, 100 + line as i64);
        }
        let mut native = native_line("lat", None);
        native.start_ms = Some(900);
        let the_answer = answer(text, vec![native, native_line("plain", None)]);
        let mut cache = SeriesCache::default();
        let first = cache.scrape_answer_with_starts(&t, &[], &the_answer, &starts, 2000, &limits).unwrap();
        // The dropped series and the repeated one get none (a repeated series keeps its first
        // sample); a sample with its own time starts before that.
        let at = |index: usize| first.samples[index].0.metric_name().unwrap_or("").to_string();
        let floats: Vec<(String, tsdb::StartTimestamp)> = first.starts.samples.iter().map(|&(index, start)| (at(index), start)).collect();
        assert_eq!(floats, vec![("a_total".to_string(), tsdb::StartTimestamp { start_ms: 100, sample_ms: 2000 }), ("b_total".to_string(), tsdb::StartTimestamp { start_ms: 102, sample_ms: 1500 })]);
        assert_eq!(first.starts.histograms, vec![(0, tsdb::StartTimestamp { start_ms: 900, sample_ms: 2000 })]);
        assert_eq!(first.histograms[0].0.metric_name(), Some("lat"));
        // The staleness markers of the next scrape have none.
        let second = cache.scrape_answer_with_starts(&t, &[], &answer("c 5\n", vec![]), &LineStarts::default(), 3000, &limits).unwrap();
        assert!(second.samples.iter().any(|(_, s)| tsdb::is_stale_nan(s.value)));
        assert!(second.starts.is_empty());
        // Without line starts the lines have none; a native histogram carries its own.
        let plain = SeriesCache::default().scrape_answer(&t, &[], &the_answer, 2000, &limits).unwrap();
        assert_eq!((plain.starts.samples.len(), plain.starts.histograms.len()), (0, 1));
    }

    #[test]
    fn a_scrapes_batch_carries_each_start_on_its_series() {
        let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]");
        let mut starts = LineStarts::default();
        starts.push(1, 500);
        let mut native = native_line("lat", None);
        native.start_ms = Some(600);
        let scraped = SeriesCache::default().scrape_answer_with_starts(&t, &[], &answer("a 1\nb_total 2\n", vec![native]), &starts, 2000, &LabelLimits::default()).unwrap();
        let mut series = scraped.samples;
        // The report series come after, without starts.
        series.extend(report_series(&report_labels(&t, &[]), 2000, &[1.0; 5]));
        let batch = scrape_batch(series, scraped.histograms, Vec::new(), scraped.starts).unwrap().expect("a batch");
        assert!(batch.has_start_timestamps());
        let got: Vec<(String, Vec<tsdb::StartTimestamp>)> = batch.iter().filter(|s| !s.start_timestamps().is_empty()).map(|s| (s.to_labels().metric_name().unwrap_or("").to_string(), s.start_timestamps().to_vec())).collect();
        assert_eq!(
            got,
            vec![("b_total".to_string(), vec![tsdb::StartTimestamp { start_ms: 500, sample_ms: 2000 }]), ("lat".to_string(), vec![tsdb::StartTimestamp { start_ms: 600, sample_ms: 2000 }])]
        );
        assert_eq!(batch.len(), 8, "two floats, five report series, one histogram");
        // Without starts, histograms or exemplars: the plain batch of single samples.
        let plain = scrape_batch(vec![(Labels::from_pairs(vec![("__name__".to_string(), "x".to_string())]), Sample { timestamp_ms: 1, value: 1.0 })], Vec::new(), Vec::new(), SeriesStarts::default()).unwrap().expect("a batch");
        assert!(!plain.has_start_timestamps());
        assert!(scrape_batch(Vec::new(), Vec::new(), Vec::new(), SeriesStarts::default()).unwrap().is_none());
    }

    #[test]
    fn answers_give_start_timestamps_only_when_asked_and_never_in_the_text_format() {
        let job = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]").job;
        let om = b"# TYPE a counter\na_total 1\na_created 1.5\n# EOF\n";
        let (answer, starts) = read_answer("application/openmetrics-text; version=1.0.0", om.to_vec(), &job, job.histogram_scraping(), true).unwrap();
        assert_eq!((answer.text.as_slice(), starts.iter().collect::<Vec<_>>()), (&b"# TYPE a counter\na_total 1\n\n"[..], vec![(1, 1500)]));
        let (answer, starts) = read_answer("application/openmetrics-text; version=1.0.0", om.to_vec(), &job, job.histogram_scraping(), false).unwrap();
        assert_eq!((answer.text.as_slice(), starts.is_empty()), (&b"# TYPE a counter\na_total 1\na_created 1.5\n"[..], true));
        let text = b"# TYPE a counter\na_total 1\na_created 1.5\n";
        let (answer, starts) = read_answer("text/plain; version=0.0.4", text.to_vec(), &job, job.histogram_scraping(), true).unwrap();
        assert_eq!((answer.text.as_slice(), starts.is_empty()), (&text[..], true));
        // Scraped, the `_created` line is no series and its start rides with `a_total`.
        let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]");
        let (answer, starts) = read_answer("application/openmetrics-text", om.to_vec(), &job, job.histogram_scraping(), true).unwrap();
        let scraped = SeriesCache::default().scrape_answer_with_starts(&t, &[], &answer, &starts, 2000, &LabelLimits::default()).unwrap();
        assert_eq!(names(&scraped), vec!["a_total{instance=\"h:1\", job=\"j\"} 1 2000"]);
        assert_eq!((scraped.scraped, scraped.starts.samples.clone()), (1, vec![(0, tsdb::StartTimestamp { start_ms: 1500, sample_ms: 2000 })]));
        // Converted to native histograms with custom buckets, a histogram takes its start.
        let nhcb = target("scrape_configs: [{job_name: j, convert_classic_histograms_to_nhcb: true, static_configs: [{targets: ['h:1']}]}]").job;
        let histogram = b"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 1\nh_created 7\n# EOF\n";
        let (answer, starts) = read_answer("application/openmetrics-text", histogram.to_vec(), &nhcb, nhcb.histogram_scraping(), true).unwrap();
        assert_eq!((answer.histograms.len(), answer.histograms[0].start_ms, starts.is_empty()), (1, Some(7_000), true));
    }

    #[test]
    fn a_reloaded_loop_marks_stale_what_its_new_job_no_longer_writes() {
        let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]");
        let limits = LabelLimits::default();
        let mut old = SeriesCache::default();
        old.scrape(&t, &[], b"a 1\nb 2\n", 1000, &limits).unwrap();
        let mut new = SeriesCache::default();
        new.inherit(old.into_tracked());
        let first = new.scrape(&t, &[], b"a 1\n", 2000, &limits).unwrap();
        let stale: Vec<_> = first.samples.iter().filter(|(_, s)| tsdb::is_stale_nan(s.value)).map(|(l, _)| l.metric_name().unwrap_or("").to_string()).collect();
        assert_eq!((stale, first.added), (vec!["b".to_string()], 0));
    }

    #[test]
    fn a_line_the_two_parsers_read_differently_is_refused() {
        let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]");
        // A label name holding `}`: the label block parser refuses it itself now.
        let error = scrape(&t, &[], b"a{x} 1 2 =\"v\"} 5\n", 0).unwrap_err();
        assert!(error.contains("line 1") && error.contains(r#"expected label="value""#), "{error}");
        // Whitespace other than ASCII ends the name for both.
        let e = scrape(&t, &[], "a\u{a0}1 2\n".as_bytes(), 0).unwrap();
        assert_eq!((e.samples[0].1.value, e.samples[0].1.timestamp_ms), (1.0, 2));
    }

    #[test]
    fn report_series_carry_the_target_labels() {
        let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1'], labels: {env: p}}]}]");
        let labels = report_labels(&t, &[("env".into(), "ignored".into()), ("dc".into(), "x".into())]);
        let text: Vec<String> = report_series(&labels, 9, &report_values(&t, [1.0, 0.5, 3.0, 2.0, 1.0], 7.0)).map(|(l, s)| format!("{} {}", l, s.value)).collect();
        assert_eq!(text.len(), 5);
        assert_eq!(text[0], "up{dc=\"x\", env=\"p\", instance=\"h:1\", job=\"j\"} 1");
        assert_eq!(text[4], "scrape_series_added{dc=\"x\", env=\"p\", instance=\"h:1\", job=\"j\"} 1");
        // extra_scrape_metrics: the timeout, the sample limit and the body's size too.
        let t = target("scrape_configs: [{job_name: j, extra_scrape_metrics: true, scrape_timeout: 3s, sample_limit: 50, static_configs: [{targets: ['h:1']}]}]");
        let labels = report_labels(&t, &[]);
        let text: Vec<String> = report_series(&labels, 9, &report_values(&t, [1.0, 0.5, 3.0, 2.0, 1.0], -1.0)).skip(5).map(|(l, s)| format!("{} {}", l, s.value)).collect();
        assert_eq!(
            text,
            vec![
                "scrape_timeout_seconds{instance=\"h:1\", job=\"j\"} 3",
                "scrape_sample_limit{instance=\"h:1\", job=\"j\"} 50",
                "scrape_body_size_bytes{instance=\"h:1\", job=\"j\"} -1",
            ]
        );
    }

    #[test]
    fn scrapes_start_at_the_targets_offset() {
        // 1 s: 16 slots of 62 ms; key 7 is slot 7.
        assert_eq!(first_slot(7, 1000, 10_500), 11_434);
        assert_eq!(first_slot(7, 1000, 10_005), 10_434);
        assert_eq!(first_slot(23, 1000, 10_434), 10_434);
        // 100 ms: slots of at least 50 ms; 30 ms: one slot.
        assert_eq!(first_slot(3, 100, 1_001), 1_050);
        assert_eq!(first_slot(3, 30, 1_001), 1_020);
    }

    /// A rediscovered target replaces the loop's, and the old one (with the group it holds)
    /// is let go; dropping the handle tells the loop to end quietly, `remove` with markers.
    #[test]
    fn a_loop_handle_lets_a_replaced_target_go_and_stops_its_loop() {
        let yaml = "scrape_configs: [{job_name: node, static_configs: [{targets: ['h:1']}]}]";
        let first = Arc::new(target(yaml));
        let old = Arc::downgrade(&first);
        let (handle, inbox) = loop_link(first);
        let second = Arc::new(target(yaml));
        handle.set_target(second.clone());
        assert!(old.upgrade().is_none(), "the replaced target is still held");
        assert!(Arc::ptr_eq(&inbox.target(), &second));
        assert_eq!(inbox.0.stop.get(), None);
        drop(handle);
        assert_eq!(inbox.0.stop.get(), Some(Stop::Shutdown));
        let (handle, inbox) = loop_link(second);
        handle.remove();
        assert_eq!(inbox.0.stop.get(), Some(Stop::Removed), "a removal is not turned into a quiet end by the drop after it");
    }

    fn future_size<F, A, B, C>(_: impl Fn(A, B, C) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Each target's loop lives between scrapes as its future: the request and the store
    /// are boxed only while they run, so a server with 20,000 targets does not hold 20,000
    /// of their largest states (over 10 KiB each when they were inline).
    #[test]
    fn an_idle_loop_is_small() {
        let size = future_size(run);
        assert!(size <= 1024, "the scrape loop's future takes {size} bytes");
    }
}
