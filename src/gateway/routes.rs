//! The gateway's routes: the surfaces (OpenAI's chat completions in [`super::chat`], models),
//! health, and metrics.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, StatusCode, Uri, header};
use serde_json::json;

use super::auth::{Caller, authenticate};
use super::bedrock;
use super::chat::chat_completions;
use super::embeddings;
use super::error::ApiError;
use super::messages;
use super::state::AppState;
use crate::router::StateStore;

/// Every route of the gateway.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/chat/completions", post(chat_completions))
        .route("/v1/messages", post(messages::messages))
        .route("/v1/messages/count_tokens", post(messages::count_tokens))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/embeddings", post(embeddings::embeddings))
        .route("/model/{model_id}/{operation}", post(bedrock::call))
        .route("/v1/models", get(models))
        .route("/models", get(models))
        .route("/v1/models/{*id}", get(model))
        .route("/models/{*id}", get(model))
        .route("/health/liveliness", get(liveliness))
        .route("/health/liveness", get(liveliness))
        .route("/health/readiness", get(readiness))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/spend", get(spend))
        .route("/ui", get(super::dashboard::page))
        .route("/ui/", get(super::dashboard::page))
        .route("/ui/events", get(super::dashboard::events))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            super::request_id::with_request_id,
        ))
        .with_state(state)
}

async fn models(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let caller = match authenticate(&headers, &state.config.gateway) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let data: Vec<_> = listed_models(&state, &caller).map(model_object).collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

/// `GET /v1/models/{id}`: one entry of the list, or OpenAI's 404.
async fn model(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let caller = match authenticate(&headers, &state.config.gateway) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    match listed_models(&state, &caller).find(|name| **name == id) {
        Some(name) => axum::Json(model_object(name)).into_response(),
        None => ApiError::unknown_model(&id).into_response(),
    }
}

/// The models a caller may list: the groups and the aliases not hidden, as configured (a
/// wildcard group by its pattern).
fn listed_models<'a>(
    state: &'a AppState,
    caller: &'a Caller<'a>,
) -> impl Iterator<Item = &'a String> + 'a {
    let aliases = state.config.router.aliases.iter().filter(|a| !a.hidden);
    state
        .config
        .groups
        .iter()
        .map(|g| (&g.name, &g.name))
        .chain(aliases.map(|a| (&a.alias, &a.group)))
        .filter(|(name, group)| caller.may_use(name) || caller.may_use(group))
        .map(|(name, _)| name)
}

fn model_object(name: &String) -> serde_json::Value {
    json!({"id": name, "object": "model", "created": crate::provider::unix_now(), "owned_by": "resilient-llm"})
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
        Caller::Open | Caller::Master => state.pipeline.router.health().await,
        Caller::Consumer(consumer) => state.pipeline.router.health().await.restricted_to(consumer),
    };
    let store = state.pipeline.router.store();
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
        state.pipeline.metrics.render()
            + &crate::metrics::state_store_gauge(state.pipeline.router.store().is_degraded())
            + &crate::metrics::quota_gauges(&state.pipeline.router.health().await.deployments)
            + &crate::metrics::runtime_gauge()
            + &state
                .observer
                .export_stats()
                .map(crate::observe::ExportStats::render)
                .unwrap_or_default(),
    )
        .into_response()
}

/// `GET /spend`: the spend budgets' current periods (the gateway's and each consumer's: spent,
/// limit, reset), and what each consumer and deployment has cost since start. The master key
/// sees everything; a consumer key only its own entry.
async fn spend(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let caller = match authenticate(&headers, &state.config.gateway) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    let own = match caller {
        Caller::Consumer(consumer) => Some(consumer.name.as_str()),
        Caller::Open | Caller::Master => None,
    };
    let pipeline = &state.pipeline;
    let store = pipeline.router.store().as_ref();
    let now = chrono::Utc::now().timestamp();
    let period = |(whose, spent, max, resets_at): (String, f64, f64, Option<i64>)| {
        json!({"budget": whose, "spent_usd": spent, "max_budget": max,
               "resets_at": resets_at.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                   .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())})
    };
    let gateway =
        crate::pipeline::budget_spent(store, pipeline.budget.as_ref(), Caller::Master, now)
            .await
            .into_iter()
            .map(period)
            .next();
    let mut consumers = Vec::new();
    let visible = state
        .config
        .gateway
        .consumers
        .iter()
        .filter(|c| own.is_none_or(|name| name == c.name));
    for consumer in visible {
        let own = crate::pipeline::budget_spent(store, None, Caller::Consumer(consumer), now)
            .await
            .into_iter()
            .map(period)
            .next();
        consumers.push(json!({"name": consumer.name, "current_period": own,
            "spend_since_start_usd": pipeline.metrics.spend_of_consumer(&consumer.name)}));
    }
    let deployments: Vec<_> = pipeline
        .metrics
        .spend_by_deployment()
        .into_iter()
        .map(|(id, group, usd)| json!({"id": id, "model_group": group, "spend_since_start_usd": usd}))
        .collect();
    if own.is_some() {
        return axum::Json(json!({"consumers": consumers})).into_response();
    }
    axum::Json(json!({
        "price_table": crate::pricing::TABLE_VERSION,
        "gateway": gateway,
        "consumers": consumers,
        "deployments": deployments,
    }))
    .into_response()
}

async fn unknown_route(uri: Uri) -> Response {
    ApiError::unknown_route(uri.path()).into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::method_not_allowed().into_response()
}
