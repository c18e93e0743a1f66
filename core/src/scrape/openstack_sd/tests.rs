//! Whole entries against the mock cloud: Prometheus' own expected label sets for each role,
//! the requests gophercloud makes (version document, token, version checks, pages), the
//! catalog interface and region chosen, and failures in gophercloud's and Prometheus' words.

use std::collections::BTreeMap;

use super::mock::{cloud, run, serve, Seen, TOKEN};
use super::*;

fn entry(yaml: &str) -> ScrapeConfig {
    ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: o, openstack_sd_configs: [{yaml}]}}]"), std::path::Path::new("/tmp"), crate::ingest::label_limits::LabelLimits::default()).expect("valid")
}

/// One refresh of the job's first entry.
fn refresh(config: &ScrapeConfig) -> Result<Vec<TargetGroup>, String> {
    let sd = &config.jobs[0].openstack_sd[0];
    let Credentials::Written(auth) = &sd.credentials else { panic!("the entry names its identity endpoint") };
    let mut asker = Asker { auth: auth.as_ref().clone(), clients: Clients::default() };
    run(async { ask(&mut asker, sd).await })
}

fn seen(log: &std::sync::Mutex<Vec<Seen>>) -> Vec<Seen> {
    log.lock().map(|s| s.clone()).unwrap_or_default()
}

fn labels(address: &str, pairs: &[(&str, &str)]) -> (String, BTreeMap<String, String>) {
    (address.to_string(), pairs.iter().map(|(k, v)| (format!("__meta_openstack_{k}"), v.to_string())).collect())
}

fn targets(groups: &[TargetGroup]) -> Vec<(String, BTreeMap<String, String>)> {
    groups.iter().map(|g| (g.targets.join(","), g.labels.clone())).collect()
}

const USER: &str = "password: test, username: test, domain_name: '12345', region: RegionOne";

#[test]
fn instances_are_the_targets_and_labels_of_prometheus_test() {
    let (base, log) = serve(cloud);
    let groups = refresh(&entry(&format!("{{identity_endpoint: '{base}/', {USER}, role: instance, all_tenants: true, port: 0}}"))).expect("a refresh");
    let common = |extra: &[(&'static str, &'static str)]| {
        let mut all = vec![("project_id", "fcad67a6189847c4aecfa3c81a05783b"), ("user_id", "9349aff8be7545ac9d2f1d00999a23cd"), ("instance_status", "ACTIVE"), ("address_pool", "private")];
        all.extend_from_slice(extra);
        all
    };
    let image = ("instance_image", "f90f6034-2570-4974-8351-6b49732ef2eb");
    let merp = [("instance_flavor", "m1.small"), ("instance_id", "9e5476bd-a4ec-4653-93d6-72c93aa682bb"), ("instance_name", "merp"), ("tag_env", "prod")];
    let project2 = [("instance_flavor", "m1.small"), ("instance_id", "87caf8ed-d92a-41f6-9dcd-d1399e39899f"), ("instance_name", "merp-project2"), ("tag_env", "prod")];
    let mut expected = vec![
        labels("10.0.0.32:0", &common(&[("instance_flavor", "1"), ("instance_id", "ef079b0c-e610-4dfb-b1aa-b49f07ac48e5"), image, ("instance_name", "herp"), ("private_ip", "10.0.0.32"), ("public_ip", "10.10.10.2")])),
        labels("10.0.0.31:0", &common(&[("instance_flavor", "m1.medium"), ("instance_id", "9e5476bd-a4ec-4653-93d6-72c93aa682ba"), image, ("instance_name", "derp"), ("private_ip", "10.0.0.31")])),
        labels("10.0.0.33:0", &common(&[merp.as_slice(), &[("private_ip", "10.0.0.33")]].concat())),
        labels("10.0.0.34:0", &common(&[merp.as_slice(), &[("private_ip", "10.0.0.34"), ("public_ip", "10.10.10.4")]].concat())),
        labels("10.0.0.33:0", &common(&[project2.as_slice(), &[("private_ip", "10.0.0.33")]].concat())),
        labels("10.0.0.34:0", &common(&[project2.as_slice(), &[("private_ip", "10.0.0.34"), ("public_ip", "10.10.10.24")]].concat())),
    ];
    for (_, set) in expected.iter_mut().skip(4) {
        set.insert("__meta_openstack_project_id".into(), "b78fef2305934dbbbeb9a10b4c326f7a".into());
    }
    assert_eq!(targets(&groups), expected);

    // gophercloud's requests: the version document, a token, each service's version
    // document (no version in its path), then the lists with the token, page by page.
    let seen = seen(&log);
    let asked: Vec<(&str, &str)> = seen.iter().map(|s| (s.method.as_str(), s.path.as_str())).collect();
    assert_eq!(
        asked,
        [
            ("GET", "/"),
            ("POST", "/v3/auth/tokens"),
            ("GET", "/"),
            ("GET", "/"),
            ("GET", "/v2.0/ports"),
            ("GET", "/v2.0/floatingips"),
            ("GET", "/servers/detail?all_tenants=true"),
            ("GET", "/servers/detail?all_tenants=true&marker=9e5476bd-a4ec-4653-93d6-72c93aa682ba"),
        ]
    );
    let body: serde_json::Value = serde_json::from_str(&seen[1].body).expect("JSON");
    assert_eq!(body, serde_json::json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "test", "password": "test", "domain": {"name": "12345"}}}}}}));
    assert_eq!(seen[1].header("content-type"), Some("application/json"));
    assert_eq!(seen[1].header("x-auth-token"), None, "no token is sent for a token");
    assert!(seen[4..].iter().all(|s| s.header("x-auth-token") == Some(TOKEN) && s.header("accept") == Some("application/json")), "{seen:?}");
}

