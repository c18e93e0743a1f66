//! Realistic series and values: targets (job/instance/namespace/pod/region) that each expose
//! the same metric families — counters with realistic increments, random-walk gauges and
//! histograms, classic (cumulative `_bucket{le}`, `_count`, `_sum`) or native (one series of
//! integer exponential histograms) — plus series churn (a fraction of targets replaced by new
//! pods). Deterministic for a seed.

use proto::remote_write_v1::Histogram;

use crate::native_histogram;

/// What a metric family is, which decides how its values evolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Metric families seen on real Kubernetes/node setups, kinds interleaved so that any prefix
/// (`--metrics M`) holds a mix. The names used by `query_load` and `compare.py` come first.
const FAMILY_POOL: [(&str, Kind); 24] = [
    ("http_requests_total", Kind::Counter),
    ("node_memory_MemAvailable_bytes", Kind::Gauge),
    ("http_request_duration_seconds", Kind::Histogram),
    ("node_cpu_seconds_total", Kind::Counter),
    ("up", Kind::Gauge),
    ("node_network_receive_bytes_total", Kind::Counter),
    ("go_goroutines", Kind::Gauge),
    ("grpc_server_handling_seconds", Kind::Histogram),
    ("node_network_transmit_bytes_total", Kind::Counter),
    ("process_resident_memory_bytes", Kind::Gauge),
    ("process_cpu_seconds_total", Kind::Counter),
    ("node_filesystem_avail_bytes", Kind::Gauge),
    ("container_cpu_usage_seconds_total", Kind::Counter),
    ("container_memory_working_set_bytes", Kind::Gauge),
    ("apiserver_request_duration_seconds", Kind::Histogram),
    ("kube_pod_container_status_restarts_total", Kind::Counter),
    ("node_load1", Kind::Gauge),
    ("grpc_server_handled_total", Kind::Counter),
    ("nginx_connections_active", Kind::Gauge),
    ("node_disk_read_bytes_total", Kind::Counter),
    ("scrape_duration_seconds", Kind::Gauge),
    ("apiserver_request_total", Kind::Counter),
    ("redis_connected_clients", Kind::Gauge),
    ("etcd_server_proposals_applied_total", Kind::Counter),
];

/// Prometheus' default histogram buckets (`prometheus.DefBuckets`), used when `--buckets 11`.
const DEFAULT_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
pub const BUCKETS_DEFAULT: usize = DEFAULT_BUCKETS.len();
/// Upper bounds per histogram, so one target cannot explode into millions of series by accident.
pub const BUCKETS_MAX: usize = 64;
/// Observations drawn per native histogram and sample interval; past it each drawn observation
/// stands for several equal ones, so long intervals cost no more to generate.
const NATIVE_OBSERVATIONS_PER_STEP_MAX: u64 = 10_000;
const REGIONS: [&str; 3] = ["eu-west-1", "us-east-1", "ap-south-1"];
const NAMESPACES: usize = 10;

/// xorshift64*: tiny, fast, deterministic.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Log-uniform in [low, high).
    fn log_uniform(&mut self, low: f64, high: f64) -> f64 {
        low * (high / low).powf(self.unit())
    }
}

/// How histogram families are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Histograms {
    /// `_bucket{le}` per bound and `+Inf`, `_count` and `_sum`: float series.
    Classic,
    /// One series per family whose samples are integer native histograms of this schema.
    Native { schema: i32 },
}

/// The shape of the generated series: how many, and their label cardinality.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// Wanted series; rounded up to whole targets (every target exposes every family).
    pub series: usize,
    /// Metric families per target (cycles through the pool, with a numeric suffix past it).
    pub metrics: usize,
    /// Upper bounds per histogram (plus `+Inf`, `_count`, `_sum`: buckets + 3 series).
    pub buckets: usize,
    /// Distinct `instance` label values (nodes the pods run on).
    pub instances: usize,
    /// Distinct `job` label values.
    pub jobs: usize,
    pub histograms: Histograms,
    pub seed: u64,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions { series: 10_000, metrics: FAMILY_POOL.len(), buckets: BUCKETS_DEFAULT, instances: 100, jobs: 20, histograms: Histograms::Classic, seed: 1 }
    }
}

