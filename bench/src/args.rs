//! Command-line parsing for `metricstor-bench` (small enough not to need a parser crate).

use std::collections::HashMap;

pub const USAGE: &str = "\
metricstor-bench — load generator for remote_write + Prometheus API servers

USAGE:
    metricstor-bench write [OPTIONS]
    metricstor-bench query [--url BASE] [--seconds S] [--concurrency C] [--end-ms MS]
                           [--rate-window 5m] [--refresh-shift-s S] [--requests-per-s R] [--json]
    metricstor-bench verify (--start-ms MS [WRITE GENERATOR OPTIONS] | --expect WRITE_JSON) [--url BASE]

WRITE OPTIONS:
    --url URL             remote_write endpoint (default http://127.0.0.1:9101/api/v1/write)
    --series N            series, rounded up to whole targets (default 10000)
    --metrics M           metric families per target: counters, gauges and classic histograms
                          mixed (default 24; 3 of them histograms, 63 series per target)
    --buckets B           upper bounds per histogram, series = B + 3 per histogram (default 11)
    --histograms MODE     classic (the _bucket/_count/_sum float series above) or native: one
                          series per histogram family (no suffix) whose samples are integer
                          native histograms, observations from the same distribution (default
                          classic); samples/s, --rate and per-name counts then count histograms
                          as samples, reported apart as histograms
    --native-schema S     exponential schema of native histograms, -4..=8 (default 3)
    --instances I         distinct instance label values (default 100)
    --jobs J              distinct job label values (default 20)
    --samples T           samples per series (default 10)
    --interval-ms MS      time between a series' samples (default 15000)
    --churn-ratio F       fraction of targets replaced by new pods at each churn (default 0)
    --churn-interval K    churn every K sample intervals (default 0 = never)
    --rate R              offered samples/s over all connections (default 0 = as fast as possible)
    --batch-series B      series per request; each request carries one sample time (default 2000)
    --connections C       parallel connections (default 4)
    --protocol v1|v2      remote_write 1.0 or 2.0 (default v1)
    --start-timestamps    send counters' and histograms' start times (their series' first
                          sample time; 2.0's start_timestamp; needs --protocol v2)
    --http2               HTTP/2 (h2c prior knowledge on http://, ALPN h2 on https://)
    --ca-file PEM         CA of the server's certificate (https:// URLs)
    --cert-file PEM       client certificate for mutual TLS (with --key-file)
    --key-file PEM        its private key
    --no-retry            count 429/503 as rejected requests instead of retrying them
    --start-ms MS         first sample time (default: now - samples * interval)
    --seed S              generator seed (default 1)
    --json                print the summary as one JSON object (with acked samples per name)

QUERY: a dashboard mix (range queries over 1h/6h/24h incl. a histogram quantile, instant
query, label values, series) from C threads for S seconds; p50/p90/p99 per kind. BASE is e.g.
http://127.0.0.1:9101. --rate-window is the rate() window (Grafana's $__rate_interval: four
scrape intervals); --refresh-shift-s moves the windows forward in ten steps of S s ending at
--end-ms, then starts over, as refreshes of a dashboard whose time moves would.
By default each client sends its next request when the last is answered (closed loop: a
faster server gets more requests). --requests-per-s R sends R requests per second over all
clients on a fixed timetable instead (open loop, as dashboards refreshing on a timer do),
each latency counted from the request's scheduled time, so a server that falls behind is
charged for the wait; C must then cover R times the slowest answer.

VERIFY: after a write run with the same generator options (--series/--metrics/--buckets/
--histograms/--instances/--jobs/--samples/--interval-ms/--start-ms), checks that the server
holds exactly the samples written, per metric name (count_over_time counts histograms too),
and that native histogram series read back as histograms at the end. `--expect FILE` instead reads the
write run's --json output and checks the acknowledged samples per name (for --no-retry runs).
";

/// `--key value` and `--flag` options after the subcommand.
pub struct Args {
    pub command: String,
    values: HashMap<String, String>,
    flags: Vec<String>,
}

const FLAGS: &[&str] = &["json", "http2", "no-retry", "start-timestamps"];

impl Args {
    pub fn parse(mut raw: impl Iterator<Item = String>) -> Result<Args, String> {
        let command = raw.next().ok_or("missing subcommand")?;
        let mut values = HashMap::new();
        let mut flags = Vec::new();
        while let Some(arg) = raw.next() {
            let key = arg.strip_prefix("--").ok_or_else(|| format!("unexpected argument {arg:?}"))?;
            if FLAGS.contains(&key) {
                flags.push(key.to_string());
                continue;
            }
            let value = raw.next().ok_or_else(|| format!("--{key} needs a value"))?;
            values.insert(key.to_string(), value);
        }
        Ok(Args { command, values, flags })
    }

    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    pub fn string(&mut self, name: &str, default: &str) -> String {
        self.values.remove(name).unwrap_or_else(|| default.to_string())
    }

    pub fn number<T: std::str::FromStr>(&mut self, name: &str, default: T) -> Result<T, String> {
        match self.values.remove(name) {
            None => Ok(default),
            Some(text) => text.parse().map_err(|_| format!("--{name}: {text:?} is not a valid number")),
        }
    }

    /// Fails on options nobody consumed (typos).
    pub fn finish(self) -> Result<(), String> {
        match self.values.keys().next() {
            Some(key) => Err(format!("unknown option --{key}")),
            None => Ok(()),
        }
    }
}
