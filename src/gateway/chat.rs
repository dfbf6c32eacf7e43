//! OpenAI's chat completions surface (`POST /v1/chat/completions`): a thin adapter. It reads
//! and parses the body, says what the request needs ([`route_request`]), hands it to the
//! pipeline, and writes the answer or the error in OpenAI's shapes.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, header};

use super::auth::{Caller, authenticate};
use super::body::{self, BodyLimits};
use super::error::ApiError;
use super::respond::{error_response, served_response};
use super::routes::refuse;
use super::state::AppState;
use crate::config::Feature;
use crate::openai::{ChatRequest, Content, ContentPart, Role, parse_chat_request};
use crate::pipeline::{Body as PipelineBody, Refused, RouteRequest, Shape};
use crate::router::Needs;

pub(super) async fn chat_completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let (caller, request) = match read_request(&state, &headers, body).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let route = route_request(&request, caller);
    let body = PipelineBody::OpenAiChat(&request);
    match state.pipeline.serve(&route, body).await {
        Ok(served) => {
            let t = &served.trace;
            tracing::info!(
                caller = caller.label(),
                model_group = %t.requested_group,
                served_by = t.deployment().unwrap_or_default(),
                attempts = t.attempts,
                fallbacks = t.fallbacks,
                stream = route.shape == Shape::Stream,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "served"
            );
            served_response(&state, served, request.include_usage())
        }
        Err(Refused { failure, trace }) => {
            let error = ApiError::from_failure(&failure);
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
            error_response(error, &trace)
        }
    }
}

/// The caller and the body, read within the gateway's size and time limits and parsed; an
/// error response otherwise. The declared size is checked before the key, the key before the
/// body is read.
async fn read_request<'s>(
    state: &'s AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Caller<'s>, ChatRequest), Response> {
    let limit = state.config.gateway.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(refuse(state, ApiError::payload_too_large(limit)));
    }
    let caller = authenticate(headers, &state.config.gateway).map_err(|e| refuse(state, e))?;
    let body_limits = BodyLimits {
        max_bytes: limit,
        timeout: state.config.gateway.body_timeout,
    };
    let bytes = match body::read(body, declared, body_limits, &state.body_budget).await {
        Ok(bytes) => bytes,
        Err(refusal) => {
            state.pipeline.metrics.error(refusal.error.kind);
            return Err(refusal.into_response());
        }
    };
    match parse_chat_request(&bytes) {
        Ok(request) => Ok((caller, request)),
        Err(error) => Err(refuse(state, ApiError::from_request(error))),
    }
}

/// What the pipeline needs to know of a chat request.
pub fn route_request<'a>(request: &'a ChatRequest, caller: Caller<'a>) -> RouteRequest<'a> {
    let shape = match request.is_stream() {
        true => Shape::Stream,
        false => Shape::Complete,
    };
    RouteRequest {
        group: &request.model,
        caller,
        shape,
        input_tokens: request.estimated_input_tokens(),
        max_output_tokens: request.max_output_tokens(),
        needs: needs(request),
    }
}

/// A chat request needs a chat model, one that takes tools if it declares or uses any, and
/// one that takes images if a message holds one.
fn needs(request: &ChatRequest) -> Needs {
    let uses_tools = request.tools.as_ref().is_some_and(|t| !t.is_empty())
        || request
            .messages
            .iter()
            .any(|m| m.role == Role::Tool || m.tool_calls.as_ref().is_some_and(|c| !c.is_empty()));
    let has_images = request.messages.iter().any(|m| match &m.content {
        Some(Content::Parts(parts)) => parts
            .iter()
            .any(|p| matches!(p, ContentPart::ImageUrl { .. })),
        Some(Content::Text(_)) | None => false,
    });
    Needs::chat()
        .with(Feature::Tools, uses_tools)
        .with(Feature::Images, has_images)
}
