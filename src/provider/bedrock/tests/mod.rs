//! Unit tests of the Bedrock wire mapping, one file per `convert_*` family.

mod blocks;
mod error;
mod request;
mod response;

/// A parsed, validated chat request from JSON.
fn request(body: serde_json::Value) -> crate::openai::ChatRequest {
    crate::openai::parse_chat_request(body.to_string().as_bytes()).unwrap()
}
