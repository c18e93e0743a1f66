//! Parser: turns the lexer's tokens into node lists, checking at parse time what Go checks
//! (functions are defined, variables are declared, `break` is inside `range`, delimiters match).

use std::collections::HashMap;

use crate::ast::{Branch, Command, Constant, List, Node, Operand, Pipe};
use crate::functions::is_function;
use crate::lex::{Keyword, Token, TokenKind};

/// What parsing produces: the main list and the `define`d (or `block`) templates.
pub struct Parsed {
    pub root: List,
    pub defined: HashMap<String, List>,
}

/// A parse failure at a byte offset.
pub struct ParseError {
    pub pos: usize,
    pub message: String,
}

type ParseResult<T> = Result<T, ParseError>;

/// Nesting of parentheses and control structures; deeper input is refused rather than
/// risking the parser's stack (Go has no such limit, real alert templates nest a few levels).
pub const NESTING_MAX: usize = 100;

pub fn parse(tokens: Vec<Token>) -> ParseResult<Parsed> {
    let mut parser = Parser { tokens, at: 0, vars: vec!["$".to_string()], range_depth: 0, nesting: 0, defined: HashMap::new() };
    let root = parser.parse_top()?;
    Ok(Parsed { root, defined: parser.defined })
}

/// How a list inside a control structure ended.
enum ListEnd {
    End,
    /// `{{else` was read; the tokens after `else` are next.
    Else,
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    /// Variables in scope, innermost last.
    vars: Vec<String>,
    range_depth: usize,
    nesting: usize,
    defined: HashMap<String, List>,
}

