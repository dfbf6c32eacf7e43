//! The [`RoutePlan`]: which group to try next, whether to retry, wait, skip or give up, as a pure
//! state machine fed by the outcomes of a request's calls.
//!
//! The caller (the gateway's dispatch loop) does the I/O: it asks the router to select, calls the
//! upstream, sleeps, and checks the request's deadline. The plan holds everything else:
//!
//! 1. The chain starts with the requested group alone. When that group runs out, its
//!    `fallbacks` and then `default_fallbacks` join the chain (most requests never need them).
//! 2. In each group: [`Step::Select`] a deployment outside the skipped ones. None left
//!    ([`RoutePlan::exhausted`]): the next group, remembering when capacity frees up.
//! 3. A failed call ([`RoutePlan::failed`]) is decided by its error, exhaustively:
//!    throttled, retry at once (the deployment now cools down, so the router passes it by);
//!    unavailable, timed out or a bad upstream answer, retry after a [`Step::Wait`]; access
//!    denied, model not found or misconfigured, skip that deployment in this group; context
//!    window exceeded, switch the chain to the group's `context_window_fallbacks` (once);
//!    the client's own mistake, stop.
//! 4. A group retries while its calls number at most `num_retries`; then the next group.
//! 5. Chain exhausted: throttled last (or never called), 429 with the earliest capacity (or the
//!    upstream's `Retry-After`, whichever is sooner; else `cooldown_time`); otherwise the last
//!    error. Every failed call is kept, in order, for the log line. A group with no deployment
//!    able to serve the request at all ([`RoutePlan::unfit`]: an embedding model for a chat
//!    call, a feature the config denies) is passed like a full one; a chain where nothing
//!    could serve it, nothing was full and nothing failed ends in [`Verdict::Unfit`], a client
//!    error, since waiting would never help.
//!
//! No group is entered twice, and the plan has no clock and no randomness: the backoff delay
//! and the deadline are the caller's. The caller's loop, in short:
//!
//! ```text
//! step = plan.start()
//! loop: Select { group, reason } ─► (count reason; deadline?) router.select(group, plan.skipped())
//!         Admitted ─► call ─► Ok: served, plan.served() for the trace
//!                          └► Err(e): router.finish(outcome_of(&e)); step = plan.failed(key, e)
//!         Exhausted { retry_after } ─► step = plan.exhausted(retry_after, nearest over-limit)
//!         Unfit(reason) ─► step = plan.unfit(reason)
//!       Wait(backoff) ─► sleep(router.backoff(..) capped by the deadline); step = plan.waited()
//!       Done(error) ─► answer error.verdict, log error (every failed call)
//! ```

mod verdict;

use std::time::Duration;

use verdict::is_throttling;
pub use verdict::{FailedCall, PlanError, Verdict};

use super::fit::Unfit;
use super::limits::Exceeded;
use super::outcome::Outcome;
use crate::config::RouterSettings;
use crate::provider::ProviderError;

/// What the caller does next.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// Ask the router for a deployment of `group`, skipping the deployment keys in
    /// [`RoutePlan::skipped`]. The step borrows the config, not the plan, so the caller can
    /// keep `group` while it reports back.
    Select { group: &'a str, reason: Reason },
    /// Sleep for the backoff of this retry (capped by the deadline), then report
    /// [`RoutePlan::waited`].
    Wait(Backoff),
    /// Nothing left to try: answer the client with this.
    Done(PlanError),
}

/// Why the plan asks for a selection, for the caller's metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The first selection, in the requested group.
    Start,
    /// The same group again after a transient failure: one retry.
    Retry,
    /// The same group again without a deployment that cannot serve the request.
    Skip,
    /// The first selection in a fallback group.
    Fallback,
}

/// The inputs of the backoff before a retry (see [`super::Router::backoff`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The retry's number in the request, from 0.
    pub attempt: u32,
    /// The wait the upstream asked for, a floor for the delay.
    pub upstream_retry_after: Option<Duration>,
}

/// The counters of a request, for its trace headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Calls that reached an upstream.
    pub attempts: u32,
    /// Retries in the same group.
    pub retries: u32,
    /// Fallback groups entered.
    pub fallbacks: u32,
}

/// How far the chain has grown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The requested group alone; its fallbacks join when it runs out.
    Requested,
    /// The requested group's fallbacks and the defaults have joined.
    Fallbacks,
    /// Switched to the context-window fallbacks; another context-window error ends the plan.
    ContextWindow,
}

/// What a failed call asks of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Retry { backoff: bool },
    SkipDeployment,
    ContextWindow,
    Stop,
}

