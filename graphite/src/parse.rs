//! Target expressions: the AST and its nom parser. A target is a path glob, a function
//! call (with positional and keyword arguments), or a pipe chain `a.b|f(x)|g`; arguments
//! may also be numbers, quoted strings, booleans and `None`. `Display` writes the
//! canonical text that Graphite shows in series names and pathExpression.

use std::fmt;

use nom::branch::alt;
use nom::bytes::complete::{take_till, take_while1};
use nom::character::complete::{anychar, char, multispace0, satisfy};
use nom::combinator::{map, opt, recognize};
use nom::error::{Error as NomError, ErrorKind};
use nom::multi::many1_count;
use nom::number::complete::recognize_float;
use nom::sequence::{delimited, pair, preceded, tuple};
use nom::IResult;

use crate::Error;

/// Deepest nesting of calls (and pipes) a target may have.
pub const MAX_DEPTH: usize = 64;

/// A parsed target expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A path glob such as `a.*.{b,c}.d` (escapes already removed).
    Path(String),
    Call(Call),
    Number(f64),
    Str(String),
    Bool(bool),
    None,
}

/// A function call; `piped` tells whether it was written as `first|name(rest)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: String,
    pub args: Vec<Arg>,
    pub piped: bool,
}

/// One argument of a call; `name` is set for keyword arguments (`name=value`).
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: Option<String>,
    pub value: Expr,
}

/// Parses one render target.
pub fn parse_target(text: &str) -> Result<Expr, Error> {
    let fail = |rest: &str, reason: String| Error::Parse {
        target: text.to_string(),
        offset: text.len() - rest.len(),
        reason,
    };
    match delimited(multispace0, |i| expr(i, 0), multispace0)(text) {
        Ok(("", e)) => Ok(e),
        Ok((rest, _)) => Err(fail(rest, format!("unexpected {:?}", snippet(rest)))),
        Err(nom::Err::Error(e) | nom::Err::Failure(e)) => {
            let reason = match e.code {
                ErrorKind::TooLarge => format!("nesting deeper than {MAX_DEPTH} levels"),
                _ if e.input.is_empty() => "unexpected end of input".to_string(),
                _ => format!("unexpected {:?}", snippet(e.input)),
            };
            Err(fail(e.input, reason))
        }
        Err(nom::Err::Incomplete(_)) => Err(fail("", "unexpected end of input".to_string())),
    }
}

fn snippet(s: &str) -> &str {
    match s.char_indices().nth(20) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

type Res<'a, T> = IResult<&'a str, T>;

fn too_deep(input: &str) -> nom::Err<NomError<&str>> {
    nom::Err::Failure(NomError::new(input, ErrorKind::TooLarge))
}

/// `atom ('|' name ['(' args ')'])*`
fn expr(input: &str, depth: usize) -> Res<'_, Expr> {
    if depth > MAX_DEPTH {
        return Err(too_deep(input));
    }
    let (mut input, mut e) = atom(input, depth)?;
    let mut pipes = 0;
    loop {
        let (rest, bar) = opt(preceded(multispace0, char('|')))(input)?;
        if bar.is_none() {
            return Ok((input, e));
        }
        pipes += 1;
        if depth + pipes > MAX_DEPTH {
            return Err(too_deep(input));
        }
        let (rest, name) = preceded(multispace0, ident)(rest)?;
        let (rest, more) = opt(|i| arg_list(i, depth + pipes))(rest)?;
        let mut args = vec![Arg { name: None, value: e }];
        args.extend(more.unwrap_or_default());
        e = Expr::Call(Call { name: name.to_string(), args, piped: true });
        input = rest;
    }
}

fn atom(input: &str, depth: usize) -> Res<'_, Expr> {
    alt((
        map(quoted, Expr::Str),
        number,
        |i| call_or_word(i, depth),
    ))(input)
}

/// A number stands alone only when no path character follows (`1min.x` is a path).
fn number(input: &str) -> Res<'_, Expr> {
    let (rest, text) = recognize_float(input)?;
    if rest.starts_with(|c: char| is_path_char(c) || c == '{' || c == '[' || c == '\\') {
        return Err(nom::Err::Error(NomError::new(input, ErrorKind::Float)));
    }
    match text.parse::<f64>() {
        Ok(n) => Ok((rest, Expr::Number(n))),
        Err(_) => Err(nom::Err::Error(NomError::new(input, ErrorKind::Float))),
    }
}

fn call_or_word(input: &str, depth: usize) -> Res<'_, Expr> {
    let (rest, raw) = path_text(input)?;
    if rest.trim_start().starts_with('(') && is_func_name(raw) {
        let (rest, args) = arg_list(rest, depth + 1)?;
        return Ok((rest, Expr::Call(Call { name: raw.to_string(), args, piped: false })));
    }
    let e = if raw.eq_ignore_ascii_case("true") {
        Expr::Bool(true)
    } else if raw.eq_ignore_ascii_case("false") {
        Expr::Bool(false)
    } else if raw.eq_ignore_ascii_case("none") {
        Expr::None
    } else {
        Expr::Path(unescape_path(raw))
    };
    Ok((rest, e))
}

