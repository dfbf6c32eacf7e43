//! Bedrock Runtime through the real `aws-sdk-bedrockruntime` client: Converse, ConverseStream
//! decoded event by event, InvokeModel and model errors here; per-account throttling, the
//! cross-Region split and injected faults in the submodules.

use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlockDelta, ContentBlockStart, ConverseOutput, ConverseStreamOutput,
    InferenceConfiguration, SpecificToolChoice, StopReason, Tool, ToolChoice, ToolConfiguration,
    ToolInputSchema, ToolSpecification,
};
use aws_smithy_types::Document;
use serde_json::{Value, json};

use crate::support::sandbox::{self as sbx, fast_settings, user_text};

mod converse;
mod faults;
mod quotas;
mod regions;
mod strict;

pub const SONNET: &str = "us.anthropic.claude-sonnet-4-6";
pub const HAIKU: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";

fn text_of(output: &ConverseOutput) -> String {
    let message = output.as_message().unwrap();
    message
        .content()
        .iter()
        .filter_map(|b| b.as_text().ok())
        .cloned()
        .collect()
}

#[tokio::test]
async fn converse_answers_with_text_and_usage() {
    let settings = fast_settings();
    let handle = sbx::start(settings.clone()).await;
    let client = sbx::bedrock(&handle, &settings, "genai");
    let out = client
        .converse()
        .model_id(SONNET)
        .messages(user_text("Hello there"))
        .send()
        .await
        .unwrap();
    let text = text_of(out.output().unwrap());
    assert!(text.contains(SONNET), "{text}");
    assert_eq!(out.stop_reason(), &StopReason::EndTurn);
    let usage = out.usage().unwrap();
    assert_eq!(usage.input_tokens(), 3); // "Hello there" = 11 chars
    assert_eq!(usage.output_tokens() as usize, text.len().div_ceil(4));
    assert_eq!(
        usage.total_tokens(),
        usage.input_tokens() + usage.output_tokens()
    );
    // Same request, same seed: same answer.
    let again = client
        .converse()
        .model_id(SONNET)
        .messages(user_text("Hello there"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        text_of(again.output().unwrap()).split(':').nth(1),
        text.split(':').nth(1)
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn converse_respects_max_tokens() {
    let settings = fast_settings();
    let handle = sbx::start(settings.clone()).await;
    let client = sbx::bedrock(&handle, &settings, "genai");
    let config = InferenceConfiguration::builder().max_tokens(4).build();
    let out = client
        .converse()
        .model_id(HAIKU)
        .messages(user_text("hi"))
        .inference_config(config)
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::MaxTokens);
    assert_eq!(out.usage().unwrap().output_tokens(), 4);
    handle.shutdown().await;
}

#[tokio::test]
async fn converse_calls_the_chosen_tool_with_its_required_fields() {
    let settings = fast_settings();
    let handle = sbx::start(settings.clone()).await;
    let client = sbx::bedrock(&handle, &settings, "genai");
    let schema = Document::Object(
        [
            ("type".to_string(), Document::String("object".into())),
            (
                "properties".to_string(),
                Document::Object(
                    [(
                        "city".to_string(),
                        Document::Object(
                            [("type".to_string(), Document::String("string".into()))].into(),
                        ),
                    )]
                    .into(),
                ),
            ),
            (
                "required".to_string(),
                Document::Array(vec![Document::String("city".into())]),
            ),
        ]
        .into(),
    );
    let spec = ToolSpecification::builder()
        .name("weather")
        .input_schema(ToolInputSchema::Json(schema))
        .build()
        .unwrap();
    let tools = ToolConfiguration::builder()
        .tools(Tool::ToolSpec(spec))
        .tool_choice(ToolChoice::Tool(
            SpecificToolChoice::builder()
                .name("weather")
                .build()
                .unwrap(),
        ))
        .build()
        .unwrap();
    let out = client
        .converse()
        .model_id(SONNET)
        .messages(user_text("weather?"))
        .tool_config(tools)
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::ToolUse);
    let message = out.output().unwrap().as_message().unwrap();
    let tool_use = message.content()[0].as_tool_use().unwrap();
    assert_eq!(tool_use.name(), "weather");
    let Document::Object(input) = tool_use.input() else {
        panic!("tool input is not an object")
    };
    assert_eq!(
        input.get("city"),
        Some(&Document::String("sandbox-city".into()))
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn converse_stream_is_decoded_event_by_event() {
    let settings = fast_settings();
    let handle = sbx::start(settings.clone()).await;
    let client = sbx::bedrock(&handle, &settings, "test");
    let out = client
        .converse_stream()
        .model_id(SONNET)
        .messages(user_text("Stream please"))
        .send()
        .await
        .unwrap();
    let mut stream = out.stream;
    let mut kinds = Vec::new();
    let mut text = String::new();
    let mut usage = None;
    while let Some(event) = stream.recv().await.unwrap() {
        match event {
            ConverseStreamOutput::MessageStart(_) => kinds.push("messageStart"),
            ConverseStreamOutput::ContentBlockDelta(delta) => {
                if let Some(ContentBlockDelta::Text(piece)) = delta.delta() {
                    text.push_str(piece);
                }
                kinds.push("contentBlockDelta");
            }
            ConverseStreamOutput::ContentBlockStop(_) => kinds.push("contentBlockStop"),
            ConverseStreamOutput::MessageStop(stop) => {
                assert_eq!(stop.stop_reason(), &StopReason::EndTurn);
                kinds.push("messageStop");
            }
            ConverseStreamOutput::Metadata(metadata) => {
                usage = metadata.usage().cloned();
                kinds.push("metadata");
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    kinds.dedup();
    assert_eq!(
        kinds,
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ]
    );
    assert!(text.contains(SONNET), "{text}");
    let usage = usage.unwrap();
    assert_eq!(usage.output_tokens() as usize, text.len().div_ceil(4));
    assert_eq!(usage.input_tokens(), 4);
    handle.shutdown().await;
}

#[tokio::test]
async fn converse_stream_tool_calls_start_a_block_then_stream_the_input() {
    let settings = fast_settings();
    let handle = sbx::start(settings.clone()).await;
    let client = sbx::bedrock(&handle, &settings, "genai");
    let spec = ToolSpecification::builder()
        .name("lookup")
        .input_schema(ToolInputSchema::Json(Document::Object(Default::default())))
        .build()
        .unwrap();
    let tools = ToolConfiguration::builder()
        .tools(Tool::ToolSpec(spec))
        .build()
        .unwrap();
    let out = client
        .converse_stream()
        .model_id(SONNET)
        .messages(user_text("x"))
        .tool_config(tools)
        .send()
        .await
        .unwrap();
    let mut stream = out.stream;
    let (mut started, mut input) = (None, String::new());
    while let Some(event) = stream.recv().await.unwrap() {
        match event {
            ConverseStreamOutput::ContentBlockStart(start) => {
                if let Some(ContentBlockStart::ToolUse(tool)) = start.start() {
                    started = Some(tool.name().to_owned());
                }
            }
            ConverseStreamOutput::ContentBlockDelta(delta) => {
                if let Some(ContentBlockDelta::ToolUse(piece)) = delta.delta() {
                    input.push_str(piece.input());
                }
            }
            _ => {}
        }
    }
    assert_eq!(started.as_deref(), Some("lookup"));
    assert_eq!(serde_json::from_str::<Value>(&input).unwrap(), json!({}));
    handle.shutdown().await;
}

#[tokio::test]
async fn invoke_model_speaks_anthropic_and_nova_bodies() {
    let settings = fast_settings();
    let handle = sbx::start(settings.clone()).await;
    let client = sbx::bedrock(&handle, &settings, "genai");
    let anthropic = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
        "messages": [{"role": "user", "content": "Hello"}]});
    let out = client
        .invoke_model()
        .model_id(HAIKU)
        .content_type("application/json")
        .body(Blob::new(anthropic.to_string()))
        .send()
        .await
        .unwrap();
    let reply: Value = serde_json::from_slice(out.body().as_ref()).unwrap();
    assert_eq!(
        (reply["type"].as_str(), reply["role"].as_str()),
        (Some("message"), Some("assistant"))
    );
    assert_eq!(reply["content"][0]["type"], "text");
    assert_eq!(reply["usage"]["input_tokens"], 2);
    let nova = json!({"messages": [{"role": "user", "content": [{"text": "Hello"}]}], "inferenceConfig": {"maxTokens": 5}});
    let out = client
        .invoke_model()
        .model_id("us.amazon.nova-pro-v1:0")
        .content_type("application/json")
        .body(Blob::new(nova.to_string()))
        .send()
        .await
        .unwrap();
    let reply: Value = serde_json::from_slice(out.body().as_ref()).unwrap();
    assert_eq!(reply["stopReason"], "max_tokens");
    assert_eq!(reply["usage"]["outputTokens"], 5);
    assert!(reply["output"]["message"]["content"][0]["text"].is_string());
    handle.shutdown().await;
}

#[tokio::test]
async fn unknown_models_and_long_prompts_get_bedrock_errors() {
    let settings = fast_settings();
    let handle = sbx::start(settings.clone()).await;
    let client = sbx::bedrock(&handle, &settings, "genai");
    let err = client
        .converse()
        .model_id("anthropic.claude-9")
        .messages(user_text("x"))
        .send()
        .await
        .unwrap_err();
    // Bedrock answers an unknown id with 400 ValidationException, not a 404.
    let service = err.as_service_error().unwrap();
    assert!(service.is_validation_exception(), "{err:?}");
    assert_eq!(
        service.meta().message(),
        Some("The provided model identifier is invalid.")
    );
    let long = "word ".repeat(110_000); // 137,500 tokens > nova-micro's 128k
    let err = client
        .converse()
        .model_id("amazon.nova-micro-v1:0")
        .messages(user_text(&long))
        .send()
        .await
        .unwrap_err();
    let service = err.as_service_error().unwrap();
    assert!(service.is_validation_exception());
    assert!(
        service
            .meta()
            .message()
            .unwrap()
            .contains("Input is too long for requested model")
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn malformed_bodies_and_missing_credentials_get_named_errors() {
    let settings = fast_settings();
    let handle = sbx::start(settings.clone()).await;
    let http = reqwest::Client::new();
    let url = format!(
        "{}/model/{}/converse",
        handle.endpoint(),
        "us.anthropic.claude-sonnet-4-6"
    );
    let response = http
        .post(&url)
        .header("authorization", sbx::sigv4_header(&settings, "genai"))
        .header("content-type", "application/json")
        .body(r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":"many"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "ValidationException"
    );
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("inferenceConfig.maxTokens"),
        "{body}"
    );
    let response = http.post(&url).body("{}").send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.headers()["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn admin_routes_report_and_reset_stats() {
    let settings = fast_settings();
    let handle = sbx::start(settings.clone()).await;
    let client = sbx::bedrock(&handle, &settings, "genai");
    client
        .converse()
        .model_id(SONNET)
        .messages(user_text("hi"))
        .send()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let stats: Value = serde_json::from_str(
        &http
            .get(format!("{}/_sandbox/stats", handle.endpoint()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stats["accounts"]["genai"]["models"][SONNET]["served"], 1);
    http.post(format!(
        "{}/_sandbox/regions/us-east-1/down",
        handle.endpoint()
    ))
    .send()
    .await
    .unwrap();
    http.post(format!("{}/_sandbox/reset", handle.endpoint()))
        .send()
        .await
        .unwrap();
    assert_eq!(handle.stats().total.total(), 0);
    handle.shutdown().await;
}
