//! The OpenAI chat-completions wire types the gateway speaks.
//!
//! [`parse_chat_request`] turns a body into a validated [`ChatRequest`] in one serde pass;
//! [`ChatCompletion`], [`ChatChunk`] and [`ErrorBody`] are what goes back to clients (and what
//! an OpenAI-compatible upstream sends us). [`to_conversation`] and [`assistant_message`]
//! translate to and from the canonical content model ([`crate::content`]).

mod canonical;
mod embeddings;
mod options;
mod parse;
pub mod raw;
mod request;
mod response;
mod wire;

pub use canonical::{assistant_message, to_conversation};
pub use embeddings::{
    Embedding, EmbeddingInput, EmbeddingsRequest, EmbeddingsResponse, EmbeddingsUsage,
    EncodingFormat, Vector, parse_embeddings_request,
};
pub use parse::{MAX_TOKENS_CAP, RequestError, parse_chat_request};
pub use request::{
    ChatRequest, ContentPart, FunctionCall, FunctionDefinition, ImageUrl, Message, Role,
    StreamOptions, ThinkingBlock, Tool, ToolCall, ToolType,
};
pub use response::{
    AssistantMessage, ChatChunk, ChatCompletion, Choice, ChunkChoice, Delta, ErrorBody,
    ErrorDetail, FinishReason, FunctionCallDelta, PromptTokensDetails, ToolCallDelta, Usage,
};
pub use wire::{Content, Stop, ToolChoice};

#[cfg(test)]
mod tests;
