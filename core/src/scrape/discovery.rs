//! Targets from a job's `static_configs` and `file_sd_configs`, turned into scrape targets
//! as Prometheus turns them (`targets`): the job's settings as labels, the job's
//! `relabel_configs` over them, then the URL made of what is left and the target's labels.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::config::{FileSd, HistogramScraping, Scheme, ScrapeJob, TargetGroup};
use crate::api::params::parse_prometheus_duration_ms;
use crate::ingest::relabel::get;

/// A target to scrape.
#[derive(Debug, Clone)]
pub struct Target {
    pub job: Arc<ScrapeJob>,
    /// Its labels before relabeling (Prometheus' `discoveredLabels`).
    pub discovered: DiscoveredLabels,
    /// The labels every series of the target gets, sorted.
    pub labels: Vec<(String, String)>,
    pub scheme: Scheme,
    /// The address's host (IPv6 without brackets) and port.
    pub host: String,
    pub port: u16,
    /// Why its address cannot be asked (a bare IPv6 address, an empty host, a port that is
    /// not a number): Prometheus makes such a target and fails its scrapes, so it is listed
    /// and each scrape fails with this.
    pub unreachable: Option<String>,
    pub path_and_query: String,
    pub url: String,
    /// The Unix socket its scrapes connect over instead of the address (its
    /// `__unix_socket__` label, as in Prometheus 3.14); the address then gives only the Host
    /// header and the TLS server name.
    pub unix_socket: Option<PathBuf>,
    pub interval_ms: i64,
    pub timeout_ms: i64,
    /// How its histograms are read: the job's settings, or its `__scrape_native_histograms__`,
    /// `__always_scrape_classic_histograms__` and `__convert_classic_histograms_to_nhcb__`
    /// labels where relabeling set them.
    pub histograms: HistogramScraping,
    /// Stable over restarts and equal on every executor: the target's identity (every
    /// label left by relabeling, its schedule and URL among them) and where in its interval
    /// it is scraped.
    pub key: u64,
    /// Which executor scrapes it: a hash of the job and the target's labels only, so a
    /// target whose schedule or URL changes on a reload (a new key) stays on its executor,
    /// and its series are handed to its new loop instead of being marked stale.
    pub placement: u64,
    /// Distinct series it may write per UTC day (`ScrapeJob::series_limit`, or its
    /// `__series_limit__` label); 0: no limit.
    pub series_limit: usize,
}

impl Target {
    /// Whether its labels match every matcher (a label it lacks reads as empty, as a
    /// series' would): `match_target` of `/api/v1/targets/metadata`, `label_search` of `/targets`.
    pub fn matches(&self, matchers: &[tsdb::Matcher]) -> bool {
        let label = |name: &str| self.labels.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str());
        matchers.iter().all(|m| m.matches(label(&m.name)))
    }
}

/// What became of one discovered target.
#[derive(Debug)]
pub enum Discovered {
    /// Shared with the target's scrape loop and `/api/v1/targets` (and, for a network
    /// source's group, with every executor through `relabeled::RelabeledGroups`).
    Active(Arc<Target>),
    /// Dropped by the job's `relabel_configs`.
    Dropped(DiscoveredLabels),
    /// Its labels do not make a target (no address, a bad scheme or interval, ...).
    Invalid { job: String, discovered: Vec<(String, String)>, error: String },
}

/// Where a target's labels before relabeling (Prometheus' `discoveredLabels`) come from:
/// its job, group and which of the group's addresses. `/api/v1/targets` remakes the labels
/// when asked (`labels`), instead of every target (20,000 of a large Kubernetes cluster,
/// say) holding a copy of them.
#[derive(Debug, Clone)]
pub struct DiscoveredLabels {
    pub job: Arc<ScrapeJob>,
    group: Arc<TargetGroup>,
    address: usize,
}

impl DiscoveredLabels {
    /// The labels before relabeling, sorted.
    pub fn labels(&self) -> Vec<(String, String)> {
        self.group.targets.get(self.address).map_or_else(Vec::new, |address| discovered_labels(&self.job, &self.group, address))
    }
}

fn set_if_empty(labels: &mut Vec<(String, String)>, name: &str, value: &str) {
    if get(labels, name).is_empty() {
        labels.retain(|(n, _)| n != name);
        labels.push((name.to_string(), value.to_string()));
    }
}

