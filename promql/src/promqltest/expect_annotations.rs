//! `expect warn|info|no_warn|no_info [msg: TEXT | regex: PATTERN]` lines of an eval and their
//! check against a result's annotations, as Prometheus' harness (`checkAnnotations`) does:
//! nothing said about a kind checks nothing; `expect warn` needs at least one warning, and
//! every warning must then match one of the `expect warn` lines (a bare line matches any);
//! `no_warn` forbids warnings. Infos alike.

use regex::Regex;

/// One `expect warn`/`expect info` line: an exact message, a pattern (searched, not anchored,
/// as Go's `MatchString`), or anything.
#[derive(Debug, Clone)]
pub enum AnnotationMatch {
    Any,
    Message(String),
    Pattern(Regex),
}

impl AnnotationMatch {
    fn matches(&self, annotation: &str) -> bool {
        match self {
            AnnotationMatch::Any => true,
            AnnotationMatch::Message(m) => m == annotation,
            AnnotationMatch::Pattern(p) => p.is_match(annotation),
        }
    }

    fn describe(&self) -> String {
        match self {
            AnnotationMatch::Any => "any".into(),
            AnnotationMatch::Message(m) => format!("message {m:?}"),
            AnnotationMatch::Pattern(p) => format!("pattern {:?}", p.as_str()),
        }
    }
}

/// What an eval says about annotations.
#[derive(Debug, Clone, Default)]
pub struct AnnotationExpectations {
    pub warn: Vec<AnnotationMatch>,
    pub info: Vec<AnnotationMatch>,
    pub no_warn: bool,
    pub no_info: bool,
}

impl AnnotationExpectations {
    /// Reads the part of an `expect` line after `expect `; `None` when it is not about
    /// annotations, `Some(Err)` when it is but cannot be used (a bad regex, a mode without
    /// its kind, or a kind and its negation together).
    pub fn add_line(&mut self, directive: &str) -> Option<Result<(), String>> {
        let (mode, rest) = directive.split_once(char::is_whitespace).unwrap_or((directive, ""));
        if !matches!(mode, "warn" | "info" | "no_warn" | "no_info") {
            return None;
        }
        let rest = rest.trim();
        let matcher = if rest.is_empty() {
            AnnotationMatch::Any
        } else if let Some(m) = rest.strip_prefix("msg:") {
            AnnotationMatch::Message(m.trim().to_string())
        } else if let Some(p) = rest.strip_prefix("regex:") {
            match Regex::new(p.trim()) {
                Ok(re) => AnnotationMatch::Pattern(re),
                Err(e) => return Some(Err(format!("invalid regex {p:?}: {e}"))),
            }
        } else {
            return Some(Err(format!("invalid expect line {directive:?}")));
        };
        match mode {
            "warn" => self.warn.push(matcher),
            "info" => self.info.push(matcher),
            "no_warn" => self.no_warn = true,
            _ => self.no_info = true,
        }
        if (self.no_warn && !self.warn.is_empty()) || (self.no_info && !self.info.is_empty()) {
            return Some(Err("a kind of annotation and its negation cannot be expected together".into()));
        }
        Some(Ok(()))
    }

    /// `Err` with what is wrong when `warnings`/`infos` do not meet the expectations.
    pub fn check(&self, warnings: &[String], infos: &[String]) -> Result<(), String> {
        check_kind("warn", &self.warn, warnings)?;
        check_kind("info", &self.info, infos)?;
        if self.no_warn && !warnings.is_empty() {
            return Err(format!("unexpected warning annotations: {warnings:?}"));
        }
        if self.no_info && !infos.is_empty() {
            return Err(format!("unexpected info annotations: {infos:?}"));
        }
        Ok(())
    }
}

fn check_kind(kind: &str, expected: &[AnnotationMatch], got: &[String]) -> Result<(), String> {
    if expected.is_empty() {
        return Ok(());
    }
    if got.is_empty() {
        return Err(format!("expected {kind} annotations but none were found"));
    }
    if let Some(missing) = expected.iter().find(|e| !got.iter().any(|g| e.matches(g))) {
        return Err(format!("expected {kind} annotation matching {} but found only {got:?}", missing.describe()));
    }
    if let Some(extra) = got.iter().find(|g| !expected.iter().any(|e| e.matches(g))) {
        return Err(format!("unexpected {kind} annotation {extra:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expectations(lines: &[&str]) -> AnnotationExpectations {
        let mut e = AnnotationExpectations::default();
        for l in lines {
            assert!(matches!(e.add_line(l), Some(Ok(()))), "{l}");
        }
        e
    }

    #[test]
    fn checks_as_prometheus_harness_does() {
        let w = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        // Nothing said: anything goes.
        assert!(expectations(&[]).check(&w(&["PromQL warning: x (1:1)"]), &[]).is_ok());
        // A bare `expect warn` needs one and accepts any.
        assert!(expectations(&["warn"]).check(&[], &[]).is_err());
        assert!(expectations(&["warn"]).check(&w(&["a", "b"]), &[]).is_ok());
        // With a message, every warning must be expected.
        let e = expectations(&["warn msg: a (1:1)"]);
        assert!(e.check(&w(&["a (1:1)"]), &[]).is_ok());
        assert!(e.check(&w(&["a (1:1)", "b"]), &[]).is_err());
        assert!(e.check(&w(&["a (1:2)"]), &[]).is_err());
        let e = expectations(&["info regex: got NaN \\([0-9]+:[0-9]+\\)", "no_warn"]);
        assert!(e.check(&[], &w(&["PromQL info: got NaN (1:10)"])).is_ok());
        assert!(e.check(&w(&["w"]), &w(&["PromQL info: got NaN (1:10)"])).is_err());
        assert!(e.check(&[], &w(&["PromQL info: got 2 (1:10)"])).is_err());
        assert!(expectations(&["no_info"]).check(&w(&["w"]), &[]).is_ok());
        assert!(AnnotationExpectations::default().add_line("fail").is_none());
        assert!(matches!(expectations(&["warn"]).add_line("no_warn"), Some(Err(_))));
    }
}
