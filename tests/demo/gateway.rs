//! The gateway demos and `demo all` through the real binary, offline (`--sandbox`).

use std::collections::BTreeMap;
use std::process::Output;

use serde_json::{Value, json};

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

/// The per-request entries of a demo's `figures.attempts`, each checked to carry a time.
fn attempts(figures: &Value) -> &Vec<Value> {
    let attempts = figures["attempts"].as_array().unwrap();
    for a in attempts {
        assert!(a["time_s"].as_f64().is_some_and(|t| t >= 0.0), "{a}");
    }
    attempts
}

/// The request numbers of `attempts` (for `consumer`, when given), sorted.
fn request_numbers(attempts: &[Value], consumer: Option<&str>) -> Vec<u64> {
    let mut numbers: Vec<u64> = attempts
        .iter()
        .filter(|a| consumer.is_none_or(|c| a["consumer"] == c))
        .map(|a| a["request"].as_u64().unwrap())
        .collect();
    numbers.sort();
    numbers
}

/// How many attempts share each (consumer, outcome, deployment, status), sorted; a missing
/// consumer or deployment reads `-`.
/// A `landings` row of `n` anonymous requests answered 200 by `deployment` as `outcome`.
fn served(outcome: &str, deployment: &str, n: usize) -> (String, String, String, u64, usize) {
    (
        "-".to_string(),
        outcome.to_string(),
        deployment.to_string(),
        200,
        n,
    )
}

fn landings(attempts: &[Value]) -> Vec<(String, String, String, u64, usize)> {
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let mut counts: BTreeMap<(String, String, String, u64), usize> = BTreeMap::new();
    for a in attempts {
        let key = (
            text(&a["consumer"]),
            text(&a["outcome"]),
            text(&a["deployment"]),
            a["status"].as_u64().unwrap(),
        );
        *counts.entry(key).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|((consumer, outcome, deployment, status), n)| {
            (consumer, outcome, deployment, status, n)
        })
        .collect()
}

/// How many attempts ended with `outcome` (for `consumer`, when given).
fn outcomes(attempts: &[Value], consumer: Option<&str>, outcome: &str) -> u64 {
    attempts
        .iter()
        .filter(|a| consumer.is_none_or(|c| a["consumer"] == c) && a["outcome"] == outcome)
        .count() as u64
}

const SONNET_4_5: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
const SONNET_4_6: &str = "us.anthropic.claude-sonnet-4-6";
const HAIKU_4_5: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";

/// The in-process sandbox's own counters agree with the gateway's headers: `served` calls per
/// model id, all on account `genai`.
fn assert_sandbox_agrees(figures: &Value, served: &[(&str, u64)]) {
    let check = &figures["sandbox_check"];
    assert_eq!(check["agrees"], true, "{check:#}");
    let mut expected: Vec<Value> = served
        .iter()
        .map(|(model, n)| json!({"account": "genai", "model": model, "served": n}))
        .collect();
    expected.sort_by_key(|v| v["model"].as_str().unwrap().to_string());
    assert_eq!(check["counted_by_sandbox"], json!(expected), "{check:#}");
    assert_eq!(check["claimed_by_headers"], json!(expected), "{check:#}");
}

#[test]
fn fallback_sends_three_to_the_primary_and_seven_to_the_fallback() {
    let doc = json_of(&demo(&["--json", "demo", "fallback", "--sandbox"]));
    assert_eq!(doc["passed"], true, "{doc:#}");
    assert_eq!(doc["id"], "fallback");
    assert_sandbox_agrees(&doc["figures"], &[(SONNET_4_6, 3), (HAIKU_4_5, 7)]);
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
    assert_fallback_table_and_requests(f);
}

