//! boto3 against `sandbox serve`: each request Bedrock refuses is refused with Bedrock's
//! exception name, message and status (`tests/clients/sandbox_strict_boto3.py`). boto3 must be
//! installed: without it this test fails rather than skips.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::process::{self, without_aws_env};

const CONFIG: &str = "sandbox:\n  seed: 7\n  latency: {first_token_ms: 0, tokens_per_second: 0}\n";

#[test]
fn boto3_sees_bedrock_refusals_in_bedrock_words() {
    let dir = tempfile::tempdir().unwrap();
    let config = process::write_config(dir.path(), CONFIG);
    let aws_dir = dir.path().join("aws");
    let mut command = without_aws_env(env!("CARGO_BIN_EXE_resilient-llm"));
    command
        .arg("--config")
        .arg(&config)
        .args(["sandbox", "serve", "--port", "0", "--aws-config-dir"])
        .arg(&aws_dir);
    let _server = process::serve(command, "Sandbox listening on ");

    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/sandbox_strict_boto3.py");
    let mut python = without_aws_env("python3");
    python
        .arg(script)
        .env("AWS_CONFIG_FILE", aws_dir.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", aws_dir.join("credentials"));
    let output = process::run_within(python, Duration::from_secs(120), "the boto3 script");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the boto3 client failed (is boto3 installed? pip install boto3):\n{stderr}"
    );
    let seen: Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));

    let validation = |message: &str| json!({"code": "ValidationException", "message": message, "http_status": 400});
    let expected = json!({
        "tool_blocks_without_tool_config": validation(
            "The toolConfig field must be defined when using toolUse and toolResult content blocks."),
        "assistant_first": validation(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message."),
        "blank_text": validation(
            "The text field in the ContentBlock object at messages.0.content.1 is blank. Add text to the text field, and try again."),
        "unknown_model": validation("The provided model identifier is invalid."),
        "on_demand_base_id": validation(
            "Invocation of model ID anthropic.claude-haiku-4-5-20251001-v1:0 with on-demand throughput isn\u{2019}t supported. Retry your request with the ID or ARN of an inference profile that contains this model."),
        "extraneous_key": validation(
            "The model returned the following errors: foo: Extra inputs are not permitted"),
        "unknown_operation": {
            "code": "UnknownOperationException",
            "message": "Unknown operation: POST /guardrail/g1/version/1/apply",
            "http_status": 404
        },
    });
    for (case, want) in expected.as_object().unwrap() {
        assert_eq!(&seen[case], want, "case {case}");
    }
}
