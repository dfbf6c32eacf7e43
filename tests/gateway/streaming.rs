//! Streaming: SSE `chat.completion.chunk`s ending in `[DONE]` on both providers, the usage chunk
//! on request, failover while nothing was sent, and an error event (never a silent cut) after.

use serde_json::{Value, json};

use crate::harness::{HAIKU, SONNET, Stack, streamed_text};

fn config() -> String {
    format!(
        r#"
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
    model_info: {{id: chat-haiku}}
  - model_name: compat
    litellm_params: {{model: "openai/{SONNET}", api_base: "$SANDBOX/v1"}}
    model_info: {{id: compat-sonnet}}
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
"#
    )
}

fn chunks(events: &[String]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e.as_str() != "[DONE]")
        .map(|e| serde_json::from_str(e).unwrap_or_else(|err| panic!("{err}: {e}")))
        .collect()
}

#[tokio::test]
async fn streams_on_both_providers_end_with_done() {
    let stack = Stack::start(&config()).await;
    for (group, model, id) in [
        ("chat", HAIKU, "chat-haiku"),
        ("compat", SONNET, "compat-sonnet"),
    ] {
        let reply = stack.chat(None, group, true).await;
        assert_eq!(reply.status, 200, "{group}: {}", reply.text);
        assert!(
            reply
                .header("content-type")
                .unwrap()
                .starts_with("text/event-stream"),
            "{group}"
        );
        assert_eq!(reply.deployment(), id);
        assert_eq!(reply.header("x-resilient-llm-model-group"), Some(group));
        let events = reply.sse_data();
        assert_eq!(
            events.last().map(String::as_str),
            Some("[DONE]"),
            "{group}: {events:?}"
        );
        assert_eq!(events.iter().filter(|e| *e == "[DONE]").count(), 1);
        let chunks = chunks(&events);
        assert!(chunks.len() >= 2, "{group}: {events:?}");
        for chunk in &chunks {
            assert_eq!(chunk["object"], "chat.completion.chunk", "{chunk}");
            assert_eq!(chunk["model"], model, "{chunk}");
        }
        assert!(!streamed_text(&events).is_empty(), "{group}: {events:?}");
        let finish: Vec<&Value> = chunks
            .iter()
            .map(|c| &c["choices"][0]["finish_reason"])
            .filter(|f| !f.is_null())
            .collect();
        assert_eq!(finish, [&json!("stop")], "{group}: {events:?}");
        assert!(
            chunks
                .iter()
                .all(|c| c["usage"].is_null() || c["usage"].is_object()),
            "{group}"
        );
    }
}

#[tokio::test]
async fn a_usage_chunk_comes_when_asked() {
    let stack = Stack::start(&config()).await;
    for group in ["chat", "compat"] {
        let body = json!({
            "model": group,
            "messages": [{"role": "user", "content": "Say hello."}],
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        let reply = stack
            .post("/v1/chat/completions", None, body.to_string())
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let events = reply.sse_data();
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
        let chunks = chunks(&events);
        let usage: Vec<&Value> = chunks
            .iter()
            .map(|c| &c["usage"])
            .filter(|u| u.is_object())
            .collect();
        assert_eq!(usage.len(), 1, "{group}: one usage chunk: {events:?}");
        let usage = usage[0];
        assert!(usage["prompt_tokens"].as_u64().unwrap() > 0, "{usage}");
        assert!(usage["completion_tokens"].as_u64().unwrap() > 0, "{usage}");
        // The usage chunk is the last before [DONE] and has no choices.
        let last = chunks.last().unwrap();
        assert!(last["usage"].is_object(), "{group}: {events:?}");
        assert_eq!(last["choices"], json!([]), "{group}: {last}");

        // Without the option there is none.
        let plain = stack.chat(None, group, true).await;
        let chunks = self::chunks(&plain.sse_data());
        assert!(
            chunks.iter().all(|c| !c["usage"].is_object()),
            "{group}: {}",
            plain.text
        );
    }
}

/// A primary whose every call fails before the first token (`phase: before`) or mid-stream, and
/// a healthy fallback group.
pub fn failing_config(phase: &str, error: &str) -> String {
    format!(
        r#"
model_list:
  - model_name: primary
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai}}
    model_info: {{id: primary-sonnet}}
  - model_name: backup
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
    model_info: {{id: backup-haiku}}
router_settings:
  num_retries: 0
  allowed_fails: 100
  fallbacks: [{{primary: [backup]}}]
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
  faults:
    - {{error: {error}, rate: 1.0, model: sonnet-4-6, phase: {phase}}}
"#
    )
}

