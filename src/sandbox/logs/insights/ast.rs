//! The parsed form of a Logs Insights query: a pipeline of commands over expressions.

use regex::Regex;

/// A parsed query: its commands in pipeline order.
#[derive(Debug, Clone)]
pub struct Query {
    /// The commands, applied left to right.
    pub commands: Vec<Command>,
}

/// One command between pipes.
#[derive(Debug, Clone)]
pub enum Command {
    /// `fields a, b as x`: chooses (and may compute) the fields shown.
    Fields(Vec<Projection>),
    /// `filter <expr>`: keeps the rows where the expression is true.
    Filter(Expr),
    /// `stats agg [as x], … [by f, …]`: groups rows and aggregates each group.
    Stats {
        /// The aggregates, one output column each.
        aggregates: Vec<Aggregate>,
        /// The grouping keys, one output column each (shown before the aggregates).
        by: Vec<Projection>,
    },
    /// `sort f [asc|desc], …`
    Sort(Vec<SortKey>),
    /// `limit N`
    Limit(usize),
}

/// An expression with the column name it produces (its alias, or its source text).
#[derive(Debug, Clone)]
pub struct Projection {
    /// What to compute.
    pub expr: Expr,
    /// The output column.
    pub name: String,
}

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateFunction {
    /// `count(*)` or `count(f)` (rows where `f` is present).
    Count,
    /// `sum(f)`
    Sum,
    /// `avg(f)`, rounded to three decimals.
    Avg,
    /// `min(f)`
    Min,
    /// `max(f)`
    Max,
}

/// One aggregate of a `stats` command.
#[derive(Debug, Clone)]
pub struct Aggregate {
    /// Which function.
    pub function: AggregateFunction,
    /// Its argument; `None` for `count(*)`.
    pub argument: Option<Expr>,
    /// The output column (alias, or source text such as `count(*)`).
    pub name: String,
}

/// One key of a `sort` command.
#[derive(Debug, Clone)]
pub struct SortKey {
    /// The field to sort by.
    pub field: String,
    /// `desc` (the default is ascending).
    pub descending: bool,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
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
}

/// What `like` matches against.
#[derive(Debug, Clone)]
pub enum Pattern {
    /// `like /re/` or `=~ /re/`: the regex matches somewhere in the value.
    Regex(Regex),
    /// `like "text"`: the value contains the text.
    Substring(String),
}

/// An expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A field by name (dotted, `@`-prefixed or backquoted).
    Field(String),
    /// A number literal.
    Number(f64),
    /// A string literal.
    Str(String),
    /// `toMillis(expr)`: a timestamp as epoch milliseconds.
    ToMillis(Box<Expr>),
    /// `not expr`
    Not(Box<Expr>),
    /// `a and b`
    And(Box<Expr>, Box<Expr>),
    /// `a or b`
    Or(Box<Expr>, Box<Expr>),
    /// `a <op> b`
    Compare(Comparison, Box<Expr>, Box<Expr>),
    /// `a like p` (or `a not like p` when `negated`).
    Like {
        /// The value tested.
        subject: Box<Expr>,
        /// What it must match.
        pattern: Pattern,
        /// `not like`
        negated: bool,
    },
}
