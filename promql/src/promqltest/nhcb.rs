//! `load_with_nhcb`: classic histogram series (`x_bucket{le=..}`, `x_count`, `x_sum`) also
//! become native histograms with custom buckets (NHCB) named `x`, as Prometheus' test loader
//! converts them (`util/convertnhcb`): one histogram per timestamp any of them has a float at.

use std::collections::BTreeMap;
use std::sync::Arc;

use tsdb::model::CUSTOM_BUCKETS_SCHEMA;
use tsdb::{BucketSpan, FloatHistogram, HistogramSample, Label, Labels, SeriesSamples};

use crate::engine::native_histogram::{compact, compact_keeping};

/// The converted series of `loaded`, in the order their base names first appear.
pub fn convert_classic_histograms(loaded: &[SeriesSamples]) -> Vec<SeriesSamples> {
    let mut groups: Vec<(Labels, BTreeMap<i64, Classic>)> = Vec::new();
    for series in loaded {
        let Some((base, part)) = classify(&series.labels) else { continue };
        let at = match groups.iter().position(|(labels, _)| *labels == base) {
            Some(at) => at,
            None => {
                groups.push((base, BTreeMap::new()));
                groups.len() - 1
            }
        };
        for s in &series.samples {
            let classic = groups[at].1.entry(s.timestamp_ms).or_default();
            match part {
                Part::Bucket(le) => classic.set_bucket(le, s.value),
                Part::Count => classic.set_count(s.value),
                Part::Sum => classic.sum = s.value,
            }
        }
    }
    groups
        .into_iter()
        .map(|(labels, by_time)| {
            let histograms = by_time.into_iter().filter_map(|(timestamp_ms, c)| c.convert().map(|h| HistogramSample { timestamp_ms, histogram: Arc::new(h) })).collect();
            SeriesSamples { labels, samples: Vec::new(), histograms, starts: None }
        })
        .collect()
}

/// Which part of a classic histogram a series is.
#[derive(Clone, Copy)]
enum Part {
    Bucket(f64),
    Count,
    Sum,
}

/// The labels of the histogram a series belongs to (name without the suffix, no `le`) and its
/// part; `None` for other series and buckets without a parsable, non-NaN `le`.
fn classify(labels: &Labels) -> Option<(Labels, Part)> {
    let name = labels.metric_name()?;
    let (base, part) = if let Some(base) = name.strip_suffix("_bucket") {
        let le: f64 = labels.get("le")?.parse().ok()?;
        if le.is_nan() {
            return None;
        }
        (base, Part::Bucket(le))
    } else if let Some(base) = name.strip_suffix("_sum") {
        (base, Part::Sum)
    } else {
        (name.strip_suffix("_count")?, Part::Count)
    };
    let labels: Vec<Label> = labels
        .iter()
        .filter(|l| l.name != "le" && !(l.name == "__name__" && base.is_empty()))
        .map(|l| if l.name == "__name__" { Label { name: l.name.to_string(), value: base.to_string() } } else { l.to_label() })
        .collect();
    Some((Labels::from_sorted(labels), part))
}

/// One timestamp of a classic histogram: cumulative bucket counts by upper bound, count, sum;
/// inconsistent input (negative or non-cumulative counts) poisons it, as in Prometheus.
#[derive(Default)]
struct Classic {
    buckets: Vec<(f64, f64)>,
    count: Option<f64>,
    sum: f64,
    invalid: bool,
}

impl Classic {
    fn set_bucket(&mut self, le: f64, count: f64) {
        if self.invalid {
            return;
        }
        if count < 0.0 {
            self.invalid = true;
            return;
        }
        let at = self.buckets.partition_point(|&(bound, _)| bound < le);
        if self.buckets.get(at).is_some_and(|&(bound, _)| bound == le) {
            return; // A duplicate bound: the first one counts.
        }
        let below_more = at > 0 && count < self.buckets[at - 1].1;
        let above_less = self.buckets.get(at).is_some_and(|&(_, above)| count > above);
        if below_more || above_less {
            self.invalid = true;
            return;
        }
        self.buckets.insert(at, (le, count));
    }

    fn set_count(&mut self, count: f64) {
        if self.invalid {
            return;
        }
        if count < 0.0 {
            self.invalid = true;
            return;
        }
        self.count = Some(count);
    }

