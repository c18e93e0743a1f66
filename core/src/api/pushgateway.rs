//! Pushgateway-style pushes, as VictoriaMetrics takes them:
//! `/api/v1/import/prometheus/metrics/job/<job>{/<label>/<value>}` (POST or PUT, the text
//! format) stores the lines with the path's grouping labels set on every series, and answers
//! 200 as a Pushgateway does (client libraries' push helpers expect it). A name ending in
//! `@base64` has its value in URL-safe base64 (the Pushgateway's form for values holding a
//! `/`); a segment's `%XX` escapes are decoded; a label with an empty value is left out.

use super::params::percent_decode_path;
use super::ApiError;

/// Where the grouping labels begin, under the text import's path.
const PUSH_PREFIX: &str = "/api/v1/import/prometheus/metrics/";

/// Whether `path` is a Pushgateway-style push (its grouping key begins with the job).
pub(super) fn is_push_path(path: &str) -> bool {
    path.strip_prefix(PUSH_PREFIX).is_some_and(|key| key.starts_with("job/") || key.starts_with("job@base64/"))
}

/// The grouping labels of a push path, in its order; a name without a value, a value that
/// is not base64 where it says so, or an escape that does not decode is a 400 naming it.
pub(super) fn grouping_labels(path: &str) -> Result<Vec<(String, String)>, ApiError> {
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
