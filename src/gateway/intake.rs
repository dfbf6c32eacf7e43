//! What every surface does before it parses a body: the declared size checked before the
//! key, the key before the body is read, and the body read within the gateway's size, time
//! and memory limits. Refusals are counted and answered in the surface's [`Dialect`].

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, header};

use super::auth::{Caller, authenticate};
use super::body::{self, BodyLimits, HeldBody};
use super::error::{ApiError, Dialect};
use super::state::AppState;

/// The caller and the body of a request; the error response otherwise.
pub(super) async fn read<'s>(
    state: &'s AppState,
    headers: &HeaderMap,
    body: Body,
    dialect: Dialect,
) -> Result<(Caller<'s>, HeldBody), Response> {
    let declared = declared_size(state, headers, dialect).map_err(|refusal| *refusal)?;
    let caller =
        authenticate(headers, &state.config.gateway).map_err(|e| refuse(state, e, dialect))?;
    let bytes = read_body(state, declared, body, dialect).await?;
    Ok((caller, bytes))
}

/// The body's declared size (`Content-Length`), refused when over the limit.
pub(super) fn declared_size(
    state: &AppState,
    headers: &HeaderMap,
    dialect: Dialect,
) -> Result<Option<usize>, Box<Response>> {
    let limit = state.config.gateway.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        let refusal = refuse(state, ApiError::payload_too_large(limit), dialect);
        return Err(Box::new(refusal));
    }
    Ok(declared)
}

/// The body, read within the gateway's size, time and memory limits.
pub(super) async fn read_body(
    state: &AppState,
    declared: Option<usize>,
    body: Body,
    dialect: Dialect,
) -> Result<HeldBody, Response> {
    let limit = state.config.gateway.max_body_bytes;
    let body_limits = BodyLimits {
        max_bytes: limit,
        timeout: state.config.gateway.body_timeout,
    };
    match body::read(body, declared, body_limits, &state.body_budget).await {
        Ok(bytes) => Ok(bytes),
        Err(refusal) => {
            state.pipeline.metrics.error(refusal.error.kind);
            Err(refusal.into_response_as(dialect))
        }
    }
}

/// An error answered before the pipeline, counted by its kind.
pub(super) fn refuse(state: &AppState, error: ApiError, dialect: Dialect) -> Response {
    state.pipeline.metrics.error(error.kind);
    error.into_response_as(dialect)
}
