//! The one fallback loop, for streaming and non-streaming requests alike.
//!
//! 1. Admit the consumer against its own quota (refused: 429 naming its limit, nothing consumed).
//! 2. Walk the chain: the requested group, then its fallbacks (then `default_fallbacks`).
//! 3. In each group, ask the router for a deployment (strategy order, cooldowns, exact limits
//!    reserved atomically). Exhausted: the next group.
//! 4. Call it within the deployment's timeout (a stream counts as answered at its first content
//!    event: a failure or a stall before it fails over like any call).
//!    Success: done. Failure: report the outcome to the router (cooldowns, allowed fails), then
//!    [`next_step`] decides: retry in the group (with backoff unless the deployment was throttled
//!    and is now cooling), skip that deployment, switch to the context-window fallbacks, or stop.
//! 5. Nothing left: the last upstream error, or 429 with `Retry-After` = the earliest capacity.
//!
//! A request that never reached an upstream releases its consumer admission: it consumes nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::auth::Caller;
use super::error::ApiError;
use super::metrics::{CallResult, RefusalReason};
use super::ratelimit::{self, RateLimitHeaders};
use super::state::{AppState, Store};
use crate::config::Deployment;
use crate::openai::ChatRequest;
use crate::provider::{ChunkStream, Completion, Provider, ProviderError};
use crate::router::{
    ConsumerPermit, DeploymentPermit, DeploymentRefusal, Exceeded, LimitKind, Outcome, Remaining,
    Selection,
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

/// What to do after a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Try the group again; `backoff` says whether to wait first.
    Retry { backoff: bool },
    /// This deployment cannot serve the request (access denied, model missing or misconfigured,
    /// bad credentials): try the others.
    SkipDeployment,
    /// The prompt is too long for this group: try the context-window fallbacks.
    ContextWindow,
    /// The client's mistake: answer it now.
    Stop,
}

