//! End-to-end scrapes of targets found by `docker_sd_configs` (HTTP and a Unix socket),
//! `ec2_sd_configs` and `gce_sd_configs` against fake cloud APIs.

use super::*;

/// A Docker daemon's answers for one container on loopback exposing `port`, in network
/// `net-1`: the containers list and the networks list.
fn docker_answers(port: u16, name: &str) -> (String, String) {
    let containers = json!([
        {"Id": format!("{name}-id"), "Names": [format!("/{name}")], "Image": "exporter:1", "Labels": {"com.example.team": "storage"},
         "Ports": [{"IP": "0.0.0.0", "PrivatePort": port, "PublicPort": 0, "Type": "tcp"}, {"PrivatePort": 53, "Type": "udp"}],
         "HostConfig": {"NetworkMode": "bridge"}, "NetworkSettings": {"Networks": {"bridge": {"NetworkID": "net-1", "IPAddress": "127.0.0.1"}}}},
        {"Id": "nameless", "Names": [], "HostConfig": {"NetworkMode": "bridge"}, "NetworkSettings": {"Networks": {"bridge": {"NetworkID": "net-1", "IPAddress": "127.0.0.9"}}}}
    ]);
    let networks = json!([{"Name": "bridge", "Id": "net-1", "Scope": "local", "Internal": false, "Ingress": false, "Labels": {"com.docker.network.bridge.default_bridge": "true"}}]);
    (containers.to_string(), networks.to_string())
}

/// A Docker daemon on a Unix socket answering every request on a connection (kept alive);
/// returns the request lines it saw.
fn unix_docker_daemon(path: std::path::PathBuf, containers: String, networks: String) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind the daemon's socket");
    let seen: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (record, containers, networks) = (record.clone(), containers.clone(), networks.clone());
            std::thread::spawn(move || {
                let Ok(reader) = stream.try_clone() else { return };
                let mut reader = BufReader::new(reader);
                let mut stream = stream;
                loop {
                    let mut first = String::new();
                    if reader.read_line(&mut first).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                    }
                    let path = first.split(' ').nth(1).unwrap_or("").to_string();
                    record.lock().map(|mut r| r.push(path.clone())).ok();
                    let body = if path.starts_with("/containers/json") { &containers } else { &networks };
                    if stream.write_all(format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    seen
}

#[test]
fn docker_sd_finds_containers_over_http_and_a_unix_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let over_http = Exporter::start("docker_probe{via=\"http\"} 1\n");
    let over_socket = Exporter::start("docker_probe{via=\"socket\"} 1\n");
    let daemon = Exporter::start("");
    let (containers, networks) = docker_answers(over_http.port, "web");
    daemon.route("/containers/json", 200, &["Content-Type: application/json"], &containers);
    daemon.route("/networks", 200, &["Content-Type: application/json"], &networks);
    let socket = dir.path().join("docker.sock");
    let (containers, networks) = docker_answers(over_socket.port, "db");
    let seen = unix_docker_daemon(socket.clone(), containers, networks);
    let config = write_scrape_config(dir.path(), format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n\
             - job_name: docker\n  docker_sd_configs:\n  - {{host: 'http://{daemon}', refresh_interval: 1s}}\n  - {{host: 'unix://{socket}', refresh_interval: 1s, filters: [{{name: label, values: ['com.example.team=storage']}}]}}\n  relabel_configs:\n  - {{source_labels: [__meta_docker_container_label_com_example_team], target_label: team}}\n  - {{source_labels: [__meta_docker_container_name], target_label: container}}\n  - {{source_labels: [__meta_docker_network_label_com_docker_network_bridge_default_bridge], target_label: default_bridge}}\n",
            daemon = daemon.address(),
            socket = socket.display()
        ));
    let server = Server::start(&config);
    let found = poll_query(&server, "docker_probe", "both containers found and scraped", WAIT, |r| {
        let mut found: Vec<serde_json::Value> = r.iter().map(|s| s["metric"].clone()).collect();
        found.sort_by_key(|m| m["via"].as_str().unwrap_or("").to_string());
        (found.len() == 2).then_some(found)
    });
    assert_eq!(found[0], json!({"__name__": "docker_probe", "via": "http", "team": "storage", "container": "/web", "default_bridge": "true", "instance": over_http.address(), "job": "docker"}));
    assert_eq!(found[1], json!({"__name__": "docker_probe", "via": "socket", "team": "storage", "container": "/db", "default_bridge": "true", "instance": over_socket.address(), "job": "docker"}));
    let targets = poll_targets(&server, WAIT, |t| t["data"]["activeTargets"].as_array().is_some_and(|a| a.len() == 2));
    let web = targets["data"]["activeTargets"].as_array().and_then(|a| a.iter().find(|t| t["labels"]["container"] == "/web")).cloned().unwrap_or_default();
    let discovered = &web["discoveredLabels"];
    assert_eq!((discovered["__meta_docker_container_id"].as_str(), discovered["__meta_docker_network_name"].as_str(), discovered["__meta_docker_port_private"].as_str()), (Some("web-id"), Some("bridge"), Some(over_http.port.to_string().as_str())), "{web}");
    let paths = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(paths.iter().any(|p| p == "/containers/json?filters=%7B%22label%22%3A%5B%22com.example.team%3Dstorage%22%5D%7D") && paths.iter().any(|p| p == "/networks"), "{paths:?}");
    assert!(server.stop(), "clean shutdown");
}

