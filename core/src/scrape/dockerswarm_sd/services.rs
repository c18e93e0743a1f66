//! The `services` role: one target per (service, virtual IP, published TCP endpoint port),
//! or one per (service, virtual IP) on the configured port when the service publishes no TCP
//! port, each with the service's and the network's `__meta_dockerswarm_*` labels, as
//! Prometheus' `refreshServices` makes them. Also the service labels the `tasks` role adds.
//! Pure: no I/O.

use std::collections::{BTreeMap, HashMap};

use super::objects::{cidr_address, PortConfig, Service};
use super::{merged, LABEL_PREFIX};
use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, sanitize_label_name};
use crate::scrape::docker_sd::targets::{network_labels, Network};

const SERVICE_ID: &str = "__meta_dockerswarm_service_id";
const SERVICE_NAME: &str = "__meta_dockerswarm_service_name";
const SERVICE_MODE: &str = "__meta_dockerswarm_service_mode";
const SERVICE_LABEL_PREFIX: &str = "__meta_dockerswarm_service_label_";
const SERVICE_UPDATING_STATUS: &str = "__meta_dockerswarm_service_updating_status";
const SERVICE_TASK_CONTAINER_IMAGE: &str = "__meta_dockerswarm_service_task_container_image";
const SERVICE_TASK_CONTAINER_HOSTNAME: &str = "__meta_dockerswarm_service_task_container_hostname";
const SERVICE_ENDPOINT_PORT_NAME: &str = "__meta_dockerswarm_service_endpoint_port_name";
const SERVICE_ENDPOINT_PORT_PUBLISH_MODE: &str = "__meta_dockerswarm_service_endpoint_port_publish_mode";

/// The `services` targets of one listing of services and networks, in Prometheus' order:
/// services as listed, then each one's virtual IPs, then its TCP endpoint ports. Each target
/// is its own group (`targets` its address). A virtual IP that is not an address in CIDR
/// form fails the whole listing, as in Prometheus.
pub fn groups(services: &[Service], networks: &[Network], port: u16) -> Result<Vec<TargetGroup>, String> {
    let labels_by_network = network_labels(networks, LABEL_PREFIX);
    let mut out = Vec::new();
    for service in services {
        let mut common = identity_labels(service);
        if let Some(container) = &service.spec.task_template.container_spec {
            common.insert(SERVICE_TASK_CONTAINER_HOSTNAME.to_string(), container.hostname.clone());
            common.insert(SERVICE_TASK_CONTAINER_IMAGE.to_string(), container.image.clone());
        }
        if let Some(update) = &service.update_status {
            common.insert(SERVICE_UPDATING_STATUS.to_string(), update.state.clone());
        }
        for vip in &service.endpoint.virtual_ips {
            let ip = cidr_address(&vip.addr)?;
            let network = labels_by_network.get(vip.network_id.as_str());
            let tcp_ports: Vec<&PortConfig> = service.endpoint.ports.iter().filter(|p| p.protocol == "tcp").collect();
            for p in &tcp_ports {
                let own = BTreeMap::from([
                    (SERVICE_ENDPOINT_PORT_NAME.to_string(), p.name.clone()),
                    (SERVICE_ENDPOINT_PORT_PUBLISH_MODE.to_string(), p.publish_mode.clone()),
                ]);
                out.push(TargetGroup { targets: vec![join_host_port(&ip, p.published_port)], labels: merged(own, &[Some(&common), network]) });
            }
            if tcp_ports.is_empty() {
                out.push(TargetGroup { targets: vec![join_host_port(&ip, port)], labels: merged(BTreeMap::new(), &[Some(&common), network]) });
            }
        }
    }
    Ok(out)
}

/// A service's id, name, mode and `label_*` labels: what the `tasks` role adds to each task
/// of it (from the unfiltered listing).
fn identity_labels(service: &Service) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (SERVICE_ID.to_string(), service.id.clone()),
        (SERVICE_NAME.to_string(), service.spec.name.clone()),
        (SERVICE_MODE.to_string(), service.spec.mode.label_value().to_string()),
    ]);
    // Colliding sanitized names: the last in key order wins (Prometheus: random).
    for (key, value) in &service.spec.labels {
        labels.insert(format!("{SERVICE_LABEL_PREFIX}{}", sanitize_label_name(key)), value.clone());
    }
    labels
}

/// Each service's identity labels and endpoint ports, by service ID (of services sharing
/// an ID, the last listed wins, as in a Go map).
pub(super) fn labels_and_ports(services: &[Service]) -> HashMap<&str, (BTreeMap<String, String>, &[PortConfig])> {
    services.iter().map(|s| (s.id.as_str(), (identity_labels(s), s.endpoint.ports.as_slice()))).collect()
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{decode, expected, rendered};
    use super::*;

    fn targets(services: &str, networks: &str, port: u16) -> Vec<String> {
        let services: Vec<Service> = decode(services);
        let networks: Vec<Network> = decode(networks);
        rendered(&groups(&services, &networks, port).expect("the fixture's addresses are CIDRs"))
    }

    #[test]
    fn services_of_a_swarm_become_the_targets_prometheus_finds() {
        let got = targets(include_str!("testdata/services.json"), include_str!("testdata/networks.json"), 80);
        assert_eq!(got, expected(include_str!("testdata/services.targets")));
    }

    #[test]
    fn a_filtered_listing_gives_its_services_only() {
        let got = targets(include_str!("testdata/services_filtered.json"), include_str!("testdata/networks.json"), 80);
        assert_eq!(got, expected(include_str!("testdata/services_filtered.targets")));
    }

    #[test]
    fn a_service_without_a_container_spec_has_no_task_container_labels() {
        let got = targets(include_str!("testdata/plugin_services.json"), include_str!("testdata/plugin_networks.json"), 80);
        assert_eq!(got, expected(include_str!("testdata/plugin_services.targets")));
    }

    #[test]
    fn the_configured_port_serves_services_without_a_tcp_port() {
        let json = r#"[{"ID": "s1", "Spec": {"Name": "dns", "Mode": {"Replicated": {}}}, "UpdateStatus": {"State": "updating"},
            "Endpoint": {"Ports": [{"Protocol": "udp", "PublishedPort": 53}], "VirtualIPs": [{"NetworkID": "nx", "Addr": "fd00::5/64"}]}}]"#;
        let got = targets(json, "[]", 9153);
        let want = ["[fd00::5]:9153", "  __meta_dockerswarm_service_id=s1", "  __meta_dockerswarm_service_mode=replicated", "  __meta_dockerswarm_service_name=dns", "  __meta_dockerswarm_service_updating_status=updating"];
        assert_eq!(got, want);
    }

    #[test]
    fn an_address_that_is_no_cidr_fails_the_listing() {
        let services: Vec<Service> = decode(r#"[{"ID": "s1", "Endpoint": {"VirtualIPs": [{"NetworkID": "n", "Addr": "10.0.0.7"}]}}]"#);
        let error = groups(&services, &[], 80).unwrap_err();
        assert!(error.contains("error while parsing address 10.0.0.7"), "{error}");
    }
}
