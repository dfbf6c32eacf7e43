//! Runs a request's [`RoutePlan`], for streaming and non-streaming requests alike: the plan
//! decides (which group, retry, wait, skip, fall back, give up), this loop does the I/O.
//!
//! 1. Admit the consumer against its own quota (refused: 429 naming its limit, nothing consumed);
//!    a request that could never fit any limit is a 400 first.
//! 2. For each [`PlanStep::Select`]: ask the router for a deployment of the group (strategy
//!    order, cooldowns, exact limits reserved atomically); none: tell the plan it is exhausted.
//! 3. Call it within the deployment's timeout (a stream counts as answered at its first content
//!    event: a failure or a stall before it fails over like any call). Success: done. Failure:
//!    report the outcome to the router (cooldowns, allowed fails) and the error to the plan.
//! 4. [`PlanStep::Wait`]: sleep the backoff (capped by the deadline). [`PlanStep::Done`]: the
//!    verdict becomes the client's error, every failed call goes on one log line.
//!
//! A request that never reached an upstream releases its consumer admission: it consumes nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::auth::Caller;
use super::error::ApiError;
use super::metrics::{CallResult, RefusalReason};
use super::ratelimit::RateLimitHeaders;
use super::state::{AppState, Store};
use crate::config::Deployment;
use crate::openai::ChatRequest;
use crate::provider::{ChunkStream, Completion, Provider, ProviderError};
use crate::router::{
    ConsumerPermit, Counters, DeploymentPermit, DeploymentRefusal, Exceeded, LimitKind, Outcome,
    PlanError, Reason, Remaining, RoutePlan, Selection, Step as PlanStep, Verdict,
};

/// Output tokens reserved against TPM when a request sets no `max_tokens`.
pub const DEFAULT_OUTPUT_RESERVATION: u64 = 1024;

/// Whether the client asked for a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Complete,
    Stream,
}

/// What the upstream answered.
pub enum Answer {
    Complete(Completion),
    /// The stream, already past its first event; the permits travel with it.
    Stream {
        stream: ChunkStream,
        permit: DeploymentPermit<Store>,
        call_started: Instant,
        idle_timeout: Duration,
    },
}

/// Where a request went, for the response headers.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    pub requested_group: String,
    pub group: String,
    pub deployment: String,
    pub model: String,
    pub attempts: u32,
    pub retries: u32,
    pub fallbacks: u32,
    /// The rate-limit headers: the serving deployment's, or the limit that refused.
    pub rate: RateLimitHeaders,
}

/// A served request.
pub struct Served {
    pub answer: Answer,
    pub trace: Trace,
    pub consumer: Option<ConsumerPermit<Store>>,
}

/// The calls-metric label of an outcome; `None` for a call never sent.
fn call_result(outcome: &Outcome) -> Option<CallResult> {
    match outcome {
        Outcome::Success { .. } => Some(CallResult::Success),
        Outcome::RateLimited { .. } => Some(CallResult::RateLimited),
        Outcome::Failed => Some(CallResult::Failed),
        Outcome::ClientError => Some(CallResult::ClientError),
        Outcome::NotSent => None,
    }
}

fn refusal_reason(limit: LimitKind) -> RefusalReason {
    match limit {
        LimitKind::Rpm => RefusalReason::ConsumerRpm,
        LimitKind::Tpm => RefusalReason::ConsumerTpm,
        LimitKind::Parallel => RefusalReason::ConsumerParallel,
    }
}

