//! Unit tests of `credentials`: the shared files read as INI, STS and JSON keys, the SDK's
//! order of sources (environment, profiles with SSO and credential_process, containers,
//! the instance role) against mock endpoints.

use super::*;

#[test]
fn reads_shared_files_as_ini() {
    let credentials = "[default]\naws_access_key_id = AKID1\naws_secret_access_key=secret1 # a comment\n; a comment line\n[prod]\nAWS_ACCESS_KEY_ID = AKID2\n[profile skipped]\nx=y\n";
    let config = "[default]\nregion = eu-west-1\n[profile prod]\nregion = us-east-2\naws_access_key_id = from-config\nrole_arn = arn:aws:iam::1:role/r\n[prod]\nignored = 1\n";
    let files = SharedFiles { credentials_path: "c".into(), config_path: "k".into(), credentials: parse_ini(credentials, false), config: parse_ini(config, true), sso_sessions: parse_sso_sessions(config) };
    let default = files.profile("default").expect("default");
    assert_eq!((default["aws_access_key_id"].as_str(), default["aws_secret_access_key"].as_str(), default["region"].as_str()), ("AKID1", "secret1", "eu-west-1"));
    let prod = files.profile("prod").expect("prod");
    assert_eq!(prod["aws_access_key_id"], "AKID2", "the credentials file wins");
    assert_eq!((prod["region"].as_str(), prod["role_arn"].as_str()), ("us-east-2", "arn:aws:iam::1:role/r"));
    assert!(!prod.contains_key("ignored"), "[prod] in the config file is not a profile");
    assert!(files.profile("skipped").is_none(), "[profile x] in the credentials file is not a profile");
    assert!(static_profile_keys(&files.profile("prod").expect("prod"), "prod").is_err(), "no secret");
}

