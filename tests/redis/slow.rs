//! A Redis slower than the store's timeout: the request is admitted on local limits at once,
//! and the admission that reaches Redis late is released there, so the fleet-wide counters never
//! count that request twice.

use std::path::Path;
use std::time::{Duration, Instant};

use resilient_llm::config::load_str;
use resilient_llm::router::store::DeploymentRequest;
use resilient_llm::router::{AnyStore, Limits, StateStore, StoreSnapshot};

use crate::support::redis::RedisServer;

fn usage_of(snapshot: &StoreSnapshot, id: &str) -> (u64, u32) {
    let state = snapshot
        .deployments
        .iter()
        .find(|d| d.id == id)
        .expect("the deployment is in the snapshot");
    (state.usage.requests, state.usage.in_flight)
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
        },
        tokens: 10,
        enforce_limits: true,
    };

    // Redis holds every command for 600 ms: the admission is sent, then not answered in time.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut pauser = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(600)
        .query_async(&mut pauser)
        .await
        .unwrap();
    let started = Instant::now();
    let grant = store.admit_deployment("exact", request).await;
    assert!(grant.is_ok(), "admitted on local limits: {grant:?}");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "the admission must not wait for the paused Redis"
    );
    assert!(store.is_degraded());

    // Once Redis runs the late admission, the store releases it: back to zero, not one.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if !store.is_degraded() {
            let (requests, in_flight) = usage_of(&store.snapshot().await, "exact");
            if (requests, in_flight) == (0, 0) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Redis still counts the late admission: {requests} requests, {in_flight} in flight"
            );
        }
        assert!(Instant::now() < deadline, "the store never reconnected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The window in Redis is whole again: exactly 5 admissions, the sixth refused.
    for i in 0..5 {
        let grant = store.admit_deployment("exact", request).await;
        assert!(grant.is_ok(), "admission {i} refused: {grant:?}");
    }
    assert!(store.admit_deployment("exact", request).await.is_err());
}
