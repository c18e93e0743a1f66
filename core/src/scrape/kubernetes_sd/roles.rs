//! The `role`s of `kubernetes_sd_configs` and how each maps the stored objects to targets with
//! exactly Prometheus' `__meta_kubernetes_*` labels (discovery/kubernetes in Prometheus): every
//! target is its own `TargetGroup`, its group and target labels merged, target labels winning.
//! Pure: reads a `Store`, no I/O.

use std::collections::BTreeMap;

use super::objects::{Container, EndpointAddress, EndpointPort, EndpointSlice, Endpoints, Ingress, Kind, Node, ObjectMeta, ObjectReference, Pod, Service, SliceEndpoint, SlicePort, Store};
use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, sanitize_label_name};

/// A label set, by name.
type Labels = BTreeMap<String, String>;

/// What every label of this discovery starts with.
const META: &str = "__meta_kubernetes_";

/// The label of an EndpointSlice that names its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// Node address types in the order Prometheus picks the scrape address from.
const NODE_ADDRESS_PREFERENCE: [&str; 6] = ["InternalIP", "InternalDNS", "ExternalIP", "ExternalDNS", "LegacyHostIP", "Hostname"];

/// `attach_metadata`: what a role's targets get from objects other than their own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Attach {
    /// The labels of a pod's or endpoint's node (pod, endpoints, endpointslice roles).
    pub node: bool,
    /// `__meta_kubernetes_namespace_label_*`/`_annotation_*` of the object's namespace (every
    /// role but node).
    pub namespace: bool,
    /// `__meta_kubernetes_pod_deployment_name`: the Deployment controlling the pod's
    /// ReplicaSet (pod, endpoints, endpointslice roles).
    pub deployment: bool,
    /// `__meta_kubernetes_pod_job_name`: the Job controlling the pod (its owner reference
    /// alone tells it).
    pub job: bool,
    /// `__meta_kubernetes_pod_cronjob_name`: the CronJob controlling the pod's Job.
    pub cronjob: bool,
}

impl Attach {
    /// Nothing attached (`attach_metadata` unset).
    pub const NONE: Attach = Attach { node: false, namespace: false, deployment: false, job: false, cronjob: false };
}

/// A `role` of a `kubernetes_sd_configs` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Pod,
    Service,
    Endpoints,
    EndpointSlice,
    Node,
    Ingress,
}

impl Role {
    /// The role Prometheus spells `text`, if any.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "pod" => Some(Role::Pod),
            "service" => Some(Role::Service),
            "endpoints" => Some(Role::Endpoints),
            "endpointslice" => Some(Role::EndpointSlice),
            "node" => Some(Role::Node),
            "ingress" => Some(Role::Ingress),
            _ => None,
        }
    }

    /// The name in the configuration (and in `__meta_kubernetes_<name>_*` labels).
    pub fn name(self) -> &'static str {
        self.main_kind().name()
    }

    /// The kinds the role lists and watches: with `attach`, for the roles Prometheus attaches
    /// them to, nodes, namespaces, ReplicaSets and Jobs too. Jobs are read only for
    /// `cronjob`: a pod's own owner reference names its Job (Prometheus watches them for
    /// `job` alone as well, which needs a permission it does not use).
    pub fn kinds(self, attach: Attach) -> Vec<Kind> {
        let mut kinds = match self {
            Role::Pod => vec![Kind::Pod],
            Role::Service => vec![Kind::Service],
            Role::Endpoints => vec![Kind::Endpoints, Kind::Service, Kind::Pod],
            Role::EndpointSlice => vec![Kind::EndpointSlice, Kind::Service, Kind::Pod],
            Role::Node => return vec![Kind::Node],
            Role::Ingress => vec![Kind::Ingress],
        };
        if attach.namespace {
            kinds.push(Kind::Namespace);
        }
        if self.reads_pods() {
            kinds.extend([(attach.node, Kind::Node), (attach.deployment, Kind::ReplicaSet), (attach.cronjob, Kind::Job)].into_iter().filter_map(|(on, kind)| on.then_some(kind)));
        }
        kinds
    }

    /// Whether the role's targets carry pod labels (and so nodes, Deployments, Jobs).
    fn reads_pods(self) -> bool {
        matches!(self, Role::Pod | Role::Endpoints | Role::EndpointSlice)
    }

    /// The kind whose every object makes the role's targets (each its own groups).
    pub fn main_kind(self) -> Kind {
        match self {
            Role::Pod => Kind::Pod,
            Role::Service => Kind::Service,
            Role::Endpoints => Kind::Endpoints,
            Role::EndpointSlice => Kind::EndpointSlice,
            Role::Node => Kind::Node,
            Role::Ingress => Kind::Ingress,
        }
    }

    /// The `selectors[].role`s Prometheus accepts for this role.
    pub fn selector_roles(self) -> &'static [&'static str] {
        match self {
            Role::Pod => &["pod", "node"],
            Role::Service => &["service"],
            Role::Endpoints => &["pod", "service", "endpoints"],
            Role::EndpointSlice => &["pod", "service", "endpointslice"],
            Role::Node => &["node"],
            Role::Ingress => &["ingress"],
        }
    }
}

