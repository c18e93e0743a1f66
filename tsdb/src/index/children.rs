//! The children of a path among label values read as paths (Graphite's tree of names):
//! under `prefix`, each value's next component, ending at the delimiter when it has more
//! (`prefix = "a."`: `a.b.c` gives the node `b.`, `a.d` the leaf `d`). The values are
//! walked in byte order with skips: a node's first live value settles it, and the walk
//! then jumps past every value under it, so the cost follows the children, not the values.

use std::convert::Infallible;

use super::sorted_values::SortedValues;

/// The children of `prefix` (sorted; nodes end with `delimiter`) among sorted values.
/// `seek(from)` gives the first value not below `from` with its handle; `live` says
/// whether a value counts (has a series the listing keeps).
pub fn children<'a, H: Copy, E>(
    prefix: &str,
    delimiter: char,
    seek: impl Fn(&str) -> Option<(&'a str, H)>,
    mut live: impl FnMut(&str, H) -> Result<bool, E>,
) -> Result<Vec<String>, E> {
    let mut found = Vec::new();
    let mut next = seek(prefix);
    while let Some((value, handle)) = next {
        let Some(rest) = value.strip_prefix(prefix) else { break };
        let Some(at) = rest.find(delimiter) else {
            if live(value, handle)? {
                found.push(rest.to_string());
            }
            next = seek(&just_after(value));
            continue;
        };
        let node = &value[..prefix.len() + at + delimiter.len_utf8()];
        // The first live value under the node settles it.
        let mut under = Some((value, handle));
        let mut is_live = false;
        while let Some((v, h)) = under.filter(|(v, _)| v.starts_with(node)) {
            if live(v, h)? {
                is_live = true;
                break;
            }
            under = seek(&just_after(v));
        }
        if is_live {
            found.push(node[prefix.len()..].to_string());
        }
        next = match past_every_value_under(node, delimiter) {
            Some(bound) => seek(&bound),
            // A delimiter with no successor: step through the rest of the node's values.
            None => {
                let mut after = under;
                while let Some((v, _)) = after.filter(|(v, _)| v.starts_with(node)) {
                    after = seek(&just_after(v));
                }
                after
            }
        };
    }
    Ok(found)
}

/// [`children`] where every value counts.
fn children_of_all<'a>(prefix: &str, delimiter: char, seek: impl Fn(&str) -> Option<(&'a str, usize)>) -> Vec<String> {
    let found: Result<_, Infallible> = children(prefix, delimiter, seek, |_, _| Ok(true));
    found.unwrap_or_else(|never| match never {})
}

/// [`children`] among every value of a name's sorted copy.
pub fn children_of_sorted(values: &SortedValues, prefix: &str, delimiter: char) -> Vec<String> {
    children_of_all(prefix, delimiter, |from| values.first_from(from))
}

/// [`children`] among every value of a sorted list.
pub fn children_of_list(values: &[String], prefix: &str, delimiter: char) -> Vec<String> {
    children_of_all(prefix, delimiter, |from| seek_in(values, from))
}

/// The first value of a sorted list not below `from`, with its position.
fn seek_in<'a>(values: &'a [String], from: &str) -> Option<(&'a str, usize)> {
    let at = values.partition_point(|v| v.as_str() < from);
    values.get(at).map(|v| (v.as_str(), at))
}

/// The least string above `value`.
fn just_after(value: &str) -> String {
    let mut next = String::with_capacity(value.len() + 1);
    next.push_str(value);
    next.push('\0');
    next
}

/// The least string above every string starting with `node` (which ends with
/// `delimiter`): `node` with the delimiter replaced by the next character; none when the
/// delimiter is the last character.
fn past_every_value_under(node: &str, delimiter: char) -> Option<String> {
    let successor = match delimiter as u32 {
        0xD7FF => Some('\u{E000}'),
        code => char::from_u32(code + 1),
    }?;
    let mut bound = node[..node.len() - delimiter.len_utf8()].to_string();
    bound.push(successor);
    Some(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(values: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn nodes_and_leaves_under_a_prefix() {
        let values = sorted(&["a.b", "a.b-x", "a.b.c", "a.b.d.e", "a.c", "ab.x", "a", "b.a"]);
        assert_eq!(children_of_list(&values, "a.", '.'), ["b", "b-x", "b.", "c"]);
        assert_eq!(children_of_list(&values, "a.b.", '.'), ["c", "d."]);
        assert_eq!(children_of_list(&values, "", '.'), ["a", "a.", "ab.", "b."]);
        assert_eq!(children_of_list(&values, "z.", '.'), Vec::<String>::new());
        // A prefix that is not at a delimiter reads the rest of the component.
        assert_eq!(children_of_list(&values, "a.b", '.'), ["", "-x", "."]);
    }

    #[test]
    fn a_node_counts_when_any_value_under_it_is_live() {
        let values = sorted(&["a.b.1", "a.b.2", "a.b.3", "a.c.1", "a.d"]);
        let mut asked = Vec::new();
        let seek = |from: &str| seek_in(&values, from);
        let live = |v: &str, _| {
            asked.push(v.to_string());
            Ok::<_, Infallible>(v == "a.b.2")
        };
        assert_eq!(children("a.", '.', seek, live).unwrap_or_default(), ["b."]);
        // b's values until the live one, c's only value, then the leaf d.
        assert_eq!(asked, ["a.b.1", "a.b.2", "a.c.1", "a.d"]);
    }

    #[test]
    fn a_live_node_skips_its_other_values() {
        let values: Vec<String> = (0..1000).map(|i| format!("a.b.{i:04}")).chain(["a.c".to_string()]).collect();
        let mut asked = 0;
        let seek = |from: &str| seek_in(&values, from);
        let found = children("a.", '.', seek, |_, _| {
            asked += 1;
            Ok::<_, Infallible>(true)
        });
        assert_eq!(found.unwrap_or_default(), ["b.", "c"]);
        assert_eq!(asked, 2);
    }

    #[test]
    fn other_delimiters_and_a_delimiter_without_successor() {
        let values = sorted(&["x/y/z", "x/w", "x/y/q"]);
        assert_eq!(children_of_list(&values, "x/", '/'), ["w", "y/"]);
        let last = char::MAX;
        let values = sorted(&[&format!("p{last}a{last}b"), &format!("p{last}a{last}c"), &format!("p{last}b")]);
        assert_eq!(children_of_list(&values, &format!("p{last}"), last), [format!("a{last}"), "b".to_string()]);
        let values = sorted(&["a\u{D7FF}b", "a\u{D7FF}c\u{D7FF}d", "a\u{D7FF}c\u{D7FF}e", "a\u{E000}"]);
        assert_eq!(children_of_list(&values, "a\u{D7FF}", '\u{D7FF}'), ["b".to_string(), "c\u{D7FF}".to_string()]);
    }

    #[test]
    fn errors_from_live_stop_the_walk() {
        let values = sorted(&["a.b", "a.c"]);
        let seek = |from: &str| seek_in(&values, from);
        let found = children("a.", '.', seek, |v, _| if v == "a.c" { Err("unreadable") } else { Ok(true) });
        assert_eq!(found, Err("unreadable"));
    }
}
