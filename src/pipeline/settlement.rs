//! The [`Settlement`] of an answered call: it owns both permits (the deployment's and the
//! consumer's) and the call's metrics, and settles them exactly once however the answer ended:
//! complete, streamed to its end, cut off by the upstream, or abandoned by the client.
//!
//! Settling records the call (result, latency, tokens), reports the outcome to the router
//! (limits settled to the real token counts, latency, cooldown state), settles the consumer's
//! reservation, and counts the request's response. A client that left before the upstream
//! reported usage settles nothing: the dropped permits keep the whole reservation (the upstream
//! may go on generating, and bills it) and the deployment's health hears no verdict.
//!
//! A settlement dropped unsettled (a panic) falls back on the permits' own drop: the
//! admission stays counted, with no metrics.

use std::sync::Arc;
use std::time::Instant;

use super::Body;
use super::admit::CallerPermit;
use super::budget::BudgetHold;
use super::{Pipeline, Store};
use crate::config::{Deployment, TokenCounts};
use crate::content::ServiceTier;
use crate::metrics::CallResult;
use crate::observe::{self, Recorder, Tokens};
use crate::openai::Usage;
use crate::provider::{ErrorKind, ProviderError};
use crate::router::{ConsumerPermit, DeploymentPermit, Outcome};

