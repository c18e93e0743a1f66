//! `aws_sd_configs` role `lightsail`: one `GetInstances` call (Lightsail's JSON 1.1 API,
//! signed for `lightsail`; not paged, as Prometheus asks it) and a target on `port` for each
//! instance with a private IP, with Prometheus' `__meta_lightsail_*` labels. An answer
//! refusing the keys (`AuthFailure`, `UnauthorizedOperation`) starts the next refresh afresh.

use std::collections::BTreeMap;

use super::{list, text, AwsSd, Session};
use crate::scrape::aws::credentials::Lookup;
use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, sanitize_label_name};

const AVAILABILITY_ZONE: &str = "__meta_lightsail_availability_zone";
const BLUEPRINT_ID: &str = "__meta_lightsail_blueprint_id";
const BUNDLE_ID: &str = "__meta_lightsail_bundle_id";
const INSTANCE_NAME: &str = "__meta_lightsail_instance_name";
const INSTANCE_STATE: &str = "__meta_lightsail_instance_state";
const INSTANCE_SUPPORT_CODE: &str = "__meta_lightsail_instance_support_code";
const IPV6_ADDRESSES: &str = "__meta_lightsail_ipv6_addresses";
const PRIVATE_IP: &str = "__meta_lightsail_private_ip";
const PUBLIC_IP: &str = "__meta_lightsail_public_ip";
const REGION: &str = "__meta_lightsail_region";
const TAG_PREFIX: &str = "__meta_lightsail_tag_";

/// Written before, between and after the IPv6 addresses (`,a,b,`).
const LIST_SEPARATOR: &str = ",";

/// The operation asked, as `X-Amz-Target` names it.
pub const GET_INSTANCES: &str = "Lightsail_20161128.GetInstances";

/// The instances of the entry's region, made into target groups.
pub async fn ask(session: &mut Session, sd: &AwsSd, lookup: &Lookup<'_>) -> Result<Vec<TargetGroup>, String> {
    let region = session.prepare(sd, lookup).await?;
    match session.call(sd, lookup, ("lightsail", "AWS_ENDPOINT_URL_LIGHTSAIL"), GET_INSTANCES, &serde_json::json!({})).await {
        Ok(answer) => Ok(read_instances(&answer, &region, sd.port)),
        Err(error) => {
            if error.code.as_deref().is_some_and(|code| code == "AuthFailure" || code == "UnauthorizedOperation") {
                *session = Session::default();
            }
            Err(format!("could not get instances: {error}"))
        }
    }
}