/// Every target of `role` in `store`, each its own group with one target (its `__address__`)
/// and all its labels: by object key, each object's sorted by (targets, labels). The order
/// is the one `cache::GroupCache::groups` keeps; where two targets have the same identity,
/// the first one's discovered labels are the ones `/api/v1/targets` shows.
pub fn groups(role: Role, store: &Store, attach: Attach) -> Vec<TargetGroup> {
    object_keys(role, store).iter().flat_map(|key| object_groups(role, store, key, attach)).collect()
}

/// The keys of the objects of the role's own kind (`Role::main_kind`), each of which makes
/// its own groups.
pub fn object_keys(role: Role, store: &Store) -> Vec<String> {
    match role.main_kind() {
        Kind::Pod => store.pods().keys().cloned().collect(),
        Kind::Service => store.services().keys().cloned().collect(),
        Kind::Endpoints => store.endpoints().keys().cloned().collect(),
        Kind::EndpointSlice => store.endpoint_slices().keys().cloned().collect(),
        Kind::Node => store.nodes().keys().cloned().collect(),
        Kind::Ingress => store.ingresses().keys().cloned().collect(),
        Kind::Namespace | Kind::ReplicaSet | Kind::Job => Vec::new(),
    }
}

/// The targets of the role's object stored under `key` (none when it is not), sorted by
/// (targets, labels). What it reads of other kinds it reads through `Store::pod`, `service`
/// `node`, `namespace`, `replica_set` and `job`, so `Store::recording` names the objects
/// whose change may change it.
pub fn object_groups(role: Role, store: &Store, key: &str, attach: Attach) -> Vec<TargetGroup> {
    let mut groups = match role {
        Role::Pod => store.pods().get(key).map(|pod| pod_targets(pod, store, attach)),
        Role::Service => store.services().get(key).map(|service| service_targets(service, store, attach)),
        Role::Endpoints => store.endpoints().get(key).map(|eps| endpoints_targets(eps, store, attach)),
        Role::EndpointSlice => store.endpoint_slices().get(key).map(|eps| endpoint_slice_targets(eps, store, attach)),
        Role::Node => store.nodes().get(key).map(node_targets),
        Role::Ingress => store.ingresses().get(key).map(|ingress| ingress_targets(ingress, store, attach)),
    }
    .unwrap_or_default();
    sort_groups(&mut groups);
    groups
}

/// Sorts groups by (targets, labels).
fn sort_groups(groups: &mut [TargetGroup]) {
    groups.sort_by(|a, b| (&a.targets, &a.labels).cmp(&(&b.targets, &b.labels)));
}

