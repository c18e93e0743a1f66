//! `GET /api/v1/openapi.yaml`: the OpenAPI description of this server's HTTP API, as
//! Prometheus 3 serves one of its own. One hand-written document (`openapi/paths.yaml`, then
//! `openapi/components.yaml`; OpenAPI 3.1) is made into the 3.1.0 answer (the default) and
//! the 3.2.0 one (`?openapi_version=3.2`) once each, at first request: they differ in the
//! version line and in how the notifications' event stream is described (3.2: `itemSchema`).

use std::sync::OnceLock;

use bytes::Bytes;
use http::{header, Response};

use super::params::Params;
use super::ApiError;

/// The document, OpenAPI 3.1 form, with the crate version left as `VERSION_PLACEHOLDER`:
/// the paths, then the components they share.
const SOURCE: &str = concat!(include_str!("openapi/paths.yaml"), include_str!("openapi/components.yaml"));
const VERSION_PLACEHOLDER: &str = "@CARGO_PKG_VERSION@";
const OPENAPI_3_1_LINE: &str = "\nopenapi: 3.1.0\n";
const OPENAPI_3_2_LINE: &str = "\nopenapi: 3.2.0\n";
/// 3.1 can only describe the whole event stream as one text; 3.2 describes each event.
const EVENT_STREAM_3_1: &str = "              schema:\n                $ref: '#/components/schemas/NotificationStream'\n";
const EVENT_STREAM_3_2: &str = "              itemSchema:\n                $ref: '#/components/schemas/NotificationEvent'\n";

pub const CONTENT_TYPE: &str = "application/yaml; charset=utf-8";

/// The OpenAPI version of the document served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V3_1,
    V3_2,
}

impl Version {
    /// As Prometheus: `3.2` or `3.2.0` asks for 3.2; anything else, or nothing, gets 3.1.
    pub fn requested(openapi_version: Option<&str>) -> Version {
        match openapi_version {
            Some("3.2" | "3.2.0") => Version::V3_2,
            _ => Version::V3_1,
        }
    }
}

/// The document in `version`, built on first use.
pub fn document(version: Version) -> &'static str {
    static V3_1: OnceLock<String> = OnceLock::new();
    static V3_2: OnceLock<String> = OnceLock::new();
    match version {
        Version::V3_1 => V3_1.get_or_init(|| build(Version::V3_1)),
        Version::V3_2 => V3_2.get_or_init(|| build(Version::V3_2)),
    }
}

fn build(version: Version) -> String {
    let text = replace_once(SOURCE, VERSION_PLACEHOLDER, env!("CARGO_PKG_VERSION"));
    match version {
        Version::V3_1 => text,
        Version::V3_2 => replace_once(&replace_once(&text, OPENAPI_3_1_LINE, OPENAPI_3_2_LINE), EVENT_STREAM_3_1, EVENT_STREAM_3_2),
    }
}

/// `text` with its one `from` replaced (the tests check that each occurs once in `SOURCE`).
fn replace_once(text: &str, from: &str, to: &str) -> String {
    debug_assert_eq!(text.matches(from).count(), 1, "the OpenAPI source holds {from:?} once");
    text.replacen(from, to, 1)
}

/// Answers `/api/v1/openapi.yaml` for the request's query string.
pub fn handle(query: Option<&str>) -> Result<Response<Bytes>, ApiError> {
    let params = Params::from_request(query, None).map_err(ApiError::bad_data)?;
    let mut response = Response::new(Bytes::from_static(document(Version::requested(params.get("openapi_version"))).as_bytes()));
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn parsed(version: Version) -> Value {
        match serde_saphyr::from_str(document(version)) {
            Ok(value) => value,
            Err(e) => panic!("the {version:?} document is not YAML: {e}"),
        }
    }

    #[test]
    fn versions_are_chosen_as_prometheus_chooses_them() {
        for (asked, version) in [
            (None, Version::V3_1),
            (Some(""), Version::V3_1),
            (Some("3.1"), Version::V3_1),
            (Some("3.1.0"), Version::V3_1),
            (Some("3.2"), Version::V3_2),
            (Some("3.2.0"), Version::V3_2),
            (Some("4.0"), Version::V3_1),
            (Some("3.2.1"), Version::V3_1),
        ] {
            assert_eq!(Version::requested(asked), version, "{asked:?}");
        }
    }

    #[test]
    fn each_replaced_text_occurs_once_in_the_source() {
        for needle in [VERSION_PLACEHOLDER, OPENAPI_3_1_LINE, EVENT_STREAM_3_1] {
            assert_eq!(SOURCE.matches(needle).count(), 1, "{needle:?}");
        }
        assert!(!SOURCE.contains(OPENAPI_3_2_LINE) && !SOURCE.contains("itemSchema"));
    }

    #[test]
    fn both_documents_parse_with_their_version_and_the_crate_version() {
        for (version, line) in [(Version::V3_1, "3.1.0"), (Version::V3_2, "3.2.0")] {
            let doc = parsed(version);
            assert_eq!(doc["openapi"], line);
            assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        }
        let stream = |doc: &Value| doc["paths"]["/api/v1/notifications/live"]["get"]["responses"]["200"]["content"]["text/event-stream"].clone();
        let (v3_1, v3_2) = (stream(&parsed(Version::V3_1)), stream(&parsed(Version::V3_2)));
        assert!(v3_1.get("schema").is_some() && v3_1.get("itemSchema").is_none(), "{v3_1}");
        assert!(v3_2.get("itemSchema").is_some() && v3_2.get("schema").is_none(), "{v3_2}");
    }

    /// Every `$ref` string under `value`, with where it was found.
    fn refs(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    match (key.as_str(), inner) {
                        ("$ref", Value::String(target)) => out.push((at.to_string(), target.clone())),
                        _ => refs(inner, &format!("{at}/{key}"), out),
                    }
                }
            }
            Value::Array(items) => {
                for (i, inner) in items.iter().enumerate() {
                    refs(inner, &format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn every_ref_resolves_to_a_defined_component() {
        for version in [Version::V3_1, Version::V3_2] {
            let doc = parsed(version);
            let mut found = Vec::new();
            refs(&doc, "", &mut found);
            assert!(found.len() > 100, "{version:?}: the document shares its shapes by $ref; found {}", found.len());
            for (at, target) in found {
                let pointer = target.strip_prefix('#').unwrap_or_else(|| panic!("{version:?} {at}: {target:?} is not local"));
                assert!(pointer.starts_with("/components/"), "{version:?} {at}: {target:?} is not a component");
                assert!(doc.pointer(pointer).is_some_and(|v| v.is_object()), "{version:?} {at}: {target:?} is not defined");
            }
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc = parsed(Version::V3_1);
        let mut ids: Vec<&str> = Vec::new();
        for item in doc["paths"].as_object().into_iter().flat_map(|p| p.values()) {
            for operation in item.as_object().into_iter().flat_map(|o| o.values()) {
                ids.extend(operation.get("operationId").and_then(Value::as_str));
            }
        }
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "duplicate operationId");
        assert!(count > 50, "{count}");
    }
}
