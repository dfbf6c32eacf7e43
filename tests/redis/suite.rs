//! One behavioural suite, run against both stores through the [`Router`]: exact RPM, abandoned
//! calls, 300
//! concurrent requests against 50 RPM, TPM reserve/settle/release, a consumer's parallel limit,
//! and the cooldown cycle (enter, extend, half-open with a single probe, recover). The cooldown
//! parts use a 300 ms cooldown and real sleeps, the same for both stores.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use resilient_llm::config::{Config, load_str};
use resilient_llm::router::{
    AnyStore, DeploymentPermit, LimitKind, Needs, Outcome, Router, Selection,
};

use crate::support::redis::RedisServer;

const SHORT_COOLDOWN: Duration = Duration::from_millis(300);

/// A config for the suite; `redis` adds the Redis settings with a prefix unique to this store.
fn config(redis: Option<&str>) -> Config {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let redis = redis.map_or(String::new(), |url| {
        format!(
            "  redis_url: {url}\n  redis_key_prefix: suite-{}-{}\n  redis_timeout_ms: 2000\n",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )
    });
    let yaml = format!(
        r#"
gateway:
  consumers:
    - {{name: pair, key: sk-pair-key, max_parallel_requests: 2}}
    - {{name: counted, key: sk-counted-key, rpm_limit: 3}}
model_list:
  - model_name: exact
    litellm_params: {{model: "bedrock/model-exact", rpm: 5}}
    model_info: {{id: exact}}
  - model_name: crowd
    litellm_params: {{model: "bedrock/model-crowd", rpm: 50}}
    model_info: {{id: crowd}}
  - model_name: tokens
    litellm_params: {{model: "bedrock/model-tokens", tpm: 1000}}
    model_info: {{id: tokens}}
  - model_name: cool
    litellm_params: {{model: "bedrock/model-cool"}}
    model_info: {{id: cool}}
  - model_name: twin-a
    litellm_params: {{model: "bedrock/model-twin", rpm: 2}}
    model_info: {{id: twin}}
  - model_name: twin-b
    litellm_params: {{model: "bedrock/model-twin", rpm: 2}}
    model_info: {{id: twin}}
router_settings:
  cooldown_time: 0.3
  allowed_fails: 1
{redis}"#
    );
    load_str(&yaml, Path::new("suite.yaml"), &|_| None).unwrap()
}

async fn router(redis: Option<&str>) -> (Arc<Router<AnyStore>>, Config) {
    let config = config(redis);
    let store = AnyStore::from_config(&config).await.unwrap();
    assert!(!store.is_degraded(), "the store must start connected");
    (Arc::new(Router::new(&config, store).with_seed(7)), config)
}

fn success(tokens: u64) -> Outcome {
    Outcome::Success {
        latency: Duration::from_millis(20),
        input_tokens: tokens,
        output_tokens: 0,
    }
}

fn admitted(selection: Selection<AnyStore>) -> DeploymentPermit<AnyStore> {
    match selection {
        Selection::Admitted(permit) => permit,
        Selection::Exhausted { refusals, .. } => panic!("exhausted: {refusals:?}"),
        Selection::Unfit(reason) => panic!("unfit: {reason}"),
        Selection::UnknownGroup => panic!("unknown group"),
    }
}

fn refusal(selection: Selection<AnyStore>) -> (Duration, &'static str) {
    match selection {
        Selection::Exhausted {
            retry_after,
            refusals,
        } => (retry_after.unwrap(), refusals[0].1.reason()),
        Selection::Admitted(p) => panic!("admitted {}", p.deployment().id),
        Selection::Unfit(reason) => panic!("unfit: {reason}"),
        Selection::UnknownGroup => panic!("unknown group"),
    }
}

/// Runs every behaviour against the store of `redis` (a URL) or memory (`None`).
async fn suite(redis: Option<&str>) {
    exact_rpm(redis).await;
    shared_id(redis).await;
    abandoned(redis).await;
    concurrent_rpm(redis).await;
    tokens(redis).await;
    consumers(redis).await;
    cooldown(redis).await;
}

async fn exact_rpm(redis: Option<&str>) {
    let (router, _) = router(redis).await;
    for i in 0..5 {
        let permit = admitted(router.select("exact", 0, &[], &Needs::chat()).await);
        assert_eq!(permit.remaining().requests, Some(4 - i));
        // One more fits at once until the fifth fills the window; then when the first leaves.
        let reset = permit.remaining().reset_requests.unwrap();
        if i < 4 {
            assert_eq!(reset, Duration::ZERO);
        } else {
            assert!(
                reset > Duration::from_secs(50) && reset <= Duration::from_secs(60),
                "{reset:?}"
            );
        }
        router.finish(permit, success(0)).await;
    }
    let (retry_after, reason) = refusal(router.select("exact", 0, &[], &Needs::chat()).await);
    assert_eq!(reason, "rpm");
    assert!(retry_after > Duration::from_secs(50) && retry_after <= Duration::from_secs(60));
    let health = router.health().await;
    assert_eq!(health.deployments[0].requests_in_window, 5);
}

