//! A Converse / ConverseStream request body → the canonical [`Conversation`].
//!
//! The inverse of the provider's conversion ([`crate::provider::bedrock::convert_conversation`]):
//! `system` (text, cache points), `messages` (text, image and document bytes, tool use, tool
//! result, reasoning with its signature or redacted, cache points), `inferenceConfig`,
//! `toolConfig` (tool specs, a cache point after them, the choice), the request's options
//! (`outputConfig`, `serviceTier`, `requestMetadata`) and the fields of
//! `additionalModelRequestFields` the canonical model knows (`thinking`, `top_k`,
//! `reasoningConfig`). A malformed field is refused as Bedrock refuses it: "1 validation error
//! detected: Value at '<path>' failed to satisfy constraint: …".

use serde_json::{Map, Value};

use crate::content::{
    Block, CacheTtl, ContentError, Conversation, Document, DocumentFormat, Effort, Image,
    ImageFormat, InferenceSettings, OutputFormat, Reasoning, Role, ServiceTier, SystemBlock,
    Thinking, ToolChoice, ToolResult, ToolResultContent, ToolSpec, ToolUse,
};

/// A Converse field Bedrock would refuse, in its words (`param` is the field's path).
fn invalid(path: &str, constraint: &str) -> ContentError {
    ContentError::new(
        path,
        format!(
            "1 validation error detected: Value at '{path}' failed to satisfy constraint: {constraint}"
        ),
    )
}

/// Reads a Converse request body (the JSON object) as a conversation.
pub fn to_conversation(body: &Map<String, Value>) -> Result<Conversation, ContentError> {
    let mut conversation = Conversation::default();
    for (i, block) in array(body.get("system"), "system")?.iter().enumerate() {
        conversation
            .system
            .push(system_block(block, &format!("system.{i}"))?);
    }
    let messages = body
        .get("messages")
        .ok_or_else(|| invalid("messages", "Member must not be null"))?;
    for (i, message) in array(Some(messages), "messages")?.iter().enumerate() {
        let path = format!("messages.{i}");
        let role = match message.get("role").and_then(Value::as_str) {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            _ => {
                return Err(invalid(
                    &format!("{path}.role"),
                    "Member must satisfy enum value set: [user, assistant]",
                ));
            }
        };
        let content = array(message.get("content"), &format!("{path}.content"))?;
        let mut blocks = Vec::with_capacity(content.len());
        for (j, block) in content.iter().enumerate() {
            blocks.push(content_block(block, &format!("{path}.content.{j}"))?);
        }
        conversation.push(role, blocks);
    }
    conversation.inference = inference(body.get("inferenceConfig"))?;
    tool_config(body.get("toolConfig"), &mut conversation)?;
    extra_fields(body.get("additionalModelRequestFields"), &mut conversation)?;
    options(body, &mut conversation)?;
    Ok(conversation)
}

fn array<'a>(value: Option<&'a Value>, path: &str) -> Result<&'a [Value], ContentError> {
    match value {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(invalid(path, "Member must be an array")),
    }
}

fn string<'a>(value: &'a Value, key: &str, path: &str) -> Result<&'a str, ContentError> {
    value
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(&format!("{path}.{key}"), "Member must not be null"))
}

fn system_block(block: &Value, path: &str) -> Result<SystemBlock, ContentError> {
    if let Some(text) = block.get("text") {
        let text = text
            .as_str()
            .ok_or_else(|| invalid(&format!("{path}.text"), "Member must be a string"))?;
        return Ok(SystemBlock::Text(text.to_owned()));
    }
    match block.get("cachePoint") {
        Some(point) => Ok(SystemBlock::CachePoint(CacheTtl::of_marker(point))),
        None => Err(invalid(
            path,
            "Member must contain exactly one of text, cachePoint",
        )),
    }
}

fn bytes(source: Option<&Value>, path: &str) -> Result<Vec<u8>, ContentError> {
    let encoded = source
        .and_then(|s| s.get("bytes"))
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(&format!("{path}.source.bytes"), "Member must not be null"))?;
    aws_smithy_types::base64::decode(encoded).map_err(|_| {
        invalid(
            &format!("{path}.source.bytes"),
            "Member must be base64-encoded",
        )
    })
}

fn image(image: &Value, path: &str) -> Result<Image, ContentError> {
    let format = match image.get("format").and_then(Value::as_str) {
        Some("png") => ImageFormat::Png,
        Some("jpeg") => ImageFormat::Jpeg,
        Some("gif") => ImageFormat::Gif,
        Some("webp") => ImageFormat::Webp,
        _ => {
            return Err(invalid(
                &format!("{path}.format"),
                "Member must satisfy enum value set: [png, jpeg, gif, webp]",
            ));
        }
    };
    Ok(Image {
        format,
        bytes: bytes(image.get("source"), path)?,
    })
}