/// One request a fake cloud API saw: method, path, headers (names lowercased), body.
struct FakeRequest {
    method: String,
    path: String,
    headers: std::collections::HashMap<String, String>,
    body: String,
}

/// Whether `request` carries a valid Signature Version 4 by `secret` for `service`, checked
/// by signing it again with what it says it signed.
fn aws_signed_by(request: &FakeRequest, secret: &str, service: &str) -> bool {
    use metricstor::scrape::aws::sigv4;
    let Some(authorization) = request.headers.get("authorization") else { return false };
    let Some(credential) = authorization.split("Credential=").nth(1).and_then(|c| c.split(',').next()) else { return false };
    let scope: Vec<&str> = credential.split('/').collect();
    let Some(signed_names) = authorization.split("SignedHeaders=").nth(1).and_then(|c| c.split(',').next()) else { return false };
    // The headers it signed, other than those signing adds.
    let headers: Vec<(String, String)> = signed_names.split(';').filter(|n| !matches!(*n, "host" | "x-amz-date" | "x-amz-security-token")).map(|n| (n.to_string(), request.headers.get(n).cloned().unwrap_or_default())).collect();
    let keys = sigv4::Keys { access_key_id: scope[0].to_string(), secret_access_key: secret.to_string(), session_token: request.headers.get("x-amz-security-token").cloned() };
    let (host, date) = (request.headers.get("host").cloned().unwrap_or_default(), request.headers.get("x-amz-date").cloned().unwrap_or_default());
    let again = sigv4::Request { method: &request.method, host: &host, path: &request.path, query: &[], headers: &headers, body: request.body.as_bytes(), region: scope.get(2).copied().unwrap_or(""), service, amz_date: &date };
    scope.get(3) == Some(&service) && sigv4::sign(&keys, &again).iter().any(|(n, v)| n == "Authorization" && v == authorization)
}

