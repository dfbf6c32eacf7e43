//! The OpenAI-compatible upstream: `POST /v1/chat/completions` (and `/chat/completions`), the
//! same emulated models under the same quotas, Region routing, latency and faults as the
//! Bedrock routes, so the gateway's OpenAI provider can be tested against the sandbox.
//!
//! - `api`: the handler, request parsing and the JSON and SSE answers.

mod api;

pub(super) use api::handle;
