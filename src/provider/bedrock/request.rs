//! OpenAI chat request → Converse request.
//!
//! The mapping, in the order `convert_request` applies it:
//! 1. OpenAI parameters Converse has no equivalent for: refused by name, or dropped with
//!    `drop_params`.
//! 2. `system`/`developer` messages → `system` text blocks (wherever they appear).
//! 3. `user` → user text and image blocks (images only as `data:` URLs: Bedrock cannot fetch).
//! 4. `assistant` → assistant text blocks and one `toolUse` block per tool call.
//! 5. `tool` → a `toolResult` block in a user turn. Consecutive turns of the same role are
//!    merged into one message, as Converse requires roles to alternate; this is what puts
//!    several tool results (and a user text after them) into one user message.
//! 6. `max_completion_tokens`/`max_tokens`, `temperature`, `top_p`, `stop` → `inferenceConfig`.
//! 7. `tools`/`tool_choice` → `toolConfig`. `tool_choice: "none"` omits the tools, unless the
//!    history already holds tool calls: Bedrock then insists on a `toolConfig`, so the tools
//!    are sent with the model left to decide (Converse has no "none"). A history with tool
//!    calls but no `tools` at all gets a minimal `toolConfig` synthesised from the tool names
//!    it calls (schema `{"type":"object"}`, choice auto), for the same reason.
//! 8. Converse conversations start with a user turn: a request whose first turn (after the
//!    system messages) is the assistant's, or that has no turn left, is refused naming
//!    `messages` before any call.

use aws_sdk_bedrockruntime::types::{
    AnyToolChoice, AutoToolChoice, ContentBlock, ConversationRole, ImageBlock, ImageFormat,
    ImageSource, InferenceConfiguration, Message as BedrockMessage, SpecificToolChoice,
    SystemContentBlock, Tool as BedrockTool, ToolChoice as BedrockToolChoice, ToolConfiguration,
    ToolInputSchema, ToolResultBlock, ToolResultContentBlock, ToolSpecification, ToolUseBlock,
};
use aws_smithy_types::Blob;
use serde_json::Value;

use super::document::json_to_document;
use crate::openai::{ChatRequest, Content, ContentPart, Message, Role, Tool, ToolCall, ToolChoice};
use crate::provider::ProviderError;

/// The parts of a Converse / ConverseStream call that come from the client's request.
#[derive(Debug, Clone, PartialEq)]
pub struct ConverseRequest {
    pub system: Vec<SystemContentBlock>,
    pub messages: Vec<BedrockMessage>,
    pub inference_config: Option<InferenceConfiguration>,
    pub tool_config: Option<ToolConfiguration>,
}

/// Converts a validated chat request for Converse; see the module doc for the mapping.
pub fn convert_request(
    request: &ChatRequest,
    drop_params: bool,
) -> Result<ConverseRequest, ProviderError> {
    if !drop_params && let Some(param) = request.provider_specific_params().next() {
        return Err(ProviderError::bad_param(
            param,
            format!(
                "{param} is not supported by Bedrock deployments; remove it or turn on drop_params"
            ),
        ));
    }
    let mut system = Vec::new();
    let mut turns = Turns::default();
    for (i, message) in request.messages.iter().enumerate() {
        match message.role {
            Role::System | Role::Developer => system.extend(
                convert_system(i, message)?
                    .into_iter()
                    .map(SystemContentBlock::Text),
            ),
            Role::User => turns.push(ConversationRole::User, convert_user(i, message)?),
            Role::Assistant => {
                turns.push(ConversationRole::Assistant, convert_assistant(i, message)?)
            }
            Role::Tool => turns.push(ConversationRole::User, vec![convert_tool_result(message)?]),
        }
    }
    check_first_turn(&turns)?;
    let history_uses_tools = request
        .messages
        .iter()
        .any(|m| m.role == Role::Tool || m.tool_calls.as_ref().is_some_and(|c| !c.is_empty()));
    let tools = request.tools.as_deref().unwrap_or_default();
    let tool_config = match tools.is_empty() && history_uses_tools {
        true => convert_history_tool_config(&history_tool_names(&request.messages))?,
        false => convert_tool_config(tools, request.tool_choice.as_ref(), history_uses_tools)?,
    };
    Ok(ConverseRequest {
        system,
        messages: turns.finish()?,
        inference_config: convert_inference_config(request),
        tool_config,
    })
}

