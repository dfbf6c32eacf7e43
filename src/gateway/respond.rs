//! Turning a served request into an HTTP response: the JSON body or the SSE stream, and the
//! routing headers (`x-resilient-llm-*` and LiteLLM's `x-litellm-*` / `x-ratelimit-*`).
//!
//! A stream is relayed by the pipeline ([`crate::pipeline::StreamAnswer::relay`]), which settles
//! the call's limits with the real token counts when it ends; this module gives it OpenAI's
//! event format. An upstream failure after the first byte ends the stream with an error event,
//! never a silent cut.

use std::time::Instant;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};

use super::auth::Caller;
use super::error::{ApiError, Dialect};
use super::state::AppState;
use crate::pipeline::{Answer, Encoder, Refused, Served, Shape, Trace};
use crate::provider::{ErrorKind, ProviderError, Reply, StreamItem};

/// The routing headers of a served (or refused) request, as a map of their own.
pub fn trace_headers(trace: &Trace) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(12);
    put_trace_headers(&mut headers, trace);
    headers
}

/// Adds the routing headers of `trace` to `headers` (a response's own map: no second copy).
pub fn put_trace_headers(headers: &mut HeaderMap, trace: &Trace) {
    if let Some(served_by) = trace.served_by.as_deref() {
        // Ids and group names are validated ASCII at config load; a value that still does
        // not fit a header is left out rather than failing the response.
        if let Ok(deployment) = HeaderValue::from_str(&served_by.id) {
            headers.insert(DEPLOYMENT, deployment.clone());
            headers.insert(LITELLM_MODEL_ID, deployment);
        }
        if let Ok(group) = HeaderValue::from_str(&served_by.group) {
            headers.insert(MODEL_GROUP, group.clone());
            headers.insert(LITELLM_MODEL_GROUP, group);
        }
    }
    headers.insert(ATTEMPTS, HeaderValue::from(trace.attempts));
    headers.insert(FALLBACKS, HeaderValue::from(trace.fallbacks));
    headers.insert(LITELLM_FALLBACKS, HeaderValue::from(trace.fallbacks));
    headers.insert(LITELLM_RETRIES, HeaderValue::from(trace.retries));
    if let Some(usd) = trace.cost
        && let Ok(value) = HeaderValue::from_str(&usd_text(usd))
    {
        headers.insert(COST, value.clone());
        headers.insert(LITELLM_COST, value);
    }
    trace.rate.put(headers);
}

/// A cost in USD as the headers write it: plain decimal, to the nano-dollar, no trailing zeros.
pub fn usd_text(usd: f64) -> String {
    let text = format!("{usd:.9}");
    let text = text.trim_end_matches('0');
    text.strip_suffix('.').unwrap_or(text).to_owned()
}

const COST: HeaderName = HeaderName::from_static("x-resilient-llm-cost");
const LITELLM_COST: HeaderName = HeaderName::from_static("x-litellm-response-cost");

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

/// An error response in `dialect`'s shape carrying the routing headers of what was tried.
pub fn error_response(error: ApiError, trace: &Trace, dialect: Dialect) -> Response {
    let mut response = error.into_response_as(dialect);
    put_trace_headers(response.headers_mut(), trace);
    response
}

/// The log line of a served request (the stream's end is the relay's to log).
pub fn log_served(caller: Caller<'_>, trace: &Trace, shape: Shape, started: Instant) {
    tracing::info!(
        caller = caller.label(),
        model_group = %trace.requested_group,
        served_by = trace.deployment().unwrap_or_default(),
        attempts = trace.attempts,
        fallbacks = trace.fallbacks,
        stream = shape == Shape::Stream,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "served"
    );
}

/// The error a refused request is answered with, logged and counted.
pub fn count_refused(
    state: &AppState,
    caller: Caller<'_>,
    refused: &Refused,
    started: Instant,
) -> ApiError {
    let (error, trace) = (ApiError::from_failure(&refused.failure), &refused.trace);
    tracing::info!(
        caller = caller.label(),
        model_group = %trace.requested_group,
        status = error.status.as_u16(),
        attempts = trace.attempts,
        error = %error.message,
        "refused"
    );
    let metrics = &state.pipeline.metrics;
    let status = error.status.as_u16();
    metrics.request(&trace.requested_group, status, started.elapsed());
    metrics.error(error.kind);
    error
}

