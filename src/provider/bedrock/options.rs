//! A conversation's options beyond its content, as the fields of a Converse call of one
//! model (what each model takes is [`super::features`]):
//!
//! - the answer's format: `json_schema` → `outputConfig.textFormat` where the model has
//!   structured output (the schema closed with `additionalProperties: false`, as Bedrock
//!   requires), else, and for `json_object`, a tool named [`STRUCTURED_OUTPUT_TOOL`] with the
//!   schema as its input, forced when the client declared no tools of its own and the model
//!   takes a forced choice (Claude does not while thinking): the call's input is the answer;
//! - thinking ([`super::reasoning`]) and `top_k` → `additionalModelRequestFields`, adaptive
//!   thinking's effort → `outputConfig.effort`; a `top_k` the model has no field for is
//!   dropped (the router sends such requests elsewhere unless `drop_params` is on), and so
//!   are `temperature` and `top_k` when Claude thinks (it refuses them then);
//! - the service tier → `serviceTier` where the model has the tier, else dropped likewise;
//! - metadata → `requestMetadata`, refused by key when Bedrock's pattern would refuse it.

use std::collections::HashMap;

use aws_sdk_bedrockruntime::types::{
    JsonSchemaDefinition, OutputConfig, OutputFormat as BedrockOutputFormat, OutputFormatStructure,
    OutputFormatType, ServiceTier as BedrockServiceTier, ServiceTierType,
};
use serde_json::Value;

use super::claude::ClaudeModel;
use super::document::json_into_document;
use super::features::{
    METADATA_CHARS, METADATA_PAIRS, metadata_fits, structured_output, takes_service_tier,
    top_k_fields,
};
use super::reasoning::reasoning_fields;
use super::request::internal;
use crate::content::{
    Conversation, OutputFormat, STRUCTURED_OUTPUT_TOOL, ServiceTier, StructuredOutput, ToolChoice,
    ToolSpec,
};
use crate::provider::ProviderError;

/// The Converse fields of a conversation's options.
#[derive(Debug, Default)]
pub(super) struct CallOptions {
    pub additional_fields: Option<aws_smithy_types::Document>,
    pub output_config: Option<OutputConfig>,
    pub service_tier: Option<BedrockServiceTier>,
    pub request_metadata: Option<HashMap<String, String>>,
    pub answer_tool: Option<AnswerTool>,
}

/// The tool a structured answer is asked through, and whether the model is forced to call it
/// (then any text it writes besides is a preamble, not the answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerTool {
    pub name: &'static str,
    pub forced: bool,
}

/// The options of `conversation` for a call of `model`; a structured answer asked through a
/// tool adds that tool (and its choice) to the conversation. Claude thinks only at its own
/// sampling: with thinking on, `temperature` and `top_k` are dropped (it refuses them).
pub(super) fn convert_options(
    conversation: &mut Conversation,
    model: &str,
) -> Result<CallOptions, ProviderError> {
    let claude = ClaudeModel::of(model);
    let thinking = conversation
        .thinking
        .as_ref()
        .and_then(|thinking| reasoning_fields(model, thinking, conversation.inference.max_tokens));
    // Adaptive thinking's effort is Converse's own `outputConfig.effort`.
    let effort = match (claude, conversation.thinking) {
        (Some(c), Some(asked)) if c.takes_adaptive_thinking() => Some(asked.effort.as_str()),
        _ => None,
    };
    if thinking.is_some() && claude.is_some() {
        conversation.inference.temperature = None;
        conversation.inference.top_k = None;
    }
    let top_k = conversation
        .inference
        .top_k
        .and_then(|k| top_k_fields(model, k));
    let mut options = CallOptions {
        additional_fields: merge_fields(thinking, top_k).map(json_into_document),
        service_tier: conversation
            .service_tier
            .filter(|tier| takes_service_tier(model, *tier))
            .map(convert_service_tier)
            .transpose()?,
        request_metadata: request_metadata(&conversation.metadata)?,
        ..CallOptions::default()
    };
    let mut text_format = None;
    if let Some(format) = conversation.output_format.take() {
        match method(&format, model) {
            StructuredOutput::Native => text_format = Some(output_format(&format)?),
            StructuredOutput::Tool => {
                options.answer_tool = Some(answer_by_tool(conversation, &format, model));
            }
        }
    }
    if text_format.is_some() || effort.is_some() {
        let config = OutputConfig::builder()
            .set_text_format(text_format)
            .set_effort(effort.map(str::to_owned));
        options.output_config = Some(config.build());
    }
    Ok(options)
}

