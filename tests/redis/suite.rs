//! One behavioural suite, run against both stores through the [`Router`]: exact RPM, abandoned
//! calls, 300 concurrent requests against 50 RPM, TPM reserve/settle/release, a refusal by RPM
//! and TPM at once, a consumer's parallel limit, and the cooldown cycle (enter, extend, half-open
//! with a single probe, recover).
//!
//! The memory store runs on tokio's paused clock, so its waits are exact and nothing waits for
//! real time; Redis runs on the server's clock, so its waits are allowed [`REDIS_CLOCK_SLACK`]
//! (see [`assert_wait`]). Where the suite needs time to pass (a cooldown to end) it waits for the
//! store to say so, which on the paused clock takes no real time.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use resilient_llm::config::{Config, load_str};
use resilient_llm::router::{
    AnyStore, DeploymentPermit, LimitKind, Needs, Outcome, Router, Selection, WINDOW,
};

use crate::support::redis::RedisServer;

const SHORT_COOLDOWN: Duration = Duration::from_millis(300);

/// How far Redis's clock, which runs during the suite, may have moved between the start of a
/// span and the store's report of what is left of it.
const REDIS_CLOCK_SLACK: Duration = Duration::from_secs(10);

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
  - model_name: both
    litellm_params: {{model: "bedrock/model-both", rpm: 2, tpm: 1000}}
    model_info: {{id: both}}
  - model_name: daily
    litellm_params: {{model: "bedrock/model-daily", tpd: 1000}}
    model_info: {{id: daily}}
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

/// Asserts that `wait` is what is left of a span of `span` that began in this part of the suite:
/// all of it on the memory store, whose paused clock has not moved since; on Redis, up to
/// [`REDIS_CLOCK_SLACK`] less.
fn assert_wait(redis: Option<&str>, wait: Duration, span: Duration) {
    if redis.is_none() {
        assert_eq!(wait, span);
    } else {
        assert!(
            wait <= span && wait + REDIS_CLOCK_SLACK > span,
            "{wait:?} left of {span:?}"
        );
    }
}

/// Runs every behaviour against the store of `redis` (a URL) or memory (`None`).
async fn suite(redis: Option<&str>) {
    exact_rpm(redis).await;
    shared_id(redis).await;
    abandoned(redis).await;
    concurrent_rpm(redis).await;
    tokens(redis).await;
    both_limits(redis).await;
    day(redis).await;
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
            assert_wait(redis, reset, WINDOW);
        }
        router.finish(permit, success(0)).await;
    }
    let (retry_after, reason) = refusal(router.select("exact", 0, &[], &Needs::chat()).await);
    assert_eq!(reason, "rpm");
    assert_wait(redis, retry_after, WINDOW);
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
    assert_wait(redis, reset, WINDOW);
    let (retry_after, reason) = refusal(router.select("tokens", 600, &[], &Needs::chat()).await);
    assert_eq!(reason, "tpm");
    assert_wait(redis, retry_after, WINDOW);
    assert!(
        retry_after <= reset,
        "the same reservation, asked about later"
    );
    // Settled to the real usage: 150 of 1000 used, 600 more fit.
    router.finish(first, success(150)).await;
    let second = admitted(router.select("tokens", 600, &[], &Needs::chat()).await);
    assert_eq!(second.remaining().tokens, Some(250));
    // 600 more would fit once the first's 150 leave: 150 + 600 + 600 > 1000 until then.
    assert_wait(redis, second.remaining().reset_tokens.unwrap(), WINDOW);
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

