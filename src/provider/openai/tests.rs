//! The OpenAI-compatible mapping: URLs, bodies, statuses, Retry-After and relayed chunks.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::json;

use super::*;
use crate::openai::parse_chat_request;

#[test]
fn api_base_rule() {
    let cases = [
        (None, "https://api.openai.com/v1/chat/completions"),
        (
            Some("http://127.0.0.1:9000"),
            "http://127.0.0.1:9000/v1/chat/completions",
        ),
        (
            Some("http://127.0.0.1:9000/"),
            "http://127.0.0.1:9000/v1/chat/completions",
        ),
        (
            Some("http://127.0.0.1:9000/v1"),
            "http://127.0.0.1:9000/v1/chat/completions",
        ),
        (
            Some("http://127.0.0.1:9000/v1/"),
            "http://127.0.0.1:9000/v1/chat/completions",
        ),
        (
            Some("https://host/openai/v1"),
            "https://host/openai/v1/chat/completions",
        ),
        (
            Some("https://host/v1/chat/completions"),
            "https://host/v1/chat/completions",
        ),
    ];
    for (base, url) in cases {
        assert_eq!(chat_completions_url(base), url, "{base:?}");
    }
}

#[test]
fn upstream_body_replaces_model_and_asks_for_usage_when_streaming() {
    let request = parse_chat_request(
        json!({"model": "group", "messages": [{"role": "user", "content": "hi"}], "stream": true,
               "stream_options": {"include_usage": false}, "seed": 3, "max_tokens": 5})
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let body: serde_json::Value =
        serde_json::from_slice(&upstream_body(&request, "llama3", true)).unwrap();
    assert_eq!(
        body,
        json!({"model": "llama3", "stream": true, "stream_options": {"include_usage": true},
               "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5, "seed": 3})
    );
    let body: serde_json::Value =
        serde_json::from_slice(&upstream_body(&request, "llama3", false)).unwrap();
    assert_eq!(body["stream"], false);
    assert!(body.get("stream_options").is_none());
}

#[test]
fn a_client_body_goes_upstream_as_it_came_but_for_the_gateway_s_fields() {
    let sent = json!({"model": "group", "stream": true,
        "stream_options": {"include_usage": false, "include_obfuscation": false},
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "x-extra": 1},
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}],
        "top_k": 3, "chat_template_kwargs": {"enable_thinking": false}, "logit_bias": {"50256": -100},
        "weird": [1.5, "é"]});
    // Values go up as raw text: a number written 1.0e0 stays written so.
    let raw = sent.to_string().replacen("1.5", "1.0e0", 1);
    let request = parse_chat_request(raw.as_bytes())
        .unwrap()
        .with_original(bytes::Bytes::from(raw));
    let body: serde_json::Value =
        serde_json::from_slice(&upstream_body(&request, "llama3", true)).unwrap();
    let mut expected = sent.clone();
    expected["model"] = json!("llama3");
    expected["stream_options"]["include_usage"] = json!(true);
    expected["weird"][0] = json!(1.0);
    assert_eq!(body, expected);
    let text = String::from_utf8(upstream_body(&request, "llama3", true)).unwrap();
    assert!(text.contains("[1.0e0,"), "{text}");
    let body: serde_json::Value =
        serde_json::from_slice(&upstream_body(&request, "llama3", false)).unwrap();
    assert_eq!(body["stream"], false);
    assert!(body.get("stream_options").is_none());
    assert_eq!(body["chat_template_kwargs"], sent["chat_template_kwargs"]);
}

