//! The config loader on real files, `config check` through the real binary, and the AWS
//! client factory against a local listener.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use resilient_llm::config::{self, ProviderKind, RoutingStrategy, StateStoreSettings};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn example_env(name: &str) -> Option<String> {
    match name {
        "RESILIENT_LLM_MASTER_KEY" | "LITELLM_MASTER_KEY" => Some("sk-test-master-key".into()),
        "REDIS_URL" => Some("redis://127.0.0.1:6379".into()),
        _ => None,
    }
}

fn load_file(path: &Path) -> Result<config::Config, config::ConfigError> {
    let text = std::fs::read_to_string(path).unwrap();
    config::load_str(&text, path, &example_env)
}

#[test]
fn default_config_reproduces_the_walkthrough() {
    let cfg = config::load(&repo("config/config.yaml")).unwrap();
    assert_eq!(cfg.aws.profiles, vec!["genai", "test"]);
    assert_eq!(cfg.aws.region, "us-east-1");
    assert_eq!(cfg.aws.log_group, "BedrockModelInvocation");
    assert_eq!(cfg.gateway.port, 4000);
    assert_eq!(cfg.cris.model_id, "us.anthropic.claude-opus-4-6-v1");
    let primary = cfg.group("fallback-primary").unwrap();
    assert_eq!(primary.deployments[0].rpm, Some(3));
    assert_eq!(
        primary.deployments[0].model,
        "us.anthropic.claude-sonnet-4-6"
    );
    // The merge key brought the profile and Region in.
    assert_eq!(primary.deployments[0].profile.as_deref(), Some("genai"));
    assert_eq!(primary.deployments[0].region.as_deref(), Some("us-east-1"));
    assert_eq!(
        cfg.router.fallbacks_for("fallback-primary"),
        ["fallback-backup"]
    );
    let balanced = cfg.group("balanced").unwrap();
    assert_eq!(
        balanced
            .deployments
            .iter()
            .map(|d| d.rpm)
            .collect::<Vec<_>>(),
        vec![Some(3), Some(3)]
    );
    let rpm: Vec<_> = cfg
        .gateway
        .consumers
        .iter()
        .map(|c| (c.name.as_str(), c.rpm_limit))
        .collect();
    assert_eq!(
        rpm,
        vec![
            ("demo-app", None),
            ("A", Some(3)),
            ("B", Some(10)),
            ("C", Some(10))
        ]
    );
    assert_eq!(cfg.router.strategy, RoutingStrategy::SimpleShuffle);
    assert!(cfg.ignored_keys.is_empty());
}

#[test]
fn the_built_in_default_is_the_shipped_file() {
    assert_eq!(
        config::DEFAULT_CONFIG,
        std::fs::read_to_string(repo("config/config.yaml")).unwrap()
    );
}

/// One README command line: the line, its `NAME=value` assignments, its arguments.
type ReadmeCommand = (String, Vec<(String, String)>, Vec<String>);

/// The README's `config check` commands that name an example: the `NAME=value` assignments
/// before `cargo run --`, and the arguments after it.
fn readme_example_checks() -> Vec<ReadmeCommand> {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    readme
        .lines()
        .filter(|line| line.contains("examples/") && line.contains("config check"))
        .filter_map(|line| {
            let (env, args) = line.split_once("cargo run -- ")?;
            let env = env
                .split_whitespace()
                .map(|pair| {
                    let (name, value) = pair
                        .split_once('=')
                        .unwrap_or_else(|| panic!("not NAME=value: {pair:?} in {line:?}"));
                    (name.to_owned(), value.to_owned())
                })
                .collect();
            let args = args.split_whitespace().map(str::to_owned).collect();
            Some((line.to_owned(), env, args))
        })
        .collect()
}

