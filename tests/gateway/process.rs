//! The real binary: `resilient-llm gateway serve --sandbox --port 0`, read for its URL, then
//! graceful shutdown on SIGTERM with a stream in flight, and the official `openai` Python
//! package as a client (`tests/clients/gateway_openai.py`). Python and `openai` must be
//! installed: without them the client test fails rather than skips.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{HAIKU, SONNET, client, sse_data};
use crate::support;

/// How long the process may take to exit after SIGTERM, and the script to finish.
const DEADLINE: Duration = Duration::from_secs(60);

/// Kills the gateway when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Server {
    fn wait_within(&mut self, deadline: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < deadline,
                "the gateway did not exit within {deadline:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Writes `yaml` to a temporary file and runs `gateway serve --sandbox --port 0` on it;
/// returns the process and the gateway URL from its banner.
fn serve(dir: &Path, yaml: &str) -> (Server, String) {
    let config = dir.join("config.yaml");
    std::fs::write(&config, yaml).unwrap();
    // Configs holding a literal master key must be private (the loader refuses them otherwise).
    #[cfg(unix)]
    std::fs::set_permissions(&config, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_resilient-llm"))
        .env_remove("RESILIENT_LLM_CONFIG")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .arg("--config")
        .arg(&config)
        .args(["gateway", "serve", "--sandbox", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let server = Server(child);
    let mut url = None;
    let mut banner = String::new();
    for _ in 0..4 {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        banner.push_str(&line);
        if let Some(found) = line.trim().strip_prefix("Gateway listening on ") {
            url = Some(found.to_string());
            break;
        }
    }
    let url = url.unwrap_or_else(|| panic!("no gateway URL in the banner: {banner:?}"));
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
    });
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

    let pid = server.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());

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

/// Runs the Python client with `args` within the deadline; panics (with its stderr) unless it
/// exits 0, and returns its stdout.
fn run_script(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/gateway_openai.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args(args)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be installed for the openai client test");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).map(|_| text)
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("the openai client script did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out.join().unwrap().unwrap();
    let stderr = err.join().unwrap().unwrap();
    assert!(
        status.success(),
        "the openai client failed (is the openai package installed? pip install openai): {status}\n{stderr}\n{stdout}"
    );
    stdout
}
