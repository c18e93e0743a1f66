//! The value summary stream aggregation's `quantiles(...)` reads, as VictoriaMetrics computes
//! it: a reservoir of at most 1000 samples, replaced by the same xorshift sequence (seed 1), so
//! the same inputs give the same answer. (`histogram_bucket` counts in the query engine's
//! `promql::vm_buckets::VmHistogram`, VictoriaMetrics' `vmrange` layout.)

/// Samples kept for quantiles at most; past that, a kept one is replaced at random.
const RESERVOIR_SAMPLES_MAX: usize = 1000;

/// VictoriaMetrics' (valyala's) fast histogram: a bounded reservoir with min and max.
#[derive(Debug, Clone)]
pub struct Reservoir {
    min: f64,
    max: f64,
    count: u64,
    samples: Vec<f64>,
    rng: u32,
}

impl Default for Reservoir {
    fn default() -> Self {
        Reservoir { min: f64::INFINITY, max: f64::NEG_INFINITY, count: 0, samples: Vec::new(), rng: 1 }
    }
}

impl Reservoir {
    pub fn update(&mut self, v: f64) {
        if v > self.max {
            self.max = v;
        }
        if v < self.min {
            self.min = v;
        }
        self.count += 1;
        if self.samples.len() < RESERVOIR_SAMPLES_MAX {
            self.samples.push(v);
            return;
        }
        let n = ((u64::from(self.next_u32()) * (self.count as u32 as u64)) >> 32) as usize;
        if n < self.samples.len() {
            self.samples[n] = v;
        }
    }

    /// xorshift32, as fastrand.
    fn next_u32(&mut self) -> u32 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        x
    }

    /// The value at each `phi` (0: the minimum, 1: the maximum).
    pub fn quantiles(&self, phis: &[f64]) -> Vec<f64> {
        let mut sorted = self.samples.clone();
        sorted.sort_by(f64::total_cmp);
        phis.iter()
            .map(|&phi| {
                if sorted.is_empty() || phi.is_nan() {
                    f64::NAN
                } else if phi <= 0.0 {
                    self.min
                } else if phi >= 1.0 {
                    self.max
                } else {
                    let index = (phi * (sorted.len() - 1) as f64 + 0.5) as usize;
                    sorted[index.min(sorted.len() - 1)]
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_like_the_fast_histogram() {
        let mut r = Reservoir::default();
        for v in [5.0, 1.0, 4.0, 2.0, 3.0] {
            r.update(v);
        }
        // index = phi*(n-1)+0.5, truncated.
        assert_eq!(r.quantiles(&[0.0, 0.5, 0.9, 1.0, 0.1]), vec![1.0, 3.0, 5.0, 5.0, 1.0]);
        assert!(Reservoir::default().quantiles(&[0.5])[0].is_nan());
        let mut big = Reservoir::default();
        for i in 0..5000 {
            big.update(f64::from(i));
        }
        assert_eq!(big.samples.len(), RESERVOIR_SAMPLES_MAX);
        assert_eq!(big.quantiles(&[0.0, 1.0]), vec![0.0, 4999.0]);
    }
}
