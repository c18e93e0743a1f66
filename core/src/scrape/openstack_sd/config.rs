//! An `openstack_sd_configs` entry as written and as checked: Prometheus' keys and defaults
//! (`port` 80, `refresh_interval` 60 s, `availability` public; `role` and `region` required),
//! its Keystone credentials (from the entry, or from gophercloud's `OS_*` environment
//! variables when `identity_endpoint` is empty) and its own `tls_config`: Prometheus gives
//! this discovery no other HTTP client key.

use std::path::Path;

use serde::Deserialize;

use crate::scrape::config::{client_access, optional_duration, ClientAccess, ClientSections, TlsSection};

/// Prometheus' defaults (its `DefaultSDConfig`).
const REFRESH_DEFAULT_MS: i64 = 60_000;
const PORT_DEFAULT: i64 = 80;
const AVAILABILITY_DEFAULT: &str = "public";

/// Prometheus' `openstack_sd_config`, key for key.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenStackSdSection {
    identity_endpoint: Option<String>,
    username: Option<String>,
    userid: Option<String>,
    password: Option<String>,
    project_name: Option<String>,
    project_id: Option<String>,
    domain_name: Option<String>,
    domain_id: Option<String>,
    application_credential_name: Option<String>,
    application_credential_id: Option<String>,
    application_credential_secret: Option<String>,
    role: Option<String>,
    region: Option<String>,
    refresh_interval: Option<String>,
    port: Option<i64>,
    all_tenants: bool,
    tls_config: Option<TlsSection>,
    availability: Option<String>,
}

impl std::fmt::Debug for OpenStackSdSection {
    /// The entry without its password and application credential secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenStackSdSection").field("identity_endpoint", &self.identity_endpoint).field("role", &self.role).field("region", &self.region).finish_non_exhaustive()
    }
}

/// What an entry's targets are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Nova servers, one target per fixed address.
    Instance,
    /// Nova hypervisors, one target per host IP.
    Hypervisor,
    /// Octavia load balancers with a PROMETHEUS listener.
    LoadBalancer,
}

/// The credentials and scope Keystone is asked a token with: gophercloud's `AuthOptions`
/// (an empty string is a value not given, as in Go).
#[derive(Default, Clone, PartialEq, Eq)]
pub struct AuthOptions {
    pub identity_endpoint: String,
    pub username: String,
    pub user_id: String,
    pub password: String,
    /// `OS_PASSCODE` (TOTP), from the environment only.
    pub passcode: String,
    pub tenant_id: String,
    pub tenant_name: String,
    pub domain_id: String,
    pub domain_name: String,
    pub application_credential_id: String,
    pub application_credential_name: String,
    pub application_credential_secret: String,
    /// `OS_SYSTEM_SCOPE=all`, from the environment only.
    pub system_scope: bool,
}

impl std::fmt::Debug for AuthOptions {
    /// Who asks and where, never the password, passcode or secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthOptions")
            .field("identity_endpoint", &self.identity_endpoint)
            .field("username", &self.username)
            .field("user_id", &self.user_id)
            .field("tenant_id", &self.tenant_id)
            .field("tenant_name", &self.tenant_name)
            .field("domain_id", &self.domain_id)
            .field("domain_name", &self.domain_name)
            .field("application_credential_id", &self.application_credential_id)
            .field("application_credential_name", &self.application_credential_name)
            .finish_non_exhaustive()
    }
}

