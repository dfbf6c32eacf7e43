//! The chat-completions replies: whole completions, stream chunks and error bodies.
//!
//! They serialise to what the official `openai` clients parse, and deserialise from what
//! OpenAI-compatible upstreams send. Fields this gateway does not read (`logprobs`,
//! `system_fingerprint`, a message's `refusal` or `annotations`, usage details, whatever an
//! upstream adds) are kept in each object's `extra` and written back as they came.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::request::{Role, ThinkingBlock, ToolCall, ToolType};

/// A `chat.completion` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletion {
    pub id: String,
    #[serde(
        default = "completion_object",
        deserialize_with = "completion_object_of"
    )]
    pub object: ObjectName,
    /// Unix seconds.
    pub created: u64,
    /// The deployment's underlying model id.
    pub model: String,
    pub choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The upstream's other fields (`system_fingerprint`, `service_tier`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A reply's `object`, always the gateway's own: an alias, because serde would take a field
/// spelled `&'static str` as borrowed from the input.
pub type ObjectName = &'static str;

fn completion_object() -> &'static str {
    "chat.completion"
}

fn chunk_object() -> &'static str {
    "chat.completion.chunk"
}

/// Reads and drops an upstream's `object`: the gateway writes its own.
fn completion_object_of<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| completion_object())
}

fn chunk_object_of<'de, D: serde::Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| chunk_object())
}

/// One choice of a completion (the gateway only ever produces index 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub index: u32,
    pub message: AssistantMessage,
    pub finish_reason: Option<FinishReason>,
    /// The upstream's other fields (`logprobs`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The assistant's reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssistantMessage {
    pub role: Role,
    /// `null` when the reply is only tool calls.
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The model's reasoning text (LiteLLM's and vLLM's field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// The reasoning as signed blocks (LiteLLM's field), to send back in the next turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_blocks: Option<Vec<ThinkingBlock>>,
    /// The upstream's other fields (`refusal`, `annotations`, `audio`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for AssistantMessage {
    fn default() -> Self {
        AssistantMessage {
            role: Role::Assistant,
            content: None,
            tool_calls: None,
            reasoning_content: None,
            thinking_blocks: None,
            extra: Map::new(),
        }
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
    /// The legacy `functions` API; only ever relayed from an OpenAI upstream.
    FunctionCall,
}

/// Token counts of one call.
///
/// `prompt_tokens` counts every input token, cached ones included (OpenAI's meaning); the
/// cache's share is `prompt_tokens_details.cached_tokens` (reads) and, in LiteLLM's names,
/// `cache_read_input_tokens` and `cache_creation_input_tokens` (writes).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    /// The upstream's other fields (`completion_tokens_details`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PromptTokensDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Usage {
    /// Usage from input and output counts, the total being their sum.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            ..Usage::default()
        }
    }

    /// Usage of a call that also read `read` and wrote `written` prompt-cache tokens beyond
    /// its `uncached` input: all three are prompt tokens.
    pub fn with_cache(uncached: u64, read: u64, written: u64, completion_tokens: u64) -> Self {
        let mut usage = Usage::new(uncached + read + written, completion_tokens);
        if read + written > 0 {
            usage.prompt_tokens_details = Some(PromptTokensDetails {
                cached_tokens: Some(read),
                extra: Map::new(),
            });
            usage.cache_read_input_tokens = Some(read);
            usage.cache_creation_input_tokens = Some(written);
        }
        usage
    }

    /// Prompt tokens read from the cache.
    pub fn cache_read(&self) -> u64 {
        self.cache_read_input_tokens
            .or_else(|| self.prompt_tokens_details.as_ref()?.cached_tokens)
            .unwrap_or(0)
    }

    /// Input tokens as quotas count them: cache reads are not counted (as on Bedrock, where
    /// they do not take TPM), cache writes are.
    pub fn settled_input(&self) -> u64 {
        self.prompt_tokens.saturating_sub(self.cache_read())
    }
}

/// A `chat.completion.chunk` server-sent event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatChunk {
    pub id: String,
    #[serde(default = "chunk_object", deserialize_with = "chunk_object_of")]
    pub object: ObjectName,
    pub created: u64,
    pub model: String,
    /// Empty on the final usage chunk.
    pub choices: Vec<ChunkChoice>,
    /// Present only on the usage chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The upstream's other fields (`system_fingerprint`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatChunk {
    /// A chunk with one choice carrying `delta` and `finish_reason`.
    pub fn new(
        id: &str,
        created: u64,
        model: &str,
        delta: Delta,
        finish_reason: Option<FinishReason>,
    ) -> Self {
        ChatChunk {
            id: id.to_owned(),
            object: chunk_object(),
            created,
            model: model.to_owned(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason,
                extra: Map::new(),
            }],
            usage: None,
            extra: Map::new(),
        }
    }

    /// The final chunk of a stream with `include_usage`: no choices, only `usage`.
    pub fn usage_chunk(id: &str, created: u64, model: &str, usage: Usage) -> Self {
        ChatChunk {
            id: id.to_owned(),
            object: chunk_object(),
            created,
            model: model.to_owned(),
            choices: Vec::new(),
            usage: Some(usage),
            extra: Map::new(),
        }
    }
}

/// One choice of a chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    pub finish_reason: Option<FinishReason>,
    /// The upstream's other fields (`logprobs`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a chunk adds to the message.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
    /// A piece of the reasoning text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// A piece of a reasoning block (its text, or its signature once complete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_blocks: Option<Vec<ThinkingBlock>>,
    /// The upstream's other fields (`refusal`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A piece of a tool call: the first piece has `id`, `type` and the name, later pieces
/// append to `arguments`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallDelta {
    /// Which tool call of the message (0, 1, …), not the content block index.
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ToolType>,
    pub function: FunctionCallDelta,
}

/// The function part of a [`ToolCallDelta`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FunctionCallDelta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: String,
}

/// The OpenAI error envelope `{"error":{"message","type","param","code"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The inside of an [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub message: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub param: Option<String>,
    /// A string in OpenAI's errors; some servers send a number, which is kept as text.
    #[serde(default, deserialize_with = "string_or_number")]
    pub code: Option<String>,
}

impl ErrorBody {
    /// An error body; `kind` is the OpenAI `type` (`invalid_request_error`, …).
    pub fn new(
        message: impl Into<String>,
        kind: &str,
        param: Option<&str>,
        code: Option<&str>,
    ) -> Self {
        ErrorBody {
            error: ErrorDetail {
                message: message.into(),
                kind: kind.to_owned(),
                param: param.map(str::to_owned),
                code: code.map(str::to_owned),
            },
        }
    }
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}