/// One target at `address`: the group's labels under the target's own.
fn target_group(address: String, group: &Labels, target: Labels) -> TargetGroup {
    let mut labels = group.clone();
    labels.extend(target);
    TargetGroup { targets: vec![address], labels }
}

/// `__meta_kubernetes_<suffix>`.
fn meta(suffix: &str) -> String {
    format!("{META}{suffix}")
}

/// The object's labels and annotations as `<prefix>_label_*`, `_labelpresent_*`,
/// `_annotation_*` and `_annotationpresent_*`.
fn add_labels_and_annotations(labels: &mut Labels, object: &ObjectMeta, prefix: &str) {
    for (key, value) in &object.labels {
        let name = sanitize_label_name(key);
        labels.insert(meta(&format!("{prefix}_label_{name}")), value.clone());
        labels.insert(meta(&format!("{prefix}_labelpresent_{name}")), "true".to_string());
    }
    for (key, value) in &object.annotations {
        let name = sanitize_label_name(key);
        labels.insert(meta(&format!("{prefix}_annotation_{name}")), value.clone());
        labels.insert(meta(&format!("{prefix}_annotationpresent_{name}")), "true".to_string());
    }
}

/// `<prefix>_name` and the labels and annotations (Prometheus' `addObjectMetaLabels`).
fn add_object_meta(labels: &mut Labels, object: &ObjectMeta, prefix: &str) {
    labels.insert(meta(&format!("{prefix}_name")), object.name.clone());
    add_labels_and_annotations(labels, object, prefix);
}

/// `attach_metadata.node`'s labels of the node named `name`, if stored.
fn attached_node_labels(store: &Store, name: &str) -> Option<Labels> {
    let node = store.node(name)?;
    let mut labels = Labels::new();
    add_object_meta(&mut labels, &node.metadata, "node");
    Some(labels)
}

/// With `attach_metadata.namespace`, the labels and annotations of the namespace named
/// `name`, if stored, as `__meta_kubernetes_namespace_label_*` and the like.
fn add_attached_namespace(labels: &mut Labels, store: &Store, name: &str, attach: Attach) {
    if !attach.namespace {
        return;
    }
    if let Some(namespace) = store.namespace(name) {
        add_labels_and_annotations(labels, &namespace.metadata, "namespace");
    }
}

/// The pod labels shared by the pod, endpoints and endpointslice roles (no namespace), with
/// what `attach` asks of the pod's controllers: its Deployment (through its ReplicaSet), its
/// Job, its Job's CronJob.
fn pod_labels(pod: &Pod, store: &Store, attach: Attach) -> Labels {
    let mut labels = Labels::from([
        (meta("pod_ip"), pod.status.pod_ip.clone()),
        (meta("pod_ready"), pod_ready(pod)),
        (meta("pod_phase"), pod.status.phase.clone()),
        (meta("pod_node_name"), pod.spec.node_name.clone()),
        (meta("pod_host_ip"), pod.status.host_ip.clone()),
        (meta("pod_uid"), pod.metadata.uid.clone()),
    ]);
    add_object_meta(&mut labels, &pod.metadata, "pod");
    let Some(owner) = pod.metadata.controller() else { return labels };
    if !owner.kind.is_empty() {
        labels.insert(meta("pod_controller_kind"), owner.kind.clone());
    }
    if !owner.name.is_empty() {
        labels.insert(meta("pod_controller_name"), owner.name.clone());
    }
    // The controller's own controller, of the kind named, if the controller is stored.
    let grand_controller = |controller: Option<&super::objects::MetadataOnly>, kind: &str| {
        controller.and_then(|c| c.metadata.controller()).filter(|owner| owner.kind == kind).map(|owner| owner.name.clone())
    };
    let owner_key = || format!("{}/{}", pod.metadata.namespace, owner.name);
    match owner.kind.as_str() {
        "ReplicaSet" if attach.deployment => {
            if let Some(name) = grand_controller(store.replica_set(&owner_key()), "Deployment") {
                labels.insert(meta("pod_deployment_name"), name);
            }
        }
        "Job" => {
            if attach.job {
                labels.insert(meta("pod_job_name"), owner.name.clone());
            }
            if attach.cronjob {
                if let Some(name) = grand_controller(store.job(&owner_key()), "CronJob") {
                    labels.insert(meta("pod_cronjob_name"), name);
                }
            }
        }
        _ => {}
    }
    labels
}

