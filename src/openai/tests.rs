//! Request parsing: good bodies, and bad ones with the exact field named.

use serde_json::json;

use super::*;

fn parse(body: serde_json::Value) -> Result<ChatRequest, RequestError> {
    parse_chat_request(body.to_string().as_bytes())
}

fn user(text: &str) -> serde_json::Value {
    json!({"role": "user", "content": text})
}

#[test]
fn full_request_parses() {
    let request = parse(json!({
        "model": "claude",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": [{"type": "text", "text": "no emojis"}]},
            {"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{\"x\":1}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"}
        ],
        "max_tokens": 100, "max_completion_tokens": 50, "temperature": 0.5, "top_p": 1,
        "stop": "END", "stream": true, "stream_options": {"include_usage": true},
        "tools": [{"type": "function", "function": {"name": "look", "description": "d",
                   "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "look"}},
        "user": "u-1", "metadata": {"team": "a"}, "n": 1, "seed": 7, "unknown_key": true
    }))
    .unwrap();
    assert_eq!(request.model, "claude");
    assert_eq!(request.messages.len(), 5);
    assert_eq!(request.messages[1].role, Role::Developer);
    assert_eq!(request.stop, Some(Stop(vec!["END".into()])));
    assert!(request.is_stream() && request.include_usage());
    assert_eq!(request.max_output_tokens(), Some(50));
    assert_eq!(
        request.tool_choice,
        Some(ToolChoice::Function {
            name: "look".into()
        })
    );
    assert_eq!(request.openai_only_params().collect::<Vec<_>>(), ["seed"]);
    assert!(matches!(
        &request.messages[2].content,
        Some(Content::Parts(parts)) if matches!(&parts[1], ContentPart::ImageUrl { image_url, .. } if image_url.detail.as_deref() == Some("low"))
    ));
}

#[test]
fn minimal_request_has_no_options() {
    let request = parse(json!({"model": "m", "messages": [user("hi")]})).unwrap();
    assert!(!request.is_stream() && !request.include_usage());
    assert_eq!(request.max_output_tokens(), None);
    assert_eq!(request.openai_only_params().count(), 0);
    let request = parse(
        json!({"model": "m", "messages": [user("hi")], "stop": ["a", "b"], "tool_choice": "auto",
                     "response_format": {"type": "text"}, "seed": null}),
    )
    .unwrap();
    assert_eq!(request.stop, Some(Stop(vec!["a".into(), "b".into()])));
    assert_eq!(request.tool_choice, Some(ToolChoice::Auto));
    assert_eq!(
        request.openai_only_params().count(),
        0,
        "text format and null seed are defaults"
    );
}

/// Bad bodies: the `param` named and a word of the message.
#[test]
fn bad_bodies_name_the_field() {
    let cases: Vec<(serde_json::Value, Option<&str>, &str)> = vec![
        (
            json!({"messages": [user("hi")]}),
            Some("model"),
            "missing field \"model\"",
        ),
        (
            json!({"model": "m"}),
            Some("messages"),
            "missing field \"messages\"",
        ),
        (
            json!({"model": "m", "messages": []}),
            Some("messages"),
            "at least one",
        ),
        (
            json!({"model": "m", "messages": [{"role": "system", "content": "be brief"},
                {"role": "assistant", "content": "Hello!"}]}),
            Some("messages"),
            "messages: must contain at least one user message",
        ),
        (
            json!({"model": "", "messages": [user("hi")]}),
            Some("model"),
            "empty",
        ),
        (
            json!({"model": 3, "messages": [user("hi")]}),
            Some("model"),
            "expected a string",
        ),
        (
            json!({"model": "m", "messages": [user("a"), user("b"), {"role": "robot", "content": "x"}]}),
            Some("messages[2].role"),
            "unknown variant \"robot\", expected one of \"system\", \"developer\", \"user\", \"assistant\", \"tool\"",
        ),
        (
            json!({"model": "m", "messages": [{"content": "x"}]}),
            Some("messages[0].role"),
            "missing field",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": 5}]}),
            Some("messages[0].content"),
            "a string or an array",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text"}]}]}),
            Some("messages[0].content[0].text"),
            "missing field \"text\"",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text"}]}]}),
            Some("messages[0].content[1].text"),
            "missing field \"text\"",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user"}]}),
            Some("messages[0].content"),
            "required",
        ),
        (
            json!({"model": "m", "messages": [{"role": "assistant", "content": null}]}),
            Some("messages[0].content"),
            "tool_calls",
        ),
        (
            json!({"model": "m", "messages": [{"role": "tool", "content": "r"}]}),
            Some("messages[0].tool_call_id"),
            "required",
        ),
        (
            json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f"}}]}]}),
            Some("messages[0].tool_calls[0].function.arguments"),
            "missing field",
        ),
        (
            json!({"model": "m", "messages": [user("hi")], "temperature": 2.5}),
            Some("temperature"),
            "out of range",
        ),
        (
            json!({"model": "m", "messages": [user("hi")], "temperature": -0.1}),
            Some("temperature"),
            "out of range",
        ),
        (
            json!({"model": "m", "messages": [user("hi")], "temperature": "hot"}),
            Some("temperature"),
            "expected f64",
        ),
        (
            json!({"model": "m", "messages": [user("hi")], "top_p": 1.5}),
            Some("top_p"),
            "out of range",
        ),
        (
            json!({"model": "m", "messages": [user("hi")], "max_tokens": 0}),
            Some("max_tokens"),
            "out of range",
        ),
        (
            json!({"model": "m", "messages": [user("hi")], "max_tokens": -5}),
            Some("max_tokens"),
            "expected u64",
        ),
        (
            json!({"model": "m", "messages": [user("hi")], "max_tokens": 2_000_000}),
            Some("max_tokens"),
            "out of range",
        ),
        (
            json!({"model": "m", "messages": [user("hi")], "max_completion_tokens": 0}),
            Some("max_completion_tokens"),
            "out of range",
        ),
        (
            json!({"model": "m", "messages": [user("hi")], "n": 0}),
            Some("n"),
            "at least 1",
        ),
        (
            json!({"model": "m", "messages": [user("hi")], "response_format": {"type": "xml"}}),
            Some("response_format.type"),
            "expected \"text\", \"json_object\" or \"json_schema\"",
        ),
        (
            json!({"model": "m", "messages": [user("hi")], "response_format": {"type": "json_schema", "json_schema": {"schema": {}}}}),
            Some("response_format.json_schema.name"),
            "is required",
        ),
        (
            json!({"model": "m", "messages": [user("hi")], "reasoning_effort": "extreme"}),
            Some("reasoning_effort"),
            "not one of none, minimal, low, medium, high, xhigh",
        ),
        (
            json!({"model": "m", "messages": [user("hi")], "service_tier": "gold"}),
            Some("service_tier"),
            "not one of auto, default, flex, priority, scale",
        ),
        (
            json!({"model": "m", "messages": [user("hi")], "metadata": {"k": 1}}),
            Some("metadata.k"),
            "must be strings",
        ),
        (
            json!({"model": "m", "messages": [user("hi")], "messages": [{"role": "user", "content": [{"text": "no type"}]}]}),
            Some("messages[0].content[0].type"),
            "missing field \"type\"",
        ),
        (
            json!({"model": "m", "messages": [user("hi")], "stop": 3}),
            Some("stop"),
            "a string or an array of strings",
        ),
        (
            json!({"model": "m", "messages": [user("hi")], "stream": "yes"}),
            Some("stream"),
            "expected a boolean",
        ),
        (
            json!({"model": "m", "messages": [user("hi")], "tool_choice": "always"}),
            Some("tool_choice"),
            "unknown variant \"always\"",
        ),
        (
            json!({"model": "m", "messages": [user("hi")], "tool_choice": "required"}),
            Some("tool_choice"),
            "non-empty tools",
        ),
        (
            json!({"model": "m", "messages": [user("hi")], "tools": [{"type": "function", "function": {"name": "a"}}],
                   "tool_choice": {"type": "function", "function": {"name": "b"}}}),
            Some("tool_choice"),
            "\"b\" is not among the tools",
        ),
        (
            json!({"model": "m", "messages": [user("hi")], "tools": [{"type": "retrieval", "function": {"name": "a"}}]}),
            Some("tools[0].type"),
            "unknown variant \"retrieval\"",
        ),
    ];
    for (body, param, words) in cases {
        let error = parse(body.clone()).expect_err(&body.to_string());
        assert_eq!(error.param.as_deref(), param, "{body} → {error:?}");
        assert!(
            error.message.contains(words),
            "{body} → {:?} lacks {words:?}",
            error.message
        );
        if let Some(param) = param {
            assert!(
                error.message.starts_with(param),
                "{:?} should start with {param}",
                error.message
            );
        }
        assert!(
            !error.message.contains("line "),
            "data errors give a path, not a position: {:?}",
            error.message
        );
    }
}

#[test]
fn malformed_json_gives_line_and_column() {
    let error = parse_chat_request(b"{\"model\": \"m\",\n \"messages\": [}").unwrap_err();
    assert_eq!(error.param, None);
    assert!(
        error.message.starts_with("malformed JSON"),
        "{}",
        error.message
    );
    assert!(error.message.contains("line 2 column"), "{}", error.message);
    let error = parse_chat_request(b"{\"model\": \"m\"").unwrap_err();
    assert!(error.message.contains("EOF"), "{}", error.message);
    let error = parse_chat_request(
        b"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]} x",
    )
    .unwrap_err();
    assert!(error.message.contains("trailing"), "{}", error.message);
    let error = parse_chat_request(b"  ").unwrap_err();
    assert!(error.message.contains("empty"), "{}", error.message);
    let error = parse_chat_request(b"[1]").unwrap_err();
    assert!(
        error.message.contains("must be a JSON object"),
        "{}",
        error.message
    );
}

#[test]
fn invalid_utf8_is_refused_with_its_offset() {
    let error = parse_chat_request(b"{\"model\": \"m\xff\"}").unwrap_err();
    assert_eq!(error.param, None);
    assert!(
        error.message.contains("UTF-8") && error.message.contains("offset 12"),
        "{}",
        error.message
    );
}

#[test]
fn error_bodies_have_the_openai_shape() {
    let error = parse(json!({"model": "m", "messages": [user("hi")], "n": 0})).unwrap_err();
    let body = serde_json::to_value(error.to_error_body()).unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["param"], "n");
    assert_eq!(body["error"]["code"], serde_json::Value::Null);
}

#[test]
fn token_estimate_counts_all_text_rounding_up() {
    let request = parse(json!({"model": "m", "messages": [
        {"role": "system", "content": "abcd"},
        {"role": "user", "content": [{"type": "text", "text": "é"}, {"type": "image_url", "image_url": {"url": "data:,"}}]},
        {"role": "assistant", "tool_calls": [{"id": "1", "type": "function", "function": {"name": "fn", "arguments": "{}"}}]}
    ]}))
    .unwrap();
    // 4 + 1 + 2 + 2 = 9 chars → 3 tokens, plus one image.
    assert_eq!(request.estimated_input_tokens(), 3 + 1_000);
}

#[test]
fn request_serialises_without_gateway_fields() {
    let request = parse(json!({"model": "group", "messages": [user("hi")], "stream": true,
        "stream_options": {"include_usage": false}, "tool_choice": {"type": "function", "function": {"name": "f"}},
        "tools": [{"type": "function", "function": {"name": "f"}}], "logit_bias": {"1": 2}, "stop": "x"}))
    .unwrap();
    let value = serde_json::to_value(&request).unwrap();
    assert_eq!(
        value,
        json!({"messages": [{"role": "user", "content": "hi"}],
               "tool_choice": {"type": "function", "function": {"name": "f"}},
               "tools": [{"type": "function", "function": {"name": "f"}}],
               "logit_bias": {"1": 2}, "stop": ["x"]})
    );
}

#[test]
fn responses_serialise_as_openai_does() {
    let completion = ChatCompletion {
        id: "chatcmpl-1".into(),
        object: "chat.completion",
        created: 1,
        model: "m".into(),
        choices: vec![Choice {
            index: 0,
            message: AssistantMessage::default(),
            finish_reason: Some(FinishReason::ToolCalls),
            extra: Default::default(),
        }],
        usage: Some(Usage::new(2, 3)),
        extra: Default::default(),
    };
    let value = serde_json::to_value(&completion).unwrap();
    assert_eq!(value["object"], "chat.completion");
    assert_eq!(
        value["choices"][0]["message"],
        json!({"role": "assistant", "content": null})
    );
    assert_eq!(value["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        value["usage"],
        json!({"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5})
    );
    let back: ChatCompletion = serde_json::from_value(value).unwrap();
    assert_eq!(back, completion);

    let chunk = ChatChunk::usage_chunk("c", 1, "m", Usage::new(1, 1));
    let value = serde_json::to_value(&chunk).unwrap();
    assert_eq!(value["object"], "chat.completion.chunk");
    assert_eq!(value["choices"], json!([]));
    let chunk = ChatChunk::new(
        "c",
        1,
        "m",
        Delta {
            content: Some("hi".into()),
            ..Delta::default()
        },
        None,
    );
    let value = serde_json::to_value(&chunk).unwrap();
    assert_eq!(
        value["choices"][0],
        json!({"index": 0, "delta": {"content": "hi"}, "finish_reason": null})
    );
    assert!(value.get("usage").is_none());
}

#[test]
fn upstream_error_body_with_numeric_code_parses() {
    let body: ErrorBody =
        serde_json::from_str(r#"{"error":{"message":"slow down","type":"requests","code":429}}"#)
            .unwrap();
    assert_eq!(body.error.code.as_deref(), Some("429"));
    assert_eq!(body.error.param, None);
}

#[test]
fn default_valued_parameters_ask_for_nothing() {
    let request = parse(
        json!({"model": "m", "messages": [user("hi")], "logprobs": false,
        "store": false, "n": 1, "presence_penalty": 0, "frequency_penalty": 0.0,
        "top_logprobs": 0, "logit_bias": {}, "service_tier": "auto", "modalities": ["text"],
        "parallel_tool_calls": true, "reasoning_effort": "none"}),
    )
    .unwrap();
    assert_eq!(request.openai_only_params().count(), 0);
    assert_eq!(request.thinking(), None);
    assert_eq!(request.bedrock_service_tier(), None);
    let request = parse(
        json!({"model": "m", "messages": [user("hi")], "logprobs": true,
        "n": 2, "service_tier": "scale", "store": true}),
    )
    .unwrap();
    assert_eq!(
        request.openai_only_params().collect::<Vec<_>>(),
        ["n", "logprobs", "store", "service_tier"]
    );
}

#[test]
fn options_read_as_canonical_values() {
    use crate::content::{Effort, OutputFormat, ServiceTier};
    let request = parse(json!({"model": "m", "messages": [user("hi")],
        "reasoning_effort": "minimal", "service_tier": "priority", "user": "u-1",
        "metadata": {"team": "search"},
        "response_format": {"type": "json_schema", "json_schema": {"name": "Answer",
            "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}}}))
    .unwrap();
    assert_eq!(request.thinking().map(|t| t.effort), Some(Effort::Low));
    assert_eq!(request.bedrock_service_tier(), Some(ServiceTier::Priority));
    assert_eq!(
        request.request_metadata(),
        [
            ("team".to_owned(), "search".to_owned()),
            ("user".to_owned(), "u-1".to_owned())
        ]
    );
    assert!(
        matches!(request.output_format(), Some(OutputFormat::JsonSchema { name, .. }) if name == "Answer")
    );
}

#[test]
fn unknown_parts_are_kept_whole_and_written_back() {
    let part = json!({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}});
    let request = parse(json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "listen", "cache_control": {"type": "ephemeral"}}, part.clone()]}]}))
    .unwrap();
    assert_eq!(request.foreign_part(), Some("input_audio"));
    let written = serde_json::to_value(&request.messages[0]).unwrap();
    assert_eq!(written["content"][1], part);
    assert_eq!(
        written["content"][0]["cache_control"],
        json!({"type": "ephemeral"})
    );
}
