//! Chat completions ⇄ the canonical content model ([`crate::content`]).
//!
//! Request side, in the order [`to_conversation`] applies it:
//! 1. `system`/`developer` messages → system text blocks (wherever they appear).
//! 2. `user` → user text and image blocks (images only as `data:` URLs: the upstream is not
//!    asked to fetch anything).
//! 3. `assistant` → assistant text blocks and one tool-use block per tool call.
//! 4. `tool` → a tool-result block in a user turn. Consecutive turns of one role merge
//!    ([`Conversation::push`]): this puts several tool results, and a user text after them,
//!    into one user message.
//! 5. Blank texts are dropped, so a message of blank texts is no turn at all.
//! 6. `tools` (absent `parameters` meaning "no arguments") and `tool_choice` as given,
//!    `required` being the canonical `any`.
//! 7. `max_completion_tokens`/`max_tokens`, `temperature`, `top_p`, `stop`, `top_k` →
//!    inference settings; `reasoning_effort` → thinking; `response_format` → the output
//!    format; `service_tier`; `metadata` and `user` → the request's metadata tags.
//! 8. `cache_control` (LiteLLM's convention) on a content part → a cache point after it; on a
//!    message → after its last block; on any tool → after the tool definitions.
//! 9. An assistant message's `thinking_blocks` → reasoning blocks ahead of its text, as they
//!    came (signatures, redacted data), so a tool loop sends them back unmodified; the pieces
//!    of a streamed block (unsigned texts, then its signature) are joined into the one block.
//!
//! Rules of the upstream (which turn may open a conversation, when tools must be declared)
//! are not applied here but by the upstream's conversion.
//!
//! Reply side, [`assistant_message`]: texts concatenate into `content`, tool uses become
//! `tool_calls` (except the structured-output tool, whose input is the `content`), reasoning
//! becomes `reasoning_content` and LiteLLM's `thinking_blocks`; images and the rest have no
//! chat-completions field.

use serde_json::Value;

use super::request::{
    ChatRequest, ContentPart, FunctionCall, Message, Role, ThinkingBlock, Tool, ToolCall, ToolType,
};
use super::response::AssistantMessage;
use super::wire::{Content, ToolChoice};
use crate::content::{
    self, Block, CacheTtl, ContentError, Conversation, Image, ImageFormat, InferenceSettings,
    Reasoning, SystemBlock, ToolResult, ToolResultContent, ToolSpec, ToolUse,
};

/// A validated chat request as a canonical conversation; see the module doc for the mapping.
/// The first message that cannot be converted is refused, named by its path.
pub fn to_conversation(request: &ChatRequest) -> Result<Conversation, ContentError> {
    let mut conversation = Conversation {
        messages: Vec::with_capacity(request.messages.len()),
        ..Conversation::default()
    };
    for (i, message) in request.messages.iter().enumerate() {
        match message.role {
            Role::System | Role::Developer => {
                let system = &mut conversation.system;
                convert_texts(
                    i,
                    message,
                    SystemBlock::Text,
                    SystemBlock::CachePoint,
                    system,
                )?;
                if let Some(marker) = &message.cache_control {
                    system.push(SystemBlock::CachePoint(CacheTtl::of_marker(marker)));
                }
            }
            Role::User => conversation.push(
                content::Role::User,
                marked(message, convert_user(i, message)?),
            ),
            Role::Assistant => conversation.push(
                content::Role::Assistant,
                marked(message, convert_assistant(i, message)?),
            ),
            Role::Tool => conversation.push(
                content::Role::User,
                marked(message, vec![convert_tool_result(message)]),
            ),
        }
    }
    let tools = request.tools.iter().flatten();
    conversation.tools = tools.clone().map(convert_tool).collect();
    conversation.tools_cache_point = tools
        .filter_map(|t| t.cache_control.as_ref())
        .map(CacheTtl::of_marker)
        .next();
    conversation.tool_choice = request.tool_choice.as_ref().map(convert_tool_choice);
    conversation.inference = convert_inference(request);
    conversation.thinking = request.thinking();
    conversation.output_format = request.output_format();
    conversation.service_tier = request.bedrock_service_tier();
    conversation.metadata = request.request_metadata();
    Ok(conversation)
}