fn document(document: &Value, path: &str) -> Result<Document, ContentError> {
    let format = match document.get("format").and_then(Value::as_str) {
        Some("pdf") => DocumentFormat::Pdf,
        Some("csv") => DocumentFormat::Csv,
        Some("doc") => DocumentFormat::Doc,
        Some("docx") => DocumentFormat::Docx,
        Some("xls") => DocumentFormat::Xls,
        Some("xlsx") => DocumentFormat::Xlsx,
        Some("html") => DocumentFormat::Html,
        Some("txt") => DocumentFormat::Txt,
        Some("md") => DocumentFormat::Md,
        _ => {
            return Err(invalid(
                &format!("{path}.format"),
                "Member must satisfy enum value set: [pdf, csv, doc, docx, xls, xlsx, html, txt, md]",
            ));
        }
    };
    Ok(Document {
        format,
        name: string(document, "name", path)?.to_owned(),
        bytes: bytes(document.get("source"), path)?,
    })
}

fn content_block(block: &Value, path: &str) -> Result<Block, ContentError> {
    let kinds = [
        "text",
        "image",
        "document",
        "toolUse",
        "toolResult",
        "reasoningContent",
        "cachePoint",
    ];
    let Some(kind) = kinds.iter().find(|k| block.get(**k).is_some()) else {
        return Err(invalid(
            path,
            "Member must contain exactly one of text, image, document, toolUse, toolResult, reasoningContent, cachePoint",
        ));
    };
    let inner = &block[*kind];
    let inner_path = format!("{path}.{kind}");
    Ok(match *kind {
        "text" => Block::Text(
            inner
                .as_str()
                .ok_or_else(|| invalid(&inner_path, "Member must be a string"))?
                .to_owned(),
        ),
        "image" => Block::Image(image(inner, &inner_path)?),
        "document" => Block::Document(document(inner, &inner_path)?),
        "toolUse" => Block::ToolUse(ToolUse {
            id: string(inner, "toolUseId", &inner_path)?.to_owned(),
            name: string(inner, "name", &inner_path)?.to_owned(),
            input: inner
                .get("input")
                .cloned()
                .unwrap_or(Value::Object(Map::new())),
        }),
        "toolResult" => Block::ToolResult(tool_result(inner, &inner_path)?),
        "reasoningContent" => reasoning(inner, &inner_path)?,
        _ => Block::CachePoint(CacheTtl::of_marker(inner)),
    })
}

fn tool_result(result: &Value, path: &str) -> Result<ToolResult, ContentError> {
    let mut content = Vec::new();
    for (i, part) in array(result.get("content"), &format!("{path}.content"))?
        .iter()
        .enumerate()
    {
        let part_path = format!("{path}.content.{i}");
        content.push(
            if let Some(text) = part.get("text").and_then(Value::as_str) {
                ToolResultContent::Text(text.to_owned())
            } else if let Some(json) = part.get("json") {
                ToolResultContent::Json(json.clone())
            } else if let Some(picture) = part.get("image") {
                ToolResultContent::Image(image(picture, &format!("{part_path}.image"))?)
            } else {
                return Err(invalid(
                    &part_path,
                    "Member must contain exactly one of text, json, image",
                ));
            },
        );
    }
    Ok(ToolResult {
        tool_use_id: string(result, "toolUseId", path)?.to_owned(),
        content,
        is_error: result.get("status").and_then(Value::as_str) == Some("error"),
    })
}

fn reasoning(reasoning: &Value, path: &str) -> Result<Block, ContentError> {
    if let Some(text) = reasoning.get("reasoningText") {
        return Ok(Block::Reasoning(Reasoning {
            text: string(text, "text", &format!("{path}.reasoningText"))?.to_owned(),
            signature: text
                .get("signature")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }));
    }
    let data = reasoning
        .get("redactedContent")
        .and_then(Value::as_str)
        .and_then(|d| aws_smithy_types::base64::decode(d).ok())
        .ok_or_else(|| {
            invalid(
                path,
                "Member must contain exactly one of reasoningText, redactedContent",
            )
        })?;
    Ok(Block::RedactedReasoning { data })
}

