//! An `aws_sd_configs` entry as written and as checked, through `ec2_sd_configs`' own check:
//! role `ec2` becomes an `Ec2Sd` (run by `ec2_sd`), the other roles an `AwsSd` with the same
//! connection settings. As in Prometheus, every role accepts every key and ignores those that
//! are not its own (`filters` outside ec2 and rds, `clusters` outside ecs, rds, elasticache and
//! msk); `port` 0 and an absent one mean the role's default, 80.

use std::path::Path;

use serde::Deserialize;

use crate::scrape::config::{with_client_keys, FilterSection};
use crate::scrape::ec2_sd::config::{Ec2Sd, Ec2SdSection};
use crate::scrape::aws_sd::{AwsRole, AwsSd};

/// The roles Prometheus knows, for the message naming an unknown one.
const ROLES: &str = "ec2, ecs, elasticache, lightsail, msk, rds";

with_client_keys! {
    /// Prometheus' `aws_sd_config`.
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub(crate) struct AwsSdSection {
        role: String,
        region: String,
        endpoint: String,
        access_key: String,
        secret_key: Option<String>,
        profile: String,
        role_arn: String,
        external_id: String,
        refresh_interval: Option<String>,
        port: Option<u16>,
        /// ec2's and rds'.
        filters: Option<Vec<FilterSection>>,
        /// ecs', rds', elasticache's and msk's.
        clusters: Option<Vec<String>>,
    }
}

/// A checked entry: role ec2 joins the job's `ec2_sd`, the others its `aws_sd`.
pub(crate) enum Resolved {
    Ec2(Ec2Sd),
    Other(AwsSd),
}

/// Checks the `position`th entry; relative paths are under `base`.
pub(crate) fn resolve(mut s: AwsSdSection, base: &Path, position: usize) -> Result<Resolved, String> {
    let role = match s.role.as_str() {
        "ec2" => None,
        "lightsail" => Some(AwsRole::Lightsail),
        "ecs" => Some(AwsRole::Ecs { clusters: s.clusters.clone().unwrap_or_default() }),
        // Unchecked, as Prometheus passes rds' filters to RDS as they are.
        "rds" => Some(AwsRole::Rds { clusters: s.clusters.clone().unwrap_or_default(), filters: s.filters.take().unwrap_or_default().into_iter().map(|f| (f.name, f.values)).collect() }),
        "elasticache" => Some(AwsRole::Elasticache { clusters: s.clusters.clone().unwrap_or_default() }),
        "msk" => Some(AwsRole::Msk { clusters: s.clusters.clone().unwrap_or_default() }),
        other => return Err(format!("unknown AWS SD role {other:?} (one of: {ROLES})")),
    };
    let filters = if role.is_none() { s.filters.unwrap_or_default() } else { Vec::new() };
    let section = Ec2SdSection {
        endpoint: s.endpoint,
        region: s.region,
        access_key: s.access_key,
        secret_key: s.secret_key,
        profile: s.profile,
        role_arn: s.role_arn,
        external_id: s.external_id,
        refresh_interval: s.refresh_interval,
        port: s.port.filter(|&port| port != 0).unwrap_or(80),
        filters,
        basic_auth: s.basic_auth,
        authorization: s.authorization,
        bearer_token: s.bearer_token,
        bearer_token_file: s.bearer_token_file,
        tls_config: s.tls_config,
        http_headers: s.http_headers,
        proxy_url: s.proxy_url,
        no_proxy: s.no_proxy,
        proxy_from_environment: s.proxy_from_environment,
        proxy_connect_header: s.proxy_connect_header,
        oauth2: s.oauth2,
        enable_http2: s.enable_http2,
        follow_redirects: s.follow_redirects,
    };
    let mut ec2 = crate::scrape::ec2_sd::config::resolve(section, base, position)?;
    let Some(role) = role else {
        // Apart from the ec2_sd_configs entry at the same position.
        ec2.source = format!("aws {}", ec2.source);
        return Ok(Resolved::Ec2(ec2));
    };
    Ok(Resolved::Other(AwsSd {
        source: format!("aws {} {} #{position}", role.name(), ec2.shown),
        shown: ec2.shown,
        role,
        region: ec2.region,
        endpoint: ec2.endpoint,
        keys: ec2.keys,
        port: ec2.port,
        refresh_ms: ec2.refresh_ms,
        tls: ec2.tls,
        proxy: ec2.proxy,
        http_headers: ec2.http_headers,
    }))
}

