//! Several gateway processes (the real binary) sharing one Redis, in front of one sandbox
//! process: one fleet-wide RPM (also over `rediss://`), one consumer quota, and a cooldown seen
//! by every replica.
//! [`Fleet`] is also what the outage tests run on.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::process::{self, Server};
use crate::support::redis::RedisServer;

pub const HAIKU: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
pub const SONNET_45: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

/// No request in these tests may take this long; reaching it fails the test (a hang).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs the binary with `args` and returns it with the URL of its `<banner> URL` line.
fn spawn(config: &Path, args: &[&str], env: &[(&str, String)], banner: &str) -> (Server, String) {
    let mut command = process::binary();
    command.arg("--config").arg(config).args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let server = process::serve(command, banner);
    let url = server.url.clone();
    (server, url)
}

/// One sandbox process and `replicas` gateway processes sharing `redis`.
pub struct Fleet {
    pub sandbox: String,
    pub gateways: Vec<String>,
    http: reqwest::Client,
    _processes: Vec<Server>,
    _dir: tempfile::TempDir,
}

impl Fleet {
    /// `yaml` is the config without `router_settings`' Redis keys, which are appended (with a key
    /// prefix unique to this fleet) under the `router_settings:` section `yaml` must end with.
    pub fn start(redis: &RedisServer, replicas: usize, yaml: &str) -> Fleet {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = tempfile::tempdir().unwrap();
        let prefix = format!(
            "fleet-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let yaml = format!(
            "{yaml}\n  redis_url: {}\n  redis_key_prefix: {prefix}\n  expected_replicas: {replicas}\n",
            redis.url()
        );
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, yaml).unwrap();
        let aws = dir.path().join("aws");
        std::fs::create_dir_all(&aws).unwrap();
        let (sandbox_process, sandbox) = spawn(
            &config,
            &[
                "sandbox",
                "serve",
                "--port",
                "0",
                "--aws-config-dir",
                aws.to_str().unwrap(),
            ],
            &[],
            "Sandbox listening on ",
        );
        let mut env = vec![
            ("AWS_CONFIG_FILE", aws.join("config").display().to_string()),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                aws.join("credentials").display().to_string(),
            ),
        ];
        env.extend(redis.client_env());
        let mut processes = vec![sandbox_process];
        let mut gateways = Vec::new();
        for _ in 0..replicas {
            let (process, url) = spawn(
                &config,
                &["gateway", "serve", "--port", "0"],
                &env,
                "Gateway listening on ",
            );
            processes.push(process);
            gateways.push(url);
        }
        Fleet {
            sandbox,
            gateways,
            http: reqwest::Client::builder()
                .timeout(CLIENT_TIMEOUT)
                .build()
                .unwrap(),
            _processes: processes,
            _dir: dir,
        }
    }

    /// A chat completion through replica `replica` (modulo the fleet size): status, the
    /// deployment that served it (if any) and the body as JSON.
    pub async fn chat(
        &self,
        replica: usize,
        model: &str,
        key: Option<&str>,
    ) -> (u16, String, Value) {
        let url = &self.gateways[replica % self.gateways.len()];
        let body = json!({"model": model, "max_tokens": 16,
            "messages": [{"role": "user", "content": "hello"}]});
        let mut request = self
            .http
            .post(format!("{url}/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("request through {url} failed (hang?): {e}"));
        let status = response.status().as_u16();
        let deployment = response
            .headers()
            .get("x-resilient-llm-deployment")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text}"));
        (status, deployment, body)
    }

    /// `count` concurrent requests spread round-robin over the replicas; their statuses.
    pub async fn burst(&self, count: usize, model: &str, key: Option<&str>) -> Vec<u16> {
        let requests = (0..count).map(|i| async move {
            let (status, _, body) = self.chat(i, model, key).await;
            if status != 200 {
                assert_openai_error(&body);
            }
            status
        });
        futures_util::future::join_all(requests).await
    }

    /// GET `path` of replica `replica` as JSON.
    pub async fn get(&self, replica: usize, path: &str) -> Value {
        let text = self
            .text(&format!("{}{path}", self.gateways[replica]))
            .await;
        serde_json::from_str(&text).unwrap()
    }

    /// GET `path` of replica `replica` as JSON, with the key `key`.
    pub async fn get_as(&self, replica: usize, path: &str, key: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.gateways[replica]))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        serde_json::from_str(&response.text().await.unwrap()).unwrap()
    }

    /// GET a URL as text.
    pub async fn text(&self, url: &str) -> String {
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// What the sandbox served, by status (`served`, `throttled`, `failed`).
    pub async fn sandbox_total(&self) -> Value {
        let text = self.text(&format!("{}/_sandbox/stats", self.sandbox)).await;
        serde_json::from_str::<Value>(&text).unwrap()["total"].clone()
    }
}