fn inference(config: Option<&Value>) -> Result<InferenceSettings, ContentError> {
    let Some(config) = config else {
        return Ok(InferenceSettings::default());
    };
    let number = |key: &str| config.get(key).and_then(Value::as_f64);
    let max_tokens = match config.get("maxTokens") {
        None | Some(Value::Null) => None,
        Some(n) => Some(n.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
            invalid(
                "inferenceConfig.maxTokens",
                "Member must have value greater than or equal to 1",
            )
        })?),
    };
    let stop_sequences = array(config.get("stopSequences"), "inferenceConfig.stopSequences")?
        .iter()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect();
    Ok(InferenceSettings {
        max_tokens,
        temperature: number("temperature"),
        top_p: number("topP"),
        stop_sequences,
        top_k: None,
    })
}

fn tool_config(
    config: Option<&Value>,
    conversation: &mut Conversation,
) -> Result<(), ContentError> {
    let Some(config) = config else {
        return Ok(());
    };
    for (i, tool) in array(config.get("tools"), "toolConfig.tools")?
        .iter()
        .enumerate()
    {
        if let Some(point) = tool.get("cachePoint") {
            conversation.tools_cache_point = Some(CacheTtl::of_marker(point));
            continue;
        }
        let path = format!("toolConfig.tools.{i}.toolSpec");
        let spec = tool
            .get("toolSpec")
            .ok_or_else(|| invalid(&path, "Member must not be null"))?;
        let schema = spec
            .get("inputSchema")
            .and_then(|s| s.get("json"))
            .ok_or_else(|| invalid(&format!("{path}.inputSchema"), "Member must not be null"))?;
        conversation.tools.push(ToolSpec {
            name: string(spec, "name", &path)?.to_owned(),
            description: spec
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            input_schema: schema.clone(),
        });
    }
    conversation.tool_choice = match config.get("toolChoice") {
        None | Some(Value::Null) => None,
        Some(choice) if choice.get("auto").is_some() => Some(ToolChoice::Auto),
        Some(choice) if choice.get("any").is_some() => Some(ToolChoice::Any),
        Some(choice) => Some(ToolChoice::Tool {
            name: choice
                .get("tool")
                .map(|t| string(t, "name", "toolConfig.toolChoice.tool"))
                .transpose()?
                .ok_or_else(|| {
                    invalid(
                        "toolConfig.toolChoice",
                        "Member must contain exactly one of auto, any, tool",
                    )
                })?
                .to_owned(),
        }),
    };
    Ok(())
}

/// The fields of `additionalModelRequestFields` the canonical model has: Claude's `thinking`
/// and `top_k`, Nova 2's `reasoningConfig`. Others are not carried (the request goes through
/// the canonical model to whichever deployment serves it).
fn extra_fields(
    fields: Option<&Value>,
    conversation: &mut Conversation,
) -> Result<(), ContentError> {
    let Some(fields) = fields else {
        return Ok(());
    };
    conversation.inference.top_k = fields.get("top_k").and_then(Value::as_u64);
    if let Some(thinking) = fields.get("thinking") {
        let budget = thinking.get("budget_tokens").and_then(Value::as_u64);
        conversation.thinking = match thinking.get("type").and_then(Value::as_str) {
            Some("enabled") | Some("adaptive") => Some(Thinking {
                effort: Effort::High,
                budget_tokens: budget,
            }),
            _ => None,
        };
    }
    if let Some(config) = fields.get("reasoningConfig")
        && config.get("type").and_then(Value::as_str) == Some("enabled")
    {
        let effort = config.get("maxReasoningEffort").and_then(Value::as_str);
        conversation.thinking = Some(Thinking {
            effort: effort.and_then(Effort::parse).unwrap_or(Effort::Medium),
            budget_tokens: None,
        });
    }
    Ok(())
}