/// `blocks` with a cache point after them when the message carries `cache_control`.
fn marked(message: &Message, mut blocks: Vec<Block>) -> Vec<Block> {
    if let Some(marker) = &message.cache_control
        && !blocks.is_empty()
    {
        blocks.push(Block::CachePoint(CacheTtl::of_marker(marker)));
    }
    blocks
}

/// The refusal of a part only OpenAI-compatible upstreams take (`input_audio`, `file`, …).
fn foreign(i: usize, j: usize, kind: &str) -> ContentError {
    ContentError::new(
        format!("messages[{i}].content[{j}]"),
        format!(
            "messages[{i}].content[{j}]: {kind:?} parts are only taken by OpenAI-compatible deployments"
        ),
    )
}

/// Appends the non-blank texts of a message that may hold only text (system, developer, the
/// text of an assistant message) to `blocks`, each made a block by `block`.
fn convert_texts<B>(
    i: usize,
    message: &Message,
    block: fn(String) -> B,
    cache_point: fn(CacheTtl) -> B,
    blocks: &mut Vec<B>,
) -> Result<(), ContentError> {
    match &message.content {
        Some(Content::Text(text)) => blocks.extend(non_empty(text).map(block)),
        Some(Content::Parts(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                match part {
                    ContentPart::Text {
                        text,
                        cache_control,
                    } => {
                        blocks.extend(non_empty(text).map(block));
                        blocks.extend(
                            cache_control
                                .as_ref()
                                .map(|m| cache_point(CacheTtl::of_marker(m))),
                        );
                    }
                    ContentPart::ImageUrl { .. } => {
                        return Err(ContentError::new(
                            format!("messages[{i}].content[{j}]"),
                            "images are only supported in user messages",
                        ));
                    }
                    ContentPart::Other { kind, .. } => return Err(foreign(i, j, kind)),
                }
            }
        }
        None => {}
    }
    Ok(())
}

fn non_empty(text: &str) -> Option<String> {
    (!text.trim().is_empty()).then(|| text.to_owned())
}

fn convert_user(i: usize, message: &Message) -> Result<Vec<Block>, ContentError> {
    match &message.content {
        Some(Content::Text(text)) => Ok(non_empty(text).map(Block::Text).into_iter().collect()),
        Some(Content::Parts(parts)) => {
            let mut blocks = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                let cache_control = match part {
                    ContentPart::Text {
                        text,
                        cache_control,
                    } => {
                        blocks.extend(non_empty(text).map(Block::Text));
                        cache_control
                    }
                    ContentPart::ImageUrl {
                        image_url,
                        cache_control,
                    } => {
                        blocks.push(Block::Image(convert_image(&image_url.url).map_err(
                            |reason| {
                                ContentError::new(
                                    format!("messages[{i}].content[{j}].image_url"),
                                    format!("messages[{i}].content[{j}].image_url: {reason}"),
                                )
                            },
                        )?));
                        cache_control
                    }
                    ContentPart::Other { kind, .. } => return Err(foreign(i, j, kind)),
                };
                if let Some(marker) = cache_control
                    && !blocks.is_empty()
                {
                    blocks.push(Block::CachePoint(CacheTtl::of_marker(marker)));
                }
            }
            Ok(blocks)
        }
        None => Ok(Vec::new()),
    }
}