/// Serves `request` for `caller`: the whole fallback loop.
pub async fn dispatch(
    state: &Arc<AppState>,
    caller: Caller<'_>,
    request: &ChatRequest,
    shape: Shape,
) -> Result<Served, (ApiError, Trace)> {
    let router = &state.router;
    let settings = router.settings();
    let requested = request.model.as_str();
    let mut trace = Trace {
        requested_group: requested.to_string(),
        ..Trace::default()
    };
    let (estimated, mut consumer) = match admit(state, caller, request).await {
        Ok(admitted) => admitted,
        Err(error) => {
            let (error, rate) = *error;
            trace.rate = rate;
            return Err((error, trace));
        }
    };

    let deadline = Instant::now() + settings.timeout;
    let mut plan = RoutePlan::new(requested, settings);
    let mut step = plan.start();
    loop {
        let group = match step {
            PlanStep::Select { group, reason } => {
                count_reason(state, group, reason);
                group
            }
            PlanStep::Wait(backoff) => {
                let wait = router
                    .backoff(backoff.attempt, backoff.upstream_retry_after)
                    .min(deadline.saturating_duration_since(Instant::now()));
                tokio::time::sleep(wait).await;
                step = plan.waited();
                continue;
            }
            PlanStep::Done(failure) => {
                count_trace(&mut trace, plan.counters());
                return Err(conclude(state, requested, consumer, failure, trace).await);
            }
        };
        let now = Instant::now();
        if now >= deadline {
            count_trace(&mut trace, plan.counters());
            release_consumer(state, consumer, trace.attempts).await;
            return Err((ApiError::request_timeout(), trace));
        }
        let skipped: Vec<&str> = plan.skipped().iter().map(String::as_str).collect();
        let mut permit = match router.select(group, estimated, &skipped).await {
            Selection::Admitted(permit) => {
                count_skips(state, permit.skipped());
                state.metrics.admission(&permit.deployment().key);
                permit
            }
            Selection::Exhausted {
                retry_after,
                refusals,
            } => {
                count_skips(state, &refusals);
                step = plan.exhausted(retry_after, over_limits(&refusals));
                continue;
            }
            Selection::UnknownGroup => {
                step = plan.exhausted(None, None::<Exceeded>);
                continue;
            }
        };
        let deployment = Arc::clone(permit.deployment());
        let budget = deployment
            .timeout
            .unwrap_or(settings.timeout)
            .min(deadline - now);
        // If the caller hangs up from here on, the dropped permits keep the admission: the
        // upstream may already have counted the call.
        permit.mark_sent();
        if let Some(consumer) = consumer.as_mut() {
            consumer.mark_sent();
        }
        let target = Target {
            group,
            deployment: &deployment,
            budget,
        };
        let answer = match attempt(state, permit, target, request, shape, &mut trace).await {
            Ok(answer) => answer,
            Err(error) => {
                step = plan.failed(&deployment.key, error);
                continue;
            }
        };
        count_trace(&mut trace, plan.served());
        return Ok(Served {
            answer,
            trace,
            consumer,
        });
    }
}

/// The checks before any deployment: the group exists, the key may use it, the request can
/// ever fit, and the consumer's own quota admits it (its reservation: `estimated` tokens).
/// A refusal carries the rate-limit headers of the limit that refused.
async fn admit<'a>(
    state: &'a AppState,
    caller: Caller<'a>,
    request: &ChatRequest,
) -> Result<(u64, Option<ConsumerPermit<Store>>), Box<(ApiError, RateLimitHeaders)>> {
    let router = &state.router;
    let requested = request.model.as_str();
    let refuse = |error| Err(Box::new((error, RateLimitHeaders::default())));
    if router.group(requested).is_none() {
        return refuse(ApiError::unknown_model(requested));
    }
    if !caller.may_use(requested) {
        let message = format!("this key may not use the model `{requested}`");
        return refuse(ApiError::forbidden(message));
    }
    let estimated = request.estimated_input_tokens().saturating_add(
        request
            .max_output_tokens()
            .unwrap_or(DEFAULT_OUTPUT_RESERVATION),
    );
    if let Some(error) = never_fits(router, caller, requested, request, estimated) {
        return refuse(error);
    }
    let Caller::Consumer(c) = caller else {
        return Ok((estimated, None));
    };
    match router.admit_consumer(c, estimated).await {
        Ok(permit) => Ok((estimated, Some(permit))),
        Err(refusal) => {
            state.metrics.refusal(refusal_reason(refusal.limit));
            let rate = RateLimitHeaders::exceeded(&Exceeded {
                kind: refusal.limit,
                limit: refusal.value,
                retry_after: refusal.retry_after,
            });
            Err(Box::new((ApiError::consumer_limited(&refusal), rate)))
        }
    }
}

