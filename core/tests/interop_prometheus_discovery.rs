//! Differential interop: real Prometheus (Debian's 2.42) and Metricstor read the same
//! `scrape_configs` and ask the same mock service-discovery APIs on loopback; per job, both
//! must discover the same targets with the same discovered labels (empty values dropped, and
//! only the labels Prometheus added or changed after 2.42 excused, each with its commit).
//! Runs when METRICSTOR_PROMETHEUS_BIN is set (`.ci/run` sets it); otherwise says why it skipped.

mod support;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

/// How long both sides get to discover every job's targets.
const DISCOVERY_DEADLINE: Duration = Duration::from_secs(45);

/// A JSON answer with status 200.
fn ok_json(body: serde_json::Value) -> Option<Answer> {
    Some((200, vec!["Content-Type: application/json".to_string()], body.to_string()))
}

/// One discovery compared: its jobs' `scrape_configs` entries (YAML, each starting
/// `- job_name: …`), how many targets each job finds, and the labels excused from the
/// comparison with why (a change in Prometheus after 2.42, naming the commit).
struct Case {
    jobs: Vec<(String, usize)>,
    yaml: String,
    excused: &'static [(&'static str, &'static str)],
}

/// A target's discovered labels, empty values left out (Prometheus drops them only when it
/// builds the target) and excused labels removed.
type Labels = BTreeMap<String, String>;

/// Per job, the sorted discovered label sets of its targets (active and dropped) in an
/// `/api/v1/targets?state=any` answer.
fn discovered_by_job(body: &serde_json::Value) -> BTreeMap<String, Vec<Labels>> {
    let mut out: BTreeMap<String, Vec<Labels>> = BTreeMap::new();
    for kind in ["activeTargets", "droppedTargets"] {
        for target in body["data"][kind].as_array().into_iter().flatten() {
            let labels: Labels = target["discoveredLabels"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| v.as_str().filter(|v| !v.is_empty()).map(|v| (k.clone(), v.to_string())))
                .collect();
            let job = labels.get("job").cloned().unwrap_or_default();
            out.entry(job).or_default().push(labels);
        }
    }
    for targets in out.values_mut() {
        targets.sort();
    }
    out
}

/// Labels every target of Prometheus 3.13 and later has, excused in every case.
const EXCUSED_EVERYWHERE: &[(&str, &str)] = &[
    ("__convert_classic_histograms_to_nhcb__", "added after 2.42 (05d9bd4a27 scrape: add __convert_classic_histograms_to_nhcb__ internal label)"),
    ("__always_scrape_classic_histograms__", "added after 2.42 (143643b563 scrape: add more native-histogram related internal labels)"),
    ("__scrape_native_histograms__", "added after 2.42 (143643b563 scrape: add more native-histogram related internal labels)"),
];

/// `targets` with the `excused` labels removed, sorted again.
fn without(targets: &[Labels], excused: &[(&str, &str)]) -> Vec<Labels> {
    let mut out: Vec<Labels> = targets.iter().map(|t| t.iter().filter(|(k, _)| !excused.iter().any(|(e, _)| e == k)).map(|(k, v)| (k.clone(), v.clone())).collect()).collect();
    out.sort();
    out
}

/// Starts Prometheus with `config` on `port`, its data under `dir`; killed when dropped.
fn start_prometheus(binary: &str, config: &std::path::Path, port: u16, dir: &std::path::Path) -> KillOnDrop {
    let log = std::fs::File::create(dir.join("prometheus.log")).expect("create Prometheus log");
    let child = Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--storage.tsdb.path={}", dir.join("prom-data").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start prometheus");
    KillOnDrop(child)
}

/// `/api/v1/targets?state=any` of `url` as discovered labels by job; empty when it does not answer.
fn targets_of(url: &str) -> BTreeMap<String, Vec<Labels>> {
    match agent().get(&format!("{url}/api/v1/targets?state=any")).call() {
        Ok(r) => discovered_by_job(&serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or_default()),
        Err(_) => BTreeMap::new(),
    }
}

#[test]
fn discovered_labels_match_prometheus() {
    let Ok(prometheus) = std::env::var("METRICSTOR_PROMETHEUS_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_PROMETHEUS_BIN (bash .ci/run does) to run the Prometheus discovery interop test");
        return;
    };
    let started = Instant::now();
    let cases = cases();
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml: String = cases.iter().map(|c| c.yaml.as_str()).collect();
    let config = write_scrape_config(dir.path(), format!("global: {{scrape_interval: 15s, scrape_timeout: 5s}}\nscrape_configs:\n{yaml}"));
    let server = Server::start(&config);
    let prom_port = free_port();
    let mut prometheus_process = start_prometheus(&prometheus, &dir.path().join("prometheus.yml"), prom_port, dir.path());
    let prom_url = format!("http://127.0.0.1:{prom_port}");
    let ours_url = server.url("");

    // Both sides until every job has its targets on each (or the deadline passes).
    let wanted: Vec<(String, usize)> = cases.iter().flat_map(|c| c.jobs.clone()).collect();
    let complete = |found: &BTreeMap<String, Vec<Labels>>| wanted.iter().all(|(job, n)| found.get(job).map_or(0, Vec::len) >= *n);
    let deadline = Instant::now() + DISCOVERY_DEADLINE;
    let (mut theirs, mut ours) = (BTreeMap::new(), BTreeMap::new());
    while Instant::now() < deadline {
        if let Ok(Some(status)) = prometheus_process.0.try_wait() {
            panic!("Prometheus exited ({status}):\n{}", std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default());
        }
        theirs = targets_of(&prom_url);
        ours = targets_of(&ours_url);
        if complete(&theirs) && complete(&ours) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }

    let mut failures = Vec::new();
    for case in &cases {
        for (job, n) in &case.jobs {
            let (t, o) = (theirs.get(job).cloned().unwrap_or_default(), ours.get(job).cloned().unwrap_or_default());
            if t.len() != *n || o.len() != *n {
                failures.push(format!("job {job}: {n} targets wanted, Prometheus found {}, Metricstor {}\n  Prometheus: {t:?}\n  Metricstor: {o:?}", t.len(), o.len()));
                continue;
            }
            // An excused label is one Prometheus added after 2.42: 2.42 must not have it.
            let excused: Vec<(&str, &str)> = case.excused.iter().chain(EXCUSED_EVERYWHERE).copied().collect();
            for (label, why) in excused.iter().filter(|(label, _)| t.iter().any(|l| l.contains_key(*label))) {
                failures.push(format!("job {job}: {label} is excused ({why}), yet Prometheus 2.42 has it"));
            }
            let (t, o) = (without(&t, &excused), without(&o, &excused));
            for (i, (a, b)) in t.iter().zip(&o).enumerate() {
                if a != b {
                    let only_theirs: Vec<_> = a.iter().filter(|(k, v)| b.get(*k) != Some(v)).collect();
                    let only_ours: Vec<_> = b.iter().filter(|(k, v)| a.get(*k) != Some(v)).collect();
                    failures.push(format!("job {job}, target {i} (sorted): Prometheus only {only_theirs:?}; Metricstor only {only_ours:?}"));
                }
            }
        }
    }
    if !failures.is_empty() {
        let log = std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
        let errors: Vec<&str> = log.lines().filter(|l| l.contains("level=error") || l.contains("level=warn")).collect();
        panic!("discovered labels differ:\n{}\nPrometheus' warnings and errors:\n{}", failures.join("\n"), errors.join("\n"));
    }
    eprintln!("compared {} jobs in {:?}", wanted.len(), started.elapsed());
    assert!(server.stop());
}