#[tokio::test]
async fn a_stream_failing_before_its_first_token_fails_over() {
    let stack = Stack::start(&failing_config("before", "ServiceUnavailableException")).await;
    let reply = stack.chat(None, "primary", true).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.deployment(), "backup-haiku");
    assert_eq!(reply.header("x-resilient-llm-model-group"), Some("backup"));
    assert_eq!(reply.header("x-resilient-llm-attempts"), Some("2"));
    assert_eq!(reply.header("x-resilient-llm-fallbacks"), Some("1"));
    let events = reply.sse_data();
    assert_eq!(
        events.last().map(String::as_str),
        Some("[DONE]"),
        "{events:?}"
    );
    assert!(
        events.iter().all(|e| !e.contains("\"error\"")),
        "{events:?}"
    );
    assert!(
        chunks(&events).iter().all(|c| c["model"] == HAIKU),
        "{events:?}"
    );

    let stats = stack.sandbox.stats();
    assert_eq!(stats.model_calls("genai", SONNET).failed, 1);
    assert_eq!(stats.model_calls("genai", HAIKU).served, 1);
}

/// A one-token reply whose stream fails right after `messageStart`, before any content: the
/// client has received nothing yet, so the request fails over.
#[tokio::test]
async fn a_stream_failing_after_its_preamble_but_before_any_content_fails_over() {
    let stack = Stack::start(&failing_config("mid_stream", "ModelStreamErrorException")).await;
    let mut body = crate::harness::chat_body("primary", true);
    body["max_tokens"] = 1.into();
    let reply = stack
        .post("/v1/chat/completions", None, body.to_string())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.deployment(), "backup-haiku", "{}", reply.text);
    let events = reply.sse_data();
    assert_eq!(
        events.last().map(String::as_str),
        Some("[DONE]"),
        "{events:?}"
    );
    assert!(
        events.iter().all(|e| !e.contains("\"error\"")),
        "{events:?}"
    );
    let stats = stack.sandbox.stats();
    assert_eq!(stats.model_calls("genai", SONNET).failed, 1);
    assert_eq!(stats.model_calls("genai", HAIKU).served, 1);
}

#[tokio::test]
async fn a_stream_failing_mid_way_ends_with_an_error_event_and_no_done() {
    let stack = Stack::start(&failing_config("mid_stream", "ModelStreamErrorException")).await;
    let reply = stack.chat(None, "primary", true).await;
    assert_eq!(reply.status, 200, "the stream had started: {}", reply.text);
    assert_eq!(
        reply.deployment(),
        "primary-sonnet",
        "no failover after the first byte"
    );
    let events = reply.sse_data();
    assert!(!events.iter().any(|e| e == "[DONE]"), "{events:?}");
    let first: Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!(first["object"], "chat.completion.chunk", "{events:?}");
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    let error = &last["error"];
    assert!(error.is_object(), "ends with an error event: {events:?}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{last}"
    );
    assert!(error["type"].is_string(), "{last}");
    assert_eq!(stack.calls(HAIKU), 0, "nothing was sent to the fallback");

    let metrics = stack.get("/metrics", None).await.text;
    assert!(
        crate::harness::metric(
            &metrics,
            r#"resilient_llm_deployment_calls_total{deployment="primary-sonnet",model_group="primary",outcome="failed"}"#
        ) >= 1.0,
        "{metrics}"
    );
}

#[tokio::test]
async fn a_stream_that_stalls_ends_with_a_timeout_error_event() {
    let stack = Stack::start(&format!(
        r#"
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai, timeout: 0.5}}
    model_info: {{id: chat-haiku}}
router_settings:
  num_retries: 0
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
  stall_streams: {{rate: 1.0, after_tokens: 3}}
"#
    ))
    .await;
    let reply = stack.chat(None, "chat", true).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let events = reply.sse_data();
    assert!(!events.iter().any(|e| e == "[DONE]"), "{events:?}");
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["error"]["type"], "timeout", "{events:?}");
}
