//! `convert_request`: messages, images, tools, inference settings and refused parameters.

use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ImageFormat, ImageSource, Message, SystemContentBlock,
    ToolChoice as BedrockToolChoice, ToolResultContentBlock,
};
use serde_json::json;

use super::request;
use crate::provider::ProviderError;
use crate::provider::bedrock::*;

/// The Converse request of `request` for a model with no options of its own.
fn convert_request_for(
    request: &crate::openai::ChatRequest,
    drop_params: bool,
) -> Result<ConverseRequest, ProviderError> {
    convert_request(request, "m", drop_params)
}

fn text_of(message: &Message) -> Vec<&str> {
    message
        .content()
        .iter()
        .filter_map(|b| b.as_text().ok().map(String::as_str))
        .collect()
}

#[test]
fn system_user_and_inference_config_convert() {
    let converse = convert_request_for(&request(json!({"model": "m", "max_tokens": 10, "max_completion_tokens": 20,
            "temperature": 0.25, "top_p": 0.5, "stop": ["END"], "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": [{"type": "text", "text": "no emojis"}]},
            {"role": "user", "content": "hi"},
            {"role": "user", "content": [{"type": "text", "text": "again"}, {"type": "text", "text": " "}]}
        ]})),
        false,
    )
    .unwrap();
    assert_eq!(
        converse.system,
        vec![
            SystemContentBlock::Text("be brief".into()),
            SystemContentBlock::Text("no emojis".into())
        ]
    );
    assert_eq!(converse.messages.len(), 1, "consecutive user turns merge");
    assert_eq!(converse.messages[0].role(), &ConversationRole::User);
    assert_eq!(
        text_of(&converse.messages[0]),
        ["hi", "again"],
        "blank text is dropped"
    );
    let config = converse.inference_config.unwrap();
    assert_eq!(config.max_tokens(), Some(20), "max_completion_tokens wins");
    assert_eq!(config.temperature(), Some(0.25));
    assert_eq!(config.top_p(), Some(0.5));
    assert_eq!(config.stop_sequences(), ["END"]);
    assert_eq!(converse.tool_config, None);
}

#[test]
fn no_options_means_no_inference_config() {
    let converse = convert_request_for(
        &request(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})),
        false,
    )
    .unwrap();
    assert_eq!(converse.inference_config, None);
    assert!(converse.system.is_empty());
}

#[test]
fn data_url_images_become_image_blocks() {
    let converse = convert_request_for(
        &request(
            json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGVsbG8="}},
                {"type": "image_url", "image_url": {"url": "data:image/JPG;base64,aGk="}}
            ]}]}),
        ),
        false,
    )
    .unwrap();
    let content = converse.messages[0].content();
    let ContentBlock::Image(png) = &content[1] else {
        panic!("{content:?}")
    };
    assert_eq!(png.format(), &ImageFormat::Png);
    assert_eq!(
        png.source(),
        Some(&ImageSource::Bytes(b"hello".to_vec().into()))
    );
    let ContentBlock::Image(jpeg) = &content[2] else {
        panic!("{content:?}")
    };
    assert_eq!(jpeg.format(), &ImageFormat::Jpeg);
}

