//! Where Bedrock is strict, the sandbox is too: each refusal through the real SDK client, with
//! Bedrock's exception name and message, so a request that passes offline passes on AWS.

use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, GuardrailContentBlock, GuardrailContentSource,
    GuardrailTextBlock, InferenceConfiguration, ToolResultBlock, ToolResultContentBlock,
    ToolUseBlock,
};
use aws_smithy_types::Document;
use resilient_llm::config::sandbox::Quota;

use super::HAIKU;
use crate::support::sandbox::{self as sbx, fast_settings, message, user_text};

/// The code and message of a failed call.
fn refusal<E: ProvideErrorMetadata>(error: &E) -> (String, String) {
    (
        error.code().unwrap_or("<no code>").to_owned(),
        error.message().unwrap_or("<no message>").to_owned(),
    )
}

fn validation(message: &str) -> (String, String) {
    ("ValidationException".to_owned(), message.to_owned())
}

#[tokio::test]
async fn converse_refuses_what_bedrock_refuses_in_its_words() {
    let settings = fast_settings();
    let handle = sbx::start(settings.clone()).await;
    let client = sbx::bedrock(&handle, &settings, "genai");
    let tool_use = ToolUseBlock::builder()
        .tool_use_id("t1")
        .name("get_weather")
        .input(Document::Object(Default::default()))
        .build()
        .unwrap();
    let tool_result = ToolResultBlock::builder()
        .tool_use_id("t1")
        .content(ToolResultContentBlock::Text("sunny".into()))
        .build()
        .unwrap();
    let tool_history = vec![
        user_text("Weather in Paris?"),
        message(
            ConversationRole::Assistant,
            vec![ContentBlock::ToolUse(tool_use)],
        ),
        message(
            ConversationRole::User,
            vec![ContentBlock::ToolResult(tool_result)],
        ),
    ];
    let assistant_first = vec![
        message(
            ConversationRole::Assistant,
            vec![ContentBlock::Text("Hello!".into())],
        ),
        user_text("Hi"),
    ];
    let blank = vec![message(
        ConversationRole::User,
        vec![
            ContentBlock::Text("Hi".into()),
            ContentBlock::Text("  ".into()),
        ],
    )];
    let cases = [
        (
            HAIKU,
            tool_history,
            validation(
                "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
            ),
        ),
        (
            HAIKU,
            assistant_first,
            validation(
                "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
            ),
        ),
        (
            HAIKU,
            blank,
            validation(
                "The text field in the ContentBlock object at messages.0.content.1 is blank. Add text to the text field, and try again.",
            ),
        ),
        (
            "anthropic.claude-9",
            vec![user_text("hi")],
            validation("The provided model identifier is invalid."),
        ),
        (
            "anthropic.claude-haiku-4-5-20251001-v1:0",
            vec![user_text("hi")],
            validation(
                "Invocation of model ID anthropic.claude-haiku-4-5-20251001-v1:0 with on-demand throughput isn\u{2019}t supported. Retry your request with the ID or ARN of an inference profile that contains this model.",
            ),
        ),
    ];
    for (model, messages, expected) in cases {
        let err = client
            .converse()
            .model_id(model)
            .set_messages(Some(messages.clone()))
            .send()
            .await
            .unwrap_err();
        let service = err.as_service_error().unwrap();
        assert!(service.is_validation_exception(), "{err:?}");
        assert_eq!(refusal(service), expected, "{model}");
        assert_eq!(err.raw_response().unwrap().status().as_u16(), 400);
        // ConverseStream validates the same way, before the stream starts.
        let err = client
            .converse_stream()
            .model_id(model)
            .set_messages(Some(messages))
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            refusal(err.as_service_error().unwrap()),
            expected,
            "{model}"
        );
    }
    handle.shutdown().await;
}

