//! A mock Keystone, Nova, Neutron and Octavia on loopback for the tests: the catalog names
//! the mock's own URL (read from the request's `Host`), the token comes in `X-Subject-Token`
//! as Keystone gives it, every other path not listed answers Keystone's version document,
//! as Prometheus' own mock does.

use std::sync::{Arc, Mutex};

pub use crate::scrape::fake_api::{run, Seen};

/// The token the mock gives and wants.
pub const TOKEN: &str = "cbc36478b0bd8e67e89469c7749d4127";

pub use crate::scrape::fake_api::Answer;

/// Serves `answer` on loopback, every answer as JSON; returns the base URL (no trailing
/// slash) and what it saw.
pub fn serve(answer: fn(&Seen) -> Answer) -> (String, Arc<Mutex<Vec<Seen>>>) {
    crate::scrape::fake_api::serve_with_headers(move |request| {
        let (status, mut headers, body) = answer(request);
        headers.insert(0, ("Content-Type", "application/json".to_string()));
        (status, headers, body)
    })
}

/// The mock's own URL, as the request reached it.
pub fn own_url(request: &Seen) -> String {
    format!("http://{}", request.header("host").unwrap_or("127.0.0.1"))
}

/// Keystone's version document at the base, naming v3 and v2.0 at the mock.
pub fn versions(request: &Seen) -> String {
    let base = own_url(request);
    format!(
        r#"{{"versions": {{"values": [
            {{"status": "stable", "id": "v3.0", "links": [{{"href": "{base}/v3/", "rel": "self"}}]}},
            {{"status": "stable", "id": "v2.0", "links": [{{"href": "{base}/v2.0/", "rel": "self"}}]}}]}}}}"#
    )
}

/// A token answer whose catalog names the mock for identity, compute (public at the root,
/// internal under `/internal/`), network and load-balancer, all in RegionOne.
pub fn token(request: &Seen) -> Answer {
    let base = own_url(request);
    let body = format!(
        r#"{{"token": {{
            "methods": ["password"], "expires_at": "2013-02-27T18:30:59.999999Z", "issued_at": "2013-02-27T16:30:59.999999Z",
            "catalog": [
                {{"id": "4363ae44", "type": "identity", "name": "keystone", "endpoints": [
                    {{"id": "39dc322c", "interface": "public", "region": "RegionOne", "url": "http://localhost:5000"}},
                    {{"id": "c609fc43", "interface": "admin", "region": "RegionOne", "url": "http://localhost:35357"}}]}},
                {{"id": "b7f2a5b1", "type": "compute", "endpoints": [
                    {{"id": "e2ffee80", "interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": "{base}/"}},
                    {{"id": "e2ffee81", "interface": "internal", "region": "RegionOne", "region_id": "RegionOne", "url": "{base}/internal"}}]}},
                {{"id": "589f3d99", "type": "network", "endpoints": [
                    {{"id": "5448e466", "interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": "{base}/"}},
                    {{"id": "5448e467", "interface": "internal", "region": "RegionOne", "region_id": "RegionOne", "url": "{base}/"}}]}},
                {{"id": "26968f70", "type": "load-balancer", "endpoints": [
                    {{"id": "39dc1234", "interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": "{base}/"}}]}}],
            "project": {{"domain": {{"id": "1789d1", "name": "example.com"}}, "id": "263fd9", "name": "project-x"}},
            "user": {{"domain": {{"id": "1789d1", "name": "example.com"}}, "id": "0ca8f6", "name": "Joe"}}}}}}"#
    );
    (201, vec![("X-Subject-Token", TOKEN.to_string())], body)
}

