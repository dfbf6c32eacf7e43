//! The Converse fields beyond content, checked the way Bedrock checks them: `outputConfig`
//! (structured output), `serviceTier`, `requestMetadata`, and the model's own
//! `additionalModelRequestFields` (which model takes what is
//! [`crate::provider::bedrock::features`], shared with the gateway).
//!
//! Wording: field constraints in Bedrock's ValidationException form; a field the model does
//! not take in the model's own words inside Bedrock's prefix (Claude: `<field>: Extra inputs
//! are not permitted`; Nova: `extraneous key [<field>] is not permitted`), as users have
//! reported them. Two refusals are not documented and are this sandbox's wording: structured
//! output on a model without it, and a tier the model does not have.

use serde_json::{Map, Value};

use crate::content::{ServiceTier, StructuredOutput};
use crate::provider::bedrock::claude::ClaudeModel;
use crate::provider::bedrock::features::{
    METADATA_PAIRS, metadata_fits, structured_output, takes_service_tier,
};
use crate::sandbox::error::BedrockError;
use crate::sandbox::request_fields::{self, invalid};

/// What the options ask of the emulated model.
#[derive(Debug, Default)]
pub struct Options {
    /// The answer's JSON Schema.
    pub output_schema: Option<Value>,
    pub service_tier: Option<String>,
}

/// The keys of `additionalModelRequestFields` Claude models take over Converse.
const CLAUDE_FIELDS: &[&str] = &["thinking", "top_k", "output_config", "anthropic_beta"];

/// The keys Nova models take there.
const NOVA_FIELDS: &[&str] = &["inferenceConfig", "reasoningConfig"];

/// `outputConfig.effort` values.
const EFFORTS: &[&str] = &["low", "medium", "high", "xhigh", "max"];

/// Reads and checks the options of a Converse body for `model_id`.
pub fn read(map: &Map<String, Value>, model_id: &str) -> Result<Options, BedrockError> {
    check_additional_fields(map, model_id)?;
    check_metadata(map)?;
    Ok(Options {
        output_schema: output_schema(map, model_id)?,
        service_tier: service_tier(map, model_id)?,
    })
}

fn check_additional_fields(map: &Map<String, Value>, model_id: &str) -> Result<(), BedrockError> {
    let path = "additionalModelRequestFields";
    let Some(fields) = request_fields::optional_object(map, path, path)? else {
        return Ok(());
    };
    let claude = ClaudeModel::of(model_id).is_some();
    let nova = crate::catalogue::base_id(model_id).starts_with("amazon.nova");
    for key in fields.keys() {
        if claude && !CLAUDE_FIELDS.contains(&key.as_str()) {
            return Err(BedrockError::Validation(format!(
                "The model returned the following errors: {key}: Extra inputs are not permitted"
            )));
        }
        if nova && !NOVA_FIELDS.contains(&key.as_str()) {
            return Err(BedrockError::Validation(format!(
                "Malformed input request: #: extraneous key [{key}] is not permitted, please reformat your input and try again."
            )));
        }
    }
    Ok(())
}

/// The metadata's shape: at most 16 pairs of strings within Bedrock's length and pattern.
fn check_metadata(map: &Map<String, Value>) -> Result<(), BedrockError> {
    let path = "requestMetadata";
    let Some(metadata) = request_fields::optional_object(map, path, path)? else {
        return Ok(());
    };
    if metadata.is_empty() || metadata.len() > METADATA_PAIRS {
        return Err(invalid(
            path,
            "Member must have length less than or equal to 16, Member must have length greater than or equal to 1",
        ));
    }
    for (key, value) in metadata {
        if !metadata_fits(key, true) {
            return Err(invalid(
                path,
                r"Map keys must satisfy constraint: [Member must have length less than or equal to 256, Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [a-zA-Z0-9\s:_@$#=/+,-.]{1,256}]",
            ));
        }
        if !value.as_str().is_some_and(|v| metadata_fits(v, false)) {
            return Err(invalid(
                path,
                r"Map value must satisfy constraint: [Member must have length less than or equal to 256, Member must satisfy regular expression pattern: [a-zA-Z0-9\s:_@$#=/+,-.]{0,256}]",
            ));
        }
    }
    Ok(())
}

/// `outputConfig.textFormat`'s schema: a JSON text of a JSON Schema whose objects are closed,
/// on a model with structured output.
fn output_schema(map: &Map<String, Value>, model_id: &str) -> Result<Option<Value>, BedrockError> {
    let Some(config) = request_fields::optional_object(map, "outputConfig", "outputConfig")? else {
        return Ok(None);
    };
    match config.get("effort") {
        None | Some(Value::Null) => {}
        Some(Value::String(e)) if EFFORTS.contains(&e.as_str()) => {}
        Some(_) => {
            return Err(invalid(
                "outputConfig.effort",
                "Member must satisfy enum value set: [low, medium, high, xhigh, max]",
            ));
        }
    }
    let path = "outputConfig.textFormat";
    let Some(format) = request_fields::optional_object(config, "textFormat", path)? else {
        return Ok(None);
    };
    if format.get("type").and_then(Value::as_str) != Some("json_schema") {
        return Err(invalid(
            &format!("{path}.type"),
            "Member must satisfy enum value set: [json_schema]",
        ));
    }
    let schema = format
        .get("structure")
        .and_then(|s| s.get("jsonSchema"))
        .and_then(|s| s.get("schema"));
    let schema_path = format!("{path}.structure.jsonSchema.schema");
    let Some(Value::String(text)) = schema else {
        return Err(invalid(&schema_path, "Member must not be null"));
    };
    if structured_output(model_id) != StructuredOutput::Native {
        return Err(BedrockError::Validation(format!(
            "The model {model_id} does not support structured outputs (outputConfig.textFormat)."
        )));
    }
    let schema: Value = match serde_json::from_str(text) {
        Ok(schema @ Value::Object(_)) => schema,
        Ok(_) | Err(_) => {
            return Err(BedrockError::Validation(
                "The model returned the following errors: output_config.format.schema: the schema is not a valid JSON Schema object".into(),
            ));
        }
    };
    if let Some(open) = open_object(&schema) {
        return Err(BedrockError::Validation(format!(
            "The model returned the following errors: output_config.format.schema: For 'object' type, 'additionalProperties' must be explicitly set to false (at {open})"
        )));
    }
    Ok(Some(schema))
}

