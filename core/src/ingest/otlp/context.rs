//! The labels a data point's context adds to its series, as Prometheus 3.x computes them once
//! per resource and per scope: the resource's `job`/`instance` (from its service attributes)
//! and promoted attributes (`otlp.promote_resource_attributes` or
//! `otlp.promote_all_resource_attributes`), and with `otlp.promote_scope_metadata` the
//! scope's `otel_scope_*` labels.

use std::collections::{BTreeMap, BTreeSet};

use proto::otlp_metrics::{KeyValue, ScopeMetrics};

use super::naming::{value_text, Naming};
use super::warnings::{AttributeSource, Warnings};

pub(super) const SERVICE_NAME: &str = "service.name";
pub(super) const SERVICE_NAMESPACE: &str = "service.namespace";
pub(super) const SERVICE_INSTANCE_ID: &str = "service.instance.id";
/// The resource attributes `job` and `instance` are made of.
pub(super) const IDENTIFYING_ATTRIBUTES: [&str; 3] = [SERVICE_NAMESPACE, SERVICE_NAME, SERVICE_INSTANCE_ID];

/// A label set being built (sorted by name, as Prometheus orders labels; never an empty
/// value).
pub(super) type LabelMap = BTreeMap<String, String>;

/// Which resource attributes become labels on every series of their resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResourcePromotion {
    /// Those named (none by default).
    Only(BTreeSet<String>),
    /// All but those named.
    AllExcept(BTreeSet<String>),
}

impl ResourcePromotion {
    fn promotes(&self, key: &str) -> bool {
        match self {
            ResourcePromotion::Only(names) => names.contains(key),
            ResourcePromotion::AllExcept(names) => !names.contains(key),
        }
    }
}

/// How OTLP metrics are translated beyond Prometheus' defaults (the config's `otlp:`
/// section, `OtlpConfig::translation_options`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranslationOptions {
    pub promotion: ResourcePromotion,
    /// `service.*` identifying attributes kept as labels on `target_info`.
    pub keep_identifying_resource_attributes: bool,
    /// `otel_scope_*` labels on every series of a named scope.
    pub promote_scope_metadata: bool,
    /// Delta sums and histograms stored as sent (Prometheus' `otlp-native-delta-ingestion`);
    /// otherwise they are refused.
    pub native_delta_ingestion: bool,
    /// How metric and attribute names are translated.
    pub naming: Naming,
    /// Explicit-bucket histograms stored as native histograms with custom buckets (one
    /// series each) instead of classic `_bucket`/`_count`/`_sum` series.
    pub convert_histograms_to_nhcb: bool,
}

impl Default for TranslationOptions {
    fn default() -> Self {
        TranslationOptions {
            promotion: ResourcePromotion::Only(BTreeSet::new()),
            keep_identifying_resource_attributes: false,
            promote_scope_metadata: false,
            native_delta_ingestion: false,
            naming: Naming::default(),
            convert_histograms_to_nhcb: false,
        }
    }
}

/// Sets `name` as Prometheus' label builder does: an empty value removes the label.
pub(super) fn set_label(labels: &mut LabelMap, name: String, value: String) {
    if value.is_empty() {
        labels.remove(&name);
    } else {
        labels.insert(name, value);
    }
}

/// What a resource gives every series of its data points.
pub(super) struct ResourceLabels {
    pub job: String,
    pub instance: String,
    /// Promoted attributes, names sanitized (of names that collide, the last attribute wins).
    pub promoted: LabelMap,
}

impl ResourceLabels {
    /// `job` (`service.namespace/service.name`), `instance` (`service.instance.id`) and the
    /// promoted attributes, or why an attribute to promote has no label name.
    pub fn of(attributes: &[KeyValue], promotion: &ResourcePromotion, naming: &Naming) -> Result<ResourceLabels, String> {
        let get = |key: &str| attributes.iter().find(|kv| kv.key == key).map(|kv| value_text(kv.value.as_ref()));
        let job = match (get(SERVICE_NAME), get(SERVICE_NAMESPACE)) {
            (Some(name), Some(namespace)) => format!("{namespace}/{name}"),
            (Some(name), None) => name,
            (None, _) => String::new(),
        };
        let mut promoted = LabelMap::new();
        for kv in attributes.iter().filter(|kv| promotion.promotes(&kv.key)) {
            let name = naming.label_name(&kv.key).map_err(|e| format!("promoted attribute {:?}: {e}", kv.key))?;
            set_label(&mut promoted, name, value_text(kv.value.as_ref()));
        }
        Ok(ResourceLabels { job, instance: get(SERVICE_INSTANCE_ID).unwrap_or_default(), promoted })
    }

