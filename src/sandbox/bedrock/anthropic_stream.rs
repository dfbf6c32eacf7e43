//! InvokeModelWithResponseStream for Claude models: Anthropic's stream events, each base64 in
//! the `bytes` of one `chunk` frame (`{"bytes":"…"}`), as Bedrock sends them.
//!
//! Order: `message_start` (the usage's input counts) → `content_block_start` →
//! `content_block_delta`… → `content_block_stop` → `message_delta` (stop reason, output
//! tokens) → `message_stop` with Bedrock's `amazon-bedrock-invocationMetrics`. A mid-stream
//! fault replaces the second half with one exception frame; a stall stops sending.

use serde_json::{Value, json};

use crate::sandbox::emulated_model::estimate_tokens;
use crate::sandbox::model_call::Admitted;
use crate::sandbox::pace::{Pace, Step, chunks};
use crate::sandbox::thinking::Thought;

use super::eventstream::{event_frame, exception_frame};
use super::invoke_model::anthropic_tool_id;

/// One Anthropic event as a `chunk` frame.
fn chunk(event: &Value) -> Step {
    let bytes = aws_smithy_types::base64::encode(event.to_string());
    Step::Send(event_frame("chunk", &json!({ "bytes": bytes })))
}

/// The content block of the reply and its deltas (text pieces, or a tool call's JSON input).
fn block(admitted: &Admitted) -> (Value, Vec<(Value, u64)>) {
    let reply = &admitted.reply;
    match &reply.tool_call {
        Some(call) => (
            json!({"type": "tool_use", "id": anthropic_tool_id(&call.id), "name": call.name, "input": {}}),
            chunks(&call.input.to_string())
                .into_iter()
                .map(|piece| {
                    let tokens = estimate_tokens(piece.len());
                    (
                        json!({"type": "input_json_delta", "partial_json": piece}),
                        tokens,
                    )
                })
                .collect(),
        ),
        None => (
            json!({"type": "text", "text": ""}),
            chunks(&reply.text)
                .into_iter()
                .map(|piece| {
                    let tokens = estimate_tokens(piece.chars().count());
                    (json!({"type": "text_delta", "text": piece}), tokens)
                })
                .collect(),
        ),
    }
}

/// A thinking block's events: its start, its text (unless omitted), its signature, its end.
fn thinking_events(thought: &Thought) -> Vec<Value> {
    let mut events = vec![json!({"type": "content_block_start", "index": 0,
        "content_block": {"type": "thinking", "thinking": "", "signature": ""}})];
    if !thought.shown.is_empty() {
        events.push(json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "thinking_delta", "thinking": thought.shown}}));
    }
    events.push(json!({"type": "content_block_delta", "index": 0,
        "delta": {"type": "signature_delta", "signature": thought.signature}}));
    events.push(json!({"type": "content_block_stop", "index": 0}));
    events
}

