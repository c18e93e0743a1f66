//! Graphite path globs (`a.*.{b,c}.d[0-9]`) as regular expressions: MetricsQL's
//! `{__graphite__="…"}` selector and the server's Graphite metrics API match names with them.
//! A wildcard never crosses the delimiter: `*` is any run of other characters, `?` one.

/// The label of VictoriaMetrics' selector of metric names by a Graphite glob.
pub const GRAPHITE_LABEL: &str = "__graphite__";

/// Deepest nesting of `{…}` groups a glob may have: a bound on the recursion a name gives.
pub const GLOB_GROUP_DEPTH_MAX: usize = 16;

/// A regular expression (without anchors) matching exactly the paths `glob` names:
/// `*` a run of characters other than `delimiter`, `?` one such character, `{a,b}` either
/// alternative (each a glob, nesting allowed), `[…]` a character class (`[!…]` negated, as
/// in shell globs); everything else, unclosed groups and classes included, stands for itself.
pub fn glob_regex(glob: &str, delimiter: char) -> Result<String, String> {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::with_capacity(glob.len() * 2);
    let mut at = 0;
    convert(&chars, &mut at, delimiter, 0, &mut out)?;
    // `convert` at depth 0 stops only at the end.
    Ok(out)
}

/// The matcher of the metric names `glob` names (`negated`: of the others), as
/// `{__graphite__="…"}` and the Graphite render API's path expressions select them.
pub fn name_matcher(glob: &str, negated: bool) -> Result<tsdb::Matcher, String> {
    let regex = glob_regex(glob, '.')?;
    let op = if negated { tsdb::MatchOp::RegexNoMatch } else { tsdb::MatchOp::RegexMatch };
    tsdb::Matcher::new(op, tsdb::METRIC_NAME_LABEL, regex).map_err(|e| format!("invalid Graphite glob: {e}"))
}

/// Converts from `chars[*at]` until the end, or (inside a group, `depth > 0`) until a `,` or
/// `}` of this group, which it leaves unconsumed.
fn convert(chars: &[char], at: &mut usize, delimiter: char, depth: usize, out: &mut String) -> Result<(), String> {
    let not_delimiter = format!("[^{}]", regex::escape(&delimiter.to_string()));
    while let Some(&c) = chars.get(*at) {
        match c {
            ',' | '}' if depth > 0 => return Ok(()),
            '*' => {
                out.push_str(&not_delimiter);
                out.push('*');
                *at += 1;
            }
            '?' => {
                out.push_str(&not_delimiter);
                *at += 1;
            }
            '{' if closes(chars, *at, '{', '}') => {
                if depth + 1 > GLOB_GROUP_DEPTH_MAX {
                    return Err(format!("more than {GLOB_GROUP_DEPTH_MAX} nested {{…}} groups in a Graphite glob"));
                }
                *at += 1;
                out.push_str("(?:");
                loop {
                    convert(chars, at, delimiter, depth + 1, out)?;
                    match chars.get(*at) {
                        Some(',') => {
                            out.push('|');
                            *at += 1;
                        }
                        // `closes` found this group's `}`.
                        _ => {
                            *at += 1;
                            break;
                        }
                    }
                }
                out.push(')');
            }
            '[' if closes(chars, *at, '[', ']') => {
                let mut class = String::from("[");
                let mut next = *at + 1;
                if chars.get(next) == Some(&'!') {
                    class.push('^');
                    next += 1;
                }
                while let Some(&k) = chars.get(next) {
                    next += 1;
                    if k == ']' {
                        break;
                    }
                    // Kept: ranges (`a-z`) and `^` after the first position; escaped: what
                    // the regex crate's classes give a meaning (nesting, set operations).
                    if matches!(k, '\\' | '[' | '&' | '~') {
                        class.push('\\');
                    }
                    class.push(k);
                }
                class.push(']');
                // A class the regex crate refuses (a reversed range `[z-a]`, `[]`) stands
                // for itself, as an unclosed one does.
                if regex::Regex::new(&class).is_ok() {
                    out.push_str(&class);
                    *at = next;
                } else {
                    out.push_str("\\[");
                    *at += 1;
                }
            }
            _ => {
                let mut buf = [0u8; 4];
                out.push_str(&regex::escape(c.encode_utf8(&mut buf)));
                *at += 1;
            }
        }
    }
    Ok(())
}

/// Whether the group opened at `chars[open_at]` is closed: brackets have no nesting; braces
/// nest.
fn closes(chars: &[char], open_at: usize, open: char, close: char) -> bool {
    let mut depth = 0usize;
    for &c in &chars[open_at..] {
        if c == open && (open == '{' || depth == 0) {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(glob: &str, path: &str) -> bool {
        let re = regex::Regex::new(&format!("^(?:{})$", glob_regex(glob, '.').unwrap())).unwrap();
        re.is_match(path)
    }

    #[test]
    fn globs_match_as_graphite_names_them() {
        let cases: &[(&str, &str, bool)] = &[
            ("a.b.c", "a.b.c", true),
            ("a.b.c", "a.bxc", false),
            ("a.*.c", "a.b.c", true),
            ("a.*.c", "a..c", true),
            ("a.*.c", "a.b.d.c", false),
            ("a.*", "a.b", true),
            ("a.*", "a.b.c", false),
            ("a.b*", "a.bcd", true),
            ("a.?", "a.b", true),
            ("a.?", "a.bc", false),
            ("a.?", "a..", false),
            ("a.{b,cd}.e", "a.cd.e", true),
            ("a.{b,cd}.e", "a.b.e", true),
            ("a.{b,cd}.e", "a.c.e", false),
            ("a.{b*,c}.e", "a.bxy.e", true),
            ("a.{b,{c,d}x}", "a.dx", true),
            ("a.{b,{c,d}x}", "a.d", false),
            ("a.{b,c.d}", "a.c.d", true),
            ("a.[0-9]", "a.7", true),
            ("a.[0-9]", "a.x", false),
            ("a.[!0-9]", "a.x", true),
            ("a.[!0-9]", "a.7", false),
            ("a.[a&&b]", "a.&", true),
            ("a.[c-?]", "a.[c-?]", true),
            ("a.[]", "a.[]", true),
            ("a.*b,[c-?me.[!o]", "a.xb,[c-?me.p", true),
            ("a.{b", "a.{b", true),
            ("a.[b", "a.[b", true),
            ("a.b}", "a.b}", true),
            ("a+b.(c)|d", "a+b.(c)|d", true),
            ("a+b.(c)|d", "aab.c", false),
            ("", "", true),
        ];
        for (glob, path, want) in cases {
            assert_eq!(matches(glob, path), *want, "{glob} against {path}");
        }
    }

    #[test]
    fn another_delimiter_bounds_the_wildcards() {
        let re = regex::Regex::new(&format!("^(?:{})$", glob_regex("a/*", '/').unwrap())).unwrap();
        assert!(re.is_match("a/b.c"));
        assert!(!re.is_match("a/b/c"));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let glob = format!("{}x{}", "{a,".repeat(GLOB_GROUP_DEPTH_MAX + 1), "}".repeat(GLOB_GROUP_DEPTH_MAX + 1));
        assert!(glob_regex(&glob, '.').unwrap_err().contains("nested"));
        let glob = format!("{}x{}", "{a,".repeat(GLOB_GROUP_DEPTH_MAX), "}".repeat(GLOB_GROUP_DEPTH_MAX));
        assert!(matches(&glob, "a"));
    }
}
