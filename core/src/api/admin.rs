//! `/api/v1/admin/tsdb/delete_series`, `/api/v1/admin/tsdb/clean_tombstones` and
//! `/api/v1/admin/tsdb/snapshot` (POST or PUT; delete_series also GET, as VictoriaMetrics
//! takes it), with Prometheus' semantics: 204 on success
//! (a snapshot answers its name), 400 `bad_data` for bad parameters, and 503 `unavailable`
//! "admin APIs disabled" unless `server.enable_admin_api` is on.

use bytes::Bytes;
use http::{Method, Request, Response};

use super::params::Params;
use super::{labels, no_content, Api, ApiError};

pub(super) fn enabled(api: &Api) -> Result<(), ApiError> {
    if api.config.server.enable_admin_api {
        Ok(())
    } else {
        Err(ApiError::unavailable("admin APIs disabled"))
    }
}

/// Query string plus a form body on POST and PUT (Go's `r.ParseForm` reads both), with the
/// client identity's read filters (a confined client deletes only what it may read).
pub(super) fn form_params(api: &Api, request: &Request<Bytes>) -> Result<Params, ApiError> {
    let params = super::query_and_form(request, &[Method::POST, Method::PUT]).map_err(|e| ApiError::bad_data(format!("error parsing form values: {e}")))?;
    Ok(params.confined_to(api.confinement(request)))
}

/// Deletes `[start, end]` (default: all time) of every series matching any `match[]`, on
/// every shard; answers once the deletion is durable everywhere.
pub(super) async fn handle_delete_series(api: &Api, request: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
    enabled(api)?;
    let params = form_params(api, request)?;
    if params.all("match[]").next().is_none() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let window = labels::window(&params)?;
    let sets = labels::filtered_match_sets(&params, None)?;
    tracing::info!(matchers = ?params.all("match[]").collect::<Vec<_>>(), extra_label = ?params.all("extra_label").collect::<Vec<_>>(), extra_filters = ?params.all("extra_filters").chain(params.all("extra_filters[]")).collect::<Vec<_>>(), mint_ms = window.mint_ms, maxt_ms = window.maxt_ms, "admin: delete_series");
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

/// VictoriaMetrics' `/internal/force_merge`, which its documentation has run after a delete
/// to reclaim the space: here the blocks with deleted data are rewritten without it (as
/// `clean_tombstones` does; compaction merges blocks on its own), in the background, and the
/// answer is VictoriaMetrics' empty 200 at once. `partition_prefix` (a month of
/// VictoriaMetrics' partitions) is not read: every block is looked at.
pub(super) fn handle_force_merge(api: &Api) -> Response<Bytes> {
    let router = api.router.clone();
    glommio::spawn_local(async move {
        tracing::info!("force_merge: rewriting the blocks that hold deleted data");
        let started = std::time::Instant::now();
        match router.clean_tombstones().await {
            Ok(()) => tracing::info!(seconds = started.elapsed().as_secs_f64(), "force_merge finished"),
            Err(error) => tracing::warn!(%error, "force_merge failed"),
        }
    })
    .detach();
    super::text_response(http::StatusCode::OK, "")
}

/// Where snapshots go, under the data directory (as Prometheus' `<data>/snapshots/`).
pub const SNAPSHOTS_DIRNAME: &str = "snapshots";

/// Writes a snapshot of every shard into `<data_dir>/snapshots/<name>/` and answers
/// `{"name": ...}`. The directory has a data directory's layout (the identity file, then per
/// shard its blocks, hard-linked, and unless `skip_head=true` the head as blocks named by
/// their content, `tsdb::ShardDb::snapshot`; no WAL): it can be backed up as is, read with
/// promtool, or used as `storage.data_dir`.
pub(super) async fn handle_snapshot(api: &Api, request: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
    enabled(api)?;
    let params = form_params(api, request)?;
    let skip_head = match params.get("skip_head") {
        None | Some("") => false,
        Some(text) => parse_go_bool(text).ok_or_else(|| ApiError::bad_data(format!("unable to parse boolean 'skip_head' argument: {text:?}")))?,
    };
    let name = snapshot_name(super::params::now_ms());
    tracing::info!(snapshot = %name, skip_head, "admin: snapshot");
    write_snapshot(api, &name, skip_head).await?;
    let mut body = String::from("{\"name\":");
    super::json::push_json_string(&mut body, &name);
    body.push('}');
    Ok(super::json_ok(&body))
}

/// Writes the snapshot `name` (see [`handle_snapshot`]); on failure none is left, so that no
/// half snapshot is mistaken for a backup.
pub(super) async fn write_snapshot(api: &Api, name: &str, skip_head: bool) -> Result<(), ApiError> {
    let data_dir = &api.config.storage.data_dir;
    let root = data_dir.join(SNAPSHOTS_DIRNAME).join(name);
    let identity = crate::data_dir::IDENTITY_FILE;
    let prepared = std::fs::create_dir_all(&root).and_then(|()| std::fs::copy(data_dir.join(identity), root.join(identity)).map(|_| ()));
    if let Err(e) = prepared {
        let _ = std::fs::remove_dir_all(&root);
        return Err(ApiError::internal(format!("create snapshot directory {}: {e}", root.display())));
    }
    if let Err(error) = api.router.snapshot(&root, skip_head).await {
        let _ = std::fs::remove_dir_all(&root);
        return Err(error.into());
    }
    Ok(())
}

/// `20261201T163320Z-<16 random characters>`: sorts by time, unique per request.
pub(super) fn snapshot_name(now_ms: i64) -> String {
    let stamp: String = super::status::rfc3339(now_ms).chars().take(19).filter(|c| *c != '-' && *c != ':').collect();
    let ulid = tsdb::block::new_ulid(now_ms.max(0) as u64);
    format!("{stamp}Z-{}", ulid[10..].to_ascii_lowercase())
}

/// Go's `strconv.ParseBool`, which Prometheus uses for its boolean parameters.
pub(super) fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_names_sort_by_time_and_differ() {
        let a = snapshot_name(1_700_000_000_123);
        assert!(a.starts_with("20231114T221320Z-"), "{a}");
        assert_eq!(a.len(), "20231114T221320Z-".len() + 16);
        assert_ne!(a, snapshot_name(1_700_000_000_123));
        assert!(snapshot_name(1_700_000_001_000) > a);
    }

    #[test]
    fn booleans_as_go_reads_them() {
        assert_eq!(parse_go_bool("true"), Some(true));
        assert_eq!(parse_go_bool("F"), Some(false));
        assert_eq!(parse_go_bool("yes"), None);
    }
}
