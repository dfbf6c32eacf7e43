//! An independent client against the real binary: `resilient-llm sandbox serve --aws-config-dir`
//! then boto3 (`tests/clients/sandbox_boto3.py`), which finds the sandbox only through the AWS
//! `config` and `credentials` files the command wrote. boto3 must be installed: without it this
//! test fails rather than skips.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

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

/// Kills the sandbox when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A command with every `AWS_*` variable of this process removed, so only the files count.
fn without_aws_env(program: &str) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") || name == "RESILIENT_LLM_CONFIG" {
            command.env_remove(name);
        }
    }
    command
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_PROXY", "127.0.0.1,localhost");
    command
}

/// Starts `sandbox serve` on port 0 and returns it with the URL from its first stdout line.
fn serve(config: &Path, aws_dir: &Path) -> (Server, String) {
    let mut child = without_aws_env(env!("CARGO_BIN_EXE_resilient-llm"))
        .arg("--config")
        .arg(config)
        .args(["sandbox", "serve", "--port", "0", "--aws-config-dir"])
        .arg(aws_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let server = Server(child);
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let url = first
        .trim()
        .strip_prefix("Sandbox listening on ")
        .unwrap_or_else(|| panic!("banner: {first:?}"));
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    // Keep draining the banner so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut stdout, &mut std::io::sink());
    });
    (server, url.to_owned())
}

/// Runs the boto3 script with only the AWS files for configuration, within a deadline.
fn run_boto3(aws_dir: &Path) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/sandbox_boto3.py");
    let mut child = without_aws_env("python3")
        .arg(script)
        .args(["--calls", &CALLS.to_string()])
        .env("AWS_CONFIG_FILE", aws_dir.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", aws_dir.join("credentials"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be installed for the boto3 client test");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        stdout.read_to_end(&mut text).map(|_| text)
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > SCRIPT_DEADLINE {
            let _ = child.kill();
            panic!("the boto3 script did not finish within {SCRIPT_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = Vec::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    Output {
        status,
        stdout: reader.join().unwrap().unwrap(),
        stderr,
    }
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

    let query = &summary["query"];
    assert_eq!(
        query["statuses"].as_array().unwrap().last().unwrap(),
        "Complete"
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
    assert_eq!(summary["other_account_query"]["total"], 0);
    assert_eq!(
        summary["malformed_query"]["code"],
        "MalformedQueryException"
    );
}
