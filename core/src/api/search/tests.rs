//! The search API's scores, parameters and NDJSON framing against Prometheus' own cases.
use super::score::*;
use super::*;

fn close(got: f64, want: f64, tolerance: f64) -> bool {
    (got - want).abs() <= tolerance
}

// Cases and numbers re-derived from Prometheus' search_filters_test.go (substring).
#[test]
fn substring_scores_fall_with_the_match_position_in_characters() {
    let table: &[(&str, &str, Option<f64>)] = &[
        ("prometheus", "prometheus", Some(1.0)),
        ("prom", "prometheus", Some(1.0)),
        ("meth", "prometheus", Some(0.55)), // position 3 of 6
        ("heus", "prometheus", Some(0.1)),  // the last position
        ("prometheus", "Prometheus", None),
        ("grafana", "prometheus", None),
        ("本", "東京日本京都", Some(0.46)), // position 3 of 5 characters, not bytes
        ("fo", "infor", Some(0.4)),
        ("b", "abc日本", Some(0.775)),  // ASCII match, multi-byte tail: 1 of 4
        ("c", "日本cabc", Some(0.64)), // multi-byte head: 2 of 5
    ];
    for &(query, value, want) in table {
        let got = substring_score(query, value);
        assert_eq!(got.is_some(), want.is_some(), "{query} in {value}");
        if let (Some(got), Some(want)) = (got, want) {
            assert!(close(got, want, 1e-12), "{query} in {value}: {got} != {want}");
        }
    }
}

// Prometheus' strutil subsequence_test.go expectations, re-derived from its formula.
#[test]
fn subsequence_scores_reward_runs_and_penalise_gaps() {
    let table: &[(&str, &str, f64)] = &[
        ("", "anything", 1.0),
        ("abc", "", 0.0),
        ("my awesome text", "my awesome text", 1.0),
        ("my", "my awesome text", 107.0 / 120.0 * 0.999), // (4 - 13/30) / 4
        ("tex", "my awesome text", 247.0 / 270.0 * 0.999), // (9 - 11/15 - 1/30) / 9
        ("met", "my awesome text", 43.0 / 90.0 * 0.999), // (5 - 9/15 - 3/30) / 9
        ("bac", "babac", 43.0 / 45.0 * 0.999), // the later start with one run wins
        ("handler1", "handler10", 1_149_849.0 / 1_152_000.0),
        ("abcd", "abc", 0.0),
        ("abc", "éé", 0.0),
        ("é", "ab", 0.0),
        ("xyz", "abc", 0.0),
        ("éàü", "éàü", 1.0),
        ("éà", "éàü", 23.0 / 24.0 * 0.999),
        ("üé", "éàü", 0.0),
        ("éàx", "éàü", 0.0),
        ("éü", "éàü", 5.0 / 12.0 * 0.999),
        ("aé", "aéb", 23.0 / 24.0 * 0.999),
        ("é", "ã", 0.0), // same leading UTF-8 byte, different characters
        ("a", "a", 1.0),
    ];
    for &(pattern, text, want) in table {
        let got = subsequence_score(pattern, text);
        assert!(close(got, want, 1e-12), "{pattern} in {text}: {got} != {want}");
    }
}

// Prometheus' strutil jarowinkler_test.go ranges, plus the textbook values.
#[test]
fn jaro_winkler_scores_are_symmetric_and_in_the_expected_ranges() {
    let table: &[(&str, &str, f64, f64)] = &[
        ("prometheus", "prometheus", 1.0, 1.0),
        ("", "", 1.0, 1.0),
        ("", "abc", 0.0, 0.0),
        ("abc", "xyz", 0.0, 0.0),
        ("mimir", "mimer", 0.90, 0.92),
        ("martha", "marhta", 0.961_111, 0.961_112),
        ("dwayne", "duane", 0.84, 0.840_001),
        ("dixon", "dicksonx", 0.813_333, 0.813_334),
        ("a", "b", 0.0, 0.0),
        ("prefix_abc", "prefix_xyz", 0.80, 0.90),
        ("café", "cafe", 0.88, 0.89),
        ("naïve", "naive", 0.89, 0.90),
        ("résumé", "resume", 0.79, 0.81),
        ("préfixe_abc", "préfixe_xyz", 0.80, 0.90),
        ("naïve_long", "naïve", 0.89, 0.91),
        ("äöü", "éèê", 0.0, 0.0),
        ("màrthà", "màrhtà", 0.96, 0.97),
    ];
    for &(a, b, low, high) in table {
        let score = jaro_winkler(a, b);
        assert!((low..=high).contains(&score), "{a} ~ {b}: {score} not in [{low}, {high}]");
        assert!(close(score, jaro_winkler(b, a), 1e-10), "{a} ~ {b} is not symmetric");
    }
}