/// A `data:image/<format>;base64,<data>` URL as an image; the MIME type is case-insensitive
/// and `image/jpg` is taken for `image/jpeg`.
fn convert_image(url: &str) -> Result<Image, String> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Err("only data: URLs (base64) are supported on Bedrock deployments".to_owned());
    };
    let Some((header, data)) = rest.split_once(',') else {
        return Err("malformed data: URL (no comma)".to_owned());
    };
    let Some(mime) = header.strip_suffix(";base64") else {
        return Err("the data: URL must be base64-encoded".to_owned());
    };
    let format = match mime.to_ascii_lowercase().as_str() {
        "image/png" => ImageFormat::Png,
        "image/jpeg" | "image/jpg" => ImageFormat::Jpeg,
        "image/gif" => ImageFormat::Gif,
        "image/webp" => ImageFormat::Webp,
        other => {
            return Err(format!(
                "unsupported image type \"{other}\"; expected png, jpeg, gif or webp"
            ));
        }
    };
    // The Smithy decoder, as before the canonical model: its error text is part of the reply.
    let bytes = aws_smithy_types::base64::decode(data)
        .map_err(|e| format!("invalid base64 image data: {e}"))?;
    Ok(Image { format, bytes })
}

fn convert_assistant(i: usize, message: &Message) -> Result<Vec<Block>, ContentError> {
    let mut blocks: Vec<Block> = Vec::new();
    for (j, thought) in message.thinking_blocks.iter().flatten().enumerate() {
        let block = convert_thinking_block(i, j, thought)?;
        // A streamed block comes as pieces (texts, then its signature): a client that kept
        // every delta's pieces sends them back one after another; they are one block.
        match (blocks.last_mut(), block) {
            (Some(Block::Reasoning(open)), Block::Reasoning(piece)) if open.signature.is_none() => {
                open.text.push_str(&piece.text);
                open.signature = piece.signature;
            }
            (_, block) => blocks.push(block),
        }
    }
    convert_texts(i, message, Block::Text, Block::CachePoint, &mut blocks)?;
    for (j, call) in message.tool_calls.iter().flatten().enumerate() {
        blocks.push(Block::ToolUse(convert_tool_call(i, j, call)?));
    }
    Ok(blocks)
}

/// One of LiteLLM's `thinking_blocks` as the reasoning block it came from.
fn convert_thinking_block(
    i: usize,
    j: usize,
    block: &ThinkingBlock,
) -> Result<Block, ContentError> {
    match block {
        ThinkingBlock::Thinking {
            thinking,
            signature,
        } => Ok(Block::Reasoning(Reasoning {
            text: thinking.clone(),
            signature: signature.clone(),
        })),
        ThinkingBlock::RedactedThinking { data } => aws_smithy_types::base64::decode(data)
            .map(|data| Block::RedactedReasoning { data })
            .map_err(|e| {
                ContentError::new(
                    format!("messages[{i}].thinking_blocks[{j}].data"),
                    format!("messages[{i}].thinking_blocks[{j}].data: not base64 ({e})"),
                )
            }),
    }
}

/// A tool call of the history; empty `arguments` (some clients send `""` for no arguments)
/// become `{}`.
fn convert_tool_call(i: usize, j: usize, call: &ToolCall) -> Result<ToolUse, ContentError> {
    let arguments = call.function.arguments.trim();
    let input: Value = if arguments.is_empty() {
        Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_str(arguments).map_err(|e| {
            ContentError::new(
                format!("messages[{i}].tool_calls[{j}].function.arguments"),
                format!("messages[{i}].tool_calls[{j}].function.arguments: not valid JSON ({e})"),
            )
        })?
    };
    Ok(ToolUse {
        id: call.id.clone(),
        name: call.function.name.clone(),
        input,
    })
}

