//! The Anthropic Messages surface: Claude Code's own request through the gateway to Claude
//! models on the sandbox's Bedrock (InvokeModel), streams in Anthropic's event order, errors in
//! Anthropic's shape, and the official `anthropic` Python package as a client.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{HAIKU, NOVA, SONNET, SONNET_45, Stack};
use crate::support::process;

const KEY: &str = "sk-anthropic-surface-test";
const NOVA_2: &str = "global.amazon.nova-2-lite-v1:0";
const CONSUMER_KEY: &str = "sk-anthropic-consumer";

fn config() -> String {
    format!(
        r#"
gateway:
  master_key: {KEY}
  consumers:
    - {{name: team-a, key: {CONSUMER_KEY}, rpm_limit: 1}}
model_list:
  - model_name: claude
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai}}
    model_info: {{id: claude-sonnet}}
  - model_name: limited
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai, rpm: 1}}
    model_info: {{id: limited-sonnet}}
  - model_name: primary
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai, rpm: 1}}
    model_info: {{id: primary-haiku}}
  - model_name: backup
    litellm_params: {{model: "bedrock/{SONNET_45}", aws_profile_name: genai}}
    model_info: {{id: backup-sonnet}}
  - model_name: nova
    litellm_params: {{model: "bedrock/{NOVA}", aws_profile_name: genai}}
  - model_name: nova-2
    litellm_params: {{model: "bedrock/{NOVA_2}", aws_profile_name: genai}}
  - model_name: compat
    litellm_params: {{model: "openai/{SONNET}", api_base: "$SANDBOX/v1"}}
  - model_name: embed
    litellm_params: {{model: "bedrock/amazon.titan-embed-text-v2:0", aws_profile_name: genai}}
    model_info: {{mode: embedding}}
router_settings:
  num_retries: 0
  fallbacks: [{{primary: [backup]}}]
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
"#
    )
}

/// The request Claude Code 2.1.332 sends (its headers and the fields Bedrock refuses).
fn claude_code_request(stream: bool) -> (Value, &'static str) {
    let body = json!({
        "model": "claude", "max_tokens": 32000, "stream": stream,
        "thinking": {"type": "adaptive", "display": "omitted"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "high"},
        "metadata": {"user_id": "{\"device_id\":\"0f\",\"session_id\":\"s\"}"},
        "system": [
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Work in /tmp.", "cache_control": {"type": "ephemeral"}},
        ],
        "tools": [{"name": "Write", "description": "Writes a file",
            "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}},
            "defer_loading": true}],
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "Say hello.", "cache_control": {"type": "ephemeral"}}]}],
    });
    let betas = "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,thinking-token-count-2026-05-13,advanced-tool-use-2025-11-20,effort-2025-11-24";
    (body, betas)
}

async fn post_messages(stack: &Stack, body: &Value, betas: Option<&str>) -> crate::harness::Reply {
    let mut request = crate::harness::client()
        .post(stack.url("/v1/messages?beta=true"))
        .header("content-type", "application/json")
        .header("anthropic-version", "2023-06-01")
        .bearer_auth(KEY)
        .body(body.to_string());
    if let Some(betas) = betas {
        request = request.header("anthropic-beta", betas);
    }
    let response = request.send().await.unwrap();
    crate::harness::Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.unwrap(),
    }
}

/// `(event name, data)` of each event of an Anthropic SSE body.
fn events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut name = String::new();
            let mut data = Value::Null;
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}"));
                }
            }
            (name, data)
        })
        .collect()
}

