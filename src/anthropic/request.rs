//! A Messages request as the gateway reads it: the few fields routing needs, validated with
//! Anthropic's own wording (`max_tokens: Field required`), and the body kept whole, so a
//! deployment that speaks the same format gets every field the client sent (cache markers,
//! thinking signatures, tool ids) untouched.

use serde_json::{Map, Value};

/// Output tokens above which a request is refused outright (no Claude model writes more).
pub const MAX_TOKENS_CAP: u64 = 1_000_000;

/// Images count this much against the token estimate (Anthropic's guide: about
/// width × height / 750 tokens; a 1,000 × 1,000 image is ~1,334).
const IMAGE_TOKEN_ESTIMATE: u64 = 1_600;

/// A validated Messages request.
#[derive(Debug, Clone, PartialEq)]
pub struct MessagesRequest {
    /// The model group asked for.
    pub model: String,
    pub max_tokens: u64,
    pub stream: bool,
    /// The betas the client asked for: the `anthropic-beta` header's, then the body's
    /// `anthropic_beta`, each once, in order.
    pub betas: Vec<String>,
    /// The body as sent.
    pub body: Map<String, Value>,
    /// What the body holds, for the token estimate and the capability filter.
    pub summary: Summary,
}

/// What a request's content holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Characters of text, tool schemas and tool traffic.
    pub chars: usize,
    pub images: u64,
    pub documents: bool,
    /// Tools declared, or tool use in the history.
    pub tools: bool,
    /// `thinking` asked for (`enabled` or `adaptive`).
    pub thinking: bool,
}

impl MessagesRequest {
    /// The prompt's size in tokens, estimated from its characters (about four a token).
    pub fn estimated_input_tokens(&self) -> u64 {
        (self.summary.chars as u64).div_ceil(4) + self.summary.images * IMAGE_TOKEN_ESTIMATE
    }

    /// Whether the body marks a prompt-cache prefix (`cache_control` on a system block, a
    /// message's block or a tool).
    pub fn marks_cache(&self) -> bool {
        let marked = |blocks: Option<&Value>| {
            blocks
                .and_then(Value::as_array)
                .is_some_and(|b| b.iter().any(|b| b.get("cache_control").is_some()))
        };
        let messages = self.body.get("messages").and_then(Value::as_array);
        marked(self.body.get("system"))
            || marked(self.body.get("tools"))
            || messages
                .into_iter()
                .flatten()
                .any(|m| marked(m.get("content")))
    }
}

/// A request the gateway refuses, in Anthropic's words: `path: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    pub message: String,
}

fn refuse(path: &str, message: &str) -> RequestError {
    RequestError {
        message: match path {
            "" => message.to_owned(),
            path => format!("{path}: {message}"),
        },
    }
}

/// Reads a Messages body and the `anthropic-beta` header (comma-separated).
pub fn parse_messages_request(
    bytes: &[u8],
    beta_header: Option<&str>,
) -> Result<MessagesRequest, RequestError> {
    parse(bytes, beta_header, true)
}

/// Reads a `count_tokens` body: a Messages body without `max_tokens` (0 when absent).
pub fn parse_count_request(
    bytes: &[u8],
    beta_header: Option<&str>,
) -> Result<MessagesRequest, RequestError> {
    parse(bytes, beta_header, false)
}