    /// `job` and `instance` alone: `target_info` carries the resource's attributes already.
    pub fn identity_only(&self) -> ResourceLabels {
        ResourceLabels { job: self.job.clone(), instance: self.instance.clone(), promoted: LabelMap::new() }
    }
}

/// What a named scope gives every series of its metrics with `otlp.promote_scope_metadata`.
pub(super) struct ScopeLabels {
    /// `otel_scope_<attribute>`, names sanitized (of names that collide, the last wins).
    attributes: LabelMap,
    name: String,
    version: String,
    schema_url: String,
}

impl ScopeLabels {
    /// `None` when promotion is off or the scope has no name (as Prometheus); an error when
    /// an attribute has no label name.
    pub fn of(scope_metrics: &ScopeMetrics, promote: bool, naming: &Naming) -> Result<Option<ScopeLabels>, String> {
        let Some(scope) = scope_metrics.scope.as_ref().filter(|s| promote && !s.name.is_empty()) else {
            return Ok(None);
        };
        let mut attributes = LabelMap::new();
        for kv in &scope.attributes {
            let name = naming.label_name(&format!("otel_scope_{}", kv.key)).map_err(|e| format!("scope attribute {:?}: {e}", kv.key))?;
            set_label(&mut attributes, name, value_text(kv.value.as_ref()));
        }
        Ok(Some(ScopeLabels { attributes, name: scope.name.clone(), version: scope.version.clone(), schema_url: scope_metrics.schema_url.clone() }))
    }
}

/// The labels of a data point's series before `__name__` (and `le`/`quantile`), in
/// Prometheus' order of precedence: its attributes but `ignored` (sorted by key, names
/// sanitized, values of keys that collide joined with `;`); promoted resource attributes
/// where no attribute gave that label; `job` and `instance`; the scope's labels.
/// Each collision is reported to `warnings` (from `source`), naming the attributes.
pub(super) fn point_labels(
    attributes: &[KeyValue],
    ignored: &[&str],
    resource: &ResourceLabels,
    scope: Option<&ScopeLabels>,
    naming: &Naming,
    (warnings, source): (&mut Warnings, AttributeSource),
) -> Result<LabelMap, String> {
    let mut sorted: Vec<(&str, String)> =
        attributes.iter().filter(|kv| !ignored.contains(&kv.key.as_str())).map(|kv| (kv.key.as_str(), value_text(kv.value.as_ref()))).collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut labels = LabelMap::new();
    let mut collided: Vec<String> = Vec::new();
    for (key, value) in sorted.iter_mut() {
        let name = naming.point_label_name(key)?;
        match labels.get_mut(&name) {
            Some(existing) => {
                let existing: &mut String = existing;
                existing.push(';');
                existing.push_str(value);
                if !collided.contains(&name) {
                    collided.push(name);
                }
            }
            None => set_label(&mut labels, name, std::mem::take(value)),
        }
    }
    for label in collided {
        // Every attribute (in key order) whose name sanitizes to the label, as Prometheus lists them.
        let keys: Vec<&str> = sorted.iter().map(|(key, _)| *key).filter(|key| naming.point_label_name(key).is_ok_and(|name| name == label)).collect();
        warnings.label_collision(source, &keys, &label);
    }
    for (name, value) in &resource.promoted {
        labels.entry(name.clone()).or_insert_with(|| value.clone());
    }
    if !resource.job.is_empty() {
        labels.insert("job".into(), resource.job.clone());
    }
    if !resource.instance.is_empty() {
        labels.insert("instance".into(), resource.instance.clone());
    }
    if let Some(scope) = scope {
        labels.extend(scope.attributes.iter().map(|(n, v)| (n.clone(), v.clone())));
        set_label(&mut labels, "otel_scope_name".into(), scope.name.clone());
        set_label(&mut labels, "otel_scope_version".into(), scope.version.clone());
        set_label(&mut labels, "otel_scope_schema_url".into(), scope.schema_url.clone());
    }
    Ok(labels)
}
