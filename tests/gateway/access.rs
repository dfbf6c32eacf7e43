//! Who may read what: `/health/liveliness` and `/health/readiness` answer anyone; the detailed
//! `/health` needs a key when the gateway has keys (a consumer sees its own groups and itself,
//! never another consumer); `/metrics` is open unless LiteLLM's
//! `require_auth_for_metrics_endpoint` is set.

use serde_json::Value;

use crate::harness::{HAIKU, Stack};

fn config(metrics_auth: bool) -> String {
    format!(
        r#"
gateway:
  master_key: sk-master-access
  consumers:
    - {{name: team-a, key: sk-team-a-key, rpm_limit: 7, models: [alpha]}}
    - {{name: team-b, key: sk-team-b-key, rpm_limit: 9, models: [beta]}}
litellm_settings:
  require_auth_for_metrics_endpoint: {metrics_auth}
model_list:
  - model_name: alpha
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
  - model_name: beta
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
"#
    )
}

fn names(health: &Value, list: &str, field: &str) -> Vec<String> {
    health["health"][list]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d[field].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_detailed_health_needs_a_key_and_shows_a_consumer_only_its_own() {
    let stack = Stack::start(&config(false)).await;
    for open in ["/health/liveliness", "/health/readiness"] {
        assert_eq!(stack.get(open, None).await.status, 200, "{open}");
    }
    stack
        .get("/health", None)
        .await
        .assert_error(401, "authentication_error");
    stack
        .get("/health", Some("sk-not-a-key"))
        .await
        .assert_error(401, "authentication_error");

    let all = stack.get("/health", Some("sk-master-access")).await.json();
    assert_eq!(names(&all, "deployments", "model_group"), ["alpha", "beta"]);
    assert_eq!(names(&all, "consumers", "name"), ["team-a", "team-b"]);

    let reply = stack.get("/health", Some("sk-team-a-key")).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let own = reply.json();
    assert_eq!(names(&own, "deployments", "model_group"), ["alpha"]);
    assert_eq!(names(&own, "consumers", "name"), ["team-a"]);
    assert!(!reply.text.contains("team-b"), "{}", reply.text);

    // Metrics stay open by default.
    assert_eq!(stack.get("/metrics", None).await.status, 200);
}

#[tokio::test]
async fn metrics_close_with_require_auth_for_metrics_endpoint() {
    let stack = Stack::start(&config(true)).await;
    stack
        .get("/metrics", None)
        .await
        .assert_error(401, "authentication_error");
    stack
        .get("/metrics", Some("sk-team-a-key"))
        .await
        .assert_error(403, "permission_error");
    let reply = stack.get("/metrics", Some("sk-master-access")).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.text.contains("resilient_llm_requests_total"),
        "{}",
        reply.text
    );
}
