//! MetricsQL's `WITH` templates, expanded into plain PromQL text before the parser reads it.
//!
//! `WITH (name = expr, f(a, b) = expr, filters = {job="x"}) body` defines templates that the
//! body, and each later template, may use: a name stands for its expression (wrapped in
//! parentheses unless it is one selector, call, number or string), `f(x, y)` for its
//! expression with the arguments put in, a filters template inside braces
//! (`metric{filters, mode="idle"}`) for its label filters, a selector template before braces
//! (`t{mode="idle"}`) for its selector with the filters added, a string template as a label
//! value (`{job=name}`, also joined with `+`: `{job=prefix + "-db"}`), and a template naming
//! one label or a parenthesized list of them inside `by (…)`, `on (…)` and the other label
//! lists. `WITH` may stand wherever an expression may; its body runs to the end of the
//! enclosing expression. VictoriaMetrics' built-in `alias(q, name)` and `ru(free, max)` are
//! always defined.
//!
//! The work is done on tokens, so a query without templates is handed to the parser as it
//! came (same error positions, no cost but one scan); an expanded query's own errors are
//! reported against the expanded text, which the error quotes.

use std::borrow::Cow;
use std::rc::Rc;

use super::lexemes::{identifier, string_literal, IdentifierKind, GRAFANA_INTERVAL_VARIABLES};
use crate::printer::quote;

/// Most tokens one expansion may produce: templates that each use the one before twice grow
/// exponentially, and a 40-byte query must not take the server's memory.
pub const EXPANDED_TOKENS_MAX: usize = 100_000;

/// Deepest nesting of template uses and `WITH` bodies.
const DEPTH_MAX: usize = super::NESTING_DEPTH_MAX;

/// Words that are never template uses where they stand as keywords.
const RESERVED: [&str; 14] =
    ["and", "or", "unless", "atan2", "bool", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "keep_metric_names", "with"];

/// The label lists whose names a template may supply.
const LABEL_LIST_KEYWORDS: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];

/// VictoriaMetrics' templates that every query may use without defining them.
const BUILT_IN: [&str; 3] = [
    r#"alias(q, name) = label_set(q, "__name__", name)"#,
    // Resource use in percent of what is free and the most there is.
    "ru(freev, maxv) = clamp_min(maxv - clamp_min(freev, 0), 0) / clamp_min(maxv, 0) * 100",
    // Seconds until what is free runs out at its present rate (at most a year), smoothed with
    // the factor min(step / 5m, 1). VictoriaMetrics writes the factor `clamp_max(step()/300,
    // 1)`, a scalar it reads as a series; here it is a scalar throughout.
    "ttf(freev) = smooth_exponential(clamp_max(clamp_max(-freev, 0) / clamp_max(deriv_fast(freev), 0), 365*24*3600), scalar(clamp_max(vector(step() / 300), 1)))",
];

/// A failure while expanding, at a byte offset of the query (or of a built-in template).
#[derive(Debug, PartialEq)]
pub struct WithError {
    pub offset: usize,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Ident,
    Number,
    Str,
    Punct,
}

#[derive(Clone, Debug)]
struct Token<'a> {
    kind: Kind,
    text: Cow<'a, str>,
    offset: usize,
}

impl Token<'_> {
    fn is(&self, punct: &str) -> bool {
        self.kind == Kind::Punct && self.text == punct
    }

    fn is_word(&self, word: &str) -> bool {
        self.kind == Kind::Ident && self.text.eq_ignore_ascii_case(word)
    }
}

struct Template<'a> {
    name: Cow<'a, str>,
    params: Vec<Cow<'a, str>>,
    body: Vec<Token<'a>>,
    /// The templates this one may use: those defined before it.
    scope: Rc<[Rc<Template<'a>>]>,
    /// An argument bound to a parameter: its tokens are already expanded.
    expanded: bool,
}

type Scope<'a> = [Rc<Template<'a>>];

/// The query with its templates expanded, or `None` when it uses none (parse it as it is).
pub fn expand(query: &str) -> Result<Option<String>, WithError> {
    let tokens = tokenize(query)?;
    let uses_templates = tokens.windows(2).any(|pair| {
        pair[1].is("(") && (pair[0].is_word("with") || BUILT_IN.iter().any(|b| b.split('(').next() == Some(&*pair[0].text)))
    });
    if !uses_templates {
        return Ok(None);
    }
    let mut built_in: Vec<Rc<Template<'_>>> = Vec::new();
    for text in BUILT_IN {
        let tokens = tokenize(text)?;
        let scope: Rc<Scope<'_>> = built_in.clone().into();
        let (template, _) = definition(&tokens, 0, scope)?;
        built_in.push(Rc::new(template));
    }
    let mut expander = Expander { produced: 0, depth: 0 };
    let expanded = expander.expression(&tokens, &built_in)?;
    Ok(Some(render(&expanded)))
}

