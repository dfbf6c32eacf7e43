//! A Messages stream's events, a reply's usage, and Anthropic's error shape.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::openai::Usage;

/// One server-sent event of a Messages stream: its name (`message_start`,
/// `content_block_delta`, …, the data's `type`) and its JSON data.
#[derive(Debug, Clone, PartialEq)]
pub struct MessagesEvent {
    pub name: String,
    pub data: Bytes,
}

impl MessagesEvent {
    /// The event as SSE: `event: <name>` and `data: <json>`.
    pub fn sse(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.name.len() + self.data.len() + 18);
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(self.name.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        out.extend_from_slice(&self.data);
        out.extend_from_slice(b"\n\n");
        Bytes::from(out)
    }
}

/// The token counts of a Messages reply (`usage`), as Anthropic names them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessagesUsage {
    /// Input tokens not read from or written to the cache.
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
}

impl MessagesUsage {
    /// Reads the counts present in a `usage` object; absent ones stay as they were (a stream's
    /// `message_delta` carries only some of them).
    pub fn update(&mut self, usage: &Value) {
        let read = |name: &str| usage.get(name).and_then(Value::as_u64);
        if let Some(n) = read("input_tokens") {
            self.input_tokens = n;
        }
        if let Some(n) = read("output_tokens") {
            self.output_tokens = n;
        }
        if let Some(n) = read("cache_creation_input_tokens") {
            self.cache_creation_input_tokens = n;
        }
        if let Some(n) = read("cache_read_input_tokens") {
            self.cache_read_input_tokens = n;
        }
    }

    /// The usage a settlement counts, the way Bedrock's quotas count it: input and cache
    /// writes as prompt tokens, cache reads not at all.
    pub fn as_settled(&self) -> Usage {
        Usage::with_cache(
            self.input_tokens,
            self.cache_read_input_tokens,
            self.cache_creation_input_tokens,
            self.output_tokens,
        )
    }
}

/// Anthropic's error body: `{"type":"error","error":{"type":…,"message":…}}`.
pub fn error_body(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

/// A stream's `error` event.
pub fn error_event(kind: &str, message: &str) -> MessagesEvent {
    MessagesEvent {
        name: "error".into(),
        data: Bytes::from(error_body(kind, message).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_written_as_named_sse_events() {
        let event = error_event("overloaded_error", "Overloaded");
        assert_eq!(
            event.sse(),
            "event: error\ndata: {\"error\":{\"message\":\"Overloaded\",\"type\":\"overloaded_error\"},\"type\":\"error\"}\n\n"
        );
    }

    #[test]
    fn usage_settles_cache_writes_and_not_cache_reads() {
        let mut usage = MessagesUsage::default();
        usage.update(&json!({"input_tokens": 10, "cache_creation_input_tokens": 2000, "cache_read_input_tokens": 500, "output_tokens": 1}));
        usage.update(&json!({"output_tokens": 42}));
        assert_eq!(usage.output_tokens, 42);
        let settled = usage.as_settled();
        assert_eq!(
            (
                settled.settled_input(),
                settled.completion_tokens,
                settled.cache_read()
            ),
            (2010, 42, 500)
        );
    }
}
