//! The chat-completion answer: one `chat.completion` JSON, or SSE `chat.completion.chunk`s
//! ending in `data: [DONE]` (with a usage chunk first when asked); a mid-stream fault ends the
//! stream with an error event instead, and a stall stops sending without finishing.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::sandbox::emulated_model::{self, Reply};
use crate::sandbox::model_call::Admitted;
use crate::sandbox::pace::{Pace, Step, chunks};

use super::request::Options;

/// The non-streaming answer: a `chat.completion` for `model`, created at `created` (Unix s).
pub fn chat_completion(admitted: &Admitted, model: &str, created: i64) -> Value {
    json!({
        "id": completion_id(admitted),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{ "index": 0, "message": message(&admitted.reply), "finish_reason": admitted.reply.stop_reason.as_openai() }],
        "usage": usage(admitted),
    })
}

fn completion_id(admitted: &Admitted) -> String {
    format!("chatcmpl-{}", admitted.request_id.replace('-', ""))
}

fn usage(admitted: &Admitted) -> Value {
    let (input, output) = (admitted.input_tokens, admitted.reply.output_tokens);
    json!({ "prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output })
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
        json!({ "id": id, "object": "chat.completion.chunk", "created": created, "model": options.model,
                "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
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
                           "model": options.model, "choices": [], "usage": usage(admitted) });
        steps.push(sse(&last));
    }
    steps.push(Step::Send(Bytes::from_static(b"data: [DONE]\n\n")));
    steps
}
