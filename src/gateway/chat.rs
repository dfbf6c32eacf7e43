//! OpenAI's chat completions surface (`POST /v1/chat/completions`): a thin adapter. It reads
//! and parses the body, says what the request needs ([`route_request`]), hands it to the
//! pipeline, and writes the answer or the error in OpenAI's shapes.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use http::HeaderMap;

use super::auth::Caller;
use super::body::HeldBody;
use super::error::{ApiError, Dialect};
use super::intake;
use super::respond::{count_refused, error_response, log_served, served_response};
use super::state::AppState;
use crate::config::{Deployment, Feature, ProviderKind};
use crate::openai::{ChatRequest, Content, ContentPart, Role, parse_chat_request};
use crate::pipeline::{Body as PipelineBody, RouteRequest, Shape};
use crate::provider::bedrock::structured_output_method;
use crate::router::{Ask, Needs};

pub(super) async fn chat_completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    // `_held` keeps the body's memory reservation while the request holds its bytes.
    let (caller, request, _held) = match read_request(&state, &headers, body).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let route = route_request(&request, caller, state.pipeline.drop_params);
    let body = PipelineBody::OpenAiChat(&request);
    match state.pipeline.serve(&route, body).await {
        Ok(served) => {
            log_served(caller, &served.trace, route.shape, started);
            let method = structured_output(&request, served.trace.served_by.as_deref());
            let mut response = served_response(&state, served, request.include_usage());
            if let Some(method) = method {
                response.headers_mut().insert(
                    STRUCTURED_OUTPUT_HEADER,
                    http::HeaderValue::from_static(method),
                );
            }
            response
        }
        Err(refused) => {
            let error = count_refused(&state, caller, &refused, started);
            error_response(error, &refused.trace, Dialect::OpenAi)
        }
    }
}

/// The header that says how a structured answer was obtained: `output-config` (the model's
/// own structured output), `tool` (a forced tool), `upstream` (an OpenAI-compatible upstream
/// took `response_format` itself).
pub const STRUCTURED_OUTPUT_HEADER: &str = "x-resilient-llm-structured-output";

/// How the deployment that answered was asked for the request's `response_format`.
fn structured_output(
    request: &ChatRequest,
    served_by: Option<&Deployment>,
) -> Option<&'static str> {
    let format = request.output_format()?;
    let deployment = served_by?;
    Some(match deployment.provider {
        ProviderKind::Bedrock => structured_output_method(&format, &deployment.model).as_str(),
        ProviderKind::OpenAi => "upstream",
    })
}

/// The caller, the parsed body (keeping its bytes) and the body's memory reservation; an
/// error response otherwise.
async fn read_request<'s>(
    state: &'s AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Caller<'s>, ChatRequest, HeldBody), Response> {
    let (caller, bytes) = intake::read(state, headers, body, Dialect::OpenAi).await?;
    match parse_chat_request(&bytes) {
        Ok(request) => Ok((caller, request.with_original(bytes.bytes()), bytes)),
        Err(error) => Err(intake::refuse(
            state,
            ApiError::from_request(error),
            Dialect::OpenAi,
        )),
    }
}

/// What the pipeline needs to know of a chat request; with `drop_params`, options a
/// deployment cannot map are dropped there rather than asked of it.
pub fn route_request<'a>(
    request: &'a ChatRequest,
    caller: Caller<'a>,
    drop_params: bool,
) -> RouteRequest<'a> {
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
        needs: needs(request, drop_params),
    }
}

/// A chat request needs a chat model, one that takes tools if it declares or uses any, one
/// that takes images if a message holds one, one that thinks if asked to, and one whose
/// upstream can map its options (unless `drop_params` drops them) and its parts.
fn needs(request: &ChatRequest, drop_params: bool) -> Needs {
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
    let mut needs = Needs::chat()
        .with(Feature::Tools, uses_tools)
        .with(Feature::Images, has_images)
        .with(Feature::Reasoning, request.thinking().is_some());
    if let Some(kind) = request.foreign_part() {
        needs = needs.asking(Ask::Part(kind.to_owned()));
    }
    if drop_params {
        return needs;
    }
    for param in request.openai_only_params() {
        needs = needs.asking(Ask::OpenAiParam(param));
    }
    if request.thinking().is_some() {
        needs = needs.asking(Ask::Reasoning);
    }
    if request.sampling_top_k().is_some() {
        needs = needs.asking(Ask::TopK);
    }
    if let Some(tier) = request.bedrock_service_tier() {
        needs = needs.asking(Ask::ServiceTier(tier));
    }
    needs
}
