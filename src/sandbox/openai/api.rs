//! `POST /v1/chat/completions`: the OpenAI-compatible face of the same emulated models, under
//! the same quotas, Region routing, latency and faults as the Bedrock routes. Any model name is
//! accepted: catalogue ids (and inference profiles) behave as on Bedrock, other names run as a
//! generic model in the source Region. Streams are SSE `chat.completion.chunk`s ending in
//! `data: [DONE]`; a mid-stream fault ends the stream with an error event instead.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::sandbox::auth;
use crate::sandbox::catalogue::{self, CatalogueModel, ModelFamily, OnDemand, ResolvedModel};
use crate::sandbox::emulated_model::{self, Prompt, Reply, Tool, ToolChoice};
use crate::sandbox::error::BedrockError;
use crate::sandbox::model_call::{Admitted, Call, Operation};
use crate::sandbox::pace::{self, Pace, Step, chunks};
use crate::sandbox::request_fields::{self, invalid};
use crate::sandbox::state::Sandbox;

/// The model behind names the catalogue does not know.
const GENERIC: CatalogueModel = CatalogueModel {
    id: "openai-compatible",
    family: ModelFamily::MetaLlama,
    context_window: 128_000,
    geographies: &[],
    on_demand: OnDemand::BaseOrProfile,
};

/// What the request asked for besides the prompt.
#[derive(Debug)]
struct Options {
    model: String,
    stream: bool,
    include_usage: bool,
}

fn resolve(model: &str) -> ResolvedModel {
    catalogue::resolve(model).unwrap_or_else(|_| ResolvedModel {
        called: model.into(),
        model: GENERIC,
        profile: None,
    })
}

/// Answers one chat completion.
pub async fn handle(sandbox: Arc<Sandbox>, headers: HeaderMap, raw: Bytes) -> Response {
    let caller = match auth::openai_caller(&sandbox.settings, &headers) {
        Ok(caller) => caller,
        Err(error) => return error.into_openai_response(),
    };
    let (options, prompt) = match parse_request(&raw, sandbox.settings.seed) {
        Ok(parsed) => parsed,
        Err(error) => return error.into_openai_response(),
    };
    let model = Ok(resolve(&options.model));
    let call = Call {
        caller: &caller,
        operation: Operation::ChatCompletions,
        model_id: &options.model,
        model,
        prompt: Ok(prompt),
        streaming: options.stream,
    };
    let admitted = match sandbox.invoke(call) {
        Ok(admitted) => admitted,
        Err(rejected) => return rejected.error.into_openai_response(),
    };
    pace::wait(admitted.first_byte_delay).await;
    let pace = Pace::of(&sandbox.settings);
    let created = chrono::Utc::now().timestamp();
    if options.stream {
        let steps = stream_plan(&admitted, &options, created, pace);
        return respond(pace::paced_body(steps), "text/event-stream", &admitted);
    }
    pace::wait(pace.total(admitted.reply.output_tokens)).await;
    let message = message(&admitted.reply);
    let completion = json!({
        "id": completion_id(&admitted),
        "object": "chat.completion",
        "created": created,
        "model": options.model,
        "choices": [{ "index": 0, "message": message, "finish_reason": admitted.reply.stop_reason.as_openai() }],
        "usage": usage(&admitted),
    });
    respond(
        Body::from(completion.to_string()),
        "application/json",
        &admitted,
    )
}

fn respond(body: Body, content_type: &'static str, admitted: &Admitted) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static(content_type));
    if let Ok(region) = HeaderValue::from_str(&admitted.region) {
        response
            .headers_mut()
            .insert("x-sandbox-inference-region", region);
    }
    response
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
fn stream_plan(admitted: &Admitted, options: &Options, created: i64, pace: Pace) -> Vec<Step> {
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

fn message_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        Some(_) | None => String::new(),
    }
}

