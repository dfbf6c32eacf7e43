//! InvokeModel: model-native bodies both ways. Anthropic messages (`anthropic_version`,
//! `max_tokens`, `messages`, `system`), Amazon Nova (`messages[{role, content:[{text}]}]`,
//! `inferenceConfig`) and Meta Llama (`prompt`, `max_gen_len`).

use serde_json::{Map, Value, json};

use crate::sandbox::catalogue::ModelFamily;
use crate::sandbox::emulated_model::{self, Prompt, Reply, Tool, ToolChoice};
use crate::sandbox::error::BedrockError;
use crate::sandbox::model_call::Admitted;
use crate::sandbox::prompt_cache::CachePoints;
use crate::sandbox::request_fields::{self, invalid};
use crate::sandbox::thinking;

/// Characters of text in a message `content` (a string or a list of blocks).
fn content_chars(content: &Value) -> usize {
    match content {
        Value::Array(blocks) => blocks
            .iter()
            .map(|b| match b.get("text") {
                Some(text) => request_fields::text_chars(text),
                None => request_fields::text_chars(b),
            })
            .sum(),
        other => request_fields::text_chars(other),
    }
}

fn message_chars(messages: &[Value], content_path: &str) -> Result<usize, BedrockError> {
    let mut chars = 0;
    for (i, message) in messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str);
        if !matches!(role, Some("user" | "assistant")) {
            return Err(invalid(
                &format!("messages.{i}.role"),
                "Member must be user or assistant",
            ));
        }
        let content = message.get("content").ok_or_else(|| {
            invalid(
                &format!("messages.{i}.{content_path}"),
                "Member must not be null",
            )
        })?;
        chars += content_chars(content);
    }
    Ok(chars)
}

/// The top-level keys of Anthropic's Messages body on Bedrock; any other is refused
/// (`metadata`, `service_tier`, `container`, `model`, `stream`, …).
const ANTHROPIC_KEYS: &[&str] = &[
    "anthropic_version",
    "anthropic_beta",
    "max_tokens",
    "messages",
    "system",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "tools",
    "tool_choice",
    "thinking",
    "output_config",
];

/// Keys Bedrock takes only with a beta.
const BETA_KEYS: &[(&str, &str)] = &[("context_management", "context-management-2025-06-27")];

/// The betas Bedrock takes for Claude models (the Bedrock user guide's list); any other is
/// refused with "invalid beta flag".
const BEDROCK_BETAS: &[&str] = &[
    "computer-use-2024-10-22",
    "computer-use-2025-01-24",
    "token-efficient-tools-2025-02-19",
    "interleaved-thinking-2025-05-14",
    "output-128k-2025-02-19",
    "dev-full-thinking-2025-05-14",
    "context-1m-2025-08-07",
    "context-management-2025-06-27",
    "effort-2025-11-24",
    "tool-search-tool-2025-10-19",
    "tool-examples-2025-10-29",
];

/// What Bedrock prefixes to the model's own refusals of a body.
const MODEL_ERRORS: &str = "The model returned the following errors: ";

/// Bedrock's refusal of keys and betas an Anthropic body may not carry, in its current words
/// (`The model returned the following errors: metadata: Extra inputs are not permitted`).
fn check_anthropic_keys(map: &Map<String, Value>) -> Result<(), BedrockError> {
    let betas: Vec<&str> = match map.get("anthropic_beta") {
        None => Vec::new(),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        Some(_) => return Err(invalid("anthropic_beta", "Input should be a valid list")),
    };
    if betas.iter().any(|beta| !BEDROCK_BETAS.contains(beta)) {
        return Err(BedrockError::Validation(format!(
            "{MODEL_ERRORS}invalid beta flag"
        )));
    }
    let allowed = |key: &str| {
        ANTHROPIC_KEYS.contains(&key)
            || BETA_KEYS
                .iter()
                .any(|(k, beta)| *k == key && betas.contains(beta))
    };
    let clauses: Vec<String> = map
        .keys()
        .filter(|key| !allowed(key))
        .map(|key| format!("{key}: Extra inputs are not permitted"))
        .collect();
    if clauses.is_empty() {
        return Ok(());
    }
    Err(BedrockError::Validation(format!(
        "{MODEL_ERRORS}{}",
        clauses.join(", ")
    )))
}

