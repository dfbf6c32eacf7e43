//! `x-request-id` on every response (and Anthropic's `request-id` on the Messages surface's),
//! and the same id on every log line of that request.
//!
//! A caller's own `x-request-id` is kept when it is a plain token (letters, digits, `-`, `_`,
//! `.`, `:`, at most 128), so ids can be followed across services; anything else is replaced,
//! so a header cannot forge log lines. Otherwise the id is `req_` and 32 random hex digits,
//! like OpenAI's.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderName, HeaderValue, Method};
use std::hash::BuildHasher;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tracing::Instrument;

use super::state::AppState;
use crate::observe;

/// The header, on requests (optional) and on every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Anthropic's name for it, on the Messages surface's responses.
const ANTHROPIC_REQUEST_ID: HeaderName = HeaderName::from_static("request-id");

/// Bedrock's name for it, on the Bedrock Runtime routes' responses (the SDKs report it as the
/// request id).
const BEDROCK_REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");

/// W3C Trace Context's header.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Longest caller-supplied id kept.
const MAX_LEN: usize = 128;

/// Middleware: runs the request inside a span carrying its id and answers with the id. An API
/// call (a POST) also runs inside its observation record when traces or the request log are
/// on ([`crate::observe`]), with the client's `traceparent` honoured.
pub async fn with_request_id(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_plain_token(v))
        .map_or_else(new_id, str::to_string);
    let anthropic = request.uri().path().starts_with("/v1/messages");
    let bedrock = request.uri().path().starts_with("/model/");
    let recorder = if request.method() == Method::POST {
        let traceparent = request
            .headers()
            .get(TRACEPARENT)
            .and_then(|v| v.to_str().ok());
        state.observer.begin(
            &id,
            request.method().as_str(),
            request.uri().path(),
            traceparent,
        )
    } else {
        None
    };
    let span = tracing::info_span!("request", request_id = %id);
    let served = next.run(request).instrument(span);
    let mut response = observe::within(recorder.clone(), served).await;
    if let Some(recorder) = recorder {
        observe::answered(&recorder, response.status().as_u16());
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        if anthropic {
            response
                .headers_mut()
                .insert(ANTHROPIC_REQUEST_ID, value.clone());
        }
        if bedrock {
            response
                .headers_mut()
                .insert(BEDROCK_REQUEST_ID, value.clone());
        }
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// A new id: `req_` and 128 bits in hex, drawn from a per-process random seed and a counter
/// (ids need to be unique, not secret).
pub fn new_id() -> String {
    static SEED: LazyLock<u64> = LazyLock::new(|| {
        std::collections::hash_map::RandomState::new().hash_one(std::process::id())
    });
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let bits: u128 =
        SmallRng::seed_from_u64(*SEED ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15)).random();
    format!("req_{bits:032x}")
}

/// Whether a caller's id is safe to echo and log.
fn is_plain_token(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_distinct_and_shaped_like_openais() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 32);
        assert!(a.starts_with("req_") && is_plain_token(&a));
    }

    #[test]
    fn only_plain_caller_ids_are_kept() {
        assert!(is_plain_token("trace-1234_abc.def:9"));
        for bad in ["", "a b", "x\ny", "id\"quoted\"", &"a".repeat(129)] {
            assert!(!is_plain_token(bad), "{bad:?}");
        }
    }
}
