//! `otlp:`: how OpenTelemetry metrics are named and labeled as Prometheus series
//! (translation strategy, resource attributes promoted or kept, delta temporality).

use serde::{Deserialize, Serialize};

use super::{value_error, ConfigError};

/// How OTLP metrics are translated beyond Prometheus 3.x's defaults; the options are
/// Prometheus' `otlp:` ones, with its defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpConfig {
    /// Resource attributes that become labels on every series of their resource (names
    /// sanitized as label names; a data point attribute of the same name wins).
    pub promote_resource_attributes: Vec<String>,
    /// Every resource attribute becomes a label, except `ignore_resource_attributes`.
    pub promote_all_resource_attributes: bool,
    /// With `promote_all_resource_attributes`: the attributes not promoted.
    pub ignore_resource_attributes: Vec<String>,
    /// `service.name`, `service.namespace` and `service.instance.id` are labels on
    /// `target_info` too, beside the `job` and `instance` made of them.
    pub keep_identifying_resource_attributes: bool,
    /// Series get `otel_scope_name`, `otel_scope_version`, `otel_scope_schema_url` and an
    /// `otel_scope_<attribute>` label per scope attribute.
    pub promote_scope_metadata: bool,
    /// Delta sums and histograms are stored as sent, each point its interval's increase
    /// (Prometheus 3.x's `--enable-feature=otlp-native-delta-ingestion`): query them with
    /// `sum_over_time`, not `rate`. Off: they are refused, as Prometheus refuses them.
    pub native_delta_ingestion: bool,
    /// Delta sums and histograms become cumulative counters and histograms, each stream's
    /// points added up in memory as OpenTelemetry's deltatocumulative processor does
    /// (Prometheus 3.x's `--enable-feature=otlp-deltatocumulative`): `rate` reads them.
    /// Cannot be set with `native_delta_ingestion`.
    pub delta_to_cumulative: bool,
    /// Most delta streams `delta_to_cumulative` tracks; points of new streams past it are
    /// dropped (counted in `metricstor_otlp_delta_points_dropped_total`) until one goes stale.
    pub delta_to_cumulative_max_streams: usize,
    /// A delta stream not seen for this long is forgotten (its next point starts it again).
    pub delta_to_cumulative_max_stale_seconds: u64,
    /// How metric and label names are translated: `UnderscoreEscapingWithSuffixes` (the
    /// default), `UnderscoreEscapingWithoutSuffixes`, `NoUTF8EscapingWithSuffixes` (UTF-8
    /// names as sent, with suffixes) or `NoTranslation` (names as sent).
    pub translation_strategy: String,
    /// Escaped label names: a single leading `_` gets `key` (`_x` → `key_x`).
    pub label_name_underscore_sanitization: bool,
    /// Escaped label names keep runs of `_` (else each run becomes one `_`).
    pub label_name_preserve_multiple_underscores: bool,
    /// Explicit-bucket histograms are stored as native histograms with custom buckets, one
    /// series each, instead of `_bucket`/`_count`/`_sum` series.
    pub convert_histograms_to_nhcb: bool,
}

impl Default for OtlpConfig {
    /// Prometheus' defaults.
    fn default() -> Self {
        OtlpConfig {
            promote_resource_attributes: Vec::new(),
            promote_all_resource_attributes: false,
            ignore_resource_attributes: Vec::new(),
            keep_identifying_resource_attributes: false,
            promote_scope_metadata: false,
            native_delta_ingestion: false,
            delta_to_cumulative: false,
            delta_to_cumulative_max_streams: crate::ingest::otlp::delta_to_cumulative::MAX_STREAMS_DEFAULT,
            delta_to_cumulative_max_stale_seconds: crate::ingest::otlp::delta_to_cumulative::MAX_STALE_SECONDS_DEFAULT,
            translation_strategy: "UnderscoreEscapingWithSuffixes".into(),
            label_name_underscore_sanitization: true,
            label_name_preserve_multiple_underscores: true,
            convert_histograms_to_nhcb: false,
        }
    }
}