struct Family {
    name: String,
    kind: Kind,
}

/// Which families a target exposes and how many series each takes.
pub struct Layout {
    families: Vec<Family>,
    bounds: Vec<f64>,
    pub targets: usize,
    /// Series per target.
    pub width: usize,
    options: GenOptions,
}

impl Layout {
    pub fn new(o: &GenOptions) -> Result<Layout, String> {
        if o.metrics == 0 || o.instances == 0 || o.jobs == 0 {
            return Err("--metrics, --instances and --jobs must be at least 1".into());
        }
        if o.buckets == 0 || o.buckets > BUCKETS_MAX {
            return Err(format!("--buckets must be 1..={BUCKETS_MAX}"));
        }
        if let Histograms::Native { schema } = o.histograms {
            if !(native_histogram::SCHEMA_MIN..=native_histogram::SCHEMA_MAX).contains(&schema) {
                return Err(format!("--native-schema must be {}..={}", native_histogram::SCHEMA_MIN, native_histogram::SCHEMA_MAX));
            }
        }
        let families: Vec<Family> = (0..o.metrics)
            .map(|i| {
                let (name, kind) = FAMILY_POOL[i % FAMILY_POOL.len()];
                let round = i / FAMILY_POOL.len();
                let name = if round == 0 { name.to_string() } else { format!("{name}_{round}") };
                Family { name, kind }
            })
            .collect();
        let bounds: Vec<f64> =
            if o.buckets == BUCKETS_DEFAULT { DEFAULT_BUCKETS.to_vec() } else { (0..o.buckets).map(|i| 0.001 * 2f64.powi(i as i32)).collect() };
        let classic = o.histograms == Histograms::Classic;
        let width = families.iter().map(|f| if f.kind == Kind::Histogram && classic { bounds.len() + 3 } else { 1 }).sum();
        let targets = o.series.div_ceil(width).max(1);
        Ok(Layout { families, bounds, targets, width, options: o.clone() })
    }

    pub fn series(&self) -> usize {
        self.targets * self.width
    }

    fn classic(&self) -> bool {
        self.options.histograms == Histograms::Classic
    }

    /// Whether each of one target's series (in series order) carries native histograms.
    pub fn native_histogram_offsets(&self) -> Vec<bool> {
        let native = !self.classic();
        let mut out = Vec::with_capacity(self.width);
        for f in &self.families {
            let series = if f.kind == Kind::Histogram && !native { self.bounds.len() + 3 } else { 1 };
            out.extend(std::iter::repeat_n(native && f.kind == Kind::Histogram, series));
        }
        out
    }

    /// Whether each of one target's series (in series order) counts from a start, as counters
    /// and histograms (every series of a classic one) do, and so has a start time to send.
    pub fn cumulative_offsets(&self) -> Vec<bool> {
        let mut out = Vec::with_capacity(self.width);
        for f in &self.families {
            let series = if f.kind == Kind::Histogram && self.classic() { self.bounds.len() + 3 } else { 1 };
            out.extend(std::iter::repeat_n(f.kind != Kind::Gauge, series));
        }
        out
    }