/// The `Ready` condition's status in lower case; `unknown` without one.
fn pod_ready(pod: &Pod) -> String {
    let ready = pod.status.conditions.iter().find(|condition| condition.kind == "Ready");
    ready.map_or("unknown".to_string(), |condition| condition.status.to_lowercase())
}

/// The containers, then the init containers, each with whether it is an init container.
fn containers(pod: &Pod) -> impl Iterator<Item = (&Container, bool)> {
    let regular = pod.spec.containers.iter().map(|container| (container, false));
    regular.chain(pod.spec.init_containers.iter().map(|container| (container, true)))
}

/// The container's ID from the statuses (empty when not reported yet).
fn container_id<'a>(pod: &'a Pod, container: &Container, init: bool) -> &'a str {
    let statuses = if init { &pod.status.init_container_statuses } else { &pod.status.container_statuses };
    statuses.iter().find(|status| status.name == container.name).map_or("", |status| status.container_id.as_str())
}

/// The pod role's targets of one pod: one per container port, one at the pod IP per container
/// without ports; none without a pod IP, or (with `attach.node`) on a node not stored.
fn pod_targets(pod: &Pod, store: &Store, attach: Attach) -> Vec<TargetGroup> {
    if pod.status.pod_ip.is_empty() {
        return Vec::new();
    }
    let mut group = pod_labels(pod, store, attach);
    group.insert(meta("namespace"), pod.metadata.namespace.clone());
    if attach.node {
        let Some(node) = attached_node_labels(store, &pod.spec.node_name) else { return Vec::new() };
        group.extend(node);
    }
    add_attached_namespace(&mut group, store, &pod.metadata.namespace, attach);
    containers(pod).flat_map(|(container, init)| container_targets(pod, container, init, &group)).collect()
}

/// The pod role's targets of one container.
fn container_targets(pod: &Pod, container: &Container, init: bool, group: &Labels) -> Vec<TargetGroup> {
    let common = Labels::from([
        (meta("pod_container_name"), container.name.clone()),
        (meta("pod_container_id"), container_id(pod, container, init).to_string()),
        (meta("pod_container_image"), container.image.clone()),
        (meta("pod_container_init"), init.to_string()),
    ]);
    if container.ports.is_empty() {
        return vec![target_group(pod.status.pod_ip.clone(), group, common)];
    }
    let port_target = |port: &super::objects::ContainerPort| {
        let mut labels = common.clone();
        labels.insert(meta("pod_container_port_name"), port.name.clone());
        labels.insert(meta("pod_container_port_number"), port.container_port.to_string());
        labels.insert(meta("pod_container_port_protocol"), port.protocol.clone());
        target_group(join_host_port(&pod.status.pod_ip, port.container_port), group, labels)
    };
    container.ports.iter().map(port_target).collect()
}

/// The labels a service gives its own targets' group and those of its endpoints.
fn service_labels(service: &Service) -> Labels {
    let mut labels = Labels::from([(meta("namespace"), service.metadata.namespace.clone())]);
    add_object_meta(&mut labels, &service.metadata, "service");
    labels
}

