//! The gateway demos and `demo all` through the real binary, offline (`--sandbox`).

use std::process::Output;

use serde_json::Value;

fn demo(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_resilient-llm"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RESILIENT_LLM_CONFIG")
        .env("NO_COLOR", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .args(args)
        .output()
        .unwrap()
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "exit {:?}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not one JSON document ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn requests_by_deployment(figures: &Value) -> Vec<(String, u64)> {
    let mut rows: Vec<(String, u64)> = figures["by_deployment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["deployment"].as_str().unwrap().to_string(),
                r["requests"].as_u64().unwrap(),
            )
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn fallback_sends_three_to_the_primary_and_seven_to_the_fallback() {
    let doc = json_of(&demo(&["--json", "demo", "fallback", "--sandbox"]));
    assert_eq!(doc["passed"], true, "{doc:#}");
    let f = &doc["figures"];
    assert_eq!(
        (
            f["primary"].as_u64(),
            f["fallback"].as_u64(),
            f["successful"].as_u64()
        ),
        (Some(3), Some(7), Some(10))
    );
    assert_eq!(
        requests_by_deployment(f),
        vec![
            ("fallback-haiku-4-5".to_string(), 7),
            ("primary-sonnet-4-6".to_string(), 3)
        ]
    );
}

#[test]
fn balance_splits_three_three_and_four() {
    let doc = json_of(&demo(&["--json", "demo", "balance", "--sandbox"]));
    assert_eq!(doc["passed"], true, "{doc:#}");
    assert_eq!(
        requests_by_deployment(&doc["figures"]),
        vec![
            ("balanced-sonnet-4-5".to_string(), 3),
            ("balanced-sonnet-4-6".to_string(), 3),
            ("overflow-haiku-4-5".to_string(), 4),
        ]
    );
    assert_eq!(doc["figures"]["successful"], 10);
}

#[test]
fn isolate_holds_the_noisy_consumer_to_its_quota_only() {
    let doc = json_of(&demo(&["--json", "demo", "isolate", "--sandbox"]));
    assert_eq!(doc["passed"], true, "{doc:#}");
    let consumers = doc["figures"]["consumers"].as_array().unwrap();
    let row = |name: &str| {
        consumers
            .iter()
            .find(|c| c["consumer"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        (
            row("A")["success"].as_u64(),
            row("A")["rate_limited"].as_u64()
        ),
        (Some(3), Some(2))
    );
    assert_eq!(
        (
            row("B")["success"].as_u64(),
            row("B")["rate_limited"].as_u64()
        ),
        (Some(5), Some(0))
    );
    assert_eq!(
        (
            row("C")["success"].as_u64(),
            row("C")["rate_limited"].as_u64()
        ),
        (Some(5), Some(0))
    );
}

#[test]
fn people_see_the_narration_and_the_analysis_tables() {
    let output = demo(&["demo", "fallback", "--sandbox"]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.matches("→ PRIMARY").count(), 3, "{text}");
    assert_eq!(text.matches("→ FALLBACK!").count(), 7, "{text}");
    for expected in [
        "FALLBACK DEMONSTRATION RESULTS",
        "Model Usage Distribution",
        "Fallback Triggered: 7",
        "FALLBACK WORKING",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert!(
        !text.contains('\u{1b}'),
        "NO_COLOR output must carry no escape codes"
    );
}

#[test]
fn all_runs_every_pattern_and_every_verdict_passes() {
    let doc = json_of(&demo(&["--json", "demo", "all", "--sandbox"]));
    assert_eq!(doc["passed"], true, "{doc:#}");
    let demos = doc["demos"].as_array().unwrap();
    assert_eq!(demos.len(), 5);
    assert!(demos.iter().all(|d| d["passed"] == true), "{doc:#}");
}

#[test]
fn no_gateway_running_says_how_to_start_one() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let free = listener.local_addr().unwrap();
    drop(listener);
    let output = demo(&["demo", "fallback", "--gateway", &format!("http://{free}")]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("no gateway answers"), "{stderr}");
    assert!(stderr.contains("gateway serve"), "{stderr}");
    assert!(stderr.contains("--sandbox"), "{stderr}");
}

#[test]
fn demo_all_refuses_to_run_against_real_aws_in_one_go() {
    let output = demo(&["demo", "all"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--sandbox"));
}