/// How `model` is asked for `format`: `json_object` has no schema to give structured output,
/// so it always goes through the tool.
pub fn method(format: &OutputFormat, model: &str) -> StructuredOutput {
    match format {
        OutputFormat::JsonObject => StructuredOutput::Tool,
        OutputFormat::JsonSchema { .. } => structured_output(model),
    }
}

/// Thinking's and `top_k`'s fields in one object; `None` when there are neither.
fn merge_fields(thinking: Option<Value>, top_k: Option<Value>) -> Option<Value> {
    match (thinking, top_k) {
        (Some(Value::Object(mut fields)), Some(Value::Object(more))) => {
            fields.extend(more);
            Some(Value::Object(fields))
        }
        (fields, None) | (None, fields) => fields,
        (Some(fields), Some(_)) => Some(fields),
    }
}

fn convert_service_tier(tier: ServiceTier) -> Result<BedrockServiceTier, ProviderError> {
    BedrockServiceTier::builder()
        .r#type(ServiceTierType::from(tier.as_str()))
        .build()
        .map_err(internal)
}

/// The metadata as `requestMetadata`; a pair Bedrock would refuse is refused here, by key.
fn request_metadata(
    tags: &[(String, String)],
) -> Result<Option<HashMap<String, String>>, ProviderError> {
    if tags.is_empty() {
        return Ok(None);
    }
    if tags.len() > METADATA_PAIRS {
        return Err(ProviderError::bad_param(
            "metadata",
            format!(
                "metadata: Bedrock takes at most {METADATA_PAIRS} metadata pairs (user counts as one); this request has {}",
                tags.len()
            ),
        ));
    }
    for (key, value) in tags {
        let param = match key.as_str() {
            "user" => "user".to_owned(),
            _ => format!("metadata.{key}"),
        };
        if !metadata_fits(key, true) || !metadata_fits(value, false) {
            return Err(ProviderError::bad_param(
                param.clone(),
                format!(
                    "{param}: Bedrock's requestMetadata takes keys and values of up to {METADATA_CHARS} letters, digits, spaces and :_@$#=/+,-. characters"
                ),
            ));
        }
    }
    Ok(Some(tags.iter().cloned().collect()))
}

/// `outputConfig.textFormat` for a schema: the schema as a JSON text, closed.
fn output_format(format: &OutputFormat) -> Result<BedrockOutputFormat, ProviderError> {
    let mut schema = format.schema();
    close_objects(&mut schema);
    let definition = JsonSchemaDefinition::builder()
        .schema(schema.to_string())
        .name(format.name())
        .set_description(match format {
            OutputFormat::JsonSchema { description, .. } => description.clone(),
            OutputFormat::JsonObject => None,
        })
        .build()
        .map_err(internal)?;
    BedrockOutputFormat::builder()
        .r#type(OutputFormatType::JsonSchema)
        .structure(OutputFormatStructure::JsonSchema(definition))
        .build()
        .map_err(internal)
}

