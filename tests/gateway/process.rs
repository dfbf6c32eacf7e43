//! The real binary: `resilient-llm gateway serve --sandbox --port 0`, read for its URL, then
//! graceful shutdown on SIGTERM with a stream in flight, and the official `openai` Python
//! package as a client (`tests/clients/gateway_openai.py`). Python and `openai` must be
//! installed: without them the client test fails rather than skips.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{HAIKU, SONNET, client, sse_data};
use crate::support;
use crate::support::process::{self, Server};

/// How long the process may take to exit after SIGTERM, and the script to finish.
const DEADLINE: Duration = Duration::from_secs(60);

/// Writes `yaml` to a private config and runs `gateway serve --sandbox --port 0` on it;
/// returns the process and the gateway URL from its banner.
fn serve(dir: &Path, yaml: &str) -> (Server, String) {
    serve_with(dir, yaml, &[])
}

/// [`serve`] with global options (`-v`) before the command.
pub(crate) fn serve_with(dir: &Path, yaml: &str, options: &[&str]) -> (Server, String) {
    let mut command = process::binary();
    command
        .args(options)
        .arg("--config")
        .arg(process::write_config(dir, yaml))
        .args(["gateway", "serve", "--sandbox", "--port", "0"]);
    let server = process::serve(command, "Gateway listening on ");
    let url = server.url.clone();
    (server, url)
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_stream_finish_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url) = serve(
        dir.path(),
        &format!(
            r#"
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 15}}
"#
        ),
    );
    let http = client();
    let body = json!({
        "model": "chat",
        "messages": [{"role": "user", "content": "Tell me a story about a lighthouse keeper."}],
        "max_tokens": 200,
        "stream": true,
    });
    let mut response = http
        .post(format!("{url}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().expect("a first chunk");
    let mut text = String::from_utf8(first.to_vec()).unwrap();
    assert!(
        !text.contains("[DONE]"),
        "the stream must still be in flight: {text}"
    );

    server.terminate();

    while let Some(chunk) = response.chunk().await.unwrap() {
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let events = sse_data(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{text}");
    assert!(events.len() > 3, "{events:?}");
    assert!(
        events.iter().all(|e| !e.contains("\"error\"")),
        "{events:?}"
    );

    let status = tokio::task::spawn_blocking(move || server.wait_within(DEADLINE))
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "{status}");
}

#[tokio::test]
async fn the_official_openai_python_client_works_against_the_gateway() {
    // An OpenAI-compatible upstream for the `openai/…` deployment: a sandbox in this process.
    let upstream = support::sandbox::start(support::sandbox::fast_settings()).await;
    let dir = tempfile::tempdir().unwrap();
    let key = "sk-python-client-test";
    let (server, url) = serve(
        dir.path(),
        &format!(
            r#"
gateway:
  master_key: {key}
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
    model_info: {{id: chat-haiku}}
  - model_name: compat
    litellm_params: {{model: "openai/{SONNET}", api_base: "{}/v1"}}
    model_info: {{id: compat-sonnet}}
  - model_name: limited
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai, rpm: 1}}
    model_info: {{id: limited-sonnet}}
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
"#,
            upstream.endpoint()
        ),
    );
    let base_url = format!("{url}/v1");
    let output = tokio::task::spawn_blocking(move || {
        run_script(&[
            "--base-url",
            &base_url,
            "--api-key",
            key,
            "--model",
            "chat",
            "--model",
            "compat",
            "--limited-model",
            "limited",
        ])
    })
    .await
    .unwrap();
    drop(server);
    let summary: Value = serde_json::from_str(output.trim())
        .unwrap_or_else(|e| panic!("the script's summary is not JSON ({e}): {output}"));

    for (group, model) in [("chat", HAIKU), ("compat", SONNET)] {
        let c = &summary["completions"][group];
        assert_eq!(c["object"], "chat.completion", "{summary}");
        assert_eq!(c["model"], model, "{summary}");
        assert_eq!(c["finish_reason"], "stop", "{summary}");
        assert!(
            c["text"].as_str().is_some_and(|t| !t.is_empty()),
            "{summary}"
        );
        assert!(
            c["total_tokens"].as_u64().is_some_and(|t| t > 0),
            "{summary}"
        );

        let s = &summary["streams"][group];
        assert!(s["chunks"].as_u64().unwrap() >= 2, "{summary}");
        assert_eq!(s["models"], json!([model]), "{summary}");
        assert!(
            s["text"].as_str().is_some_and(|t| !t.is_empty()),
            "{summary}"
        );
        assert_eq!(s["finish_reason"], "stop", "{summary}");
        assert!(
            s["total_tokens"].as_u64().is_some_and(|t| t > 0),
            "usage chunk: {summary}"
        );
    }
    assert_eq!(upstream.stats().model_calls("genai", SONNET).served, 2);

    let raw = &summary["raw"];
    assert_eq!(raw["status"], 200, "{summary}");
    assert_eq!(raw["model"], HAIKU, "{summary}");
    let headers = &raw["headers"];
    assert_eq!(
        headers["x-resilient-llm-deployment"], "chat-haiku",
        "{summary}"
    );
    assert_eq!(headers["x-resilient-llm-model-group"], "chat", "{summary}");
    assert_eq!(headers["x-resilient-llm-attempts"], "1", "{summary}");
    assert_eq!(headers["x-resilient-llm-fallbacks"], "0", "{summary}");
    assert_eq!(headers["x-litellm-model-id"], "chat-haiku", "{summary}");
    assert_eq!(headers["x-litellm-model-group"], "chat", "{summary}");

    let unknown = &summary["unknown_model"];
    assert_eq!(unknown["raised"], "NotFoundError", "{summary}");
    assert_eq!(unknown["status"], 404, "{summary}");

    let limited = &summary["rate_limited"];
    assert_eq!(limited["raised"], "RateLimitError", "{summary}");
    assert_eq!(limited["status"], 429, "{summary}");
    assert_eq!(limited["type"], "rate_limit_error", "{summary}");
    assert!(limited["retry_after"].as_str().is_some(), "{summary}");
}