/// The day limit: reservations count in their minute, settle to the real tokens or are handed
/// back, and a refusal waits for the oldest minutes to leave the day.
async fn day(redis: Option<&str>) {
    let (router, _) = router(redis).await;
    let first = admitted(router.select("daily", 600, &[], &Needs::chat()).await);
    router.finish(first, success(150)).await;
    let second = admitted(router.select("daily", 600, &[], &Needs::chat()).await);
    // 150 + 600 held: 600 more would pass 1,000.
    let (retry_after, reason) = refusal(router.select("daily", 600, &[], &Needs::chat()).await);
    assert_eq!(reason, "tpd");
    let day = Duration::from_secs(24 * 3_600);
    assert!(
        retry_after <= day && retry_after > day - Duration::from_secs(61),
        "{retry_after:?}"
    );
    // The second is handed back (never sent): 600 fit again, 900 do not.
    router.finish(second, Outcome::NotSent).await;
    let third = admitted(router.select("daily", 600, &[], &Needs::chat()).await);
    let (_, reason) = refusal(router.select("daily", 300, &[], &Needs::chat()).await);
    assert_eq!(reason, "tpd");
    router.finish(third, success(100)).await;
    let health = router.health().await;
    let daily = health.deployments.iter().find(|d| d.id == "daily").unwrap();
    assert_eq!((daily.tokens_in_day, daily.tpd_limit), (250, Some(1000)));
    // 150 + 100 used: 750 more fit.
    let fourth = admitted(router.select("daily", 750, &[], &Needs::chat()).await);
    router.finish(fourth, Outcome::NotSent).await;
}

/// A request refused by RPM and TPM at once is told about the limit that frees later, RPM on a
/// tie: the Redis script computes this itself, so both stores must agree on it.
async fn both_limits(redis: Option<&str>) {
    // Tie: the first admission's departure makes room for both the request and its tokens.
    let (router, _) = router(redis).await;
    for tokens in [600, 300] {
        let permit = admitted(router.select("both", tokens, &[], &Needs::chat()).await);
        router.finish(permit, success(tokens)).await;
    }
    let (retry_after, reason) = refusal(router.select("both", 200, &[], &Needs::chat()).await);
    assert_eq!(reason, "rpm");
    assert_wait(redis, retry_after, WINDOW);

    // TPM later: requests wait for the first (5 tokens) to leave, tokens for the second (995).
    let (router, _) = self::router(redis).await;
    let first = admitted(router.select("both", 5, &[], &Needs::chat()).await);
    router.finish(first, success(5)).await;
    // Lets the store's clock move on (no real time on the paused clock), so the second
    // admission is strictly later; a longer delay changes nothing below.
    tokio::time::sleep(Duration::from_millis(1)).await;
    let second = admitted(router.select("both", 995, &[], &Needs::chat()).await);
    router.finish(second, success(995)).await;
    let (retry_after, reason) = refusal(router.select("both", 10, &[], &Needs::chat()).await);
    assert_eq!(reason, "tpm");
    assert_wait(redis, retry_after, WINDOW);
    // With no tokens asked, only the requests limit refuses, waiting for the first to leave.
    let (by_requests, reason) = refusal(router.select("both", 0, &[], &Needs::chat()).await);
    assert_eq!(reason, "rpm");
    assert!(
        by_requests < retry_after,
        "{by_requests:?} < {retry_after:?}"
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
    assert_wait(redis, retry_after, SHORT_COOLDOWN);
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
    assert_wait(redis, retry_after, Duration::from_secs(30));
    let health = router.health().await;
    let cool = health.deployments.iter().find(|d| d.id == "cool").unwrap();
    assert_eq!(serde_json::to_value(cool.state).unwrap(), "cooling_down");

    // Half-open: a fresh deployment cooled briefly lets exactly one probe through.
    let (router, _) = self::router(redis).await;
    router.cool_down("cool", SHORT_COOLDOWN).await;
    let (retry_after, reason) = refusal(router.select("cool", 0, &[], &Needs::chat()).await);
    assert_eq!(reason, "cooling_down");
    assert_wait(redis, retry_after, SHORT_COOLDOWN);
    let state = async || {
        let health = router.health().await;
        serde_json::to_value(health.deployments[3].state).unwrap()
    };
    // Waits for the store to report the cooldown over (a guard, not a measurement).
    let half_open = async || {
        while state().await == "cooling_down" {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), half_open())
        .await
        .expect("the cooldown must end");
    assert_eq!(state().await, "half_open");
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

/// On the paused clock, so one thread: the memory store's contention across threads is the unit
/// tests' (`src/router/tests/limits.rs`, 300 requests on 4 worker threads).
#[tokio::test(start_paused = true)]
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
