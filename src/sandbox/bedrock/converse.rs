//! The Converse wire format: request bodies to a [`Prompt`], replies to the Converse JSON.
//! ConverseStream shares the request shape; its framing lives in `eventstream`.
//!
//! Besides the shapes, the rules Bedrock enforces on every model, in its own words: a
//! conversation starts with a user turn, text blocks are not blank, and `toolUse` /
//! `toolResult` blocks need a `toolConfig`.

use serde_json::{Map, Value, json};

use super::converse_options;
use crate::sandbox::emulated_model::{self, IMAGE_TOKENS, Prompt, Reply, Tool, ToolChoice};
use crate::sandbox::error::BedrockError;
use crate::sandbox::model_call::Admitted;
use crate::sandbox::prompt_cache::{CachePoints, ttl_of};
use crate::sandbox::request_fields::{self, invalid};
use crate::sandbox::thinking::{self, Display};

/// Reads a Converse / ConverseStream request body.
pub fn parse_request(raw: &[u8], seed: u64, model_id: &str) -> Result<Prompt, BedrockError> {
    let map = request_fields::object(raw)?;
    let messages = request_fields::array(&map, "messages", "messages")?;
    if messages.is_empty() {
        return Err(invalid(
            "messages",
            "Member must have length greater than or equal to 1",
        ));
    }
    let Turns {
        mut chars,
        images,
        tool_result,
        last_text,
        tool_blocks,
    } = read_turns(messages)?;
    if tool_blocks && request_fields::optional_object(&map, "toolConfig", "toolConfig")?.is_none() {
        return Err(BedrockError::Validation(TOOL_CONFIG_REQUIRED.into()));
    }
    if let Some(system) = map.get("system") {
        let blocks = system
            .as_array()
            .ok_or_else(|| invalid("system", "Member must be an array"))?;
        chars += blocks
            .iter()
            .map(|b| request_fields::text_chars(b.get("text").unwrap_or(&Value::Null)))
            .sum::<usize>();
    }
    let config = request_fields::optional_object(&map, "inferenceConfig", "inferenceConfig")?;
    let empty = Map::new();
    let config = config.unwrap_or(&empty);
    let max_tokens =
        request_fields::optional_count(config, "maxTokens", "inferenceConfig.maxTokens")?;
    request_fields::optional_number(
        config,
        "temperature",
        "inferenceConfig.temperature",
        (0.0, 1.0),
    )?;
    request_fields::optional_number(config, "topP", "inferenceConfig.topP", (0.0, 1.0))?;
    let stop_sequences =
        request_fields::optional_strings(config, "stopSequences", "inferenceConfig.stopSequences")?;
    let (tools, tool_choice, tool_chars) = read_tool_config(&map)?;
    let thinking = requested_thinking(&map, model_id)?;
    let options = converse_options::read(&map, model_id)?;
    if thinking.is_some_and(|d| d != Display::Redacted) {
        thinking::check_history(seed, &anthropic_view(messages))?;
    }
    Ok(Prompt {
        input_tokens: emulated_model::estimate_tokens(chars + tool_chars) + images * IMAGE_TOKENS,
        max_tokens,
        stop_sequences,
        tools,
        tool_choice,
        tool_result,
        last_text,
        cache: cache_points(&map),
        thinking,
        output_schema: options.output_schema,
        service_tier: options.service_tier,
        embedding: None,
        digest: emulated_model::digest(&[&seed.to_le_bytes(), model_id.as_bytes(), raw]),
    })
}

/// What the turns of a conversation hold, read while checking them.
struct Turns {
    chars: usize,
    images: u64,
    /// The tool result in the last user turn, if any.
    tool_result: Option<String>,
    /// The last user turn's text and tool results.
    last_text: String,
    /// Whether any turn holds `toolUse` or `toolResult` blocks.
    tool_blocks: bool,
}