fn describe(kind: &TokenKind) -> String {
    match kind {
        TokenKind::Text(text) => format!("{text:?}"),
        TokenKind::LeftDelim => "\"{{\"".to_string(),
        TokenKind::RightDelim => "\"}}\"".to_string(),
        TokenKind::Space => "space".to_string(),
        TokenKind::Identifier(word) => format!("{word:?}"),
        TokenKind::Keyword(keyword) => format!("<{}>", format!("{keyword:?}").to_lowercase()),
        TokenKind::Field(name) => format!("\".{name}\""),
        TokenKind::Variable(name) | TokenKind::Number(name) | TokenKind::Str(name) | TokenKind::Char(name) => format!("{name:?}"),
        TokenKind::Dot => "\".\"".to_string(),
        TokenKind::Bool(value) => format!("\"{value}\""),
        TokenKind::Nil => "\"nil\"".to_string(),
        TokenKind::Pipe => "\"|\"".to_string(),
        TokenKind::LeftParen => "\"(\"".to_string(),
        TokenKind::RightParen => "\")\"".to_string(),
        TokenKind::Declare => "\":=\"".to_string(),
        TokenKind::Assign => "\"=\"".to_string(),
        TokenKind::Comma => "\",\"".to_string(),
        TokenKind::Eof => "EOF".to_string(),
    }
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    /// Always advances (up to one past the end), so stepping back with `at -= 1` is exact.
    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        self.at = (self.at + 1).min(self.tokens.len());
        token
    }

    fn skip_space(&mut self) {
        while self.peek().kind == TokenKind::Space {
            self.at += 1;
        }
    }

    fn next_non_space(&mut self) -> Token {
        self.skip_space();
        self.next()
    }

    fn peek_non_space(&mut self) -> &Token {
        self.skip_space();
        self.peek()
    }

    fn error<T>(&self, pos: usize, message: impl Into<String>) -> ParseResult<T> {
        Err(ParseError { pos, message: message.into() })
    }

    fn unexpected<T>(&self, token: &Token, context: &str) -> ParseResult<T> {
        if token.kind == TokenKind::Eof {
            return self.error(token.pos, "unexpected EOF");
        }
        self.error(token.pos, format!("unexpected {} in {context}", describe(&token.kind)))
    }

    fn expect_right_delim(&mut self, context: &str) -> ParseResult<()> {
        let token = self.next_non_space();
        if token.kind != TokenKind::RightDelim {
            return self.unexpected(&token, context);
        }
        Ok(())
    }

    fn parse_top(&mut self) -> ParseResult<List> {
        let mut list = Vec::new();
        loop {
            let token = self.peek().clone();
            match &token.kind {
                TokenKind::Eof => return Ok(list),
                TokenKind::LeftDelim if self.tokens.get(self.at + 1).is_some_and(|t| t.kind == TokenKind::Keyword(Keyword::Define)) || (self.tokens.get(self.at + 1).is_some_and(|t| t.kind == TokenKind::Space) && self.tokens.get(self.at + 2).is_some_and(|t| t.kind == TokenKind::Keyword(Keyword::Define))) => {
                    self.next();
                    self.next_non_space();
                    self.parse_definition()?;
                }
                _ => match self.parse_item()? {
                    Item::Node(node) => list.push(node),
                    Item::End(pos) => return self.error(pos, "unexpected {{end}}"),
                    Item::Else(pos) => return self.error(pos, "unexpected {{else}}"),
                },
            }
        }
    }

    fn parse_definition(&mut self) -> ParseResult<()> {
        let name_token = self.next_non_space();
        let name = match &name_token.kind {
            TokenKind::Str(quoted) => unquote(quoted).map_err(|message| ParseError { pos: name_token.pos, message })?,
            _ => return self.unexpected(&name_token, "define clause"),
        };
        self.expect_right_delim("define clause")?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let (list, end) = self.parse_list()?;
        self.vars = saved_vars;
        if let ListEnd::Else = end {
            return self.error(name_token.pos, "unexpected {{else}}");
        }
        self.add_definition(name_token.pos, name, list)
    }

    /// Go keeps the first non-empty definition of a name and rejects a second one.
    fn add_definition(&mut self, pos: usize, name: String, list: List) -> ParseResult<()> {
        let is_empty = |list: &List| list.iter().all(|node| matches!(node, Node::Text(text) if text.trim().is_empty()));
        match self.defined.get(&name) {
            Some(existing) if !is_empty(existing) && !is_empty(&list) => self.error(pos, format!("template: multiple definition of template {name:?}")),
            Some(existing) if !is_empty(existing) => Ok(()),
            _ => {
                self.defined.insert(name, list);
                Ok(())
            }
        }
    }

    /// Parses nodes until `{{end}}` or `{{else`.
    fn parse_list(&mut self) -> ParseResult<(List, ListEnd)> {
        let mut list = Vec::new();
        loop {
            if self.peek().kind == TokenKind::Eof {
                return self.error(self.peek().pos, "unexpected EOF");
            }
            match self.parse_item()? {
                Item::Node(node) => list.push(node),
                Item::End(_) => return Ok((list, ListEnd::End)),
                Item::Else(_) => return Ok((list, ListEnd::Else)),
            }
        }
    }

    fn parse_item(&mut self) -> ParseResult<Item> {
        let token = self.next();
        match token.kind {
            TokenKind::Text(text) => Ok(Item::Node(Node::Text(text))),
            TokenKind::LeftDelim => self.parse_action(),
            _ => self.unexpected(&token, "input"),
        }
    }

    fn parse_action(&mut self) -> ParseResult<Item> {
        let token = self.peek_non_space().clone();
        let TokenKind::Keyword(keyword) = token.kind else {
            let pipe = self.parse_pipeline("command", TokenKind::RightDelim, false)?;
            return Ok(Item::Node(Node::Action(pipe)));
        };
        self.next();
        match keyword {
            Keyword::End => {
                self.expect_right_delim("end")?;
                Ok(Item::End(token.pos))
            }
            Keyword::Else => Ok(Item::Else(token.pos)),
            Keyword::If => Ok(Item::Node(Node::If(self.parse_branch(Keyword::If)?))),
            Keyword::With => Ok(Item::Node(Node::With(self.parse_branch(Keyword::With)?))),
            Keyword::Range => {
                self.range_depth += 1;
                let branch = self.parse_branch(Keyword::Range);
                self.range_depth -= 1;
                Ok(Item::Node(Node::Range(branch?)))
            }
            Keyword::Break | Keyword::Continue => {
                let name = if keyword == Keyword::Break { "break" } else { "continue" };
                if self.range_depth == 0 {
                    return self.error(token.pos, format!("{{{{{name}}}}} outside {{{{range}}}}"));
                }
                self.expect_right_delim(&format!("{{{{{name}}}}}"))?;
                Ok(Item::Node(if keyword == Keyword::Break { Node::Break } else { Node::Continue }))
            }
            Keyword::Template => Ok(Item::Node(self.parse_template_call("template clause")?)),
            Keyword::Block => {
                let node = self.parse_template_call("block clause")?;
                let Node::Template { name, .. } = &node else { unreachable!("parse_template_call returns Node::Template") };
                let name = name.clone();
                let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
                let listed = self.parse_list();
                self.vars = saved_vars;
                let (list, end) = listed?;
                if let ListEnd::Else = end {
                    return self.error(token.pos, "unexpected {{else}}");
                }
                self.add_definition(token.pos, name, list)?;
                Ok(Item::Node(node))
            }
            Keyword::Define => self.error(token.pos, "unexpected <define> in command"),
        }
    }

    fn parse_template_call(&mut self, context: &str) -> ParseResult<Node> {
        let name_token = self.next_non_space();
        let name = match &name_token.kind {
            TokenKind::Str(quoted) => unquote(quoted).map_err(|message| ParseError { pos: name_token.pos, message })?,
            _ => return self.unexpected(&name_token, context),
        };
        let pipe = if self.peek_non_space().kind == TokenKind::RightDelim {
            self.next();
            None
        } else {
            Some(self.parse_pipeline(context, TokenKind::RightDelim, false)?)
        };
        Ok(Node::Template { pos: name_token.pos, name, pipe })
    }

    /// `if`/`with`/`range`: pipeline, list, optional else (or else-if / else-with chain), end.
    fn parse_branch(&mut self, keyword: Keyword) -> ParseResult<Branch> {
        if self.nesting >= NESTING_MAX {
            return self.error(self.peek().pos, format!("template nesting exceeds {NESTING_MAX} levels"));
        }
        let scope = self.vars.len();
        self.nesting += 1;
        let result = self.parse_branch_in_scope(keyword);
        self.nesting -= 1;
        self.vars.truncate(scope);
        result
    }

    fn parse_branch_in_scope(&mut self, keyword: Keyword) -> ParseResult<Branch> {
        let context = match keyword {
            Keyword::If => "if",
            Keyword::With => "with",
            _ => "range",
        };
        let pipe = self.parse_pipeline(context, TokenKind::RightDelim, keyword == Keyword::Range)?;
        let (list, end) = self.parse_list()?;
        let else_list = match end {
            ListEnd::End => None,
            ListEnd::Else => {
                let after_else = self.peek_non_space().clone();
                let chained = keyword != Keyword::Range && after_else.kind == TokenKind::Keyword(keyword);
                if chained {
                    self.next();
                    let inner = self.parse_branch(keyword)?;
                    Some(vec![if keyword == Keyword::If { Node::If(inner) } else { Node::With(inner) }])
                } else {
                    self.expect_right_delim("else")?;
                    let (else_list, else_end) = self.parse_list()?;
                    if let ListEnd::Else = else_end {
                        return self.error(after_else.pos, "expected end; found {{else}}");
                    }
                    Some(else_list)
                }
            }
        };
        Ok(Branch { pipe, list, else_list })
    }

    fn parse_pipeline(&mut self, context: &str, end: TokenKind, allow_two_vars: bool) -> ParseResult<Pipe> {
        let start = self.peek_non_space().pos;
        if self.nesting >= NESTING_MAX {
            return self.error(start, format!("template nesting exceeds {NESTING_MAX} levels"));
        }
        self.nesting += 1;
        let pipe = self.parse_pipeline_nested(context, end, allow_two_vars, start);
        self.nesting -= 1;
        pipe
    }

    fn parse_pipeline_nested(&mut self, context: &str, end: TokenKind, allow_two_vars: bool, start: usize) -> ParseResult<Pipe> {
        let (decl, is_assign) = self.parse_declarations(context, allow_two_vars)?;
        let mut cmds = Vec::new();
        loop {
            let token = self.peek_non_space().clone();
            if token.kind == end {
                self.next();
                break;
            }
            match token.kind {
                TokenKind::Bool(_) | TokenKind::Char(_) | TokenKind::Dot | TokenKind::Field(_) | TokenKind::Identifier(_) | TokenKind::Number(_) | TokenKind::Nil | TokenKind::Str(_) | TokenKind::Variable(_) | TokenKind::LeftParen => {
                    cmds.push(self.parse_command()?);
                }
                _ => return self.unexpected(&token, context),
            }
        }
        if cmds.is_empty() {
            return self.error(start, format!("missing value for {context}"));
        }
        for (stage, cmd) in cmds.iter().enumerate().skip(1) {
            if matches!(cmd.args[0], Operand::Constant { .. } | Operand::Dot { .. } | Operand::Nil { .. }) {
                return self.error(cmd.pos, format!("non executable command in pipeline stage {}", stage + 1));
            }
        }
        if !is_assign {
            self.vars.extend(decl.iter().cloned());
        }
        Ok(Pipe { pos: start, is_assign, decl, cmds })
    }

    /// Reads `$x :=`, `$x =` or (in range) `$i, $v :=`, or nothing.
    fn parse_declarations(&mut self, context: &str, allow_two_vars: bool) -> ParseResult<(Vec<String>, bool)> {
        let saved = self.at;
        let first = self.peek_non_space().clone();
        let TokenKind::Variable(name) = &first.kind else { return Ok((Vec::new(), false)) };
        self.next();
        let after = self.peek_non_space().clone();
        match after.kind {
            TokenKind::Declare | TokenKind::Assign => {
                self.next();
                let is_assign = after.kind == TokenKind::Assign;
                if is_assign && !self.vars.contains(name) {
                    return self.error(first.pos, format!("undefined variable {name:?}"));
                }
                Ok((vec![name.clone()], is_assign))
            }
            TokenKind::Comma if allow_two_vars => {
                self.next();
                let second = self.next_non_space();
                let TokenKind::Variable(second_name) = &second.kind else { return self.unexpected(&second, "range") };
                let operator = self.next_non_space();
                match operator.kind {
                    TokenKind::Declare | TokenKind::Assign => Ok((vec![name.clone(), second_name.clone()], operator.kind == TokenKind::Assign)),
                    _ => self.unexpected(&operator, "range"),
                }
            }
            TokenKind::Comma => self.error(after.pos, format!("too many declarations in {context}")),
            _ => {
                self.at = saved;
                Ok((Vec::new(), false))
            }
        }
    }

    fn parse_command(&mut self) -> ParseResult<Command> {
        let pos = self.peek_non_space().pos;
        let mut args = Vec::new();
        loop {
            self.skip_space();
            if let Some(operand) = self.parse_operand()? {
                args.push(operand);
            }
            let token = self.next();
            match token.kind {
                TokenKind::Space => continue,
                TokenKind::RightDelim | TokenKind::RightParen => self.at -= 1,
                TokenKind::Pipe => {}
                _ => return self.unexpected(&token, "operand"),
            }
            break;
        }
        if args.is_empty() {
            return self.error(pos, "empty command");
        }
        Ok(Command { pos, args })
    }

    fn parse_operand(&mut self) -> ParseResult<Option<Operand>> {
        let Some(term) = self.parse_term()? else { return Ok(None) };
        let mut fields = Vec::new();
        // Go positions a chained operand at its first trailing field.
        let chain_pos = self.peek().pos;
        while let TokenKind::Field(name) = &self.peek().kind {
            fields.push(name.clone());
            self.next();
        }
        if fields.is_empty() {
            return Ok(Some(term));
        }
        Ok(Some(match term {
            Operand::Field { mut names, .. } => {
                names.extend(fields);
                Operand::Field { pos: chain_pos, names }
            }
            Operand::Variable { mut names, .. } => {
                names.extend(fields);
                Operand::Variable { pos: chain_pos, names }
            }
            Operand::Constant { pos, text, .. } => return self.error(pos, format!("unexpected . after term {text:?}")),
            Operand::Dot { pos } => return self.error(pos, "unexpected . after term \".\""),
            Operand::Nil { pos } => return self.error(pos, "unexpected . after term \"nil\""),
            other => Operand::Chain { pos: chain_pos, node: Box::new(other), fields },
        }))
    }

    fn parse_term(&mut self) -> ParseResult<Option<Operand>> {
        let token = self.next_non_space();
        let pos = token.pos;
        let operand = match token.kind {
            TokenKind::Identifier(name) => {
                if !is_function(&name) {
                    return self.error(pos, format!("function {name:?} not defined"));
                }
                Operand::Function { pos, name }
            }
            TokenKind::Dot => Operand::Dot { pos },
            TokenKind::Nil => Operand::Nil { pos },
            TokenKind::Variable(name) => {
                if !self.vars.contains(&name) {
                    return self.error(pos, format!("undefined variable {name:?}"));
                }
                Operand::Variable { pos, names: vec![name] }
            }
            TokenKind::Field(name) => Operand::Field { pos, names: vec![name] },
            TokenKind::Bool(value) => Operand::Constant { pos, text: value.to_string(), value: Constant::Bool(value) },
            TokenKind::Number(text) => {
                let value = parse_number(&text).ok_or_else(|| ParseError { pos, message: format!("illegal number syntax: {text:?}") })?;
                Operand::Constant { pos, text, value }
            }
            TokenKind::Char(text) => {
                let value = unquote_char(&text).map_err(|message| ParseError { pos, message })?;
                Operand::Constant { pos, text, value: Constant::Int(value as i64) }
            }
            TokenKind::Str(text) => {
                let value = unquote(&text).map_err(|message| ParseError { pos, message })?;
                Operand::Constant { pos, text, value: Constant::Str(value) }
            }
            TokenKind::LeftParen => {
                let pipe = self.parse_pipeline("parenthesized pipeline", TokenKind::RightParen, false)?;
                Operand::Pipe { pos, pipe: Box::new(pipe) }
            }
            _ => {
                self.at -= 1;
                return Ok(None);
            }
        };
        Ok(Some(operand))
    }
}