/// The fallback demo's routing table and per-request lines in `--json`.
fn assert_fallback_table_and_requests(f: &Value) {
    assert_eq!(
        f["routing_table"],
        json!([
            {"model_group": "fallback-primary", "deployment": "primary-sonnet-4-6", "model": "us.anthropic.claude-sonnet-4-6", "rpm": 3, "role": "primary", "purpose": "Low limit to trigger fallback"},
            {"model_group": "fallback-backup", "deployment": "fallback-haiku-4-5", "model": "us.anthropic.claude-haiku-4-5-20251001-v1:0", "rpm": 25, "role": "fallback", "purpose": "Higher capacity backup"},
        ])
    );
    let attempts = attempts(f);
    assert_eq!(
        request_numbers(attempts, None),
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(
        landings(attempts),
        vec![
            served("fallback", "fallback-haiku-4-5", 7),
            served("primary", "primary-sonnet-4-6", 3)
        ]
    );
    assert_eq!(
        (
            outcomes(attempts, None, "primary"),
            outcomes(attempts, None, "fallback")
        ),
        (
            f["primary"].as_u64().unwrap(),
            f["fallback"].as_u64().unwrap()
        )
    );
    assert!(
        attempts
            .iter()
            .all(|a| a["outcome"] != "primary" || a["model_group"] == "fallback-primary")
    );
}

#[test]
fn balance_splits_three_three_and_four() {
    let doc = json_of(&demo(&["--json", "demo", "balance", "--sandbox"]));
    assert_eq!(doc["passed"], true, "{doc:#}");
    assert_eq!(doc["id"], "balance");
    assert_sandbox_agrees(
        &doc["figures"],
        &[(SONNET_4_5, 3), (SONNET_4_6, 3), (HAIKU_4_5, 4)],
    );
    assert_eq!(
        requests_by_deployment(&doc["figures"]),
        vec![
            ("balanced-sonnet-4-5".to_string(), 3),
            ("balanced-sonnet-4-6".to_string(), 3),
            ("overflow-haiku-4-5".to_string(), 4),
        ]
    );
    assert_eq!(doc["figures"]["successful"], 10);
    assert_balance_table_and_requests(&doc["figures"]);
}

/// The balance demo's routing table and per-request lines in `--json`.
fn assert_balance_table_and_requests(f: &Value) {
    assert_eq!(
        f["routing_table"],
        json!([
            {"model_group": "balanced", "deployment": "balanced-sonnet-4-5", "model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "rpm": 3, "role": "primary", "purpose": "Load balanced instance 1"},
            {"model_group": "balanced", "deployment": "balanced-sonnet-4-6", "model": "us.anthropic.claude-sonnet-4-6", "rpm": 3, "role": "primary", "purpose": "Load balanced instance 2"},
            {"model_group": "overflow", "deployment": "overflow-haiku-4-5", "model": "us.anthropic.claude-haiku-4-5-20251001-v1:0", "rpm": 25, "role": "fallback", "purpose": "Overflow capacity"},
        ])
    );
    let attempts = attempts(f);
    assert_eq!(
        request_numbers(attempts, None),
        (1..=10).collect::<Vec<_>>()
    );
    assert_eq!(
        landings(attempts),
        vec![
            served("balanced", "balanced-sonnet-4-5", 3),
            served("balanced", "balanced-sonnet-4-6", 3),
            served("overflow", "overflow-haiku-4-5", 4),
        ]
    );
    assert_eq!(
        outcomes(attempts, None, "overflow"),
        f["overflow"].as_u64().unwrap()
    );
}

#[test]
fn isolate_holds_the_noisy_consumer_to_its_quota_only() {
    let doc = json_of(&demo(&["--json", "demo", "isolate", "--sandbox"]));
    assert_eq!(doc["passed"], true, "{doc:#}");
    assert_eq!(doc["id"], "isolate");
    assert_sandbox_agrees(&doc["figures"], &[(SONNET_4_5, 13)]);
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
    assert_isolate_table_and_requests(&doc["figures"]);
}

/// The isolate demo's routing table and per-request lines in `--json`.
fn assert_isolate_table_and_requests(f: &Value) {
    let model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
    assert_eq!(
        f["routing_table"],
        json!([
            {"consumer": "A", "model_group": "isolated", "model": model, "rpm": 3, "tier": "noisy"},
            {"consumer": "B", "model_group": "isolated", "model": model, "rpm": 10, "tier": "normal"},
            {"consumer": "C", "model_group": "isolated", "model": model, "rpm": 10, "tier": "normal"},
        ])
    );
    let attempts = attempts(f);
    let row = |consumer: &str, outcome: &str, deployment: &str, status, n| {
        (
            consumer.to_string(),
            outcome.to_string(),
            deployment.to_string(),
            status,
            n,
        )
    };
    assert_eq!(
        landings(attempts),
        vec![
            row("A", "rate_limited", "-", 429, 2),
            row("A", "success", "shared-sonnet-4-5", 200, 3),
            row("B", "success", "shared-sonnet-4-5", 200, 5),
            row("C", "success", "shared-sonnet-4-5", 200, 5),
        ]
    );
    for consumer in f["consumers"].as_array().unwrap() {
        let name = consumer["consumer"].as_str().unwrap();
        assert_eq!(
            request_numbers(attempts, Some(name)),
            (1..=5).collect::<Vec<_>>()
        );
        assert_eq!(
            (
                outcomes(attempts, Some(name), "success"),
                outcomes(attempts, Some(name), "rate_limited")
            ),
            (
                consumer["success"].as_u64().unwrap(),
                consumer["rate_limited"].as_u64().unwrap()
            ),
            "{name}"
        );
    }
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
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    let doc = json_of(&demo(&[
        "--json",
        "demo",
        "all",
        "--sandbox",
        "--html",
        html.to_str().unwrap(),
    ]));
    assert_eq!(doc["passed"], true, "{doc:#}");
    let demos = doc["demos"].as_array().unwrap();
    assert_eq!(demos.len(), 5);
    let ids: Vec<&str> = demos.iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["cris", "shard", "fallback", "balance", "isolate"]);
    for d in &demos[2..] {
        assert_eq!(d["figures"]["sandbox_check"]["agrees"], true, "{d:#}");
    }
    assert!(demos.iter().all(|d| d["passed"] == true), "{doc:#}");

    // The HTML report of the same run: self-contained, every pattern, the same figures.
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "nothing fetched"
    );
    for d in demos {
        let id = d["id"].as_str().unwrap();
        assert!(page.contains(&format!("<h2 id=\"{id}\">")), "{id}");
    }
    assert_eq!(
        page.matches(">PASS</b>").count(),
        10,
        "the summary's and each section's"
    );
    for (region, n) in doc["demos"][0]["figures"]["regions"].as_object().unwrap() {
        let bar = format!("data-region=\"all requests/{region}\">{n}<");
        assert!(page.contains(&bar), "cris {bar}");
    }
    for account in doc["demos"][1]["figures"]["accounts"].as_array().unwrap() {
        let profile = account["profile"].as_str().unwrap();
        for (region, n) in account["regions"].as_object().unwrap() {
            let bar = format!("data-region=\"account {profile}/{region}\">{n}<");
            assert!(page.contains(&bar), "shard {bar}");
        }
    }
    let fallback = &doc["demos"][2]["figures"];
    assert!(
        page.contains(&format!("{} fallback (", fallback["fallback"])),
        "{page}"
    );
    assert!(
        page.contains(&format!("{} primary (", fallback["primary"])),
        "{page}"
    );
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
    // Bad usage: exit 2.
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--sandbox"));
}