/// Every discovery compared, each with its own mock API. Not here: nomad, consul and kuma,
/// which Debian's Prometheus 2.42 is built without (its config refuses their sections).
fn cases() -> Vec<Case> {
    vec![http_sd(), eureka(), puppetdb(), marathon(), docker(), dockerswarm(), scaleway(), ovhcloud(), openstack(), ec2(), lightsail()]
}

fn http_sd() -> Case {
    let port = mock_api(|_, r| {
        (r.path == "/sd").then(|| {
            ok_json(json!([
                {"targets": ["10.1.0.1:9100", "10.1.0.2:9100"], "labels": {"env": "prod", "team": "pay", "empty": ""}},
                {"targets": ["10.1.0.3:9100"], "labels": {"__meta_datacenter": "west", "__metrics_path__": "/m"}},
                {"targets": ["10.1.0.4:9100"]}
            ]))
        })
        .flatten()
    });
    Case { jobs: vec![("http".into(), 4)], yaml: format!(
            "- job_name: http\n  scheme: https\n  metrics_path: /probe\n  scrape_interval: 1m30s\n  scrape_timeout: 20s\n  params: {{module: [icmp, tcp], target: [x]}}\n  http_sd_configs:\n  - url: http://127.0.0.1:{port}/sd\n"
        ), excused: &[] }
}

fn eureka() -> Case {
    let apps = r#"<applications>
  <versions__delta>1</versions__delta>
  <apps__hashcode>UP_3_</apps__hashcode>
  <application>
    <name>PAYMENTS</name>
    <instance>
      <instanceId>payments-1:payments:8080</instanceId>
      <hostName>pay-1.example.org</hostName>
      <app>PAYMENTS</app>
      <ipAddr>10.3.2.1</ipAddr>
      <status>UP</status>
      <overriddenstatus>UNKNOWN</overriddenstatus>
      <port enabled="true">8080</port>
      <securePort enabled="false">443</securePort>
      <countryId>1</countryId>
      <dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"><name>MyOwn</name></dataCenterInfo>
      <metadata><team>pay</team><management.port>8081</management.port></metadata>
      <homePageUrl>http://pay-1.example.org:8080/</homePageUrl>
      <statusPageUrl>http://pay-1.example.org:8080/info</statusPageUrl>
      <healthCheckUrl>http://pay-1.example.org:8080/health</healthCheckUrl>
      <vipAddress>payments</vipAddress>
      <secureVipAddress>payments-secure</secureVipAddress>
      <isCoordinatingDiscoveryServer>false</isCoordinatingDiscoveryServer>
      <lastUpdatedTimestamp>1669834200000</lastUpdatedTimestamp>
      <actionType>ADDED</actionType>
    </instance>
    <instance>
      <instanceId>payments-2:payments:8080</instanceId>
      <hostName>10.3.2.2</hostName>
      <app>PAYMENTS</app>
      <status>DOWN</status>
      <port enabled="true">8080</port>
      <securePort enabled="true">8443</securePort>
    </instance>
  </application>
  <application>
    <name>GATEWAY</name>
    <instance><instanceId>gw-1</instanceId><hostName>10.3.2.9</hostName><app>GATEWAY</app></instance>
    <instance>
      <instanceId>i-0123:gateway:9000</instanceId>
      <hostName>ip-10-3-2-10.ec2.internal</hostName>
      <app>GATEWAY</app>
      <ipAddr>10.3.2.10</ipAddr>
      <status>OUT_OF_SERVICE</status>
      <port enabled="false">9000</port>
      <securePort enabled="true">9443</securePort>
      <dataCenterInfo class="com.netflix.appinfo.AmazonInfo"><name>Amazon</name>
        <metadata><instance-id>i-0123</instance-id><availability-zone>us-east-1a</availability-zone><local-ipv4>10.3.2.10</local-ipv4></metadata></dataCenterInfo>
      <metadata><prometheus.scrape>true</prometheus.scrape><prometheus.path>/actuator/prometheus</prometheus.path></metadata>
    </instance>
  </application>
</applications>"#;
    let port = mock_api(move |_, r| (r.path == "/eureka/apps").then(|| (200, vec!["Content-Type: application/xml".to_string()], apps.to_string())));
    Case { jobs: vec![("eureka".into(), 4)], yaml: format!("- job_name: eureka\n  eureka_sd_configs:\n  - server: http://127.0.0.1:{port}/eureka\n"), excused: &[] }
}

fn puppetdb() -> Case {
    let port = mock_api(|_, r| {
        (r.method == "POST" && r.path == "/puppetdb/pdb/query/v4").then(|| {
            ok_json(json!([
                {"certname": "web-1.example.org", "environment": "production", "exported": false, "file": "/etc/puppetlabs/code/site/profile/manifests/monitoring.pp",
                 "line": 12, "parameters": {"scrape": true, "job": "node", "interval": 15, "ratio": 0.5, "collectors": ["cpu", "meminfo"], "labels": {"rack": "r7", "deeper": {"row": 3}}, "unset": null,
                                "big": 1e21, "tiny": 0.000001, "count": 12345678, "negative": -3, "off": false, "mixed": ["a", 1, true, null, {"x": 1}, ["b"]], "none": [],
                                "weird-key.name": "v", "blank": ""},
                 "resource": "5f3c8e2a9d", "tags": ["class", "prometheus::node_exporter", "profile::monitoring"], "title": "Prometheus::Node_exporter", "type": "Class"},
                {"certname": "db-2.example.org", "environment": "staging", "exported": true, "file": null, "parameters": {},
                 "resource": "77b0c1d2e3", "tags": ["class"], "title": "Prometheus::Node_exporter", "type": "Class"}
            ]))
        })
        .flatten()
    });
    let query = r#"resources { type = "Class" and title = "Prometheus::Node_exporter" }"#;
    Case {
        jobs: vec![("puppetdb".into(), 2)],
        yaml: format!("- job_name: puppetdb\n  puppetdb_sd_configs:\n  - {{url: 'http://127.0.0.1:{port}/puppetdb/', query: '{query}', include_parameters: true, port: 9101}}\n"),
        excused: &[],
    }
}

