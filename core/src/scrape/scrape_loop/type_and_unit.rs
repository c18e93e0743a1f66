//! `storage.type_and_unit_labels` on scrapes: the `__type__` and `__unit__` labels a series
//! takes from its family's `# TYPE` and `# UNIT` lines, as Prometheus 3's parsers add them
//! under `type-and-unit-labels` (an exposed label of either name gives way to metadata).

use tsdb::{Labels, METRIC_NAME_LABEL, METRIC_TYPE_LABEL, METRIC_UNIT_LABEL};

use super::answer::Format;
use super::metadata::{comment_parts, prometheus_type, type_comment};

/// The metadata lines read so far that a series line may take its labels from: the family
/// named by the last `# TYPE` line with its type (`None`: untyped or unknown), and the
/// family named by the last `# UNIT` line with its unit.
#[derive(Debug, Default)]
pub(super) struct FamilyContext {
    typed: Option<(String, Option<String>)>,
    unit: Option<(String, String)>,
}

impl FamilyContext {
    /// Takes in a `# TYPE` or (OpenMetrics) `# UNIT` comment line, `keyword` as
    /// `comment_keyword` found it.
    pub(super) fn read_comment(&mut self, line: &str, keyword: &str, format: Format) {
        match keyword {
            "TYPE" => {
                if let Some((family, kind)) = type_comment(line) {
                    // `__type__` has no `unknown`: an untyped family gets none.
                    let kind = prometheus_type(kind, format).filter(|k| *k != "unknown");
                    self.typed = Some((family.into_owned(), kind.map(str::to_string)));
                }
            }
            "UNIT" => {
                if let Some((family, unit)) = comment_parts(line, keyword) {
                    self.unit = Some((family.into_owned(), unit.to_string()));
                }
            }
            _ => {}
        }
    }

    /// Appends what a series' labels depend on here to `key` (the series cache's key, so a
    /// family whose type or unit changes gets its series' labels worked out again).
    pub(super) fn push_key(&self, key: &mut String) {
        if let Some((family, kind)) = &self.typed {
            key.push_str(family);
            key.push('\u{2}');
            key.push_str(kind.as_deref().unwrap_or(""));
        }
        key.push('\u{2}');
        if let Some((family, unit)) = &self.unit {
            key.push_str(family);
            key.push('\u{2}');
            key.push_str(unit);
        }
        key.push('\u{2}');
    }

    /// The exposed labels of a series line with the type and unit of the family its name
    /// belongs to: the family itself or one of its type's suffixes (`_total`, `_bucket`, …).
    /// Prometheus gives every line the last `# TYPE`, whichever family it named; a series of
    /// another family gets none here.
    pub(super) fn label(&self, exposed: Labels) -> Labels {
        let name = exposed.get(METRIC_NAME_LABEL).unwrap_or("");
        let typed = self.typed.as_ref().filter(|(family, kind)| belongs(name, family, kind.as_deref()));
        let kind = typed.and_then(|(_, kind)| kind.as_deref());
        let unit = self.unit.as_ref().filter(|(family, _)| {
            // The type known for the unit's family decides its suffixes.
            let kind = self.typed.as_ref().filter(|(f, _)| f == family).and_then(|(_, k)| k.as_deref());
            belongs(name, family, kind)
        });
        with_type_and_unit(exposed, kind, unit.map(|(_, unit)| unit.as_str()))
    }
}

/// Whether a series named `name` is of `family`, of type `kind` (`None`: unknown, when any
/// type's suffix will do).
fn belongs(name: &str, family: &str, kind: Option<&str>) -> bool {
    let Some(rest) = name.strip_prefix(family) else { return false };
    let suffixes: &[&str] = match kind {
        Some("counter") => &["_total", "_created"],
        Some("histogram" | "gaugehistogram") => &["_bucket", "_count", "_sum", "_created", "_gcount", "_gsum"],
        Some("summary") => &["_count", "_sum", "_created"],
        Some("info") => &["_info"],
        Some(_) => &[],
        None => &["_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info"],
    };
    rest.is_empty() || suffixes.contains(&rest)
}

/// `labels` with `__type__` set to `kind` and `__unit__` to `unit` where they are given (not
/// empty): an exposed label of that name is replaced; without metadata it stays as exposed.
pub(super) fn with_type_and_unit(labels: Labels, kind: Option<&str>, unit: Option<&str>) -> Labels {
    let (kind, unit) = (kind.filter(|k| !k.is_empty()), unit.filter(|u| !u.is_empty()));
    if kind.is_none() && unit.is_none() {
        return labels;
    }
    let mut pairs: Vec<(String, String)> = labels
        .iter()
        .filter(|l| !((l.name == METRIC_TYPE_LABEL && kind.is_some()) || (l.name == METRIC_UNIT_LABEL && unit.is_some())))
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect();
    pairs.extend(kind.map(|k| (METRIC_TYPE_LABEL.to_string(), k.to_string())));
    pairs.extend(unit.map(|u| (METRIC_UNIT_LABEL.to_string(), u.to_string())));
    Labels::from_pairs(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(text: &str) -> Labels {
        crate::ingest::text_format::parse_line(&format!("{text} 1"), 1, 0, &Default::default()).unwrap().unwrap().0
    }

    #[test]
    fn series_take_the_type_and_unit_of_their_own_family() {
        let mut context = FamilyContext::default();
        context.read_comment("# UNIT req_seconds seconds", "UNIT", Format::OpenMetrics);
        context.read_comment("# TYPE req_seconds histogram", "TYPE", Format::OpenMetrics);
        let got = |context: &FamilyContext, text: &str| context.label(labels(text)).to_string();
        assert_eq!(got(&context, r#"req_seconds_bucket{le="1"}"#), r#"req_seconds_bucket{__type__="histogram", __unit__="seconds", le="1"}"#);
        assert_eq!(got(&context, "req_seconds_count"), r#"req_seconds_count{__type__="histogram", __unit__="seconds"}"#);
        // A series of another family (no `# TYPE` of its own), or a suffix the type lacks.
        assert_eq!(got(&context, "other"), "other{}");
        assert_eq!(got(&context, "req_seconds_total"), "req_seconds_total{}");
        // Exposed metadata labels give way to the family's, or stay where it has none.
        assert_eq!(got(&context, r#"req_seconds_sum{__type__="gauge", __unit__="x"}"#), r#"req_seconds_sum{__type__="histogram", __unit__="seconds"}"#);
        context.read_comment("# TYPE up untyped", "TYPE", Format::Text);
        assert_eq!(got(&context, r#"up{__type__="gauge"}"#), r#"up{__type__="gauge"}"#);
        // A type the text format does not have is none.
        context.read_comment("# TYPE s stateset", "TYPE", Format::Text);
        assert_eq!(got(&context, "s"), "s{}");
        context.read_comment("# TYPE s stateset", "TYPE", Format::OpenMetrics);
        assert_eq!(got(&context, "s"), r#"s{__type__="stateset"}"#);
    }

    #[test]
    fn the_cache_key_changes_with_the_family_metadata() {
        let mut context = FamilyContext::default();
        let key = |context: &FamilyContext| {
            let mut key = String::new();
            context.push_key(&mut key);
            key
        };
        let empty = key(&context);
        context.read_comment("# TYPE a counter", "TYPE", Format::Text);
        let counter = key(&context);
        context.read_comment("# TYPE a gauge", "TYPE", Format::Text);
        let gauge = key(&context);
        context.read_comment("# UNIT a seconds", "UNIT", Format::OpenMetrics);
        assert!(empty != counter && counter != gauge && gauge != key(&context));
    }
}
