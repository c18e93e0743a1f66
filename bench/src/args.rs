//! Command-line parsing for `metricstor-bench` (small enough not to need a parser crate).

use std::collections::HashMap;

pub const USAGE: &str = "\
metricstor-bench — load generator for remote_write + Prometheus API servers

USAGE:
    metricstor-bench write [OPTIONS]
    metricstor-bench query [--url BASE] [--seconds S] [--concurrency C] [--end-ms MS] [--json]
    metricstor-bench verify --start-ms MS [--url BASE] [--series N] [--samples T] [--interval-ms MS]

WRITE OPTIONS:
    --url URL             remote_write endpoint (default http://127.0.0.1:9101/api/v1/write)
    --series N            distinct series (default 10000)
    --samples T           samples per series (default 10)
    --interval-ms MS      time between a series' samples (default 15000)
    --batch-series B      series per request; each request carries one sample time (default 2000)
    --connections C       parallel connections (default 4)
    --protocol v1|v2      remote_write 1.0 or 2.0 (default v1)
    --start-ms MS         first sample time (default: now - samples * interval)
    --seed S              generator seed (default 1)
    --json                print the summary as one JSON object

QUERY: a dashboard mix (range queries over 1h/6h/24h, instant query, label values, series)
from C threads for S seconds; p50/p90/p99 per kind. BASE is e.g. http://127.0.0.1:9101.

VERIFY: after a write run with the same --series/--samples/--interval-ms/--start-ms, checks
that the server holds exactly the samples written, per metric name.
";

/// `--key value` and `--flag` options after the subcommand.
pub struct Args {
    pub command: String,
    values: HashMap<String, String>,
    flags: Vec<String>,
}

const FLAGS: &[&str] = &["json"];

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
