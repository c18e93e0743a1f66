//! Tests of `external_account` and `impersonated_service_account` files against a fake STS,
//! IAM, subject token URL and EC2 metadata: the requests asserted as the Go library sends them.

use std::time::{Duration, Instant};

use super::*;
use crate::scrape::fake_api::{run, serve_with_headers, Answer, Seen};

const SCOPE: &str = "https://www.googleapis.com/auth/compute.readonly";
const WORKLOAD_AUDIENCE: &str = "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/oidc";
const WORKFORCE_AUDIENCE: &str = "//iam.googleapis.com/locations/global/workforcePools/pool/providers/oidc";

/// STS, IAM, a subject token URL, gcloud's token endpoint and EC2's metadata, by path.
fn google_and_aws(request: &Seen) -> Answer {
    let ok = |body: &str| (200, Vec::new(), body.to_string());
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/subject") if request.header("metadata") == Some("True") => ok(r#"{"id_token":"url-subject"}"#),
        ("POST", "/sts") => ok(r#"{"access_token":"sts-token","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":3600}"#),
        ("POST", "/sts-without-expiry") => ok(r#"{"access_token":"sts-token","token_type":"Bearer"}"#),
        ("POST", "/impersonate") => ok(&format!(r#"{{"accessToken":"ya29.impersonated","expireTime":"{}"}}"#, crate::api::status::rfc3339(crate::api::params::now_ms() + 3_600_000))),
        ("POST", "/token") => ok(r#"{"access_token":"ya29.user","expires_in":3599,"token_type":"Bearer"}"#),
        ("PUT", "/latest/api/token") if request.header("x-aws-ec2-metadata-token-ttl-seconds") == Some("300") => ok("imds-session"),
        ("GET", "/latest/meta-data/iam/security-credentials") => ok("role-1"),
        ("GET", "/latest/meta-data/iam/security-credentials/role-1") => ok(r#"{"Code":"Success","AccessKeyId":"AKIDIMDS","SecretAccessKey":"imds-secret","Token":"session-from-imds"}"#),
        ("GET", "/latest/meta-data/placement/availability-zone") => ok("us-east-2b"),
        _ => (404, Vec::new(), "not here".into()),
    }
}

/// A token for `SCOPE` from `file` (written as the named credentials file), with `vars` set.
fn ask(file: &serde_json::Value, vars: &[(&'static str, &str)]) -> Result<Token, String> {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("credentials.json");
    std::fs::write(&path, file.to_string()).expect("file");
    let mut vars: Vec<(&str, String)> = vars.iter().map(|(n, v)| (*n, v.to_string())).collect();
    vars.push(("GOOGLE_APPLICATION_CREDENTIALS", path.display().to_string()));
    let env = move |name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
    run(async move { token(SCOPE, &env).await })
}

fn requests(seen: &std::sync::Mutex<Vec<Seen>>) -> Vec<Seen> {
    seen.lock().map(|s| s.clone()).unwrap_or_default()
}

/// The STS form's fields, decoded.
fn form(body: &str) -> Vec<(String, String)> {
    body.split('&').map(|pair| pair.split_once('=').expect("pair")).map(|(n, v)| (n.to_string(), crate::api::params::percent_decode(v).expect("escape"))).collect()
}

fn assert_renewed_within(token: &Token, before: Instant, after: Instant, lifetime: Duration) {
    let at = token.renew_at.expect("an expiry");
    assert!(at >= before + lifetime - Duration::from_secs(12) && at <= after + lifetime, "{token:?}");
}

#[test]
fn file_sourced_text_tokens_are_exchanged_with_gos_form() {
    let (base, seen) = serve_with_headers(google_and_aws);
    let dir = tempfile::tempdir().expect("dir");
    let subject = dir.path().join("token.txt");
    std::fs::write(&subject, "  file-subject\n").expect("subject");
    let file = serde_json::json!({"type": "external_account", "audience": WORKLOAD_AUDIENCE, "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": format!("{base}/sts"), "credential_source": {"file": subject}});
    let before = Instant::now();
    let token = ask(&file, &[]).expect("token");
    assert_eq!(token.header, "Bearer sts-token");
    assert_renewed_within(&token, before, Instant::now(), Duration::from_secs(3590));
    let requests = requests(&seen);
    assert_eq!(requests.len(), 1);
    assert_eq!((requests[0].method.as_str(), requests[0].path.as_str()), ("POST", "/sts"));
    let expected = "audience=%2F%2Fiam.googleapis.com%2Fprojects%2F123%2Flocations%2Fglobal%2FworkloadIdentityPools%2Fpool%2Fproviders%2Foidc\
        &grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange\
        &requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token\
        &scope=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcompute.readonly\
        &subject_token=file-subject\
        &subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt";
    assert_eq!(requests[0].body, expected);
    assert_eq!(requests[0].header("content-type"), Some("application/x-www-form-urlencoded"));
    assert_eq!(requests[0].header("authorization"), None, "no client, no client authentication");
}

#[test]
fn json_file_tokens_client_basic_auth_and_workforce_options() {
    let (base, seen) = serve_with_headers(google_and_aws);
    let dir = tempfile::tempdir().expect("dir");
    let subject = dir.path().join("token.json");
    std::fs::write(&subject, r#"{"access_token": "json-subject", "other": 1}"#).expect("subject");
    let file = |client_id: &str, client_secret: &str| {
        serde_json::json!({"type": "external_account", "audience": WORKFORCE_AUDIENCE, "subject_token_type": "urn:ietf:params:oauth:token-type:id_token", "token_url": format!("{base}/sts"), "client_id": client_id, "client_secret": client_secret, "workforce_pool_user_project": "project-1", "credential_source": {"file": subject, "format": {"type": "json", "subject_token_field_name": "access_token"}}})
    };
    for (client_id, client_secret) in [("client-1", "s3cr3t"), ("", ""), ("client-1", "")] {
        assert_eq!(ask(&file(client_id, client_secret), &[]).map(|t| t.header), Ok("Bearer sts-token".to_string()));
    }
    let requests = requests(&seen);
    assert_eq!(requests.len(), 3);
    let fields = form(&requests[0].body);
    assert!(fields.contains(&("subject_token".into(), "json-subject".into())) && fields.contains(&("subject_token_type".into(), "urn:ietf:params:oauth:token-type:id_token".into())), "{fields:?}");
    assert_eq!(requests[0].header("authorization"), Some("Basic Y2xpZW50LTE6czNjcjN0"), "client-1:s3cr3t");
    assert!(!requests[0].body.contains("options="), "a client is billed, not the project");
    // Without a client, the workforce pool's project is named in `options`, between grant_type and requested_token_type.
    assert!(requests[1].body.contains("&options=%7B%22userProject%22%3A%22project-1%22%7D&requested_token_type="), "{}", requests[1].body);
    assert_eq!(requests[1].header("authorization"), None);
    // A client ID alone authenticates nothing and bills nothing, as in Go.
    assert_eq!(requests[2].header("authorization"), None);
    assert!(!requests[2].body.contains("options="));
}

#[test]
fn url_sourced_tokens_are_asked_with_headers_and_impersonated() {
    let (base, seen) = serve_with_headers(google_and_aws);
    let file = serde_json::json!({
        "type": "external_account", "audience": WORKLOAD_AUDIENCE, "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": format!("{base}/sts"),
        "service_account_impersonation_url": format!("{base}/impersonate"), "service_account_impersonation": {"token_lifetime_seconds": 600},
        "credential_source": {"url": format!("{base}/subject"), "headers": {"Metadata": "True"}, "format": {"type": "json", "subject_token_field_name": "id_token"}}
    });
    let before = Instant::now();
    let token = ask(&file, &[]).expect("token");
    assert_eq!(token.header, "Bearer ya29.impersonated");
    assert_renewed_within(&token, before, Instant::now(), Duration::from_secs(3590));
    let requests = requests(&seen);
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/subject", "/sts", "/impersonate"]);
    assert_eq!((requests[0].method.as_str(), requests[0].header("metadata")), ("GET", Some("True")));
    let fields = form(&requests[1].body);
    assert!(fields.contains(&("subject_token".into(), "url-subject".into())), "{fields:?}");
    assert!(fields.contains(&("scope".into(), "https://www.googleapis.com/auth/cloud-platform".into())), "STS is asked for cloud-platform: {fields:?}");
    assert_eq!(requests[2].header("authorization"), Some("Bearer sts-token"));
    assert_eq!(requests[2].header("content-type"), Some("application/json"));
    assert_eq!(requests[2].body, r#"{"lifetime":"600s","scope":["https://www.googleapis.com/auth/compute.readonly"]}"#);
}

#[test]
fn impersonated_service_accounts_trade_their_sources_token() {
    let (base, seen) = serve_with_headers(google_and_aws);
    let user = serde_json::json!({"type": "authorized_user", "client_id": "client-1.apps.googleusercontent.com", "client_secret": "s3cr3t", "refresh_token": "1//refresh", "token_uri": format!("{base}/token")});
    let file = serde_json::json!({"type": "impersonated_service_account", "service_account_impersonation_url": format!("{base}/impersonate"), "delegates": ["projects/-/serviceAccounts/d@p.iam.gserviceaccount.com"], "source_credentials": user});
    assert_eq!(ask(&file, &[]).map(|t| t.header), Ok("Bearer ya29.impersonated".to_string()));
    let requests = requests(&seen);
    assert_eq!(requests.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["/token", "/impersonate"]);
    assert_eq!(requests[0].body, "grant_type=refresh_token&refresh_token=1%2F%2Frefresh&client_id=client-1.apps.googleusercontent.com&client_secret=s3cr3t");
    assert_eq!(requests[1].header("authorization"), Some("Bearer ya29.user"));
    assert_eq!(requests[1].body, r#"{"delegates":["projects/-/serviceAccounts/d@p.iam.gserviceaccount.com"],"lifetime":"3600s","scope":["https://www.googleapis.com/auth/compute.readonly"]}"#);
    let without_source = serde_json::json!({"type": "impersonated_service_account", "service_account_impersonation_url": format!("{base}/impersonate")});
    assert!(ask(&without_source, &[]).is_err_and(|e| e.contains("missing 'source_credentials'")));
}

#[test]
fn aws_sources_sign_get_caller_identity_with_the_instance_role() {
    let (base, seen) = serve_with_headers(google_and_aws);
    let file = serde_json::json!({
        "type": "external_account", "audience": WORKLOAD_AUDIENCE, "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request", "token_url": format!("{base}/sts"),
        "credential_source": {"environment_id": "aws1", "region_url": format!("{base}/latest/meta-data/placement/availability-zone"), "url": format!("{base}/latest/meta-data/iam/security-credentials"),
            "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15", "imdsv2_session_token_url": format!("{base}/latest/api/token")}
    });
    assert_eq!(ask(&file, &[]).map(|t| t.header), Ok("Bearer sts-token".to_string()));
    let requests = requests(&seen);
    let asked: Vec<(&str, &str)> = requests.iter().map(|r| (r.method.as_str(), r.path.as_str())).collect();
    assert_eq!(asked, [("PUT", "/latest/api/token"), ("GET", "/latest/meta-data/iam/security-credentials"), ("GET", "/latest/meta-data/iam/security-credentials/role-1"), ("GET", "/latest/meta-data/placement/availability-zone"), ("POST", "/sts")]);
    assert!(requests[1..4].iter().all(|r| r.header("x-aws-ec2-metadata-token") == Some("imds-session")), "the IMDSv2 session token goes with every metadata request");
    let subject = signed_request(&requests[4]);
    assert_eq!(subject["url"], "https://sts.us-east-2.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15");
    assert_eq!(subject["method"], "POST");
    let headers = subject["headers"].as_array().expect("headers");
    let header = |key: &str| headers.iter().find(|h| h["key"] == key).and_then(|h| h["value"].as_str()).unwrap_or_default().to_string();
    assert_eq!(headers.iter().map(|h| h["key"].as_str().unwrap_or_default()).collect::<Vec<_>>(), ["Authorization", "Host", "X-Amz-Date", "X-Amz-Security-Token", "X-Goog-Cloud-Target-Resource"]);
    assert!(header("Authorization").starts_with("AWS4-HMAC-SHA256 Credential=AKIDIMDS/") && header("Authorization").contains("/us-east-2/sts/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token;x-goog-cloud-target-resource, Signature="), "{}", header("Authorization"));
    assert_eq!((header("Host"), header("X-Amz-Security-Token"), header("X-Goog-Cloud-Target-Resource")), ("sts.us-east-2.amazonaws.com".to_string(), "session-from-imds".to_string(), WORKLOAD_AUDIENCE.to_string()));
    let fields = form(&requests[4].body);
    assert!(fields.contains(&("subject_token_type".into(), "urn:ietf:params:aws:token-type:aws4_request".into())));
}

#[test]
fn aws_sources_take_keys_and_region_from_the_environment_first() {
    let (base, seen) = serve_with_headers(google_and_aws);
    let file = serde_json::json!({
        "type": "external_account", "audience": WORKLOAD_AUDIENCE, "subject_token_type": "urn:ietf:params:aws:token-type:aws4_request", "token_url": format!("{base}/sts"),
        "credential_source": {"environment_id": "aws1", "region_url": format!("{base}/latest/meta-data/placement/availability-zone"), "url": format!("{base}/latest/meta-data/iam/security-credentials"), "imdsv2_session_token_url": format!("{base}/latest/api/token")}
    });
    let vars = [("AWS_DEFAULT_REGION", "eu-west-1"), ("AWS_ACCESS_KEY_ID", "AKIDENV"), ("AWS_SECRET_ACCESS_KEY", "env-secret")];
    assert_eq!(ask(&file, &vars).map(|t| t.header), Ok("Bearer sts-token".to_string()));
    let requests = requests(&seen);
    assert_eq!(requests.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(), ["/sts"], "no metadata asked");
    let subject = signed_request(&requests[0]);
    assert_eq!(subject["url"], "https://sts.eu-west-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15", "the default regional URL");
    let keys: Vec<&str> = subject["headers"].as_array().expect("headers").iter().map(|h| h["key"].as_str().unwrap_or_default()).collect();
    assert_eq!(keys, ["Authorization", "Host", "X-Amz-Date", "X-Goog-Cloud-Target-Resource"], "no session token, none sent");
    assert!(subject["headers"][0]["value"].as_str().is_some_and(|v| v.contains("Credential=AKIDENV/") && v.contains("/eu-west-1/sts/aws4_request")));
}

/// The signed request an AWS subject token holds (query-escaped JSON, sent form-escaped).
fn signed_request(sts_request: &Seen) -> serde_json::Value {
    let fields = form(&sts_request.body);
    let subject = fields.iter().find(|(n, _)| n == "subject_token").map(|(_, v)| v.clone()).expect("subject_token");
    serde_json::from_str(&crate::api::params::percent_decode(&subject).expect("escape")).expect("json")
}

#[test]
fn bad_files_are_refused_naming_why() {
    let (base, seen) = serve_with_headers(google_and_aws);
    let external = |changes: serde_json::Value| {
        let mut file = serde_json::json!({"type": "external_account", "audience": WORKLOAD_AUDIENCE, "subject_token_type": "urn:ietf:params:oauth:token-type:jwt", "token_url": format!("{base}/sts"), "credential_source": {"url": format!("{base}/subject"), "headers": {"Metadata": "True"}}});
        for (key, value) in changes.as_object().expect("object") {
            file[key] = value.clone();
        }
        file
    };
    let cases = [
        (external(serde_json::json!({"credential_source": {"executable": {"command": "/bin/gettoken", "timeout_millis": 5000}}})), "Metricstor does not run"),
        (external(serde_json::json!({"audience": ""})), "\"audience\" must be set"),
        (external(serde_json::json!({"subject_token_type": ""})), "\"subject_token_type\" must be set"),
        (external(serde_json::json!({"workforce_pool_user_project": "project-1"})), "should not be set for non-workforce pool credentials"),
        (external(serde_json::json!({"credential_source": {}})), "unable to parse credential source"),
        (external(serde_json::json!({"credential_source": {"environment_id": "aws2"}})), "aws version '2' is not supported"),
        (external(serde_json::json!({"token_url": format!("{base}/sts-without-expiry")})), "got invalid expiry from security token service"),
        (external(serde_json::json!({"credential_source": {"url": format!("{base}/subject")}})), "HTTP status 404"),
    ];
    for (file, expected) in cases {
        let refused = ask(&file, &[]);
        assert!(refused.as_ref().is_err_and(|e| e.contains(expected)), "{expected}: {refused:?}");
    }
    // Only the last two got as far as asking: the STS once, the subject URL once.
    let paths: Vec<String> = requests(&seen).iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/subject", "/sts-without-expiry", "/subject"]);
}
