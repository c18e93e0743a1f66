//! `zabbix_connector:`: how Zabbix connectors' host groups and item tags become labels
//! (VictoriaMetrics' `-zabbixconnector.*` flags, with their defaults: all off).

use serde::{Deserialize, Serialize};

use crate::ingest::zabbix::ZabbixLabels;

/// Each option is off while empty, as VictoriaMetrics' flags are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZabbixConnectorConfig {
    /// Each host group `g` becomes a label `group_g` with this value.
    pub add_groups_value: String,
    /// An item tag without a value becomes a label with this one (else it is left out).
    pub add_empty_tags_value: String,
    /// The values of an item tag given more than once are joined with this (else the last
    /// counts).
    pub add_duplicate_tags_separator: String,
}

impl ZabbixConnectorConfig {
    /// The options as the parser takes them.
    pub fn labels(&self) -> ZabbixLabels {
        let set = |text: &String| (!text.is_empty()).then(|| text.clone());
        ZabbixLabels {
            groups_value: set(&self.add_groups_value),
            empty_tags_value: set(&self.add_empty_tags_value),
            duplicate_tags_separator: set(&self.add_duplicate_tags_separator),
        }
    }
}
