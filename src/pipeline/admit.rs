//! The checks before any deployment: the group exists, the key may use it, the request can
//! ever fit, and the consumer's own quota admits it. A refusal consumes nothing and carries
//! the limits of what refused it, for the rate-limit headers.

use super::budget::{self, BudgetHold};
use super::failure::Failure;
use super::request::{Caller, RouteRequest};
use super::trace::RateLimits;
use super::{Pipeline, Store};
use crate::content::ServiceTier;
use crate::metrics::RefusalReason;
use crate::router::{ConsumerPermit, Exceeded, LimitKind, Router};

/// A refused admission and the limits behind it.
pub(super) type Refusal = Box<(Failure, RateLimits)>;

/// What a request holds for its caller until it ends: its consumer's quota admission (none for
/// the master key or an open gateway) and its reservations in the spend budgets.
#[derive(Debug, Default)]
pub(super) struct CallerPermit {
    pub quota: Option<ConsumerPermit<Store>>,
    pub budget: BudgetHold,
}

/// Admits `request` (for the group the name `asked` resolved to, asking for `tier`): the spend
/// budgets, then its consumer's quota. A consumer's `models` may name either.
pub(super) async fn admit(
    pipeline: &Pipeline,
    request: &RouteRequest<'_>,
    asked: &str,
    tier: Option<ServiceTier>,
) -> Result<CallerPermit, Refusal> {
    let router = &pipeline.router;
    let group = request.group;
    let refuse = |failure| Err(Box::new((failure, RateLimits::default())));
    if router.group(group).is_none() {
        return refuse(Failure::UnknownModel(asked.to_owned()));
    }
    if !request.caller.may_use(asked) && !request.caller.may_use(group) {
        return refuse(Failure::Forbidden(asked.to_owned()));
    }
    // What the consumer's quota reserves: the most the request could reserve anywhere.
    let reserved = router.consumer_reservation(group, request.reservation());
    if let Some(message) = never_fits(router, request, reserved) {
        return refuse(Failure::NeverFits(message));
    }
    let store = router.store().as_ref();
    // Most requests have no budget: they skip the pricing and the store.
    let gateway_budget = pipeline.budget.as_ref();
    let budget = match budget::applies(gateway_budget, request.caller) {
        false => BudgetHold::default(),
        true => {
            let deployments = router.group(group).map_or(&[][..], |g| &g.deployments[..]);
            let reserve_usd = budget::max_cost(deployments, request, tier);
            let now = chrono::Utc::now().timestamp();
            match budget::reserve(store, gateway_budget, request.caller, reserve_usd, now).await {
                Ok(hold) => hold,
                Err(refusal) => {
                    pipeline.metrics.refusal(RefusalReason::Budget);
                    return refuse(Failure::BudgetExceeded(refusal));
                }
            }
        }
    };
    let Caller::Consumer(consumer) = request.caller else {
        return Ok(CallerPermit {
            quota: None,
            budget,
        });
    };
    match router.admit_consumer(consumer, reserved).await {
        Ok(permit) => Ok(CallerPermit {
            quota: Some(permit),
            budget,
        }),
        Err(refusal) => {
            budget::release(store, budget).await;
            pipeline.metrics.refusal(refusal_reason(refusal.limit));
            let rate = RateLimits::exceeded(&Exceeded {
                kind: refusal.limit,
                limit: refusal.value,
                retry_after: refusal.retry_after,
            });
            Err(Box::new((Failure::ConsumerLimited(refusal), rate)))
        }
    }
}

fn refusal_reason(limit: LimitKind) -> RefusalReason {
    match limit {
        LimitKind::Rpm => RefusalReason::ConsumerRpm,
        // Consumers have no day limit; counted with their minute's.
        LimitKind::Tpm | LimitKind::Tpd => RefusalReason::ConsumerTpm,
        LimitKind::Parallel => RefusalReason::ConsumerParallel,
    }
}

/// Why a request can never be served, when it reserves more than its consumer's `tpm_limit`
/// or the TPM of every deployment it could reach: waiting would never help, so a 429 would be
/// a lie. `consumer_reserved` is what the consumer's quota would reserve.
fn never_fits(
    router: &Router<Store>,
    request: &RouteRequest<'_>,
    consumer_reserved: u64,
) -> Option<String> {
    let group = request.group;
    let reservation = request.reservation();
    let consumer_limit = match request.caller {
        Caller::Consumer(c) => c.tpm_limit,
        Caller::Open | Caller::Master => None,
    };
    let (reserved, burndown, limit) = match consumer_limit
        .filter(|limit| consumer_reserved > *limit)
    {
        Some(limit) => (
            consumer_reserved,
            1,
            format!("this key's tpm_limit ({limit})"),
        ),
        None => {
            let never = router.never_fits(group, reservation)?;
            let limit = format!(
                "the tpm (or tpd) of every deployment of `{group}` and its fallbacks (at most {})",
                never.ceiling
            );
            (never.reserved, never.burndown, limit)
        }
    };
    let prompt = reservation.input;
    let output = reserved.saturating_sub(prompt) / burndown.max(1);
    let counted = match burndown {
        1 => String::new(),
        n => format!(" counted {n}× as the model's output burns its quota"),
    };
    let asked = match reservation.max_output {
        Some(_) => format!("max_tokens {output}{counted}"),
        None => format!(
            "no max_tokens, so the model's maximum output of {output}, as Bedrock reserves it{counted}"
        ),
    };
    Some(format!(
        "This request reserves {reserved} tokens ({asked}, plus about {prompt} prompt tokens), more than {limit}: it can never be served; set or lower max_tokens or shorten the prompt"
    ))
}
