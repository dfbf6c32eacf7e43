//! The OpenAI-compatible route through plain HTTP (reqwest): non-stream, SSE stream with
//! usage, and the shared quota answering 429 with `Retry-After`.

use resilient_llm::config::sandbox::Quota;
use serde_json::{Value, json};

use crate::support::sandbox::{self as sbx, fast_settings};

const MODEL: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";

async fn post(url: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .header("authorization", "Bearer anything")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn non_stream_completion_has_choices_and_usage() {
    let handle = sbx::start(fast_settings()).await;
    let url = format!("{}/v1/chat/completions", handle.endpoint());
    let body = json!({"model": MODEL, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 100});
    let response = post(&url, &body).await;
    assert_eq!(response.status(), 200);
    let completion: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(completion["object"], "chat.completion");
    assert_eq!(completion["model"], MODEL);
    let text = completion["choices"][0]["message"]["content"]
        .as_str()
        .unwrap();
    assert!(text.contains(MODEL), "{text}");
    assert_eq!(completion["choices"][0]["finish_reason"], "stop");
    assert_eq!(completion["usage"]["prompt_tokens"], 2);
    assert_eq!(
        completion["usage"]["completion_tokens"].as_u64().unwrap() as usize,
        text.len().div_ceil(4)
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn stream_sends_chunks_then_usage_then_done() {
    let handle = sbx::start(fast_settings()).await;
    let url = format!("{}/v1/chat/completions", handle.endpoint());
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}],
        "stream": true, "stream_options": {"include_usage": true}});
    let response = post(&url, &body).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = response.text().await.unwrap();
    let events: Vec<&str> = text
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| e.strip_prefix("data: ").unwrap())
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(content.contains("gpt-4o-mini"), "{content}");
    let finish = chunks
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str());
    assert_eq!(finish, Some("stop"));
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(
        usage["completion_tokens"].as_u64().unwrap() as usize,
        content.len().div_ceil(4)
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn quota_exhaustion_is_a_429_with_retry_after() {
    let settings = sbx::with_model_quota(fast_settings(), MODEL, Quota::per_minute(2, 1_000_000));
    let handle = sbx::start(settings).await;
    let url = format!("{}/v1/chat/completions", handle.endpoint());
    let body = json!({"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]});
    for _ in 0..2 {
        assert_eq!(post(&url, &body).await.status(), 200);
    }
    let response = post(&url, &body).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let error: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(error["error"]["type"], "rate_limit_error");
    assert_eq!(handle.stats().model_calls("genai", MODEL).throttled, 1);
    handle.shutdown().await;
}
