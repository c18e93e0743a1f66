//! MetricsQL's transforms of values at one step: `bitmap_and`/`bitmap_or`/`bitmap_xor`,
//! `drop_empty_series`, the pseudo-random `rand`/`rand_normal`/`rand_exponential` and
//! `timezone_offset`. Histogram elements are left out of the float functions; a NaN result is
//! no value, as VictoriaMetrics has none.

use tsdb::Labels;

use super::super::eval::{Elem, Evaluator, StepValue};
use super::super::Error;
use super::timezone::Zone;
use super::{any_vector_arg, scalar_arg, string_arg, vector_arg};
use crate::ast::Expr;

/// The functions this module evaluates.
pub(super) fn handles(name: &str) -> bool {
    matches!(name, "bitmap_and" | "bitmap_or" | "bitmap_xor" | "drop_empty_series" | "rand" | "rand_normal" | "rand_exponential" | "timezone_offset")
}

/// `name`'s value at step `t`.
pub(super) fn call(ev: &Evaluator<'_>, name: &str, args: &[Expr], t: i64) -> Result<StepValue, Error> {
    match name {
        "bitmap_and" | "bitmap_or" | "bitmap_xor" => {
            let mask = scalar_arg(ev.eval(&args[1], t)?)?;
            let op: fn(u64, u64) -> u64 = match name {
                "bitmap_and" => |a, b| a & b,
                "bitmap_or" => |a, b| a | b,
                _ => |a, b| a ^ b,
            };
            if mask.is_nan() {
                return Ok(StepValue::Vector(Vec::new()));
            }
            let out = vector_arg(ev.eval(&args[0], t)?)?
                .into_iter()
                .filter(|e| !e.value.is_nan())
                .map(|e| {
                    let value = op(go_uint64(e.value), go_uint64(mask)) as f64;
                    let labels = e.labels.clone();
                    Elem { value, ..e }.relabelled(labels, true)
                })
                .collect();
            Ok(StepValue::Vector(out))
        }
        // A series here has a value at this step, so none is empty: what VictoriaMetrics drops
        // (a series NaN at every step) is never made here.
        "drop_empty_series" => Ok(StepValue::Vector(any_vector_arg(ev.eval(&args[0], t)?)?)),
        "rand" | "rand_normal" | "rand_exponential" => {
            // A seed makes the values a function of (seed, step time); without one each call draws anew.
            let seed = match args.first() {
                Some(arg) => seed_of(scalar_arg(ev.eval(arg, t)?)?),
                None => fresh_seed(),
            };
            let draws = Draws { key: mix(seed ^ mix(t as u64)) };
            let value = match name {
                "rand" => draws.uniform(0),
                "rand_normal" => draws.normal(),
                _ => draws.exponential(),
            };
            Ok(StepValue::Scalar(value))
        }
        "timezone_offset" => {
            // Loaded once for the grid's steps (`series_wide`), not once per step.
            let steps = ev.series_wide_at(args.as_ptr() as usize, t, |timestamps| {
                let zone_name = string_arg(ev.eval(&args[0], t)?)?;
                let zone = Zone::cached(&zone_name).map_err(Error::Execution)?;
                // At whole seconds, as VictoriaMetrics asks.
                Ok(timestamps.iter().map(|&ms| vec![Elem::new(Labels::default(), f64::from(zone.offset_at(ms.div_euclid(1000))), false)]).collect())
            })?;
            Ok(StepValue::Scalar(steps.first().map_or(f64::NAN, |e| e.value)))
        }
        _ => Err(Error::Execution(format!("{name} is no value transform"))),
    }
}

/// Go's `uint64(v)` on amd64, where VictoriaMetrics runs: a negative value wraps as an
/// int64 would (`-1` is all ones).
fn go_uint64(v: f64) -> u64 {
    if v < 9_223_372_036_854_775_808.0 { v as i64 as u64 } else { v as u64 }
}

/// The seed a scalar stands for: its integer part, as VictoriaMetrics reads it.
fn seed_of(v: f64) -> u64 {
    v.trunc() as i64 as u64
}

/// A seed no other call shares: the standard library's per-process random keys, which it
/// advances for every `RandomState`, mixed with the time.
fn fresh_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(now);
    hasher.finish()
}

/// SplitMix64's finalizer: a bijective mix of 64 bits whose outputs pass statistical tests.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Independent uniform draws for one step, numbered from 0.
struct Draws {
    key: u64,
}

impl Draws {
    /// Uniform in [0, 1), 53 random bits.
    fn uniform(&self, n: u64) -> f64 {
        (mix(self.key.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15))) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&self) -> f64 {
        let radius = (-2.0 * (1.0 - self.uniform(0)).ln()).sqrt();
        radius * (std::f64::consts::TAU * self.uniform(1)).cos()
    }

    /// Exponential with rate 1.
    fn exponential(&self) -> f64 {
        -(1.0 - self.uniform(0)).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_conversion_of_negative_and_large_values() {
        assert_eq!(go_uint64(-1.0), u64::MAX);
        assert_eq!(go_uint64(5.9), 5);
        assert_eq!(go_uint64(1.8e19), 18_000_000_000_000_000_000);
    }

    #[test]
    fn draws_are_in_range_and_spread() {
        let (mut sum, mut sum_normal, mut sum_exponential) = (0.0, 0.0, 0.0);
        let n = 20_000;
        for i in 0..n {
            let draws = Draws { key: mix(7 ^ mix(i)) };
            let u = draws.uniform(0);
            assert!((0.0..1.0).contains(&u), "{u}");
            let e = draws.exponential();
            assert!(e >= 0.0 && e.is_finite(), "{e}");
            assert!(draws.normal().is_finite());
            sum += u;
            sum_normal += draws.normal();
            sum_exponential += e;
        }
        // Means within about 6 standard errors of 1/2, 0 and 1.
        let n = n as f64;
        assert!((sum / n - 0.5).abs() < 0.02, "{}", sum / n);
        assert!((sum_normal / n).abs() < 0.05, "{}", sum_normal / n);
        assert!((sum_exponential / n - 1.0).abs() < 0.05, "{}", sum_exponential / n);
    }

    #[test]
    fn fresh_seeds_differ() {
        assert_ne!(fresh_seed(), fresh_seed());
    }
}
