//! gzip for answers, when the client accepts it (`Accept-Encoding`), as Prometheus' API and
//! VictoriaMetrics compress theirs: Grafana, promtool and Prometheus scraping `/federate` or
//! `/metrics` all ask for it, and the dashboard benchmark's range answers shrink 2–6×. Only
//! whole JSON or text bodies of at least `GZIP_MIN_BYTES` are compressed, at the fastest
//! level (streamed exports and gRPC are left as they are).

use std::io::Write;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response};

/// Smaller bodies go out as they are: a header and a gzip frame would save little or nothing.
pub const GZIP_MIN_BYTES: usize = 1024;
/// Bodies from this size are compressed off the executor's thread, on a blocking thread, so a
/// large answer does not hold up the executor's other connections.
pub const OFF_EXECUTOR_BYTES: usize = 256 << 10;

/// Whether `Accept-Encoding` allows gzip: a `gzip` (or `x-gzip`, or `*`) coding whose
/// quality is not 0.
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|coding| {
        let mut parts = coding.split(';');
        let name = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")).is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0))
        });
        !refused && (name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") || name == "*")
    })
}

/// Whether `response` is worth compressing: a whole body of JSON or text, big enough, not
/// already encoded and not streamed.
fn compressible(response: &Response<Bytes>) -> bool {
    if response.body().len() < GZIP_MIN_BYTES
        || response.headers().contains_key(header::CONTENT_ENCODING)
        || response.extensions().get::<net::BodyStream>().is_some()
    {
        return false;
    }
    let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    content_type.starts_with("application/json") || content_type.starts_with("text/")
}

/// `response` gzipped when `accepts` and it is worth it (see the module docs); otherwise as
/// it was.
pub async fn gzip_if_accepted(accepts: bool, mut response: Response<Bytes>) -> Response<Bytes> {
    if !accepts || !compressible(&response) {
        return response;
    }
    let body = response.body().clone();
    let compressed = if body.len() >= OFF_EXECUTOR_BYTES {
        glommio::executor().spawn_blocking(move || gzip(&body)).await
    } else {
        gzip(&body)
    };
    // Writing into memory cannot fail short of allocation failure; then the body goes out
    // uncompressed.
    if let Some(compressed) = compressed {
        *response.body_mut() = compressed;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    response
}

/// `body` gzipped at the fastest level (`None` only if writing into memory failed).
pub fn gzip(body: &[u8]) -> Option<Bytes> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 8 + 64), flate2::Compression::fast());
    encoder.write_all(body).ok()?;
    encoder.finish().ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for a in accept {
            h.append(header::ACCEPT_ENCODING, HeaderValue::from_str(a).unwrap());
        }
        h
    }

    #[test]
    fn accept_encoding_is_read_with_qualities() {
        assert!(accepts_gzip(&headers(&["gzip"])));
        assert!(accepts_gzip(&headers(&["deflate, GZIP;q=0.5"])));
        assert!(accepts_gzip(&headers(&["br", "gzip"])));
        assert!(accepts_gzip(&headers(&["*"])));
        assert!(!accepts_gzip(&headers(&[])));
        assert!(!accepts_gzip(&headers(&["identity"])));
        assert!(!accepts_gzip(&headers(&["gzip;q=0"])));
        assert!(!accepts_gzip(&headers(&["gzip; q=0.0, br"])));
    }

    fn response(content_type: &str, body: Vec<u8>) -> Response<Bytes> {
        let mut r = Response::new(Bytes::from(body));
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        r
    }

    #[test]
    fn only_whole_json_or_text_bodies_of_some_size_are_compressed() {
        let big = br#"{"status":"success","data":[1,2,3]}"#.repeat(100);
        assert!(compressible(&response("application/json", big.clone())));
        assert!(compressible(&response("text/plain; version=0.0.4", big.clone())));
        assert!(!compressible(&response("application/json", b"{}".to_vec())));
        assert!(!compressible(&response("application/x-protobuf", big.clone())));
        let mut encoded = response("application/json", big.clone());
        encoded.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("snappy"));
        assert!(!compressible(&encoded));
        let mut streamed = response("application/json", big);
        streamed.extensions_mut().insert(net::BodyStream::channel(1).1);
        assert!(!compressible(&streamed));
    }

    #[test]
    fn gzip_round_trips() {
        let body = br#"{"metric":{"job":"a"},"values":[[1,"1"],[2,"2"]]}"#.repeat(1000);
        let compressed = gzip(&body).unwrap();
        assert!(compressed.len() * 10 < body.len(), "{} of {}", compressed.len(), body.len());
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&compressed[..]), &mut back).unwrap();
        assert_eq!(back, body);
    }
}
