//! Label sets: sorted, unique-by-name lists of `name=value` pairs, with the stable
//! hash that routes a series to its shard.

use std::fmt;

use super::shared_text::SharedText;

/// The label that holds the metric name.
pub const METRIC_NAME_LABEL: &str = "__name__";
/// The label that holds a series' metric type under Prometheus' `type-and-unit-labels`.
pub const METRIC_TYPE_LABEL: &str = "__type__";
/// The label that holds a series' unit under Prometheus' `type-and-unit-labels`.
pub const METRIC_UNIT_LABEL: &str = "__unit__";

/// One owned `name="value"` pair, for building label sets.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    pub name: String,
    pub value: String,
}

impl Label {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Label {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// One pair of a `Labels`, borrowed from its text. Ordered by name, then value, as the
/// label sets themselves are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelRef<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

impl LabelRef<'_> {
    pub fn to_label(self) -> Label {
        Label::new(self.name, self.value)
    }
}

/// Anything that names one pair: `Label`, `&Label`, `LabelRef` or `(&str, &str)`, so label
/// sets can be built from owned pairs or straight from another set's pairs.
pub trait LabelPair {
    fn name(&self) -> &str;
    fn value(&self) -> &str;
}

impl LabelPair for Label {
    fn name(&self) -> &str {
        &self.name
    }
    fn value(&self) -> &str {
        &self.value
    }
}

impl LabelPair for &Label {
    fn name(&self) -> &str {
        &self.name
    }
    fn value(&self) -> &str {
        &self.value
    }
}

impl LabelPair for LabelRef<'_> {
    fn name(&self) -> &str {
        self.name
    }
    fn value(&self) -> &str {
        self.value
    }
}

impl LabelPair for (&str, &str) {
    fn name(&self) -> &str {
        self.0
    }
    fn value(&self) -> &str {
        self.1
    }
}

/// A label set. Invariant: sorted by name, names unique, no empty values
/// (a label with an empty value is the same as an absent label). Immutable and shared:
/// cloning is a reference-count increment, which matters because query evaluation passes
/// the same label sets along at every step. The routing hash is computed once and kept.
///
/// The pairs live in one buffer (each name and value preceded by its length), so a set
/// costs one allocation whatever its size, not two per label: a select of 200k series
/// builds 200k sets, and with a `String` per name and value those allocations and the
/// memory they faulted in were most of the select's time. That buffer shares its block
/// with the reference count and the cached hash (`SharedText`).
///
/// The text: per pair, name length, name, value length, value; lengths as LEB128 varints.
/// Only ever written by `LabelsText::push` from `&str`s, so every name and value is UTF-8.
#[derive(Clone)]
pub struct Labels(SharedText);

impl Default for Labels {
    fn default() -> Self {
        LabelsText::default().finish()
    }
}

impl PartialEq for Labels {
    fn eq(&self, other: &Self) -> bool {
        // One encoding per set, so equal sets have equal text.
        self.0.text() == other.0.text()
    }
}

impl Eq for Labels {}

impl std::hash::Hash for Labels {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.text().hash(state);
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Labels {
    /// Pair by pair (name, then value); a set that is a prefix of another sorts first.
    ///
    /// Both texts share their layout up to their first differing byte, so the order is
    /// that of the name or value holding that byte (or, where one text ends there, the
    /// shorter set first): one scan for the difference, then a walk over the lengths alone.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let (a, b) = (self.0.text(), other.0.text());
        let same = common_prefix_len(a, b);
        if same == a.len() || same == b.len() {
            return a.len().cmp(&b.len());
        }
        let mut start = 0;
        loop {
            let (Some(in_a), Some(in_b)) = (part_at(a, start), part_at(b, start)) else {
                // Not reached for texts written by `LabelsText`; pair by pair is always right.
                return self.iter().cmp(other.iter());
            };
            if in_a.end > same || in_b.end > same {
                return a[in_a].cmp(&b[in_b]);
            }
            start = in_a.end;
        }
    }
}