/// A `tool` message as one text result; text parts join with newlines, image parts (which
/// chat completions allows nowhere but in user messages) are left out.
fn convert_tool_result(message: &Message) -> Block {
    let text = match &message.content {
        Some(Content::Text(text)) => text.clone(),
        Some(Content::Parts(parts)) => parts
            .iter()
            .filter_map(|part| match part {
                ContentPart::Text { text, .. } => Some(text.as_str()),
                ContentPart::ImageUrl { .. } | ContentPart::Other { .. } => None,
            })
            .collect::<Vec<_>>()
            .join("\n"),
        None => String::new(),
    };
    Block::ToolResult(ToolResult {
        tool_use_id: message.tool_call_id.clone().unwrap_or_default(),
        content: vec![ToolResultContent::Text(text)],
        is_error: false,
    })
}

/// A declared function; without `parameters` it takes none, which is an empty object schema.
fn convert_tool(tool: &Tool) -> ToolSpec {
    let f = &tool.function;
    ToolSpec {
        name: f.name.clone(),
        description: f.description.clone(),
        input_schema: f
            .parameters
            .clone()
            .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
    }
}

fn convert_tool_choice(choice: &ToolChoice) -> content::ToolChoice {
    match choice {
        ToolChoice::None => content::ToolChoice::None,
        ToolChoice::Auto => content::ToolChoice::Auto,
        ToolChoice::Required => content::ToolChoice::Any,
        ToolChoice::Function { name } => content::ToolChoice::Tool { name: name.clone() },
    }
}

fn convert_inference(request: &ChatRequest) -> InferenceSettings {
    InferenceSettings {
        max_tokens: request.max_output_tokens(),
        temperature: request.temperature,
        top_p: request.top_p,
        stop_sequences: request
            .stop
            .as_ref()
            .map(|s| s.0.clone())
            .unwrap_or_default(),
        top_k: request.sampling_top_k(),
    }
}

/// An assistant turn's blocks as the reply message: texts concatenated (`null` when there
/// are none), tool uses as tool calls with their input as JSON text, reasoning as
/// `reasoning_content` (its texts concatenated) and `thinking_blocks`. A call of
/// `answer_tool` (the structured-output tool) is the answer: its input is the whole `content`
/// (text the model wrote besides, a preamble, is left out).
pub fn assistant_message(content: Vec<Block>, answer_tool: Option<&str>) -> AssistantMessage {
    let answered = content
        .iter()
        .any(|b| matches!(b, Block::ToolUse(call) if Some(call.name.as_str()) == answer_tool));
    let mut text: Option<String> = None;
    let mut reasoning: Option<String> = None;
    let mut thinking_blocks = Vec::new();
    let mut tool_calls = Vec::new();
    for block in content {
        match block {
            Block::Text(_) if answered => {}
            Block::Text(t) => append(&mut text, &t),
            Block::ToolUse(tool_use) if Some(tool_use.name.as_str()) == answer_tool => {
                append(&mut text, &tool_use.input.to_string())
            }
            Block::ToolUse(tool_use) => tool_calls.push(ToolCall {
                id: tool_use.id,
                kind: ToolType::Function,
                function: FunctionCall {
                    name: tool_use.name,
                    arguments: tool_use.input.to_string(),
                },
            }),
            Block::Reasoning(thought) => {
                append(&mut reasoning, &thought.text);
                thinking_blocks.push(ThinkingBlock::Thinking {
                    thinking: thought.text,
                    signature: thought.signature,
                });
            }
            Block::RedactedReasoning { data } => {
                thinking_blocks.push(ThinkingBlock::RedactedThinking {
                    data: aws_smithy_types::base64::encode(data),
                })
            }
            Block::Image(_) | Block::Document(_) | Block::ToolResult(_) | Block::CachePoint(_) => {}
        }
    }
    AssistantMessage {
        role: Role::Assistant,
        content: text,
        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
        reasoning_content: reasoning,
        thinking_blocks: (!thinking_blocks.is_empty()).then_some(thinking_blocks),
        ..AssistantMessage::default()
    }
}

fn append(to: &mut Option<String>, piece: &str) {
    match to {
        Some(text) => text.push_str(piece),
        None => *to = Some(piece.to_owned()),
    }
}

#[cfg(test)]
mod tests;
