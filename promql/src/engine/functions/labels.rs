//! Label values for the label functions: the labels `absent()` reports, `label_replace`'s
//! template expansion, setting one label, and the natural order `sort_by_label` compares in.

use tsdb::{Label, Labels, MatchOp, METRIC_NAME_LABEL};

use crate::ast::VectorSelector;

/// Labels `absent()` reports: equality matchers on labels matched exactly once.
pub(super) fn absent_labels(vs: Option<&VectorSelector>) -> Labels {
    let Some(vs) = vs else { return Labels::default() };
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