    /// Metric names of one target's series, in series order (the same for every target).
    pub fn names(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.width);
        for f in &self.families {
            if f.kind == Kind::Histogram && self.classic() {
                for _ in 0..=self.bounds.len() {
                    out.push(format!("{}_bucket", f.name)); // one per bound and `+Inf`
                }
                out.push(format!("{}_count", f.name));
                out.push(format!("{}_sum", f.name));
            } else {
                out.push(f.name.clone());
            }
        }
        out
    }

    /// The label sets of target `t` in its `generation` (a new generation is a new pod).
    fn target_labels(&self, t: usize, generation: u32) -> Vec<Vec<(String, String)>> {
        let node = t % self.options.instances;
        let base = |name: String, le: Option<String>| {
            let mut labels = vec![
                ("__name__".to_string(), name),
                ("instance".to_string(), format!("10.{}.{}.{}:9100", node / 65_536 % 256, node / 256 % 256, node % 256)),
                ("job".to_string(), format!("job-{}", t % self.options.jobs)),
            ];
            if let Some(le) = le {
                labels.push(("le".to_string(), le));
            }
            labels.push(("namespace".to_string(), format!("ns-{}", t % NAMESPACES)));
            labels.push(("pod".to_string(), if generation == 0 { format!("pod-{t}") } else { format!("pod-{t}-g{generation}") }));
            labels.push(("region".to_string(), REGIONS[t % REGIONS.len()].to_string()));
            labels
        };
        let mut out = Vec::with_capacity(self.width);
        for f in &self.families {
            if f.kind == Kind::Histogram && self.classic() {
                for b in &self.bounds {
                    out.push(base(format!("{}_bucket", f.name), Some(format!("{b}"))));
                }
                out.push(base(format!("{}_bucket", f.name), Some("+Inf".to_string())));
                out.push(base(format!("{}_count", f.name), None));
                out.push(base(format!("{}_sum", f.name), None));
            } else {
                out.push(base(f.name.clone(), None));
            }
        }
        out
    }
}

/// The evolving value state of one family on one target.
enum State {
    Counter { value: f64, per_s: f64, integer: bool },
    Gauge { value: f64, step: f64 },
    /// `per_bucket` are the probabilities of the buckets `(b[i-1], b[i]]` and the last one
    /// `(b[last], +Inf)`; `counts` are the non-cumulative observation counts so far.
    Histogram { counts: Vec<u64>, sum: f64, per_s: f64, per_bucket: Vec<f64> },
    /// The same latency distribution, observation by observation, into exponential buckets.
    NativeHistogram { counts: native_histogram::Counts, per_s: f64, mean_s: f64 },
}

impl State {
    fn new(kind: Kind, name: &str, bounds: &[f64], histograms: Histograms, rng: &mut Rng) -> State {
        match kind {
            Kind::Counter => State::Counter { value: 0.0, per_s: rng.log_uniform(0.05, 500.0), integer: !name.contains("seconds") },
            Kind::Gauge if name == "up" => State::Gauge { value: 1.0, step: 0.0 },
            Kind::Gauge => {
                let value = rng.log_uniform(1.0, 1e9).floor();
                State::Gauge { value, step: (value * 0.01).max(1.0) }
            }
            Kind::Histogram => {
                // Exponential latency distribution with a per-target mean.
                let mean_s = rng.log_uniform(0.005, 2.0);
                if let Histograms::Native { schema } = histograms {
                    let per_s = rng.log_uniform(0.1, 200.0);
                    return State::NativeHistogram { counts: native_histogram::Counts::new(schema), per_s, mean_s };
                }
                let cdf = |x: f64| 1.0 - (-x / mean_s).exp();
                let mut per_bucket: Vec<f64> = bounds.iter().enumerate().map(|(i, b)| cdf(*b) - if i == 0 { 0.0 } else { cdf(bounds[i - 1]) }).collect();
                per_bucket.push(1.0 - bounds.last().map_or(0.0, |b| cdf(*b)));
                State::Histogram { counts: vec![0; bounds.len() + 1], sum: 0.0, per_s: rng.log_uniform(0.1, 200.0), per_bucket }
            }
        }
    }

    /// Moves `dt_s` seconds forward (0 = the first sample: the state as created).
    fn advance(&mut self, dt_s: f64, bounds: &[f64], rng: &mut Rng) {
        match self {
            State::Counter { value, per_s, integer } => {
                let increment = *per_s * dt_s * (0.5 + rng.unit());
                *value += if *integer { increment.floor() } else { increment };
            }
            State::Gauge { value, step } => *value = (*value + (rng.unit() - 0.5) * 2.0 * *step).max(0.0).round(),
            State::Histogram { counts, sum, per_s, per_bucket } => {
                let observations = *per_s * dt_s * (0.5 + rng.unit());
                for (i, p) in per_bucket.iter().enumerate() {
                    // Stochastic rounding keeps small rates from being stuck at zero.
                    let n = (observations * p + rng.unit()).floor() as u64;
                    counts[i] += n;
                    let low = if i == 0 { 0.0 } else { bounds[i - 1] };
                    let high = bounds.get(i).copied().unwrap_or(low * 2.0);
                    *sum += n as f64 * (low + (high - low) * rng.unit());
                }
            }
            State::NativeHistogram { counts, per_s, mean_s } => {
                // Stochastic rounding, as for the classic buckets.
                let observations = (*per_s * dt_s * (0.5 + rng.unit()) + rng.unit()).floor() as u64;
                let weight = observations.div_ceil(NATIVE_OBSERVATIONS_PER_STEP_MAX).max(1);
                for _ in 0..observations / weight {
                    // Inverse CDF of the exponential distribution; 1 - unit is in (0, 1].
                    counts.observe(-*mean_s * (1.0 - rng.unit()).ln(), weight);
                }
            }
        }
    }

