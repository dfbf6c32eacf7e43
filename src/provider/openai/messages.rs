//! Anthropic Messages and Bedrock Converse bodies to OpenAI-compatible upstreams: the
//! conversation (through the canonical content model) as a chat-completions request
//! ([`chat_request_of`]), the reply and the stream's chunks back into the surface's shapes
//! (one stream mapper, [`ChatStream`], for both).
//!
//! Request: system texts → one `system` message; user texts and images → a user message's
//! parts (images as `data:` URLs); tool results → `tool` messages; assistant texts and tool
//! uses → an assistant message with `tool_calls`; reasoning and cache points have no
//! chat-completions field and are left out; documents are refused (no portable field).
//! Stream: the first chunk → `message_start`; content → a text block; each tool call → a
//! `tool_use` block (its arguments as `input_json_delta`); the finish reason closes the open
//! blocks; the usage chunk (or the end) → `message_delta` and `message_stop`.

use std::collections::VecDeque;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use serde_json::{Value, json};

use crate::anthropic::{MessagesEvent, MessagesRequest, MessagesUsage, to_conversation};
use crate::content::{
    self, Block, Conversation, ImageFormat, SystemBlock, ToolChoice, ToolResultContent,
};
use crate::openai::{
    ChatChunk, ChatCompletion, ChatRequest, FinishReason, Usage, parse_chat_request,
};
use crate::provider::{
    BedrockEvent, ChunkStream, Completion, ProviderError, Reply, StreamItem, message_id,
};

/// `request` as a chat-completions request for the group `model` (streamed when asked).
pub fn chat_request(request: &MessagesRequest) -> Result<ChatRequest, ProviderError> {
    let conversation = to_conversation(request).map_err(|e| ProviderError::BadRequest {
        param: Some(e.param),
        message: e.message,
    })?;
    let max_tokens = Some(request.max_tokens);
    chat_request_of(&conversation, &request.model, max_tokens, request.stream)
}