/// The decision after `error`; exhaustive so a new error kind forces a decision here.
pub fn next_step(error: &ProviderError) -> Step {
    match error {
        // The deployment is now cooling down; the router will skip it without waiting.
        ProviderError::RateLimited { .. } => Step::Retry { backoff: false },
        ProviderError::Unavailable { .. }
        | ProviderError::Timeout { .. }
        | ProviderError::Upstream { .. } => Step::Retry { backoff: true },
        ProviderError::AccessDenied { .. }
        | ProviderError::NotFound { .. }
        | ProviderError::Misconfigured { .. } => Step::SkipDeployment,
        ProviderError::ContextWindowExceeded { .. } => Step::ContextWindow,
        ProviderError::BadRequest { .. } | ProviderError::Unsupported { .. } => Step::Stop,
    }
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
    if router.group(requested).is_none() {
        return Err((ApiError::unknown_model(requested), trace));
    }
    if !caller.may_use(requested) {
        let message = format!("this key may not use the model `{requested}`");
        return Err((ApiError::forbidden(message), trace));
    }
    let estimated = request.estimated_input_tokens().saturating_add(
        request
            .max_output_tokens()
            .unwrap_or(DEFAULT_OUTPUT_RESERVATION),
    );
    if let Some(error) = never_fits(router, caller, requested, request, estimated) {
        return Err((error, trace));
    }
    let mut consumer = match caller {
        Caller::Consumer(c) => match router.admit_consumer(c, estimated).await {
            Ok(permit) => Some(permit),
            Err(refusal) => {
                state.metrics.refusal(refusal_reason(refusal.limit));
                trace.rate = RateLimitHeaders::exceeded(&Exceeded {
                    kind: refusal.limit,
                    limit: refusal.value,
                    retry_after: refusal.retry_after,
                });
                return Err((ApiError::consumer_limited(&refusal), trace));
            }
        },
        Caller::Open | Caller::Master => None,
    };

    let deadline = Instant::now() + settings.timeout;
    // The fallbacks join the chain only once the requested group has nothing left: most
    // requests never need them, so they cost nothing on the common path.
    let mut chain: Vec<String> = vec![requested.to_string()];
    let mut fallbacks_added = false;
    let mut switched_to_context_fallbacks = false;
    let mut last_error: Option<ProviderError> = None;
    let mut earliest_capacity: Option<Duration> = None;
    let mut earliest_limit: Option<Exceeded> = None;
    let mut index = 0;

    'groups: while index < chain.len() {
        let group = chain[index].clone();
        if index > 0 {
            trace.fallbacks += 1;
            state.metrics.fallback(&group);
        }
        let mut skipped: Vec<String> = Vec::new();
        let mut group_attempts = 0u32;
        loop {
            let now = Instant::now();
            if now >= deadline {
                release_consumer(state, consumer, trace.attempts).await;
                return Err((ApiError::request_timeout(), trace));
            }
            let skipped_refs: Vec<&str> = skipped.iter().map(String::as_str).collect();
            let mut permit = match router.select(&group, estimated, &skipped_refs).await {
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
                    earliest_capacity = min_duration(earliest_capacity, retry_after);
                    earliest_limit = refusals
                        .iter()
                        .filter_map(|(_, r)| match r {
                            DeploymentRefusal::OverLimit(e) => Some(*e),
                            _ => None,
                        })
                        .fold(earliest_limit, ratelimit::earliest);
                    break;
                }
                Selection::UnknownGroup => break,
            };
            let deployment = Arc::clone(permit.deployment());
            trace.attempts += 1;
            group_attempts += 1;
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
            let call_started = Instant::now();
            match call(state, &deployment, request, shape, budget).await {
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
                    fill_trace(&mut trace, &group, &deployment, permit.remaining());
                    router
                        .finish(
                            permit,
                            Outcome::Success {
                                latency,
                                input_tokens: input,
                                output_tokens: output,
                            },
                        )
                        .await;
                    return Ok(Served {
                        answer: Answer::Complete(completion),
                        trace,
                        consumer,
                    });
                }
                Ok(CallAnswer::Stream(stream)) => {
                    fill_trace(&mut trace, &group, &deployment, permit.remaining());
                    let answer = Answer::Stream {
                        stream,
                        permit,
                        call_started,
                        idle_timeout: budget,
                    };
                    return Ok(Served {
                        answer,
                        trace,
                        consumer,
                    });
                }
                Err(error) => {
                    let outcome = crate::router::outcome_of(&error);
                    let sent = call_result(&outcome);
                    match sent {
                        Some(result) => {
                            state
                                .metrics
                                .call(&deployment.key, result, call_started.elapsed())
                        }
                        None => trace.attempts -= 1,
                    }
                    router.finish(permit, outcome).await;
                    log_failure(&deployment.id, &group, &error);
                    match next_step(&error) {
                        Step::Stop => {
                            let used = sent.map(|_| 0);
                            finish_consumer(state, consumer, used).await;
                            return Err((ApiError::from_provider(&error), trace));
                        }
                        Step::ContextWindow => {
                            let targets = router.context_window_fallback_groups(&group);
                            last_error = Some(error);
                            if switched_to_context_fallbacks || targets.is_empty() {
                                break 'groups;
                            }
                            switched_to_context_fallbacks = true;
                            fallbacks_added = true;
                            chain.truncate(index + 1);
                            chain.extend(targets);
                            break;
                        }
                        Step::SkipDeployment => {
                            skipped.push(deployment.key.clone());
                            last_error = Some(error);
                        }
                        Step::Retry { backoff } => {
                            let retry_after = error.retry_after();
                            last_error = Some(error);
                            if group_attempts > settings.num_retries {
                                break;
                            }
                            trace.retries += 1;
                            state.metrics.retry();
                            if backoff {
                                let wait = router
                                    .backoff(trace.retries - 1, retry_after)
                                    .min(deadline.saturating_duration_since(Instant::now()));
                                tokio::time::sleep(wait).await;
                            }
                        }
                    }
                }
            }
        }
        index += 1;
        if index == chain.len() && !fallbacks_added {
            fallbacks_added = true;
            chain.extend(router.fallback_groups(requested));
        }
    }

    let attempts = trace.attempts;
    release_consumer(state, consumer, attempts).await;
    // A 429 always says when to come back: when the earliest capacity frees up, else when the
    // cooldown the throttling just started ends.
    let come_back = |upstream: Option<Duration>| {
        min_duration(earliest_capacity, upstream).or(Some(settings.cooldown_time))
    };
    if let Some(limit) = earliest_limit {
        trace.rate = RateLimitHeaders::exceeded(&limit);
    }
    let error = match last_error {
        // Throttled everywhere: say when capacity frees up, like a refusal at admission.
        Some(ProviderError::RateLimited { retry_after, .. }) => {
            state.metrics.refusal(RefusalReason::NoCapacity);
            ApiError::no_capacity(requested, come_back(retry_after))
        }
        Some(other) => ApiError::from_provider(&other),
        None => {
            state.metrics.refusal(RefusalReason::NoCapacity);
            ApiError::no_capacity(requested, come_back(None))
        }
    };
    Err((error, trace))
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

fn min_duration(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_retries_without_waiting_and_client_errors_stop() {
        let throttled = ProviderError::RateLimited {
            retry_after: None,
            message: String::new(),
        };
        assert_eq!(next_step(&throttled), Step::Retry { backoff: false });
        assert_eq!(
            next_step(&ProviderError::Unavailable {
                message: String::new(),
                retry_after: None,
            }),
            Step::Retry { backoff: true }
        );
        assert_eq!(
            next_step(&ProviderError::bad_param("temperature", "bad")),
            Step::Stop
        );
        assert_eq!(
            next_step(&ProviderError::ContextWindowExceeded {
                message: String::new()
            }),
            Step::ContextWindow
        );
        assert_eq!(
            next_step(&ProviderError::AccessDenied {
                message: String::new()
            }),
            Step::SkipDeployment
        );
        assert_eq!(
            next_step(&ProviderError::Misconfigured {
                message: String::new()
            }),
            Step::SkipDeployment
        );
    }
}