/// Every `os.environ/NAME` an example names.
fn referenced_variables(text: &str) -> Vec<String> {
    text.split("os.environ/")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn every_example_passes_config_check_as_the_readme_shows() {
    let checks = readme_example_checks();
    let mut examples = Vec::new();
    for entry in std::fs::read_dir(repo("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            examples.push(path);
        }
    }
    assert!(
        examples.len() >= 5,
        "expected at least five examples, found {examples:?}"
    );
    let mut variables: Vec<String> = examples
        .iter()
        .flat_map(|path| referenced_variables(&std::fs::read_to_string(path).unwrap()))
        .collect();
    variables.extend(["RESILIENT_LLM_MASTER_KEY", "LITELLM_MASTER_KEY"].map(String::from));
    for path in &examples {
        let name = format!("examples/{}", path.file_name().unwrap().to_string_lossy());
        assert!(
            checks.iter().any(|(_, _, args)| args.contains(&name)),
            "README.md shows no `config check` command for {name}"
        );
    }
    for (line, env, args) in &checks {
        // Only what the command line sets: none of the variables from this environment.
        let mut command = binary();
        command.current_dir(env!("CARGO_MANIFEST_DIR"));
        for variable in &variables {
            command.env_remove(variable);
        }
        let output = command
            .envs(env.iter().map(|(k, v)| (k, v)))
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "README command `{line}` exited {:?}:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn litellm_config_with_anchors_merges_and_env_loads_with_a_warning_list() {
    let cfg = load_file(&repo("examples/litellm-proxy.yaml")).unwrap();
    let gpt4o = &cfg.group("gpt-4o").unwrap().deployments[0];
    assert_eq!(gpt4o.profile.as_deref(), Some("genai"));
    assert_eq!(gpt4o.provider, ProviderKind::Bedrock);
    let mini = &cfg.group("gpt-4o-mini").unwrap().deployments[0];
    assert_eq!(mini.model, "us.amazon.nova-lite-v1:0");
    assert_eq!(mini.id, "nova-lite");
    assert_eq!(mini.tpm, Some(100_000));
    assert_eq!(
        cfg.gateway.master_key.as_ref().unwrap().expose(),
        "sk-test-master-key"
    );
    assert!(cfg.gateway.drop_params);
    assert_eq!(cfg.router.num_retries, 3);
    assert_eq!(cfg.router.timeout.as_secs(), 90);
    assert_eq!(
        cfg.ignored_keys,
        vec![
            "general_settings.database_url",
            "litellm_settings.set_verbose",
        ]
    );
    // `model_info.mode` takes effect: the deployment serves chat calls.
    assert_eq!(mini.mode, resilient_llm::config::Mode::Chat);
}

#[test]
fn redis_example_selects_the_redis_store() {
    let cfg = load_file(&repo("examples/redis-replicas.yaml")).unwrap();
    match &cfg.router.state {
        StateStoreSettings::Redis(r) => {
            assert_eq!(r.url.expose(), "redis://127.0.0.1:6379");
            assert_eq!(r.key_prefix, "prod-gateway");
            assert_eq!(r.expected_replicas, 3);
        }
        other => panic!("expected redis, got {other:?}"),
    }
}

/// The AWS sample's current config shape gives the overflow group's Haiku deployment the
/// same `model_info.id` as the load-balancing group's: it loads with one warning naming both
/// places, and the two stay two deployments with keys of their own.
#[test]
fn the_aws_sample_config_loads_with_a_shared_id_warning() {
    let cfg = load_file(&repo("tests/fixtures/aws-sample-config.yaml")).unwrap();
    let haiku = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
    let balanced = &cfg
        .group("claude-sonnet-loadbalance-demo")
        .unwrap()
        .deployments;
    let overflow = &cfg
        .group("claude-sonnet-fallback-loadbalance")
        .unwrap()
        .deployments;
    assert_eq!(balanced.len(), 2);
    assert_eq!((balanced[1].id.as_str(), balanced[1].rpm), (haiku, Some(3)));
    assert_eq!(
        (overflow[0].id.as_str(), overflow[0].rpm),
        (haiku, Some(25))
    );
    assert_ne!(balanced[1].key, overflow[0].key);
    assert_eq!(
        balanced[0].key, "us.anthropic.claude-sonnet-4-6",
        "an id used once keeps it as its key"
    );
    let keys: std::collections::HashSet<&str> = cfg.deployments().map(|d| d.key.as_str()).collect();
    assert_eq!(keys.len(), cfg.deployments().count(), "keys are unique");
    assert_eq!(cfg.warnings.len(), 1, "{:?}", cfg.warnings);
    let warning = cfg.warnings[0].to_string();
    for words in [
        "model_list[3].model_info.id",
        "model_list[2].model_info.id",
        haiku,
    ] {
        assert!(warning.contains(words), "{warning}");
    }
    assert_eq!(cfg.gateway.port, 4000);
    assert_eq!(cfg.router.allowed_fails, 2);
    assert_eq!(cfg.router.cooldown_time.as_secs(), 15);
    assert_eq!(cfg.cris.model_id, "us.anthropic.claude-opus-4-6-v1");
}

#[test]
fn config_check_shows_both_deployments_of_a_shared_id_and_warns_once() {
    let output = binary()
        .arg("--json")
        .arg("--config")
        .arg(repo("tests/fixtures/aws-sample-config.yaml"))
        .args(["config", "check"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(stderr.matches("warning:").count(), 1, "{stderr}");
    assert!(stderr.contains("is also used by model_list[2]"), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let haiku = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
    let with_haiku_id: Vec<&serde_json::Value> = doc["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["deployments"].as_array().unwrap())
        .filter(|d| d["id"] == haiku)
        .collect();
    assert_eq!(with_haiku_id.len(), 2, "{doc}");
    assert_ne!(with_haiku_id[0]["key"], with_haiku_id[1]["key"]);
    // A Bedrock client naming the id reaches the first group that holds it.
    let shared = doc["shared_model_ids"].as_array().unwrap();
    let entry = shared.iter().find(|s| s["model"] == haiku).expect("{doc}");
    let groups = entry["groups"].as_array().unwrap();
    assert!(groups.len() >= 2, "{doc}");
    assert_eq!(entry["resolves_to"], groups[0], "{doc}");
    assert_eq!(doc["warnings"].as_array().unwrap().len(), 1);
}

const BASE: &str = "\
aws:
  region_name: us-east-1
model_list:
  - model_name: primary
    litellm_params:
      model: bedrock/us.anthropic.claude-sonnet-4-6
      rpm: 3
  - model_name: backup
    litellm_params:
      model: bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0
";

/// (case, extra YAML appended to BASE or a whole file, key path, line, words in the message)
#[test]
fn broken_configs_name_the_key_path_and_line() {
    let cases: Vec<(&str, String, &str, usize, &str)> = vec![
        (
            "wrong type",
            BASE.replace("rpm: 3", "rpm: three"),
            "model_list[0].litellm_params.rpm",
            7,
            "expected an integer, found \"three\"",
        ),
        (
            "unknown key with a hint",
            BASE.replace("rpm: 3", "rmp: 3"),
            "model_list[0].litellm_params.rmp",
            7,
            "unknown key `rmp` (did you mean `rpm`?)",
        ),
        (
            "unknown section",
            format!("{BASE}router_setings:\n  num_retries: 2\n"),
            "router_setings",
            11,
            "did you mean `router_settings`?",
        ),
        (
            "fallback to a missing group",
            format!("{BASE}router_settings:\n  fallbacks:\n    - primary: [backpu]\n"),
            "router_settings.fallbacks[0].primary[0]",
            13,
            "no model group named \"backpu\" (did you mean \"backup\"?)",
        ),
        (
            "the same id twice in one group",
            BASE.replace(
                "      model: bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0\n",
                "      model: bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0\n    model_info: {id: same}\n  - model_name: backup\n    litellm_params: {model: bedrock/us.amazon.nova-lite-v1:0}\n    model_info: {id: same}\n",
            ),
            "model_list[2].model_info.id",
            14,
            "deployment id \"same\" is used twice in model group \"backup\"",
        ),
        (
            "fallback cycle",
            format!(
                "{BASE}router_settings:\n  fallbacks:\n    - primary: [backup]\n    - backup: [primary]\n"
            ),
            "router_settings.fallbacks.primary",
            12,
            "fallback cycle: primary → backup → primary",
        ),
        (
            "duplicate consumer key",
            format!(
                "{BASE}gateway:\n  consumers:\n    - {{name: a, key: sk-same-key-1}}\n    - name: b\n      key: sk-same-key-1\n"
            ),
            "gateway.consumers[1].key",
            15,
            "already used",
        ),
        (
            "missing environment variable",
            format!("{BASE}gateway:\n  master_key: os.environ/RLLM_TEST_UNSET_VARIABLE\n"),
            "gateway.master_key",
            12,
            "RLLM_TEST_UNSET_VARIABLE is not set",
        ),
        (
            "port out of range",
            format!("{BASE}gateway:\n  port: 70000\n"),
            "gateway.port",
            12,
            "port 70000 is out of range",
        ),
        (
            "header timeout of zero",
            format!("{BASE}gateway:\n  header_timeout: 0\n"),
            "gateway.header_timeout",
            12,
            "above 0",
        ),
        (
            "body timeout of zero",
            format!("{BASE}gateway:\n  body_timeout: 0\n"),
            "gateway.body_timeout",
            12,
            "above 0",
        ),
        (
            "body budget below what one largest request costs",
            format!("{BASE}gateway:\n  max_buffered_body_mb: 49\n"),
            "gateway.max_buffered_body_mb",
            12,
            "less than what one largest request costs (50 MiB: 5 × the request size limit)",
        ),
        (
            "invalid YAML",
            format!("{BASE}router_settings:\n  fallbacks: [unclosed\n  num_retries: 2\n"),
            "",
            13,
            "invalid YAML: did not find expected ',' or ']', while parsing a flow sequence at line 12",
        ),
        (
            "bad Region",
            BASE.replace("region_name: us-east-1", "region_name: US East"),
            "aws.region_name",
            2,
            "not an AWS Region name",
        ),
        (
            "unsupported provider",
            BASE.replace("bedrock/us.anthropic.claude-sonnet-4-6", "azure/gpt-4o"),
            "model_list[0].litellm_params.model",
            6,
            "provider \"azure\" is not supported",
        ),
        (
            "openai without api_base",
            BASE.replace("bedrock/us.anthropic.claude-sonnet-4-6", "openai/llama3"),
            "model_list[0].litellm_params.api_base",
            5,
            "needs api_base",
        ),
        (
            "consumer for an unknown model",
            format!(
                "{BASE}gateway:\n  consumers:\n    - name: a\n      key: sk-consumer-a1\n      models: [primary, nope]\n"
            ),
            "gateway.consumers[0].models[1]",
            15,
            "no model group named \"nope\"",
        ),
        (
            "an alias of a missing group",
            format!("{BASE}router_settings:\n  model_group_alias:\n    fast: primray\n"),
            "router_settings.model_group_alias.fast",
            13,
            "no model group named \"primray\" (did you mean \"primary\"?)",
        ),
        (
            "an alias that is a group's own name",
            format!("{BASE}router_settings:\n  model_group_alias:\n    backup: primary\n"),
            "router_settings.model_group_alias.backup",
            13,
            "is a model group's own name",
        ),
        (
            "unknown routing strategy",
            format!("{BASE}router_settings:\n  routing_strategy: fastest\n"),
            "router_settings.routing_strategy",
            12,
            "unknown strategy \"fastest\"",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, text, path, line, words) in cases {
        let file = dir.path().join("broken.yaml");
        std::fs::write(&file, &text).unwrap();
        let error = config::load(&file).expect_err(name);
        assert_eq!(error.path, path, "{name}: {error}");
        assert_eq!(error.line, Some(line), "{name}: {error}");
        assert!(error.message.contains(words), "{name}: {error}");
        assert_eq!(error.file, file, "{name}");
        let shown = error.to_string();
        assert!(
            shown.ends_with(&format!("broken.yaml:{line})")),
            "{name}: {shown}"
        );
    }
}

fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_resilient-llm"));
    cmd.env_remove("RESILIENT_LLM_CONFIG").env("NO_COLOR", "1");
    cmd
}

#[test]
fn config_check_prints_the_routing_table() {
    let output = binary()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    // Tables fit 100 columns, so long ids wrap inside their cells: read each column down.
    let mut columns: Vec<String> = Vec::new();
    for line in text.lines() {
        for (i, cell) in line.split('|').enumerate() {
            if columns.len() <= i {
                columns.resize(i + 1, String::new());
            }
            columns[i].extend(cell.chars().filter(|c| !c.is_whitespace()));
        }
    }
    let text = format!("{text}\n{}", columns.join("\n"));
    for expected in [
        "config/config.yaml is valid",
        "primary-sonnet-4-6",
        "us.anthropic.claude-haiku-4-5-20251001-v1:0",
        "fallback-primary",
        "fallback-backup",
        "balanced",
        "overflow",
        "simple-shuffle",
        "memory",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert!(
        !text.contains("sk-demo-consumer-a"),
        "a consumer key was printed:\n{text}"
    );
}

#[test]
fn config_check_json_is_one_parseable_document() {
    let output = binary()
        .args(["--json", "--config"])
        .arg(repo("config/config.yaml"))
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(doc["valid"], true);
    let groups = doc["groups"].as_array().unwrap();
    let primary = groups
        .iter()
        .find(|g| g["name"] == "fallback-primary")
        .unwrap();
    assert_eq!(primary["deployments"][0]["rpm"], 3);
    // Each deployment's quota units and price (us. Sonnet 4.6: 5× burndown, the 10% premium).
    let deployment = &primary["deployments"][0];
    assert_eq!(deployment["quota"]["output_burndown"], 5, "{deployment}");
    assert_eq!(
        deployment["quota"]["reserved_output_without_max_tokens"],
        64_000
    );
    let input = deployment["price_usd_per_million"]["input"]
        .as_f64()
        .unwrap();
    assert!((input - 3.3).abs() < 1e-9, "{deployment}");
    assert_eq!(primary["fallbacks"][0], "fallback-backup");
    assert_eq!(doc["consumers"].as_array().unwrap().len(), 4);
    assert_eq!(doc["router"]["state_store"], "memory");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("sk-demo"));
}

#[test]
fn config_check_exits_2_with_the_located_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, BASE.replace("rpm: 3", "rpm: three")).unwrap();
    let output = binary()
        .arg("--config")
        .arg(&file)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("model_list[0].litellm_params.rpm: expected an integer, found \"three\""),
        "{stderr}"
    );
    assert!(stderr.contains("bad.yaml:7)"), "{stderr}");

    let missing = binary()
        .args(["--config", "/nonexistent/config.yaml", "config", "check"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read the config file"));
}

#[test]
fn config_check_warns_once_about_ignored_litellm_keys() {
    let output = binary()
        .env("LITELLM_MASTER_KEY", "sk-test-master-key")
        .arg("--config")
        .arg(repo("examples/litellm-proxy.yaml"))
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.matches("warning:").count(), 1, "{stderr}");
    assert!(stderr.contains("general_settings.database_url"), "{stderr}");
}

#[tokio::test]
async fn unknown_profile_is_reported_up_front_with_the_files_searched() {
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("config");
    std::fs::write(&config_file, "[profile genai]\nregion = us-east-1\n").unwrap();
    let credentials_file = dir.path().join("credentials");
    std::fs::write(
        &credentials_file,
        "[genai]\naws_access_key_id = x\naws_secret_access_key = y\n",
    )
    .unwrap();
    let cfg = config::load(&repo("config/config.yaml")).unwrap();
    let clients = resilient_llm::aws::Clients::new(&cfg.aws)
        .with_profile_files(vec![config_file.clone(), credentials_file.clone()]);
    let error = clients
        .bedrock(Some("no-such-profile"), None)
        .await
        .expect_err("an unknown profile must fail");
    let text = error.to_string();
    assert!(text.contains("\"no-such-profile\""), "{text}");
    assert!(text.contains(&config_file.display().to_string()), "{text}");
    assert!(
        text.contains(&credentials_file.display().to_string()),
        "{text}"
    );
    // A profile that exists passes the check.
    assert!(clients.bedrock(Some("genai"), None).await.is_ok());
}

/// A one-shot HTTP listener that records the request head, answers 500, and returns what it saw.
fn record_one_request(listener: TcpListener) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let body = br#"{"message":"recorded"}"#;
        let reply = format!(
            "HTTP/1.1 400 Bad Request\r\nx-amzn-errortype: ValidationException\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(reply.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        String::from_utf8_lossy(&head).into_owned()
    })
}

/// One Converse call to `model` through `client`, answered by the recording listener; the
/// request must have reached `address`, signed with `key` (lower case) for `region`.
async fn converse_and_check_the_request(
    client: &aws_sdk_bedrockruntime::Client,
    seen: std::thread::JoinHandle<String>,
    model: &str,
    address: std::net::SocketAddr,
    key: &str,
    region: &str,
) {
    let result = client
        .converse()
        .model_id(model)
        .messages(
            aws_sdk_bedrockruntime::types::Message::builder()
                .role(aws_sdk_bedrockruntime::types::ConversationRole::User)
                .content(aws_sdk_bedrockruntime::types::ContentBlock::Text(
                    "hi".into(),
                ))
                .build()
                .unwrap(),
        )
        .send()
        .await;
    assert!(result.is_err(), "the listener answers ValidationException");

    let head = seen.join().unwrap().to_lowercase();
    assert!(
        head.starts_with(&format!("post /model/{model}/converse")),
        "{head}"
    );
    assert!(head.contains(&format!("host: {address}")), "{head}");
    assert!(head.contains(&format!("credential={key}/")), "{head}");
    assert!(
        head.contains(&format!("/{region}/bedrock/aws4_request")),
        "{head}"
    );
}

#[tokio::test]
async fn an_endpoint_override_reaches_a_local_listener_signed_with_the_profile_key() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let seen = record_one_request(listener);

    let cfg = config::load(&repo("config/config.yaml")).unwrap();
    let profiles = vec![resilient_llm::aws::StaticProfile {
        profile: "genai".into(),
        access_key_id: "SANDBOXRECORDEDKEY01".into(),
        secret_access_key: "not-a-secret".into(),
    }];
    let clients =
        resilient_llm::aws::Clients::sandbox(&cfg.aws, &format!("http://{address}"), profiles);
    let client = clients
        .bedrock(Some("genai"), Some("us-east-1"))
        .await
        .unwrap();
    converse_and_check_the_request(
        &client,
        seen,
        "us.anthropic.claude-sonnet-4-6",
        address,
        "sandboxrecordedkey01",
        "us-east-1",
    )
    .await;
}

/// The real-AWS path: `aws.endpoint_url` from the config and the keys of the named profile from
/// the AWS credentials file, as the default credential chain reads them.
#[tokio::test]
async fn the_config_endpoint_url_reaches_a_local_listener_signed_with_the_profile_file_keys() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let seen = record_one_request(listener);

    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("config");
    std::fs::write(&config_file, "[profile genai]\nregion = eu-west-1\n").unwrap();
    let credentials_file = dir.path().join("credentials");
    std::fs::write(
        &credentials_file,
        "[genai]\naws_access_key_id = AKIDPROFILEFILE00001\naws_secret_access_key = not-a-secret\n",
    )
    .unwrap();
    let yaml = format!(
        "aws: {{profile_name: genai, region_name: eu-west-1, endpoint_url: 'http://{address}'}}\n{}",
        &BASE[BASE.find("model_list:").unwrap()..]
    );
    let cfg = config::load_str(&yaml, Path::new("endpoint.yaml"), &|_| None).unwrap();
    let clients = resilient_llm::aws::Clients::new(&cfg.aws)
        .with_profile_files(vec![config_file, credentials_file]);
    let client = clients.bedrock(None, None).await.unwrap();
    converse_and_check_the_request(
        &client,
        seen,
        "eu.anthropic.claude-sonnet-4-6",
        address,
        "akidprofilefile00001",
        "eu-west-1",
    )
    .await;
}