fn tokenize(input: &str) -> Result<Vec<Token<'_>>, WithError> {
    let mut tokens = Vec::new();
    let mut at = 0;
    let mut square_depth = 0usize;
    while let Some(c) = input[at..].chars().next() {
        let rest = &input[at..];
        let start = at;
        if c.is_whitespace() {
            at += c.len_utf8();
            continue;
        }
        if c == '#' {
            at += rest.find('\n').unwrap_or(rest.len());
            continue;
        }
        let kind = if matches!(c, '"' | '\'' | '`') {
            let (after, _) = string_literal(rest).map_err(|(offset, message)| WithError { offset: start + offset, message })?;
            at = input.len() - after.len();
            Kind::Str
        } else if let Some((after, _)) = identifier(rest, if square_depth > 0 { IdentifierKind::Label } else { IdentifierKind::Metric }) {
            // Inside `[…]` a colon separates a subquery's range from its step, so it ends a name
            // there. Names are compared as written, escapes and all.
            at = input.len() - after.len();
            Kind::Ident
        } else if c.is_ascii_digit() || (c == '.' && rest[1..].starts_with(|d: char| d.is_ascii_digit())) {
            at += number_length(rest);
            Kind::Number
        } else if let Some(variable) = GRAFANA_INTERVAL_VARIABLES.into_iter().find(|v| rest.starts_with(v)) {
            // Grafana's variables stay one token, a number of steps.
            at += variable.len();
            Kind::Number
        } else {
            let two = ["==", "!=", "=~", "!~", ">=", "<="].into_iter().find(|op| rest.starts_with(op));
            at += two.map_or(c.len_utf8(), str::len);
            match c {
                '[' => square_depth += 1,
                ']' => square_depth = square_depth.saturating_sub(1),
                _ => {}
            }
            Kind::Punct
        };
        tokens.push(Token { kind, text: Cow::Borrowed(&input[start..at]), offset: start });
    }
    Ok(tokens)
}

/// The length of the number or duration at the start of `text`: `1.5e-3`, `0x1f`, `1h30m`.
fn number_length(text: &str) -> usize {
    let bytes = text.as_bytes();
    let hex = text.starts_with("0x") || text.starts_with("0X");
    let mut end = 0;
    while end < bytes.len() {
        let b = bytes[end];
        let exponent_sign = (b == b'+' || b == b'-')
            && !hex
            && end > 0
            && matches!(bytes[end - 1], b'e' | b'E')
            && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
        if !(b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || exponent_sign) {
            break;
        }
        end += 1;
    }
    end
}

/// Reads one definition (`name = …` or `name(a, b) = …`) from `tokens[at..]`, ending at a `,`
/// or `)` outside brackets; returns it and the index of that token.
fn definition<'a>(tokens: &[Token<'a>], mut at: usize, scope: Rc<Scope<'a>>) -> Result<(Template<'a>, usize), WithError> {
    let end_offset = |tokens: &[Token<'_>], at: usize| tokens.get(at).or(tokens.last()).map_or(0, |t| t.offset);
    let name = match tokens.get(at) {
        Some(t) if t.kind == Kind::Ident && !RESERVED.iter().any(|r| t.is_word(r)) => t.text.clone(),
        _ => return Err(WithError { offset: end_offset(tokens, at), message: "WITH: expected a template name".into() }),
    };
    at += 1;
    let mut params: Vec<Cow<'a, str>> = Vec::new();
    if tokens.get(at).is_some_and(|t| t.is("(")) {
        at += 1;
        while !tokens.get(at).is_some_and(|t| t.is(")")) {
            match tokens.get(at) {
                Some(t) if t.kind == Kind::Ident => {
                    if params.contains(&t.text) {
                        return Err(WithError { offset: t.offset, message: format!("WITH: template {name:?} names its parameter {:?} twice", t.text) });
                    }
                    params.push(t.text.clone());
                }
                _ => return Err(WithError { offset: end_offset(tokens, at), message: format!("WITH: expected a parameter name in {name:?}") }),
            }
            at += 1;
            match tokens.get(at) {
                Some(t) if t.is(",") => at += 1,
                Some(t) if t.is(")") => {}
                _ => return Err(WithError { offset: end_offset(tokens, at), message: format!("WITH: expected \",\" or \")\" after a parameter of {name:?}") }),
            }
        }
        at += 1;
    }
    if !tokens.get(at).is_some_and(|t| t.is("=")) {
        return Err(WithError { offset: end_offset(tokens, at), message: format!("WITH: expected \"=\" after template {name:?}") });
    }
    at += 1;
    let body_end = expression_end(tokens, at);
    if body_end == at {
        return Err(WithError { offset: end_offset(tokens, at), message: format!("WITH: template {name:?} has no expression") });
    }
    let body = tokens[at..body_end].to_vec();
    Ok((Template { name, params, body, scope, expanded: false }, body_end))
}

/// The index just past the expression starting at `from`: the first `,`, `)`, `]` or `}` outside
/// the brackets the expression opens, or the end.
fn expression_end(tokens: &[Token<'_>], from: usize) -> usize {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(from) {
        if t.kind != Kind::Punct {
            continue;
        }
        match &*t.text {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" if depth == 0 => return i,
            ")" | "]" | "}" => depth -= 1,
            "," if depth == 0 => return i,
            _ => {}
        }
    }
    tokens.len()
}

/// The index of the bracket closing the one at `open`, if any.
fn closing(tokens: &[Token<'_>], open: usize) -> Option<usize> {
    let end = expression_end(tokens, open + 1);
    let mut at = end;
    // Commas at the top level end `expression_end`; step over them.
    while tokens.get(at).is_some_and(|t| t.is(",")) {
        at = expression_end(tokens, at + 1);
    }
    tokens.get(at).map(|_| at)
}

/// Splits the bracketed list `tokens[open..=close]` at its top-level commas.
fn list_items<'t, 'a>(tokens: &'t [Token<'a>], open: usize, close: usize) -> Vec<&'t [Token<'a>]> {
    comma_items(&tokens[open + 1..close])
}