/// A fake cloud API on loopback answering each request (kept-alive connections) with
/// `answer`'s status and body; returns its address and the log lines `answer` gave.
fn fake_cloud(answer: fn(&FakeRequest) -> (u16, String, String)) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a fake cloud API");
    let address = listener.local_addr().expect("address").to_string();
    let log: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
    let record = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let record = record.clone();
            std::thread::spawn(move || {
                let Ok(reader) = stream.try_clone() else { return };
                let mut reader = BufReader::new(reader);
                let mut stream = stream;
                loop {
                    let mut first = String::new();
                    if reader.read_line(&mut first).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut headers = std::collections::HashMap::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = line.trim_end().split_once(':') {
                            headers.insert(name.to_ascii_lowercase(), value.trim().to_string());
                        }
                    }
                    let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let mut parts = first.split(' ');
                    let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
                    let request = FakeRequest { method, path, headers, body: String::from_utf8_lossy(&body).into_owned() };
                    let (status, answer, line) = answer(&request);
                    record.lock().map(|mut r| r.push(line)).ok();
                    if stream.write_all(format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n{answer}", answer.len()).as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (address, log)
}

/// A fake AWS: the instance metadata service (IMDSv2, a role, the region), STS' AssumeRole
/// and EC2's DescribeAvailabilityZones and DescribeInstances (two pages), each checking its
/// signature. Logs "<Action or path> <key ID or ->" lines, "BAD SIGNATURE" where a signature
/// did not check.
fn fake_aws_answer(request: &FakeRequest) -> (u16, String, String) {
    const IMDS_TOKEN: &str = "imds-token-1";
    let form: std::collections::HashMap<String, String> = request.body.split('&').filter_map(|p| p.split_once('=')).map(|(n, v)| (n.to_string(), v.replace("%3A", ":").replace("%2F", "/"))).collect();
    let key_id = request.headers.get("authorization").and_then(|a| a.split("Credential=").nth(1)).and_then(|c| c.split('/').next()).unwrap_or("-").to_string();
    if request.path.starts_with("/latest/") {
        if request.method == "PUT" && request.path == "/latest/api/token" {
            return (200, IMDS_TOKEN.into(), "imds token".into());
        }
        if request.headers.get("x-aws-ec2-metadata-token").map(String::as_str) != Some(IMDS_TOKEN) {
            return (401, String::new(), format!("{} without token", request.path));
        }
        let answer = match request.path.as_str() {
            "/latest/meta-data/placement/region" => "eu-west-3".to_string(),
            "/latest/meta-data/iam/security-credentials/" => "prom-instance\n".to_string(),
            "/latest/meta-data/iam/security-credentials/prom-instance" => json!({"Code": "Success", "AccessKeyId": "ASIAINSTANCE", "SecretAccessKey": "instance-secret", "Token": "instance-token", "Expiration": "2099-01-01T00:00:00Z"}).to_string(),
            _ => return (404, String::new(), format!("{} unknown", request.path)),
        };
        return (200, answer, request.path.clone());
    }
    let action = form.get("Action").cloned().unwrap_or_default();
    let secret = match key_id.as_str() {
        "ASIAINSTANCE" => "instance-secret",
        "ASIAROLE" => "role-secret",
        "AKIDTEAM" => "team-secret",
        _ => "",
    };
    let service = if action == "AssumeRole" { "sts" } else { "ec2" };
    if !aws_signed_by(request, secret, service) {
        return (403, "<Response><Errors><Error><Code>AuthFailure</Code><Message>bad signature</Message></Error></Errors></Response>".into(), format!("{action} {key_id} BAD SIGNATURE"));
    }
    let answer = match action.as_str() {
        "AssumeRole" if form.get("RoleArn").map(String::as_str) == Some("arn:aws:iam::123456789012:role/prom") && form.get("ExternalId").map(String::as_str) == Some("ext-1") => {
            "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials><AccessKeyId>ASIAROLE</AccessKeyId><SecretAccessKey>role-secret</SecretAccessKey><SessionToken>role-token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>".to_string()
        }
        "DescribeAvailabilityZones" => "<DescribeAvailabilityZonesResponse><availabilityZoneInfo><item><zoneName>eu-west-3a</zoneName><zoneId>euw3-az1</zoneId></item></availabilityZoneInfo></DescribeAvailabilityZonesResponse>".to_string(),
        "DescribeInstances" if form.get("Filter.1.Name").map(String::as_str) == Some("tag:team") && form.get("Filter.1.Value.1").map(String::as_str) == Some("storage") => {
            let instance = |id: &str, ip: &str, tags: &str| format!("<item><instanceId>{id}</instanceId><imageId>ami-1</imageId><instanceState><code>16</code><name>running</name></instanceState><privateDnsName>{id}.internal</privateDnsName><instanceType>t3.micro</instanceType><placement><availabilityZone>eu-west-3a</availabilityZone></placement>{ip}<architecture>x86_64</architecture><tagSet>{tags}</tagSet></item>");
            match form.get("NextToken").map(String::as_str) {
                None => format!(
                    "<DescribeInstancesResponse><reservationSet><item><ownerId>123456789012</ownerId><instancesSet>{}</instancesSet></item></reservationSet><nextToken>page-2</nextToken></DescribeInstancesResponse>",
                    instance("i-0001", "<privateIpAddress>127.0.0.1</privateIpAddress>", "<item><key>Name</key><value>storage-1</value></item><item><key>team</key><value>storage</value></item>")
                ),
                Some("page-2") => format!(
                    "<DescribeInstancesResponse><reservationSet><item><ownerId>123456789012</ownerId><instancesSet>{}{}</instancesSet></item></reservationSet></DescribeInstancesResponse>",
                    instance("i-0002", "<privateIpAddress>192.0.2.10</privateIpAddress>", "<item><key>Name</key><value>storage-2</value></item>"),
                    instance("i-0003", "", "")
                ),
                Some(_) => return (400, String::new(), format!("{action} unknown token")),
            }
        }
        "DescribeInstances" => "<DescribeInstancesResponse><reservationSet/></DescribeInstancesResponse>".to_string(),
        _ => return (400, "<Response><Errors><Error><Code>InvalidAction</Code><Message>no</Message></Error></Errors></Response>".into(), format!("{action} {key_id} unexpected")),
    };
    (200, answer, format!("{action} {key_id}"))
}

#[test]
fn ec2_sd_finds_instances_with_an_assumed_role_and_with_a_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("ec2_probe 1\n");
    let (aws, log) = fake_cloud(fake_aws_answer);
    let credentials = dir.path().join("aws-credentials");
    // No default profile: the role job's keys come from the instance's role.
    std::fs::write(&credentials, "[team]\naws_access_key_id = AKIDTEAM\naws_secret_access_key = team-secret\n").expect("credentials file");
    let config = write_scrape_config(dir.path(), format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n\
             - job_name: ec2_role\n  ec2_sd_configs:\n  - {{endpoint: 'http://{aws}', role_arn: 'arn:aws:iam::123456789012:role/prom', external_id: ext-1, port: {port}, refresh_interval: 1s, filters: [{{name: 'tag:team', values: [storage]}}]}}\n  relabel_configs:\n  - {{source_labels: [__meta_ec2_tag_Name], target_label: name}}\n  - {{source_labels: [__meta_ec2_availability_zone_id], target_label: zone_id}}\n\
             - job_name: ec2_profile\n  ec2_sd_configs:\n  - {{endpoint: 'http://{aws}', region: eu-central-1, profile: team, port: {port}, refresh_interval: 1s, filters: [{{name: 'tag:team', values: [storage]}}]}}\n  relabel_configs:\n  - {{source_labels: [__meta_ec2_region], target_label: region}}\n",
            port = exporter.port
        ));
    let imds = format!("http://{aws}");
    let credentials_file = credentials.display().to_string();
    let home = dir.path().display().to_string();
    let mut env = vec![("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.as_str()), ("AWS_ENDPOINT_URL_STS", imds.as_str()), ("AWS_SHARED_CREDENTIALS_FILE", credentials_file.as_str()), ("HOME", home.as_str())];
    // Nothing of the machine's own AWS settings may take part.
    for name in ["AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_EC2_METADATA_DISABLED"] {
        env.push((name, ""));
    }
    let server = Server::start_with_env(&config, &env);
    let found = poll_query(&server, "ec2_probe", "both jobs' instance scraped", WAIT, |r| {
        let mut found: Vec<serde_json::Value> = r.iter().map(|s| s["metric"].clone()).collect();
        found.sort_by_key(|m| m["job"].as_str().unwrap_or("").to_string());
        (found.len() == 2).then_some(found)
    });
    let instance = exporter.address();
    assert_eq!(found[0], json!({"__name__": "ec2_probe", "job": "ec2_profile", "region": "eu-central-1", "instance": instance}));
    assert_eq!(found[1], json!({"__name__": "ec2_probe", "job": "ec2_role", "name": "storage-1", "zone_id": "euw3-az1", "instance": instance}));
    // Both pages were read: the second page's instance is a target too (down), the third has no address.
    let targets = poll_targets(&server, WAIT, |t| (t["data"]["activeTargets"].as_array()?.len() == 4).then_some(()));
    let role_targets: Vec<&serde_json::Value> = targets["data"]["activeTargets"].as_array().map(|a| a.iter().filter(|t| t["labels"]["job"] == "ec2_role").collect()).unwrap_or_default();
    let second = role_targets.iter().find(|t| t["labels"]["name"] == "storage-2").copied().cloned().unwrap_or_default();
    assert_eq!(second["discoveredLabels"]["__address__"], format!("192.0.2.10:{}", exporter.port), "{second}");
    let discovered = &second["discoveredLabels"];
    assert_eq!(
        (discovered["__meta_ec2_instance_id"].as_str(), discovered["__meta_ec2_region"].as_str(), discovered["__meta_ec2_owner_id"].as_str(), discovered["__meta_ec2_private_dns_name"].as_str()),
        (Some("i-0002"), Some("eu-west-3"), Some("123456789012"), Some("i-0002.internal")),
        "{second}"
    );
    let seen = log.lock().map(|l| l.clone()).unwrap_or_default();
    assert!(!seen.iter().any(|l| l.contains("BAD SIGNATURE") || l.contains("without token") || l.contains("unexpected")), "{seen:?}");
    for expected in ["/latest/meta-data/placement/region", "AssumeRole ASIAINSTANCE", "DescribeAvailabilityZones ASIAROLE", "DescribeInstances ASIAROLE", "DescribeInstances AKIDTEAM"] {
        assert!(seen.iter().any(|l| l == expected), "{expected} not among {seen:?}");
    }
    assert!(server.stop(), "clean shutdown");
}

/// The test service account's key (a throwaway RSA key made for this test, PKCS#8).
const GCE_TEST_KEY: &str = include_str!("../fixtures/gce_test_service_account.pem");

/// A fake Google: the OAuth token endpoint (checking the service account's RS256 assertion),
/// the metadata server's token, and Compute Engine's instances.list of proj-1's zone
/// europe-west1-b over two pages (checking the token and the filter).
/// Set: the fake Compute API refuses the next instances request with 401, as Google does
/// for a revoked token.
static REVOKE_NEXT_TOKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn fake_google_answer(request: &FakeRequest) -> (u16, String, String) {
    use base64::Engine;
    let decode = |part: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap_or_default();
    if request.method == "POST" && request.path == "/token" {
        let assertion = request.body.split('&').find_map(|p| p.strip_prefix("assertion=")).unwrap_or("").to_string();
        let parts: Vec<&str> = assertion.split('.').collect();
        if parts.len() != 3 || !request.body.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer") {
            return (400, r#"{"error":"invalid_request"}"#.into(), "token: malformed".into());
        }
        let der = base64::engine::general_purpose::STANDARD.decode(GCE_TEST_KEY.lines().filter(|l| !l.starts_with("-----")).collect::<String>()).unwrap_or_default();
        let Ok(key) = ring::signature::RsaKeyPair::from_pkcs8(&der) else { return (500, String::new(), "token: bad test key".into()) };
        let public = ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, ring::signature::KeyPair::public_key(&key).as_ref().to_vec());
        if public.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &decode(parts[2])).is_err() {
            return (400, r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#.into(), "token: BAD SIGNATURE".into());
        }
        let claims: serde_json::Value = serde_json::from_slice(&decode(parts[1])).unwrap_or_default();
        let header: serde_json::Value = serde_json::from_slice(&decode(parts[0])).unwrap_or_default();
        let audience = format!("http://{}/token", request.headers.get("host").map(String::as_str).unwrap_or(""));
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let (iat, exp) = (claims["iat"].as_i64().unwrap_or(0), claims["exp"].as_i64().unwrap_or(0));
        let fine = claims["iss"] == "prom@proj-1.iam.gserviceaccount.com"
            && claims["scope"] == "https://www.googleapis.com/auth/compute.readonly"
            && claims["aud"] == audience.as_str()
            && exp - iat == 3600
            && (now - 60..=now).contains(&iat)
            && header["alg"] == "RS256"
            && header["kid"] == "key-1";
        if !fine {
            return (400, r#"{"error":"invalid_grant"}"#.into(), format!("token: wrong claims {claims} {header}"));
        }
        return (200, r#"{"access_token":"tok-sa","expires_in":3599,"token_type":"Bearer"}"#.into(), "token: service account".into());
    }
    if request.path == "/computeMetadata/v1/instance/service-accounts/default/token?scopes=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcompute.readonly" {
        if request.headers.get("metadata-flavor").map(String::as_str) != Some("Google") {
            return (403, String::new(), "metadata: no flavor".into());
        }
        return (200, r#"{"access_token":"tok-md","expires_in":3599,"token_type":"Bearer"}"#.into(), "token: metadata".into());
    }
    let authorization = request.headers.get("authorization").cloned().unwrap_or_default();
    if !request.path.starts_with("/compute/v1/projects/proj-1/zones/europe-west1-b/instances?alt=json&filter=labels.team+%3D+storage&maxResults=100") {
        return (404, r#"{"error":{"code":404,"message":"unknown"}}"#.into(), format!("unknown {}", request.path));
    }
    if REVOKE_NEXT_TOKEN.swap(false, std::sync::atomic::Ordering::SeqCst) {
        return (401, r#"{"error":{"code":401,"message":"Request had invalid authentication credentials."}}"#.into(), "instances: REVOKED".into());
    }
    if authorization != "Bearer tok-sa" && authorization != "Bearer tok-md" {
        return (401, r#"{"error":{"code":401,"message":"Request had invalid authentication credentials."}}"#.into(), format!("instances: UNAUTHORIZED {authorization}"));
    }
    let instance = |id: u64, ip: &str| {
        json!({"id": id.to_string(), "name": format!("vm-{id}"), "zone": "https://www.googleapis.com/compute/v1/projects/proj-1/zones/europe-west1-b", "status": "RUNNING",
               "machineType": "https://www.googleapis.com/compute/v1/projects/proj-1/zones/europe-west1-b/machineTypes/e2-small",
               "networkInterfaces": [{"name": "nic0", "network": "default", "networkIP": ip}], "labels": {"team": "storage"}, "tags": {"items": ["prom"]}})
    };
    let body = if request.path.contains("pageToken=page-2") {
        json!({"items": [instance(2, "192.0.2.20")]})
    } else {
        json!({"items": [instance(1, "127.0.0.1")], "nextPageToken": "page-2"})
    };
    (200, body.to_string(), format!("instances {authorization}"))
}

/// The environment of a server that must see none of the machine's own Google settings.
fn google_env<'a>(home: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![("HOME", home), ("GOOGLE_APPLICATION_CREDENTIALS", ""), ("CLOUDSDK_CONFIG", ""), ("GCE_METADATA_HOST", ""), ("METRICSTOR_GCE_ENDPOINT", "")];
    for (name, value) in extra {
        env.retain(|(n, _)| n != name);
        env.push((name, value));
    }
    env
}

#[test]
fn gce_sd_finds_instances_with_a_service_account_and_with_the_metadata_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("gce_probe 1\n");
    let (google, log) = fake_cloud(fake_google_answer);
    let endpoint = format!("http://{google}");
    let key_file = dir.path().join("service-account.json");
    std::fs::write(&key_file, json!({"type": "service_account", "project_id": "proj-1", "private_key_id": "key-1", "private_key": GCE_TEST_KEY, "client_email": "prom@proj-1.iam.gserviceaccount.com", "token_uri": format!("{endpoint}/token")}).to_string()).expect("key file");
    let config = write_scrape_config(dir.path(), format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n- job_name: gce\n  gce_sd_configs:\n  - {{project: proj-1, zone: europe-west1-b, filter: 'labels.team = storage', port: {port}, refresh_interval: 1s, tag_separator: '|'}}\n  relabel_configs:\n  - {{source_labels: [__meta_gce_instance_name], target_label: name}}\n  - {{source_labels: [__meta_gce_tags], target_label: tags}}\n",
            port = exporter.port
        ));
    let home = dir.path().display().to_string();
    let key_path = key_file.display().to_string();
    for (how, env, token_line) in [
        ("service account", google_env(&home, &[("GOOGLE_APPLICATION_CREDENTIALS", &key_path), ("METRICSTOR_GCE_ENDPOINT", &endpoint)]), "token: service account"),
        ("metadata server", google_env(&home, &[("GCE_METADATA_HOST", &google), ("METRICSTOR_GCE_ENDPOINT", &endpoint)]), "token: metadata"),
    ] {
        log.lock().map(|mut l| l.clear()).ok();
        let server = Server::start_with_env(&config, &env);
        let found = poll_query(&server, "gce_probe", &format!("the instance found with the {how} and scraped"), WAIT, |r| r.first().map(|s| s["metric"].clone()));
        assert_eq!(found, json!({"__name__": "gce_probe", "job": "gce", "name": "vm-1", "tags": "|prom|", "instance": exporter.address()}), "{how}");
        // The second page's instance is a target too (down).
        let targets = poll_targets(&server, WAIT, |t| t["data"]["activeTargets"].as_array().is_some_and(|a| a.len() == 2));
        let second = targets["data"]["activeTargets"].as_array().and_then(|a| a.iter().find(|t| t["labels"]["name"] == "vm-2")).cloned().unwrap_or_default();
        assert_eq!((second["discoveredLabels"]["__address__"].as_str(), second["discoveredLabels"]["__meta_gce_instance_id"].as_str()), (Some(format!("192.0.2.20:{}", exporter.port).as_str()), Some("2")), "{how}: {second}");
        // Over at least two refreshes (two pages each) the token is asked once.
        let deadline = std::time::Instant::now() + WAIT;
        let seen = loop {
            let seen = log.lock().map(|l| l.clone()).unwrap_or_default();
            if seen.iter().filter(|l| l.starts_with("instances ")).count() >= 4 {
                break seen;
            }
            assert!(std::time::Instant::now() < deadline, "{how}: two refreshes: {seen:?}");
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(seen.iter().filter(|l| *l == token_line).count(), 1, "{how}: {seen:?}");
        assert!(seen.iter().all(|l| l == token_line || l.starts_with("instances Bearer tok-")), "{how}: {seen:?}");
        // A token refused with 401 is let go: the next refresh asks for a new one.
        log.lock().map(|mut l| l.clear()).ok();
        REVOKE_NEXT_TOKEN.store(true, std::sync::atomic::Ordering::SeqCst);
        let deadline = std::time::Instant::now() + WAIT;
        let seen = loop {
            let seen = log.lock().map(|l| l.clone()).unwrap_or_default();
            let revoked = seen.iter().position(|l| l == "instances: REVOKED");
            if revoked.is_some_and(|at| seen[at..].iter().filter(|l| l.starts_with("instances Bearer tok-")).count() >= 2) {
                break seen;
            }
            assert!(std::time::Instant::now() < deadline, "{how}: a refresh after the 401: {seen:?}");
            std::thread::sleep(Duration::from_millis(100));
        };
        let revoked = seen.iter().position(|l| l == "instances: REVOKED").unwrap_or(0);
        assert_eq!(seen[revoked..].iter().filter(|l| *l == token_line).count(), 1, "{how}: one new token after the 401: {seen:?}");
        assert!(server.stop(), "clean shutdown");
    }
}
