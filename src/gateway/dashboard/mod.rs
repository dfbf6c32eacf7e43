//! The live dashboard: `GET /ui`, one static page embedded in the binary (no CDN, no build
//! step), and `GET /ui/events`, the server-sent events it reads: a snapshot of the gateway
//! once a second ([`feed`]). The page asks for the master key and keeps it in
//! `sessionStorage`; the feed needs it (401 without, 403 for a consumer key), so the page
//! streams it with `fetch()` (an `EventSource` cannot send a header). `gateway top` reads the
//! same feed.

pub mod feed;

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};

use super::auth::{Caller, authenticate};
use super::error::ApiError;
use super::state::AppState;

/// The page, with its script and styles inline.
const PAGE: &str = include_str!("page.html");

/// `GET /ui`: the page. It holds no data; the data needs the key.
pub async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            // Everything it loads is its own; it may only talk to this gateway.
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
                ),
            ),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        ],
        PAGE,
    )
        .into_response()
}

/// `GET /ui/events`: `event: snapshot` with the gateway's JSON once a second, the latest at
/// once. The master key (or an open gateway) only: the snapshot shows every consumer.
pub async fn events(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match authenticate(&headers, &state.config.gateway) {
        Ok(Caller::Open | Caller::Master) => {}
        Ok(Caller::Consumer(_)) => {
            return ApiError::forbidden("the dashboard needs the master key").into_response();
        }
        Err(error) => return error.into_response(),
    }
    let watcher = state.feed.watch();
    let stream = futures_util::stream::unfold(watcher, |mut watcher| async move {
        loop {
            watcher.changed().await.ok()?;
            // Nothing published yet: the first snapshot is a tick away.
            let Some(snapshot) = watcher.borrow_and_update().clone() else {
                continue;
            };
            let event = format!("event: snapshot\ndata: {snapshot}\n\n");
            return Some((Ok::<_, std::io::Error>(Bytes::from(event)), watcher));
        }
    });
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}
