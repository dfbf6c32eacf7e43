//! Exact limits through the router: window edges, concurrency, consumers, leaked permits.

use crate::router::Needs;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::router::strategy::test_support::deployment;
use crate::router::*;

#[tokio::test]
async fn rpm_is_exact_at_the_window_edge() {
    let cfg = config(
        vec![group("g", vec![deployment("a", None, Some(50), None)])],
        vec![],
        settings(),
    );
    let (router, clock) = router(&cfg);
    for i in 0..50 {
        let permit = admitted(router.select("g", 0, &[], &Needs::chat()).await);
        assert_eq!(permit.remaining().requests, Some(49 - i));
        router.finish(permit, success(0)).await;
        if i == 0 {
            clock.advance(10 * SECOND);
        }
    }
    let (retry_after, refusals) = exhausted(router.select("g", 0, &[], &Needs::chat()).await);
    assert_eq!(retry_after, Some(50 * SECOND));
    assert_eq!(refusals[0].1.reason(), "rpm");
    clock.advance(50 * SECOND - Duration::from_micros(1));
    exhausted(router.select("g", 0, &[], &Needs::chat()).await);
    clock.advance(Duration::from_micros(1));
    let _in_flight = admitted(router.select("g", 0, &[], &Needs::chat()).await);
    exhausted(router.select("g", 0, &[], &Needs::chat()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_hundred_concurrent_requests_against_50_rpm_admit_exactly_50() {
    let cfg = config(
        vec![group("g", vec![deployment("a", None, Some(50), None)])],
        vec![],
        settings(),
    );
    let (router, _clock) = router(&cfg);
    let router = Arc::new(router);
    let tasks: Vec<_> = (0..300)
        .map(|_| {
            let router = Arc::clone(&router);
            tokio::spawn(async move {
                match router.select("g", 10, &[], &Needs::chat()).await {
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
    let mut admitted = 0;
    for task in tasks {
        admitted += usize::from(task.await.unwrap());
    }
    assert_eq!(admitted, 50);
    let health = router.health().await;
    assert_eq!(health.deployments[0].requests_in_window, 50);
    assert_eq!(health.deployments[0].tokens_in_window, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_consumer_admissions_are_exact_and_isolated() {
    let cfg = config(
        vec![group("g", vec![deployment("a", None, None, None)])],
        vec![
            consumer("a", Some(3), None, None),
            consumer("b", Some(50), None, None),
        ],
        settings(),
    );
    let (router, _clock) = router(&cfg);
    let router = Arc::new(router);
    let mut tasks = Vec::new();
    for i in 0..300 {
        let router = Arc::clone(&router);
        let who = cfg.gateway.consumers[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            let permit = router.admit_consumer(&who, 0).await.ok()?;
            router.finish_consumer(permit, Some(0)).await;
            Some(who.name)
        }));
    }
    let mut counts = (0, 0);
    for task in tasks {
        match task.await.unwrap().as_deref() {
            Some("a") => counts.0 += 1,
            Some(_) => counts.1 += 1,
            None => {}
        }
    }
    assert_eq!(counts, (3, 50));
}

#[tokio::test]
async fn consumer_refusal_names_its_limit_and_consumes_nothing() {
    let cfg = config(
        vec![group("g", vec![deployment("a", None, None, None)])],
        vec![consumer("noisy", Some(10), Some(1000), Some(1))],
        settings(),
    );
    let (router, clock) = router(&cfg);
    let noisy = &cfg.gateway.consumers[0];
    let first = router.admit_consumer(noisy, 600).await.unwrap();
    let refusal = router.admit_consumer(noisy, 100).await.unwrap_err();
    assert_eq!((refusal.limit, refusal.value), (LimitKind::Parallel, 1));
    router.finish_consumer(first, Some(900)).await;
    let refusal = router.admit_consumer(noisy, 200).await.unwrap_err();
    assert_eq!(
        (refusal.limit, refusal.value, refusal.retry_after),
        (LimitKind::Tpm, 1000, 60 * SECOND)
    );
    // Released: the failed request consumes nothing.
    let second = router.admit_consumer(noisy, 100).await.unwrap();
    router.finish_consumer(second, None).await;
    clock.advance(SECOND);
    let health = router.health().await;
    assert_eq!(
        (
            health.consumers[0].requests_in_window,
            health.consumers[0].tokens_in_window
        ),
        (1, 900)
    );
}

#[tokio::test]
async fn a_dropped_permit_releases_its_admission() {
    let cfg = config(
        vec![group("g", vec![deployment("a", None, Some(1), Some(100))])],
        vec![consumer("c", Some(1), None, Some(1))],
        settings(),
    );
    let (router, _clock) = router(&cfg);
    for _ in 0..3 {
        let consumer_permit = router
            .admit_consumer(&cfg.gateway.consumers[0], 50)
            .await
            .unwrap();
        let permit = admitted(router.select("g", 50, &[], &Needs::chat()).await);
        drop(permit);
        drop(consumer_permit);
    }
    let health = router.health().await;
    assert_eq!(
        (
            health.deployments[0].requests_in_window,
            health.deployments[0].in_flight
        ),
        (0, 0)
    );
    assert_eq!(health.consumers[0].requests_in_window, 0);
}

#[tokio::test]
async fn a_permit_dropped_after_its_call_left_keeps_its_admission() {
    let cfg = config(
        vec![group("g", vec![deployment("a", None, Some(2), Some(1000))])],
        vec![consumer("c", Some(2), None, None)],
        settings(),
    );
    let (router, _clock) = router(&cfg);
    for _ in 0..2 {
        let mut consumer_permit = router
            .admit_consumer(&cfg.gateway.consumers[0], 50)
            .await
            .unwrap();
        let mut permit = admitted(router.select("g", 50, &[], &Needs::chat()).await);
        permit.mark_sent();
        consumer_permit.mark_sent();
        // The caller hangs up while the upstream has the request.
        drop(permit);
        drop(consumer_permit);
    }
    let health = router.health().await;
    let deployment = &health.deployments[0];
    assert_eq!(
        (
            deployment.requests_in_window,
            deployment.in_flight,
            deployment.tokens_in_window
        ),
        (2, 0, 100),
        "both calls stay counted with their reservations"
    );
    assert_eq!(health.consumers[0].requests_in_window, 2);
    assert!(matches!(
        router.select("g", 50, &[], &Needs::chat()).await,
        Selection::Exhausted { .. }
    ));
    assert!(
        router
            .admit_consumer(&cfg.gateway.consumers[0], 50)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walkthrough_primary_at_3_rpm_takes_exactly_3_of_10() {
    let cfg = config(
        vec![
            group("primary", vec![deployment("p", None, Some(3), None)]),
            group("backup", vec![deployment("b", None, None, None)]),
        ],
        vec![],
        settings(),
    );
    let (router, _clock) = router(&cfg);
    let router = Arc::new(router);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let router = Arc::clone(&router);
            tokio::spawn(async move {
                let mut groups = vec!["primary".to_string()];
                groups.extend(router.fallback_groups("primary"));
                for group in groups {
                    if let Selection::Admitted(permit) =
                        router.select(&group, 0, &[], &Needs::chat()).await
                    {
                        let id = permit.deployment().id.clone();
                        router.finish(permit, success(1)).await;
                        return id;
                    }
                }
                panic!("no group admitted");
            })
        })
        .collect();
    let mut primary = 0;
    for task in tasks {
        primary += usize::from(task.await.unwrap() == "p");
    }
    assert_eq!(primary, 3);
}
