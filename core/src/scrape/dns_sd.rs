//! Targets from `dns_sd_configs`, as Prometheus' DNS service discovery finds them: each name
//! looked up for SRV records (the default), or A, AAAA, MX or NS records, through the servers
//! and search domains of `scrape.resolv_conf`, /etc/resolv.conf by default (`scrape::dns`).
//! Executor 0 looks the names up and puts the groups in the shared `AskedGroups` (the source
//! names the record type, port and name), which every executor reads.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::asked_groups::{sleep_unless_stopped, unless_stopped, AskedGroups};
pub mod config;

use self::config::DnsSd;
use super::config::{ScrapeConfig, TargetGroup};
use super::discovery::join_host_port;
use super::dns::Record;

/// Starts looking up every dns_sd name of `config` on this executor, until `stopped`
/// closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, asked: &Arc<AskedGroups>, resolv_conf: &Arc<Path>, stopped: &async_channel::Receiver<()>) {
    for (j, job) in config.jobs.iter().enumerate() {
        for i in 0..job.dns_sd.len() {
            let (config, asked, resolv_conf, stopped) = (config.clone(), asked.clone(), resolv_conf.clone(), stopped.clone());
            glommio::spawn_local(async move {
                let job = &config.jobs[j];
                refresh_loop(&job.name, &job.dns_sd[i], &asked, &resolv_conf, &stopped).await;
            })
            .detach();
        }
    }
}

/// Looks `sd`'s names up now and then every refresh interval (`refresh_interval`, 30 s by
/// default) until `stopped` closes, all at once, each on a thread of its own. A name that no
/// longer exists has no targets; a lookup that fails keeps the name's last good targets and
/// is logged when the error changes.
async fn refresh_loop(job: &str, sd: &DnsSd, asked: &AskedGroups, resolv_conf: &Arc<Path>, stopped: &async_channel::Receiver<()>) {
    let mut last_errors: BTreeMap<String, String> = BTreeMap::new();
    loop {
        // Every name at once, each on a thread of its own: the resolver waits on blocking
        // sockets (up to servers x attempts x timeout per search name), which must hold
        // neither this executor nor its blocking pool, shared with queries. A lookup that
        // outlives its refresh (or a reload) ends on its own; its answer is dropped.
        let lookups: Vec<_> = sd.names.iter().map(|name| (name, look_up_on_a_thread(resolv_conf.clone(), name.clone(), sd.kind))).collect();
        let started = std::time::Instant::now();
        let deadline = Duration::from_millis(sd.refresh_ms as u64);
        for (name, answer) in lookups {
            let left = deadline.saturating_sub(started.elapsed());
            let within = futures_lite::future::or(async { Some(answer.recv().await.unwrap_or_else(|_| Err("the lookup thread ended without an answer".into()))) }, async {
                glommio::timer::sleep(left).await;
                None
            });
            let Some(answer) = unless_stopped(within, stopped).await else { return };
            let answer = answer.unwrap_or_else(|| Err(format!("no answer within the refresh interval ({deadline:?})")));
            asked.note_refresh("dns", job, answer.is_err(), Some(started.elapsed()));
            match answer {
                Ok(records) => {
                    if last_errors.remove(name).is_some() {
                        tracing::info!(job, name, records = records.len(), "dns_sd lookups succeed again");
                    }
                    asked.store(job, &sd.source(name), groups_of(name, sd.port, &records).into_iter().map(Arc::new).collect());
                }
                Err(error) => {
                    if last_errors.get(name) != Some(&error) {
                        tracing::warn!(job, name, %error, "dns_sd lookup failed; the name's last good targets are kept");
                        last_errors.insert(name.clone(), error);
                    }
                }
            }
        }
        if !sleep_unless_stopped(Duration::from_millis(sd.refresh_ms as u64), stopped).await {
            return;
        }
    }
}