#[test]
fn upstream_reply_fields_the_gateway_does_not_read_come_back() {
    let reply = json!({"id": "c", "object": "chat.completion", "created": 1, "model": "x",
        "system_fingerprint": "fp_1", "service_tier": "default",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi", "refusal": null,
            "annotations": []}, "logprobs": {"content": []}, "finish_reason": "stop"},
            {"index": 1, "message": {"role": "assistant", "content": "yo"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 1}}});
    let completion: crate::openai::ChatCompletion = serde_json::from_value(reply.clone()).unwrap();
    assert_eq!(completion.usage.as_ref().unwrap().settled_input(), 1);
    assert_eq!(serde_json::to_value(&completion).unwrap(), reply);
    let chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "x",
        "system_fingerprint": "fp_1", "choices": [{"index": 0,
            "delta": {"content": "hi", "reasoning_content": "hm"}, "logprobs": null, "finish_reason": null}]});
    let items = convert_chunk(&chunk.to_string(), "llama3").unwrap();
    let [StreamItem::Chunk(relayed)] = items.as_slice() else {
        panic!("{items:?}")
    };
    let mut expected = chunk.clone();
    expected["model"] = json!("llama3");
    assert_eq!(serde_json::to_value(relayed).unwrap(), expected);
}

#[test]
fn statuses_map_by_meaning() {
    let error_body = |code: &str, message: &str| {
        json!({"error": {"message": message, "type": "invalid_request_error", "param": "messages", "code": code}})
            .to_string()
            .into_bytes()
    };
    let wait = Some(Duration::from_secs(3));
    assert_eq!(
        convert_status(
            StatusCode::TOO_MANY_REQUESTS,
            &error_body("rate_limit_exceeded", "slow down"),
            wait
        ),
        ProviderError::RateLimited {
            retry_after: wait,
            message: "slow down".into()
        }
    );
    for status in [500, 502, 503] {
        let error = convert_status(StatusCode::from_u16(status).unwrap(), b"<html>", None);
        assert!(
            matches!(error, ProviderError::Unavailable { .. }),
            "{status}: {error:?}"
        );
    }
    assert!(matches!(
        convert_status(StatusCode::GATEWAY_TIMEOUT, b"", None),
        ProviderError::Timeout { .. }
    ));
    assert!(matches!(
        convert_status(StatusCode::REQUEST_TIMEOUT, b"", None),
        ProviderError::Timeout { .. }
    ));
    assert_eq!(
        convert_status(
            StatusCode::BAD_REQUEST,
            &error_body("invalid_value", "bad"),
            None
        ),
        ProviderError::BadRequest {
            param: Some("messages".into()),
            message: "bad".into()
        }
    );
    assert!(matches!(
        convert_status(
            StatusCode::BAD_REQUEST,
            &error_body("context_length_exceeded", "too big"),
            None
        ),
        ProviderError::ContextWindowExceeded { .. }
    ));
    assert!(matches!(
        convert_status(
            StatusCode::BAD_REQUEST,
            b"This model's maximum context length is 8192 tokens",
            None
        ),
        ProviderError::ContextWindowExceeded { .. }
    ));
    assert!(matches!(
        convert_status(StatusCode::UNAUTHORIZED, b"", None),
        ProviderError::AccessDenied { .. }
    ));
    assert!(matches!(
        convert_status(StatusCode::FORBIDDEN, b"", None),
        ProviderError::AccessDenied { .. }
    ));
    assert!(matches!(
        convert_status(StatusCode::NOT_FOUND, b"", None),
        ProviderError::NotFound { .. }
    ));
    assert!(matches!(
        convert_status(StatusCode::IM_A_TEAPOT, b"", None),
        ProviderError::Upstream { .. }
    ));
    let ProviderError::Unavailable { message, .. } =
        convert_status(StatusCode::BAD_GATEWAY, b"proxy down", None)
    else {
        panic!()
    };
    assert_eq!(message, "HTTP 502 Bad Gateway: proxy down");
    // A 503's Retry-After is kept, as a 429's is.
    let unavailable = convert_status(
        StatusCode::SERVICE_UNAVAILABLE,
        b"",
        Some(std::time::Duration::from_secs(7)),
    );
    assert!(
        matches!(unavailable, ProviderError::Unavailable { .. }),
        "{unavailable:?}"
    );
    assert_eq!(
        unavailable.retry_after(),
        Some(std::time::Duration::from_secs(7))
    );
}