#[cfg(unix)]
#[test]
fn a_world_readable_config_with_a_literal_master_key_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = dir.path().join("gateway.yaml");
    let literal = format!("{BASE}gateway:\n  master_key: sk-literal-master-key\n");
    std::fs::write(&file, &literal).unwrap();

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let error = config::load(&file).expect_err("world-readable literal key");
    assert_eq!(error.path, "gateway.master_key");
    assert_eq!(error.line, Some(12));
    assert!(
        error
            .message
            .contains("os.environ/RESILIENT_LLM_MASTER_KEY"),
        "{error}"
    );
    assert!(
        !error.to_string().contains("sk-literal-master-key"),
        "the key itself is never printed"
    );

    // Private file: fine.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(config::load(&file).is_ok());

    // World-readable, but the key comes from the environment: fine.
    std::fs::write(
        &file,
        format!("{BASE}general_settings:\n  master_key: os.environ/PATH\n"),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(config::load(&file).is_ok());
}

#[test]
fn a_model_id_or_its_arn_routes_through_the_first_group_holding_it() {
    let cfg = config::load(&repo("tests/fixtures/aws-sample-config.yaml")).unwrap();
    let sonnet = "us.anthropic.claude-sonnet-4-6";
    let first = cfg
        .groups
        .iter()
        .find(|g| g.deployments.iter().any(|d| d.model == sonnet))
        .unwrap();
    assert_eq!(
        cfg.group_of_model(sonnet).map(|g| &g.name),
        Some(&first.name)
    );
    let arn = format!("arn:aws:bedrock:us-east-1:123456789012:inference-profile/{sonnet}");
    assert_eq!(cfg.group_of_model(&arn).map(|g| &g.name), Some(&first.name));
    assert!(cfg.group_of_model("us.amazon.nova-micro-v1:0").is_none());
    let shared = cfg.shared_model_ids();
    let (_, groups) = shared.iter().find(|(m, _)| m == sonnet).unwrap();
    assert_eq!(groups[0], first.name);
}

