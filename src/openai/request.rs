//! The chat-completions request as clients send it.
//!
//! One serde pass turns the body into these owned types; nothing is re-parsed later. A body a
//! client sent keeps its bytes ([`ChatRequest::original`]): an OpenAI-compatible upstream gets
//! them as they came, every field this gateway does not know included, with only `model`,
//! `stream` and `stream_options` set anew. The types also serialise back (minus those three),
//! for requests the gateway writes itself (an Anthropic body for such an upstream). Fields that are a string *or* a list (`content`, `stop`, `tool_choice`)
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
    /// An end-user id: Converse `requestMetadata.user` on Bedrock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Free-form string tags: Converse `requestMetadata` on Bedrock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, Value>>,
    /// Number of choices: Bedrock makes one; OpenAI-compatible upstreams take any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Tolerated everywhere: Bedrock decides on its own whether tool calls run in parallel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// `text`, `json_object` or `json_schema` (validated at parse time, see
    /// [`ChatRequest::output_format`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
    /// `none`, `minimal`, `low`, `medium`, `high` (or `xhigh`): thinking on Bedrock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    /// `auto`, `default`, `flex`, `priority` (Bedrock's tiers) or `scale` (OpenAI's only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<String>,
    /// Sample from the k likeliest tokens (vLLM's, Anthropic's and LiteLLM's name): the
    /// model's own field on Bedrock. vLLM reads `-1` (and `0`) as "off": so does Bedrock's
    /// mapping ([`ChatRequest::sampling_top_k`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<i64>,

    // OpenAI parameters Bedrock's Converse API has no equivalent for. Kept as raw values so
    // an OpenAI upstream receives them unchanged; at their default values they ask for
    // nothing and any deployment serves them ([`ChatRequest::openai_only_params`]).
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
    pub store: Option<Value>,
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

    /// The body as the client sent it, when it came from one: what an OpenAI-compatible
    /// upstream receives ([`crate::provider::openai::upstream_body`]).
    #[serde(skip)]
    pub original: Option<bytes::Bytes>,
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
    /// The reasoning of an earlier answer as LiteLLM returns it (assistant messages): sent
    /// back to Bedrock unmodified, signatures and all, so a tool loop keeps thinking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking_blocks: Option<Vec<ThinkingBlock>>,
    /// The reasoning text of an earlier answer: informative only (its signed form is
    /// `thinking_blocks`); forwarded to OpenAI-compatible upstreams, not to Bedrock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// A prompt-cache marker on the whole message (LiteLLM's convention): a cache point
    /// after its last block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
}

/// One of LiteLLM's `thinking_blocks`: Anthropic's thinking blocks as they came.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ThinkingBlock {
    /// Visible reasoning and the signature that proves it the model's own.
    Thinking {
        #[serde(default)]
        thinking: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
    },
    /// Encrypted reasoning, base64 as it came.
    RedactedThinking { data: String },
}

/// One part of a multi-part `content`.
///
/// Text and images are read; every other type (`input_audio`, `file`, types newer than this
/// gateway) is kept as it came, for OpenAI-compatible upstreams: Bedrock deployments are
/// skipped for a request that holds one. Serialises back to the shape it came in.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentPart {
    Text {
        text: String,
        /// A prompt-cache marker: a cache point after this part.
        cache_control: Option<Value>,
    },
    ImageUrl {
        image_url: ImageUrl,
        cache_control: Option<Value>,
    },
    /// A part of another `type`, whole.
    Other { kind: String, part: Value },
}

/// The parts this gateway reads, in their wire shape.
#[derive(Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum KnownPart {
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    ImageUrl {
        image_url: ImageUrl,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
}

impl ContentPart {
    /// A plain text part.
    pub fn text(text: impl Into<String>) -> ContentPart {
        ContentPart::Text {
            text: text.into(),
            cache_control: None,
        }
    }

    /// The part's `type`.
    pub fn kind(&self) -> &str {
        match self {
            ContentPart::Text { .. } => "text",
            ContentPart::ImageUrl { .. } => "image_url",
            ContentPart::Other { kind, .. } => kind,
        }
    }
}

impl<'de> Deserialize<'de> for ContentPart {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let part = serde_json::Map::<String, Value>::deserialize(deserializer)?;
        let kind = match part.get("type") {
            Some(Value::String(kind)) => kind.clone(),
            Some(_) => return Err(D::Error::custom("a content part's type must be a string")),
            None => return Err(D::Error::missing_field("type")),
        };
        if kind != "text" && kind != "image_url" {
            return Ok(ContentPart::Other {
                kind,
                part: Value::Object(part),
            });
        }
        match serde_json::from_value(Value::Object(part)).map_err(D::Error::custom)? {
            KnownPart::Text {
                text,
                cache_control,
            } => Ok(ContentPart::Text {
                text,
                cache_control,
            }),
            KnownPart::ImageUrl {
                image_url,
                cache_control,
            } => Ok(ContentPart::ImageUrl {
                image_url,
                cache_control,
            }),
        }
    }
}