fn marathon() -> Case {
    let port = mock_api(|_, r| {
        (r.path == "/v2/apps/").then(|| {
            ok_json(json!({"apps": [
                {"id": "/web", "instances": 2, "labels": {"team": "front", "prometheus": "yes"},
                 "container": {"type": "DOCKER", "docker": {"image": "nginx:1.25", "portMappings": [{"containerPort": 80, "hostPort": 31000, "servicePort": 10000, "labels": {"metrics": "/status"}}]}},
                 "portDefinitions": [{"port": 10000, "labels": {"prom": "yes"}}],
                 "tasks": [{"id": "web.1", "host": "agent-1.example.org", "ports": [31000], "ipAddresses": [{"ipAddress": "10.4.0.1", "protocol": "IPv4"}]},
                           {"id": "web.2", "host": "agent-2.example.org", "ports": [31001], "ipAddresses": [{"ipAddress": "10.4.0.2", "protocol": "IPv4"}]}]},
                {"id": "/api", "instances": 1, "labels": {},
                 "container": {"type": "MESOS", "docker": {"image": "api:2"}},
                 "portDefinitions": [{"port": 10001, "labels": {"tier": "api"}}, {"port": 10002}],
                 "tasks": [{"id": "api.1", "host": "agent-3.example.org", "ports": [31010, 31011]}]},
                // Marathon 1.5's container-level mappings on a container network: the task's IP
                // and the container port, a zero host port taken from the task.
                {"id": "/net", "instances": 1, "networks": [{"mode": "container", "name": "dcos"}],
                 "container": {"type": "MESOS", "docker": {"image": "exporter:3"}, "portMappings": [{"containerPort": 9090, "hostPort": 0, "labels": {"metrics.path": "/m"}}, {"containerPort": 0, "hostPort": 0}]},
                 "tasks": [{"id": "net.1", "host": "agent-4.example.org", "ports": [31700, 31701], "ipAddresses": [{"ipAddress": "10.4.1.5", "protocol": "IPv4"}, {"ipAddress": "10.4.1.6", "protocol": "IPv4"}]}]},
                {"id": "/req", "instances": 1, "requirePorts": true, "container": {"type": "MESOS", "docker": {"image": ""}},
                 "portDefinitions": [{"port": 10005, "labels": {"a": "b"}}], "tasks": [{"id": "req.1", "host": "agent-5.example.org", "ports": [31800]}]},
                {"id": "/hostports", "instances": 1, "container": {"type": "MESOS", "docker": {"image": "h:1"}}, "tasks": [{"id": "hp.1", "host": "agent-6.example.org", "ports": [31900]}]}
            ]}))
        })
        .flatten()
    });
    Case { jobs: vec![("marathon".into(), 8)], yaml: format!("- job_name: marathon\n  marathon_sd_configs:\n  - servers: ['http://127.0.0.1:{port}']\n"), excused: &[] }
}

fn docker() -> Case {
    let port = mock_api(|_, r| {
        if r.path == "/_ping" {
            return Some((200, vec!["Api-Version: 1.41".to_string(), "Content-Type: text/plain".to_string()], "OK".to_string()));
        }
        if r.path.ends_with("/containers/json") {
            return ok_json(json!([
                {"Id": "c1d2e3", "Names": ["/web"], "Image": "nginx:1.25", "ImageID": "sha256:aa11", "Command": "nginx", "Created": 1700000000,
                 "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}, {"PrivatePort": 443, "Type": "tcp"}],
                 "Labels": {"com.example.team": "front", "com.docker.compose.project": "shop"}, "State": "running", "Status": "Up 2 hours",
                 "HostConfig": {"NetworkMode": "bridge"},
                 "NetworkSettings": {"Networks": {"bridge": {"NetworkID": "net-bridge", "IPAddress": "172.17.0.2"}}}},
                {"Id": "f4e5d6", "Names": ["/worker"], "Image": "worker:3", "ImageID": "sha256:bb22", "Ports": [],
                 "Labels": {}, "State": "running", "HostConfig": {"NetworkMode": "shop_back"},
                 "NetworkSettings": {"Networks": {"shop_back": {"NetworkID": "net-back", "IPAddress": "172.20.0.5"}}}},
                // Host networking (the address is host_networking_host), UDP only (the
                // fallback port), and no name (skipped). No container is on two networks:
                // Prometheus 3 keeps only the first by name (`match_first_network`, default
                // true, 0d25931049), 2.42 makes a target on each.
                {"Id": "a1b2c3", "Names": ["/node-exporter"], "Image": "prom/node-exporter", "ImageID": "sha256:cc33", "Ports": [], "Labels": {"prometheus.io/scrape": "true"},
                 "HostConfig": {"NetworkMode": "host"}, "NetworkSettings": {"Networks": {"host": {"NetworkID": "net-host", "IPAddress": ""}}}},
                {"Id": "d4e5f6", "Names": ["/dns", "/alias"], "Image": "coredns", "ImageID": "sha256:dd44", "Ports": [{"PrivatePort": 53, "PublicPort": 53, "IP": "0.0.0.0", "Type": "udp"}],
                 "HostConfig": {"NetworkMode": "bridge"}, "NetworkSettings": {"Networks": {"bridge": {"NetworkID": "net-bridge", "IPAddress": "172.17.0.3"}}}},
                {"Id": "0a0b0c", "Names": ["/api"], "Image": "api:7", "ImageID": "sha256:ee55", "Ports": [{"PrivatePort": 8080, "Type": "tcp"}], "Labels": {"com.docker.compose.service": "api"},
                 "HostConfig": {"NetworkMode": "shop_back"}, "NetworkSettings": {"Networks": {"shop_back": {"NetworkID": "net-back", "IPAddress": "172.20.0.6"}}}},
                {"Id": "nameless", "Names": [], "Image": "x", "Ports": [], "HostConfig": {"NetworkMode": "bridge"}, "NetworkSettings": {"Networks": {"bridge": {"NetworkID": "net-bridge", "IPAddress": "172.17.0.9"}}}}
            ]));
        }
        if r.path.ends_with("/networks") {
            return ok_json(json!([
                {"Id": "net-bridge", "Name": "bridge", "Scope": "local", "Driver": "bridge", "Internal": false, "Ingress": false, "Labels": {}},
                {"Id": "net-back", "Name": "shop_back", "Scope": "local", "Driver": "bridge", "Internal": true, "Ingress": false, "Labels": {"com.docker.compose.project": "shop"}},
                {"Id": "net-host", "Name": "host", "Scope": "local", "Driver": "host", "Internal": false, "Ingress": false, "Labels": {}}
            ]));
        }
        None
    });
    Case {
        jobs: vec![("docker".into(), 6)],
        yaml: format!("- job_name: docker\n  docker_sd_configs:\n  - host: tcp://127.0.0.1:{port}\n"),
        excused: &[
            ("__meta_docker_container_image", "added in Prometheus 3 (59c5deb475 docker: add Image + ImageID to labels)"),
            ("__meta_docker_container_image_id", "added in Prometheus 3 (59c5deb475 docker: add Image + ImageID to labels)"),
        ],
    }
}