/// `a == b` for label names and values, with word loads instead of a `memcmp` call (whose
/// call cost dominates at the lengths they mostly have: tens of bytes).
#[inline]
fn short_bytes_equal(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let half = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().unwrap_or_default());
    match n {
        0 => true,
        // The first, middle and last byte cover every byte of one to three.
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        // Two overlapping loads cover every byte.
        4..=8 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        // Words, the last one overlapping: metric names often pass 32 bytes.
        _ => {
            let mut at = 0;
            while at + 8 < n {
                if word_at(a, at) != word_at(b, at) {
                    return false;
                }
                at += 8;
            }
            word_at(a, n - 8) == word_at(b, n - 8)
        }
    }
}

/// The eight bytes of `s` from `at` (which must leave eight), as one little-endian word:
/// the load both byte scans here compare by.
#[inline]
fn word_at(s: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(s[at..at + 8].try_into().unwrap_or_default())
}

/// Bytes `a` and `b` have in common from their start.
#[inline]
fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    let mut same = 0;
    while same + 8 <= a.len().min(b.len()) {
        let (x, y) = (word_at(a, same), word_at(b, same));
        if x != y {
            return same + ((x ^ y).trailing_zeros() / 8) as usize;
        }
        same += 8;
    }
    same + a[same..].iter().zip(&b[same..]).take_while(|(x, y)| x == y).count()
}

/// `a.cmp(b)` (byte order) for the short slices label names mostly are: word loads up to
/// the first difference instead of a `memcmp` call. Checks that a series' names ascend.
#[inline]
pub fn short_bytes_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let same = common_prefix_len(a, b);
    match (a.get(same), b.get(same)) {
        (Some(x), Some(y)) => x.cmp(y),
        _ => a.len().cmp(&b.len()),
    }
}

/// The bytes of the name or value whose length prefix starts at `start` (`None` past the
/// end or on a length running past it).
fn part_at(text: &[u8], start: usize) -> Option<std::ops::Range<usize>> {
    let mut len = 0usize;
    let mut at = start;
    for shift in (0..usize::BITS).step_by(7) {
        let byte = *text.get(at)?;
        at += 1;
        len |= usize::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            let end = at.checked_add(len).filter(|end| *end <= text.len())?;
            return Some(at..end);
        }
    }
    None
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Labels").field(&self.iter().collect::<Vec<_>>()).finish()
    }
}

/// The text of a label set being built.
#[derive(Default)]
struct LabelsText {
    bytes: Vec<u8>,
    count: u32,
}

impl LabelsText {
    fn with_capacity(bytes: usize) -> Self {
        LabelsText { bytes: Vec::with_capacity(bytes), count: 0 }
    }

    fn push(&mut self, name: &str, value: &str) {
        for part in [name, value] {
            let mut len = part.len();
            while len >= 0x80 {
                self.bytes.push((len as u8) | 0x80);
                len >>= 7;
            }
            self.bytes.push(len as u8);
            self.bytes.extend_from_slice(part.as_bytes());
        }
        self.count += 1;
    }

    fn finish(self) -> Labels {
        Labels(SharedText::new(&self.bytes, self.count))
    }
}

/// The pairs of a `Labels`, in order.
#[derive(Clone)]
pub struct LabelsIter<'a> {
    text: &'a [u8],
    left: u32,
}

impl<'a> Iterator for LabelsIter<'a> {
    type Item = LabelRef<'a>;

