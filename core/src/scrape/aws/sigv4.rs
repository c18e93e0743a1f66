//! AWS Signature Version 4 for the requests of `ec2_sd_configs` (EC2's `DescribeInstances`,
//! STS's `AssumeRole`): the canonical request (method, path, sorted query, the signed headers
//! lowercased and sorted, the body's SHA-256), the string to sign under the date's
//! `date/region/service/aws4_request` scope, and the key derived from the secret by HMAC-SHA256
//! over date, region, service and `aws4_request`, as AWS documents the scheme.

use ring::{digest, hmac};

/// Access keys, with the session token of temporary ones.
#[derive(Clone, PartialEq, Eq)]
pub struct Keys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Keys {
    /// The key ID only: the secret and the token stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

/// One request to sign.
pub struct Request<'a> {
    pub method: &'a str,
    /// The `Host` header as sent.
    pub host: &'a str,
    /// The path, already as sent (`/` for EC2 and STS).
    pub path: &'a str,
    /// The query's pairs, not escaped.
    pub query: &'a [(String, String)],
    /// Headers sent besides `Host` and the ones signing adds; all are signed.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    pub region: &'a str,
    pub service: &'a str,
    /// The time of signing as `YYYYMMDDTHHMMSSZ`.
    pub amz_date: &'a str,
}

/// The headers signing adds to `request` (`X-Amz-Date`, `X-Amz-Security-Token` for temporary
/// keys, `Authorization`); the caller sends them with its own and `Host`.
pub fn sign(keys: &Keys, request: &Request<'_>) -> Vec<(String, String)> {
    let mut added = vec![("X-Amz-Date".to_string(), request.amz_date.to_string())];
    if let Some(token) = &keys.session_token {
        added.push(("X-Amz-Security-Token".to_string(), token.clone()));
    }
    let mut signed: Vec<(String, String)> = request.headers.iter().chain(&added).map(|(n, v)| (n.to_ascii_lowercase(), canonical_value(v))).collect();
    signed.push(("host".to_string(), request.host.to_string()));
    signed.sort();
    let signed_names = signed.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(";");
    let canonical_headers: String = signed.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let canonical_request = format!("{}\n{}\n{}\n{canonical_headers}\n{signed_names}\n{}", request.method, request.path, canonical_query(request.query), hex_sha256(request.body));
    let date = request.amz_date.get(..8).unwrap_or(request.amz_date);
    let scope = format!("{date}/{}/{}/aws4_request", request.region, request.service);
    let string_to_sign = format!("AWS4-HMAC-SHA256\n{}\n{scope}\n{}", request.amz_date, hex_sha256(canonical_request.as_bytes()));
    let key = signing_key(&keys.secret_access_key, date, request.region, request.service);
    let signature = hex(hmac::sign(&key, string_to_sign.as_bytes()).as_ref());
    added.push(("Authorization".to_string(), format!("AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_names}, Signature={signature}", keys.access_key_id)));
    added
}

/// The query as signed: each name and value escaped (`escape`), pairs sorted.
pub fn canonical_query(query: &[(String, String)]) -> String {
    let mut pairs: Vec<String> = query.iter().map(|(n, v)| format!("{}={}", escape(n), escape(v))).collect();
    pairs.sort();
    pairs.join("&")
}

/// Percent-encoding as AWS signs it: everything but `A-Za-z0-9-_.~`, in capital hex.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A header value as signed: trimmed, inner runs of spaces as one.
fn canonical_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> hmac::Key {
    let step = |key: &[u8], data: &str| hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes());
    let k_date = step(format!("AWS4{secret}").as_bytes(), date);
    let k_region = step(k_date.as_ref(), region);
    let k_service = step(k_region.as_ref(), service);
    let k_signing = step(k_service.as_ref(), "aws4_request");
    hmac::Key::new(hmac::HMAC_SHA256, k_signing.as_ref())
}