/// Splits `tokens` (what is between a list's brackets) at its top-level commas.
fn comma_items<'t, 'a>(tokens: &'t [Token<'a>]) -> Vec<&'t [Token<'a>]> {
    let mut items = Vec::new();
    let mut at = 0;
    while at < tokens.len() {
        let end = expression_end(tokens, at);
        items.push(&tokens[at..end]);
        at = end + 1;
    }
    items
}

/// Whether `tokens` read as one operand, which needs no parentheses where it is put in.
fn is_operand(tokens: &[Token<'_>]) -> bool {
    let spans_to_end = |open: usize| closing(tokens, open) == Some(tokens.len() - 1);
    match tokens {
        [] => false,
        [_] => true,
        [first, ..] if first.is("(") => spans_to_end(0),
        [first, second, ..] if first.kind == Kind::Ident && second.is("(") => spans_to_end(1),
        _ => {
            // A selector: a name, braces, or both, then at most one range.
            let mut at = usize::from(tokens[0].kind == Kind::Ident);
            for bracket in ["{", "["] {
                if tokens.get(at).is_some_and(|t| t.is(bracket)) {
                    match closing(tokens, at) {
                        Some(close) => at = close + 1,
                        None => return false,
                    }
                }
            }
            at == tokens.len() && at > 1
        }
    }
}

fn lookup<'s, 'a>(scope: &'s Scope<'a>, name: &str) -> Option<&'s Rc<Template<'a>>> {
    scope.iter().rev().find(|t| t.name == name)
}

struct Expander {
    produced: usize,
    depth: usize,
}

impl Expander {
    fn count(&mut self, tokens: &[Token<'_>]) -> Result<(), WithError> {
        self.produced += tokens.len();
        if self.produced > EXPANDED_TOKENS_MAX {
            let offset = tokens.first().map_or(0, |t| t.offset);
            return Err(WithError { offset, message: format!("WITH templates expand to more than {EXPANDED_TOKENS_MAX} tokens") });
        }
        Ok(())
    }

    fn enter(&mut self, offset: usize) -> Result<(), WithError> {
        self.depth += 1;
        if self.depth > DEPTH_MAX {
            return Err(WithError { offset, message: format!("WITH templates nest deeper than {DEPTH_MAX}") });
        }
        Ok(())
    }

    /// Expands an expression's tokens: `WITH` blocks, template uses, braces, label lists.
    fn expression<'a>(&mut self, tokens: &[Token<'a>], scope: &Scope<'a>) -> Result<Vec<Token<'a>>, WithError> {
        let mut out: Vec<Token<'a>> = Vec::with_capacity(tokens.len());
        let mut at = 0;
        while let Some(token) = tokens.get(at) {
            let next_is = |punct: &str| tokens.get(at + 1).is_some_and(|t| t.is(punct));
            if token.is_word("with") && next_is("(") {
                let (body, end) = self.with_block(tokens, at, scope)?;
                if at == 0 && end == tokens.len() {
                    out.extend(body);
                } else {
                    out.extend(parenthesized(body));
                }
                at = end;
            } else if token.kind == Kind::Ident && next_is("(") && LABEL_LIST_KEYWORDS.iter().any(|k| token.is_word(k)) {
                let close = closing(tokens, at + 1).ok_or_else(|| unclosed(&tokens[at + 1]))?;
                out.push(token.clone());
                out.extend(self.label_list(tokens, at + 1, close, scope)?);
                at = close + 1;
            } else if let Some(template) = (token.kind == Kind::Ident && !RESERVED.iter().any(|r| token.is_word(r)))
                .then(|| lookup(scope, &token.text))
                .flatten()
            {
                at = self.template_use(tokens, at, template, scope, &mut out)?;
            } else if token.is("{") {
                let close = closing(tokens, at).ok_or_else(|| unclosed(token))?;
                out.extend(self.braces(tokens, at, close, scope)?);
                at = close + 1;
            } else {
                out.push(token.clone());
                at += 1;
            }
        }
        Ok(out)
    }

    /// `WITH (definitions) body` starting at `tokens[at]`: the expanded body and the index past it.
    fn with_block<'a>(&mut self, tokens: &[Token<'a>], at: usize, scope: &Scope<'a>) -> Result<(Vec<Token<'a>>, usize), WithError> {
        self.enter(tokens[at].offset)?;
        let mut inner: Vec<Rc<Template<'a>>> = scope.to_vec();
        let mut names: Vec<Cow<'a, str>> = Vec::new();
        let mut next = at + 2;
        loop {
            if tokens.get(next).is_some_and(|t| t.is(")")) {
                next += 1;
                break;
            }
            let defined_before: Rc<Scope<'a>> = inner.clone().into();
            let (template, end) = definition(tokens, next, defined_before)?;
            if names.contains(&template.name) {
                return Err(WithError { offset: tokens[next].offset, message: format!("WITH: template {:?} is defined twice", template.name) });
            }
            names.push(template.name.clone());
            inner.push(Rc::new(template));
            match tokens.get(end) {
                Some(t) if t.is(",") => next = end + 1,
                Some(t) if t.is(")") => {
                    next = end + 1;
                    break;
                }
                other => {
                    let offset = other.or(tokens.last()).map_or(0, |t| t.offset);
                    return Err(WithError { offset, message: "WITH: expected \",\" or \")\" after a template".into() });
                }
            }
        }
        let end = expression_end(tokens, next);
        if end == next {
            let offset = tokens.get(next).or(tokens.last()).map_or(0, |t| t.offset);
            return Err(WithError { offset, message: "WITH: expected an expression after the templates".into() });
        }
        let body = self.expression(&tokens[next..end], &inner)?;
        self.depth -= 1;
        Ok((body, end))
    }

    /// A template's expression with `arguments` bound to its parameters, expanded.
    fn instantiate<'a>(&mut self, template: &Template<'a>, arguments: Vec<Vec<Token<'a>>>, offset: usize) -> Result<Vec<Token<'a>>, WithError> {
        if template.expanded {
            return Ok(template.body.clone());
        }
        self.enter(offset)?;
        let mut scope: Vec<Rc<Template<'a>>> = template.scope.to_vec();
        for (name, body) in template.params.iter().zip(arguments) {
            scope.push(Rc::new(Template { name: name.clone(), params: Vec::new(), body, scope: Rc::from(Vec::new()), expanded: true }));
        }
        let body = self.expression(&template.body, &scope)?;
        self.count(&body)?;
        self.depth -= 1;
        Ok(body)
    }

    /// A use of `template` at `tokens[at]`; pushes its expansion and returns the index past the use.
    fn template_use<'a>(
        &mut self,
        tokens: &[Token<'a>],
        at: usize,
        template: &Template<'a>,
        scope: &Scope<'a>,
        out: &mut Vec<Token<'a>>,
    ) -> Result<usize, WithError> {
        let token = &tokens[at];
        let next = tokens.get(at + 1);
        if !template.params.is_empty() {
            if !next.is_some_and(|t| t.is("(")) {
                // VictoriaMetrics reads a function template's bare name as a metric name.
                out.push(token.clone());
                return Ok(at + 1);
            }
            let close = closing(tokens, at + 1).ok_or_else(|| unclosed(&tokens[at + 1]))?;
            let mut arguments = Vec::new();
            for item in list_items(tokens, at + 1, close) {
                arguments.push(self.expression(item, scope)?);
            }
            if arguments.len() != template.params.len() {
                let message = format!("template {:?} takes {} arguments, got {}", template.name, template.params.len(), arguments.len());
                return Err(WithError { offset: token.offset, message });
            }
            out.extend(parenthesized(self.instantiate(template, arguments, token.offset)?));
            return Ok(close + 1);
        }
        if next.is_some_and(|t| t.is("(")) {
            // `f()` for a template of no arguments (`WITH (f() = …) f()`, or `WITH (x = …) x()`).
            if tokens.get(at + 2).is_some_and(|t| t.is(")")) {
                out.extend(parenthesized(self.instantiate(template, Vec::new(), token.offset)?));
                return Ok(at + 3);
            }
            return Err(WithError { offset: token.offset, message: format!("template {:?} takes no arguments", template.name) });
        }
        let expansion = self.instantiate(template, Vec::new(), token.offset)?;
        if !next.is_some_and(|t| t.is("{")) {
            out.extend(parenthesized(expansion));
            return Ok(at + 1);
        }
        // `t{…}`: the template's selector with these filters added.
        let open = at + 1;
        let close = closing(tokens, open).ok_or_else(|| unclosed(&tokens[open]))?;
        let added = self.braces(tokens, open, close, scope)?;
        let (name, filters) = selector_parts(&expansion).ok_or_else(|| WithError {
            offset: token.offset,
            message: format!("template {:?} is used as a selector's name but stands for {}", template.name, render(&expansion)),
        })?;
        out.extend(name.cloned());
        out.push(punct("{", token.offset));
        // Each of the template's alternatives with each of the added ones.
        let own: Vec<Vec<Token<'a>>> = split_at_or(filters).into_iter().map(<[Token<'a>]>::to_vec).collect();
        let added: Vec<Vec<Token<'a>>> = split_at_or(&added[1..added.len() - 1]).into_iter().map(<[Token<'a>]>::to_vec).collect();
        out.extend(joined_alternatives(cross_joined(&own, &added, token.offset), token.offset));
        out.push(punct("}", token.offset));
        Ok(close + 1)
    }

    /// Label filters `tokens[open..=close]` (`{…}`) with filter templates put in and label values
    /// that use string templates (or join strings with `+`) written out as one string. With
    /// MetricsQL's `or` between filters (in the braces or in a template put in), each
    /// alternative is written out whole: `{x, b="2"}` with `x = {a="1" or c="3"}` is
    /// `{a="1", b="2" or c="3", b="2"}`.
    fn braces<'a>(&mut self, tokens: &[Token<'a>], open: usize, close: usize, scope: &Scope<'a>) -> Result<Vec<Token<'a>>, WithError> {
        let offset = tokens[open].offset;
        let mut alternatives: Vec<Vec<Token<'a>>> = Vec::new();
        for part in split_at_or(&tokens[open + 1..close]) {
            alternatives.extend(self.filters_alternative(part, scope, offset)?);
        }
        let mut out = vec![tokens[open].clone()];
        out.extend(joined_alternatives(alternatives, offset));
        out.push(tokens[close].clone());
        Ok(out)
    }

    /// One alternative's comma-separated filters, put in: the alternatives they make (more than
    /// one when a filter template holds `or`).
    fn filters_alternative<'a>(&mut self, part: &[Token<'a>], scope: &Scope<'a>, offset: usize) -> Result<Vec<Vec<Token<'a>>>, WithError> {
        let mut product: Vec<Vec<Token<'a>>> = vec![Vec::new()];
        for item in comma_items(part) {
            let choices: Vec<Vec<Token<'a>>> = match item {
                [] => continue,
                [name] if name.kind == Kind::Ident => match lookup(scope, &name.text) {
                    Some(template) if template.params.is_empty() => {
                        let expansion = self.instantiate(template, Vec::new(), name.offset)?;
                        match selector_parts(&expansion) {
                            Some((None, filters)) => split_at_or(filters).into_iter().map(<[Token<'a>]>::to_vec).collect(),
                            _ => {
                                let message = format!("template {:?} inside braces must be label filters {{…}}, not {}", name.text, render(&expansion));
                                return Err(WithError { offset: name.offset, message });
                            }
                        }
                    }
                    _ => vec![vec![name.clone()]],
                },
                [label, op, value @ ..]
                    if matches!(label.kind, Kind::Ident | Kind::Str) && ["=", "!=", "=~", "!~"].iter().any(|o| op.is(o)) && !value.is_empty() =>
                {
                    vec![vec![label.clone(), op.clone(), self.label_value(value, scope)?]]
                }
                other => vec![other.to_vec()],
            };
            product = cross_joined(&product, &choices, offset);
            if product.len() > FILTER_ALTERNATIVES_MAX {
                return Err(WithError { offset, message: format!("label filters expand to more than {FILTER_ALTERNATIVES_MAX} alternatives joined by \"or\"") });
            }
        }
        Ok(product)
    }

    /// A label value: one string, a string template, or such parts joined with `+`.
    fn label_value<'a>(&mut self, parts: &[Token<'a>], scope: &Scope<'a>) -> Result<Token<'a>, WithError> {
        if let [single] = parts {
            if single.kind == Kind::Str {
                return Ok(single.clone());
            }
        }
        let mut value = String::new();
        for (i, part) in parts.iter().enumerate() {
            if i % 2 == 1 {
                if !part.is("+") {
                    return Err(WithError { offset: part.offset, message: format!("expected \"+\" between a label value's parts, got {:?}", part.text) });
                }
                continue;
            }
            let string = match part.kind {
                Kind::Str => part.clone(),
                Kind::Ident => {
                    let template = lookup(scope, &part.text).filter(|t| t.params.is_empty()).ok_or_else(|| WithError {
                        offset: part.offset,
                        message: format!("a label value names {:?}, which is no WITH template", part.text),
                    })?;
                    match self.instantiate(template, Vec::new(), part.offset)?.as_slice() {
                        [s] if s.kind == Kind::Str => s.clone(),
                        other => {
                            return Err(WithError { offset: part.offset, message: format!("template {:?} stands for {}, not a string", part.text, render(other)) })
                        }
                    }
                }
                _ => return Err(WithError { offset: part.offset, message: format!("expected a string in a label value, got {:?}", part.text) }),
            };
            let (_, text) = string_literal(&string.text).map_err(|(offset, message)| WithError { offset: string.offset + offset, message })?;
            value.push_str(&text);
        }
        if parts.len().is_multiple_of(2) {
            let offset = parts.last().map_or(0, |t| t.offset);
            return Err(WithError { offset, message: "a label value ends with \"+\"".into() });
        }
        Ok(Token { kind: Kind::Str, text: Cow::Owned(quote(&value)), offset: parts[0].offset })
    }

    /// A label list `tokens[open..=close]` after `by`, `on` and the like, with templates that
    /// name labels (`l = job` or `l = (job, instance)`) put in.
    fn label_list<'a>(&mut self, tokens: &[Token<'a>], open: usize, close: usize, scope: &Scope<'a>) -> Result<Vec<Token<'a>>, WithError> {
        let mut names: Vec<Token<'a>> = Vec::new();
        for item in list_items(tokens, open, close) {
            match item {
                [name] if name.kind == Kind::Ident => match lookup(scope, &name.text).filter(|t| t.params.is_empty()) {
                    Some(template) => {
                        let expansion = self.instantiate(template, Vec::new(), name.offset)?;
                        let listed: Vec<&Token<'a>> = match expansion.as_slice() {
                            [single] => vec![single],
                            [open, inner @ .., close] if open.is("(") && close.is(")") => inner.iter().filter(|t| !t.is(",")).collect(),
                            _ => Vec::new(),
                        };
                        if listed.is_empty() || listed.iter().any(|t| t.kind != Kind::Ident) {
                            let message = format!("template {:?} stands for {}, not label names", name.text, render(&expansion));
                            return Err(WithError { offset: name.offset, message });
                        }
                        for label in listed {
                            if !names.iter().any(|n| n.text == label.text) {
                                names.push(label.clone());
                            }
                        }
                    }
                    None => {
                        if !names.iter().any(|n| n.text == name.text) {
                            names.push(name.clone());
                        }
                    }
                },
                other => names.extend(other.iter().cloned()),
            }
        }
        let mut out = vec![tokens[open].clone()];
        for (i, name) in names.into_iter().enumerate() {
            if i > 0 {
                out.push(punct(",", tokens[open].offset));
            }
            out.push(name);
        }
        out.push(tokens[close].clone());
        Ok(out)
    }
}