/// Prometheus' duration text of `ms` (`15s`, `1m30s`, `0s`), as its `model.Duration` writes
/// it (its `__scrape_interval__`, a shown configuration): years and weeks only when they
/// divide it (`90d`, not `12w6d`; `2w`; `1y`).
pub fn duration_text(ms: i64) -> String {
    if ms <= 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut left = ms;
    for (unit, size, exact) in [("y", 31_536_000_000, true), ("w", 604_800_000, true), ("d", 86_400_000, false), ("h", 3_600_000, false), ("m", 60_000, false), ("s", 1_000, false), ("ms", 1, false)] {
        if exact && left % size != 0 {
            continue;
        }
        if left >= size {
            out.push_str(&format!("{}{unit}", left / size));
            left %= size;
        }
    }
    out
}

/// The targets of `groups` for `job`.
pub fn targets<'a>(job: &Arc<ScrapeJob>, groups: impl IntoIterator<Item = &'a Arc<TargetGroup>>) -> Vec<Discovered> {
    let mut out = Vec::new();
    for group in groups {
        for (at, address) in group.targets.iter().enumerate() {
            let mut labels = discovered_labels(job, group, address);
            let discovered = DiscoveredLabels { job: job.clone(), group: group.clone(), address: at };
            if !job.target_relabeler.apply(&mut labels) {
                out.push(Discovered::Dropped(discovered));
                continue;
            }
            match target(job, labels, discovered.clone()) {
                Ok(t) => out.push(Discovered::Active(Arc::new(t))),
                Err(error) => out.push(Discovered::Invalid { job: job.name.clone(), discovered: discovered.labels(), error }),
            }
        }
    }
    out
}

/// The labels by which relabeling sets a target's `HistogramScraping`.
const NATIVE_LABEL: &str = "__scrape_native_histograms__";
/// A target's label naming the Unix socket its scrapes connect over.
const UNIX_SOCKET_LABEL: &str = "__unix_socket__";
const CLASSIC_TOO_LABEL: &str = "__always_scrape_classic_histograms__";
const CONVERT_NHCB_LABEL: &str = "__convert_classic_histograms_to_nhcb__";

/// A boolean as Go's `strconv.ParseBool` reads it.
fn parse_go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// The target's histogram choices from its labels after relabeling, the job's where a label
/// is empty; a label that is no boolean makes no target, as in Prometheus.
fn histogram_scraping(job: &ScrapeJob, labels: &[(String, String)]) -> Result<HistogramScraping, String> {
    let mut choices = job.histogram_scraping();
    for (name, what, choice) in [
        (CONVERT_NHCB_LABEL, "convert classic histograms to nhcb", &mut choices.convert_nhcb),
        (CLASSIC_TOO_LABEL, "always scrape classic histograms", &mut choices.classic_too),
        (NATIVE_LABEL, "scrape native histograms", &mut choices.native),
    ] {
        let text = get(labels, name);
        if !text.is_empty() {
            *choice = parse_go_bool(text).ok_or_else(|| format!("error parsing {what}: strconv.ParseBool: parsing {text:?}: invalid syntax"))?;
        }
    }
    Ok(choices)
}

/// The labels of the target at `address` of `group` before relabeling: the group's, the
/// address, and the job's defaults where the group sets none, sorted: `__address__`,
/// `__scheme__`, `__metrics_path__`, `__scrape_interval__`, `__scrape_timeout__`,
/// `__param_<name>` and the three histogram choices' labels (`__scrape_native_histograms__`,
/// ...).
fn discovered_labels(job: &ScrapeJob, group: &TargetGroup, address: &str) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = group.labels.iter().filter(|(n, _)| *n != "__address__").map(|(n, v)| (n.clone(), v.clone())).collect();
    labels.push(("__address__".into(), address.to_string()));
    set_if_empty(&mut labels, "job", &job.name);
    set_if_empty(&mut labels, "__scheme__", job.scheme.as_str());
    set_if_empty(&mut labels, "__metrics_path__", &job.metrics_path);
    set_if_empty(&mut labels, "__scrape_interval__", &duration_text(job.interval_ms));
    set_if_empty(&mut labels, "__scrape_timeout__", &duration_text(job.timeout_ms));
    let histograms = job.histogram_scraping();
    for (name, on) in [(CONVERT_NHCB_LABEL, histograms.convert_nhcb), (CLASSIC_TOO_LABEL, histograms.classic_too), (NATIVE_LABEL, histograms.native)] {
        set_if_empty(&mut labels, name, if on { "true" } else { "false" });
    }
    for (name, values) in &job.params {
        if let Some(first) = values.first() {
            set_if_empty(&mut labels, &format!("__param_{name}"), first);
        }
    }
    labels.sort();
    labels
}