#[tokio::test]
async fn invoke_model_refuses_unknown_anthropic_keys_and_base_ids() {
    let settings = fast_settings();
    let handle = sbx::start(settings.clone()).await;
    let client = sbx::bedrock(&handle, &settings, "genai");
    let body = serde_json::json!({
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 16, "foo": 1,
        "messages": [{"role": "user", "content": "hi"}]
    });
    let invoke = |model: &'static str| {
        client
            .invoke_model()
            .model_id(model)
            .content_type("application/json")
            .body(Blob::new(body.to_string()))
            .send()
    };
    let err = invoke(HAIKU).await.unwrap_err();
    assert_eq!(
        refusal(err.as_service_error().unwrap()),
        validation("The model returned the following errors: foo: Extra inputs are not permitted")
    );
    let err = invoke("anthropic.claude-sonnet-4-6").await.unwrap_err();
    assert_eq!(
        refusal(err.as_service_error().unwrap()),
        validation(
            "Invocation of model ID anthropic.claude-sonnet-4-6 with on-demand throughput isn\u{2019}t supported. Retry your request with the ID or ARN of an inference profile that contains this model."
        )
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn throttles_say_which_quota_ran_out() {
    let rpm = Quota::per_minute(1, 1_000_000);
    let settings = sbx::with_model_quota(fast_settings(), HAIKU, rpm);
    let settings = sbx::with_model_quota(settings, super::SONNET, Quota::per_minute(100, 50));
    let handle = sbx::start(settings.clone()).await;
    let client = sbx::bedrock(&handle, &settings, "genai");
    let call = |model: &'static str| {
        client
            .converse()
            .model_id(model)
            .messages(user_text("hi"))
            .inference_config(InferenceConfiguration::builder().max_tokens(100).build())
            .send()
    };
    call(HAIKU).await.unwrap();
    let err = call(HAIKU).await.unwrap_err();
    let service = err.as_service_error().unwrap();
    assert!(service.is_throttling_exception(), "{err:?}");
    assert_eq!(
        service.message(),
        Some("Too many requests, please wait before trying again.")
    );
    // 1 input token + 100 reserved for output > 50 tokens a minute.
    let err = call(super::SONNET).await.unwrap_err();
    let service = err.as_service_error().unwrap();
    assert!(service.is_throttling_exception(), "{err:?}");
    assert_eq!(
        service.message(),
        Some("Too many tokens, please wait before trying again.")
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn operations_the_sandbox_lacks_answer_with_an_error_code_the_sdk_reads() {
    let settings = fast_settings();
    let handle = sbx::start(settings.clone()).await;
    let client = sbx::bedrock(&handle, &settings, "genai");
    // A route the sandbox does not have at all.
    let content =
        GuardrailContentBlock::Text(GuardrailTextBlock::builder().text("hi").build().unwrap());
    let err = client
        .apply_guardrail()
        .guardrail_identifier("g1")
        .guardrail_version("1")
        .source(GuardrailContentSource::Input)
        .content(content)
        .send()
        .await
        .unwrap_err();
    let service = err.as_service_error().unwrap();
    assert_eq!(service.code(), Some("UnknownOperationException"), "{err:?}");
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 404);
    handle.shutdown().await;
}

/// CountTokens counts an InvokeModel body for a base Claude model id, free, and refuses an
/// inference profile as Bedrock does.
#[tokio::test]
async fn count_tokens_counts_base_claude_ids_and_refuses_profiles() {
    let settings = fast_settings();
    let handle = sbx::start(settings.clone()).await;
    let client = sbx::bedrock(&handle, &settings, "genai");
    let body = serde_json::json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5,
        "messages": [{"role": "user", "content": "Count these words for me, please."}]});
    let count = |model: &'static str| {
        let input = aws_sdk_bedrockruntime::types::InvokeModelTokensRequest::builder()
            .body(Blob::new(body.to_string()))
            .build()
            .unwrap();
        client
            .count_tokens()
            .model_id(model)
            .input(aws_sdk_bedrockruntime::types::CountTokensInput::InvokeModel(input))
            .send()
    };
    let counted = count("anthropic.claude-haiku-4-5-20251001-v1:0")
        .await
        .unwrap();
    assert_eq!(counted.input_tokens(), 9);
    let err = count(HAIKU).await.unwrap_err();
    assert_eq!(
        refusal(err.as_service_error().unwrap()),
        validation("The provided model doesn't support counting tokens.")
    );
    assert_eq!(
        handle.stats().model_calls("genai", HAIKU).total(),
        0,
        "counting is not a call"
    );
    handle.shutdown().await;
}