/// Checks each turn by Bedrock's rules and sums what it holds.
fn read_turns(messages: &[Value]) -> Result<Turns, BedrockError> {
    let mut turns = Turns {
        chars: 0,
        images: 0,
        tool_result: None,
        last_text: String::new(),
        tool_blocks: false,
    };
    for (i, message) in messages.iter().enumerate() {
        let path = format!("messages.{i}");
        let message = message
            .as_object()
            .ok_or_else(|| invalid(&path, "Member must be an object"))?;
        let role = message.get("role").and_then(Value::as_str);
        if !matches!(role, Some("user" | "assistant")) {
            return Err(invalid(
                &format!("{path}.role"),
                "Member must satisfy enum value set: [user, assistant]",
            ));
        }
        let blocks = request_fields::array(message, "content", &format!("{path}.content"))?;
        turns.tool_result = None;
        if role == Some("user") {
            turns.last_text.clear();
        }
        for (j, block) in blocks.iter().enumerate() {
            let content = read_block(block, &format!("{path}.content.{j}"))?;
            turns.chars += content.chars;
            turns.images += content.images;
            turns.tool_blocks |= content.is_tool_block;
            if role == Some("user") {
                let text = block.get("text").and_then(Value::as_str);
                for piece in text.into_iter().chain(content.tool_result.as_deref()) {
                    turns.last_text.push_str(piece);
                    turns.last_text.push('\n');
                }
                if content.tool_result.is_some() {
                    turns.tool_result = content.tool_result;
                }
            }
        }
        if i == 0 && role == Some("assistant") {
            return Err(BedrockError::Validation(ASSISTANT_FIRST.into()));
        }
    }
    Ok(turns)
}

/// Bedrock's refusal of a conversation whose first turn is the assistant's.
const ASSISTANT_FIRST: &str = "A conversation must start with a user message. Try again with a conversation that starts with a user message.";

/// Bedrock's refusal of tool blocks in a request without a `toolConfig`.
const TOOL_CONFIG_REQUIRED: &str =
    "The toolConfig field must be defined when using toolUse and toolResult content blocks.";

/// Bedrock's refusal of a text block that is empty or only whitespace.
fn blank_text(path: &str) -> BedrockError {
    BedrockError::Validation(format!(
        "The text field in the ContentBlock object at {path} is blank. Add text to the text field, and try again."
    ))
}

/// What one content block contributes.
struct BlockContent {
    chars: usize,
    images: u64,
    tool_result: Option<String>,
    /// A `toolUse` or `toolResult` block.
    is_tool_block: bool,
}

fn read_block(block: &Value, path: &str) -> Result<BlockContent, BedrockError> {
    let block = block
        .as_object()
        .ok_or_else(|| invalid(path, "Member must be an object"))?;
    let mut content = BlockContent {
        chars: 0,
        images: 0,
        tool_result: None,
        is_tool_block: false,
    };
    if let Some(text) = block.get("text") {
        let text = text
            .as_str()
            .ok_or_else(|| invalid(&format!("{path}.text"), "Member must be a string"))?;
        if text.trim().is_empty() {
            return Err(blank_text(path));
        }
        content.chars = text.len();
    } else if block.contains_key("image")
        || block.contains_key("document")
        || block.contains_key("video")
    {
        content.images = 1;
    } else if let Some(tool_use) = block.get("toolUse") {
        content.chars = request_fields::text_chars(tool_use.get("input").unwrap_or(&Value::Null));
        content.is_tool_block = true;
    } else if let Some(result) = block.get("toolResult") {
        content.is_tool_block = true;
        let parts = result.get("content").and_then(Value::as_array);
        let parts = parts.ok_or_else(|| {
            invalid(
                &format!("{path}.toolResult.content"),
                "Member must not be null",
            )
        })?;
        let text: Vec<String> = parts
            .iter()
            .map(|p| match (p.get("text"), p.get("json")) {
                (Some(Value::String(t)), _) => t.clone(),
                (_, Some(j)) => j.to_string(),
                (Some(_) | None, None) => String::new(),
            })
            .collect();
        let text = text.join(" ");
        content.chars = text.len();
        content.tool_result = Some(text);
    } else if !block.contains_key("reasoningContent") && !block.contains_key("cachePoint") {
        return Err(invalid(
            path,
            "Member must contain exactly one of text, image, document, toolUse, toolResult",
        ));
    }
    Ok(content)
}

