//! Realistic series and values: a metric name from a pool, job/instance/pod/namespace/
//! region labels, counters that only go up and gauges that random-walk. Deterministic
//! for a seed.

/// Metric names seen on real Kubernetes/node setups.
const METRIC_NAMES: [&str; 24] = [
    "http_requests_total", "http_request_duration_seconds_sum", "node_cpu_seconds_total", "node_memory_MemAvailable_bytes",
    "node_network_receive_bytes_total", "node_network_transmit_bytes_total", "node_filesystem_avail_bytes", "node_load1",
    "process_resident_memory_bytes", "process_cpu_seconds_total", "go_goroutines", "go_memstats_alloc_bytes",
    "container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "kube_pod_container_status_restarts_total",
    "grpc_server_handled_total", "up", "scrape_duration_seconds", "node_disk_io_time_seconds_total", "node_disk_read_bytes_total",
    "apiserver_request_total", "etcd_server_proposals_applied_total", "nginx_connections_active", "redis_connected_clients",
];

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
}

pub struct SeriesDef {
    /// Sorted by name (remote_write requires it).
    pub labels: Vec<(String, String)>,
    pub is_counter: bool,
}

/// Series `index` of a run: unique by its pod label.
pub fn series_def(index: usize) -> SeriesDef {
    let name = METRIC_NAMES[index % METRIC_NAMES.len()];
    let is_counter = name.ends_with("_total") || name.ends_with("_sum");
    let labels = vec![
        ("__name__".to_string(), name.to_string()),
        ("instance".to_string(), format!("10.{}.{}.{}:9100", index / 65_536 % 256, index / 256 % 256, index % 256)),
        ("job".to_string(), format!("job-{}", index / 1000 % 20)),
        ("namespace".to_string(), format!("ns-{}", index % 10)),
        ("pod".to_string(), format!("pod-{index}")),
        ("region".to_string(), ["eu-west-1", "us-east-1", "ap-south-1"][index % 3].to_string()),
    ];
    SeriesDef { labels, is_counter }
}

/// `count` successive values of one series.
pub fn series_values(def: &SeriesDef, count: usize, rng: &mut Rng) -> Vec<f64> {
    let mut value = (rng.unit() * 1000.0).floor();
    (0..count)
        .map(|_| {
            if def.is_counter {
                value += (rng.unit() * 100.0).floor();
            } else {
                value = (value + (rng.unit() - 0.5) * 20.0).max(0.0);
            }
            value
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_sorted_unique_and_monotonic() {
        let a: Vec<Vec<(String, String)>> = (0..100).map(|i| series_def(i).labels).collect();
        for labels in &a {
            assert!(labels.windows(2).all(|w| w[0].0 < w[1].0), "sorted: {labels:?}");
        }
        let unique: std::collections::HashSet<_> = a.iter().collect();
        assert_eq!(unique.len(), 100);
        let def = series_def(0);
        assert!(def.is_counter);
        let (mut r1, mut r2) = (Rng::new(7), Rng::new(7));
        let v = series_values(&def, 50, &mut r1);
        assert_eq!(v, series_values(&def, 50, &mut r2));
        assert!(v.windows(2).all(|w| w[0] <= w[1]), "counters never decrease");
    }
}