#[tokio::test]
async fn claude_codes_request_reaches_a_claude_model_on_bedrock() {
    let stack = Stack::start(&config()).await;
    let (body, betas) = claude_code_request(false);
    let reply = post_messages(&stack, &body, Some(betas)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let message = reply.json();
    assert_eq!(message["type"], "message", "{message}");
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["model"], SONNET);
    // Offered tools, the emulated model calls the first, with Bedrock's tool id.
    // Adaptive thinking on Sonnet 4.6: a signed thinking block first, its text omitted as
    // Claude Code asked (`display: omitted`).
    let thinking = &message["content"][0];
    assert_eq!(thinking["type"], "thinking", "{message}");
    assert_eq!(thinking["thinking"], "", "{message}");
    assert!(
        thinking["signature"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{message}"
    );
    let block = &message["content"][1];
    assert_eq!(block["type"], "tool_use", "{message}");
    assert_eq!(block["name"], "Write", "{message}");
    let id = block["id"].as_str().unwrap_or_default();
    assert!(id.starts_with("toolu_bdrk_"), "{message}");
    assert_eq!(message["stop_reason"], "tool_use", "{message}");
    assert!(
        message["usage"]["input_tokens"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{message}"
    );
    assert_eq!(
        reply.header("x-resilient-llm-deployment"),
        Some("claude-sonnet")
    );
    assert!(
        reply
            .header("request-id")
            .is_some_and(|id| id.starts_with("req_"))
    );
    assert_eq!(stack.served(SONNET), 1);
}

#[tokio::test]
async fn a_stream_relays_anthropics_events_in_order() {
    let stack = Stack::start(&config()).await;
    let (body, betas) = claude_code_request(true);
    let reply = post_messages(&stack, &body, Some(betas)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    let events = events(&reply.text);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
    // The thinking block (its signature only, the text omitted), then the answer's block.
    assert_eq!(
        &names[1..4],
        [
            "content_block_start",
            "content_block_delta",
            "content_block_stop"
        ],
        "{names:?}"
    );
    assert_eq!(events[1].1["content_block"]["type"], "thinking");
    assert_eq!(events[2].1["delta"]["type"], "signature_delta");
    assert_eq!(names[4], "content_block_start", "{names:?}");
    assert_eq!(events[4].1["index"], 1);
    assert!(
        names[5..names.len() - 3]
            .iter()
            .all(|n| *n == "content_block_delta"),
        "{names:?}"
    );
    assert_eq!(
        &names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    for (name, data) in &events {
        assert_eq!(data["type"], name.as_str(), "each event's data names it");
    }
    assert_eq!(events[0].1["message"]["model"], SONNET);
    let stop = &events.last().unwrap().1;
    assert!(
        stop.get("amazon-bedrock-invocationMetrics").is_none(),
        "{stop}"
    );
    assert!(
        events[names.len() - 2].1["usage"]["output_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[tokio::test]
async fn errors_come_in_anthropics_shape() {
    let stack = Stack::start(&config()).await;
    let user = json!([{"role": "user", "content": "hi"}]);
    let cases = [
        (
            json!({"model": "claude", "messages": user}),
            400,
            "invalid_request_error",
            "max_tokens: Field required",
        ),
        (
            json!({"model": "gpt-9", "max_tokens": 5, "messages": user}),
            404,
            "not_found_error",
            "gpt-9",
        ),
        (
            json!({"model": "embed", "max_tokens": 5, "messages": user}),
            400,
            "invalid_request_error",
            "serves embedding calls",
        ),
    ];
    for (body, status, kind, says) in cases {
        let reply = post_messages(&stack, &body, None).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.text);
        let error = reply.json();
        assert_eq!(error["type"], "error", "{error}");
        assert_eq!(error["error"]["type"], kind, "{error}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    }
    let reply = crate::harness::client()
        .post(stack.url("/v1/messages"))
        .header("x-api-key", "sk-wrong")
        .body(json!({"model": "claude", "max_tokens": 5, "messages": user}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 401);
    let error: Value = serde_json::from_str(&reply.text().await.unwrap()).unwrap();
    assert_eq!(error["error"]["type"], "authentication_error", "{error}");
    assert_eq!(
        stack.calls(SONNET),
        0,
        "an unfit deployment is never called"
    );
}

#[tokio::test]
async fn the_official_anthropic_python_client_works_against_the_gateway() {
    let stack = Stack::start(&config()).await;
    let base_url = stack.url("");
    let output = tokio::task::spawn_blocking(move || {
        run_script(&[
            "--base-url",
            &base_url,
            "--api-key",
            KEY,
            "--consumer-key",
            CONSUMER_KEY,
            "--model",
            "claude",
            "--limited-model",
            "limited",
            "--fallback-model",
            "primary",
        ])
    })
    .await
    .unwrap();
    let summary: Value = serde_json::from_str(output.trim())
        .unwrap_or_else(|e| panic!("the script's summary is not JSON ({e}): {output}"));

    let create = &summary["create"];
    assert_eq!(create["type"], "message", "{summary}");
    assert_eq!(create["model"], SONNET, "{summary}");
    assert_eq!(create["stop_reason"], "end_turn", "{summary}");
    assert!(
        create["text"].as_str().is_some_and(|t| !t.is_empty()),
        "{summary}"
    );
    assert!(
        create["output_tokens"].as_u64().is_some_and(|n| n > 0),
        "{summary}"
    );
    assert!(
        create["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("req_")),
        "{summary}"
    );

    let stream = &summary["stream"];
    let names: Vec<&str> = stream["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(names.first(), Some(&"message_start"), "{summary}");
    assert_eq!(
        &names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"],
        "{summary}"
    );
    assert_eq!(stream["text"], stream["final_text"], "{summary}");
    assert!(
        stream["text"].as_str().is_some_and(|t| !t.is_empty()),
        "{summary}"
    );
    assert_eq!(stream["model"], SONNET, "{summary}");

    assert!(
        summary["count_tokens"].as_u64().is_some_and(|n| n > 0),
        "{summary}"
    );

    let thinking = &summary["thinking"];
    assert_eq!(
        thinking["first"],
        json!(["thinking", "tool_use"]),
        "{summary}"
    );
    assert_eq!(thinking["signed"], true, "{summary}");
    assert_eq!(thinking["second"], json!(["thinking", "text"]), "{summary}");
    assert_eq!(thinking["edited"]["raised"], "BadRequestError", "{summary}");

    let cache = &summary["cache"];
    let written = cache[0]["written"].as_u64().unwrap_or_default();
    assert!(
        written >= 1024,
        "the first call writes the marked prefix: {summary}"
    );
    assert_eq!(cache[0]["read"], 0, "{summary}");
    assert_eq!(
        cache[1]["read"], written,
        "the second reads what the first wrote: {summary}"
    );
    assert_eq!(cache[1]["written"], 0, "{summary}");
    assert_eq!(cache[0]["input"], cache[1]["input"], "{summary}");

    let tools = &summary["tools"];
    assert_eq!(tools["stop_reason"], "tool_use", "{summary}");
    assert_eq!(tools["tool"], "get_weather", "{summary}");
    assert!(tools["input"]["city"].is_string(), "{summary}");
    let id = tools["id"].as_str().unwrap_or_default();
    assert!(id.starts_with("toolu_bdrk_"), "{summary}");
    assert_eq!(tools["answer_stop_reason"], "end_turn", "{summary}");
    let answer = tools["answer"].as_str().unwrap_or_default();
    assert!(
        answer.starts_with("The tool returned: sunny, 22 degrees"),
        "{summary}"
    );

    let unknown = &summary["unknown_model"];
    assert_eq!(unknown["raised"], "NotFoundError", "{summary}");
    assert_eq!(unknown["type"], "not_found_error", "{summary}");
    let bad = &summary["bad_request"];
    assert_eq!(bad["raised"], "BadRequestError", "{summary}");

    let limited = &summary["rate_limited"];
    assert_eq!(limited["raised"], "RateLimitError", "{summary}");
    assert_eq!(limited["type"], "rate_limit_error", "{summary}");
    assert!(
        limited["retry_after"]
            .as_str()
            .is_some_and(|s| s.parse::<u64>().is_ok()),
        "{summary}"
    );
    assert_eq!(limited["requests_limit"], "1", "{summary}");
    let reset = limited["requests_reset"].as_str().unwrap_or_default();
    assert!(
        chrono::DateTime::parse_from_rfc3339(reset).is_ok(),
        "{summary}"
    );

    assert_eq!(
        summary["fallback"],
        json!(["primary-haiku", "backup-sonnet"]),
        "{summary}"
    );
    let consumer = &summary["consumer_limited"];
    assert_eq!(consumer["raised"], "RateLimitError", "{summary}");
    // count_tokens consumed nothing: the sandbox saw the messages only.
    assert_eq!(
        stack.served(SONNET),
        2 + 2 + 2 + 2 + 1 + 1,
        "create, stream, the tool and thinking round trips, the cache pair, limited, consumer"
    );
}

/// Runs the Python client with `args`; panics (with its stderr) unless it exits 0.
fn run_script(args: &[&str]) -> String {
    process::run_python_client(
        "gateway_anthropic.py",
        args,
        "anthropic",
        Duration::from_secs(60),
    )
}

/// Claude Code's own model ids reach configured groups: exact names first, then
/// `model_group_alias`, then the longest matching wildcard group; on every surface.
#[tokio::test]
async fn model_names_resolve_by_name_alias_then_longest_wildcard() {
    let yaml = format!(
        r#"
gateway:
  master_key: {KEY}
  consumers:
    - {{name: team, key: {CONSUMER_KEY}, models: ["claude-*"]}}
model_list:
  - model_name: "claude-*"
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai}}
    model_info: {{id: wild-sonnet}}
  - model_name: "claude-haiku-*"
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
    model_info: {{id: wild-haiku}}
  - model_name: claude
    litellm_params: {{model: "bedrock/{SONNET_45}", aws_profile_name: genai}}
    model_info: {{id: exact-claude}}
router_settings:
  model_group_alias: {{sonnet: claude, secret: {{model: claude, hidden: true}}}}
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
"#
    );
    let stack = Stack::start(&yaml).await;
    let user = json!([{"role": "user", "content": "hi"}]);
    let cases = [
        ("claude", "exact-claude"),
        ("sonnet", "exact-claude"),
        ("secret", "exact-claude"),
        ("claude-haiku-4-5-20251001", "wild-haiku"),
        ("claude-sonnet-4-6", "wild-sonnet"),
        ("claude-opus-4-7", "wild-sonnet"),
    ];
    for (model, deployment) in cases {
        let body = json!({"model": model, "max_tokens": 8, "messages": user});
        let reply = post_messages(&stack, &body, None).await;
        assert_eq!(reply.status, 200, "{model}: {}", reply.text);
        assert_eq!(reply.deployment(), deployment, "{model}");
        let chat = stack
            .post(
                "/v1/chat/completions",
                Some(KEY),
                crate::harness::chat_body(model, false).to_string(),
            )
            .await;
        assert_eq!(
            chat.deployment(),
            deployment,
            "{model} on the OpenAI surface"
        );
    }
    let reply = post_messages(
        &stack,
        &json!({"model": "gpt-4o", "max_tokens": 8, "messages": user}),
        None,
    )
    .await;
    assert_eq!(reply.status, 404, "{}", reply.text);

    // A consumer's `models` match the same way: `claude-*` covers Claude Code's ids, not `sonnet`.
    let as_consumer = |model: &str| {
        crate::harness::client()
            .post(stack.url("/v1/messages"))
            .header("x-api-key", CONSUMER_KEY)
            .body(json!({"model": model, "max_tokens": 8, "messages": user}).to_string())
            .send()
    };
    assert_eq!(as_consumer("claude-opus-4-7").await.unwrap().status(), 200);
    assert_eq!(as_consumer("sonnet").await.unwrap().status(), 403);

    let models = stack.get("/v1/models", Some(KEY)).await.json();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        ["claude-*", "claude-haiku-*", "claude", "sonnet"],
        "{models}"
    );
}

/// `count_tokens` asks Bedrock's CountTokens (free) for a Claude group and answers the
/// estimate for one without a Claude deployment; neither is a model call.
#[tokio::test]
async fn count_tokens_asks_bedrock_and_consumes_nothing() {
    let stack = Stack::start(&config()).await;
    let body = |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "Count these words for me, please."}]});
    let count = |model: &'static str| {
        crate::harness::client()
            .post(stack.url("/v1/messages/count_tokens"))
            .bearer_auth(KEY)
            .body(body(model).to_string())
            .send()
    };
    let counted = count("claude").await.unwrap();
    assert_eq!(counted.headers()["x-resilient-llm-counted-by"], "bedrock");
    let tokens: Value = serde_json::from_str(&counted.text().await.unwrap()).unwrap();
    assert_eq!(tokens, json!({"input_tokens": 9}), "the sandbox's count");
    let estimated = count("nova").await.unwrap();
    assert_eq!(
        estimated.headers()["x-resilient-llm-counted-by"],
        "estimate"
    );
    assert_eq!(
        stack.calls(SONNET) + stack.calls(NOVA),
        0,
        "counting is not a call"
    );
}

/// Bedrock's other models take Messages bodies through Converse: the reply, the stream and a
/// tool call come back in Anthropic's shapes.
#[tokio::test]
async fn other_bedrock_models_answer_through_converse() {
    let stack = Stack::start(&config()).await;
    let ask = json!([{"role": "user", "content": "Weather in Paris?"}]);
    let body = json!({"model": "nova", "max_tokens": 64,
        "system": [{"type": "text", "text": "Be brief."}], "messages": ask});
    let reply = post_messages(&stack, &body, None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let message = reply.json();
    assert_eq!(
        (&message["type"], &message["model"]),
        (&json!("message"), &json!(NOVA)),
        "{message}"
    );
    assert_eq!(message["content"][0]["type"], "text", "{message}");
    assert_eq!(message["stop_reason"], "end_turn", "{message}");
    assert!(
        message["usage"]["output_tokens"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{message}"
    );

    let tools = json!([{"name": "get_weather", "input_schema": {"type": "object",
        "properties": {"city": {"type": "string"}}, "required": ["city"]}}]);
    let call = post_messages(
        &stack,
        &json!({"model": "nova", "max_tokens": 64, "messages": ask, "tools": tools}),
        None,
    )
    .await;
    let call = call.json();
    assert_eq!(call["stop_reason"], "tool_use", "{call}");
    let block = &call["content"][0];
    assert_eq!(
        (&block["type"], &block["name"]),
        (&json!("tool_use"), &json!("get_weather")),
        "{call}"
    );

    let mut stream = body.clone();
    stream["stream"] = json!(true);
    let reply = post_messages(&stack, &stream, None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let events = events(&reply.text);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        &names[..2],
        ["message_start", "content_block_start"],
        "{names:?}"
    );
    assert!(
        names[2..names.len() - 3]
            .iter()
            .all(|n| *n == "content_block_delta"),
        "{names:?}"
    );
    assert_eq!(
        &names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    let text: String = events
        .iter()
        .filter_map(|(_, d)| d["delta"]["text"].as_str())
        .collect();
    assert!(!text.is_empty(), "{names:?}");
    assert!(
        events[names.len() - 2].1["usage"]["output_tokens"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );
    assert_eq!(stack.served(NOVA), 3);
}

/// Through Converse too, nothing is lost: `cache_control` becomes a cache point that Bedrock
/// writes then reads, and thinking asks Nova 2 to reason (its reasoning comes back redacted).
#[tokio::test]
async fn converse_models_cache_prefixes_and_think_on_request() {
    let stack = Stack::start(&config()).await;
    let system = json!([{"type": "text", "text": "You are a careful assistant. ".repeat(350),
        "cache_control": {"type": "ephemeral"}}]);
    let ask = |question: &str| {
        json!({"model": "nova", "max_tokens": 64, "system": system,
            "messages": [{"role": "user", "content": question}]})
    };
    let first = post_messages(&stack, &ask("first"), None).await.json();
    let written = first["usage"]["cache_creation_input_tokens"].as_u64();
    assert!(written.is_some_and(|n| n >= 1024), "{first}");
    assert_eq!(first["usage"]["cache_read_input_tokens"], 0, "{first}");
    let second = post_messages(&stack, &ask("second"), None).await.json();
    assert_eq!(
        second["usage"]["cache_read_input_tokens"].as_u64(),
        written,
        "{second}"
    );
    assert_eq!(
        second["usage"]["cache_creation_input_tokens"], 0,
        "{second}"
    );

    let think = json!({"model": "nova-2", "max_tokens": 2000,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "Plan a trip."}]});
    let reply = post_messages(&stack, &think, None).await.json();
    assert_eq!(reply["content"][0]["type"], "thinking", "{reply}");
    assert_eq!(reply["content"][0]["thinking"], "[REDACTED]", "{reply}");
    assert_eq!(reply["content"][1]["type"], "text", "{reply}");
    // Without thinking asked, none comes back.
    let mut plain = think.clone();
    plain.as_object_mut().unwrap().remove("thinking");
    let reply = post_messages(&stack, &plain, None).await.json();
    assert_eq!(reply["content"][0]["type"], "text", "{reply}");
}

/// OpenAI-compatible upstreams take Messages bodies as chat completions: the reply and the
/// stream come back in Anthropic's shapes.
#[tokio::test]
async fn openai_compatible_upstreams_answer_in_anthropics_shapes() {
    let stack = Stack::start(&config()).await;
    let body = json!({"model": "compat", "max_tokens": 64, "system": "Be brief.",
        "messages": [{"role": "user", "content": "Say hello."}]});
    let reply = post_messages(&stack, &body, None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let message = reply.json();
    assert_eq!(
        (&message["type"], &message["model"]),
        (&json!("message"), &json!(SONNET)),
        "{message}"
    );
    assert_eq!(message["content"][0]["type"], "text", "{message}");
    assert!(
        message["usage"]["output_tokens"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{message}"
    );
    let mut stream = body.clone();
    stream["stream"] = json!(true);
    let reply = post_messages(&stack, &stream, None).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let events = events(&reply.text);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        &names[..2],
        ["message_start", "content_block_start"],
        "{names:?}"
    );
    assert_eq!(
        &names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"],
        "{names:?}"
    );
    let text: String = events
        .iter()
        .filter_map(|(_, d)| d["delta"]["text"].as_str())
        .collect();
    assert!(!text.is_empty(), "{names:?}");
    assert!(
        events[names.len() - 2].1["usage"]["output_tokens"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{names:?}"
    );
}
