//! Lexer: splits template text into text runs and the tokens inside `{{ }}` actions,
//! applying trim markers (`{{- ` / ` -}}`) and dropping comments, as Go's text/template does.

/// One token, with the byte offset where it starts in the template text.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: TokenKind,
    pub pos: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    Text(String),
    LeftDelim,
    RightDelim,
    Space,
    Identifier(String),
    Keyword(Keyword),
    /// `.name` (a field or key); the text without the dot.
    Field(String),
    /// `$` or `$name`, with the dollar.
    Variable(String),
    Dot,
    Bool(bool),
    Nil,
    /// The literal as written; the parser converts it.
    Number(String),
    /// The quoted literal as written (`"…"`, `` `…` `` or `'…'`).
    Str(String),
    Char(String),
    Pipe,
    LeftParen,
    RightParen,
    Declare,
    Assign,
    Comma,
    Eof,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Keyword {
    If,
    Else,
    End,
    Range,
    With,
    Define,
    Template,
    Block,
    Break,
    Continue,
}

const LEFT_DELIM: &str = "{{";
const RIGHT_DELIM: &str = "}}";
const LEFT_COMMENT: &str = "/*";
const RIGHT_COMMENT: &str = "*/";

/// A lexing failure: the byte offset and Go's message.
pub struct LexError {
    pub pos: usize,
    pub message: String,
}

pub fn lex(text: &str) -> Result<Vec<Token>, LexError> {
    let mut lexer = Lexer { text, pos: 0, tokens: Vec::new(), paren_depth: 0 };
    lexer.run()?;
    Ok(lexer.tokens)
}

