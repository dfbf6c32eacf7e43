//! Bedrock Runtime in the sandbox: `Converse`, `ConverseStream`, `InvokeModel` and
//! `InvokeModelWithResponseStream` (Claude models) over restJson1
//! and the event-stream framing, as the AWS SDK's `bedrockruntime` client speaks them.
//!
//! Each file is one wire concern; the model behind them (quotas, Regions, faults, the reply)
//! is the shared core in `sandbox/`, which the OpenAI-compatible route uses too.
//!
//! - `api`: the `POST /model/{modelId}/{action}` handler: authenticate, parse, invoke, answer.
//! - `converse`: the Converse request body to a `Prompt`, and the Converse response JSON.
//! - `invoke_model`: InvokeModel's model-native bodies (Anthropic, Nova, Llama) both ways.
//! - [`eventstream`]: ConverseStream's `application/vnd.amazon.eventstream` frames, timed.
//! - `count_tokens`: CountTokens, free, for base Claude model ids.
//! - `anthropic_stream`: InvokeModelWithResponseStream's `chunk` frames of Anthropic events.
//! - `embeddings`: InvokeModel on Titan and Cohere embedding models, deterministic vectors.

mod anthropic_stream;
mod api;
mod converse;
mod converse_options;
mod count_tokens;
mod embeddings;
pub mod eventstream;
mod invoke_model;

pub(super) use api::{handle, unknown_operation};
pub use embeddings::{EmbeddingAsk, vector as embedding_vector};
