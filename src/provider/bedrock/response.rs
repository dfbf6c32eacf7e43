//! Converse replies and ConverseStream events → OpenAI completions and chunks.
//!
//! A whole reply's content passes through the canonical blocks ([`crate::content`]); stream
//! events are deltas of blocks, not blocks, and map straight to chunks.

use aws_sdk_bedrockruntime::operation::converse::ConverseOutput;
use aws_sdk_bedrockruntime::types::{
    ContentBlockDelta, ContentBlockStart, ConverseOutput as ConverseReply, ConverseStreamOutput,
    StopReason, TokenUsage,
};

use super::blocks::convert_output_block;
use crate::openai::{
    ChatChunk, ChatCompletion, Choice, Delta, FinishReason, FunctionCallDelta, Role, ToolCallDelta,
    ToolType, Usage, assistant_message,
};
use crate::provider::StreamItem;

/// The OpenAI finish reason for a Converse stop reason.
pub fn convert_stop_reason(stop_reason: &StopReason) -> FinishReason {
    match stop_reason {
        StopReason::EndTurn | StopReason::StopSequence => FinishReason::Stop,
        StopReason::ToolUse => FinishReason::ToolCalls,
        StopReason::MaxTokens | StopReason::ModelContextWindowExceeded => FinishReason::Length,
        StopReason::ContentFiltered | StopReason::GuardrailIntervened => {
            FinishReason::ContentFilter
        }
        // The model produced output it could not finish cleanly; what came is all there is.
        StopReason::MalformedModelOutput | StopReason::MalformedToolUse => FinishReason::Stop,
        // `Unknown` (a reason newer than this SDK) and future variants of this
        // `#[non_exhaustive]` enum: the generation did end, so "stop" is the honest answer.
        other => {
            tracing::debug!(
                stop_reason = other.as_str(),
                "unrecognised Bedrock stop reason"
            );
            FinishReason::Stop
        }
    }
}

/// OpenAI usage from Converse token counts.
pub fn convert_usage(usage: &TokenUsage) -> Usage {
    let input = u64::try_from(usage.input_tokens()).unwrap_or(0);
    let output = u64::try_from(usage.output_tokens()).unwrap_or(0);
    Usage::new(input, output)
}

/// A Converse reply as a `chat.completion`, `model` being the deployment's model id; its
/// content goes through the canonical blocks ([`convert_output_block`], then
/// [`assistant_message`]).
pub fn convert_response(
    output: &ConverseOutput,
    id: String,
    created: u64,
    model: &str,
) -> ChatCompletion {
    let content = match output.output() {
        Some(ConverseReply::Message(message)) => message
            .content()
            .iter()
            .filter_map(convert_output_block)
            .collect(),
        // No output, or an output kind newer than this SDK (`#[non_exhaustive]`): no message.
        _ => Vec::new(),
    };
    ChatCompletion {
        id,
        object: "chat.completion",
        created,
        model: model.to_owned(),
        choices: vec![Choice {
            index: 0,
            message: assistant_message(content),
            finish_reason: Some(convert_stop_reason(output.stop_reason())),
        }],
        usage: output.usage().map(convert_usage),
    }
}

/// What a stream has seen so far: ids for its chunks and which content blocks are tool calls.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamState {
    id: String,
    created: u64,
    model: String,
    /// Content block index → OpenAI tool-call index, in order of appearance.
    tool_blocks: Vec<(i32, u32)>,
}

impl StreamState {
    /// The state of a new stream whose chunks carry `id`, `created` and `model`.
    pub fn new(id: String, created: u64, model: String) -> Self {
        StreamState {
            id,
            created,
            model,
            tool_blocks: Vec::new(),
        }
    }

    fn chunk(&self, delta: Delta, finish_reason: Option<FinishReason>) -> StreamItem {
        StreamItem::Chunk(ChatChunk::new(
            &self.id,
            self.created,
            &self.model,
            delta,
            finish_reason,
        ))
    }

    fn tool_index(&self, block: i32) -> Option<u32> {
        self.tool_blocks
            .iter()
            .find(|(b, _)| *b == block)
            .map(|(_, t)| *t)
    }
}

/// One ConverseStream event as an OpenAI stream item, or `None` for events with nothing to
/// say in chat-completions terms (block stops, reasoning, unknown events).
pub fn convert_stream_event(
    state: &mut StreamState,
    event: &ConverseStreamOutput,
) -> Option<StreamItem> {
    match event {
        ConverseStreamOutput::MessageStart(_) => Some(state.chunk(
            Delta {
                role: Some(Role::Assistant),
                content: Some(String::new()),
                tool_calls: None,
            },
            None,
        )),
        ConverseStreamOutput::ContentBlockStart(start) => match start.start() {
            Some(ContentBlockStart::ToolUse(tool_use)) => {
                let index = u32::try_from(state.tool_blocks.len()).unwrap_or(u32::MAX);
                state.tool_blocks.push((start.content_block_index(), index));
                Some(state.chunk(
                    tool_call_delta(ToolCallDelta {
                        index,
                        id: Some(tool_use.tool_use_id().to_owned()),
                        kind: Some(ToolType::Function),
                        function: FunctionCallDelta {
                            name: Some(tool_use.name().to_owned()),
                            arguments: String::new(),
                        },
                    }),
                    None,
                ))
            }
            _ => None,
        },
        ConverseStreamOutput::ContentBlockDelta(delta) => match delta.delta() {
            Some(ContentBlockDelta::Text(text)) => Some(state.chunk(
                Delta {
                    content: Some(text.clone()),
                    ..Delta::default()
                },
                None,
            )),
            Some(ContentBlockDelta::ToolUse(tool_use)) => {
                let index = state.tool_index(delta.content_block_index())?;
                Some(state.chunk(
                    tool_call_delta(ToolCallDelta {
                        index,
                        id: None,
                        kind: None,
                        function: FunctionCallDelta {
                            name: None,
                            arguments: tool_use.input().to_owned(),
                        },
                    }),
                    None,
                ))
            }
            _ => None,
        },
        ConverseStreamOutput::MessageStop(stop) => Some(state.chunk(
            Delta::default(),
            Some(convert_stop_reason(stop.stop_reason())),
        )),
        ConverseStreamOutput::Metadata(metadata) => metadata.usage().map(|usage| {
            let usage = convert_usage(usage);
            StreamItem::Usage {
                usage,
                chunk: Some(ChatChunk::usage_chunk(
                    &state.id,
                    state.created,
                    &state.model,
                    usage,
                )),
            }
        }),
        ConverseStreamOutput::ContentBlockStop(_) => None,
        _ => None,
    }
}

fn tool_call_delta(call: ToolCallDelta) -> Delta {
    Delta {
        tool_calls: Some(vec![call]),
        ..Delta::default()
    }
}