/// The human output and exit code of a run.
fn text_of(output: &Output, code: i32) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert_eq!(
        output.status.code(),
        Some(code),
        "{stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn fallback_with_fewer_requests_than_the_primary_rpm_still_prints_its_verdict() {
    let text = text_of(
        &demo(&["demo", "fallback", "--sandbox", "--requests", "2"]),
        0,
    );
    assert!(
        text.contains(
            "ALL 2 SERVED BY THE PRIMARY: 2 requests fit its 3 RPM, so no fallback was needed"
        ),
        "{text}"
    );
    assert!(!text.contains("FALLBACK WORKING"), "{text}");
}

#[test]
fn isolate_with_one_request_claims_only_what_it_observed() {
    let output = demo(&["demo", "isolate", "--sandbox", "--requests", "1"]);
    let text = text_of(&output, 0);
    assert!(
        !text.contains("held to its quota"),
        "no consumer reached its quota: {text}"
    );
    assert!(text.contains("isolation was not put to the test"), "{text}");
    let doc = json_of(&demo(&[
        "--json",
        "demo",
        "isolate",
        "--sandbox",
        "--requests",
        "1",
    ]));
    assert_eq!(
        (doc["passed"].as_bool(), doc["expected"].as_str()),
        (Some(true), Some("A 1/1, B 1/1, C 1/1"))
    );
}

