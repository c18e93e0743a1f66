//! VictoriaMetrics' snapshot API, so that its backup tools work against Metricstor as they do
//! against VictoriaMetrics single-node: `vmbackup -snapshot.createURL=…/snapshot/create`
//! creates a snapshot, copies `<storageDataPath>/snapshots/<name>/` and deletes it through
//! `/snapshot/delete`; `vmrestore` writes the copy back as a data directory.
//!
//! - `/snapshot/create`: the snapshot `/api/v1/admin/tsdb/snapshot` writes (head included),
//!   named as VictoriaMetrics names them (`YYYYMMDDhhmmss-<hex>`, which vmbackup checks);
//!   answers `{"status":"ok","snapshot":"<name>"}`.
//! - `/snapshot/list`: `{"status":"ok","snapshots":[…]}`, every snapshot (either API's), oldest first.
//! - `/snapshot/delete?snapshot=<name>`: `{"status":"ok"}`; 404 when there is none by that name.
//! - `/snapshot/delete_all`: every snapshot.
//!
//! `storage.snapshots_max_age_seconds` (VictoriaMetrics' `-snapshotsMaxAge`) deletes older
//! snapshots of either API once a minute (`expire_old_snapshots`, on executor 0).
//!
//! GET or POST (parameters in the query or a form). These are admin APIs here, as
//! Prometheus' snapshot is: 503 "admin APIs disabled" unless `server.enable_admin_api`, and
//! under mTLS allow-lists authorized as writes.

use bytes::Bytes;
use http::{Request, Response, StatusCode};

use super::admin::{enabled, form_params, write_snapshot, SNAPSHOTS_DIRNAME};
use super::{json, Api, ApiError};

/// The paths this module answers.
pub const CREATE: &str = "/snapshot/create";
pub const LIST: &str = "/snapshot/list";
pub const DELETE: &str = "/snapshot/delete";
pub const DELETE_ALL: &str = "/snapshot/delete_all";

/// Whether `path` is one of VictoriaMetrics' snapshot paths.
pub fn is_snapshot_path(path: &str) -> bool {
    [CREATE, LIST, DELETE, DELETE_ALL].contains(&path)
}