/// How an answered call ended.
#[derive(Debug, Clone, Copy)]
pub enum Ending<'e> {
    /// The whole answer reached the client (a complete body, or a stream to its end).
    Answered(Option<&'e Usage>),
    /// The upstream failed after the first byte; the client got an error event.
    CutOff(&'e ProviderError, Option<&'e Usage>),
    /// The client hung up before the end.
    Abandoned(Option<&'e Usage>),
}

/// The permits and the metrics of one answered call; see the module docs.
pub struct Settlement {
    pipeline: Arc<Pipeline>,
    deployment: DeploymentPermit<Store>,
    consumer: Option<ConsumerPermit<Store>>,
    /// The request's spend-budget reservations.
    budget: BudgetHold,
    call_started: Instant,
    request_started: Instant,
    /// The group the client asked for, which the request metrics count under.
    requested_group: String,
    /// The request marked a prompt-cache prefix.
    marks_cache: bool,
    /// The service tier it asked for, which its price follows.
    service_tier: Option<ServiceTier>,
    /// The request's record, when requests are observed: the settlement ends its attempt.
    recorder: Option<Recorder>,
}

impl Settlement {
    pub(super) fn new(
        pipeline: Arc<Pipeline>,
        deployment: DeploymentPermit<Store>,
        caller: CallerPermit,
        call_started: Instant,
        request_started: Instant,
        requested_group: String,
        body: Body<'_>,
    ) -> Self {
        Settlement {
            pipeline,
            deployment,
            consumer: caller.quota,
            budget: caller.budget,
            call_started,
            request_started,
            requested_group,
            marks_cache: body.marks_cache(),
            service_tier: body.service_tier(),
            recorder: crate::observe::current(),
        }
    }

    /// What a call of the serving deployment with `usage` costs (USD), when it has a price.
    pub fn cost(&self, usage: &Usage) -> Option<f64> {
        cost(self.deployment.deployment(), self.service_tier, usage)
    }

    /// The configured id of the deployment that answered, for logs.
    pub fn deployment_id(&self) -> &str {
        &self.deployment.deployment().id
    }

    /// Counts an error the client was answered with (by its kind) after the first byte.
    pub fn count_error(&self, kind: ErrorKind) {
        self.pipeline.metrics.error(kind);
    }

    /// Settles the call as `ending` says. The deployment's limits settle before this returns
    /// (the next selection sees them); the consumer's, which may cost a store round trip, in a
    /// task of their own, off the response's path.
    pub async fn settle(self, ending: Ending<'_>) {
        let Settlement {
            pipeline,
            deployment,
            consumer,
            budget,
            call_started,
            request_started,
            requested_group,
            marks_cache,
            service_tier,
            recorder,
        } = self;
        let latency = call_started.elapsed();
        let (usage, result, status) = match ending {
            Ending::Answered(usage) | Ending::Abandoned(usage) => (usage, CallResult::Success, 200),
            Ending::CutOff(error, usage) => (usage, CallResult::Failed, error.status().as_u16()),
        };
        let (input, output) = usage.map_or((0, 0), |u| (u.settled_input(), u.completion_tokens));
        let metrics = &pipeline.metrics;
        let served_by = deployment.deployment();
        metrics.call(served_by, result, latency);
        metrics.tokens(served_by, input, output);
        // What the call cost: unknown without usage (the reservation then stays), nothing for
        // a deployment without a price.
        let priced = usage.and_then(|usage| cost(served_by, service_tier, usage));
        let spent = usage.map(|_| priced.unwrap_or(0.0));
        if let Some(usage) = usage {
            let written = usage.cache_creation_input_tokens.unwrap_or(0);
            metrics.prompt_cache(served_by, usage.cache_read(), written, marks_cache);
            let consumer_name = consumer.as_ref().map(|c| c.consumer());
            metrics.spend(served_by, consumer_name, spent.unwrap_or(0.0));
        }
        metrics.request(&requested_group, status, request_started.elapsed());
        if let Some(recorder) = &recorder {
            note_settled(recorder, ending, usage, priced);
        }
        drop(recorder);
        if let Ending::Abandoned(None) = ending {
            drop((deployment, consumer));
            return;
        }
        // The deployment's quota settles in Bedrock's units: cache reads released, output
        // burned down.
        let counts = usage.map(token_counts).unwrap_or_default();
        let profile = &served_by.quota;
        let charged_output = counts.output.saturating_mul(profile.output_burndown);
        let outcome = match ending {
            Ending::CutOff(..) => Outcome::Failed,
            Ending::Answered(_) | Ending::Abandoned(_) => Outcome::Success {
                latency,
                input_tokens: profile.charge(counts).saturating_sub(charged_output),
                output_tokens: charged_output,
            },
        };
        pipeline.router.finish(deployment, outcome).await;
        if consumer.is_none() && budget.is_empty() {
            return;
        }
        let pipeline = Arc::clone(&pipeline);
        tokio::spawn(async move {
            if let Some(consumer) = consumer {
                pipeline
                    .router
                    .finish_consumer(consumer, Some(input + output))
                    .await;
            }
            if let Some(usd) = spent {
                super::budget::settle(pipeline.router.store().as_ref(), budget, usd).await;
            }
        });
    }
}

/// Ends the request record's running attempt as `ending` says, with its tokens and cost.
fn note_settled(recorder: &Recorder, ending: Ending<'_>, usage: Option<&Usage>, cost: Option<f64>) {
    let (outcome, error) = match ending {
        Ending::Answered(_) => ("success", None),
        Ending::CutOff(error, _) => ("cut_off", Some(error.to_string())),
        Ending::Abandoned(_) => ("abandoned", None),
    };
    let tokens = usage.map(|u| {
        let counts = token_counts(u);
        Tokens {
            input: u.prompt_tokens,
            output: counts.output,
            cache_read: counts.cache_read,
            cache_write: counts.cache_write,
        }
    });
    observe::settled(recorder, outcome, error, tokens, cost);
}

/// A reply's usage as the quota arithmetic reads it.
fn token_counts(usage: &Usage) -> TokenCounts {
    let read = usage.cache_read();
    let written = usage.cache_creation_input_tokens.unwrap_or(0);
    TokenCounts {
        input: usage.prompt_tokens.saturating_sub(read + written),
        cache_read: read,
        cache_write: written,
        output: usage.completion_tokens,
    }
}

/// What a call of `deployment` in `tier` with `usage` costs (USD), when it has a price.
pub(super) fn cost(
    deployment: &Deployment,
    tier: Option<ServiceTier>,
    usage: &Usage,
) -> Option<f64> {
    let price = deployment.price?.in_tier(tier);
    Some(price.cost(token_counts(usage)))
}
