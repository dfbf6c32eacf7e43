//! [`Pipeline::serve`]: runs a request's [`RoutePlan`], for streaming and non-streaming
//! requests alike. The plan decides (which group, retry, wait, skip, fall back, give up); this
//! loop does the I/O: select, call, sleep, and the request's deadline.
//!
//! A request that never reached an upstream releases its consumer admission: it consumes
//! nothing. One whose calls all failed keeps it (the upstreams may have counted them).

use std::sync::Arc;
use std::time::Instant;

use super::admit::{CallerPermit, admit};
use super::call::{Attempt, attempt, call_result};
use super::failure::Failure;
use super::relay::StreamAnswer;
use super::request::RouteRequest;
use super::trace::{RateLimits, Trace};
use super::{Body, Pipeline};
use crate::config::Deployment;
use crate::metrics::RefusalReason;
use crate::observe::{self, AttemptReason};
use crate::provider::Completion;
use crate::router::{
    DeploymentRefusal, Exceeded, PlanError, Reason, Remaining, RoutePlan, Selection, Step, Verdict,
    outcome_of,
};

/// What the upstream answered.
pub enum Answer {
    /// The whole reply; its call is already settled.
    Complete(Completion),
    /// A stream past its first event, to relay; it settles at its end. Boxed: it carries the
    /// settlement, and a complete answer (the common case) need not be moved at its size.
    Stream(Box<StreamAnswer>),
}

/// A served request.
pub struct Served {
    pub answer: Answer,
    pub trace: Trace,
}

/// A request that got no answer: why, and the route it took.
#[derive(Debug)]
pub struct Refused {
    pub failure: Failure,
    pub trace: Trace,
}

/// One request's run: what every selection and call of it shares.
struct Run<'r> {
    request: &'r RouteRequest<'r>,
    body: Body<'r>,
    started: Instant,
    deadline: Instant,
}

/// How one selection in a group ended: served, or the plan's next step.
enum Tried<'a> {
    Served(Box<(Answer, Arc<Deployment>, Remaining)>),
    Next(Step<'a>),
}

impl Pipeline {
    /// Serves `request`, whose body is `body`: admission, then the route plan to its end.
    pub async fn serve(
        self: &Arc<Self>,
        request: &RouteRequest<'_>,
        body: Body<'_>,
    ) -> Result<Served, Refused> {
        let prompt = if observe::wants_prompt() {
            body.prompt()
        } else {
            None
        };
        observe::route(
            request.group,
            request.caller.label(),
            body.operation(),
            request.shape == super::Shape::Stream,
            request.max_output_tokens,
            prompt,
        );
        let result = self.run(request, body).await;
        match &result {
            Ok(Served { trace, .. }) => {
                if let Some(deployment) = &trace.served_by {
                    observe::served(deployment, trace.retries, trace.fallbacks);
                }
            }
            Err(Refused { failure, trace }) => {
                observe::refused(failure.label(), trace.retries, trace.fallbacks);
            }
        }
        result
    }

    async fn run(
        self: &Arc<Self>,
        request: &RouteRequest<'_>,
        body: Body<'_>,
    ) -> Result<Served, Refused> {
        let started = Instant::now();
        // The group the name reaches (itself, an alias's or a wildcard's): from here on the
        // request is that group's, for the plan, the metrics and the headers.
        let asked = request.group;
        let resolved;
        let request = match self.router.resolve(asked) {
            Some(group) if group != asked => {
                resolved = RouteRequest {
                    group,
                    ..request.clone()
                };
                &resolved
            }
            Some(_) | None => request,
        };
        let mut trace = Trace::new(request.group);
        let mut consumer = match admit(self, request, asked, body.service_tier()).await {
            Ok(caller) => caller,
            Err(refusal) => {
                let (failure, rate) = *refusal;
                trace.rate = rate;
                return Err(Refused { failure, trace });
            }
        };
        let settings = self.router.settings();
        let run = Run {
            request,
            body,
            started,
            deadline: started + settings.timeout,
        };
        let mut plan = RoutePlan::new(request.group, settings);
        let mut step = plan.start();
        loop {
            step = match step {
                Step::Select { group, reason } => {
                    self.count_reason(group, reason);
                    if Instant::now() >= run.deadline {
                        trace.count(plan.counters());
                        self.release(consumer, trace.attempts).await;
                        let failure = Failure::Timeout;
                        return Err(Refused { failure, trace });
                    }
                    match self.try_group(&run, group, &mut plan, &mut consumer).await {
                        Tried::Served(served) => {
                            let (answer, deployment, remaining) = *served;
                            trace.count(plan.served());
                            trace.rate = RateLimits::served(&deployment, remaining);
                            if let Answer::Complete(completion) = &answer {
                                trace.cost = completion.usage.as_ref().and_then(|usage| {
                                    super::settlement::cost(&deployment, body.service_tier(), usage)
                                });
                            }
                            trace.served_by = Some(deployment);
                            return Ok(Served { answer, trace });
                        }
                        Tried::Next(step) => step,
                    }
                }
                Step::Wait(backoff) => {
                    let wait = self
                        .router
                        .backoff(backoff.attempt, backoff.upstream_retry_after)
                        .min(run.deadline.saturating_duration_since(Instant::now()));
                    tokio::time::sleep(wait).await;
                    plan.waited()
                }
                Step::Done(failure) => {
                    trace.count(plan.counters());
                    return Err(self.conclude(request.group, consumer, failure, trace).await);
                }
            };
        }
    }