/// Answers one of the snapshot paths (`is_snapshot_path`).
pub(super) async fn handle(api: &Api, request: &Request<Bytes>, path: &str) -> Result<Response<Bytes>, ApiError> {
    enabled(api)?;
    let dir = api.config.storage.data_dir.join(SNAPSHOTS_DIRNAME);
    match path {
        CREATE => {
            let name = vm_snapshot_name(super::params::now_ms(), tsdb::block::random_u64());
            tracing::info!(snapshot = %name, "admin: snapshot (VictoriaMetrics' API)");
            write_snapshot(api, &name, false).await?;
            let mut body = String::from(r#"{"status":"ok","snapshot":"#);
            json::push_json_string(&mut body, &name);
            body.push('}');
            Ok(super::json_response(StatusCode::OK, body))
        }
        LIST => {
            let names = snapshot_names(&dir)?;
            let mut body = String::from(r#"{"status":"ok","snapshots":"#);
            json::push_string_array(&mut body, names.iter().map(String::as_str));
            body.push('}');
            Ok(super::json_response(StatusCode::OK, body))
        }
        DELETE => {
            let params = form_params(api, request)?;
            let name = params.get("snapshot").filter(|n| !n.is_empty()).ok_or_else(|| ApiError::bad_data("missing snapshot parameter: the name of the snapshot to delete"))?;
            if !is_snapshot_name(name) {
                return Err(ApiError::bad_data(format!("invalid snapshot name {name:?}: a snapshot's name has only letters, digits and '-'")));
            }
            let path = dir.join(name);
            if !path.is_dir() {
                return Err(ApiError::no_such(format!("no snapshot named {name:?} in {}", dir.display())));
            }
            tracing::info!(snapshot = %name, "admin: delete snapshot");
            remove(&path)?;
            Ok(super::json_response(StatusCode::OK, r#"{"status":"ok"}"#))
        }
        _ => {
            let names = snapshot_names(&dir)?;
            tracing::info!(snapshots = names.len(), "admin: delete every snapshot");
            for name in names {
                remove(&dir.join(name))?;
            }
            Ok(super::json_response(StatusCode::OK, r#"{"status":"ok"}"#))
        }
    }
}

/// VictoriaMetrics' snapshot name: the UTC time as `YYYYMMDDhhmmss`, `-`, then 16 hex
/// digits (vmbackup refuses a name not of this form).
fn vm_snapshot_name(now_ms: i64, random: u64) -> String {
    let stamp: String = super::status::rfc3339(now_ms).chars().take(19).filter(char::is_ascii_digit).collect();
    format!("{stamp}-{random:016X}")
}

/// A name a snapshot of either API may have: letters, digits and `-`, so that it names a
/// directory directly under the snapshots directory and nothing else.
fn is_snapshot_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The snapshots under `dir`, sorted (both APIs' names start with their time); none when
/// no snapshot was ever taken.
fn snapshot_names(dir: &std::path::Path) -> Result<Vec<String>, ApiError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ApiError::internal(format!("cannot list snapshots in {}: {e}", dir.display()))),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| is_snapshot_name(name))
        .collect();
    names.sort();
    Ok(names)
}

/// How often snapshots past `storage.snapshots_max_age_seconds` are looked for.
const EXPIRY_CHECK: std::time::Duration = std::time::Duration::from_secs(60);

/// Deletes the snapshots older than `storage.snapshots_max_age_seconds` now and then every
/// minute until `shutdown`; returns at once when it is 0 (snapshots are kept).
pub async fn expire_old_snapshots(data_dir: std::path::PathBuf, max_age_seconds: u64, shutdown: async_channel::Receiver<()>) {
    if max_age_seconds == 0 {
        return;
    }
    let dir = data_dir.join(SNAPSHOTS_DIRNAME);
    let max_age_ms = i64::try_from(max_age_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    loop {
        match snapshot_names(&dir) {
            Ok(names) => {
                for name in expired(&names, super::params::now_ms().saturating_sub(max_age_ms)) {
                    match remove(&dir.join(name)) {
                        Ok(()) => tracing::info!(snapshot = %name, max_age_seconds, "deleted a snapshot past storage.snapshots_max_age_seconds"),
                        Err(error) => tracing::warn!(snapshot = %name, error = %error.message, "cannot delete an expired snapshot"),
                    }
                }
            }
            Err(error) => tracing::warn!(error = %error.message, "cannot list snapshots to expire"),
        }
        if crate::rules::wait_or_shutdown(EXPIRY_CHECK, &shutdown).await {
            return;
        }
    }
}

/// The snapshots among `names` taken before `deadline_ms`, by the time their names start
/// with (`YYYYMMDDhhmmss-…` or `YYYYMMDDThhmmssZ-…`); a name without one is kept.
fn expired(names: &[String], deadline_ms: i64) -> Vec<&str> {
    names.iter().map(String::as_str).filter(|name| snapshot_time_ms(name).is_some_and(|t| t < deadline_ms)).collect()
}

/// The UTC time (second resolution) a snapshot's name starts with, of either API's form.
fn snapshot_time_ms(name: &str) -> Option<i64> {
    let stamp: String = name.split('-').next()?.chars().filter(|c| *c != 'T' && *c != 'Z').collect();
    if stamp.len() != 14 || !stamp.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let text = format!("{}-{}-{}T{}:{}:{}Z", &stamp[0..4], &stamp[4..6], &stamp[6..8], &stamp[8..10], &stamp[10..12], &stamp[12..14]);
    super::params::parse_time_ms(&text).ok()
}

fn remove(path: &std::path::Path) -> Result<(), ApiError> {
    std::fs::remove_dir_all(path).map_err(|e| ApiError::internal(format!("cannot delete snapshot {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_take_victoriametrics_form_which_vmbackup_checks() {
        let name = vm_snapshot_name(1_700_000_000_123, 0xAB);
        assert_eq!(name, "20231114221320-00000000000000AB");
        // vmbackup's check: ^[0-9]{14}-[0-9A-Fa-f]+$
        let (stamp, hex) = name.split_once('-').expect("a dash");
        assert!(stamp.len() == 14 && stamp.bytes().all(|b| b.is_ascii_digit()), "{stamp}");
        assert!(!hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()), "{hex}");
        assert!(is_snapshot_name(&name));
        assert!(is_snapshot_name(&super::super::admin::snapshot_name(1_700_000_000_123)), "the Prometheus API's names too");
    }

    #[test]
    fn snapshots_expire_by_the_time_in_their_names() {
        let at = 1_700_000_000_000;
        let vm = vm_snapshot_name(at, 1);
        let prometheus = super::super::admin::snapshot_name(at);
        assert_eq!(snapshot_time_ms(&vm), Some(at));
        assert_eq!(snapshot_time_ms(&prometheus), Some(at));
        let names = vec![vm.clone(), prometheus.clone(), vm_snapshot_name(at + 60_000, 2), "backup-by-hand".to_string()];
        assert_eq!(expired(&names, at + 1_000), [vm.as_str(), prometheus.as_str()]);
        assert!(expired(&names, at).is_empty(), "a snapshot exactly at the deadline is kept");
        assert_eq!(snapshot_time_ms("20231314221320-01"), None, "month 13");
    }

    #[test]
    fn a_name_cannot_leave_the_snapshots_directory() {
        for name in ["", "..", ".", "a/b", "../data", "x\0", "snap shot", &"a".repeat(65)] {
            assert!(!is_snapshot_name(name), "{name:?}");
        }
    }

    #[test]
    fn listing_sorts_directories_and_skips_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        assert!(snapshot_names(&dir.path().join("missing")).unwrap().is_empty());
        for name in ["20261206073000-0F", "20231114T221320Z-abc", "20250101000000-01"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join("20240101000000-02"), b"a file, not a snapshot").unwrap();
        std::fs::create_dir(dir.path().join(".hidden")).unwrap();
        assert_eq!(snapshot_names(dir.path()).unwrap(), ["20231114T221320Z-abc", "20250101000000-01", "20261206073000-0F"]);
    }
}