/// Refuses a conversation Converse would refuse for its order: it must open with a user turn.
fn check_first_turn(turns: &Turns) -> Result<(), ProviderError> {
    match turns.0.first() {
        Some((ConversationRole::User, _)) => Ok(()),
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

/// The names of the tools the history calls, each once, in order of first call.
fn history_tool_names(messages: &[Message]) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for call in messages.iter().flat_map(|m| m.tool_calls.iter().flatten()) {
        let name = call.function.name.as_str();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The `toolConfig` for a history with tool calls but no `tools`: one tool per name with the
/// minimal schema `{"type":"object"}`, the model free to choose (a tool call that comes back
/// is returned as one). With no names (tool results only), there is nothing to declare.
fn convert_history_tool_config(names: &[&str]) -> Result<Option<ToolConfiguration>, ProviderError> {
    if names.is_empty() {
        return Ok(None);
    }
    let schema = json_to_document(&serde_json::json!({"type": "object"}));
    let specs = names
        .iter()
        .map(|name| {
            ToolSpecification::builder()
                .name(*name)
                .input_schema(ToolInputSchema::Json(schema.clone()))
                .build()
                .map(BedrockTool::ToolSpec)
                .map_err(internal)
        })
        .collect::<Result<Vec<_>, _>>()?;
    ToolConfiguration::builder()
        .set_tools(Some(specs))
        .tool_choice(BedrockToolChoice::Auto(AutoToolChoice::builder().build()))
        .build()
        .map(Some)
        .map_err(internal)
}

/// Messages under construction, merging consecutive blocks of the same role.
#[derive(Default)]
struct Turns(Vec<(ConversationRole, Vec<ContentBlock>)>);

impl Turns {
    fn push(&mut self, role: ConversationRole, blocks: Vec<ContentBlock>) {
        if blocks.is_empty() {
            return;
        }
        match self.0.last_mut() {
            Some((last, content)) if *last == role => content.extend(blocks),
            Some(_) | None => self.0.push((role, blocks)),
        }
    }

    fn finish(self) -> Result<Vec<BedrockMessage>, ProviderError> {
        self.0
            .into_iter()
            .map(|(role, content)| {
                BedrockMessage::builder()
                    .role(role)
                    .set_content(Some(content))
                    .build()
                    .map_err(internal)
            })
            .collect()
    }
}

/// A builder refused a value we always set: a bug here, not the client's fault.
fn internal(error: impl std::fmt::Display) -> ProviderError {
    ProviderError::Upstream {
        message: format!("building the Converse request: {error}"),
    }
}

fn convert_system(i: usize, message: &Message) -> Result<Vec<String>, ProviderError> {
    match &message.content {
        Some(Content::Text(text)) => Ok(non_empty(text).into_iter().collect()),
        Some(Content::Parts(parts)) => parts
            .iter()
            .enumerate()
            .filter_map(|(j, part)| match part {
                ContentPart::Text { text } => non_empty(text).map(Ok),
                ContentPart::ImageUrl { .. } => Some(Err(ProviderError::bad_param(
                    format!("messages[{i}].content[{j}]"),
                    "images are only supported in user messages",
                ))),
            })
            .collect(),
        None => Ok(Vec::new()),
    }
}

fn non_empty(text: &str) -> Option<String> {
    (!text.trim().is_empty()).then(|| text.to_owned())
}

fn convert_user(i: usize, message: &Message) -> Result<Vec<ContentBlock>, ProviderError> {
    match &message.content {
        Some(Content::Text(text)) => Ok(non_empty(text)
            .map(ContentBlock::Text)
            .into_iter()
            .collect()),
        Some(Content::Parts(parts)) => {
            let mut blocks = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                match part {
                    ContentPart::Text { text } => {
                        blocks.extend(non_empty(text).map(ContentBlock::Text))
                    }
                    ContentPart::ImageUrl { image_url } => blocks.push(ContentBlock::Image(
                        convert_image(&image_url.url).map_err(|reason| {
                            ProviderError::bad_param(
                                format!("messages[{i}].content[{j}].image_url"),
                                format!("messages[{i}].content[{j}].image_url: {reason}"),
                            )
                        })?,
                    )),
                }
            }
            Ok(blocks)
        }
        None => Ok(Vec::new()),
    }
}

/// A `data:image/<format>;base64,<data>` URL as an image block.
fn convert_image(url: &str) -> Result<ImageBlock, String> {
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
    let bytes = aws_smithy_types::base64::decode(data)
        .map_err(|e| format!("invalid base64 image data: {e}"))?;
    ImageBlock::builder()
        .format(format)
        .source(ImageSource::Bytes(Blob::new(bytes)))
        .build()
        .map_err(|e| e.to_string())
}

fn convert_assistant(i: usize, message: &Message) -> Result<Vec<ContentBlock>, ProviderError> {
    let mut blocks: Vec<ContentBlock> = convert_system(i, message)?
        .into_iter()
        .map(ContentBlock::Text)
        .collect();
    for (j, call) in message.tool_calls.iter().flatten().enumerate() {
        blocks.push(ContentBlock::ToolUse(convert_tool_call(i, j, call)?));
    }
    Ok(blocks)
}

fn convert_tool_call(i: usize, j: usize, call: &ToolCall) -> Result<ToolUseBlock, ProviderError> {
    let arguments = call.function.arguments.trim();
    let input: Value = if arguments.is_empty() {
        Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_str(arguments).map_err(|e| {
            ProviderError::bad_param(
                format!("messages[{i}].tool_calls[{j}].function.arguments"),
                format!("messages[{i}].tool_calls[{j}].function.arguments: not valid JSON ({e})"),
            )
        })?
    };
    ToolUseBlock::builder()
        .tool_use_id(&call.id)
        .name(&call.function.name)
        .input(json_to_document(&input))
        .build()
        .map_err(internal)
}

fn convert_tool_result(message: &Message) -> Result<ContentBlock, ProviderError> {
    let text = match &message.content {
        Some(Content::Text(text)) => text.clone(),
        Some(Content::Parts(parts)) => parts
            .iter()
            .filter_map(|part| match part {
                ContentPart::Text { text } => Some(text.as_str()),
                ContentPart::ImageUrl { .. } => None,
            })
            .collect::<Vec<_>>()
            .join("\n"),
        None => String::new(),
    };
    ToolResultBlock::builder()
        .tool_use_id(message.tool_call_id.as_deref().unwrap_or_default())
        .content(ToolResultContentBlock::Text(text))
        .build()
        .map(ContentBlock::ToolResult)
        .map_err(internal)
}

fn convert_inference_config(request: &ChatRequest) -> Option<InferenceConfiguration> {
    let stop = request
        .stop
        .as_ref()
        .map(|s| s.0.clone())
        .filter(|s| !s.is_empty());
    let max_tokens = request.max_output_tokens();
    if max_tokens.is_none()
        && request.temperature.is_none()
        && request.top_p.is_none()
        && stop.is_none()
    {
        return None;
    }
    Some(
        InferenceConfiguration::builder()
            // Validation caps max tokens at 1,000,000, well inside i32.
            .set_max_tokens(max_tokens.map(|t| i32::try_from(t).unwrap_or(i32::MAX)))
            .set_temperature(request.temperature.map(|t| t as f32))
            .set_top_p(request.top_p.map(|p| p as f32))
            .set_stop_sequences(stop)
            .build(),
    )
}

fn convert_tool_config(
    tools: &[Tool],
    choice: Option<&ToolChoice>,
    history_uses_tools: bool,
) -> Result<Option<ToolConfiguration>, ProviderError> {
    if tools.is_empty() || (choice == Some(&ToolChoice::None) && !history_uses_tools) {
        return Ok(None);
    }
    let specs = tools
        .iter()
        .map(|tool| {
            let f = &tool.function;
            let schema = match &f.parameters {
                Some(parameters) => json_to_document(parameters),
                None => json_to_document(&serde_json::json!({"type": "object", "properties": {}})),
            };
            ToolSpecification::builder()
                .name(&f.name)
                .set_description(f.description.clone())
                .input_schema(ToolInputSchema::Json(schema))
                .build()
                .map(BedrockTool::ToolSpec)
                .map_err(internal)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let choice = match choice {
        None | Some(ToolChoice::None) => None,
        Some(ToolChoice::Auto) => Some(BedrockToolChoice::Auto(AutoToolChoice::builder().build())),
        Some(ToolChoice::Required) => {
            Some(BedrockToolChoice::Any(AnyToolChoice::builder().build()))
        }
        Some(ToolChoice::Function { name }) => Some(BedrockToolChoice::Tool(
            SpecificToolChoice::builder()
                .name(name)
                .build()
                .map_err(internal)?,
        )),
    };
    ToolConfiguration::builder()
        .set_tools(Some(specs))
        .set_tool_choice(choice)
        .build()
        .map(Some)
        .map_err(internal)
}
