//! The chat-completions request as clients send it.
//!
//! One serde pass turns the body into these owned types; nothing is re-parsed later. The
//! types also serialise back (minus `model`, `stream` and `stream_options`, which the OpenAI
//! provider sets itself), so a request forwarded to an OpenAI-compatible upstream is written
//! straight from them. Fields that are a string *or* a list (`content`, `stop`, `tool_choice`)
//! have hand-written visitors instead of `#[serde(untagged)]`, which would buffer the value and
//! lose the error's path and reason.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::wire::{Content, Stop, ToolChoice};

/// A `POST /v1/chat/completions` body.
///
/// Unknown top-level keys are ignored (LiteLLM and most OpenAI-compatible servers do the
/// same); OpenAI parameters that not every provider can honour are kept by name, see
/// [`ChatRequest::provider_specific_params`].
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ChatRequest {
    /// The model group the client asked for.
    #[serde(skip_serializing)]
    pub model: String,
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// `None` and `Some(false)` both mean a single JSON reply.
    #[serde(default, skip_serializing)]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// An end-user id; passed to OpenAI upstreams, ignored by Bedrock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Free-form tags; passed to OpenAI upstreams, ignored by Bedrock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, Value>>,
    /// Number of choices; only 1 is supported (validated at parse time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Tolerated everywhere: Bedrock decides on its own whether tool calls run in parallel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,

    // OpenAI parameters Bedrock's Converse API has no equivalent for. Kept as raw values so
    // an OpenAI upstream receives them unchanged and Bedrock can refuse them by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logit_bias: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modalities: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_search_options: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functions: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<Value>,
}

/// `stream_options`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub struct StreamOptions {
    /// Send a last chunk with `usage` and no choices.
    #[serde(default)]
    pub include_usage: bool,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    /// The newer name of `system` for reasoning models; treated the same.
    Developer,
    User,
    Assistant,
    Tool,
}

/// One entry of `messages`.
///
/// A flat struct rather than an enum tagged by `role`: an internally tagged enum would buffer
/// every message and report errors without their path. [`crate::openai::parse_chat_request`]
/// checks the per-role rules (a `tool` message needs `tool_call_id`, …).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Message {
    pub role: Role,
    /// `null` only on assistant messages that carry `tool_calls`.
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tools the assistant called (assistant messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// The call this message answers (tool messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

/// One part of a multi-part `content`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
}

/// `image_url` of an image part: a `data:` URL or a remote URL.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ImageUrl {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The only kind of tool (and tool call) the chat-completions API has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolType {
    #[default]
    Function,
}

/// A tool call made by the assistant, in a request's history or in a response.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default)]
    pub kind: ToolType,
    pub function: FunctionCall,
}

/// The function a tool call invokes, with its arguments as a JSON text.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct FunctionCall {
    pub name: String,
    pub arguments: String,
}

/// An entry of `tools`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct Tool {
    #[serde(rename = "type")]
    pub kind: ToolType,
    pub function: FunctionDefinition,
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct FunctionDefinition {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A JSON Schema of the arguments; absent means "no arguments".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// Tokens an image is assumed to cost before the upstream says (between OpenAI's low-detail
/// 85 and Claude's ~1,600 for a large image).
const IMAGE_TOKEN_ESTIMATE: u64 = 1_000;

impl ChatRequest {
    /// Whether the client asked for server-sent events.
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// Whether a streaming client asked for the final usage chunk.
    pub fn include_usage(&self) -> bool {
        self.stream_options.is_some_and(|o| o.include_usage)
    }

    /// The output cap the client set: `max_completion_tokens`, else `max_tokens`.
    pub fn max_output_tokens(&self) -> Option<u64> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// A cheap prompt-size estimate for TPM reservations: characters / 4, rounded up, over
    /// every text the model reads (messages, tool-call arguments, tool definitions), plus a
    /// flat [`IMAGE_TOKEN_ESTIMATE`] per image.
    pub fn estimated_input_tokens(&self) -> u64 {
        let mut chars = 0usize;
        let mut images = 0u64;
        for message in &self.messages {
            match &message.content {
                Some(Content::Text(text)) => chars += text.chars().count(),
                Some(Content::Parts(parts)) => {
                    for part in parts {
                        match part {
                            ContentPart::Text { text } => chars += text.chars().count(),
                            ContentPart::ImageUrl { .. } => images += 1,
                        }
                    }
                }
                None => {}
            }
            for call in message.tool_calls.iter().flatten() {
                chars += call.function.name.len() + call.function.arguments.chars().count();
            }
        }
        for tool in self.tools.iter().flatten() {
            let f = &tool.function;
            chars += f.name.len();
            chars += f.description.as_deref().map_or(0, |d| d.chars().count());
            // The schema's compact JSON length; rendering it is rare enough (tools only).
            chars += f.parameters.as_ref().map_or(0, |p| p.to_string().len());
        }
        (chars as u64).div_ceil(4) + images * IMAGE_TOKEN_ESTIMATE
    }

    /// The set OpenAI parameters with no Converse equivalent, by their JSON name.
    ///
    /// `response_format: {"type":"text"}` is the default behaviour and is not reported.
    pub fn provider_specific_params(&self) -> impl Iterator<Item = &'static str> + '_ {
        let plain_text_format = self
            .response_format
            .as_ref()
            .is_some_and(|f| f.get("type").and_then(Value::as_str) == Some("text"));
        [
            ("presence_penalty", self.presence_penalty.is_some()),
            ("frequency_penalty", self.frequency_penalty.is_some()),
            ("logprobs", self.logprobs.is_some()),
            ("top_logprobs", self.top_logprobs.is_some()),
            ("logit_bias", self.logit_bias.is_some()),
            ("seed", self.seed.is_some()),
            (
                "response_format",
                self.response_format.is_some() && !plain_text_format,
            ),
            ("service_tier", self.service_tier.is_some()),
            ("store", self.store.is_some()),
            ("reasoning_effort", self.reasoning_effort.is_some()),
            ("modalities", self.modalities.is_some()),
            ("audio", self.audio.is_some()),
            ("prediction", self.prediction.is_some()),
            ("web_search_options", self.web_search_options.is_some()),
            ("functions", self.functions.is_some()),
            ("function_call", self.function_call.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
    }
}
