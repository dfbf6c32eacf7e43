//! The checks before any deployment: the group exists, the key may use it, the request can
//! ever fit, and the consumer's own quota admits it. A refusal consumes nothing and carries
//! the limits of what refused it, for the rate-limit headers.

use super::failure::Failure;
use super::request::{Caller, RouteRequest};
use super::trace::RateLimits;
use super::{Pipeline, Store};
use crate::metrics::RefusalReason;
use crate::router::{ConsumerPermit, Exceeded, LimitKind, Router};

/// A refused admission and the limits behind it.
pub(super) type Refusal = Box<(Failure, RateLimits)>;

/// Admits `request` (for the group the name `asked` resolved to): its consumer's permit (none
/// for the master key or an open gateway). A consumer's `models` may name either.
pub(super) async fn admit(
    pipeline: &Pipeline,
    request: &RouteRequest<'_>,
    asked: &str,
) -> Result<Option<ConsumerPermit<Store>>, Refusal> {
    let router = &pipeline.router;
    let group = request.group;
    let refuse = |failure| Err(Box::new((failure, RateLimits::default())));
    if router.group(group).is_none() {
        return refuse(Failure::UnknownModel(asked.to_owned()));
    }
    if !request.caller.may_use(asked) && !request.caller.may_use(group) {
        return refuse(Failure::Forbidden(asked.to_owned()));
    }
    if let Some(message) = never_fits(router, request) {
        return refuse(Failure::NeverFits(message));
    }
    let Caller::Consumer(consumer) = request.caller else {
        return Ok(None);
    };
    match router.admit_consumer(consumer, request.reservation()).await {
        Ok(permit) => Ok(Some(permit)),
        Err(refusal) => {
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
        LimitKind::Tpm => RefusalReason::ConsumerTpm,
        LimitKind::Parallel => RefusalReason::ConsumerParallel,
    }
}

/// Why a request can never be served, when it reserves more than its consumer's `tpm_limit`
/// or the TPM of every deployment it could reach: waiting would never help, so a 429 would be
/// a lie.
fn never_fits(router: &Router<Store>, request: &RouteRequest<'_>) -> Option<String> {
    let reserved = request.reservation();
    let consumer_limit = match request.caller {
        Caller::Consumer(c) => c.tpm_limit.filter(|limit| reserved > *limit),
        Caller::Open | Caller::Master => None,
    };
    let group = request.group;
    let limit = match consumer_limit {
        Some(limit) => format!("this key's tpm_limit ({limit})"),
        None => {
            let ceiling = router.token_ceiling(group).filter(|c| reserved > *c)?;
            format!(
                "the tpm of every deployment of `{group}` and its fallbacks (at most {ceiling})"
            )
        }
    };
    let output = request.output_reservation();
    Some(format!(
        "This request reserves {reserved} tokens (max_tokens {output} plus about {} prompt tokens), more than {limit}: it can never be served; lower max_tokens or shorten the prompt",
        reserved.saturating_sub(output)
    ))
}