fn dockerswarm() -> Case {
    let port = mock_api(|_, r| {
        if r.path == "/_ping" {
            return Some((200, vec!["Api-Version: 1.41".to_string(), "Content-Type: text/plain".to_string()], "OK".to_string()));
        }
        let path = r.path.rsplit('/').next().unwrap_or("");
        match path {
            "services" => ok_json(json!([
                {"ID": "svc-exporter", "Version": {"Index": 7},
                 "Spec": {"Name": "mon_exporter", "Labels": {"com.docker.stack.namespace": "mon"}, "Mode": {"Global": {}},
                          "TaskTemplate": {"ContainerSpec": {"Image": "example/exporter:1", "Hostname": "exp"}}},
                 "Endpoint": {"Ports": [{"Protocol": "tcp", "TargetPort": 9100, "PublishedPort": 19100, "PublishMode": "ingress", "Name": "metrics"}],
                              "VirtualIPs": [{"NetworkID": "net-ingress", "Addr": "10.0.0.5/24"}, {"NetworkID": "net-mon", "Addr": "10.0.1.5/24"}]}},
                {"ID": "svc-dns", "Spec": {"Name": "dns", "Mode": {"Replicated": {"Replicas": 1}}, "TaskTemplate": {"ContainerSpec": {"Image": "coredns:1"}}},
                 "Endpoint": {"Ports": [{"Protocol": "udp", "TargetPort": 53, "PublishedPort": 53, "PublishMode": "ingress"}], "VirtualIPs": [{"NetworkID": "net-mon", "Addr": "10.0.1.9/24"}]}}
            ])),
            "tasks" => ok_json(json!([
                {"ID": "task-1", "ServiceID": "svc-exporter", "NodeID": "node-1", "Slot": 1, "DesiredState": "running",
                 "Spec": {"ContainerSpec": {"Image": "example/exporter:1", "Labels": {"com.example.tier": "infra"}}},
                 "Status": {"State": "running", "ContainerStatus": {"ContainerID": "c0ffee"},
                            "PortStatus": {"Ports": [{"Protocol": "tcp", "TargetPort": 9100, "PublishedPort": 29100, "PublishMode": "host"}]}},
                 "NetworksAttachments": [{"Network": {"ID": "net-mon"}, "Addresses": ["10.0.1.20/24"]}]},
                {"ID": "task-2", "ServiceID": "svc-dns", "NodeID": "node-2", "Slot": 1, "DesiredState": "shutdown",
                 "Spec": {"ContainerSpec": {"Image": "coredns:1"}}, "Status": {"State": "failed"},
                 "NetworksAttachments": [{"Network": {"ID": "net-mon"}, "Addresses": ["10.0.1.21/24"]}]},
                // A task of a service gone, on a node gone, on an IPv6 network address, with a UDP
                // host port (skipped) and a TCP one: on a node gone its address is ":5354", a
                // target both list (whose scrapes fail here).
                {"ID": "task-3", "ServiceID": "svc-gone", "NodeID": "node-gone", "Slot": 0, "DesiredState": "running",
                 "Status": {"State": "running", "PortStatus": {"Ports": [{"Protocol": "udp", "TargetPort": 53, "PublishedPort": 5353, "PublishMode": "host"},
                                                                          {"Protocol": "tcp", "TargetPort": 53, "PublishedPort": 5354, "PublishMode": "host"}]}},
                 "NetworksAttachments": [{"Network": {"ID": "net-mon"}, "Addresses": ["fd00:1::22/64"]}]}
            ])),
            "nodes" => ok_json(json!([
                {"ID": "node-1", "Spec": {"Role": "manager", "Availability": "active", "Labels": {"rack": "r1"}},
                 "Description": {"Hostname": "manager-1", "Platform": {"Architecture": "x86_64", "OS": "linux"}, "Engine": {"EngineVersion": "24.0.7"}},
                 "Status": {"State": "ready", "Addr": "10.0.232.3"}, "ManagerStatus": {"Leader": true, "Reachability": "reachable", "Addr": "10.0.232.3:2377"}},
                {"ID": "node-2", "Spec": {"Role": "worker", "Availability": "drain"},
                 "Description": {"Hostname": "worker-9", "Platform": {"Architecture": "aarch64", "OS": "linux"}, "Engine": {"EngineVersion": "24.0.7"}}, "Status": {"State": "down", "Addr": "10.0.232.9"}}
            ])),
            "networks" => ok_json(json!([
                {"Id": "net-ingress", "Name": "ingress", "Scope": "swarm", "Internal": false, "Ingress": true, "Labels": {}},
                {"Id": "net-mon", "Name": "mon_net", "Scope": "swarm", "Internal": true, "Ingress": false, "Labels": {"com.docker.stack.namespace": "mon"}}
            ])),
            _ => None,
        }
    });
    let entry = |role: &str| format!("- job_name: swarm_{role}\n  dockerswarm_sd_configs:\n  - {{host: 'http://127.0.0.1:{port}', role: {role}, port: 9323}}\n");
    Case {
        jobs: vec![("swarm_services".into(), 3), ("swarm_tasks".into(), 5), ("swarm_nodes".into(), 2)],
        yaml: ["services", "tasks", "nodes"].iter().map(|r| entry(r)).collect(),
        excused: &[],
    }
}

