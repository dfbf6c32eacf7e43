//! Converse replies and ConverseStream events → OpenAI completions and chunks.
//!
//! A whole reply's content passes through the canonical blocks ([`crate::content`]); stream
//! events are deltas of blocks, not blocks, and map straight to chunks.

use aws_sdk_bedrockruntime::operation::converse::ConverseOutput;
use aws_sdk_bedrockruntime::types::{
    ContentBlockDelta, ContentBlockDeltaEvent, ContentBlockStart, ContentBlockStartEvent,
    ConverseOutput as ConverseReply, ConverseStreamOutput, ReasoningContentBlockDelta, StopReason,
    TokenUsage,
};

use super::blocks::convert_output_block;
use super::options::AnswerTool;
use crate::content::Block;
use crate::openai::{
    ChatChunk, ChatCompletion, Choice, Delta, FinishReason, FunctionCallDelta, Role, ThinkingBlock,
    ToolCallDelta, ToolType, Usage, assistant_message,
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

/// OpenAI usage from Converse token counts: `inputTokens` counts neither the cache's reads
/// nor its writes, OpenAI's `prompt_tokens` counts both.
pub fn convert_usage(usage: &TokenUsage) -> Usage {
    let count = |n: i32| u64::try_from(n).unwrap_or(0);
    Usage::with_cache(
        count(usage.input_tokens()),
        usage.cache_read_input_tokens().map_or(0, count),
        usage.cache_write_input_tokens().map_or(0, count),
        count(usage.output_tokens()),
    )
}

/// A Converse reply as a `chat.completion`, `model` being the deployment's model id; its
/// content goes through the canonical blocks ([`convert_output_block`], then
/// [`assistant_message`]). A call of `answer_tool` (the structured-output tool) is the
/// answer's text, and the reply a plain `stop`.
pub fn convert_response(
    output: &ConverseOutput,
    id: String,
    created: u64,
    model: &str,
    answer_tool: Option<AnswerTool>,
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
    let answered = content.iter().any(
        |b| matches!(b, Block::ToolUse(call) if answer_tool.is_some_and(|t| t.name == call.name)),
    );
    let message = assistant_message(content, answer_tool.map(|t| t.name));
    let finish_reason = answered_finish(
        convert_stop_reason(output.stop_reason()),
        answered,
        message.tool_calls.is_some(),
    );
    let mut extra = serde_json::Map::new();
    if let Some(tier) = output.service_tier() {
        extra.insert("service_tier".into(), tier.r#type().as_str().into());
    }
    ChatCompletion {
        id,
        object: "chat.completion",
        created,
        model: model.to_owned(),
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: Some(finish_reason),
            extra: serde_json::Map::new(),
        }],
        usage: output.usage().map(convert_usage),
        extra,
    }
}

/// What a stream has seen so far: ids for its chunks, which content blocks are tool calls,
/// and which one is the structured answer.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamState {
    id: String,
    created: u64,
    model: String,
    /// Content block index → OpenAI tool-call index, in order of appearance.
    tool_blocks: Vec<(i32, u32)>,
    /// The structured-output tool, when the answer is asked through one.
    answer_tool: Option<AnswerTool>,
    /// The content block that calls `answer_tool`: its input streams as content.
    answer_block: Option<i32>,
}

impl StreamState {
    /// The state of a new stream whose chunks carry `id`, `created` and `model`.
    pub fn new(id: String, created: u64, model: String) -> Self {
        StreamState {
            id,
            created,
            model,
            tool_blocks: Vec::new(),
            answer_tool: None,
            answer_block: None,
        }
    }

