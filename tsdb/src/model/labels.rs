//! Label sets: sorted, unique-by-name lists of `name=value` pairs, with the stable
//! hash that routes a series to its shard.

use std::fmt;
use std::sync::{Arc, OnceLock};

/// The label that holds the metric name.
pub const METRIC_NAME_LABEL: &str = "__name__";

/// One `name="value"` pair.
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

/// A label set. Invariant: sorted by name, names unique, no empty values
/// (a label with an empty value is the same as an absent label). Immutable and shared:
/// cloning is a reference-count increment, which matters because query evaluation passes
/// the same label sets along at every step. The routing hash is computed once and kept.
#[derive(Clone, Default)]
pub struct Labels(Arc<LabelsInner>);

#[derive(Default)]
struct LabelsInner {
    labels: Vec<Label>,
    stable_hash: OnceLock<u64>,
}

impl PartialEq for Labels {
    fn eq(&self, other: &Self) -> bool {
        self.0.labels == other.0.labels
    }
}

impl Eq for Labels {}

impl std::hash::Hash for Labels {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.labels.hash(state);
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Labels {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.labels.cmp(&other.0.labels)
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Labels").field(&self.0.labels).finish()
    }
}

fn shared(labels: Vec<Label>) -> Labels {
    Labels(Arc::new(LabelsInner { labels, stable_hash: OnceLock::new() }))
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
        shared(out)
    }

    /// Wraps labels that the caller has already validated as sorted, unique and non-empty.
    pub fn from_sorted(labels: Vec<Label>) -> Self {
        debug_assert!(
            labels.windows(2).all(|w| w[0].name < w[1].name),
            "labels must be sorted and unique"
        );
        debug_assert!(
            labels.iter().all(|l| !l.value.is_empty()),
            "labels must have non-empty values"
        );
        shared(labels)
    }

    /// `from_sorted` for a set whose stable hash the caller already computed from the same
    /// pairs (a decoded write), so it is not hashed again when the head stores it.
    pub(crate) fn from_sorted_hashed(labels: Vec<Label>, stable_hash: u64) -> Self {
        let labels = Labels::from_sorted(labels);
        let _ = labels.0.stable_hash.set(stable_hash);
        debug_assert_eq!(
            stable_hash,
            stable_hash_of(labels.iter().map(|l| (l.name.as_bytes(), l.value.as_bytes()))),
            "the given hash is the set's stable hash"
        );
        labels
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .labels
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0.labels[i].value.as_str())
    }

    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME_LABEL)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.labels.iter()
    }

    pub fn len(&self) -> usize {
        self.0.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.labels.is_empty()
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0.labels
    }

    pub fn into_vec(self) -> Vec<Label> {
        match Arc::try_unwrap(self.0) {
            Ok(inner) => inner.labels,
            Err(shared) => shared.labels.clone(),
        }
    }

    /// True when both are the same shared label set (a pointer comparison; equal label sets
    /// built separately are not `ptr_eq`).
    pub fn ptr_eq(&self, other: &Labels) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// True when this set is exactly the sorted `(name, value)` byte pairs (`count` of them).
    pub fn equals_pairs<'a>(&self, count: usize, mut pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> bool {
        self.len() == count && self.iter().all(|l| pairs.next().is_some_and(|(n, v)| l.name.as_bytes() == n && l.value.as_bytes() == v))
    }

    /// Stable 64-bit hash of the sorted label set (xxh3 over `name 0xff value 0xff ...`).
    /// It is persisted implicitly through shard placement, so it must never change.
    pub fn stable_hash(&self) -> u64 {
        *self.0.stable_hash.get_or_init(|| stable_hash_of(self.0.labels.iter().map(|l| (l.name.as_bytes(), l.value.as_bytes()))))
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
    /// Prometheus notation: `name{a="b", c="d"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for label in self.0.labels.iter().filter(|l| l.name != METRIC_NAME_LABEL) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}={:?}", label.name, label.value)?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_pairs_sorts_and_drops_empty() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("c", "")]);
        assert_eq!(l.len(), 2);
        assert_eq!(l.as_slice()[0].name, "a");
        assert_eq!(l.get("b"), Some("2"));
        assert_eq!(l.get("c"), None);
    }

    #[test]
    fn stable_hash_is_order_independent_of_input_and_fixed() {
        let a = Labels::from_pairs([("__name__", "up"), ("job", "x")]);
        let b = Labels::from_pairs([("job", "x"), ("__name__", "up")]);
        assert_eq!(a.stable_hash(), b.stable_hash());
        // Pinned value: routing must never change between versions.
        assert_eq!(
            a.stable_hash(),
            stable_hash_of([(&b"__name__"[..], &b"up"[..]), (&b"job"[..], &b"x"[..])].into_iter())
        );
        assert_ne!(
            a.stable_hash(),
            Labels::from_pairs([("__name__", "upjob"), ("x", "")]).stable_hash()
        );
    }

    #[test]
    fn long_label_sets_hash_as_the_streaming_definition() {
        let streaming = |pairs: &[(String, String)]| {
            let mut hasher = xxhash_rust::xxh3::Xxh3::new();
            for (n, v) in pairs {
                for part in [n.as_bytes(), &[0xff], v.as_bytes(), &[0xff]] {
                    hasher.update(part);
                }
            }
            hasher.digest()
        };
        // Around and past the one-shot buffer: the switch to streaming at every point.
        for value_len in [0, 1, 200, 497, 498, 499, 500, 510, 511, 1000, 5000] {
            let pairs = vec![("__name__".to_string(), "up".to_string()), ("a".to_string(), "x".repeat(value_len)), ("b".to_string(), "y".repeat(value_len / 2))];
            let labels = Labels::from_pairs(pairs.clone());
            let kept: Vec<(String, String)> = pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
            assert_eq!(labels.stable_hash(), streaming(&kept), "value length {value_len}");
        }
    }

    #[test]
    fn display_is_prometheus_notation() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a\"b")]);
        assert_eq!(l.to_string(), "up{job=\"a\\\"b\"}");
    }
}
