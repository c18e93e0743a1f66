//! One sample named by a metric and tags, as the Graphite and OpenTSDB line protocols send
//! it, added to an `influx::Parsed` batch, checked against the label limits and
//! `storage.reject_non_finite`. A problem quotes its line, shortened, so a hostile line stays
//! a short log.

use tsdb::{Sample, METRIC_NAME_LABEL};

use super::influx::{sorted_unique_without_name, Parsed};
use super::{label_limits, IngestRules};

/// Characters of a bad line quoted in its problem.
const LINE_SHOWN_CHARS_MAX: usize = 96;
/// Characters of a metric name quoted in a problem.
const NAME_SHOWN_CHARS_MAX: usize = 64;

/// Adds `sample` of the series `metric` with `tags` (in line order) to `parsed`: the tags
/// sorted with `__name__` set to `metric` (a `__name__` tag gives way to it; of one name the
/// last tag counts; one with an empty name or value is left out). `raw` is the line, quoted in
/// a problem. Returns the bytes the sample takes in `parsed`, or the problem (`parsed`
/// unchanged).
pub fn push_tagged(parsed: &mut Parsed, raw: &[u8], metric: &str, mut tags: Vec<(&str, &str)>, sample: Sample, rules: &IngestRules) -> Result<usize, String> {
    // A label needs a name and a value (an empty value is no label, as in Prometheus).
    tags.retain(|(name, value)| !name.is_empty() && !value.is_empty());
    let unique = sorted_unique_without_name(tags);
    let name_at = unique.partition_point(|(name, _)| *name < METRIC_NAME_LABEL);
    let (before, after) = unique.split_at(name_at);
    let pairs = || before.iter().copied().chain(std::iter::once((METRIC_NAME_LABEL, metric))).chain(after.iter().copied());
    if let Some(problem) = label_limits::problem(&rules.label_limits, pairs().map(|(n, v)| (n.as_bytes(), v.as_bytes()))) {
        return Err(with_line(raw, &format!("series {:?}: {problem}", clipped(metric, NAME_SHOWN_CHARS_MAX))));
    }
    if rules.reject_non_finite && !sample.value.is_finite() {
        return Err(with_line(raw, &format!("the non-finite value {} (storage.reject_non_finite is on)", sample.value)));
    }
    Ok(parsed.push_sample(pairs, sample))
}

/// `text` cut to `chars_max` characters, marked with `…` when cut.
fn clipped(text: &str, chars_max: usize) -> String {
    match text.char_indices().nth(chars_max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// `problem` with the line it is about (shortened).
pub fn with_line(raw: &[u8], problem: &str) -> String {
    format!("{:?}: {problem}", clipped(&String::from_utf8_lossy(raw), LINE_SHOWN_CHARS_MAX))
}