/// Reads an InvokeModel body for a model of `family`.
pub fn parse_request(
    family: ModelFamily,
    raw: &[u8],
    seed: u64,
    model_id: &str,
) -> Result<Prompt, BedrockError> {
    let map = request_fields::object(raw)?;
    let digest = emulated_model::digest(&[&seed.to_le_bytes(), model_id.as_bytes(), raw]);
    let (chars, max_tokens, stop_sequences) = native_fields(family, &map)?;
    let mut prompt = Prompt {
        input_tokens: emulated_model::estimate_tokens(chars),
        max_tokens,
        stop_sequences,
        digest,
        ..Prompt::default()
    };
    if family == ModelFamily::Anthropic {
        read_anthropic_tools(&map, &mut prompt);
        prompt.cache = anthropic_cache_points(&map);
        prompt.thinking = thinking::requested_for(model_id, map.get("thinking"))?;
        if prompt.thinking.is_some() {
            let messages = map.get("messages").and_then(Value::as_array);
            thinking::check_history(seed, messages.map_or(&[][..], Vec::as_slice))?;
        }
    }
    Ok(prompt)
}

/// What a native body says of its size: its prompt's characters, its output cap and its stop
/// sequences, each family in its own field names.
fn native_fields(
    family: ModelFamily,
    map: &Map<String, Value>,
) -> Result<(usize, Option<u64>, Vec<String>), BedrockError> {
    Ok(match family {
        ModelFamily::Anthropic => {
            check_anthropic_keys(map)?;
            if !map.get("anthropic_version").is_some_and(Value::is_string) {
                return Err(invalid("anthropic_version", "Member must not be null"));
            }
            let max_tokens = request_fields::optional_count(map, "max_tokens", "max_tokens")?;
            let max_tokens =
                max_tokens.ok_or_else(|| invalid("max_tokens", "Member must not be null"))?;
            let chars = message_chars(
                request_fields::array(map, "messages", "messages")?,
                "content",
            )? + map.get("system").map(content_chars).unwrap_or(0);
            (
                chars,
                Some(max_tokens),
                request_fields::optional_strings(map, "stop_sequences", "stop_sequences")?,
            )
        }
        ModelFamily::AmazonNova => {
            let chars = message_chars(
                request_fields::array(map, "messages", "messages")?,
                "content",
            )? + map.get("system").map(content_chars).unwrap_or(0);
            let empty = Map::new();
            let config =
                request_fields::optional_object(map, "inferenceConfig", "inferenceConfig")?
                    .unwrap_or(&empty);
            let max = match request_fields::optional_count(
                config,
                "maxTokens",
                "inferenceConfig.maxTokens",
            )? {
                Some(n) => Some(n),
                None => request_fields::optional_count(
                    config,
                    "max_new_tokens",
                    "inferenceConfig.max_new_tokens",
                )?,
            };
            (
                chars,
                max,
                request_fields::optional_strings(
                    config,
                    "stopSequences",
                    "inferenceConfig.stopSequences",
                )?,
            )
        }
        ModelFamily::MetaLlama => {
            let prompt = map
                .get("prompt")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("prompt", "Member must not be null"))?;
            (
                prompt.chars().count(),
                request_fields::optional_count(map, "max_gen_len", "max_gen_len")?,
                Vec::new(),
            )
        }
        // Embedding bodies have no prompt to generate from: `embeddings` reads them.
        ModelFamily::TitanEmbedding | ModelFamily::CohereEmbedding => {
            return Err(BedrockError::Validation(
                "This action doesn't support the model that you provided. Try again with a supported text or chat model.".into(),
            ));
        }
    })
}