/// Splits `host:port`, `[v6]:port`, `host` or `[v6]` (the scheme's port then).
pub(crate) fn split_address(address: &str, scheme: Scheme) -> Result<(String, u16), String> {
    let default_port = match scheme {
        Scheme::Http => 80,
        Scheme::Https => 443,
    };
    let bad = || format!("{address:?} is not a host:port address");
    if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => default_port,
            None => return Err(bad()),
        };
        return Ok((host.to_string(), port));
    }
    if address.is_empty() || address.contains('/') || address.contains(char::is_whitespace) {
        return Err(bad());
    }
    match address.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && !host.is_empty() => Ok((host.to_string(), port.parse().map_err(|_| bad())?)),
        Some(_) => Err(bad()),
        None => Ok((address.to_string(), default_port)),
    }
}

/// `host:port`, the host in brackets when it holds a colon (an IPv6 address), as Go's
/// `net.JoinHostPort` writes the addresses the service discoveries make.
pub(crate) fn join_host_port(host: &str, port: impl std::fmt::Display) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Reads `null` as the type's default (Go leaves the zero value), for the JSON answers of
/// the discoveries; a missing field is covered by the container's `#[serde(default)]`.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + serde::Deserialize<'de>,
{
    use serde::Deserialize;
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A label name made of Prometheus' legal characters: every character outside
/// `[a-zA-Z0-9_]` as `_` (its `SanitizeLabelName`), for discovered metadata keys.
pub(crate) fn sanitize_label_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

/// `path` and `more` joined as Go's `path.Join` joins them, from the root: cleaned of empty
/// and `.` segments, `..` taking the one before, no trailing slash (`/a/b`, `/`).
pub(crate) fn join_path(path: &str, more: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/').chain(more.split('/')) {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    format!("/{}", segments.join("/"))
}

/// Percent-encodes a query component as Go's `url.QueryEscape` does (space as `+`).
pub(crate) fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The target of relabeled `labels`: the URL made of what is left, and the target's labels
/// (every label not starting with `__`, `instance` defaulting to the address).
fn target(job: &Arc<ScrapeJob>, mut labels: Vec<(String, String)>, discovered: DiscoveredLabels) -> Result<Target, String> {
    let address = get(&labels, "__address__").to_string();
    if address.is_empty() {
        return Err("no address".into());
    }
    let scheme_text = get(&labels, "__scheme__");
    let scheme = Scheme::parse(scheme_text).ok_or_else(|| format!("invalid scheme {scheme_text:?}"))?;
    // Prometheus refuses only an address holding a `/`; any other its scrapes fail on.
    if address.contains('/') {
        return Err(format!("{address:?} is not a valid hostname"));
    }
    let (host, port, unreachable) = match split_address(&address, scheme) {
        Ok((host, port)) => (host, port, None),
        Err(error) => (String::new(), 0, Some(error)),
    };
    let duration = |name: &str| {
        let text = get(&labels, name);
        parse_prometheus_duration_ms(text).filter(|ms| *ms > 0).ok_or_else(|| format!("invalid {name} {text:?}"))
    };
    let (interval_ms, timeout_ms) = (duration("__scrape_interval__")?, duration("__scrape_timeout__")?);
    if timeout_ms > interval_ms {
        return Err(format!("__scrape_timeout__ {} is greater than __scrape_interval__ {}", duration_text(timeout_ms), duration_text(interval_ms)));
    }
    let histograms = histogram_scraping(job, &labels)?;
    // VictoriaMetrics' `__series_limit__`: 0 or less lifts the job's limit for this target.
    let series_limit = match get(&labels, "__series_limit__") {
        "" => job.series_limit,
        text => text.parse::<i64>().map_err(|_| format!("invalid __series_limit__ {text:?}"))?.max(0) as usize,
    };
    // Go's URL escapes a `?` in the path (it is not the query's start).
    let path = get(&labels, "__metrics_path__").replace('?', "%3F");
    // The job's params, the first value of each replaced by its `__param_` label.
    let mut params: BTreeMap<String, Vec<String>> = job.params.iter().cloned().collect();
    for (name, value) in &labels {
        if let Some(param) = name.strip_prefix("__param_") {
            let values = params.entry(param.to_string()).or_default();
            match values.first_mut() {
                Some(first) => *first = value.clone(),
                None => values.push(value.clone()),
            }
        }
    }
    let query: Vec<String> = params.iter().flat_map(|(name, values)| values.iter().map(move |v| format!("{}={}", query_escape(name), query_escape(v)))).collect();
    let path_and_query = if query.is_empty() { path.clone() } else { format!("{path}?{}", query.join("&")) };
    if !path_and_query.starts_with('/') {
        return Err(format!("invalid __metrics_path__ {path:?}"));
    }
    let url = format!("{}://{address}{path_and_query}", scheme.as_str());
    let unix_socket = Some(get(&labels, UNIX_SOCKET_LABEL)).filter(|path| !path.is_empty()).map(PathBuf::from);
    set_if_empty(&mut labels, "instance", &address);
    // The key covers every label left by relabeling (its schedule too), as Prometheus'
    // target hash does: a target whose interval changes is a new target.
    labels.retain(|(n, v)| !n.starts_with("__meta_") && !v.is_empty());
    labels.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (&job.name, &labels).hash(&mut hasher);
    let key = hasher.finish();
    labels.retain(|(n, _)| !n.starts_with("__"));
    // Relabeling grew the vector for the discovered labels; the target keeps a few.
    labels.shrink_to_fit();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (&job.name, &labels).hash(&mut hasher);
    Ok(Target { job: job.clone(), discovered, labels, scheme, host, port, unreachable, path_and_query, url, unix_socket, interval_ms, timeout_ms, histograms, key, placement: hasher.finish(), series_limit })
}

/// The files a file_sd entry's patterns name now (a `*` in the last element matches any
/// text; no match is no file).
pub(crate) fn expand(patterns: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for pattern in patterns {
        let name = pattern.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !name.contains('*') {
            files.push(pattern.clone());
            continue;
        }
        let dir = pattern.parent().unwrap_or(Path::new("."));
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut found: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.file_name().is_some_and(|n| wildcard_match(&name, &n.to_string_lossy()))).collect();
        found.sort();
        files.extend(found);
    }
    files
}