fn filter(search: &str, fuzz_threshold: u8, fuzz_alg: FuzzAlg, case_sensitive: bool) -> SearchFilter {
    SearchFilter::build(&[search.to_string()], fuzz_threshold, fuzz_alg, case_sensitive).expect("a non-empty term")
}

// Prometheus' TestMatchName (Jaro-Winkler chain) and TestSubsequenceFilter.
#[test]
fn filters_keep_and_score_as_prometheus_chains_them() {
    use FuzzAlg::{JaroWinkler, Subsequence};
    // Term, fuzz_threshold, fuzz_alg, case_sensitive, value, score (None: not kept).
    type Case<'a> = (&'a str, u8, FuzzAlg, bool, &'a str, Option<f64>);
    let table: &[Case] = &[
        ("go_gor", 100, JaroWinkler, true, "go_goroutines", Some(1.0)),
        ("GO_GOR", 100, JaroWinkler, true, "go_goroutines", None),
        ("GO_GOR", 100, JaroWinkler, false, "go_goroutines", Some(1.0)),
        ("xyz_not_found", 100, JaroWinkler, true, "go_goroutines", None),
        ("go_goroutins", 100, JaroWinkler, true, "go_goroutines", None),
        ("goroutine", 100, JaroWinkler, true, "go_goroutines", Some(0.325)),
        // No threshold: substring only.
        ("go_goroutins", 0, JaroWinkler, true, "go_goroutines", None),
        ("prometheus", 80, JaroWinkler, true, "PROMETHEUS", None),
        ("prometheus", 80, JaroWinkler, true, "grafana", None),
        ("prometheus", 100, Subsequence, true, "prometheus", Some(1.0)),
        ("prom", 100, Subsequence, true, "prometheus", Some(1.0)),
        ("xyz", 0, Subsequence, true, "prometheus", None),
        ("prom", 0, Subsequence, true, "PROMETHEUS", None),
        ("prom", 0, Subsequence, false, "PROMETHEUS", Some(1.0)),
        ("pms", 99, Subsequence, true, "prometheus", None),
    ];
    for &(search, threshold, alg, case_sensitive, value, want) in table {
        let got = filter(search, threshold, alg, case_sensitive).score(value);
        assert_eq!(got.is_some(), want.is_some(), "{search} ({alg:?}, {threshold}) on {value}: {got:?}");
        if let (Some(got), Some(want)) = (got, want) {
            assert!(close(got, want, 1e-12), "{search} on {value}: {got} != {want}");
        }
    }
    let fuzzy = filter("go_goroutins", 80, JaroWinkler, true).score("go_goroutines").expect("kept by Jaro-Winkler");
    assert!((0.8..1.0).contains(&fuzzy), "{fuzzy}");
    let pms = filter("pms", 0, Subsequence, true).score("prometheus").expect("a subsequence");
    assert!(pms > 0.0 && pms < 0.99, "{pms}");
    // Terms are ORed, the best score counts; empty terms are no filter at all.
    let two = SearchFilter::build(&["heus".into(), "meth".into()], 0, JaroWinkler, true).expect("terms");
    assert_eq!(two.score("prometheus"), Some(0.55));
    assert!(SearchFilter::build(&[String::new()], 0, Subsequence, true).is_none());
    // Go's simple lower-casing: İ is i, a final Σ is σ.
    assert_eq!(go_to_lower("İSTANBUL ΟΔΟΣ"), "istanbul οδοσ");
}

