//! One label name's values in byte order, packed into one string: what the index keeps
//! beside its hash tables for listings that walk values in order or seek to a prefix.
//! Built when first asked for and again after the name gains values (the index only grows).

/// Sorted values packed end to end; `ends[i]` is where value `i` ends in `text`.
#[derive(Debug, Default)]
pub struct SortedValues {
    text: String,
    ends: Vec<usize>,
}

impl SortedValues {
    pub fn from_unsorted<'a>(values: impl Iterator<Item = &'a str>) -> SortedValues {
        let mut all: Vec<&str> = values.collect();
        all.sort_unstable();
        let mut sorted = SortedValues { text: String::with_capacity(all.iter().map(|v| v.len()).sum()), ends: Vec::with_capacity(all.len()) };
        for v in all {
            sorted.text.push_str(v);
            sorted.ends.push(sorted.text.len());
        }
        sorted
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Value `i`, if there are that many.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    /// Where the first value not below `from` is (`len()` when there is none).
    pub fn seek(&self, from: &str) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.get(mid).is_some_and(|v| v < from) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The first value not below `from`, with its position.
    pub fn first_from(&self, from: &str) -> Option<(&str, usize)> {
        let at = self.seek(from);
        self.get(at).map(|v| (v, at))
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_back_sorted_and_seekable() {
        let values = SortedValues::from_unsorted(["b.c", "a", "", "b", "ä"].into_iter());
        assert_eq!(values.iter().collect::<Vec<_>>(), ["", "a", "b", "b.c", "ä"]);
        assert_eq!(values.len(), 5);
        assert_eq!(values.seek(""), 0);
        assert_eq!(values.seek("b"), 2);
        assert_eq!(values.seek("b."), 3);
        assert_eq!(values.seek("c"), 4);
        assert_eq!(values.seek("zz"), 4);
        assert_eq!(values.seek("\u{10FFFF}"), 5);
        assert_eq!(values.get(5), None);
        assert_eq!((values.first_from("b."), values.first_from("zz")), (Some(("b.c", 3)), Some(("ä", 4))));
        assert_eq!(values.first_from("\u{10FFFF}"), None);
        assert!(SortedValues::default().is_empty());
    }
}