impl OtlpConfig {
    /// The translation settings (attribute names trimmed, as Prometheus reads them).
    pub fn translation_options(&self) -> crate::ingest::otlp::TranslationOptions {
        use crate::ingest::otlp::ResourcePromotion;
        let names = |list: &[String]| list.iter().map(|name| name.trim().to_string()).collect();
        let promotion = if self.promote_all_resource_attributes {
            ResourcePromotion::AllExcept(names(&self.ignore_resource_attributes))
        } else {
            ResourcePromotion::Only(names(&self.promote_resource_attributes))
        };
        crate::ingest::otlp::TranslationOptions {
            promotion,
            keep_identifying_resource_attributes: self.keep_identifying_resource_attributes,
            promote_scope_metadata: self.promote_scope_metadata,
            native_delta_ingestion: self.native_delta_ingestion,
            naming: crate::ingest::otlp::Naming {
                // `validate` refuses an unknown name.
                strategy: crate::ingest::otlp::TranslationStrategy::named(&self.translation_strategy).unwrap_or_default(),
                underscore_label_sanitization: self.label_name_underscore_sanitization,
                preserve_multiple_underscores: self.label_name_preserve_multiple_underscores,
            },
            convert_histograms_to_nhcb: self.convert_histograms_to_nhcb,
        }
    }

    /// The bounds of `delta_to_cumulative`'s state; `None` when it is off.
    pub fn delta_to_cumulative_limits(&self) -> Option<crate::ingest::otlp::delta_to_cumulative::DeltaLimits> {
        self.delta_to_cumulative.then(|| crate::ingest::otlp::delta_to_cumulative::DeltaLimits {
            max_streams: self.delta_to_cumulative_max_streams,
            max_stale: std::time::Duration::from_secs(self.delta_to_cumulative_max_stale_seconds),
        })
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.delta_to_cumulative && self.native_delta_ingestion {
            return value_error(
                "otlp.delta_to_cumulative",
                "cannot be set together with otlp.native_delta_ingestion (delta points are either made cumulative or stored as sent; Prometheus refuses both features together)",
            );
        }
        if self.delta_to_cumulative_max_streams == 0 {
            return value_error("otlp.delta_to_cumulative_max_streams", "must be at least 1");
        }
        if self.delta_to_cumulative_max_stale_seconds == 0 {
            return value_error("otlp.delta_to_cumulative_max_stale_seconds", "must be at least 1 (the processor's max_stale must be positive)");
        }
        if crate::ingest::otlp::TranslationStrategy::named(&self.translation_strategy).is_none() {
            let known: Vec<&str> = crate::ingest::otlp::TranslationStrategy::ALL.iter().map(|(name, _)| *name).collect();
            return value_error("otlp.translation_strategy", &format!("unknown strategy {:?}, expected one of {}", self.translation_strategy, known.join(", ")));
        }
        if self.promote_all_resource_attributes {
            if !self.promote_resource_attributes.is_empty() {
                return value_error(
                    "otlp.promote_resource_attributes",
                    "cannot be set together with otlp.promote_all_resource_attributes (promote all except otlp.ignore_resource_attributes, or only the listed ones)",
                );
            }
            attribute_names("otlp.ignore_resource_attributes", &self.ignore_resource_attributes)
        } else {
            if !self.ignore_resource_attributes.is_empty() {
                return value_error("otlp.ignore_resource_attributes", "is only read with otlp.promote_all_resource_attributes: true (it names the attributes not promoted then)");
            }
            attribute_names("otlp.promote_resource_attributes", &self.promote_resource_attributes)
        }
    }
}

/// A list of resource attribute names: none empty (after trimming spaces), none twice.
fn attribute_names(key: &'static str, names: &[String]) -> Result<(), ConfigError> {
    let mut seen = std::collections::HashSet::new();
    for name in names.iter().map(|name| name.trim()) {
        if name.is_empty() {
            return value_error(key, "has an empty attribute name");
        }
        if !seen.insert(name) {
            return value_error(key, &format!("lists the attribute {name:?} twice"));
        }
    }
    Ok(())
}
