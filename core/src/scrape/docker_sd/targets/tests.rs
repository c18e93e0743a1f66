//! Tests of docker_sd targets made of containers and networks.

use super::*;

const NETWORK_ID: &str = "__meta_docker_network_id";
const NETWORK_NAME: &str = "__meta_docker_network_name";
const NETWORK_SCOPE: &str = "__meta_docker_network_scope";
const NETWORK_INTERNAL: &str = "__meta_docker_network_internal";
const NETWORK_INGRESS: &str = "__meta_docker_network_ingress";

const WEB_ID: &str = "3f1c0a9be2d84c6e9a7b5d1e0f2a4c6b8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6";
const HOSTNET_ID: &str = "8a2e4c6d1b3f5a7c9e0d2b4f6a8c0e1d3f5b7a9c1e3d5f7b9a0c2e4d6f8a1b3c";
const SIDECAR_ID: &str = "c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c3d5e7f9a1b3c5d7";
const DNS_ID: &str = "d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2";
const V6_ID: &str = "e6f5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5";
const BACKEND_NET: &str = "b0a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1";
const FRONTEND_NET: &str = "f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d6c7b8a9f0e1";
const HOST_NET: &str = "7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d";

/// Modelled on `GET /containers/json`: a web container on two networks (listed out of
/// name order) with two TCP ports and a UDP one, a host-networking container, a sidecar
/// sharing the web container's network stack, a UDP-only container, an IPv6-only one on
/// a network `/networks` does not list, and two containers without names.
const CONTAINERS: &str = r#"[
  {
    "Id": "3f1c0a9be2d84c6e9a7b5d1e0f2a4c6b8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6",
    "Names": ["/shop_web_1", "/shop_web_alias"],
    "Image": "example/web:2.4",
    "ImageID": "sha256:1111111111111111111111111111111111111111111111111111111111111111",
    "Command": "/bin/web --listen :8080",
    "Created": 1716200000,
    "Ports": [
      {"IP": "0.0.0.0", "PrivatePort": 8080, "PublicPort": 18080, "Type": "tcp"},
      {"PrivatePort": 9090, "Type": "tcp"},
      {"IP": "0.0.0.0", "PrivatePort": 5353, "PublicPort": 5353, "Type": "udp"}
    ],
    "Labels": {
      "com.docker.compose.project": "shop",
      "prometheus-job": "web",
      "team": "storefront"
    },
    "State": "running",
    "Status": "Up 2 hours",
    "HostConfig": {"NetworkMode": "shop_frontend"},
    "NetworkSettings": {
      "Networks": {
        "shop_frontend": {
          "IPAMConfig": null,
          "Links": null,
          "Aliases": null,
          "NetworkID": "f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d6c7b8a9f0e1",
          "EndpointID": "aa11",
          "Gateway": "172.19.0.1",
          "IPAddress": "172.19.0.5",
          "IPPrefixLen": 16,
          "IPv6Gateway": "",
          "GlobalIPv6Address": "",
          "GlobalIPv6PrefixLen": 0,
          "MacAddress": "02:42:ac:13:00:05",
          "DriverOpts": null
        },
        "shop_backend": {
          "NetworkID": "b0a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1",
          "IPAddress": "172.20.0.5",
          "GlobalIPv6Address": ""
        }
      }
    },
    "Mounts": []
  },
  {
    "Id": "8a2e4c6d1b3f5a7c9e0d2b4f6a8c0e1d3f5b7a9c1e3d5f7b9a0c2e4d6f8a1b3c",
    "Names": ["/node_exporter"],
    "Image": "prom/node-exporter:v1.8.0",
    "ImageID": "",
    "Ports": [],
    "Labels": {},
    "HostConfig": {"NetworkMode": "host"},
    "NetworkSettings": {
      "Networks": {
        "host": {
          "NetworkID": "7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d",
          "IPAddress": "",
          "GlobalIPv6Address": ""
        }
      }
    }
  },
  {
    "Id": "c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c3d5e7f9a1b3c5d7",
    "Names": ["/shop_web_exporter"],
    "Image": "example/web-exporter:latest",
    "ImageID": "sha256:2222222222222222222222222222222222222222222222222222222222222222",
    "Ports": [{"PrivatePort": 9117, "Type": "tcp"}],
    "Labels": {"prometheus.io/scrape": "true"},
    "HostConfig": {
      "NetworkMode": "container:3f1c0a9be2d84c6e9a7b5d1e0f2a4c6b8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6"
    },
    "NetworkSettings": {"Networks": {}}
  },
  {
    "Id": "d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2",
    "Names": ["/shop_dns_1"],
    "Image": "coredns/coredns:1.11.1",
    "Ports": [{"PrivatePort": 53, "Type": "udp"}],
    "Labels": null,
    "HostConfig": {"NetworkMode": "shop_backend"},
    "NetworkSettings": {
      "Networks": {
        "shop_backend": {
          "NetworkID": "b0a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1",
          "IPAddress": "172.20.0.6"
        }
      }
    }
  },
  {
    "Id": "e6f5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5",
    "Names": ["/v6_only"],
    "Ports": [{"IP": "::", "PrivatePort": 8000, "PublicPort": 8000, "Type": "tcp"}],
    "HostConfig": {"NetworkMode": "v6net"},
    "NetworkSettings": {
      "Networks": {
        "v6net": {
          "NetworkID": "0000000000000000000000000000000000000000000000000000000000000000",
          "IPAddress": "",
          "GlobalIPv6Address": "FD00:0:0:0:0:0:0:7"
        }
      }
    }
  },
  {
    "Id": "0badc0de",
    "Names": [],
    "Ports": [{"PrivatePort": 80, "Type": "tcp"}],
    "HostConfig": {"NetworkMode": "shop_backend"},
    "NetworkSettings": {
      "Networks": {
        "shop_backend": {"NetworkID": "b0a1", "IPAddress": "172.20.0.9"}
      }
    }
  },
  {
    "Id": "0badf00d",
    "Names": null,
    "HostConfig": {"NetworkMode": "bridge"},
    "NetworkSettings": {
      "Networks": {"bridge": {"NetworkID": "x", "IPAddress": "172.17.0.9"}}
    }
  }
]"#;

