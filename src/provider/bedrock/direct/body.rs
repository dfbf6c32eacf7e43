//! A Converse request as the JSON body Bedrock reads, for the requests the direct path sends:
//! text and cache points in the system blocks and the turns, and the inference settings.
//! Anything else (tools, images, documents, reasoning, the model's own fields, structured
//! output, a service tier, request metadata) is `None`: that call stays on the SDK.
//!
//! The field names and shapes are the SDK's own serialisers' (`protocol_serde` of
//! aws-sdk-bedrockruntime: `ser_converse_input`, `ser_cache_point_block`,
//! `ser_inference_configuration`).

use aws_sdk_bedrockruntime::types::{
    CachePointBlock, ContentBlock, InferenceConfiguration, SystemContentBlock,
};
use serde::Serialize;

use crate::provider::bedrock::ConverseRequest;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    messages: Vec<Turn<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<Part<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inference_config: Option<Inference<'a>>,
}

#[derive(Serialize)]
struct Turn<'a> {
    role: &'a str,
    content: Vec<Part<'a>>,
}

/// A block: `{"text": …}` or `{"cachePoint": {"type": …, "ttl": …}}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum Part<'a> {
    Text(&'a str),
    CachePoint(CachePoint<'a>),
}

#[derive(Serialize)]
struct CachePoint<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Inference<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
}

/// The Converse body of `request`, when every part of it is one the direct path sends.
pub fn converse_body(request: &ConverseRequest) -> Option<Vec<u8>> {
    let ConverseRequest {
        system,
        messages,
        inference_config,
        tool_config: None,
        additional_fields: None,
        output_config: None,
        service_tier: None,
        request_metadata: None,
        answer_tool: None,
    } = request
    else {
        return None;
    };
    let mut turns = Vec::with_capacity(messages.len());
    for message in messages {
        let mut content = Vec::with_capacity(message.content().len());
        for block in message.content() {
            content.push(match block {
                ContentBlock::Text(text) => Part::Text(text),
                ContentBlock::CachePoint(point) => Part::CachePoint(cache_point(point)),
                _ => return None,
            });
        }
        turns.push(Turn {
            role: message.role().as_str(),
            content,
        });
    }
    let mut parts = Vec::with_capacity(system.len());
    for block in system {
        parts.push(match block {
            SystemContentBlock::Text(text) => Part::Text(text),
            SystemContentBlock::CachePoint(point) => Part::CachePoint(cache_point(point)),
            _ => return None,
        });
    }
    let body = Body {
        messages: turns,
        system: parts,
        inference_config: inference_config.as_ref().map(inference),
    };
    serde_json::to_vec(&body).ok()
}

fn cache_point(point: &CachePointBlock) -> CachePoint<'_> {
    CachePoint {
        kind: point.r#type().as_str(),
        ttl: point.ttl().map(|ttl| ttl.as_str()),
    }
}

