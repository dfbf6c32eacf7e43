//! A recursive-descent parser for the Logs Insights subset.
//!
//! Grammar (keywords are case-insensitive):
//! ```text
//! query      := command ('|' command)*
//! command    := 'fields' projection (',' projection)*
//!             | 'filter' expr
//!             | 'stats' aggregate (',' aggregate)* ['by' projection (',' projection)*]
//!             | 'sort' field ['asc'|'desc'] (',' field ['asc'|'desc'])*
//!             | 'limit' integer
//! projection := operand ['as' name]
//! aggregate  := ('count'|'sum'|'avg'|'min'|'max') '(' ('*' | expr)? ')' ['as' name]
//! expr       := and ('or' and)*
//! and        := not ('and' not)*
//! not        := 'not' not | test
//! test       := operand [cmp operand | ['not'] 'like' pattern | '=~' pattern]
//! operand    := field | number | '-' number | string | 'toMillis' '(' expr ')' | '(' expr ')'
//! ```
//! Every error names the offending token and where it is.

use regex::Regex;

use super::QueryError;
use super::ast::{
    Aggregate, AggregateFunction, Command, Comparison, Expr, Pattern, Projection, Query, SortKey,
};
use super::lexer::{Token, TokenKind, tokenize};

/// Words with a meaning inside commands; a field with one of these names needs backquotes.
const KEYWORDS: &[&str] = &["and", "or", "not", "like", "as", "by", "asc", "desc"];

/// Deepest nesting of parentheses and `not` accepted, so no query can exhaust the stack.
const MAX_DEPTH: usize = 64;

/// Parses `query` into a [`Query`].
pub fn parse_query(query: &str) -> Result<Query, QueryError> {
    let tokens = tokenize(query);
    let mut parser = Parser {
        query,
        tokens,
        pos: 0,
        depth: 0,
    };
    parser.query()
}

