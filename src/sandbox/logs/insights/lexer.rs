//! The Logs Insights lexer: turns a query string into tokens that remember where they start.
//!
//! `/` always opens a regex literal (the subset has no division), so `/a\/b/` lexes as one
//! [`TokenKind::Regex`] whose pattern is `a/b`; other backslash escapes stay for the regex engine.
//! `#` starts a comment that runs to the end of the line, as in the real service.

use super::QueryError;

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    /// A bare word: a command, keyword, function or field name (`input.inputTokenCount`, `@timestamp`).
    Word(String),
    /// A backquoted field name, with the backquotes removed.
    Quoted(String),
    /// A string literal in `'…'` or `"…"`, escapes resolved.
    Str(String),
    /// A number literal.
    Number(f64),
    /// A regex literal `/…/`, with `\/` turned into `/`.
    Regex(String),
    /// `|`
    Pipe,
    /// `,`
    Comma,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `*`
    Star,
    /// `-`
    Minus,
    /// `=`
    Eq,
    /// `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `=~`
    Matches,
    /// Text that is not a token; the parser reports this error if it gets this far, so the
    /// first problem in reading order wins.
    Invalid(Box<QueryError>),
    /// The end of the query.
    End,
}

/// A token and the character offsets `[start, end)` of its source text.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// What the token is.
    pub kind: TokenKind,
    /// Character offset of its first character.
    pub start: usize,
    /// Character offset just past its last character.
    pub end: usize,
}

/// Splits `query` into tokens, ending with one [`TokenKind::End`] or, at the first text that is
/// not a token, one [`TokenKind::Invalid`].
pub fn tokenize(query: &str) -> Vec<Token> {
    let chars: Vec<char> = query.chars().collect();
    let mut lexer = Lexer {
        query,
        chars: &chars,
        pos: 0,
    };
    let mut tokens = Vec::new();
    loop {
        lexer.skip_blanks_and_comments();
        let start = lexer.pos;
        let Some(c) = lexer.peek(0) else {
            tokens.push(Token {
                kind: TokenKind::End,
                start,
                end: start,
            });
            return tokens;
        };
        match lexer.token(c) {
            Ok(kind) => tokens.push(Token {
                kind,
                start,
                end: lexer.pos,
            }),
            Err(error) => {
                tokens.push(Token {
                    kind: TokenKind::Invalid(Box::new(error)),
                    start,
                    end: lexer.pos,
                });
                return tokens;
            }
        }
    }
}

/// True for characters that may start a bare word.
fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '@' || c == '$'
}

/// True for characters that may continue a bare word (dots join the parts of a nested key).
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '@' | '$' | '.')
}

struct Lexer<'a> {
    query: &'a str,
    chars: &'a [char],
    pos: usize,
}

impl Lexer<'_> {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn skip_blanks_and_comments(&mut self) {
        while let Some(c) = self.peek(0) {
            if c.is_whitespace() {
                self.pos += 1;
            } else if c == '#' {
                while self.peek(0).is_some_and(|c| c != '\n') {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// Lexes the token that starts with `c` at the current position.
    fn token(&mut self, c: char) -> Result<TokenKind, QueryError> {
        let start = self.pos;
        let two = |second: char, kind: TokenKind, lexer: &mut Self| {
            if lexer.peek(1) == Some(second) {
                lexer.pos += 2;
                Some(kind)
            } else {
                None
            }
        };
        if let Some(kind) = match c {
            '!' => two('=', TokenKind::NotEq, self),
            '<' => two('=', TokenKind::LtEq, self),
            '>' => two('=', TokenKind::GtEq, self),
            '=' => two('~', TokenKind::Matches, self),
            _ => None,
        } {
            return Ok(kind);
        }
        let single = match c {
            '|' => Some(TokenKind::Pipe),
            ',' => Some(TokenKind::Comma),
            '(' => Some(TokenKind::LParen),
            ')' => Some(TokenKind::RParen),
            '*' => Some(TokenKind::Star),
            '-' => Some(TokenKind::Minus),
            '=' => Some(TokenKind::Eq),
            '<' => Some(TokenKind::Lt),
            '>' => Some(TokenKind::Gt),
            _ => None,
        };
        if let Some(kind) = single {
            self.pos += 1;
            return Ok(kind);
        }
        match c {
            '\'' | '"' => self.string(c).map(TokenKind::Str),
            '`' => self.backquoted().map(TokenKind::Quoted),
            '/' => self.regex().map(TokenKind::Regex),
            c if c.is_ascii_digit() => self.number(),
            c if is_word_start(c) => {
                while self.peek(0).is_some_and(is_word_char) {
                    self.pos += 1;
                }
                Ok(TokenKind::Word(
                    self.chars[start..self.pos].iter().collect(),
                ))
            }
            other => Err(QueryError::at(
                self.query,
                start,
                start + 1,
                &other.to_string(),
                "unexpected character",
            )),
        }
    }

    /// Reads up to the closing `close`, calling `escape` on each `\x` pair; errors if unterminated.
    fn delimited(
        &mut self,
        close: char,
        what: &str,
        escape: impl Fn(char, &mut String),
    ) -> Result<String, QueryError> {
        let start = self.pos;
        self.pos += 1;
        let mut text = String::new();
        loop {
            match self.peek(0) {
                None => {
                    let source: String = self.chars[start..].iter().collect();
                    return Err(QueryError::at(
                        self.query,
                        start,
                        self.pos,
                        &source,
                        &format!("unterminated {what}"),
                    ));
                }
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(text);
                }
                Some('\\') if self.peek(1).is_some() => {
                    if let Some(next) = self.peek(1) {
                        escape(next, &mut text);
                    }
                    self.pos += 2;
                }
                Some(c) => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn string(&mut self, quote: char) -> Result<String, QueryError> {
        self.delimited(quote, "string", |c, text| {
            text.push(match c {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                other => other,
            });
        })
    }

    fn backquoted(&mut self) -> Result<String, QueryError> {
        self.delimited('`', "backquoted field name", |c, text| text.push(c))
    }

    fn regex(&mut self) -> Result<String, QueryError> {
        self.delimited('/', "regular expression", |c, text| {
            if c != '/' {
                text.push('\\');
            }
            text.push(c);
        })
    }

    fn number(&mut self) -> Result<TokenKind, QueryError> {
        let start = self.pos;
        while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.peek(0) == Some('.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
            while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
        }
        // A number glued to letters (`5m`, `12abc`) is outside the subset: report it whole.
        while self.peek(0).is_some_and(is_word_char) {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        text.parse::<f64>()
            .map(TokenKind::Number)
            .map_err(|_| QueryError::at(self.query, start, self.pos, &text, "invalid number"))
    }
}
