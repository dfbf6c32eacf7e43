//! Runs a parsed query over records.
//!
//! The pipeline starts from the records sorted by `@timestamp`, newest first (the service's
//! default order, so `limit` keeps the latest), and applies the commands left to right:
//! 1. `fields` computes its projections onto each row and chooses the columns shown;
//! 2. `filter` keeps the rows whose condition is true;
//! 3. `stats` replaces the rows with one row per group, in order of each group's first row;
//! 4. `sort` reorders the rows (stable; missing values last either way);
//! 5. `limit` keeps the first rows. Without any `limit`, at most [`DEFAULT_LIMIT`] rows come back.
//!
//! The columns shown are the `fields` chosen (by default `@timestamp` and `@message`), or after
//! `stats` its grouping keys followed by its aggregates. A row omits the columns it has no value for.

use std::cmp::Ordering;
use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime};

use super::ast::{
    Aggregate, AggregateFunction, Command, Comparison, Expr, Pattern, Projection, Query, SortKey,
};
use super::value::{Record, Value};

/// Rows returned when the query has no `limit` command.
pub const DEFAULT_LIMIT: usize = 1000;

/// What a query produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryOutput {
    /// Result rows: `(field, value)` pairs in column order, values rendered as the service does.
    pub rows: Vec<Vec<(String, String)>>,
    /// Records that passed the filters (counted where the first `stats` begins, or at the end).
    pub records_matched: u64,
}

impl Query {
    /// Runs the query over `records` and returns its rows (see [`execute`]).
    pub fn run(&self, records: &[Record]) -> Vec<Vec<(String, String)>> {
        execute(self, records, None).rows
    }

    /// Runs the query over `records`, returning at most `max_rows` rows when given.
    pub fn execute(&self, records: &[Record], max_rows: Option<usize>) -> QueryOutput {
        execute(self, records, max_rows)
    }
}

/// Runs `query` over `records`, returning at most `max_rows` rows when given.
pub fn execute(query: &Query, records: &[Record], max_rows: Option<usize>) -> QueryOutput {
    let mut rows: Vec<Record> = records.to_vec();
    rows.sort_by_key(|row| std::cmp::Reverse(row.timestamp_ms()));
    let mut columns: Option<Vec<String>> = None;
    let mut matched: Option<usize> = None;
    let mut limited = false;
    for command in &query.commands {
        match command {
            Command::Fields(projections) => {
                project(&mut rows, projections);
                let names = projections.iter().map(|p| p.name.clone());
                // Before `stats`, each `fields` adds columns; after it, `fields` chooses anew.
                columns = match columns.take() {
                    Some(mut shown) if matched.is_none() => {
                        shown.extend(names);
                        Some(shown)
                    }
                    Some(_) | None => Some(names.collect()),
                };
            }
            Command::Filter(condition) => rows.retain(|row| evaluate(condition, row).is_truthy()),
            Command::Stats { aggregates, by } => {
                matched.get_or_insert(rows.len());
                rows = aggregate(&rows, aggregates, by);
                let names = by
                    .iter()
                    .map(|p| &p.name)
                    .chain(aggregates.iter().map(|a| &a.name));
                columns = Some(names.cloned().collect());
            }
            Command::Sort(keys) => rows.sort_by(|a, b| compare_rows(a, b, keys)),
            Command::Limit(n) => {
                rows.truncate(*n);
                limited = true;
            }
        }
    }
    let records_matched = matched.unwrap_or(rows.len());
    if !limited {
        rows.truncate(DEFAULT_LIMIT);
    }
    if let Some(max) = max_rows {
        rows.truncate(max);
    }
    let columns = columns.unwrap_or_else(|| vec!["@timestamp".to_owned(), "@message".to_owned()]);
    QueryOutput {
        rows: rows.iter().map(|row| render_row(row, &columns)).collect(),
        records_matched: records_matched as u64,
    }
}

fn render_row(row: &Record, columns: &[String]) -> Vec<(String, String)> {
    columns
        .iter()
        .filter_map(|name| row.get(name).render().map(|text| (name.clone(), text)))
        .collect()
}

fn project(rows: &mut [Record], projections: &[Projection]) {
    for row in rows {
        for projection in projections {
            if matches!(&projection.expr, Expr::Field(name) if *name == projection.name) {
                continue;
            }
            let value = evaluate(&projection.expr, row);
            row.set(&projection.name, value);
        }
    }
}