/// The repository's config with the balanced group's weights skewed 1 : 1000, so the second
/// deployment fills first and the first takes what is left.
fn skewed_balance_config(dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/config.yaml"))
        .unwrap();
    let first = "model: bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0\n      <<: *bedrock\n      rpm: 3";
    let second = "model: bedrock/us.anthropic.claude-sonnet-4-6\n      <<: *bedrock\n      rpm: 3";
    assert!(
        text.contains(first) && text.contains(second),
        "the config's balanced group changed"
    );
    let text = text
        .replace(first, &format!("{first}\n      weight: 1"))
        .replace(second, &format!("{second}\n      weight: 1000"));
    let path = dir.join("config.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_balance_verdict_compares_the_split_as_a_multiset() {
    let dir = tempfile::tempdir().unwrap();
    let config = skewed_balance_config(dir.path());
    let output = demo(&[
        "--config",
        config.to_str().unwrap(),
        "--json",
        "demo",
        "balance",
        "--sandbox",
        "--requests",
        "5",
    ]);
    let doc = json_of(&output);
    // 5 requests over two deployments of 3 RPM: 3 and 2, whichever takes which.
    assert_eq!(doc["passed"], true, "{doc:#}");
    assert_eq!(doc["observed"], "3 / 2 / 0 split, 5/5 succeed", "{doc:#}");
    assert_eq!(
        requests_by_deployment(&doc["figures"]),
        vec![
            ("balanced-sonnet-4-5".to_string(), 2),
            ("balanced-sonnet-4-6".to_string(), 3),
        ]
    );
}

#[test]
fn a_rerun_within_the_minute_says_the_windows_are_still_full() {
    let mut command = crate::support::process::binary();
    command.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "gateway",
        "serve",
        "--sandbox",
        "--port",
        "0",
    ]);
    let server = crate::support::process::serve(command, "Gateway listening on ");
    let url = server.url.clone();
    for pattern in ["fallback", "isolate"] {
        let first = demo(&["demo", pattern, "--gateway", &url]);
        text_of(&first, 0);
        // The same gateway a moment later: its RPM windows still hold the first run.
        let again = demo(&["demo", pattern, "--gateway", &url]);
        let stdout = text_of(&again, 1);
        let stderr = String::from_utf8_lossy(&again.stderr);
        for text in [stdout.as_str(), &stderr] {
            assert!(
                text.contains("the gateway's windows are still full from an earlier run"),
                "{pattern}: {text}"
            );
            assert!(text.contains(" s or restart it"), "{pattern}: {text}");
        }
        assert!(
            stderr.contains(&format!("demo {pattern} did not behave")),
            "{stderr}"
        );
    }
}

#[test]
fn past_every_limit_the_verdicts_expect_the_gateway_to_refuse_the_rest() {
    // fallback: 3 primary + 25 fallback, the other 2 refused with 429.
    let doc = json_of(&demo(&[
        "--json",
        "demo",
        "fallback",
        "--sandbox",
        "--requests",
        "30",
    ]));
    assert_eq!(doc["passed"], true, "{doc:#}");
    assert_eq!(
        doc["expected"],
        "3 primary, 25 fallback, 28/30 succeed, 2 refused (no capacity left)"
    );
    // balance: 3 + 3 balanced, 25 overflow, 9 refused.
    let doc = json_of(&demo(&[
        "--json",
        "demo",
        "balance",
        "--sandbox",
        "--requests",
        "40",
    ]));
    assert_eq!(doc["passed"], true, "{doc:#}");
    assert_eq!(
        doc["observed"],
        "3 / 3 / 25 split, 31/40 succeed, 9 refused (no capacity left)"
    );
}

/// Every line of `text` that is not a timestamped log line fits a 100-column terminal.
fn assert_fits_100_columns(text: &str) {
    for line in text.lines().filter(|l| !l.starts_with('[')) {
        assert!(
            line.chars().count() <= 100,
            "{} columns: {line:?}\n{text}",
            line.chars().count()
        );
    }
}

#[test]
fn the_summary_and_config_tables_fit_100_columns() {
    let summary = text_of(&demo(&["demo", "all", "--sandbox"]), 0);
    assert!(
        summary.contains("SUMMARY: THE FIVE RESILIENCE PATTERNS"),
        "{summary}"
    );
    assert_fits_100_columns(&summary);
    let check = text_of(&demo(&["config", "check"]), 0);
    assert!(check.contains("Model groups and deployments"), "{check}");
    assert_fits_100_columns(&check);
}