#[test]
fn unusable_images_are_refused_by_path() {
    let cases = [
        ("https://example.com/cat.png", "only data: URLs"),
        ("data:image/bmp;base64,AAAA", "unsupported image type"),
        ("data:image/png,rawbytes", "base64-encoded"),
        ("data:image/png;base64,!!!", "invalid base64"),
    ];
    for (url, words) in cases {
        let error = convert_request_for(&request(json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": url}}]}]})),
            false,
        )
        .unwrap_err();
        let ProviderError::Unsupported { param, message } = &error else {
            panic!("{error:?}")
        };
        assert_eq!(param, "messages[0].content[1].image_url");
        assert!(message.contains(words), "{url}: {message}");
    }
}

#[test]
fn tool_round_trip_history_converts() {
    let converse = convert_request_for(&request(json!({"model": "m", "messages": [
            {"role": "user", "content": "weather in Paris and Rome?"},
            {"role": "assistant", "content": "Let me look.", "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "t2", "type": "function", "function": {"name": "weather", "arguments": ""}}
            ]},
            {"role": "tool", "tool_call_id": "t1", "content": "sunny"},
            {"role": "tool", "tool_call_id": "t2", "content": [{"type": "text", "text": "rain"}]},
            {"role": "user", "content": "thanks"}
        ], "tools": [{"type": "function", "function": {"name": "weather", "description": "forecast",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
           "tool_choice": "required"})),
        false,
    )
    .unwrap();
    let roles: Vec<_> = converse.messages.iter().map(|m| m.role().clone()).collect();
    assert_eq!(
        roles,
        [
            ConversationRole::User,
            ConversationRole::Assistant,
            ConversationRole::User
        ]
    );
    let assistant = converse.messages[1].content();
    assert_eq!(assistant[0], ContentBlock::Text("Let me look.".into()));
    let ContentBlock::ToolUse(first) = &assistant[1] else {
        panic!("{assistant:?}")
    };
    assert_eq!((first.tool_use_id(), first.name()), ("t1", "weather"));
    assert_eq!(document_to_json(first.input()), json!({"city": "Paris"}));
    let ContentBlock::ToolUse(second) = &assistant[2] else {
        panic!("{assistant:?}")
    };
    assert_eq!(
        document_to_json(second.input()),
        json!({}),
        "empty arguments are {{}}"
    );
    let results = converse.messages[2].content();
    assert_eq!(
        results.len(),
        3,
        "both tool results and the user text in one user turn"
    );
    let ContentBlock::ToolResult(r1) = &results[0] else {
        panic!("{results:?}")
    };
    assert_eq!(r1.tool_use_id(), "t1");
    assert_eq!(r1.content(), [ToolResultContentBlock::Text("sunny".into())]);
    let ContentBlock::ToolResult(r2) = &results[1] else {
        panic!("{results:?}")
    };
    assert_eq!(r2.content(), [ToolResultContentBlock::Text("rain".into())]);
    assert_eq!(results[2], ContentBlock::Text("thanks".into()));

    let tools = converse.tool_config.unwrap();
    assert!(matches!(
        tools.tool_choice(),
        Some(BedrockToolChoice::Any(_))
    ));
    let spec = tools.tools()[0].as_tool_spec().unwrap();
    assert_eq!(spec.name(), "weather");
    assert_eq!(spec.description(), Some("forecast"));
    let schema = spec.input_schema().unwrap().as_json().unwrap();
    assert_eq!(
        document_to_json(schema)["properties"]["city"]["type"],
        "string"
    );
}

#[test]
fn tool_choice_maps_and_none_omits_tools() {
    let tools = json!([{"type": "function", "function": {"name": "f"}}]);
    let config = |choice: serde_json::Value, with_history: bool| {
        let mut messages = vec![json!({"role": "user", "content": "hi"})];
        if with_history {
            messages.push(json!({"role": "assistant", "tool_calls": [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}));
            messages.push(json!({"role": "tool", "tool_call_id": "a", "content": "ok"}));
        }
        convert_request_for(
            &request(
                json!({"model": "m", "messages": messages, "tools": tools, "tool_choice": choice}),
            ),
            false,
        )
        .unwrap()
        .tool_config
    };
    assert!(matches!(
        config(json!("auto"), false).unwrap().tool_choice(),
        Some(BedrockToolChoice::Auto(_))
    ));
    let named = config(
        json!({"type": "function", "function": {"name": "f"}}),
        false,
    )
    .unwrap();
    assert_eq!(named.tool_choice().unwrap().as_tool().unwrap().name(), "f");
    assert_eq!(config(json!("none"), false), None);
    let kept = config(json!("none"), true).unwrap();
    assert_eq!(
        kept.tool_choice(),
        None,
        "history with tool calls keeps the tools, model decides"
    );
    let spec = kept.tools()[0].as_tool_spec().unwrap();
    assert_eq!(
        document_to_json(spec.input_schema().unwrap().as_json().unwrap()),
        json!({"type": "object", "properties": {}})
    );
}

#[test]
fn bad_tool_arguments_are_named() {
    let error = convert_request_for(&request(json!({"model": "m", "messages": [{"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}]})),
        false,
    )
    .unwrap_err();
    assert_eq!(
        error.param(),
        Some("messages[1].tool_calls[0].function.arguments")
    );
}

#[test]
fn unsupported_params_are_refused_or_dropped() {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "presence_penalty": 0.5, "seed": 1});
    let error = convert_request_for(&request(body.clone()), false).unwrap_err();
    assert_eq!(error.param(), Some("presence_penalty"));
    assert!(error.client_message().contains("drop_params"));
    assert!(convert_request_for(&request(body), true).is_ok());
    let images_in_system = json!({"model": "m", "messages": [{"role": "system", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]}, {"role": "user", "content": "x"}]});
    assert_eq!(
        convert_request_for(&request(images_in_system), true)
            .unwrap_err()
            .param(),
        Some("messages[0].content[0]")
    );
}

#[test]
fn tool_history_without_tools_gets_a_minimal_tool_config() {
    let converse = convert_request_for(&request(json!({"model": "m", "messages": [
            {"role": "user", "content": "weather in Paris and Rome?"},
            {"role": "assistant", "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "b", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}},
                {"id": "c", "type": "function", "function": {"name": "get_time", "arguments": ""}}
            ]},
            {"role": "tool", "tool_call_id": "a", "content": "sunny"},
            {"role": "tool", "tool_call_id": "b", "content": "rain"},
            {"role": "tool", "tool_call_id": "c", "content": "noon"}
        ]})),
        false,
    )
    .unwrap();
    let config = converse
        .tool_config
        .expect("Bedrock needs a toolConfig here");
    let names: Vec<&str> = config
        .tools()
        .iter()
        .map(|t| t.as_tool_spec().unwrap().name())
        .collect();
    assert_eq!(names, ["get_weather", "get_time"], "each name once");
    let spec = config.tools()[0].as_tool_spec().unwrap();
    assert_eq!(
        document_to_json(spec.input_schema().unwrap().as_json().unwrap()),
        json!({"type": "object"})
    );
    assert!(matches!(
        config.tool_choice(),
        Some(BedrockToolChoice::Auto(_))
    ));
    // With tool_choice "none" and no tools, the same: Converse has no "none".
    let none = convert_request_for(&request(json!({"model": "m", "tool_choice": "none", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "a", "content": "ok"}
        ]})),
        false,
    )
    .unwrap();
    assert_eq!(none.tool_config.unwrap().tools().len(), 1);
}

#[test]
fn conversations_must_open_with_a_user_turn() {
    for messages in [
        json!([{"role": "system", "content": "be brief"}, {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "hi"}]),
        json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "   "}]),
    ] {
        let error =
            convert_request_for(&request(json!({"model": "m", "messages": messages})), false)
                .unwrap_err();
        assert!(
            matches!(&error, ProviderError::Unsupported { param, .. } if param == "messages"),
            "{error:?}"
        );
        assert_eq!(error.status().as_u16(), 400);
    }
}

