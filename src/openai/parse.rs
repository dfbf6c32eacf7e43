//! Parse, then validate, a chat-completions body; every error names the offending field.
//!
//! 1. The body must be UTF-8 (checked once, so serde reads it as `&str` without re-checking).
//! 2. One `serde_path_to_error` pass into [`ChatRequest`]: wrong types, unknown enum values and
//!    missing fields come back with their path (`messages[2].role`), syntax errors with their
//!    line and column.
//! 3. Semantic checks serde cannot express: ranges, per-role rules, `n`.

use serde_json::error::Category;

use super::request::{ChatRequest, Message, Role};
use super::response::ErrorBody;
use super::wire::{Content, ToolChoice};

/// Largest `max_tokens` accepted; far above any model's output cap, it only stops nonsense
/// values from reaching TPM arithmetic.
pub const MAX_TOKENS_CAP: u64 = 1_000_000;

/// Why a request body was refused (HTTP 400, `invalid_request_error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    /// The offending field as a path (`messages[2].role`), when there is one.
    pub param: Option<String>,
    pub message: String,
}

impl RequestError {
    pub(super) fn at(param: impl Into<String>, message: impl Into<String>) -> Self {
        RequestError {
            param: Some(param.into()),
            message: message.into(),
        }
    }

    fn body(message: impl Into<String>) -> Self {
        RequestError {
            param: None,
            message: message.into(),
        }
    }

    /// The OpenAI error body for this refusal.
    pub fn to_error_body(&self) -> ErrorBody {
        ErrorBody::new(
            self.message.clone(),
            "invalid_request_error",
            self.param.as_deref(),
            None,
        )
    }
}

/// Parses and validates a `POST /v1/chat/completions` body.
pub fn parse_chat_request(body: &[u8]) -> Result<ChatRequest, RequestError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        RequestError::body(format!(
            "request body is not valid UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    if text.trim().is_empty() {
        return Err(RequestError::body(
            "request body is empty; expected a JSON object",
        ));
    }
    // Serde would also read a struct from a JSON array, by position: refuse that up front.
    if !text.trim_start().starts_with('{') {
        return Err(RequestError::body("request body must be a JSON object"));
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let request: ChatRequest =
        serde_path_to_error::deserialize(&mut deserializer).map_err(convert_serde_error)?;
    deserializer.end().map_err(|e| {
        RequestError::body(format!(
            "malformed JSON: trailing characters after the object at line {} column {}",
            e.line(),
            e.column()
        ))
    })?;
    validate(&request)?;
    Ok(request)
}

pub(super) fn convert_serde_error(
    error: serde_path_to_error::Error<serde_json::Error>,
) -> RequestError {
    let path = error.path().to_string();
    let inner = error.inner();
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            RequestError::body(format!("malformed JSON: {}", inner))
        }
        Category::Data => {
            let location = format!(" at line {} column {}", inner.line(), inner.column());
            let full = inner.to_string();
            let reason = full.strip_suffix(&location).unwrap_or(&full);
            // A missing field is reported at its parent; name the field itself.
            let param = match missing_field(reason) {
                Some(field) if path == "." => field.to_owned(),
                Some(field) => format!("{path}.{field}"),
                None => path,
            };
            let reason = reason.replace('`', "\"");
            RequestError {
                message: format!("{param}: {reason}"),
                param: Some(param),
            }
        }
    }
}

fn missing_field(reason: &str) -> Option<&str> {
    reason.strip_prefix("missing field `")?.strip_suffix('`')
}

fn validate(request: &ChatRequest) -> Result<(), RequestError> {
    if request.model.is_empty() {
        return Err(RequestError::at("model", "model: must not be empty"));
    }
    if request.messages.is_empty() {
        return Err(RequestError::at(
            "messages",
            "messages: must contain at least one message",
        ));
    }
    for (i, message) in request.messages.iter().enumerate() {
        validate_message(i, message)?;
    }
    // Bedrock refuses a conversation without a user turn; refusing it here answers the same
    // 400 whichever deployment the request would have reached.
    if !request.messages.iter().any(|m| m.role == Role::User) {
        return Err(RequestError::at(
            "messages",
            "messages: must contain at least one user message",
        ));
    }
    check_range("temperature", request.temperature, 0.0, 2.0)?;
    check_range("top_p", request.top_p, 0.0, 1.0)?;
    check_max_tokens("max_tokens", request.max_tokens)?;
    check_max_tokens("max_completion_tokens", request.max_completion_tokens)?;
    if request.n == Some(0) {
        return Err(RequestError::at("n", "n: must be at least 1"));
    }
    super::options::check(request)?;
    validate_tool_choice(request)
}

fn validate_message(i: usize, message: &Message) -> Result<(), RequestError> {
    let has_content = match &message.content {
        Some(Content::Text(_)) => true,
        Some(Content::Parts(parts)) => !parts.is_empty(),
        None => false,
    };
    let has_tool_calls = message.tool_calls.as_ref().is_some_and(|c| !c.is_empty());
    match message.role {
        Role::System | Role::Developer | Role::User if !has_content => Err(RequestError::at(
            format!("messages[{i}].content"),
            format!("messages[{i}].content: is required for this role"),
        )),
        Role::Assistant if !has_content && !has_tool_calls => Err(RequestError::at(
            format!("messages[{i}].content"),
            format!("messages[{i}].content: an assistant message needs content or tool_calls"),
        )),
        Role::Tool if message.tool_call_id.is_none() => Err(RequestError::at(
            format!("messages[{i}].tool_call_id"),
            format!("messages[{i}].tool_call_id: is required for a tool message"),
        )),
        Role::Tool if !has_content => Err(RequestError::at(
            format!("messages[{i}].content"),
            format!("messages[{i}].content: is required for a tool message"),
        )),
        Role::System | Role::Developer | Role::User | Role::Assistant | Role::Tool => Ok(()),
    }
}

fn check_range(name: &str, value: Option<f64>, min: f64, max: f64) -> Result<(), RequestError> {
    match value {
        Some(v) if !(v.is_finite() && (min..=max).contains(&v)) => Err(RequestError::at(
            name,
            format!("{name}: {v} is out of range; expected a number from {min} to {max}"),
        )),
        Some(_) | None => Ok(()),
    }
}

fn check_max_tokens(name: &str, value: Option<u64>) -> Result<(), RequestError> {
    match value {
        Some(v) if !(1..=MAX_TOKENS_CAP).contains(&v) => Err(RequestError::at(
            name,
            format!("{name}: {v} is out of range; expected 1 to {MAX_TOKENS_CAP}"),
        )),
        Some(_) | None => Ok(()),
    }
}

fn validate_tool_choice(request: &ChatRequest) -> Result<(), RequestError> {
    let tools = request.tools.as_deref().unwrap_or_default();
    match &request.tool_choice {
        Some(ToolChoice::Required) if tools.is_empty() => Err(RequestError::at(
            "tool_choice",
            "tool_choice: \"required\" needs a non-empty tools list",
        )),
        Some(ToolChoice::Function { name }) if !tools.iter().any(|t| &t.function.name == name) => {
            Err(RequestError::at(
                "tool_choice",
                format!("tool_choice: function \"{name}\" is not among the tools"),
            ))
        }
        Some(_) | None => Ok(()),
    }
}