    /// The same state, with calls of `tool` streamed as the answer's text (and, when the tool
    /// is forced, the model's other text left out: it is a preamble, not the answer).
    pub fn answering_with(mut self, tool: Option<AnswerTool>) -> Self {
        self.answer_tool = tool;
        self
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
                ..Delta::default()
            },
            None,
        )),
        ConverseStreamOutput::ContentBlockStart(start) => block_start(state, start),
        ConverseStreamOutput::ContentBlockDelta(delta) => block_delta(state, delta),
        ConverseStreamOutput::MessageStop(stop) => {
            let finish = answered_finish(
                convert_stop_reason(stop.stop_reason()),
                state.answer_block.is_some(),
                !state.tool_blocks.is_empty(),
            );
            Some(state.chunk(Delta::default(), Some(finish)))
        }
        ConverseStreamOutput::Metadata(metadata) => metadata.usage().map(|usage| {
            let usage = convert_usage(usage);
            StreamItem::Usage {
                chunk: Some(ChatChunk::usage_chunk(
                    &state.id,
                    state.created,
                    &state.model,
                    usage.clone(),
                )),
                usage,
            }
        }),
        ConverseStreamOutput::ContentBlockStop(_) => None,
        _ => None,
    }
}

/// The finish reason the client sees: a reply whose only tool call was the structured
/// answer is a plain answer (`stop`), not a tool call.
fn answered_finish(finish: FinishReason, answered: bool, client_tool_calls: bool) -> FinishReason {
    match finish {
        FinishReason::ToolCalls if answered && !client_tool_calls => FinishReason::Stop,
        other => other,
    }
}

/// A block's start: a tool call's id and name (the answer tool's block is remembered, not
/// announced: its input streams as content).
fn block_start(state: &mut StreamState, start: &ContentBlockStartEvent) -> Option<StreamItem> {
    let Some(ContentBlockStart::ToolUse(tool_use)) = start.start() else {
        return None;
    };
    if state.answer_tool.is_some_and(|t| t.name == tool_use.name()) {
        state.answer_block = Some(start.content_block_index());
        return None;
    }
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

/// A piece of a block: text, reasoning, the answer tool's input (as content), a tool call's
/// arguments. A forced answer tool's model writes no text worth sending.
fn block_delta(state: &mut StreamState, delta: &ContentBlockDeltaEvent) -> Option<StreamItem> {
    let content = |text: &str| Delta {
        content: Some(text.to_owned()),
        ..Delta::default()
    };
    match delta.delta()? {
        ContentBlockDelta::Text(_) if state.answer_tool.is_some_and(|t| t.forced) => None,
        ContentBlockDelta::Text(text) => Some(state.chunk(content(text), None)),
        ContentBlockDelta::ToolUse(tool_use)
            if state.answer_block == Some(delta.content_block_index()) =>
        {
            Some(state.chunk(content(tool_use.input()), None))
        }
        ContentBlockDelta::ReasoningContent(reasoning) => {
            Some(state.chunk(reasoning_delta(reasoning)?, None))
        }
        ContentBlockDelta::ToolUse(tool_use) => {
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
    }
}

/// A piece of reasoning as LiteLLM streams it: its text as `reasoning_content` and as a
/// thinking block; a signature as a thinking block of no text; redacted data as a redacted
/// block. `None` for kinds newer than this SDK.
fn reasoning_delta(reasoning: &ReasoningContentBlockDelta) -> Option<Delta> {
    let (text, block) = match reasoning {
        ReasoningContentBlockDelta::Text(text) => (
            text.clone(),
            ThinkingBlock::Thinking {
                thinking: text.clone(),
                signature: None,
            },
        ),
        ReasoningContentBlockDelta::Signature(signature) => (
            String::new(),
            ThinkingBlock::Thinking {
                thinking: String::new(),
                signature: Some(signature.clone()),
            },
        ),
        ReasoningContentBlockDelta::RedactedContent(data) => (
            String::new(),
            ThinkingBlock::RedactedThinking {
                data: aws_smithy_types::base64::encode(data.as_ref()),
            },
        ),
        _ => return None,
    };
    Some(Delta {
        reasoning_content: Some(text),
        thinking_blocks: Some(vec![block]),
        ..Delta::default()
    })
}

fn tool_call_delta(call: ToolCallDelta) -> Delta {
    Delta {
        tool_calls: Some(vec![call]),
        ..Delta::default()
    }
}
