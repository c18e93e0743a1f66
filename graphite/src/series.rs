//! Fixed-step series: conversion of raw samples onto the step grid, re-bucketing to a
//! coarser step (consolidation, summarize, maxDataPoints) and name/tag helpers.

use std::collections::BTreeMap;

use crate::aggr::Aggr;
use crate::eval::RawSeries;

/// A raw sample this close (ms) before an empty bucket still counts for it, absorbing
/// ingestion jitter (as VictoriaMetrics does).
const JITTER_MS: i64 = 2000;

/// One evaluated series on a fixed step grid.
#[derive(Debug, Clone)]
pub struct Series {
    /// The Graphite name shown as "target".
    pub name: String,
    /// Graphite tags; always has "name".
    pub tags: BTreeMap<String, String>,
    /// The expression that produced the series (Graphite's pathExpression).
    pub path_expression: String,
    /// Timestamp of `values[0]`.
    pub start_ms: i64,
    /// Distance between points, > 0.
    pub step_ms: i64,
    /// NaN = no value.
    pub values: Vec<f64>,
    /// The function used to merge points when the series is consolidated (consolidateBy).
    pub(crate) consolidation: Option<Aggr>,
    /// The series' own xFilesFactor (0 = use the request's).
    pub(crate) x_files_factor: f64,
}

impl Series {
    /// A series with the given identity and points; its tag "name" is set from `name`
    /// when missing.
    pub fn new(
        name: impl Into<String>,
        mut tags: BTreeMap<String, String>,
        path_expression: impl Into<String>,
        start_ms: i64,
        step_ms: i64,
        values: Vec<f64>,
    ) -> Series {
        let name = name.into();
        tags.entry("name".to_string()).or_insert_with(|| name.clone());
        Series {
            name,
            tags,
            path_expression: path_expression.into(),
            start_ms,
            step_ms: step_ms.max(1),
            values,
            consolidation: None,
            x_files_factor: 0.0,
        }
    }

    /// Converts raw samples into a series on the grid `start_ms, start_ms + step_ms, ..`
    /// below `end_ms`; each point averages the samples in `[ts, ts + step)`.
    pub(crate) fn from_raw(raw: &RawSeries, path_expression: &str, start_ms: i64, end_ms: i64, step_ms: i64) -> Series {
        let mut tags = BTreeMap::new();
        let mut metric = String::new();
        for (k, v) in &raw.labels {
            if k == "__name__" {
                metric = v.clone();
            } else {
                tags.insert(k.clone(), v.clone());
            }
        }
        let name = series_path(&metric, tags.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        tags.insert("name".to_string(), metric);
        let n = raw.timestamps_ms.len().min(raw.values.len());
        let values = bucketize(&raw.timestamps_ms[..n], &raw.values[..n], start_ms, end_ms, step_ms, Aggr::Avg, 0.0, JITTER_MS);
        Series {
            name,
            tags,
            path_expression: path_expression.to_string(),
            start_ms,
            step_ms,
            values,
            consolidation: None,
            x_files_factor: 0.0,
        }
    }

    /// Timestamp of point `i`.
    pub(crate) fn ts(&self, i: usize) -> i64 {
        self.start_ms + i as i64 * self.step_ms
    }

    /// Re-buckets the series onto `start_ms + k*step_ms` below `end_ms`, merging the
    /// points in each `[ts, ts + step)` with `aggr`.
    pub(crate) fn resample(&mut self, aggr: Aggr, start_ms: i64, end_ms: i64, step_ms: i64, x_files_factor: f64) {
        let timestamps: Vec<i64> = (0..self.values.len()).map(|i| self.ts(i)).collect();
        self.values = bucketize(&timestamps, &self.values, start_ms, end_ms, step_ms, aggr, x_files_factor, 0);
        self.start_ms = start_ms;
        self.step_ms = step_ms.max(1);
    }

    /// Brings the series onto the grid `[start_ms, end_ms)` with `step_ms` using its
    /// consolidation function, unless it already is on it.
    pub(crate) fn consolidate(&mut self, start_ms: i64, end_ms: i64, step_ms: i64, default_xff: f64) {
        let len = grid_len(start_ms, end_ms, step_ms);
        if self.start_ms == start_ms && self.step_ms == step_ms && self.values.len() == len {
            return;
        }
        let xff = if self.x_files_factor > 0.0 { self.x_files_factor } else { default_xff };
        self.resample(self.consolidation.unwrap_or(Aggr::Avg), start_ms, end_ms, step_ms, xff);
    }

    /// Sets both the displayed name and the pathExpression.
    pub(crate) fn rename(&mut self, name: String) {
        self.path_expression = name.clone();
        self.name = name;
    }

    /// A copy with the same grid and identity but the given values.
    pub(crate) fn with_values(&self, values: Vec<f64>) -> Series {
        Series { values, ..self.clone() }
    }
}

/// Number of points of the grid `[start, end)` with `step`.
pub(crate) fn grid_len(start_ms: i64, end_ms: i64, step_ms: i64) -> usize {
    if end_ms <= start_ms || step_ms <= 0 {
        return 0;
    }
    (end_ms.saturating_sub(start_ms) / step_ms) as usize
}

#[allow(clippy::too_many_arguments)]
fn bucketize(
    timestamps: &[i64],
    values: &[f64],
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    aggr: Aggr,
    x_files_factor: f64,
    jitter_ms: i64,
) -> Vec<f64> {
    let len = grid_len(start_ms, end_ms, step_ms);
    let mut out = Vec::with_capacity(len);
    let mut i = timestamps.partition_point(|&t| t < start_ms);
    let mut ts = start_ms;
    for _ in 0..len {
        let bucket_end = ts + step_ms;
        let mut j = i;
        while j < timestamps.len() && timestamps[j] < bucket_end {
            j += 1;
        }
        let mut from = i;
        if i == j && i > 0 && jitter_ms > 0 && timestamps[i - 1] >= start_ms && ts - timestamps[i - 1] <= jitter_ms {
            from = i - 1;
        }
        out.push(aggr.apply_xff(x_files_factor, &values[from..j]));
        ts = bucket_end;
        i = j;
    }
    out
}

/// The dotted path of a series name: the metric part of `name;tag=v`, or the first path
/// found inside a function-call name such as `sumSeries(a.b.c)`.
/// A series' Graphite path: its metric name, then `;tag=value` for each tag in the order
/// given (tags sorted by name make the canonical path graphite-web's tag database uses).
pub fn series_path<'a>(metric: &str, tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut path = metric.to_string();
    for (tag, value) in tags {
        path.push(';');
        path.push_str(tag);
        path.push('=');
        path.push_str(value);
    }
    path
}

