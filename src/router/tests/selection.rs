//! Selection, cooldowns through the store, fallbacks and the `/health` document.

use super::*;
use crate::router::Needs;
use crate::router::strategy::test_support::deployment;
use crate::router::*;

#[tokio::test]
async fn select_skips_cooling_and_over_limit_deployments() {
    let cfg = config(
        vec![group(
            "g",
            vec![
                deployment("a", None, Some(1), None),
                deployment("b", None, Some(100), None),
            ],
        )],
        vec![],
        settings(),
    );
    let (router, clock) = router(&cfg);
    router.cool_down("b", 30 * SECOND).await;
    let permit = admitted(router.select("g", 0, &[], &Needs::chat()).await);
    assert_eq!(permit.deployment().id, "a");
    router.finish(permit, success(0)).await;
    clock.advance(10 * SECOND);
    let (retry_after, refusals) = exhausted(router.select("g", 0, &[], &Needs::chat()).await);
    // a frees at 60 s, b at 30 s: the earliest is 20 s from now.
    assert_eq!(retry_after, Some(20 * SECOND));
    let reasons: Vec<&str> = refusals.iter().map(|(_, r)| r.reason()).collect();
    assert_eq!(reasons, vec!["cooling_down", "rpm"]);
    clock.advance(20 * SECOND);
    assert_eq!(
        admitted(router.select("g", 0, &[], &Needs::chat()).await)
            .deployment()
            .id,
        "b"
    );
}

#[tokio::test]
async fn without_pre_call_checks_only_cooldowns_refuse() {
    let mut s = settings();
    s.pre_call_checks = false;
    let cfg = config(
        vec![group(
            "g",
            vec![
                deployment("a", None, Some(1), None),
                deployment("b", None, Some(1), None),
            ],
        )],
        vec![],
        s,
    );
    let (router, _clock) = router(&cfg);
    router.cool_down("b", 30 * SECOND).await;
    for _ in 0..5 {
        let permit = admitted(router.select("g", 0, &[], &Needs::chat()).await);
        assert_eq!(permit.deployment().id, "a");
        router.finish(permit, success(0)).await;
    }
    assert_eq!(router.health().await.deployments[0].requests_in_window, 5);
}

#[tokio::test]
async fn throttled_deployment_cools_then_lets_one_probe_through() {
    let cfg = config(
        vec![group("g", vec![deployment("a", None, None, None)])],
        vec![],
        settings(),
    );
    let (router, clock) = router(&cfg);
    let permit = admitted(router.select("g", 0, &[], &Needs::chat()).await);
    router
        .finish(
            permit,
            Outcome::RateLimited {
                retry_after: Some(45 * SECOND),
            },
        )
        .await;
    let (retry_after, _) = exhausted(router.select("g", 0, &[], &Needs::chat()).await);
    assert_eq!(
        retry_after,
        Some(45 * SECOND),
        "upstream Retry-After beats cooldown_time"
    );
    let health = router.health().await;
    assert_eq!(health.deployments[0].state, HealthState::CoolingDown);
    assert_eq!(health.deployments[0].cooling_for_ms, Some(45_000));

    clock.advance(45 * SECOND);
    let probe = admitted(router.select("g", 0, &[], &Needs::chat()).await);
    assert!(probe.is_probe());
    let (_, refusals) = exhausted(router.select("g", 0, &[], &Needs::chat()).await);
    assert_eq!(refusals[0].1, DeploymentRefusal::ProbeInFlight);
    router.finish(probe, Outcome::Failed).await;
    let (retry_after, _) = exhausted(router.select("g", 0, &[], &Needs::chat()).await);
    assert_eq!(retry_after, Some(30 * SECOND), "a failed probe cools again");

    clock.advance(30 * SECOND);
    let probe = admitted(router.select("g", 0, &[], &Needs::chat()).await);
    router.finish(probe, success(5)).await;
    let first = admitted(router.select("g", 0, &[], &Needs::chat()).await);
    let second = admitted(router.select("g", 0, &[], &Needs::chat()).await);
    assert!(
        !first.is_probe() && !second.is_probe(),
        "full traffic after recovery"
    );
}

#[tokio::test]
async fn allowed_fails_are_counted_per_deployment() {
    let cfg = config(
        vec![group("g", vec![deployment("a", None, None, None)])],
        vec![],
        settings(),
    );
    let (router, _clock) = router(&cfg);
    for _ in 0..2 {
        let permit = admitted(router.select("g", 0, &[], &Needs::chat()).await);
        router.finish(permit, Outcome::ClientError).await;
    }
    let permit = admitted(router.select("g", 0, &[], &Needs::chat()).await);
    router.finish(permit, Outcome::Failed).await;
    let permit = admitted(router.select("g", 0, &[], &Needs::chat()).await);
    router.finish(permit, Outcome::Failed).await;
    exhausted(router.select("g", 0, &[], &Needs::chat()).await);
}

#[test]
fn fallback_groups_are_ordered_deduplicated_and_never_self() {
    let cfg = config(
        vec![group("primary", vec![deployment("a", None, None, None)])],
        vec![],
        settings(),
    );
    let router = Router::new(&cfg, MemoryStore::new(&cfg));
    assert_eq!(
        router.fallback_groups("primary"),
        vec!["backup", "spare", "last"]
    );
    assert_eq!(router.fallback_groups("spare"), vec!["backup", "last"]);
    assert_eq!(
        router.context_window_fallback_groups("primary"),
        vec!["big"]
    );
    assert!(router.context_window_fallback_groups("other").is_empty());
}

#[tokio::test]
async fn health_serializes_state_and_usage() {
    let cfg = config(
        vec![group("g", vec![deployment("a", None, Some(5), Some(1000))])],
        vec![],
        settings(),
    );
    let (router, _clock) = router(&cfg);
    let permit = admitted(router.select("g", 300, &[], &Needs::chat()).await);
    assert_eq!(
        permit.remaining(),
        Remaining {
            requests: Some(4),
            tokens: Some(700),
            reset_requests: Some(std::time::Duration::ZERO),
            reset_tokens: Some(std::time::Duration::ZERO),
        }
    );
    router.finish(permit, success(120)).await;
    let json = serde_json::to_value(router.health().await).unwrap();
    let d = &json["deployments"][0];
    assert_eq!(d["state"], "healthy");
    assert_eq!(d["model"], "bedrock/model-a");
    assert_eq!(
        (
            d["requests_in_window"].as_u64(),
            d["tokens_in_window"].as_u64()
        ),
        (Some(1), Some(120))
    );
    assert_eq!(json["routing_strategy"], "simple-shuffle");
    assert!(matches!(
        router.select("nope", 0, &[], &Needs::chat()).await,
        Selection::UnknownGroup
    ));
}

#[tokio::test]
async fn excluded_deployments_are_not_tried() {
    let cfg = config(
        vec![group(
            "g",
            vec![
                deployment("a", None, None, None),
                deployment("b", None, None, None),
            ],
        )],
        vec![],
        settings(),
    );
    let (router, _clock) = router(&cfg);
    for _ in 0..20 {
        let permit = admitted(router.select("g", 0, &["a"], &Needs::chat()).await);
        assert_eq!(permit.deployment().id, "b");
        router.finish(permit, success(0)).await;
    }
    assert_eq!(
        exhausted(router.select("g", 0, &["a", "b"], &Needs::chat()).await).0,
        None
    );
}
