//! ConverseStream: the `application/vnd.amazon.eventstream` framing of a reply.
//!
//! Frames are written by [`crate::bedrock_runtime::eventstream`]. Event order: `messageStart` → (the reasoning block's
//! `contentBlockDelta`s and its `contentBlockStop`, when the model thought) →
//! (`contentBlockStart` for a tool call) → `contentBlockDelta`… → `contentBlockStop` →
//! `messageStop` → `metadata`. A mid-stream fault
//! replaces the second half with one exception frame; a stall stops sending after the
//! configured number of tokens.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::bedrock_runtime::eventstream;
use crate::sandbox::emulated_model::estimate_tokens;
use crate::sandbox::error::BedrockError;
use crate::sandbox::model_call::Admitted;
use crate::sandbox::pace::{Pace, Step, chunks};

use super::converse;

/// An event frame (`:message-type=event`).
pub fn event_frame(event_type: &str, payload: &Value) -> Bytes {
    eventstream::event_frame(event_type, payload.to_string())
}

/// An exception frame (`:message-type=exception`).
pub fn exception_frame(error: &BedrockError) -> Bytes {
    eventstream::exception_frame(&error.stream_exception_type(), &error.to_string())
}

/// The content deltas of a reply: text pieces, or a tool call's JSON input in pieces.
fn deltas(admitted: &Admitted) -> Vec<(Value, u64)> {
    let reply = &admitted.reply;
    match &reply.tool_call {
        Some(call) => chunks(&call.input.to_string().replace(',', ", "))
            .into_iter()
            .map(|piece| {
                (
                    json!({ "toolUse": { "input": piece.clone() } }),
                    estimate_tokens(piece.len()),
                )
            })
            .collect(),
        None => chunks(&reply.text)
            .into_iter()
            .map(|piece| {
                (
                    json!({ "text": piece.clone() }),
                    estimate_tokens(piece.chars().count()),
                )
            })
            .collect(),
    }
}

/// The reasoning block's deltas, when the model thought: its text in pieces (none when
/// omitted), then its signature (none for Nova 2's redacted reasoning).
fn reasoning_deltas(admitted: &Admitted) -> Vec<Value> {
    let Some(thought) = &admitted.reply.thinking else {
        return Vec::new();
    };
    let text = match thought.shown.is_empty() {
        true => Vec::new(),
        false => chunks(&thought.shown),
    };
    let signature = (!thought.signature.is_empty()).then(|| thought.signature.clone());
    text.into_iter()
        .map(|piece| json!({ "reasoningContent": { "text": piece } }))
        .chain(signature.map(|s| json!({ "reasoningContent": { "signature": s } })))
        .collect()
}