    /// Appends this state's series values, in the layout's series order: floats to `out`
    /// (a native histogram series gets a 0 there, never sent) and native histograms to
    /// `histograms`.
    fn write_values(&self, out: &mut Vec<f64>, histograms: &mut Vec<Histogram>) {
        match self {
            State::Counter { value, .. } | State::Gauge { value, .. } => out.push(*value),
            State::NativeHistogram { counts, .. } => {
                out.push(0.0);
                histograms.push(counts.snapshot());
            }
            State::Histogram { counts, sum, .. } => {
                let mut cumulative = 0u64;
                for c in counts {
                    cumulative += c;
                    out.push(cumulative as f64); // the last one is `+Inf`
                }
                out.push(cumulative as f64); // _count == +Inf bucket
                out.push(*sum);
            }
        }
    }
}

/// Every series of a run with its current labels and value state.
pub struct SeriesSet {
    pub layout: Layout,
    /// Label sets, sorted by name (remote_write requires it), `layout.width` per target.
    pub labels: Vec<Vec<(String, String)>>,
    generations: Vec<u32>,
    /// `layout.families.len()` states per target.
    states: Vec<State>,
    rng: Rng,
}

impl SeriesSet {
    pub fn new(o: &GenOptions) -> Result<SeriesSet, String> {
        let layout = Layout::new(o)?;
        let mut rng = Rng::new(o.seed);
        let mut labels = Vec::with_capacity(layout.series());
        let mut states = Vec::with_capacity(layout.targets * layout.families.len());
        for t in 0..layout.targets {
            labels.extend(layout.target_labels(t, 0));
            for f in &layout.families {
                states.push(State::new(f.kind, &f.name, &layout.bounds, o.histograms, &mut rng));
            }
        }
        let generations = vec![0; layout.targets];
        Ok(SeriesSet { layout, labels, generations, states, rng })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Moves every series `dt_s` forward and writes all values, in series order: one float per
    /// series to `out`, and the native histograms (`Layout::native_histogram_offsets`, in series
    /// order, timestamps 0) to `histograms`.
    pub fn advance(&mut self, dt_s: f64, out: &mut Vec<f64>, histograms: &mut Vec<Histogram>) {
        out.clear();
        histograms.clear();
        for s in &mut self.states {
            if dt_s > 0.0 {
                s.advance(dt_s, &self.layout.bounds, &mut self.rng);
            }
            s.write_values(out, histograms);
        }
    }

    /// Churn event `event` (1, 2, ...): replaces the targets `churned_targets` names with new
    /// pods (new label sets, fresh counters). Returns the replaced series' index ranges.
    pub fn churn(&mut self, event: u64, ratio: f64) -> Vec<std::ops::Range<usize>> {
        let families = self.layout.families.len();
        let mut replaced = Vec::new();
        for t in churned_targets(event, ratio, self.layout.targets) {
            self.generations[t] += 1;
            let first = t * self.layout.width;
            for (i, labels) in self.layout.target_labels(t, self.generations[t]).into_iter().enumerate() {
                self.labels[first + i] = labels;
            }
            for (i, f) in self.layout.families.iter().enumerate() {
                self.states[t * families + i] = State::new(f.kind, &f.name, &self.layout.bounds, self.layout.options.histograms, &mut self.rng);
            }
            replaced.push(first..first + self.layout.width);
        }
        replaced
    }
}

/// The targets replaced by churn event `event` (1-based): `round(ratio × targets)` of them,
/// a window that moves on every event so that successive events replace different targets.
pub fn churned_targets(event: u64, ratio: f64, targets: usize) -> impl Iterator<Item = usize> {
    let count = ((ratio.clamp(0.0, 1.0) * targets as f64).round() as usize).min(targets);
    let start = if targets == 0 { 0 } else { ((event.saturating_sub(1) as u128 * count as u128) % targets as u128) as usize };
    (0..count).map(move |i| (start + i) % targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(series: usize) -> GenOptions {
        GenOptions { series, ..GenOptions::default() }
    }

    #[test]
    fn deterministic_sorted_unique_and_counters_monotonic() {
        let mut a = SeriesSet::new(&options(500)).unwrap();
        for labels in &a.labels {
            assert!(labels.windows(2).all(|w| w[0].0 < w[1].0), "sorted: {labels:?}");
        }
        let unique: std::collections::HashSet<_> = a.labels.iter().collect();
        assert_eq!(unique.len(), a.len());
        assert_eq!(a.len() % a.layout.width, 0, "whole targets");
        assert!(a.len() >= 500);
        let mut b = SeriesSet::new(&options(500)).unwrap();
        let counter = a.labels.iter().position(|l| l[0].1 == "http_requests_total").unwrap();
        let (mut va, mut vb) = (Vec::new(), Vec::new());
        let mut last = f64::MIN;
        for step in 0..50 {
            let dt = if step == 0 { 0.0 } else { 15.0 };
            a.advance(dt, &mut va, &mut Vec::new());
            b.advance(dt, &mut vb, &mut Vec::new());
            assert_eq!(va, vb, "same seed, same values");
            assert_eq!(va.len(), a.len());
            assert!(va[counter] >= last, "counters never decrease");
            last = va[counter];
        }
        assert!(last > 0.0);
    }

    #[test]
    fn histograms_are_cumulative_and_consistent_with_count() {
        let o = GenOptions { metrics: 3, ..options(100) }; // counter, gauge, histogram
        let mut set = SeriesSet::new(&o).unwrap();
        let names = set.layout.names();
        let buckets: Vec<usize> = names.iter().enumerate().filter(|(_, n)| n.ends_with("_bucket")).map(|(i, _)| i).collect();
        assert_eq!(buckets.len(), BUCKETS_DEFAULT + 1);
        let count = names.iter().position(|n| n.ends_with("_count")).unwrap();
        let sum = names.iter().position(|n| n.ends_with("_sum")).unwrap();
        assert_eq!(set.labels[*buckets.last().unwrap()].iter().find(|(n, _)| n == "le").unwrap().1, "+Inf");
        assert_eq!(set.labels[buckets[0]].iter().find(|(n, _)| n == "le").unwrap().1, "0.005");
        let mut values = Vec::new();
        let mut previous: Option<Vec<f64>> = None;
        for step in 0..40 {
            set.advance(if step == 0 { 0.0 } else { 15.0 }, &mut values, &mut Vec::new());
            for t in 0..set.layout.targets {
                let v = &values[t * set.layout.width..(t + 1) * set.layout.width];
                let b: Vec<f64> = buckets.iter().map(|&i| v[i]).collect();
                assert!(b.windows(2).all(|w| w[0] <= w[1]), "cumulative: {b:?}");
                assert_eq!(*b.last().unwrap(), v[count], "+Inf bucket == _count");
                assert!(v[sum] >= 0.0);
                if v[count] == 0.0 {
                    assert_eq!(v[sum], 0.0);
                }
            }
            if let Some(p) = &previous {
                for &i in buckets.iter().chain([&count, &sum]) {
                    for t in 0..set.layout.targets {
                        let i = t * set.layout.width + i;
                        assert!(values[i] >= p[i], "histogram series are counters");
                    }
                }
            }
            previous = Some(values.clone());
        }
        assert!(values[count] > 0.0, "observations happened");
    }

    #[test]
    fn churn_replaces_the_right_fraction() {
        let targets = 200;
        for (ratio, want) in [(0.1, 20), (0.25, 50), (0.0, 0), (1.0, 200), (0.333, 67)] {
            let first: Vec<usize> = churned_targets(1, ratio, targets).collect();
            assert_eq!(first.len(), want, "ratio {ratio}");
            let unique: std::collections::HashSet<_> = first.iter().collect();
            assert_eq!(unique.len(), want, "no target twice in one event");
        }
        let second: Vec<usize> = churned_targets(2, 0.1, targets).collect();
        assert_eq!(second[0], 20, "the next event replaces the next targets");

        let o = options(2000);
        let mut set = SeriesSet::new(&o).unwrap();
        let before = set.labels.clone();
        let ranges = set.churn(1, 0.1);
        let changed = before.iter().zip(&set.labels).filter(|(a, b)| a != b).count();
        let want_targets = (set.layout.targets as f64 * 0.1).round() as usize;
        assert_eq!(changed, want_targets * set.layout.width);
        assert_eq!(ranges.iter().map(|r| r.len()).sum::<usize>(), changed);
        let unique: std::collections::HashSet<_> = before.iter().chain(&set.labels).collect();
        assert_eq!(unique.len(), before.len() + changed, "replacements are new series");
        for r in &ranges {
            for i in r.clone() {
                let names: Vec<&str> = set.labels[i].iter().map(|(n, _)| n.as_str()).collect();
                assert!(names.windows(2).all(|w| w[0] < w[1]));
            }
        }
    }

    #[test]
    fn native_histograms_are_one_series_per_family() {
        let o = GenOptions { metrics: 3, histograms: Histograms::Native { schema: 3 }, ..options(30) };
        let mut set = SeriesSet::new(&o).unwrap();
        assert_eq!(set.layout.width, 3);
        assert_eq!(set.layout.targets, 10);
        assert_eq!(set.layout.names(), vec!["http_requests_total", "node_memory_MemAvailable_bytes", "http_request_duration_seconds"]);
        assert_eq!(set.layout.native_histogram_offsets(), vec![false, false, true]);
        assert_eq!(set.layout.cumulative_offsets(), vec![true, false, true], "counter, gauge, histogram");
        assert!(set.labels[2].iter().all(|(n, _)| n != "le"));
        let (mut values, mut histograms) = (Vec::new(), Vec::new());
        let mut last_counts = vec![0u64; set.layout.targets];
        for step in 0..20 {
            set.advance(if step == 0 { 0.0 } else { 15.0 }, &mut values, &mut histograms);
            assert_eq!((values.len(), histograms.len()), (30, 10), "one histogram per target");
            for (t, h) in histograms.iter().enumerate() {
                let Some(proto::remote_write_v1::histogram::Count::CountInt(count)) = h.count else { panic!("integer histogram") };
                assert!(count >= last_counts[t], "counter histogram");
                last_counts[t] = count;
                assert_eq!(h.schema, 3);
            }
        }
        assert!(last_counts.iter().all(|&c| c > 0), "observations happened: {last_counts:?}");
        let classic = Layout::new(&GenOptions { metrics: 3, ..options(30) }).unwrap();
        assert_eq!(classic.native_histogram_offsets(), vec![false; classic.width]);
        let mut cumulative = vec![true, false];
        cumulative.extend(std::iter::repeat_n(true, BUCKETS_DEFAULT + 3)); // buckets, +Inf, _count, _sum
        assert_eq!(classic.cumulative_offsets(), cumulative);
        for schema in [-5, 9] {
            assert!(Layout::new(&GenOptions { histograms: Histograms::Native { schema }, ..options(1) }).is_err());
        }
    }

    #[test]
    fn metric_families_past_the_pool_get_suffixes() {
        let layout = Layout::new(&GenOptions { metrics: 30, ..options(1) }).unwrap();
        let names = layout.names();
        assert!(names.contains(&"http_requests_total_1".to_string()));
        assert_eq!(layout.targets, 1);
        assert!(Layout::new(&GenOptions { metrics: 0, ..options(1) }).is_err());
    }
}
