//! A direct Converse call's answer: a reply's JSON as the SDK's `ConverseOutput` (so the one
//! [`convert_response`](crate::provider::bedrock::convert_response) maps both paths), and an
//! error answer as the same [`Fault`] the SDK's typed errors give.

use aws_sdk_bedrockruntime::operation::converse::ConverseOutput;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseMetrics, ConverseOutput as ConverseReply, Message,
    StopReason, TokenUsage,
};
use serde::Deserialize;

use crate::provider::ProviderError;
use crate::provider::bedrock::{Fault, convert_fault};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reply {
    output: Option<Output>,
    stop_reason: String,
    usage: Usage,
    #[serde(default)]
    metrics: Option<Metrics>,
}

#[derive(Deserialize)]
struct Output {
    message: Option<Turn>,
}

#[derive(Deserialize)]
struct Turn {
    role: String,
    content: Vec<Block>,
}

/// A reply block; the direct path asks for text only, so text is all it reads.
#[derive(Deserialize)]
struct Block {
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Usage {
    input_tokens: i32,
    output_tokens: i32,
    total_tokens: i32,
    cache_read_input_tokens: Option<i32>,
    cache_write_input_tokens: Option<i32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metrics {
    latency_ms: i64,
}

/// A Converse reply's body as the SDK's output type.
pub fn parse_reply(body: &[u8]) -> Result<ConverseOutput, ProviderError> {
    let reply: Reply = serde_json::from_slice(body).map_err(|e| ProviderError::Upstream {
        message: format!("unreadable Converse reply from Bedrock: {e}"),
    })?;
    let output = match reply.output.and_then(|o| o.message) {
        Some(turn) => {
            let mut content = Vec::with_capacity(turn.content.len());
            for block in turn.content {
                let Some(text) = block.text else {
                    return Err(ProviderError::Upstream {
                        message: "a Converse reply to a text-only request carried a block that is not text".into(),
                    });
                };
                content.push(ContentBlock::Text(text));
            }
            let message = Message::builder()
                .role(ConversationRole::from(turn.role.as_str()))
                .set_content(Some(content))
                .build()
                .map_err(unreadable)?;
            Some(ConverseReply::Message(message))
        }
        None => None,
    };
    let usage = token_usage(reply.usage)?;
    let metrics = ConverseMetrics::builder()
        .latency_ms(reply.metrics.map_or(0, |m| m.latency_ms))
        .build()
        .map_err(unreadable)?;
    ConverseOutput::builder()
        .set_output(output)
        .stop_reason(StopReason::from(reply.stop_reason.as_str()))
        .usage(usage)
        .metrics(metrics)
        .build()
        .map_err(unreadable)
}

/// Converse's `usage` as the SDK's type.
pub(super) fn token_usage(usage: Usage) -> Result<TokenUsage, ProviderError> {
    TokenUsage::builder()
        .input_tokens(usage.input_tokens)
        .output_tokens(usage.output_tokens)
        .total_tokens(usage.total_tokens)
        .set_cache_read_input_tokens(usage.cache_read_input_tokens)
        .set_cache_write_input_tokens(usage.cache_write_input_tokens)
        .build()
        .map_err(unreadable)
}

pub(super) fn unreadable(error: impl std::fmt::Display) -> ProviderError {
    ProviderError::Upstream {
        message: format!("unreadable Converse reply from Bedrock: {error}"),
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(alias = "Message", alias = "errorMessage")]
    message: Option<String>,
    #[serde(rename = "__type", alias = "code")]
    kind: Option<String>,
}

/// The error of an answer with a non-2xx `status`, its `x-amzn-errortype` header and body,
/// read as the SDK reads restJson1 errors: the code from the header, else the body's
/// `__type` (either without its `:…` suffix or `…#` namespace), the body's `message`.
pub fn convert_error_reply(status: u16, error_type: Option<&str>, body: &[u8]) -> ProviderError {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let (message, kind) = match parsed {
        Some(ErrorBody { message, kind }) => (message, kind),
        None => (None, None),
    };
    let code = error_type
        .map(str::to_owned)
        .or(kind)
        .map(|code| sanitize_error_code(&code).to_owned());
    let message = message.unwrap_or_else(|| match &code {
        Some(code) => format!("Bedrock answered HTTP {status} ({code})"),
        None => format!(
            "Bedrock answered HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ),
    });
    convert_fault(Fault::from_code(code.as_deref(), Some(status)), &message)
}

/// An error code without the `:http://…` suffix of the header or the `namespace#` prefix of
/// `__type`.
fn sanitize_error_code(code: &str) -> &str {
    let code = code.split(':').next().unwrap_or(code);
    code.rsplit('#').next().unwrap_or(code).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_reply_reads_as_the_sdks_output() {
        let body = br#"{"output":{"message":{"role":"assistant","content":[{"text":"Hello"},{"text":" there"}]}},
            "stopReason":"max_tokens","usage":{"inputTokens":12,"outputTokens":8,"totalTokens":20,"cacheReadInputTokens":4},
            "metrics":{"latencyMs":31}}"#;
        let output = parse_reply(body).unwrap();
        let Some(ConverseReply::Message(message)) = output.output() else {
            panic!("no message in {output:?}");
        };
        assert_eq!(message.role(), &ConversationRole::Assistant);
        assert_eq!(
            message.content(),
            &[
                ContentBlock::Text("Hello".into()),
                ContentBlock::Text(" there".into())
            ]
        );
        assert_eq!(output.stop_reason(), &StopReason::MaxTokens);
        let usage = output.usage().unwrap();
        assert_eq!(
            (
                usage.input_tokens(),
                usage.output_tokens(),
                usage.cache_read_input_tokens()
            ),
            (12, 8, Some(4))
        );
        assert_eq!(output.metrics().unwrap().latency_ms(), 31);
    }

    #[test]
    fn a_reply_with_a_block_that_is_not_text_is_an_upstream_error() {
        let body = br#"{"output":{"message":{"role":"assistant","content":[{"toolUse":{"toolUseId":"t","name":"f","input":{}}}]}},
            "stopReason":"tool_use","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2},"metrics":{"latencyMs":1}}"#;
        assert!(matches!(
            parse_reply(body),
            Err(ProviderError::Upstream { message }) if message.contains("not text")
        ));
        assert!(matches!(
            parse_reply(b"<html>"),
            Err(ProviderError::Upstream { message }) if message.contains("unreadable Converse reply")
        ));
    }

    #[test]
    fn errors_are_classified_by_header_then_body_then_status() {
        let throttled = convert_error_reply(
            429,
            Some("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            br#"{"message":"Too many requests, please wait before trying again."}"#,
        );
        assert!(matches!(
            throttled,
            ProviderError::RateLimited { message, .. } if message == "Too many requests, please wait before trying again."
        ));
        // The quota spent: HTTP 400, still a throttle (the deployment cools down).
        let quota = convert_error_reply(
            400,
            None,
            br#"{"__type":"com.amazon.bedrock#ServiceQuotaExceededException","Message":"quota"}"#,
        );
        assert!(matches!(quota, ProviderError::RateLimited { .. }));
        let invalid = convert_error_reply(
            400,
            Some("ValidationException"),
            br#"{"message":"1 validation error detected: Value at 'inferenceConfig.maxTokens' failed to satisfy constraint"}"#,
        );
        assert!(matches!(
            invalid,
            ProviderError::BadRequest { param: Some(p), .. } if p == "max_tokens"
        ));
        let denied = convert_error_reply(403, None, b"");
        assert!(matches!(
            denied,
            ProviderError::AccessDenied { message } if message.contains("HTTP 403")
        ));
        let busy = convert_error_reply(503, None, b"<html>busy</html>");
        assert!(matches!(busy, ProviderError::Unavailable { .. }));
    }
}
