//! Answers in Converse's wire shapes, written from the canonical blocks: a Converse reply
//! (`output.message`, `stopReason`, `usage`, `metrics`) and the JSON of each block and of the
//! usage, which the streamed events reuse. Whatever served the call (Bedrock through the SDK,
//! an OpenAI-compatible upstream) comes here as blocks, so the client reads one format.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::content::{Block, Image, ImageFormat, ToolResultContent};
use crate::openai::Usage;

/// The whole Converse reply.
pub fn converse_reply(
    blocks: &[Block],
    stop_reason: &str,
    usage: Option<&Usage>,
    latency_ms: u64,
) -> Bytes {
    let content: Vec<Value> = blocks.iter().filter_map(block_json).collect();
    let reply = json!({
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop_reason,
        "usage": usage_json(usage),
        "metrics": {"latencyMs": latency_ms},
    });
    Bytes::from(reply.to_string())
}

/// A reply block as Converse writes it; `None` for kinds a reply does not carry.
pub fn block_json(block: &Block) -> Option<Value> {
    Some(match block {
        Block::Text(text) => json!({"text": text}),
        Block::ToolUse(call) => json!({"toolUse": {
            "toolUseId": call.id, "name": call.name, "input": call.input,
        }}),
        Block::Reasoning(reasoning) => {
            let mut text = json!({"text": reasoning.text});
            if let Some(signature) = &reasoning.signature {
                text["signature"] = json!(signature);
            }
            json!({"reasoningContent": {"reasoningText": text}})
        }
        Block::RedactedReasoning { data } => json!({"reasoningContent": {
            "redactedContent": aws_smithy_types::base64::encode(data),
        }}),
        Block::Image(image) => image_json(image),
        Block::ToolResult(result) => {
            let content: Vec<Value> = result
                .content
                .iter()
                .map(|piece| match piece {
                    ToolResultContent::Text(text) => json!({"text": text}),
                    ToolResultContent::Json(value) => json!({"json": value}),
                    ToolResultContent::Image(image) => image_json(image),
                })
                .collect();
            json!({"toolResult": {"toolUseId": result.tool_use_id, "content": content}})
        }
        Block::Document(_) | Block::CachePoint(_) => return None,
    })
}

fn image_json(image: &Image) -> Value {
    let format = match image.format {
        ImageFormat::Png => "png",
        ImageFormat::Jpeg => "jpeg",
        ImageFormat::Gif => "gif",
        ImageFormat::Webp => "webp",
    };
    json!({"image": {"format": format,
        "source": {"bytes": aws_smithy_types::base64::encode(&image.bytes)}}})
}

/// Converse's `usage`: `inputTokens` counts only the input read fresh, the cache's reads and
/// writes beside it.
pub fn usage_json(usage: Option<&Usage>) -> Value {
    let Some(usage) = usage else {
        return json!({"inputTokens": 0, "outputTokens": 0, "totalTokens": 0});
    };
    let read = usage.cache_read();
    let written = usage.cache_creation_input_tokens.unwrap_or(0);
    let mut json = json!({
        "inputTokens": usage.prompt_tokens.saturating_sub(read + written),
        "outputTokens": usage.completion_tokens,
        "totalTokens": usage.prompt_tokens + usage.completion_tokens,
    });
    if read + written > 0 {
        json["cacheReadInputTokens"] = json!(read);
        json["cacheWriteInputTokens"] = json!(written);
    }
    json
}

/// The blocks a client that asked for structured output reads: the answer tool's call (the
/// gateway's stand-in for models without Converse's `outputConfig`) becomes the answer's
/// text, and a forced call's preamble text is dropped; `None` leaves the blocks as they are.
pub fn with_answer_text(blocks: Vec<Block>, answer_tool: Option<(&str, bool)>) -> Vec<Block> {
    let Some((name, forced)) = answer_tool else {
        return blocks;
    };
    let answered = blocks
        .iter()
        .any(|b| matches!(b, Block::ToolUse(call) if call.name == name));
    blocks
        .into_iter()
        .filter_map(|block| match block {
            Block::ToolUse(call) if call.name == name => Some(Block::Text(call.input.to_string())),
            Block::Text(_) if answered && forced => None,
            other => Some(other),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{Reasoning, ToolUse};

    #[test]
    fn a_reply_is_written_in_converse_shapes() {
        let blocks = [
            Block::Reasoning(Reasoning {
                text: "hm".into(),
                signature: Some("sig".into()),
            }),
            Block::Text("hello".into()),
            Block::ToolUse(ToolUse {
                id: "t1".into(),
                name: "f".into(),
                input: json!({"a": 1}),
            }),
            Block::CachePoint(Default::default()),
        ];
        let usage = Usage::with_cache(10, 30, 5, 7);
        let reply: Value =
            serde_json::from_slice(&converse_reply(&blocks, "tool_use", Some(&usage), 12)).unwrap();
        assert_eq!(
            reply,
            json!({
                "output": {"message": {"role": "assistant", "content": [
                    {"reasoningContent": {"reasoningText": {"text": "hm", "signature": "sig"}}},
                    {"text": "hello"},
                    {"toolUse": {"toolUseId": "t1", "name": "f", "input": {"a": 1}}},
                ]}},
                "stopReason": "tool_use",
                "usage": {"inputTokens": 10, "outputTokens": 7, "totalTokens": 52,
                    "cacheReadInputTokens": 30, "cacheWriteInputTokens": 5},
                "metrics": {"latencyMs": 12},
            })
        );
    }

    #[test]
    fn the_answer_tool_becomes_the_answers_text() {
        let blocks = vec![
            Block::Text("Here it is:".into()),
            Block::ToolUse(ToolUse {
                id: "t".into(),
                name: "json_tool_call".into(),
                input: json!({"x": 1}),
            }),
        ];
        assert_eq!(
            with_answer_text(blocks.clone(), Some(("json_tool_call", true))),
            [Block::Text(r#"{"x":1}"#.into())]
        );
        assert_eq!(
            with_answer_text(blocks.clone(), Some(("json_tool_call", false))).len(),
            2
        );
        assert_eq!(with_answer_text(blocks.clone(), None), blocks);
    }
}
