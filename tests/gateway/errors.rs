//! Every error status in OpenAI's shape `{"error":{"message","type","param","code"}}`:
//! 400 naming the problem, 401, 403, 404, 405, 413, 429 with `Retry-After`, 502/503 without
//! internals, 504; and refused requests never reach the upstream.

use serde_json::json;

use crate::harness::{HAIKU, NOVA, SONNET, Stack};
use crate::http::{APP, LIMITED, MASTER, config};

#[tokio::test]
async fn malformed_and_mistyped_bodies_are_400s_that_name_the_problem() {
    let stack = Stack::start(&config()).await;
    let malformed = stack
        .post(
            "/v1/chat/completions",
            Some(APP),
            r#"{"model": "chat", "messages": ["#,
        )
        .await;
    let error = malformed.assert_error(400, "invalid_request_error");
    let message = error["message"].as_str().unwrap().to_lowercase();
    assert!(
        message.contains("json") && message.contains("line"),
        "names the syntax problem and where: {message}"
    );

    let mistyped = stack
        .post(
            "/v1/chat/completions",
            Some(APP),
            json!({"model": "chat", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"})
                .to_string(),
        )
        .await;
    let error = mistyped.assert_error(400, "invalid_request_error");
    assert!(
        error["param"] == "temperature"
            || error["message"].as_str().unwrap().contains("temperature"),
        "names the field: {error}"
    );

    let missing = stack
        .post(
            "/v1/chat/completions",
            Some(APP),
            json!({"model": "chat"}).to_string(),
        )
        .await;
    let error = missing.assert_error(400, "invalid_request_error");
    assert!(
        error.to_string().contains("messages"),
        "names the field: {error}"
    );

    let several = stack
        .post(
            "/v1/chat/completions",
            Some(APP),
            json!({"model": "chat", "messages": [{"role": "user", "content": "hi"}], "n": 2})
                .to_string(),
        )
        .await;
    let error = several.assert_error(400, "invalid_request_error");
    assert!(error.to_string().contains('n'), "{error}");
    assert_eq!(
        stack.calls(HAIKU),
        0,
        "refused requests never reach the upstream"
    );
}

#[tokio::test]
async fn keys_are_checked_401_and_403() {
    let stack = Stack::start(&config()).await;
    let missing = stack.chat(None, "chat", false).await;
    missing.assert_error(401, "authentication_error");
    let wrong = stack.chat(Some("sk-not-a-key"), "chat", false).await;
    let error = wrong.assert_error(401, "authentication_error");
    assert!(
        !error.to_string().contains(MASTER),
        "keys never echoed: {error}"
    );

    let forbidden = stack.chat(Some(LIMITED), "compat", false).await;
    let error = forbidden.assert_error(403, "permission_error");
    assert!(
        error["message"].as_str().unwrap().contains("compat"),
        "{error}"
    );
    assert_eq!(stack.calls(SONNET), 0);

    let allowed = stack.chat(Some(LIMITED), "chat", false).await;
    assert_eq!(allowed.status, 200, "{}", allowed.text);
}

#[tokio::test]
async fn unknown_models_routes_and_methods_are_404_and_405() {
    let stack = Stack::start(&config()).await;
    let unknown = stack.chat(Some(APP), "no-such-model", false).await;
    let error = unknown.assert_error(404, "not_found_error");
    assert!(
        error["message"].as_str().unwrap().contains("no-such-model"),
        "{error}"
    );
    for secret in ["chat-haiku", "compat", HAIKU, "sandbox", "127.0.0.1"] {
        assert!(
            !unknown.text.contains(secret),
            "lists nothing: {}",
            unknown.text
        );
    }

    let route = stack.get("/v1/embeddings/nothing", Some(APP)).await;
    route.assert_error(404, "not_found_error");

    let method = stack.get("/v1/chat/completions", Some(APP)).await;
    method.assert_error(405, "invalid_request_error");
}

#[tokio::test]
async fn an_oversize_body_is_413() {
    let stack = Stack::start(&config()).await;
    let big = "x".repeat(20_000);
    let body = json!({"model": "chat", "messages": [{"role": "user", "content": big}]}).to_string();
    let reply = stack.post("/v1/chat/completions", Some(APP), body).await;
    reply.assert_error(413, "invalid_request_error");
    assert_eq!(stack.calls(HAIKU), 0);
}

#[tokio::test]
async fn a_deployment_over_its_rpm_answers_429_with_retry_after() {
    let stack = Stack::start(&config()).await;
    let first = stack.chat(Some(APP), "tiny", false).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let second = stack.chat(Some(APP), "tiny", false).await;
    let error = second.assert_error(429, "rate_limit_error");
    assert_eq!(error["code"], "rate_limit_exceeded", "{error}");
    let retry_after: u64 = second.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(
        stack.calls(SONNET),
        1,
        "the refused request never reached the upstream"
    );
}

#[tokio::test]
async fn upstream_failures_are_502_and_503_without_internals() {
    let stack = Stack::start(&config()).await;
    let unavailable = stack.chat(Some(APP), "unavailable", false).await;
    let error = unavailable.assert_error(503, "service_unavailable");
    let broken = stack.chat(Some(APP), "broken", false).await;
    let broken_error = broken.assert_error(502, "api_error");
    for body in [error.to_string(), broken_error.to_string()] {
        for internal in ["127.0.0.1", "sandbox", "Exception", "genai"] {
            assert!(
                !body.contains(internal),
                "no internals in 5xx bodies: {body}"
            );
        }
    }
    assert_eq!(stack.sandbox.stats().model_calls("genai", NOVA).failed, 1);
}

#[tokio::test]
async fn a_parameter_bedrock_cannot_take_is_a_400_that_consumes_nothing() {
    let stack = Stack::start(&config()).await;
    let body = json!({
        "model": "tiny",
        "messages": [{"role": "user", "content": "hi"}],
        "presence_penalty": 0.5,
    });
    let refused = stack
        .post("/v1/chat/completions", Some(APP), body.to_string())
        .await;
    let error = refused.assert_error(400, "invalid_request_error");
    assert_eq!(error["param"], "presence_penalty", "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("drop_params"),
        "{error}"
    );
    assert_eq!(stack.calls(SONNET), 0);

    // The refused request took nothing of the deployment's 1 RPM.
    let served = stack.chat(Some(APP), "tiny", false).await;
    assert_eq!(served.status, 200, "{}", served.text);
    assert_eq!(stack.calls(SONNET), 1);
}

#[tokio::test]
async fn an_upstream_slower_than_the_deployment_timeout_is_504() {
    let stack = Stack::start(&format!(
        r#"
model_list:
  - model_name: slow
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai, timeout: 0.2}}
router_settings:
  num_retries: 0
sandbox:
  seed: 7
  latency: {{first_token_ms: 3000, tokens_per_second: 0}}
"#
    ))
    .await;
    for stream in [false, true] {
        let reply = stack.chat(None, "slow", stream).await;
        reply.assert_error(504, "timeout");
    }
}
