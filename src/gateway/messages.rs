//! Anthropic's Messages surface (`POST /v1/messages`, also with Claude Code's `?beta=true`, and
//! `POST /v1/messages/count_tokens`): a thin adapter like the OpenAI one. It reads the body
//! and the `anthropic-beta` header, says what the request needs (a Claude model, and the
//! features it uses), hands it to the same pipeline, and writes the answer, the stream and
//! the errors in Anthropic's shapes.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::json;

use super::auth::Caller;
use super::error::{ApiError, Dialect};
use super::intake;
use super::respond::{count_refused, error_response, log_served, put_trace_headers};
use super::state::AppState;
use crate::anthropic::{MessagesRequest, error_event, parse_count_request, parse_messages_request};
use crate::config::{Feature, ModelFamily, ProviderKind};
use crate::pipeline::{Answer, Body as PipelineBody, Encoder, RouteRequest, Served, Shape};
use crate::provider::{ErrorKind, ProviderError, Reply, StreamItem};
use crate::router::Needs;

const BETA: &str = "anthropic-beta";

pub(super) async fn messages(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let (caller, bytes) = match intake::read(&state, &headers, body, Dialect::Anthropic).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let request = match parse_messages_request(&bytes, beta_header(&headers)) {
        Ok(request) => request,
        Err(error) => return refuse(&state, ApiError::bad_request(None, error.message)),
    };
    drop(bytes);
    let route = route_request(&request, caller);
    let body = PipelineBody::AnthropicMessages(&request);
    match state.pipeline.serve(&route, body).await {
        Ok(served) => {
            log_served(caller, &served.trace, route.shape, started);
            served_response(&state, served)
        }
        Err(refused) => {
            let error = count_refused(&state, caller, &refused, started);
            let mut response = error_response(error, &refused.trace, Dialect::Anthropic);
            let rate = refused.trace.rate;
            rate.put_anthropic(response.headers_mut(), chrono::Utc::now());
            response
        }
    }
}

/// `count_tokens`: the prompt's tokens, by Bedrock's CountTokens where the group has a Claude
/// deployment on Bedrock, else (or when that fails) estimated here; it consumes no RPM or TPM.
pub(super) async fn count_tokens(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (caller, bytes) = match intake::read(&state, &headers, body, Dialect::Anthropic).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let request = match parse_count_request(&bytes, beta_header(&headers)) {
        Ok(request) => request,
        Err(error) => return refuse(&state, ApiError::bad_request(None, error.message)),
    };
    let asked = &request.model;
    let Some(group) = state.pipeline.router.resolve(asked) else {
        return refuse(&state, ApiError::unknown_model(asked));
    };
    if !caller.may_use(asked) && !caller.may_use(group) {
        let error = ApiError::forbidden(format!("this key may not use the model `{asked}`"));
        return refuse(&state, error);
    }
    let (tokens, counted_by) = match count_upstream(&state, group, &request).await {
        Some(tokens) => (tokens, "bedrock"),
        None => (request.estimated_input_tokens(), "estimate"),
    };
    let mut response = axum::Json(json!({"input_tokens": tokens})).into_response();
    let counted_by = HeaderValue::from_static(counted_by);
    response.headers_mut().insert(COUNTED_BY, counted_by);
    response
}

/// Who counted a `count_tokens` answer: `bedrock` (CountTokens) or `estimate`.
const COUNTED_BY: http::HeaderName = http::HeaderName::from_static("x-resilient-llm-counted-by");

/// The longest a `count_tokens` waits for Bedrock before answering the estimate.
const COUNT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The count of the group's first Claude deployment on Bedrock, by CountTokens; `None` when it
/// has none or the call fails (throttled, a model CountTokens does not count), and the
/// estimate answers instead.
async fn count_upstream(state: &AppState, group: &str, request: &MessagesRequest) -> Option<u64> {
    let deployment = state.config.group(group)?.deployments.iter().find(|d| {
        d.provider == ProviderKind::Bedrock && d.family == Some(ModelFamily::Anthropic)
    })?;
    let bedrock = &state.pipeline.providers.bedrock;
    let budget = deployment
        .timeout
        .unwrap_or(COUNT_TIMEOUT)
        .min(COUNT_TIMEOUT);
    match tokio::time::timeout(budget, bedrock.count_tokens(deployment, request)).await {
        Ok(Ok(tokens)) => Some(tokens),
        Ok(Err(error)) => {
            tracing::debug!(deployment = %deployment.id, %error, "CountTokens failed; answering the estimate");
            None
        }
        Err(_) => None,
    }
}

