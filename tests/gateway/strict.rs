//! The gateway sends Bedrock only what Bedrock takes, and treats Bedrock's refusals of a
//! deployment's model id as the deployment's problem: a tool history without `tools` gets a
//! synthesised `toolConfig`, a request without a user message is a 400 naming `messages`, and a
//! deployment whose model id Bedrock refuses (unknown, or a profile-only base id called on
//! demand) is skipped with a WARN line naming it, never the client's 400.

use serde_json::json;

use crate::harness::{HAIKU, SONNET, Stack};
use crate::support::process::{self, Server};

/// An id the catalogue (and Bedrock) does not know, and a base id Bedrock serves on demand
/// only through an inference profile.
const UNKNOWN_ID: &str = "anthropic.claude-9";
const PROFILE_ONLY_BASE_ID: &str = "anthropic.claude-haiku-4-5-20251001-v1:0";

fn config() -> String {
    format!(
        r#"
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
    model_info: {{id: chat-haiku}}
  - model_name: primary
    litellm_params: {{model: "bedrock/{UNKNOWN_ID}", aws_profile_name: genai}}
    model_info: {{id: typo-id}}
  - model_name: primary
    litellm_params: {{model: "bedrock/{PROFILE_ONLY_BASE_ID}", aws_profile_name: genai}}
    model_info: {{id: base-id}}
  - model_name: backup
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai}}
    model_info: {{id: backup-sonnet}}
  - model_name: lonely
    litellm_params: {{model: "bedrock/{UNKNOWN_ID}", aws_profile_name: genai}}
    model_info: {{id: lonely-typo}}
router_settings:
  num_retries: 0
  allowed_fails: 100
  fallbacks: [{{primary: [backup]}}]
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
"#
    )
}

#[tokio::test]
async fn a_tool_history_without_tools_is_served_through_converse() {
    let stack = Stack::start(&config()).await;
    let body = json!({
        "model": "chat",
        "messages": [
            {"role": "user", "content": "What is the weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21C"},
            {"role": "user", "content": "Thanks! Summarise it."}
        ]
    });
    let reply = stack
        .post("/v1/chat/completions", None, body.to_string())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let message = &reply.json()["choices"][0]["message"];
    assert_eq!(message["role"], "assistant", "{message}");
    assert_eq!(stack.served(HAIKU), 1);

    // A new question after the tool round: the model may call the tool again, and that call
    // comes back as an OpenAI tool call.
    let body = json!({
        "model": "chat",
        "messages": [
            {"role": "user", "content": "What is the weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21C"},
            {"role": "assistant", "content": "It is sunny and 21C in Paris."},
            {"role": "user", "content": "And in Rome?"}
        ]
    });
    let reply = stack
        .post("/v1/chat/completions", None, body.to_string())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let choice = &reply.json()["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{choice}");
    assert_eq!(
        choice["message"]["tool_calls"][0]["function"]["name"], "get_weather",
        "{choice}"
    );
}

#[tokio::test]
async fn a_request_without_a_user_message_is_a_400_naming_messages() {
    let stack = Stack::start(&config()).await;
    let body = json!({"model": "chat", "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "assistant", "content": "Hello!"}
    ]});
    let reply = stack
        .post("/v1/chat/completions", None, body.to_string())
        .await;
    let error = reply.assert_error(400, "invalid_request_error");
    assert_eq!(error["param"], "messages", "{error}");
    assert_eq!(stack.calls(HAIKU), 0, "refused before any upstream call");
}

#[tokio::test]
async fn a_model_id_bedrock_refuses_is_a_gateway_fault_not_the_clients_400() {
    let stack = Stack::start(&config()).await;
    let reply = stack.chat(None, "primary", false).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.deployment(), "backup-sonnet");
    assert_eq!(reply.header("x-resilient-llm-fallbacks"), Some("1"));
    // Both deployments of the group were tried once, and refused by Bedrock.
    assert_eq!(stack.calls(UNKNOWN_ID), 1);
    assert_eq!(stack.calls(PROFILE_ONLY_BASE_ID), 1);

    let alone = stack.chat(None, "lonely", false).await;
    let error = alone.assert_error(502, "api_error");
    assert!(
        !error["message"].as_str().unwrap().contains(UNKNOWN_ID),
        "no internals: {error}"
    );
}

/// Removes ANSI colour sequences, so the test reads the log as text.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for end in chars.by_ref() {
                if end.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test]
async fn a_refused_deployment_is_logged_at_warn_with_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = process::binary();
    command
        .arg("--config")
        .arg(process::write_config(dir.path(), &config()))
        .args(["gateway", "serve", "--sandbox", "--port", "0"]);
    let server: Server = process::serve(command, "Gateway listening on ");
    let reply = crate::harness::client()
        .post(format!("{}/v1/chat/completions", server.url))
        .header("content-type", "application/json")
        .body(crate::harness::chat_body("primary", false).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    // The log line is written before the answer leaves, so it is in the output by now;
    // the reader threads may lag, so wait for it with a generous bound.
    let started = std::time::Instant::now();
    let warned = |id: &str| {
        plain(&server.output())
            .lines()
            .any(|l| l.contains("WARN") && l.contains(&format!("deployment={id}")))
    };
    while !(warned("typo-id") && warned("base-id")) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "no WARN line naming both deployments:\n{}",
            server.output()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let output = plain(&server.output());
    let typo = output
        .lines()
        .find(|l| l.contains("deployment=typo-id"))
        .unwrap();
    assert!(
        typo.contains("The provided model identifier is invalid."),
        "{typo}"
    );
    let base = output
        .lines()
        .find(|l| l.contains("deployment=base-id"))
        .unwrap();
    assert!(base.contains("on-demand throughput"), "{base}");
}
