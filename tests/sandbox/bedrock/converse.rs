//! Converse's prompt caching (`cachePoint`) and thinking (`reasoningContent`), emulated as on
//! the Anthropic body, through the real SDK client.

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::types::{
    CachePointBlock, CachePointType, ContentBlock, ContentBlockDelta, ConversationRole,
    ConverseStreamOutput, ReasoningContentBlock, ReasoningContentBlockDelta, ReasoningTextBlock,
    StopReason, SystemContentBlock, TokenUsage, Tool, ToolConfiguration, ToolInputSchema,
    ToolResultBlock, ToolResultContentBlock, ToolSpecification, ToolUseBlock,
};
use aws_smithy_types::Document;

use super::SONNET;
use crate::support::sandbox::{self as sbx, fast_settings, max_tokens, message, user_text};

fn cache_point() -> CachePointBlock {
    CachePointBlock::builder()
        .r#type(CachePointType::Default)
        .build()
        .unwrap()
}

/// A system prompt of about 2,500 tokens (above Sonnet 4.6's 1,024 minimum) and a cache point.
fn cached_system() -> Vec<SystemContentBlock> {
    vec![
        SystemContentBlock::Text("You are a careful assistant. ".repeat(350)),
        SystemContentBlock::CachePoint(cache_point()),
    ]
}

fn thinking_on() -> Document {
    let thinking = Document::Object(
        [
            ("type".to_string(), Document::String("enabled".into())),
            (
                "budget_tokens".to_string(),
                Document::Number(aws_smithy_types::Number::PosInt(1024)),
            ),
        ]
        .into(),
    );
    Document::Object([("thinking".to_string(), thinking)].into())
}

async fn converse_usage(client: &Client, model: &str, question: &str) -> TokenUsage {
    let out = client
        .converse()
        .model_id(model)
        .set_system(Some(cached_system()))
        .messages(user_text(question))
        .inference_config(max_tokens(200))
        .send()
        .await
        .unwrap();
    out.usage().unwrap().clone()
}

#[tokio::test]
async fn a_cache_point_writes_the_prefix_once_and_later_calls_read_it() {
    let settings = fast_settings();
    let handle = sbx::start(settings.clone()).await;
    let genai = sbx::bedrock(&handle, &settings, "genai");
    let first = converse_usage(&genai, SONNET, "first question").await;
    let written = first.cache_write_input_tokens().unwrap();
    assert!(written >= 1024, "{first:?}");
    assert_eq!(first.cache_read_input_tokens(), Some(0));
    let second = converse_usage(&genai, SONNET, "second question").await;
    assert_eq!(second.cache_read_input_tokens(), Some(written));
    assert_eq!(second.cache_write_input_tokens(), Some(0));
    // Input tokens count neither; the total counts all.
    assert!(second.input_tokens() < 10, "{second:?}");
    assert_eq!(
        second.total_tokens(),
        second.input_tokens() + second.output_tokens() + written
    );
    // The stream's metadata says the same; another account shares nothing.
    let out = genai
        .converse_stream()
        .model_id(SONNET)
        .set_system(Some(cached_system()))
        .messages(user_text("third question"))
        .inference_config(max_tokens(200))
        .send()
        .await
        .unwrap();
    let mut stream = out.stream;
    let mut usage = None;
    while let Some(event) = stream.recv().await.unwrap() {
        if let ConverseStreamOutput::Metadata(metadata) = event {
            usage = metadata.usage().cloned();
        }
    }
    assert_eq!(usage.unwrap().cache_read_input_tokens(), Some(written));
    let test = sbx::bedrock(&handle, &settings, "test");
    let other = converse_usage(&test, SONNET, "first question").await;
    assert_eq!(other.cache_read_input_tokens(), Some(0));
    // A prefix under the model's minimum is not cached at all.
    let short = genai
        .converse()
        .model_id(SONNET)
        .system(SystemContentBlock::Text("Be brief.".into()))
        .system(SystemContentBlock::CachePoint(cache_point()))
        .messages(user_text("q"))
        .inference_config(max_tokens(50))
        .send()
        .await
        .unwrap();
    assert_eq!(short.usage().unwrap().cache_write_input_tokens(), None);
    handle.shutdown().await;
}

fn weather_tools() -> ToolConfiguration {
    let spec = ToolSpecification::builder()
        .name("get_weather")
        .input_schema(ToolInputSchema::Json(Document::Object(Default::default())))
        .build()
        .unwrap();
    ToolConfiguration::builder()
        .tools(Tool::ToolSpec(spec))
        .build()
        .unwrap()
}

