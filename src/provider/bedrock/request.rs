//! OpenAI chat request → Converse request, through the canonical content model.
//!
//! [`convert_request`] runs three steps:
//! 1. OpenAI parameters Converse has no equivalent for: refused by name, or dropped with
//!    `drop_params`.
//! 2. The request as a canonical [`Conversation`] ([`crate::openai::to_conversation`], where
//!    the OpenAI-specific rules live: roles, `tool` messages, `data:` URLs, merged turns).
//! 3. The conversation as Converse types ([`convert_conversation`]), block by block
//!    ([`super::blocks`]), with Converse's own rules:
//!    - a conversation starts with a user turn: one whose first turn (after the system
//!      blocks) is the assistant's, or that has no turn, is refused naming `messages`
//!      before any call;
//!    - the `toolConfig`, by [`super::tools`]: Converse wants one whenever the turns hold
//!      tool calls or results, and has no "none" choice;
//!    - the inference settings → `inferenceConfig`, left out when nothing is set;
//!    - the rest per model ([`super::options`]): the answer's format (`outputConfig` or a
//!      forced tool), thinking and `top_k` (`additionalModelRequestFields`), `serviceTier`,
//!      `requestMetadata`.

use aws_sdk_bedrockruntime::types::{
    ConversationRole, InferenceConfiguration, Message as BedrockMessage, OutputConfig,
    ServiceTier as BedrockServiceTier, SystemContentBlock, ToolConfiguration,
};

use super::blocks::{convert_block, convert_system_block};
use super::options::{self, AnswerTool, CallOptions};
use super::tools::convert_tool_config;
use crate::content::{Conversation, InferenceSettings, Message, Role};
use crate::openai::{ChatRequest, to_conversation};
use crate::provider::ProviderError;

/// The most cache points one Converse request may carry.
pub const MAX_CACHE_POINTS: usize = 4;

/// The parts of a Converse / ConverseStream call that come from the client's request.
#[derive(Debug, Clone, PartialEq)]
pub struct ConverseRequest {
    pub system: Vec<SystemContentBlock>,
    pub messages: Vec<BedrockMessage>,
    pub inference_config: Option<InferenceConfiguration>,
    pub tool_config: Option<ToolConfiguration>,
    /// `additionalModelRequestFields`: the model's own fields (thinking, `top_k`).
    pub additional_fields: Option<aws_smithy_types::Document>,
    /// `outputConfig`: the model's structured output.
    pub output_config: Option<OutputConfig>,
    pub service_tier: Option<BedrockServiceTier>,
    /// `requestMetadata`.
    pub request_metadata: Option<std::collections::HashMap<String, String>>,
    /// The tool whose input is the answer, when a structured answer is asked through one.
    pub answer_tool: Option<AnswerTool>,
}

/// Converts a validated chat request for a Converse call of `model`; see the module doc for
/// the steps.
pub fn convert_request(
    request: &ChatRequest,
    model: &str,
    drop_params: bool,
) -> Result<ConverseRequest, ProviderError> {
    if !drop_params && let Some(param) = request.openai_only_params().next() {
        return Err(ProviderError::bad_param(
            param,
            format!(
                "{param} is not supported by Bedrock deployments; remove it or turn on drop_params"
            ),
        ));
    }
    let conversation =
        to_conversation(request).map_err(|e| ProviderError::bad_param(e.param, e.message))?;
    convert_conversation(conversation, model)
}

/// A canonical conversation as the request parts of a Converse call of `model`.
pub fn convert_conversation(
    mut conversation: Conversation,
    model: &str,
) -> Result<ConverseRequest, ProviderError> {
    check_first_turn(&conversation.messages)?;
    conversation.tidy_cache_points(MAX_CACHE_POINTS);
    let CallOptions {
        additional_fields,
        output_config,
        service_tier,
        request_metadata,
        answer_tool,
    } = options::convert_options(&mut conversation, model)?;
    let tool_config = convert_tool_config(&mut conversation)?;
    // Loops into exact capacities rather than collecting `Result`s, which cannot presize:
    // this runs once per attempt on the request path.
    let mut system = Vec::with_capacity(conversation.system.len());
    for block in conversation.system {
        system.push(convert_system_block(block)?);
    }
    let mut messages = Vec::with_capacity(conversation.messages.len());
    for message in conversation.messages {
        messages.push(convert_message(message)?);
    }
    Ok(ConverseRequest {
        system,
        messages,
        inference_config: convert_inference_config(conversation.inference),
        tool_config,
        additional_fields,
        output_config,
        service_tier,
        request_metadata,
        answer_tool,
    })
}

/// Refuses a conversation Converse would refuse for its order: it must open with a user turn.
fn check_first_turn(messages: &[Message]) -> Result<(), ProviderError> {
    match messages.first() {
        Some(Message {
            role: Role::User, ..
        }) => Ok(()),
        Some(_) => Err(ProviderError::bad_param(
            "messages",
            "messages: a Bedrock conversation must start with a user message (after any system messages); this one starts with an assistant message",
        )),
        None => Err(ProviderError::bad_param(
            "messages",
            "messages: must contain a user message with content (system messages alone are not a conversation)",
        )),
    }
}

fn convert_message(message: Message) -> Result<BedrockMessage, ProviderError> {
    let mut content = Vec::with_capacity(message.content.len());
    for block in message.content {
        content.push(convert_block(block)?);
    }
    BedrockMessage::builder()
        .role(convert_role(message.role))
        .set_content(Some(content))
        .build()
        .map_err(internal)
}

fn convert_role(role: Role) -> ConversationRole {
    match role {
        Role::User => ConversationRole::User,
        Role::Assistant => ConversationRole::Assistant,
    }
}

fn convert_inference_config(settings: InferenceSettings) -> Option<InferenceConfiguration> {
    if settings.is_default() {
        return None;
    }
    let stop = settings.stop_sequences;
    Some(
        InferenceConfiguration::builder()
            // Validation caps max tokens at 1,000,000, well inside i32.
            .set_max_tokens(
                settings
                    .max_tokens
                    .map(|t| i32::try_from(t).unwrap_or(i32::MAX)),
            )
            .set_temperature(settings.temperature.map(|t| t as f32))
            .set_top_p(settings.top_p.map(|p| p as f32))
            .set_stop_sequences((!stop.is_empty()).then_some(stop))
            .build(),
    )
}

/// A builder refused a value we always set: a bug here, not the client's fault.
pub(super) fn internal(error: impl std::fmt::Display) -> ProviderError {
    ProviderError::Upstream {
        message: format!("building the Converse request: {error}"),
    }
}
