//! A node's data as a target, as Prometheus reads it: a Twitter serverset member
//! (`serviceEndpoint`, `additionalEndpoints`, `status`, `shard`) or an AirBnB Nerve member
//! (`host`, `port`, `name`), decoded as Go's encoding/json decodes them (keys matched
//! without regard to ASCII case, null as the zero value, unknown keys ignored, a number
//! that is not an integer an error); data that does not decode is no target.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::scrape::discovery::{join_host_port, sanitize_label_name};

/// What a node's data is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `serverset_sd_configs`.
    Serverset,
    /// `nerve_sd_configs`.
    Nerve,
}

impl Kind {
    /// Prometheus' name of the discovery (in its messages and labels).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Serverset => "serverset",
            Kind::Nerve => "nerve",
        }
    }
}

/// The labels of the target the data at `path` describes, `__address__` among them; an
/// error (Prometheus' words) when the data is not such a member.
pub fn labels(kind: Kind, data: &[u8], path: &str) -> Result<BTreeMap<String, String>, String> {
    let decoded = match kind {
        Kind::Serverset => serverset(data, path),
        Kind::Nerve => nerve(data, path),
    };
    decoded.map_err(|e| format!("error unmarshaling {} member {path:?}: {e}", kind.name()))
}

fn serverset(data: &[u8], path: &str) -> Result<BTreeMap<String, String>, String> {
    let member = object(&serde_json::from_slice(data).map_err(|e| e.to_string())?)?;
    let service = endpoint(field(&member, "ServiceEndpoint"))?;
    let mut labels = BTreeMap::from([
        ("__meta_serverset_path".to_string(), path.to_string()),
        ("__address__".to_string(), join_host_port(&service.0, service.1)),
        ("__meta_serverset_endpoint_host".to_string(), service.0),
        ("__meta_serverset_endpoint_port".to_string(), service.1.to_string()),
    ]);
    // In name order, so that two names made the same by sanitizing always give the same one
    // (Go's map order picks either).
    for (name, value) in object(field(&member, "AdditionalEndpoints").unwrap_or(&Value::Null))? {
        let (host, port) = endpoint(Some(&value))?;
        let name = sanitize_label_name(&name);
        labels.insert(format!("__meta_serverset_endpoint_host_{name}"), host);
        labels.insert(format!("__meta_serverset_endpoint_port_{name}"), port.to_string());
    }
    labels.insert("__meta_serverset_status".to_string(), string(field(&member, "status"))?);
    labels.insert("__meta_serverset_shard".to_string(), int(field(&member, "shard"))?.to_string());
    Ok(labels)
}

fn nerve(data: &[u8], path: &str) -> Result<BTreeMap<String, String>, String> {
    let member = object(&serde_json::from_slice(data).map_err(|e| e.to_string())?)?;
    let host = string(field(&member, "host"))?;
    let port = int(field(&member, "port"))?;
    Ok(BTreeMap::from([
        ("__meta_nerve_path".to_string(), path.to_string()),
        ("__address__".to_string(), join_host_port(&host, port)),
        ("__meta_nerve_endpoint_host".to_string(), host),
        ("__meta_nerve_endpoint_port".to_string(), port.to_string()),
        ("__meta_nerve_endpoint_name".to_string(), string(field(&member, "name"))?),
    ]))
}

/// A struct's or map's members (null: none).
fn object(value: &Value) -> Result<Map<String, Value>, String> {
    match value {
        Value::Object(members) => Ok(members.clone()),
        Value::Null => Ok(Map::new()),
        other => Err(format!("cannot unmarshal {} into an object", kind_of(other))),
    }
}

/// A struct field's value: the key written as the field is named, else one that differs
/// only in ASCII case (Go takes either).
fn field<'a>(members: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    members.get(name).or_else(|| members.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value))
}

/// A serverset endpoint's host and port (absent or null: empty and 0).
fn endpoint(value: Option<&Value>) -> Result<(String, i64), String> {
    let members = object(value.unwrap_or(&Value::Null))?;
    Ok((string(field(&members, "Host"))?, int(field(&members, "Port"))?))
}

fn string(value: Option<&Value>) -> Result<String, String> {
    match value {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(other) => Err(format!("cannot unmarshal {} into a string", kind_of(other))),
    }
}

/// A Go `int`: an integer literal that fits 64 bits (not 1.0 nor 1e3).
fn int(value: Option<&Value>) -> Result<i64, String> {
    match value {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(number)) => number.as_i64().ok_or_else(|| format!("cannot unmarshal number {number} into an int")),
        Some(other) => Err(format!("cannot unmarshal {} into an int", kind_of(other))),
    }
}

