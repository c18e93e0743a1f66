//! Set operations on sorted, duplicate-free series id lists.

use super::SeriesId;

pub fn intersect(a: &[SeriesId], b: &[SeriesId]) -> Vec<SeriesId> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// True when some id of `ids` that is also in `within` (all of `ids` when `None`) passes
/// `live`; stops at the first one. Label listings use it to keep a value as soon as one
/// series carrying it has data in the asked range, instead of reading every series.
pub fn any_live<E>(
    ids: impl IntoIterator<Item = SeriesId>,
    within: Option<&[SeriesId]>,
    mut live: impl FnMut(SeriesId) -> Result<bool, E>,
) -> Result<bool, E> {
    let mut j = 0;
    for id in ids {
        if let Some(within) = within {
            j += within[j..].partition_point(|&w| w < id);
            if j == within.len() {
                return Ok(false);
            }
            if within[j] != id {
                continue;
            }
        }
        if live(id)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `a` minus `b`.
pub fn difference(a: &[SeriesId], b: &[SeriesId]) -> Vec<SeriesId> {
    let mut j = 0;
    let mut out = Vec::with_capacity(a.len());
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j >= b.len() || b[j] != x {
            out.push(x);
        }
    }
    out
}

/// Union of many sorted lists.
pub fn union_all<'a>(lists: impl Iterator<Item = &'a [SeriesId]>) -> Vec<SeriesId> {
    let mut out: Vec<SeriesId> = Vec::new();
    for list in lists {
        out = if out.is_empty() {
            list.to_vec()
        } else {
            merge(&out, list)
        };
    }
    out
}

fn merge(a: &[SeriesId], b: &[SeriesId]) -> Vec<SeriesId> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len() + b.len());
    while i < a.len() || j < b.len() {
        let next = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x == y => {
                i += 1;
                j += 1;
                x
            }
            (Some(&x), Some(&y)) if x < y => {
                i += 1;
                x
            }
            (_, Some(&y)) => {
                j += 1;
                y
            }
            (Some(&x), None) => {
                i += 1;
                x
            }
            (None, None) => unreachable!("loop condition guarantees one side remains"),
        };
        out.push(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        #[test]
        fn match_set_semantics(a in proptest::collection::btree_set(0u32..200, 0..60), b in proptest::collection::btree_set(0u32..200, 0..60)) {
            let (va, vb): (Vec<u32>, Vec<u32>) = (a.iter().copied().collect(), b.iter().copied().collect());
            prop_assert_eq!(intersect(&va, &vb), a.intersection(&b).copied().collect::<Vec<_>>());
            prop_assert_eq!(difference(&va, &vb), a.difference(&b).copied().collect::<Vec<_>>());
            let u: BTreeSet<u32> = a.union(&b).copied().collect();
            prop_assert_eq!(union_all([va.as_slice(), vb.as_slice()].into_iter()), u.into_iter().collect::<Vec<_>>());
        }

        #[test]
        fn any_live_is_exists_over_the_intersection(
            a in proptest::collection::btree_set(0u32..200, 0..60),
            b in proptest::collection::btree_set(0u32..200, 0..60),
            live in proptest::collection::btree_set(0u32..200, 0..60),
            restrict in any::<bool>(),
        ) {
            let (va, vb): (Vec<u32>, Vec<u32>) = (a.iter().copied().collect(), b.iter().copied().collect());
            let expected = a.iter().any(|id| (!restrict || b.contains(id)) && live.contains(id));
            let mut checked = Vec::new();
            let got = any_live::<()>(va.iter().copied(), restrict.then_some(vb.as_slice()), |id| {
                checked.push(id);
                Ok(live.contains(&id))
            });
            prop_assert_eq!(got, Ok(expected));
            // Only ids of the intersection are checked, and nothing after the first live one.
            prop_assert!(checked.iter().all(|id| a.contains(id) && (!restrict || b.contains(id))));
            prop_assert!(checked.iter().rev().skip(1).all(|id| !live.contains(id)));
        }
    }
}