/// The service role's targets: one per port at `<name>.<namespace>.svc:<port>`.
fn service_targets(service: &Service, store: &Store, attach: Attach) -> Vec<TargetGroup> {
    let mut group = service_labels(service);
    add_attached_namespace(&mut group, store, &service.metadata.namespace, attach);
    let spec = &service.spec;
    let host = format!("{}.{}.svc", service.metadata.name, service.metadata.namespace);
    let port_target = |port: &super::objects::ServicePort| {
        let mut labels = Labels::from([
            (meta("service_port_name"), port.name.clone()),
            (meta("service_port_number"), port.port.to_string()),
            (meta("service_port_protocol"), port.protocol.clone()),
            (meta("service_type"), spec.kind.clone()),
        ]);
        if spec.kind == "ExternalName" {
            labels.insert(meta("service_external_name"), spec.external_name.clone());
        } else {
            labels.insert(meta("service_cluster_ip"), spec.cluster_ip.clone());
        }
        if spec.kind == "LoadBalancer" {
            labels.insert(meta("service_loadbalancer_ip"), load_balancer_ips(service));
        }
        target_group(join_host_port(&host, port.port), &group, labels)
    };
    spec.ports.iter().map(port_target).collect()
}

/// The load balancer's ingress IPs joined by commas, else the deprecated `spec.loadBalancerIP`.
fn load_balancer_ips(service: &Service) -> String {
    let ips: Vec<&str> = service.status.load_balancer.ingress.iter().map(|ingress| ingress.ip.as_str()).filter(|ip| !ip.is_empty()).collect();
    if ips.is_empty() {
        service.spec.load_balancer_ip.clone()
    } else {
        ips.join(",")
    }
}

/// The pod a `targetRef` of kind `Pod` names, if stored.
fn resolve_pod<'a>(store: &'a Store, target: Option<&ObjectReference>) -> Option<&'a Pod> {
    let target = target.filter(|target| target.kind == "Pod")?;
    store.pod(&format!("{}/{}", target.namespace, target.name))
}

/// The pods endpoints pointed at, by `namespace/name`, with the endpoint ports they got.
type SeenPods<'a> = BTreeMap<String, (&'a Pod, Vec<i32>)>;

/// Notes that an endpoint at `port` (if any) pointed at `pod`.
fn see_pod<'a>(seen: &mut SeenPods<'a>, pod: &'a Pod, port: Option<i32>) {
    let key = format!("{}/{}", pod.metadata.namespace, pod.metadata.name);
    let entry = seen.entry(key).or_insert((pod, Vec::new()));
    entry.1.extend(port);
}

/// The container labels of the container port equal to an endpoint's `port`: the last
/// container with one wins, as in Prometheus. `protocol` is the endpoint's (Endpoints) or
/// `None` for the container port's own (EndpointSlice).
fn matching_container_labels(pod: &Pod, port: i32, protocol: Option<&str>) -> Labels {
    let mut labels = Labels::new();
    for (container, init) in containers(pod) {
        let Some(cport) = container.ports.iter().find(|cport| cport.container_port == port) else { continue };
        labels.insert(meta("pod_container_name"), container.name.clone());
        labels.insert(meta("pod_container_image"), container.image.clone());
        labels.insert(meta("pod_container_port_name"), cport.name.clone());
        labels.insert(meta("pod_container_port_number"), port.to_string());
        labels.insert(meta("pod_container_port_protocol"), protocol.unwrap_or(&cport.protocol).to_string());
        labels.insert(meta("pod_container_init"), init.to_string());
    }
    labels
}

/// The pod's labels and the matching container's, added to an endpoint target that points
/// at a stored pod (and the pod noted as seen).
fn add_pod_of_endpoint<'a>(labels: &mut Labels, store: &'a Store, attach: Attach, target: Option<&ObjectReference>, port: Option<i32>, protocol: Option<&str>, seen: &mut SeenPods<'a>) {
    let Some(pod) = resolve_pod(store, target) else { return };
    see_pod(seen, pod, port);
    labels.extend(pod_labels(pod, store, attach));
    if let Some(port) = port {
        labels.extend(matching_container_labels(pod, port, protocol));
    }
}

