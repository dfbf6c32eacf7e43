//! The OpenAI chat-completions wire types the gateway speaks.
//!
//! [`parse_chat_request`] turns a body into a validated [`ChatRequest`] in one serde pass;
//! [`ChatCompletion`], [`ChatChunk`] and [`ErrorBody`] are what goes back to clients (and what
//! an OpenAI-compatible upstream sends us).

mod parse;
mod request;
mod response;
mod wire;

pub use parse::{MAX_TOKENS_CAP, RequestError, parse_chat_request};
pub use request::{
    ChatRequest, ContentPart, FunctionCall, FunctionDefinition, ImageUrl, Message, Role,
    StreamOptions, Tool, ToolCall, ToolType,
};
pub use response::{
    AssistantMessage, ChatChunk, ChatCompletion, Choice, ChunkChoice, Delta, ErrorBody,
    ErrorDetail, FinishReason, FunctionCallDelta, ToolCallDelta, Usage,
};
pub use wire::{Content, Stop, ToolChoice};

#[cfg(test)]
mod tests;