#[test]
fn response_format_is_bedrock_structured_output_or_a_forced_tool() {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "city?"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "City",
            "schema": {"type": "object", "properties": {"name": {"type": "string"}}}}}});
    let native = convert_request(
        &request(body.clone()),
        "us.anthropic.claude-sonnet-4-6",
        false,
    )
    .unwrap();
    let format = native.output_config.unwrap();
    let schema = format
        .text_format()
        .and_then(|f| f.structure())
        .and_then(|s| s.as_json_schema().ok())
        .unwrap();
    assert_eq!(schema.name(), Some("City"));
    let sent: serde_json::Value = serde_json::from_str(schema.schema()).unwrap();
    assert_eq!(
        sent,
        json!({"type": "object", "properties": {"name": {"type": "string"}},
            "additionalProperties": false})
    );
    assert_eq!((native.tool_config, native.answer_tool), (None, None));

    let tool = convert_request(&request(body), "us.amazon.nova-pro-v1:0", false).unwrap();
    assert_eq!(tool.output_config, None);
    assert_eq!(
        tool.answer_tool,
        Some(AnswerTool {
            name: "json_tool_call",
            forced: true
        })
    );
    let config = tool.tool_config.unwrap();
    assert_eq!(
        config.tools()[0].as_tool_spec().unwrap().name(),
        "json_tool_call"
    );
    assert!(
        matches!(config.tool_choice(), Some(BedrockToolChoice::Tool(t)) if t.name() == "json_tool_call")
    );
}