/// `*` matches any run of characters; everything else itself.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return pattern == text;
    }
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// What identifies the files' contents for change detection: each file's name, length
/// and modification time.
pub fn fingerprint(file_sd: &[FileSd]) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    file_sd
        .iter()
        .flat_map(|f| expand(&f.patterns))
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let (len, modified) = meta.map_or((0, None), |m| (m.len(), m.modified().ok()));
            (p, len, modified)
        })
        .collect()
}

/// The last good target groups of each file_sd file, so that a file caught half-written
/// (or unreadable, or not parseable) keeps its targets until it is good again, as Prometheus'
/// file discovery keeps them. A file no longer matched by the patterns is forgotten.
#[derive(Debug, Default)]
pub struct FileSdCache {
    groups: std::collections::HashMap<PathBuf, Vec<TargetGroup>>,
}

impl FileSdCache {
    /// The target groups of `file_sd`'s files now, and the errors met reading them.
    pub fn read(&mut self, file_sd: &[FileSd]) -> (Vec<TargetGroup>, Vec<String>) {
        let mut groups = Vec::new();
        let mut errors = Vec::new();
        let files = file_sd.iter().flat_map(|f| expand(&f.patterns)).collect::<Vec<_>>();
        for path in &files {
            match read_groups(path) {
                Ok(read) => {
                    self.groups.insert(path.clone(), read);
                }
                Err(error) => errors.push(format!("{error} (its last good targets are kept)")),
            }
            groups.extend(self.groups.get(path).cloned().unwrap_or_default());
        }
        self.groups.retain(|path, _| files.contains(path));
        (groups, errors)
    }
}