/// Nova's server list in two pages (the first links the second), the servers of
/// Prometheus' own test: one without addresses, fixed and floating addresses, a flavor by
/// ID and by name, an image and none, metadata, two projects.
pub fn servers(request: &Seen, page: u32) -> String {
    let base = own_url(request);
    let server = |id: &str, name: &str, project: &str, status: &str, addresses: &str, flavor: &str, image: &str, metadata: &str| {
        format!(
            r#"{{"id": "{id}", "name": "{name}", "status": "{status}", "tenant_id": "{project}", "user_id": "9349aff8be7545ac9d2f1d00999a23cd",
                "addresses": {addresses}, "flavor": {flavor}, "image": {image}, "metadata": {metadata},
                "hostId": "29d3c8c896a45aa4c34e52247875d7fefc3d94bbcc9f622b5d204362", "OS-EXT-STS:vm_state": "active", "key_name": null,
                "created": "2014-09-25T13:04:41Z", "security_groups": [{{"name": "default"}}], "accessIPv4": "", "progress": 0}}"#
        )
    };
    const IMAGE: &str = r#"{"id": "f90f6034-2570-4974-8351-6b49732ef2eb", "links": []}"#;
    const SMALL: &str = r#"{"vcpus": 2, "ram": 4096, "original_name": "m1.small", "extra_specs": {"hw:mem_page_size": "large"}}"#;
    const MERP_ADDRESSES: &str = r#"{"private": [{"version": 4, "addr": "10.0.0.33", "OS-EXT-IPS:type": "fixed"}, {"version": 4, "addr": "10.0.0.34", "OS-EXT-IPS:type": "fixed"}, {"version": 4, "addr": "FLOATING", "OS-EXT-IPS:type": "floating"}]}"#;
    match page {
        1 => format!(
            r#"{{"servers": [{}, {}, {}], "servers_links": [{{"href": "{base}/servers/detail?all_tenants=true&marker=9e5476bd-a4ec-4653-93d6-72c93aa682ba", "rel": "next"}}]}}"#,
            server("af9bcad9-3c87-477d-9347-b291eabf480e", "herp2", "fcad67a6189847c4aecfa3c81a05783b", "ERROR", "{}", r#"{"id": "1", "links": []}"#, IMAGE, "{}"),
            server(
                "ef079b0c-e610-4dfb-b1aa-b49f07ac48e5",
                "herp",
                "fcad67a6189847c4aecfa3c81a05783b",
                "ACTIVE",
                r#"{"private": [{"OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:7c:1b:2b", "version": 4, "addr": "10.0.0.32", "OS-EXT-IPS:type": "fixed"}, {"version": 4, "addr": "10.10.10.2", "OS-EXT-IPS:type": "floating"}]}"#,
                r#"{"id": "1", "links": []}"#,
                IMAGE,
                "{}"
            ),
            server(
                "9e5476bd-a4ec-4653-93d6-72c93aa682ba",
                "derp",
                "fcad67a6189847c4aecfa3c81a05783b",
                "ACTIVE",
                r#"{"private": [{"version": 4, "addr": "10.0.0.31", "OS-EXT-IPS:type": "fixed"}]}"#,
                r#"{"vcpus": 2, "original_name": "m1.medium"}"#,
                IMAGE,
                "{}"
            ),
        ),
        _ => format!(
            r#"{{"servers": [{}, {}], "servers_links": [{{"href": "{base}/servers/detail?all_tenants=true", "rel": "prev"}}]}}"#,
            server("9e5476bd-a4ec-4653-93d6-72c93aa682bb", "merp", "fcad67a6189847c4aecfa3c81a05783b", "ACTIVE", &MERP_ADDRESSES.replace("FLOATING", "10.10.10.4"), SMALL, r#""""#, r#"{"env": "prod"}"#),
            server("87caf8ed-d92a-41f6-9dcd-d1399e39899f", "merp-project2", "b78fef2305934dbbbeb9a10b4c326f7a", "ACTIVE", &MERP_ADDRESSES.replace("FLOATING", "10.10.10.24"), SMALL, r#""""#, r#"{"env": "prod"}"#),
        ),
    }
}

/// Neutron's floating IPs of Prometheus' test: one not associated, three on instance ports
/// (two on the same fixed address of different servers), three on load balancer VIP ports.
pub const FLOATING_IPS: &str = r#"{"floatingips": [
    {"id": "03a77860", "floating_ip_address": "10.10.10.1", "port_id": "d5597901-48c8-4a69-a041-cfc5be158a04", "fixed_ip_address": null, "status": "ACTIVE"},
    {"id": "03e28c79", "floating_ip_address": "10.10.10.2", "port_id": "4a45b012-0478-484d-8cf3-c8abdb194d08", "fixed_ip_address": "10.0.0.32", "status": "ACTIVE"},
    {"id": "087fcdd2", "floating_ip_address": "10.10.10.4", "port_id": "a0e244e8-7910-4427-b8d1-20470cad4f8a", "fixed_ip_address": "10.0.0.34", "status": "ACTIVE"},
    {"id": "b23df91a", "floating_ip_address": "10.10.10.24", "port_id": "b926ab68-ec54-46d8-8c50-1c07aafd5ae9", "fixed_ip_address": "10.0.0.34", "status": "ACTIVE"},
    {"id": "fea7332d", "floating_ip_address": "192.168.1.2", "port_id": "b47c39f5-238d-4b17-ae87-9b5d19af8a2e", "fixed_ip_address": "10.0.0.32", "status": "ACTIVE"},
    {"id": "febb9554", "floating_ip_address": "192.168.3.4", "port_id": "c83b6e12-4e5d-4673-a4b3-5bc72a7f3ef9", "fixed_ip_address": "10.0.2.78", "status": "ACTIVE"},
    {"id": "febb9555", "floating_ip_address": "192.168.4.5", "port_id": "f9e8b6e12-7e4d-4963-a5b3-6cd82a7f3ff6", "fixed_ip_address": "10.0.3.99", "status": "ACTIVE"}]}"#;

