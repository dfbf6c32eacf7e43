//! The HTTP surface: OpenAI's chat completions and models, health, and metrics.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, StatusCode, Uri, header};
use serde_json::json;

use super::auth::{Caller, authenticate};
use super::body::{self, BodyLimits};
use super::dispatch::{Shape, dispatch};
use super::error::ApiError;
use super::respond::{error_response, served_response};
use super::state::AppState;
use crate::openai::parse_chat_request;
use crate::router::StateStore;

/// Every route of the gateway.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
        .route("/models", get(models))
        .route("/health/liveliness", get(liveliness))
        .route("/health/liveness", get(liveliness))
        .route("/health/readiness", get(readiness))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(
            super::request_id::with_request_id,
        ))
        .with_state(state)
}

async fn chat_completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let limit = state.config.gateway.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return refuse(&state, ApiError::payload_too_large(limit));
    }
    let caller = match authenticate(&headers, &state.config.gateway) {
        Ok(caller) => caller,
        Err(error) => return refuse(&state, error),
    };
    let body_limits = BodyLimits {
        max_bytes: limit,
        timeout: state.config.gateway.body_timeout,
    };
    let bytes = match body::read(body, declared, body_limits, &state.body_budget).await {
        Ok(bytes) => bytes,
        Err(refusal) => {
            state.metrics.error(refusal.error.kind);
            return refusal.into_response();
        }
    };
    let request = match parse_chat_request(&bytes) {
        Ok(request) => request,
        Err(error) => return refuse(&state, ApiError::from_request(error)),
    };
    let shape = if request.stream.unwrap_or(false) {
        Shape::Stream
    } else {
        Shape::Complete
    };
    let include_usage = request
        .stream_options
        .as_ref()
        .is_some_and(|o| o.include_usage);
    match dispatch(&state, caller, &request, shape).await {
        Ok(served) => {
            let t = &served.trace;
            tracing::info!(
                caller = caller.label(),
                model_group = %t.requested_group,
                served_by = %t.deployment,
                attempts = t.attempts,
                fallbacks = t.fallbacks,
                stream = shape == Shape::Stream,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "served"
            );
            served_response(&state, served, include_usage, started)
        }
        Err((error, trace)) => {
            tracing::info!(
                caller = caller.label(),
                model_group = %trace.requested_group,
                status = error.status.as_u16(),
                attempts = trace.attempts,
                error = %error.message,
                "refused"
            );
            state.metrics.request(
                &trace.requested_group,
                error.status.as_u16(),
                started.elapsed(),
            );
            state.metrics.error(error.kind);
            error_response(error, &trace)
        }
    }
}

/// An error answered before dispatch, counted by its type.
fn refuse(state: &AppState, error: ApiError) -> Response {
    state.metrics.error(error.kind);
    error.into_response()
}

async fn models(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let caller = match authenticate(&headers, &state.config.gateway) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let created = crate::provider::unix_now();
    let data: Vec<_> = state
        .config
        .groups
        .iter()
        .filter(|g| caller.may_use(&g.name))
        .map(|g| json!({"id": g.name, "object": "model", "created": created, "owned_by": "resilient-llm"}))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn liveliness() -> Response {
    axum::Json(json!("I'm alive!")).into_response()
}

async fn readiness(State(state): State<Arc<AppState>>) -> Response {
    if state.shutting_down.load(Ordering::Relaxed) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "shutting down"})),
        )
            .into_response();
    }
    axum::Json(json!({
        "status": "healthy",
        "state_store": state.config.router.state.kind(),
        "model_groups": state.config.groups.len(),
    }))
    .into_response()
}

/// The detailed health: open on an open gateway; otherwise it needs a key, and a consumer
/// key sees only the groups it may use and itself.
async fn health(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let caller = match authenticate(&headers, &state.config.gateway) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let snapshot = match caller {
        Caller::Open | Caller::Master => state.router.health().await,
        Caller::Consumer(consumer) => state.router.health().await.restricted_to(consumer),
    };
    let store = state.router.store();
    axum::Json(json!({
        "status": if state.shutting_down.load(Ordering::Relaxed) { "shutting down" } else { "healthy" },
        "state_store": store.kind(),
        "state_store_degraded": store.is_degraded(),
        "health": snapshot,
    }))
    .into_response()
}

/// Prometheus text: open by default (scrapers rarely hold keys), behind the master key with
/// LiteLLM's `require_auth_for_metrics_endpoint`.
async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if state.config.gateway.metrics_need_auth {
        match authenticate(&headers, &state.config.gateway) {
            Ok(Caller::Open | Caller::Master) => {}
            Ok(Caller::Consumer(_)) => {
                return ApiError::forbidden("/metrics needs the master key").into_response();
            }
            Err(error) => return error.into_response(),
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render()
            + &super::metrics::state_store_gauge(state.router.store().is_degraded())
            + &super::metrics::runtime_gauge(),
    )
        .into_response()
}

async fn unknown_route(uri: Uri) -> Response {
    ApiError::unknown_route(uri.path()).into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::method_not_allowed().into_response()
}