/// `outputConfig` (its schema, its effort), `serviceTier`, `requestMetadata`.
fn options(body: &Map<String, Value>, conversation: &mut Conversation) -> Result<(), ContentError> {
    if let Some(config) = body.get("outputConfig") {
        if let Some(schema) = config
            .get("textFormat")
            .and_then(|f| f.get("structure"))
            .and_then(|s| s.get("jsonSchema"))
        {
            let path = "outputConfig.textFormat.structure.jsonSchema";
            let text = string(schema, "schema", path)?;
            let parsed = serde_json::from_str(text)
                .map_err(|_| invalid(&format!("{path}.schema"), "Member must be a JSON Schema"))?;
            conversation.output_format = Some(OutputFormat::JsonSchema {
                name: schema
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("response")
                    .to_owned(),
                description: schema
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                schema: parsed,
            });
        }
        if let (Some(effort), Some(thinking)) = (
            config
                .get("effort")
                .and_then(Value::as_str)
                .and_then(Effort::parse),
            conversation.thinking.as_mut(),
        ) {
            thinking.effort = effort;
        }
    }
    conversation.service_tier = match body
        .get("serviceTier")
        .and_then(|t| t.get("type"))
        .and_then(Value::as_str)
    {
        None => None,
        Some("default") => Some(ServiceTier::Default),
        Some("priority") => Some(ServiceTier::Priority),
        Some("flex") => Some(ServiceTier::Flex),
        Some(_) => {
            return Err(invalid(
                "serviceTier.type",
                "Member must satisfy enum value set: [default, priority, flex, reserved]",
            ));
        }
    };
    if let Some(metadata) = body.get("requestMetadata").and_then(Value::as_object) {
        conversation.metadata = metadata
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
            .collect();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(body: Value) -> Result<Conversation, ContentError> {
        to_conversation(body.as_object().unwrap())
    }

    #[test]
    fn a_boto3_converse_body_reads_whole() {
        let conversation = read(json!({
            "system": [{"text": "be brief"}, {"cachePoint": {"type": "default", "ttl": "1h"}}],
            "messages": [
                {"role": "user", "content": [{"text": "weather?"},
                    {"image": {"format": "png", "source": {"bytes": "AQI="}}}]},
                {"role": "assistant", "content": [
                    {"reasoningContent": {"reasoningText": {"text": "hm", "signature": "sig"}}},
                    {"toolUse": {"toolUseId": "t1", "name": "w", "input": {"city": "Paris"}}}]},
                {"role": "user", "content": [{"toolResult": {"toolUseId": "t1",
                    "content": [{"json": {"temp": 22}}], "status": "error"}}]}],
            "inferenceConfig": {"maxTokens": 512, "temperature": 0.5, "stopSequences": ["END"]},
            "toolConfig": {"tools": [{"toolSpec": {"name": "w", "inputSchema": {"json": {"type": "object"}}}},
                {"cachePoint": {"type": "default"}}], "toolChoice": {"tool": {"name": "w"}}},
            "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 2048}, "top_k": 5},
            "outputConfig": {"effort": "low"},
            "serviceTier": {"type": "flex"},
            "requestMetadata": {"team": "a"}
        }))
        .unwrap();
        assert_eq!(
            conversation.system[1],
            SystemBlock::CachePoint(CacheTtl::OneHour)
        );
        assert_eq!(conversation.messages.len(), 3);
        assert!(
            matches!(&conversation.messages[0].content[1], Block::Image(i) if i.bytes == [1, 2])
        );
        assert!(matches!(&conversation.messages[1].content[0],
            Block::Reasoning(r) if r.signature.as_deref() == Some("sig")));
        assert!(matches!(&conversation.messages[2].content[0], Block::ToolResult(r) if r.is_error));
        assert_eq!(conversation.inference.max_tokens, Some(512));
        assert_eq!(conversation.inference.top_k, Some(5));
        assert_eq!(conversation.tools_cache_point, Some(CacheTtl::FiveMinutes));
        assert_eq!(
            conversation.tool_choice,
            Some(ToolChoice::Tool { name: "w".into() })
        );
        assert_eq!(
            conversation.thinking,
            Some(Thinking {
                effort: Effort::Low,
                budget_tokens: Some(2048)
            })
        );
        assert_eq!(conversation.service_tier, Some(ServiceTier::Flex));
        assert_eq!(conversation.metadata, [("team".to_owned(), "a".to_owned())]);
    }

    #[test]
    fn malformed_fields_are_refused_in_bedrock_words_with_their_path() {
        let cases = [
            (json!({}), "messages"),
            (
                json!({"messages": [{"role": "bot", "content": []}]}),
                "messages.0.role",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"video": {}}]}]}),
                "messages.0.content.0",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"image": {"format": "bmp"}}]}]}),
                "messages.0.content.0.image.format",
            ),
            (
                json!({"messages": [], "inferenceConfig": {"maxTokens": 0}}),
                "inferenceConfig.maxTokens",
            ),
            (
                json!({"messages": [], "toolConfig": {"tools": [{}]}}),
                "toolConfig.tools.0.toolSpec",
            ),
            (
                json!({"messages": [], "serviceTier": {"type": "gold"}}),
                "serviceTier.type",
            ),
        ];
        for (body, path) in cases {
            let error = read(body.clone()).unwrap_err();
            assert_eq!(error.param, path, "{body}");
            assert!(
                error
                    .message
                    .starts_with(&format!("1 validation error detected: Value at '{path}'")),
                "{}",
                error.message
            );
        }
    }
}