/// An Anthropic body's blocks in cache order: tools, system, then each message's blocks.
fn anthropic_cache_points(map: &Map<String, Value>) -> CachePoints {
    let mut points = CachePoints::default();
    let text_block = |text: &Value| json!({"type": "text", "text": text});
    for tool in map
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        points.block(tool, tool.to_string().len());
    }
    match map.get("system") {
        Some(Value::Array(blocks)) => {
            for block in blocks {
                points.block(block, content_chars(&Value::Array(vec![block.clone()])));
            }
        }
        Some(text @ Value::String(_)) => points.block(&text_block(text), content_chars(text)),
        Some(_) | None => {}
    }
    for message in map
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match message.get("content") {
            Some(Value::Array(blocks)) => {
                for block in blocks {
                    let chars = match block.get("text") {
                        Some(text) => request_fields::text_chars(text),
                        None => block.to_string().len(),
                    };
                    points.block(block, chars);
                }
            }
            Some(text @ Value::String(_)) => {
                points.block(&text_block(text), content_chars(text));
            }
            Some(_) | None => {}
        }
    }
    points
}

/// An Anthropic body's tools, tool choice, and its last user message's text and tool result.
fn read_anthropic_tools(map: &Map<String, Value>, prompt: &mut Prompt) {
    for tool in map
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = tool.get("name").and_then(Value::as_str) {
            let schema = tool.get("input_schema").cloned().unwrap_or(Value::Null);
            prompt.input_tokens += emulated_model::estimate_tokens(tool.to_string().len());
            prompt.tools.push(Tool {
                name: name.to_owned(),
                schema,
            });
        }
    }
    let choice = map.get("tool_choice");
    prompt.tool_choice = match choice.and_then(|c| c.get("type")).and_then(Value::as_str) {
        Some("any") => ToolChoice::Any,
        Some("none") => ToolChoice::Disabled,
        Some("tool") => match choice.and_then(|c| c.get("name")).and_then(Value::as_str) {
            Some(name) => ToolChoice::Named(name.to_owned()),
            None => ToolChoice::Auto,
        },
        Some(_) | None => ToolChoice::Auto,
    };
    let messages = map.get("messages").and_then(Value::as_array);
    let last_user = messages.and_then(|m| {
        m.iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
    });
    let Some(content) = last_user.and_then(|m| m.get("content")) else {
        return;
    };
    let blocks = match content {
        Value::String(text) => {
            prompt.last_text = text.clone();
            return;
        }
        Value::Array(blocks) => blocks,
        _ => return,
    };
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                let text = block.get("text").and_then(Value::as_str).unwrap_or("");
                prompt.last_text.push_str(text);
                prompt.last_text.push('\n');
            }
            Some("tool_result") => {
                let result = tool_result_text(block.get("content"));
                prompt.last_text.push_str(&result);
                prompt.last_text.push('\n');
                prompt.tool_result = Some(result);
            }
            _ => {}
        }
    }
}

/// The text of a `tool_result`'s content: a string, or its text blocks joined.
fn tool_result_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// The InvokeModel response body for a model of `family`.
pub fn response(family: ModelFamily, model_id: &str, admitted: &Admitted) -> Value {
    let (request_id, reply) = (&admitted.request_id, &admitted.reply);
    let input_tokens = admitted.input_tokens;
    let stop = reply.stop_reason.as_converse();
    match family {
        ModelFamily::Anthropic => json!({
            "id": format!("msg_bdrk_{}", request_id.replace('-', "")),
            "type": "message",
            "role": "assistant",
            "model": model_id,
            "content": reply.thinking.iter().map(thinking_block).chain([anthropic_block(reply)]).collect::<Vec<_>>(),
            "stop_reason": stop,
            "stop_sequence": null,
            "usage": {
                "input_tokens": input_tokens,
                "cache_creation_input_tokens": admitted.cache.written,
                "cache_read_input_tokens": admitted.cache.read,
                "output_tokens": reply.output_tokens,
            },
        }),
        ModelFamily::AmazonNova => json!({
            "output": { "message": { "role": "assistant", "content": [{ "text": reply.text }] } },
            "stopReason": stop,
            "usage": {
                "inputTokens": input_tokens,
                "outputTokens": reply.output_tokens,
                "totalTokens": input_tokens + reply.output_tokens,
            },
        }),
        ModelFamily::MetaLlama => json!({
            "generation": reply.text,
            "prompt_token_count": input_tokens,
            "generation_token_count": reply.output_tokens,
            "stop_reason": if stop == "max_tokens" { "length" } else { "stop" },
        }),
        ModelFamily::TitanEmbedding | ModelFamily::CohereEmbedding => json!({}),
    }
}

