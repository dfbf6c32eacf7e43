//! Turning a served request into an HTTP response: the JSON body or the SSE stream, and the
//! routing headers (`x-resilient-llm-*` and LiteLLM's `x-litellm-*` / `x-ratelimit-*`).
//!
//! A stream is forwarded chunk by chunk from a task that owns the deployment and consumer
//! permits, so limits settle with the real token counts when the stream ends. An upstream
//! failure after the first byte ends the stream with an error event, never a silent cut.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use tokio::sync::mpsc;

use super::dispatch::{Answer, Served, Trace, finish_consumer};
use super::error::ApiError;
use super::metrics::CallResult;
use super::state::AppState;
use crate::provider::{ProviderError, StreamItem};
use crate::router::Outcome;

/// The routing headers of a served (or refused) request, as a map of their own.
pub fn trace_headers(trace: &Trace) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(12);
    put_trace_headers(&mut headers, trace);
    headers
}

/// Adds the routing headers of `trace` to `headers` (a response's own map: no second copy).
pub fn put_trace_headers(headers: &mut HeaderMap, trace: &Trace) {
    if !trace.deployment.is_empty() {
        // Ids and group names are validated ASCII at config load; a value that still does
        // not fit a header is left out rather than failing the response.
        if let Ok(deployment) = HeaderValue::from_str(&trace.deployment) {
            headers.insert(DEPLOYMENT, deployment.clone());
            headers.insert(LITELLM_MODEL_ID, deployment);
        }
        if let Ok(group) = HeaderValue::from_str(&trace.group) {
            headers.insert(MODEL_GROUP, group.clone());
            headers.insert(LITELLM_MODEL_GROUP, group);
        }
    }
    headers.insert(ATTEMPTS, HeaderValue::from(trace.attempts));
    headers.insert(FALLBACKS, HeaderValue::from(trace.fallbacks));
    headers.insert(LITELLM_FALLBACKS, HeaderValue::from(trace.fallbacks));
    headers.insert(LITELLM_RETRIES, HeaderValue::from(trace.retries));
    trace.rate.put(headers);
}

const DEPLOYMENT: HeaderName = HeaderName::from_static("x-resilient-llm-deployment");
const MODEL_GROUP: HeaderName = HeaderName::from_static("x-resilient-llm-model-group");
const ATTEMPTS: HeaderName = HeaderName::from_static("x-resilient-llm-attempts");
const FALLBACKS: HeaderName = HeaderName::from_static("x-resilient-llm-fallbacks");
const LITELLM_MODEL_ID: HeaderName = HeaderName::from_static("x-litellm-model-id");
const LITELLM_MODEL_GROUP: HeaderName = HeaderName::from_static("x-litellm-model-group");
const LITELLM_FALLBACKS: HeaderName = HeaderName::from_static("x-litellm-attempted-fallbacks");
const LITELLM_RETRIES: HeaderName = HeaderName::from_static("x-litellm-attempted-retries");

/// The error event of a stream that failed after its first byte, when its own cannot be written.
const STREAM_FAILED: &str = r#"{"error":{"message":"the upstream stream failed","type":"api_error","param":null,"code":null}}"#;

/// An error response carrying the routing headers of what was tried.
pub fn error_response(error: ApiError, trace: &Trace) -> Response {
    let mut response = error.into_response();
    put_trace_headers(response.headers_mut(), trace);
    response
}

/// The response for a served request; for a stream, spawns the forwarding task.
pub fn served_response(
    state: &Arc<AppState>,
    served: Served,
    include_usage: bool,
    started: Instant,
) -> Response {
    let Served {
        answer,
        trace,
        consumer,
    } = served;
    match answer {
        Answer::Complete(completion) => {
            state
                .metrics
                .request(&trace.requested_group, 200, started.elapsed());
            // Settling a consumer may take a store round trip: not on the response's path.
            if consumer.is_some() {
                let total = completion.usage.as_ref().map_or(0, |u| u.total_tokens);
                let state = Arc::clone(state);
                tokio::spawn(async move { finish_consumer(&state, consumer, Some(total)).await });
            }
            let body = match serde_json::to_vec(&completion.response) {
                Ok(body) => body,
                Err(error) => {
                    // Never a 200 with an empty body: the upstream answered, we failed to write it.
                    tracing::error!(%error, group = %trace.requested_group, "cannot serialise a completion");
                    state.metrics.error(ApiError::internal().kind);
                    return error_response(ApiError::internal(), &trace);
                }
            };
            let mut response = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response();
            put_trace_headers(response.headers_mut(), &trace);
            response
        }
        Answer::Stream {
            stream,
            permit,
            call_started,
            idle_timeout,
        } => {
            let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(32);
            let forward = Forward {
                state: Arc::clone(state),
                tx,
                include_usage,
                idle_timeout,
                call_started,
                started,
                group: trace.requested_group.clone(),
            };
            tokio::spawn(forward.run(stream, permit, consumer));
            let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            }));
            let mut response = (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "text/event-stream"),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                body,
            )
                .into_response();
            put_trace_headers(response.headers_mut(), &trace);
            response
        }
    }
}