/// Modelled on `GET /networks`.
const NETWORKS: &str = r#"[
  {
    "Name": "host",
    "Id": "7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d",
    "Created": "2024-05-20T10:00:00.000000000Z",
    "Scope": "local",
    "Driver": "host",
    "EnableIPv6": false,
    "IPAM": {"Driver": "default", "Options": null, "Config": []},
    "Internal": false,
    "Attachable": false,
    "Ingress": false,
    "ConfigFrom": {"Network": ""},
    "ConfigOnly": false,
    "Containers": {},
    "Options": {},
    "Labels": {}
  },
  {
    "Name": "shop_backend",
    "Id": "b0a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1",
    "Scope": "local",
    "Driver": "bridge",
    "Internal": true,
    "Ingress": false,
    "Options": {"com.docker.network.driver.mtu": "1500"},
    "Labels": {
      "com.docker.compose.network": "backend",
      "com.docker.compose.project": "shop"
    }
  },
  {
    "Name": "shop_frontend",
    "Id": "f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d6c7b8a9f0e1",
    "Scope": "swarm",
    "Driver": "overlay",
    "Internal": false,
    "Ingress": true,
    "Labels": null
  }
]"#;

fn decode() -> (Vec<Container>, Vec<Network>) {
    let containers = serde_json::from_str(CONTAINERS).expect("containers decode");
    let networks = serde_json::from_str(NETWORKS).expect("networks decode");
    (containers, networks)
}

