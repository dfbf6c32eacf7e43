//! Anthropic Messages bodies to Bedrock's other models (Nova, Llama, …) through Converse: the
//! body through the canonical content model ([`crate::anthropic::to_conversation`], then
//! [`super::convert_conversation`]), the reply and the stream's events back into Anthropic's
//! shapes.
//!
//! Stream mapping: `messageStart` → `message_start`; a block's first event (its
//! `contentBlockStart` for a tool call, its first delta for text or reasoning) →
//! `content_block_start`; text, tool input, reasoning text and signature deltas →
//! `text_delta`, `input_json_delta`, `thinking_delta`, `signature_delta`; `contentBlockStop` →
//! `content_block_stop`; `messageStop` holds the stop reason until `metadata`, whose usage
//! ends the stream with `message_delta` and `message_stop`.

use std::collections::VecDeque;

use aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{
    ContentBlockDelta, ContentBlockStart, ConverseOutput as ConverseReply, ConverseStreamOutput,
    ReasoningContentBlockDelta, StopReason, TokenUsage,
};
use bytes::Bytes;
use futures_util::stream;
use serde_json::{Value, json};

use super::{
    BedrockProvider, convert_conversation, convert_converse_error, convert_converse_stream_error,
    convert_output_block, convert_stream_event_error,
};
use crate::anthropic::{
    MessagesEvent, MessagesRequest, MessagesUsage, block_json, to_conversation,
};
use crate::config::Deployment;
use crate::provider::{ChunkStream, Completion, ProviderError, Reply, StreamItem, message_id};

impl BedrockProvider {
    /// Calls Converse with `request` converted, and answers in Anthropic's `message` shape.
    pub(super) async fn messages_by_converse(
        &self,
        deployment: &Deployment,
        request: &MessagesRequest,
    ) -> Result<Completion, ProviderError> {
        let converse = convert_conversation(conversation(request)?, &deployment.model)?;
        let output = self
            .converse_call(deployment, converse)?
            .send()
            .await
            .map_err(convert_converse_error)?;
        let blocks: Vec<Value> = match output.output() {
            Some(ConverseReply::Message(message)) => message
                .content()
                .iter()
                .filter_map(convert_output_block)
                .filter_map(|b| block_json(&b))
                .collect(),
            _ => Vec::new(),
        };
        let usage = output.usage().map(messages_usage).unwrap_or_default();
        let reply = json!({
            "id": message_id(), "type": "message", "role": "assistant", "model": deployment.model,
            "content": blocks, "stop_reason": stop_reason(output.stop_reason()), "stop_sequence": null,
            "usage": usage_json(&usage),
        });
        Ok(Completion {
            response: Reply::Messages(Bytes::from(reply.to_string())),
            usage: Some(usage.as_settled()),
        })
    }

    /// Calls ConverseStream and reads up to its first content event, so a failure before it
    /// fails over like any call; the events come out in Anthropic's shapes.
    pub(super) async fn messages_stream_by_converse(
        &self,
        deployment: &Deployment,
        request: &MessagesRequest,
    ) -> Result<ChunkStream, ProviderError> {
        let converse = convert_conversation(conversation(request)?, &deployment.model)?;
        let output = self
            .converse_stream_call(deployment, converse)?
            .send()
            .await
            .map_err(convert_converse_stream_error)?;
        let mut reader = EventMapper {
            events: output.stream,
            state: MessagesStream::new(deployment.model.clone()),
            pending: VecDeque::new(),
            finished: false,
        };
        // Up to the first content event: `message_start` alone is not an answer yet.
        while reader.before_content() && reader.read().await? {}
        Ok(Box::pin(stream::unfold(reader, EventMapper::next_item)))
    }
}

fn conversation(request: &MessagesRequest) -> Result<crate::content::Conversation, ProviderError> {
    to_conversation(request).map_err(|e| ProviderError::BadRequest {
        param: Some(e.param),
        message: e.message,
    })
}

/// Anthropic's stop reason for Converse's.
pub fn stop_reason(reason: &StopReason) -> &'static str {
    match reason {
        StopReason::ToolUse => "tool_use",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ModelContextWindowExceeded => "model_context_window_exceeded",
        StopReason::ContentFiltered | StopReason::GuardrailIntervened => "refusal",
        _ => "end_turn",
    }
}