#[test]
fn hypervisors_are_the_targets_and_labels_of_prometheus_test() {
    let (base, log) = serve(cloud);
    // A versioned identity endpoint is taken as it is, without asking its base.
    let groups = refresh(&entry(&format!("{{identity_endpoint: '{base}/v3', {USER}, role: hypervisor, port: 0}}"))).expect("a refresh");
    let hypervisor = |id, name, ip| labels(&format!("{ip}:0"), &[("hypervisor_hostname", name), ("hypervisor_type", "QEMU"), ("hypervisor_host_ip", ip), ("hypervisor_state", "up"), ("hypervisor_status", "enabled"), ("hypervisor_id", id)]);
    assert_eq!(targets(&groups), [hypervisor("1", "nc14.cloud.com", "172.16.70.14"), hypervisor("721", "cc13.cloud.com", "172.16.70.13")]);
    let paths: Vec<String> = seen(&log).iter().map(|s| s.path.clone()).collect();
    assert_eq!(paths, ["/v3/auth/tokens", "/", "/os-hypervisors/detail"]);
}

#[test]
fn load_balancers_are_the_targets_and_labels_of_prometheus_test() {
    let (base, _) = serve(cloud);
    let groups = refresh(&entry(&format!("{{identity_endpoint: '{base}', {USER}, role: loadbalancer}}"))).expect("a refresh");
    let lb = |address: &str, id, name, zone, vip, project, extra: &[(&'static str, &'static str)]| {
        let mut pairs = vec![
            ("loadbalancer_id", id),
            ("loadbalancer_name", name),
            ("loadbalancer_operating_status", "ONLINE"),
            ("loadbalancer_provisioning_status", "ACTIVE"),
            ("loadbalancer_availability_zone", zone),
            ("loadbalancer_vip", vip),
            ("loadbalancer_provider", "amphora"),
            ("project_id", project),
        ];
        pairs.extend_from_slice(extra);
        labels(address, &pairs)
    };
    assert_eq!(
        targets(&groups),
        [
            lb("10.0.0.32:9273", "ef079b0c-e610-4dfb-b1aa-b49f07ac48e5", "lb1", "az1", "10.0.0.32", "fcad67a6189847c4aecfa3c81a05783b", &[("loadbalancer_floating_ip", "192.168.1.2"), ("loadbalancer_tags", "tag1,tag2")]),
            lb("10.0.2.78:8080", "d92c471e-8d3e-4b9f-b2b5-9c72a9e3ef54", "lb3", "az3", "10.0.2.78", "ac57f03dba1a4fdebff3e67201bc7a85", &[("loadbalancer_floating_ip", "192.168.3.4"), ("loadbalancer_tags", "tag5,tag6")]),
            lb("10.0.3.99:9090", "f5c7e918-df38-4a5a-a7d4-d9c27ab2cf67", "lb4", "az1", "10.0.3.99", "fa8c372dfe4d4c92b0c4e3a2d9b3c9fa", &[("loadbalancer_floating_ip", "192.168.4.5")]),
            lb("10.0.4.88:9876", "e83a6d92-7a3e-4567-94b3-20c83b32a75e", "lb5", "az4", "10.0.4.88", "a5d3b2e1e6f34cd9a5f7c2f01a6b8e29", &[]),
        ]
    );
}