fn parse(
    bytes: &[u8],
    beta_header: Option<&str>,
    needs_max_tokens: bool,
) -> Result<MessagesRequest, RequestError> {
    let body = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(body)) => body,
        Ok(_) => return Err(refuse("", "the request body must be a JSON object")),
        Err(error) => return Err(refuse("", &format!("the body is not valid JSON: {error}"))),
    };
    let model = match body.get("model") {
        Some(Value::String(model)) if !model.is_empty() => model.clone(),
        Some(Value::String(_)) => {
            return Err(refuse("model", "String should have at least 1 character"));
        }
        Some(_) => return Err(refuse("model", "Input should be a valid string")),
        None => return Err(refuse("model", "Field required")),
    };
    let max_tokens = match body.get("max_tokens") {
        Some(value) => match value.as_u64() {
            Some(0) => {
                return Err(refuse(
                    "max_tokens",
                    "Input should be greater than or equal to 1",
                ));
            }
            Some(n) if n <= MAX_TOKENS_CAP => n,
            Some(_) => {
                return Err(refuse(
                    "max_tokens",
                    &format!("Input should be less than or equal to {MAX_TOKENS_CAP}"),
                ));
            }
            None => return Err(refuse("max_tokens", "Input should be a valid integer")),
        },
        None if needs_max_tokens => return Err(refuse("max_tokens", "Field required")),
        None => 0,
    };
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(stream)) => *stream,
        Some(_) => return Err(refuse("stream", "Input should be a valid boolean")),
    };
    let mut summary = Summary::default();
    read_messages(&body, &mut summary)?;
    read_system(&body, &mut summary)?;
    read_tools(&body, &mut summary)?;
    summary.thinking = read_thinking(&body)?;
    let betas = betas(beta_header, &body)?;
    Ok(MessagesRequest {
        model,
        max_tokens,
        stream,
        betas,
        body,
        summary,
    })
}

fn read_messages(body: &Map<String, Value>, summary: &mut Summary) -> Result<(), RequestError> {
    let messages = match body.get("messages") {
        Some(Value::Array(messages)) => messages,
        Some(_) => return Err(refuse("messages", "Input should be a valid list")),
        None => return Err(refuse("messages", "Field required")),
    };
    if messages.is_empty() {
        return Err(refuse("messages", "at least one message is required"));
    }
    for (i, message) in messages.iter().enumerate() {
        let path = format!("messages.{i}");
        let Value::Object(message) = message else {
            return Err(refuse(&path, "Input should be a valid dictionary"));
        };
        match message.get("role").and_then(Value::as_str) {
            Some("user" | "assistant") => {}
            Some(_) => {
                return Err(refuse(
                    &format!("{path}.role"),
                    "Input should be 'user' or 'assistant'",
                ));
            }
            None => return Err(refuse(&format!("{path}.role"), "Field required")),
        }
        match message.get("content") {
            Some(content) => read_content(content, &format!("{path}.content"), summary)?,
            None => return Err(refuse(&format!("{path}.content"), "Field required")),
        }
    }
    Ok(())
}

fn read_system(body: &Map<String, Value>, summary: &mut Summary) -> Result<(), RequestError> {
    match body.get("system") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(text)) => {
            summary.chars += text.chars().count();
            Ok(())
        }
        Some(Value::Array(blocks)) => {
            for (i, block) in blocks.iter().enumerate() {
                let path = format!("system.{i}");
                match block_type(block, &path)? {
                    "text" => summary.chars += text_of(block, &path)?,
                    other => {
                        return Err(refuse(
                            &format!("{path}.type"),
                            &format!(
                                "Input tag '{other}' found using 'type' does not match the expected tag 'text'"
                            ),
                        ));
                    }
                }
            }
            Ok(())
        }
        Some(_) => Err(refuse(
            "system",
            "Input should be a valid string or a list of text blocks",
        )),
    }
}

fn read_tools(body: &Map<String, Value>, summary: &mut Summary) -> Result<(), RequestError> {
    match body.get("tools") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Array(tools)) => {
            for (i, tool) in tools.iter().enumerate() {
                let Value::Object(tool) = tool else {
                    return Err(refuse(
                        &format!("tools.{i}"),
                        "Input should be a valid dictionary",
                    ));
                };
                if !tool.get("name").is_some_and(Value::is_string) {
                    return Err(refuse(&format!("tools.{i}.name"), "Field required"));
                }
                // The schema's compact JSON: what the model reads of a tool.
                summary.chars += Value::Object(tool.clone()).to_string().len();
            }
            summary.tools |= !tools.is_empty();
            Ok(())
        }
        Some(_) => Err(refuse("tools", "Input should be a valid list")),
    }
}

