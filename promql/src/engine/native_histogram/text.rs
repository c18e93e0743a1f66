//! A histogram as Prometheus prints one (`FloatHistogram.String()`), which is what `count_values`
//! puts in its label: `{count:20, sum:10, [-2,-1):2, [-0.001,0.001]:2, (0.5,1]:1}`.

use tsdb::FloatHistogram;

use super::bounds::bucket_range;
use super::expand;

/// The count, the sum and every populated bucket from the lowest up, with Go's `%g` numbers.
pub(crate) fn display(h: &FloatHistogram) -> String {
    let custom = h.uses_custom_buckets();
    let bucket = |index: i32, count: f64, positive: bool| -> String {
        let (lower, upper) = bucket_range(index, positive, h.schema, &h.custom_values);
        let (lower_inclusive, upper_inclusive) = if custom { (index == 0, true) } else { (lower < 0.0, upper > 0.0) };
        let open = if lower_inclusive { '[' } else { '(' };
        let close = if upper_inclusive { ']' } else { ')' };
        format!(", {open}{},{}{close}:{}", go_float(lower), go_float(upper), go_float(count))
    };
    let mut out = format!("{{count:{}, sum:{}", go_float(h.count), go_float(h.sum));
    for e in expand(&h.negative_spans, &h.negative_buckets).iter().rev().filter(|e| e.value != 0.0) {
        out.push_str(&bucket(e.index, e.value, false));
    }
    if h.zero_count != 0.0 {
        out.push_str(&format!(", [{},{}]:{}", go_float(-h.zero_threshold), go_float(h.zero_threshold), go_float(h.zero_count)));
    }
    for e in expand(&h.positive_spans, &h.positive_buckets).iter().filter(|e| e.value != 0.0) {
        out.push_str(&bucket(e.index, e.value, true));
    }
    out.push('}');
    out
}

/// Go's `%g` of a float64: the shortest digits that read back, in exponent form (`1e+06`,
/// `1.5e-05`) below 1e-4 and from 1e6 on; `NaN`, `+Inf`, `-Inf`.
pub(crate) fn go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let scientific = format!("{v:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if v != 0.0 && !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    format!("{v}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promqltest::notation::parse_histogram;

    #[test]
    fn prints_as_prometheus() {
        // The label count_values gives this histogram in Prometheus' aggregators.test.
        let h = parse_histogram("{{schema:0 sum:10 count:20 z_bucket_w:0.001 z_bucket:2 buckets:[1 2] n_buckets:[1 2]}}").unwrap().0;
        assert_eq!(display(&h), "{count:20, sum:10, [-2,-1):2, [-1,-0.5):1, [-0.001,0.001]:2, (0.5,1]:1, (1,2]:2}");
        let custom = parse_histogram("{{schema:-53 sum:1.5 count:3 custom_values:[0.25] buckets:[1 2]}}").unwrap().0;
        assert_eq!(display(&custom), "{count:3, sum:1.5, [-Inf,0.25]:1, (0.25,+Inf]:2}");
    }

    #[test]
    fn go_g_numbers() {
        let cases = [(0.0, "0"), (-0.0, "-0"), (1.0, "1"), (0.5, "0.5"), (123456.0, "123456"), (1e6, "1e+06"), (1234567.0, "1.234567e+06"), (0.0001, "0.0001"), (0.00001, "1e-05"), (1.5e-7, "1.5e-07"), (1e100, "1e+100"), (f64::NAN, "NaN"), (f64::NEG_INFINITY, "-Inf")];
        for (v, want) in cases {
            assert_eq!(go_float(v), want, "{v}");
        }
    }
}
