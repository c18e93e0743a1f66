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

/// The first limit `pairs` (name, value) break, as words for an error message; `None` when
/// the series is within every limit.
pub fn problem<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Option<String> {
    for (index, (name, value)) in pairs.enumerate() {
        if index == LABELS_PER_SERIES_MAX {
            return Some(format!("more than {LABELS_PER_SERIES_MAX} labels"));
        }
        if name.len() > LABEL_NAME_BYTES_MAX {
            return Some(format!("a label name of {} bytes (at most {LABEL_NAME_BYTES_MAX})", name.len()));
        }
        if value.len() > LABEL_VALUE_BYTES_MAX {
            let shown: String = String::from_utf8_lossy(name).chars().take(NAME_SHOWN_CHARS_MAX).collect();
            return Some(format!("the value of label {shown:?} has {} bytes (at most {LABEL_VALUE_BYTES_MAX})", value.len()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pairs: &[(String, String)]) -> Option<String> {
        problem(pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
    }

    #[test]
    fn each_limit_is_inclusive_and_named_when_passed() {
        let labels = |count: usize| -> Vec<(String, String)> { (0..count).map(|i| (format!("l{i:03}"), "v".to_string())).collect() };
        assert_eq!(check(&labels(LABELS_PER_SERIES_MAX)), None);
        assert_eq!(check(&labels(LABELS_PER_SERIES_MAX + 1)).as_deref(), Some("more than 128 labels"));
        let name = |len: usize| vec![("n".repeat(len), "v".to_string())];
        assert_eq!(check(&name(LABEL_NAME_BYTES_MAX)), None);
        assert_eq!(check(&name(LABEL_NAME_BYTES_MAX + 1)).as_deref(), Some("a label name of 1025 bytes (at most 1024)"));
        let value = |len: usize| vec![("job".to_string(), "x".repeat(len))];
        assert_eq!(check(&value(LABEL_VALUE_BYTES_MAX)), None);
        assert_eq!(
            check(&value(LABEL_VALUE_BYTES_MAX + 1)).as_deref(),
            Some("the value of label \"job\" has 16385 bytes (at most 16384)")
        );
    }
}