/// The whole stream as timed steps.
pub fn plan(admitted: &Admitted, model_id: &str, pace: Pace) -> Vec<Step> {
    let reply = &admitted.reply;
    let mut steps = vec![Step::Wait(pace.first_token)];
    steps.push(chunk(&json!({
        "type": "message_start",
        "message": {
            "id": format!("msg_bdrk_{}", admitted.request_id.replace('-', "")),
            "type": "message", "role": "assistant", "model": model_id, "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": admitted.input_tokens,
                "cache_creation_input_tokens": admitted.cache.written,
                "cache_read_input_tokens": admitted.cache.read, "output_tokens": 1},
        },
    })));
    if let Some(thought) = &reply.thinking {
        steps.extend(thinking_events(thought).iter().map(chunk));
    }
    // The answer's block follows the thinking block, when there is one.
    let index = usize::from(reply.thinking.is_some());
    let (content_block, deltas) = block(admitted);
    steps.push(chunk(
        &json!({"type": "content_block_start", "index": index, "content_block": content_block}),
    ));
    let fault_at = admitted.mid_stream_fault.as_ref().map(|_| deltas.len() / 2);
    let mut sent_tokens = 0u64;
    for (i, (delta, tokens)) in deltas.into_iter().enumerate() {
        if let (Some(at), Some(error)) = (fault_at, &admitted.mid_stream_fault)
            && i == at
        {
            steps.push(Step::Send(exception_frame(error)));
            return steps;
        }
        if admitted
            .stall_after
            .is_some_and(|after| sent_tokens >= u64::from(after))
        {
            steps.push(Step::Stall);
            return steps;
        }
        if i > 0 {
            steps.push(Step::Wait(pace.for_tokens(tokens)));
        }
        steps.push(chunk(
            &json!({"type": "content_block_delta", "index": index, "delta": delta}),
        ));
        sent_tokens += tokens;
    }
    if let Some(error) = &admitted.mid_stream_fault {
        steps.push(Step::Send(exception_frame(error)));
        return steps;
    }
    if admitted.stall_after.is_some() {
        steps.push(Step::Stall);
        return steps;
    }
    let latency_ms = pace.total(reply.output_tokens).as_millis() as u64;
    steps.push(chunk(
        &json!({"type": "content_block_stop", "index": index}),
    ));
    steps.push(chunk(&json!({
        "type": "message_delta",
        "delta": {"stop_reason": reply.stop_reason.as_converse(), "stop_sequence": null},
        "usage": {"output_tokens": reply.output_tokens},
    })));
    steps.push(chunk(&json!({
        "type": "message_stop",
        "amazon-bedrock-invocationMetrics": {
            "inputTokenCount": admitted.input_tokens,
            "outputTokenCount": reply.output_tokens,
            "invocationLatency": latency_ms,
            "firstByteLatency": pace.first_token.as_millis() as u64,
            "cacheReadInputTokenCount": admitted.cache.read,
            "cacheWriteInputTokenCount": admitted.cache.written,
        },
    })));
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::emulated_model::{Reply, StopReason};
    use crate::sandbox::error::BedrockError;
    use aws_smithy_eventstream::frame::read_message_from;
    use bytes::Bytes;
    use std::time::Duration;

    fn admitted(text: &str) -> Admitted {
        Admitted {
            request_id: "r-1".into(),
            region: "us-east-1".into(),
            reply: Reply {
                thinking: None,
                text: text.into(),
                tool_call: None,
                stop_reason: StopReason::EndTurn,
                output_tokens: 3,
            },
            input_tokens: 2,
            mid_stream_fault: None,
            stall_after: None,
            first_byte_delay: Duration::ZERO,
            cache: Default::default(),
            service_tier: None,
            embedding: None,
        }
    }

    const FLAT: Pace = Pace {
        first_token: Duration::ZERO,
        tokens_per_second: 0,
    };

    /// The Anthropic events of the chunk frames, and the exception type of any other.
    fn events(steps: &[Step]) -> Vec<Value> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Send(bytes) => Some(read_message_from(Bytes::clone(bytes)).unwrap()),
                Step::Wait(_) | Step::Stall => None,
            })
            .map(|m| {
                let payload: Value = serde_json::from_slice(m.payload()).unwrap();
                match payload.get("bytes").and_then(Value::as_str) {
                    Some(b64) => {
                        serde_json::from_slice(&aws_smithy_types::base64::decode(b64).unwrap())
                            .unwrap()
                    }
                    None => json!({"type": "exception", "message": payload["message"]}),
                }
            })
            .collect()
    }

    #[test]
    fn chunks_carry_anthropics_events_in_order() {
        let events = events(&plan(
            &admitted("one two three four five"),
            "us.anthropic.claude-sonnet-4-6",
            FLAT,
        ));
        let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(events[0]["message"]["usage"]["input_tokens"], 2);
        assert_eq!(
            events[2]["delta"],
            json!({"type": "text_delta", "text": "one two three "})
        );
        assert_eq!(events[5]["usage"]["output_tokens"], 3);
        assert_eq!(
            events[6]["amazon-bedrock-invocationMetrics"]["outputTokenCount"],
            3
        );
    }

    #[test]
    fn a_mid_stream_fault_ends_in_an_exception_frame() {
        let mut a = admitted("a b c d e f g h i");
        a.mid_stream_fault = Some(BedrockError::ModelStreamError);
        let events = events(&plan(&a, "m", FLAT));
        assert_eq!(events.last().unwrap()["type"], "exception");
        assert!(!events.iter().any(|e| e["type"] == "message_stop"));
    }
}
