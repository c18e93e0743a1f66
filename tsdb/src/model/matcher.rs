//! Label matchers (`=`, `!=`, `=~`, `!~`) with Prometheus semantics: regexes are fully
//! anchored, and an absent label matches as the empty string.

use regex::Regex;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    RegexMatch,
    RegexNoMatch,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        }
    }
}

/// One matcher. The regex (for `=~`/`!~`) is compiled once, anchored as `^(?s:…)$`.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Matcher {
    /// Builds a matcher; fails only for an invalid regex, with the regex error text.
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Self, regex::Error> {
        let value = value.into();
        let regex = match op {
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => {
                Some(Regex::new(&format!("^(?s:{value})$"))?)
            }
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Matcher {
            name: name.into(),
            op,
            value,
            regex,
        })
    }

    /// Does a label value match? Pass `""` for an absent label.
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => value == self.value,
            (MatchOp::NotEqual, _) => value != self.value,
            (MatchOp::RegexMatch, Some(re)) => re.is_match(value),
            (MatchOp::RegexNoMatch, Some(re)) => !re.is_match(value),
            (_, None) => unreachable!("regex matchers always carry a compiled regex"),
        }
    }

    /// True when this matcher accepts the empty string, i.e. also selects series without the label.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_is_anchored_and_empty_matches_absent() {
        let m = Matcher::new(MatchOp::RegexMatch, "job", "a|b").unwrap();
        assert!(m.matches("a"));
        assert!(!m.matches("ab"));
        assert!(!m.matches_empty());
        let e = Matcher::new(MatchOp::RegexMatch, "job", "").unwrap();
        assert!(e.matches_empty());
        assert!(!e.matches("x"));
        let nm = Matcher::new(MatchOp::RegexNoMatch, "job", "a.*").unwrap();
        assert!(nm.matches("b"));
        assert!(!nm.matches("abc"));
        assert!(Matcher::new(MatchOp::RegexMatch, "job", "(").is_err());
    }

    #[test]
    fn dot_matches_newline() {
        let m = Matcher::new(MatchOp::RegexMatch, "x", "a.b").unwrap();
        assert!(m.matches("a\nb"));
    }
}
