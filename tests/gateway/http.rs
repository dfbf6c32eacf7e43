//! The OpenAI surface through a real gateway and sandbox: completions on both providers, tool
//! calls, the routing headers, models, health and metrics; the shared config `errors` uses too.

use serde_json::{Value, json};

use crate::harness::{FAST_SANDBOX, HAIKU, NOVA, SONNET, Stack, metric};

pub const MASTER: &str = "sk-test-master-0001";
pub const APP: &str = "sk-test-app-0000001";
pub const LIMITED: &str = "sk-test-limited-001";

/// Bedrock and `openai/…` groups, a master key and two consumers, a tiny body limit, and two
/// groups whose upstream always fails (one 503-like, one 502-like) with no retries.
pub fn config() -> String {
    format!(
        r#"
gateway:
  master_key: {MASTER}
  max_request_size_mb: 0.01
  consumers:
    - {{name: app, key: {APP}, models: [chat, compat, tiny, unavailable, broken, metered]}}
    - {{name: limited, key: {LIMITED}, models: [chat]}}
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{HAIKU}", aws_region_name: us-east-1, aws_profile_name: genai}}
    model_info: {{id: chat-haiku}}
  - model_name: compat
    litellm_params: {{model: "openai/{SONNET}", api_base: "$SANDBOX/v1", api_key: sk-anything}}
    model_info: {{id: compat-sonnet}}
  - model_name: tiny
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai, rpm: 1}}
    model_info: {{id: tiny-sonnet}}
  - model_name: unavailable
    litellm_params: {{model: "bedrock/{NOVA}", aws_profile_name: genai}}
    model_info: {{id: unavailable-nova}}
  - model_name: broken
    litellm_params: {{model: "bedrock/us.amazon.nova-pro-v1:0", aws_profile_name: genai}}
    model_info: {{id: broken-nova-pro}}
  - model_name: metered
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai, rpm: 50, tpm: 100000}}
    model_info: {{id: metered-haiku}}
router_settings:
  num_retries: 0
  retry_after: 0.01
  allowed_fails: 100
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
  faults:
    - {{error: ServiceUnavailableException, rate: 1.0, model: nova-lite}}
    - {{error: ModelErrorException, rate: 1.0, model: nova-pro}}
"#
    )
}

fn assert_completion(reply: &crate::harness::Reply, model_id: &str) -> Value {
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body = reply.json();
    assert_eq!(body["object"], "chat.completion", "{body}");
    assert!(
        body["id"].as_str().is_some_and(|id| !id.is_empty()),
        "{body}"
    );
    assert!(body["created"].as_i64().is_some_and(|t| t > 0), "{body}");
    assert_eq!(body["model"], model_id, "the deployment's model id: {body}");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant", "{body}");
    assert!(
        body["choices"][0]["message"]["content"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    let usage = &body["usage"];
    let (prompt, completion) = (
        usage["prompt_tokens"].as_u64().unwrap(),
        usage["completion_tokens"].as_u64().unwrap(),
    );
    // The emulated reply's length depends on the request's bytes: it may reach max_tokens.
    let finish = &body["choices"][0]["finish_reason"];
    match completion {
        64 => assert!(finish == "length" || finish == "stop", "{body}"),
        _ => assert_eq!(finish, "stop", "{body}"),
    }
    assert!(prompt > 0 && completion > 0, "{body}");
    assert_eq!(usage["total_tokens"].as_u64().unwrap(), prompt + completion);
    body
}

#[tokio::test]
async fn completions_on_bedrock_and_openai_deployments_name_the_deployment_model() {
    let stack = Stack::start(&config()).await;

    let bedrock = stack.chat(Some(APP), "chat", false).await;
    assert_completion(&bedrock, HAIKU);
    assert_eq!(stack.served(HAIKU), 1);

    let compat = stack.chat(Some(APP), "compat", false).await;
    assert_completion(&compat, SONNET);
    assert_eq!(
        stack.served(SONNET),
        1,
        "the openai/ deployment reached the sandbox's OpenAI route"
    );

    // The un-prefixed route answers the same way.
    let plain = stack
        .post(
            "/chat/completions",
            Some(MASTER),
            crate::harness::chat_body("chat", false).to_string(),
        )
        .await;
    assert_completion(&plain, HAIKU);
}

#[tokio::test]
async fn responses_carry_the_routing_headers() {
    let stack = Stack::start(&config()).await;
    let reply = stack.chat(Some(APP), "chat", false).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.header("x-resilient-llm-deployment"),
        Some("chat-haiku")
    );
    assert_eq!(reply.header("x-resilient-llm-model-group"), Some("chat"));
    assert_eq!(reply.header("x-resilient-llm-attempts"), Some("1"));
    assert_eq!(reply.header("x-resilient-llm-fallbacks"), Some("0"));
    assert_eq!(reply.header("x-litellm-model-id"), Some("chat-haiku"));
    assert_eq!(reply.header("x-litellm-model-group"), Some("chat"));
    assert_eq!(reply.header("x-litellm-attempted-fallbacks"), Some("0"));
    assert_eq!(reply.header("x-litellm-attempted-retries"), Some("0"));

    let limited = stack.chat(Some(APP), "tiny", false).await;
    assert_eq!(limited.status, 200, "{}", limited.text);
    assert_eq!(limited.header("x-ratelimit-remaining-requests"), Some("0"));
    assert!(limited.header("x-ratelimit-remaining-tokens").is_none());

    let metered = stack.chat(Some(APP), "metered", false).await;
    assert_eq!(metered.status, 200, "{}", metered.text);
    assert_eq!(metered.header("x-ratelimit-remaining-requests"), Some("49"));
    let tokens: u64 = metered
        .header("x-ratelimit-remaining-tokens")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        tokens < 100_000,
        "the request's tokens are reserved: {tokens}"
    );
}