/// Looks `name` up on a new thread (resolv.conf read there, at every lookup, as Prometheus
/// reads it); the answer arrives on the returned channel.
fn look_up_on_a_thread(resolv_conf: Arc<Path>, name: String, kind: super::dns::RecordType) -> async_channel::Receiver<Result<Vec<Record>, String>> {
    let (answer, answered) = async_channel::bounded(1);
    let spawned = std::thread::Builder::new().name("dns-sd-lookup".into()).spawn(move || {
        let result = std::fs::read_to_string(&resolv_conf).map_err(|e| format!("cannot read {}: {e}", resolv_conf.display())).and_then(|text| super::dns::lookup(&super::dns::ResolvConf::parse(&text), &name, kind));
        // Nobody waits any more after a reload or a refresh deadline: dropped quietly.
        let _ = answer.try_send(result);
    });
    if let Err(error) = spawned {
        tracing::warn!(%error, "dns_sd: cannot start a lookup thread");
    }
    answered
}

/// One group per record, with Prometheus' labels: an SRV record's target is `target:port`,
/// the others' are at `port`. Every target gets `__meta_dns_name`, and SRV, MX and NS targets
/// the record's target name (`__meta_dns_srv_record_target` and `__meta_dns_srv_record_port`,
/// `__meta_dns_mx_record_target`, `__meta_dns_ns_record_target`).
pub fn groups_of(name: &str, port: u16, records: &[Record]) -> Vec<TargetGroup> {
    let mut groups: Vec<TargetGroup> = records
        .iter()
        .map(|record| {
            let mut labels = BTreeMap::from([("__meta_dns_name".to_string(), name.to_string())]);
            let address = match record {
                Record::Srv { target, port } => {
                    labels.insert("__meta_dns_srv_record_target".into(), target.clone());
                    labels.insert("__meta_dns_srv_record_port".into(), port.to_string());
                    join_host_port(target.trim_end_matches('.'), *port)
                }
                Record::Mx { target } => {
                    labels.insert("__meta_dns_mx_record_target".into(), target.clone());
                    join_host_port(target.trim_end_matches('.'), port)
                }
                Record::Ns { target } => {
                    labels.insert("__meta_dns_ns_record_target".into(), target.clone());
                    join_host_port(target.trim_end_matches('.'), port)
                }
                Record::A(ip) => join_host_port(&ip.to_string(), port),
                Record::Aaaa(ip) => join_host_port(&ip.to_string(), port),
            };
            TargetGroup { targets: vec![address], labels }
        })
        .collect();
    // Servers rotate their answers (round-robin DNS): sorted, an unchanged set of records
    // is an unchanged answer, and no executor rediscovers for it.
    groups.sort_by(|a, b| (&a.targets, &a.labels).cmp(&(&b.targets, &b.labels)));
    groups.dedup();
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_become_targets_with_prometheus_labels() {
        let records = [
            Record::Srv { target: "node1.example.com.".into(), port: 9100 },
            Record::Mx { target: "mail.example.com.".into() },
            Record::Ns { target: "ns1.example.com.".into() },
            Record::A("192.0.2.7".parse().expect("ipv4")),
            Record::Aaaa("2001:db8::1".parse().expect("ipv6")),
        ];
        let groups = groups_of("_node._tcp.example.com", 9200, &records);
        let targets: Vec<&str> = groups.iter().map(|g| g.targets[0].as_str()).collect();
        assert_eq!(targets, vec!["192.0.2.7:9200", "[2001:db8::1]:9200", "mail.example.com:9200", "node1.example.com:9100", "ns1.example.com:9200"]);
        assert!(groups.iter().all(|g| g.labels.get("__meta_dns_name").map(String::as_str) == Some("_node._tcp.example.com")));
        let of = |target: &str| groups.iter().find(|g| g.targets[0] == target).map(|g| g.labels.clone()).unwrap_or_default();
        assert_eq!(of("node1.example.com:9100").get("__meta_dns_srv_record_target").map(String::as_str), Some("node1.example.com."));
        assert_eq!(of("node1.example.com:9100").get("__meta_dns_srv_record_port").map(String::as_str), Some("9100"));
        assert_eq!(of("mail.example.com:9200").get("__meta_dns_mx_record_target").map(String::as_str), Some("mail.example.com."));
        assert_eq!(of("ns1.example.com:9200").get("__meta_dns_ns_record_target").map(String::as_str), Some("ns1.example.com."));
        assert_eq!(of("192.0.2.7:9200").len(), 1);
        // A rotated answer is the same answer.
        let mut rotated = records.to_vec();
        rotated.rotate_left(2);
        assert_eq!(groups_of("_node._tcp.example.com", 9200, &rotated), groups);
    }
}