    /// The native histogram, or `None` where Prometheus' conversion fails (which fails its load).
    fn convert(mut self) -> Option<FloatHistogram> {
        if self.invalid {
            return None;
        }
        let count = match self.count {
            Some(c) => c,
            None => self.buckets.last().map_or(0.0, |&(_, c)| c),
        };
        if self.buckets.last().is_none_or(|&(le, _)| le != f64::INFINITY) {
            self.buckets.push((f64::INFINITY, count));
        }
        if self.buckets.last().is_some_and(|&(_, c)| c != count) {
            return None;
        }
        // Whole counts convert through an integer histogram, compacted keeping up to two empty
        // buckets inside a span; fractional ones straight to a float histogram.
        let integral = self.buckets.iter().all(|&(_, c)| (c.round() as i64) as f64 == c) && (count.round() as u64) as f64 == count;
        let mut previous = 0.0;
        let positive_buckets: Vec<f64> = self
            .buckets
            .iter()
            .map(|&(_, c)| {
                let per_bucket = c - previous;
                previous = c;
                per_bucket
            })
            .collect();
        let h = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count,
            sum: self.sum,
            positive_spans: vec![BucketSpan { offset: 0, length: positive_buckets.len() as u32 }],
            positive_buckets,
            custom_values: self.buckets.iter().map(|&(le, _)| le).filter(|le| *le != f64::INFINITY).collect(),
            ..FloatHistogram::default()
        };
        let h = if integral { compact_keeping(&h, 2) } else { compact(&h) };
        h.validate().ok().map(|()| h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tsdb::Sample;

    fn series(labels: &str, values: &[f64]) -> SeriesSamples {
        let (labels, _) = crate::promqltest::script::parse_series_notation(labels).expect("labels");
        SeriesSamples { labels, samples: values.iter().enumerate().map(|(i, &value)| Sample { timestamp_ms: i as i64 * 60_000, value }).collect(), histograms: Vec::new(), starts: None }
    }

    fn converted(loaded: &[SeriesSamples]) -> Vec<(String, Vec<(i64, FloatHistogram)>)> {
        convert_classic_histograms(loaded).into_iter().map(|s| (s.labels.to_string(), s.histograms.into_iter().map(|h| (h.timestamp_ms, (*h.histogram).clone())).collect())).collect()
    }

    fn nhcb(count: f64, sum: f64, spans: &[(i32, u32)], buckets: &[f64], bounds: &[f64]) -> FloatHistogram {
        FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count,
            sum,
            positive_spans: spans.iter().map(|&(offset, length)| BucketSpan { offset, length }).collect(),
            positive_buckets: buckets.to_vec(),
            custom_values: bounds.to_vec(),
            ..FloatHistogram::default()
        }
    }

    #[test]
    fn classic_series_become_one_histogram_per_timestamp() {
        let loaded = [
            series(r#"rpc_bucket{le="0.1", job="a"}"#, &[1.0, 2.0]),
            series(r#"rpc_bucket{le="+Inf", job="a"}"#, &[4.0, 8.0]),
            series(r#"rpc_bucket{le="1", job="a"}"#, &[1.0, 5.0]),
            series(r#"rpc_count{job="a"}"#, &[4.0, 8.0]),
            series(r#"rpc_sum{job="a"}"#, &[3.5, 9.0]),
            series(r#"other{job="a"}"#, &[1.0]),
        ];
        let got = converted(&loaded);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, r#"rpc{job="a"}"#);
        // Integer counts keep up to two empty buckets inside a span.
        assert_eq!(got[0].1, vec![(0, nhcb(4.0, 3.5, &[(0, 3)], &[1.0, 0.0, 3.0], &[0.1, 1.0])), (60_000, nhcb(8.0, 9.0, &[(0, 3)], &[2.0, 3.0, 3.0], &[0.1, 1.0]))]);
    }

    #[test]
    fn counts_bounds_and_failures() {
        // No count: the highest bucket's; no +Inf bucket: one with the count.
        let got = converted(&[series(r#"x_bucket{le="1"}"#, &[2.0]), series(r#"x_bucket{le="2"}"#, &[3.0])]);
        assert_eq!(got[0].1, vec![(0, nhcb(3.0, 0.0, &[(0, 2)], &[2.0, 1.0], &[1.0, 2.0]))]);
        // Fractional counts are compacted without empty buckets.
        let got = converted(&[series(r#"x_bucket{le="1"}"#, &[0.5]), series(r#"x_bucket{le="2"}"#, &[0.5]), series(r#"x_bucket{le="+Inf"}"#, &[1.5])]);
        assert_eq!(got[0].1, vec![(0, nhcb(1.5, 0.0, &[(0, 1), (1, 1)], &[0.5, 1.0], &[1.0, 2.0]))]);
        // A count alone: everything in the +Inf bucket.
        let got = converted(&[series("x_count", &[7.0])]);
        assert_eq!(got[0].1, vec![(0, nhcb(7.0, 0.0, &[(0, 1)], &[7.0], &[]))]);
        // Not cumulative, or a count that differs from the +Inf bucket: no histogram.
        let got = converted(&[series(r#"x_bucket{le="1"}"#, &[3.0]), series(r#"x_bucket{le="2"}"#, &[2.0])]);
        assert!(got[0].1.is_empty());
        let got = converted(&[series(r#"x_bucket{le="+Inf"}"#, &[3.0]), series("x_count", &[4.0])]);
        assert!(got[0].1.is_empty());
        // Buckets without a usable `le` are ignored.
        assert!(converted(&[series("x_bucket", &[1.0]), series(r#"x_bucket{le="NaN"}"#, &[1.0])]).is_empty());
    }
}
