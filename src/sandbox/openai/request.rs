//! The chat-completion request: the options (model, stream, usage chunk) and the [`Prompt`] the
//! emulated model sees. Malformed fields are refused with the same field-naming
//! ValidationException wording as the Bedrock routes, answered in the OpenAI error shape.

use serde_json::{Map, Value, json};

use crate::sandbox::emulated_model::{self, Prompt, Tool, ToolChoice};
use crate::sandbox::error::BedrockError;
use crate::sandbox::request_fields::{self, invalid};

/// What the request asked for besides the prompt.
#[derive(Debug)]
pub struct Options {
    /// The model name as sent.
    pub model: String,
    pub stream: bool,
    /// `stream_options.include_usage`: a last chunk with the usage.
    pub include_usage: bool,
    /// `n`: how many choices (each the same answer: the emulated model is deterministic).
    pub choices: u32,
    /// `logprobs`: each content token's log probability, with `top_logprobs` alternatives.
    pub logprobs: Option<u32>,
}

fn message_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        Some(_) | None => String::new(),
    }
}

fn parse_tools(map: &Map<String, Value>) -> Result<(Vec<Tool>, ToolChoice), BedrockError> {
    let specs = match map.get("tools") {
        None | Some(Value::Null) => return Ok((Vec::new(), ToolChoice::Auto)),
        Some(_) => request_fields::array(map, "tools", "tools")?,
    };
    let mut tools = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let function = spec.get("function");
        let name = function.and_then(|f| f.get("name")).and_then(Value::as_str);
        let name = name.ok_or_else(|| {
            invalid(
                &format!("tools.{i}.function.name"),
                "Member must not be null",
            )
        })?;
        let schema = function
            .and_then(|f| f.get("parameters"))
            .cloned()
            .unwrap_or_else(|| json!({}));
        tools.push(Tool {
            name: name.to_owned(),
            schema,
        });
    }
    let choice = match map.get("tool_choice") {
        None | Some(Value::Null) => ToolChoice::Auto,
        Some(Value::String(s)) if s == "none" => ToolChoice::Disabled,
        Some(Value::String(s)) if s == "required" => ToolChoice::Any,
        Some(Value::String(_)) => ToolChoice::Auto,
        Some(other) => match other
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
        {
            Some(name) => ToolChoice::Named(name.to_owned()),
            None => return Err(invalid("tool_choice", "Member must name a function")),
        },
    };
    Ok((tools, choice))
}

/// Reads a chat-completion request.
pub fn parse_request(raw: &[u8], seed: u64) -> Result<(Options, Prompt), BedrockError> {
    let map = request_fields::object(raw)?;
    let options = options(&map)?;
    let messages = request_fields::array(&map, "messages", "messages")?;
    let chars = message_chars(messages)?;
    let tool_result = messages
        .last()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("tool"));
    let max_tokens = match request_fields::optional_count(
        &map,
        "max_completion_tokens",
        "max_completion_tokens",
    )? {
        Some(n) => Some(n),
        None => request_fields::optional_count(&map, "max_tokens", "max_tokens")?,
    };
    request_fields::optional_number(&map, "temperature", "temperature", (0.0, 2.0))?;
    let (tools, tool_choice) = parse_tools(&map)?;
    let prompt = Prompt {
        input_tokens: emulated_model::estimate_tokens(chars),
        max_tokens,
        stop_sequences: request_fields::optional_strings(&map, "stop", "stop")?,
        tools,
        tool_choice,
        tool_result: tool_result.map(|m| message_text(m.get("content"))),
        // The last user or tool message's text, which scripted replies match.
        last_text: messages
            .iter()
            .rev()
            .find(|m| matches!(m.get("role").and_then(Value::as_str), Some("user" | "tool")))
            .map(|m| message_text(m.get("content")))
            .unwrap_or_default(),
        output_schema: output_schema(&map),
        digest: emulated_model::digest(&[&seed.to_le_bytes(), raw]),
        ..Prompt::default()
    };
    Ok((options, prompt))
}

/// The characters of the messages' texts, each message's role checked.
fn message_chars(messages: &[Value]) -> Result<usize, BedrockError> {
    if messages.is_empty() {
        return Err(invalid(
            "messages",
            "Member must have length greater than or equal to 1",
        ));
    }
    let mut chars = 0;
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str);
        if !matches!(
            role,
            Some("system" | "developer" | "user" | "assistant" | "tool")
        ) {
            return Err(invalid(
                &format!("messages.{i}.role"),
                "Member must be system, user, assistant or tool",
            ));
        }
        chars += message_text(m.get("content")).chars().count();
    }
    Ok(chars)
}

/// The schema a `response_format` asks the answer to follow: `json_schema`'s, or an object
/// for `json_object`.
fn output_schema(map: &Map<String, Value>) -> Option<Value> {
    let format = map.get("response_format")?;
    match format.get("type").and_then(Value::as_str)? {
        "json_schema" => format.get("json_schema")?.get("schema").cloned(),
        "json_object" => {
            Some(json!({"type": "object", "properties": {"answer": {"type": "string"}}}))
        }
        _ => None,
    }
}

/// What the request asks of the answer besides the prompt: model, stream, choices, logprobs.
fn options(map: &Map<String, Value>) -> Result<Options, BedrockError> {
    let model = map
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| invalid("model", "Member must not be null"))?
        .to_owned();
    let choices = match request_fields::optional_count(map, "n", "n")? {
        Some(n) if n > 128 => return Err(invalid("n", "Member must be less than or equal to 128")),
        Some(n) => n as u32,
        None => 1,
    };
    let top_logprobs = request_fields::optional_count(map, "top_logprobs", "top_logprobs")?;
    let logprobs = (map.get("logprobs").and_then(Value::as_bool) == Some(true))
        .then(|| top_logprobs.unwrap_or(0).min(20) as u32);
    let include_usage = map
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool);
    Ok(Options {
        model,
        stream: map.get("stream").and_then(Value::as_bool).unwrap_or(false),
        include_usage: include_usage.unwrap_or(false),
        choices,
        logprobs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_read_model_tokens_and_tools() {
        let body = json!({"model": "gpt-x", "max_tokens": 9, "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "12345678"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}], "tool_choice": "required"});
        let (options, prompt) = parse_request(body.to_string().as_bytes(), 1).unwrap();
        assert!(options.stream && options.include_usage);
        assert_eq!(
            (prompt.input_tokens, prompt.max_tokens, prompt.tool_choice),
            (2, Some(9), ToolChoice::Any)
        );
        let e = parse_request(br#"{"messages":[]}"#, 1).unwrap_err();
        assert!(e.to_string().contains("'model'"));
    }
}
