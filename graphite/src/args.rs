//! Typed access to a call's arguments by position or keyword, with errors that name the
//! function and the argument.

use regex::Regex;

use crate::eval::{eval_expr, EvalConfig, Fetcher, SeriesFuture};
use crate::parse::{Call, Expr};
use crate::{Error, Series};

/// One function call being evaluated: its arguments, the range to evaluate them in and
/// the fetcher to reach storage through.
pub(crate) struct Args<'a> {
    pub fetcher: &'a dyn Fetcher,
    pub ec: EvalConfig,
    pub call: &'a Call,
    pub depth: usize,
    positional: Vec<&'a Expr>,
    /// Series already evaluated, standing for the path arguments named here (reduceSeries
    /// hands each matched series to its reduce function this way).
    bound: &'a [(String, Vec<Series>)],
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

impl<'a> Args<'a> {
    pub fn new(fetcher: &'a dyn Fetcher, ec: EvalConfig, call: &'a Call, depth: usize) -> Args<'a> {
        Args::with_bound(fetcher, ec, call, depth, &[])
    }

    /// [`Error::Cancelled`] once the caller has given up on the evaluation; long loops call
    /// this every so often.
    pub(crate) fn check_cancelled(&self) -> Result<(), Error> {
        if self.fetcher.cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Arguments whose paths named in `bound` evaluate to the given series instead of
    /// being fetched.
    pub fn with_bound(
        fetcher: &'a dyn Fetcher,
        ec: EvalConfig,
        call: &'a Call,
        depth: usize,
        bound: &'a [(String, Vec<Series>)],
    ) -> Args<'a> {
        let positional = call.args.iter().filter(|a| a.name.is_none()).map(|a| &a.value).collect();
        Args { fetcher, ec, call, depth, positional, bound }
    }

    pub fn name(&self) -> &'a str {
        &self.call.name
    }

    /// The argument at positional `index`, or else the keyword argument `name`.
    pub fn get(&self, index: usize, name: &str) -> Option<&'a Expr> {
        if let Some(e) = self.positional.get(index) {
            return Some(e);
        }
        self.call.args.iter().find(|a| a.name.as_deref() == Some(name)).map(|a| &a.value)
    }

    /// Positional arguments from `index` on (for varargs such as nodes).
    pub fn rest(&self, index: usize) -> &[&'a Expr] {
        self.positional.get(index..).unwrap_or(&[])
    }

    pub fn positional_len(&self) -> usize {
        self.positional.len()
    }

    /// Refuses more than `max` positional arguments.
    pub fn max(&self, max: usize) -> Result<(), Error> {
        if self.positional.len() > max {
            return Err(Error::TooManyArgs { function: self.name().to_string(), max });
        }
        Ok(())
    }

    pub fn err(&self, message: impl Into<String>) -> Error {
        Error::bad_arg(self.name(), message)
    }

    pub fn type_err(&self, index: usize, name: &str, expected: &'static str) -> Error {
        Error::ArgType {
            function: self.name().to_string(),
            position: format!("{} ({name})", ordinal(index + 1)),
            expected,
        }
    }

    fn missing(&self, index: usize, name: &str) -> Error {
        Error::MissingArg { function: self.name().to_string(), position: format!("{} ({name})", ordinal(index + 1)) }
    }

    fn required(&self, index: usize, name: &str) -> Result<&'a Expr, Error> {
        self.get(index, name).ok_or_else(|| self.missing(index, name))
    }

    /// Evaluates `expr` as a series list in `ec`.
    pub fn eval(&self, ec: EvalConfig, expr: &'a Expr) -> SeriesFuture<'a> {
        if let Expr::Path(p) = expr {
            if let Some((_, series)) = self.bound.iter().find(|b| b.0 == *p) {
                return Box::pin(async move { Ok(series.clone()) });
            }
        }
        eval_expr(self.fetcher, ec, expr, self.depth + 1)
    }

    /// Checks that `expr` is a series list (a path or a call).
    pub fn series_expr(&self, index: usize, name: &str) -> Result<&'a Expr, Error> {
        match self.required(index, name)? {
            e @ (Expr::Path(_) | Expr::Call(_)) => Ok(e),
            _ => Err(self.type_err(index, name, "seriesList")),
        }
    }

    /// Evaluates the series-list argument in the call's range.
    pub async fn series(&self, index: usize, name: &str) -> Result<Vec<Series>, Error> {
        self.series_in(self.ec, index, name).await
    }

    /// Evaluates the series-list argument in another range.
    pub async fn series_in(&self, ec: EvalConfig, index: usize, name: &str) -> Result<Vec<Series>, Error> {
        let expr = self.series_expr(index, name)?;
        self.eval(ec, expr).await
    }

    /// Evaluates every positional argument from `index` on as a series list, concatenated.
    pub async fn all_series(&self, index: usize) -> Result<Vec<Series>, Error> {
        let mut out = Vec::new();
        for i in index..self.positional.len() {
            out.extend(self.series(i, "seriesLists").await?);
        }
        Ok(out)
    }

    pub fn opt_number(&self, index: usize, name: &str) -> Result<Option<f64>, Error> {
        match self.get(index, name) {
            None | Some(Expr::None) => Ok(None),
            Some(Expr::Number(n)) => Ok(Some(*n)),
            Some(_) => Err(self.type_err(index, name, "number")),
        }
    }

    pub fn number(&self, index: usize, name: &str) -> Result<f64, Error> {
        self.opt_number(index, name)?.ok_or_else(|| self.missing(index, name))
    }

    /// A percentile rank, 0 to 100.
    pub fn percentile(&self, index: usize, name: &str) -> Result<f64, Error> {
        let n = self.number(index, name)?;
        if !(0.0..=100.0).contains(&n) {
            return Err(self.err(format!("percentile must be between 0 and 100; got {n}")));
        }
        Ok(n)
    }

    /// A whole number within ±2^31.
    pub fn int(&self, index: usize, name: &str) -> Result<i64, Error> {
        let n = self.number(index, name)?;
        if n.fract() != 0.0 || n.abs() > 2_147_483_648.0 {
            return Err(self.type_err(index, name, "integer"));
        }
        Ok(n as i64)
    }

    pub fn opt_string(&self, index: usize, name: &str) -> Result<Option<&'a str>, Error> {
        match self.get(index, name) {
            None | Some(Expr::None) => Ok(None),
            Some(Expr::Str(s)) => Ok(Some(s)),
            Some(_) => Err(self.type_err(index, name, "string")),
        }
    }

    pub fn string(&self, index: usize, name: &str) -> Result<&'a str, Error> {
        self.opt_string(index, name)?.ok_or_else(|| self.missing(index, name))
    }

    pub fn opt_bool(&self, index: usize, name: &str, default: bool) -> Result<bool, Error> {
        match self.get(index, name) {
            None | Some(Expr::None) => Ok(default),
            Some(Expr::Bool(b)) => Ok(*b),
            Some(Expr::Number(n)) => Ok(*n != 0.0),
            Some(_) => Err(self.type_err(index, name, "boolean")),
        }
    }

    pub fn regex(&self, index: usize, name: &str) -> Result<Regex, Error> {
        let pattern = self.string(index, name)?;
        Regex::new(pattern).map_err(|e| Error::regex(pattern, e))
    }

    /// Node selectors (numbers are path positions, strings are tag names) from `index` on.
    pub fn nodes(&self, index: usize) -> Result<Vec<Node>, Error> {
        self.rest(index)
            .iter()
            .enumerate()
            .map(|(i, e)| match e {
                Expr::Number(n) if n.fract() == 0.0 && n.abs() < 1e6 => Ok(Node::Index(*n as i64)),
                Expr::Str(s) => Ok(Node::Tag(s.clone())),
                _ => Err(self.type_err(index + i, "nodes", "node number or tag name")),
            })
            .collect()
    }
}

/// A node selector of aliasByNode, groupByNodes and friends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Index(i64),
    Tag(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101].iter().map(|n| ordinal(*n)).collect();
        assert_eq!(got, ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st"]);
    }
}