#[test]
fn reads_sts_and_json_keys() {
    let sts = br#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><AssumedRoleUser><Arn>a</Arn></AssumedRoleUser><Credentials><AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2026-12-04T11:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>"#;
    let found = sts_keys(200, sts).expect("keys");
    assert_eq!(found.keys, Keys { access_key_id: "ASIA1".into(), secret_access_key: "s".into(), session_token: Some("t".into()) });
    assert_eq!(found.expires_ms, Some(1_796_382_000_000));
    assert!(found.fresh(1_796_382_000_000 - RENEW_BEFORE_MS - 1) && !found.fresh(1_796_382_000_000 - RENEW_BEFORE_MS));
    let denied = br#"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not allowed</Message></Error></ErrorResponse>"#;
    assert_eq!(sts_keys(403, denied).err().as_deref(), Some("server returned HTTP status 403 Forbidden: AccessDenied: not allowed"));
    let json = br#"{"Code":"Success","AccessKeyId":"ASIA2","SecretAccessKey":"s2","Token":"t2","Expiration":"2026-12-04T11:00:00Z","Type":"AWS-HMAC"}"#;
    assert_eq!(json_keys(json, "x").expect("keys").keys.session_token.as_deref(), Some("t2"));
    assert!(json_keys(br#"{"Code":"Failed","AccessKeyId":"","SecretAccessKey":"","Message":"no"}"#, "x").is_err());
}

use crate::scrape::fake_api::{run, serve, Seen};

/// A fake instance metadata service (IMDSv2), STS and container endpoint.
fn cloud(request: &Seen) -> (u16, String) {
    let keys = |id: &str| format!(r#"{{"Code":"Success","AccessKeyId":"{id}","SecretAccessKey":"s","Token":"t","Expiration":"2099-01-01T00:00:00Z"}}"#);
    match (request.method.as_str(), request.path.as_str()) {
        ("PUT", "/latest/api/token") => (200, "imds-token".into()),
        ("GET", path) if path.starts_with("/latest/") && request.header("x-aws-ec2-metadata-token") != Some("imds-token") => (401, String::new()),
        ("GET", "/latest/meta-data/iam/security-credentials/") => (200, "role-a\n".into()),
        ("GET", "/latest/meta-data/iam/security-credentials/role-a") => (200, keys("ASIAIMDS")),
        ("GET", "/creds") if request.header("authorization") == Some("container-token") => (200, keys("ASIACONTAINER")),
        ("POST", "/") if request.body.contains("Action=AssumeRole&") => (
            200,
            "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAROLE</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>".into(),
        ),
        ("POST", "/") if request.body.contains("Action=AssumeRoleWithWebIdentity&") && request.body.contains("WebIdentityToken=eks-jwt") => (
            200,
            "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAWEB</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>".into(),
        ),
        _ => (404, String::new()),
    }
}

/// A metadata service without IMDSv2: its token request fails.
fn imds_v1(request: &Seen) -> (u16, String) {
    match (request.method.as_str(), request.path.as_str(), request.header("x-aws-ec2-metadata-token")) {
        ("PUT", _, _) => (500, String::new()),
        ("GET", "/latest/meta-data/iam/security-credentials/", None) => (200, "role-a".into()),
        ("GET", "/latest/meta-data/iam/security-credentials/role-a", None) => (200, r#"{"AccessKeyId":"ASIAV1","SecretAccessKey":"s"}"#.into()),
        _ => (404, String::new()),
    }
}

/// Runs `find` with `settings` and the environment `vars` (HOME and the shared files in
/// `dir`, unless `vars` names them).
fn find_with(settings: &Settings, vars: &[(&str, &str)], dir: &std::path::Path) -> Result<Found, String> {
    let mut all: HashMap<String, String> = HashMap::from([("HOME".to_string(), dir.display().to_string())]);
    all.extend(vars.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    let env = move |name: &str| all.get(name).cloned();
    let (tls, proxy) = (Err("no TLS".to_string()), ProxyChoice::default());
    let lookup = Lookup { env: &env, transport: Transport { tls: &tls, proxy: &proxy, headers: &[] } };
    run(async { find(settings, "eu-west-1", &lookup).await })
}

#[test]
fn a_default_profile_without_keys_falls_to_the_instance_role() {
    let (base, seen) = serve(cloud);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join(".aws")).expect("dir");
    std::fs::write(dir.path().join(".aws/config"), "[default]\nregion = eu-north-1\n").expect("config");
    let found = find_with(&Settings::default(), &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &base)], dir.path()).expect("keys");
    assert_eq!(found.keys.access_key_id, "ASIAIMDS");
    assert_eq!(found.expires_ms, Some(4_070_908_800_000));
    let puts = seen.lock().map(|s| s.iter().filter(|r| r.method == "PUT").count()).unwrap_or_default();
    assert_eq!(puts, 1, "one IMDSv2 token for both requests");
}

#[test]
fn imds_v1_is_used_when_no_token_comes() {
    let (base, _) = serve(imds_v1);
    let dir = tempfile::tempdir().expect("tempdir");
    let found = find_with(&Settings::default(), &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &base)], dir.path()).expect("keys");
    assert_eq!((found.keys.access_key_id.as_str(), found.expires_ms, found.keys.session_token.as_deref()), ("ASIAV1", None, None));
    let disabled = find_with(&Settings::default(), &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &base), ("AWS_EC2_METADATA_DISABLED", "true")], dir.path());
    assert!(disabled.is_err_and(|e| e.contains("AWS_EC2_METADATA_DISABLED")));
}

#[test]
fn environment_keys_win_unless_the_entry_names_a_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let credentials = dir.path().join("credentials");
    std::fs::write(&credentials, "[p]\naws_access_key_id = FROMPROFILE\naws_secret_access_key = s\n").expect("credentials");
    let file = credentials.display().to_string();
    let vars = [("AWS_ACCESS_KEY_ID", "FROMENV"), ("AWS_SECRET_ACCESS_KEY", "s"), ("AWS_PROFILE", "p"), ("AWS_SHARED_CREDENTIALS_FILE", file.as_str())];
    assert_eq!(find_with(&Settings::default(), &vars, dir.path()).map(|f| f.keys.access_key_id), Ok("FROMENV".to_string()), "AWS_PROFILE does not pass over the environment");
    let named = Settings { profile: "p".into(), ..Settings::default() };
    assert_eq!(find_with(&named, &vars, dir.path()).map(|f| f.keys.access_key_id), Ok("FROMPROFILE".to_string()));
    let missing = Settings { profile: "q".into(), ..Settings::default() };
    assert!(find_with(&missing, &vars, dir.path()).is_err_and(|e| e.contains("profile \"q\" is in neither shared file")));
}

