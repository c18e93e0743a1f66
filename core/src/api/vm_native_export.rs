//! `/api/v1/export/native` (GET or POST, also under `/prometheus/`): VictoriaMetrics' native
//! format, what `vmctl vm-native` reads from its source, in the block header of the
//! VictoriaMetrics version `server.vm_native_export_version` names (1.82 changed it, and
//! each side reads only its own). Series are chosen and paged as
//! `/api/v1/export` chooses them (`migrate::stream_series`), so memory stays near one page.

use bytes::Bytes;
use http::Response;

use super::migrate;
use super::params::{now_ms, parse_time_ms, Params};
use super::{Api, ApiError};
use crate::ingest::vm_native::encode::{write_series, write_stream_header};
use crate::ingest::vm_native::{BlockLayout, STREAM_HEADER_BYTES};

/// How far past now an export's end may lie (VictoriaMetrics' bound, as on ingestion).
const EXPORT_END_AHEAD_MS_MAX: i64 = 2 * 24 * 3_600_000;

/// `match[]` is required; `start` defaults to 0 and `end` to now (to the second), as
/// VictoriaMetrics' defaults, and the stream's header carries that range: the importer
/// drops samples outside it. Native histograms have no form in this format and are left
/// out, as are NaNs other than the staleness marker.
pub async fn handle_export(api: &Api, params: &Params) -> Result<Response<Bytes>, ApiError> {
    let sets = migrate::export_match_sets(params)?;
    let (start_ms, end_ms) = time_range(params, now_ms())?;
    // Validation accepts only versions; the default layout covers a config built in code.
    let layout = api.config.server.vm_native_export_layout().unwrap_or(BlockLayout::Since1_82);
    let mut head = Vec::with_capacity(STREAM_HEADER_BYTES);
    write_stream_header(&mut head, start_ms, end_ms);
    migrate::stream_series(api, sets, (start_ms, end_ms), "VictoriaMetrics/native", head, Vec::new(), move |out: &mut Vec<u8>, series| {
        write_series(out, &series.labels, &series.samples, layout);
    })
    .await
}

/// The export's range as VictoriaMetrics settles it: the defaults above, `end` at most two
/// days past now and never before `start`. Unlike VictoriaMetrics, a `start` before 1970 is
/// kept (our storage holds such samples).
fn time_range(params: &Params, now_ms: i64) -> Result<(i64, i64), ApiError> {
    let time = |name: &str| match params.get(name) {
        None | Some("") => Ok(None),
        Some(text) => parse_time_ms(text).map(Some).map_err(|e| ApiError::bad_data(format!("invalid parameter \"{name}\": {e}"))),
    };
    let start_ms = time("start")?.unwrap_or(0);
    let end_ms = time("end")?.unwrap_or(now_ms - now_ms.rem_euclid(1000)).min(now_ms.saturating_add(EXPORT_END_AHEAD_MS_MAX));
    Ok((start_ms, end_ms.max(start_ms)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(query: &str) -> Result<(i64, i64), String> {
        let params = Params::from_request(Some(query), None).map_err(|e| e.to_string())?;
        time_range(&params, 1_700_000_000_123).map_err(|e| e.message)
    }

    #[test]
    fn the_range_defaults_and_bounds_follow_victoriametrics() {
        assert_eq!(range(""), Ok((0, 1_700_000_000_000)), "start 0, end now to the second");
        assert_eq!(range("start=100&end=200.5"), Ok((100_000, 200_500)));
        assert_eq!(range("start=-10"), Ok((-10_000, 1_700_000_000_000)), "pre-1970 kept");
        assert_eq!(range("end=9999999999"), Ok((0, 1_700_000_000_123 + EXPORT_END_AHEAD_MS_MAX)));
        assert_eq!(range("start=300&end=200"), Ok((300_000, 300_000)), "end never before start");
        assert!(range("start=yesterday").is_err_and(|e| e.contains("invalid parameter \"start\"")));
    }
}
