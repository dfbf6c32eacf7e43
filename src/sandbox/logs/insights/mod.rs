//! The CloudWatch Logs Insights subset the sandbox understands: a lexer, a parser and an evaluator.
//!
//! ```text
//! filter modelId like /inference-profile\/us.anthropic/ and toMillis(@timestamp) >= 1732650000000
//!   | stats count(*) as invocationCount by inferenceRegion
//!   | sort inferenceRegion
//! ```
//! [`parse`] turns a query string into a [`Query`] or a [`QueryError`] that names the offending
//! token and its line, column and character offset; [`Query::run`] (or [`Query::execute`], which
//! also counts matched records) evaluates it over [`Record`]s, the flattened log events.
//! The commands, operators and their semantics are listed in `parser` and `eval`; anything
//! outside them is a parse error, as the service's `MalformedQueryException` would be.

mod ast;
mod eval;
mod lexer;
mod parser;
#[cfg(test)]
mod tests;
mod value;

pub use ast::{
    Aggregate, AggregateFunction, Command, Comparison, Expr, Pattern, Projection, Query, SortKey,
};
pub use eval::{DEFAULT_LIMIT, QueryOutput, execute};
pub use value::{Record, Value};

/// Parses a Logs Insights query.
pub fn parse(query: &str) -> Result<Query, QueryError> {
    parser::parse_query(query)
}

/// Why a query does not parse, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at line {line}, column {column} (character {offset}): '{token}'")]
pub struct QueryError {
    /// What is wrong.
    pub message: String,
    /// The offending source text (or `end of query`).
    pub token: String,
    /// Character offset of the offending token, from 0.
    pub offset: usize,
    /// Character offset just past the offending token.
    pub end_offset: usize,
    /// Line of the offending token, from 1.
    pub line: usize,
    /// Column of the offending token, from 1 (in characters).
    pub column: usize,
}

impl QueryError {
    /// An error about the characters `[start, end)` of `query`.
    pub(crate) fn at(query: &str, start: usize, end: usize, token: &str, message: &str) -> Self {
        let before: Vec<char> = query.chars().take(start).collect();
        let line = 1 + before.iter().filter(|c| **c == '\n').count();
        let column = 1 + before.iter().rev().take_while(|c| **c != '\n').count();
        QueryError {
            message: message.to_owned(),
            token: token.to_owned(),
            offset: start,
            end_offset: end.max(start),
            line,
            column,
        }
    }
}