/// Scaleway's instance and baremetal roles: every instance has a private IP (2.42 makes targets only of those;
/// Prometheus 3 also of servers with only public IPs).
fn scaleway() -> Case {
    let port = mock_api(|_, r| {
        let first_page = !r.query.split('&').any(|p| p.starts_with("page=") && p != "page=1");
        // One page of a list, `key` naming its items; later pages are empty.
        let page = |key: &str, items: serde_json::Value| {
            let total = items.as_array().map_or(0, Vec::len);
            ok_json(json!({key: if first_page { items } else { json!([]) }, "total_count": total}))
        };
        match r.path.as_str() {
            "/baremetal/v1/zones/fr-par-1/servers" => return page("servers", json!([
                {"id": "5ab0de02-0f2f-4d6c-8b4a-a5b3d3a1e8a7", "organization_id": "cb334986-b054-4725-9d3a-40850fdc6015", "project_id": "cb334986-b054-4725-9d3a-40850fdc6015",
                 "name": "bm-1", "description": "", "status": "ready", "offer_id": "3ab0dc29-2fd4-486e-88bf-d08fbf49214b", "offer_name": "EM-B112X-SSD", "tags": ["db", "prod"],
                 "ips": [{"id": "1", "address": "51.159.1.2", "reverse": "bm-1.example.org", "version": "IPv4", "reverse_status": "active"},
                         {"id": "2", "address": "2001:bc8:1201::1", "reverse": "", "version": "IPv6", "reverse_status": "active"}],
                 "domain": "bm-1.example.org", "boot_type": "normal", "zone": "fr-par-1",
                 "install": {"os_id": "96e5f0f2-d216-4de2-8a15-68730d877885", "hostname": "bm-1", "ssh_key_ids": [], "status": "completed"}},
                {"id": "6bc1ef13-1f3f-4e7d-9c5b-b6c4e4b2f9b8", "organization_id": "cb334986-b054-4725-9d3a-40850fdc6015", "project_id": "cb334986-b054-4725-9d3a-40850fdc6015",
                 "name": "bm-2", "status": "stopped", "offer_id": "unknown-offer", "tags": [],
                 "ips": [{"id": "3", "address": "2001:bc8:1201::2", "version": "IPv6"}], "zone": "fr-par-1", "install": null}
            ])),
            "/baremetal/v1/zones/fr-par-1/offers" => return page("offers", json!([{"id": "3ab0dc29-2fd4-486e-88bf-d08fbf49214b", "name": "EM-B112X-SSD", "stock": "available"}])),
            "/baremetal/v1/zones/fr-par-1/os" => return page("os", json!([{"id": "96e5f0f2-d216-4de2-8a15-68730d877885", "name": "Ubuntu", "version": "22.04 LTS (Jammy Jellyfish)"}])),
            "/instance/v1/zones/fr-par-1/servers" => {}
            _ => return None,
        }
        let servers = if first_page {
            json!([
                {"id": "93c18a61-b681-49d0-a1cc-62b43883ae89", "name": "scw-nervous-dijkstra", "organization": "cb334986-b054-4725-9d3a-40850fdc6015",
                 "project": "cb334986-b054-4725-9d3a-40850fdc6015", "allowed_actions": ["poweroff"], "tags": ["prometheus", "app"], "commercial_type": "DEV1-S",
                 "creation_date": "2021-08-27T13:58:28.474434+00:00", "dynamic_ip_required": false, "enable_ipv6": true, "hostname": "scw-nervous-dijkstra",
                 "image": {"id": "45a86b35-eca6-4055-9b34-ca69845da146", "name": "Ubuntu 20.04 Focal Fossa", "arch": "x86_64"},
                 "protected": false, "private_ip": "10.70.60.57", "public_ip": {"id": "31b4e90a-4e0a-4bd8-8f76-2a3c1b0b4e7d", "address": "51.158.183.115", "dynamic": false, "family": "inet"},
                 "public_ips": [{"id": "31b4e90a-4e0a-4bd8-8f76-2a3c1b0b4e7d", "address": "51.158.183.115", "dynamic": false, "family": "inet"},
                                {"id": "2a3c1b0b-4e0a-4bd8-8f76-31b4e90a4e7d", "address": "2001:bc8:630:1e1c::1", "dynamic": false, "family": "inet6"}],
                 "modification_date": "2021-08-27T14:00:35.391376+00:00", "state": "running",
                 "location": {"cluster_id": "40", "hypervisor_id": "1601", "node_id": "29", "platform_id": "14", "zone_id": "par1"},
                 "ipv6": {"address": "2001:bc8:630:1e1c::1", "gateway": "2001:bc8:630:1e1c::", "netmask": "64"}, "boot_type": "local",
                 "security_group": {"id": "984414da-9fc2-49c0-a925-fed6266fe092", "name": "Default security group"}, "state_detail": "booted", "arch": "x86_64", "zone": "fr-par-1"},
                {"id": "5b6198b4-c677-41b5-9c05-04557264ae1f", "name": "scw-quizzical-feistel", "organization": "cb334986-b054-4725-9d3a-40850fdc6015",
                 "project": "cb334986-b054-4725-9d3a-40850fdc6015", "tags": [], "commercial_type": "DEV1-M", "hostname": "scw-quizzical-feistel",
                 "image": {"id": "71733b74-260f-4d0d-8f18-f37dcfa56d6f", "name": "Debian Buster", "arch": "x86_64"},
                 "private_ip": "10.70.60.58", "public_ip": null, "state": "stopped", "location": null, "ipv6": null, "boot_type": "local",
                 "security_group": {"id": "984414da-9fc2-49c0-a925-fed6266fe092", "name": "Default security group"}, "arch": "x86_64", "zone": "fr-par-1"}
            ])
        } else {
            json!([])
        };
        ok_json(json!({"servers": servers, "total_count": 2}))
    });
    Case {
        jobs: vec![("scaleway_instance".into(), 2), ("scaleway_baremetal".into(), 2)],
        yaml: ["instance", "baremetal"]
            .iter()
            .map(|role| {
                format!(
                    "- job_name: scaleway_{role}\n  scaleway_sd_configs:\n  - {{role: {role}, api_url: 'http://127.0.0.1:{port}', zone: fr-par-1, project_id: cb334986-b054-4725-9d3a-40850fdc6015, \
                     access_key: SCWXXXXXXXXXXXXXXXXX, secret_key: 6d6579e5-a5b9-49fc-a35f-b4feb9b87301, port: 9100}}\n"
                )
            })
            .collect(),
        excused: &[
            ("__meta_scaleway_instance_public_ipv4_addresses", "added after 2.42 (05713e9c63 feat(scaleway-sd): add labels for multiple routed IPs)"),
            ("__meta_scaleway_instance_public_ipv6_addresses", "added after 2.42 (05713e9c63 feat(scaleway-sd): add labels for multiple routed IPs)"),
        ],
    }
}