fn messages_usage(usage: &TokenUsage) -> MessagesUsage {
    let count = |n: i32| u64::try_from(n).unwrap_or(0);
    let (read, written) = (
        usage.cache_read_input_tokens().map_or(0, count),
        usage.cache_write_input_tokens().map_or(0, count),
    );
    MessagesUsage {
        // Converse's input count includes neither cache reads nor writes, like Anthropic's.
        input_tokens: count(usage.input_tokens()),
        output_tokens: count(usage.output_tokens()),
        cache_creation_input_tokens: written,
        cache_read_input_tokens: read,
    }
}

fn usage_json(usage: &MessagesUsage) -> Value {
    json!({"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens})
}

/// What a Converse stream mapped to Anthropic's events has seen.
#[derive(Debug, Clone, PartialEq)]
pub struct MessagesStream {
    model: String,
    /// The blocks open: (Converse index, Anthropic index).
    open: Vec<(i32, usize)>,
    /// How many blocks were started so far (the next block's Anthropic index).
    started: usize,
    stop_reason: &'static str,
}

impl MessagesStream {
    pub fn new(model: String) -> Self {
        MessagesStream {
            model,
            open: Vec::new(),
            started: 0,
            stop_reason: "end_turn",
        }
    }

    /// The Anthropic index of Converse block `block`, starting it (as `start`) if it is new.
    fn index(&mut self, block: i32, start: Value, events: &mut Vec<Value>) -> usize {
        if let Some((_, index)) = self.open.iter().find(|(b, _)| *b == block) {
            return *index;
        }
        let index = self.started;
        self.open.push((block, index));
        self.started += 1;
        events.push(json!({"type": "content_block_start", "index": index, "content_block": start}));
        index
    }

    /// The Anthropic events of one Converse event.
    pub fn events(&mut self, event: &ConverseStreamOutput) -> Vec<Value> {
        let mut events = Vec::new();
        match event {
            ConverseStreamOutput::MessageStart(_) => events.push(json!({"type": "message_start",
                "message": {"id": message_id(), "type": "message", "role": "assistant", "model": self.model,
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": 0, "output_tokens": 0}}})),
            ConverseStreamOutput::ContentBlockStart(start) => {
                if let Some(ContentBlockStart::ToolUse(call)) = start.start() {
                    let block = json!({"type": "tool_use", "id": call.tool_use_id(), "name": call.name(), "input": {}});
                    self.index(start.content_block_index(), block, &mut events);
                }
            }
            ConverseStreamOutput::ContentBlockDelta(delta) => {
                let block = delta.content_block_index();
                let (start, piece) = match delta.delta() {
                    Some(ContentBlockDelta::Text(text)) => (
                        json!({"type": "text", "text": ""}),
                        json!({"type": "text_delta", "text": text}),
                    ),
                    Some(ContentBlockDelta::ToolUse(call)) => (
                        json!({"type": "tool_use", "input": {}}),
                        json!({"type": "input_json_delta", "partial_json": call.input()}),
                    ),
                    Some(ContentBlockDelta::ReasoningContent(reasoning)) => (
                        json!({"type": "thinking", "thinking": "", "signature": ""}),
                        match reasoning {
                            ReasoningContentBlockDelta::Text(text) => json!({"type": "thinking_delta", "thinking": text}),
                            ReasoningContentBlockDelta::Signature(signature) => {
                                json!({"type": "signature_delta", "signature": signature})
                            }
                            _ => return events,
                        },
                    ),
                    _ => return events,
                };
                let index = self.index(block, start, &mut events);
                events.push(json!({"type": "content_block_delta", "index": index, "delta": piece}));
            }
            ConverseStreamOutput::ContentBlockStop(stop) => {
                let block = stop.content_block_index();
                if let Some(at) = self.open.iter().position(|(b, _)| *b == block) {
                    let (_, index) = self.open.remove(at);
                    events.push(json!({"type": "content_block_stop", "index": index}));
                }
            }
            ConverseStreamOutput::MessageStop(stop) => self.stop_reason = stop_reason(stop.stop_reason()),
            ConverseStreamOutput::Metadata(metadata) => {
                let usage = metadata.usage().map(messages_usage).unwrap_or_default();
                events.push(json!({"type": "message_delta",
                    "delta": {"stop_reason": self.stop_reason, "stop_sequence": null},
                    "usage": usage_json(&usage)}));
                events.push(json!({"type": "message_stop"}));
            }
            _ => {}
        }
        events
    }
}

/// A ConverseStream being turned into Anthropic events.
struct EventMapper {
    events: EventReceiver<ConverseStreamOutput, ConverseStreamOutputError>,
    state: MessagesStream,
    /// Items mapped and not yet handed out.
    pending: VecDeque<StreamItem>,
    finished: bool,
}

impl EventMapper {
    /// Reads one Converse event into `pending`; `false` at the end of the stream.
    async fn read(&mut self) -> Result<bool, ProviderError> {
        let Some(event) = self
            .events
            .recv()
            .await
            .map_err(convert_stream_event_error)?
        else {
            return Ok(false);
        };
        for data in self.state.events(&event) {
            self.pending.push_back(StreamItem::Event(event_of(data)));
        }
        if let ConverseStreamOutput::Metadata(metadata) = &event
            && let Some(usage) = metadata.usage()
        {
            let usage = messages_usage(usage).as_settled();
            self.pending
                .push_back(StreamItem::Usage { usage, chunk: None });
        }
        Ok(true)
    }

    /// Whether nothing but `message_start` has been read yet.
    fn before_content(&self) -> bool {
        self.pending
            .iter()
            .all(|item| matches!(item, StreamItem::Event(e) if e.name == "message_start"))
    }

    async fn next_item(mut self) -> Option<(Result<StreamItem, ProviderError>, Self)> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some((Ok(item), self));
            }
            if self.finished {
                return None;
            }
            match self.read().await {
                Ok(true) => {}
                Ok(false) => return None,
                Err(error) => {
                    self.finished = true;
                    return Some((Err(error), self));
                }
            }
        }
    }
}

fn event_of(data: Value) -> MessagesEvent {
    let name = data
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("unknown")
        .to_owned();
    MessagesEvent {
        name,
        data: Bytes::from(data.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_bedrockruntime::types::{
        ContentBlockDeltaEvent, ContentBlockStartEvent, ContentBlockStopEvent, MessageStopEvent,
        ToolUseBlockDelta, ToolUseBlockStart,
    };

    #[test]
    fn a_text_block_then_a_tool_call_get_anthropic_indexes() {
        let mut stream = MessagesStream::new("us.amazon.nova-lite-v1:0".into());
        let text = ConverseStreamOutput::ContentBlockDelta(
            ContentBlockDeltaEvent::builder()
                .content_block_index(0)
                .delta(ContentBlockDelta::Text("Let me look.".into()))
                .build()
                .unwrap(),
        );
        let stop = |i| {
            ConverseStreamOutput::ContentBlockStop(
                ContentBlockStopEvent::builder()
                    .content_block_index(i)
                    .build()
                    .unwrap(),
            )
        };
        let start = ConverseStreamOutput::ContentBlockStart(
            ContentBlockStartEvent::builder()
                .content_block_index(1)
                .start(ContentBlockStart::ToolUse(
                    ToolUseBlockStart::builder()
                        .tool_use_id("t1")
                        .name("get_weather")
                        .build()
                        .unwrap(),
                ))
                .build()
                .unwrap(),
        );
        let input = ConverseStreamOutput::ContentBlockDelta(
            ContentBlockDeltaEvent::builder()
                .content_block_index(1)
                .delta(ContentBlockDelta::ToolUse(
                    ToolUseBlockDelta::builder()
                        .input("{\"city\":")
                        .build()
                        .unwrap(),
                ))
                .build()
                .unwrap(),
        );
        let events: Vec<Value> = [text, stop(0), start, input, stop(1)]
            .iter()
            .flat_map(|e| stream.events(e))
            .collect();
        let shape: Vec<(String, u64)> = events
            .iter()
            .map(|e| {
                (
                    e["type"].as_str().unwrap().to_owned(),
                    e["index"].as_u64().unwrap(),
                )
            })
            .collect();
        let expected = [
            ("content_block_start", 0),
            ("content_block_delta", 0),
            ("content_block_stop", 0),
            ("content_block_start", 1),
            ("content_block_delta", 1),
            ("content_block_stop", 1),
        ];
        assert_eq!(shape, expected.map(|(t, i)| (t.to_owned(), i)));
        assert_eq!(events[3]["content_block"]["name"], "get_weather");
        assert_eq!(
            events[4]["delta"],
            json!({"type": "input_json_delta", "partial_json": "{\"city\":"})
        );
        let end = ConverseStreamOutput::MessageStop(
            MessageStopEvent::builder()
                .stop_reason(StopReason::ToolUse)
                .build()
                .unwrap(),
        );
        assert!(stream.events(&end).is_empty());
        assert_eq!(stream.stop_reason, "tool_use");
    }
}
