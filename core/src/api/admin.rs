//! `/api/v1/admin/tsdb/delete_series` and `/api/v1/admin/tsdb/clean_tombstones` (POST or PUT),
//! with Prometheus' semantics: 204 on success, 400 `bad_data` for bad parameters, and 503
//! `unavailable` "admin APIs disabled" unless `server.enable_admin_api` is on.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};

use super::params::Params;
use super::{labels, Api, ApiError};

fn enabled(api: &Api) -> Result<(), ApiError> {
    if api.config.server.enable_admin_api {
        Ok(())
    } else {
        Err(ApiError::unavailable("admin APIs disabled"))
    }
}

fn no_content() -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// Query string plus a form body on POST and PUT (Go's `r.ParseForm` reads both).
fn form_params(request: &Request<Bytes>) -> Result<Params, ApiError> {
    super::query_and_form(request, &[Method::POST, Method::PUT]).map_err(|e| ApiError::bad_data(format!("error parsing form values: {e}")))
}

/// Deletes `[start, end]` (default: all time) of every series matching any `match[]`, on
/// every shard; answers once the deletion is durable everywhere.
pub(super) async fn handle_delete_series(api: &Api, request: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
    enabled(api)?;
    let params = form_params(request)?;
    if params.all("match[]").next().is_none() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let window = labels::window(&params)?;
    let sets = labels::match_sets(&params)?;
    tracing::info!(matchers = ?params.all("match[]").collect::<Vec<_>>(), mint_ms = window.mint_ms, maxt_ms = window.maxt_ms, "admin: delete_series");
    api.router.delete_series(sets, window.mint_ms, window.maxt_ms).await?;
    Ok(no_content())
}

/// Rewrites every block with tombstones without the deleted data.
pub(super) async fn handle_clean_tombstones(api: &Api) -> Result<Response<Bytes>, ApiError> {
    enabled(api)?;
    tracing::info!("admin: clean_tombstones");
    api.router.clean_tombstones().await?;
    Ok(no_content())
}