/// The JSON pointer of the first object schema not closed with `additionalProperties: false`.
fn open_object(schema: &Value) -> Option<String> {
    fn walk(schema: &Value, at: String) -> Option<String> {
        let map = schema.as_object()?;
        let is_object = map.get("type").and_then(Value::as_str) == Some("object")
            || map.contains_key("properties");
        if is_object && map.get("additionalProperties") != Some(&Value::Bool(false)) {
            return Some(if at.is_empty() { "/".to_owned() } else { at });
        }
        for key in ["properties", "$defs", "definitions"] {
            if let Some(Value::Object(children)) = map.get(key) {
                for (name, child) in children {
                    if let Some(found) = walk(child, format!("{at}/{key}/{name}")) {
                        return Some(found);
                    }
                }
            }
        }
        for key in ["anyOf", "allOf", "oneOf"] {
            if let Some(Value::Array(children)) = map.get(key) {
                for (i, child) in children.iter().enumerate() {
                    if let Some(found) = walk(child, format!("{at}/{key}/{i}")) {
                        return Some(found);
                    }
                }
            }
        }
        walk(map.get("items")?, format!("{at}/items"))
    }
    walk(schema, String::new())
}

/// `serviceTier.type`, when the model has that tier.
fn service_tier(map: &Map<String, Value>, model_id: &str) -> Result<Option<String>, BedrockError> {
    let Some(tier) = request_fields::optional_object(map, "serviceTier", "serviceTier")? else {
        return Ok(None);
    };
    let kind = match tier.get("type").and_then(Value::as_str) {
        Some("default") => ServiceTier::Default,
        Some("priority") => ServiceTier::Priority,
        Some("flex") => ServiceTier::Flex,
        Some("reserved") => return Err(BedrockError::Validation("Reservation not found.".into())),
        Some(_) | None => {
            return Err(invalid(
                "serviceTier.type",
                "Member must satisfy enum value set: [default, priority, flex, reserved]",
            ));
        }
    };
    if !takes_service_tier(model_id, kind) {
        return Err(BedrockError::Validation(format!(
            "The service tier {} is not supported for the model {model_id}.",
            kind.as_str()
        )));
    }
    Ok(Some(kind.as_str().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read_body(body: Value, model: &str) -> Result<Options, BedrockError> {
        read(body.as_object().unwrap(), model)
    }

    const SONNET: &str = "us.anthropic.claude-sonnet-4-6";
    const NOVA: &str = "us.amazon.nova-lite-v1:0";

    fn text_format(schema: Value) -> Value {
        json!({"outputConfig": {"textFormat": {"type": "json_schema",
            "structure": {"jsonSchema": {"schema": schema.to_string(), "name": "A"}}}}})
    }

    #[test]
    fn structured_output_needs_a_closed_schema_on_a_model_that_has_it() {
        let closed = json!({"type": "object", "properties": {"a": {"type": "string"}},
            "additionalProperties": false});
        let options = read_body(text_format(closed.clone()), SONNET).unwrap();
        assert_eq!(options.output_schema, Some(closed.clone()));
        let open = json!({"type": "object", "properties": {"a": {"type": "object"}}, "additionalProperties": false});
        let error = read_body(text_format(open), SONNET)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(
                "'additionalProperties' must be explicitly set to false (at /properties/a)"
            ),
            "{error}"
        );
        let error = read_body(text_format(closed), NOVA)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("does not support structured outputs"),
            "{error}"
        );
    }

    #[test]
    fn tiers_metadata_and_model_fields_are_checked() {
        let tier = |t: &str| json!({"serviceTier": {"type": t}});
        let nova_pro = "us.amazon.nova-pro-v1:0";
        assert_eq!(
            read_body(tier("flex"), nova_pro)
                .unwrap()
                .service_tier
                .as_deref(),
            Some("flex")
        );
        assert!(read_body(tier("flex"), NOVA).is_err());
        assert!(read_body(tier("priority"), SONNET).is_err());
        assert!(
            read_body(tier("gold"), NOVA)
                .unwrap_err()
                .to_string()
                .contains("serviceTier.type")
        );
        assert!(read_body(json!({"requestMetadata": {"team": "a b:c"}}), NOVA).is_ok());
        let error = read_body(json!({"requestMetadata": {"team": "ü"}}), NOVA).unwrap_err();
        assert!(
            error.to_string().contains("Map value must satisfy"),
            "{error}"
        );
        let error =
            read_body(json!({"additionalModelRequestFields": {"top_k": 3}}), NOVA).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("extraneous key [top_k] is not permitted"),
            "{error}"
        );
        let error =
            read_body(json!({"additionalModelRequestFields": {"topK": 3}}), SONNET).unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("topK: Extra inputs are not permitted"),
            "{error}"
        );
        assert!(
            read_body(
                json!({"additionalModelRequestFields": {"top_k": 3}}),
                SONNET
            )
            .is_ok()
        );
    }
}
