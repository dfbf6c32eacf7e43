//! The direct-AWS demos (`demo cris`, `demo shard`) and `report regions` through the real
//! binary: offline with `--sandbox`, and against a `sandbox serve` process reached only
//! through the AWS config files it writes (the path a real user takes with a real account),
//! plus the failures a user must be able to act on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use resilient_llm::config::sandbox::Geography;
use serde_json::Value;

use crate::support::process::{self, Server, without_aws_env};

/// The repository's config (what a newcomer runs).
fn repo_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/config.yaml")
}

/// The binary, run from the crate root, with no `AWS_*` variable of this process: only what a
/// test sets counts.
fn binary() -> Command {
    let mut command = without_aws_env(env!("CARGO_BIN_EXE_resilient-llm"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1");
    command
}

fn run(command: &mut Command) -> Output {
    command.output().unwrap()
}

fn json_of(output: &Output) -> Value {
    json_with_code(output, 0)
}

/// The JSON document of a run that exited with `code` (1: the verdict failed).
fn json_with_code(output: &Output, code: i32) -> Value {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(code),
        "exit {:?}\nstderr: {stderr}",
        output.status
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not one JSON document ({e}):\n{}\nstderr: {stderr}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// `text` without its top-level `sandbox:` section.
fn without_sandbox(text: &str) -> String {
    let mut inside = false;
    let mut kept = String::new();
    for line in text.lines() {
        let top_level = !line.is_empty() && !line.starts_with([' ', '#']);
        if top_level {
            inside = line.starts_with("sandbox:");
        }
        if !inside {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    kept
}

/// The repository's config, edited by `edit`, with `sandbox_yaml` as its `sandbox` section
/// (the repository's own section is dropped when `sandbox_yaml` is not empty), in `dir`.
fn config_with(dir: &Path, edit: impl Fn(String) -> String, sandbox_yaml: &str) -> PathBuf {
    let mut text = std::fs::read_to_string(repo_config()).unwrap();
    if !sandbox_yaml.is_empty() {
        text = without_sandbox(&text);
    }
    let path = dir.join("config.yaml");
    std::fs::write(&path, format!("{}\n{sandbox_yaml}", edit(text))).unwrap();
    path
}

/// The two default sandbox accounts; `test_extra` is appended to the `test` account's entry.
fn two_accounts(genai_extra: &str, test_extra: &str) -> String {
    format!(
        "sandbox:\n  accounts:\n    - {{profile: genai, account_id: '111111111111', access_key_id: SANDBOXGENAIKEY00001, secret_access_key: sandbox-secret-genai{genai_extra}}}\n    - {{profile: test, account_id: '222222222222', access_key_id: SANDBOXTESTKEY000001, secret_access_key: sandbox-secret-test{test_extra}}}\n"
    )
}

fn counts(value: &Value) -> BTreeMap<String, u64> {
    value
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect()
}

#[test]
fn cris_counts_sum_to_the_requests_and_follow_the_region_capacities() {
    let doc = json_of(&run(binary().args([
        "--json",
        "demo",
        "cris",
        "--sandbox",
        "--requests",
        "100",
    ])));
    assert_eq!(doc["passed"], true, "{doc:#}");
    let f = &doc["figures"];
    assert_eq!(
        (
            f["requests"].as_u64(),
            f["successes"].as_u64(),
            f["throttled"].as_u64(),
            f["failed"].as_u64()
        ),
        (Some(100), Some(100), Some(0), Some(0))
    );
    let regions = counts(&f["regions"]);
    assert_eq!(regions.values().sum::<u64>(), 100, "{regions:?}");
    assert_eq!(f["logged"], 100);
    assert_eq!(f["attempts"].as_array().unwrap().len(), 100);

    // The sandbox weighs each destination by its capacity left this minute, so while the calls
    // stay within the total capacity the split is a draw without replacement: it ends close to
    // the capacities themselves. Tolerance: 6 calls per Region.
    let config = resilient_llm::config::load(&repo_config()).unwrap();
    let capacities = &config.sandbox.regions[&Geography::Us]["us-east-1"];
    let capacity: u32 = capacities.values().sum();
    assert!(
        capacity >= 100,
        "the expectation below assumes 100 calls fit the capacity {capacity}"
    );
    for (region, cap) in capacities {
        let expected = 100.0 * f64::from(*cap) / f64::from(capacity);
        let got = regions.get(region).copied().unwrap_or(0) as f64;
        assert!(
            (got - expected).abs() <= 6.0,
            "{region}: {got} calls, expected {expected:.0} ± 6 ({regions:?})"
        );
    }
}

#[test]
fn cris_prints_each_request_and_the_region_table() {
    let output = run(binary().args(["demo", "cris", "--sandbox"]));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for n in 1..=10 {
        assert!(
            stdout.contains(&format!("Request #{n:>2} | SUCCESS | ")),
            "{stdout}"
        );
    }
    assert!(stdout.contains("| Invocations | Percentage"), "{stdout}");
    assert!(
        stdout.contains("CROSS-REGION INFERENCE WORKING"),
        "{stdout}"
    );
}

#[test]
fn shard_splits_evenly_across_two_accounts() {
    let doc = json_of(&run(binary().args([
        "--json",
        "demo",
        "shard",
        "--sandbox",
    ])));
    assert_eq!(doc["passed"], true, "{doc:#}");
    let accounts = doc["figures"]["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 2);
    assert_ne!(accounts[0]["account_id"], accounts[1]["account_id"]);
    for account in accounts {
        assert_eq!(
            (
                account["total"].as_u64(),
                account["success"].as_u64(),
                account["logged"].as_u64()
            ),
            (Some(10), Some(10), Some(10)),
            "{account:#}"
        );
        assert_eq!(counts(&account["regions"]).values().sum::<u64>(), 10);
    }
    assert_eq!(doc["figures"]["total"]["success"], 20);
}

#[test]
fn shard_accounts_have_separate_quotas() {
    let dir = tempfile::tempdir().unwrap();
    let model = resilient_llm::config::load(&repo_config())
        .unwrap()
        .cris
        .model_id;
    let sandbox = two_accounts("", &format!(", quotas: {{'{model}': {{rpm: 3}}}}"));
    let config = config_with(dir.path(), |t| t, &sandbox);
    let output =
        run(binary()
            .arg("--config")
            .arg(&config)
            .args(["--json", "demo", "shard", "--sandbox"]));
    // A failed verdict exits 1, after the document.
    let doc = json_with_code(&output, 1);
    assert_eq!(doc["id"], "shard");
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("demo shard did not behave as the walkthrough shows"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        doc["passed"], false,
        "the test account throttles, so the walkthrough's 20/20 is not met: {doc:#}"
    );
    let accounts = doc["figures"]["accounts"].as_array().unwrap();
    let by_profile: BTreeMap<&str, &Value> = accounts
        .iter()
        .map(|a| (a["profile"].as_str().unwrap(), a))
        .collect();
    let (genai, test) = (by_profile["genai"], by_profile["test"]);
    assert_eq!(
        (genai["account_id"].as_str(), test["account_id"].as_str()),
        (Some("111111111111"), Some("222222222222"))
    );
    assert_eq!(
        (
            genai["total"].as_u64(),
            genai["success"].as_u64(),
            genai["throttled"].as_u64()
        ),
        (Some(10), Some(10), Some(0)),
        "{genai:#}"
    );
    assert_eq!(
        (
            test["total"].as_u64(),
            test["success"].as_u64(),
            test["throttled"].as_u64()
        ),
        (Some(10), Some(3), Some(7)),
        "{test:#}"
    );
    // Each account's own logs count exactly its own served calls.
    assert_eq!(
        (genai["logged"].as_u64(), test["logged"].as_u64()),
        (Some(10), Some(3))
    );
}

/// `sandbox serve` on port 0, killed when dropped.
fn serve(config: &Path, aws_dir: &Path) -> Server {
    let mut command = binary();
    command
        .arg("--config")
        .arg(config)
        .args(["sandbox", "serve", "--port", "0", "--aws-config-dir"])
        .arg(aws_dir);
    process::serve(command, "Sandbox listening on ")
}

/// The binary as a user with real AWS runs it: configured only by the AWS files in `aws_dir`.
fn as_aws_user(config: &Path, aws_dir: &Path) -> Command {
    let mut command = binary();
    command
        .arg("--config")
        .arg(config)
        .env("AWS_CONFIG_FILE", aws_dir.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", aws_dir.join("credentials"));
    command
}

#[test]
fn report_regions_reads_a_sandbox_process_through_the_aws_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let aws_dir = dir.path().join("aws");
    let config = repo_config();
    let _server = serve(&config, &aws_dir);

    // Traffic through the real-AWS code path: profile `genai` from the files, its endpoint_url.
    let demo = json_of(&run(as_aws_user(&config, &aws_dir).args([
        "--json",
        "demo",
        "cris",
        "--requests",
        "12",
        "--wait",
        "60",
    ])));
    assert_eq!(demo["figures"]["successes"], 12, "{demo:#}");
    let demo_regions = counts(&demo["figures"]["regions"]);
    assert_eq!(demo_regions.values().sum::<u64>(), 12);

    let by_region = json_of(&run(
        as_aws_user(&config, &aws_dir).args(["--json", "report", "regions", "--since", "15m"])
    ));
    assert_eq!(by_region["total"], 12, "{by_region:#}");
    assert_eq!(counts(&by_region["counts"]), demo_regions);
    assert_eq!(by_region["profile"], "genai");

    let model = demo["figures"]["model_id"].as_str().unwrap();
    let by_account = json_of(&run(as_aws_user(&config, &aws_dir).args([
        "--json", "report", "regions", "--model", model, "--by", "account",
    ])));
    assert_eq!(
        counts(&by_account["counts"]),
        BTreeMap::from([("111111111111".to_string(), 12)]),
        "{by_account:#}"
    );

    // The other account's logs hold none of it.
    let other = json_of(&run(as_aws_user(&config, &aws_dir).args([
        "--json",
        "report",
        "regions",
        "--profile",
        "test",
    ])));
    assert_eq!(other["total"], 0, "{other:#}");

    let human = run(as_aws_user(&config, &aws_dir).args(["report", "regions", "--by", "model"]));
    let stdout = String::from_utf8_lossy(&human.stdout);
    // The model column wraps to fit 100 columns: read it down the table.
    let model_column: String = stdout
        .lines()
        .filter_map(|l| l.split('|').next())
        .flat_map(|cell| cell.split_whitespace())
        .collect();
    assert!(
        human.status.success() && model_column.contains(model) && stdout.contains("TOTAL"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .filter(|l| !l.starts_with('['))
            .all(|l| l.chars().count() <= 100),
        "{stdout}"
    );
}

#[test]
fn report_regions_rejects_a_bad_since() {
    // A usage error: clap refuses it before anything runs, exit 2, saying what is valid.
    for args in [
        ["--since", "15x"],
        ["--since", "-5m"],
        ["--since=-5m", ""],
        ["--since", "0s"],
    ] {
        let args: Vec<&str> = args.into_iter().filter(|a| !a.is_empty()).collect();
        let output = run(binary().args(["report", "regions"]).args(&args));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("--since"), "{args:?}: {stderr}");
        assert!(
            stderr.contains("a valid one is a whole number above zero and one unit (s, m, h or d), like 30s, 15m, 2h or 1d"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn an_unknown_profile_names_the_profile_and_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let aws_dir = dir.path().join("aws");
    std::fs::create_dir_all(&aws_dir).unwrap();
    std::fs::write(aws_dir.join("config"), "[default]\nregion = us-east-1\n").unwrap();
    std::fs::write(
        aws_dir.join("credentials"),
        "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = x\n",
    )
    .unwrap();
    let config = config_with(
        dir.path(),
        |t| t.replace("\n  profile_name: genai", "\n  profile_name: nosuchprofile"),
        "",
    );
    let output = run(as_aws_user(&config, &aws_dir).args(["demo", "cris", "--requests", "1"]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("\"nosuchprofile\""), "{stderr}");
    assert!(
        stderr.contains(&aws_dir.join("config").display().to_string()),
        "{stderr}"
    );
    assert!(
        stderr.contains(&aws_dir.join("credentials").display().to_string()),
        "{stderr}"
    );
}

#[test]
fn a_missing_log_group_explains_invocation_logging() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = two_accounts(", log_group: SomeOtherGroup", "");
    let config = config_with(dir.path(), |t| t, &sandbox);
    let output = run(binary().arg("--config").arg(&config).args([
        "demo",
        "cris",
        "--sandbox",
        "--requests",
        "2",
    ]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("invocation logging must be enabled to CloudWatch Logs group BedrockModelInvocation in us-east-1"), "{stderr}");
    assert!(stderr.contains("aws.bedrock_log_group_name"), "{stderr}");
}

#[test]
fn missing_credentials_say_how_to_configure_them() {
    let dir = tempfile::tempdir().unwrap();
    let aws_dir = dir.path().join("aws");
    std::fs::create_dir_all(&aws_dir).unwrap();
    std::fs::write(
        aws_dir.join("config"),
        "[default]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:9\n",
    )
    .unwrap();
    std::fs::write(aws_dir.join("credentials"), "").unwrap();
    let config = config_with(
        dir.path(),
        |t| {
            t.replace("\n  profile_name: genai", "\n  profile_name: default")
                .replace("\n  secondary_profile_name: test", "")
        },
        "",
    );
    let output = run(as_aws_user(&config, &aws_dir).args(["demo", "cris", "--requests", "1"]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no AWS credentials found"), "{stderr}");
    assert!(
        stderr.contains("aws configure --profile default"),
        "{stderr}"
    );
}
