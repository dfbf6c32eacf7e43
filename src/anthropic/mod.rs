//! Anthropic's Messages API wire types the gateway speaks (`POST /v1/messages`, for Claude
//! Code and the Anthropic SDKs).
//!
//! [`parse_messages_request`] reads and validates a body into a [`MessagesRequest`] that keeps
//! the body whole; [`MessagesEvent`] is one server-sent event of a stream; [`MessagesUsage`] the
//! token counts of a reply; [`error_body`] Anthropic's error shape.

mod canonical;
mod event;
mod request;

pub use canonical::{block_json, to_conversation};
pub use event::{MessagesEvent, MessagesUsage, error_body, error_event};
pub use request::{
    MAX_TOKENS_CAP, MessagesRequest, RequestError, Summary, parse_count_request,
    parse_messages_request,
};