fn params(query: &str) -> Params {
    Params::from_request(Some(query), None).expect("valid query string")
}

#[test]
fn bad_parameters_are_400s_with_prometheus_messages_in_its_order() {
    let now = 7_200_000;
    let table: &[(&str, &str)] = &[
        ("start=yesterday", "invalid time value for 'start': cannot parse \"yesterday\" to a valid timestamp"),
        ("end=x", "invalid time value for 'end': cannot parse \"x\" to a valid timestamp"),
        ("start=7200&end=3600", "end timestamp must not be before start timestamp"),
        ("match[]=%7Bjob%3D%22%22%7D", "1:1: parse error: vector selector must contain at least one non-empty matcher"),
        ("fuzz_threshold=200", "invalid fuzz_threshold \"200\": must be 0-100"),
        ("fuzz_threshold=-1", "invalid fuzz_threshold \"-1\": must be 0-100"),
        ("fuzz_alg=levenshtein", "unsupported fuzz_alg \"levenshtein\": must be one of [subsequence jarowinkler]"),
        ("case_sensitive=maybe", "invalid case_sensitive \"maybe\": must be boolean"),
        ("include_score=yes", "invalid include_score \"yes\": must be boolean"),
        ("sort_dir=asc", "sort_dir is only valid when sort_by is set"),
        ("sort_by=score&sort_dir=asc&search[]=a", "sort_dir is not supported for sort_by=score"),
        ("sort_by=alpha&sort_dir=up", "invalid sort_dir \"up\": must be \"asc\" or \"dsc\""),
        ("sort_by=score", "sort_by=score requires search[] to be set"),
        ("limit=0", "invalid limit \"0\": must be a positive integer"),
        ("limit=-1", "invalid limit \"-1\": must be a positive integer"),
        ("limit=x", "invalid limit \"x\": must be a positive integer"),
        ("limit=10001", "limit 10001 exceeds the configured maximum (10000, see --web.search.max-limit)"),
        ("batch_size=0", "invalid batch_size \"0\": must be a positive integer"),
        ("sort_by=cardinality", "invalid sort_by \"cardinality\" for label_values: must be \"alpha\" or \"score\""),
        // Checked in Prometheus' order: the sort direction before the sort key.
        ("sort_by=frequency&sort_dir=x", "invalid sort_dir \"x\": must be \"asc\" or \"dsc\""),
        ("limit=0&batch_size=0", "invalid limit \"0\": must be a positive integer"),
    ];
    for (query, message) in table {
        let error = SearchParams::parse(&params(query), Endpoint::LabelValues, now).expect_err(query);
        assert_eq!((error.status.as_u16(), error.error_type, error.message.as_str()), (400, "bad_data", *message), "{query}");
    }
    let terms: String = (0..33).map(|i| format!("search[]=t{i}&")).collect();
    let error = SearchParams::parse(&params(&terms), Endpoint::MetricNames, now).expect_err("33 terms");
    assert_eq!(error.message, "too many search[] terms: got 33, maximum is 32");
    let error = SearchParams::parse(&params("sort_by=x"), Endpoint::MetricNames, now).expect_err("bad sort_by");
    assert_eq!(error.message, "invalid sort_by \"x\" for metric_names: must be \"alpha\" or \"score\"");
}