impl AuthOptions {
    /// gophercloud's `AuthOptionsFromEnv`, read through `get` (the process environment, or a
    /// test's), in its words when a variable is missing.
    pub fn from_env(get: &dyn Fn(&str) -> Option<String>) -> Result<AuthOptions, String> {
        let var = |name: &str| get(name).unwrap_or_default();
        let mut options = AuthOptions {
            identity_endpoint: var("OS_AUTH_URL"),
            username: var("OS_USERNAME"),
            user_id: var("OS_USERID"),
            password: var("OS_PASSWORD"),
            passcode: var("OS_PASSCODE"),
            tenant_id: var("OS_TENANT_ID"),
            tenant_name: var("OS_TENANT_NAME"),
            domain_id: var("OS_DOMAIN_ID"),
            domain_name: var("OS_DOMAIN_NAME"),
            application_credential_id: var("OS_APPLICATION_CREDENTIAL_ID"),
            application_credential_name: var("OS_APPLICATION_CREDENTIAL_NAME"),
            application_credential_secret: var("OS_APPLICATION_CREDENTIAL_SECRET"),
            system_scope: var("OS_SYSTEM_SCOPE") == "all",
        };
        // The project variables win over the older tenant ones.
        if let Some(v) = get("OS_PROJECT_ID").filter(|v| !v.is_empty()) {
            options.tenant_id = v;
        }
        if let Some(v) = get("OS_PROJECT_NAME").filter(|v| !v.is_empty()) {
            options.tenant_name = v;
        }
        let missing = |name: &str| Err(format!("Missing environment variable [{name}]"));
        let o = &options;
        if o.identity_endpoint.is_empty() {
            return missing("OS_AUTH_URL");
        }
        if o.user_id.is_empty() && o.username.is_empty() && o.application_credential_id.is_empty() && o.application_credential_secret.is_empty() {
            return Err("Missing one of the following environment variables [OS_USERID, OS_USERNAME]".into());
        }
        if o.password.is_empty() && o.passcode.is_empty() && o.application_credential_id.is_empty() && o.application_credential_name.is_empty() {
            return missing("OS_PASSWORD");
        }
        if (!o.application_credential_id.is_empty() || !o.application_credential_name.is_empty()) && o.application_credential_secret.is_empty() {
            return missing("OS_APPLICATION_CREDENTIAL_SECRET");
        }
        if o.domain_id.is_empty() && o.domain_name.is_empty() && o.tenant_id.is_empty() && !o.tenant_name.is_empty() {
            return missing("OS_PROJECT_ID");
        }
        if o.application_credential_id.is_empty() && !o.application_credential_name.is_empty() && !o.application_credential_secret.is_empty() {
            if o.domain_id.is_empty() && o.domain_name.is_empty() {
                return Err("Missing one of the following environment variables [OS_DOMAIN_ID, OS_DOMAIN_NAME]".into());
            }
            if o.username.is_empty() && o.user_id.is_empty() {
                return Err("Missing one of the following environment variables [OS_USERID, OS_USERNAME]".into());
            }
        }
        Ok(options)
    }
}

/// Where an entry's credentials come from.
#[derive(Debug)]
pub enum Credentials {
    /// The entry's keys (`identity_endpoint` given).
    Written(Box<AuthOptions>),
    /// gophercloud's `OS_*` environment variables, read when the entry starts, as
    /// Prometheus reads them when it creates the discoverer.
    Environment,
}

/// One `openstack_sd_configs` entry, checked.
pub struct OpenStackSd {
    /// This entry's source name among the asked groups.
    pub source: String,
    pub role: Role,
    pub region: String,
    /// Which catalog interface (`public`, `internal`, `admin`) the services are asked at.
    pub availability: String,
    /// Every instance and hypervisor target's port (load balancers use their listener's).
    pub port: u16,
    pub all_tenants: bool,
    pub refresh_ms: i64,
    pub credentials: Credentials,
    /// The entry's `tls_config` (no proxy, no other credentials; redirects followed, as Go's
    /// default client follows them).
    pub access: ClientAccess,
}