#[test]
fn thinking_top_k_tier_and_metadata_take_each_model_s_fields() {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "reasoning_effort": "high", "max_tokens": 8000, "top_k": 7, "service_tier": "priority",
        "user": "u-1", "metadata": {"team": "search"}});
    let claude = convert_request(
        &request(body.clone()),
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        false,
    )
    .unwrap();
    let fields = document_to_json(claude.additional_fields.as_ref().unwrap());
    // Claude thinks only at its own sampling: top_k is dropped with thinking on.
    assert_eq!(
        fields,
        json!({"thinking": {"type": "enabled", "budget_tokens": 4096}})
    );
    // Claude has no priority tier: dropped here (the router sends such requests elsewhere).
    assert_eq!(claude.service_tier, None);
    let metadata = claude.request_metadata.unwrap();
    assert_eq!(
        (metadata["team"].as_str(), metadata["user"].as_str()),
        ("search", "u-1")
    );

    let nova = convert_request(&request(body), "us.amazon.nova-pro-v1:0", false).unwrap();
    assert_eq!(
        document_to_json(nova.additional_fields.as_ref().unwrap()),
        json!({"inferenceConfig": {"topK": 7}})
    );
    assert_eq!(nova.service_tier.unwrap().r#type().as_str(), "priority");
}

#[test]
fn cache_markers_and_thinking_blocks_reach_converse_in_place() {
    let body = json!({"model": "m", "tools": [
            {"type": "function", "function": {"name": "f"}, "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]},
            {"role": "user", "content": [{"type": "text", "text": "go", "cache_control": {"type": "ephemeral"}}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
             "thinking_blocks": [{"type": "thinking", "thinking": "hm", "signature": "sig"},
                                 {"type": "redacted_thinking", "data": "AQI="}]},
            {"role": "tool", "tool_call_id": "t", "content": "done"}]});
    let converse = convert_request_for(&request(body), false).unwrap();
    assert!(
        matches!(converse.system[1], SystemContentBlock::CachePoint(ref p) if p.ttl().is_some())
    );
    assert!(matches!(
        converse.messages[0].content()[1],
        ContentBlock::CachePoint(_)
    ));
    let assistant = converse.messages[1].content();
    assert!(matches!(&assistant[0], ContentBlock::ReasoningContent(r)
        if r.as_reasoning_text().is_ok_and(|t| t.text() == "hm" && t.signature() == Some("sig"))));
    assert!(matches!(&assistant[1], ContentBlock::ReasoningContent(r)
        if r.as_redacted_content().is_ok_and(|d| d.as_ref() == [1, 2])));
    assert!(matches!(assistant[2], ContentBlock::ToolUse(_)));
    let tools = converse.tool_config.unwrap();
    assert!(tools.tools()[1].is_cache_point());
}
