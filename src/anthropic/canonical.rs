//! Messages ⇄ the canonical content model ([`crate::content`]), for deployments that do not
//! take Anthropic's body as it is (Bedrock's other models, through Converse).
//!
//! Request side ([`to_conversation`]): `system` (a string or text blocks) → system texts;
//! each message's blocks → text, image and document (base64 sources; URLs are not fetched),
//! tool use, tool result (its text and images, `is_error`), thinking (with its signature) and
//! redacted thinking; a `cache_control` marker → a cache point after its block (on the system
//! prompt or in a turn; a tool's marker has no canonical place and is dropped); `tools`,
//! `tool_choice` (`auto`, `any`, `tool`, `none`), `max_tokens`, `temperature`, `top_p`,
//! `stop_sequences`, `thinking` (with `output_config.effort`). Reply side ([`block_json`], [`stop_reason`]): canonical blocks back to
//! Anthropic's content blocks.

use serde_json::{Value, json};

use super::MessagesRequest;
use crate::content::{
    self, Block, CacheTtl, ContentError, Conversation, Document, DocumentFormat, Effort, Image,
    ImageFormat, InferenceSettings, Reasoning, SystemBlock, Thinking, ToolChoice, ToolResult,
    ToolResultContent, ToolSpec, ToolUse,
};

/// A validated Messages request as a canonical conversation; the first block that cannot be
/// converted is refused, named by its path.
pub fn to_conversation(request: &MessagesRequest) -> Result<Conversation, ContentError> {
    let body = &request.body;
    let mut conversation = Conversation {
        system: system_blocks(body.get("system")),
        ..Conversation::default()
    };
    for (i, message) in body
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let role = match message.get("role").and_then(Value::as_str) {
            Some("assistant") => content::Role::Assistant,
            Some(_) | None => content::Role::User,
        };
        let blocks = match message.get("content") {
            Some(Value::String(text)) => vec![Block::Text(text.clone())],
            Some(Value::Array(blocks)) => {
                let mut out = Vec::with_capacity(blocks.len());
                for (j, block) in blocks.iter().enumerate() {
                    out.extend(convert_block(block, &format!("messages.{i}.content.{j}"))?);
                    if let Some(ttl) = cache_ttl(block) {
                        out.push(Block::CachePoint(ttl));
                    }
                }
                out
            }
            Some(_) | None => Vec::new(),
        };
        conversation.push(role, blocks);
    }
    conversation.tools = tools(body.get("tools"));
    conversation.tool_choice = body.get("tool_choice").and_then(tool_choice);
    conversation.inference = InferenceSettings {
        max_tokens: Some(request.max_tokens),
        temperature: body.get("temperature").and_then(Value::as_f64),
        top_p: body.get("top_p").and_then(Value::as_f64),
        stop_sequences: body
            .get("stop_sequences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect(),
        top_k: body.get("top_k").and_then(Value::as_u64),
    };
    conversation.thinking = thinking(body);
    Ok(conversation)
}

/// `system`, a string or text blocks, as system blocks; a block's `cache_control` → a cache
/// point after it.
fn system_blocks(system: Option<&Value>) -> Vec<SystemBlock> {
    let mut out = Vec::new();
    match system {
        Some(Value::String(text)) => out.push(SystemBlock::Text(text.clone())),
        Some(Value::Array(blocks)) => {
            for block in blocks {
                let text = block
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                out.push(SystemBlock::Text(text.to_owned()));
                if let Some(ttl) = cache_ttl(block) {
                    out.push(SystemBlock::CachePoint(ttl));
                }
            }
        }
        Some(_) | None => {}
    }
    out
}

/// `tools` as tool specs (a tool without a name is skipped).
fn tools(tools: Option<&Value>) -> Vec<ToolSpec> {
    tools
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|tool| {
            Some(ToolSpec {
                name: tool.get("name")?.as_str()?.to_owned(),
                description: tool
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                input_schema: tool
                    .get("input_schema")
                    .cloned()
                    .unwrap_or_else(|| json!({"type": "object"})),
            })
        })
        .collect()
}

/// `tool_choice`: `auto`, `any`, `none`, or `tool` with its name.
fn tool_choice(choice: &Value) -> Option<ToolChoice> {
    match choice.get("type").and_then(Value::as_str)? {
        "auto" => Some(ToolChoice::Auto),
        "any" => Some(ToolChoice::Any),
        "none" => Some(ToolChoice::None),
        "tool" => Some(ToolChoice::Tool {
            name: choice.get("name")?.as_str()?.to_owned(),
        }),
        _ => None,
    }
}

