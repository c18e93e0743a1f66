//! End-to-end: VictoriaMetrics' per-target series limit (`series_limit`, a target's
//! `__series_limit__`): a target exposing more series than its limit has the first ones
//! stored and the rest left out, and the scrape reports `scrape_series_limit`,
//! `scrape_series_current` and `scrape_series_limit_samples_dropped` as VictoriaMetrics does.

mod support;

use std::time::Duration;

use support::*;

#[test]
fn a_target_past_its_series_limit_stores_what_fits_and_says_so() {
    let exporter = Exporter::start("lim_a 1\nlim_b 2\nlim_c 3\nlim_d 4\n");
    let dir = tempfile::tempdir().expect("tempdir");
    let scrape = format!(
        "scrape_configs:\n- job_name: capped\n  scrape_interval: 1s\n  series_limit: 100\n  static_configs: [{{targets: ['127.0.0.1:{}']}}]\n  relabel_configs: [{{target_label: __series_limit__, replacement: '2'}}]\n",
        exporter.port
    );
    let server = Server::start(&write_scrape_config(dir.path(), scrape));
    let reported = poll_query(&server, "scrape_series_limit_samples_dropped", "a scrape's series limit report", Duration::from_secs(30), |result| {
        result.first().map(|s| s["value"][1].as_str().unwrap_or("").to_string())
    });
    assert_eq!(reported, "2", "two of the four series are past the limit");
    let value = |query: &str| poll_query(&server, query, query, Duration::from_secs(10), |r| r.first().map(|s| s["value"][1].as_str().unwrap_or("").to_string()));
    assert_eq!(value("scrape_series_limit"), "2");
    assert_eq!(value("scrape_series_current"), "2");
    assert_eq!(value("count({__name__=~\"lim_.\"})"), "2", "only the series let in are stored");
    // The report series themselves are not limited.
    assert_eq!(value("up"), "1");
    assert!(server.stop());
}