pub(crate) fn path_of_name(name: &str) -> String {
    if let Ok(expr) = crate::parse::parse_target(name) {
        let mut e = &expr;
        loop {
            match e {
                crate::Expr::Path(p) => return p.clone(),
                crate::Expr::Call(c) => {
                    if let Some(p) = c.args.iter().find_map(|a| match &a.value {
                        crate::Expr::Path(p) => Some(p),
                        _ => None,
                    }) {
                        return p.clone();
                    }
                    match c.args.first() {
                        Some(a) => e = &a.value,
                        None => break,
                    }
                }
                crate::Expr::Str(s) => return s.clone(),
                _ => break,
            }
        }
    }
    name.split(';').next().unwrap_or(name).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(labels: &[(&str, &str)], samples: &[(i64, f64)]) -> RawSeries {
        RawSeries {
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            timestamps_ms: samples.iter().map(|s| s.0).collect(),
            values: samples.iter().map(|s| s.1).collect(),
        }
    }

    #[test]
    fn raw_samples_onto_grid() {
        let r = raw(
            &[("__name__", "cpu.load"), ("host", "h1"), ("dc", "eu")],
            &[(5_000, 99.0), (10_000, 1.0), (15_000, 3.0), (31_000, 7.0), (50_000, 9.0)],
        );
        let s = Series::from_raw(&r, "cpu.*", 10_000, 60_000, 10_000);
        assert_eq!(s.name, "cpu.load;dc=eu;host=h1");
        assert_eq!(s.tags.get("name").map(String::as_str), Some("cpu.load"));
        assert_eq!(s.tags.len(), 3);
        assert_eq!(s.path_expression, "cpu.*");
        assert_eq!((s.start_ms, s.step_ms), (10_000, 10_000));
        // [10,20) avg(1,3) | [20,30) empty | [30,40) 7 | [40,50) empty, 31s is 9s away | [50,60) 9
        let v = &s.values;
        assert_eq!(v.len(), 5);
        assert_eq!(v[0], 2.0);
        assert!(v[1].is_nan());
        assert_eq!(v[2], 7.0);
        assert!(v[3].is_nan());
        assert_eq!(v[4], 9.0);
    }

    #[test]
    fn jitter_fills_the_next_empty_bucket() {
        let r = raw(&[("__name__", "m")], &[(10_000, 1.0), (19_000, 2.0)]);
        let s = Series::from_raw(&r, "m", 10_000, 40_000, 10_000);
        assert_eq!(s.name, "m");
        assert_eq!(s.values[0], 1.5);
        assert_eq!(s.values[1], 2.0); // 19s is 1s before the [20,30) bucket
        assert!(s.values[2].is_nan());
    }

    #[test]
    fn resample_and_consolidate() {
        let mut s = Series::new("a", BTreeMap::new(), "a", 0, 10, vec![1.0, 2.0, f64::NAN, 4.0, 5.0, 6.0]);
        assert_eq!(s.tags["name"], "a");
        s.consolidation = Some(Aggr::Max);
        s.consolidate(0, 60, 20, 0.0);
        assert_eq!(s.values, vec![2.0, 4.0, 6.0]);
        assert_eq!(s.step_ms, 20);
        let mut s = Series::new("a", BTreeMap::new(), "a", 0, 10, vec![1.0, f64::NAN, f64::NAN, 4.0]);
        s.resample(Aggr::Sum, 0, 40, 20, 0.6);
        assert!(s.values[0].is_nan());
        assert!(s.values[1].is_nan());
        s.values = vec![1.0, f64::NAN, 3.0, 4.0];
        s.step_ms = 10;
        s.resample(Aggr::Sum, 0, 40, 20, 0.5);
        assert_eq!(s.values, vec![1.0, 7.0]);
    }

    #[test]
    fn paths_of_names() {
        assert_eq!(path_of_name("a.b.c"), "a.b.c");
        assert_eq!(path_of_name("cpu;host=a"), "cpu");
        assert_eq!(path_of_name("scale(sumSeries(a.b.c),2)"), "a.b.c");
        assert_eq!(path_of_name("summarize(x.y,'1h','sum')"), "x.y");
    }
}
