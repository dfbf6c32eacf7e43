//! One call to an admitted deployment within its time budget: a complete answer is settled at
//! once, a stream counts as answered at its first content event (a failure or a stall before
//! it fails over like any call) and carries its settlement to the relay. A failed call is
//! reported to the router (cooldowns, allowed fails) and logged before the plan hears of it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::admit::CallerPermit;
use super::dispatch::Answer;
use super::relay::StreamAnswer;
use super::request::Shape;
use super::settlement::{Ending, Settlement};
use super::{Body, Pipeline, Store};
use crate::config::Deployment;
use crate::metrics::CallResult;
use crate::observe;
use crate::provider::{ChunkStream, Completion, InvokeAnswer, Provider, ProviderError};
use crate::router::{DeploymentPermit, Outcome, outcome_of};

/// Where one call goes and what travels with it.
pub(super) struct Attempt<'a> {
    pub permit: DeploymentPermit<Store>,
    /// Taken into the settlement when the call answers; left for the next call otherwise.
    pub consumer: &'a mut CallerPermit,
    pub budget: Duration,
    pub shape: Shape,
    pub request_started: Instant,
    pub requested_group: &'a str,
}

/// Makes the call: the answer, or the error after the router has been told how it ended.
pub(super) async fn attempt(
    pipeline: &Arc<Pipeline>,
    attempt: Attempt<'_>,
    body: Body<'_>,
) -> Result<Answer, ProviderError> {
    let deployment = Arc::clone(attempt.permit.deployment());
    let call_started = Instant::now();
    let answered = call(pipeline, &deployment, body, attempt.shape, attempt.budget).await;
    let answer = match answered {
        Ok(answer) => answer,
        Err(error) => {
            let outcome = outcome_of(&error);
            if let Some(result) = call_result(&outcome) {
                let latency = call_started.elapsed();
                pipeline.metrics.call(&deployment, result, latency);
            }
            observe::attempt_ended(attempt_outcome(&error, &outcome), Some(error.to_string()));
            pipeline.router.finish(attempt.permit, outcome).await;
            log_failure(&deployment, &error);
            return Err(error);
        }
    };
    let settlement = Settlement::new(
        Arc::clone(pipeline),
        attempt.permit,
        std::mem::take(attempt.consumer),
        call_started,
        attempt.request_started,
        attempt.requested_group.to_owned(),
        body,
    );
    Ok(match answer {
        Called::Complete(completion) => {
            let usage = completion.usage.as_ref();
            settlement.settle(Ending::Answered(usage)).await;
            Answer::Complete(completion)
        }
        Called::Stream(stream) => {
            observe::first_token();
            Answer::Stream(Box::new(StreamAnswer {
                stream,
                settlement,
                idle_timeout: attempt.budget,
            }))
        }
    })
}

/// How a failed attempt ended, for its trace span.
fn attempt_outcome(error: &ProviderError, outcome: &Outcome) -> &'static str {
    match (error, call_result(outcome)) {
        (ProviderError::Timeout { .. }, _) => "timeout",
        (_, Some(result)) => result.label(),
        (_, None) => "not_sent",
    }
}

/// The calls-metric label of a failed call's outcome; `None` for a call never sent.
pub(super) fn call_result(outcome: &Outcome) -> Option<CallResult> {
    match outcome {
        Outcome::Success { .. } => Some(CallResult::Success),
        Outcome::RateLimited { .. } => Some(CallResult::RateLimited),
        Outcome::Failed => Some(CallResult::Failed),
        Outcome::ClientError => Some(CallResult::ClientError),
        Outcome::NotSent => None,
    }
}

/// Logs a failed upstream call: at WARN when it says the deployment's configuration is wrong
/// (access denied, unknown model id, bad credentials), which only an operator can fix.
fn log_failure(deployment: &Deployment, error: &ProviderError) {
    let (id, group) = (&deployment.id, &deployment.group);
    if error.is_misconfiguration() {
        tracing::warn!(deployment = %id, group = %group, error = %error, "deployment misconfigured: upstream refused it; skipping it until the config is fixed");
    } else {
        tracing::info!(deployment = %id, group = %group, error = %error, "upstream call failed");
    }
}

enum Called {
    Complete(Completion),
    Stream(ChunkStream),
}

/// One upstream call within `budget` (for a stream: until its first content event).
async fn call(
    pipeline: &Pipeline,
    deployment: &Deployment,
    body: Body<'_>,
    shape: Shape,
    budget: Duration,
) -> Result<Called, ProviderError> {
    let drop_params = pipeline.drop_params;
    let providers = &pipeline.providers;
    // Each provider's future is boxed where it is built: they are the largest part of a
    // request's state (the AWS SDK's and reqwest's own futures), and unboxed they would make
    // every future above this one as large, copied at each move (measured with
    // benches/instructions.sh).
    let answer = match (body, shape) {
        (Body::OpenAiChat(request), Shape::Complete) => tokio::time::timeout(
            budget,
            Box::pin(providers.complete(deployment, request, drop_params)),
        )
        .await
        .map(|r| r.map(Called::Complete)),
        (Body::OpenAiChat(request), Shape::Stream) => tokio::time::timeout(
            budget,
            Box::pin(providers.stream(deployment, request, drop_params)),
        )
        .await
        .map(|r| r.map(Called::Stream)),
        (Body::AnthropicMessages(request), Shape::Complete) => {
            tokio::time::timeout(budget, Box::pin(providers.messages(deployment, request)))
                .await
                .map(|r| r.map(Called::Complete))
        }
        (Body::AnthropicMessages(request), Shape::Stream) => tokio::time::timeout(
            budget,
            Box::pin(providers.messages_stream(deployment, request)),
        )
        .await
        .map(|r| r.map(Called::Stream)),
        (Body::Converse(call), Shape::Complete) => {
            tokio::time::timeout(budget, Box::pin(providers.converse(deployment, call)))
                .await
                .map(|r| r.map(Called::Complete))
        }
        (Body::Converse(call), Shape::Stream) => tokio::time::timeout(
            budget,
            Box::pin(providers.converse_stream(deployment, call)),
        )
        .await
        .map(|r| r.map(Called::Stream)),
        (Body::Invoke(call), shape) => tokio::time::timeout(
            budget,
            Box::pin(providers.invoke(deployment, call, shape == Shape::Stream)),
        )
        .await
        .map(|r| {
            r.map(|answer| match answer {
                InvokeAnswer::Complete(completion) => Called::Complete(completion),
                InvokeAnswer::Stream(stream) => Called::Stream(stream),
            })
        }),
        // Embeddings have no stream: the surface only ever asks for a complete answer.
        (Body::OpenAiEmbeddings(request), Shape::Complete | Shape::Stream) => {
            tokio::time::timeout(budget, Box::pin(providers.embed(deployment, request)))
                .await
                .map(|r| r.map(Called::Complete))
        }
    };
    answer.map_err(|_| ProviderError::Timeout {
        message: format!("no answer within {:.1}s", budget.as_secs_f64()),
    })?
}