#[test]
fn retry_after_in_seconds_milliseconds_or_a_date() {
    let now = UNIX_EPOCH + Duration::from_secs(1_445_412_470); // Wed, 21 Oct 2015 07:27:50 GMT
    let headers = |pairs: &[(&'static str, &'static str)]| {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    };
    assert_eq!(
        parse_retry_after(&headers(&[("retry-after", "7")]), now),
        Some(Duration::from_secs(7))
    );
    assert_eq!(
        parse_retry_after(&headers(&[("retry-after", "1.5")]), now),
        Some(Duration::from_millis(1500))
    );
    assert_eq!(
        parse_retry_after(
            &headers(&[("retry-after", "7"), ("retry-after-ms", "250")]),
            now
        ),
        Some(Duration::from_millis(250))
    );
    assert_eq!(
        parse_retry_after(
            &headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]),
            now
        ),
        Some(Duration::from_secs(10))
    );
    assert_eq!(
        parse_retry_after(
            &headers(&[("retry-after", "Wed, 21 Oct 2015 07:00:00 GMT")]),
            now
        ),
        Some(Duration::ZERO)
    );
    assert_eq!(
        parse_retry_after(&headers(&[("retry-after", "soon")]), now),
        None
    );
    assert_eq!(
        parse_retry_after(&headers(&[("retry-after", "-1")]), now),
        None
    );
    assert_eq!(
        parse_retry_after(&HeaderMap::new(), SystemTime::now()),
        None
    );
}

#[test]
fn relayed_chunks_get_the_deployment_model_and_usage_split_out() {
    let content = json!({"id": "c1", "object": "chat.completion.chunk", "created": 5, "model": "upstream-name",
        "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": null}], "usage": null});
    let items = convert_chunk(&content.to_string(), "llama3").unwrap();
    let [StreamItem::Chunk(chunk)] = items.as_slice() else {
        panic!("{items:?}")
    };
    assert_eq!(chunk.model, "llama3");
    assert_eq!(chunk.choices[0].delta.content.as_deref(), Some("Hi"));

    let usage_only = json!({"id": "c1", "created": 5, "model": "x", "choices": [],
        "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6, "prompt_tokens_details": {}}});
    let items = convert_chunk(&usage_only.to_string(), "llama3").unwrap();
    let [
        StreamItem::Usage {
            usage,
            chunk: Some(chunk),
        },
    ] = items.as_slice()
    else {
        panic!("{items:?}")
    };
    assert_eq!(usage.total_tokens, 6);
    assert_eq!(
        (chunk.model.as_str(), chunk.usage.clone()),
        ("llama3", Some(usage.clone()))
    );

    let both = json!({"id": "c1", "created": 5, "model": "x",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}});
    let items = convert_chunk(&both.to_string(), "llama3").unwrap();
    let [StreamItem::Chunk(chunk), StreamItem::Usage { usage, .. }] = items.as_slice() else {
        panic!("{items:?}")
    };
    assert_eq!(chunk.usage, None);
    assert_eq!(usage.total_tokens, 2);
}

#[test]
fn error_payloads_mid_stream_are_errors() {
    let error = convert_chunk(
        r#"{"error":{"message":"overloaded","type":"server_error"}}"#,
        "m",
    )
    .unwrap_err();
    assert_eq!(
        error,
        ProviderError::Upstream {
            message: "upstream error mid-stream: overloaded".into()
        }
    );
    assert!(matches!(
        convert_chunk("not json", "m"),
        Err(ProviderError::Upstream { .. })
    ));
}

#[test]
fn a_stream_of_n_choices_is_finished_when_every_choice_is() {
    let chunk = |choices: serde_json::Value| -> ChatChunk {
        serde_json::from_value(json!({"id": "c", "created": 1, "model": "m", "choices": choices}))
            .unwrap()
    };
    let mut tally = ChoiceTally::default();
    assert!(!tally.all_finished());
    tally.see(&chunk(
        json!([{"index": 0, "delta": {"content": "a"}, "finish_reason": null},
        {"index": 1, "delta": {"content": "b"}, "finish_reason": null}]),
    ));
    tally.see(&chunk(
        json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
    ));
    assert!(!tally.all_finished(), "choice 1 is still open");
    tally.see(&chunk(
        json!([{"index": 1, "delta": {}, "finish_reason": "length"}]),
    ));
    assert!(tally.all_finished());
}