fn parse_tools(map: &Map<String, Value>) -> Result<(Vec<Tool>, ToolChoice), BedrockError> {
    let specs = match map.get("tools") {
        None | Some(Value::Null) => return Ok((Vec::new(), ToolChoice::Auto)),
        Some(_) => request_fields::array(map, "tools", "tools")?,
    };
    let mut tools = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let function = spec.get("function");
        let name = function.and_then(|f| f.get("name")).and_then(Value::as_str);
        let name = name.ok_or_else(|| {
            invalid(
                &format!("tools.{i}.function.name"),
                "Member must not be null",
            )
        })?;
        let schema = function
            .and_then(|f| f.get("parameters"))
            .cloned()
            .unwrap_or_else(|| json!({}));
        tools.push(Tool {
            name: name.to_owned(),
            schema,
        });
    }
    let choice = match map.get("tool_choice") {
        None | Some(Value::Null) => ToolChoice::Auto,
        Some(Value::String(s)) if s == "none" => ToolChoice::Disabled,
        Some(Value::String(s)) if s == "required" => ToolChoice::Any,
        Some(Value::String(_)) => ToolChoice::Auto,
        Some(other) => match other
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
        {
            Some(name) => ToolChoice::Named(name.to_owned()),
            None => return Err(invalid("tool_choice", "Member must name a function")),
        },
    };
    Ok((tools, choice))
}

/// Reads a chat-completion request.
fn parse_request(raw: &[u8], seed: u64) -> Result<(Options, Prompt), BedrockError> {
    let map = request_fields::object(raw)?;
    let model = map
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty());
    let model = model
        .ok_or_else(|| invalid("model", "Member must not be null"))?
        .to_owned();
    let messages = request_fields::array(&map, "messages", "messages")?;
    if messages.is_empty() {
        return Err(invalid(
            "messages",
            "Member must have length greater than or equal to 1",
        ));
    }
    let mut chars = 0;
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Value::as_str);
        if !matches!(
            role,
            Some("system" | "developer" | "user" | "assistant" | "tool")
        ) {
            return Err(invalid(
                &format!("messages.{i}.role"),
                "Member must be system, user, assistant or tool",
            ));
        }
        chars += message_text(m.get("content")).chars().count();
    }
    let last = messages.last();
    let tool_result = last.filter(|m| m.get("role").and_then(Value::as_str) == Some("tool"));
    let max_tokens = match request_fields::optional_count(
        &map,
        "max_completion_tokens",
        "max_completion_tokens",
    )? {
        Some(n) => Some(n),
        None => request_fields::optional_count(&map, "max_tokens", "max_tokens")?,
    };
    request_fields::optional_number(&map, "temperature", "temperature", (0.0, 2.0))?;
    let (tools, tool_choice) = parse_tools(&map)?;
    let stream = map.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let include_usage = map
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool);
    let prompt = Prompt {
        input_tokens: emulated_model::estimate_tokens(chars),
        max_tokens,
        stop_sequences: request_fields::optional_strings(&map, "stop", "stop")?,
        tools,
        tool_choice,
        tool_result: tool_result.map(|m| message_text(m.get("content"))),
        digest: emulated_model::digest(&[&seed.to_le_bytes(), raw]),
    };
    Ok((
        Options {
            model,
            stream,
            include_usage: include_usage.unwrap_or(false),
        },
        prompt,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_read_model_tokens_and_tools() {
        let body = json!({"model": "gpt-x", "max_tokens": 9, "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "12345678"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}], "tool_choice": "required"});
        let (options, prompt) = parse_request(body.to_string().as_bytes(), 1).unwrap();
        assert!(options.stream && options.include_usage);
        assert_eq!(
            (prompt.input_tokens, prompt.max_tokens, prompt.tool_choice),
            (2, Some(9), ToolChoice::Any)
        );
        let e = parse_request(br#"{"messages":[]}"#, 1).unwrap_err();
        assert!(e.to_string().contains("'model'"));
    }

    #[test]
    fn unknown_models_run_as_generic() {
        assert_eq!(resolve("gpt-4o-mini").model, GENERIC);
        assert!(resolve("us.anthropic.claude-sonnet-4-6").profile.is_some());
    }
}