struct Forward {
    state: Arc<AppState>,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    include_usage: bool,
    idle_timeout: Duration,
    call_started: Instant,
    started: Instant,
    group: String,
}

impl Forward {
    async fn run(
        self,
        mut stream: crate::provider::ChunkStream,
        permit: crate::router::DeploymentPermit<super::state::Store>,
        consumer: Option<crate::router::ConsumerPermit<super::state::Store>>,
    ) {
        let deployment = permit.deployment().key.clone();
        let mut usage = None;
        let mut failure: Option<ProviderError> = None;
        let mut client_gone = false;
        loop {
            let next = match tokio::time::timeout(self.idle_timeout, stream.next()).await {
                Ok(next) => next,
                Err(_) => {
                    failure = Some(ProviderError::Timeout {
                        message: "the upstream stream stalled".into(),
                    });
                    break;
                }
            };
            let bytes = match next {
                None => break,
                Some(Ok(StreamItem::Chunk(chunk))) => sse_data(&chunk),
                Some(Ok(StreamItem::Usage { usage: u, chunk })) => {
                    usage = Some(u);
                    if !self.include_usage {
                        continue;
                    }
                    sse_data(&chunk)
                }
                Some(Err(error)) => {
                    failure = Some(error);
                    break;
                }
            };
            if self.tx.send(Ok(bytes)).await.is_err() {
                client_gone = true;
                break;
            }
        }
        let latency = self.call_started.elapsed();
        let (input, output) = usage
            .as_ref()
            .map_or((0, 0), |u| (u.prompt_tokens, u.completion_tokens));
        let (outcome, status) = match &failure {
            None => {
                if !client_gone {
                    let _ = self
                        .tx
                        .send(Ok(Bytes::from_static(b"data: [DONE]\n\n")))
                        .await;
                }
                (
                    Outcome::Success {
                        latency,
                        input_tokens: input,
                        output_tokens: output,
                    },
                    200,
                )
            }
            Some(error) => {
                tracing::warn!(deployment = %deployment, error = %error, "stream failed after its first byte");
                let api_error = ApiError::from_provider(error);
                self.state.metrics.error(api_error.kind);
                let body = api_error.body();
                // Should the body ever fail to serialise, the client still gets an error event.
                let json = serde_json::to_string(&body).unwrap_or_else(|_| STREAM_FAILED.into());
                let event = format!("data: {json}\n\n");
                let _ = self.tx.send(Ok(Bytes::from(event))).await;
                (Outcome::Failed, error.status().as_u16())
            }
        };
        let result = if failure.is_some() {
            CallResult::Failed
        } else {
            CallResult::Success
        };
        self.state.metrics.call(&deployment, result, latency);
        self.state.metrics.tokens(&deployment, input, output);
        if client_gone && usage.is_none() {
            // The caller left before the upstream reported usage: the dropped permits keep the
            // whole reservation (the upstream may go on generating), with no health verdict.
            drop((permit, consumer));
        } else {
            self.state.router.finish(permit, outcome).await;
            finish_consumer(&self.state, consumer, Some(input + output)).await;
        }
        self.state
            .metrics
            .request(&self.group, status, self.started.elapsed());
    }
}

fn sse_data<T: serde::Serialize>(value: &T) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"data: ");
    if serde_json::to_writer(&mut out, value).is_err() {
        out.extend_from_slice(b"{}");
    }
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::ratelimit::RateLimitHeaders;
    use crate::router::Remaining;

    #[test]
    fn the_fallback_stream_error_is_an_openai_error() {
        let body: serde_json::Value = serde_json::from_str(STREAM_FAILED).unwrap();
        assert_eq!(body["error"]["type"], "api_error");
        for field in ["message", "param", "code"] {
            assert!(body["error"].get(field).is_some(), "{field}");
        }
    }

    #[test]
    fn headers_name_the_deployment_and_the_route_taken() {
        let trace = Trace {
            requested_group: "fallback-primary".into(),
            group: "fallback-backup".into(),
            deployment: "fallback-haiku-4-5".into(),
            model: "m".into(),
            attempts: 2,
            retries: 1,
            fallbacks: 1,
            rate: RateLimitHeaders {
                limit_requests: Some(25),
                limit_tokens: None,
                remaining: Remaining {
                    requests: Some(24),
                    tokens: None,
                    reset_requests: Some(std::time::Duration::ZERO),
                    reset_tokens: None,
                },
            },
        };
        let headers = trace_headers(&trace);
        assert_eq!(headers["x-resilient-llm-deployment"], "fallback-haiku-4-5");
        assert_eq!(headers["x-litellm-model-group"], "fallback-backup");
        assert_eq!(headers["x-resilient-llm-attempts"], "2");
        assert_eq!(headers["x-litellm-attempted-fallbacks"], "1");
        assert_eq!(headers["x-litellm-attempted-retries"], "1");
        assert_eq!(headers["x-ratelimit-remaining-requests"], "24");
        assert_eq!(headers["x-ratelimit-limit-requests"], "25");
        assert_eq!(headers["x-ratelimit-reset-requests"], "0s");
        assert!(headers.get("x-ratelimit-remaining-tokens").is_none());
        assert!(headers.get("x-ratelimit-reset-tokens").is_none());
    }
}
