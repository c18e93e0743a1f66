//! Pushgateway-style pushes, as VictoriaMetrics takes them:
//! `/api/v1/import/prometheus/metrics/job/<job>{/<label>/<value>}` (POST or PUT, the text
//! format) stores the lines with the path's grouping labels set on every series, and answers
//! 200 as a Pushgateway does (client libraries' push helpers expect it). A name ending in
//! `@base64` has its value in URL-safe base64 (the Pushgateway's form for values holding a
//! `/`); a segment's `%XX` escapes are decoded; a label with an empty value is left out.
//! Beyond VictoriaMetrics, a push in the delimited protobuf exposition (what Go's client
//! library pushes unless told otherwise) is read whole, up to `server.max_body_bytes`, and
//! turned into the text format by the scrape path's protobuf reader (native histograms read
//! as classic ones), then imported as text.

use bytes::Bytes;
use http::HeaderMap;

use super::body_encoding::StreamDecoder;
use super::migrate::{decode_end, decode_into, ImportStop};
use crate::ingest::remote_write::DecodeError;
use super::params::percent_decode_path;
use super::ApiError;

/// Whether a push's body is the delimited protobuf exposition (by its `Content-Type`).
pub(super) fn is_protobuf(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/vnd.google.protobuf"))
}

/// A protobuf push's body read whole (decoded first when compressed), at most `bytes_max`
/// bytes either way, and written as the text format: a body for the text import.
pub(super) async fn protobuf_as_text(mut body: net::RequestBody, mut decoder: Option<StreamDecoder>, bytes_max: usize) -> Result<net::RequestBody, ApiError> {
    let too_large = || ApiError::payload_too_large(format!("a protobuf push is read whole, and this one is larger than server.max_body_bytes ({bytes_max} bytes)"));
    let mut whole = Vec::new();
    // The decoding loop of the streamed imports (`migrate::decode_into`), its output gathered
    // here within the bound.
    let mut take = |plain: &[u8]| {
        if whole.len() + plain.len() > bytes_max {
            return Err(DecodeError::TooLarge(whole.len() + plain.len()));
        }
        whole.extend_from_slice(plain);
        Ok(())
    };
    let stopped = |stop: ImportStop| match stop {
        ImportStop::Line(_) => too_large(),
        ImportStop::Decode(failure) => ApiError::bad_data(failure.to_string()),
    };
    while let Some(chunk) = body.next_chunk().await {
        let chunk = chunk.map_err(|e| ApiError::bad_data(format!("the request body failed: {e}")))?;
        match &mut decoder {
            None => take(&chunk).map_err(|_| too_large())?,
            Some(decoder) => decode_into(decoder, &chunk, &mut take).map_err(stopped)?,
        }
    }
    if let Some(decoder) = &mut decoder {
        decode_end(decoder, &mut take).map_err(stopped)?;
    }
    let options = crate::scrape::protobuf::ProtobufOptions { native_histograms: false, classic_histograms_too: false, utf8_names: true, exemplars: false };
    let exposition = crate::scrape::protobuf::to_text(&whole, options).map_err(|e| ApiError::bad_data(format!("the protobuf push does not read: {e}")))?;
    let (sender, text_body) = net::RequestBody::channel(1);
    sender
        .try_send(Ok(Bytes::from(exposition.text)))
        .map_err(|_| ApiError::internal("cannot hand the push's text to the import"))?;
    Ok(text_body)
}

/// Where the grouping labels begin, under the text import's path.
const PUSH_PREFIX: &str = "/api/v1/import/prometheus/metrics/";

/// Whether `path` is a Pushgateway-style push (its grouping key begins with the job).
pub fn is_push_path(path: &str) -> bool {
    path.strip_prefix(PUSH_PREFIX).is_some_and(|key| key.starts_with("job/") || key.starts_with("job@base64/"))
}

/// The grouping labels of a push path, in its order; a name without a value, a value that
/// is not base64 where it says so, or an escape that does not decode is a 400 naming it.
pub fn grouping_labels(path: &str) -> Result<Vec<(String, String)>, ApiError> {
    let Some(key) = path.strip_prefix(PUSH_PREFIX) else {
        return Ok(Vec::new());
    };
    let bad = |problem: String| ApiError::bad_data(format!("cannot read the Pushgateway grouping labels of {path:?}: {problem}"));
    let segments: Vec<&str> = key.split('/').collect();
    let mut labels = Vec::with_capacity(segments.len() / 2);
    for pair in segments.chunks(2) {
        let [name, value] = pair else {
            return Err(bad(format!("label {:?} has no value", pair[0])));
        };
        let decode = |text: &str| percent_decode_path(text).ok_or_else(|| bad(format!("{text:?} has a broken %-escape or is not UTF-8")));
        let (name, value) = match name.strip_suffix("@base64") {
            Some(name) => {
                let value = decode(value)?;
                let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, value.trim_end_matches('='))
                    .map_err(|e| bad(format!("the value of {name:?} is not base64: {e}")))?;
                (decode(name)?, String::from_utf8(bytes).map_err(|_| bad(format!("the value of {name:?} is not UTF-8")))?)
            }
            None => (decode(name)?, decode(value)?),
        };
        if name.is_empty() {
            return Err(bad("a label name is empty".into()));
        }
        if !value.is_empty() {
            labels.retain(|(n, _): &(String, String)| *n != name);
            labels.push((name, value));
        }
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(path: &str) -> Vec<(String, String)> {
        let mut labels = grouping_labels(path).expect(path);
        labels.sort();
        labels
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    /// The cases VictoriaMetrics' own tests give, under our path.
    #[test]
    fn grouping_keys_read_as_victoriametrics_reads_them() {
        let at = |key: &str| format!("{PUSH_PREFIX}{key}");
        assert!(is_push_path(&at("job/foo")) && is_push_path(&at("job@base64/Zm9v")));
        assert!(!is_push_path("/api/v1/import/prometheus") && !is_push_path(&at("foo/bar")));
        assert_eq!(labels(&at("job/foo")), pairs(&[("job", "foo")]));
        assert_eq!(labels(&at("job@base64/Zm9v")), pairs(&[("job", "foo")]));
        assert_eq!(labels(&at("job/x/a/foo/aaa/bar")), pairs(&[("a", "foo"), ("aaa", "bar"), ("job", "x")]));
        assert_eq!(labels(&at("job/x/a@base64/Zm9v")), pairs(&[("a", "foo"), ("job", "x")]));
        assert_eq!(
            labels(&at("job/test/region@base64/YXotc291dGhlYXN0LTEtZjAxL3d6eS1hei1zb3V0aGVhc3QtMQ")),
            pairs(&[("job", "test"), ("region", "az-southeast-1-f01/wzy-az-southeast-1")])
        );
        assert_eq!(labels(&at("job/test/empty@base64/=")), pairs(&[("job", "test")]));
        assert_eq!(labels(&at("job/test/test@base64/PT0vPT0")), pairs(&[("job", "test"), ("test", "==/==")]));
        assert_eq!(labels(&at("job/titan/name@base64/zqDPgc6_zrzOt864zrXPjc-C")), pairs(&[("job", "titan"), ("name", "Προμηθεύς")]));
        assert_eq!(labels(&at("job/a%20b/instance/h%3A9")), pairs(&[("instance", "h:9"), ("job", "a b")]));
        for bad in ["job/foo/bar", "job@base64/%23$%25", "job/foo/bar@base64/%23$%25", "job/a%zz"] {
            let error = grouping_labels(&at(bad)).expect_err(bad);
            assert!(error.message.contains("Pushgateway grouping labels"), "{bad}: {}", error.message);
        }
    }
}
