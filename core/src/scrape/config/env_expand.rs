//! Environment references in `global.external_labels` values (`scrape.expand_external_labels`,
//! Prometheus' `--enable-feature=expand-external-labels`): `$NAME` and `${NAME}` are
//! replaced by the variable's value, with the rules of Go's `os.Expand` that Prometheus
//! uses: `$$` is a `$`, a `$` before no name stays, `${}` and an unclosed `${` are dropped,
//! and a name is letters, digits and `_` (or one of `*#$@!?-` and a digit, alone).

/// `value` with its references replaced through `lookup` (an unset or empty variable gives
/// the empty string), and the names that gave nothing (for a warning, as Prometheus logs).
pub fn expand(value: &str, lookup: impl Fn(&str) -> Option<String>) -> (String, Vec<String>) {
    let bytes = value.as_bytes();
    let mut out = String::with_capacity(value.len());
    let mut empty = Vec::new();
    let mut copied_to = 0;
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] != b'$' || at + 1 == bytes.len() {
            at += 1;
            continue;
        }
        out.push_str(&value[copied_to..at]);
        let (name, width) = reference_name(&value[at + 1..]);
        match name {
            // Bad syntax (`${}`, an unclosed `${`): eaten.
            None if width > 0 => {}
            // `$` followed by no name: kept.
            None => out.push('$'),
            Some("$") => out.push('$'),
            Some(name) => match lookup(name).filter(|v| !v.is_empty()) {
                Some(found) => out.push_str(&found),
                None => empty.push(name.to_string()),
            },
        }
        at += 1 + width;
        copied_to = at;
    }
    out.push_str(&value[copied_to..]);
    (out, empty)
}

/// The name a `$` is followed by in `after` and how many bytes it takes (Go's
/// `getShellName`): `None` with a width for bad syntax, `None` with 0 for no name.
fn reference_name(after: &str) -> (Option<&str>, usize) {
    let bytes = after.as_bytes();
    let special = |c: u8| matches!(c, b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-' | b'0'..=b'9');
    if bytes[0] == b'{' {
        if bytes.len() > 2 && special(bytes[1]) && bytes[2] == b'}' {
            return (Some(&after[1..2]), 3);
        }
        return match bytes.iter().skip(1).position(|&c| c == b'}') {
            Some(0) => (None, 2),
            Some(end) => (Some(&after[1..end + 1]), end + 2),
            None => (None, 1),
        };
    }
    if special(bytes[0]) {
        return (Some(&after[..1]), 1);
    }
    let end = bytes.iter().position(|&c| !(c == b'_' || c.is_ascii_alphanumeric())).unwrap_or(bytes.len());
    if end == 0 {
        (None, 0)
    } else {
        (Some(&after[..end]), end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("node-1".into()),
            "REGION" => Some("eu".into()),
            "EMPTY" => Some(String::new()),
            "1" => Some("first".into()),
            _ => None,
        }
    }

    #[test]
    fn references_expand_as_go_os_expand_does() {
        let cases = [
            ("plain", "plain", vec![]),
            ("$HOST", "node-1", vec![]),
            ("${HOST}-${REGION}", "node-1-eu", vec![]),
            ("$HOST.$REGION", "node-1.eu", vec![]),
            ("pre_${HOST}_post", "pre_node-1_post", vec![]),
            // `$HOST_x` is one name.
            ("$HOST_x", "", vec!["HOST_x"]),
            ("a$$b", "a$b", vec![]),
            ("cost: 5$", "cost: 5$", vec![]),
            ("$ 1", "$ 1", vec![]),
            ("x${}y", "xy", vec![]),
            ("x${HOST", "xHOST", vec![]),
            ("$1 and ${1}", "first and first", vec![]),
            ("${UNSET}:$EMPTY", ":", vec!["UNSET", "EMPTY"]),
            ("ünï$HOST", "ünïnode-1", vec![]),
        ];
        for (value, want, empty) in cases {
            let (got, missing) = expand(value, env);
            assert_eq!((got.as_str(), missing), (want, empty.into_iter().map(String::from).collect::<Vec<_>>()), "{value:?}");
        }
    }
}