/// OVHcloud's dedicated servers and VPSs (the shapes of Prometheus' testdata); the client
/// first asks `/auth/time` for its clock offset.
fn ovhcloud() -> Case {
    let port = mock_api(|_, r| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        match r.path.as_str() {
            "/auth/time" => Some((200, vec!["Content-Type: application/json".to_string()], now.to_string())),
            "/dedicated/server" => ok_json(json!(["abcde", "fghij"])),
            "/dedicated/server/abcde" => ok_json(json!({
                "ip": "1.2.3.4", "newUpgradeSystem": true, "commercialRange": "Advance-1 Gen 2", "rack": "TESTRACK", "rescueMail": null, "supportLevel": "pro",
                "bootId": 1, "linkSpeed": 123, "professionalUse": false, "monitoring": true, "noIntervention": false, "name": "abcde", "rootDevice": null,
                "state": "ok", "datacenter": "gra3", "os": "debian11_64", "reverse": "abcde-rev", "serverId": 1234})),
            "/dedicated/server/abcde/ips" => ok_json(json!(["1.2.3.4/32", "2001:0db8:0000:0000:0000:0000:0000:0001/64"])),
            "/dedicated/server/fghij" => ok_json(json!({
                "commercialRange": "Rise-2", "rack": "R2", "supportLevel": "critical", "linkSpeed": 1000, "noIntervention": true, "name": "fghij",
                "state": "hacked", "datacenter": "sbg1", "os": "none_64", "reverse": "", "serverId": 5678})),
            // IPv6 alone: the address is the bare "2001:41d0:1:2::5", a target both list (whose
            // scrapes fail).
            "/dedicated/server/fghij/ips" => ok_json(json!(["2001:41d0:1:2::/64", "2001:41d0:1:2::5"])),
            "/vps" => ok_json(json!(["abc", "def"])),
            "/vps/abc" => ok_json(json!({
                "offerType": "ssd", "monitoringIpBlocks": [], "displayName": "abc", "zone": "zone", "cluster": "cluster_test", "slaMonitoring": false, "name": "abc",
                "vcore": 1, "state": "running", "keymap": null, "netbootMode": "local",
                "model": {"name": "vps-value-1-2-40", "availableOptions": [], "maximumAdditionnalIp": 16, "offer": "VPS abc", "disk": 40, "version": "2019v1", "vcore": 1, "memory": 2048, "datacenter": []},
                "memoryLimit": 2048})),
            "/vps/abc/ips" => ok_json(json!(["192.0.2.1/32", "2001:0db1:0000:0000:0000:0000:0000:0001/64"])),
            "/vps/def" => ok_json(json!({
                "offerType": "cloud", "displayName": "my def", "zone": "Region OpenStack: os-gra2", "cluster": "pcc-1", "name": "def", "vcore": 4, "state": "stopped",
                "netbootMode": "rescue", "model": {"name": "vps-elite-4-8-160", "maximumAdditionnalIp": 16, "offer": "VPS Elite", "disk": 160, "version": "2019v1", "vcore": 4, "memory": 8192, "datacenter": ["gra", "sbg"]},
                "memoryLimit": 8192})),
            "/vps/def/ips" => ok_json(json!(["192.0.2.7/32"])),
            _ => None,
        }
    });
    let entry = |service: &str| {
        format!(
            "- job_name: ovh_{service}\n  ovhcloud_sd_configs:\n  - {{service: {service}, endpoint: 'http://127.0.0.1:{port}', application_key: appkey, application_secret: appsecret, consumer_key: consumerkey}}\n"
        )
    };
    Case { jobs: vec![("ovh_dedicated_server".into(), 2), ("ovh_vps".into(), 2)], yaml: entry("dedicated_server") + &entry("vps"), excused: &[] }
}