/// The whole ConverseStream answer as timed steps.
pub fn plan(admitted: &Admitted, pace: Pace) -> Vec<Step> {
    let mut steps = vec![Step::Wait(pace.first_token)];
    steps.push(Step::Send(event_frame(
        "messageStart",
        &json!({ "role": "assistant" }),
    )));
    // The reasoning block, when there is one, is block 0 and the answer follows it.
    let reasoning = reasoning_deltas(admitted);
    let index = usize::from(admitted.reply.thinking.is_some());
    for delta in &reasoning {
        let payload = json!({ "contentBlockIndex": 0, "delta": delta });
        steps.push(Step::Send(event_frame("contentBlockDelta", &payload)));
    }
    if index == 1 {
        let stop = json!({ "contentBlockIndex": 0 });
        steps.push(Step::Send(event_frame("contentBlockStop", &stop)));
    }
    if let Some(call) = &admitted.reply.tool_call {
        let start = json!({ "contentBlockIndex": index, "start": { "toolUse": { "toolUseId": call.id, "name": call.name } } });
        steps.push(Step::Send(event_frame("contentBlockStart", &start)));
    }
    let deltas = deltas(admitted);
    let fault_at = admitted.mid_stream_fault.as_ref().map(|_| deltas.len() / 2);
    let mut sent_tokens = 0u64;
    for (i, (delta, tokens)) in deltas.into_iter().enumerate() {
        if let (Some(at), Some(error)) = (fault_at, &admitted.mid_stream_fault)
            && i == at
        {
            steps.push(Step::Send(exception_frame(error)));
            return steps;
        }
        if let Some(after) = admitted.stall_after
            && sent_tokens >= u64::from(after)
        {
            steps.push(Step::Stall);
            return steps;
        }
        if i > 0 {
            steps.push(Step::Wait(pace.for_tokens(tokens)));
        }
        let payload = json!({ "contentBlockIndex": index, "delta": delta });
        steps.push(Step::Send(event_frame("contentBlockDelta", &payload)));
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
    let reply = &admitted.reply;
    let latency_ms = pace.total(reply.output_tokens).as_millis() as u64;
    steps.push(Step::Send(event_frame(
        "contentBlockStop",
        &json!({ "contentBlockIndex": index }),
    )));
    steps.push(Step::Send(event_frame(
        "messageStop",
        &json!({ "stopReason": reply.stop_reason.as_converse() }),
    )));
    let mut metadata = json!({
        "usage": converse::usage(admitted),
        "metrics": { "latencyMs": latency_ms },
    });
    if let Some(tier) = &admitted.service_tier {
        metadata["serviceTier"] = json!({ "type": tier });
    }
    steps.push(Step::Send(event_frame("metadata", &metadata)));
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::emulated_model::{Reply, StopReason};
    use aws_smithy_eventstream::frame::read_message_from;
    use aws_smithy_types::event_stream::Message;
    use std::time::Duration;

    fn admitted(text: &str) -> Admitted {
        Admitted {
            request_id: "r".into(),
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

    fn header_value(message: &Message, name: &str) -> String {
        let h = message
            .headers()
            .iter()
            .find(|h| h.name().as_str() == name)
            .unwrap();
        h.value().as_string().unwrap().as_str().to_owned()
    }

    fn decode(steps: &[Step]) -> Vec<(String, Value)> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Send(bytes) => Some(read_message_from(bytes.clone()).unwrap()),
                Step::Wait(_) | Step::Stall => None,
            })
            .map(|m| {
                let kind = match header_value(&m, ":message-type").as_str() {
                    "event" => header_value(&m, ":event-type"),
                    _ => header_value(&m, ":exception-type"),
                };
                (kind, serde_json::from_slice(m.payload()).unwrap())
            })
            .collect()
    }

    const FLAT: Pace = Pace {
        first_token: Duration::ZERO,
        tokens_per_second: 0,
    };

    #[test]
    fn frames_decode_with_valid_crcs_in_converse_order() {
        let events = decode(&plan(&admitted("one two three four five"), FLAT));
        let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "messageStart",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockStop",
                "messageStop",
                "metadata"
            ]
        );
        assert_eq!(events[1].1["delta"]["text"], "one two three ");
        assert_eq!(events[5].1["usage"]["totalTokens"], 5);
    }

    #[test]
    fn corrupted_frames_fail_the_crc_check() {
        let Step::Send(bytes) = &plan(&admitted("x"), FLAT)[1] else {
            panic!("expected a frame")
        };
        let mut corrupt = bytes.to_vec();
        let last = corrupt.len() - 5;
        corrupt[last] ^= 0xff;
        assert!(read_message_from(Bytes::from(corrupt)).is_err());
    }

    #[test]
    fn mid_stream_faults_end_in_an_exception_frame() {
        let mut a = admitted("a b c d e f g h i");
        a.mid_stream_fault = Some(BedrockError::ModelStreamError);
        let events = decode(&plan(&a, FLAT));
        assert_eq!(events.last().unwrap().0, "modelStreamErrorException");
        assert_eq!(
            events
                .iter()
                .filter(|(k, _)| k == "contentBlockDelta")
                .count(),
            1
        );
    }

    #[test]
    fn stalls_stop_sending_without_finishing() {
        let mut a = admitted("a b c d e f g h i");
        a.stall_after = Some(1);
        let steps = plan(&a, FLAT);
        assert_eq!(steps.last(), Some(&Step::Stall));
        assert!(!decode(&steps).iter().any(|(k, _)| k == "messageStop"));
    }
}
