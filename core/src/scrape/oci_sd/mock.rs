//! A mock OCI API on loopback for the tests: answers with a status, headers (OCI pages with
//! `opc-next-page`) and a body, and answers 401 to any request whose signature the test
//! key's public half does not verify.

use std::sync::{Arc, Mutex};

use base64::Engine;

use super::test_key;
use crate::scrape::fake_api::{serve_with_headers, Answer, Seen};

/// The key id every signed request must carry.
pub const KEY_ID: &str = "ocid1.tenancy.oc1..test001/ocid1.user.oc1..u001/aa:bb:cc";

/// Serves `answer` for correctly signed requests on loopback, with an `opc-request-id` on
/// every answer; returns the base URL and the requests seen (signed or not).
pub fn serve(answer: fn(&Seen) -> Answer) -> (String, Arc<Mutex<Vec<Seen>>>) {
    serve_with_headers(move |request| {
        let (status, mut headers, body) = match verify(request) {
            Ok(()) => answer(request),
            Err(why) => (401, Vec::new(), serde_json::json!({"code": "NotAuthenticated", "message": why}).to_string()),
        };
        headers.push(("opc-request-id", "req-1".to_string()));
        (status, headers, body)
    })
}

/// Checks the request's `Authorization` as OCI does: the key id, the signed headers, and
/// the RSA-SHA256 signature over `date`, `(request-target)` and `host` as received.
pub fn verify(request: &Seen) -> Result<(), String> {
    let authorization = request.header("authorization").ok_or("no Authorization")?;
    let fields = authorization.strip_prefix("Signature ").ok_or("not a Signature")?;
    let field = |name: &str| fields.split(',').find_map(|f| f.strip_prefix(&format!("{name}=\""))).map(|v| v.trim_end_matches('"'));
    if field("version") != Some("1") || field("algorithm") != Some("rsa-sha256") || field("headers") != Some("date (request-target) host") {
        return Err(format!("unexpected signature fields: {fields}"));
    }
    if field("keyId") != Some(KEY_ID) {
        return Err(format!("unknown keyId {:?}", field("keyId")));
    }
    let signature = base64::engine::general_purpose::STANDARD.decode(field("signature").ok_or("no signature")?).map_err(|e| e.to_string())?;
    let signed = format!("date: {}\n(request-target): {} {}\nhost: {}", request.header("date").ok_or("no Date")?, request.method.to_lowercase(), request.path, request.header("host").ok_or("no Host")?);
    let public = base64::engine::general_purpose::STANDARD.decode(test_key::PUBLIC_DER_BASE64).map_err(|e| e.to_string())?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, public).verify(signed.as_bytes(), &signature).map_err(|_| "the signature does not verify".to_string())
}
