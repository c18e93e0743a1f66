//! Bucket lists, quantiles, fractions, variances and trimming, with expectations from
//! Prometheus' `native_histograms.test`.

use super::super::{buckets, fraction, fraction_noting, quantile, quantile_noting, stddev, stdvar, trim, Bucket, Notes};
use super::h;

/// Prometheus' test tolerance (`almost.Equal` with 1e-6).
fn close(got: f64, want: f64) -> bool {
    if got.is_nan() || want.is_nan() {
        return got.is_nan() && want.is_nan();
    }
    got == want || (got - want).abs() / (got.abs() + want.abs()) < 1e-6
}

#[test]
fn quantiles() {
    let positive = "{{schema:0 count:12 sum:100 z_bucket:2 z_bucket_w:0.001 buckets:[2 3 0 1 4]}}";
    let negative = "{{schema:0 count:12 sum:100 z_bucket:2 z_bucket_w:0.001 n_buckets:[2 3 0 1 4]}}";
    let both = "{{schema:0 count:24 sum:100 z_bucket:4 z_bucket_w:0.001 buckets:[2 3 0 1 4] n_buckets:[2 3 0 1 4]}}";
    let nhcb = "{{schema:-53 sum:21 count:6 custom_values:[1 2 4] buckets:[1 2 1 2]}}";
    let cases: &[(&str, f64, f64)] = &[
        ("{{schema:0 sum:5 count:4 buckets:[1 2 1]}}", 0.5, std::f64::consts::SQRT_2),
        (positive, 1.001, f64::INFINITY),
        (positive, 1.0, 16.0),
        (positive, 0.99, 15.67072476139083),
        (positive, 0.9, 12.99603834169977),
        (positive, 0.6, 4.594793419988138),
        (positive, 0.5, 1.5874010519681994),
        (positive, 0.1, 0.0006),
        (positive, 0.0, 0.0),
        (positive, -1.0, f64::NEG_INFINITY),
        (negative, 1.0, 0.0),
        (negative, 0.99, -0.00006),
        (negative, 0.9, -0.0006),
        (negative, 0.5, -1.5874010519681996),
        (negative, 0.1, -12.996038341699768),
        (negative, 0.0, -16.0),
        (both, 0.99, 15.34822590920423),
        (both, 0.9, 10.556063286183155),
        (both, 0.7, 1.2030250360821164),
        (both, 0.55, 0.0006),
        (both, 0.5, 0.0),
        (both, 0.45, -0.0006),
        (both, 0.3, -1.2030250360821169),
        (both, 0.01, -15.34822590920423),
        ("{{schema:0 z_bucket:1 z_bucket_w:0.5 sum:0.25 count:1}}", 0.5, 0.0),
        ("{{schema:0 sum:0 count:8 buckets:[1 2 1] n_buckets:[1 2 1]}}", 0.5, 0.5),
        ("{{count:0}}", 0.5, f64::NAN),
        (positive, f64::NAN, f64::NAN),
        // Custom buckets: linear, the first bucket from 0, the +Inf bucket answers its lower bound.
        (nhcb, 0.1, 0.6),
        (nhcb, 0.5, 2.0),
        (nhcb, 0.99, 4.0),
        ("{{schema:-53 count:2 custom_values:[-1] buckets:[2]}}", 0.5, -1.0),
    ];
    for &(notation, q, want) in cases {
        let got = quantile(q, &h(notation));
        assert!(close(got, want), "quantile({q}, {notation}) = {got}, want {want}");
    }
}

#[test]
fn quantiles_among_nan_observations() {
    // One NaN observation: the count includes it, the buckets do not.
    let h = h("{{schema:0 count:3 sum:NaN buckets:[1 1]}}");
    let mut notes = Notes::default();
    assert!(quantile_noting(0.99, &h, &mut notes).is_nan());
    assert!(notes.quantile_in_nan_observations);
    let mut notes = Notes::default();
    assert!(close(quantile_noting(0.3, &h, &mut notes), 2f64.powf(0.9) / 2.0 * 1.0));
    assert!(notes.nan_observations && !notes.quantile_in_nan_observations);
}

#[test]
fn fractions() {
    let single = "{{schema:0 sum:5 count:4 buckets:[1 2 1]}}";
    let cases: &[(&str, f64, f64, f64)] = &[
        (single, 1.0, 2.0, 0.5),
        (single, 0.0, 8.0, 1.0),
        (single, f64::NEG_INFINITY, f64::INFINITY, 1.0),
        (single, 2.0, 1.0, 0.0),
        (single, f64::NAN, 1.0, f64::NAN),
        ("{{}}", f64::NEG_INFINITY, f64::INFINITY, f64::NAN),
        ("{{count:14 sum:24 buckets:[1 12 1]}}", 1.0, 2.0, 0.8571428571428571),
        ("{{schema:-1 count:5 sum:8 offset:1 buckets:[5]}}", 1.0, 4.0, 1.0),
        ("{{schema:0 z_bucket:1 z_bucket_w:0.5 sum:0.25 count:1}}", -0.5, 0.5, 1.0),
        ("{{schema:0 sum:-5 count:4 n_buckets:[1 2 1]}}", -2.0, -1.0, 0.5),
        ("{{schema:0 sum:0 count:8 buckets:[1 2 1] n_buckets:[1 2 1]}}", 0.0, 4.0, 0.5),
        // Inside a bucket: on a log scale, sqrt(2) is half way through (1, 2].
        (single, 1.0, std::f64::consts::SQRT_2, 0.25),
        // Custom buckets interpolate linearly, the first bucket from 0; nothing of the +Inf bucket counts.
        ("{{schema:-53 sum:21 count:6 custom_values:[1 2 4] buckets:[1 2 1 2]}}", 1.5, 3.0, 0.25),
        ("{{schema:-53 sum:21 count:6 custom_values:[1 2 4] buckets:[1 2 1 2]}}", 0.5, 100.0, 3.5 / 6.0),
    ];
    for &(notation, lower, upper, want) in cases {
        let got = fraction(lower, upper, &h(notation));
        assert!(close(got, want), "fraction({lower}, {upper}, {notation}) = {got}, want {want}");
    }
    let mut notes = Notes::default();
    let got = fraction_noting(f64::NEG_INFINITY, f64::INFINITY, &h("{{schema:0 count:3 sum:NaN buckets:[1 1]}}"), &mut notes);
    assert!(close(got, 2.0 / 3.0) && notes.nan_observations, "NaN observations are in no bucket");
}

