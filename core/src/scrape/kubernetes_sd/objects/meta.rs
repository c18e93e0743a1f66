//! `metadata`, which every Kubernetes object has (with its owner references), and the
//! objects of which only it is read (namespaces, ReplicaSets, Jobs).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::scrape::discovery::null_as_default;

/// `metadata` of every object.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub namespace: String,
    #[serde(deserialize_with = "null_as_default")]
    pub uid: String,
    #[serde(deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_as_default")]
    pub annotations: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_as_default")]
    pub owner_references: Vec<OwnerReference>,
}

/// One of `metadata.ownerReferences`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OwnerReference {
    #[serde(deserialize_with = "null_as_default")]
    pub kind: String,
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    pub controller: Option<bool>,
}

/// A `v1` Namespace, a `apps/v1` ReplicaSet or a `batch/v1` Job: only its metadata is read
/// (labels and annotations of a namespace, the controller of the others).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MetadataOnly {
    #[serde(deserialize_with = "null_as_default")]
    pub metadata: ObjectMeta,
}

impl ObjectMeta {
    /// The owner reference marked as the controller, as `metav1.GetControllerOf` finds it.
    pub fn controller(&self) -> Option<&OwnerReference> {
        self.owner_references.iter().find(|owner| owner.controller == Some(true))
    }
}
