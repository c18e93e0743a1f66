//! The discovery against the fake ZooKeeper server: targets found, followed through watch
//! notifications, kept when the servers go away, taken from the next server, and a missing
//! path read again.

use std::time::{Duration, Instant};

use super::config::ZookeeperSd;
use super::fake::Fake;
use super::member::Kind;
use super::*;
use crate::scrape::fake_api::run;

/// Quick retries, so that the tests wait little.
const FAST: Schedule = Schedule { backoff_first: Duration::from_millis(10), backoff_max: Duration::from_millis(40), missing_reread: Duration::from_millis(20) };

fn entry(kind: Kind, servers: &[&Fake], paths: &[&str]) -> ZookeeperSd {
    ZookeeperSd { source: "zk".to_string(), kind, servers: servers.iter().map(|f| f.address.clone()).collect(), paths: paths.iter().map(|p| p.to_string()).collect(), timeout_ms: 9_000 }
}

fn member(host: &str, port: u16) -> String {
    format!(r#"{{"serviceEndpoint": {{"host": "{host}", "port": {port}}}, "additionalEndpoints": {{"http": {{"host": "{host}", "port": 80}}}}, "status": "ALIVE", "shard": 1}}"#)
}

/// The targets stored for the entry, in order.
fn targets(results: &AskedGroups) -> Vec<String> {
    results.groups("job", "zk").iter().map(|g| g.targets.join(",")).collect()
}

/// Waits (polling, at most 10 s) until `check` holds.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
}

#[test]
fn members_are_found_and_followed_through_watches_with_pings_between() {
    let m1 = member("10.0.0.1", 31001);
    let fake = Fake::start(&[("/aurora", ""), ("/aurora/web", ""), ("/aurora/web/member_1", &m1), ("/aurora/web/member_2", &member("10.0.0.2", 31001)), ("/aurora/web/lock", "not a member"), ("/aurora/db", "")], 2_400);
    let sd = entry(Kind::Serverset, &[&fake], &["/aurora/web"]);
    let results = AskedGroups::default();
    let (stop, stopped) = async_channel::bounded::<()>(1);
    run(futures_lite::future::zip(watch(Entry { job: "job", sd: &sd, results: &results, schedule: FAST }, &stopped), async {
        eventually("the two members are targets", || targets(&results) == ["10.0.0.1:31001", "10.0.0.2:31001"]).await;
        let groups = results.groups("job", "zk");
        let labels: Vec<(&str, &str)> = groups[0].labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            labels,
            [
                ("__meta_serverset_endpoint_host", "10.0.0.1"),
                ("__meta_serverset_endpoint_host_http", "10.0.0.1"),
                ("__meta_serverset_endpoint_port", "31001"),
                ("__meta_serverset_endpoint_port_http", "80"),
                ("__meta_serverset_path", "/aurora/web/member_1"),
                ("__meta_serverset_shard", "1"),
                ("__meta_serverset_status", "ALIVE"),
            ]
        );
        // The handshake: protocol 0, no zxid seen, the timeout asked, a new session.
        assert_eq!(fake.handshakes(), [(0, 0, 9_000, 0, vec![0; 16])]);
        // Each node read for its data then its children, every read leaving a watch; /aurora/db
        // is not under the path.
        let requests = fake.requests();
        assert!(requests.iter().all(|(_, path, watch)| *watch && path.starts_with("/aurora/web")), "{requests:?}");
        assert_eq!(requests.len(), 8, "{requests:?}");
        assert_eq!(requests[..2], [(jute::OP_GET_DATA, "/aurora/web".to_string(), true), (jute::OP_GET_CHILDREN2, "/aurora/web".to_string(), true)]);

        fake.set("/aurora/web/member_3", &member("10.0.0.3", 31001));
        eventually("a new member is a target", || targets(&results).len() == 3).await;
        fake.set("/aurora/web/member_1", &member("10.0.0.9", 31009));
        eventually("a changed member is followed", || targets(&results) == ["10.0.0.9:31009", "10.0.0.2:31001", "10.0.0.3:31001"]).await;
        fake.remove("/aurora/web/member_2");
        eventually("a deleted member is no target", || targets(&results) == ["10.0.0.9:31009", "10.0.0.3:31001"]).await;

        // The session is kept alive at a third of the 2.4 s the server granted.
        eventually("the client pings", || fake.pings() >= 2).await;
        assert_eq!(fake.handshakes().len(), 1, "one session throughout");
        drop(stop);
    }));
}

#[test]
fn a_failed_server_gives_way_to_the_next_and_the_last_good_targets_are_kept() {
    let nerve = |host: &str| format!(r#"{{"host": "{host}", "port": 8080, "name": "web"}}"#);
    let first = Fake::start(&[("/nerve", ""), ("/nerve/i-1", &nerve("10.1.0.1"))], 9_000);
    let second = Fake::start(&[("/nerve", ""), ("/nerve/i-1", &nerve("10.1.0.1")), ("/nerve/i-2", &nerve("10.1.0.2"))], 9_000);
    let sd = entry(Kind::Nerve, &[&first, &second], &["/nerve"]);
    let results = AskedGroups::default();
    let (stop, stopped) = async_channel::bounded::<()>(1);
    run(futures_lite::future::zip(watch(Entry { job: "job", sd: &sd, results: &results, schedule: FAST }, &stopped), async {
        eventually("the first server's member is a target", || targets(&results) == ["10.1.0.1:8080"]).await;
        assert_eq!(results.groups("job", "zk")[0].labels.get("__meta_nerve_endpoint_name").map(String::as_str), Some("web"));
        assert_eq!(second.accepted(), 0);

        first.go_away();
        eventually("the second server is read", || targets(&results) == ["10.1.0.1:8080", "10.1.0.2:8080"]).await;

        second.go_away();
        let (tried_first, tried_second) = (first.accepted(), second.accepted());
        eventually("both servers are tried again, each more than once", || first.accepted() >= tried_first + 2 && second.accepted() >= tried_second + 2).await;
        assert_eq!(targets(&results), ["10.1.0.1:8080", "10.1.0.2:8080"], "the last good targets are kept");
        drop(stop);
    }));
}

#[test]
fn a_missing_path_gives_no_targets_and_is_read_again() {
    let fake = Fake::start(&[("/services", "")], 9_000);
    let sd = entry(Kind::Nerve, &[&fake], &["/services/web"]);
    let results = AskedGroups::default();
    let (stop, stopped) = async_channel::bounded::<()>(1);
    run(futures_lite::future::zip(watch(Entry { job: "job", sd: &sd, results: &results, schedule: FAST }, &stopped), async {
        eventually("the missing path was read", || fake.requests().len() == 1).await;
        assert!(results.groups("job", "zk").is_empty());
        // No watch can be left on a node that is not there: the path is read again on time.
        fake.set_quietly("/services/web", "");
        fake.set_quietly("/services/web/i-1", r#"{"host": "10.2.0.1", "port": 9100}"#);
        eventually("the path's member is found", || targets(&results) == ["10.2.0.1:9100"]).await;
        assert_eq!(fake.handshakes().len(), 1, "in the same session");
        drop(stop);
    }));
}
