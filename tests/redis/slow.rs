//! A Redis slower than the store's timeout: the request is admitted on local limits at once,
//! and the admission that reaches Redis late is released there, so the fleet-wide counters never
//! count that request twice.
//!
//! The test asserts which store answered each admission and what it said, never how long an
//! admission took: the local limits are a fifth of Redis's (`expected_replicas: 5`), so the
//! figures in a grant or a refusal say where it was made.

use std::path::Path;
use std::time::Duration;

use resilient_llm::config::load_str;
use resilient_llm::router::store::DeploymentRequest;
use resilient_llm::router::{
    AnyStore, DeploymentRefusal, Exceeded, LimitKind, Limits, StateStore, StoreSnapshot,
};

use crate::support::redis::RedisServer;

/// How long Redis holds every command: past the store's 50 ms timeout, within the connection's
/// 1 s response timeout, so the late admission is answered and can be released.
const PAUSE_MS: u64 = 600;

fn usage_of(snapshot: &StoreSnapshot, id: &str) -> (u64, u32) {
    let state = snapshot
        .deployments
        .iter()
        .find(|d| d.id == id)
        .expect("the deployment is in the snapshot");
    (state.usage.requests, state.usage.in_flight)
}

/// Asserts a refusal by the requests-per-minute limit `limit` (whatever its wait).
fn refused_by_rpm(refusal: Result<impl std::fmt::Debug, DeploymentRefusal>, limit: u64) {
    match refusal {
        Err(DeploymentRefusal::OverLimit(Exceeded {
            kind: LimitKind::Rpm,
            limit: l,
            ..
        })) if l == limit => {}
        other => panic!("expected a refusal by rpm {limit}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admission_that_reaches_redis_after_the_timeout_is_released_there() {
    let redis = RedisServer::start();
    let yaml = format!(
        r#"
model_list:
  - model_name: exact
    litellm_params: {{model: "bedrock/model-exact", rpm: 5}}
    model_info: {{id: exact}}
router_settings:
  redis_url: {}
  redis_key_prefix: slow-{}
  redis_timeout_ms: 50
  expected_replicas: 5
"#,
        redis.url(),
        std::process::id()
    );
    let config = load_str(&yaml, Path::new("slow.yaml"), &|_| None).unwrap();
    let store = AnyStore::from_config(&config).await.unwrap();
    assert!(!store.is_degraded(), "the store must start connected");
    let request = DeploymentRequest {
        limits: Limits {
            rpm: Some(5),
            tpm: None,
            parallel: None,
            tpd: None,
        },
        tokens: 10,
        enforce_limits: true,
    };

    // Redis holds every command: the admission is sent, then not answered in time.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut pauser = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(PAUSE_MS)
        .query_async(&mut pauser)
        .await
        .unwrap();
    // Served by the local store, at rpm 5 / 5 replicas = 1: none left (Redis would say 4).
    let grant = store.admit_deployment("exact", request).await.unwrap();
    assert_eq!(grant.remaining.requests, Some(0), "{grant:?}");
    assert!(store.is_degraded());
    assert_eq!(store.kind(), "redis-degraded (local limits at 1/5)");
    // While degraded, the next request meets the local limit, not Redis's.
    refused_by_rpm(store.admit_deployment("exact", request).await, 1);

    // Once Redis runs the late admission, the store releases it: back to zero, not one.
    let released = async {
        loop {
            if !store.is_degraded() && usage_of(&store.snapshot().await, "exact") == (0, 0) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(10), released)
        .await
        .is_err()
    {
        panic!(
            "degraded: {}; the store counts (requests, in flight) {:?}",
            store.is_degraded(),
            usage_of(&store.snapshot().await, "exact")
        );
    }

    // The window in Redis is whole again: exactly 5 admissions, the sixth refused by rpm 5.
    for left in (0..5).rev() {
        let grant = store.admit_deployment("exact", request).await.unwrap();
        assert_eq!(grant.remaining.requests, Some(left), "{grant:?}");
    }
    refused_by_rpm(store.admit_deployment("exact", request).await, 5);
    assert_eq!(store.kind(), "redis");
}
