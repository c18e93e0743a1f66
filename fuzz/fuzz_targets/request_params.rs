//! Fuzz target: request parameters as the API reads them from a URL query and a POST body,
//! `application/x-www-form-urlencoded` or `multipart/form-data` (the content type's
//! boundary and the body both from the input), never panic; a multipart body that parses
//! gives back each field it named. The query is also read as a URL path's escapes, as a
//! Pushgateway-style push path's grouping labels and as one series' labels (the relabeling
//! debugger's `metric`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use metricstor::api::params::{multipart_boundary, Params};
    // Input: content-type line, a newline, the query string, a newline, the body.
    let mut pieces = data.splitn(3, |&b| b == b'\n');
    let (Some(content_type), Some(query), Some(body)) = (pieces.next(), pieces.next(), pieces.next()) else { return };
    let (Ok(content_type), Ok(query)) = (std::str::from_utf8(content_type), std::str::from_utf8(query)) else { return };
    let _ = metricstor::api::params::percent_decode_path(query);
    let _ = metricstor::api::pushgateway::grouping_labels(&format!("/api/v1/import/prometheus/metrics/{query}"));
    if let Ok(pairs) = metricstor::ingest::text_format::parse_series_labels(query) {
        assert!(pairs.iter().enumerate().all(|(i, (name, _))| pairs[..i].iter().all(|(earlier, _)| earlier != name)), "a name twice: {pairs:?}");
    }
    let query = (!query.is_empty()).then_some(query);
    match multipart_boundary(content_type) {
        Some(boundary) => {
            if let Ok(params) = Params::from_multipart(query, body, boundary) {
                for key in ["query", "time", "match[]"] {
                    let _ = params.get(key);
                    let _ = params.all(key).count();
                }
            }
        }
        None => {
            let _ = Params::from_request(query, Some(body));
        }
    }
});