#[test]
fn the_catalog_interface_and_region_choose_the_endpoint() {
    let (base, log) = serve(cloud);
    let groups = refresh(&entry(&format!("{{identity_endpoint: '{base}/', {USER}, role: instance, availability: internal}}"))).expect("a refresh");
    assert_eq!(groups.len(), 6);
    assert!(groups.iter().all(|g| g.targets[0].ends_with(":80")), "the default port");
    let paths: Vec<String> = seen(&log).iter().map(|s| s.path.clone()).collect();
    assert!(paths.contains(&"/internal/servers/detail".to_string()), "{paths:?}");

    let (base, _) = serve(cloud);
    let error = refresh(&entry(&format!("{{identity_endpoint: '{base}/', password: test, username: test, domain_name: '12345', region: RegionTwo, role: hypervisor}}"))).expect_err("no endpoint");
    assert_eq!(error, "could not create OpenStack compute session: No suitable endpoint could be found in the service catalog.");
    let (base, _) = serve(cloud);
    let error = refresh(&entry(&format!("{{identity_endpoint: '{base}/', {USER}, role: hypervisor, availability: admin}}"))).expect_err("no admin endpoint");
    assert!(error.starts_with("could not create OpenStack compute session"), "{error}");
}

#[test]
fn an_application_credential_and_a_project_scope_are_asked_as_gophercloud_asks_them() {
    let (base, log) = serve(cloud);
    let yaml = format!("{{identity_endpoint: '{base}/v3/', application_credential_id: ac-1, application_credential_secret: appsecret, region: RegionOne, role: hypervisor}}");
    assert_eq!(refresh(&entry(&yaml)).expect("a refresh").len(), 2);
    let body: serde_json::Value = serde_json::from_str(&seen(&log)[0].body).expect("JSON");
    assert_eq!(body, serde_json::json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": "ac-1", "secret": "appsecret"}}}}));

    let (base, log) = serve(cloud);
    let yaml = format!("{{identity_endpoint: '{base}/v3/', userid: u-1, password: test, project_id: p-1, region: RegionOne, role: hypervisor}}");
    assert_eq!(refresh(&entry(&yaml)).expect("a refresh").len(), 2);
    let body: serde_json::Value = serde_json::from_str(&seen(&log)[0].body).expect("JSON");
    assert_eq!(body, serde_json::json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": "u-1", "password": "test"}}}, "scope": {"project": {"id": "p-1"}}}}));
}

#[test]
fn failures_are_worded_as_prometheus_and_gophercloud_word_them() {
    let (base, log) = serve(cloud);
    let error = refresh(&entry(&format!("{{identity_endpoint: '{base}/v3', password: wrong, username: test, domain_name: '12345', region: RegionOne, role: instance}}"))).expect_err("refused");
    assert_eq!(
        error,
        format!("could not authenticate to OpenStack: Expected HTTP response code [201 202] when accessing [POST {base}/v3/auth/tokens], but got 401 instead: {{\"error\": {{\"code\": 401, \"message\": \"The request you have made requires authentication.\", \"title\": \"Unauthorized\"}}}}")
    );
    assert_eq!(seen(&log).len(), 1, "nothing is listed without a token");

    let (base, log) = serve(cloud);
    let error = refresh(&entry(&format!("{{identity_endpoint: '{base}/v3', password: test, username: test, region: RegionOne, role: instance}}"))).expect_err("no domain");
    assert_eq!(error, "could not authenticate to OpenStack: You must provide exactly one of DomainID or DomainName to authenticate by Username");
    assert!(seen(&log).is_empty(), "an incomplete request is not sent");

    // Nothing listening: Go's words for a request that cannot be sent.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address");
    let error = refresh(&entry(&format!("{{identity_endpoint: 'http://{closed}/', {USER}, role: instance}}"))).expect_err("unreachable");
    assert!(error.starts_with(&format!("could not authenticate to OpenStack: Get \"http://{closed}/\": ")), "{error}");
}