/// The decision after `error`; exhaustive so a new error kind forces a decision here.
fn action(error: &ProviderError) -> Action {
    match error {
        // The deployment is now cooling down; the router will skip it without waiting.
        ProviderError::RateLimited { .. } => Action::Retry { backoff: false },
        ProviderError::Unavailable { .. }
        | ProviderError::Timeout { .. }
        | ProviderError::Upstream { .. } => Action::Retry { backoff: true },
        ProviderError::AccessDenied { .. }
        | ProviderError::NotFound { .. }
        | ProviderError::Misconfigured { .. } => Action::SkipDeployment,
        ProviderError::ContextWindowExceeded { .. } => Action::ContextWindow,
        ProviderError::BadRequest { .. } | ProviderError::Unsupported { .. } => Action::Stop,
    }
}

/// How the router should account for a failed call.
pub fn outcome_of(error: &ProviderError) -> Outcome {
    match error {
        ProviderError::RateLimited { retry_after, .. } => Outcome::RateLimited {
            retry_after: *retry_after,
        },
        ProviderError::Unavailable { .. } | ProviderError::Upstream { .. } => Outcome::Failed,
        ProviderError::Timeout { .. } => Outcome::Failed,
        ProviderError::AccessDenied { .. }
        | ProviderError::NotFound { .. }
        | ProviderError::Misconfigured { .. } => Outcome::Failed,
        // Refused by our own conversion: never sent, consumes nothing.
        ProviderError::Unsupported { .. } => Outcome::NotSent,
        ProviderError::ContextWindowExceeded { .. } | ProviderError::BadRequest { .. } => {
            Outcome::ClientError
        }
    }
}

