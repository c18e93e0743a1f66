//! The query page: a browser UI for ad-hoc PromQL at `/graph` (Prometheus' path, where the
//! generator URLs of the alerts this server sends point; also `/graph/…` and, for a browser,
//! `/query`) and `/vmui/` (VictoriaMetrics' path; `/vmui` redirects there), with its views at
//! Prometheus' other page paths: `/alerts`, `/rules`, `/targets`, `/service-discovery`,
//! `/tsdb-status`, `/flags` and `/status` (where VictoriaMetrics answers the same path to
//! other clients, only for a browser: `wants_html`). One self-contained HTML document, its
//! script (`ui/graph.js`) inlined, calling the API from the browser, so the page itself holds
//! no data and needs no authorization; every API call it makes is authorized as the client's.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

/// The page: markup and style, the script, the closing tags.
pub const GRAPH_PAGE: &str = concat!(include_str!("ui/graph_head.html"), include_str!("ui/graph.js"), include_str!("ui/graph_tail.html"));

/// Only this origin's API is called; the script and style are the page's own.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'";

/// The query page (see the module documentation).
pub fn page() -> Response<Bytes> {
    let mut response = Response::new(Bytes::from_static(GRAPH_PAGE.as_bytes()));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// True when the client asks for HTML first or among others (a browser): VictoriaMetrics
/// answers `/targets` as a page then, and as text to curl.
pub fn wants_html(request: &http::Request<Bytes>) -> bool {
    request.headers().get_all(header::ACCEPT).iter().any(|v| v.to_str().is_ok_and(|v| v.contains("text/html")))
}

/// `/vmui` → `vmui/` (relative, so it holds behind a path prefix), as VictoriaMetrics answers.
pub fn redirect_to_vmui() -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::FOUND;
    response.headers_mut().insert(header::LOCATION, HeaderValue::from_static("vmui/"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_inlines_its_script_between_the_markup_and_the_end() {
        let script_at = GRAPH_PAGE.find("function parsePanels").expect("the script is inlined");
        assert!(GRAPH_PAGE.find("<script>").is_some_and(|at| at < script_at));
        assert!(GRAPH_PAGE.rfind("</script>").is_some_and(|at| at > script_at));
        assert_eq!(GRAPH_PAGE.matches("</script>").count(), 1, "the script never closes its own element early");
        assert!(GRAPH_PAGE.trim_end().ends_with("</html>"));
    }
}