/// A selector's name (if any) and the tokens between its braces (empty without braces);
/// `None` for anything else.
fn selector_parts<'t, 'a>(tokens: &'t [Token<'a>]) -> Option<(Option<&'t Token<'a>>, &'t [Token<'a>])> {
    match tokens {
        [name] if name.kind == Kind::Ident => Some((Some(name), &[])),
        [name, open, .., close] if name.kind == Kind::Ident && open.is("{") && closing(tokens, 1) == Some(tokens.len() - 1) => {
            Some((Some(name), &tokens[2..tokens.len() - 1])).filter(|_| close.is("}"))
        }
        [open, .., close] if open.is("{") && close.is("}") && closing(tokens, 0) == Some(tokens.len() - 1) => Some((None, &tokens[1..tokens.len() - 1])),
        _ => None,
    }
}

/// Most alternatives joined by `or` that label filters may expand to (each filter template
/// holding `or` multiplies them).
const FILTER_ALTERNATIVES_MAX: usize = 1000;

/// Whether `tokens[i]` is MetricsQL's `or` between label filters, not a label named `or`.
fn is_or_separator(tokens: &[Token<'_>], i: usize) -> bool {
    tokens[i].is_word("or") && !tokens.get(i + 1).is_some_and(|t| ["=", "!=", "=~", "!~"].iter().any(|o| t.is(o)))
}

/// Label filters split at each `or` between them: the alternatives (just `filters` without one).
fn split_at_or<'t, 'a>(filters: &'t [Token<'a>]) -> Vec<&'t [Token<'a>]> {
    let mut parts = Vec::new();
    let mut start = 0;
    for i in 0..filters.len() {
        if is_or_separator(filters, i) {
            parts.push(&filters[start..i]);
            start = i + 1;
        }
    }
    parts.push(&filters[start..]);
    parts
}