/// Neutron's ports of Prometheus' test: each floating IP's port and the server it is on.
pub const PORTS: &str = r#"{"ports": [
    {"id": "d5597901-48c8-4a69-a041-cfc5be158a04", "device_id": "", "status": "DOWN", "fixed_ips": []},
    {"id": "4a45b012-0478-484d-8cf3-c8abdb194d08", "device_id": "ef079b0c-e610-4dfb-b1aa-b49f07ac48e5", "status": "ACTIVE", "fixed_ips": [{"subnet_id": "", "ip_address": "10.10.10.2"}]},
    {"id": "a0e244e8-7910-4427-b8d1-20470cad4f8a", "device_id": "9e5476bd-a4ec-4653-93d6-72c93aa682bb", "status": "ACTIVE", "fixed_ips": [{"subnet_id": "", "ip_address": "10.10.10.4"}]},
    {"id": "b926ab68-ec54-46d8-8c50-1c07aafd5ae9", "device_id": "87caf8ed-d92a-41f6-9dcd-d1399e39899f", "status": "ACTIVE", "fixed_ips": [{"subnet_id": "", "ip_address": "10.10.10.24"}]}]}"#;

/// Nova's hypervisors of Prometheus' test (IDs as numbers, as before microversion 2.53).
pub const HYPERVISORS: &str = r#"{"hypervisors": [
    {"status": "enabled", "service": {"host": "nc14.cloud.com", "disabled_reason": null, "id": 16}, "vcpus_used": 18, "hypervisor_type": "QEMU",
     "hypervisor_hostname": "nc14.cloud.com", "state": "up", "host_ip": "172.16.70.14", "cpu_info": "{\"vendor\": \"Intel\"}", "hypervisor_version": 2003000, "id": 1},
    {"status": "enabled", "service": {"host": "cc13.cloud.com", "disabled_reason": null, "id": 17}, "vcpus_used": 1, "hypervisor_type": "QEMU",
     "hypervisor_hostname": "cc13.cloud.com", "state": "up", "host_ip": "172.16.70.13", "cpu_info": "{\"vendor\": \"Intel\"}", "hypervisor_version": 2003000, "id": 721}]}"#;

/// Octavia's load balancers of Prometheus' test.
pub const LOAD_BALANCERS: &str = r#"{"loadbalancers": [
    {"id": "ef079b0c-e610-4dfb-b1aa-b49f07ac48e5", "name": "lb1", "provisioning_status": "ACTIVE", "operating_status": "ONLINE", "project_id": "fcad67a6189847c4aecfa3c81a05783b",
     "vip_address": "10.0.0.32", "vip_port_id": "b47c39f5-238d-4b17-ae87-9b5d19af8a2e", "tags": ["tag1", "tag2"], "availability_zone": "az1", "provider": "amphora",
     "listeners": [{"id": "c4146b54"}, {"id": "a058d20e"}]},
    {"id": "d92c471e-8d3e-4b9f-b2b5-9c72a9e3ef54", "name": "lb3", "provisioning_status": "ACTIVE", "operating_status": "ONLINE", "project_id": "ac57f03dba1a4fdebff3e67201bc7a85",
     "vip_address": "10.0.2.78", "vip_port_id": "c83b6e12-4e5d-4673-a4b3-5bc72a7f3ef9", "tags": ["tag5", "tag6"], "availability_zone": "az3", "provider": "amphora",
     "listeners": [{"id": "5b9529a4"}, {"id": "5d26333b"}]},
    {"id": "f5c7e918-df38-4a5a-a7d4-d9c27ab2cf67", "name": "lb4", "provisioning_status": "ACTIVE", "operating_status": "ONLINE", "project_id": "fa8c372dfe4d4c92b0c4e3a2d9b3c9fa",
     "vip_address": "10.0.3.99", "vip_port_id": "f9e8b6e12-7e4d-4963-a5b3-6cd82a7f3ff6", "tags": [], "availability_zone": "az1", "provider": "amphora",
     "listeners": [{"id": "84c87596"}, {"id": "fe460a7c"}]},
    {"id": "e83a6d92-7a3e-4567-94b3-20c83b32a75e", "name": "lb5", "provisioning_status": "ACTIVE", "operating_status": "ONLINE", "project_id": "a5d3b2e1e6f34cd9a5f7c2f01a6b8e29",
     "vip_address": "10.0.4.88", "vip_port_id": "d83a6d92-7a3e-4567-94b3-20c83b32a75e", "tags": [], "availability_zone": "az4", "provider": "amphora",
     "listeners": [{"id": "50902e62"}, {"id": "98a867ad"}]},
    {"id": "0000aaaa-no-listener", "name": "lb6", "vip_address": "10.0.5.1", "listeners": []}]}"#;