#[test]
fn variances() {
    let wide = "buckets:[0 0 0 0 0 0 0 0 0 0 0 0 0 1 0 0 0 0 0 0 0 0 0 0 1 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 ] n_buckets:[0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 ]";
    let cases: Vec<(String, f64, f64)> = vec![
        ("{{schema:2 count:4 sum:10 buckets:[1 0 0 0 1 0 0 1 1]}}".into(), 1.0787993180043811, 1.163807968526718),
        ("{{schema:8 count:10 sum:10 buckets:[1 2 3 4]}}".into(), 0.0048960313898237465, 2.3971123370139447e-05),
        (format!("{{{{schema:3 count:7 sum:62 z_bucket:1 {wide}}}}}"), 42.94723640026, 1844.4651144196398),
        ("{{schema:0 count:10 sum:-112946 z_bucket:0 n_buckets:[0 0 1 1 1 0 1 1 0 0 3 0 0 0 1 0 0 1]}}".into(), 27556.344499842, 759352122.1939945),
        ("{{schema:0 count:10 sum:-100 z_bucket:0 n_buckets:[0 0 0 0 10]}}".into(), 1.3137084989848, 1.725830020304794),
        (format!("{{{{schema:3 count:7 sum:NaN z_bucket:1 {wide}}}}}"), f64::NAN, f64::NAN),
        (format!("{{{{schema:3 count:7 sum:Inf z_bucket:1 {wide}}}}}"), f64::INFINITY, f64::INFINITY),
    ];
    for (notation, want_stddev, want_stdvar) in cases {
        let h = h(&notation);
        assert!(close(stddev(&h), want_stddev), "stddev of {notation}: {}", stddev(&h));
        assert!(close(stdvar(&h), want_stdvar), "stdvar of {notation}: {}", stdvar(&h));
    }
}

#[test]
fn bucket_list_as_the_api_renders_it() {
    let bucket = |lower, upper, count, lower_inclusive, upper_inclusive| Bucket { lower, upper, count, lower_inclusive, upper_inclusive };
    let got = buckets(&h("{{schema:0 z_bucket:2 z_bucket_w:0.001 buckets:[1 0 2] n_buckets:[3] n_offset:1}}"));
    let want = vec![bucket(-2.0, -1.0, 3.0, true, false), bucket(-0.001, 0.001, 2.0, true, true), bucket(0.5, 1.0, 1.0, false, true), bucket(1.0, 2.0, 0.0, false, true), bucket(2.0, 4.0, 2.0, false, true)];
    assert_eq!(got, want);
    let rules: Vec<u8> = got.iter().map(Bucket::boundary_rule).collect();
    assert_eq!(rules, vec![1, 3, 0, 0, 0]);
    // Bounds inside the zero bucket move to its edge; an empty zero bucket is not listed.
    let got = buckets(&h("{{schema:0 z_bucket_w:0.75 buckets:[1] n_buckets:[1]}}"));
    assert_eq!(got, vec![bucket(-1.0, -0.75, 1.0, true, false), bucket(0.75, 1.0, 1.0, false, true)]);
    let got = buckets(&h("{{schema:-53 custom_values:[1 5] buckets:[1 2 3]}}"));
    assert_eq!(got, vec![bucket(f64::NEG_INFINITY, 1.0, 1.0, true, true), bucket(1.0, 5.0, 2.0, false, true), bucket(5.0, f64::INFINITY, 3.0, false, true)]);
    assert_eq!(got[0].boundary_rule(), 3);
}

#[test]
fn trimming() {
    let single = h("{{schema:0 sum:5 count:4 buckets:[1 2 1]}}");
    // Below 2: buckets (0.5,1] and (1,2] stay whole, (2,4] goes; sum from midpoints.
    let got = trim(&single, 2.0, true);
    assert_eq!((got.count, got.positive_buckets.clone()), (3.0, vec![1.0, 2.0]));
    assert!(close(got.sum, 0.5f64.sqrt() + 2.0 * 2f64.sqrt()));
    // Above sqrt(2): half of (1,2] on a log scale.
    let got = trim(&single, std::f64::consts::SQRT_2, false);
    assert!(close(got.count, 2.0) && close(got.positive_buckets[0], 1.0), "{got:?}");
    // Nothing to cut: unchanged, count and sum included.
    assert_eq!(trim(&single, 10.0, true), single);
    // Custom buckets cut linearly; the +Inf bucket is dropped whole when cut from above.
    let nhcb = h("{{schema:-53 sum:21 count:6 custom_values:[1 2 4] buckets:[1 2 1 2]}}");
    let got = trim(&nhcb, 1.5, true);
    assert_eq!((got.count, got.positive_buckets.clone()), (2.0, vec![1.0, 1.0]));
    assert!(close(got.sum, 0.5 + 1.25));
    let got = trim(&h("{{schema:0 z_bucket:4 z_bucket_w:1 sum:0 count:4}}"), 0.5, true);
    assert_eq!((got.zero_count, got.count, got.sum), (3.0, 3.0, -0.75));
}