/// encoding/json's name of a JSON value's kind.
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels_of(kind: Kind, data: &str, path: &str) -> Vec<(String, String)> {
        labels(kind, data.as_bytes(), path).unwrap_or_else(|e| panic!("{data}: {e}")).into_iter().collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        pairs.sort();
        pairs
    }

    #[test]
    fn a_serverset_member_gives_its_endpoints_status_shard_and_path() {
        let member = r#"{"serviceEndpoint": {"host": "10.0.0.7", "port": 31001},
            "additionalEndpoints": {"http": {"host": "10.0.0.7", "port": 31002}, "admin-port.v2": {"host": "fe80::1", "port": 31003}},
            "status": "ALIVE", "shard": 3, "unknown": [1, 2]}"#;
        assert_eq!(
            labels_of(Kind::Serverset, member, "/aurora/prod/web/member_0000000001"),
            pairs(&[
                ("__address__", "10.0.0.7:31001"),
                ("__meta_serverset_path", "/aurora/prod/web/member_0000000001"),
                ("__meta_serverset_endpoint_host", "10.0.0.7"),
                ("__meta_serverset_endpoint_port", "31001"),
                ("__meta_serverset_endpoint_host_http", "10.0.0.7"),
                ("__meta_serverset_endpoint_port_http", "31002"),
                ("__meta_serverset_endpoint_host_admin_port_v2", "fe80::1"),
                ("__meta_serverset_endpoint_port_admin_port_v2", "31003"),
                ("__meta_serverset_status", "ALIVE"),
                ("__meta_serverset_shard", "3"),
            ])
        );
        // Go's field names match whatever the case; absent fields and null are zero values.
        let sparse = r#"{"ServiceEndpoint": {"HOST": "::1", "Port": 80}, "additionalEndpoints": null, "Status": null}"#;
        assert_eq!(
            labels_of(Kind::Serverset, sparse, "/s/m"),
            pairs(&[
                ("__address__", "[::1]:80"),
                ("__meta_serverset_path", "/s/m"),
                ("__meta_serverset_endpoint_host", "::1"),
                ("__meta_serverset_endpoint_port", "80"),
                ("__meta_serverset_status", ""),
                ("__meta_serverset_shard", "0"),
            ])
        );
        // JSON null is Go's zero member: a target ":0" (Prometheus keeps it too).
        assert_eq!(labels(Kind::Serverset, b"null", "/s/m").map(|l| l["__address__"].clone()), Ok(":0".to_string()));
    }

    #[test]
    fn a_nerve_member_gives_its_host_port_name_and_path() {
        assert_eq!(
            labels_of(Kind::Nerve, r#"{"host": "10.1.2.3", "port": 8080, "name": "web-1", "weight": 1}"#, "/nerve/services/web/services/i-1"),
            pairs(&[
                ("__address__", "10.1.2.3:8080"),
                ("__meta_nerve_path", "/nerve/services/web/services/i-1"),
                ("__meta_nerve_endpoint_host", "10.1.2.3"),
                ("__meta_nerve_endpoint_port", "8080"),
                ("__meta_nerve_endpoint_name", "web-1"),
            ])
        );
    }

    #[test]
    fn data_that_is_not_a_member_is_refused() {
        for (kind, data) in [
            (Kind::Serverset, ""),
            (Kind::Serverset, "not json"),
            (Kind::Serverset, "[]"),
            (Kind::Serverset, r#"{"serviceEndpoint": {"host": "h", "port": "80"}}"#),
            (Kind::Serverset, r#"{"serviceEndpoint": {"host": "h", "port": 80.5}}"#),
            (Kind::Serverset, r#"{"serviceEndpoint": {"host": "h", "port": 1e3}}"#),
            (Kind::Serverset, r#"{"serviceEndpoint": "h:80"}"#),
            (Kind::Serverset, r#"{"additionalEndpoints": {"x": 1}}"#),
            (Kind::Serverset, r#"{"shard": 18446744073709551615}"#),
            (Kind::Serverset, r#"{"status": 1}"#),
            (Kind::Nerve, r#"{"host": 1}"#),
            (Kind::Nerve, r#"{"host": "h", "port": 80} trailing"#),
        ] {
            assert!(labels(kind, data.as_bytes(), "/p").is_err(), "{data}");
        }
        assert_eq!(labels(Kind::Nerve, b"", "/p/m"), Err("error unmarshaling nerve member \"/p/m\": EOF while parsing a value at line 1 column 0".to_string()));
    }
}