#[test]
fn parameters_default_as_prometheus_defaults_them() {
    let now = 10_000_000;
    let p = SearchParams::parse(&params(""), Endpoint::MetricNames, now).expect("defaults");
    assert_eq!((p.mint_ms, p.maxt_ms), (now - 3_600_000, now));
    assert_eq!((p.limit, p.batch_size, p.fuzz_threshold), (100, 100, 0));
    assert_eq!((p.fuzz_alg, p.order, p.case_sensitive, p.include_score), (FuzzAlg::Subsequence, Order::ValueAsc, true, false));
    assert!(p.match_sets.is_empty() && p.searches.is_empty());
    let p = SearchParams::parse(&params("sort_by=alpha&sort_dir=dsc&limit=%2B7&case_sensitive=F&include_score=1&start=5&end=5"), Endpoint::LabelNames, now)
        .expect("valid");
    assert_eq!((p.order, p.limit, p.case_sensitive, p.include_score, p.mint_ms, p.maxt_ms), (Order::ValueDesc, 7, false, true, 5000, 5000));
    let p = SearchParams::parse(&params("sort_by=score&search[]=&match[]=up&extra_label=job=a"), Endpoint::LabelNames, now).expect("valid");
    assert_eq!(p.order, Order::ScoreDesc);
    // The read filters are joined with every match[].
    assert_eq!(p.match_sets.len(), 1);
    assert_eq!(p.match_sets[0].len(), 2);
}

fn values(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[test]
fn ndjson_batches_split_at_batch_size_and_has_more_tells_a_cut() {
    let five = values(&["a", "b", "c", "d", "e"]);
    let (hits, has_more) = rank(five.clone(), None, Order::ValueAsc, 100);
    let body = ndjson(&hits, has_more, 2, |out, hit| {
        push_hit_open(out, "value", hit, false);
        out.push('}');
    });
    assert_eq!(
        body,
        "{\"results\":[{\"value\":\"a\"},{\"value\":\"b\"}]}\n{\"results\":[{\"value\":\"c\"},{\"value\":\"d\"}]}\n\
         {\"results\":[{\"value\":\"e\"}]}\n{\"status\":\"success\",\"has_more\":false}\n"
    );
    // A limit that cuts: has_more; one exactly as large: not.
    let (hits, has_more) = rank(five.clone(), None, Order::ValueDesc, 3);
    assert_eq!(hits.iter().map(|h| h.value.as_str()).collect::<Vec<_>>(), ["e", "d", "c"]);
    assert!(has_more);
    let body = ndjson(&hits, has_more, 2, |out, hit| out.push_str(&hit.value));
    assert_eq!(body, "{\"results\":[e,d]}\n{\"results\":[c]}\n{\"status\":\"success\",\"has_more\":true}\n");
    let (hits, has_more) = rank(five, None, Order::ValueAsc, 5);
    assert!(!has_more);
    assert_eq!(hits.len(), 5);
    // Nothing found: one empty batch, then the trailer.
    assert_eq!(ndjson(&[], false, 2, |_, _| {}), "{\"results\":[]}\n{\"status\":\"success\",\"has_more\":false}\n");
}

#[test]
fn score_order_breaks_ties_by_value_and_scores_print_as_go_does() {
    let f = SearchFilter::build(&["meth".into()], 0, FuzzAlg::JaroWinkler, true);
    let (hits, has_more) = rank(values(&["a_meth_b", "meth", "promethe", "prometheus", "zmeth"]), f.as_ref(), Order::ScoreDesc, 4);
    let got: Vec<(&str, f64)> = hits.iter().map(|h| (h.value.as_str(), h.score)).collect();
    // 0.55 twice (positions 2 of 4 and 3 of 6): the lesser value first.
    assert_eq!(got, [("meth", 1.0), ("a_meth_b", 0.55), ("prometheus", 0.55), ("promethe", 1.0 - 0.9 * 3.0 / 4.0)]);
    assert!(has_more);
    // \b and \f as Go 1.22 and later write them (Prometheus 3 is built with those).
    let mut out = String::new();
    push_hit_open(&mut out, "name", &Hit { value: "a<b>&c\u{2028}\u{2029}\"\\\n\r\t\u{1}\u{8}\u{c}\u{7f}é".into(), score: 0.55 }, true);
    assert_eq!(out, "{\"name\":\"a\\u003cb\\u003e\\u0026c\\u2028\\u2029\\\"\\\\\\n\\r\\t\\u0001\\b\\f\u{7f}é\",\"score\":0.55");
    let mut out = String::new();
    push_hit_open(&mut out, "value", &Hit { value: "x".into(), score: 1.0 }, true);
    assert_eq!(out, "{\"value\":\"x\",\"score\":1");
}
