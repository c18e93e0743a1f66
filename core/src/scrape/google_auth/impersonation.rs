//! Service account impersonation, as Go's `google/internal/impersonate` asks for it: a POST of
//! `{"delegates", "lifetime", "scope"}` to IAM's `generateAccessToken` URL with the source
//! credentials' token as `Authorization`, answered with `accessToken` and an RFC3339
//! `expireTime`.

use super::{go_json, unless_success, Http, Method, Token};

/// The lifetime asked when the credentials name none (Go's).
const LIFETIME_DEFAULT_S: i64 = 3600;
/// How long before its expiry a token is asked again (`oauth2`'s).
const EXPIRY_DELTA_MS: i64 = 10_000;

/// What to ask IAM.
pub(super) struct Request<'a> {
    /// `service_account_impersonation_url`.
    pub url: &'a str,
    pub scope: &'a str,
    pub delegates: &'a [String],
    /// The token's lifetime; 0 for the default hour.
    pub lifetime_s: i64,
}

/// The body, keys as Go's struct writes them (empty lists left out).
#[derive(serde::Serialize)]
struct Body<'a> {
    #[serde(skip_serializing_if = "no_delegates")]
    delegates: &'a [String],
    lifetime: String,
    scope: [&'a str; 1],
}

fn no_delegates(delegates: &&[String]) -> bool {
    delegates.is_empty()
}

/// The answer's keys read.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expire_time: String,
}

/// The request's JSON body.
pub(super) fn body(request: &Request<'_>) -> Result<String, String> {
    let lifetime_s = if request.lifetime_s == 0 { LIFETIME_DEFAULT_S } else { request.lifetime_s };
    go_json(&Body { delegates: request.delegates, lifetime: format!("{lifetime_s}s"), scope: [request.scope] })
}

/// The impersonated account's token, asked with `source` (the source credentials' token).
pub(super) async fn token(http: &Http, request: &Request<'_>, source: &Token) -> Result<Token, String> {
    let headers = [("Content-Type".to_string(), "application/json".to_string()), ("Authorization".to_string(), source.header.clone())];
    let response = http.send(Method::Post, request.url, &headers, body(request)?.as_bytes()).await?;
    unless_success(request.url, &response)?;
    let answer: Answer = serde_json::from_slice(&response.body).map_err(|e| format!("{}: unable to parse response: {e}", request.url))?;
    token_from(answer, crate::api::params::now_ms(), std::time::Instant::now()).map_err(|e| format!("{}: {e}", request.url))
}

/// The token of an answer read at `now_ms` (wall clock) and `now`, kept until 10 s before
/// its `expireTime`.
fn token_from(answer: Answer, now_ms: i64, now: std::time::Instant) -> Result<Token, String> {
    // As Go's time.RFC3339 layout: a date, `T`, a time and a zone.
    let expire_ms = Some(answer.expire_time.as_str()).filter(|t| t.contains(['T', 't'])).and_then(|t| crate::api::params::parse_time_ms(t).ok());
    let expire_ms = expire_ms.ok_or_else(|| format!("unable to parse expiry {:?}", answer.expire_time))?;
    if answer.access_token.is_empty() {
        return Err("the answer has no accessToken".into());
    }
    let kept_ms = expire_ms.saturating_sub(now_ms).saturating_sub(EXPIRY_DELTA_MS).max(0);
    Ok(Token { header: format!("Bearer {}", answer.access_token), renew_at: Some(now + std::time::Duration::from_millis(kept_ms as u64)) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_written_as_go_writes_them() {
        let request = Request { url: "u", scope: "https://www.googleapis.com/auth/compute.readonly", delegates: &[], lifetime_s: 0 };
        assert_eq!(body(&request).as_deref(), Ok(r#"{"lifetime":"3600s","scope":["https://www.googleapis.com/auth/compute.readonly"]}"#));
        let delegates = ["projects/-/serviceAccounts/a@p.iam.gserviceaccount.com".to_string()];
        let request = Request { delegates: &delegates, lifetime_s: 600, ..request };
        assert_eq!(body(&request).as_deref(), Ok(r#"{"delegates":["projects/-/serviceAccounts/a@p.iam.gserviceaccount.com"],"lifetime":"600s","scope":["https://www.googleapis.com/auth/compute.readonly"]}"#));
    }

    #[test]
    fn answers_keep_their_expiry() {
        let now = std::time::Instant::now();
        let now_ms = crate::api::params::parse_time_ms("2026-01-02T03:00:00Z").expect("time");
        let answer = |expire_time: &str| Answer { access_token: "ya29.i".into(), expire_time: expire_time.into() };
        let token = token_from(answer("2026-01-02T04:00:00Z"), now_ms, now).expect("token");
        assert_eq!(token.header, "Bearer ya29.i");
        assert_eq!(token.renew_at, Some(now + std::time::Duration::from_secs(3590)));
        assert_eq!(token_from(answer("2026-01-02T03:00:05+00:00"), now_ms, now).expect("token").renew_at, Some(now), "expiring soon: asked again next time");
        assert!(token_from(answer("1767322800"), now_ms, now).is_err_and(|e| e.contains("unable to parse expiry")));
        assert!(token_from(Answer { access_token: String::new(), expire_time: "2026-01-02T04:00:00Z".into() }, now_ms, now).is_err());
    }
}
