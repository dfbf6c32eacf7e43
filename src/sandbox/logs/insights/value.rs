//! Values and records as Logs Insights sees them: a log event flattened to dotted keys.
//!
//! Comparison rules: two numbers compare numerically; a number and a string that parses as a
//! number compare numerically too; anything else compares by its rendered text; a missing value
//! (`Null`) compares to nothing, so every comparison with it is false.

use std::cmp::Ordering;
use std::collections::HashMap;

use chrono::{DateTime, Utc};

/// One field value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A missing field.
    Null,
    /// A JSON boolean or the result of a predicate.
    Bool(bool),
    /// Any number.
    Number(f64),
    /// Any string.
    Str(String),
    /// `@timestamp`: epoch milliseconds, rendered as `YYYY-MM-DD HH:MM:SS.mmm` (UTC) like the service.
    Timestamp(i64),
}

impl Value {
    /// The text the service returns for this value, or `None` for a missing field.
    pub fn render(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(render_number(*n)),
            Value::Str(s) => Some(s.clone()),
            Value::Timestamp(ms) => Some(render_timestamp(*ms)),
        }
    }

    /// The value as a number, if it is one (a timestamp counts as its milliseconds).
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            #[allow(clippy::cast_precision_loss)] // epoch milliseconds fit exactly in an f64
            Value::Timestamp(ms) => Some(*ms as f64),
            Value::Null | Value::Bool(_) | Value::Str(_) => None,
        }
    }

    /// Whether a filter keeps a row for which this is the condition's value.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => *n != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Timestamp(_) => true,
        }
    }

    /// Orders two values by the rules in the module doc; `None` if either is missing.
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        if matches!(self, Value::Null) || matches!(other, Value::Null) {
            return None;
        }
        let numeric = |v: &Value| v.as_number();
        let loose = |v: &Value| match v {
            Value::Str(s) => s.trim().parse::<f64>().ok(),
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::Timestamp(_) => v.as_number(),
        };
        if (numeric(self).is_some() || numeric(other).is_some())
            && let (Some(a), Some(b)) = (loose(self), loose(other))
        {
            return a.partial_cmp(&b);
        }
        Some(self.render()?.cmp(&other.render()?))
    }

    /// Orders two values for `sort`: numbers (numerically), then text (lexically), then missing
    /// values. Unlike [`Value::compare`] this never coerces text to numbers, so it is a total
    /// order, which sorting needs.
    pub fn sort_order(&self, other: &Value) -> Ordering {
        let rank = |v: &Value| match v {
            Value::Number(_) | Value::Timestamp(_) => 0,
            Value::Bool(_) | Value::Str(_) => 1,
            Value::Null => 2,
        };
        rank(self)
            .cmp(&rank(other))
            .then_with(|| match (self.as_number(), other.as_number()) {
                (Some(a), Some(b)) => a.total_cmp(&b),
                _ => self.render().cmp(&other.render()),
            })
    }
}

/// Integers print without a decimal point; other numbers in their shortest exact form.
pub fn render_number(n: f64) -> String {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: beyond it f64 no longer holds every integer
    if n.fract() == 0.0 && n.abs() < EXACT {
        #[allow(clippy::cast_possible_truncation)] // integral and within 2^53, checked above
        let int = n as i64;
        int.to_string()
    } else {
        n.to_string()
    }
}

/// `@timestamp` as the service prints it.
pub fn render_timestamp(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// A log event as Insights sees it: every field by its dotted name, plus the `@` fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    fields: HashMap<String, Value>,
}

impl Record {
    /// Flattens `event` (objects to `a.b`, arrays to `a.0`) and adds `@timestamp`, `@message`,
    /// `@logStream` and `@log`.
    pub fn from_event(
        timestamp_ms: i64,
        log: &str,
        log_stream: &str,
        event: &serde_json::Value,
    ) -> Self {
        let mut fields = HashMap::new();
        flatten("", event, &mut fields);
        fields.insert("@timestamp".to_owned(), Value::Timestamp(timestamp_ms));
        fields.insert("@message".to_owned(), Value::Str(event.to_string()));
        fields.insert("@logStream".to_owned(), Value::Str(log_stream.to_owned()));
        fields.insert("@log".to_owned(), Value::Str(log.to_owned()));
        Record { fields }
    }

    /// Builds a record from explicit fields (tests, and events that are not JSON objects).
    pub fn from_fields(fields: impl IntoIterator<Item = (String, Value)>) -> Self {
        Record {
            fields: fields.into_iter().collect(),
        }
    }

    /// The value of `field`, or [`Value::Null`] if the record does not have it.
    pub fn get(&self, field: &str) -> Value {
        self.fields.get(field).cloned().unwrap_or(Value::Null)
    }

    /// Sets `field`, as `fields … as x` and `stats` do on their rows.
    pub fn set(&mut self, field: &str, value: Value) {
        self.fields.insert(field.to_owned(), value);
    }

    /// The record's `@timestamp` in epoch milliseconds (0 if it has none).
    pub fn timestamp_ms(&self) -> i64 {
        match self.fields.get("@timestamp") {
            Some(Value::Timestamp(ms)) => *ms,
            #[allow(clippy::cast_possible_truncation)] // a number stored as @timestamp is in ms
            Some(Value::Number(n)) => *n as i64,
            Some(Value::Null | Value::Bool(_) | Value::Str(_)) | None => 0,
        }
    }

    /// Size of `@message` in bytes, for `bytesScanned`.
    pub fn message_bytes(&self) -> usize {
        match self.fields.get("@message") {
            Some(Value::Str(s)) => s.len(),
            Some(Value::Null | Value::Bool(_) | Value::Number(_) | Value::Timestamp(_)) | None => 0,
        }
    }
}

fn flatten(prefix: &str, value: &serde_json::Value, out: &mut HashMap<String, Value>) {
    let key = |name: &str| {
        if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}.{name}")
        }
    };
    match value {
        serde_json::Value::Object(map) => {
            for (name, child) in map {
                flatten(&key(name), child, out);
            }
        }
        serde_json::Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                flatten(&key(&index.to_string()), child, out);
            }
        }
        serde_json::Value::Null => {}
        serde_json::Value::Bool(b) => {
            out.insert(prefix.to_owned(), Value::Bool(*b));
        }
        serde_json::Value::Number(n) => {
            out.insert(
                prefix.to_owned(),
                n.as_f64().map_or(Value::Null, Value::Number),
            );
        }
        serde_json::Value::String(s) => {
            out.insert(prefix.to_owned(), Value::Str(s.clone()));
        }
    }
}