#[cfg(unix)]
#[test]
fn consumers_sigv4_key_pairs_are_checked_and_their_secret_kept_private() {
    use std::os::unix::fs::PermissionsExt;
    let load = |consumers: &str| {
        let yaml = format!("{BASE}gateway:\n  consumers:\n{consumers}");
        config::load_str(&yaml, Path::new("sigv4.yaml"), &|name| {
            (name == "APP_SIGV4_SECRET").then(|| "app-sigv4-secret-0001".to_owned())
        })
    };
    let pair = "    - {name: app, key: sk-app-key-0001, sigv4_access_key_id: AKIAAPPCONSUMER00001, sigv4_secret_access_key: os.environ/APP_SIGV4_SECRET}\n";
    let cfg = load(pair).unwrap();
    let key = cfg.gateway.consumers[0].sigv4.as_ref().unwrap();
    assert_eq!(key.access_key_id, "AKIAAPPCONSUMER00001");
    assert!(key.secret.matches(b"app-sigv4-secret-0001"));

    let cases = [
        (
            "    - {name: app, key: sk-app-key-0001, sigv4_access_key_id: AKIAAPPCONSUMER00001}\n",
            "gateway.consumers[0].sigv4_secret_access_key",
            "SigV4 needs both",
        ),
        (
            "    - {name: app, key: sk-app-key-0001, sigv4_access_key_id: short, sigv4_secret_access_key: long-enough-secret}\n",
            "gateway.consumers[0].sigv4_access_key_id",
            "16 to 128 letters and digits",
        ),
    ];
    for (consumers, path, words) in cases {
        let error = load(consumers).expect_err(consumers);
        assert_eq!(error.path, path, "{error}");
        assert!(error.message.contains(words), "{error}");
    }
    let twice = format!(
        "{pair}    - {{name: other, key: sk-other-key-01, sigv4_access_key_id: AKIAAPPCONSUMER00001, sigv4_secret_access_key: another-secret}}\n"
    );
    let error = load(&twice).expect_err("the same access key id twice");
    assert_eq!(error.path, "gateway.consumers[1].sigv4_access_key_id");

    // A literal secret in a file anyone can read is refused, as a literal master key is.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = dir.path().join("gateway.yaml");
    let literal = "    - {name: app, key: sk-app-key-0001, sigv4_access_key_id: AKIAAPPCONSUMER00001, sigv4_secret_access_key: literal-sigv4-secret}\n";
    std::fs::write(&file, format!("{BASE}gateway:\n  consumers:\n{literal}")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let error = config::load(&file).expect_err("world-readable literal secret");
    assert_eq!(error.path, "gateway.consumers[0].sigv4_secret_access_key");
    assert!(
        !error.to_string().contains("literal-sigv4-secret"),
        "{error}"
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(config::load(&file).is_ok());
}

#[test]
fn prices_come_from_the_table_or_litellms_per_token_keys() {
    let load = |entries: &str| {
        let yaml = format!("model_list:\n{entries}");
        config::load_str(&yaml, Path::new("prices.yaml"), &|_| None)
    };
    let cfg = load(
        "  - model_name: a\n    litellm_params: {model: bedrock/global.anthropic.claude-sonnet-4-6}\n  - model_name: b\n    litellm_params: {model: bedrock/us.anthropic.claude-sonnet-4-6, output_cost_per_token: 0.00002}\n  - model_name: c\n    litellm_params: {model: openai/x, api_base: 'http://127.0.0.1:9/v1'}\n",
    )
    .unwrap();
    let price = |group: &str| cfg.group(group).unwrap().deployments[0].price;
    let global = price("a").unwrap();
    assert_eq!((global.input, global.output), (3.0, 15.0));
    // The geographic profile's 10%, with the output replaced (USD per token → per million).
    let us = price("b").unwrap();
    assert!(
        (us.input - 3.3).abs() < 1e-9 && (us.output - 20.0).abs() < 1e-9,
        "{us:?}"
    );
    assert_eq!(price("c"), None);
    let error = load(
        "  - model_name: a\n    litellm_params: {model: bedrock/us.amazon.nova-lite-v1:0, input_cost_per_token: 0.1}\n    model_info: {input_cost_per_token: 0.2}\n",
    )
    .unwrap_err();
    assert_eq!(error.path, "model_list[0].model_info.input_cost_per_token");
    let error = load(
        "  - model_name: a\n    litellm_params: {model: bedrock/us.amazon.nova-lite-v1:0}\n    model_info: {output_cost_per_token: -1}\n",
    )
    .unwrap_err();
    assert_eq!(error.path, "model_list[0].model_info.output_cost_per_token");
    assert!(error.message.contains("USD per token"), "{error}");
}

#[test]
fn budgets_need_a_positive_limit_and_a_readable_duration() {
    let load = |gateway: &str| {
        let yaml = format!("{BASE}{gateway}");
        config::load_str(&yaml, Path::new("budget.yaml"), &|_| None)
    };
    let cfg = load("gateway:\n  consumers:\n    - {name: a, key: sk-a-key-0001, max_budget: 25, budget_duration: 7d}\nlitellm_settings:\n  max_budget: 100\n").unwrap();
    let budget = cfg.gateway.consumers[0].budget.unwrap();
    assert_eq!(
        (budget.max_usd, budget.period),
        (25.0, config::BudgetPeriod::Weeks(1))
    );
    assert_eq!(
        cfg.gateway.budget.unwrap().period,
        config::BudgetPeriod::Forever
    );
    let cases = [
        (
            "gateway:\n  consumers:\n    - {name: a, key: sk-a-key-0001, budget_duration: 1d}\n",
            "gateway.consumers[0].budget_duration",
            "without max_budget",
        ),
        (
            "gateway:\n  consumers:\n    - {name: a, key: sk-a-key-0001, max_budget: 5, budget_duration: 1y}\n",
            "gateway.consumers[0].budget_duration",
            "not a duration",
        ),
        (
            "litellm_settings:\n  max_budget: 0\n",
            "litellm_settings.max_budget",
            "more than 0",
        ),
    ];
    for (yaml, path, words) in cases {
        let error = load(yaml).expect_err(yaml);
        assert_eq!(error.path, path, "{error}");
        assert!(error.message.contains(words), "{error}");
    }
}

/// LiteLLM's telemetry keys: `json_logs`, `log_prompts` and `callbacks: ["otel"]` take effect;
/// another callback loads with a warning naming it (a LiteLLM config must still load), and a
/// callbacks value that is no list of names is an error at its key path.
#[test]
fn litellm_telemetry_settings_take_effect_and_other_callbacks_are_warned_of() {
    let load = |settings: &str| {
        let yaml = format!(
            "model_list:\n  - model_name: g\n    litellm_params: {{model: bedrock/us.amazon.nova-lite-v1:0}}\nlitellm_settings: {settings}\n"
        );
        config::load_str(&yaml, Path::new("telemetry.yaml"), &|_| None)
    };
    let cfg = load("{json_logs: true, log_prompts: true, callbacks: [otel, langfuse]}").unwrap();
    let telemetry = &cfg.gateway.telemetry;
    assert!(telemetry.json_logs && telemetry.log_prompts && telemetry.otel_callback);
    assert!(cfg.ignored_keys.is_empty(), "{:?}", cfg.ignored_keys);
    assert_eq!(cfg.warnings.len(), 1, "{:?}", cfg.warnings);
    let warning = cfg.warnings[0].to_string();
    assert!(
        warning.contains("litellm_settings.callbacks") && warning.contains("langfuse"),
        "{warning}"
    );
    let off = load("{callbacks: [langfuse]}").unwrap();
    assert!(!off.gateway.telemetry.otel_callback);
    let error = load("{callbacks: {otel: true}}").unwrap_err().to_string();
    assert!(error.contains("litellm_settings.callbacks"), "{error}");
    assert!(error.contains("list of callback names"), "{error}");
}
