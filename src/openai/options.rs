//! The chat request's options beyond content, read once they are validated: the answer's
//! format, the thinking asked for, the service tier and the metadata tags.
//!
//! [`check`] runs at parse time, so each reader here can trust its field's shape; every
//! refusal names the field (`response_format.json_schema.name`).

use serde_json::Value;

use super::parse::RequestError;
use super::request::ChatRequest;
use crate::content::{Effort, OutputFormat, ServiceTier, Thinking};

/// `reasoning_effort` values, OpenAI's and the `xhigh` some clients send.
const EFFORTS: &[&str] = &["none", "minimal", "low", "medium", "high", "xhigh"];

/// `service_tier` values: OpenAI's (`auto`, `default`, `flex`, `priority`, `scale`).
const TIERS: &[&str] = &["auto", "default", "flex", "priority", "scale"];

/// OpenAI's limits on `metadata`: 16 pairs, keys up to 64 characters, values up to 512.
const METADATA_PAIRS: usize = 16;
const METADATA_KEY_CHARS: usize = 64;
const METADATA_VALUE_CHARS: usize = 512;

/// Refuses an option whose value no upstream could take.
pub(super) fn check(request: &ChatRequest) -> Result<(), RequestError> {
    if let Some(format) = &request.response_format {
        read_format(format)?;
    }
    if let Some(effort) = &request.reasoning_effort
        && !EFFORTS.contains(&effort.as_str())
    {
        return Err(RequestError::at(
            "reasoning_effort",
            format!(
                "reasoning_effort: {effort:?} is not one of {}",
                EFFORTS.join(", ")
            ),
        ));
    }
    if let Some(tier) = &request.service_tier
        && !TIERS.contains(&tier.as_str())
    {
        return Err(RequestError::at(
            "service_tier",
            format!("service_tier: {tier:?} is not one of {}", TIERS.join(", ")),
        ));
    }
    check_metadata(request.metadata.as_ref())
}

fn check_metadata(metadata: Option<&serde_json::Map<String, Value>>) -> Result<(), RequestError> {
    let Some(metadata) = metadata else {
        return Ok(());
    };
    if metadata.len() > METADATA_PAIRS {
        return Err(RequestError::at(
            "metadata",
            format!(
                "metadata: {} pairs, at most {METADATA_PAIRS} are allowed",
                metadata.len()
            ),
        ));
    }
    for (key, value) in metadata {
        let param = format!("metadata.{key}");
        if key.chars().count() > METADATA_KEY_CHARS {
            return Err(RequestError::at(
                param,
                format!("metadata: the key {key:?} is longer than {METADATA_KEY_CHARS} characters"),
            ));
        }
        match value {
            Value::String(v) if v.chars().count() <= METADATA_VALUE_CHARS => {}
            Value::String(_) => {
                return Err(RequestError::at(
                    param.clone(),
                    format!("{param}: longer than {METADATA_VALUE_CHARS} characters"),
                ));
            }
            _ => {
                return Err(RequestError::at(
                    param.clone(),
                    format!("{param}: metadata values must be strings"),
                ));
            }
        }
    }
    Ok(())
}

/// `response_format` as an output format; `text` (the default) is none.
fn read_format(format: &Value) -> Result<Option<OutputFormat>, RequestError> {
    let kind = format.get("type").and_then(Value::as_str);
    match kind {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(OutputFormat::JsonObject)),
        Some("json_schema") => {
            let spec = format.get("json_schema").ok_or_else(|| {
                RequestError::at(
                    "response_format.json_schema",
                    "response_format.json_schema: is required when type is json_schema",
                )
            })?;
            let name = spec.get("name").and_then(Value::as_str).ok_or_else(|| {
                RequestError::at(
                    "response_format.json_schema.name",
                    "response_format.json_schema.name: is required (a name of letters, digits, _ and -)",
                )
            })?;
            let schema = spec
                .get("schema")
                .cloned()
                .unwrap_or_else(|| serde_json::json!({"type": "object"}));
            if !schema.is_object() {
                return Err(RequestError::at(
                    "response_format.json_schema.schema",
                    "response_format.json_schema.schema: must be a JSON Schema object",
                ));
            }
            Ok(Some(OutputFormat::JsonSchema {
                name: name.to_owned(),
                description: spec
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                schema,
            }))
        }
        _ => Err(RequestError::at(
            "response_format.type",
            "response_format.type: expected \"text\", \"json_object\" or \"json_schema\"",
        )),
    }
}

impl ChatRequest {
    /// The answer's format (`response_format`), when it asks for JSON.
    pub fn output_format(&self) -> Option<OutputFormat> {
        self.response_format
            .as_ref()
            .and_then(|f| read_format(f).ok().flatten())
    }

    /// The thinking `reasoning_effort` asks for; `none` asks for none.
    pub fn thinking(&self) -> Option<Thinking> {
        let effort = Effort::parse(self.reasoning_effort.as_deref()?)?;
        Some(Thinking {
            effort,
            budget_tokens: None,
        })
    }

    /// The Bedrock tier `service_tier` asks for; `auto` asks for none (and `scale` is
    /// OpenAI's alone, see [`ChatRequest::openai_only_params`]).
    pub fn bedrock_service_tier(&self) -> Option<ServiceTier> {
        match self.service_tier.as_deref()? {
            "default" => Some(ServiceTier::Default),
            "flex" => Some(ServiceTier::Flex),
            "priority" => Some(ServiceTier::Priority),
            _ => None,
        }
    }

    /// `metadata`, then `user` as `user`: the tags of Converse `requestMetadata`.
    pub fn request_metadata(&self) -> Vec<(String, String)> {
        let mut tags: Vec<(String, String)> = self
            .metadata
            .iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect();
        if let Some(user) = &self.user
            && !tags.iter().any(|(k, _)| k == "user")
        {
            tags.push(("user".to_owned(), user.clone()));
        }
        tags
    }
}
