//! Chat requests → canonical conversations, and canonical blocks → the reply message.

use serde_json::json;

use super::*;
use crate::content::{Message as Turn, Role as Speaker};
use crate::openai::parse_chat_request;

fn conversation(body: serde_json::Value) -> Result<Conversation, ContentError> {
    to_conversation(&parse_chat_request(body.to_string().as_bytes()).unwrap())
}

fn text(t: &str) -> Block {
    Block::Text(t.to_owned())
}

#[test]
fn roles_become_system_blocks_and_merged_turns() {
    let conversation = conversation(json!({"model": "m", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "developer", "content": [{"type": "text", "text": "no emojis"}, {"type": "text", "text": "  "}]},
        {"role": "user", "content": [{"type": "text", "text": "again"}]},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": " "}
    ]}))
    .unwrap();
    assert_eq!(
        conversation.system,
        [
            SystemBlock::Text("be brief".into()),
            SystemBlock::Text("no emojis".into())
        ]
    );
    assert_eq!(
        conversation.messages,
        [
            Turn {
                role: Speaker::User,
                content: vec![text("hi"), text("again")]
            },
            Turn {
                role: Speaker::Assistant,
                content: vec![text("hello")]
            },
        ],
        "same-role turns merge; a blank turn is none"
    );
    assert_eq!(conversation.inference, InferenceSettings::default());
    assert!(conversation.tools.is_empty());
    assert_eq!(conversation.tool_choice, None);
}

#[test]
fn data_url_images_are_decoded() {
    let conversation = conversation(
        json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/JPG;base64,aGk="}},
            {"type": "image_url", "image_url": {"url": "data:image/webp;base64,aGVsbG8="}}
        ]}]}),
    )
    .unwrap();
    assert_eq!(
        conversation.messages[0].content,
        [
            Block::Image(Image {
                format: ImageFormat::Jpeg,
                bytes: b"hi".to_vec()
            }),
            Block::Image(Image {
                format: ImageFormat::Webp,
                bytes: b"hello".to_vec()
            }),
        ]
    );
}

#[test]
fn tool_calls_and_results_become_blocks() {
    let conversation = conversation(json!({"model": "m", "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "t2", "type": "function", "function": {"name": "weather", "arguments": " "}}
        ]},
        {"role": "tool", "tool_call_id": "t1", "content": [{"type": "text", "text": "sun"}, {"type": "text", "text": "24C"}]},
        {"role": "tool", "tool_call_id": "t2", "content": "rain"}
    ]}))
    .unwrap();
    let call = |id: &str, input| {
        Block::ToolUse(ToolUse {
            id: id.into(),
            name: "weather".into(),
            input,
        })
    };
    assert_eq!(
        conversation.messages[1].content,
        [call("t1", json!({"city": "Paris"})), call("t2", json!({}))]
    );
    let result = |id: &str, t: &str| {
        Block::ToolResult(ToolResult {
            tool_use_id: id.into(),
            content: vec![ToolResultContent::Text(t.into())],
            is_error: false,
        })
    };
    assert_eq!(conversation.messages.len(), 3);
    assert_eq!(
        conversation.messages[2],
        Turn {
            role: Speaker::User,
            content: vec![result("t1", "sun\n24C"), result("t2", "rain")]
        }
    );
}