/// Targets for the container ports of seen pods that no endpoint port covered (pods without
/// an IP give none), with the pod's labels.
fn uncovered_port_targets(seen: &SeenPods, store: &Store, attach: Attach) -> Vec<(String, Labels)> {
    let mut targets = Vec::new();
    for (pod, ports) in seen.values() {
        if pod.status.pod_ip.is_empty() {
            continue;
        }
        for (container, init) in containers(pod) {
            for cport in container.ports.iter().filter(|cport| !ports.contains(&cport.container_port)) {
                let mut labels = Labels::from([
                    (meta("pod_container_name"), container.name.clone()),
                    (meta("pod_container_image"), container.image.clone()),
                    (meta("pod_container_port_name"), cport.name.clone()),
                    (meta("pod_container_port_number"), cport.container_port.to_string()),
                    (meta("pod_container_port_protocol"), cport.protocol.clone()),
                    (meta("pod_container_init"), init.to_string()),
                ]);
                labels.extend(pod_labels(pod, store, attach));
                targets.push((join_host_port(&pod.status.pod_ip, cport.container_port), labels));
            }
        }
    }
    targets
}

/// The endpoints role's targets of one Endpoints object: per subset, port × (ready, then
/// not ready) address, plus the uncovered container ports of the pods they point at.
fn endpoints_targets(endpoints: &Endpoints, store: &Store, attach: Attach) -> Vec<TargetGroup> {
    let object = &endpoints.metadata;
    let mut group = Labels::from([(meta("namespace"), object.namespace.clone())]);
    if let Some(service) = store.service(&format!("{}/{}", object.namespace, object.name)) {
        group.extend(service_labels(service));
    }
    add_object_meta(&mut group, object, "endpoints");
    add_attached_namespace(&mut group, store, &object.namespace, attach);
    let mut seen = SeenPods::new();
    let mut targets = Vec::new();
    for subset in &endpoints.subsets {
        for port in &subset.ports {
            let ready = subset.addresses.iter().map(|address| (address, true));
            for (address, ready) in ready.chain(subset.not_ready_addresses.iter().map(|address| (address, false))) {
                targets.push(endpoint_address_target(address, port, ready, store, attach, &mut seen));
            }
        }
    }
    targets.extend(uncovered_port_targets(&seen, store, attach));
    targets.into_iter().map(|(address, labels)| target_group(address, &group, labels)).collect()
}

/// One address × port target of an Endpoints subset.
fn endpoint_address_target<'a>(address: &EndpointAddress, port: &EndpointPort, ready: bool, store: &'a Store, attach: Attach, seen: &mut SeenPods<'a>) -> (String, Labels) {
    let mut labels = Labels::from([
        (meta("endpoint_port_name"), port.name.clone()),
        (meta("endpoint_port_protocol"), port.protocol.clone()),
        (meta("endpoint_ready"), ready.to_string()),
    ]);
    if let Some(target) = &address.target_ref {
        labels.insert(meta("endpoint_address_target_kind"), target.kind.clone());
        labels.insert(meta("endpoint_address_target_name"), target.name.clone());
    }
    if let Some(node_name) = &address.node_name {
        labels.insert(meta("endpoint_node_name"), node_name.clone());
    }
    if !address.hostname.is_empty() {
        labels.insert(meta("endpoint_hostname"), address.hostname.clone());
    }
    if attach.node {
        // The address's nodeName first, then a Node targetRef.
        let node_target = address.target_ref.as_ref().filter(|target| target.kind == "Node").map(|target| target.name.as_str());
        if let Some(node) = address.node_name.as_deref().or(node_target).and_then(|name| attached_node_labels(store, name)) {
            labels.extend(node);
        }
    }
    add_pod_of_endpoint(&mut labels, store, attach, address.target_ref.as_ref(), Some(port.port), Some(&port.protocol), seen);
    (join_host_port(&address.ip, port.port), labels)
}

/// Whether the slice is the secondary IP family of a dual-stack service (its targets would
/// repeat the primary slice's).
fn non_primary_ip_family_slice(service: Option<&Service>, slice: &EndpointSlice) -> bool {
    let Some(spec) = service.map(|service| &service.spec) else { return false };
    let dual_stack = matches!(spec.ip_family_policy.as_deref(), Some("PreferDualStack" | "RequireDualStack"));
    dual_stack && spec.ip_families.first().is_some_and(|primary| *primary != slice.address_type)
}

