//! End-to-end scrapes of targets found by `kubernetes_sd_configs` against a fake API server:
//! list and watch, forbidden namespaces, attached metadata, kubeconfig and nodes.

use super::*;

/// A pod as the API server gives it: `name` in `default`, one container exposing `port`.
fn kubernetes_pod(name: &str, port: u16) -> serde_json::Value {
    json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "labels": {"app": "web"}, "annotations": {"prometheus.io/scrape": "true"}},
        "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "app:1", "ports": [{"name": "metrics", "containerPort": port, "protocol": "TCP"}]}]},
        "status": {"podIP": "127.0.0.1", "hostIP": "10.0.0.1", "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    })
}

/// Polls `what` on the fake API server until it holds.
fn wait_for_kubernetes(kubernetes: &FakeKubernetes, what: &str, done: impl Fn(&FakeKubernetes) -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while !done(kubernetes) {
        assert!(std::time::Instant::now() < deadline, "{what} within {WAIT:?}: {:?}", kubernetes.request_heads());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn kubernetes_sd_follows_pods_by_list_and_watch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (first, second) = (Exporter::start("k8s_probe 1\n"), Exporter::start("k8s_probe 2\n"));
    let kubernetes = FakeKubernetes::start();
    // One object per list page: the list is read through its continue tokens.
    kubernetes.set_page_size(1);
    kubernetes.apply("/api/v1/pods", "ADDED", kubernetes_pod("web-1", first.port));
    let mut idle = kubernetes_pod("idle", second.port);
    idle["metadata"]["annotations"]["prometheus.io/scrape"] = json!("false");
    kubernetes.apply("/api/v1/pods", "ADDED", idle);
    let config = write_scrape_config(dir.path(), format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n\
             - job_name: pods\n  kubernetes_sd_configs: [{{role: pod, api_server: '{api}', bearer_token: k8s-token, selectors: [{{role: pod, label: 'app=web'}}]}}]\n  relabel_configs:\n  - {{source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], regex: 'true', action: keep}}\n  - {{source_labels: [__meta_kubernetes_pod_name], target_label: pod}}\n  - {{source_labels: [__meta_kubernetes_namespace], target_label: namespace}}\n",
            api = kubernetes.url()
        ));
    let server = Server::start(&config);

    // The listed pod's container port is scraped, labeled from the pod; the other is dropped.
    let probe = poll_query(&server, "k8s_probe", "the listed pod scraped", WAIT, |r| (r.len() == 1).then(|| r[0]["metric"].clone()));
    assert_eq!(probe, json!({"__name__": "k8s_probe", "instance": first.address(), "job": "pods", "namespace": "default", "pod": "web-1"}));
    let targets = poll_targets(&server, WAIT, |t| (t["data"]["activeTargets"].as_array()?.len() == 1 && t["data"]["droppedTargets"].as_array()?.len() == 1).then_some(()));
    let discovered = &targets["data"]["activeTargets"][0]["discoveredLabels"];
    let port_text = first.port.to_string();
    assert_eq!(
        (discovered["__meta_kubernetes_pod_container_port_number"].as_str(), discovered["__meta_kubernetes_pod_ready"].as_str(), discovered["__meta_kubernetes_pod_node_name"].as_str(), discovered["__meta_kubernetes_pod_label_app"].as_str()),
        (Some(port_text.as_str()), Some("true"), Some("node-1"), Some("web")),
        "{discovered}"
    );
    assert!(kubernetes.request_heads().iter().any(|h| h.contains("limit=500&continue=1&")), "the second page asked by its token: {:?}", kubernetes.request_heads());

    // A pod added while the watch is open is scraped without another list.
    wait_for_kubernetes(&kubernetes, "a watch opened", |k| k.open_watches() > 0);
    let lists = |k: &FakeKubernetes| k.request_heads().iter().filter(|h| !h.contains("watch=1")).count();
    let lists_before = lists(&kubernetes);
    kubernetes.apply("/api/v1/pods", "ADDED", kubernetes_pod("web-2", second.port));
    poll_query(&server, "k8s_probe", "the watched pod scraped", WAIT, |r| (r.len() == 2).then_some(()));
    assert_eq!(lists(&kubernetes), lists_before, "the new pod came by the watch");

    // A watch the server ends is opened again from the version of the last event (web-2's,
    // the third change), without a list.
    kubernetes.end_watches();
    wait_for_kubernetes(&kubernetes, "a watch reopened from version 3", |k| k.open_watches() > 0 && k.request_heads().iter().any(|h| h.contains("watch=1") && h.contains("resourceVersion=3&")));
    assert_eq!(lists(&kubernetes), lists_before, "a watch that ended is not a reason to list");

    // A pod deleted where no watch sees it, then the watch expired (410): the list that
    // follows finds it gone, and its series are marked stale.
    kubernetes.apply_unwatched("/api/v1/pods", "DELETED", kubernetes_pod("web-1", first.port));
    kubernetes.expire_watches();
    let left = poll_query(&server, "k8s_probe", "the deleted pod's series marked stale after the relist", WAIT, |r| (r.len() == 1).then(|| r[0]["metric"]["pod"].clone()));
    assert_eq!(left, json!("web-2"));

    // A deletion the watch tells.
    wait_for_kubernetes(&kubernetes, "a watch opened after the relist", |k| k.open_watches() > 0);
    kubernetes.apply("/api/v1/pods", "DELETED", kubernetes_pod("web-2", second.port));
    poll_query(&server, "k8s_probe", "the pod deleted by the watch marked stale", WAIT, |r| r.is_empty().then_some(()));

    let heads = kubernetes.request_heads();
    assert!(heads.iter().all(|h| h.contains("Authorization: Bearer k8s-token\r\n")), "{heads:?}");
    assert!(heads.iter().all(|h| h.starts_with("GET /api/v1/pods?") && h.contains("labelSelector=app%3Dweb")), "{heads:?}");
    assert!(heads.iter().any(|h| h.contains("watch=1") && h.contains("resourceVersion=2&") && h.contains("allowWatchBookmarks=true")), "the first watch starts at the list's version: {heads:?}");
    assert!(server.stop(), "clean shutdown");
}