fn hex_sha256(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Milliseconds since the epoch as SigV4's `YYYYMMDDTHHMMSSZ`.
pub fn amz_date(ms: i64) -> String {
    crate::api::status::rfc3339(ms.div_euclid(1000) * 1000).get(..19).unwrap_or_default().replace(['-', ':'], "") + "Z"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_keys() -> Keys {
        // AWS' documentation example keys.
        Keys { access_key_id: "AKIDEXAMPLE".into(), secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(), session_token: None }
    }

    #[test]
    fn signs_aws_documented_example() {
        // AWS' worked example of Signature Version 4: IAM's ListUsers by GET at 2015-08-30 12:36:00.
        let query = [("Action".to_string(), "ListUsers".to_string()), ("Version".to_string(), "2010-05-08".to_string())];
        let headers = [("Content-Type".to_string(), "application/x-www-form-urlencoded; charset=utf-8".to_string())];
        let request = Request { method: "GET", host: "iam.amazonaws.com", path: "/", query: &query, headers: &headers, body: b"", region: "us-east-1", service: "iam", amz_date: "20150830T123600Z" };
        let added = sign(&example_keys(), &request);
        let authorization = &added.iter().find(|(n, _)| n == "Authorization").expect("authorization").1;
        assert_eq!(
            authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
        assert_eq!(added[0], ("X-Amz-Date".to_string(), "20150830T123600Z".to_string()));
        assert_eq!(added.len(), 2, "no token header for long-term keys");
    }

    #[test]
    fn signs_aws_test_suite_post_form() {
        // AWS' Signature Version 4 test suite, post-x-www-form-urlencoded.
        let headers = [("Content-Type".to_string(), "application/x-www-form-urlencoded".to_string())];
        let request = Request { method: "POST", host: "example.amazonaws.com", path: "/", query: &[], headers: &headers, body: b"Param1=value1", region: "us-east-1", service: "service", amz_date: "20150830T123600Z" };
        let added = sign(&example_keys(), &request);
        assert_eq!(
            added[1].1,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
        );
    }

    #[test]
    fn derives_aws_documented_signing_key() {
        let key = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "iam");
        // The key is opaque in ring; its HMAC of the empty string tells it apart.
        let expected = hmac::Key::new(hmac::HMAC_SHA256, &[0xc4, 0xaf, 0xb1, 0xcc, 0x57, 0x71, 0xd8, 0x71, 0x76, 0x3a, 0x39, 0x3e, 0x44, 0xb7, 0x03, 0x57, 0x1b, 0x55, 0xcc, 0x28, 0x42, 0x4d, 0x1a, 0x5e, 0x86, 0xda, 0x6e, 0xd3, 0xc1, 0x54, 0xa4, 0xb9]);
        assert_eq!(hmac::sign(&key, b"").as_ref(), hmac::sign(&expected, b"").as_ref());
    }

    #[test]
    fn a_session_token_is_sent_and_signed() {
        let keys = Keys { session_token: Some("token/with+chars".into()), ..example_keys() };
        let request = Request { method: "POST", host: "ec2.eu-west-1.amazonaws.com", path: "/", query: &[], headers: &[], body: b"Action=DescribeInstances", region: "eu-west-1", service: "ec2", amz_date: "20261204T101500Z" };
        let added = sign(&keys, &request);
        assert_eq!(added[1], ("X-Amz-Security-Token".to_string(), "token/with+chars".to_string()));
        assert!(added[2].1.contains("SignedHeaders=host;x-amz-date;x-amz-security-token,"), "{:?}", added[2]);
        assert!(added[2].1.contains("Credential=AKIDEXAMPLE/20261204/eu-west-1/ec2/aws4_request"));
        let other_body = Request { body: b"Action=DescribeInstances&NextToken=x", ..request };
        assert_ne!(sign(&keys, &other_body)[2], added[2], "the body is signed");
    }

    #[test]
    fn escapes_and_sorts_the_query_and_formats_dates() {
        let query = [("b".to_string(), "x y/z~".to_string()), ("a".to_string(), "é".to_string())];
        assert_eq!(canonical_query(&query), "a=%C3%A9&b=x%20y%2Fz~");
        assert_eq!(amz_date(1_440_938_160_999), "20150830T123600Z");
    }
}