#[tokio::test]
async fn a_tool_call_round_trips_through_both_providers() {
    let stack = Stack::start(&config()).await;
    for (group, model) in [("chat", HAIKU), ("compat", SONNET)] {
        let tools = json!([{
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather in a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"]
                }
            }
        }]);
        let mut messages =
            vec![json!({"role": "user", "content": "What is the weather in Paris?"})];
        let first = stack
            .post(
                "/v1/chat/completions",
                Some(APP),
                json!({"model": group, "messages": messages, "tools": tools, "tool_choice": "auto"})
                    .to_string(),
            )
            .await;
        assert_eq!(first.status, 200, "{group}: {}", first.text);
        let body = first.json();
        assert_eq!(body["model"], model);
        assert_eq!(
            body["choices"][0]["finish_reason"], "tool_calls",
            "{group}: {body}"
        );
        let message = body["choices"][0]["message"].clone();
        let call = &message["tool_calls"][0];
        assert_eq!(call["type"], "function", "{body}");
        assert_eq!(call["function"]["name"], "get_weather", "{body}");
        let arguments: Value =
            serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert!(arguments["city"].is_string(), "{group}: {arguments}");
        let call_id = call["id"].as_str().unwrap().to_string();

        messages.push(message);
        messages.push(
            json!({"role": "tool", "tool_call_id": call_id, "content": "22 degrees and sunny"}),
        );
        let second = stack
            .post(
                "/v1/chat/completions",
                Some(APP),
                json!({"model": group, "messages": messages, "tools": tools}).to_string(),
            )
            .await;
        assert_eq!(second.status, 200, "{group}: {}", second.text);
        let body = second.json();
        assert_eq!(
            body["choices"][0]["finish_reason"], "stop",
            "{group}: {body}"
        );
        let text = body["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(
            text.contains("22 degrees"),
            "{group}: the tool result reached the model: {text}"
        );
    }
}

#[tokio::test]
async fn models_are_listed_per_key() {
    let stack = Stack::start(&config()).await;
    let ids = |reply: &crate::harness::Reply| -> Vec<String> {
        assert_eq!(reply.status, 200, "{}", reply.text);
        let body = reply.json();
        assert_eq!(body["object"], "list");
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                assert_eq!(m["object"], "model");
                m["id"].as_str().unwrap().to_string()
            })
            .collect()
    };
    let all = ids(&stack.get("/v1/models", Some(MASTER)).await);
    assert_eq!(
        all,
        ["chat", "compat", "tiny", "unavailable", "broken", "metered"]
    );
    let limited = ids(&stack.get("/models", Some(LIMITED)).await);
    assert_eq!(limited, ["chat"]);
    stack
        .get("/v1/models", None)
        .await
        .assert_error(401, "authentication_error");
}

