//! The two request kinds of Bedrock Runtime's own routes as the pipeline carries them: a
//! Converse body read into the canonical conversation (any deployment can serve it), and an
//! InvokeModel body kept as the client's bytes (model-native: only its family's deployments).

use bytes::Bytes;

use crate::config::{Feature, ModelFamily};
use crate::content::{Block, Conversation, SystemBlock, ToolResultContent};
use crate::router::Needs;

/// Tokens counted for an image in the reservation (Bedrock's Claude charges about
/// width × height / 750; a 1092² image is 1 590).
const IMAGE_TOKEN_ESTIMATE: u64 = 1_600;

/// A Converse or ConverseStream request.
#[derive(Debug, Clone, PartialEq)]
pub struct ConverseCall {
    pub conversation: Conversation,
}

impl ConverseCall {
    /// The prompt's size, estimated at four characters a token and a flat count per image.
    pub fn estimated_input_tokens(&self) -> u64 {
        let mut chars = 0usize;
        let mut images = 0u64;
        for block in &self.conversation.system {
            if let SystemBlock::Text(text) = block {
                chars += text.len();
            }
        }
        for tool in &self.conversation.tools {
            chars += tool.name.len()
                + tool.description.as_ref().map_or(0, String::len)
                + tool.input_schema.to_string().len();
        }
        for block in self.conversation.messages.iter().flat_map(|m| &m.content) {
            match block {
                Block::Text(text) => chars += text.len(),
                Block::Reasoning(reasoning) => chars += reasoning.text.len(),
                Block::ToolUse(call) => chars += call.name.len() + call.input.to_string().len(),
                Block::ToolResult(result) => {
                    for piece in &result.content {
                        match piece {
                            ToolResultContent::Text(text) => chars += text.len(),
                            ToolResultContent::Json(value) => chars += value.to_string().len(),
                            ToolResultContent::Image(_) => images += 1,
                        }
                    }
                }
                Block::Image(_) => images += 1,
                Block::Document(document) => chars += document.bytes.len(),
                Block::RedactedReasoning { data } => chars += data.len(),
                Block::CachePoint(_) => {}
            }
        }
        (chars as u64).div_ceil(4) + images * IMAGE_TOKEN_ESTIMATE
    }

    /// Whether the conversation marks a prompt-cache prefix.
    pub fn marks_cache(&self) -> bool {
        let conversation = &self.conversation;
        conversation.tools_cache_point.is_some()
            || conversation
                .system
                .iter()
                .any(|b| matches!(b, SystemBlock::CachePoint(_)))
            || conversation
                .messages
                .iter()
                .flat_map(|m| &m.content)
                .any(|b| matches!(b, Block::CachePoint(_)))
    }

    /// What a deployment must be able to do to serve the conversation.
    pub fn needs(&self) -> Needs {
        let conversation = &self.conversation;
        let blocks = || conversation.messages.iter().flat_map(|m| &m.content);
        Needs::chat()
            .with(
                Feature::Tools,
                !conversation.tools.is_empty() || conversation.uses_tools(),
            )
            .with(
                Feature::Images,
                blocks().any(|b| matches!(b, Block::Image(_))),
            )
            .with(
                Feature::Documents,
                blocks().any(|b| matches!(b, Block::Document(_))),
            )
            .with(Feature::Reasoning, conversation.thinking.is_some())
    }
}

/// An InvokeModel or InvokeModelWithResponseStream request: the body as the client sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct InvokeCall {
    pub body: Bytes,
    /// `Content-Type`, as sent (Bedrock's default is `application/json`).
    pub content_type: Option<String>,
    /// `Accept`, as sent.
    pub accept: Option<String>,
    /// The family the body is written for: the model the client named.
    pub family: Option<ModelFamily>,
    /// The prompt's size, estimated from the body's length.
    pub input_tokens: u64,
    /// The body's own output limit (`max_tokens`, `maxTokens`, `max_gen_len`, …), if it has one.
    pub max_output_tokens: Option<u64>,
}