/// A `GetInstances` answer's targets: one group per instance that has a private IP.
/// Absent optional fields leave their labels out, as in Prometheus.
pub fn read_instances(answer: &serde_json::Value, region: &str, port: u16) -> Vec<TargetGroup> {
    let mut groups = Vec::new();
    for instance in list(answer, "instances") {
        let Some(private_ip) = text(instance, "privateIpAddress") else { continue };
        let mut labels = BTreeMap::new();
        let mut set = |name: &str, value: &str| {
            labels.insert(name.to_string(), value.to_string());
        };
        set(PRIVATE_IP, private_ip);
        set(REGION, region);
        if let Some(zone) = instance.get("location").and_then(|l| text(l, "availabilityZone")) {
            set(AVAILABILITY_ZONE, zone);
        }
        for (label, key) in [(BLUEPRINT_ID, "blueprintId"), (BUNDLE_ID, "bundleId"), (INSTANCE_NAME, "name"), (INSTANCE_SUPPORT_CODE, "supportCode"), (PUBLIC_IP, "publicIpAddress")] {
            if let Some(value) = text(instance, key) {
                set(label, value);
            }
        }
        if let Some(state) = instance.get("state").and_then(|s| text(s, "name")) {
            set(INSTANCE_STATE, state);
        }
        let ipv6: Vec<&str> = list(instance, "ipv6Addresses").iter().filter_map(serde_json::Value::as_str).collect();
        if !ipv6.is_empty() {
            set(IPV6_ADDRESSES, &format!("{LIST_SEPARATOR}{}{LIST_SEPARATOR}", ipv6.join(LIST_SEPARATOR)));
        }
        for tag in list(instance, "tags") {
            // A tag without a key or a value is skipped, as Prometheus does.
            if let (Some(key), Some(value)) = (text(tag, "key"), text(tag, "value")) {
                set(&format!("{TAG_PREFIX}{}", sanitize_label_name(key)), value);
            }
        }
        groups.push(TargetGroup { targets: vec![join_host_port(private_ip, port)], labels });
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::fake_api::{serve, Seen};
    use crate::scrape::aws_sd::test_support::{ask_once, entry};
    use crate::scrape::aws_sd::AwsRole;
    use serde_json::json;

    /// Prometheus' `fullyPopulatedLightsailInstance`.
    fn full() -> serde_json::Value {
        json!({"privateIpAddress": "10.0.0.1", "blueprintId": "ubuntu_22_04", "bundleId": "nano_2_0", "name": "instance-1", "supportCode": "support-code-1", "location": {"availabilityZone": "us-east-1a"}, "state": {"name": "running"}})
    }

    fn labels_of(instances: serde_json::Value) -> Vec<(Vec<String>, BTreeMap<String, String>)> {
        read_instances(&json!({"instances": instances}), "us-east-1", 8080).into_iter().map(|g| (g.targets, g.labels)).collect()
    }

    #[test]
    fn a_fully_populated_instance_has_every_label() {
        let found = labels_of(json!([full()]));
        let expected: BTreeMap<String, String> = [
            (PRIVATE_IP, "10.0.0.1"),
            (REGION, "us-east-1"),
            (AVAILABILITY_ZONE, "us-east-1a"),
            (BLUEPRINT_ID, "ubuntu_22_04"),
            (BUNDLE_ID, "nano_2_0"),
            (INSTANCE_NAME, "instance-1"),
            (INSTANCE_STATE, "running"),
            (INSTANCE_SUPPORT_CODE, "support-code-1"),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        assert_eq!(found, vec![(vec!["10.0.0.1:8080".to_string()], expected)]);
    }

    #[test]
    fn an_absent_optional_field_drops_only_its_label() {
        // Prometheus' TestLightsailRefreshNilOptionalFields, case by case.
        let cases: [(&str, serde_json::Value, &str); 8] = [
            ("location", serde_json::Value::Null, AVAILABILITY_ZONE),
            ("location", json!({}), AVAILABILITY_ZONE),
            ("state", serde_json::Value::Null, INSTANCE_STATE),
            ("state", json!({}), INSTANCE_STATE),
            ("blueprintId", serde_json::Value::Null, BLUEPRINT_ID),
            ("bundleId", serde_json::Value::Null, BUNDLE_ID),
            ("name", serde_json::Value::Null, INSTANCE_NAME),
            ("supportCode", serde_json::Value::Null, INSTANCE_SUPPORT_CODE),
        ];
        for (field, value, absent) in cases {
            let mut instance = full();
            instance[field] = value;
            let found = labels_of(json!([instance]));
            assert_eq!(found.len(), 1, "{field}: the instance is still a target");
            assert_eq!(found[0].0, ["10.0.0.1:8080"], "{field}");
            assert!(!found[0].1.contains_key(absent), "{field}: {absent} left out: {:?}", found[0].1);
            assert_eq!(found[0].1.len(), 7, "{field}: only {absent} left out: {:?}", found[0].1);
        }
    }

    #[test]
    fn only_the_private_ip_is_needed_and_instances_without_one_are_skipped() {
        let found = labels_of(json!([{"privateIpAddress": "10.0.0.9"}, {"name": "no-ip", "publicIpAddress": "203.0.113.1"}]));
        let expected: BTreeMap<String, String> = [(PRIVATE_IP, "10.0.0.9"), (REGION, "us-east-1")].into_iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        assert_eq!(found, vec![(vec!["10.0.0.9:8080".to_string()], expected)]);
    }

    #[test]
    fn public_ip_ipv6_addresses_and_sanitized_tags() {
        let mut instance = full();
        instance["publicIpAddress"] = json!("203.0.113.7");
        instance["ipv6Addresses"] = json!(["2001:db8::1", "2001:db8::2"]);
        instance["tags"] = json!([{"key": "team-name", "value": "storage"}, {"key": "no-value"}, {"value": "no-key"}]);
        let (_, labels) = labels_of(json!([instance])).remove(0);
        assert_eq!(labels.get(PUBLIC_IP).map(String::as_str), Some("203.0.113.7"));
        assert_eq!(labels.get(IPV6_ADDRESSES).map(String::as_str), Some(",2001:db8::1,2001:db8::2,"));
        assert_eq!(labels.get("__meta_lightsail_tag_team_name").map(String::as_str), Some("storage"));
        assert_eq!(labels.keys().filter(|k| k.starts_with(TAG_PREFIX)).count(), 1, "{labels:?}");
    }

    /// Lightsail answering GetInstances, refusing the key `AKIDBAD`.
    fn lightsail(request: &Seen) -> (u16, String) {
        if request.header("authorization").is_some_and(|a| a.contains("Credential=AKIDBAD/")) {
            return (400, r#"{"__type":"UnauthorizedOperation","message":"no"}"#.into());
        }
        if request.header("x-amz-target") != Some(GET_INSTANCES) {
            return (400, r#"{"__type":"UnknownOperationException"}"#.into());
        }
        (200, json!({"instances": [{"privateIpAddress": "10.1.0.1", "name": "web"}]}).to_string())
    }

    #[test]
    fn get_instances_is_signed_for_lightsail_and_refused_keys_start_afresh() {
        let (base, seen) = serve(lightsail);
        let sd = entry(AwsRole::Lightsail, &base, 9100);
        let mut session = Session::default();
        let groups = ask_once(&mut session, &sd, &|_| None).expect("instances");
        assert_eq!(groups.iter().map(|g| g.targets.clone()).collect::<Vec<_>>(), [["10.1.0.1:9100"]]);
        let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(requests.len(), 1);
        let request = &requests[0];
        assert_eq!((request.method.as_str(), request.path.as_str(), request.body.as_str()), ("POST", "/", "{}"));
        assert_eq!(request.header("content-type"), Some("application/x-amz-json-1.1"));
        let authorization = request.header("authorization").unwrap_or_default();
        assert!(authorization.contains("/us-east-1/lightsail/aws4_request"), "{authorization}");
        assert!(authorization.contains("x-amz-target"), "the target is signed: {authorization}");

        let mut refused = Session::default();
        let mut bad = entry(AwsRole::Lightsail, &base, 9100);
        bad.keys.access_key = "AKIDBAD".into();
        let error = ask_once(&mut refused, &bad, &|_| None).expect_err("refused");
        assert_eq!(error, "could not get instances: server returned HTTP status 400 Bad Request: UnauthorizedOperation: no");
        assert!(refused.keys.is_none() && refused.service.is_none(), "refused keys are found again next time");
    }
}