#[test]
fn tools_choice_and_settings_convert() {
    let conversation = conversation(json!({"model": "m", "max_tokens": 10,
        "max_completion_tokens": 20, "temperature": 0.25, "top_p": 0.5, "stop": "END",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [
            {"type": "function", "function": {"name": "f", "description": "does f",
                "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}}}},
            {"type": "function", "function": {"name": "g"}}
        ],
        "tool_choice": "required"}))
    .unwrap();
    assert_eq!(
        conversation.tools,
        [
            ToolSpec {
                name: "f".into(),
                description: Some("does f".into()),
                input_schema: json!({"type": "object", "properties": {"x": {"type": "integer"}}})
            },
            ToolSpec {
                name: "g".into(),
                description: None,
                input_schema: json!({"type": "object", "properties": {}})
            },
        ]
    );
    assert_eq!(conversation.tool_choice, Some(content::ToolChoice::Any));
    assert_eq!(
        conversation.inference,
        InferenceSettings {
            max_tokens: Some(20),
            temperature: Some(0.25),
            top_p: Some(0.5),
            stop_sequences: vec!["END".into()],
            top_k: None,
        }
    );
    let choice =
        |choice: serde_json::Value| convert_tool_choice(&serde_json::from_value(choice).unwrap());
    assert_eq!(choice(json!("none")), content::ToolChoice::None);
    assert_eq!(choice(json!("auto")), content::ToolChoice::Auto);
    assert_eq!(
        choice(json!({"type": "function", "function": {"name": "f"}})),
        content::ToolChoice::Tool { name: "f".into() }
    );
}

#[test]
fn refusals_name_the_field() {
    let refused = |messages: serde_json::Value| {
        conversation(json!({"model": "m", "messages": messages})).unwrap_err()
    };
    let image_in_system = refused(json!([
        {"role": "system", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]},
        {"role": "user", "content": "x"}
    ]));
    assert_eq!(
        image_in_system,
        ContentError::new(
            "messages[0].content[0]",
            "images are only supported in user messages"
        )
    );
    let remote_image = refused(json!([{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]));
    assert_eq!(remote_image.param, "messages[0].content[0].image_url");
    assert_eq!(
        remote_image.message,
        "messages[0].content[0].image_url: only data: URLs (base64) are supported on Bedrock deployments"
    );
    let bad_arguments = refused(json!([{"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}]));
    assert_eq!(
        bad_arguments.param,
        "messages[1].tool_calls[0].function.arguments"
    );
    assert!(bad_arguments.message.contains("not valid JSON"));
}

#[test]
fn assistant_message_joins_texts_and_lists_tool_calls() {
    let message = assistant_message(
        vec![
            Block::Reasoning(content::Reasoning {
                text: "think".into(),
                signature: Some("sig".into()),
            }),
            text("Let me "),
            text("look."),
            Block::ToolUse(ToolUse {
                id: "t1".into(),
                name: "weather".into(),
                input: json!({"city": "Paris"}),
            }),
            Block::CachePoint(content::CacheTtl::FiveMinutes),
        ],
        None,
    );
    assert_eq!(message.role, Role::Assistant);
    assert_eq!(message.content.as_deref(), Some("Let me look."));
    assert_eq!(message.reasoning_content.as_deref(), Some("think"));
    assert_eq!(
        message.thinking_blocks,
        Some(vec![ThinkingBlock::Thinking {
            thinking: "think".into(),
            signature: Some("sig".into())
        }])
    );
    let calls = message.tool_calls.unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].id.as_str(), calls[0].function.name.as_str()),
        ("t1", "weather")
    );
    assert_eq!(calls[0].function.arguments, r#"{"city":"Paris"}"#);

    let redacted = assistant_message(vec![Block::RedactedReasoning { data: vec![1, 2] }], None);
    assert_eq!((redacted.content, redacted.tool_calls), (None, None));
    assert_eq!(
        redacted.thinking_blocks,
        Some(vec![ThinkingBlock::RedactedThinking {
            data: "AQI=".into()
        }])
    );

    // The structured-output tool's call is the answer, not a tool call.
    let answer = assistant_message(
        vec![
            text("Here is the JSON: "),
            Block::ToolUse(ToolUse {
                id: "t2".into(),
                name: "json_tool_call".into(),
                input: json!({"a": 1}),
            }),
        ],
        Some("json_tool_call"),
    );
    assert_eq!(
        (answer.content.as_deref(), answer.tool_calls),
        (Some(r#"{"a":1}"#), None)
    );
}

#[test]
fn streamed_thinking_pieces_sent_back_are_one_signed_block() {
    let request = parse_chat_request(
        json!({"model": "m", "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "t", "type": "function", "function": {"name": "w", "arguments": "{}"}}],
             "thinking_blocks": [
                {"type": "thinking", "thinking": "I will "},
                {"type": "thinking", "thinking": "look."},
                {"type": "thinking", "thinking": "", "signature": "sig"},
                {"type": "redacted_thinking", "data": "AQI="}]},
            {"role": "tool", "tool_call_id": "t", "content": "sunny"}]})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let conversation = to_conversation(&request).unwrap();
    assert_eq!(
        conversation.messages[1].content[..2],
        [
            Block::Reasoning(content::Reasoning {
                text: "I will look.".into(),
                signature: Some("sig".into())
            }),
            Block::RedactedReasoning { data: vec![1, 2] },
        ]
    );
}
