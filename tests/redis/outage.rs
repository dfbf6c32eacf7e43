//! Redis stopped in the middle of traffic: requests keep being answered (success or a
//! well-formed OpenAI error, never a hang), `/health` and `/metrics` show the degraded state,
//! and restarting Redis on the same port restores shared limits; a gateway started while Redis
//! is down serves on local limits and joins Redis when it comes up.

use std::time::Duration;

use crate::fleet::{Fleet, HAIKU};
use crate::support::redis::RedisServer;

/// How long a replica may take to notice Redis is back (it pings every second): a guard
/// against a hang, not a measurement.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(20);

fn config() -> String {
    format!(
        r#"
aws: {{profile_name: genai, region_name: us-east-1}}
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai, rpm: 1000}}
    model_info: {{id: chat-haiku}}
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
router_settings:
  num_retries: 0
  redis_timeout_ms: 50"#
    )
}

async fn degraded(fleet: &Fleet, replica: usize) -> bool {
    let health = fleet.get(replica, "/health").await;
    health["state_store_degraded"].as_bool().unwrap()
}

/// Waits until each of the first `replicas` replicas has left degraded mode.
async fn wait_until_shared(fleet: &Fleet, replicas: usize) {
    for replica in 0..replicas {
        let shared = async {
            while degraded(fleet, replica).await {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        tokio::time::timeout(RECOVERY_DEADLINE, shared)
            .await
            .unwrap_or_else(|_| panic!("replica {replica} never went back to Redis"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_outage_degrades_to_local_limits_and_recovers() {
    let mut redis = RedisServer::start();
    let fleet = Fleet::start(&redis, 2, &config());
    let statuses = fleet.burst(10, "chat", None).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    redis.stop();
    // Every request is answered in time (the client timeout would fail the test).
    let statuses = fleet.burst(40, "chat", None).await;
    assert!(
        statuses.iter().all(|s| *s == 200),
        "local limits still admit: {statuses:?}"
    );
    for replica in 0..2 {
        assert!(degraded(&fleet, replica).await);
        let health = fleet.get(replica, "/health").await;
        assert_eq!(
            health["state_store"], "redis-degraded (local limits at 1/2)",
            "{health}"
        );
        let metrics = fleet
            .text(&format!("{}/metrics", fleet.gateways[replica]))
            .await;
        assert!(
            metrics.contains("resilient_llm_state_store_degraded 1"),
            "{metrics}"
        );
    }

    redis.restart();
    wait_until_shared(&fleet, 2).await;
    // Shared again: what replica 0 admits, replica 1 sees.
    for _ in 0..3 {
        let (status, _, body) = fleet.chat(0, "chat", None).await;
        assert_eq!(status, 200, "{body}");
    }
    let health = fleet.get(1, "/health").await;
    assert_eq!(health["state_store"], "redis", "{health}");
    assert_eq!(
        health["health"]["deployments"][0]["requests_in_window"], 3,
        "{health}"
    );
    let metrics = fleet.text(&format!("{}/metrics", fleet.gateways[1])).await;
    assert!(
        metrics.contains("resilient_llm_state_store_degraded 0"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_started_while_redis_is_down_serves_and_joins_when_it_comes_up() {
    let mut redis = RedisServer::start();
    redis.stop();
    let fleet = Fleet::start(&redis, 2, &config());
    for replica in 0..2 {
        assert!(degraded(&fleet, replica).await, "replica {replica}");
    }
    let statuses = fleet.burst(20, "chat", None).await;
    assert!(
        statuses.iter().all(|s| *s == 200),
        "served on local limits: {statuses:?}"
    );

    redis.restart();
    wait_until_shared(&fleet, 2).await;
    for _ in 0..2 {
        let (status, _, body) = fleet.chat(1, "chat", None).await;
        assert_eq!(status, 200, "{body}");
    }
    let health = fleet.get(0, "/health").await;
    assert_eq!(health["state_store"], "redis", "{health}");
    assert_eq!(
        health["health"]["deployments"][0]["requests_in_window"], 2,
        "what replica 1 admitted after the start, replica 0 sees: {health}"
    );
}
