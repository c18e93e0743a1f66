//! Fuzz target: answers of the other providers' APIs never panic the readers of their service
//! discoveries, whatever the bytes. The first byte picks the reader: DigitalOcean database
//! clusters, IONOS servers, Triton containers and compute nodes, OUTSCALE VMs, Uyuni XML-RPC,
//! Marathon apps, Hetzner Cloud and Robot servers, Vultr instances, STACKIT servers, Kuma
//! assignments, ZooKeeper members and replies, OVHcloud servers and IPs, Azure, Linode pages.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use metricstor::scrape::*;
    let [selector, rest @ ..] = data else { return };
    let text = String::from_utf8_lossy(rest);
    match selector % 14 {
        0 => {
            if let Ok(page) = digitalocean_sd::databases::page(rest) {
                let _ = digitalocean_sd::databases::groups(&page.databases, 9100);
            }
        }
        1 => {
            if let Ok(servers) = ionos_sd::servers::servers(rest) {
                let _ = ionos_sd::servers::groups(&servers, 80);
            }
        }
        2 => {
            let _ = triton_sd::discovered::containers(rest, "triton.example.com", 9163);
            let _ = triton_sd::discovered::compute_nodes(rest, "triton.example.com", 9163);
        }
        3 => {
            if let Ok(page) = outscale_sd::vms::page(rest) {
                let _ = outscale_sd::vms::groups(page.vms.as_deref().unwrap_or_default(), "eu-west-2", 80);
            }
        }
        4 => {
            let _ = uyuni_sd::xml_rpc::answer(&text);
        }
        5 => {
            if let Ok(list) = marathon_sd::apps::app_list(rest) {
                let _ = marathon_sd::apps::groups(&list);
            }
        }
        6 => {
            let servers = hetzner_sd::hcloud::servers_page(rest).map(|p| p.servers).unwrap_or_default();
            let networks = hetzner_sd::hcloud::networks_page(rest).map(|p| p.networks).unwrap_or_default();
            let _ = hetzner_sd::hcloud::groups(&servers, &networks, 80);
            let _ = hetzner_sd::hcloud::api_error(503, rest, Some("id"));
            if let Ok(entries) = hetzner_sd::robot::servers(rest) {
                let _ = hetzner_sd::robot::groups(&entries, 80);
            }
        }
        7 => {
            if let Ok(page) = vultr_sd::instances::page(rest) {
                let _ = vultr_sd::instances::groups(&page.instances, 80);
            }
        }
        8 => {
            if let Ok(list) = stackit_sd::servers::decode(rest) {
                let _ = stackit_sd::servers::groups(&list, "project", 80);
            }
        }
        9 => {
            if let Ok(answer) = kuma_sd::mads::response(rest) {
                let _ = kuma_sd::mads::groups(&answer);
            }
        }
        10 => {
            let _ = zookeeper_sd::member::labels(zookeeper_sd::member::Kind::Serverset, rest, "/services/a");
            let _ = zookeeper_sd::member::labels(zookeeper_sd::member::Kind::Nerve, rest, "/services/a");
            let _ = zookeeper_sd::jute::connect_response(rest);
        }
        11 => {
            let ips: Vec<String> = text.split(',').map(str::to_string).collect();
            let _ = ovhcloud_sd::servers::parse_ip_list(&ips);
            let _ = ovhcloud_sd::servers::target(ovhcloud_sd::config::Service::Vps, rest, &ips);
            let _ = ovhcloud_sd::servers::target(ovhcloud_sd::config::Service::DedicatedServer, rest, &ips);
        }
        12 => {
            let _ = azure_sd::machines::page::<serde_json::Value>(rest);
            let _ = azure_sd::machines::nic(rest);
            let _ = azure_sd::machines::resource_group_and_name(&text);
        }
        _ => {
            for (status, content_type) in [(200, "application/json"), (401, "application/json"), (502, "text/html")] {
                let _ = linode_sd::api::page::<serde_json::Value>(status, content_type, rest);
            }
        }
    }
});