impl std::fmt::Debug for OpenStackSd {
    /// The role, region and schedule (the password and secrets stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenStackSd").field("role", &self.role).field("region", &self.region).field("availability", &self.availability).field("port", &self.port).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// Checks entry `position` of a job's `openstack_sd_configs` (relative files from `base`).
pub fn resolve(s: OpenStackSdSection, base: &Path, position: usize) -> Result<OpenStackSd, String> {
    // Prometheus' checks, in its order and words.
    let role = match s.role.as_deref() {
        None | Some("") => None,
        Some("instance") => Some(Role::Instance),
        Some("hypervisor") => Some(Role::Hypervisor),
        Some("loadbalancer") => Some(Role::LoadBalancer),
        Some(other) => return Err(format!("unknown OpenStack SD role {other:?}")),
    };
    let availability = s.availability.unwrap_or_else(|| AVAILABILITY_DEFAULT.to_string());
    if !matches!(availability.as_str(), "public" | "internal" | "admin") {
        return Err(format!("unknown availability {availability}, must be one of admin, internal or public"));
    }
    let role = role.ok_or("role missing (one of: instance, hypervisor, loadbalancer)")?;
    let region = s.region.unwrap_or_default();
    if region.is_empty() {
        return Err("openstack SD configuration requires a region".into());
    }
    let port = s.port.unwrap_or(PORT_DEFAULT);
    // Prometheus takes any int; a port no target could have is refused at once here.
    let port = u16::try_from(port).map_err(|_| format!("port {port} is not between 0 and 65535"))?;
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(REFRESH_DEFAULT_MS);
    let endpoint = s.identity_endpoint.unwrap_or_default();
    let credentials = if endpoint.is_empty() {
        Credentials::Environment
    } else {
        check_identity_endpoint(&endpoint)?;
        Credentials::Written(Box::new(AuthOptions {
            identity_endpoint: endpoint.clone(),
            username: s.username.unwrap_or_default(),
            user_id: s.userid.unwrap_or_default(),
            password: s.password.unwrap_or_default(),
            passcode: String::new(),
            tenant_id: s.project_id.unwrap_or_default(),
            tenant_name: s.project_name.unwrap_or_default(),
            domain_id: s.domain_id.unwrap_or_default(),
            domain_name: s.domain_name.unwrap_or_default(),
            application_credential_id: s.application_credential_id.unwrap_or_default(),
            application_credential_name: s.application_credential_name.unwrap_or_default(),
            application_credential_secret: s.application_credential_secret.unwrap_or_default(),
            system_scope: false,
        }))
    };
    let https = endpoint.get(..8).is_some_and(|head| head.eq_ignore_ascii_case("https://"));
    let access = client_access(ClientSections { tls_config: s.tls_config, ..ClientSections::default() }, https, base)?;
    let role_name = match role {
        Role::Instance => "instance",
        Role::Hypervisor => "hypervisor",
        Role::LoadBalancer => "loadbalancer",
    };
    Ok(OpenStackSd {
        // The position keeps apart two entries that differ only in their credentials.
        source: format!("openstack #{position} {role_name} {region} {availability} port {port}"),
        role,
        region,
        availability,
        port,
        all_tenants: s.all_tenants,
        refresh_ms,
        credentials,
        access,
    })
}

/// An identity endpoint this discovery can ask: an http or https URL, not Keystone v2.0's.
pub fn check_identity_endpoint(endpoint: &str) -> Result<(), String> {
    crate::scrape::config::Url::parse(endpoint).map_err(|e| format!("identity_endpoint: {e}"))?;
    if super::keystone::normalize(endpoint).ends_with("/v2.0/") {
        return Err(format!("identity_endpoint {endpoint:?}: Keystone's v2.0 identity API is not supported here, only v3"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::label_limits::LabelLimits;
    use crate::scrape::config::ScrapeConfig;

    fn load(entries: &str) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: o, openstack_sd_configs: [{entries}]}}]"), std::path::Path::new("/tmp"), LabelLimits::default())
    }

    #[test]
    fn an_entry_takes_prometheus_defaults_and_its_credentials() {
        let config = load("{role: instance, region: RegionOne, identity_endpoint: 'https://keystone:5000/v3', username: u, password: p, domain_name: Default, project_name: monitoring}, {role: hypervisor, region: R2, port: 9100, refresh_interval: 2m, availability: internal, all_tenants: true}").expect("valid");
        let sds = &config.jobs[0].openstack_sd;
        assert_eq!((sds[0].role, sds[0].port, sds[0].refresh_ms, sds[0].availability.as_str(), sds[0].all_tenants), (Role::Instance, 80, 60_000, "public", false));
        let Credentials::Written(auth) = &sds[0].credentials else { panic!("written credentials") };
        assert_eq!((auth.username.as_str(), auth.password.as_str(), auth.domain_name.as_str(), auth.tenant_name.as_str()), ("u", "p", "Default", "monitoring"));
        assert!(sds[0].access.tls.is_ok());
        assert_eq!((sds[1].role, sds[1].port, sds[1].refresh_ms, sds[1].availability.as_str(), sds[1].all_tenants), (Role::Hypervisor, 9100, 120_000, "internal", true));
        assert!(matches!(sds[1].credentials, Credentials::Environment), "no identity_endpoint: the OS_* environment");
        assert_ne!(sds[0].source, sds[1].source);
        assert_eq!(crate::scrape::asked_sources(&config.jobs[0]).len(), 2);
        assert!(load("{role: loadbalancer, region: r, identity_endpoint: 'http://k/', tls_config: {insecure_skip_verify: true}}").is_ok());
    }