/// One file_sd file's groups, each with the file's name as `__meta_filepath` (Prometheus').
/// An empty JSON file is an error, as there; an empty YAML file has no groups.
fn read_groups(path: &Path) -> Result<Vec<TargetGroup>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let is_json = path.extension().is_some_and(|e| e == "json");
    let mut groups: Vec<TargetGroup> = if is_json {
        serde_json::from_str(&text).map_err(|e| format!("cannot parse {}: {e}", path.display()))?
    } else if text.trim().is_empty() {
        Vec::new()
    } else {
        serde_saphyr::from_str(&text).map_err(|e| format!("cannot parse {}: {e}", path.display()))?
    };
    for group in &mut groups {
        group.labels.insert("__meta_filepath".into(), path.to_string_lossy().into_owned());
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::label_limits::LabelLimits;
    use crate::scrape::config::ScrapeConfig;

    fn job(text: &str) -> Arc<ScrapeJob> {
        ScrapeConfig::from_yaml(text, Path::new("/tmp"), LabelLimits::default()).unwrap().jobs.remove(0)
    }

    fn group(targets: &[&str], labels: &[(&str, &str)]) -> Arc<TargetGroup> {
        Arc::new(TargetGroup { targets: targets.iter().map(|t| t.to_string()).collect(), labels: labels.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect() })
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_static_target_gets_job_instance_and_its_url() {
        let j = job("scrape_configs: [{job_name: node, scrape_interval: 15s, params: {module: [a b, c]}}]");
        let found = targets(&j, &[group(&["host1:9100"], &[("env", "prod")])]);
        let [Discovered::Active(t)] = found.as_slice() else { panic!("{found:?}") };
        assert_eq!(t.labels, pairs(&[("env", "prod"), ("instance", "host1:9100"), ("job", "node")]));
        assert_eq!(t.url, "http://host1:9100/metrics?module=a+b&module=c");
        assert_eq!((t.host.as_str(), t.port, t.interval_ms, t.timeout_ms), ("host1", 9100, 15_000, 10_000));
        let discovered = t.discovered.labels();
        assert!(discovered.contains(&("__scrape_interval__".to_string(), "15s".to_string())));
        assert!(discovered.contains(&("__param_module".to_string(), "a b".to_string())));
    }

    #[test]
    fn relabeling_moves_the_address_and_drops_targets() {
        // The blackbox exporter's pattern: the target becomes a parameter and the exporter the address.
        let j = job(
            "scrape_configs: [{job_name: probe, metrics_path: /probe, relabel_configs: [{source_labels: [__address__], target_label: __param_target}, {source_labels: [__param_target], target_label: instance}, {target_label: __address__, replacement: 'bb:9115'}, {source_labels: [instance], regex: 'skip.*', action: drop}]}]",
        );
        let found = targets(&j, &[group(&["https://example.org", "skip.me"], &[])]);
        let Discovered::Active(t) = &found[0] else { panic!("{found:?}") };
        assert_eq!(t.url, "http://bb:9115/probe?target=https%3A%2F%2Fexample.org");
        assert_eq!(t.labels, pairs(&[("instance", "https://example.org"), ("job", "probe")]));
        assert!(matches!(&found[1], Discovered::Dropped(_)));
    }

    #[test]
    fn a_target_with_another_schedule_is_another_target() {
        let j = job("scrape_configs: [{job_name: a}]");
        let key = |labels: &[(&str, &str)]| match targets(&j, &[group(&["h:1"], labels)]).pop() {
            Some(Discovered::Active(t)) => t.key,
            other => panic!("{other:?}"),
        };
        assert_eq!(key(&[]), key(&[("__meta_x", "y")]));
        assert_ne!(key(&[]), key(&[("__scrape_interval__", "30s")]));
        assert_ne!(key(&[]), key(&[("team", "b")]));
        let found = targets(&j, &[group(&["h:1"], &[("__metrics_path__", "/a?b")])]);
        let Some(Discovered::Active(t)) = found.first() else { panic!("{found:?}") };
        assert_eq!(t.url, "http://h:1/a%3Fb");
    }

    #[test]
    fn a_unix_socket_label_routes_the_target_and_is_not_a_series_label() {
        let j = job("scrape_configs: [{job_name: a, relabel_configs: [{source_labels: [sock], regex: '(.+)', target_label: __unix_socket__, replacement: '/run/$1.sock'}]}]");
        let found = targets(&j, &[group(&["localhost"], &[("sock", "node")]), group(&["h:1"], &[])]);
        let Discovered::Active(over_socket) = &found[0] else { panic!("{found:?}") };
        assert_eq!(over_socket.unix_socket.as_deref(), Some(Path::new("/run/node.sock")));
        assert_eq!(over_socket.url, "http://localhost/metrics");
        assert_eq!(over_socket.labels, pairs(&[("instance", "localhost"), ("job", "a"), ("sock", "node")]));
        let Discovered::Active(over_network) = &found[1] else { panic!("{found:?}") };
        assert_eq!(over_network.unix_socket, None);
        // The socket is part of the target's identity: another socket is another target.
        let key = |socket: &str| match targets(&j, &[group(&["localhost"], &[("sock", socket)])]).pop() {
            Some(Discovered::Active(t)) => t.key,
            other => panic!("{other:?}"),
        };
        assert_ne!(key("node"), key("other"));
    }

    #[test]
    fn bad_target_labels_are_reported() {
        let j = job("scrape_configs: [{job_name: a, relabel_configs: [{target_label: __scrape_timeout__, replacement: 2m}]}]");
        let found = targets(&j, &[group(&["h:1", "no port:x"], &[])]);
        let Discovered::Invalid { error, .. } = &found[0] else { panic!("{found:?}") };
        assert!(error.contains("__scrape_timeout__ 2m is greater"), "{error}");
        assert!(matches!(&found[1], Discovered::Invalid { .. }));
    }

    #[test]
    fn histogram_choices_come_from_the_job_and_relabeling_sets_them_per_target() {
        let j = job("scrape_configs: [{job_name: a, scrape_native_histograms: true, relabel_configs: [{source_labels: [nhcb], regex: 'yes', target_label: __convert_classic_histograms_to_nhcb__, replacement: 'T'}, {source_labels: [bad], regex: '(.+)', target_label: __scrape_native_histograms__}]}]");
        let found = targets(&j, &[group(&["h:1"], &[]), group(&["h:2"], &[("nhcb", "yes")]), group(&["h:3"], &[("__always_scrape_classic_histograms__", "1")]), group(&["h:4"], &[("bad", "maybe")])]);
        let choices = |at: usize| match &found[at] {
            Discovered::Active(t) => (t.histograms.native, t.histograms.classic_too, t.histograms.convert_nhcb),
            other => panic!("{other:?}"),
        };
        assert_eq!(choices(0), (true, false, false), "the job's");
        assert_eq!(choices(1), (true, false, true), "set by relabeling (Go's ParseBool takes T)");
        assert_eq!(choices(2), (true, true, false), "set by the discovered group");
        // The job's settings are discovered labels, as Prometheus shows them; internal, they
        // are not the target's labels.
        let Discovered::Active(t) = &found[0] else { panic!() };
        let discovered = t.discovered.labels();
        for (name, value) in [("__scrape_native_histograms__", "true"), ("__always_scrape_classic_histograms__", "false"), ("__convert_classic_histograms_to_nhcb__", "false")] {
            assert!(discovered.contains(&(name.to_string(), value.to_string())), "{name}: {discovered:?}");
        }
        assert!(t.labels.iter().all(|(name, _)| !name.starts_with("__")));
        // A value Go's ParseBool does not read makes no target, as in Prometheus.
        let Discovered::Invalid { error, .. } = &found[3] else { panic!("{found:?}") };
        assert_eq!(error, "error parsing scrape native histograms: strconv.ParseBool: parsing \"maybe\": invalid syntax");
    }

    #[test]
    fn an_address_prometheus_takes_but_cannot_ask_is_a_target_whose_scrapes_fail() {
        let j = job("scrape_configs: [{job_name: a}]");
        let found = targets(&j, &[group(&["2001:db8::5", ":5354", "h:port", "h:1/x", "h:2"], &[])]);
        for (at, address) in ["2001:db8::5", ":5354", "h:port"].iter().enumerate() {
            let Discovered::Active(t) = &found[at] else { panic!("{address}: {found:?}") };
            assert!(t.unreachable.as_deref().is_some_and(|e| e.contains("is not a host:port address")), "{t:?}");
            assert_eq!(t.url, format!("http://{address}/metrics"));
            assert!(t.labels.contains(&("instance".to_string(), address.to_string())));
        }
        // Prometheus refuses only an address holding a slash.
        let Discovered::Invalid { error, .. } = &found[3] else { panic!("{found:?}") };
        assert!(error.contains("is not a valid hostname"), "{error}");
        let Discovered::Active(t) = &found[4] else { panic!("{found:?}") };
        assert_eq!((t.host.as_str(), t.port, t.unreachable.as_deref()), ("h", 2, None));
    }

    #[test]
    fn addresses_split_as_urls_take_them() {
        assert_eq!(split_address("[::1]:9100", Scheme::Http), Ok(("::1".to_string(), 9100)));
        assert_eq!(split_address("example.org", Scheme::Https), Ok(("example.org".to_string(), 443)));
        assert_eq!(split_address("10.0.0.1:80", Scheme::Http), Ok(("10.0.0.1".to_string(), 80)));
        assert!(split_address("::1:9100", Scheme::Http).is_err());
        assert!(split_address("h:port", Scheme::Http).is_err());
        assert_eq!(duration_text(90_000), "1m30s");
        assert_eq!(duration_text(1_500), "1s500ms");
        // Years and weeks only when they divide it, as Prometheus' model.Duration writes them.
        for (ms, text) in [(0, "0s"), (120_000, "2m"), (7_776_000_000, "90d"), (1_209_600_000, "2w"), (31_536_000_000, "1y"), (3_600_000 * 25, "1d1h"), (691_200_000, "8d")] {
            assert_eq!(duration_text(ms), text, "{ms}");
        }
    }

    #[test]
    fn file_sd_reads_json_and_yaml_by_pattern() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.json"), r#"[{"targets": ["h1:1"], "labels": {"team": "x"}}]"#).unwrap();
        std::fs::write(dir.path().join("b.yml"), "- targets: ['h2:2']\n").unwrap();
        std::fs::write(dir.path().join("c.json"), "not json").unwrap();
        let sd = [FileSd { patterns: vec![dir.path().join("*.json"), dir.path().join("b.yml")], refresh_ms: 1000 }];
        let mut cache = FileSdCache::default();
        let (groups, errors) = cache.read(&sd);
        assert_eq!(groups.iter().map(|g| g.targets[0].as_str()).collect::<Vec<_>>(), vec!["h1:1", "h2:2"]);
        assert_eq!(groups[0].labels.get("team").map(String::as_str), Some("x"));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("c.json"));
        // A file caught half-written keeps its last good targets; a removed file drops them.
        std::fs::write(dir.path().join("a.json"), r#"[{"targets": ["h1:1"#).unwrap();
        let (groups, errors) = cache.read(&sd);
        assert_eq!(groups.iter().map(|g| g.targets[0].as_str()).collect::<Vec<_>>(), vec!["h1:1", "h2:2"]);
        assert!(errors.iter().any(|e| e.contains("a.json") && e.contains("last good")), "{errors:?}");
        std::fs::write(dir.path().join("a.json"), "").unwrap();
        assert_eq!(cache.read(&sd).0.len(), 2, "an empty JSON file is an error, not an empty list");
        std::fs::remove_file(dir.path().join("a.json")).unwrap();
        assert_eq!(cache.read(&sd).0.iter().map(|g| g.targets[0].as_str()).collect::<Vec<_>>(), vec!["h2:2"]);
        std::fs::write(dir.path().join("a.json"), r#"[{"targets": ["h1:1"], "labels": {"team": "x"}}]"#).unwrap();
        let before = fingerprint(&sd);
        std::fs::write(dir.path().join("a.json"), r#"[{"targets": ["h1:1", "h3:3"]}]"#).unwrap();
        assert_ne!(before, fingerprint(&sd));
        assert!(wildcard_match("*.json", "x.json") && wildcard_match("t-*-*.yml", "t-a-b.yml") && !wildcard_match("*.json", "x.yml"));
    }
}
