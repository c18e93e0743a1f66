//! seriesByTag filter expressions: `tag=value`, `tag!=value`, `tag=~regex`, `tag!=~regex`.

use crate::Error;

/// How a tag's value is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagOp {
    Equal,
    NotEqual,
    Match,
    NotMatch,
}

/// One seriesByTag filter. `name` is the tag name (`name` for the metric name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagExpr {
    pub name: String,
    pub op: TagOp,
    pub value: String,
}

/// Parses `tag=value`, `tag!=value`, `tag=~regex` or `tag!=~regex`.
pub fn parse(text: &str) -> Result<TagExpr, Error> {
    let bad = |reason| Error::TagExpr { text: text.to_string(), reason };
    let eq = text.find('=').ok_or_else(|| bad("missing '='"))?;
    let (name, negated) = match text[..eq].strip_suffix('!') {
        Some(name) => (name, true),
        None => (&text[..eq], false),
    };
    let rest = &text[eq + 1..];
    let (value, regex) = match rest.strip_prefix('~') {
        Some(v) => (v, true),
        None => (rest, false),
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(bad("empty tag name"));
    }
    let op = match (negated, regex) {
        (false, false) => TagOp::Equal,
        (true, false) => TagOp::NotEqual,
        (false, true) => TagOp::Match,
        (true, true) => TagOp::NotMatch,
    };
    if regex {
        regex::Regex::new(value).map_err(|e| Error::regex(value, e))?;
    }
    Ok(TagExpr { name: name.to_string(), op, value: value.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators() {
        let cases = [
            ("name=cpu.load", "name", TagOp::Equal, "cpu.load"),
            ("dc!=eu", "dc", TagOp::NotEqual, "eu"),
            ("host=~web-[0-9]+", "host", TagOp::Match, "web-[0-9]+"),
            ("host!=~db.*", "host", TagOp::NotMatch, "db.*"),
            ("env=", "env", TagOp::Equal, ""),
            ("a=b=c", "a", TagOp::Equal, "b=c"),
        ];
        for (text, name, op, value) in cases {
            let t = parse(text).unwrap();
            assert_eq!((t.name.as_str(), t.op, t.value.as_str()), (name, op, value), "{text}");
        }
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse("nameonly").unwrap_err().to_string(),
            "bad tag expression \"nameonly\": missing '='"
        );
        assert!(parse("=x").is_err());
        assert!(matches!(parse("a=~(").unwrap_err(), Error::BadRegex { .. }));
    }
}
