//! azure_sd against a mock of Azure AD, the metadata service and Resource Manager on
//! 127.0.0.1: Prometheus' refresh test with its expected label sets, the three ways of
//! getting a token, what is kept between refreshes, and refusals in Prometheus' words.

use std::collections::BTreeMap;

use super::*;
use crate::scrape::fake_api::{run, serve, Seen};

const NIC_ID: &str = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/networkInterfaces/{networkInterfaceName}";
const SUBSCRIPTION: &str = "00000000-0000-0000-0000-00000000000";
const VM_ID: &str = "/subscriptions/00000000-0000-0000-0000-00000000000/resourceGroups/{resourceGroup}/providers/Microsoft.Compute/virtualMachine/";
const SCALE_SET_ID: &str = "/subscriptions/00000000-0000-0000-0000-00000000000/resourceGroups/{resourceGroup}/providers/Microsoft.Compute/virtualMachineScaleSets/vmScaleSet1";

/// A machine as Prometheus' tests build them (`defaultVMWithIDAndName`,
/// `defaultVMSSVMWithIDAndName`), in Resource Manager's JSON.
fn machine_json(id: &str, name: &str, instance_id: Option<&str>, nic_ids: &[&str]) -> String {
    let instance = instance_id.map(|i| format!(r#""instanceId": "{i}","#)).unwrap_or_default();
    let nics = nic_ids.iter().map(|n| format!(r#"{{"id": "{n}"}}"#)).collect::<Vec<_>>().join(", ");
    format!(
        r#"{{"id": "{id}", "name": "{name}", "type": "Microsoft.Compute/virtualMachines", {instance} "location": "australiaeast", "tags": {{"prometheus": ""}},
            "properties": {{"osProfile": {{"computerName": "computer_name"}}, "storageProfile": {{"osDisk": {{"osType": "Linux"}}}},
                            "networkProfile": {{"networkInterfaces": [{nics}]}}, "hardwareProfile": {{"vmSize": "size"}}}}}}"#
    )
}

fn page(items: &[String], next: Option<String>) -> String {
    let next = next.map(|n| format!(r#", "nextLink": "{n}""#)).unwrap_or_default();
    format!(r#"{{"value": [{}]{next}}}"#, items.join(", "))
}

/// The mock's own origin, from the request's Host header, for `nextLink`s.
fn origin(request: &Seen) -> String {
    format!("http://{}", request.header("host").unwrap_or("127.0.0.1"))
}

/// Prometheus' TestAzureRefresh scenario behind the metadata service's token: VMs over two
/// pages, one scale set with two VMs, every machine on the same interface.
fn prometheus_api(request: &Seen) -> (u16, String) {
    let compute = format!("/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Compute");
    if request.path.starts_with("/metadata/identity/oauth2/token?") {
        let expected = ["/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.core.windows.net%2F", "/metadata/identity/oauth2/token?api-version=2018-02-01&client_id=uami&resource=https%3A%2F%2Fmanagement.core.windows.net%2F"];
        if request.method != "GET" || request.header("metadata") != Some("true") || !expected.contains(&request.path.as_str()) {
            return (400, r#"{"error": "invalid_request", "error_description": "Required metadata header not specified"}"#.into());
        }
        return (200, r#"{"access_token": "mitoken", "expires_in": "86399", "expires_on": "1700086399", "resource": "https://management.core.windows.net/", "token_type": "Bearer"}"#.into());
    }
    if request.header("authorization") != Some("Bearer mitoken") {
        return (401, r#"{"error": {"code": "InvalidAuthenticationToken", "message": "The access token is invalid."}}"#.into());
    }
    let vm = |n: &str| machine_json(&format!("{VM_ID}{n}"), n, None, &[NIC_ID]);
    let scale_set_vm = |n: &str| machine_json(&format!("{SCALE_SET_ID}/virtualMachines/{n}"), n, Some("123"), &[NIC_ID]);
    let path = request.path.as_str();
    let answer = if path == format!("{compute}/virtualMachines?api-version=2024-03-01") {
        page(&[vm("vm1"), vm("vm2")], Some(format!("{}{compute}/virtualMachines?api-version=2024-03-01&%24skiptoken=2", origin(request))))
    } else if path == format!("{compute}/virtualMachines?api-version=2024-03-01&%24skiptoken=2") {
        page(&[vm("vm3"), vm("vm4")], None)
    } else if path == format!("{compute}/virtualMachineScaleSets?api-version=2024-03-01") {
        page(&[format!(r#"{{"id": "{SCALE_SET_ID}", "name": "vmScaleSet1", "location": "australiaeast", "type": "Microsoft.Compute/virtualMachineScaleSets"}}"#)], None)
    } else if path == format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/%7BresourceGroup%7D/providers/Microsoft.Compute/virtualMachineScaleSets/vmScaleSet1/virtualMachines?api-version=2024-03-01") {
        page(&[scale_set_vm("vmScaleSet1_vm1"), scale_set_vm("vmScaleSet1_vm2")], None)
    } else if path == format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/%7BresourceGroupName%7D/providers/Microsoft.Network/networkInterfaces/%7BnetworkInterfaceName%7D?%24expand=IPConfigurations%2FPublicIPAddress&api-version=2023-05-01") {
        format!(r#"{{"id": "{NIC_ID}", "properties": {{"primary": true, "ipConfigurations": [{{"properties": {{"privateIPAddress": "10.0.0.1"}}}}]}}}}"#)
    } else {
        return (404, r#"{"error": {"code": "ResourceNotFound", "message": "not here"}}"#.into());
    };
    (200, answer)
}

/// Where the mock at `base` stands in for Azure AD, the metadata service and Resource Manager.
fn endpoints(base: &str) -> Endpoints {
    let url = |path: &str| Url::parse(&format!("{base}{path}")).expect("the mock's URL");
    Endpoints { resource_manager: url(""), tokens: TokenEndpoints { authority: url("/"), imds: url("/metadata/identity/oauth2/token") }, audience: "https://management.core.windows.net/".into() }
}

fn entries(yaml: &str) -> ScrapeConfig {
    ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: a, azure_sd_configs: [{yaml}]}}]"), std::path::Path::new("/tmp"), crate::ingest::label_limits::LabelLimits::default()).expect("valid")
}

/// `times` refreshes of entry `index` in one session against the mock at `base`, with
/// `env` as the environment.
fn refresh_with(base: &str, config: &ScrapeConfig, index: usize, times: usize, env: Environment) -> Vec<Result<Vec<TargetGroup>, String>> {
    let sd = &config.jobs[0].azure_sd[index];
    run(async {
        let mut session = Session::new(Ok(endpoints(base)), env);
        let mut answers = Vec::new();
        for _ in 0..times {
            answers.push(session.refresh(sd).await);
        }
        answers
    })
}

fn refresh(base: &str, config: &ScrapeConfig, index: usize) -> Result<Vec<TargetGroup>, String> {
    refresh_with(base, config, index, 1, Box::new(|_| None)).remove(0)
}

fn seen_paths(seen: &std::sync::Mutex<Vec<Seen>>) -> Vec<String> {
    seen.lock().map(|s| s.iter().map(|r| format!("{} {}", r.method, r.path)).collect()).unwrap_or_default()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn prometheus_refresh_scenario_gives_its_label_sets() {
    let (base, seen) = serve(prometheus_api);
    let config = entries(&format!("{{subscription_id: '{SUBSCRIPTION}', authentication_method: ManagedIdentity}}, {{subscription_id: '{SUBSCRIPTION}', authentication_method: ManagedIdentity, client_id: uami}}"));
    let groups = refresh(&base, &config, 0).expect("a refresh");
    let expected = |id: &str, name: &str, scale_set: Option<&str>| {
        let mut pairs = vec![
            ("__meta_azure_machine_computer_name", "computer_name"),
            ("__meta_azure_machine_id", id),
            ("__meta_azure_machine_location", "australiaeast"),
            ("__meta_azure_machine_name", name),
            ("__meta_azure_machine_os_type", "Linux"),
            ("__meta_azure_machine_private_ip", "10.0.0.1"),
            ("__meta_azure_machine_resource_group", "{resourceGroup}"),
            ("__meta_azure_machine_size", "size"),
            ("__meta_azure_machine_tag_prometheus", ""),
            // Prometheus' test runs with no subscription, which its loader refuses.
            ("__meta_azure_subscription_id", SUBSCRIPTION),
            ("__meta_azure_tenant_id", ""),
        ];
        pairs.extend(scale_set.map(|s| ("__meta_azure_machine_scale_set", s)));
        TargetGroup { targets: vec!["10.0.0.1:80".into()], labels: labels(&pairs) }
    };
    let vm = |n: &str| expected(&format!("{VM_ID}{n}"), n, None);
    let scale_set_vm = |n: &str| expected(&format!("{SCALE_SET_ID}/virtualMachines/{n}"), n, Some("vmScaleSet1"));
    assert_eq!(groups, [vm("vm1"), vm("vm2"), vm("vm3"), vm("vm4"), scale_set_vm("vmScaleSet1_vm1"), scale_set_vm("vmScaleSet1_vm2")]);
    // One token, both pages, and the shared interface asked once per lane at most.
    let paths = seen_paths(&seen);
    let nics = paths.iter().filter(|p| p.contains("networkInterfaces")).count();
    assert!((1..=NIC_LANES).contains(&nics), "{paths:?}");
    assert_eq!(paths.len(), 1 + 4 + nics, "{paths:?}");
    assert!(paths[0].starts_with("GET /metadata/identity/oauth2/token?"), "{paths:?}");
    let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(requests[1..].iter().all(|r| r.header("accept") == Some("application/json")), "{requests:?}");

    // A user-assigned identity is asked by its client ID.
    let (base, seen) = serve(prometheus_api);
    assert_eq!(refresh(&base, &config, 1).expect("a refresh").len(), 6);
    assert!(seen_paths(&seen)[0].contains("client_id=uami&"), "{:?}", seen_paths(&seen));
}

/// A resource group's machines behind Azure AD's client credentials grant (a client
/// secret, or workload identity's federated token): interfaces with public IPs, gone,
/// deallocated, secondary, a scale set VM's, and groups whose lists are refused or whose
/// interface has no private IP.
fn resource_group_api(request: &Seen) -> (u16, String) {
    let secret_form = "client_id=cli&client_secret=s3+cr%2Ft&grant_type=client_credentials&scope=https%3A%2F%2Fmanagement.core.windows.net%2F%2F.default";
    let federated_form = "client_assertion=fed.jwt.token&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_id=wcli&grant_type=client_credentials&scope=https%3A%2F%2Fmanagement.core.windows.net%2F%2F.default";
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/ten/oauth2/v2.0/token") if request.body == secret_form => return (200, r#"{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": "adtoken"}"#.into()),
        ("POST", "/wten/oauth2/v2.0/token") if request.body == federated_form => return (200, r#"{"token_type": "Bearer", "expires_in": 3599, "access_token": "adtoken"}"#.into()),
        ("POST", _) => return (401, r#"{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.", "error_codes": [7000215]}"#.into()),
        _ => {}
    }
    if request.header("authorization") != Some("Bearer adtoken") {
        return (401, r#"{"error": {"code": "InvalidAuthenticationToken", "message": "The access token is invalid."}}"#.into());
    }
    let group = "/subscriptions/sub/resourceGroups/rg1/providers";
    let nic = |private: &str, public: &str| {
        let public = if public.is_empty() { String::new() } else { format!(r#", "publicIPAddress": {{"id": "/p", "properties": {{"ipAddress": "{public}"}}}}"#) };
        format!(r#"{{"properties": {{"primary": true, "ipConfigurations": [{{"properties": {{"privateIPAddress": "{private}"{public}}}}}]}}}}"#)
    };
    let network = |name: &str| format!("{group}/Microsoft.Network/networkInterfaces/{name}?%24expand=IPConfigurations%2FPublicIPAddress&api-version=2023-05-01");
    let nic_id = |name: &str| format!("{group}/Microsoft.Network/networkInterfaces/{name}");
    let path = request.path.as_str();
    let answer = if path == format!("{group}/Microsoft.Compute/virtualMachines?api-version=2024-03-01") {
        page(
            &[
                machine_json(&format!("{group}/Microsoft.Compute/virtualMachines/web-1"), "web-1", None, &[&nic_id("nic-web1")]),
                machine_json(&format!("{group}/Microsoft.Compute/virtualMachines/gone-1"), "gone-1", None, &[&nic_id("nic-gone")]),
                machine_json(&format!("{group}/Microsoft.Compute/virtualMachines/stopped-1"), "stopped-1", None, &[&nic_id("nic-stopped")]),
                machine_json(&format!("{group}/Microsoft.Compute/virtualMachines/multi-1"), "multi-1", None, &[&nic_id("nic-second"), &nic_id("nic-first")]),
            ],
            None,
        )
    } else if path == format!("{group}/Microsoft.Compute/virtualMachineScaleSets?api-version=2024-03-01") {
        page(&[format!(r#"{{"id": "{group}/Microsoft.Compute/virtualMachineScaleSets/pool", "name": "pool"}}"#)], None)
    } else if path == format!("{group}/Microsoft.Compute/virtualMachineScaleSets/pool/virtualMachines?api-version=2024-03-01") {
        page(&[machine_json(&format!("{group}/Microsoft.Compute/virtualMachineScaleSets/pool/virtualMachines/3"), "pool_3", Some("3"), &[&format!("{group}/Microsoft.Compute/virtualMachineScaleSets/pool/virtualMachines/3/networkInterfaces/pool-nic")])], None)
    } else if path == format!("{group}/Microsoft.Compute/virtualMachineScaleSets/pool/virtualMachines/3/networkInterfaces/pool-nic?%24expand=IPConfigurations%2FPublicIPAddress&api-version=2018-10-01") {
        nic("10.2.0.3", "")
    } else if path == network("nic-web1") {
        nic("10.1.0.4", "203.0.113.10")
    } else if path == network("nic-stopped") {
        r#"{"properties": {"ipConfigurations": [{"properties": {"privateIPAddress": "10.1.0.5"}}]}}"#.to_string()
    } else if path == network("nic-second") {
        r#"{"properties": {"primary": false, "ipConfigurations": [{"properties": {"privateIPAddress": "10.1.0.99"}}]}}"#.to_string()
    } else if path == network("nic-first") {
        nic("10.1.0.7", "")
    } else if path == "/subscriptions/sub/resourceGroups/forbidden/providers/Microsoft.Compute/virtualMachines?api-version=2024-03-01" {
        return (403, r#"{"error": {"code": "AuthorizationFailed", "message": "The client 'cli' does not have authorization to perform action 'Microsoft.Compute/virtualMachines/read'."}}"#.into());
    } else if path == "/subscriptions/sub/resourceGroups/noip/providers/Microsoft.Compute/virtualMachines?api-version=2024-03-01" {
        page(&[machine_json("/subscriptions/sub/resourceGroups/noip/providers/Microsoft.Compute/virtualMachines/bare", "bare", None, &["/subscriptions/sub/resourceGroups/noip/providers/Microsoft.Network/networkInterfaces/bare-nic"])], None)
    } else if path == "/subscriptions/sub/resourceGroups/noip/providers/Microsoft.Network/networkInterfaces/bare-nic?%24expand=IPConfigurations%2FPublicIPAddress&api-version=2023-05-01" {
        r#"{"properties": {"primary": true, "ipConfigurations": [{"properties": {"privateIPAllocationMethod": "Dynamic"}}]}}"#.to_string()
    } else if path.starts_with("/subscriptions/sub/resourceGroups/noip/") {
        page(&[], None)
    } else {
        return (404, r#"{"error": {"code": "NotFound", "message": "Resource not found."}}"#.into());
    };
    (200, answer)
}

const OAUTH: &str = "subscription_id: sub, tenant_id: ten, client_id: cli, client_secret: 's3 cr/t', port: 9100";

#[test]
fn a_resource_groups_machines_become_targets_with_their_primary_interfaces() {
    let (base, seen) = serve(resource_group_api);
    let config = entries(&format!("{{{OAUTH}, resource_group: rg1}}"));
    let mut answers = refresh_with(&base, &config, 0, 2, Box::new(|_| None));
    let groups = answers.remove(0).expect("a refresh");
    let targets: Vec<&str> = groups.iter().map(|g| g.targets[0].as_str()).collect();
    // gone-1's interface is gone and stopped-1 is deallocated: no targets.
    assert_eq!(targets, ["10.1.0.4:9100", "10.1.0.7:9100", "10.2.0.3:9100"]);
    let web = &groups[0].labels;
    assert_eq!(web.get("__meta_azure_machine_public_ip").map(String::as_str), Some("203.0.113.10"));
    assert_eq!(web.get("__meta_azure_machine_private_ip").map(String::as_str), Some("10.1.0.4"));
    assert_eq!((web["__meta_azure_subscription_id"].as_str(), web["__meta_azure_tenant_id"].as_str(), web["__meta_azure_machine_resource_group"].as_str()), ("sub", "ten", "rg1"));
    assert!(!groups[1].labels.contains_key("__meta_azure_machine_public_ip"), "{:?}", groups[1].labels);
    assert_eq!(groups[2].labels.get("__meta_azure_machine_scale_set").map(String::as_str), Some("pool"));

    let paths = seen_paths(&seen);
    assert_eq!(paths[0], "POST /ten/oauth2/v2.0/token");
    let first_refresh = 1 + 3 + 6;
    assert_eq!(paths.len() - first_refresh, 4, "again: the three lists and the interface that was gone: {paths:?}");
    assert_eq!(paths.iter().filter(|p| p.starts_with("POST")).count(), 1, "the token is kept: {paths:?}");
    assert!(paths[first_refresh..].iter().filter(|p| p.contains("networkInterfaces")).all(|p| p.contains("nic-gone")), "{paths:?}");
    assert_eq!(answers.remove(0).expect("a second refresh"), groups);
}

#[test]
fn workload_identity_sends_the_federated_token_as_the_client_assertion() {
    let file = std::env::temp_dir().join(format!("metricstor-azure-sd-{}-federated-token", std::process::id()));
    std::fs::write(&file, "fed.jwt.token\n").expect("a temporary file");
    let config = entries("{subscription_id: sub, authentication_method: WorkloadIdentity, resource_group: rg1}");
    let path = file.display().to_string();
    let env = move |name: &str| match name {
        "AZURE_CLIENT_ID" => Some("wcli".to_string()),
        "AZURE_TENANT_ID" => Some("wten".to_string()),
        "AZURE_FEDERATED_TOKEN_FILE" => Some(path.clone()),
        _ => None,
    };
    let (base, seen) = serve(resource_group_api);
    let groups = refresh_with(&base, &config, 0, 1, Box::new(env)).remove(0);
    let _ = std::fs::remove_file(&file);
    assert_eq!(groups.expect("a refresh").len(), 3);
    assert_eq!(seen_paths(&seen)[0], "POST /wten/oauth2/v2.0/token");

    let (base, _) = serve(resource_group_api);
    let error = refresh(&base, &config, 0).expect_err("no environment");
    assert_eq!(error, "could not get virtual machines: could not list virtual machines: WorkloadIdentityCredential: no client ID specified. Check pod configuration or set AZURE_CLIENT_ID");
}

#[test]
fn refusals_fail_the_refresh_in_prometheus_words() {
    let (base, seen) = serve(resource_group_api);
    let wrong = entries("{subscription_id: sub, tenant_id: ten, client_id: cli, client_secret: wrong, resource_group: rg1}");
    let error = refresh(&base, &wrong, 0).expect_err("refused");
    assert_eq!(error, format!("could not get virtual machines: could not list virtual machines: ClientSecretCredential: authentication failed: POST {base}/ten/oauth2/v2.0/token: RESPONSE 401 Unauthorized: invalid_client: AADSTS7000215: Invalid client secret provided."));
    assert!(!error.contains("wrong"));
    assert_eq!(seen_paths(&seen).len(), 1, "nothing asked without a token");

    let (base, _) = serve(resource_group_api);
    let forbidden = entries(&format!("{{{OAUTH}, resource_group: forbidden}}"));
    let error = refresh(&base, &forbidden, 0).expect_err("forbidden");
    assert_eq!(
        error,
        format!("could not get virtual machines: could not list virtual machines: GET {base}/subscriptions/sub/resourceGroups/forbidden/providers/Microsoft.Compute/virtualMachines?api-version=2024-03-01: RESPONSE 403 Forbidden: ERROR CODE: AuthorizationFailed: The client 'cli' does not have authorization to perform action 'Microsoft.Compute/virtualMachines/read'.")
    );

    let (base, _) = serve(resource_group_api);
    let no_ip = entries(&format!("{{{OAUTH}, resource_group: noip}}"));
    assert_eq!(refresh(&base, &no_ip, 0), Err("unable to complete Azure service discovery: unable to find a private IP for VM bare".to_string()));

    // The whole subscription's lists are not served here: a 404 is an error for a list.
    let (base, _) = serve(resource_group_api);
    let error = refresh(&base, &entries(&format!("{{{OAUTH}}}")), 0).expect_err("not found");
    assert!(error.starts_with("could not get virtual machines: could not list virtual machines: GET ") && error.ends_with("RESPONSE 404 Not Found: ERROR CODE: NotFound: Resource not found."), "{error}");

    // An unknown environment fails every refresh, as in Prometheus.
    let mars = entries(&format!("{{{OAUTH}, environment: Mars}}"));
    let sd = &mars.jobs[0].azure_sd[0];
    let endpoints = sd.cloud.as_ref().map_err(Clone::clone).and_then(Endpoints::of);
    let answer = run(async { Session::new(endpoints, Box::new(|_| None)).refresh(sd).await });
    assert_eq!(answer, Err("could not create Azure client: there is no cloud configuration matching the name \"MARS\"".to_string()));
}

#[test]
fn the_interface_cache_stays_within_its_bound() {
    let mut cache = NicCache::default();
    let now = Instant::now();
    for i in 0..NIC_CACHE_MAX + 10 {
        cache.keep(&format!("nic-{i}"), Arc::new(Nic::default()), 300_000, now);
    }
    assert_eq!(cache.kept.len(), NIC_CACHE_MAX);
    let (_, until) = &cache.kept[&format!("nic-{}", NIC_CACHE_MAX + 9)];
    assert!(*until >= now + Duration::from_secs(3000) && *until < now + Duration::from_secs(3900), "10 to 13 refresh intervals");
    assert!(cache.get("nic-5009", now).is_some() && cache.get("nic-5009", *until).is_none(), "until its expiry");
}