#[test]
fn kubernetes_sd_keeps_a_listed_namespace_when_another_is_forbidden() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("k8s_ns_probe 1\n");
    let kubernetes = FakeKubernetes::start();
    let mut pod = kubernetes_pod("web-a", exporter.port);
    pod["metadata"]["namespace"] = json!("a");
    kubernetes.apply("/api/v1/namespaces/a/pods", "ADDED", pod);
    kubernetes.forbid("/api/v1/namespaces/b/pods");
    // c lists, but its watches end at once: asked again with the same back-off, not in a loop.
    kubernetes.end_watches_at_once("/api/v1/namespaces/c/pods");
    let config = write_scrape_config(dir.path(), format!("global: {{scrape_interval: 1s}}\nscrape_configs:\n- job_name: pods\n  kubernetes_sd_configs: [{{role: pod, api_server: '{}', namespaces: {{names: [a, b, c]}}}}]\n", kubernetes.url()));
    let started = std::time::Instant::now();
    let server = Server::start(&config);

    // Namespace a is listed and its pod scraped although b answers 403, as Prometheus'
    // discoverers per namespace publish each on its own.
    poll_query(&server, "k8s_ns_probe", "namespace a's pod scraped", WAIT, |r| (r.len() == 1).then_some(()));
    // b is asked again with a growing back-off (1 s, 2 s, 4 s, ...), not in a loop.
    let elapsed = started.elapsed().as_secs_f64();
    let bound = 2.0 + elapsed.log2().max(0.0) * 2.0;
    let asked_b = kubernetes.request_heads().iter().filter(|h| h.starts_with("GET /api/v1/namespaces/b/pods?")).count();
    assert!(asked_b >= 1 && asked_b as f64 <= bound, "{asked_b} requests for the forbidden namespace in {elapsed:.1} s");
    let watched_c = kubernetes.request_heads().iter().filter(|h| h.starts_with("GET /api/v1/namespaces/c/pods?watch=1")).count();
    assert!(watched_c >= 1 && watched_c as f64 <= bound, "{watched_c} watches of the namespace whose watches end at once in {elapsed:.1} s");
    assert!(server.stop(), "clean shutdown");
}