#[test]
fn a_profile_role_is_assumed_with_its_own_keys() {
    let (base, seen) = serve(cloud);
    let dir = tempfile::tempdir().expect("tempdir");
    let credentials = dir.path().join("credentials");
    std::fs::write(&credentials, "[p]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = s\nrole_arn = arn:aws:iam::1:role/r\nexternal_id = e-1\n").expect("credentials");
    let file = credentials.display().to_string();
    let settings = Settings { profile: "p".into(), ..Settings::default() };
    let found = find_with(&settings, &[("AWS_SHARED_CREDENTIALS_FILE", &file), ("AWS_ENDPOINT_URL_STS", &base)], dir.path()).expect("keys");
    assert_eq!(found.keys.access_key_id, "ASIAROLE");
    let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
    let sts = requests.iter().find(|r| r.method == "POST").expect("an STS request");
    assert!(sts.header("authorization").is_some_and(|a| a.contains("Credential=AKIDPROFILE/") && a.contains("/eu-west-1/sts/aws4_request")), "{sts:?}");
    assert!(sts.body.contains("RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr") && sts.body.contains("ExternalId=e-1"), "{sts:?}");
    assert!(sts.header("user-agent").is_some_and(|ua| ua.starts_with("Metricstor/")) && !sts.header("authorization").unwrap_or("").contains("user-agent"), "User-Agent sent, not signed");
}

#[test]
fn a_web_identity_token_is_exchanged_unsigned_from_the_environment_or_a_profile() {
    let (base, seen) = serve(cloud);
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "eks-jwt\n").expect("token");
    let token = token_file.display().to_string();
    let env = [("AWS_WEB_IDENTITY_TOKEN_FILE", token.as_str()), ("AWS_ROLE_ARN", "arn:aws:iam::1:role/eks"), ("AWS_ROLE_SESSION_NAME", "pod-1"), ("AWS_ENDPOINT_URL_STS", &base)];
    let found = find_with(&Settings::default(), &env, dir.path()).expect("keys");
    assert_eq!((found.keys.access_key_id.as_str(), found.keys.session_token.as_deref(), found.expires_ms), ("ASIAWEB", Some("t"), Some(4_070_908_800_000)));
    let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
    let sts = requests.iter().find(|r| r.method == "POST").expect("an STS request");
    assert!(sts.header("authorization").is_none(), "AssumeRoleWithWebIdentity is not signed: {sts:?}");
    assert!(sts.body.contains("RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Feks") && sts.body.contains("RoleSessionName=pod-1"), "{sts:?}");
    // Without AWS_ROLE_ARN the token cannot be used: said, not skipped.
    let no_role = find_with(&Settings::default(), &env[..1], dir.path());
    assert!(no_role.is_err_and(|e| e.contains("AWS_ROLE_ARN")));
    // The same from a named profile's web_identity_token_file and role_arn.
    let config = dir.path().join("config");
    std::fs::write(&config, format!("[profile w]\nweb_identity_token_file = {token}\nrole_arn = arn:aws:iam::1:role/eks\n")).expect("config");
    let file = config.display().to_string();
    let settings = Settings { profile: "w".into(), ..Settings::default() };
    let found = find_with(&settings, &[("AWS_CONFIG_FILE", &file), ("AWS_ENDPOINT_URL_STS", &base)], dir.path()).expect("keys");
    assert_eq!(found.keys.access_key_id, "ASIAWEB");
    // A token the service refuses is an error naming the role.
    std::fs::write(&token_file, "expired-jwt\n").expect("token");
    let refused = find_with(&Settings::default(), &env, dir.path());
    assert!(refused.is_err_and(|e| e.contains("web identity for arn:aws:iam::1:role/eks")));
}

