//! Limits on one series' labels, shared by every ingestion path (remote_write 1.0 and 2.0
//! over HTTP and gRPC, JSON-lines and text-format import): a series past them is refused
//! with a 400 naming the limit, before anything of its request is stored. Without them a
//! single series with 100,000 labels or a 1 MiB value was accepted and indexed.

/// Most labels one series may have, `__name__` included (VictoriaMetrics' default
/// `-maxLabelsPerTimeseries` is 30 and Mimir's `max_label_names_per_series` 30; exporters
/// stay far below this).
pub const LABELS_PER_SERIES_MAX: usize = 128;
/// Longest label name in bytes.
pub const LABEL_NAME_BYTES_MAX: usize = 1024;
/// Longest label value in bytes (VictoriaMetrics' default `-maxLabelValueLen`).
pub const LABEL_VALUE_BYTES_MAX: usize = 16 * 1024;

/// Characters of a name shown when it is the problem.
const NAME_SHOWN_CHARS_MAX: usize = 64;

/// The limits in force (`storage.max_labels_per_series`, `storage.max_label_name_bytes`,
/// `storage.max_label_value_bytes`); 0 turns one off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelLimits {
    pub labels_per_series: usize,
    pub name_bytes: usize,
    pub value_bytes: usize,
}

impl Default for LabelLimits {
    fn default() -> Self {
        LabelLimits { labels_per_series: LABELS_PER_SERIES_MAX, name_bytes: LABEL_NAME_BYTES_MAX, value_bytes: LABEL_VALUE_BYTES_MAX }
    }
}

/// True when `len` passes `limit` (0: no limit).
fn over(len: usize, limit: usize) -> bool {
    limit > 0 && len > limit
}

/// The first limit `pairs` (name, value) break, as words for an error message that names
/// the setting; `None` when the series is within every limit.
pub fn problem<'a>(limits: &LabelLimits, pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Option<String> {
    for (index, (name, value)) in pairs.enumerate() {
        if over(index + 1, limits.labels_per_series) {
            return Some(format!("more than {} labels (storage.max_labels_per_series)", limits.labels_per_series));
        }
        if over(name.len(), limits.name_bytes) {
            return Some(format!("a label name of {} bytes (storage.max_label_name_bytes: {})", name.len(), limits.name_bytes));
        }
        if over(value.len(), limits.value_bytes) {
            let shown: String = String::from_utf8_lossy(name).chars().take(NAME_SHOWN_CHARS_MAX).collect();
            return Some(format!(
                "the value of label {shown:?} has {} bytes (storage.max_label_value_bytes: {})",
                value.len(),
                limits.value_bytes
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pairs: &[(String, String)]) -> Option<String> {
        problem(&LabelLimits::default(), pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
    }

    #[test]
    fn each_limit_is_inclusive_and_named_when_passed() {
        let labels = |count: usize| -> Vec<(String, String)> { (0..count).map(|i| (format!("l{i:03}"), "v".to_string())).collect() };
        assert_eq!(check(&labels(LABELS_PER_SERIES_MAX)), None);
        assert_eq!(check(&labels(LABELS_PER_SERIES_MAX + 1)).as_deref(), Some("more than 128 labels (storage.max_labels_per_series)"));
        let name = |len: usize| vec![("n".repeat(len), "v".to_string())];
        assert_eq!(check(&name(LABEL_NAME_BYTES_MAX)), None);
        assert_eq!(check(&name(LABEL_NAME_BYTES_MAX + 1)).as_deref(), Some("a label name of 1025 bytes (storage.max_label_name_bytes: 1024)"));
        let value = |len: usize| vec![("job".to_string(), "x".repeat(len))];
        assert_eq!(check(&value(LABEL_VALUE_BYTES_MAX)), None);
        assert_eq!(
            check(&value(LABEL_VALUE_BYTES_MAX + 1)).as_deref(),
            Some("the value of label \"job\" has 16385 bytes (storage.max_label_value_bytes: 16384)")
        );
    }

    #[test]
    fn configured_limits_apply_and_zero_turns_one_off() {
        let three = LabelLimits { labels_per_series: 3, name_bytes: 4, value_bytes: 0 };
        let pairs = |n: usize, name: &str, value: &str| -> Vec<(String, String)> {
            (0..n).map(|i| (format!("{name}{i}"), value.to_string())).collect()
        };
        let check = |limits: &LabelLimits, pairs: &[(String, String)]| problem(limits, pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
        assert_eq!(check(&three, &pairs(3, "a", "v")), None);
        assert_eq!(check(&three, &pairs(4, "a", "v")).as_deref(), Some("more than 3 labels (storage.max_labels_per_series)"));
        assert!(check(&three, &pairs(1, "long", "v")).is_some_and(|p| p.contains("max_label_name_bytes: 4")));
        assert_eq!(check(&three, &pairs(1, "a", &"x".repeat(1 << 20))), None, "a value limit of 0 is no limit");
        let unlimited = LabelLimits { labels_per_series: 0, name_bytes: 0, value_bytes: 0 };
        assert_eq!(check(&unlimited, &pairs(1000, "name_longer_than_four", "v")), None);
    }
}