fn read_tool_config(
    map: &Map<String, Value>,
) -> Result<(Vec<Tool>, ToolChoice, usize), BedrockError> {
    let Some(config) = request_fields::optional_object(map, "toolConfig", "toolConfig")? else {
        return Ok((Vec::new(), ToolChoice::Auto, 0));
    };
    let specs = request_fields::array(config, "tools", "toolConfig.tools")?;
    let mut tools = Vec::new();
    for (i, tool) in specs.iter().enumerate() {
        let path = format!("toolConfig.tools.{i}.toolSpec");
        let spec = tool
            .get("toolSpec")
            .ok_or_else(|| invalid(&path, "Member must not be null"))?;
        let name = spec.get("name").and_then(Value::as_str);
        let name =
            name.ok_or_else(|| invalid(&format!("{path}.name"), "Member must not be null"))?;
        let schema = spec.get("inputSchema").and_then(|s| s.get("json"));
        let schema = schema
            .ok_or_else(|| invalid(&format!("{path}.inputSchema"), "Member must not be null"))?;
        tools.push(Tool {
            name: name.to_owned(),
            schema: schema.clone(),
        });
    }
    let choice = match config.get("toolChoice") {
        None | Some(Value::Null) => ToolChoice::Auto,
        Some(choice) if choice.get("any").is_some() => ToolChoice::Any,
        Some(choice) if choice.get("auto").is_some() => ToolChoice::Auto,
        Some(choice) => match choice
            .get("tool")
            .and_then(|t| t.get("name"))
            .and_then(Value::as_str)
        {
            Some(name) if tools.iter().any(|t| t.name == name) => {
                ToolChoice::Named(name.to_owned())
            }
            Some(_) | None => {
                return Err(invalid(
                    "toolConfig.toolChoice",
                    "Member must name a tool in toolConfig.tools",
                ));
            }
        },
    };
    Ok((
        tools,
        choice,
        config
            .get("tools")
            .map(request_fields::text_chars)
            .unwrap_or(0),
    ))
}

/// The thinking a Converse request turns on: Claude's `thinking` or Nova 2's
/// `reasoningConfig` in `additionalModelRequestFields` (Sonnet 5 thinks unasked).
fn requested_thinking(
    map: &Map<String, Value>,
    model_id: &str,
) -> Result<Option<Display>, BedrockError> {
    let path = "additionalModelRequestFields";
    let extra = request_fields::optional_object(map, path, path)?;
    let field = |name: &str| extra.and_then(|e| e.get(name));
    if let Some(config) = field("reasoningConfig") {
        let on = config.get("type").and_then(Value::as_str) == Some("enabled");
        return Ok(on.then_some(Display::Redacted));
    }
    thinking::requested_for(model_id, field("thinking"))
}

/// A Converse history in Anthropic's block shapes, for the checks Claude makes of it:
/// `reasoningContent` → `thinking` (text and signature) or `redacted_thinking`, `toolUse` →
/// `tool_use`, `toolResult` → `tool_result`, text → `text`; cache points are not blocks.
fn anthropic_view(messages: &[Value]) -> Vec<Value> {
    let block = |b: &Value| -> Option<Value> {
        if let Some(reasoning) = b.get("reasoningContent") {
            return Some(match reasoning.get("reasoningText") {
                Some(text) => json!({"type": "thinking",
                    "thinking": text.get("text").cloned().unwrap_or(json!("")),
                    "signature": text.get("signature").cloned().unwrap_or(json!(""))}),
                None => json!({"type": "redacted_thinking"}),
            });
        }
        let kinds = [("toolUse", "tool_use"), ("toolResult", "tool_result")];
        match kinds.iter().find(|(key, _)| b.get(*key).is_some()) {
            Some((_, kind)) => Some(json!({"type": kind})),
            None if b.get("cachePoint").is_some() => None,
            None => Some(json!({"type": "text"})),
        }
    };
    messages
        .iter()
        .map(|m| {
            let blocks = m.get("content").and_then(Value::as_array);
            let content: Vec<Value> = blocks.into_iter().flatten().filter_map(block).collect();
            json!({"role": m.get("role").cloned().unwrap_or(Value::Null), "content": content})
        })
        .collect()
}

/// A Converse body's blocks in cache order (tool specs, system, then each message's
/// blocks), each `cachePoint` marking the prefix through the block before it.
fn cache_points(map: &Map<String, Value>) -> CachePoints {
    let mut points = CachePoints::default();
    let tools = map.get("toolConfig").and_then(|c| c.get("tools"));
    let messages = map.get("messages").and_then(Value::as_array);
    let message_blocks = messages
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("content").and_then(Value::as_array))
        .flatten();
    let blocks = [tools, map.get("system")]
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .flatten()
        .chain(message_blocks);
    for block in blocks {
        match block.get("cachePoint") {
            Some(point) => points.mark(ttl_of(point)),
            None => {
                let chars = match block.get("text") {
                    Some(text) => request_fields::text_chars(text),
                    None => block.to_string().len(),
                };
                points.block(block, chars);
            }
        }
    }
    points
}