/// OpenStack's instance and hypervisor roles: Keystone's catalog names the mock itself for
/// compute and network. Prometheus 2.42 reads floating IPs from Nova's `/os-floating-ips`,
/// Prometheus 3 from Neutron's `/v2.0/floatingips` and `/v2.0/ports`: the mock answers both
/// with the same associations.
fn openstack() -> Case {
    let port = mock_api(|port, r| {
        let base = format!("http://127.0.0.1:{port}");
        let server = |id: &str, name: &str, status: &str, addresses: serde_json::Value, flavor: &str, metadata: serde_json::Value| {
            json!({"id": id, "name": name, "status": status, "tenant_id": "fcad67a6189847c4aecfa3c81a05783b", "user_id": "9349aff8be7545ac9d2f1d00999a23cd",
                   "addresses": addresses, "flavor": {"id": flavor, "links": []}, "image": {"id": "f90f6034-2570-4974-8351-6b49732ef2eb", "links": []},
                   "metadata": metadata, "hostId": "29d3c8c896a45aa4c34e52247875d7fefc3d94bbcc9f622b5d204362", "created": "2014-09-25T13:04:41Z",
                   "updated": "2014-09-25T13:04:49Z", "security_groups": [{"name": "default"}]})
        };
        match (r.method.as_str(), r.path.as_str()) {
            ("POST", "/v3/auth/tokens") => Some((
                201,
                vec!["Content-Type: application/json".to_string(), "X-Subject-Token: cbc36478b0bd8e67e89469c7749d4127".to_string()],
                json!({"token": {
                    "methods": ["password"], "expires_at": "2099-02-27T18:30:59.999999Z", "issued_at": "2013-02-27T16:30:59.999999Z",
                    "catalog": [
                        {"id": "4363ae44", "type": "identity", "name": "keystone", "endpoints": [{"id": "39dc322c", "interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": format!("{base}/v3/")}]},
                        {"id": "b7f2a5b1", "type": "compute", "name": "nova", "endpoints": [{"id": "e2ffee80", "interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": format!("{base}/")}]},
                        {"id": "589f3d99", "type": "network", "name": "neutron", "endpoints": [{"id": "5448e466", "interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": format!("{base}/")}]}],
                    "project": {"domain": {"id": "12345", "name": "example.com"}, "id": "263fd9", "name": "project-x"},
                    "user": {"domain": {"id": "12345", "name": "example.com"}, "id": "0ca8f6", "name": "test"}}})
                .to_string(),
            )),
            // Nova's and Neutron's version documents (Prometheus 3's gophercloud asks the
            // catalog's unversioned endpoints for them).
            ("GET", "/") => ok_json(json!({"versions": [{"id": "v2.0", "status": "SUPPORTED", "links": [{"href": format!("{base}/"), "rel": "self"}]},
                                                         {"id": "v2.1", "status": "CURRENT", "version": "2.79", "min_version": "2.1", "links": [{"href": format!("{base}/"), "rel": "self"}]}]})),
            (_, "/servers/detail") => ok_json(json!({"servers": [
                server("af9bcad9-3c87-477d-9347-b291eabf480e", "herp2", "ERROR", json!({}), "1", json!({})),
                server("ef079b0c-e610-4dfb-b1aa-b49f07ac48e5", "herp", "ACTIVE",
                       json!({"private": [{"OS-EXT-IPS-MAC:mac_addr": "fa:16:3e:7c:1b:2b", "version": 4, "addr": "10.0.0.32", "OS-EXT-IPS:type": "fixed"},
                                          {"version": 4, "addr": "10.10.10.2", "OS-EXT-IPS:type": "floating"}]}), "1", json!({"env": "prod", "team.name": "db"})),
                server("9e5476bd-a4ec-4653-93d6-72c93aa682ba", "derp", "ACTIVE",
                       json!({"private": [{"version": 4, "addr": "10.0.0.31", "OS-EXT-IPS:type": "fixed"}, {"version": 6, "addr": "fd00::31", "OS-EXT-IPS:type": "fixed"}],
                              "backup": [{"version": 4, "addr": "192.168.5.9", "OS-EXT-IPS:type": "fixed"}], "empty": []}), "2", json!({})),
                server("9e5476bd-a4ec-4653-93d6-72c93aa682bb", "merp", "SHUTOFF",
                       json!({"private": [{"version": 4, "addr": "10.0.0.33", "OS-EXT-IPS:type": "fixed"}, {"version": 4, "addr": "10.0.0.34", "OS-EXT-IPS:type": "fixed"},
                                          {"version": 4, "addr": "10.10.10.4", "OS-EXT-IPS:type": "floating"}]}), "3", json!({"env": "dev"}))
            ]})),
            (_, "/os-floating-ips") => ok_json(json!({"floating_ips": [
                {"id": "1", "ip": "10.10.10.1", "fixed_ip": null, "instance_id": null, "pool": "nova"},
                {"id": "2", "ip": "10.10.10.2", "fixed_ip": "10.0.0.32", "instance_id": "ef079b0c-e610-4dfb-b1aa-b49f07ac48e5", "pool": "nova"},
                {"id": "3", "ip": "10.10.10.4", "fixed_ip": "10.0.0.34", "instance_id": "9e5476bd-a4ec-4653-93d6-72c93aa682bb", "pool": "nova"}
            ]})),
            (_, "/v2.0/floatingips") => ok_json(json!({"floatingips": [
                {"id": "1", "floating_ip_address": "10.10.10.1", "port_id": null, "fixed_ip_address": null, "status": "DOWN"},
                {"id": "2", "floating_ip_address": "10.10.10.2", "port_id": "4a45b012-0478-484d-8cf3-c8abdb194d08", "fixed_ip_address": "10.0.0.32", "status": "ACTIVE"},
                {"id": "3", "floating_ip_address": "10.10.10.4", "port_id": "a0e244e8-7910-4427-b8d1-20470cad4f8a", "fixed_ip_address": "10.0.0.34", "status": "ACTIVE"}
            ]})),
            (_, "/v2.0/ports") => ok_json(json!({"ports": [
                {"id": "4a45b012-0478-484d-8cf3-c8abdb194d08", "device_id": "ef079b0c-e610-4dfb-b1aa-b49f07ac48e5", "status": "ACTIVE", "fixed_ips": [{"subnet_id": "", "ip_address": "10.0.0.32"}]},
                {"id": "a0e244e8-7910-4427-b8d1-20470cad4f8a", "device_id": "9e5476bd-a4ec-4653-93d6-72c93aa682bb", "status": "ACTIVE", "fixed_ips": [{"subnet_id": "", "ip_address": "10.0.0.34"}]}
            ]})),
            (_, "/os-hypervisors/detail") => ok_json(json!({"hypervisors": [
                {"status": "enabled", "service": {"host": "nc14.cloud.com", "disabled_reason": null, "id": 16}, "vcpus_used": 18, "hypervisor_type": "QEMU",
                 "hypervisor_hostname": "nc14.cloud.com", "current_workload": 0, "disk_available_least": 0, "free_disk_gb": 1028, "free_ram_mb": 7680,
                 "local_gb": 1028, "local_gb_used": 0, "memory_mb": 8192, "memory_mb_used": 512, "running_vms": 0, "vcpus": 8, "state": "up", "host_ip": "172.16.70.14", "cpu_info": "{\"vendor\": \"Intel\"}", "hypervisor_version": 2003000, "id": 1},
                {"status": "disabled", "service": {"host": "cc13.cloud.com", "disabled_reason": "maintenance", "id": 17}, "vcpus_used": 1, "hypervisor_type": "QEMU",
                 "hypervisor_hostname": "cc13.cloud.com", "current_workload": 0, "disk_available_least": 0, "free_disk_gb": 1028, "free_ram_mb": 7680,
                 "local_gb": 1028, "local_gb_used": 0, "memory_mb": 8192, "memory_mb_used": 512, "running_vms": 0, "vcpus": 8, "state": "down", "host_ip": "172.16.70.13", "cpu_info": "{\"vendor\": \"AMD\"}", "hypervisor_version": 2003000, "id": 721}
            ]})),
            _ => None,
        }
    });
    let entry = |role: &str| {
        format!(
            "- job_name: openstack_{role}\n  openstack_sd_configs:\n  - {{role: {role}, region: RegionOne, identity_endpoint: 'http://127.0.0.1:{port}/v3/', username: test, password: test, domain_id: '12345', \
             project_name: project-x, all_tenants: true, port: 9100}}\n"
        )
    };
    Case {
        jobs: vec![("openstack_instance".into(), 6), ("openstack_hypervisor".into(), 2)],
        yaml: entry("instance") + &entry("hypervisor"),
        excused: &[("__meta_openstack_instance_image", "added after 2.42 (0f4c27e2bf discovery/openstack: Include instance image ID in labels)")],
    }
}