enum Item {
    Node(Node),
    End(usize),
    Else(usize),
}

/// A Go number literal as a template constant: floats when written with `.`/exponent, else ints.
fn parse_number(text: &str) -> Option<Constant> {
    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
    let (negative, digits) = match cleaned.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, cleaned.strip_prefix('+').unwrap_or(&cleaned)),
    };
    let lower = digits.to_ascii_lowercase();
    let radix_int = if let Some(hex) = lower.strip_prefix("0x") {
        Some(i128::from_str_radix(hex, 16).ok()?)
    } else if let Some(binary) = lower.strip_prefix("0b") {
        Some(i128::from_str_radix(binary, 2).ok()?)
    } else if let Some(octal) = lower.strip_prefix("0o") {
        Some(i128::from_str_radix(octal, 8).ok()?)
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit()) {
        Some(i128::from_str_radix(&lower[1..], 8).ok()?)
    } else {
        None
    };
    if let Some(magnitude) = radix_int {
        let signed = if negative { -magnitude } else { magnitude };
        return Some(i64::try_from(signed).map(Constant::Int).unwrap_or(Constant::Float(signed as f64)));
    }
    if lower.is_empty() || !lower.bytes().next().is_some_and(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    if lower.contains(['.', 'e']) {
        let magnitude: f64 = lower.parse().ok()?;
        return Some(Constant::Float(if negative { -magnitude } else { magnitude }));
    }
    let magnitude: i128 = lower.parse().ok()?;
    let signed = if negative { -magnitude } else { magnitude };
    Some(i64::try_from(signed).map(Constant::Int).unwrap_or(Constant::Float(signed as f64)))
}