fn refuse(state: &AppState, error: ApiError) -> Response {
    intake::refuse(state, error, Dialect::Anthropic)
}

fn beta_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(BETA).and_then(|v| v.to_str().ok())
}

/// What the pipeline needs to know of a Messages request: any chat deployment serves it (Claude
/// models on Bedrock with the body as it is, the others through the canonical content model);
/// the reservation is the prompt plus `max_tokens`.
pub fn route_request<'a>(request: &'a MessagesRequest, caller: Caller<'a>) -> RouteRequest<'a> {
    let summary = &request.summary;
    let needs = Needs::chat()
        .with(Feature::Tools, summary.tools)
        .with(Feature::Images, summary.images > 0)
        .with(Feature::Documents, summary.documents)
        .with(Feature::Reasoning, summary.thinking);
    RouteRequest {
        group: &request.model,
        caller,
        shape: match request.stream {
            true => Shape::Stream,
            false => Shape::Complete,
        },
        input_tokens: request.estimated_input_tokens(),
        max_output_tokens: Some(request.max_tokens),
        needs,
    }
}

/// The message, or the relayed event stream, with the routing headers.
fn served_response(state: &AppState, served: Served) -> Response {
    let Served { answer, trace } = served;
    let mut response = match answer {
        Answer::Complete(completion) => match completion.response {
            Reply::Messages(json) => {
                let content_type = [(header::CONTENT_TYPE, "application/json")];
                (StatusCode::OK, content_type, json).into_response()
            }
            // Not on this surface: its providers answer in Anthropic's shape.
            Reply::Chat(_) | Reply::Embeddings(_) | Reply::Bedrock { .. } => {
                tracing::error!(group = %trace.requested_group, "an OpenAI reply on the Messages surface");
                state.pipeline.metrics.error(ErrorKind::Internal);
                return error_response(ApiError::internal(), &trace, Dialect::Anthropic);
            }
        },
        Answer::Stream(stream) => {
            let body = Body::from_stream(stream.relay(AnthropicSse));
            let mut response = (StatusCode::OK, body).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
    };
    put_trace_headers(response.headers_mut(), &trace);
    trace
        .rate
        .put_anthropic(response.headers_mut(), chrono::Utc::now());
    response
}

/// Anthropic's server-sent events: each event as the upstream wrote it (`message_start` …
/// `message_stop`), and an `error` event when the upstream fails after the first one.
struct AnthropicSse;

impl Encoder for AnthropicSse {
    fn item(&mut self, item: &StreamItem) -> Option<Bytes> {
        match item {
            StreamItem::Event(event) => Some(event.sse()),
            // Usage is in the events; chunks are not on this surface.
            StreamItem::Usage { .. } | StreamItem::Chunk(_) | StreamItem::Bedrock(_) => None,
        }
    }

    fn end(&mut self) -> Option<Bytes> {
        None
    }

    fn failure(&mut self, error: &ProviderError) -> (Bytes, ErrorKind) {
        let api_error = ApiError::from_provider(error);
        let (_, kind) = api_error.anthropic_type();
        (error_event(kind, &api_error.message).sse(), api_error.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anthropic::MessagesEvent;

    #[test]
    fn a_stream_cut_off_ends_with_an_anthropic_error_event() {
        let mut sse = AnthropicSse;
        let event = MessagesEvent {
            name: "ping".into(),
            data: Bytes::from_static(br#"{"type":"ping"}"#),
        };
        assert_eq!(
            sse.item(&StreamItem::Event(event)).unwrap(),
            "event: ping\ndata: {\"type\":\"ping\"}\n\n"
        );
        let (bytes, kind) = sse.failure(&ProviderError::Unavailable {
            message: "modelStreamErrorException at 10.0.0.1".into(),
            retry_after: None,
        });
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(text.starts_with("event: error\ndata: "), "{text}");
        assert!(text.contains("\"overloaded_error\""), "{text}");
        assert!(!text.contains("10.0.0.1"), "{text}");
        assert_eq!(kind, ErrorKind::Unavailable);
    }
}