#[tokio::test]
async fn probe_routes_answer_without_a_key_and_health_with_the_master_key() {
    let stack = Stack::start(&config()).await;
    for path in [
        "/health/liveliness",
        "/health/liveness",
        "/health/readiness",
    ] {
        let reply = stack.get(path, None).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text);
    }
    let health = stack.health().await;
    let deployments = health["health"]["deployments"].as_array().unwrap();
    assert_eq!(deployments.len(), 6, "{health}");
    assert!(
        deployments.iter().all(|d| d["state"] == "healthy"),
        "{health}"
    );
    assert_eq!(stack.calls(HAIKU), 0, "health makes no upstream calls");
}

#[tokio::test]
async fn metrics_move_after_requests() {
    let stack = Stack::start(&config()).await;
    let before = stack.get("/metrics", None).await;
    assert_eq!(before.status, 200);
    assert!(
        before
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let requests = r#"resilient_llm_requests_total{model_group="chat"}"#;
    let calls = r#"resilient_llm_deployment_calls_total{deployment="chat-haiku",model_group="chat",outcome="success"}"#;
    let output = r#"resilient_llm_tokens_total{deployment="chat-haiku",model_group="chat",direction="output"}"#;
    let ok = r#"resilient_llm_responses_total{model_group="chat",code="200"}"#;
    let refused = r#"resilient_llm_refusals_total{reason="no_capacity"}"#;
    assert_eq!(metric(&before.text, requests), 0.0);

    for _ in 0..2 {
        assert_eq!(stack.chat(Some(APP), "chat", false).await.status, 200);
    }
    let streamed = stack.chat(Some(APP), "chat", true).await;
    assert_eq!(streamed.status, 200);
    assert_eq!(stack.chat(Some(APP), "tiny", false).await.status, 200);
    assert_eq!(stack.chat(Some(APP), "tiny", false).await.status, 429);
    let malformed = stack.post("/v1/chat/completions", Some(APP), "{").await;
    assert_eq!(malformed.status, 400);

    let after = stack.get("/metrics", None).await.text;
    assert_eq!(metric(&after, requests), 3.0, "{after}");
    assert_eq!(metric(&after, ok), 3.0, "{after}");
    assert_eq!(metric(&after, calls), 3.0, "{after}");
    assert!(metric(&after, output) > 0.0, "{after}");
    assert_eq!(metric(&after, refused), 1.0, "{after}");
    assert_eq!(
        metric(
            &after,
            r#"resilient_llm_errors_total{type="rate_limit_error"}"#
        ),
        1.0,
        "{after}"
    );
    assert_eq!(
        metric(
            &after,
            r#"resilient_llm_errors_total{type="invalid_request_error"}"#
        ),
        1.0,
        "{after}"
    );
    assert!(
        metric(
            &after,
            r#"resilient_llm_request_duration_seconds_count{model_group="chat"}"#
        ) >= 3.0,
        "{after}"
    );
    // At least the connection serving this very request is a live task.
    assert!(
        metric(&after, "resilient_llm_runtime_tasks") >= 1.0,
        "{after}"
    );
}

#[tokio::test]
async fn an_open_gateway_needs_no_key() {
    let stack = Stack::start(&format!(
        "model_list:\n  - model_name: chat\n    litellm_params: {{model: \"bedrock/{HAIKU}\"}}\n{FAST_SANDBOX}"
    ))
    .await;
    let reply = stack.chat(None, "chat", false).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
}

/// A second gateway on a port already taken does not start, and says where and why.
#[tokio::test]
async fn a_gateway_on_a_taken_port_names_the_address() {
    let stack = Stack::start(&format!(
        r#"
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
{FAST_SANDBOX}"#
    ))
    .await;
    let taken = stack.gateway.addr();
    let config = std::sync::Arc::new(crate::harness::config_for(
        &format!(
            "model_list:\n  - model_name: chat\n    litellm_params: {{model: \"bedrock/{HAIKU}\"}}\n"
        ),
        &stack.sandbox.endpoint(),
    ));
    let clients = resilient_llm::aws::Clients::for_sandbox(&config, &stack.sandbox.endpoint());
    let Err(error) = resilient_llm::gateway::start(config, &clients, taken).await else {
        panic!("a second gateway started on {taken}");
    };
    assert!(
        matches!(error, resilient_llm::gateway::StartError::Listen { addr, .. } if addr == taken),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("cannot listen on {taken}: ")),
        "{message}"
    );
    assert!(message.contains("pick another with --port"), "{message}");
}