fn group(address: &str, labels: &[(&str, &str)]) -> TargetGroup {
    TargetGroup {
        targets: vec![address.to_string()],
        labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

/// Labels of a target of `parts`, in order (later parts override earlier ones).
fn merged(parts: &[&[(&'static str, &'static str)]]) -> Vec<(&'static str, &'static str)> {
    let mut map = BTreeMap::new();
    for part in parts {
        for (k, v) in part.iter() {
            map.insert(*k, *v);
        }
    }
    map.into_iter().collect()
}

fn web_common() -> Vec<(&'static str, &'static str)> {
    vec![
        (CONTAINER_ID, WEB_ID),
        (CONTAINER_NAME, "/shop_web_1"),
        (CONTAINER_NETWORK_MODE, "shop_frontend"),
        (CONTAINER_IMAGE, "example/web:2.4"),
        (
            CONTAINER_IMAGE_ID,
            "sha256:1111111111111111111111111111111111111111111111111111111111111111",
        ),
        ("__meta_docker_container_label_com_docker_compose_project", "shop"),
        ("__meta_docker_container_label_prometheus_job", "web"),
        ("__meta_docker_container_label_team", "storefront"),
    ]
}

fn sidecar_common() -> Vec<(&'static str, &'static str)> {
    vec![
        (CONTAINER_ID, SIDECAR_ID),
        (CONTAINER_NAME, "/shop_web_exporter"),
        (
            CONTAINER_NETWORK_MODE,
            "container:3f1c0a9be2d84c6e9a7b5d1e0f2a4c6b8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6",
        ),
        (CONTAINER_IMAGE, "example/web-exporter:latest"),
        (
            CONTAINER_IMAGE_ID,
            "sha256:2222222222222222222222222222222222222222222222222222222222222222",
        ),
        ("__meta_docker_container_label_prometheus_io_scrape", "true"),
    ]
}

fn backend_labels() -> Vec<(&'static str, &'static str)> {
    vec![
        (NETWORK_ID, BACKEND_NET),
        (NETWORK_NAME, "shop_backend"),
        (NETWORK_SCOPE, "local"),
        (NETWORK_INTERNAL, "true"),
        (NETWORK_INGRESS, "false"),
        ("__meta_docker_network_label_com_docker_compose_network", "backend"),
        ("__meta_docker_network_label_com_docker_compose_project", "shop"),
    ]
}

fn frontend_labels() -> Vec<(&'static str, &'static str)> {
    vec![
        (NETWORK_ID, FRONTEND_NET),
        (NETWORK_NAME, "shop_frontend"),
        (NETWORK_SCOPE, "swarm"),
        (NETWORK_INTERNAL, "false"),
        (NETWORK_INGRESS, "true"),
    ]
}

fn web_port_8080(ip: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        (NETWORK_IP, ip),
        (PORT_PRIVATE, "8080"),
        (PORT_PUBLIC, "18080"),
        (PORT_PUBLIC_IP, "0.0.0.0"),
    ]
}

fn web_port_9090(ip: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![(NETWORK_IP, ip), (PORT_PRIVATE, "9090")]
}

fn sidecar_port(ip: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![(NETWORK_IP, ip), (PORT_PRIVATE, "9117")]
}

/// The targets that do not depend on `match_first_network` (single-network containers),
/// in output order after the web container's targets and the sidecar's.
fn hostnet_group() -> TargetGroup {
    group(
        "localhost",
        &merged(&[
            &[
                (CONTAINER_ID, HOSTNET_ID),
                (CONTAINER_NAME, "/node_exporter"),
                (CONTAINER_NETWORK_MODE, "host"),
                (CONTAINER_IMAGE, "prom/node-exporter:v1.8.0"),
                (NETWORK_IP, ""),
            ],
            &[
                (NETWORK_ID, HOST_NET),
                (NETWORK_NAME, "host"),
                (NETWORK_SCOPE, "local"),
                (NETWORK_INTERNAL, "false"),
                (NETWORK_INGRESS, "false"),
            ],
        ]),
    )
}

fn dns_group() -> TargetGroup {
    group(
        "172.20.0.6:80",
        &merged(&[
            &[
                (CONTAINER_ID, DNS_ID),
                (CONTAINER_NAME, "/shop_dns_1"),
                (CONTAINER_NETWORK_MODE, "shop_backend"),
                (CONTAINER_IMAGE, "coredns/coredns:1.11.1"),
                (NETWORK_IP, "172.20.0.6"),
            ],
            &backend_labels(),
        ]),
    )
}

fn v6_group() -> TargetGroup {
    group(
        "[fd00::7]:8000",
        &[
            (CONTAINER_ID, V6_ID),
            (CONTAINER_NAME, "/v6_only"),
            (CONTAINER_NETWORK_MODE, "v6net"),
            (NETWORK_IP, "fd00::7"),
            (PORT_PRIVATE, "8000"),
            (PORT_PUBLIC, "8000"),
            (PORT_PUBLIC_IP, "::"),
        ],
    )
}

#[test]
fn match_first_network_keeps_first_network_by_name() {
    let (containers, networks) = decode();
    let got = groups(&containers, &networks, 80, "localhost", true);
    let want = vec![
        // Web: only shop_backend (first by name), both TCP ports, UDP skipped.
        group(
            "172.20.0.5:8080",
            &merged(&[&web_port_8080("172.20.0.5"), &web_common(), &backend_labels()]),
        ),
        group(
            "172.20.0.5:9090",
            &merged(&[&web_port_9090("172.20.0.5"), &web_common(), &backend_labels()]),
        ),
        hostnet_group(),
        // Sidecar: the web container's networks, its own port and labels.
        group(
            "172.20.0.5:9117",
            &merged(&[&sidecar_port("172.20.0.5"), &sidecar_common(), &backend_labels()]),
        ),
        dns_group(),
        v6_group(),
    ];
    assert_eq!(got, want);
}

#[test]
fn all_networks_when_match_first_network_is_off() {
    let (containers, networks) = decode();
    let got = groups(&containers, &networks, 80, "localhost", false);
    let want = vec![
        group(
            "172.20.0.5:8080",
            &merged(&[&web_port_8080("172.20.0.5"), &web_common(), &backend_labels()]),
        ),
        group(
            "172.20.0.5:9090",
            &merged(&[&web_port_9090("172.20.0.5"), &web_common(), &backend_labels()]),
        ),
        group(
            "172.19.0.5:8080",
            &merged(&[&web_port_8080("172.19.0.5"), &web_common(), &frontend_labels()]),
        ),
        group(
            "172.19.0.5:9090",
            &merged(&[&web_port_9090("172.19.0.5"), &web_common(), &frontend_labels()]),
        ),
        hostnet_group(),
        group(
            "172.20.0.5:9117",
            &merged(&[&sidecar_port("172.20.0.5"), &sidecar_common(), &backend_labels()]),
        ),
        group(
            "172.19.0.5:9117",
            &merged(&[&sidecar_port("172.19.0.5"), &sidecar_common(), &frontend_labels()]),
        ),
        dns_group(),
        v6_group(),
    ];
    assert_eq!(got, want);
}

#[test]
fn fallback_port_and_host_networking_host_are_used() {
    let (containers, networks) = decode();
    let got = groups(&containers, &networks, 9999, "docker-host.internal", true);
    let addresses: Vec<&str> = got.iter().map(|g| g.targets[0].as_str()).collect();
    assert_eq!(
        addresses,
        [
            "172.20.0.5:8080",
            "172.20.0.5:9090",
            "docker-host.internal",
            "172.20.0.5:9117",
            "172.20.0.6:9999",
            "[fd00::7]:8000",
        ]
    );
    assert!(got.iter().all(|g| g.targets.len() == 1 && !g.labels.contains_key("__address__")));
}

fn bare(id: &str, mode: &str, networks: &[(&str, Option<(&str, &str)>)]) -> Container {
    Container {
        id: id.to_string(),
        names: vec![format!("/{id}")],
        host_config: HostConfig { network_mode: mode.to_string() },
        network_settings: NetworkSettings {
            networks: networks
                .iter()
                .map(|(name, endpoint)| {
                    let endpoint = endpoint.map(|(network_id, ip)| EndpointSettings {
                        network_id: network_id.to_string(),
                        ip_address: ip.to_string(),
                        global_ipv6_address: String::new(),
                    });
                    (name.to_string(), endpoint)
                })
                .collect(),
        },
        ..Container::default()
    }
}

#[test]
fn shared_network_chain_is_followed_and_cycles_end() {
    let containers = vec![
        bare("a", "container:b", &[]),
        bare("b", "container:c", &[]),
        bare("c", "net", &[("net", Some(("n1", "10.0.0.3")))]),
        bare("x", "container:y", &[]),
        bare("y", "container:x", &[]),
        bare("self", "container:self", &[]),
        bare("lost", "container:missing", &[]),
    ];
    let got = groups(&containers, &[], 80, "localhost", true);
    let summary: Vec<(&str, &str)> = got
        .iter()
        .map(|g| (g.labels[CONTAINER_ID].as_str(), g.targets[0].as_str()))
        .collect();
    assert_eq!(summary, [("a", "10.0.0.3:80"), ("b", "10.0.0.3:80"), ("c", "10.0.0.3:80")]);
    assert_eq!(got[0].labels[CONTAINER_NETWORK_MODE], "container:b");
    assert_eq!(got[0].labels.get(NETWORK_ID), None);
}

#[test]
fn null_endpoints_count_but_yield_no_target() {
    let containers = vec![
        // Two entries, one null: match_first_network keeps the non-null one.
        bare("m", "net", &[("a", None), ("b", Some(("nb", "10.0.0.2")))]),
        // Only a null entry: no shared-network lookup (it has an entry), no target.
        bare("n", "container:m", &[("a", None)]),
    ];
    for match_first in [true, false] {
        let got = groups(&containers, &[], 80, "localhost", match_first);
        let addresses: Vec<&str> = got.iter().map(|g| g.targets[0].as_str()).collect();
        assert_eq!(addresses, ["10.0.0.2:80"], "match_first_network={match_first}");
    }
}

#[test]
fn later_duplicate_ids_win_as_in_a_go_map() {
    let containers = vec![
        bare("dup", "net", &[("net", Some(("n1", "10.0.0.1")))]),
        bare("dup", "net", &[]),
        bare("follower", "container:dup", &[]),
    ];
    let networks = vec![
        Network { id: "n1".into(), name: "first".into(), ..Network::default() },
        Network { id: "n1".into(), name: "second".into(), ..Network::default() },
    ];
    let got = groups(&containers, &networks, 80, "localhost", true);
    // The follower resolves to the second "dup", which has no networks: no target.
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].targets, ["10.0.0.1:80"]);
    assert_eq!(got[0].labels[NETWORK_NAME], "second");
}

