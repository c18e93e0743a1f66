//! A histogram as Prometheus prints one (`FloatHistogram.String()`), which is what `count_values`
//! puts in its label: `{count:20, sum:10, [-2,-1):2, [-0.001,0.001]:2, (0.5,1]:1}`.

use tsdb::FloatHistogram;

use crate::format::go_float_g;

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
        format!(", {open}{},{}{close}:{}", go_float_g(lower), go_float_g(upper), go_float_g(count))
    };
    let mut out = format!("{{count:{}, sum:{}", go_float_g(h.count), go_float_g(h.sum));
    for e in expand(&h.negative_spans, &h.negative_buckets).iter().rev().filter(|e| e.value != 0.0) {
        out.push_str(&bucket(e.index, e.value, false));
    }
    if h.zero_count != 0.0 {
        out.push_str(&format!(", [{},{}]:{}", go_float_g(-h.zero_threshold), go_float_g(h.zero_threshold), go_float_g(h.zero_count)));
    }
    for e in expand(&h.positive_spans, &h.positive_buckets).iter().filter(|e| e.value != 0.0) {
        out.push_str(&bucket(e.index, e.value, true));
    }
    out.push('}');
    out
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
            assert_eq!(go_float_g(v), want, "{v}");
        }
    }
}
