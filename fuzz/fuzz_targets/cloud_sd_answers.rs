//! Fuzz target: answers of cloud APIs to the service discoveries never panic their readers,
//! and every target they make has label names Prometheus accepts. The first byte, modulo 3,
//! picks the reader: 0, an EC2 DescribeInstances or DescribeAvailabilityZones answer or an AWS
//! error (XML); 1, a Compute Engine instances.list page (JSON); 2, a Google token answer and a
//! PEM private key (gce_sd's credentials).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use metricstor::scrape::config::TargetGroup;
    use metricstor::scrape::gce_sd::config::GceSd;
    let [selector, rest @ ..] = data else { return };
    let check = |groups: &[TargetGroup]| {
        for name in groups.iter().flat_map(|group| group.labels.keys()) {
            let mut chars = name.chars();
            let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
            assert!(first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'), "label name {name:?}");
        }
    };
    match selector % 3 {
        0 => {
            let Ok(text) = std::str::from_utf8(rest) else { return };
            let zones = metricstor::scrape::ec2_sd::instances::read_zone_ids(text).ok();
            if let Ok((groups, _)) = metricstor::scrape::ec2_sd::instances::read_instances(text, "eu-west-1", 9100, zones.as_ref()) {
                check(&groups);
            }
            let _ = metricstor::scrape::aws::xml_error(rest);
        }
        1 => {
            let sd = GceSd { source: "gce".into(), project: "p".into(), zone: "z".into(), filter: String::new(), refresh_ms: 60_000, port: 9100, tag_separator: ",".into() };
            if let Ok((groups, _)) = metricstor::scrape::gce_sd::read_page(rest, &sd) {
                check(&groups);
            }
        }
        _ => {
            for status in [200, 400] {
                let _ = metricstor::scrape::google_auth::token_from(status, rest);
            }
            let _ = metricstor::scrape::google_auth::pem_body(&String::from_utf8_lossy(rest), "PRIVATE KEY");
        }
    }
});