/// Where one call goes: the group it was selected in, the deployment, its time budget.
struct Target<'a> {
    group: &'a str,
    deployment: &'a Arc<Deployment>,
    budget: Duration,
}

/// One call to the admitted deployment: the answer (the trace filled in), or the error after
/// the router has been told how the call ended and the failure has been logged.
async fn attempt(
    state: &AppState,
    permit: DeploymentPermit<Store>,
    target: Target<'_>,
    request: &ChatRequest,
    shape: Shape,
    trace: &mut Trace,
) -> Result<Answer, ProviderError> {
    let Target {
        group,
        deployment,
        budget,
    } = target;
    let call_started = Instant::now();
    match call(state, deployment, request, shape, budget).await {
        Ok(CallAnswer::Complete(completion)) => {
            let latency = call_started.elapsed();
            let (input, output) = completion
                .usage
                .as_ref()
                .map_or((0, 0), |u| (u.prompt_tokens, u.completion_tokens));
            state
                .metrics
                .call(&deployment.key, CallResult::Success, latency);
            state.metrics.tokens(&deployment.key, input, output);
            fill_trace(trace, group, deployment, permit.remaining());
            let outcome = Outcome::Success {
                latency,
                input_tokens: input,
                output_tokens: output,
            };
            state.router.finish(permit, outcome).await;
            Ok(Answer::Complete(completion))
        }
        Ok(CallAnswer::Stream(stream)) => {
            fill_trace(trace, group, deployment, permit.remaining());
            Ok(Answer::Stream {
                stream,
                permit,
                call_started,
                idle_timeout: budget,
            })
        }
        Err(error) => {
            let outcome = crate::router::outcome_of(&error);
            if let Some(result) = call_result(&outcome) {
                let latency = call_started.elapsed();
                state.metrics.call(&deployment.key, result, latency);
            }
            state.router.finish(permit, outcome).await;
            log_failure(&deployment.id, group, &error);
            Err(error)
        }
    }
}

/// The metrics of why the plan selects again: a retry, or a fallback group entered.
fn count_reason(state: &AppState, group: &str, reason: Reason) {
    match reason {
        Reason::Retry => state.metrics.retry(),
        Reason::Fallback => state.metrics.fallback(group),
        Reason::Start | Reason::Skip => {}
    }
}

fn count_trace(trace: &mut Trace, counters: Counters) {
    trace.attempts = counters.attempts;
    trace.retries = counters.retries;
    trace.fallbacks = counters.fallbacks;
}

/// The deployment limits among `refusals` (not cooldowns), for the rate-limit headers.
fn over_limits(refusals: &[(String, DeploymentRefusal)]) -> impl Iterator<Item = Exceeded> + '_ {
    refusals.iter().filter_map(|(_, r)| match r {
        DeploymentRefusal::OverLimit(e) => Some(*e),
        DeploymentRefusal::CoolingDown { .. } | DeploymentRefusal::ProbeInFlight => None,
    })
}

/// Answers a request the plan gave up on: settles the consumer (a request that reached an
/// upstream keeps its admission; one that reached none consumes nothing), logs every failed
/// call on one line, and turns the verdict into the client's error.
async fn conclude(
    state: &AppState,
    requested: &str,
    consumer: Option<ConsumerPermit<Store>>,
    failure: PlanError,
    mut trace: Trace,
) -> (ApiError, Trace) {
    if !failure.attempts.is_empty() {
        tracing::info!(model_group = %requested, failure = %failure, "no deployment answered");
    }
    if let Some(limit) = failure.nearest_limit {
        trace.rate = RateLimitHeaders::exceeded(&limit);
    }
    let error = match &failure.verdict {
        Verdict::ClientError(error) => {
            // The call that got the client's error was sent unless our own conversion refused it.
            let sent = call_result(&crate::router::outcome_of(error)).is_some();
            finish_consumer(state, consumer, sent.then_some(0)).await;
            return (ApiError::from_provider(error), trace);
        }
        Verdict::NoCapacity { retry_after } => {
            state.metrics.refusal(RefusalReason::NoCapacity);
            ApiError::no_capacity(requested, Some(*retry_after))
        }
        Verdict::Failed(error) => ApiError::from_provider(error),
    };
    release_consumer(state, consumer, trace.attempts).await;
    (error, trace)
}