/// Two groups' deployments that share an id keep separate windows (and Redis keys): filling
/// one leaves the other's quota whole.
async fn shared_id(redis: Option<&str>) {
    let (router, _) = router(redis).await;
    for _ in 0..2 {
        let permit = admitted(router.select("twin-a", 0, &[], &Needs::chat()).await);
        assert_eq!(permit.deployment().id, "twin");
        router.finish(permit, success(0)).await;
    }
    assert_eq!(
        refusal(router.select("twin-a", 0, &[], &Needs::chat()).await).1,
        "rpm"
    );
    let permit = admitted(router.select("twin-b", 0, &[], &Needs::chat()).await);
    assert_eq!(permit.remaining().requests, Some(1));
    router.finish(permit, success(0)).await;
}

/// Calls whose caller hung up: dropped before sending, the admission is released; dropped after,
/// it stays counted (the upstream may have counted it) and the window fills.
async fn abandoned(redis: Option<&str>) {
    let (router, _) = router(redis).await;
    for _ in 0..5 {
        drop(admitted(
            router.select("exact", 10, &[], &Needs::chat()).await,
        ));
    }
    // A dropped permit finishes in the background for Redis: wait until none is in flight.
    let settled = async || loop {
        let health = router.health().await;
        let exact = health.deployments[0].clone();
        if exact.in_flight == 0 {
            return (exact.requests_in_window, exact.tokens_in_window);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let within = Duration::from_secs(10);
    assert_eq!(
        tokio::time::timeout(within, settled()).await.unwrap(),
        (0, 0)
    );
    for _ in 0..5 {
        let mut permit = admitted(router.select("exact", 10, &[], &Needs::chat()).await);
        permit.mark_sent();
        drop(permit);
    }
    assert_eq!(
        tokio::time::timeout(within, settled()).await.unwrap(),
        (5, 50)
    );
    assert_eq!(
        refusal(router.select("exact", 10, &[], &Needs::chat()).await).1,
        "rpm"
    );
}

async fn concurrent_rpm(redis: Option<&str>) {
    let (router, _) = router(redis).await;
    let tasks: Vec<_> = (0..300)
        .map(|_| {
            let router = Arc::clone(&router);
            tokio::spawn(async move {
                match router.select("crowd", 10, &[], &Needs::chat()).await {
                    Selection::Admitted(permit) => {
                        tokio::task::yield_now().await;
                        router.finish(permit, success(10)).await;
                        true
                    }
                    Selection::Exhausted { retry_after, .. } => {
                        assert!(retry_after.is_some_and(|r| r > Duration::ZERO));
                        false
                    }
                    Selection::Unfit(reason) => panic!("unfit: {reason}"),
                    Selection::UnknownGroup => panic!("unknown group"),
                }
            })
        })
        .collect();
    let mut count = 0;
    for task in tasks {
        count += usize::from(task.await.unwrap());
    }
    assert_eq!(count, 50);
    let health = router.health().await;
    let crowd = health.deployments.iter().find(|d| d.id == "crowd").unwrap();
    assert_eq!(
        (crowd.requests_in_window, crowd.tokens_in_window),
        (50, 500)
    );
    assert_eq!(crowd.in_flight, 0);
}

async fn tokens(redis: Option<&str>) {
    let (router, _) = router(redis).await;
    let first = admitted(router.select("tokens", 600, &[], &Needs::chat()).await);
    assert_eq!(first.remaining().tokens, Some(400));
    // 600 more fit only when this reservation leaves the window.
    let reset = first.remaining().reset_tokens.unwrap();
    assert!(
        reset > Duration::from_secs(50) && reset <= Duration::from_secs(60),
        "{reset:?}"
    );
    let (retry_after, reason) = refusal(router.select("tokens", 600, &[], &Needs::chat()).await);
    assert_eq!(reason, "tpm");
    assert!(retry_after > Duration::from_secs(50));
    // Settled to the real usage: 150 of 1000 used, 600 more fit.
    router.finish(first, success(150)).await;
    let second = admitted(router.select("tokens", 600, &[], &Needs::chat()).await);
    assert_eq!(second.remaining().tokens, Some(250));
    // 600 more would fit once the first's 150 leave: 150 + 600 + 600 > 1000 until then.
    assert!(second.remaining().reset_tokens.unwrap() > Duration::from_secs(50));
    // Released (never sent): consumes nothing.
    router.finish(second, Outcome::NotSent).await;
    let health = router.health().await;
    let tokens = health
        .deployments
        .iter()
        .find(|d| d.id == "tokens")
        .unwrap();
    assert_eq!(
        (
            tokens.requests_in_window,
            tokens.tokens_in_window,
            tokens.in_flight
        ),
        (1, 150, 0)
    );
}

async fn consumers(redis: Option<&str>) {
    let (router, config) = router(redis).await;
    let consumer = |name: &str| {
        config
            .gateway
            .consumers
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .clone()
    };
    let pair = consumer("pair");
    let one = router.admit_consumer(&pair, 10).await.unwrap();
    let two = router.admit_consumer(&pair, 10).await.unwrap();
    let refused = router.admit_consumer(&pair, 10).await.unwrap_err();
    assert_eq!((refused.limit, refused.value), (LimitKind::Parallel, 2));
    router.finish_consumer(one, Some(10)).await;
    let three = router.admit_consumer(&pair, 10).await.unwrap();
    router.finish_consumer(two, None).await;
    router.finish_consumer(three, Some(5)).await;

    let counted = consumer("counted");
    for _ in 0..3 {
        let permit = router.admit_consumer(&counted, 1).await.unwrap();
        router.finish_consumer(permit, Some(1)).await;
    }
    let refused = router.admit_consumer(&counted, 1).await.unwrap_err();
    assert_eq!((refused.limit, refused.value), (LimitKind::Rpm, 3));
    let health = router.health().await;
    let used = |name: &str| {
        let c = health.consumers.iter().find(|c| c.name == name).unwrap();
        (c.requests_in_window, c.tokens_in_window, c.in_flight)
    };
    assert_eq!(used("pair"), (2, 15, 0));
    assert_eq!(used("counted"), (3, 3, 0));
}

async fn cooldown(redis: Option<&str>) {
    let (router, _) = router(redis).await;
    // Enter: a 429 cools the deployment for cooldown_time.
    let permit = admitted(router.select("cool", 0, &[], &Needs::chat()).await);
    let late = admitted(router.select("cool", 0, &[], &Needs::chat()).await);
    router
        .finish(permit, Outcome::RateLimited { retry_after: None })
        .await;
    let (retry_after, reason) = refusal(router.select("cool", 0, &[], &Needs::chat()).await);
    assert_eq!(reason, "cooling_down");
    assert!(retry_after <= SHORT_COOLDOWN);
    // A late success of a request admitted before the cooldown does not end it.
    router.finish(late, success(0)).await;
    assert_eq!(
        refusal(router.select("cool", 0, &[], &Needs::chat()).await).1,
        "cooling_down"
    );
    // Extend: never shortened, lengthened by a longer cooldown.
    router.cool_down("cool", Duration::from_millis(1)).await;
    assert_eq!(
        refusal(router.select("cool", 0, &[], &Needs::chat()).await).1,
        "cooling_down"
    );
    router.cool_down("cool", Duration::from_secs(30)).await;
    let (retry_after, _) = refusal(router.select("cool", 0, &[], &Needs::chat()).await);
    assert!(retry_after > Duration::from_secs(20), "{retry_after:?}");
    let health = router.health().await;
    let cool = health.deployments.iter().find(|d| d.id == "cool").unwrap();
    assert_eq!(serde_json::to_value(cool.state).unwrap(), "cooling_down");

    // Half-open: a fresh deployment cooled briefly lets exactly one probe through.
    let (router, _) = self::router(redis).await;
    router.cool_down("cool", SHORT_COOLDOWN).await;
    tokio::time::sleep(SHORT_COOLDOWN + Duration::from_millis(100)).await;
    let health = router.health().await;
    assert_eq!(
        serde_json::to_value(health.deployments[3].state).unwrap(),
        "half_open"
    );
    let probe = admitted(router.select("cool", 0, &[], &Needs::chat()).await);
    assert!(probe.is_probe());
    assert_eq!(
        refusal(router.select("cool", 0, &[], &Needs::chat()).await).1,
        "probe_in_flight"
    );
    // A probe never sent frees the slot for the next request.
    router.finish(probe, Outcome::NotSent).await;
    let probe = admitted(router.select("cool", 0, &[], &Needs::chat()).await);
    assert!(probe.is_probe());
    // Recover: the probe succeeds, the deployment is healthy and takes everyone.
    router.finish(probe, success(1)).await;
    let first = admitted(router.select("cool", 0, &[], &Needs::chat()).await);
    let second = admitted(router.select("cool", 0, &[], &Needs::chat()).await);
    assert!(!first.is_probe() && !second.is_probe());
    router.finish(first, success(1)).await;
    router.finish(second, success(1)).await;
    let health = router.health().await;
    assert_eq!(
        serde_json::to_value(health.deployments[3].state).unwrap(),
        "healthy"
    );

    // More than allowed_fails failures cool it again.
    for _ in 0..2 {
        let permit = admitted(router.select("cool", 0, &[], &Needs::chat()).await);
        router.finish(permit, Outcome::Failed).await;
    }
    assert_eq!(
        refusal(router.select("cool", 0, &[], &Needs::chat()).await).1,
        "cooling_down"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_memory_store_passes_the_suite() {
    suite(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_redis_store_passes_the_suite() {
    let redis = RedisServer::start();
    tokio::time::timeout(Duration::from_secs(60), suite(Some(&redis.url())))
        .await
        .expect("the suite must not hang");
}
