//! Fuzz target: answers of cloud APIs to the service discoveries (first byte even: an EC2
//! DescribeInstances or DescribeAvailabilityZones answer, or an AWS error, as XML; odd: a
//! Compute Engine instances.list page as JSON) never panic their readers, and every target
//! they make has one address and label names Prometheus accepts.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use metricstor::scrape::config::{GceSd, TargetGroup};
    let [selector, rest @ ..] = data else { return };
    let check = |groups: &[TargetGroup]| {
        for group in groups {
            assert_eq!(group.targets.len(), 1, "one address per instance");
            for name in group.labels.keys() {
                let mut chars = name.chars();
                let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
                assert!(first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'), "label name {name:?}");
            }
        }
    };
    if selector % 2 == 0 {
        let Ok(text) = std::str::from_utf8(rest) else { return };
        let zones = metricstor::scrape::ec2_sd::instances::read_zone_ids(text).ok();
        if let Ok((groups, _)) = metricstor::scrape::ec2_sd::instances::read_instances(text, "eu-west-1", 9100, zones.as_ref()) {
            check(&groups);
        }
        let _ = metricstor::scrape::aws::xml_error(rest);
    } else {
        let sd = GceSd { source: "gce".into(), project: "p".into(), zone: "z".into(), filter: String::new(), refresh_ms: 60_000, port: 9100, tag_separator: ",".into() };
        if let Ok((groups, _)) = metricstor::scrape::gce_sd::read_page(rest, &sd) {
            check(&groups);
        }
    }
});
