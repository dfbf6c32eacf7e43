//! The chat-completion answer: one `chat.completion` JSON, or SSE `chat.completion.chunk`s
//! ending in `data: [DONE]` (with a usage chunk first when asked); a mid-stream fault ends the
//! stream with an error event instead, and a stall stops sending without finishing.
//!
//! What OpenAI's own answers carry beyond the message is there too, for pass-through tests:
//! `system_fingerprint`, `n` choices, `logprobs` when asked (a made-up log probability per
//! word), and usage details (`prompt_tokens_details`, `completion_tokens_details`).

use bytes::Bytes;
use serde_json::{Value, json};

use crate::sandbox::emulated_model::{self, Reply};
use crate::sandbox::model_call::Admitted;
use crate::sandbox::pace::{Pace, Step, chunks};

use super::request::Options;

/// Every answer's `system_fingerprint`.
const FINGERPRINT: &str = "fp_sandbox";

/// The non-streaming answer: a `chat.completion` for `options.model`, created at `created`
/// (Unix s).
pub fn chat_completion(admitted: &Admitted, options: &Options, created: i64) -> Value {
    let reply = &admitted.reply;
    let choices: Vec<Value> = (0..options.choices)
        .map(|index| {
            let mut choice = json!({ "index": index, "message": message(reply),
                "finish_reason": reply.stop_reason.as_openai() });
            if let Some(top) = options.logprobs {
                choice["logprobs"] = json!({ "content": token_logprobs(&reply.text, top) });
            }
            choice
        })
        .collect();
    json!({
        "id": completion_id(admitted),
        "object": "chat.completion",
        "created": created,
        "model": options.model,
        "system_fingerprint": FINGERPRINT,
        "choices": choices,
        "usage": usage(admitted),
    })
}

/// OpenAI's `logprobs.content`: one entry per word of `text`, with `top` alternatives each.
fn token_logprobs(text: &str, top: u32) -> Vec<Value> {
    text.split_inclusive(' ')
        .enumerate()
        .map(|(i, token)| {
            let logprob = -0.01 * (i % 7 + 1) as f64;
            let alternatives: Vec<Value> = (0..top)
                .map(|k| json!({ "token": token, "logprob": logprob - f64::from(k), "bytes": token.as_bytes() }))
                .collect();
            json!({ "token": token, "logprob": logprob, "bytes": token.as_bytes(),
                "top_logprobs": alternatives })
        })
        .collect()
}

fn completion_id(admitted: &Admitted) -> String {
    format!("chatcmpl-{}", admitted.request_id.replace('-', ""))
}

fn usage(admitted: &Admitted) -> Value {
    let (input, output) = (admitted.input_tokens, admitted.reply.output_tokens);
    json!({ "prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output,
        "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
        "completion_tokens_details": { "reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0 } })
}

fn tool_calls(reply: &Reply) -> Option<Value> {
    reply.tool_call.as_ref().map(|call| {
        json!([{ "index": 0, "id": call.id, "type": "function",
                 "function": { "name": call.name, "arguments": call.input.to_string() } }])
    })
}

fn message(reply: &Reply) -> Value {
    match tool_calls(reply) {
        Some(calls) => json!({ "role": "assistant", "content": null, "tool_calls": calls }),
        None => json!({ "role": "assistant", "content": reply.text }),
    }
}

fn sse(value: &Value) -> Step {
    Step::Send(Bytes::from(format!("data: {value}\n\n")))
}

/// The SSE answer as timed steps.
pub fn stream_plan(admitted: &Admitted, options: &Options, created: i64, pace: Pace) -> Vec<Step> {
    let id = completion_id(admitted);
    let chunk = |delta: Value, finish: Value| {
        let choices: Vec<Value> = (0..options.choices)
            .map(|index| {
                let mut choice = json!({ "index": index, "delta": delta, "finish_reason": finish });
                if let (Some(top), Some(text)) = (
                    options.logprobs,
                    delta.get("content").and_then(Value::as_str),
                ) && !text.is_empty()
                {
                    choice["logprobs"] = json!({ "content": token_logprobs(text, top) });
                }
                choice
            })
            .collect();
        json!({ "id": id, "object": "chat.completion.chunk", "created": created, "model": options.model,
                "system_fingerprint": FINGERPRINT, "choices": choices })
    };
    let reply = &admitted.reply;
    let mut steps = vec![
        Step::Wait(pace.first_token),
        sse(&chunk(
            json!({ "role": "assistant", "content": "" }),
            Value::Null,
        )),
    ];
    let pieces = match tool_calls(reply) {
        Some(calls) => vec![(json!({ "tool_calls": calls }), reply.output_tokens)],
        None => chunks(&reply.text)
            .into_iter()
            .map(|p| {
                (
                    json!({ "content": p }),
                    emulated_model::estimate_tokens(p.len()),
                )
            })
            .collect(),
    };
    let fault_at = admitted.mid_stream_fault.as_ref().map(|_| pieces.len() / 2);
    let mut sent = 0u64;
    for (i, (delta, tokens)) in pieces.into_iter().enumerate() {
        if let (Some(at), Some(error)) = (fault_at, &admitted.mid_stream_fault)
            && i == at
        {
            let (kind, code) = error.openai_type();
            steps.push(sse(
                &json!({ "error": { "message": error.to_string(), "type": kind, "code": code } }),
            ));
            return steps;
        }
        if admitted
            .stall_after
            .is_some_and(|after| sent >= u64::from(after))
        {
            steps.push(Step::Stall);
            return steps;
        }
        if i > 0 {
            steps.push(Step::Wait(pace.for_tokens(tokens)));
        }
        steps.push(sse(&chunk(delta, Value::Null)));
        sent += tokens;
    }
    if admitted.stall_after.is_some() {
        steps.push(Step::Stall);
        return steps;
    }
    steps.push(sse(&chunk(json!({}), json!(reply.stop_reason.as_openai()))));
    if options.include_usage {
        let last = json!({ "id": id, "object": "chat.completion.chunk", "created": created,
                           "model": options.model, "system_fingerprint": FINGERPRINT,
                           "choices": [], "usage": usage(admitted) });
        steps.push(sse(&last));
    }
    steps.push(Step::Send(Bytes::from_static(b"data: [DONE]\n\n")));
    steps
}