/// Each of `left`'s alternatives with each of `right`'s, their filters joined by a comma.
fn cross_joined<'a>(left: &[Vec<Token<'a>>], right: &[Vec<Token<'a>>], offset: usize) -> Vec<Vec<Token<'a>>> {
    let mut out = Vec::with_capacity(left.len() * right.len());
    for l in left {
        for r in right {
            let mut both = l.clone();
            if !l.is_empty() && !r.is_empty() {
                both.push(punct(",", offset));
            }
            both.extend(r.iter().cloned());
            out.push(both);
        }
    }
    out
}

/// Alternatives written one after another with `or` between them.
fn joined_alternatives<'a>(alternatives: Vec<Vec<Token<'a>>>, offset: usize) -> Vec<Token<'a>> {
    let mut out = Vec::new();
    for (i, alternative) in alternatives.into_iter().enumerate() {
        if i > 0 {
            out.push(Token { kind: Kind::Ident, text: Cow::Borrowed("or"), offset });
        }
        out.extend(alternative);
    }
    out
}

fn punct(text: &'static str, offset: usize) -> Token<'static> {
    Token { kind: Kind::Punct, text: Cow::Borrowed(text), offset }
}

fn unclosed(open: &Token<'_>) -> WithError {
    WithError { offset: open.offset, message: format!("unclosed {:?}", open.text) }
}

fn parenthesized(tokens: Vec<Token<'_>>) -> Vec<Token<'_>> {
    if is_operand(&tokens) {
        return tokens;
    }
    let offset = tokens.first().map_or(0, |t| t.offset);
    let mut out = Vec::with_capacity(tokens.len() + 2);
    out.push(punct("(", offset));
    out.extend(tokens);
    out.push(punct(")", offset));
    out
}

/// The tokens as query text, spaced as people write PromQL: nothing inside brackets' edges,
/// before a comma, before an opening bracket (calls, selectors, ranges) or around a label
/// matcher's operator; a space elsewhere.
fn render(tokens: &[Token<'_>]) -> String {
    let mut out = String::new();
    let mut previous: Option<&Token<'_>> = None;
    // Whether the previous token is a label matcher's operator glued to its label name.
    let mut after_matcher = false;
    // Whether the previous token is a unary sign, glued to what it negates.
    let mut after_sign = false;
    for token in tokens {
        let sign = (token.is("-") || token.is("+")) && previous.is_none_or(|p| p.kind == Kind::Punct && ![")", "]", "}"].iter().any(|t| p.is(t)));
        let mut matcher = false;
        if let Some(p) = previous {
            matcher = ["=", "=~", "!~"].iter().any(|m| token.is(m)) && p.kind != Kind::Punct;
            let opening = ["(", "[", "{"].iter().any(|t| token.is(t));
            let tight = ["(", "[", "{"].iter().any(|t| p.is(t))
                || [")", "]", "}", ","].iter().any(|t| token.is(t))
                || (opening && (p.kind == Kind::Ident || [")", "]", "}"].iter().any(|t| p.is(t))))
                || matcher
                || (after_matcher && token.kind != Kind::Punct)
                || after_sign;
            if !tight {
                out.push(' ');
            }
        }
        out.push_str(&token.text);
        previous = Some(token);
        after_matcher = matcher;
        after_sign = sign;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expanded(query: &str) -> String {
        match expand(query) {
            Ok(Some(text)) => text,
            other => panic!("{query}: {other:?}"),
        }
    }

    fn failure(query: &str) -> String {
        match expand(query) {
            Err(e) => e.message,
            other => panic!("{query}: expected an error, got {other:?}"),
        }
    }

    #[test]
    fn a_query_without_templates_is_left_alone() {
        assert_eq!(expand(r#"sum(rate(with_total{with="x"}[5m])) by (job)"#), Ok(None));
        assert_eq!(expand("with + 1"), Ok(None));
    }

    #[test]
    fn names_and_functions_expand() {
        assert_eq!(expanded("WITH (x = foo{a=\"b\"}) rate(x[5m])"), r#"rate(foo{a="b"}[5m])"#);
        assert_eq!(expanded("with (x = a + b) x * 2"), "(a + b) * 2");
        assert_eq!(expanded("WITH (f(a, b) = a + b) f(rate(x[1m]), 3)"), "(rate(x[1m]) + 3)");
        assert_eq!(expanded("WITH (f(a, b) = a + b) f(1, 2) * 3"), "(1 + 2) * 3");
        // Later templates use earlier ones; a parameter shadows a template of the same name.
        assert_eq!(expanded("WITH (x = foo, y = x + 1, f(x) = x * y) f(bar)"), "(bar * (foo + 1))");
        // VictoriaMetrics' documented example.
        assert_eq!(
            expanded(
                r#"WITH (
                    commonFilters = {job="cacher", instance=~"1.2.3.4.+"},
                    ru(freev, maxv) = clamp_min(maxv - clamp_min(freev, 0), 0) / clamp_min(maxv, 0) * 100  # resource use
                ) ru(node_free{commonFilters}, node_total{commonFilters})"#
            ),
            r#"(clamp_min(node_total{job="cacher", instance=~"1.2.3.4.+"} - clamp_min(node_free{job="cacher", instance=~"1.2.3.4.+"}, 0), 0) / clamp_min(node_total{job="cacher", instance=~"1.2.3.4.+"}, 0) * 100)"#
        );
    }

    #[test]
    fn filters_selectors_strings_and_label_lists_expand() {
        assert_eq!(expanded(r#"WITH (f = {job="a"}) x{f, mode="idle"}"#), r#"x{job="a", mode="idle"}"#);
        assert_eq!(expanded(r#"WITH (f = {job="a"}) {f}"#), r#"{job="a"}"#);
        assert_eq!(expanded(r#"WITH (s = cpu{job="a"}) s{mode="idle"}[5m]"#), r#"cpu{job="a", mode="idle"}[5m]"#);
        assert_eq!(expanded(r#"WITH (s = cpu) s{mode="idle"}"#), r#"cpu{mode="idle"}"#);
        assert_eq!(expanded(r#"WITH (j = "api") up{job=j}"#), r#"up{job="api"}"#);
        assert_eq!(expanded(r#"WITH (j = "api") up{job=~j + "-.*" + 'x'}"#), r#"up{job=~"api-.*x"}"#);
        assert_eq!(expanded("WITH (l = (job, instance), i = pod) sum(x) by (l, i, job)"), "sum(x) by(job, instance, pod)");
        assert_eq!(expanded("WITH (l = job) a / on (l) group_left (l) b"), "a / on(job) group_left(job) b");
        assert_eq!(expanded("WITH (w = 5m, o = 1h) rate(x[w] offset o)"), "rate(x[5m] offset 1h)");
    }

    #[test]
    fn or_between_filters_writes_each_alternative_out() {
        assert_eq!(expanded(r#"WITH (x = {a="1" or c="3"}) m{x, b="2"}"#), r#"m{a="1", b="2" or c="3", b="2"}"#);
        assert_eq!(expanded(r#"WITH (x = {a="b"}) x{c="d" or q="w", r="t"}"#), r#"{a="b", c="d" or a="b", q="w", r="t"}"#);
        assert_eq!(expanded(r#"WITH (x = {a="b" or c="d"}) x / x{e="f"}"#), r#"{a="b" or c="d"} / {a="b", e="f" or c="d", e="f"}"#);
        assert_eq!(expanded(r#"WITH (x = {or="1"}) m{x or or="2"}"#), r#"m{or="1" or or="2"}"#, "a label named or stays one");
        // Templates of alternatives multiply; the product is bounded.
        let definitions: Vec<String> = (0..10).map(|i| format!("t{i} = {{l{i}=\"a\" or l{i}=\"b\"}}")).collect();
        let uses: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
        let query = format!("WITH ({}) m{{{}}}", definitions.join(", "), uses.join(", "));
        let refused = expand(&query).expect_err("2^10 alternatives");
        assert!(refused.message.contains("more than 1000 alternatives"), "{}", refused.message);
    }

    #[test]
    fn with_may_stand_inside_an_expression_and_nest() {
        assert_eq!(expanded("sum(WITH (x = a + b) x) + 1"), "sum((a + b)) + 1");
        assert_eq!(expanded("WITH (x = 1) WITH (y = x + 1) y * 2"), "(1 + 1) * 2");
        assert_eq!(expanded("WITH (x = WITH (y = 2) y + 1) x"), "(2 + 1)");
    }

    #[test]
    fn alias_and_ru_are_built_in() {
        assert_eq!(expanded(r#"alias(sum(x), "total")"#), r#"label_set(sum(x), "__name__", "total")"#);
        assert_eq!(expanded("ru(free, total)"), "(clamp_min(total - clamp_min(free, 0), 0) / clamp_min(total, 0) * 100)");
        // A definition of the same name in a query's WITH wins.
        assert_eq!(expanded("WITH (ru(a, b) = a / b) ru(x, y)"), "(x / y)");
    }

    #[test]
    fn operators_that_must_not_fuse_stay_apart() {
        assert_eq!(expanded("WITH (x = a) x > = 1"), "a > = 1");
        assert_eq!(expanded("WITH (x = -1) a - x"), "a - (-1)");
        assert_eq!(expanded("WITH (x = 1) x - -x"), "1 - -1");
    }

    #[test]
    fn empty_parentheses_and_grafana_variables() {
        // Empty parentheses call a template of no arguments.
        assert_eq!(expanded("WITH (f() = rate(m[5m])) f() + x()"), "rate(m[5m]) + x()");
        assert_eq!(expanded("WITH (x = 1) x() * 2"), "1 * 2");
        // `$__interval` is one token, kept as written.
        assert_eq!(expanded("WITH (w = $__interval) rate(m[$__rate_interval]) * w"), "rate(m[$__rate_interval]) * $__interval");
    }

    #[test]
    fn mistakes_are_named() {
        assert!(failure("WITH (x = 1, x = 2) x").contains("defined twice"));
        assert!(failure("WITH (f(a, a) = a) f(1, 2)").contains("twice"));
        assert!(failure("WITH (f(a) = a) f(1, 2)").contains("takes 1 arguments, got 2"));
        assert!(failure("WITH (x = 1) x(2)").contains("takes no arguments"));
        assert!(failure("WITH (x = a + b) y{x}").contains("must be label filters"));
        assert!(failure("WITH (x = a + b) x{c=\"d\"}").contains("selector's name"));
        assert!(failure("WITH (x = 1) up{job=x}").contains("not a string"));
        assert!(failure("WITH (l = a + b) sum(x) by (l)").contains("not label names"));
        assert!(failure("WITH (x = ) x").contains("no expression"));
        assert!(failure("WITH (x = 1)").contains("expected an expression"));
        assert!(failure("WITH (x 1) x").contains("expected \"=\""));
        assert!(failure("WITH (x = 1 x").contains("expected \",\" or \")\""));
    }

    #[test]
    fn templates_that_grow_exponentially_are_refused() {
        let mut query = String::from("WITH (t0 = x");
        for i in 1..40 {
            query.push_str(&format!(", t{i} = t{} + t{}", i - 1, i - 1));
        }
        query.push_str(") t39");
        assert!(failure(&query).contains("more than"));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut query = String::new();
        for _ in 0..(DEPTH_MAX + 5) {
            query.push_str("WITH (x = 1) ");
        }
        query.push('x');
        assert!(failure(&query).contains("nest deeper"));
    }

    #[test]
    fn the_parser_reads_the_expansion() {
        let printed = |q: &str| crate::parser::parse(q).map(|e| crate::printer::print(&e)).map_err(|e| e.to_string());
        assert_eq!(printed(r#"WITH (f = {job="a"}, r(m) = rate(m[5m])) sum(r(x{f})) by (pod)"#), Ok(r#"sum by (pod) (rate(x{job="a"}[5m]))"#.into()));
        assert_eq!(printed("WITH (x = a + b) x * 2"), printed("(a + b) * 2"));
        assert_eq!(printed("WITH (w = 5m) x[w:1m] offset w"), printed("x[5m:1m] offset 5m"));
        // Errors found while expanding point into the query as written.
        assert_eq!(printed("WITH (f(a) = a)\n  f(1, 2)"), Err("2:3: parse error: template \"f\" takes 1 arguments, got 2".into()));
        // Errors of the expanded query quote it.
        let error = printed("WITH (x = a +) x").unwrap_err();
        assert!(error.contains("(in the query as its WITH templates expand: (a +))"), "{error}");
    }

    #[test]
    fn selector_parsers_read_templates_alike() {
        let query = r#"WITH (f = {job="a"}) up{f, team!="b"}"#;
        let plain = crate::parser::parse_series_selector(query).map(|m| m.len());
        assert_eq!(plain, Ok(3));
        assert_eq!(crate::parser::parse_narrowing_selector(query).map(|m| m.len()), plain);
        assert_eq!(crate::parser::parse_narrowing_selector(r#"WITH (f = {team!="b"}) {f}"#).map(|m| m.len()), Ok(1));
    }
}