/// Runs the Python client with `args`; panics (with its stderr) unless it exits 0.
fn run_script(args: &[&str]) -> String {
    process::run_python_client("gateway_openai.py", args, "openai", DEADLINE)
}

/// The `x-request-id` of a response is on the log line of that request, so an operator can go
/// from a client's error to the gateway's account of it.
#[tokio::test]
async fn the_request_id_of_a_response_is_on_its_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
"#
    );
    let (server, _) = serve_with(dir.path(), &yaml, &["-v"]);
    let http = client();
    let mut ids = Vec::new();
    for model in ["chat", "no-such-model"] {
        let response = http
            .post(format!("{}/v1/chat/completions", server.url))
            .header("content-type", "application/json")
            .body(crate::harness::chat_body(model, false).to_string())
            .send()
            .await
            .unwrap();
        ids.push(
            response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    let deadline = std::time::Instant::now() + DEADLINE;
    let lines = loop {
        let output = server.output();
        let lines: Vec<String> = ids
            .iter()
            .filter_map(|id| {
                output
                    .lines()
                    .find(|l| l.contains(id.as_str()))
                    .map(str::to_string)
            })
            .collect();
        if lines.len() == ids.len() {
            break lines;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no log line names {ids:?}:\n{output}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(lines[0].contains("served"), "{lines:?}");
    assert!(lines[1].contains("refused"), "{lines:?}");
}

/// `gateway serve --sandbox` with the default config (which has consumer keys) suggests a
/// command that works once `$KEY` is set to a key from the section it names, and never prints
/// a key.
#[tokio::test]
async fn the_banner_suggests_a_working_command_and_prints_no_key() {
    let default = resilient_llm::config::load_str(
        resilient_llm::config::DEFAULT_CONFIG,
        Path::new("default.yaml"),
        &|_| None,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut command = process::binary();
    command
        .current_dir(dir.path())
        .env_remove("RESILIENT_LLM_CONFIG")
        .args(["gateway", "serve", "--sandbox", "--port", "0"]);
    let server = process::serve(command, "Gateway listening on ");
    let banner = server.output();
    let try_line = banner
        .lines()
        .find(|l| l.trim_start().starts_with("try: curl"))
        .unwrap_or_else(|| panic!("no suggestion in the banner:\n{banner}"));
    assert!(try_line.contains("Bearer $KEY"), "{try_line}");
    assert!(banner.contains("`gateway.consumers`"), "{banner}");
    for consumer in &default.gateway.consumers {
        assert!(
            !banner.contains(consumer.key.expose()),
            "a key reached the banner:\n{banner}"
        );
    }
    // Run what it suggests, with KEY set to the first consumer's key.
    let body = try_line
        .split_once("-d '")
        .and_then(|(_, rest)| rest.strip_suffix('\''))
        .unwrap_or_else(|| panic!("no body in {try_line}"));
    let key = default.gateway.consumers[0].key.expose();
    let reply = client()
        .post(format!("{}/v1/chat/completions", server.url))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200, "{}", reply.text().await.unwrap());
    assert!(!server.output().contains(key), "a key reached the output");
}
