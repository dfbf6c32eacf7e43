//! The OpenAI-compatible upstream: `POST /v1/chat/completions` (and `/chat/completions`), the
//! same emulated models under the same quotas, Region routing, latency and faults as the
//! Bedrock routes, so the gateway's OpenAI provider can be tested against the sandbox.
//!
//! - `api`: the handler: caller, request, the shared call pipeline, the paced answer.
//! - `api_keys`: which account a bearer key selects (`openai_api_key`, else the first account).
//! - `request`: the chat-completion body to its options and a `Prompt`, fields named on error.
//! - `completion`: the `chat.completion` JSON and the SSE `chat.completion.chunk` stream.
//! - `embeddings`: `/v1/embeddings`, deterministic vectors.

mod api;
mod api_keys;
mod completion;
mod embeddings;
mod request;

pub(super) use api::handle;
pub(super) use embeddings::handle as embeddings;
