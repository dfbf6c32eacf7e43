//! Reading request bodies the way Bedrock validates them: every malformed field becomes a
//! ValidationException that names the field path (`messages.0.content`, `inferenceConfig.maxTokens`).

use serde_json::{Map, Value};

use super::error::BedrockError;

/// A ValidationException for `path` in Bedrock's wording.
pub fn invalid(path: &str, constraint: &str) -> BedrockError {
    BedrockError::Validation(format!(
        "1 validation error detected: Value at '{path}' failed to satisfy constraint: {constraint}"
    ))
}

/// The body as a JSON object.
pub fn object(body: &[u8]) -> Result<Map<String, Value>, BedrockError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) | Err(_) => Err(BedrockError::Validation(
            "Malformed input request: the body is not a JSON object, please reformat your input and try again."
                .into(),
        )),
    }
}

/// A required array field.
pub fn array<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a Vec<Value>, BedrockError> {
    match map.get(key) {
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(invalid(path, "Member must be an array")),
        None => Err(invalid(path, "Member must not be null")),
    }
}

/// An optional object field.
pub fn optional_object<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, BedrockError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(inner)) => Ok(Some(inner)),
        Some(_) => Err(invalid(path, "Member must be an object")),
    }
}

/// An optional positive integer field.
pub fn optional_count(
    map: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<u64>, BedrockError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => Ok(Some(n)),
            Some(_) | None => Err(invalid(
                path,
                "Member must be an integer greater than or equal to 1",
            )),
        },
    }
}

/// An optional number field within `[low, high]`.
pub fn optional_number(
    map: &Map<String, Value>,
    key: &str,
    path: &str,
    (low, high): (f64, f64),
) -> Result<Option<f64>, BedrockError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(x) if (low..=high).contains(&x) => Ok(Some(x)),
            Some(_) | None => Err(invalid(
                path,
                &format!("Member must be a number between {low} and {high}"),
            )),
        },
    }
}

/// An optional list of strings (stop sequences).
pub fn optional_strings(
    map: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Vec<String>, BedrockError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(path, "Member must be a list of strings"))
            })
            .collect(),
        Some(_) => Err(invalid(path, "Member must be a list of strings")),
    }
}

/// The characters of text a JSON value carries (strings counted by length, the rest as JSON).
pub fn text_chars(value: &Value) -> usize {
    match value {
        Value::String(s) => s.chars().count(),
        Value::Null => 0,
        other => other.to_string().len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_the_field() {
        let map = json!({"maxTokens": 0, "temperature": 3})
            .as_object()
            .unwrap()
            .clone();
        let e = optional_count(&map, "maxTokens", "inferenceConfig.maxTokens").unwrap_err();
        assert!(e.to_string().contains("'inferenceConfig.maxTokens'"), "{e}");
        let e = optional_number(
            &map,
            "temperature",
            "inferenceConfig.temperature",
            (0.0, 1.0),
        )
        .unwrap_err();
        assert!(e.to_string().contains("temperature"));
        assert!(
            array(&map, "messages", "messages")
                .unwrap_err()
                .to_string()
                .contains("'messages'")
        );
        assert!(object(b"[1]").is_err());
    }
}
