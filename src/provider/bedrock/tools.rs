//! Canonical tools and tool choice → Converse `toolConfig`.
//!
//! Converse differs from the canonical model in two ways, both handled here:
//! - it has no "none" choice: [`ToolChoice::None`] leaves the tools out, unless the turns
//!   already hold tool calls or results, where Bedrock insists on a `toolConfig`: the tools
//!   are then sent with the choice left to the model;
//! - it wants a `toolConfig` whenever the turns hold tool calls or results, even if the
//!   client declared no tools: one is synthesised from the names the turns call (schema
//!   `{"type":"object"}`, choice auto). Tool results alone name no tool: nothing to declare.
//!
//! A cache point after the tools ([`Conversation::tools_cache_point`]) is a last entry of
//! `tools`, as Converse writes it.

use aws_sdk_bedrockruntime::types::{
    AnyToolChoice, AutoToolChoice, SpecificToolChoice, Tool as BedrockTool,
    ToolChoice as BedrockToolChoice, ToolConfiguration, ToolInputSchema, ToolSpecification,
};

use super::blocks::convert_cache_point;
use super::document::{json_into_document, json_to_document};
use super::request::internal;
use crate::content::{Conversation, ToolChoice, ToolSpec};
use crate::provider::ProviderError;

/// The conversation's `toolConfig`, taking its tools and choice out of it; see the module doc.
pub(super) fn convert_tool_config(
    conversation: &mut Conversation,
) -> Result<Option<ToolConfiguration>, ProviderError> {
    let uses_tools = conversation.uses_tools();
    if conversation.tools.is_empty() {
        return match uses_tools {
            true => convert_called_tools(&conversation.called_tool_names()),
            false => Ok(None),
        };
    }
    let choice = conversation.tool_choice.take();
    if choice == Some(ToolChoice::None) && !uses_tools {
        return Ok(None);
    }
    let tools = std::mem::take(&mut conversation.tools);
    let mut specs = Vec::with_capacity(tools.len() + 1);
    for tool in tools {
        specs.push(convert_tool_spec(tool)?);
    }
    if let Some(ttl) = conversation.tools_cache_point {
        specs.push(BedrockTool::CachePoint(convert_cache_point(ttl)?));
    }
    let choice = match choice {
        None | Some(ToolChoice::None) => None,
        Some(ToolChoice::Auto) => Some(BedrockToolChoice::Auto(AutoToolChoice::builder().build())),
        Some(ToolChoice::Any) => Some(BedrockToolChoice::Any(AnyToolChoice::builder().build())),
        Some(ToolChoice::Tool { name }) => Some(BedrockToolChoice::Tool(
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

fn convert_tool_spec(tool: ToolSpec) -> Result<BedrockTool, ProviderError> {
    ToolSpecification::builder()
        .name(tool.name)
        .set_description(tool.description)
        .input_schema(ToolInputSchema::Json(json_into_document(tool.input_schema)))
        .build()
        .map(BedrockTool::ToolSpec)
        .map_err(internal)
}

/// The `toolConfig` for turns with tool calls but no declared tools: one tool per name with
/// the minimal schema `{"type":"object"}`, the model free to choose (a tool call that comes
/// back is returned as one). With no names (tool results only), there is nothing to declare.
fn convert_called_tools(names: &[&str]) -> Result<Option<ToolConfiguration>, ProviderError> {
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