/// Go's strconv.Unquote for `"…"` (with escapes) and `` `…` `` (raw) literals.
pub fn unquote(quoted: &str) -> Result<String, String> {
    if let Some(raw) = quoted.strip_prefix('`').and_then(|rest| rest.strip_suffix('`')) {
        return Ok(raw.replace('\r', ""));
    }
    let inner = quoted.strip_prefix('"').and_then(|rest| rest.strip_suffix('"')).ok_or_else(|| "invalid syntax".to_string())?;
    unescape(inner, '"')
}

fn unquote_char(quoted: &str) -> Result<char, String> {
    let inner = quoted.strip_prefix('\'').and_then(|rest| rest.strip_suffix('\'')).ok_or_else(|| format!("malformed character constant: {quoted}"))?;
    let text = unescape(inner, '\'')?;
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(format!("malformed character constant: {quoted}")),
    }
}

fn unescape(inner: &str, quote: char) -> Result<String, String> {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    let invalid = || "invalid syntax".to_string();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escape = chars.next().ok_or_else(invalid)?;
        match escape {
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            c if c == quote => out.push(c),
            'x' | 'u' | 'U' => {
                let width = match escape {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..width).filter_map(|_| chars.next()).collect();
                let code = u32::from_str_radix(&hex, 16).map_err(|_| invalid())?;
                if hex.len() != width {
                    return Err(invalid());
                }
                if escape == 'x' {
                    // \xHH is a byte; template strings are UTF-8 so only ASCII bytes survive intact.
                    out.push(char::from_u32(code).ok_or_else(invalid)?);
                } else {
                    out.push(char::from_u32(code).ok_or_else(invalid)?);
                }
            }
            '0'..='7' => {
                let mut code = escape.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let digit = chars.next().and_then(|d| d.to_digit(8)).ok_or_else(invalid)?;
                    code = code * 8 + digit;
                }
                out.push(char::from_u32(code).ok_or_else(invalid)?);
            }
            _ => return Err(invalid()),
        }
    }
    Ok(out)
}