#[tokio::test]
async fn thinking_comes_back_signed_and_must_be_sent_back_unmodified() {
    let settings = fast_settings();
    let handle = sbx::start(settings.clone()).await;
    let client = sbx::bedrock(&handle, &settings, "genai");
    let out = client
        .converse()
        .model_id(SONNET)
        .messages(user_text("What is the weather in Paris?"))
        .tool_config(weather_tools())
        .additional_model_request_fields(thinking_on())
        .inference_config(max_tokens(4000))
        .send()
        .await
        .unwrap();
    assert_eq!(out.stop_reason(), &StopReason::ToolUse);
    let content = out
        .output()
        .unwrap()
        .as_message()
        .unwrap()
        .content()
        .to_vec();
    let Some(ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(thought))) =
        content.first()
    else {
        panic!("the reply does not start with its reasoning: {content:?}");
    };
    assert!(!thought.text().is_empty() && thought.signature().is_some());
    let tool_use: &ToolUseBlock = content[1].as_tool_use().unwrap();
    let result = ToolResultBlock::builder()
        .tool_use_id(tool_use.tool_use_id())
        .content(ToolResultContentBlock::Text("sunny".into()))
        .build()
        .unwrap();
    let continue_with = |assistant: Vec<ContentBlock>| {
        client
            .converse()
            .model_id(SONNET)
            .messages(user_text("What is the weather in Paris?"))
            .messages(message(ConversationRole::Assistant, assistant))
            .messages(message(
                ConversationRole::User,
                vec![ContentBlock::ToolResult(result.clone())],
            ))
            .tool_config(weather_tools())
            .additional_model_request_fields(thinking_on())
            .inference_config(max_tokens(4000))
            .send()
    };
    // Sent back as it came: the loop goes on.
    let answer = continue_with(content.clone()).await.unwrap();
    assert_eq!(answer.stop_reason(), &StopReason::EndTurn);
    // Without its reasoning, or with it edited: Bedrock's refusals.
    let error = continue_with(content[1..].to_vec()).await.unwrap_err();
    let message_of = |e: &dyn ProvideErrorMetadata| e.message().unwrap_or("").to_owned();
    let missing = message_of(error.as_service_error().unwrap());
    assert!(
        missing.starts_with("The model returned the following errors: messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`."),
        "{missing}"
    );
    let edited = ReasoningTextBlock::builder()
        .text("I changed my mind.")
        .set_signature(thought.signature().map(str::to_owned))
        .build()
        .unwrap();
    let tampered = vec![
        ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(edited)),
        content[1].clone(),
    ];
    let error = continue_with(tampered).await.unwrap_err();
    let invalid = message_of(error.as_service_error().unwrap());
    assert!(
        invalid.contains("Invalid `signature` in `thinking` block"),
        "{invalid}"
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn newer_claude_models_think_their_own_way() {
    let settings = fast_settings();
    let handle = sbx::start(settings.clone()).await;
    let client = sbx::bedrock(&handle, &settings, "genai");
    // Sonnet 5 thinks unasked; its reasoning streams first, as block 0, signature only.
    let out = client
        .converse_stream()
        .model_id("global.anthropic.claude-sonnet-5")
        .messages(user_text("hello"))
        .inference_config(max_tokens(500))
        .send()
        .await
        .unwrap();
    let mut stream = out.stream;
    let mut blocks = Vec::new();
    while let Some(event) = stream.recv().await.unwrap() {
        if let ConverseStreamOutput::ContentBlockDelta(delta) = event {
            let kind = match delta.delta() {
                Some(ContentBlockDelta::ReasoningContent(
                    ReasoningContentBlockDelta::Signature(_),
                )) => "signature",
                Some(ContentBlockDelta::ReasoningContent(_)) => "reasoning",
                Some(ContentBlockDelta::Text(_)) => "text",
                _ => "other",
            };
            blocks.push((delta.content_block_index(), kind));
        }
    }
    blocks.dedup();
    assert_eq!(blocks, [(0, "signature"), (1, "text")]);
    // Opus 4.7 refuses manual thinking in Claude's words; the max output is enforced too.
    let error = client
        .converse()
        .model_id("us.anthropic.claude-opus-4-7")
        .messages(user_text("hello"))
        .additional_model_request_fields(thinking_on())
        .inference_config(max_tokens(500))
        .send()
        .await
        .unwrap_err();
    let message = error
        .as_service_error()
        .unwrap()
        .message()
        .unwrap()
        .to_owned();
    assert!(
        message.contains(r#"\"thinking.type.enabled\" is not supported for this model."#),
        "{message}"
    );
    let error = client
        .converse()
        .model_id(SONNET)
        .messages(user_text("hello"))
        .inference_config(max_tokens(100_000))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        error.as_service_error().unwrap().message(),
        Some(
            "The maximum tokens you requested exceeds the model limit of 64000. Try again with a maximum tokens value that is lower than 64000."
        )
    );
    handle.shutdown().await;
}