    fn next(&mut self) -> Option<LabelRef<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let bytes: &'a [u8] = self.text;
        let name = part_at(bytes, 0)?;
        let value = part_at(bytes, name.end)?;
        self.text = &bytes[value.end..];
        // SAFETY: the text is only written by `LabelsText::push`, which copies whole `&str`s
        // after their lengths; `part_at` reads back exactly one of them.
        let text = |range: std::ops::Range<usize>| unsafe { std::str::from_utf8_unchecked(&bytes[range]) };
        Some(LabelRef { name: text(name), value: text(value) })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

impl ExactSizeIterator for LabelsIter<'_> {}

impl<'a> IntoIterator for &'a Labels {
    type Item = LabelRef<'a>;
    type IntoIter = LabelsIter<'a>;

    fn into_iter(self) -> LabelsIter<'a> {
        self.iter()
    }
}

impl Labels {
    /// Builds a label set from any pairs: sorts, drops empty values; on duplicate names the last wins.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let mut labels: Vec<Label> = pairs.into_iter().map(|(n, v)| Label::new(n, v)).collect();
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out: Vec<Label> = Vec::with_capacity(labels.len());
        for label in labels {
            if out.last().is_some_and(|last| last.name == label.name) {
                out.pop();
            }
            out.push(label);
        }
        out.retain(|l| !l.value.is_empty());
        Labels::from_sorted(out)
    }

    /// Builds from pairs that the caller has already validated as sorted, unique and
    /// non-empty (owned `Label`s, or another set's `LabelRef`s).
    pub fn from_sorted<L: LabelPair>(labels: impl IntoIterator<Item = L>) -> Self {
        let labels = labels.into_iter();
        let mut text = LabelsText::with_capacity(labels.size_hint().0 * 24);
        let mut previous: Option<String> = None;
        for label in labels {
            debug_assert!(previous.as_deref().is_none_or(|p| p < label.name()), "labels must be sorted and unique");
            debug_assert!(!label.value().is_empty(), "labels must have non-empty values");
            if cfg!(debug_assertions) {
                previous = Some(label.name().to_string());
            }
            text.push(label.name(), label.value());
        }
        text.finish()
    }

    /// `from_sorted` for a set whose stable hash the caller already computed from the same
    /// pairs (a decoded write), so it is not hashed again when the head stores it.
    pub(crate) fn from_sorted_hashed<L: LabelPair>(labels: impl IntoIterator<Item = L>, stable_hash: u64) -> Self {
        let labels = Labels::from_sorted(labels);
        labels.0.cache_hash(stable_hash);
        debug_assert_eq!(
            stable_hash,
            stable_hash_of(labels.iter().map(|l| (l.name.as_bytes(), l.value.as_bytes()))),
            "the given hash is the set's stable hash"
        );
        labels
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        for l in self.iter() {
            match l.name.cmp(name) {
                std::cmp::Ordering::Less => continue,
                std::cmp::Ordering::Equal => return Some(l.value),
                std::cmp::Ordering::Greater => return None,
            }
        }
        None
    }

    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME_LABEL)
    }

    pub fn iter(&self) -> LabelsIter<'_> {
        LabelsIter { text: self.0.text(), left: self.0.count() }
    }

    pub fn len(&self) -> usize {
        self.0.count() as usize
    }

    pub fn is_empty(&self) -> bool {
        self.0.count() == 0
    }

    /// The pairs as owned `Label`s.
    pub fn to_vec(&self) -> Vec<Label> {
        self.iter().map(LabelRef::to_label).collect()
    }

    /// Asks the CPU to start loading this set's shared block, its text's start included (a
    /// hint for the write path's lookups, which compare a series' labels a little later;
    /// see `tsdb::prefetch`).
    #[inline]
    pub fn prefetch(&self) {
        crate::prefetch::prefetch(self.0.as_ptr());
    }

    /// True when both are the same shared label set (a pointer comparison; equal label sets
    /// built separately are not `ptr_eq`).
    pub fn ptr_eq(&self, other: &Labels) -> bool {
        self.0.as_ptr() == other.0.as_ptr()
    }

    /// True when this set is exactly the sorted `(name, value)` byte pairs (`count` of them).
    /// The write path's series lookup: it walks the packed text once and compares each name
    /// and value with `short_bytes_equal`, not through a `memcmp` call per part (a profile of
    /// 100k-series writes had 16% of the server's time in those calls).
    pub fn equals_pairs<'a>(&self, count: usize, pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> bool {
        if self.len() != count {
            return false;
        }
        let text = self.0.text();
        let mut at = 0;
        for (name, value) in pairs {
            for part in [name, value] {
                let Some(stored) = part_at(text, at) else { return false };
                if !short_bytes_equal(&text[stored.clone()], part) {
                    return false;
                }
                at = stored.end;
            }
        }
        at == text.len()
    }

    /// Stable 64-bit hash of the sorted label set (xxh3 over `name 0xff value 0xff ...`).
    /// It is persisted implicitly through shard placement, so it must never change.
    pub fn stable_hash(&self) -> u64 {
        if let Some(hash) = self.0.cached_hash() {
            return hash;
        }
        let hash = stable_hash_of(self.iter().map(|l| (l.name.as_bytes(), l.value.as_bytes())));
        self.0.cache_hash(hash);
        hash
    }
}