#[test]
fn container_credentials_carry_their_token_to_allowed_hosts_only() {
    let (base, _) = serve(cloud);
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "container-token\n").expect("token");
    let file = token_file.display().to_string();
    let full = format!("{base}/creds");
    let found = find_with(&Settings::default(), &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", &full), ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &file)], dir.path()).expect("keys");
    assert_eq!(found.keys.access_key_id, "ASIACONTAINER");
    // With both set, the full URI wins, as in the Go SDK (the ECS agent's address is
    // not asked).
    let both = find_with(&Settings::default(), &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", &full), ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x"), ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &file)], dir.path()).expect("keys");
    assert_eq!(both.keys.access_key_id, "ASIACONTAINER");
    let elsewhere = find_with(&Settings::default(), &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.1/secret-path"), ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "t")], dir.path());
    assert!(elsewhere.is_err_and(|e| e.contains("loopback") && !e.contains("secret-path")));
    assert!(container_host_allowed("169.254.170.23") && container_host_allowed("[::1]") && container_host_allowed("localhost") && !container_host_allowed("10.0.0.1"));
    assert_eq!((dns_suffix("us-isob-east-1"), dns_suffix("us-iso-east-1"), dns_suffix("cn-north-1"), dns_suffix("eu-west-1")), ("sc2s.sgov.gov", "c2s.ic.gov", "amazonaws.com.cn", "amazonaws.com"));
}

#[test]
fn the_environment_is_read_in_the_sdk_order() {
    let vars: HashMap<&str, &str> = HashMap::from([("AWS_ACCESS_KEY", "old"), ("AWS_SECRET_KEY", "s"), ("AWS_SESSION_TOKEN", "t"), ("AWS_DEFAULT_REGION", "ap-south-1")]);
    let env = |name: &str| vars.get(name).map(|v| v.to_string());
    let (tls, proxy) = (Err("none".to_string()), ProxyChoice::default());
    let lookup = Lookup { env: &env, transport: Transport { tls: &tls, proxy: &proxy, headers: &[] } };
    assert_eq!(env_keys(&lookup), Some(Keys { access_key_id: "old".into(), secret_access_key: "s".into(), session_token: Some("t".into()) }));
    assert_eq!(chosen_profile("", &lookup), None);
    assert_eq!(chosen_profile("p", &lookup).as_deref(), Some("p"));
    assert_eq!(sts_url("cn-north-1", false, &lookup).map(|u| u.host), Ok("sts.cn-north-1.amazonaws.com.cn".to_string()));
    assert_eq!(sts_url("us-gov-west-1", true, &lookup).map(|u| u.host), Ok("sts-fips.us-gov-west-1.amazonaws.com".to_string()));
    assert_eq!(sts_url("", true, &lookup).map(|u| u.host), Ok("sts-fips.us-east-1.amazonaws.com".to_string()));
}