/// The endpointslice role's targets of one slice: per endpoint, port × address, plus the
/// uncovered container ports of the pods they point at.
fn endpoint_slice_targets(slice: &EndpointSlice, store: &Store, attach: Attach) -> Vec<TargetGroup> {
    let object = &slice.metadata;
    let mut group = Labels::from([(meta("namespace"), object.namespace.clone()), (meta("endpointslice_address_type"), slice.address_type.clone())]);
    add_object_meta(&mut group, object, "endpointslice");
    let service = object.labels.get(SERVICE_NAME_LABEL).and_then(|name| store.service(&format!("{}/{}", object.namespace, name)));
    if let Some(service) = service {
        group.extend(service_labels(service));
    }
    add_attached_namespace(&mut group, store, &object.namespace, attach);
    if non_primary_ip_family_slice(service, slice) {
        return Vec::new();
    }
    let mut seen = SeenPods::new();
    let mut targets = Vec::new();
    for endpoint in &slice.endpoints {
        for port in &slice.ports {
            for address in &endpoint.addresses {
                targets.push(slice_endpoint_target(address, endpoint, port, store, attach, &mut seen));
            }
        }
    }
    targets.extend(uncovered_port_targets(&seen, store, attach));
    targets.into_iter().map(|(address, labels)| target_group(address, &group, labels)).collect()
}

/// One address × port target of an EndpointSlice endpoint.
fn slice_endpoint_target<'a>(address: &str, endpoint: &SliceEndpoint, port: &SlicePort, store: &'a Store, attach: Attach, seen: &mut SeenPods<'a>) -> (String, Labels) {
    let mut labels = slice_port_labels(port);
    labels.extend(slice_endpoint_labels(endpoint));
    if attach.node {
        // A Node targetRef first, then the endpoint's nodeName.
        let node_target = endpoint.target_ref.as_ref().filter(|target| target.kind == "Node").map(|target| target.name.as_str());
        if let Some(node) = node_target.or(endpoint.node_name.as_deref()).and_then(|name| attached_node_labels(store, name)) {
            labels.extend(node);
        }
    }
    add_pod_of_endpoint(&mut labels, store, attach, endpoint.target_ref.as_ref(), port.port, None, seen);
    let address = port.port.map_or(address.to_string(), |port| join_host_port(address, port));
    (address, labels)
}

/// The labels of a slice port's set fields.
fn slice_port_labels(port: &SlicePort) -> Labels {
    let mut labels = Labels::new();
    let mut insert = |suffix: &str, value: Option<String>| {
        if let Some(value) = value {
            labels.insert(meta(suffix), value);
        }
    };
    insert("endpointslice_port_name", port.name.clone());
    insert("endpointslice_port_protocol", port.protocol.clone());
    insert("endpointslice_port", port.port.map(|port| port.to_string()));
    insert("endpointslice_port_app_protocol", port.app_protocol.clone());
    labels
}

/// The labels of a slice endpoint's set fields.
fn slice_endpoint_labels(endpoint: &SliceEndpoint) -> Labels {
    let mut labels = Labels::new();
    let mut insert = |suffix: &str, value: Option<String>| {
        if let Some(value) = value {
            labels.insert(meta(suffix), value);
        }
    };
    let conditions = &endpoint.conditions;
    insert("endpointslice_endpoint_conditions_ready", conditions.ready.map(|ready| ready.to_string()));
    insert("endpointslice_endpoint_conditions_serving", conditions.serving.map(|serving| serving.to_string()));
    insert("endpointslice_endpoint_conditions_terminating", conditions.terminating.map(|terminating| terminating.to_string()));
    insert("endpointslice_endpoint_hostname", endpoint.hostname.clone());
    insert("endpointslice_address_target_kind", endpoint.target_ref.as_ref().map(|target| target.kind.clone()));
    insert("endpointslice_address_target_name", endpoint.target_ref.as_ref().map(|target| target.name.clone()));
    insert("endpointslice_endpoint_node_name", endpoint.node_name.clone());
    insert("endpointslice_endpoint_zone", endpoint.zone.clone());
    for (key, value) in &endpoint.deprecated_topology {
        let name = sanitize_label_name(key);
        insert(&format!("endpointslice_endpoint_topology_{name}"), Some(value.clone()));
        insert(&format!("endpointslice_endpoint_topology_present_{name}"), Some("true".to_string()));
    }
    labels
}