/// The stable routing hash over already-sorted `(name, value)` byte pairs, so that
/// decoders can route a series before building a `Labels`.
pub fn stable_hash_of<'a>(sorted_pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> u64 {
    // Typical label sets fit the stack buffer and get one-shot xxh3 (several times faster
    // than four small streaming updates per label); longer ones continue streaming. xxh3
    // defines both to give the same hash for the same bytes.
    let mut buffer = [0u8; STABLE_HASH_BUFFER_BYTES];
    let mut len = 0;
    let mut streaming: Option<xxhash_rust::xxh3::Xxh3> = None;
    for (name, value) in sorted_pairs {
        if streaming.is_none() && len + name.len() + value.len() + 2 <= buffer.len() {
            for part in [name, &[0xff], value, &[0xff]] {
                buffer[len..len + part.len()].copy_from_slice(part);
                len += part.len();
            }
            continue;
        }
        let hasher = streaming.get_or_insert_with(|| {
            let mut hasher = xxhash_rust::xxh3::Xxh3::new();
            hasher.update(&buffer[..len]);
            hasher
        });
        hasher.update(name);
        hasher.update(&[0xff]);
        hasher.update(value);
        hasher.update(&[0xff]);
    }
    match streaming {
        Some(hasher) => hasher.digest(),
        None => xxhash_rust::xxh3::xxh3_64(&buffer[..len]),
    }
}

/// Label text up to this size is hashed in one shot from a stack copy.
const STABLE_HASH_BUFFER_BYTES: usize = 512;

impl fmt::Display for Labels {
    /// PromQL notation: `name{a="b", c="d"}`; as Prometheus 3 writes UTF-8 names, a metric
    /// name outside `[a-zA-Z_:][a-zA-Z0-9_:]*` goes quoted first inside the braces
    /// (`{"my.metric", a="b"}`) and a label name outside `[a-zA-Z_][a-zA-Z0-9_]*` is quoted
    /// (`"http.route"="/a"`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name();
        let plain_name = name.filter(|n| is_legacy_metric_name(n));
        if let Some(name) = plain_name {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        if let Some(name) = name.filter(|_| plain_name.is_none()) {
            write!(f, "{name:?}")?;
            first = false;
        }
        for label in self.iter().filter(|l| l.name != METRIC_NAME_LABEL) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            if is_legacy_label_name(label.name) {
                write!(f, "{}={:?}", label.name, label.value)?;
            } else {
                write!(f, "{:?}={:?}", label.name, label.value)?;
            }
        }
        f.write_str("}")
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`: a metric name Prometheus' legacy scheme allows, which the text
/// formats and PromQL write without quotes.
pub fn is_legacy_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':') && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`: a label name Prometheus' legacy scheme allows, written without
/// quotes.
pub fn is_legacy_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_') && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests;