/// `'(' [arg (',' arg)*] ')'`; the opening parenthesis may already be consumed by the caller.
fn arg_list(input: &str, depth: usize) -> Res<'_, Vec<Arg>> {
    if depth > MAX_DEPTH {
        return Err(too_deep(input));
    }
    let (mut input, _) = opt(preceded(multispace0, char('(')))(input)?;
    let mut args = Vec::new();
    let (rest, close) = opt(preceded(multispace0, char(')')))(input)?;
    if close.is_some() {
        return Ok((rest, args));
    }
    loop {
        let (rest, a) = preceded(multispace0, |i| arg(i, depth))(input)?;
        args.push(a);
        let (rest, sep) = preceded(multispace0, alt((char(','), char(')'))))(rest)?;
        input = rest;
        if sep == ')' {
            return Ok((input, args));
        }
    }
}

fn arg(input: &str, depth: usize) -> Res<'_, Arg> {
    let mut keyword = tuple((ident, multispace0, char('='), multispace0));
    if let Ok((rest, (name, _, _, _))) = keyword(input) {
        let (rest, value) = expr(rest, depth)?;
        return Ok((rest, Arg { name: Some(name.to_string()), value }));
    }
    map(|i| expr(i, depth), |value| Arg { name: None, value })(input)
}

fn ident(input: &str) -> Res<'_, &str> {
    recognize(pair(
        satisfy(|c| c.is_ascii_alphabetic() || c == '_'),
        nom::bytes::complete::take_while(|c: char| c.is_ascii_alphanumeric() || c == '_'),
    ))(input)
}

fn is_func_name(s: &str) -> bool {
    ident(s).map(|(rest, _)| rest.is_empty()).unwrap_or(false)
}

/// Characters allowed in a path outside `{..}`, `[..]` groups and `\` escapes.
fn is_path_char(c: char) -> bool {
    c.is_alphanumeric() || "._-:#$%@~?*^!&/<>+".contains(c)
}

fn path_text(input: &str) -> Res<'_, &str> {
    recognize(many1_count(alt((
        recognize(pair(char('\\'), anychar)),
        recognize(tuple((char('{'), take_till(|c| c == '}' || c == '(' || c == ')'), char('}')))),
        recognize(tuple((char('['), take_till(|c| c == ']' || c == '(' || c == ')'), char(']')))),
        take_while1(is_path_char),
    ))))(input)
}

fn unescape_path(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A single- or double-quoted string; `\\` and an escaped quote are unescaped, any other
/// backslash is kept so that regexes such as `'(\d+)'` survive.
fn quoted(input: &str) -> Res<'_, String> {
    let (mut rest, quote) = alt((char('\''), char('"')))(input)?;
    let mut out = String::new();
    loop {
        let (r, c) = anychar(rest)?;
        rest = r;
        if c == quote {
            return Ok((rest, out));
        }
        if c == '\\' {
            let (r, next) = anychar(rest)?;
            rest = r;
            if next != quote && next != '\\' {
                out.push('\\');
            }
            out.push(next);
        } else {
            out.push(c);
        }
    }
}

/// Formats a number as Graphite shows it in names: `2`, `0.5`, `-1e-9`.
pub(crate) fn fmt_num(n: f64) -> String {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else if n.is_nan() {
        "nan".to_string()
    } else {
        format!("{n}")
    }
}

/// Quotes a string the way Graphite writes string args in names: `'a\'b'`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

