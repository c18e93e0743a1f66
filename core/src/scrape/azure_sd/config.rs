//! An `azure_sd_configs` entry as written and as checked: Prometheus' keys and defaults
//! (`environment` AzurePublicCloud, `authentication_method` OAuth, `port` 80,
//! `refresh_interval` 5 m), the cloud each environment name stands for (its Azure AD
//! authority, Resource Manager endpoint and token audience), and the HTTP client settings
//! Prometheus gives the Resource Manager requests.

use std::path::Path;

use serde::Deserialize;

use crate::scrape::config::{client_access, client_sections, optional_duration, with_client_keys, ClientAccess, Url};

/// Prometheus' defaults (its `DefaultSDConfig`).
const REFRESH_DEFAULT_MS: i64 = 300_000;
const PORT_DEFAULT: i64 = 80;
const ENVIRONMENT_DEFAULT: &str = "AzurePublicCloud";
const METHOD_OAUTH: &str = "OAuth";
const METHOD_MANAGED_IDENTITY: &str = "ManagedIdentity";
const METHOD_SDK: &str = "SDK";
const METHOD_WORKLOAD_IDENTITY: &str = "WorkloadIdentity";

with_client_keys! {
    /// Prometheus' `azure_sd_config`: the virtual machines of a subscription (or of one of
    /// its resource groups), with the HTTP client settings a job has.
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct AzureSdSection {
        environment: Option<String>,
        port: Option<i64>,
        subscription_id: String,
        tenant_id: String,
        client_id: String,
        client_secret: String,
        refresh_interval: Option<String>,
        authentication_method: Option<String>,
        resource_group: String,
    }
}

/// An Azure cloud: where tokens are asked and Resource Manager answers (the Azure SDK's
/// `cloud.Configuration` with its Resource Manager service).
#[derive(Debug, Clone, PartialEq)]
pub struct Cloud {
    /// Azure AD's authority host (`https://login.microsoftonline.com/`).
    pub authority: &'static str,
    /// Resource Manager's endpoint.
    pub resource_manager: &'static str,
    /// The audience of Resource Manager's tokens (`/.default` makes it a scope).
    pub audience: &'static str,
}

const AZURE_PUBLIC: Cloud = Cloud { authority: "https://login.microsoftonline.com/", resource_manager: "https://management.azure.com", audience: "https://management.core.windows.net/" };
const AZURE_CHINA: Cloud = Cloud { authority: "https://login.chinacloudapi.cn/", resource_manager: "https://management.chinacloudapi.cn", audience: "https://management.core.chinacloudapi.cn" };
const AZURE_GOVERNMENT: Cloud = Cloud { authority: "https://login.microsoftonline.us/", resource_manager: "https://management.usgovcloudapi.net", audience: "https://management.core.usgovcloudapi.net" };

/// Prometheus' environment names, upper-cased (Azure Germany is long closed: the public
/// cloud, as Prometheus maps it).
const ENVIRONMENTS: [(&str, Cloud); 6] = [
    ("AZURECHINACLOUD", AZURE_CHINA),
    ("AZURECLOUD", AZURE_PUBLIC),
    ("AZUREGERMANCLOUD", AZURE_PUBLIC),
    ("AZUREPUBLICCLOUD", AZURE_PUBLIC),
    ("AZUREUSGOVERNMENT", AZURE_GOVERNMENT),
    ("AZUREUSGOVERNMENTCLOUD", AZURE_GOVERNMENT),
];

/// The cloud an environment name stands for, in any case, or Prometheus' error for it.
pub fn cloud_named(name: &str) -> Result<Cloud, String> {
    let upper = name.to_uppercase();
    ENVIRONMENTS.iter().find(|(n, _)| *n == upper).map(|(_, c)| c.clone()).ok_or_else(|| format!("there is no cloud configuration matching the name {upper:?}"))
}

/// How the entry gets its Resource Manager tokens.
#[derive(Clone)]
pub enum Authentication {
    /// An application's client secret (Azure AD's client credentials grant).
    OAuth { client_id: String, client_secret: String },
    /// The machine's managed identity, from the instance metadata service (`client_id`:
    /// a user-assigned identity's; none: the system-assigned one).
    ManagedIdentity { client_id: Option<String> },
    /// A federated token from a file (Kubernetes' workload identity), with the client,
    /// tenant and file named by `AZURE_CLIENT_ID`, `AZURE_TENANT_ID` and
    /// `AZURE_FEDERATED_TOKEN_FILE` when a refresh starts, as the Azure SDK reads them.
    WorkloadIdentity,
}

impl std::fmt::Debug for Authentication {
    /// The method and client (the secret stays out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Authentication::OAuth { client_id, .. } => f.debug_struct("OAuth").field("client_id", client_id).finish_non_exhaustive(),
            Authentication::ManagedIdentity { client_id } => f.debug_struct("ManagedIdentity").field("client_id", client_id).finish(),
            Authentication::WorkloadIdentity => f.write_str("WorkloadIdentity"),
        }
    }
}