/// The thinking a body asks for: `enabled` with its budget, or `adaptive` at the effort of
/// `output_config.effort` (high when unset, as Anthropic's default).
fn thinking(body: &serde_json::Map<String, Value>) -> Option<Thinking> {
    let thinking = body.get("thinking")?;
    let effort = body
        .get("output_config")
        .and_then(|c| c.get("effort"))
        .and_then(Value::as_str)
        .and_then(Effort::parse);
    match thinking.get("type").and_then(Value::as_str)? {
        "enabled" => {
            let budget = thinking.get("budget_tokens").and_then(Value::as_u64);
            let by_budget = match budget {
                Some(b) if b < 2048 => Effort::Low,
                Some(b) if b < 4096 => Effort::Medium,
                Some(_) | None => Effort::High,
            };
            Some(Thinking {
                effort: effort.unwrap_or(by_budget),
                budget_tokens: budget,
            })
        }
        "adaptive" => Some(Thinking {
            effort: effort.unwrap_or(Effort::High),
            budget_tokens: None,
        }),
        _ => None,
    }
}

fn cache_ttl(block: &Value) -> Option<CacheTtl> {
    block.get("cache_control").map(CacheTtl::of_marker)
}

fn convert_block(block: &Value, path: &str) -> Result<Option<Block>, ContentError> {
    let text = |key: &str| {
        block
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Ok(Some(
        match block
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
        {
            "text" if text("text").trim().is_empty() => return Ok(None),
            "text" => Block::Text(text("text")),
            "image" => Block::Image(image(block, path)?),
            "document" => Block::Document(document(block, path)?),
            "tool_use" => Block::ToolUse(ToolUse {
                id: text("id"),
                name: text("name"),
                input: block.get("input").cloned().unwrap_or_else(|| json!({})),
            }),
            "tool_result" => Block::ToolResult(tool_result(block, path)?),
            "thinking" => Block::Reasoning(Reasoning {
                text: text("thinking"),
                signature: block
                    .get("signature")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            }),
            "redacted_thinking" => Block::RedactedReasoning {
                data: decode(&text("data"), &format!("{path}.data"))?,
            },
            other => {
                let message = format!(
                    "`{other}` blocks cannot be sent to this deployment's model (only to Claude models)"
                );
                return Err(ContentError::new(format!("{path}.type"), message));
            }
        },
    ))
}

fn decode(data: &str, path: &str) -> Result<Vec<u8>, ContentError> {
    aws_smithy_types::base64::decode(data)
        .map_err(|_| ContentError::new(path, "is not valid base64"))
}

/// A base64 source's media type and bytes (`source: {type: base64, media_type, data}`).
fn base64_source<'a>(block: &'a Value, path: &str) -> Result<(&'a str, Vec<u8>), ContentError> {
    let source = block.get("source").unwrap_or(&Value::Null);
    let kind = source
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let media_type = source
        .get("media_type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let data = source
        .get("data")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match kind {
        "base64" => Ok((media_type, decode(data, &format!("{path}.source.data"))?)),
        "text" => Ok((media_type, data.as_bytes().to_vec())),
        other => Err(ContentError::new(
            format!("{path}.source.type"),
            format!(
                "`{other}` sources are not fetched by the gateway; send the data inline (base64)"
            ),
        )),
    }
}

fn image(block: &Value, path: &str) -> Result<Image, ContentError> {
    let (media_type, bytes) = base64_source(block, path)?;
    let format = match media_type {
        "image/png" => ImageFormat::Png,
        "image/jpeg" => ImageFormat::Jpeg,
        "image/gif" => ImageFormat::Gif,
        "image/webp" => ImageFormat::Webp,
        other => {
            return Err(ContentError::new(
                format!("{path}.source.media_type"),
                format!("`{other}` is not an image type the model takes (png, jpeg, gif, webp)"),
            ));
        }
    };
    Ok(Image { format, bytes })
}

fn document(block: &Value, path: &str) -> Result<Document, ContentError> {
    let (media_type, bytes) = base64_source(block, path)?;
    let format = match media_type {
        "application/pdf" => DocumentFormat::Pdf,
        "text/plain" => DocumentFormat::Txt,
        other => {
            return Err(ContentError::new(
                format!("{path}.source.media_type"),
                format!(
                    "`{other}` is not a document type the model takes (application/pdf, text/plain)"
                ),
            ));
        }
    };
    let name = block
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("document");
    // Converse takes names of letters, digits, spaces, hyphens, parentheses and brackets.
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || " -()[]".contains(c) {
                c
            } else {
                ' '
            }
        })
        .collect();
    Ok(Document {
        format,
        name,
        bytes,
    })
}