/// EC2's DescribeAvailabilityZones and DescribeInstances (Query API, POSTed; the signature is
/// not checked): three instances, one without a private IP (no target), one in a VPC with two
/// interfaces and IPv6 addresses.
fn ec2() -> Case {
    let port = mock_api(|_, r| {
        let xml = |body: String| Some((200, vec!["Content-Type: text/xml;charset=UTF-8".to_string()], body));
        let action = r.body.split('&').find_map(|p| p.strip_prefix("Action=")).unwrap_or("").to_string();
        match action.as_str() {
            "DescribeAvailabilityZones" => xml(r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeAvailabilityZonesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-1</requestId><availabilityZoneInfo>
<item><zoneName>eu-west-1a</zoneName><zoneId>euw1-az1</zoneId><zoneState>available</zoneState><regionName>eu-west-1</regionName></item>
<item><zoneName>eu-west-1b</zoneName><zoneId>euw1-az2</zoneId><zoneState>available</zoneState><regionName>eu-west-1</regionName></item>
</availabilityZoneInfo></DescribeAvailabilityZonesResponse>"#.to_string()),
            "DescribeInstances" => xml(r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-2</requestId><reservationSet>
<item><reservationId>r-0a1</reservationId><ownerId>123456789012</ownerId><instancesSet>
 <item><instanceId>i-0abc</instanceId><imageId>ami-0123</imageId><instanceState><code>16</code><name>running</name></instanceState>
  <privateDnsName>ip-10-0-1-10.eu-west-1.compute.internal</privateDnsName><dnsName>ec2-52-1-2-3.eu-west-1.compute.amazonaws.com</dnsName>
  <instanceType>t3.small</instanceType><placement><availabilityZone>eu-west-1a</availabilityZone><tenancy>default</tenancy></placement>
  <subnetId>subnet-1</subnetId><vpcId>vpc-9</vpcId><privateIpAddress>10.0.1.10</privateIpAddress><ipAddress>52.1.2.3</ipAddress>
  <architecture>x86_64</architecture><platform>windows</platform><instanceLifecycle>spot</instanceLifecycle>
  <tagSet><item><key>Name</key><value>web-1</value></item><item><key>team:name</key><value>front</value></item></tagSet>
  <networkInterfaceSet>
   <item><networkInterfaceId>eni-1</networkInterfaceId><subnetId>subnet-1</subnetId><vpcId>vpc-9</vpcId><privateIpAddress>10.0.1.10</privateIpAddress>
    <ipv6AddressesSet><item><ipv6Address>2001:db8::10</ipv6Address><isPrimaryIpv6>true</isPrimaryIpv6></item></ipv6AddressesSet><attachment><deviceIndex>0</deviceIndex></attachment></item>
   <item><networkInterfaceId>eni-2</networkInterfaceId><subnetId>subnet-2</subnetId><vpcId>vpc-9</vpcId><privateIpAddress>10.0.2.10</privateIpAddress>
    <ipv6AddressesSet><item><ipv6Address>2001:db8::20</ipv6Address></item></ipv6AddressesSet><attachment><deviceIndex>1</deviceIndex></attachment></item>
  </networkInterfaceSet></item>
 <item><instanceId>i-0def</instanceId><imageId>ami-0456</imageId><instanceState><code>80</code><name>stopped</name></instanceState>
  <instanceType>m5.large</instanceType><placement><availabilityZone>eu-west-1b</availabilityZone></placement><privateIpAddress>10.0.3.4</privateIpAddress>
  <architecture>arm64</architecture></item>
</instancesSet></item>
<item><reservationId>r-0a2</reservationId><ownerId>210987654321</ownerId><instancesSet>
 <item><instanceId>i-0ghi</instanceId><imageId>ami-0789</imageId><instanceState><code>48</code><name>terminated</name></instanceState>
  <instanceType>t3.micro</instanceType><placement><availabilityZone>eu-west-1a</availabilityZone></placement></item>
</instancesSet></item>
</reservationSet></DescribeInstancesResponse>"#.to_string()),
            _ => None,
        }
    });
    Case {
        jobs: vec![("ec2".into(), 2)],
        excused: &[
            ("__meta_ec2_primary_ipv6_addresses", "added after 2.42 (2aaf99dd0a discovery: aws: expose Primary IPv6 addresses as label)"),
            ("__meta_ec2_default_ipv6_address", "added after 2.42 (fcdaef1365 Use a default IPv6 address for IPv6 only instances)"),
        ],
        yaml: format!("- job_name: ec2\n  ec2_sd_configs:\n  - {{region: eu-west-1, endpoint: 'http://127.0.0.1:{port}', access_key: AKIDEXAMPLE, secret_key: s3cr3t, port: 9100}}\n"),
    }
}

/// Lightsail's GetInstances (JSON 1.1 by `X-Amz-Target`; the signature is not checked).
fn lightsail() -> Case {
    let port = mock_api(|_, r| {
        (r.header("x-amz-target") == "Lightsail_20161128.GetInstances").then(|| {
            Some((200, vec!["Content-Type: application/x-amz-json-1.1".to_string()], json!({"instances": [
                {"name": "web-1", "arn": "arn:aws:lightsail:eu-west-1:123456789012:Instance/1", "privateIpAddress": "172.26.0.10", "publicIpAddress": "203.0.113.1",
                 "blueprintId": "ubuntu_22_04", "bundleId": "nano_3_0", "supportCode": "sc-1/i-1", "location": {"availabilityZone": "eu-west-1a", "regionName": "eu-west-1"},
                 "state": {"code": 16, "name": "running"}, "ipv6Addresses": ["2001:db8::1", "2001:db8::2"], "tags": [{"key": "team-name", "value": "storage"}, {"key": "empty"}]},
                {"name": "db-1", "privateIpAddress": "172.26.0.11", "blueprintId": "debian_12", "bundleId": "small_3_0", "supportCode": "sc-1/i-2",
                 "location": {"availabilityZone": "eu-west-1b", "regionName": "eu-west-1"}, "state": {"code": 80, "name": "stopped"}, "ipv6Addresses": [], "tags": []},
                {"name": "pending-1", "blueprintId": "debian_12", "bundleId": "small_3_0", "location": {"availabilityZone": "eu-west-1b", "regionName": "eu-west-1"}, "state": {"code": 0, "name": "pending"}}
            ]}).to_string()))
        })
        .flatten()
    });
    Case {
        jobs: vec![("lightsail".into(), 2)],
        yaml: format!("- job_name: lightsail\n  lightsail_sd_configs:\n  - {{region: eu-west-1, endpoint: 'http://127.0.0.1:{port}', access_key: AKIDEXAMPLE, secret_key: s3cr3t, port: 9100}}\n"),
        excused: &[],
    }
}
