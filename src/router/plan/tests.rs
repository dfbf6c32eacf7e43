//! Every path of the plan: retries, skips, fallbacks, the context-window switch, the verdicts.

use super::*;
use crate::config::{RoutingStrategy, StateStoreSettings};
use crate::router::LimitKind;

const COOLDOWN: Duration = Duration::from_secs(30);

/// `primary` falls back to `backup` (then the defaults `spare`, `backup`, `primary`);
/// a context-window error in `primary` or `backup` moves to `big`.
fn settings(num_retries: u32) -> RouterSettings {
    let list = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    RouterSettings {
        strategy: RoutingStrategy::SimpleShuffle,
        pre_call_checks: true,
        num_retries,
        retry_after: Duration::from_millis(100),
        allowed_fails: 1,
        cooldown_time: COOLDOWN,
        fallbacks: vec![("primary".into(), list(&["backup", "primary"]))],
        context_window_fallbacks: vec![
            ("primary".into(), list(&["big", "primary"])),
            ("backup".into(), list(&["primary", "big"])),
        ],
        default_fallbacks: list(&["spare", "backup", "primary"]),
        aliases: Vec::new(),
        timeout: Duration::from_secs(60),
        state: StateStoreSettings::Memory,
    }
}

fn throttled(retry_after: Option<u64>) -> ProviderError {
    ProviderError::RateLimited {
        retry_after: retry_after.map(Duration::from_secs),
        message: "slow down".into(),
    }
}

fn unavailable() -> ProviderError {
    ProviderError::Unavailable {
        message: "down".into(),
        retry_after: Some(Duration::from_secs(2)),
    }
}

fn denied() -> ProviderError {
    ProviderError::AccessDenied {
        message: "no".into(),
    }
}

fn too_long() -> ProviderError {
    ProviderError::ContextWindowExceeded {
        message: "too long".into(),
    }
}

