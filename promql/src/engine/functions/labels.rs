//! Label values for the label functions: the labels `absent()` reports, `label_replace`'s
//! template expansion, setting one label, and the natural order `sort_by_label` compares in.

use tsdb::{Label, Labels, MatchOp, METRIC_NAME_LABEL};

use crate::ast::VectorSelector;

/// Labels `absent()` reports: equality matchers on labels matched exactly once (none for
/// MetricsQL's `or` filters, where no one label set is asked for).
pub(super) fn absent_labels(vs: Option<&VectorSelector>) -> Labels {
    let Some(vs) = vs.filter(|vs| vs.or_matchers.is_empty()) else { return Labels::default() };
    let mut pairs = Vec::new();
    for m in &vs.matchers {
        if m.name == METRIC_NAME_LABEL || m.op != MatchOp::Equal {
            continue;
        }
        if vs.matchers.iter().filter(|o| o.name == m.name).count() == 1 {
            pairs.push((m.name.clone(), m.value.clone()));
        }
    }
    Labels::from_pairs(pairs)
}

/// Go's `regexp.Expand`: `$1`, `${1}`, `$name`, `${name}`, `$$`.
pub(super) fn expand(template: &str, caps: &regex::Captures<'_>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
            continue;
        }
        let (name, after) = if let Some(r) = rest.strip_prefix('{') {
            match r.find('}') {
                Some(end) => (&r[..end], &r[end + 1..]),
                None => {
                    out.push('$');
                    continue;
                }
            }
        } else {
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        if name.is_empty() {
            out.push('$');
            continue;
        }
        let value = match name.parse::<usize>() {
            Ok(n) => caps.get(n),
            Err(_) => caps.name(name),
        };
        out.push_str(value.map_or("", |m| m.as_str()));
        rest = after;
    }
    out.push_str(rest);
    out
}

pub(super) fn set_label(labels: &Labels, name: &str, value: String) -> Labels {
    let mut pairs: Vec<Label> = labels.iter().filter(|l| l.name != name).map(tsdb::LabelRef::to_label).collect();
    if !value.is_empty() {
        pairs.push(Label { name: name.to_string(), value });
    }
    Labels::from_pairs(pairs.into_iter().map(|l| (l.name, l.value)))
}

/// Natural order: digit runs compare as numbers ("1.2.3" < "1.11.3"), the rest as text.
pub(super) fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a, b);
    loop {
        match (x.is_empty(), y.is_empty()) {
            (true, true) => return std::cmp::Ordering::Equal,
            (true, false) => return std::cmp::Ordering::Less,
            (false, true) => return std::cmp::Ordering::Greater,
            _ => {}
        }
        let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (dx, dy) = (digits(x), digits(y));
        let ordering = if dx > 0 && dy > 0 {
            let (nx, ny) = (x[..dx].trim_start_matches('0'), y[..dy].trim_start_matches('0'));
            nx.len().cmp(&ny.len()).then_with(|| nx.cmp(ny)).then_with(|| dx.cmp(&dy))
        } else {
            let cx = x.chars().next().unwrap_or_default();
            let cy = y.chars().next().unwrap_or_default();
            cx.cmp(&cy)
        };
        if ordering.is_ne() {
            return ordering;
        }
        let step_x = if dx > 0 && dy > 0 { dx } else { x.chars().next().map_or(0, char::len_utf8) };
        let step_y = if dx > 0 && dy > 0 { dy } else { y.chars().next().map_or(0, char::len_utf8) };
        x = &x[step_x..];
        y = &y[step_y..];
    }
}

/// VictoriaMetrics' numeric order (`sort_by_label_numeric`): each text is read as numbers (an
/// optional sign, digits and at most one dot) between other text; numbers compare by value and
/// before text, other text bytewise, and a text that ends first is the smaller.
pub(super) fn numeric_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let (mut x, mut y) = (a, b);
    loop {
        match (x.is_empty(), y.is_empty()) {
            (true, true) => return Equal,
            (true, false) => return Less,
            (false, true) => return Greater,
            _ => {}
        }
        let (number_x, number_y) = (number_prefix(x), number_prefix(y));
        (x, y) = (&x[number_x.len()..], &y[number_y.len()..]);
        match (number_x.is_empty(), number_y.is_empty()) {
            (true, true) => {}
            (true, false) => return Greater,
            (false, true) => return Less,
            (false, false) => {
                let value = |n: &str| n.parse::<f64>().unwrap_or(f64::NAN);
                let ordering = value(number_x).total_cmp(&value(number_y));
                if value(number_x) != value(number_y) && ordering.is_ne() {
                    return ordering;
                }
            }
        }
        let text_end = |s: &str| s.find(|c: char| c.is_ascii_digit()).unwrap_or(s.len());
        let (text_x, text_y) = (&x[..text_end(x)], &y[..text_end(y)]);
        if text_x != text_y {
            return text_x.cmp(text_y);
        }
        (x, y) = (&x[text_x.len()..], &y[text_y.len()..]);
    }
}

/// The number `s` starts with (sign, digits, at most one dot; at least one digit), or "".
fn number_prefix(s: &str) -> &str {
    let bytes = s.as_bytes();
    let mut end = usize::from(matches!(bytes.first(), Some(b'-' | b'+')));
    let (mut has_digit, mut has_dot) = (false, false);
    while let Some(&c) = bytes.get(end) {
        match c {
            b'0'..=b'9' => has_digit = true,
            b'.' if !has_dot => has_dot = true,
            _ => break,
        }
        end += 1;
    }
    if has_digit { &s[..end] } else { "" }
}

#[cfg(test)]
mod numeric_order_tests {
    use super::numeric_cmp;
    use std::cmp::Ordering::{Equal, Greater, Less};

    #[test]
    fn numbers_compare_by_value_and_before_text() {
        let cases = [
            ("2", "10", Less),
            ("-3", "1", Less),
            ("1.5", "1.25", Greater),
            ("v10", "v9", Greater),
            ("host2.a", "host2.b", Less),
            ("7", "a", Less),
            ("", "0", Less),
            ("010", "10", Equal),
            ("a-5", "a5", Greater),
        ];
        for (a, b, want) in cases {
            assert_eq!(numeric_cmp(a, b), want, "{a} vs {b}");
        }
    }
}