/// The assistant content blocks of a reply (Converse shape): its reasoning first, when it
/// thought, then its text or tool call.
pub fn content_blocks(reply: &Reply) -> Vec<Value> {
    let answer = match &reply.tool_call {
        Some(call) => {
            json!({ "toolUse": { "toolUseId": call.id, "name": call.name, "input": call.input } })
        }
        None => json!({ "text": reply.text }),
    };
    let reasoning = reply.thinking.as_ref().map(|thought| {
        let mut text = json!({ "text": thought.shown });
        if !thought.signature.is_empty() {
            text["signature"] = json!(thought.signature);
        }
        json!({ "reasoningContent": { "reasoningText": text } })
    });
    reasoning.into_iter().chain([answer]).collect()
}

/// The Converse response body.
pub fn response(admitted: &Admitted, latency_ms: u64) -> Value {
    let reply = &admitted.reply;
    let mut body = json!({
        "output": { "message": { "role": "assistant", "content": content_blocks(reply) } },
        "stopReason": reply.stop_reason.as_converse(),
        "usage": usage(admitted),
        "metrics": { "latencyMs": latency_ms },
    });
    if let Some(tier) = &admitted.service_tier {
        body["serviceTier"] = json!({ "type": tier });
    }
    body
}

/// The Converse `usage` object, with the cache's reads and writes when there were any
/// (`inputTokens` counts neither, `totalTokens` all).
pub fn usage(admitted: &Admitted) -> Value {
    let (input, output) = (admitted.input_tokens, admitted.reply.output_tokens);
    let cache = admitted.cache;
    let mut usage = json!({ "inputTokens": input, "outputTokens": output,
        "totalTokens": input + output + cache.read + cache.written });
    if cache.read + cache.written > 0 {
        usage["cacheReadInputTokens"] = json!(cache.read);
        usage["cacheWriteInputTokens"] = json!(cache.written);
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: Value) -> Result<Prompt, BedrockError> {
        parse_request(body.to_string().as_bytes(), 42, "m")
    }

    #[test]
    fn counts_tokens_and_reads_inference_config() {
        let p = parse(json!({
            "system": [{"text": "abcd"}],
            "messages": [{"role": "user", "content": [{"text": "12345678"}, {"image": {"format": "png"}}]}],
            "inferenceConfig": {"maxTokens": 10, "stopSequences": ["x"]}
        }))
        .unwrap();
        assert_eq!(p.input_tokens, 3 + IMAGE_TOKENS);
        assert_eq!(
            (p.max_tokens, p.stop_sequences),
            (Some(10), vec!["x".to_string()])
        );
    }

    #[test]
    fn malformed_fields_are_named() {
        let cases = [
            (json!({}), "'messages'"),
            (
                json!({"messages": [{"role": "bot", "content": []}]}),
                "'messages.0.role'",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"text": 1}]}]}),
                "'messages.0.content.0.text'",
            ),
            (
                json!({"messages": [{"role": "user", "content": []}], "inferenceConfig": {"maxTokens": -1}}),
                "maxTokens",
            ),
            (
                json!({"messages": [{"role": "user", "content": []}], "toolConfig": {"tools": [{}]}}),
                "toolSpec",
            ),
        ];
        for (body, field) in cases {
            let e = parse(body).unwrap_err();
            assert!(e.to_string().contains(field), "{e} should name {field}");
        }
    }

    #[test]
    fn bedrock_rules_are_refused_in_bedrock_words() {
        let tool_history = json!([
            {"role": "user", "content": [{"text": "weather?"}]},
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t", "name": "w", "input": {}}}]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "t", "content": [{"text": "sunny"}]}}]}
        ]);
        let cases = [
            (json!({"messages": tool_history}), TOOL_CONFIG_REQUIRED.to_owned()),
            (
                json!({"messages": [{"role": "assistant", "content": [{"text": "hi"}]},
                    {"role": "user", "content": [{"text": "hi"}]}]}),
                ASSISTANT_FIRST.to_owned(),
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"text": "a"}, {"text": " \n"}]}]}),
                "The text field in the ContentBlock object at messages.0.content.1 is blank. Add text to the text field, and try again.".to_owned(),
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(parse(body), Err(BedrockError::Validation(expected)));
        }
    }

    #[test]
    fn tool_results_in_the_last_user_message_are_seen() {
        let p = parse(json!({
            "messages": [
                {"role": "user", "content": [{"text": "weather?"}]},
                {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t", "name": "w", "input": {}}}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "t", "content": [{"text": "sunny"}]}}]}
            ],
            "toolConfig": {"tools": [{"toolSpec": {"name": "w", "inputSchema": {"json": {}}}}], "toolChoice": {"tool": {"name": "w"}}}
        }))
        .unwrap();
        assert_eq!(p.tool_result.as_deref(), Some("sunny"));
        assert_eq!(p.tool_choice, ToolChoice::Named("w".into()));
    }
}