impl InvokeCall {
    /// The call of `body`, written for `family` (the model the client named), unless the body
    /// says its own: Anthropic's carries `anthropic_version`.
    pub fn new(
        body: Bytes,
        content_type: Option<String>,
        accept: Option<String>,
        family: Option<ModelFamily>,
    ) -> InvokeCall {
        let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        let max_output_tokens = parsed.as_ref().and_then(max_output_of);
        let anthropic = parsed
            .as_ref()
            .is_some_and(|body| body.get("anthropic_version").is_some());
        let family = match anthropic {
            true => Some(ModelFamily::Anthropic),
            false => family,
        };
        InvokeCall {
            input_tokens: (body.len() as u64).div_ceil(4),
            body,
            content_type,
            accept,
            family,
            max_output_tokens,
        }
    }

    /// Only the deployments of the body's family can read it.
    pub fn needs(&self) -> Needs {
        Needs {
            family: self.family,
            ..Needs::chat()
        }
    }
}

/// What a CountTokens request counts: a Converse request's conversation, or an InvokeModel
/// body.
#[derive(Debug, Clone, PartialEq)]
pub enum CountInput {
    Converse(Box<ConverseCall>),
    Invoke(Bytes),
}

impl CountInput {
    /// The count made here when Bedrock cannot make it.
    pub fn estimate(&self) -> u64 {
        match self {
            CountInput::Converse(call) => call.estimated_input_tokens(),
            CountInput::Invoke(body) => (body.len() as u64).div_ceil(4),
        }
    }
}

/// The output limit of a model-native body, by the names the families give it: Anthropic's
/// `max_tokens`, Nova's `inferenceConfig.maxTokens` (also `max_new_tokens`), Llama's
/// `max_gen_len`, Titan's `textGenerationConfig.maxTokenCount`.
fn max_output_of(body: &serde_json::Value) -> Option<u64> {
    let paths: [&[&str]; 6] = [
        &["max_tokens"],
        &["inferenceConfig", "maxTokens"],
        &["inferenceConfig", "max_new_tokens"],
        &["max_gen_len"],
        &["textGenerationConfig", "maxTokenCount"],
        &["maxTokens"],
    ];
    paths.iter().find_map(|path| {
        path.iter()
            .try_fold(body, |value, key| value.get(key))
            .and_then(serde_json::Value::as_u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::{Image, ImageFormat, Role, ToolSpec};
    use serde_json::json;

    #[test]
    fn a_conversation_says_what_it_needs_and_roughly_how_large_it_is() {
        let mut conversation = Conversation::default();
        conversation.push(
            Role::User,
            vec![
                Block::Text("x".repeat(40)),
                Block::Image(Image {
                    format: ImageFormat::Png,
                    bytes: vec![0; 10],
                }),
            ],
        );
        let call = ConverseCall { conversation };
        assert_eq!(call.estimated_input_tokens(), 10 + IMAGE_TOKEN_ESTIMATE);
        assert_eq!(call.needs().features, [Feature::Images]);
        let mut with_tools = call.clone();
        with_tools.conversation.tools.push(ToolSpec {
            name: "f".into(),
            description: None,
            input_schema: json!({}),
        });
        assert!(with_tools.needs().features.contains(&Feature::Tools));
    }

    #[test]
    fn a_native_body_reserves_its_own_output_limit() {
        let body = |v: serde_json::Value| Bytes::from(v.to_string());
        let cases = [
            (json!({"max_tokens": 300, "messages": []}), Some(300)),
            (json!({"inferenceConfig": {"maxTokens": 50}}), Some(50)),
            (json!({"prompt": "hi", "max_gen_len": 64}), Some(64)),
            (
                json!({"inputText": "hi", "textGenerationConfig": {"maxTokenCount": 9}}),
                Some(9),
            ),
            (json!({"prompt": "hi"}), None),
        ];
        for (json, expected) in cases {
            let call = InvokeCall::new(body(json.clone()), None, None, Some(ModelFamily::Meta));
            assert_eq!(call.max_output_tokens, expected, "{json}");
            assert_eq!(call.needs().family, Some(ModelFamily::Meta));
        }
        let anthropic = json!({"anthropic_version": "bedrock-2023-05-31", "messages": []});
        let call = InvokeCall::new(body(anthropic), None, None, Some(ModelFamily::Amazon));
        assert_eq!(call.family, Some(ModelFamily::Anthropic));
        let call = InvokeCall::new(Bytes::from_static(b"not json"), None, None, None);
        assert_eq!((call.max_output_tokens, call.input_tokens), (None, 2));
    }
}