/// One `azure_sd_configs` entry, checked.
pub struct AzureSd {
    /// This entry's source name among the asked groups: the entry's position, subscription
    /// and port.
    pub source: String,
    /// Every target's port (the machine's private IP is its host).
    pub port: u16,
    pub refresh_ms: i64,
    pub subscription_id: String,
    /// As written (the `__meta_azure_tenant_id` label; OAuth's tenant).
    pub tenant_id: String,
    /// Only this resource group's machines and scale sets (empty: the subscription's).
    pub resource_group: String,
    /// The environment's cloud, or why there is none: as in Prometheus, an unknown
    /// environment fails every refresh rather than the configuration.
    pub cloud: Result<Cloud, String>,
    pub authentication: Authentication,
    /// How its Resource Manager requests are secured and sent (the token is Azure's).
    pub access: ClientAccess,
}

impl std::fmt::Debug for AzureSd {
    /// The subscription, method, port and schedule (the secret stays out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureSd")
            .field("subscription_id", &self.subscription_id)
            .field("resource_group", &self.resource_group)
            .field("authentication", &self.authentication)
            .field("port", &self.port)
            .field("refresh_ms", &self.refresh_ms)
            .finish_non_exhaustive()
    }
}

impl AzureSd {
    /// Resource Manager's origin in this entry's cloud.
    pub fn resource_manager(&self) -> Result<Url, String> {
        let cloud = self.cloud.as_ref().map_err(Clone::clone)?;
        Url::parse(cloud.resource_manager)
    }
}

/// Prometheus' words for a key it requires.
fn required(value: &str, name: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("azure SD configuration requires a {name}"));
    }
    Ok(())
}