fn min_duration(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// The earlier-freeing of two limits; the one seen first on a tie.
fn nearer(seen: Option<Exceeded>, candidate: Option<Exceeded>) -> Option<Exceeded> {
    match (seen, candidate) {
        (Some(s), Some(c)) if c.retry_after < s.retry_after => Some(c),
        (Some(s), _) => Some(s),
        (None, c) => c,
    }
}

/// One request's walk through the groups (see the module docs).
#[derive(Debug)]
pub struct RoutePlan<'a> {
    settings: &'a RouterSettings,
    chain: Vec<&'a str>,
    /// The current group's place in `chain`.
    index: usize,
    phase: Phase,
    /// Calls made in the current group, counted against `num_retries`.
    group_calls: u32,
    /// Deployment keys the current group skips.
    skipped: Vec<String>,
    earliest_capacity: Option<Duration>,
    nearest_limit: Option<Exceeded>,
    /// The first group none of whose deployments can serve the request, and why.
    unfit: Option<(&'a str, Unfit)>,
    failures: Vec<FailedCall>,
    counters: Counters,
}

impl<'a> RoutePlan<'a> {
    /// A plan for a request to `requested` under `settings`; begin with [`RoutePlan::start`].
    pub fn new(requested: &'a str, settings: &'a RouterSettings) -> Self {
        RoutePlan {
            settings,
            chain: vec![requested],
            index: 0,
            phase: Phase::Requested,
            group_calls: 0,
            skipped: Vec::new(),
            earliest_capacity: None,
            nearest_limit: None,
            unfit: None,
            failures: Vec::new(),
            counters: Counters::default(),
        }
    }

    /// The first step: select in the requested group.
    pub fn start(&mut self) -> Step<'a> {
        self.select(Reason::Start)
    }

    /// The group of the last [`Step::Select`].
    pub fn group(&self) -> &'a str {
        self.chain[self.index.min(self.chain.len() - 1)]
    }

    /// The deployment keys the current group skips (they cannot serve this request).
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// The counters so far. The plan hears only of failed calls: see [`RoutePlan::served`].
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The counters of a request the last selected deployment served.
    pub fn served(&self) -> Counters {
        Counters {
            attempts: self.counters.attempts + 1,
            ..self.counters
        }
    }

    /// The selection found no deployment (or no such group): when the earliest one frees up,
    /// and the deployment limits that refused it (the nearest is kept for the headers).
    pub fn exhausted(
        &mut self,
        retry_after: Option<Duration>,
        limits: impl IntoIterator<Item = Exceeded>,
    ) -> Step<'a> {
        self.earliest_capacity = min_duration(self.earliest_capacity, retry_after);
        self.nearest_limit = limits
            .into_iter()
            .fold(self.nearest_limit, |seen, limit| nearer(seen, Some(limit)));
        self.next_group()
    }

    /// No deployment of the current group can serve the request (`reason`: the first one's):
    /// the next group, as for a full one. A chain where nothing could serve it and nothing was
    /// full or failed ends in [`Verdict::Unfit`].
    pub fn unfit(&mut self, reason: Unfit) -> Step<'a> {
        if self.unfit.is_none() {
            self.unfit = Some((self.group(), reason));
        }
        self.next_group()
    }

    /// The call to `deployment` (its key) failed with `error`.
    pub fn failed(&mut self, deployment: &str, error: ProviderError) -> Step<'a> {
        if outcome_of(&error) != Outcome::NotSent {
            self.counters.attempts += 1;
        }
        self.group_calls += 1;
        match action(&error) {
            Action::Stop => {
                let verdict = Verdict::ClientError(error.clone());
                self.record(deployment, error);
                self.done(verdict, None)
            }
            Action::ContextWindow => {
                self.record(deployment, error);
                self.switch_to_context_window()
            }
            Action::SkipDeployment => {
                self.record(deployment, error);
                self.skipped.push(deployment.to_owned());
                self.select(Reason::Skip)
            }
            Action::Retry { .. } if self.group_calls > self.settings.num_retries => {
                self.record(deployment, error);
                self.next_group()
            }
            Action::Retry { backoff } => {
                let upstream_retry_after = error.retry_after();
                self.record(deployment, error);
                self.counters.retries += 1;
                if backoff {
                    Step::Wait(Backoff {
                        attempt: self.counters.retries - 1,
                        upstream_retry_after,
                    })
                } else {
                    self.select(Reason::Retry)
                }
            }
        }
    }

    /// The backoff of the last [`Step::Wait`] is over: retry.
    pub fn waited(&mut self) -> Step<'a> {
        self.select(Reason::Retry)
    }

    fn select(&self, reason: Reason) -> Step<'a> {
        Step::Select {
            group: self.group(),
            reason,
        }
    }

    /// Moves to the next group of the chain, growing it by the fallbacks when the requested
    /// group runs out; the end of the chain ends the plan.
    fn next_group(&mut self) -> Step<'a> {
        self.index += 1;
        if self.index == self.chain.len() && self.phase == Phase::Requested {
            self.phase = Phase::Fallbacks;
            let settings = self.settings;
            let requested = self.chain[0];
            let fallbacks = settings.fallbacks_for(requested).iter();
            self.extend_chain(fallbacks.chain(&settings.default_fallbacks));
        }
        if self.index >= self.chain.len() {
            return self.chain_exhausted();
        }
        self.group_calls = 0;
        self.skipped.clear();
        self.counters.fallbacks += 1;
        self.select(Reason::Fallback)
    }

    /// A context-window error: the chain becomes the current group's context-window fallbacks,
    /// once; with none (or after the switch) the plan ends with that error.
    fn switch_to_context_window(&mut self) -> Step<'a> {
        if self.phase == Phase::ContextWindow {
            return self.chain_exhausted();
        }
        let targets = self.settings.context_window_fallbacks_for(self.group());
        self.chain.truncate(self.index + 1);
        if !self.extend_chain(targets.iter()) {
            return self.chain_exhausted();
        }
        self.phase = Phase::ContextWindow;
        self.next_group()
    }

    /// Appends the groups not yet in the chain; whether any was.
    fn extend_chain(&mut self, groups: impl Iterator<Item = &'a String>) -> bool {
        let before = self.chain.len();
        for group in groups {
            if !self.chain.contains(&group.as_str()) {
                self.chain.push(group);
            }
        }
        self.chain.len() > before
    }

    fn record(&mut self, deployment: &str, error: ProviderError) {
        self.failures.push(FailedCall {
            deployment: deployment.to_owned(),
            error,
        });
    }

    /// The end of the chain: unfit if nothing could serve the request and nothing was full;
    /// no capacity if the last call was throttled (or there was none); else the last call's
    /// error.
    fn chain_exhausted(&mut self) -> Step<'a> {
        let capacity_seen = self.earliest_capacity.is_some();
        let unfit = self.unfit.take().filter(|_| !capacity_seen);
        let verdict = match (self.failures.last(), unfit) {
            (None, Some((group, reason))) => Verdict::Unfit {
                group: group.to_owned(),
                reason,
            },
            (Some(call), _) if !is_throttling(&call.error) => Verdict::Failed(call.error.clone()),
            (last, _) => {
                let upstream = last.and_then(|call| call.error.retry_after());
                Verdict::NoCapacity {
                    retry_after: min_duration(self.earliest_capacity, upstream)
                        .unwrap_or(self.settings.cooldown_time),
                }
            }
        };
        let nearest_limit = self.nearest_limit;
        self.done(verdict, nearest_limit)
    }

    fn done(&mut self, verdict: Verdict, nearest_limit: Option<Exceeded>) -> Step<'a> {
        Step::Done(PlanError {
            verdict,
            attempts: std::mem::take(&mut self.failures),
            nearest_limit,
        })
    }
}

#[cfg(test)]
mod tests;