fn select(group: &'static str, reason: Reason) -> Step<'static> {
    Step::Select { group, reason }
}

fn done(step: Step<'_>) -> PlanError {
    match step {
        Step::Done(error) => error,
        other => panic!("expected Done, got {other:?}"),
    }
}

fn keys(error: &PlanError) -> Vec<&str> {
    error
        .attempts
        .iter()
        .map(|c| c.deployment.as_str())
        .collect()
}

#[test]
fn a_transient_failure_retries_the_same_group_after_a_backoff() {
    let settings = settings(2);
    let mut plan = RoutePlan::new("primary", &settings);
    assert_eq!(plan.start(), select("primary", Reason::Start));
    let wait = Backoff {
        attempt: 0,
        upstream_retry_after: Some(Duration::from_secs(2)),
    };
    assert_eq!(plan.failed("p1", unavailable()), Step::Wait(wait));
    assert_eq!(plan.waited(), select("primary", Reason::Retry));
    let timeout = ProviderError::Timeout {
        message: "late".into(),
    };
    let wait = Backoff {
        attempt: 1,
        upstream_retry_after: None,
    };
    assert_eq!(plan.failed("p2", timeout), Step::Wait(wait));
    assert_eq!(plan.waited(), select("primary", Reason::Retry));
    let served = plan.served();
    assert_eq!(
        served,
        Counters {
            attempts: 3,
            retries: 2,
            fallbacks: 0
        }
    );
}

#[test]
fn num_retries_bounds_the_calls_per_group() {
    let settings = settings(1);
    let mut plan = RoutePlan::new("primary", &settings);
    plan.start();
    assert!(matches!(plan.failed("p1", unavailable()), Step::Wait(_)));
    plan.waited();
    // Two calls, one retry: the group is done, its fallbacks begin.
    assert_eq!(
        plan.failed("p1", unavailable()),
        select("backup", Reason::Fallback)
    );
    assert!(matches!(plan.failed("b1", unavailable()), Step::Wait(_)));
    plan.waited();
    assert_eq!(
        plan.failed("b1", unavailable()),
        select("spare", Reason::Fallback)
    );
    assert_eq!(plan.counters().retries, 2);
}

#[test]
fn throttling_retries_at_once_then_falls_back() {
    let settings = settings(1);
    let mut plan = RoutePlan::new("primary", &settings);
    plan.start();
    // The throttled deployment now cools down: no wait, the router passes it by.
    assert_eq!(
        plan.failed("p1", throttled(None)),
        select("primary", Reason::Retry)
    );
    assert_eq!(
        plan.exhausted(Some(Duration::from_secs(5)), None),
        select("backup", Reason::Fallback)
    );
    assert_eq!(
        plan.counters(),
        Counters {
            attempts: 1,
            retries: 1,
            fallbacks: 1
        }
    );
}

#[test]
fn fallbacks_join_only_when_the_requested_group_runs_out_and_none_twice() {
    let settings = settings(0);
    let mut plan = RoutePlan::new("primary", &settings);
    plan.start();
    // `backup` and `primary` repeat in the defaults: each group is entered once.
    let mut groups = vec![plan.group()];
    loop {
        match plan.exhausted(None, None) {
            Step::Select { group, reason, .. } => {
                assert_eq!(reason, Reason::Fallback);
                groups.push(group);
            }
            Step::Wait(_) => panic!("no call, no wait"),
            Step::Done(error) => {
                let retry_after = COOLDOWN;
                assert_eq!(error.verdict, Verdict::NoCapacity { retry_after });
                break;
            }
        }
    }
    assert_eq!(groups, ["primary", "backup", "spare"]);
    assert_eq!(plan.counters().fallbacks, 2);
}

#[test]
fn a_group_without_fallbacks_ends_after_itself() {
    let settings = settings(0);
    let mut plan = RoutePlan::new("spare", &settings);
    plan.start();
    // `spare` has no fallbacks of its own; the defaults minus itself follow.
    assert_eq!(
        plan.exhausted(None, None),
        select("backup", Reason::Fallback)
    );
    assert_eq!(
        plan.exhausted(None, None),
        select("primary", Reason::Fallback)
    );
    assert!(matches!(plan.exhausted(None, None), Step::Done(_)));
}

#[test]
fn access_denied_skips_the_deployment_in_its_group_only() {
    let settings = settings(0);
    let mut plan = RoutePlan::new("primary", &settings);
    plan.start();
    assert_eq!(plan.failed("p1", denied()), select("primary", Reason::Skip));
    assert_eq!(plan.skipped(), ["p1"]);
    let missing = ProviderError::Misconfigured {
        message: "unknown model id".into(),
    };
    assert_eq!(plan.failed("p2", missing), select("primary", Reason::Skip));
    assert_eq!(plan.skipped(), ["p1", "p2"]);
    assert_eq!(
        plan.exhausted(None, None),
        select("backup", Reason::Fallback)
    );
    assert!(plan.skipped().is_empty(), "a new group skips nothing");
    assert_eq!(plan.counters().retries, 0);
}

#[test]
fn a_context_window_error_switches_to_its_fallbacks_once() {
    let settings = settings(2);
    let mut plan = RoutePlan::new("primary", &settings);
    plan.start();
    // The pending fallbacks go; only the context-window ones are left.
    assert_eq!(
        plan.failed("p1", too_long()),
        select("big", Reason::Fallback)
    );
    let error = done(plan.failed("g1", too_long()));
    assert_eq!(error.verdict, Verdict::Failed(too_long()));
    assert_eq!(keys(&error), ["p1", "g1"]);
}

#[test]
fn a_context_window_switch_enters_no_group_twice() {
    let settings = settings(0);
    let mut plan = RoutePlan::new("primary", &settings);
    plan.start();
    assert_eq!(
        plan.exhausted(None, None),
        select("backup", Reason::Fallback)
    );
    // `backup` lists `primary` first, already visited.
    assert_eq!(
        plan.failed("b1", too_long()),
        select("big", Reason::Fallback)
    );
    assert_eq!(plan.counters().fallbacks, 2);
}

#[test]
fn a_context_window_error_without_fallbacks_ends_with_it() {
    let settings = settings(2);
    let mut plan = RoutePlan::new("spare", &settings);
    plan.start();
    let error = done(plan.failed("s1", too_long()));
    assert_eq!(error.verdict, Verdict::Failed(too_long()));
}

#[test]
fn a_client_error_stops_at_once() {
    let settings = settings(2);
    let mut plan = RoutePlan::new("primary", &settings);
    plan.start();
    plan.failed("p1", unavailable());
    plan.waited();
    let bad = ProviderError::BadRequest {
        param: None,
        message: "bad".into(),
    };
    let error = done(plan.failed("p2", bad.clone()));
    assert_eq!(error.verdict, Verdict::ClientError(bad));
    assert_eq!(error.nearest_limit, None);
    assert_eq!(keys(&error), ["p1", "p2"]);
    assert_eq!(plan.counters().attempts, 2);
}

#[test]
fn a_request_never_sent_is_no_attempt() {
    let settings = settings(2);
    let mut plan = RoutePlan::new("primary", &settings);
    plan.start();
    let unsupported = ProviderError::bad_param("n", "only n=1");
    let error = done(plan.failed("p1", unsupported.clone()));
    assert_eq!(error.verdict, Verdict::ClientError(unsupported));
    assert_eq!(plan.counters().attempts, 0);
}

#[test]
fn throttled_everywhere_comes_back_at_the_earliest_capacity() {
    let settings = settings(0);
    let mut plan = RoutePlan::new("primary", &settings);
    plan.start();
    let limit = |secs| Exceeded {
        kind: LimitKind::Rpm,
        limit: 10,
        retry_after: Duration::from_secs(secs),
    };
    plan.exhausted(Some(Duration::from_secs(9)), Some(limit(9)));
    plan.exhausted(Some(Duration::from_secs(4)), Some(limit(4)));
    let error = done(plan.failed("s1", throttled(Some(6))));
    let retry_after = Duration::from_secs(4);
    assert_eq!(error.verdict, Verdict::NoCapacity { retry_after });
    assert_eq!(error.nearest_limit, Some(limit(4)));
}

#[test]
fn throttled_with_no_capacity_seen_comes_back_when_the_upstream_said() {
    let settings = settings(0);
    let mut plan = RoutePlan::new("spare", &settings);
    plan.start();
    plan.failed("s1", throttled(Some(6)));
    plan.exhausted(None, None);
    let error = done(plan.exhausted(None, None));
    let retry_after = Duration::from_secs(6);
    assert_eq!(error.verdict, Verdict::NoCapacity { retry_after });
    // Said nothing: the cooldown the throttling started.
    let mut plan = RoutePlan::new("spare", &settings);
    plan.start();
    plan.failed("s1", throttled(None));
    plan.exhausted(None, None);
    let error = done(plan.exhausted(None, None));
    let retry_after = COOLDOWN;
    assert_eq!(error.verdict, Verdict::NoCapacity { retry_after });
}

#[test]
fn the_last_error_speaks_and_every_call_is_kept_in_order() {
    let settings = settings(0);
    let mut plan = RoutePlan::new("primary", &settings);
    plan.start();
    plan.failed("p1", throttled(None));
    plan.failed("b1", denied());
    plan.exhausted(None, None);
    let error = done(plan.failed("s1", unavailable()));
    assert_eq!(error.verdict, Verdict::Failed(unavailable()));
    assert_eq!(keys(&error), ["p1", "b1", "s1"]);
    let errors: Vec<&ProviderError> = error.attempts.iter().map(|c| &c.error).collect();
    assert_eq!(errors, [&throttled(None), &denied(), &unavailable()]);
    let line = error.to_string();
    assert!(
        line.starts_with("upstream unavailable: down; calls: p1: "),
        "{line}"
    );
}

#[test]
fn outcomes_cool_down_only_on_throttling() {
    let retry_after = Some(Duration::from_secs(7));
    assert_eq!(
        outcome_of(&ProviderError::RateLimited {
            retry_after,
            message: String::new()
        }),
        Outcome::RateLimited { retry_after }
    );
    assert_eq!(
        outcome_of(&ProviderError::Timeout {
            message: String::new()
        }),
        Outcome::Failed
    );
    // Refused by our own conversion: never sent, so it consumes nothing.
    assert_eq!(
        outcome_of(&ProviderError::bad_param("n", "x")),
        Outcome::NotSent
    );
    let upstream_400 = ProviderError::BadRequest {
        param: None,
        message: "bad".into(),
    };
    assert_eq!(outcome_of(&upstream_400), Outcome::ClientError);
}

#[test]
fn every_error_kind_has_its_action() {
    let message = || "m".to_owned();
    let table = [
        (throttled(None), Action::Retry { backoff: false }),
        (unavailable(), Action::Retry { backoff: true }),
        (
            ProviderError::Timeout { message: message() },
            Action::Retry { backoff: true },
        ),
        (
            ProviderError::Upstream { message: message() },
            Action::Retry { backoff: true },
        ),
        (denied(), Action::SkipDeployment),
        (
            ProviderError::NotFound { message: message() },
            Action::SkipDeployment,
        ),
        (
            ProviderError::Misconfigured { message: message() },
            Action::SkipDeployment,
        ),
        (too_long(), Action::ContextWindow),
        (
            ProviderError::BadRequest {
                param: None,
                message: message(),
            },
            Action::Stop,
        ),
        (ProviderError::bad_param("n", "x"), Action::Stop),
    ];
    // One row per ProviderError variant.
    assert_eq!(table.len(), 10);
    for (error, expected) in table {
        assert_eq!(action(&error), expected, "{error:?}");
    }
}

#[test]
fn a_skipped_call_counts_against_num_retries() {
    let settings = settings(1);
    let mut plan = RoutePlan::new("primary", &settings);
    plan.start();
    plan.failed("p1", denied());
    // Two calls in the group already: a transient failure moves on instead of retrying.
    assert_eq!(
        plan.failed("p2", unavailable()),
        select("backup", Reason::Fallback)
    );
}

#[test]
fn the_earliest_refusal_wins() {
    let at = |secs| Exceeded {
        kind: LimitKind::Tpm,
        limit: secs,
        retry_after: Duration::from_secs(secs),
    };
    let chosen = [at(30), at(5), at(40)]
        .into_iter()
        .fold(None, |seen, limit| nearer(seen, Some(limit)))
        .map(|e| e.limit);
    assert_eq!(chosen, Some(5));
}

fn embedding_only() -> Unfit {
    Unfit::Mode {
        needed: crate::config::Mode::Chat,
        served: crate::config::Mode::Embedding,
    }
}

#[test]
fn an_unfit_group_is_passed_like_a_full_one() {
    let settings = settings(0);
    let mut plan = RoutePlan::new("primary", &settings);
    plan.start();
    assert_eq!(
        plan.unfit(embedding_only()),
        select("backup", Reason::Fallback)
    );
    // The fallback is full: the chain ends in a 429, not in the unfit group's client error.
    let step = plan.exhausted(Some(Duration::from_secs(4)), None);
    assert_eq!(step, select("spare", Reason::Fallback));
    let error = done(plan.exhausted(None, None));
    assert_eq!(
        error.verdict,
        Verdict::NoCapacity {
            retry_after: Duration::from_secs(4)
        }
    );
}

#[test]
fn a_chain_where_nothing_can_serve_ends_in_unfit_naming_the_first_group() {
    let settings = settings(0);
    let mut plan = RoutePlan::new("primary", &settings);
    plan.start();
    plan.unfit(embedding_only());
    plan.unfit(Unfit::Feature(crate::config::Feature::Images));
    let error = done(plan.unfit(embedding_only()));
    assert_eq!(
        error.verdict,
        Verdict::Unfit {
            group: "primary".into(),
            reason: embedding_only()
        }
    );
    assert_eq!(
        error.to_string(),
        "no deployment of primary can serve the request: it serves embedding calls (model_info.mode), not chat"
    );
    assert_eq!(plan.counters().attempts, 0);
}

#[test]
fn a_failed_call_outweighs_an_unfit_group() {
    let settings = settings(0);
    let mut plan = RoutePlan::new("primary", &settings);
    plan.start();
    assert_eq!(
        plan.failed("p1", unavailable()),
        select("backup", Reason::Fallback)
    );
    plan.unfit(embedding_only());
    let error = done(plan.unfit(embedding_only()));
    assert_eq!(error.verdict, Verdict::Failed(unavailable()));
}