fn compare_rows(a: &Record, b: &Record, keys: &[SortKey]) -> Ordering {
    keys.iter()
        .map(|key| {
            let (x, y) = (a.get(&key.field), b.get(&key.field));
            match (&x, &y) {
                (Value::Null, _) | (_, Value::Null) => x.sort_order(&y),
                _ if key.descending => y.sort_order(&x),
                _ => x.sort_order(&y),
            }
        })
        .find(|order| order.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// Evaluates `expr` against `row`.
pub fn evaluate(expr: &Expr, row: &Record) -> Value {
    match expr {
        Expr::Field(name) => row.get(name),
        Expr::Number(n) => Value::Number(*n),
        Expr::Str(s) => Value::Str(s.clone()),
        Expr::ToMillis(inner) => to_millis(&evaluate(inner, row)),
        Expr::Not(inner) => Value::Bool(!evaluate(inner, row).is_truthy()),
        Expr::And(a, b) => {
            Value::Bool(evaluate(a, row).is_truthy() && evaluate(b, row).is_truthy())
        }
        Expr::Or(a, b) => Value::Bool(evaluate(a, row).is_truthy() || evaluate(b, row).is_truthy()),
        Expr::Compare(op, a, b) => {
            let order = evaluate(a, row).compare(&evaluate(b, row));
            Value::Bool(order.is_some_and(|order| holds(*op, order)))
        }
        Expr::Like {
            subject,
            pattern,
            negated,
        } => match evaluate(subject, row).render() {
            None => Value::Bool(false),
            Some(text) => {
                let found = match pattern {
                    Pattern::Regex(regex) => regex.is_match(&text),
                    Pattern::Substring(part) => text.contains(part.as_str()),
                };
                Value::Bool(found != *negated)
            }
        },
    }
}

fn holds(op: Comparison, order: Ordering) -> bool {
    match op {
        Comparison::Eq => order.is_eq(),
        Comparison::NotEq => order.is_ne(),
        Comparison::Lt => order.is_lt(),
        Comparison::LtEq => order.is_le(),
        Comparison::Gt => order.is_gt(),
        Comparison::GtEq => order.is_ge(),
    }
}

/// `toMillis`: timestamps and numbers as epoch milliseconds; date strings (RFC 3339 or the
/// service's `YYYY-MM-DD HH:MM:SS.mmm`) are parsed; anything else is missing.
fn to_millis(value: &Value) -> Value {
    #[allow(clippy::cast_precision_loss)] // epoch milliseconds fit exactly in an f64
    let millis = |ms: i64| Value::Number(ms as f64);
    match value {
        Value::Timestamp(ms) => millis(*ms),
        Value::Number(n) => Value::Number(*n),
        Value::Str(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_millis())
            .or_else(|_| {
                NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
                    .map(|t| t.and_utc().timestamp_millis())
            })
            .map_or(Value::Null, millis),
        Value::Null | Value::Bool(_) => Value::Null,
    }
}

/// Running state of one aggregate over one group.
#[derive(Debug, Clone)]
enum Accumulator {
    Count(u64),
    Sum { total: f64, seen: bool },
    Avg { total: f64, count: u64 },
    Extreme { best: Value, keep: Ordering },
}

impl Accumulator {
    fn new(function: AggregateFunction) -> Self {
        match function {
            AggregateFunction::Count => Accumulator::Count(0),
            AggregateFunction::Sum => Accumulator::Sum {
                total: 0.0,
                seen: false,
            },
            AggregateFunction::Avg => Accumulator::Avg {
                total: 0.0,
                count: 0,
            },
            AggregateFunction::Min => Accumulator::Extreme {
                best: Value::Null,
                keep: Ordering::Less,
            },
            AggregateFunction::Max => Accumulator::Extreme {
                best: Value::Null,
                keep: Ordering::Greater,
            },
        }
    }

    /// Adds one row's value (`None` for `count(*)`, which counts every row).
    fn add(&mut self, value: Option<Value>) {
        match (self, value) {
            (Accumulator::Count(n), None) => *n += 1,
            (Accumulator::Count(n), Some(v)) => *n += u64::from(!matches!(v, Value::Null)),
            (Accumulator::Sum { total, seen }, Some(v)) => {
                if let Some(x) = numeric(&v) {
                    *total += x;
                    *seen = true;
                }
            }
            (Accumulator::Avg { total, count }, Some(v)) => {
                if let Some(x) = numeric(&v) {
                    *total += x;
                    *count += 1;
                }
            }
            (Accumulator::Extreme { best, keep }, Some(v)) => {
                if matches!(best, Value::Null) || v.compare(best) == Some(*keep) {
                    *best = v;
                }
            }
            (
                Accumulator::Sum { .. } | Accumulator::Avg { .. } | Accumulator::Extreme { .. },
                None,
            ) => {}
        }
    }

    fn finish(self) -> Value {
        match self {
            #[allow(clippy::cast_precision_loss)] // counts stay far below 2^53
            Accumulator::Count(n) => Value::Number(n as f64),
            Accumulator::Sum { total, seen } => {
                if seen {
                    Value::Number(total)
                } else {
                    Value::Null
                }
            }
            #[allow(clippy::cast_precision_loss)]
            Accumulator::Avg { total, count } if count > 0 => {
                Value::Number((total / count as f64 * 1000.0).round() / 1000.0)
            }
            Accumulator::Avg { .. } => Value::Null,
            Accumulator::Extreme { best, .. } => best,
        }
    }
}

/// A number for `sum`/`avg`: numbers, and strings that hold one.
fn numeric(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => Some(*n),
        Value::Str(s) => s.trim().parse().ok(),
        Value::Null | Value::Bool(_) | Value::Timestamp(_) => None,
    }
}

struct Group {
    keys: Vec<Value>,
    accumulators: Vec<Accumulator>,
}

fn aggregate(rows: &[Record], aggregates: &[Aggregate], by: &[Projection]) -> Vec<Record> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<Vec<Option<String>>, usize> = HashMap::new();
    for row in rows {
        let keys: Vec<Value> = by.iter().map(|p| evaluate(&p.expr, row)).collect();
        let identity: Vec<Option<String>> = keys.iter().map(Value::render).collect();
        let slot = *index.entry(identity).or_insert_with(|| {
            groups.push(Group {
                keys,
                accumulators: aggregates
                    .iter()
                    .map(|a| Accumulator::new(a.function))
                    .collect(),
            });
            groups.len() - 1
        });
        for (accumulator, aggregate) in groups[slot].accumulators.iter_mut().zip(aggregates) {
            accumulator.add(aggregate.argument.as_ref().map(|arg| evaluate(arg, row)));
        }
    }
    groups
        .into_iter()
        .map(|group| {
            let keys = by.iter().map(|p| p.name.clone()).zip(group.keys);
            let values = aggregates
                .iter()
                .map(|a| a.name.clone())
                .zip(group.accumulators.into_iter().map(Accumulator::finish));
            Record::from_fields(keys.chain(values))
        })
        .collect()
}