#[test]
fn kubernetes_sd_attaches_namespace_and_deployment_metadata() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("k8s_attach_probe 1\n");
    let kubernetes = FakeKubernetes::start();
    let mut pod = kubernetes_pod("web-7f9c-x2", exporter.port);
    pod["metadata"]["ownerReferences"] = json!([{"kind": "ReplicaSet", "name": "web-7f9c", "uid": "rs-1", "controller": true}]);
    kubernetes.apply("/api/v1/namespaces/default/pods", "ADDED", pod);
    kubernetes.apply("/api/v1/namespaces", "ADDED", json!({"metadata": {"name": "default", "labels": {"team": "shop"}}}));
    kubernetes.apply("/apis/apps/v1/namespaces/default/replicasets", "ADDED", json!({"metadata": {"name": "web-7f9c", "namespace": "default", "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": true}]}}));
    let config = write_scrape_config(dir.path(), format!(
        "global: {{scrape_interval: 1s}}\nscrape_configs:\n- job_name: pods\n  kubernetes_sd_configs: [{{role: pod, api_server: '{}', namespaces: {{names: [default]}}, selectors: [{{role: pod, label: 'app=web'}}], attach_metadata: {{namespace: true, deployment: true}}}}]\n  relabel_configs:\n  - {{source_labels: [__meta_kubernetes_namespace_label_team], target_label: team}}\n  - {{source_labels: [__meta_kubernetes_pod_deployment_name], target_label: deployment}}\n",
        kubernetes.url()
    ));
    let server = Server::start(&config);

    // The namespace's label and the Deployment behind the pod's ReplicaSet, as Prometheus 3
    // attaches them.
    let probe = poll_query(&server, "k8s_attach_probe", "the pod scraped with its namespace and deployment", WAIT, |r| (r.len() == 1).then(|| r[0]["metric"].clone()));
    assert_eq!(probe, json!({"__name__": "k8s_attach_probe", "instance": exporter.address(), "job": "pods", "team": "shop", "deployment": "web"}));

    // A namespace relabeled by a watch event relabels the pod's target.
    wait_for_kubernetes(&kubernetes, "the namespaces watched", |k| k.request_heads().iter().any(|h| h.starts_with("GET /api/v1/namespaces?watch=1")));
    kubernetes.apply("/api/v1/namespaces", "MODIFIED", json!({"metadata": {"name": "default", "labels": {"team": "checkout"}}}));
    poll_query(&server, "k8s_attach_probe{team=\"checkout\"}", "the pod scraped with its namespace's new label", WAIT, |r| (r.len() == 1).then_some(()));

    // Namespaces are listed whole (no pod selector), ReplicaSets in the named namespace; Jobs
    // are not asked for without attach_metadata.cronjob.
    let heads = kubernetes.request_heads();
    assert!(heads.iter().any(|h| h.starts_with("GET /api/v1/namespaces?limit=500 ")), "{heads:?}");
    assert!(heads.iter().any(|h| h.starts_with("GET /apis/apps/v1/namespaces/default/replicasets?limit=500 ")), "{heads:?}");
    assert!(heads.iter().all(|h| !h.contains("/jobs")), "{heads:?}");
    assert!(server.stop(), "clean shutdown");
}

#[test]
fn kubernetes_sd_reads_a_kubeconfig_and_finds_nodes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubelet = Exporter::start("kubelet_probe 1\n");
    let kubernetes = FakeKubernetes::start();
    let node = json!({
        "metadata": {"name": "node-1", "labels": {"kubernetes.io/os": "linux"}},
        "spec": {"providerID": "test:///node-1"},
        "status": {"addresses": [{"type": "Hostname", "address": "node-1"}, {"type": "InternalIP", "address": "127.0.0.1"}], "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet.port}}}
    });
    kubernetes.apply("/api/v1/nodes", "ADDED", node);
    // The kubeconfig's current context names the fake API server and a user whose token
    // file sits beside it (a relative name).
    std::fs::write(dir.path().join("token"), "node-reader-token\n").expect("token");
    std::fs::write(
        dir.path().join("kubeconfig"),
        format!("apiVersion: v1\nkind: Config\ncurrent-context: test\ncontexts:\n- name: other\n  context: {{cluster: nowhere, user: nobody}}\n- name: test\n  context: {{cluster: fake, user: reader}}\nclusters:\n- name: fake\n  cluster: {{server: '{api}'}}\nusers:\n- name: reader\n  user: {{tokenFile: token}}\n", api = kubernetes.url()),
    )
    .expect("kubeconfig");
    let config = write_scrape_config(dir.path(), "global: {scrape_interval: 1s}\nscrape_configs:\n- job_name: kubelets\n  kubernetes_sd_configs: [{role: node, kubeconfig_file: kubeconfig}]\n  relabel_configs:\n  - {action: labelmap, regex: __meta_kubernetes_node_label_(.+)}\n");
    let server = Server::start(&config);

    // The node's InternalIP (preferred over its Hostname) at the kubelet port, `instance` set
    // to the node's name as Prometheus sets it, and the node's labels mapped.
    let probe = poll_query(&server, "kubelet_probe", "the node's kubelet scraped", WAIT, |r| (r.len() == 1).then(|| r[0]["metric"].clone()));
    assert_eq!(probe, json!({"__name__": "kubelet_probe", "instance": "node-1", "job": "kubelets", "kubernetes_io_os": "linux"}));
    let targets = poll_targets(&server, WAIT, |t| (t["data"]["activeTargets"].as_array()?.len() == 1).then_some(()));
    assert_eq!(targets["data"]["activeTargets"][0]["scrapeUrl"].as_str(), Some(format!("http://{}/metrics", kubelet.address()).as_str()), "{targets}");
    let heads = kubernetes.request_heads();
    assert!(!heads.is_empty() && heads.iter().all(|h| h.starts_with("GET /api/v1/nodes?") && h.contains("Authorization: Bearer node-reader-token\r\n")), "{heads:?}");
    assert!(server.stop(), "clean shutdown");
}
