//! The canonical request content: one model of a conversation that every client surface
//! converts into and every upstream wire converts out of.
//!
//! A surface (OpenAI chat completions today) and an upstream (Bedrock Converse) that do not
//! speak the same format meet here, so each side has one conversion instead of one per pair.
//! The model follows Bedrock Converse's content blocks, Bedrock being the main upstream, but
//! holds plain Rust data (strings, bytes, `serde_json::Value`): no SDK and no surface types.
//! Each type's doc names the Converse field it maps to.
//!
//! What the model does not decide: rules that belong to one upstream (Converse's "a
//! conversation starts with a user turn", its `toolConfig` requirements) live in that
//! upstream's conversion; rules of one surface (OpenAI's `data:` URLs, `tool` messages) in
//! that surface's.

mod block;
mod conversation;
mod error;
mod inference;
mod output;
mod tool;

pub use block::{
    Block, CacheTtl, Document, DocumentFormat, Image, ImageFormat, Reasoning, ToolResult,
    ToolResultContent, ToolUse,
};
pub use conversation::{Conversation, Message, Role, SystemBlock};
pub use error::ContentError;
pub use inference::{Effort, InferenceSettings, Thinking};
pub use output::{OutputFormat, STRUCTURED_OUTPUT_TOOL, ServiceTier, StructuredOutput};
pub use tool::{ToolChoice, ToolSpec};
