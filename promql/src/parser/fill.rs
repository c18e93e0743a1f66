//! `fill(v)`, `fill_left(v)`, `fill_right(v)` after a binary operator's matching clauses
//! (Prometheus 3, experimental): values standing in for a missing operand. The words are
//! modifiers only when an opening parenthesis follows, so metrics may still be called `fill`.

use super::{starts_with_keyword, Parser, Result};
use crate::ast::FillValues;
use crate::parser::lexemes::{duration, number};

impl Parser<'_> {
    /// Which fill keyword comes next (followed by `(`), if any.
    fn peek_fill(&mut self) -> Option<&'static str> {
        self.skip_space();
        let keyword = ["fill_left", "fill_right", "fill"].into_iter().find(|k| starts_with_keyword(self.rest, k))?;
        self.rest.get(keyword.len()..)?.trim_start().starts_with('(').then_some(keyword)
    }

    /// `( [+-] number-or-duration )`.
    fn fill_value(&mut self, keyword: &str) -> Result<f64> {
        let context = format!("in {keyword}()");
        self.expect("(", &context)?;
        self.skip_space();
        let negative = if self.eat("-") {
            true
        } else {
            self.eat("+");
            false
        };
        self.skip_space();
        let value = if let Ok((rest, ms)) = duration(self.rest) {
            self.rest = rest;
            ms as f64 / 1000.0
        } else if let Ok((rest, v)) = number(self.rest) {
            self.rest = rest;
            v
        } else {
            return Err(self.error(format!("unexpected {} {context}, expected number", self.describe_next())));
        };
        self.expect(")", &context)?;
        Ok(if negative { -value } else { value })
    }

    /// The fill modifiers: `fill(v)`, or `fill_left(v)` and/or `fill_right(v)` in either order.
    pub(super) fn fill_modifiers(&mut self) -> Result<FillValues> {
        let mut fill = FillValues::default();
        let Some(first) = self.peek_fill() else { return Ok(fill) };
        self.rest = &self.rest[first.len()..];
        let value = self.fill_value(first)?;
        match first {
            "fill" => fill = FillValues { lhs: Some(value), rhs: Some(value) },
            "fill_left" => fill.lhs = Some(value),
            _ => fill.rhs = Some(value),
        }
        let second = if first == "fill_left" { "fill_right" } else { "fill_left" };
        match self.peek_fill() {
            Some(k) if k == second && first != "fill" => {
                self.rest = &self.rest[k.len()..];
                let value = self.fill_value(k)?;
                if k == "fill_left" {
                    fill.lhs = Some(value);
                } else {
                    fill.rhs = Some(value);
                }
            }
            Some(k) => return Err(self.error(format!("unexpected {k}() after {first}(): fill() alone, or at most one fill_left() and one fill_right()"))),
            None => {}
        }
        Ok(fill)
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::{Cardinality, Expr, FillValues};
    use crate::parser::parse;

    fn fill_of(q: &str) -> FillValues {
        match parse(q).unwrap() {
            Expr::Binary(b) => b.matching.map(|m| m.fill).unwrap_or_default(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fill_modifiers_parse() {
        let both = |v| FillValues { lhs: Some(v), rhs: Some(v) };
        assert_eq!(fill_of("a + fill(0) b"), both(0.0));
        assert_eq!(fill_of("a + fill (-1m) b"), both(-60.0));
        assert_eq!(fill_of("a + fill_left(5) fill_right(7) b"), FillValues { lhs: Some(5.0), rhs: Some(7.0) });
        assert_eq!(fill_of("a + FILL_RIGHT(7) fill_left(5) b"), FillValues { lhs: Some(5.0), rhs: Some(7.0) });
        assert_eq!(fill_of("a + fill_right(+Inf) b").rhs, Some(f64::INFINITY));
        assert!(fill_of("a + fill(NaN) b").lhs.is_some_and(f64::is_nan));
        match parse("a * on(x) group_right(y) fill_left(1) b").unwrap() {
            Expr::Binary(b) => {
                let m = b.matching.unwrap();
                assert_eq!((m.card, m.include, m.fill.lhs), (Cardinality::OneToMany, vec!["y".to_string()], Some(1.0)));
            }
            other => panic!("{other:?}"),
        }
        // Without a parenthesis the words are metric names.
        assert_eq!(fill_of("fill + fill"), FillValues::default());
        assert_eq!(fill_of("other + fill(0) fill"), both(0.0));
    }

    #[test]
    fn misplaced_fill_is_an_error() {
        let table: &[(&str, &str)] = &[
            ("a and fill(0) b", "filling in missing series not allowed for set operators"),
            ("a + fill(0) 1", "filling in missing series only allowed between instant vectors"),
            ("a + fill(x) b", "expected number"),
            ("a + fill(1 b", "expected \")\""),
            ("a + fill(1) fill_left(2) b", "fill() alone"),
            ("a + fill_left(1) fill_left(2) b", "at most one"),
            ("a + fill(\u{e9}) b", "expected number"),
        ];
        for (q, want) in table {
            let err = parse(q).unwrap_err().to_string();
            assert!(err.contains(want), "{q}: {err}");
        }
    }
}
