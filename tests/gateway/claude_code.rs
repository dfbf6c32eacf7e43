//! Claude Code itself (npm `@anthropic-ai/claude-code`, pinned at 2.1.332) in non-interactive
//! mode through the gateway to the sandbox: a scripted reply makes it call its Write tool, it
//! writes the file, sends the tool result back, and ends on the scripted answer.
//!
//! `claude` must be on PATH (`.ci/run` installs it with npm; by hand:
//! `npm install -g @anthropic-ai/claude-code@2.1.332`): without it the test fails, it does not
//! skip.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{SONNET, Stack};
use crate::support::process;

/// The version the tests pin: the one whose requests the Messages surface was built against.
const CLAUDE_CODE_VERSION: &str = "2.1.332";

fn config(file: &str) -> String {
    format!(
        r#"
model_list:
  - model_name: claude
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai}}
    model_info: {{id: claude-sonnet}}
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
  replies:
    - when: "File created successfully"
      text: "Wrote hello.txt."
    - when: "hello\\.txt"
      tool: {{name: Write, input: {{file_path: "{file}", content: "hello from the sandbox\n"}}}}
"#
    )
}

fn claude() -> Command {
    let mut command = Command::new("claude");
    command
        .env("DISABLE_TELEMETRY", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    command
}

#[tokio::test]
async fn claude_code_writes_a_file_through_the_gateway() {
    let version = process::run_within(
        {
            let mut c = claude();
            c.arg("--version");
            c
        },
        Duration::from_secs(60),
        "claude --version (npm install -g @anthropic-ai/claude-code@2.1.332)",
    );
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    assert!(
        version.starts_with(CLAUDE_CODE_VERSION),
        "the tests pin Claude Code {CLAUDE_CODE_VERSION}; found {version}"
    );

    let dir = tempfile::tempdir().unwrap();
    let (work, home) = (dir.path().join("work"), dir.path().join("home"));
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    let file = work.join("hello.txt");
    let stack = Stack::start(&config(file.to_str().unwrap())).await;

    let mut command = claude();
    command
        .current_dir(&work)
        .env("HOME", &home)
        .env("ANTHROPIC_BASE_URL", stack.url(""))
        .env("ANTHROPIC_AUTH_TOKEN", "sk-unused-on-an-open-gateway")
        .env("ANTHROPIC_MODEL", "claude")
        .env("ANTHROPIC_DEFAULT_HAIKU_MODEL", "claude")
        .args(["-p", "Create hello.txt with a greeting in it."])
        .args(["--allowedTools", "Write", "--output-format", "json"]);
    let output = tokio::task::spawn_blocking(move || {
        process::run_within(command, Duration::from_secs(120), "claude -p")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "claude -p failed: {}\n{stderr}\n{stdout}",
        output.status
    );
    let result: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("claude's output is not JSON ({e}): {stdout}\n{stderr}"));

    assert_eq!(result["is_error"], false, "{result}");
    assert_eq!(result["result"], "Wrote hello.txt.", "{result}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap_or_default(),
        "hello from the sandbox\n",
        "the Write tool ran: {result}"
    );
    // Claude Code marks its system prompt and last user block: the first turn writes the
    // cache, the second (with the tool result) reads it.
    let usage = &result["usage"];
    assert!(
        usage["cache_creation_input_tokens"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{result}"
    );
    assert!(
        usage["cache_read_input_tokens"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{result}"
    );
    // The tool call and the answer at least; every call admitted was settled.
    let served = stack.served(SONNET);
    assert!(served >= 2, "{served} calls: {result}");
    let health = stack.deployment_health("claude-sonnet").await;
    assert_eq!(health["in_flight"], 0, "{health}");
    assert_eq!(health["requests_in_window"], served, "{health}");
}