/// The response for a served request: the JSON body, or the relayed SSE stream.
pub fn served_response(state: &AppState, served: Served, include_usage: bool) -> Response {
    let Served { answer, trace } = served;
    let (content_type, body) = match answer {
        Answer::Complete(completion) => match chat_json(completion.response) {
            Ok(body) => ("application/json", Body::from(body)),
            Err(error) => {
                // Never a 200 with an empty body: the upstream answered, we failed to write it.
                tracing::error!(%error, group = %trace.requested_group, "cannot serialise a completion");
                state.pipeline.metrics.error(ApiError::internal().kind);
                return error_response(ApiError::internal(), &trace, Dialect::OpenAi);
            }
        },
        Answer::Stream(stream) => {
            let encoder = OpenAiSse { include_usage };
            (
                "text/event-stream",
                Body::from_stream(stream.relay(encoder)),
            )
        }
    };
    let mut response =
        (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response();
    if content_type == "text/event-stream" {
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    put_trace_headers(response.headers_mut(), &trace);
    response
}

/// The JSON of an OpenAI reply: a chat completion or an embeddings list.
fn chat_json(reply: Reply) -> Result<Vec<u8>, String> {
    match reply {
        Reply::Chat(completion) => serde_json::to_vec(&completion).map_err(|e| e.to_string()),
        Reply::Embeddings(list) => serde_json::to_vec(&list).map_err(|e| e.to_string()),
        // Not on the OpenAI surface: its providers answer in chat completions.
        Reply::Messages(_) => Err("an Anthropic reply on the OpenAI surface".into()),
        Reply::Bedrock { .. } => Err("a Bedrock reply on the OpenAI surface".into()),
    }
}

/// OpenAI's server-sent events: `data: <chunk>` per chunk, the usage chunk only when the client
/// set `stream_options.include_usage`, `data: [DONE]` at the end, an error object on failure.
struct OpenAiSse {
    include_usage: bool,
}

impl Encoder for OpenAiSse {
    fn item(&mut self, item: &StreamItem) -> Option<Bytes> {
        match item {
            StreamItem::Chunk(chunk) => Some(sse_data(chunk)),
            StreamItem::Usage {
                chunk: Some(chunk), ..
            } => self.include_usage.then(|| sse_data(chunk)),
            // Not on an OpenAI stream: its providers answer in chunks.
            StreamItem::Usage { chunk: None, .. }
            | StreamItem::Event(_)
            | StreamItem::Bedrock(_) => None,
        }
    }

    fn end(&mut self) -> Option<Bytes> {
        Some(Bytes::from_static(b"data: [DONE]\n\n"))
    }

    fn failure(&mut self, error: &ProviderError) -> (Bytes, ErrorKind) {
        let api_error = ApiError::from_provider(error);
        // Should the body ever fail to serialise, the client still gets an error event.
        let json =
            serde_json::to_string(&api_error.body()).unwrap_or_else(|_| STREAM_FAILED.into());
        (Bytes::from(format!("data: {json}\n\n")), api_error.kind)
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
    use crate::pipeline::RateLimits;
    use crate::router::Remaining;
    use crate::router::strategy::test_support::deployment;

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
        let mut served_by = (*deployment("fallback-haiku-4-5", None, None, None)).clone();
        served_by.group = "fallback-backup".into();
        let trace = Trace {
            requested_group: "fallback-primary".into(),
            served_by: Some(std::sync::Arc::new(served_by)),
            attempts: 2,
            retries: 1,
            fallbacks: 1,
            cost: Some(0.000123),
            rate: RateLimits {
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
        assert_eq!(headers["x-resilient-llm-cost"], "0.000123");
        assert_eq!(headers["x-litellm-response-cost"], "0.000123");
        assert_eq!(usd_text(1.5), "1.5");
        assert_eq!(usd_text(0.0), "0");
    }
}