struct Lexer<'t> {
    text: &'t str,
    pos: usize,
    tokens: Vec<Token>,
    paren_depth: usize,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alphanumeric(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

impl<'t> Lexer<'t> {
    fn rest(&self) -> &'t str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn push(&mut self, kind: TokenKind, pos: usize) {
        self.tokens.push(Token { kind, pos });
    }

    fn error<T>(&self, pos: usize, message: impl Into<String>) -> Result<T, LexError> {
        Err(LexError { pos, message: message.into() })
    }

    fn run(&mut self) -> Result<(), LexError> {
        loop {
            let start = self.pos;
            let Some(found) = self.rest().find(LEFT_DELIM) else {
                if start < self.text.len() {
                    self.push(TokenKind::Text(self.rest().to_string()), start);
                }
                self.push(TokenKind::Eof, self.text.len());
                return Ok(());
            };
            let delim_pos = start + found;
            let trim_left = self.text[delim_pos + LEFT_DELIM.len()..].starts_with("- ") || self.text[delim_pos + LEFT_DELIM.len()..].starts_with("-\t") || self.text[delim_pos + LEFT_DELIM.len()..].starts_with("-\n") || self.text[delim_pos + LEFT_DELIM.len()..].starts_with("-\r");
            let mut text_end = delim_pos;
            if trim_left {
                text_end = start + self.text[start..delim_pos].trim_end_matches(is_space).len();
            }
            if text_end > start {
                self.push(TokenKind::Text(self.text[start..text_end].to_string()), start);
            }
            self.pos = delim_pos + LEFT_DELIM.len() + if trim_left { 2 } else { 0 };
            self.lex_action(delim_pos)?;
        }
    }

    /// Whether a right delimiter (possibly with a trim marker) starts here: returns (trim, length).
    fn at_right_delim(&self) -> Option<(bool, usize)> {
        let rest = self.rest();
        if rest.starts_with(RIGHT_DELIM) {
            return Some((false, RIGHT_DELIM.len()));
        }
        let mut chars = rest.chars();
        if chars.next().is_some_and(is_space) && chars.next() == Some('-') && chars.as_str().starts_with(RIGHT_DELIM) {
            return Some((true, 2 + RIGHT_DELIM.len()));
        }
        None
    }

    fn finish_right_delim(&mut self, trim: bool, length: usize) {
        let at = self.pos;
        self.pos += length;
        self.push(TokenKind::RightDelim, at);
        if trim {
            let rest = self.rest();
            self.pos += rest.len() - rest.trim_start_matches(is_space).len();
        }
    }

    fn lex_action(&mut self, delim_pos: usize) -> Result<(), LexError> {
        if self.rest().starts_with(LEFT_COMMENT) {
            return self.lex_comment(delim_pos);
        }
        self.push(TokenKind::LeftDelim, delim_pos);
        self.paren_depth = 0;
        loop {
            if let Some((trim, length)) = self.at_right_delim() {
                if self.paren_depth > 0 {
                    return self.error(self.pos, "unclosed left paren");
                }
                self.finish_right_delim(trim, length);
                return Ok(());
            }
            let start = self.pos;
            let Some(c) = self.peek() else {
                return self.error(start, "unclosed action");
            };
            if is_space(c) {
                let rest = self.rest();
                let mut length = rest.len() - rest.trim_start_matches(is_space).len();
                // Leave a space that begins a trim marker for at_right_delim.
                let after = &rest[length..];
                if after.starts_with("-}}") && length > 0 {
                    length -= 1;
                }
                self.pos += length;
                if length > 0 {
                    self.push(TokenKind::Space, start);
                }
                continue;
            }
            self.pos += c.len_utf8();
            match c {
                '|' => self.push(TokenKind::Pipe, start),
                ',' => self.push(TokenKind::Comma, start),
                '=' => self.push(TokenKind::Assign, start),
                ':' => {
                    if self.peek() != Some('=') {
                        return self.error(start, "expected :=");
                    }
                    self.pos += 1;
                    self.push(TokenKind::Declare, start);
                }
                '(' => {
                    self.paren_depth += 1;
                    self.push(TokenKind::LeftParen, start);
                }
                ')' => {
                    if self.paren_depth == 0 {
                        return self.error(start, "unexpected right paren");
                    }
                    self.paren_depth -= 1;
                    self.push(TokenKind::RightParen, start);
                }
                '"' => self.lex_quoted(start, '"', "unterminated quoted string")?,
                '\'' => self.lex_quoted(start, '\'', "unterminated character constant")?,
                '`' => self.lex_raw(start)?,
                '$' => {
                    let name = self.take_while(is_alphanumeric);
                    self.push(TokenKind::Variable(format!("${name}")), start);
                }
                '.' => {
                    if self.peek().is_some_and(|d| d.is_ascii_digit()) {
                        self.pos = start;
                        self.lex_number(start)?;
                    } else {
                        let name = self.take_while(is_alphanumeric);
                        if name.is_empty() {
                            self.push(TokenKind::Dot, start);
                        } else {
                            self.push(TokenKind::Field(name.to_string()), start);
                        }
                    }
                }
                '+' | '-' | '0'..='9' => {
                    self.pos = start;
                    self.lex_number(start)?;
                }
                c if is_alphanumeric(c) => {
                    self.pos = start;
                    let word = self.take_while(is_alphanumeric);
                    self.push(word_token(word), start);
                }
                c => {
                    return self.error(start, format!("unrecognized character in action: {}", describe_char(c)));
                }
            }
        }
    }

    fn lex_comment(&mut self, delim_pos: usize) -> Result<(), LexError> {
        let Some(end) = self.rest().find(RIGHT_COMMENT) else {
            return self.error(delim_pos, "unclosed comment");
        };
        self.pos += end + RIGHT_COMMENT.len();
        match self.at_right_delim() {
            Some((trim, length)) => {
                self.pos += length;
                if trim {
                    let rest = self.rest();
                    self.pos += rest.len() - rest.trim_start_matches(is_space).len();
                }
                Ok(())
            }
            None => self.error(delim_pos, "comment ends before closing delimiter"),
        }
    }

    fn take_while(&mut self, keep: fn(char) -> bool) -> &'t str {
        let rest = self.rest();
        let length = rest.len() - rest.trim_start_matches(keep).len();
        self.pos += length;
        &rest[..length]
    }

    fn lex_quoted(&mut self, start: usize, quote: char, unterminated: &str) -> Result<(), LexError> {
        let mut chars = self.rest().char_indices();
        while let Some((offset, c)) = chars.next() {
            match c {
                // The guard consumes the escaped character, so an escaped quote never ends the literal.
                '\\' if chars.next().is_none_or(|(_, escaped)| escaped == '\n') => return self.error(start, unterminated),
                '\\' => {}
                '\n' => return self.error(start, unterminated),
                c if c == quote => {
                    self.pos += offset + 1;
                    let literal = self.text[start..self.pos].to_string();
                    let kind = if quote == '"' { TokenKind::Str(literal) } else { TokenKind::Char(literal) };
                    self.push(kind, start);
                    return Ok(());
                }
                _ => {}
            }
        }
        self.error(start, unterminated)
    }

    fn lex_raw(&mut self, start: usize) -> Result<(), LexError> {
        let Some(end) = self.rest().find('`') else {
            return self.error(start, "unterminated raw quoted string");
        };
        self.pos += end + 1;
        self.push(TokenKind::Str(self.text[start..self.pos].to_string()), start);
        Ok(())
    }

    fn lex_number(&mut self, start: usize) -> Result<(), LexError> {
        let rest = self.rest();
        let mut length = 0;
        let bytes = rest.as_bytes();
        if length < bytes.len() && (bytes[length] == b'+' || bytes[length] == b'-') {
            length += 1;
        }
        // Accept the characters a Go number literal may contain; validation happens in the parser.
        while length < bytes.len() {
            let b = bytes[length];
            let is_hex = rest[..length].trim_start_matches(['+', '-']).starts_with("0x") || rest[..length].trim_start_matches(['+', '-']).starts_with("0X");
            let exponent_letters: &[u8] = if is_hex { b"pP" } else { b"eEpP" };
            let is_exponent_sign = (b == b'+' || b == b'-') && length > 0 && exponent_letters.contains(&bytes[length - 1]);
            if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || is_exponent_sign {
                length += 1;
            } else {
                break;
            }
        }
        let literal = &rest[..length];
        if literal == "+" || literal == "-" {
            return self.error(start, format!("bad number syntax: {literal:?}"));
        }
        self.pos += length;
        self.push(TokenKind::Number(literal.to_string()), start);
        Ok(())
    }
}

fn word_token(word: &str) -> TokenKind {
    match word {
        "true" => TokenKind::Bool(true),
        "false" => TokenKind::Bool(false),
        "nil" => TokenKind::Nil,
        "if" => TokenKind::Keyword(Keyword::If),
        "else" => TokenKind::Keyword(Keyword::Else),
        "end" => TokenKind::Keyword(Keyword::End),
        "range" => TokenKind::Keyword(Keyword::Range),
        "with" => TokenKind::Keyword(Keyword::With),
        "define" => TokenKind::Keyword(Keyword::Define),
        "template" => TokenKind::Keyword(Keyword::Template),
        "block" => TokenKind::Keyword(Keyword::Block),
        "break" => TokenKind::Keyword(Keyword::Break),
        "continue" => TokenKind::Keyword(Keyword::Continue),
        _ => TokenKind::Identifier(word.to_string()),
    }
}

/// Go's `%#U`-like description used in "unrecognized character" errors.
fn describe_char(c: char) -> String {
    format!("U+{:04X}", c as u32)
}