/// A 400 when a request of `estimated` tokens exceeds its consumer's `tpm_limit`, or the TPM
/// of every deployment it could reach: waiting would never help, so a 429 would be a lie.
fn never_fits(
    router: &crate::router::Router<Store>,
    caller: Caller<'_>,
    group: &str,
    request: &ChatRequest,
    estimated: u64,
) -> Option<ApiError> {
    let consumer_limit = match caller {
        Caller::Consumer(c) => c.tpm_limit.filter(|limit| estimated > *limit),
        Caller::Open | Caller::Master => None,
    };
    let limit = match consumer_limit {
        Some(limit) => format!("this key's tpm_limit ({limit})"),
        None => {
            let ceiling = router.token_ceiling(group).filter(|c| estimated > *c)?;
            format!(
                "the tpm of every deployment of `{group}` and its fallbacks (at most {ceiling})"
            )
        }
    };
    let output = request
        .max_output_tokens()
        .unwrap_or(DEFAULT_OUTPUT_RESERVATION);
    Some(ApiError::never_fits(format!(
        "This request reserves {estimated} tokens (max_tokens {output} plus about {} prompt tokens), more than {limit}: it can never be served; lower max_tokens or shorten the prompt",
        estimated.saturating_sub(output)
    )))
}

/// Logs a failed upstream call: at WARN when it says the deployment's configuration is wrong
/// (access denied, unknown model id, bad credentials), which only an operator can fix.
fn log_failure(deployment: &str, group: &str, error: &ProviderError) {
    if error.is_misconfiguration() {
        tracing::warn!(deployment = %deployment, group = %group, error = %error, "deployment misconfigured: upstream refused it; skipping it until the config is fixed");
    } else {
        tracing::info!(deployment = %deployment, group = %group, error = %error, "upstream call failed");
    }
}

fn count_skips(state: &AppState, skipped: &[(String, DeploymentRefusal)]) {
    for (id, refusal) in skipped {
        state.metrics.skip(id, refusal.reason());
    }
}

fn fill_trace(trace: &mut Trace, group: &str, deployment: &Deployment, remaining: Remaining) {
    trace.rate = RateLimitHeaders::served(deployment, remaining);
    trace.group = group.to_string();
    trace.deployment = deployment.id.clone();
    trace.model = deployment.model.clone();
}

/// A request that reached no upstream consumes nothing of the consumer's quota.
async fn release_consumer(
    state: &AppState,
    consumer: Option<ConsumerPermit<Store>>,
    attempts: u32,
) {
    finish_consumer(state, consumer, (attempts > 0).then_some(0)).await;
}

/// Settles the consumer's admission with the tokens used (`None`: release it).
pub async fn finish_consumer(
    state: &AppState,
    consumer: Option<ConsumerPermit<Store>>,
    tokens: Option<u64>,
) {
    if let Some(permit) = consumer {
        state.router.finish_consumer(permit, tokens).await;
    }
}

enum CallAnswer {
    Complete(Completion),
    Stream(ChunkStream),
}

/// One upstream call within `budget` (for a stream: until its first content event).
async fn call(
    state: &AppState,
    deployment: &Deployment,
    request: &ChatRequest,
    shape: Shape,
    budget: Duration,
) -> Result<CallAnswer, ProviderError> {
    let drop_params = state.config.gateway.drop_params;
    let timed_out = || ProviderError::Timeout {
        message: format!("no answer within {:.1}s", budget.as_secs_f64()),
    };
    match shape {
        Shape::Complete => tokio::time::timeout(
            budget,
            state.providers.complete(deployment, request, drop_params),
        )
        .await
        .map_err(|_| timed_out())?
        .map(CallAnswer::Complete),
        Shape::Stream => tokio::time::timeout(
            budget,
            state.providers.stream(deployment, request, drop_params),
        )
        .await
        .map_err(|_| timed_out())?
        .map(CallAnswer::Stream),
    }
}