impl Serialize for ContentPart {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ContentPart::Text {
                text,
                cache_control,
            } => KnownPart::Text {
                text: text.clone(),
                cache_control: cache_control.clone(),
            }
            .serialize(serializer),
            ContentPart::ImageUrl {
                image_url,
                cache_control,
            } => KnownPart::ImageUrl {
                image_url: image_url.clone(),
                cache_control: cache_control.clone(),
            }
            .serialize(serializer),
            ContentPart::Other { part, .. } => part.serialize(serializer),
        }
    }
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
    /// A prompt-cache marker (LiteLLM's convention): the tool definitions are a cache prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<Value>,
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
    /// The same request, keeping the body it was parsed from (see [`ChatRequest::original`]).
    pub fn with_original(mut self, body: bytes::Bytes) -> Self {
        self.original = Some(body);
        self
    }

    /// Whether the client asked for server-sent events.
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// Whether a streaming client asked for the final usage chunk.
    pub fn include_usage(&self) -> bool {
        self.stream_options.is_some_and(|o| o.include_usage)
    }

    /// `top_k` when it limits sampling (a positive value).
    pub fn sampling_top_k(&self) -> Option<u64> {
        self.top_k
            .and_then(|k| u64::try_from(k).ok())
            .filter(|k| *k > 0)
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
                            ContentPart::Text { text, .. } => chars += text.chars().count(),
                            ContentPart::ImageUrl { .. } => images += 1,
                            ContentPart::Other { part, .. } => chars += part.to_string().len(),
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

    /// The OpenAI parameters set to something Bedrock cannot do, by their JSON name: only an
    /// OpenAI-compatible upstream serves them. Defaults ask for nothing and are not listed
    /// (`logprobs: false`, `store: false`, `n: 1`, `presence_penalty: 0`, `top_logprobs: 0`,
    /// `service_tier: auto`, empty `logit_bias`, …).
    pub fn openai_only_params(&self) -> impl Iterator<Item = &'static str> + '_ {
        let set = |v: &Option<Value>| v.as_ref().is_some_and(|v| !is_default_value(v));
        [
            ("n", self.n.is_some_and(|n| n > 1)),
            ("presence_penalty", set(&self.presence_penalty)),
            ("frequency_penalty", set(&self.frequency_penalty)),
            ("logprobs", set(&self.logprobs)),
            ("top_logprobs", set(&self.top_logprobs)),
            ("logit_bias", set(&self.logit_bias)),
            ("seed", set(&self.seed)),
            ("store", set(&self.store)),
            (
                "service_tier",
                self.service_tier.as_deref() == Some("scale"),
            ),
            (
                "modalities",
                self.modalities.as_ref().is_some_and(|m| !is_text_only(m)),
            ),
            ("audio", set(&self.audio)),
            ("prediction", set(&self.prediction)),
            ("web_search_options", set(&self.web_search_options)),
            ("functions", set(&self.functions)),
            ("function_call", set(&self.function_call)),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
    }

    /// Whether the request marks a prompt-cache prefix anywhere (`cache_control` on a
    /// message, a part or a tool).
    pub fn marks_cache(&self) -> bool {
        let part_marked = |p: &ContentPart| match p {
            ContentPart::Text { cache_control, .. }
            | ContentPart::ImageUrl { cache_control, .. } => cache_control.is_some(),
            ContentPart::Other { part, .. } => part.get("cache_control").is_some(),
        };
        self.messages.iter().any(|m| {
            m.cache_control.is_some()
                || matches!(&m.content, Some(Content::Parts(parts)) if parts.iter().any(part_marked))
        }) || self.tools.iter().flatten().any(|t| t.cache_control.is_some())
    }

    /// The type of the first content part Bedrock cannot take (`input_audio`, `file`, …).
    pub fn foreign_part(&self) -> Option<&str> {
        self.messages
            .iter()
            .filter_map(|m| match &m.content {
                Some(Content::Parts(parts)) => Some(parts),
                Some(Content::Text(_)) | None => None,
            })
            .flatten()
            .find_map(|p| matches!(p, ContentPart::Other { .. }).then(|| p.kind()))
    }
}

/// Whether a parameter's value asks for nothing: `null`, `false`, `0`, an empty string,
/// list or object.
fn is_default_value(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// `modalities: ["text"]`, the default.
fn is_text_only(modalities: &Value) -> bool {
    match modalities {
        Value::Array(items) => items.iter().all(|m| m.as_str() == Some("text")),
        Value::Null => true,
        _ => false,
    }
}
