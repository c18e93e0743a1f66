//! `GET /targets`: VictoriaMetrics' plain-text page of the scrape targets
//! (`scrape::targets_text`), with its filters read from the query. Like `/api/v1/targets`,
//! refused to a client confined to some series (it lists every job's targets and URLs).

use bytes::Bytes;
use http::{Request, Response, StatusCode};

use super::{text_response, Api, ApiError};
use crate::scrape::targets_text::{targets_page, TargetsFilter};

pub(super) fn handle(api: &Api, request: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
    let p = api.refuse_other_clients_queries(request, "/targets")?;
    // Go's `strconv.ParseBool`, as VictoriaMetrics reads these; anything else is false there too.
    let flag = |name: &str| p.get(name).and_then(super::admin::parse_go_bool).unwrap_or(false);
    let text = |name: &str| p.get(name).map(str::trim).filter(|s| !s.is_empty());
    let endpoint_search = match text("endpoint_search") {
        Some(search) => Some(regex::Regex::new(search).map_err(|e| ApiError::bad_data(format!("invalid parameter \"endpoint_search\": cannot parse {search}: {e}")))?),
        None => None,
    };
    let label_search = match text("label_search") {
        Some(search) => Some(promql::parse_series_selector(search).map_err(|e| ApiError::bad_data(format!("invalid parameter \"label_search\": cannot parse {search}: {e}")))?),
        None => None,
    };
    let filter = TargetsFilter { show_original_labels: flag("show_original_labels"), show_only_unhealthy: flag("show_only_unhealthy"), endpoint_search, label_search };
    let configured: Vec<String> = api.scrape_config.snapshot().1.jobs.iter().map(|j| j.name.clone()).collect();
    let now_ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    Ok(text_response(StatusCode::OK, &targets_page(api.scrape_targets.active_targets(), &configured, &filter, now_ns)))
}