fn inference(config: &InferenceConfiguration) -> Inference<'_> {
    Inference {
        max_tokens: config.max_tokens(),
        temperature: config.temperature(),
        top_p: config.top_p(),
        stop_sequences: config.stop_sequences(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::ChatRequest;
    use crate::provider::bedrock::convert_request;

    const MODEL: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";

    fn body_of(request: serde_json::Value) -> Option<serde_json::Value> {
        let request: ChatRequest = serde_json::from_value(request).unwrap();
        let converse = convert_request(&request, MODEL, false).unwrap();
        converse_body(&converse).map(|bytes| serde_json::from_slice(&bytes).unwrap())
    }

    #[test]
    fn text_system_cache_points_and_settings_are_sent_as_converse_json() {
        let body = body_of(serde_json::json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": "Again"}
            ],
            "max_tokens": 32, "temperature": 0.5, "top_p": 0.25, "stop": ["END"]
        }))
        .expect("a direct body");
        assert_eq!(
            body,
            serde_json::json!({
                "messages": [
                    {"role": "user", "content": [{"text": "Hi"}]},
                    {"role": "assistant", "content": [{"text": "Hello."}]},
                    {"role": "user", "content": [{"text": "Again"}]}
                ],
                "system": [{"text": "Be brief."}, {"cachePoint": {"type": "default", "ttl": "1h"}}],
                "inferenceConfig": {"maxTokens": 32, "temperature": 0.5, "topP": 0.25, "stopSequences": ["END"]}
            })
        );
    }

    /// The body the SDK itself sends for `converse`: its client, pointed at a listener that
    /// reads one request and answers it with a minimal Converse reply.
    async fn body_the_sdk_sends(converse: ConverseRequest) -> serde_json::Value {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let capture = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            let body_start = loop {
                let n = socket.read(&mut buffer).await.unwrap();
                request.extend_from_slice(&buffer[..n]);
                if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                    break end + 4;
                }
            };
            let head = String::from_utf8_lossy(&request[..body_start]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap();
            while request.len() < body_start + length {
                let n = socket.read(&mut buffer).await.unwrap();
                request.extend_from_slice(&buffer[..n]);
            }
            let reply = r#"{"output":{"message":{"role":"assistant","content":[{"text":"ok"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2},"metrics":{"latencyMs":1}}"#;
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                reply.len()
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
            request[body_start..body_start + length].to_vec()
        });
        let config = aws_sdk_bedrockruntime::Config::builder()
            .behavior_version(aws_sdk_bedrockruntime::config::BehaviorVersion::latest())
            .region(aws_sdk_bedrockruntime::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(aws_credential_types::Credentials::new(
                "AKIDEXAMPLE000000001",
                "secret",
                None,
                None,
                "test",
            ))
            .build();
        let client = aws_sdk_bedrockruntime::Client::from_conf(config);
        client
            .converse()
            .model_id(MODEL)
            .set_system((!converse.system.is_empty()).then_some(converse.system))
            .set_messages(Some(converse.messages))
            .set_inference_config(converse.inference_config)
            .send()
            .await
            .unwrap();
        serde_json::from_slice(&capture.await.unwrap()).unwrap()
    }

    #[tokio::test]
    async fn the_body_is_the_one_the_sdk_sends() {
        let requests = [
            serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "Hi"}]}),
            serde_json::json!({
                "model": "m",
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": [{"type": "text", "text": "Long context", "cache_control": {"type": "ephemeral"}}]},
                    {"role": "assistant", "content": "Yes?"},
                    {"role": "user", "content": "Now answer."}
                ],
                "max_tokens": 100, "temperature": 0.25, "top_p": 0.5, "stop": ["\n\n", "END"]
            }),
        ];
        for request in requests {
            let request: ChatRequest = serde_json::from_value(request).unwrap();
            let converse = convert_request(&request, MODEL, false).unwrap();
            let ours: serde_json::Value =
                serde_json::from_slice(&converse_body(&converse).unwrap()).unwrap();
            assert_eq!(ours, body_the_sdk_sends(converse).await);
        }
    }

    #[test]
    fn a_bare_request_has_neither_system_nor_inference_config() {
        let body = body_of(serde_json::json!({
            "model": "m", "messages": [{"role": "user", "content": "Hi"}]
        }))
        .expect("a direct body");
        assert_eq!(
            body,
            serde_json::json!({"messages": [{"role": "user", "content": [{"text": "Hi"}]}]})
        );
    }

    #[test]
    fn tools_images_and_model_fields_stay_on_the_sdk() {
        let tools = serde_json::json!({
            "model": "m", "messages": [{"role": "user", "content": "Hi"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
        });
        let image = serde_json::json!({
            "model": "m", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
            ]}]
        });
        let top_k = serde_json::json!({
            "model": "m", "messages": [{"role": "user", "content": "Hi"}], "top_k": 5
        });
        let metadata = serde_json::json!({
            "model": "m", "messages": [{"role": "user", "content": "Hi"}], "metadata": {"team": "a"}
        });
        for request in [tools, image, top_k, metadata] {
            assert_eq!(body_of(request.clone()), None, "{request}");
        }
    }
}