/// A canonical conversation as a chat-completions request for the group `model`: what every
/// surface that is not OpenAI's sends an OpenAI-compatible upstream.
pub fn chat_request_of(
    conversation: &Conversation,
    model: &str,
    max_tokens: Option<u64>,
    stream: bool,
) -> Result<ChatRequest, ProviderError> {
    let mut body = json!({
        "model": model,
        "messages": messages(conversation)?,
        "stream": stream,
    });
    if let Some(max_tokens) = max_tokens.or(conversation.inference.max_tokens) {
        body["max_tokens"] = json!(max_tokens);
    }
    let inference = &conversation.inference;
    if let Some(t) = inference.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(p) = inference.top_p {
        body["top_p"] = json!(p);
    }
    if !inference.stop_sequences.is_empty() {
        body["stop"] = json!(inference.stop_sequences);
    }
    if stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    if !conversation.tools.is_empty() {
        let tools: Vec<Value> = conversation.tools.iter().map(|t| json!({"type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.input_schema}})).collect();
        body["tools"] = json!(tools);
    }
    if let Some(choice) = &conversation.tool_choice {
        body["tool_choice"] = match choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::Any => json!("required"),
            ToolChoice::None => json!("none"),
            ToolChoice::Tool { name } => json!({"type": "function", "function": {"name": name}}),
        };
    }
    parse_chat_request(body.to_string().as_bytes()).map_err(|e| ProviderError::BadRequest {
        param: None,
        message: e.to_string(),
    })
}

fn data_url(format: ImageFormat, bytes: &[u8]) -> String {
    let mime = match format {
        ImageFormat::Png => "image/png",
        ImageFormat::Jpeg => "image/jpeg",
        ImageFormat::Gif => "image/gif",
        ImageFormat::Webp => "image/webp",
    };
    format!(
        "data:{mime};base64,{}",
        aws_smithy_types::base64::encode(bytes)
    )
}

fn messages(conversation: &Conversation) -> Result<Vec<Value>, ProviderError> {
    let mut out = Vec::new();
    let system: Vec<&str> = conversation
        .system
        .iter()
        .filter_map(|b| match b {
            SystemBlock::Text(text) => Some(text.as_str()),
            SystemBlock::CachePoint(_) => None,
        })
        .collect();
    if !system.is_empty() {
        out.push(json!({"role": "system", "content": system.join("\n")}));
    }
    for (i, message) in conversation.messages.iter().enumerate() {
        let mut parts = Vec::new();
        let mut calls = Vec::new();
        for block in &message.content {
            match block {
                Block::Text(text) => parts.push(json!({"type": "text", "text": text})),
                Block::Image(image) => parts.push(json!({"type": "image_url",
                    "image_url": {"url": data_url(image.format, &image.bytes)}})),
                Block::ToolUse(call) => calls.push(json!({"id": call.id, "type": "function",
                    "function": {"name": call.name, "arguments": call.input.to_string()}})),
                Block::ToolResult(result) => {
                    let text: Vec<String> = result
                        .content
                        .iter()
                        .map(|c| match c {
                            ToolResultContent::Text(text) => text.clone(),
                            ToolResultContent::Json(value) => value.to_string(),
                            ToolResultContent::Image(_) => "[image]".to_owned(),
                        })
                        .collect();
                    out.push(json!({"role": "tool", "tool_call_id": result.tool_use_id, "content": text.join("\n")}));
                }
                Block::Document(_) => {
                    return Err(ProviderError::bad_param(
                        format!("messages.{i}.content"),
                        "documents cannot be sent to an OpenAI-compatible deployment",
                    ));
                }
                Block::Reasoning(_) | Block::RedactedReasoning { .. } | Block::CachePoint(_) => {}
            }
        }
        match message.role {
            content::Role::User if !parts.is_empty() => {
                out.push(json!({"role": "user", "content": parts}))
            }
            content::Role::User => {}
            content::Role::Assistant => {
                let text: String = parts.iter().filter_map(|p| p["text"].as_str()).collect();
                let mut turn = json!({"role": "assistant", "content": text});
                if !calls.is_empty() {
                    turn["tool_calls"] = json!(calls);
                }
                out.push(turn);
            }
        }
    }
    Ok(out)
}

/// Anthropic's stop reason for a chat-completions finish reason.
fn stop_reason(reason: Option<FinishReason>) -> &'static str {
    match reason {
        Some(FinishReason::Length) => "max_tokens",
        Some(FinishReason::ToolCalls | FinishReason::FunctionCall) => "tool_use",
        Some(FinishReason::ContentFilter) => "refusal",
        Some(FinishReason::Stop) | None => "end_turn",
    }
}

/// OpenAI usage in Anthropic's terms: `input_tokens` leaves the cache's reads and writes out.
fn usage_of(usage: Option<&Usage>) -> MessagesUsage {
    let Some(usage) = usage else {
        return MessagesUsage::default();
    };
    let read = usage.cache_read();
    let written = usage.cache_creation_input_tokens.unwrap_or(0);
    MessagesUsage {
        input_tokens: usage.prompt_tokens.saturating_sub(read + written),
        output_tokens: usage.completion_tokens,
        cache_creation_input_tokens: written,
        cache_read_input_tokens: read,
    }
}

/// A chat completion as Anthropic's `message`, `model` being the deployment's model id.
pub fn message_reply(completion: ChatCompletion, model: &str) -> Completion {
    let choice = completion.choices.into_iter().next();
    let (message, finish) = match choice {
        Some(choice) => (Some(choice.message), choice.finish_reason),
        None => (None, None),
    };
    let mut content = Vec::new();
    if let Some(message) = message {
        if let Some(text) = message.content.filter(|t| !t.is_empty()) {
            content.push(json!({"type": "text", "text": text}));
        }
        for call in message.tool_calls.into_iter().flatten() {
            let input: Value =
                serde_json::from_str(&call.function.arguments).unwrap_or_else(|_| json!({}));
            content.push(json!({"type": "tool_use", "id": call.id, "name": call.function.name, "input": input}));
        }
    }
    let usage = usage_of(completion.usage.as_ref());
    let reply = json!({"id": message_id(), "type": "message", "role": "assistant", "model": model,
        "content": content, "stop_reason": stop_reason(finish), "stop_sequence": null,
        "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}});
    Completion {
        response: Reply::Messages(Bytes::from(reply.to_string())),
        usage: Some(usage.as_settled()),
    }
}

/// A chat completion as Converse's reply.
pub fn converse_reply(completion: ChatCompletion) -> Completion {
    let choice = completion.choices.into_iter().next();
    let (message, finish) = match choice {
        Some(choice) => (Some(choice.message), choice.finish_reason),
        None => (None, None),
    };
    let mut blocks = Vec::new();
    if let Some(message) = message {
        if let Some(text) = message.reasoning_content.filter(|t| !t.is_empty()) {
            blocks.push(Block::Reasoning(content::Reasoning {
                text,
                signature: None,
            }));
        }
        if let Some(text) = message.content.filter(|t| !t.is_empty()) {
            blocks.push(Block::Text(text));
        }
        for call in message.tool_calls.into_iter().flatten() {
            let input: Value =
                serde_json::from_str(&call.function.arguments).unwrap_or_else(|_| json!({}));
            blocks.push(Block::ToolUse(content::ToolUse {
                id: call.id,
                name: call.function.name,
                input,
            }));
        }
    }
    let stop = match stop_reason(finish) {
        "refusal" => "content_filtered",
        other => other,
    };
    let usage = completion.usage;
    Completion {
        response: Reply::Bedrock {
            body: crate::bedrock_runtime::reply::converse_reply(&blocks, stop, usage.as_ref(), 0),
            content_type: "application/json".into(),
        },
        usage,
    }
}

/// An OpenAI chunk stream as Anthropic events.
pub fn message_stream(chunks: ChunkStream, model: String) -> ChunkStream {
    events_stream(chunks, ChatStream::new(model))
}

/// An OpenAI chunk stream as ConverseStream events.
pub fn converse_stream(chunks: ChunkStream) -> ChunkStream {
    events_stream(chunks, ChatStream::converse())
}

fn events_stream(chunks: ChunkStream, state: ChatStream) -> ChunkStream {
    let mapper = ChunkMapper {
        chunks,
        state,
        pending: VecDeque::new(),
        done: false,
    };
    Box::pin(stream::unfold(mapper, ChunkMapper::next_item))
}

/// The stream format a chat-completions stream is mapped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    /// Anthropic's Messages events.
    Anthropic,
    /// Bedrock's ConverseStream events.
    Converse,
}

/// One mapped event: its name (Anthropic's `type`, Converse's `:event-type`) and its JSON.
pub type MappedEvent = (&'static str, Value);

/// What a chat-completions stream mapped to Anthropic's (or Converse's) events has seen. The
/// two formats have the same blocks (a text block, a block per tool call, each opened,
/// filled and closed) and the same stop reasons; they differ in their names and in Converse
/// opening a text block without an event.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatStream {
    wire: Wire,
    model: String,
    started: bool,
    /// The index of the open text block.
    text: Option<usize>,
    /// Tool calls open: (OpenAI tool-call index, block index).
    tools: Vec<(u32, usize)>,
    blocks: usize,
    stop_reason: &'static str,
}

impl ChatStream {
    /// Anthropic's events for a reply of `model`.
    pub fn new(model: String) -> Self {
        ChatStream {
            wire: Wire::Anthropic,
            model,
            started: false,
            text: None,
            tools: Vec::new(),
            blocks: 0,
            stop_reason: "end_turn",
        }
    }

    /// ConverseStream's events.
    pub fn converse() -> Self {
        ChatStream {
            wire: Wire::Converse,
            ..ChatStream::new(String::new())
        }
    }

    fn start(&mut self, events: &mut Vec<MappedEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        events.push(match self.wire {
            Wire::Anthropic => (
                "message_start",
                json!({"type": "message_start", "message": {"id": message_id(), "type": "message",
                "role": "assistant", "model": self.model, "content": [], "stop_reason": null,
                "stop_sequence": null, "usage": {"input_tokens": 0, "output_tokens": 0}}}),
            ),
            Wire::Converse => ("messageStart", json!({"role": "assistant"})),
        });
    }

    fn block_stop(&self, index: usize) -> MappedEvent {
        match self.wire {
            Wire::Anthropic => (
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ),
            Wire::Converse => ("contentBlockStop", json!({"contentBlockIndex": index})),
        }
    }

    fn close_all(&mut self, events: &mut Vec<MappedEvent>) {
        let open: Vec<usize> = self
            .text
            .take()
            .into_iter()
            .chain(self.tools.drain(..).map(|(_, i)| i))
            .collect();
        for index in open {
            events.push(self.block_stop(index));
        }
    }

    fn text_delta(&self, index: usize, text: &str) -> MappedEvent {
        match self.wire {
            Wire::Anthropic => (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}),
            ),
            Wire::Converse => (
                "contentBlockDelta",
                json!({"contentBlockIndex": index, "delta": {"text": text}}),
            ),
        }
    }

    fn tool_start(&self, index: usize, id: &str, name: &str) -> MappedEvent {
        match self.wire {
            Wire::Anthropic => (
                "content_block_start",
                json!({"type": "content_block_start", "index": index, "content_block": {
                "type": "tool_use", "id": id, "name": name, "input": {}}}),
            ),
            Wire::Converse => (
                "contentBlockStart",
                json!({"contentBlockIndex": index, "start": {"toolUse": {"toolUseId": id, "name": name}}}),
            ),
        }
    }

    fn tool_delta(&self, index: usize, arguments: &str) -> MappedEvent {
        match self.wire {
            Wire::Anthropic => (
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index,
                "delta": {"type": "input_json_delta", "partial_json": arguments}}),
            ),
            Wire::Converse => (
                "contentBlockDelta",
                json!({"contentBlockIndex": index, "delta": {"toolUse": {"input": arguments}}}),
            ),
        }
    }

    /// The events of one chunk.
    pub fn chunk(&mut self, chunk: &ChatChunk) -> Vec<MappedEvent> {
        let mut events = Vec::new();
        self.start(&mut events);
        for choice in &chunk.choices {
            if let Some(text) = choice.delta.content.as_deref().filter(|t| !t.is_empty()) {
                let index = match self.text {
                    Some(index) => index,
                    None => {
                        let index = self.blocks;
                        self.blocks += 1;
                        self.text = Some(index);
                        if self.wire == Wire::Anthropic {
                            events.push(("content_block_start", json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})));
                        }
                        index
                    }
                };
                events.push(self.text_delta(index, text));
            }
            for call in choice.delta.tool_calls.iter().flatten() {
                let index = match self.tools.iter().find(|(t, _)| *t == call.index) {
                    Some((_, index)) => *index,
                    None => {
                        if let Some(text) = self.text.take() {
                            events.push(self.block_stop(text));
                        }
                        let index = self.blocks;
                        self.blocks += 1;
                        self.tools.push((call.index, index));
                        let id = call.id.as_deref().unwrap_or_default();
                        let name = call.function.name.as_deref().unwrap_or_default();
                        events.push(self.tool_start(index, id, name));
                        index
                    }
                };
                if !call.function.arguments.is_empty() {
                    events.push(self.tool_delta(index, &call.function.arguments));
                }
            }
            if choice.finish_reason.is_some() {
                self.stop_reason = stop_reason(choice.finish_reason);
                self.close_all(&mut events);
            }
        }
        events
    }

    /// The events that end the message, with its usage.
    pub fn end(&mut self, usage: Option<&Usage>) -> Vec<MappedEvent> {
        let mut events = Vec::new();
        self.start(&mut events);
        self.close_all(&mut events);
        match self.wire {
            Wire::Anthropic => {
                let usage = usage_of(usage);
                events.push(("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": self.stop_reason, "stop_sequence": null},
                    "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}})));
                events.push(("message_stop", json!({"type": "message_stop"})));
            }
            Wire::Converse => {
                let reason = match self.stop_reason {
                    "refusal" => "content_filtered",
                    other => other,
                };
                events.push(("messageStop", json!({"stopReason": reason})));
                events.push((
                    "metadata",
                    json!({"usage": crate::bedrock_runtime::reply::usage_json(usage), "metrics": {"latencyMs": 0}}),
                ));
            }
        }
        events
    }
}

