//! Tests of label sets: construction, the stable hash, ordering.

use super::*;
use proptest::prelude::*;

#[test]
fn from_pairs_sorts_and_drops_empty() {
    let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("c", "")]);
    assert_eq!(l.len(), 2);
    assert_eq!(l.iter().next().map(|l| l.name), Some("a"));
    assert_eq!(l.get("b"), Some("2"));
    assert_eq!(l.get("c"), None);
}

#[test]
fn stable_hash_is_order_independent_of_input_and_fixed() {
    let a = Labels::from_pairs([("__name__", "up"), ("job", "x")]);
    let b = Labels::from_pairs([("job", "x"), ("__name__", "up")]);
    assert_eq!(a.stable_hash(), b.stable_hash());
    // Pinned value: routing must never change between versions.
    assert_eq!(
        a.stable_hash(),
        stable_hash_of([(&b"__name__"[..], &b"up"[..]), (&b"job"[..], &b"x"[..])].into_iter())
    );
    assert_ne!(
        a.stable_hash(),
        Labels::from_pairs([("__name__", "upjob"), ("x", "")]).stable_hash()
    );
}

#[test]
fn long_label_sets_hash_as_the_streaming_definition() {
    let streaming = |pairs: &[(String, String)]| {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        for (n, v) in pairs {
            for part in [n.as_bytes(), &[0xff], v.as_bytes(), &[0xff]] {
                hasher.update(part);
            }
        }
        hasher.digest()
    };
    // Around and past the one-shot buffer: the switch to streaming at every point.
    for value_len in [0, 1, 200, 497, 498, 499, 500, 510, 511, 1000, 5000] {
        let pairs = vec![("__name__".to_string(), "up".to_string()), ("a".to_string(), "x".repeat(value_len)), ("b".to_string(), "y".repeat(value_len / 2))];
        let labels = Labels::from_pairs(pairs.clone());
        let kept: Vec<(String, String)> = pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        assert_eq!(labels.stable_hash(), streaming(&kept), "value length {value_len}");
    }
}

fn pairs_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
    // Short names from a small alphabet (so sets share prefixes and names), values up
    // to past the two-byte length encoding.
    proptest::collection::btree_map("[a-c_]{1,3}", prop_oneof!["[x-z]{1,3}", "v{120,140}", "w{16380,16390}"], 0..6)
        .prop_map(|m| m.into_iter().collect())
}

proptest! {
    /// The packed set reads back the pairs it was built from, and orders, compares and
    /// looks up exactly as the list of pairs does.
    #[test]
    fn packed_sets_behave_as_their_pair_lists(a in pairs_strategy(), b in pairs_strategy()) {
        let la = Labels::from_pairs(a.clone());
        let lb = Labels::from_pairs(b.clone());
        let read: Vec<(String, String)> = la.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect();
        prop_assert_eq!(&read, &a);
        prop_assert_eq!(la.len(), a.len());
        prop_assert_eq!(la.cmp(&lb), a.cmp(&b));
        prop_assert_eq!(la == lb, a == b);
        for (name, value) in &a {
            prop_assert_eq!(la.get(name), Some(value.as_str()));
        }
        for (name, _) in &b {
            prop_assert_eq!(la.get(name).is_some(), a.iter().any(|(n, _)| n == name));
        }
        prop_assert_eq!(Labels::from_sorted(la.iter()), la.clone());
        prop_assert_eq!(Labels::from_sorted(la.to_vec()), la);
    }
}

proptest! {
    /// `short_bytes_cmp` is byte order, whatever the lengths and shared prefix.
    #[test]
    fn short_bytes_cmp_is_byte_order(a in proptest::collection::vec(any::<u8>(), 0..40), b in proptest::collection::vec(any::<u8>(), 0..40), shared in 0usize..40) {
        // Long common prefixes too, so the word loop runs before the difference.
        let shared = shared.min(a.len());
        let b: Vec<u8> = a[..shared].iter().chain(&b).copied().collect();
        prop_assert_eq!(short_bytes_cmp(&a, &b), a.cmp(&b));
        prop_assert_eq!(short_bytes_cmp(&b, &a), b.cmp(&a));
        prop_assert_eq!(short_bytes_cmp(&a, &a), std::cmp::Ordering::Equal);
    }

    /// `short_bytes_equal` is `==` at every length it handles itself and past them,
    /// including slices that differ in one byte only.
    #[test]
    fn short_bytes_equal_is_equality(a in proptest::collection::vec(any::<u8>(), 0..48), flip in any::<usize>(), other_len in 0usize..48) {
        prop_assert!(short_bytes_equal(&a, &a.clone()));
        if !a.is_empty() {
            let mut b = a.clone();
            let i = flip % b.len();
            b[i] = b[i].wrapping_add(1);
            prop_assert!(!short_bytes_equal(&a, &b));
        }
        let c: Vec<u8> = a.iter().copied().cycle().take(other_len).collect();
        prop_assert_eq!(short_bytes_equal(&a, &c), a == c);
    }

    /// `equals_pairs` agrees with comparing the pair lists, also for lists that differ
    /// in one pair, one byte, or their length.
    #[test]
    fn equals_pairs_is_pair_list_equality(a in pairs_strategy(), b in pairs_strategy(), cut in 0usize..6) {
        let la = Labels::from_pairs(a.clone());
        let bytes = |pairs: &[(String, String)]| pairs.iter().map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec())).collect::<Vec<_>>();
        let check = |pairs: &Vec<(Vec<u8>, Vec<u8>)>, count: usize| la.equals_pairs(count, pairs.iter().map(|(n, v)| (n.as_slice(), v.as_slice())));
        let (own, other) = (bytes(&a), bytes(&b));
        prop_assert!(check(&own, own.len()));
        prop_assert_eq!(check(&other, other.len()), a == b);
        let shorter: Vec<_> = own.iter().take(cut).cloned().collect();
        prop_assert_eq!(check(&shorter, shorter.len()), shorter.len() == own.len());
        let mut changed = own.clone();
        if let Some((_, value)) = changed.last_mut() {
            value[0] ^= 1;
            prop_assert!(!check(&changed, changed.len()));
        }
    }
}

#[test]
fn display_is_prometheus_notation() {
    let l = Labels::from_pairs([("__name__", "up"), ("job", "a\"b")]);
    assert_eq!(l.to_string(), "up{job=\"a\\\"b\"}");
    let utf8 = Labels::from_pairs([("__name__", "my.metric"), ("http.route", "/a"), ("job", "x"), ("1st", "y")]);
    assert_eq!(utf8.to_string(), r#"{"my.metric", "1st"="y", "http.route"="/a", job="x"}"#);
    let colons = Labels::from_pairs([("__name__", "ns:rule:rate5m"), ("a:b", "1")]);
    assert_eq!(colons.to_string(), r#"ns:rule:rate5m{"a:b"="1"}"#, "a colon is a metric name's, not a label name's");
    assert_eq!(Labels::from_pairs([("job", "x")]).to_string(), r#"{job="x"}"#);
}