/// Octavia's listeners of Prometheus' test: a PROMETHEUS one per load balancer, and TCP ones.
pub const LISTENERS: &str = r#"{"listeners": [
    {"id": "c4146b54", "name": "stats-listener", "protocol": "PROMETHEUS", "protocol_port": 9273, "loadbalancers": [{"id": "ef079b0c-e610-4dfb-b1aa-b49f07ac48e5"}], "allowed_cidrs": null},
    {"id": "5b9529a4", "name": "stats-listener2", "protocol": "PROMETHEUS", "protocol_port": 8080, "loadbalancers": [{"id": "d92c471e-8d3e-4b9f-b2b5-9c72a9e3ef54"}]},
    {"id": "84c87596", "name": "stats-listener3", "protocol": "PROMETHEUS", "protocol_port": 9090, "loadbalancers": [{"id": "f5c7e918-df38-4a5a-a7d4-d9c27ab2cf67"}]},
    {"id": "50902e62", "name": "stats-listener4", "protocol": "PROMETHEUS", "protocol_port": 9876, "loadbalancers": [{"id": "e83a6d92-7a3e-4567-94b3-20c83b32a75e"}]},
    {"id": "a058d20e", "name": "port6443", "protocol": "TCP", "protocol_port": 6443, "loadbalancers": [{"id": "ef079b0c-e610-4dfb-b1aa-b49f07ac48e5"}]},
    {"id": "5d26333b", "name": "port6444", "protocol": "TCP", "protocol_port": 6444, "loadbalancers": [{"id": "d92c471e-8d3e-4b9f-b2b5-9c72a9e3ef54"}]},
    {"id": "fe460a7c", "name": "port6445", "protocol": "TCP", "protocol_port": 6445, "loadbalancers": [{"id": "f5c7e918-df38-4a5a-a7d4-d9c27ab2cf67"}]},
    {"id": "98a867ad", "name": "port6446", "protocol": "TCP", "protocol_port": 6446, "loadbalancers": [{"id": "e83a6d92-7a3e-4567-94b3-20c83b32a75e"}]}]}"#;

/// The whole mock: Keystone (the user `test`/`test` of domain `12345`), then the lists,
/// each only with the token.
pub fn cloud(request: &Seen) -> Answer {
    let path = request.path.as_str();
    let json = |body: &str| (200, Vec::new(), body.to_string());
    if path == "/v3/auth/tokens" {
        let body: serde_json::Value = serde_json::from_str(&request.body).unwrap_or_default();
        let password = &body["auth"]["identity"]["password"]["user"]["password"];
        let secret = &body["auth"]["identity"]["application_credential"]["secret"];
        if request.method != "POST" || (password != "test" && secret != "appsecret") {
            return (401, Vec::new(), r#"{"error": {"code": 401, "message": "The request you have made requires authentication.", "title": "Unauthorized"}}"#.to_string());
        }
        return token(request);
    }
    let listed = ["/servers/detail", "/internal/servers/detail", "/os-hypervisors/detail", "/v2.0/ports", "/v2.0/floatingips", "/v2.0/lbaas/loadbalancers", "/v2.0/lbaas/listeners"];
    let bare = path.split('?').next().unwrap_or("");
    if listed.contains(&bare) && request.header("x-auth-token") != Some(TOKEN) {
        return (401, Vec::new(), r#"{"error": {"message": "no token"}}"#.to_string());
    }
    match bare {
        "/servers/detail" | "/internal/servers/detail" if path.contains("marker=") => json(&servers(request, 2)),
        "/servers/detail" | "/internal/servers/detail" => json(&servers(request, 1)),
        "/os-hypervisors/detail" => json(HYPERVISORS),
        "/v2.0/ports" => json(PORTS),
        "/v2.0/floatingips" => json(FLOATING_IPS),
        "/v2.0/lbaas/loadbalancers" => json(LOAD_BALANCERS),
        "/v2.0/lbaas/listeners" => json(LISTENERS),
        _ => json(&versions(request)),
    }
}