/// The configuration keys Prometheus also registers for one role each (2.x' names, still
/// read by Prometheus 3), and their role.
pub(crate) const STANDALONE_KEYS: [(&str, &str); 5] =
    [("lightsail_sd_configs", "lightsail"), ("ecs_sd_configs", "ecs"), ("rds_sd_configs", "rds"), ("elasticache_sd_configs", "elasticache"), ("msk_sd_configs", "msk")];

/// Checks the `position`th entry of `key` (one of `STANDALONE_KEYS`), an `aws_sd_config`
/// whose role the key names: one written there is refused, as those sections have no `role`.
pub(crate) fn resolve_standalone(mut s: AwsSdSection, base: &Path, position: usize, key: &str, role: &str) -> Result<AwsSd, String> {
    if !s.role.is_empty() {
        return Err(format!("unknown field `role` ({key} is of role {role}; aws_sd_configs takes a role)"));
    }
    s.role = role.to_string();
    match resolve(s, base, position)? {
        Resolved::Other(mut sd) => {
            // Apart from the aws_sd_configs entry of that role at the same position.
            sd.source = format!("{key} {}", sd.source);
            Ok(sd)
        }
        Resolved::Ec2(_) => Err(format!("{key}: role {role} is not a standalone AWS discovery")),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::ScrapeConfig;
    use crate::ingest::label_limits::LabelLimits;
    use crate::scrape::aws_sd::AwsRole;

    fn parse(text: &str) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml(text, Path::new("/etc/prom"), LabelLimits::default())
    }

    fn error(yaml: &str) -> String {
        match parse(yaml) {
            Ok(_) => panic!("accepted: {yaml}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_role_is_required_and_must_be_known() {
        for (yaml, wanted) in [
            ("scrape_configs: [{job_name: a, aws_sd_configs: [{region: eu-west-1}]}]", "aws_sd_configs[0]: unknown AWS SD role \"\""),
            ("scrape_configs: [{job_name: a, aws_sd_configs: [{role: ec3}]}]", "aws_sd_configs[0]: unknown AWS SD role \"ec3\" (one of: ec2, ecs, elasticache, lightsail, msk, rds)"),
            ("scrape_configs: [{job_name: a, aws_sd_configs: [{role: Lightsail}]}]", "aws_sd_configs[0]: unknown AWS SD role \"Lightsail\""),
            ("scrape_configs: [{job_name: a, aws_sd_configs: [{role: ecs, request_concurrency: 5}]}]", "unknown field `request_concurrency`"),
            ("scrape_configs: [{job_name: a, aws_sd_configs: [{role: lightsail, endpoint: 'http://localhost:4566/?x=1'}]}]", "a query is not allowed"),
            ("scrape_configs: [{job_name: a, aws_sd_configs: [{role: ec2, filters: [{name: 'tag:team', values: []}]}]}]", "EC2 SD configuration filter values cannot be empty"),
        ] {
            let found = error(yaml);
            assert!(found.contains(wanted), "{yaml}: {found}");
        }
    }

    #[test]
    fn roles_take_prometheus_defaults_and_their_own_keys() {
        let yaml = "scrape_configs: [{job_name: a, \
                    ec2_sd_configs: [{region: eu-west-1}], \
                    aws_sd_configs: [\
                    {role: ec2, region: eu-west-1, access_key: AKID, secret_key: s3cr3t, port: 9100, filters: [{name: 'tag:team', values: [a]}], clusters: [ignored]}, \
                    {role: lightsail, endpoint: 'http://127.0.0.1:4566', filters: [{name: ignored, values: [x]}]}, \
                    {role: ecs, region: us-east-1, clusters: [prod, 'arn:aws:ecs:us-east-1:1:cluster/dev'], port: 0, refresh_interval: 30s, profile: p, role_arn: 'arn:aws:iam::1:role/r', external_id: x}, \
                    {role: rds, clusters: [db], filters: [{name: engine, values: [postgres]}, {name: x, values: []}], port: 5432}, \
                    {role: elasticache, clusters: ['arn:aws:elasticache:us-east-1:1:serverlesscache:c']}, \
                    {role: msk, clusters: ['arn:aws:kafka:us-east-1:1:cluster/k/1'], port: 11001}]}]";
        let config = parse(yaml).expect("valid");
        let job = &config.jobs[0];
        assert_eq!(job.ec2_sd.len(), 2, "role ec2 runs as an ec2_sd entry");
        let ec2 = &job.ec2_sd[1];
        assert_eq!((ec2.port, ec2.refresh_ms, ec2.region.as_str(), ec2.keys.access_key.as_str()), (9100, 60_000, "eu-west-1", "AKID"));
        assert_eq!(ec2.filters, vec![("tag:team".to_string(), vec!["a".to_string()])]);
        assert_ne!(job.ec2_sd[0].source, ec2.source, "sources stay apart");
        assert!(!format!("{:?} {:?}", ec2, job.aws_sd).contains("s3cr3t"));

        assert_eq!(job.aws_sd.len(), 5);
        let lightsail = &job.aws_sd[0];
        assert_eq!(lightsail.role, AwsRole::Lightsail);
        assert_eq!((lightsail.port, lightsail.refresh_ms, lightsail.region.as_str(), lightsail.shown.as_str()), (80, 60_000, "", "http://127.0.0.1:4566"));
        assert!(lightsail.endpoint.is_some() && lightsail.keys.secret_key.is_none());
        let ecs = &job.aws_sd[1];
        assert_eq!(ecs.role, AwsRole::Ecs { clusters: vec!["prod".to_string(), "arn:aws:ecs:us-east-1:1:cluster/dev".to_string()] });
        assert_eq!((ecs.port, ecs.refresh_ms, ecs.region.as_str(), ecs.endpoint.is_none()), (80, 30_000, "us-east-1", true));
        assert_eq!((ecs.keys.profile.as_str(), ecs.keys.role_arn.as_str(), ecs.keys.external_id.as_str()), ("p", "arn:aws:iam::1:role/r", "x"));
        let sources: std::collections::HashSet<String> = crate::scrape::asked_sources(job).into_iter().collect();
        let rds = &job.aws_sd[2];
        assert_eq!(rds.role, AwsRole::Rds { clusters: vec!["db".to_string()], filters: vec![("engine".to_string(), vec!["postgres".to_string()]), ("x".to_string(), vec![])] });
        assert_eq!((rds.port, rds.refresh_ms), (5432, 60_000));
        assert_eq!(job.aws_sd[3].role, AwsRole::Elasticache { clusters: vec!["arn:aws:elasticache:us-east-1:1:serverlesscache:c".to_string()] });
        assert_eq!((&job.aws_sd[4].role, job.aws_sd[4].port), (&AwsRole::Msk { clusters: vec!["arn:aws:kafka:us-east-1:1:cluster/k/1".to_string()] }, 11001));
        assert_eq!(sources.len(), 7, "every entry has its own source: {sources:?}");
    }

    #[test]
    fn prometheus_standalone_keys_are_aws_sd_configs_of_their_role() {
        let yaml = "scrape_configs: [{job_name: a, \
                    aws_sd_configs: [{role: lightsail, endpoint: 'http://127.0.0.1:4566'}], \
                    lightsail_sd_configs: [{endpoint: 'http://127.0.0.1:4566', port: 9100}], \
                    ecs_sd_configs: [{clusters: [prod]}], \
                    rds_sd_configs: [{clusters: [db], port: 5432}], \
                    elasticache_sd_configs: [{}], \
                    msk_sd_configs: [{clusters: [k]}]}]";
        let config = parse(yaml).expect("valid");
        let job = &config.jobs[0];
        let roles: Vec<&str> = job.aws_sd.iter().map(|sd| sd.role.name()).collect();
        assert_eq!(roles, vec!["lightsail", "lightsail", "ecs", "rds", "elasticache", "msk"]);
        assert_eq!(job.aws_sd[1].port, 9100);
        assert_eq!(job.aws_sd[2].role, AwsRole::Ecs { clusters: vec!["prod".to_string()] });
        assert_eq!(job.aws_sd[3].port, 5432);
        assert_ne!(job.aws_sd[0].source, job.aws_sd[1].source, "the same endpoint at the same position under two keys stays two sources");
        let found = error("scrape_configs: [{job_name: a, ecs_sd_configs: [{role: ecs}]}]");
        assert!(found.contains("ecs_sd_configs[0]: unknown field `role`"), "{found}");
    }

    #[test]
    fn the_shown_configuration_masks_the_secret_key() {
        let yaml = "scrape_configs: [{job_name: a, aws_sd_configs: [{role: lightsail, region: us-east-1, access_key: AKID, secret_key: s3cr3t}]}]";
        let config = parse(yaml).expect("valid");
        let shown = &config.jobs[0].shown_yaml;
        assert!(shown.contains("secret_key: <secret>") && !shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("access_key: AKID"), "{shown}");
    }
}