struct ChunkMapper {
    chunks: ChunkStream,
    state: ChatStream,
    pending: VecDeque<StreamItem>,
    done: bool,
}

impl ChunkMapper {
    fn push(&mut self, events: Vec<MappedEvent>) {
        for (name, data) in events {
            let data = Bytes::from(data.to_string());
            self.pending.push_back(match self.state.wire {
                Wire::Anthropic => StreamItem::Event(MessagesEvent {
                    name: name.to_owned(),
                    data,
                }),
                Wire::Converse => StreamItem::Bedrock(BedrockEvent {
                    event_type: name,
                    payload: data,
                    usage: None,
                }),
            });
        }
    }

    async fn next_item(mut self) -> Option<(Result<StreamItem, ProviderError>, Self)> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some((Ok(item), self));
            }
            if self.done {
                return None;
            }
            match self.chunks.next().await {
                Some(Ok(StreamItem::Chunk(chunk))) => {
                    let events = self.state.chunk(&chunk);
                    self.push(events);
                }
                Some(Ok(StreamItem::Usage { usage, .. })) => {
                    let events = self.state.end(Some(&usage));
                    self.push(events);
                    self.pending
                        .push_back(StreamItem::Usage { usage, chunk: None });
                    self.done = true;
                }
                Some(Ok(StreamItem::Event(_) | StreamItem::Bedrock(_))) => {}
                Some(Err(error)) => {
                    self.done = true;
                    return Some((Err(error), self));
                }
                None => {
                    let events = self.state.end(None);
                    self.push(events);
                    self.done = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anthropic::parse_messages_request;
    use crate::openai::Role;

    #[test]
    fn a_tool_loop_becomes_chat_messages() {
        let body = json!({"model": "compat", "max_tokens": 64, "system": "Be brief.",
            "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
            "messages": [
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"city": "Paris"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]}]});
        let request = parse_messages_request(body.to_string().as_bytes(), None).unwrap();
        let chat = chat_request(&request).unwrap();
        let roles: Vec<Role> = chat.messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [Role::System, Role::User, Role::Assistant, Role::Tool]
        );
        let call = &chat.messages[2].tool_calls.as_ref().unwrap()[0];
        assert_eq!(
            (call.id.as_str(), call.function.arguments.as_str()),
            ("t1", "{\"city\":\"Paris\"}")
        );
        assert_eq!(chat.messages[3].tool_call_id.as_deref(), Some("t1"));
        assert_eq!(chat.max_tokens, Some(64));
    }

    #[test]
    fn chunks_become_a_text_block_and_the_end_events() {
        let mut stream = ChatStream::new("m".into());
        let chunk: ChatChunk =
            serde_json::from_value(json!({"id": "c", "created": 1, "model": "x",
            "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": null}]}))
            .unwrap();
        let stop: ChatChunk = serde_json::from_value(json!({"id": "c", "created": 1, "model": "x",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        .unwrap();
        let mut events = stream.chunk(&chunk);
        events.extend(stream.chunk(&stop));
        events.extend(stream.end(Some(&Usage::new(3, 1))));
        let names: Vec<&str> = events.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(events[4].1["usage"]["output_tokens"], 1);
        assert_eq!(events[4].1["delta"]["stop_reason"], "end_turn");
    }
}
