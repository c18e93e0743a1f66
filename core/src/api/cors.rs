//! Cross-origin calls to the API, as Prometheus allows them (`--web.cors.origin`,
//! `server.cors_origin`): its CORS headers on every `/api/v1/` answer to a request with an
//! `Origin`, and 204 to a preflight `OPTIONS`.

use http::header::{HeaderMap, HeaderValue, VARY};

/// Where the API's paths begin: answers there carry the CORS headers.
pub const API_PATHS: &str = "/api/v1/";

/// Which origins may call the API from a browser.
#[derive(Debug, Clone)]
pub enum CorsOrigins {
    /// Every origin (`.*`, the default): `Access-Control-Allow-Origin: *`.
    Any,
    /// Origins the fully anchored pattern matches: named back in the header.
    Matching(regex::Regex),
}

/// The fixed CORS headers Prometheus sends with an allowed or refused origin alike.
const CORS_HEADERS: [(&str, &str); 3] =
    [("access-control-allow-headers", "Accept, Authorization, Content-Type, Origin"), ("access-control-allow-methods", "GET, POST, OPTIONS"), ("access-control-expose-headers", "Date")];

impl CorsOrigins {
    /// The origins `pattern` (a regular expression, fully anchored) allows; `.*` allows all.
    pub fn parse(pattern: &str) -> Result<CorsOrigins, String> {
        if pattern == ".*" {
            return Ok(CorsOrigins::Any);
        }
        regex::Regex::new(&format!("^(?:{pattern})$")).map(CorsOrigins::Matching).map_err(|e| format!("{pattern:?} is not a regular expression: {e}"))
    }

    /// Adds to an answer's `headers` what Prometheus' `SetCORS` adds for a request with
    /// `request_headers`: `Vary: Origin` always; with an `Origin`, the allowed headers,
    /// methods and exposed headers, and the origin allowed when it is.
    pub fn apply(&self, request_headers: &HeaderMap, headers: &mut HeaderMap) {
        headers.append(VARY, HeaderValue::from_static("Origin"));
        let Some(origin) = request_headers.get(http::header::ORIGIN) else { return };
        for (name, value) in CORS_HEADERS {
            headers.insert(name, HeaderValue::from_static(value));
        }
        let allowed = match self {
            CorsOrigins::Any => HeaderValue::from_static("*"),
            CorsOrigins::Matching(pattern) => match origin.to_str() {
                Ok(text) if pattern.is_match(text) => origin.clone(),
                _ => return,
            },
        };
        headers.insert(http::header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(origins: &CorsOrigins, origin: Option<&str>) -> HeaderMap {
        let mut request = HeaderMap::new();
        if let Some(origin) = origin {
            request.insert(http::header::ORIGIN, HeaderValue::from_str(origin).expect("origin"));
        }
        let mut headers = HeaderMap::new();
        origins.apply(&request, &mut headers);
        headers
    }

    #[test]
    fn any_origin_gets_a_star_and_a_listed_one_itself() {
        let any = CorsOrigins::parse(".*").expect("default");
        let headers = answered(&any, Some("https://grafana.example"));
        assert_eq!(headers.get("access-control-allow-origin").map(|v| v.as_bytes()), Some(&b"*"[..]));
        assert_eq!(headers.get("access-control-allow-methods").map(|v| v.as_bytes()), Some(&b"GET, POST, OPTIONS"[..]));
        assert_eq!(headers.get("vary").map(|v| v.as_bytes()), Some(&b"Origin"[..]));

        let listed = CorsOrigins::parse(r"https?://(grafana|perses)\.example").expect("pattern");
        let allowed = answered(&listed, Some("https://perses.example"));
        assert_eq!(allowed.get("access-control-allow-origin").map(|v| v.as_bytes()), Some(&b"https://perses.example"[..]));
        // Fully anchored: a longer origin is not allowed, though it gets the other headers.
        let refused = answered(&listed, Some("https://perses.example.evil"));
        assert!(refused.get("access-control-allow-origin").is_none());
        assert!(refused.get("access-control-allow-headers").is_some());
        // No Origin: only Vary.
        let plain = answered(&listed, None);
        assert_eq!(plain.len(), 1);
        assert!(CorsOrigins::parse("(").is_err());
    }
}
