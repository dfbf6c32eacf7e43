//! The one axum router: Bedrock Runtime, the AWS JSON/Query endpoint at `POST /` (CloudWatch
//! Logs by `x-amz-target`, STS by form `Action`), the OpenAI-compatible route, and the
//! `/_sandbox/…` admin routes that out-of-process tests use.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;

use super::auth;
use super::bedrock;
use super::error::BedrockError;
use super::openai;
use super::state::Sandbox;
use super::{logs, sts};

/// Largest request body accepted (long prompts must reach the context-window check).
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// The sandbox's routes over `sandbox`.
pub fn router(sandbox: Arc<Sandbox>) -> Router {
    Router::new()
        .route("/model/{model_id}/{action}", post(bedrock_call))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/chat/completions", post(chat_completions))
        .route("/v1/embeddings", post(embeddings))
        .route("/embeddings", post(embeddings))
        .route("/", post(aws_query_or_json))
        .route("/_sandbox/stats", get(stats))
        .route("/_sandbox/requests", get(requests))
        .route("/_sandbox/reset", post(reset))
        .route("/_sandbox/regions/{region}/{state}", post(region_state))
        .fallback(unknown_route)
        .method_not_allowed_fallback(unknown_route)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(sandbox)
}

async fn bedrock_call(
    State(sandbox): State<Arc<Sandbox>>,
    Path((model_id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    bedrock::handle(sandbox, model_id, action, headers, body).await
}

/// Any other method and path: what AWS answers for an operation it does not have.
async fn unknown_route(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    bedrock::unknown_operation(&format!("{method} {}", uri.path()))
}

async fn chat_completions(
    State(sandbox): State<Arc<Sandbox>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    openai::handle(sandbox, headers, body).await
}

async fn embeddings(
    State(sandbox): State<Arc<Sandbox>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    openai::embeddings(sandbox, headers, body).await
}

/// `POST /`: CloudWatch Logs (awsJson1_1) or STS (awsQuery).
async fn aws_query_or_json(
    State(sandbox): State<Arc<Sandbox>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match auth::aws_caller(&sandbox.settings, &headers) {
        Ok(caller) => caller,
        Err(error) => return error.into_response_with_id(""),
    };
    let account_id = &caller.account.account_id;
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    if let Some(target) = target.filter(|t| t.starts_with("Logs_20140328.")) {
        return logs::handle(&sandbox.logs, account_id, target, body).await;
    }
    // STS answers every awsQuery form itself, unknown actions included.
    if sts::is_query_call(&headers, &body) {
        return sts::handle(account_id, &caller.account.profile, &body);
    }
    let mut response = (
        StatusCode::BAD_REQUEST,
        serde_json::json!({ "__type": "UnknownOperationException", "message": "Unknown operation." }).to_string(),
    )
        .into_response();
    response.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_static("UnknownOperationException"),
    );
    response
}

async fn stats(State(sandbox): State<Arc<Sandbox>>) -> Response {
    json_response(
        StatusCode::OK,
        serde_json::to_value(sandbox.stats()).unwrap_or_default(),
    )
}

/// The bodies the OpenAI-compatible endpoint received, as they came, oldest first.
async fn requests(State(sandbox): State<Arc<Sandbox>>) -> Response {
    json_response(
        StatusCode::OK,
        serde_json::json!({ "requests": sandbox.received_requests() }),
    )
}

async fn reset(State(sandbox): State<Arc<Sandbox>>) -> Response {
    sandbox.reset();
    json_response(StatusCode::OK, serde_json::json!({ "reset": true }))
}

async fn region_state(
    State(sandbox): State<Arc<Sandbox>>,
    Path((region, state)): Path<(String, String)>,
) -> Response {
    let down = match state.as_str() {
        "down" => true,
        "up" => false,
        _ => {
            let error = BedrockError::Validation(format!(
                "Region state must be `down` or `up`, not `{state}`."
            ));
            return error.into_response_with_id("");
        }
    };
    sandbox.set_region_down(&region, down);
    json_response(
        StatusCode::OK,
        serde_json::json!({ "region": region, "down": down }),
    )
}

fn json_response(status: StatusCode, value: serde_json::Value) -> Response {
    let mut response = (status, value.to_string()).into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}