struct Parser<'a> {
    query: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    /// Current nesting of `expr` and `not`.
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[self.pos.min(last)]
    }

    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if !matches!(token.kind, TokenKind::End | TokenKind::Invalid(_)) {
            self.pos += 1;
        }
        token
    }

    /// The source text between two character offsets.
    fn source(&self, start: usize, end: usize) -> String {
        self.query.chars().skip(start).take(end - start).collect()
    }

    fn error(&self, token: &Token, message: &str) -> QueryError {
        if let TokenKind::Invalid(error) = &token.kind {
            return (**error).clone();
        }
        let text = if token.kind == TokenKind::End {
            "end of query".to_owned()
        } else {
            self.source(token.start, token.end)
        };
        QueryError::at(self.query, token.start, token.end, &text, message)
    }

    /// True (and consumes it) if the next token is the keyword `word`.
    fn eat_keyword(&mut self, word: &str) -> bool {
        if let TokenKind::Word(w) = &self.peek().kind
            && w.eq_ignore_ascii_case(word)
        {
            self.pos += 1;
            return true;
        }
        false
    }

    fn eat(&mut self, kind: &TokenKind) -> bool {
        if &self.peek().kind == kind {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, kind: &TokenKind, what: &str) -> Result<Token, QueryError> {
        if &self.peek().kind == kind {
            Ok(self.advance())
        } else {
            Err(self.error(self.peek(), &format!("expected {what}")))
        }
    }

    /// Comma-separated items, at least one.
    fn list<T>(
        &mut self,
        item: fn(&mut Self) -> Result<T, QueryError>,
    ) -> Result<Vec<T>, QueryError> {
        let mut items = vec![item(self)?];
        while self.eat(&TokenKind::Comma) {
            items.push(item(self)?);
        }
        Ok(items)
    }

    fn query(&mut self) -> Result<Query, QueryError> {
        if self.peek().kind == TokenKind::End {
            return Err(self.error(self.peek(), "the query is empty"));
        }
        let mut commands = vec![self.command()?];
        loop {
            if self.eat(&TokenKind::Pipe) {
                commands.push(self.command()?);
            } else if self.peek().kind == TokenKind::End {
                return Ok(Query { commands });
            } else {
                return Err(self.error(self.peek(), "expected '|' or the end of the query"));
            }
        }
    }

    fn command(&mut self) -> Result<Command, QueryError> {
        let token = self.advance();
        let TokenKind::Word(word) = &token.kind else {
            return Err(self.error(
                &token,
                "expected a command (fields, filter, stats, sort, limit)",
            ));
        };
        match word.to_ascii_lowercase().as_str() {
            "fields" => Ok(Command::Fields(self.list(Self::projection)?)),
            "filter" => Ok(Command::Filter(self.expr()?)),
            "stats" => {
                let aggregates = self.list(Self::aggregate)?;
                let by = if self.eat_keyword("by") {
                    self.list(Self::projection)?
                } else {
                    Vec::new()
                };
                Ok(Command::Stats { aggregates, by })
            }
            "sort" => Ok(Command::Sort(self.list(Self::sort_key)?)),
            "limit" => self.limit(),
            _ => Err(self.error(
                &token,
                "unsupported command: expected fields, filter, stats, sort or limit",
            )),
        }
    }

    fn limit(&mut self) -> Result<Command, QueryError> {
        let token = self.advance();
        match token.kind {
            TokenKind::Number(n) if n >= 1.0 && n.fract() == 0.0 && n <= 10_000.0 => {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // checked above
                Ok(Command::Limit(n as usize))
            }
            _ => Err(self.error(
                &token,
                "expected a whole number from 1 to 10000 after limit",
            )),
        }
    }

    /// A field name: a bare word that is not a keyword, or a backquoted name.
    fn field_name(&mut self) -> Result<String, QueryError> {
        let token = self.advance();
        match &token.kind {
            TokenKind::Quoted(name) => Ok(name.clone()),
            TokenKind::Word(word) if !is_keyword(word) => Ok(word.clone()),
            _ => Err(self.error(&token, "expected a field name")),
        }
    }

    fn projection(&mut self) -> Result<Projection, QueryError> {
        let start = self.peek().start;
        let expr = self.operand()?;
        let end = self.tokens[self.pos - 1].end;
        let name = match (self.eat_keyword("as"), &expr) {
            (true, _) => self.field_name()?,
            (false, Expr::Field(name)) => name.clone(),
            (false, _) => self.source(start, end),
        };
        Ok(Projection { expr, name })
    }

    fn aggregate(&mut self) -> Result<Aggregate, QueryError> {
        let token = self.advance();
        let function = match &token.kind {
            TokenKind::Word(word) => match word.to_ascii_lowercase().as_str() {
                "count" => Some(AggregateFunction::Count),
                "sum" => Some(AggregateFunction::Sum),
                "avg" => Some(AggregateFunction::Avg),
                "min" => Some(AggregateFunction::Min),
                "max" => Some(AggregateFunction::Max),
                _ => None,
            },
            _ => None,
        };
        let Some(function) = function else {
            return Err(self.error(&token, "expected an aggregate: count, sum, avg, min or max"));
        };
        self.expect(&TokenKind::LParen, "'(' after the aggregate function")?;
        let argument = match self.peek().kind {
            TokenKind::Star | TokenKind::RParen if function == AggregateFunction::Count => {
                self.eat(&TokenKind::Star);
                None
            }
            _ => Some(self.expr()?),
        };
        let close = self.expect(&TokenKind::RParen, "')'")?;
        let name = if self.eat_keyword("as") {
            self.field_name()?
        } else {
            self.source(token.start, close.end)
        };
        Ok(Aggregate {
            function,
            argument,
            name,
        })
    }

    fn sort_key(&mut self) -> Result<SortKey, QueryError> {
        let field = self.field_name()?;
        let descending = if self.eat_keyword("desc") {
            true
        } else {
            self.eat_keyword("asc");
            false
        };
        Ok(SortKey { field, descending })
    }

    /// Runs `parse` one level deeper, failing past [`MAX_DEPTH`].
    fn nested<T>(
        &mut self,
        parse: fn(&mut Self) -> Result<T, QueryError>,
    ) -> Result<T, QueryError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(
                self.peek(),
                &format!("expression nested more than {MAX_DEPTH} deep"),
            ));
        }
        self.depth += 1;
        let parsed = parse(self);
        self.depth -= 1;
        parsed
    }

    fn expr(&mut self) -> Result<Expr, QueryError> {
        self.nested(|parser| {
            let mut left = parser.and()?;
            while parser.eat_keyword("or") {
                left = Expr::Or(Box::new(left), Box::new(parser.and()?));
            }
            Ok(left)
        })
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.not()?;
        while self.eat_keyword("and") {
            left = Expr::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, QueryError> {
        if self.eat_keyword("not") {
            return Ok(Expr::Not(Box::new(self.nested(Self::not)?)));
        }
        self.test()
    }

    fn test(&mut self) -> Result<Expr, QueryError> {
        let left = self.operand()?;
        let comparison = match self.peek().kind {
            TokenKind::Eq => Some(Comparison::Eq),
            TokenKind::NotEq => Some(Comparison::NotEq),
            TokenKind::Lt => Some(Comparison::Lt),
            TokenKind::LtEq => Some(Comparison::LtEq),
            TokenKind::Gt => Some(Comparison::Gt),
            TokenKind::GtEq => Some(Comparison::GtEq),
            _ => None,
        };
        if let Some(comparison) = comparison {
            self.advance();
            let right = self.operand()?;
            return Ok(Expr::Compare(comparison, Box::new(left), Box::new(right)));
        }
        let negated = if self.eat(&TokenKind::Matches) || self.eat_keyword("like") {
            false
        } else if self.is_not_like() {
            self.pos += 2;
            true
        } else {
            return Ok(left);
        };
        let pattern = self.pattern()?;
        Ok(Expr::Like {
            subject: Box::new(left),
            pattern,
            negated,
        })
    }

    fn is_not_like(&self) -> bool {
        let word = |offset: usize, want: &str| {
            matches!(self.tokens.get(self.pos + offset).map(|t| &t.kind),
                Some(TokenKind::Word(w)) if w.eq_ignore_ascii_case(want))
        };
        word(0, "not") && word(1, "like")
    }

    fn pattern(&mut self) -> Result<Pattern, QueryError> {
        let token = self.advance();
        match &token.kind {
            TokenKind::Regex(source) => Regex::new(source).map(Pattern::Regex).map_err(|e| {
                self.error(
                    &token,
                    &format!("invalid regular expression: {}", last_line(&e.to_string())),
                )
            }),
            TokenKind::Str(text) => Ok(Pattern::Substring(text.clone())),
            _ => Err(self.error(&token, "expected a /regex/ or a string after like")),
        }
    }

    fn operand(&mut self) -> Result<Expr, QueryError> {
        let token = self.advance();
        match &token.kind {
            TokenKind::Number(n) => Ok(Expr::Number(*n)),
            TokenKind::Minus => match self.advance().kind {
                TokenKind::Number(n) => Ok(Expr::Number(-n)),
                _ => Err(self.error(&token, "expected a number after '-'")),
            },
            TokenKind::Str(s) => Ok(Expr::Str(s.clone())),
            TokenKind::Quoted(name) => Ok(Expr::Field(name.clone())),
            TokenKind::LParen => {
                let inner = self.expr()?;
                self.expect(&TokenKind::RParen, "')'")?;
                Ok(inner)
            }
            TokenKind::Word(word) if self.peek().kind == TokenKind::LParen => {
                if !word.eq_ignore_ascii_case("toMillis") {
                    return Err(self.error(
                        &token,
                        "unsupported function: only toMillis() is available here",
                    ));
                }
                self.advance();
                let argument = self.expr()?;
                self.expect(&TokenKind::RParen, "')' after the argument of toMillis")?;
                Ok(Expr::ToMillis(Box::new(argument)))
            }
            TokenKind::Word(word) if !is_keyword(word) => Ok(Expr::Field(word.clone())),
            _ => Err(self.error(&token, "expected a field, number, string or '('")),
        }
    }
}

fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

fn last_line(text: &str) -> &str {
    text.lines().last().unwrap_or(text).trim()
}