/// The first address of the most preferred type (InternalIP, …, Hostname).
fn node_address(node: &Node) -> Option<&str> {
    let addresses = &node.status.addresses;
    let first_of = |kind: &str| addresses.iter().find(|address| address.kind == kind);
    NODE_ADDRESS_PREFERENCE.iter().find_map(|kind| first_of(kind)).map(|address| address.address.as_str())
}

/// The node role's target of one node, at its preferred address and kubelet port; none
/// without an address.
fn node_targets(node: &Node) -> Vec<TargetGroup> {
    let Some(host) = node_address(node) else { return Vec::new() };
    let mut group = Labels::from([(meta("node_provider_id"), node.spec.provider_id.clone())]);
    for condition in &node.status.conditions {
        group.insert(meta(&format!("node_condition_{}", sanitize_label_name(&condition.kind.to_lowercase()))), condition.status.to_lowercase());
    }
    add_object_meta(&mut group, &node.metadata, "node");
    let mut labels = Labels::from([("instance".to_string(), node.metadata.name.clone())]);
    // The first address of each type; `entry` keeps the first.
    for address in &node.status.addresses {
        labels.entry(meta(&format!("node_address_{}", sanitize_label_name(&address.kind)))).or_insert_with(|| address.address.clone());
    }
    let port = node.status.daemon_endpoints.kubelet_endpoint.port;
    vec![target_group(join_host_port(host, port), &group, labels)]
}

/// The ingress role's targets: one per rule × path, at the rule's host.
fn ingress_targets(ingress: &Ingress, store: &Store, attach: Attach) -> Vec<TargetGroup> {
    let mut group = Labels::from([(meta("namespace"), ingress.metadata.namespace.clone())]);
    if let Some(class) = &ingress.spec.ingress_class_name {
        group.insert(meta("ingress_class_name"), class.clone());
    }
    add_object_meta(&mut group, &ingress.metadata, "ingress");
    add_attached_namespace(&mut group, store, &ingress.metadata.namespace, attach);
    let tls_hosts: Vec<&str> = ingress.spec.tls.iter().flat_map(|tls| tls.hosts.iter().map(String::as_str)).collect();
    let mut targets = Vec::new();
    for rule in &ingress.spec.rules {
        let tls = tls_hosts.iter().any(|pattern| matches_hostname_pattern(pattern, &rule.host));
        let scheme = if tls { "https" } else { "http" };
        let paths: Vec<&str> = match &rule.http {
            None => vec!["/"],
            Some(http) => http.paths.iter().map(|path| if path.path.is_empty() { "/" } else { path.path.as_str() }).collect(),
        };
        for path in paths {
            let labels = Labels::from([
                (meta("ingress_scheme"), scheme.to_string()),
                (meta("ingress_host"), rule.host.clone()),
                (meta("ingress_path"), path.to_string()),
            ]);
            targets.push(target_group(rule.host.clone(), &group, labels));
        }
    }
    targets
}

/// Whether `host` equals `pattern` or matches it as a wildcard: `*` for exactly the first
/// label, the rest equal.
fn matches_hostname_pattern(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    let pattern: Vec<&str> = pattern.split('.').collect();
    let host: Vec<&str> = host.split('.').collect();
    pattern.first() == Some(&"*") && pattern.len() == host.len() && pattern[1..] == host[1..]
}

#[cfg(test)]
mod tests;
