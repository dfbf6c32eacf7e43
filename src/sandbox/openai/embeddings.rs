//! `POST /v1/embeddings` of the OpenAI-compatible upstream: strings or token ids in, a
//! deterministic unit vector per input out (1,536 floats unless `dimensions` says), floats or
//! base64 as asked. The body is recorded like a chat request's; no quota applies.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::openai::{EncodingFormat, Vector};
use crate::sandbox::bedrock::embedding_vector;
use crate::sandbox::error::BedrockError;
use crate::sandbox::request_fields::{self, invalid};
use crate::sandbox::state::Sandbox;

use super::api_keys::openai_caller;

/// The vector length when the request names none.
const DEFAULT_DIMENSIONS: u64 = 1536;

/// Answers one embeddings request.
pub async fn handle(sandbox: Arc<Sandbox>, headers: HeaderMap, raw: Bytes) -> Response {
    if let Err(error) = openai_caller(&sandbox.settings, &headers) {
        return error.into_openai_response();
    }
    if let Ok(body) = serde_json::from_slice(&raw) {
        sandbox.record_request(body);
    }
    match answer(&raw, sandbox.settings.seed) {
        Ok(list) => {
            let mut response = (StatusCode::OK, list.to_string()).into_response();
            let json = HeaderValue::from_static("application/json");
            response.headers_mut().insert("content-type", json);
            response
        }
        Err(error) => error.into_openai_response(),
    }
}

fn answer(raw: &[u8], seed: u64) -> Result<Value, BedrockError> {
    let map = request_fields::object(raw)?;
    let model = map.get("model").and_then(Value::as_str).unwrap_or_default();
    if model.is_empty() {
        return Err(invalid("model", "Member must not be null"));
    }
    let inputs: Vec<String> = match map.get("input") {
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        Some(Value::Array(items)) if items.iter().all(Value::is_number) => {
            vec![Value::Array(items.clone()).to_string()]
        }
        Some(Value::Array(items)) if items.iter().all(Value::is_array) => {
            items.iter().map(Value::to_string).collect()
        }
        Some(_) | None => {
            return Err(invalid(
                "input",
                "Member must be a string, strings, token ids or lists of token ids",
            ));
        }
    };
    let dimensions = request_fields::optional_count(&map, "dimensions", "dimensions")?
        .unwrap_or(DEFAULT_DIMENSIONS) as usize;
    let base64 = map.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let tokens: u64 = inputs
        .iter()
        .map(|i| (i.chars().count() as u64).div_ceil(4))
        .sum();
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let vector = embedding_vector(seed, model, input, dimensions);
            let embedding = match base64 {
                true => {
                    let floats = vector.iter().map(|x| *x as f32).collect();
                    json!(Vector::Floats(floats).encoded(EncodingFormat::Base64))
                }
                false => json!(vector),
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    Ok(json!({"object": "list", "data": data, "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}))
}
