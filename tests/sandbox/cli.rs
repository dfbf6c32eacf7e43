//! An independent client against the real binary: `resilient-llm sandbox serve --aws-config-dir`
//! then boto3 (`tests/clients/sandbox_boto3.py`), which finds the sandbox only through the AWS
//! `config` and `credentials` files the command wrote. boto3 must be installed: without it this
//! test fails rather than skips.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use crate::support::process::{self, Server, without_aws_env};

/// A small config: no waiting, and a quota of 2 requests a minute on one model for `test` only.
const CONFIG: &str = r#"
sandbox:
  seed: 7
  latency: {first_token_ms: 0, tokens_per_second: 0}
  accounts:
    - profile: genai
      account_id: '111111111111'
      access_key_id: SANDBOXGENAIKEY00001
      secret_access_key: sandbox-secret-genai
    - profile: test
      account_id: '222222222222'
      access_key_id: SANDBOXTESTKEY000001
      secret_access_key: sandbox-secret-test
      quotas: {"us.amazon.nova-lite-v1:0": {rpm: 2}}
"#;
/// Converse calls the script makes as `genai` through the profile (it also streams once).
const CALLS: u64 = 6;
/// How long the script may take before the test gives up on it.
const SCRIPT_DEADLINE: Duration = Duration::from_secs(180);

/// Starts `sandbox serve` on port 0 and returns it with the URL from its banner.
fn serve(config: &Path, aws_dir: &Path) -> (Server, String) {
    let mut command = without_aws_env(env!("CARGO_BIN_EXE_resilient-llm"));
    command
        .arg("--config")
        .arg(config)
        .args(["sandbox", "serve", "--port", "0", "--aws-config-dir"])
        .arg(aws_dir);
    let server = process::serve(command, "Sandbox listening on ");
    let url = server.url.clone();
    (server, url)
}

/// Runs the boto3 script with only the AWS files for configuration, within a deadline.
fn run_boto3(aws_dir: &Path) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/sandbox_boto3.py");
    let mut command = without_aws_env("python3");
    command
        .arg(script)
        .args(["--calls", &CALLS.to_string()])
        .env("AWS_CONFIG_FILE", aws_dir.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", aws_dir.join("credentials"));
    process::run_within(command, SCRIPT_DEADLINE, "the boto3 script (python3)")
}

#[test]
fn boto3_reaches_the_sandbox_through_the_written_aws_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let aws_dir = dir.path().join("aws");
    let (_server, url) = serve(&config, &aws_dir);
    let aws_config = std::fs::read_to_string(aws_dir.join("config")).unwrap();
    assert!(
        aws_config.contains(&format!("endpoint_url = {url}")),
        "{aws_config}"
    );

    let output = run_boto3(&aws_dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the boto3 client failed (is boto3 installed? pip install boto3):\n{stderr}"
    );
    let summary: Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));

    assert_eq!(summary["identities"]["genai"]["account"], "111111111111");
    assert_eq!(summary["identities"]["test"]["account"], "222222222222");
    assert_eq!(
        summary["identities"]["test"]["arn"],
        "arn:aws:iam::222222222222:user/test"
    );

    assert_eq!(summary["converse"]["ok"], CALLS);
    assert_eq!(summary["converse"]["all_have_text"], true);
    let events = &summary["stream"]["events"];
    assert_eq!(
        *events,
        serde_json::json!([
            "messageStart",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ])
    );
    assert!(summary["stream"]["text_length"].as_u64().unwrap() > 0);

    let throttle = &summary["throttle"];
    assert_eq!(
        throttle["ok_before_throttle"], 2,
        "the test account's quota is 2 a minute: {throttle}"
    );
    assert_eq!(
        throttle["error"],
        serde_json::json!({ "code": "ThrottlingException", "http_status": 429 })
    );
    assert_eq!(throttle["other_account_ok"], true);

    // As the walkthrough's scripts do: only DescribeQueries until Complete, then the results.
    let query = &summary["query"];
    assert_eq!(query["polled_with"], "describe_queries");
    let statuses = query["statuses"].as_array().unwrap();
    assert_eq!(
        statuses.last().unwrap(),
        "Complete",
        "DescribeQueries must show the query Complete without GetQueryResults: {query}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| ["Scheduled", "Running", "Complete"].contains(&s.as_str().unwrap())),
        "{query}"
    );
    assert_eq!(
        (&query["get_query_results_calls"], &query["results_status"]),
        (&serde_json::json!(1), &serde_json::json!("Complete")),
        "{query}"
    );
    let regions = query["regions"].as_object().unwrap();
    assert!(
        regions
            .keys()
            .all(|r| ["us-east-1", "us-east-2", "us-west-2"].contains(&r.as_str())),
        "{regions:?}"
    );
    assert_eq!(
        query["total"],
        CALLS + 1,
        "Converse calls plus the stream, all through the profile: {query}"
    );
    let other = &summary["other_account_query"];
    assert_eq!(
        (
            &other["polled_with"],
            &other["results_status"],
            &other["total"]
        ),
        (
            &serde_json::json!("get_query_results"),
            &serde_json::json!("Complete"),
            &serde_json::json!(0)
        ),
        "{other}"
    );
    assert_eq!(
        summary["malformed_query"]["code"],
        "MalformedQueryException"
    );
}
