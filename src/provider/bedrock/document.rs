//! JSON ⇄ `aws_smithy_types::Document`, for tool schemas, tool inputs and tool results.

use std::collections::HashMap;

use aws_smithy_types::{Document, Number};
use serde_json::Value;

/// A JSON value as a Smithy document.
pub fn json_to_document(value: &Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(*b),
        Value::Number(n) => Document::Number(json_number(n)),
        Value::String(s) => Document::String(s.clone()),
        Value::Array(items) => Document::Array(items.iter().map(json_to_document).collect()),
        Value::Object(map) => Document::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), json_to_document(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

/// A JSON value as a Smithy document, moving its strings instead of copying them.
pub fn json_into_document(value: Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(b) => Document::Bool(b),
        Value::Number(n) => Document::Number(json_number(&n)),
        Value::String(s) => Document::String(s),
        Value::Array(items) => Document::Array(items.into_iter().map(json_into_document).collect()),
        Value::Object(map) => Document::Object(
            map.into_iter()
                .map(|(k, v)| (k, json_into_document(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

fn json_number(n: &serde_json::Number) -> Number {
    if let Some(u) = n.as_u64() {
        Number::PosInt(u)
    } else if let Some(i) = n.as_i64() {
        Number::NegInt(i)
    } else {
        Number::Float(n.as_f64().unwrap_or(0.0))
    }
}

/// A Smithy document as a JSON value (non-finite floats become `null`, as JSON has none).
pub fn document_to_json(document: &Document) -> Value {
    match document {
        Document::Null => Value::Null,
        Document::Bool(b) => Value::Bool(*b),
        Document::Number(Number::PosInt(u)) => Value::from(*u),
        Document::Number(Number::NegInt(i)) => Value::from(*i),
        Document::Number(Number::Float(f)) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        Document::String(s) => Value::String(s.clone()),
        Document::Array(items) => Value::Array(items.iter().map(document_to_json).collect()),
        Document::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), document_to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips_through_document() {
        let value = json!({
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": -3}},
            "required": ["city"],
            "n": 1.5, "ok": true, "none": null, "big": u64::MAX
        });
        let document = json_to_document(&value);
        assert_eq!(document_to_json(&document), value);
        assert_eq!(
            json_into_document(value),
            document,
            "owned and borrowed agree"
        );
        assert_eq!(
            json_to_document(&json!(-3)),
            Document::Number(Number::NegInt(-3))
        );
        assert_eq!(
            json_to_document(&json!(7)),
            Document::Number(Number::PosInt(7))
        );
    }

    #[test]
    fn non_finite_float_becomes_null() {
        assert_eq!(
            document_to_json(&Document::Number(Number::Float(f64::NAN))),
            Value::Null
        );
    }
}