    /// Selects a deployment of `group` and calls it; without one, or when the call fails, the
    /// plan's next step.
    async fn try_group<'a>(
        self: &Arc<Self>,
        run: &Run<'_>,
        group: &'a str,
        plan: &mut RoutePlan<'a>,
        consumer: &mut CallerPermit,
    ) -> Tried<'a> {
        let skipped: Vec<&str> = plan.skipped().iter().map(String::as_str).collect();
        let (reserved, needs) = (run.request.reservation(), &run.request.needs);
        let mut permit = match self.router.select(group, reserved, &skipped, needs).await {
            Selection::Admitted(permit) => permit,
            Selection::Exhausted {
                retry_after,
                refusals,
            } => {
                self.count_skips(&refusals);
                return Tried::Next(plan.exhausted(retry_after, over_limits(&refusals)));
            }
            Selection::Unfit(reason) => return Tried::Next(plan.unfit(reason)),
            Selection::UnknownGroup => return Tried::Next(plan.exhausted(None, None)),
        };
        self.count_skips(permit.skipped());
        self.metrics.admission(permit.deployment());
        let deployment = Arc::clone(permit.deployment());
        let remaining = permit.remaining();
        let budget = deployment.timeout.unwrap_or(self.router.settings().timeout);
        // From here a caller who hangs up leaves the admissions counted: the upstream may
        // already have counted the call.
        permit.mark_sent();
        if let Some(quota) = consumer.quota.as_mut() {
            quota.mark_sent();
        }
        observe::attempt_started(&deployment);
        let call = Attempt {
            permit,
            consumer,
            budget: budget.min(run.deadline.saturating_duration_since(Instant::now())),
            shape: run.request.shape,
            request_started: run.started,
            requested_group: run.request.group,
        };
        match attempt(self, call, run.body).await {
            Ok(answer) => Tried::Served(Box::new((answer, deployment, remaining))),
            Err(error) => Tried::Next(plan.failed(&deployment.key, error)),
        }
    }

    /// The metrics of why the plan selects again: a retry, or a fallback group entered.
    fn count_reason(&self, group: &str, reason: Reason) {
        match reason {
            Reason::Retry => {
                self.metrics.retry();
                observe::next_reason(AttemptReason::Retry);
            }
            Reason::Fallback => {
                self.metrics.fallback(group);
                observe::next_reason(AttemptReason::Fallback);
            }
            Reason::Start | Reason::Skip => {}
        }
    }

    fn count_skips(&self, skipped: &[(String, DeploymentRefusal)]) {
        for (key, refusal) in skipped {
            self.metrics.skip(key, refusal);
        }
    }

    /// Answers a request the plan gave up on: settles the consumer (a request that reached an
    /// upstream keeps its admission; one that reached none consumes nothing), logs every failed
    /// call on one line, and turns the verdict into the failure.
    async fn conclude(
        &self,
        requested: &str,
        consumer: CallerPermit,
        error: PlanError,
        mut trace: Trace,
    ) -> Refused {
        if !error.attempts.is_empty() {
            tracing::info!(model_group = %requested, failure = %error, "no deployment answered");
        }
        if let Some(limit) = error.nearest_limit {
            trace.rate = RateLimits::exceeded(&limit);
        }
        let failure = match error.verdict {
            Verdict::ClientError(error) => {
                // The call that got the client's error was sent unless our own conversion
                // refused it.
                let sent = call_result(&outcome_of(&error)).is_some();
                self.finish_consumer(consumer, sent.then_some(0)).await;
                return Refused {
                    failure: Failure::Upstream(error),
                    trace,
                };
            }
            Verdict::NoCapacity { retry_after } => {
                self.metrics.refusal(RefusalReason::NoCapacity);
                Failure::NoCapacity {
                    group: requested.to_owned(),
                    retry_after,
                }
            }
            Verdict::Unfit { group, reason } => Failure::Unfit { group, reason },
            Verdict::Failed(error) => Failure::Upstream(error),
        };
        self.release(consumer, trace.attempts).await;
        Refused { failure, trace }
    }

    /// A request that reached no upstream consumes nothing of the consumer's quota; one that
    /// did keeps its admission with no tokens counted.
    async fn release(&self, consumer: CallerPermit, attempts: u32) {
        self.finish_consumer(consumer, (attempts > 0).then_some(0))
            .await;
    }

    /// Settles the consumer's admission with the tokens used (`None`: release it) and hands
    /// back the budget reservations (an unanswered request costs nothing), before the refusal
    /// is answered, so the caller's next request sees it.
    async fn finish_consumer(&self, consumer: CallerPermit, tokens: Option<u64>) {
        if let Some(permit) = consumer.quota {
            self.router.finish_consumer(permit, tokens).await;
        }
        super::budget::release(self.router.store().as_ref(), consumer.budget).await;
    }
}

/// The deployment limits among `refusals` (not cooldowns), for the rate-limit headers.
fn over_limits(refusals: &[(String, DeploymentRefusal)]) -> impl Iterator<Item = Exceeded> + '_ {
    refusals.iter().filter_map(|(_, r)| match r {
        DeploymentRefusal::OverLimit(e) => Some(*e),
        DeploymentRefusal::CoolingDown { .. } | DeploymentRefusal::ProbeInFlight => None,
    })
}