/// `cloud`, with an SSO portal and SSO OIDC: the portal knows the bearer tokens
/// `sso-token` and `refreshed-token`; OIDC refreshes the refresh token `rt-1`.
fn sso_cloud(request: &Seen) -> (u16, String) {
    let role = |id: &str| format!(r#"{{"roleCredentials":{{"accessKeyId":"{id}","secretAccessKey":"s","sessionToken":"t","expiration":4070908800000}}}}"#);
    match (request.method.as_str(), request.path.as_str(), request.header("x-amz-sso_bearer_token")) {
        ("GET", "/federation/credentials?account_id=111122223333&role_name=Reader", Some("sso-token")) => (200, role("ASIASSO")),
        ("GET", "/federation/credentials?account_id=111122223333&role_name=Reader", Some("refreshed-token")) => (200, role("ASIASSOREFRESHED")),
        ("GET", _, _) => (401, r#"{"message":"Session token not found or invalid"}"#.into()),
        ("POST", "/token", _) if request.body.contains(r#""grantType":"refresh_token""#) && request.body.contains(r#""refreshToken":"rt-1""#) && request.body.contains(r#""clientId":"client-1""#) => {
            (200, r#"{"accessToken":"refreshed-token","expiresIn":3600,"refreshToken":"rt-2","tokenType":"Bearer"}"#.into())
        }
        _ => cloud(request),
    }
}

/// Writes `config` as the config file in `dir` and `token` as the SSO cache entry for `key`;
/// returns the environment that points at them and at `base` for SSO, OIDC and STS.
fn sso_setup(dir: &std::path::Path, config: &str, key: &str, token: Option<&str>, base: &str) -> Vec<(String, String)> {
    std::fs::create_dir_all(dir.join(".aws/sso/cache")).expect("dirs");
    std::fs::write(dir.join(".aws/config"), config).expect("config");
    if let Some(token) = token {
        std::fs::write(sso::cached_token_path(dir, key), token).expect("token");
    }
    ["AWS_ENDPOINT_URL_SSO", "AWS_ENDPOINT_URL_SSO_OIDC", "AWS_ENDPOINT_URL_STS"].iter().map(|n| (n.to_string(), base.to_string())).collect()
}

fn vars(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

const LEGACY_SSO: &str = "[profile legacy]\nsso_start_url = https://d-123.awsapps.com/start\nsso_region = eu-central-1\nsso_account_id = 111122223333\nsso_role_name = Reader\n";
const SESSION_SSO: &str = "[profile dev]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Reader\n[sso-session corp]\nsso_start_url = https://d-123.awsapps.com/start\nsso_region = eu-central-1\n";

#[test]
fn a_legacy_sso_profile_trades_its_cached_token_at_the_portal() {
    let (base, seen) = serve(sso_cloud);
    let dir = tempfile::tempdir().expect("tempdir");
    let env = sso_setup(dir.path(), LEGACY_SSO, "https://d-123.awsapps.com/start", Some(r#"{"startUrl":"https://d-123.awsapps.com/start","region":"eu-central-1","accessToken":"sso-token","expiresAt":"2099-01-01T00:00:00Z"}"#), &base);
    let settings = Settings { profile: "legacy".into(), ..Settings::default() };
    let found = find_with(&settings, &vars(&env), dir.path()).expect("keys");
    assert_eq!((found.keys.access_key_id.as_str(), found.keys.session_token.as_deref(), found.expires_ms), ("ASIASSO", Some("t"), Some(4_070_908_800_000)));
    let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!((requests[0].method.as_str(), requests[0].path.as_str(), requests[0].header("x-amz-sso_bearer_token")), ("GET", "/federation/credentials?account_id=111122223333&role_name=Reader", Some("sso-token")));
    assert!(requests[0].header("authorization").is_none(), "the portal's request is not signed");
}

#[test]
fn an_sso_session_profile_reads_the_token_cached_under_the_session_name() {
    let (base, seen) = serve(sso_cloud);
    let dir = tempfile::tempdir().expect("tempdir");
    let env = sso_setup(dir.path(), SESSION_SSO, "corp", Some(r#"{"accessToken":"sso-token","expiresAt":"2099-01-01T00:00:00Z"}"#), &base);
    let settings = Settings { profile: "dev".into(), ..Settings::default() };
    assert_eq!(find_with(&settings, &vars(&env), dir.path()).map(|f| f.keys.access_key_id), Ok("ASIASSO".to_string()));
    let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(requests.iter().all(|r| r.method == "GET" && r.header("x-amz-sso_bearer_token") == Some("sso-token")), "{requests:?}");
    // The portal's refusal is said with its message.
    std::fs::write(sso::cached_token_path(dir.path(), "corp"), r#"{"accessToken":"revoked","expiresAt":"2099-01-01T00:00:00Z"}"#).expect("token");
    let refused = find_with(&settings, &vars(&env), dir.path());
    assert!(refused.is_err_and(|e| e.contains("401 Unauthorized: Session token not found or invalid")));
}

#[test]
fn an_expired_sso_session_token_is_refreshed_and_written_back() {
    use std::os::unix::fs::PermissionsExt;
    let (base, seen) = serve(sso_cloud);
    let dir = tempfile::tempdir().expect("tempdir");
    let token = r#"{"accessToken":"old","expiresAt":"2000-01-01T00:00:00Z","refreshToken":"rt-1","clientId":"client-1","clientSecret":"secret-1","registrationExpiresAt":"2099-01-01T00:00:00Z","region":"eu-central-1","startUrl":"https://d-123.awsapps.com/start"}"#;
    let env = sso_setup(dir.path(), SESSION_SSO, "corp", Some(token), &base);
    let cache = sso::cached_token_path(dir.path(), "corp");
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let settings = Settings { profile: "dev".into(), ..Settings::default() };
    let before_ms = crate::api::params::now_ms();
    assert_eq!(find_with(&settings, &vars(&env), dir.path()).map(|f| f.keys.access_key_id), Ok("ASIASSOREFRESHED".to_string()));
    let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
    let create = requests.iter().find(|r| r.method == "POST").expect("a CreateToken request");
    assert_eq!((create.path.as_str(), create.header("content-type")), ("/token", Some("application/json")));
    assert!(create.body.contains(r#""clientSecret":"secret-1""#), "{create:?}");
    let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&cache).expect("cache")).expect("json");
    assert_eq!((written["accessToken"].as_str(), written["refreshToken"].as_str(), written["clientId"].as_str(), written["startUrl"].as_str()), (Some("refreshed-token"), Some("rt-2"), Some("client-1"), Some("https://d-123.awsapps.com/start")));
    let expires_ms = written["expiresAt"].as_str().map(rfc3339_ms).expect("expiresAt").expect("a time");
    assert!(expires_ms >= before_ms - 1000 + 3_600_000 && expires_ms <= crate::api::params::now_ms() + 3_600_000, "{written}");
    assert_eq!(std::fs::metadata(&cache).expect("cache").permissions().mode() & 0o777, 0o600, "the file keeps its mode");
    assert_eq!(std::fs::read_dir(dir.path().join(".aws/sso/cache")).expect("dir").count(), 1, "no temporary file left");
}

#[test]
fn an_expired_or_missing_sso_token_asks_for_aws_sso_login() {
    let (base, seen) = serve(sso_cloud);
    let dir = tempfile::tempdir().expect("tempdir");
    let legacy = Settings { profile: "legacy".into(), ..Settings::default() };
    let env = sso_setup(dir.path(), LEGACY_SSO, "https://d-123.awsapps.com/start", Some(r#"{"accessToken":"sso-token","expiresAt":"2000-01-01T00:00:00Z","refreshToken":"rt-1","clientId":"client-1","clientSecret":"secret-1"}"#), &base);
    let expired = find_with(&legacy, &vars(&env), dir.path());
    assert!(expired.is_err_and(|e| e.contains("the SSO session has expired or is invalid") && e.contains("aws sso login --profile legacy")), "a legacy token is never refreshed");
    let dir = tempfile::tempdir().expect("tempdir");
    let env = sso_setup(dir.path(), SESSION_SSO, "corp", None, &base);
    let dev = Settings { profile: "dev".into(), ..Settings::default() };
    let missing = find_with(&dev, &vars(&env), dir.path());
    assert!(missing.is_err_and(|e| e.contains("failed to read cached SSO token file") && e.contains("aws sso login --profile dev")));
    std::fs::write(sso::cached_token_path(dir.path(), "corp"), r#"{"accessToken":"old","expiresAt":"2000-01-01T00:00:00Z"}"#).expect("token");
    let unrefreshable = find_with(&dev, &vars(&env), dir.path());
    assert!(unrefreshable.is_err_and(|e| e.contains("cannot be refreshed") && e.contains("aws sso login --profile dev")));
    assert!(seen.lock().map(|s| s.is_empty()).unwrap_or(false), "nothing asked of the portal without a token");
}

/// An executable script in `dir` printing `output` (or failing, when None); returns its path.
fn credential_script(dir: &std::path::Path, name: &str, output: Option<&str>) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    let body = match output {
        Some(output) => format!("#!/bin/sh\necho '{output}'\n"),
        None => "#!/bin/sh\necho 'must not run' >&2\nexit 1\n".to_string(),
    };
    std::fs::write(&path, body).expect("script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.display().to_string()
}

#[test]
fn a_credential_process_profile_gives_its_keys_and_a_role_chain_assumes_with_them() {
    let (base, seen) = serve(sso_cloud);
    let dir = tempfile::tempdir().expect("tempdir");
    let process = credential_script(dir.path(), "creds", Some(r#"{"Version":1,"AccessKeyId":"ASIAPROCESS","SecretAccessKey":"s","SessionToken":"t","Expiration":"2099-01-01T00:00:00Z"}"#));
    let config = format!("[profile proc]\ncredential_process = {process}\n[profile chained]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = proc\n");
    let env = sso_setup(dir.path(), &config, "", None, &base);
    let found = find_with(&Settings { profile: "proc".into(), ..Settings::default() }, &vars(&env), dir.path()).expect("keys");
    assert_eq!((found.keys.access_key_id.as_str(), found.expires_ms), ("ASIAPROCESS", Some(4_070_908_800_000)));
    let found = find_with(&Settings { profile: "chained".into(), ..Settings::default() }, &vars(&env), dir.path()).expect("keys");
    assert_eq!(found.keys.access_key_id, "ASIAROLE");
    let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
    let sts = requests.iter().find(|r| r.method == "POST").expect("an STS request");
    assert!(sts.header("authorization").is_some_and(|a| a.contains("Credential=ASIAPROCESS/")) && sts.header("x-amz-security-token") == Some("t"), "{sts:?}");
}

#[test]
fn a_role_chain_assumes_with_an_sso_source_and_a_self_sourced_sso_profile() {
    let (base, seen) = serve(sso_cloud);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!("{LEGACY_SSO}[profile chained]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = legacy\n[profile itself]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = itself\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Reader\n[sso-session corp]\nsso_start_url = https://corp/start\nsso_region = eu-central-1\n");
    let env = sso_setup(dir.path(), &config, "https://d-123.awsapps.com/start", Some(r#"{"accessToken":"sso-token","expiresAt":"2099-01-01T00:00:00Z"}"#), &base);
    std::fs::write(sso::cached_token_path(dir.path(), "corp"), r#"{"accessToken":"sso-token","expiresAt":"2099-01-01T00:00:00Z"}"#).expect("token");
    for profile in ["chained", "itself"] {
        let found = find_with(&Settings { profile: profile.into(), ..Settings::default() }, &vars(&env), dir.path()).expect("keys");
        assert_eq!(found.keys.access_key_id, "ASIAROLE", "{profile}");
    }
    let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
    let signed_by_sso = requests.iter().filter(|r| r.method == "POST" && r.header("authorization").is_some_and(|a| a.contains("Credential=ASIASSO/"))).count();
    let portal = requests.iter().filter(|r| r.method == "GET").count();
    assert_eq!((signed_by_sso, portal), (2, 2), "{requests:?}");
}

#[test]
fn profile_sources_are_taken_in_the_sdk_order() {
    let (base, _) = serve(sso_cloud);
    let dir = tempfile::tempdir().expect("tempdir");
    let never = credential_script(dir.path(), "never", None);
    let works = credential_script(dir.path(), "works", Some(r#"{"Version":1,"AccessKeyId":"AKIAPROCESS","SecretAccessKey":"s"}"#));
    let sso = "sso_start_url = https://d-123.awsapps.com/start\nsso_region = eu-central-1\nsso_account_id = 111122223333\nsso_role_name = Reader\n";
    let config = [
        format!("[profile keys_first]\naws_access_key_id = AKIASTATIC\naws_secret_access_key = s\ncredential_process = {never}\n"),
        format!("[profile sso_before_process]\n{sso}credential_process = {never}\n"),
        format!("[profile source_over_own]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = keys_first\n{sso}"),
        format!("[profile two_types]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = keys_first\ncredential_process = {works}\n"),
        "[profile empty_source]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = nothing\n[profile nothing]\nregion = eu-west-1\n".to_string(),
        "[profile loop_a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = loop_b\naws_access_key_id = AKIALOOPA\naws_secret_access_key = s\n[profile loop_b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = loop_a\n".to_string(),
    ]
    .concat();
    let env = sso_setup(dir.path(), &config, "https://d-123.awsapps.com/start", Some(r#"{"accessToken":"sso-token","expiresAt":"2099-01-01T00:00:00Z"}"#), &base);
    let find = |profile: &str| find_with(&Settings { profile: profile.into(), ..Settings::default() }, &vars(&env), dir.path()).map(|f| f.keys.access_key_id);
    assert_eq!(find("keys_first"), Ok("AKIASTATIC".into()), "own keys before credential_process");
    assert_eq!(find("sso_before_process"), Ok("ASIASSO".into()), "SSO before credential_process");
    assert_eq!(find("source_over_own"), Ok("ASIAROLE".into()), "source_profile over the profile's own SSO");
    assert!(find("two_types").is_err_and(|e| e.contains("only one credential type may be specified per profile")));
    assert!(find("empty_source").is_err_and(|e| e.contains("source_profile \"nothing\" has no credentials")));
    // loop_a -> loop_b -> loop_a again: read with its own keys, its role left out.
    assert_eq!(find("loop_a"), Ok("ASIAROLE".into()));
}