/// Checks entry `position` of a job's `azure_sd_configs` (relative files from `base`), in
/// Prometheus' order: the subscription, OAuth's keys, the method, the HTTP client settings.
pub fn resolve(s: AzureSdSection, base: &Path, position: usize) -> Result<AzureSd, String> {
    required(&s.subscription_id, "subscription_id")?;
    let method = s.authentication_method.as_deref().unwrap_or(METHOD_OAUTH);
    if method == METHOD_OAUTH {
        required(&s.tenant_id, "tenant_id")?;
        required(&s.client_id, "client_id")?;
        required(&s.client_secret, "client_secret")?;
    }
    let authentication = match method {
        METHOD_OAUTH => Authentication::OAuth { client_id: s.client_id.clone(), client_secret: s.client_secret },
        METHOD_MANAGED_IDENTITY => Authentication::ManagedIdentity { client_id: Some(s.client_id.clone()).filter(|c| !c.is_empty()) },
        METHOD_WORKLOAD_IDENTITY => Authentication::WorkloadIdentity,
        METHOD_SDK => return Err("authentication_method SDK (the Azure SDK's chain of environment, workload identity, managed identity and Azure CLI credentials) is not supported here: use OAuth, ManagedIdentity or WorkloadIdentity".into()),
        other => return Err(format!("unknown authentication_type {other:?}. Supported types are {METHOD_OAUTH:?}, {METHOD_MANAGED_IDENTITY:?}, {METHOD_SDK:?} or {METHOD_WORKLOAD_IDENTITY:?}")),
    };
    let port = s.port.unwrap_or(PORT_DEFAULT);
    // Prometheus takes any int; a port no target could have is refused here at once.
    let port = u16::try_from(port).map_err(|_| format!("port {port} is not between 0 and 65535"))?;
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(REFRESH_DEFAULT_MS);
    let _ = s.enable_http2;
    let cloud = cloud_named(s.environment.as_deref().unwrap_or(ENVIRONMENT_DEFAULT));
    let sections = client_sections!(s);
    // Resource Manager is https in every cloud.
    let access = client_access(sections, true, base)?;
    Ok(AzureSd {
        // The position keeps apart two entries that differ only in their credentials.
        source: format!("azure #{position} subscription {} port {port}", s.subscription_id),
        port,
        refresh_ms,
        subscription_id: s.subscription_id,
        tenant_id: s.tenant_id,
        resource_group: s.resource_group,
        cloud,
        authentication,
        access,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::label_limits::LabelLimits;
    use crate::scrape::config::ScrapeConfig;

    fn load(entries: &str) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: a, azure_sd_configs: [{entries}]}}]"), std::path::Path::new("/tmp"), LabelLimits::default())
    }

    const OAUTH: &str = "subscription_id: sub, tenant_id: ten, client_id: cli, client_secret: s3cr3t";

    #[test]
    fn an_entry_takes_prometheus_defaults() {
        let config = load(&format!("{{{OAUTH}}}, {{subscription_id: sub2, authentication_method: ManagedIdentity, environment: azurechinacloud, port: 9100, refresh_interval: 1m, resource_group: rg, proxy_url: 'http://proxy:3128', follow_redirects: false}}")).expect("valid");
        let sds = &config.jobs[0].azure_sd;
        assert_eq!((sds[0].port, sds[0].refresh_ms, sds[0].access.follow_redirects), (80, 300_000, true));
        assert_eq!(sds[0].cloud, Ok(AZURE_PUBLIC));
        assert!(matches!(&sds[0].authentication, Authentication::OAuth { client_id, client_secret } if client_id == "cli" && client_secret == "s3cr3t"));
        assert_eq!((sds[0].tenant_id.as_str(), sds[0].resource_group.as_str()), ("ten", ""));
        assert_eq!(sds[0].resource_manager().map(|u| u.host), Ok("management.azure.com".to_string()));
        assert_eq!((sds[1].port, sds[1].refresh_ms, sds[1].access.follow_redirects), (9100, 60_000, false));
        assert_eq!(sds[1].cloud, Ok(AZURE_CHINA));
        assert!(matches!(&sds[1].authentication, Authentication::ManagedIdentity { client_id: None }));
        assert_eq!(sds[1].resource_group, "rg");
        assert_ne!(sds[0].source, sds[1].source);
        assert_eq!(crate::scrape::asked_sources(&config.jobs[0]).len(), 2);
        // The secret stays out of Debug.
        let debug = format!("{:?}", sds[0]);
        assert!(debug.contains("cli") && !debug.contains("s3cr3t"), "{debug}");

        let identity = load("{subscription_id: s, authentication_method: ManagedIdentity, client_id: uami}, {subscription_id: s, authentication_method: WorkloadIdentity}").expect("valid");
        assert!(matches!(&identity.jobs[0].azure_sd[0].authentication, Authentication::ManagedIdentity { client_id: Some(c) } if c == "uami"));
        assert!(matches!(&identity.jobs[0].azure_sd[1].authentication, Authentication::WorkloadIdentity));
    }

    #[test]
    fn environments_are_prometheus_names_in_any_case() {
        for (name, cloud) in [("AzurePublicCloud", AZURE_PUBLIC), ("AzureCloud", AZURE_PUBLIC), ("AzureGermanCloud", AZURE_PUBLIC), ("AzureChinaCloud", AZURE_CHINA), ("AzureUSGovernment", AZURE_GOVERNMENT), ("azureusgovernmentcloud", AZURE_GOVERNMENT)] {
            assert_eq!(cloud_named(name), Ok(cloud), "{name}");
        }
        assert_eq!(cloud_named("AzureStack"), Err("there is no cloud configuration matching the name \"AZURESTACK\"".to_string()));
        // As in Prometheus, an unknown environment loads and fails each refresh.
        let config = load(&format!("{{{OAUTH}, environment: Mars}}")).expect("valid");
        assert_eq!(config.jobs[0].azure_sd[0].resource_manager(), Err("there is no cloud configuration matching the name \"MARS\"".to_string()));
    }

    #[test]
    fn bad_entries_are_refused_naming_the_cause() {
        for (entry, expected) in [
            ("{tenant_id: t, client_id: c, client_secret: s}", "azure_sd_configs[0]: azure SD configuration requires a subscription_id"),
            ("{subscription_id: s, client_id: c, client_secret: s}", "azure SD configuration requires a tenant_id"),
            ("{subscription_id: s, tenant_id: t, client_secret: s}", "azure SD configuration requires a client_id"),
            ("{subscription_id: s, tenant_id: t, client_id: c}", "azure SD configuration requires a client_secret"),
            ("{subscription_id: s, authentication_method: Password}", "unknown authentication_type \"Password\". Supported types are \"OAuth\", \"ManagedIdentity\", \"SDK\" or \"WorkloadIdentity\""),
            ("{subscription_id: s, authentication_method: SDK}", "authentication_method SDK"),
            ("{subscription_id: s, authentication_method: ManagedIdentity, port: -1}", "port -1 is not between 0 and 65535"),
            ("{subscription_id: s, authentication_method: ManagedIdentity, refresh_interval: soon}", "refresh_interval"),
            ("{subscription_id: s, authentication_method: ManagedIdentity, region: x}", "unknown field"),
            ("{subscription_id: s, authentication_method: ManagedIdentity, bearer_token: a, bearer_token_file: b}", "bearer_token and bearer_token_file are exclusive"),
        ] {
            let error = load(entry).err().unwrap_or_else(|| panic!("{entry} loaded"));
            assert!(error.contains(expected), "{entry}: {error}");
        }
    }

    #[test]
    fn the_shown_config_masks_the_secret() {
        let config = load(&format!("{{{OAUTH}}}")).expect("valid");
        let yaml = &config.jobs[0].shown_yaml;
        assert!(yaml.contains("azure_sd_configs:") && yaml.contains("subscription_id: sub"), "{yaml}");
        assert!(!yaml.contains("s3cr3t"), "{yaml}");
        assert_eq!(yaml.matches("<secret>").count(), 1, "{yaml}");
    }
}