fn tool_result(block: &Value, path: &str) -> Result<ToolResult, ContentError> {
    let mut content = Vec::new();
    match block.get("content") {
        Some(Value::String(text)) => content.push(ToolResultContent::Text(text.clone())),
        Some(Value::Array(parts)) => {
            for (k, part) in parts.iter().enumerate() {
                match part.get("type").and_then(Value::as_str) {
                    Some("image") => content.push(ToolResultContent::Image(image(
                        part,
                        &format!("{path}.content.{k}"),
                    )?)),
                    _ => {
                        let text = part.get("text").and_then(Value::as_str).unwrap_or_default();
                        content.push(ToolResultContent::Text(text.to_owned()));
                    }
                }
            }
        }
        Some(_) | None => {}
    }
    Ok(ToolResult {
        tool_use_id: block
            .get("tool_use_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        content,
        is_error: block
            .get("is_error")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// A reply's canonical block as Anthropic's content block; `None` for blocks a reply does not
/// carry (cache points, images).
pub fn block_json(block: &Block) -> Option<Value> {
    Some(match block {
        Block::Text(text) => json!({"type": "text", "text": text}),
        Block::ToolUse(call) => {
            json!({"type": "tool_use", "id": call.id, "name": call.name, "input": call.input})
        }
        Block::Reasoning(reasoning) => json!({"type": "thinking", "thinking": reasoning.text,
            "signature": reasoning.signature.as_deref().unwrap_or_default()}),
        Block::RedactedReasoning { data } => {
            json!({"type": "redacted_thinking", "data": aws_smithy_types::base64::encode(data)})
        }
        Block::Image(_) | Block::Document(_) | Block::ToolResult(_) | Block::CachePoint(_) => {
            return None;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anthropic::parse_messages_request;

    fn conversation(body: Value) -> Result<Conversation, ContentError> {
        to_conversation(&parse_messages_request(body.to_string().as_bytes(), None).unwrap())
    }

    #[test]
    fn a_tool_loop_becomes_canonical_turns_with_cache_points() {
        let c = conversation(json!({"model": "nova", "max_tokens": 64, "temperature": 0.5,
            "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
            "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any"},
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "sig"},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                    {"type": "text", "text": "Thanks", "cache_control": {"type": "ephemeral"}}]}]}))
        .unwrap();
        assert_eq!(
            c.system,
            [
                SystemBlock::Text("Be brief.".into()),
                SystemBlock::CachePoint(CacheTtl::OneHour)
            ]
        );
        assert_eq!(c.messages.len(), 3);
        assert!(
            matches!(&c.messages[1].content[0], Block::Reasoning(r) if r.signature.as_deref() == Some("sig"))
        );
        assert!(
            matches!(&c.messages[1].content[1], Block::ToolUse(t) if t.input["city"] == "Paris")
        );
        assert!(
            matches!(&c.messages[2].content[0], Block::ToolResult(r) if r.tool_use_id == "toolu_1")
        );
        assert_eq!(
            c.messages[2].content[2],
            Block::CachePoint(CacheTtl::FiveMinutes)
        );
        assert_eq!(c.tools[0].name, "get_weather");
        assert_eq!(c.tool_choice, Some(ToolChoice::Any));
        assert_eq!(
            (c.inference.max_tokens, c.inference.temperature),
            (Some(64), Some(0.5))
        );
    }

    #[test]
    fn sources_the_gateway_would_have_to_fetch_are_refused_by_path() {
        let error = conversation(json!({"model": "nova", "max_tokens": 8, "messages": [{"role": "user",
            "content": [{"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]}]}))
        .unwrap_err();
        assert_eq!(error.param, "messages.0.content.0.source.type");
        let png = json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw=="}});
        let c = conversation(json!({"model": "nova", "max_tokens": 8, "messages": [{"role": "user", "content": [png]}]})).unwrap();
        assert!(
            matches!(&c.messages[0].content[0], Block::Image(i) if i.format == ImageFormat::Png)
        );
    }

    #[test]
    fn reply_blocks_become_anthropic_blocks() {
        let call = Block::ToolUse(ToolUse {
            id: "t1".into(),
            name: "f".into(),
            input: json!({"a": 1}),
        });
        assert_eq!(
            block_json(&call).unwrap(),
            json!({"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}})
        );
        assert_eq!(
            block_json(&Block::Text("hi".into())).unwrap(),
            json!({"type": "text", "text": "hi"})
        );
        assert_eq!(block_json(&Block::CachePoint(CacheTtl::FiveMinutes)), None);
    }
}