/// The content block of a Claude reply: its text, or its tool call (`toolu_bdrk_…` ids).
pub fn anthropic_block(reply: &Reply) -> Value {
    match &reply.tool_call {
        Some(call) => json!({
            "type": "tool_use",
            "id": anthropic_tool_id(&call.id),
            "name": call.name,
            "input": call.input,
        }),
        None => json!({ "type": "text", "text": reply.text }),
    }
}

/// A reply's thinking block.
pub fn thinking_block(thought: &thinking::Thought) -> Value {
    json!({"type": "thinking", "thinking": thought.shown, "signature": thought.signature})
}

/// Bedrock's id for a Claude tool call (`toolu_bdrk_` and the call's own digits).
pub fn anthropic_tool_id(id: &str) -> String {
    format!("toolu_bdrk_{}", id.trim_start_matches("tooluse_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_bodies_need_version_and_max_tokens() {
        let ok = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5,
            "system": "sys!", "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}]});
        let p = parse_request(ModelFamily::Anthropic, ok.to_string().as_bytes(), 1, "m").unwrap();
        assert_eq!((p.input_tokens, p.max_tokens), (3, Some(5)));
        let e = parse_request(ModelFamily::Anthropic, br#"{"messages":[]}"#, 1, "m").unwrap_err();
        assert!(e.to_string().contains("anthropic_version"));
    }

    #[test]
    fn anthropic_bodies_refuse_unknown_keys_in_bedrock_words() {
        let body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5, "stream": true,
            "model": "claude", "messages": [{"role": "user", "content": "hi"}]});
        let e = parse_request(ModelFamily::Anthropic, body.to_string().as_bytes(), 1, "m");
        assert_eq!(
            e,
            Err(BedrockError::Validation(
                "The model returned the following errors: model: Extra inputs are not permitted, stream: Extra inputs are not permitted".into()
            ))
        );
    }

    #[test]
    fn anthropic_bodies_take_only_bedrocks_betas_and_their_keys() {
        let body = |extra: Value| {
            let mut body = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5,
                "messages": [{"role": "user", "content": "hi"}]});
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            parse_request(ModelFamily::Anthropic, body.to_string().as_bytes(), 1, "m")
        };
        let refused = |message: &str| Err(BedrockError::Validation(message.into()));
        assert_eq!(
            body(json!({"anthropic_beta": ["claude-code-20250219"]})).map(|_| ()),
            refused("The model returned the following errors: invalid beta flag")
        );
        let managed = json!({"context_management": {"edits": []}});
        assert_eq!(
            body(managed.clone()).map(|_| ()),
            refused(
                "The model returned the following errors: context_management: Extra inputs are not permitted"
            )
        );
        let mut with_beta = managed;
        with_beta["anthropic_beta"] = json!(["context-management-2025-06-27"]);
        assert!(body(with_beta).is_ok());
        assert!(body(json!({"metadata": {"user_id": "u"}})).is_err());
    }

    #[test]
    fn nova_bodies_read_either_max_token_spelling() {
        let body = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"max_new_tokens": 7}});
        let p =
            parse_request(ModelFamily::AmazonNova, body.to_string().as_bytes(), 1, "m").unwrap();
        assert_eq!(p.max_tokens, Some(7));
        let bad = json!({"messages": [{"role": "user"}]});
        let e =
            parse_request(ModelFamily::AmazonNova, bad.to_string().as_bytes(), 1, "m").unwrap_err();
        assert!(e.to_string().contains("messages.0.content"));
    }
}