    #[test]
    fn bad_entries_are_refused_in_prometheus_words() {
        for (entry, expected) in [
            ("{region: r}", "openstack_sd_configs[0]: role missing (one of: instance, hypervisor, loadbalancer)"),
            ("{role: '', region: r}", "role missing (one of: instance, hypervisor, loadbalancer)"),
            ("{role: servers, region: r}", "unknown OpenStack SD role \"servers\""),
            ("{role: instance}", "openstack SD configuration requires a region"),
            ("{role: instance, region: r, availability: private}", "unknown availability private, must be one of admin, internal or public"),
            ("{role: instance, region: r, availability: ''}", "unknown availability , must be one of admin, internal or public"),
            ("{role: instance, region: r, port: 70000}", "not between 0 and 65535"),
            ("{role: instance, region: r, refresh_interval: soon}", "refresh_interval"),
            ("{role: instance, region: r, bearer_token: x}", "unknown field"),
            ("{role: instance, region: r, proxy_url: 'http://p:3128'}", "unknown field"),
            ("{role: instance, region: r, identity_endpoint: 'keystone:5000'}", "identity_endpoint"),
            ("{role: instance, region: r, identity_endpoint: 'http://k:5000/v2.0'}", "v2.0 identity API is not supported here"),
            ("{role: instance, region: r, tls_config: {cert_file: /c.pem}}", "must be set together"),
        ] {
            let error = load(entry).err().unwrap_or_else(|| panic!("{entry} loaded"));
            assert!(error.contains(expected), "{entry}: {error}");
        }
    }

    #[test]
    fn secrets_stay_out_of_the_shown_config_and_debug_output() {
        let config = load("{role: instance, region: r, identity_endpoint: 'http://k/', username: u, domain_id: d, password: hunter2}, {role: instance, region: r, identity_endpoint: 'http://k/', application_credential_id: a, application_credential_secret: s3cr3t}").expect("valid");
        let yaml = &config.jobs[0].shown_yaml;
        assert!(yaml.contains("openstack_sd_configs:") && yaml.contains("application_credential_id: a"), "{yaml}");
        assert!(!yaml.contains("hunter2") && !yaml.contains("s3cr3t"), "{yaml}");
        assert_eq!(yaml.matches("<secret>").count(), 2, "{yaml}");
        let debug = format!("{:?}", config.jobs[0].openstack_sd);
        assert!(!debug.contains("hunter2") && !debug.contains("s3cr3t"), "{debug}");
    }

    #[test]
    fn the_environment_is_read_as_gophercloud_reads_it() {
        let env = |pairs: &'static [(&'static str, &'static str)]| move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        let options = AuthOptions::from_env(&env(&[("OS_AUTH_URL", "http://k:5000/v3"), ("OS_USERNAME", "u"), ("OS_PASSWORD", "p"), ("OS_TENANT_NAME", "old"), ("OS_PROJECT_NAME", "new"), ("OS_DOMAIN_NAME", "Default")])).expect("complete");
        assert_eq!((options.identity_endpoint.as_str(), options.tenant_name.as_str(), options.password.as_str()), ("http://k:5000/v3", "new", "p"));
        let app = AuthOptions::from_env(&env(&[("OS_AUTH_URL", "http://k/"), ("OS_APPLICATION_CREDENTIAL_ID", "a"), ("OS_APPLICATION_CREDENTIAL_SECRET", "s")])).expect("an application credential needs no user");
        assert_eq!(app.application_credential_secret, "s");
        for (pairs, expected) in [
            (&[("OS_USERNAME", "u")][..], "Missing environment variable [OS_AUTH_URL]"),
            (&[("OS_AUTH_URL", "http://k/"), ("OS_PASSWORD", "p")][..], "Missing one of the following environment variables [OS_USERID, OS_USERNAME]"),
            (&[("OS_AUTH_URL", "http://k/"), ("OS_USERNAME", "u")][..], "Missing environment variable [OS_PASSWORD]"),
            (&[("OS_AUTH_URL", "http://k/"), ("OS_USERNAME", "u"), ("OS_APPLICATION_CREDENTIAL_NAME", "n")][..], "Missing environment variable [OS_APPLICATION_CREDENTIAL_SECRET]"),
            (&[("OS_AUTH_URL", "http://k/"), ("OS_USERNAME", "u"), ("OS_PASSWORD", "p"), ("OS_PROJECT_NAME", "x")][..], "Missing environment variable [OS_PROJECT_ID]"),
        ] {
            let owned: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let get = move |name: &str| owned.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
            assert_eq!(AuthOptions::from_env(&get), Err(expected.to_string()));
        }
    }
}