fn escape_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if !(is_path_char(c) || "{}[],".contains(c)) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Path(p) => f.write_str(&escape_path(p)),
            Expr::Call(c) => c.fmt(f),
            Expr::Number(n) => f.write_str(&fmt_num(*n)),
            Expr::Str(s) => f.write_str(&quote(s)),
            Expr::Bool(true) => f.write_str("True"),
            Expr::Bool(false) => f.write_str("False"),
            Expr::None => f.write_str("None"),
        }
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = &self.name {
            write!(f, "{name}=")?;
        }
        self.value.fmt(f)
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut args = self.args.iter();
        if self.piped {
            if let Some(first) = args.next() {
                write!(f, "{first}|{}", self.name)?;
                if self.args.len() == 1 {
                    return Ok(());
                }
            }
        } else {
            f.write_str(&self.name)?;
        }
        f.write_str("(")?;
        for (i, a) in args.enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            a.fmt(f)?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> Expr {
        Expr::Path(s.to_string())
    }
    fn pos(value: Expr) -> Arg {
        Arg { name: None, value }
    }

    #[test]
    fn paths_and_globs() {
        assert_eq!(parse_target("a.b.c").unwrap(), path("a.b.c"));
        assert_eq!(parse_target(" a.*.{b,c}.d[0-9] ").unwrap(), path("a.*.{b,c}.d[0-9]"));
        assert_eq!(parse_target("1min.load-avg:x").unwrap(), path("1min.load-avg:x"));
        assert_eq!(parse_target(r"a\(b\).c").unwrap(), path("a(b).c"));
    }

    #[test]
    fn calls_kwargs_and_literals() {
        let e = parse_target("summarize(a.b, \"1h\", func='max', alignToFrom=True)").unwrap();
        let Expr::Call(c) = e else { panic!("not a call") };
        assert_eq!(c.name, "summarize");
        assert_eq!(c.args.len(), 4);
        assert_eq!(c.args[0], pos(path("a.b")));
        assert_eq!(c.args[1], pos(Expr::Str("1h".into())));
        assert_eq!(c.args[2], Arg { name: Some("func".into()), value: Expr::Str("max".into()) });
        assert_eq!(c.args[3], Arg { name: Some("alignToFrom".into()), value: Expr::Bool(true) });
        let e = parse_target("f(-1.5e3, .5, +2, 0, None, FALSE)").unwrap();
        let Expr::Call(c) = e else { panic!("not a call") };
        let values: Vec<Expr> = c.args.into_iter().map(|a| a.value).collect();
        assert_eq!(
            values,
            vec![
                Expr::Number(-1500.0),
                Expr::Number(0.5),
                Expr::Number(2.0),
                Expr::Number(0.0),
                Expr::None,
                Expr::Bool(false)
            ]
        );
        let e = parse_target("sumSeries()").unwrap();
        assert_eq!(e, Expr::Call(Call { name: "sumSeries".into(), args: vec![], piped: false }));
    }

    #[test]
    fn strings_with_escapes() {
        let e = parse_target(r#"aliasSub(a.b, '(\d+)\'x', "q\"\\")"#).unwrap();
        let Expr::Call(c) = e else { panic!("not a call") };
        assert_eq!(c.args[1].value, Expr::Str(r"(\d+)'x".into()));
        assert_eq!(c.args[2].value, Expr::Str(r#"q"\"#.into()));
        assert_eq!(quote(r"a'b\"), r"'a\'b\\'");
    }

    #[test]
    fn pipes_become_first_argument() {
        let e = parse_target("a.b.c|scale(2) | alias('x')|absolute").unwrap();
        assert_eq!(e.to_string(), "a.b.c|scale(2)|alias('x')|absolute");
        let Expr::Call(c) = &e else { panic!("not a call") };
        assert_eq!(c.name, "absolute");
        let Expr::Call(inner) = &c.args[0].value else { panic!("not a call") };
        assert_eq!(inner.name, "alias");
        assert_eq!(inner.args[1].value, Expr::Str("x".into()));
        // Pipes inside arguments too.
        let e = parse_target("sumSeries(a.*|scale(3), b)").unwrap();
        assert_eq!(e.to_string(), "sumSeries(a.*|scale(3),b)");
    }

    #[test]
    fn round_trips() {
        for text in [
            "sumSeries(a.{x,y}.c,b.[0-9]*)",
            "aliasByNode(movingAverage(a.b.*,'5min'),1,-1)",
            "seriesByTag('name=cpu','dc=~eu-.*')",
            "asPercent(a.*,None,2)",
            "summarize(a,'1h','max',True)",
            "scale(a,-0.25)",
            "f(g(h(x)),key=1)",
        ] {
            let e = parse_target(text).unwrap();
            assert_eq!(e.to_string(), text);
            assert_eq!(parse_target(&e.to_string()).unwrap(), e);
        }
    }

    #[test]
    fn errors() {
        for bad in ["", "f(", "f(a,", "f(a))", "'open", "a.b c", "f(a,,b)", "{a", "|f", "f(x=)"] {
            assert!(
                matches!(parse_target(bad), Err(Error::Parse { .. })),
                "{bad:?} parsed: {:?}",
                parse_target(bad)
            );
        }
        let err = parse_target("f(a))").unwrap_err();
        assert_eq!(
            err,
            Error::Parse { target: "f(a))".into(), offset: 4, reason: "unexpected \")\"".into() }
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}a{}", "f(".repeat(MAX_DEPTH + 5), ")".repeat(MAX_DEPTH + 5));
        let err = parse_target(&deep).unwrap_err();
        assert!(err.to_string().contains("nesting deeper than 64"), "{err}");
        let ok = format!("{}a{}", "f(".repeat(MAX_DEPTH - 1), ")".repeat(MAX_DEPTH - 1));
        assert!(parse_target(&ok).is_ok());
        let piped = format!("a{}", "|f".repeat(MAX_DEPTH + 5));
        assert!(parse_target(&piped).is_err());
    }
}