#[test]
fn label_names_are_sanitized() {
    let mut container = bare("s", "net", &[("net", Some(("n1", "10.0.0.4")))]);
    container.labels.insert("com.example/tier-name".into(), "gold".into());
    container.labels.insert("ünïcode key".into(), "u".into());
    let network = Network {
        id: "n1".into(),
        labels: [("io.k8s:zone".to_string(), "z1".to_string())].into_iter().collect(),
        ..Network::default()
    };
    let got = groups(&[container], &[network], 80, "localhost", true);
    assert_eq!(got.len(), 1);
    let labels = &got[0].labels;
    assert_eq!(labels["__meta_docker_container_label_com_example_tier_name"], "gold");
    assert_eq!(labels["__meta_docker_container_label__n_code_key"], "u");
    assert_eq!(labels["__meta_docker_network_label_io_k8s_zone"], "z1");
}

#[test]
fn lenient_decoding_of_nulls_and_unknown_fields() {
    let json = r#"[{"ID": "z", "Names": ["/z", null], "Ports": [null,
        {"PrivatePort": 81, "PublicPort": null, "Type": "tcp", "Extra": 1}],
        "Labels": {"k": null}, "HostConfig": null, "NetworkSettings": null,
        "Image": null}]"#;
    let containers: Vec<Container> = serde_json::from_str(json).expect("decode");
    let c = &containers[0];
    assert_eq!(c.id, "z");
    assert_eq!(c.names, ["/z", ""]);
    assert_eq!(c.ports.len(), 2);
    assert_eq!(c.ports[0], Port::default());
    assert_eq!(c.ports[1].private_port, 81);
    assert_eq!(c.labels["k"], "");
    assert!(c.network_settings.networks.is_empty());
    // No networks and no container: mode, so no target.
    assert!(groups(&containers, &[], 80, "localhost", true).is_empty());

    let networks: Vec<Network> =
        serde_json::from_str(r#"[{"Id": "n", "Internal": null, "Labels": null}]"#)
            .expect("decode");
    assert_eq!(networks[0], Network { id: "n".into(), ..Network::default() });
}

#[test]
fn addresses_print_as_go_netip() {
    assert_eq!(go_ip_string("172.19.0.2").as_deref(), Some("172.19.0.2"));
    assert_eq!(go_ip_string("FD00:0:0:0:0:0:0:7").as_deref(), Some("fd00::7"));
    assert_eq!(go_ip_string("::ffff:10.1.2.3").as_deref(), Some("::ffff:10.1.2.3"));
    assert_eq!(go_ip_string("fe80::1%eth0").as_deref(), Some("fe80::1%eth0"));
    assert_eq!(go_ip_string("fe80::1%"), None);
    assert_eq!(go_ip_string("10.0.0.1%eth0"), None);
    assert_eq!(go_ip_string(""), None);
    assert_eq!(go_ip_string("not-an-ip"), None);

    let mut container = bare("z", "net", &[("net", Some(("n", "fe80::1%eth0")))]);
    let port = Port { private_port: 80, protocol: "tcp".into(), ..Port::default() };
    container.ports = vec![port];
    let got = groups(&[container], &[], 80, "localhost", true);
    assert_eq!(got[0].targets, ["[fe80::1%eth0]:80"]);
    assert_eq!(got[0].labels[NETWORK_IP], "fe80::1%eth0");
}