/// The OpenAI error shape: `{"error": {"message", "type", ...}}`.
pub fn assert_openai_error(body: &Value) {
    let error = &body["error"];
    assert!(
        error["message"].is_string() && error["type"].is_string(),
        "{body}"
    );
}

fn limited(rpm: u32) -> String {
    format!(
        r#"
aws: {{profile_name: genai, region_name: us-east-1}}
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai, rpm: {rpm}}}
    model_info: {{id: chat-haiku}}
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
router_settings:
  num_retries: 0
  redis_timeout_ms: 2000"#
    )
}

async fn fleet_wide_rpm(redis: RedisServer, replicas: usize) {
    let fleet = Fleet::start(&redis, replicas, &limited(20));
    let statuses = fleet.burst(200, "chat", None).await;
    for replica in 0..replicas {
        // A replica that had degraded would have admitted on local limits: not this test.
        assert_eq!(fleet.get(replica, "/health").await["state_store"], "redis");
    }
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(ok, 20, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    assert_eq!(fleet.sandbox_total().await["served"], 20);
    for replica in 0..replicas {
        let health = fleet.get(replica, "/health").await;
        assert_eq!(health["state_store"], "redis", "{health}");
        assert_eq!(
            health["health"]["deployments"][0]["requests_in_window"], 20,
            "{health}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_admit_exactly_the_fleet_wide_rpm() {
    fleet_wide_rpm(RedisServer::start(), 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_a_redis_over_tls() {
    fleet_wide_rpm(RedisServer::start_tls(), 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_admit_exactly_the_fleet_wide_rpm() {
    fleet_wide_rpm(RedisServer::start(), 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_consumer_quota_holds_across_replicas() {
    let redis = RedisServer::start();
    let yaml = format!(
        r#"
gateway:
  consumers:
    - {{name: team, key: sk-team-shared, rpm_limit: 5}}
{}"#,
        limited(1000)
    );
    let fleet = Fleet::start(&redis, 2, &yaml);
    let statuses = fleet.burst(30, "chat", Some("sk-team-shared")).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(fleet.sandbox_total().await["served"], 5);
    // The consumer's own key sees its own figures on /health.
    let health = fleet.get_as(1, "/health", "sk-team-shared").await;
    assert_eq!(
        health["health"]["consumers"][0]["requests_in_window"], 5,
        "{health}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cooldown_set_through_one_replica_skips_the_deployment_on_the_others() {
    let redis = RedisServer::start();
    let yaml = format!(
        r#"
aws: {{profile_name: genai, region_name: us-east-1}}
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{SONNET_45}", aws_profile_name: genai}}
    model_info: {{id: chat-sonnet}}
  - model_name: backup
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
    model_info: {{id: backup-haiku}}
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
  faults: [{{error: ThrottlingException, rate: 1.0, model: "{SONNET_45}"}}]
router_settings:
  num_retries: 0
  cooldown_time: 120
  fallbacks: [{{chat: [backup]}}]"#
    );
    let fleet = Fleet::start(&redis, 2, &yaml);
    let (status, deployment, body) = fleet.chat(0, "chat", None).await;
    assert_eq!(
        (status, deployment.as_str()),
        (200, "backup-haiku"),
        "{body}"
    );
    let throttled = fleet.sandbox_total().await["throttled"].clone();
    assert_eq!(throttled, 1);

    let health = fleet.get(1, "/health").await;
    let chat = &health["health"]["deployments"][0];
    assert_eq!(
        (&chat["id"], &chat["state"]),
        (&json!("chat-sonnet"), &json!("cooling_down")),
        "{health}"
    );
    for _ in 0..5 {
        let (status, deployment, body) = fleet.chat(1, "chat", None).await;
        assert_eq!(
            (status, deployment.as_str()),
            (200, "backup-haiku"),
            "{body}"
        );
    }
    assert_eq!(
        fleet.sandbox_total().await["throttled"],
        throttled,
        "the cooling deployment was called"
    );
}

/// Two replicas share one deployment's TPM in Bedrock's units: each request reserves its
/// prompt plus `max_tokens` (16) × Claude Haiku 4.5's burndown (5), and while the answers are
/// slow to come (3 s) the fleet admits exactly as many as fit the 1,000-token window.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_tpm_in_burndown_units() {
    fleet_wide_tokens("tpm").await;
}

/// The same for a day limit (`tpd`), which the replicas share in the same units.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_tpd_in_burndown_units() {
    fleet_wide_tokens("tpd").await;
}

/// 40 concurrent requests over two replicas against a 1,000-token `limit` (`tpm` or `tpd`).
async fn fleet_wide_tokens(limit: &str) {
    let redis = RedisServer::start();
    let yaml = format!(
        r#"
aws: {{profile_name: genai, region_name: us-east-1}}
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai, {limit}: 1000}}
    model_info: {{id: chat-haiku}}
sandbox:
  seed: 7
  latency: {{first_token_ms: 3000, tokens_per_second: 0}}
router_settings:
  num_retries: 0
  redis_timeout_ms: 2000"#
    );
    let fleet = Fleet::start(&redis, 2, &yaml);
    let statuses = fleet.burst(40, "chat", None).await;
    let ok = statuses.iter().filter(|s| **s == 200).count() as u64;
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    // The answers settled (to their charge) after every admission was decided; what each
    // reserved is what the window held for it then, which the sandbox's own count confirms.
    let served = fleet.sandbox_total().await["served"].as_u64().unwrap();
    assert_eq!(served, ok);
    let health = fleet.get(0, "/health").await;
    assert_eq!(health["state_store"], "redis", "{health}");
    let reserved_each = 16 * 5 + 2; // max_tokens × burndown + "hello"'s estimate
    assert_eq!(ok, 1000 / reserved_each, "{statuses:?}");
}

/// A consumer's spend budget is one figure for the whole fleet: calls spread over two
/// replicas stop at the same budget, both replicas refuse once it is used, and both report
/// the same spend.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_spend_budget_holds_across_replicas() {
    let redis = RedisServer::start();
    let yaml = format!(
        r#"
aws: {{profile_name: genai, region_name: us-east-1}}
gateway:
  consumers:
    - {{name: thrifty, key: sk-fleet-thrifty-01, max_budget: 0.0004, budget_duration: 1d}}
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
    model_info: {{id: chat-haiku}}
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
router_settings:
  num_retries: 0
  redis_timeout_ms: 2000"#
    );
    let fleet = Fleet::start(&redis, 2, &yaml);
    let key = Some("sk-fleet-thrifty-01");
    let mut served = 0;
    let mut refused_on = None;
    for i in 0..60 {
        let (status, _, body) = fleet.chat(i, "chat", key).await;
        match status {
            200 => served += 1,
            400 => {
                assert_eq!(body["error"]["type"], "budget_exceeded", "{body}");
                refused_on = Some(i);
                break;
            }
            other => panic!("status {other}: {body}"),
        }
    }
    let refused_on = refused_on.expect("the budget refused at last");
    assert!(served >= 2, "{served}");
    // The other replica refuses too: the spend is shared.
    let (status, _, body) = fleet.chat(refused_on + 1, "chat", key).await;
    assert_eq!(status, 400, "{body}");
    let mut spend = Vec::new();
    for replica in 0..2 {
        // A consumer's key sees its own budget.
        let doc = fleet.get_as(replica, "/spend", "sk-fleet-thrifty-01").await;
        spend.push(
            doc["consumers"][0]["current_period"]["spent_usd"]
                .as_f64()
                .unwrap(),
        );
    }
    assert!((spend[0] - spend[1]).abs() < 1e-12, "{spend:?}");
    assert!(spend[0] > 0.0 && spend[0] <= 0.0004, "{spend:?}");
    assert_eq!(fleet.sandbox_total().await["served"], served);
}