/// Sets `additionalProperties: false` on every object schema that does not say otherwise:
/// Bedrock's structured output refuses open objects (OpenAI's strict mode requires the same,
/// so a schema written for it is unchanged).
pub fn close_objects(schema: &mut Value) {
    let Value::Object(map) = schema else {
        return;
    };
    let is_object =
        map.get("type").and_then(Value::as_str) == Some("object") || map.contains_key("properties");
    if is_object && !map.contains_key("additionalProperties") {
        map.insert("additionalProperties".to_owned(), Value::Bool(false));
    }
    for key in ["properties", "$defs", "definitions"] {
        if let Some(Value::Object(children)) = map.get_mut(key) {
            children.values_mut().for_each(close_objects);
        }
    }
    for key in ["anyOf", "allOf", "oneOf", "prefixItems"] {
        if let Some(Value::Array(children)) = map.get_mut(key) {
            children.iter_mut().for_each(close_objects);
        }
    }
    if let Some(items) = map.get_mut("items") {
        close_objects(items);
    }
}

/// Adds the answer tool, forced when nothing stands against it: the client's own tools (it
/// may mean to call them), or a model that takes no forced choice now. A client that said
/// `tool_choice: none` meant its own tools: they are left out and the answer tool forced.
fn answer_by_tool(
    conversation: &mut Conversation,
    format: &OutputFormat,
    model: &str,
) -> AnswerTool {
    if conversation.tool_choice == Some(ToolChoice::None) && !conversation.uses_tools() {
        conversation.tools.clear();
        conversation.tool_choice = None;
    }
    let forced = conversation.tools.is_empty()
        && ClaudeModel::of(model)
            .is_none_or(|claude| claude.takes_forced_tool_use() && conversation.thinking.is_none());
    conversation.tools.push(ToolSpec {
        name: STRUCTURED_OUTPUT_TOOL.to_owned(),
        description: Some(format!(
            "Give your answer as this tool's input: JSON in the {} format.",
            format.name()
        )),
        input_schema: format.schema(),
    });
    if forced {
        conversation.tool_choice = Some(ToolChoice::Tool {
            name: STRUCTURED_OUTPUT_TOOL.to_owned(),
        });
    }
    AnswerTool {
        name: STRUCTURED_OUTPUT_TOOL,
        forced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn close_objects_closes_every_open_object_schema() {
        let mut schema = json!({"type": "object", "properties": {
            "a": {"type": "object", "properties": {"x": {"type": "string"}}},
            "b": {"type": "array", "items": {"type": "object"}},
            "c": {"anyOf": [{"$ref": "#/$defs/D"}, {"type": "null"}]},
            "open": {"type": "object", "additionalProperties": true}},
            "$defs": {"D": {"type": "object", "properties": {}}}});
        close_objects(&mut schema);
        assert_eq!(schema["additionalProperties"], json!(false));
        assert_eq!(
            schema["properties"]["a"]["additionalProperties"],
            json!(false)
        );
        assert_eq!(
            schema["properties"]["b"]["items"]["additionalProperties"],
            json!(false)
        );
        assert_eq!(schema["$defs"]["D"]["additionalProperties"], json!(false));
        assert_eq!(
            schema["properties"]["open"]["additionalProperties"],
            json!(true)
        );
        assert_eq!(
            schema["properties"]["c"]["anyOf"][1],
            json!({"type": "null"})
        );
    }

    #[test]
    fn metadata_outside_bedrock_s_pattern_is_refused_by_key() {
        let ok = vec![("team".to_owned(), "search-1 a@b.c".to_owned())];
        assert_eq!(
            request_metadata(&ok).unwrap().unwrap()["team"],
            "search-1 a@b.c"
        );
        let bad = vec![("team".to_owned(), "ünïcode".to_owned())];
        let error = request_metadata(&bad).unwrap_err();
        assert!(
            error.client_message().contains("metadata.team"),
            "{error:?}"
        );
        let user = vec![("user".to_owned(), "x".repeat(300))];
        let error = request_metadata(&user).unwrap_err();
        assert!(error.client_message().starts_with("user:"), "{error:?}");
        assert_eq!(request_metadata(&[]).unwrap(), None);
    }
}
