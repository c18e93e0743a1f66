//! `POST /zabbixconnector/api/v1/history`: Zabbix connectors' item values (Zabbix 6.4 and
//! later; set the connector's URL to `http://host:9101/zabbixconnector/api/v1/history`), as
//! VictoriaMetrics takes them: newline-delimited JSON read by `ingest::zabbix`, labels per
//! the `zabbix_connector:` section, `extra_label` applied, 200 once stored. Values that are
//! not numeric are passed over; a line that is not an item value is skipped, the others
//! stored, and the answer a 400 naming the first such line (its `error` field, which the
//! connector reads).

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use tsdb::Sample;

use super::push::{self, ParsedBytes, Preamble, Skipped};
use super::{Api, ApiError};
use crate::ingest::influx::Parsed;
use crate::ingest::tagged_sample::{push_tagged, with_line};
use crate::ingest::zabbix;

/// The connector's path.
pub const HISTORY_PATH: &str = "/zabbixconnector/api/v1/history";

/// The largest decompressed body: a connector sends at most its "max records per message"
/// lines (unlimited by default, so a backlog may come at once).
const BODY_BYTES_MAX: usize = 64 << 20;

/// Whether `route` answers `path` (authorized as a write).
pub fn is_zabbix_path(path: &str) -> bool {
    path == HISTORY_PATH
}

/// Answers `HISTORY_PATH`: POST only.
pub async fn route(api: &Api, request: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
    if request.method() != Method::POST {
        return Err(ApiError::method_not_allowed("POST"));
    }
    let Preamble { rules, extra, .. } = push::preamble(api, request)?;
    let body = super::body_encoding::decompressed_body(request, "Zabbix item values", BODY_BYTES_MAX)?;
    let labels = api.config.zabbix_connector.labels();
    let mut parsed = Parsed::default();
    let mut parsed_bytes = ParsedBytes::default();
    let mut skipped = Skipped::default();
    for (number, line) in body.split(|&b| b == b'\n').enumerate() {
        let problem = |problem: &str| format!("line {}: {}", number + 1, with_line(line, problem));
        let text = match std::str::from_utf8(line) {
            Ok(text) => text,
            Err(_) => {
                skipped.add(problem("not UTF-8"));
                continue;
            }
        };
        match zabbix::parse_line(text, &labels) {
            Ok(None) => {}
            Ok(Some(item)) => {
                let tags: Vec<(&str, &str)> = item.labels.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                let sample = Sample { timestamp_ms: item.timestamp_ms, value: item.value };
                match push_tagged(&mut parsed, line, &item.metric, tags, sample, &rules) {
                    Ok(bytes) => parsed_bytes.add(bytes)?,
                    Err(refused) => skipped.add(format!("line {}: {refused}", number + 1)),
                }
            }
            Err(error) => skipped.add(problem(&error)),
        }
    }
    let samples = parsed.samples;
    push::store(api, parsed, &extra, &rules).await?;
    skipped.answer("line", samples)?;
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::OK;
    Ok(response)
}