fn read_thinking(body: &Map<String, Value>) -> Result<bool, RequestError> {
    let Some(thinking) = body.get("thinking") else {
        return Ok(false);
    };
    match thinking.get("type").and_then(Value::as_str) {
        Some("enabled") => match thinking.get("budget_tokens").and_then(Value::as_u64) {
            Some(budget) if budget >= 1024 => Ok(true),
            Some(_) => Err(refuse(
                "thinking.enabled.budget_tokens",
                "Input should be greater than or equal to 1024",
            )),
            None => Err(refuse("thinking.enabled.budget_tokens", "Field required")),
        },
        Some("adaptive") => Ok(true),
        Some("disabled") => Ok(false),
        Some(other) => Err(refuse(
            "thinking.type",
            &format!(
                "Input tag '{other}' found using 'type' does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'"
            ),
        )),
        None => Err(refuse("thinking.type", "Field required")),
    }
}

/// The content of one message: a string, or a list of blocks of known types.
fn read_content(content: &Value, path: &str, summary: &mut Summary) -> Result<(), RequestError> {
    let blocks = match content {
        Value::String(text) => {
            summary.chars += text.chars().count();
            return Ok(());
        }
        Value::Array(blocks) => blocks,
        _ => {
            return Err(refuse(
                path,
                "Input should be a valid string or a list of content blocks",
            ));
        }
    };
    for (i, block) in blocks.iter().enumerate() {
        let path = format!("{path}.{i}");
        match block_type(block, &path)? {
            "text" => summary.chars += text_of(block, &path)?,
            "image" => summary.images += 1,
            "document" => summary.documents = true,
            "tool_use" | "server_tool_use" => {
                summary.tools = true;
                summary.chars += block.get("input").map_or(0, |i| i.to_string().len());
            }
            "tool_result" => {
                summary.tools = true;
                if let Some(inner) = block.get("content") {
                    read_content(inner, &format!("{path}.content"), summary)?;
                }
            }
            "thinking" => {
                summary.chars += block
                    .get("thinking")
                    .and_then(Value::as_str)
                    .map_or(0, str::len);
            }
            "redacted_thinking"
            | "search_result"
            | "web_search_tool_result"
            | "container_upload" => {}
            other => {
                return Err(refuse(
                    &format!("{path}.type"),
                    &format!(
                        "Input tag '{other}' found using 'type' does not match any of the expected tags"
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn block_type<'a>(block: &'a Value, path: &str) -> Result<&'a str, RequestError> {
    match block {
        Value::Object(map) => map
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| refuse(&format!("{path}.type"), "Field required")),
        _ => Err(refuse(path, "Input should be a valid dictionary")),
    }
}

fn text_of(block: &Value, path: &str) -> Result<usize, RequestError> {
    match block.get("text") {
        Some(Value::String(text)) => Ok(text.chars().count()),
        Some(_) => Err(refuse(
            &format!("{path}.text"),
            "Input should be a valid string",
        )),
        None => Err(refuse(&format!("{path}.text"), "Field required")),
    }
}

/// The betas of the header and of the body's `anthropic_beta`, each once, in order.
fn betas(header: Option<&str>, body: &Map<String, Value>) -> Result<Vec<String>, RequestError> {
    let mut betas: Vec<String> = Vec::new();
    let mut add = |beta: &str| {
        let beta = beta.trim();
        if !beta.is_empty() && !betas.iter().any(|b| b == beta) {
            betas.push(beta.to_owned());
        }
    };
    header
        .into_iter()
        .flat_map(|h| h.split(','))
        .for_each(&mut add);
    match body.get("anthropic_beta") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, beta) in list.iter().enumerate() {
                let beta = beta.as_str().ok_or_else(|| {
                    refuse(
                        &format!("anthropic_beta.{i}"),
                        "Input should be a valid string",
                    )
                })?;
                add(beta);
            }
        }
        Some(_) => return Err(refuse("anthropic_beta", "Input should be a valid list")),
    }
    Ok(betas)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<MessagesRequest, RequestError> {
        parse_messages_request(body.to_string().as_bytes(), None)
    }

    #[test]
    fn a_minimal_request_reads_its_routing_fields() {
        let request = parse(json!({"model": "claude", "max_tokens": 32,
            "messages": [{"role": "user", "content": "Say hello in five words."}]}))
        .unwrap();
        assert_eq!(
            (request.model.as_str(), request.max_tokens, request.stream),
            ("claude", 32, false)
        );
        assert_eq!(request.estimated_input_tokens(), 6);
        assert_eq!(
            request.summary,
            Summary {
                chars: 24,
                ..Summary::default()
            }
        );
    }

    #[test]
    fn missing_and_wrong_fields_are_named_in_anthropic_words() {
        let user = json!([{"role": "user", "content": "hi"}]);
        let cases = [
            (
                json!({"max_tokens": 5, "messages": user}),
                "model: Field required",
            ),
            (
                json!({"model": "m", "messages": user}),
                "max_tokens: Field required",
            ),
            (
                json!({"model": "m", "max_tokens": 0, "messages": user}),
                "max_tokens: Input should be greater than or equal to 1",
            ),
            (
                json!({"model": "m", "max_tokens": 5}),
                "messages: Field required",
            ),
            (
                json!({"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}),
                "messages.0.role: Input should be 'user' or 'assistant'",
            ),
            (
                json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text"}]}]}),
                "messages.0.content.0.text: Field required",
            ),
            (
                json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "video"}]}]}),
                "messages.0.content.0.type: Input tag 'video' found using 'type' does not match any of the expected tags",
            ),
            (
                json!({"model": "m", "max_tokens": 5, "stream": "yes", "messages": user}),
                "stream: Input should be a valid boolean",
            ),
            (
                json!({"model": "m", "max_tokens": 5, "messages": user, "thinking": {"type": "enabled", "budget_tokens": 100}}),
                "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
            ),
            (
                json!({"model": "m", "max_tokens": 5, "messages": user, "tools": [{"input_schema": {}}]}),
                "tools.0.name: Field required",
            ),
        ];
        for (body, message) in cases {
            assert_eq!(parse(body.clone()).unwrap_err().message, message, "{body}");
        }
    }

    #[test]
    fn content_blocks_feed_the_estimate_and_the_needs() {
        let request = parse(json!({"model": "m", "max_tokens": 5,
            "system": [{"type": "text", "text": "abcd", "cache_control": {"type": "ephemeral"}}],
            "thinking": {"type": "adaptive"},
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "abcd"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}]},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm", "signature": "s"},
                    {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": "ok"}]},
                    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "d"}}]}]}))
        .unwrap();
        let s = request.summary;
        assert_eq!(
            (s.chars, s.images, s.documents, s.tools, s.thinking),
            (4 + 4 + 3 + 2 + 2, 1, true, true, true)
        );
    }

    #[test]
    fn count_requests_need_no_max_tokens() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "abcdefgh"}]});
        let request = parse_count_request(body.to_string().as_bytes(), None).unwrap();
        assert_eq!(
            (request.max_tokens, request.estimated_input_tokens()),
            (0, 2)
        );
        assert!(super::parse(body.to_string().as_bytes(), None, true).is_err());
    }

    #[test]
    fn betas_come_from_the_header_and_the_body_once_each() {
        let body = json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],
            "anthropic_beta": ["effort-2025-11-24", "context-1m-2025-08-07"]});
        let request = parse_messages_request(
            body.to_string().as_bytes(),
            Some("claude-code-20250219, effort-2025-11-24,"),
        )
        .unwrap();
        assert_eq!(
            request.betas,
            [
                "claude-code-20250219",
                "effort-2025-11-24",
                "context-1m-2025-08-07"
            ]
        );
    }
}
