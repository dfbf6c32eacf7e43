//! The Bedrock Runtime routes: `POST /model/{modelId}/converse`, `/converse-stream`, `/invoke`,
//! `/invoke-with-response-stream`.
//! Parses the call, runs it through [`Sandbox::invoke`], then answers at the model's pace.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use crate::sandbox::auth;
use crate::sandbox::catalogue::{self, ModelFamily, ResolvedModel};
use crate::sandbox::emulated_model::Prompt;
use crate::sandbox::error::BedrockError;
use crate::sandbox::model_call::{Admitted, Call, Operation};
use crate::sandbox::pace::{self, Pace};
use crate::sandbox::state::Sandbox;

use super::anthropic_stream;
use super::converse;
use super::count_tokens;
use super::embeddings;
use super::eventstream;
use super::invoke_model;

/// The operation named by the last path segment.
fn operation(action: &str) -> Option<Operation> {
    match action {
        "converse" => Some(Operation::Converse),
        "converse-stream" => Some(Operation::ConverseStream),
        "invoke" => Some(Operation::InvokeModel),
        "invoke-with-response-stream" => Some(Operation::InvokeModelWithResponseStream),
        _ => None,
    }
}

/// Answers one Bedrock Runtime call; `model_id` is already percent-decoded.
pub async fn handle(
    sandbox: Arc<Sandbox>,
    model_id: String,
    action: String,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match auth::aws_caller(&sandbox.settings, &headers) {
        Ok(caller) => caller,
        Err(error) => return error.into_response_with_id(""),
    };
    sandbox.record_traceparent(&headers);
    if action == "count-tokens" {
        return count_tokens_response(&sandbox, &model_id, &body);
    }
    let Some(operation) = operation(&action) else {
        return unknown_operation(&format!("/model/{{modelId}}/{action}"));
    };
    if matches!(operation, Operation::Converse | Operation::ConverseStream)
        && let Ok(body) = serde_json::from_slice(&body)
    {
        sandbox.record_request(body);
    }
    let seed = sandbox.settings.seed;
    let model = catalogue::resolve(&model_id).and_then(|resolved| {
        catalogue::check_on_demand(&resolved)?;
        Ok(resolved)
    });
    let invoke = matches!(
        operation,
        Operation::InvokeModel | Operation::InvokeModelWithResponseStream
    );
    let streaming = matches!(
        operation,
        Operation::ConverseStream | Operation::InvokeModelWithResponseStream
    );
    let prompt = parse_prompt(operation, &model, &body, seed, &model_id);
    let family = model.as_ref().map(|m| m.model.family).ok();
    let call = Call {
        caller: &caller,
        operation,
        model_id: &model_id,
        model,
        prompt,
        streaming,
    };
    let admitted = match sandbox.invoke(call) {
        Ok(admitted) => admitted,
        Err(rejected) => return rejected.error.into_response_with_id(&rejected.request_id),
    };
    pace::wait(admitted.first_byte_delay).await;
    let pace = Pace::of(&sandbox.settings);
    match streaming {
        true => stream_response(&admitted, invoke, &model_id, pace),
        false => {
            let answer = Answer {
                operation,
                family,
                model_id: &model_id,
                seed,
            };
            complete_response(&admitted, answer, pace).await
        }
    }
}

/// The request body as a prompt, read in the operation's format: an InvokeModel body in its
/// model's native format, else Converse's.
fn parse_prompt(
    operation: Operation,
    model: &Result<ResolvedModel, BedrockError>,
    body: &[u8],
    seed: u64,
    model_id: &str,
) -> Result<Prompt, BedrockError> {
    let invoke = matches!(
        operation,
        Operation::InvokeModel | Operation::InvokeModelWithResponseStream
    );
    match model {
        Ok(resolved) if resolved.model.family.embeds() => match operation {
            Operation::InvokeModel => {
                embeddings::parse_request(resolved.model.family, body, seed, model_id)
            }
            _ => Err(BedrockError::Validation(
                "This action doesn't support the model that you provided. Try again with a supported text or chat model.".into(),
            )),
        },
        Ok(resolved) if invoke => {
            let family = resolved.model.family;
            let prompt = invoke_model::parse_request(family, body, seed, model_id)?;
            if operation == Operation::InvokeModelWithResponseStream
                && family != ModelFamily::Anthropic
            {
                return Err(BedrockError::Validation(
                    "The sandbox emulates InvokeModelWithResponseStream for Anthropic models only"
                        .into(),
                ));
            }
            Ok(prompt)
        }
        Err(error) if invoke => Err(error.clone()),
        Ok(_) | Err(_) => converse::parse_request(body, seed, model_id),
    }
}

/// A streamed answer: ConverseStream's events, or InvokeModelWithResponseStream's chunks.
fn stream_response(admitted: &Admitted, invoke: bool, model_id: &str, pace: Pace) -> Response {
    let steps = match invoke {
        true => anthropic_stream::plan(admitted, model_id, pace),
        false => eventstream::plan(admitted, pace),
    };
    let body = pace::paced_body(steps);
    let mut response = respond(body, "application/vnd.amazon.eventstream", admitted);
    if invoke {
        let headers = response.headers_mut();
        let json = HeaderValue::from_static("application/json");
        headers.insert("x-amzn-bedrock-content-type", json);
    }
    response
}

/// A complete answer, after the time its tokens take: InvokeModel's native body with its
/// count headers, or Converse's reply.
async fn complete_response(admitted: &Admitted, answer: Answer<'_>, pace: Pace) -> Response {
    let Answer {
        operation,
        family,
        model_id,
        seed,
    } = answer;
    let latency = pace.total(admitted.reply.output_tokens);
    pace::wait(latency).await;
    let json: Value = match family {
        Some(family) if family.embeds() => embeddings::response(family, model_id, seed, admitted),
        Some(family) if operation == Operation::InvokeModel => {
            invoke_model::response(family, model_id, admitted)
        }
        Some(_) | None => converse::response(admitted, latency.as_millis() as u64),
    };
    let mut response = respond(Body::from(json.to_string()), "application/json", admitted);
    let counts = [
        ("x-amzn-bedrock-input-token-count", admitted.input_tokens),
        (
            "x-amzn-bedrock-output-token-count",
            admitted.reply.output_tokens,
        ),
        (
            "x-amzn-bedrock-invocation-latency",
            latency.as_millis() as u64,
        ),
    ];
    for (name, value) in counts {
        response
            .headers_mut()
            .insert(name, HeaderValue::from(value));
    }
    response
}

/// What a complete answer is written from besides the call.
struct Answer<'a> {
    operation: Operation,
    family: Option<ModelFamily>,
    model_id: &'a str,
    seed: u64,
}

/// CountTokens' answer: free, no quota and no invocation log.
fn count_tokens_response(sandbox: &Sandbox, model_id: &str, body: &[u8]) -> Response {
    match count_tokens::count(model_id, body, sandbox.settings.seed) {
        Ok(json) => {
            let mut response = (StatusCode::OK, json.to_string()).into_response();
            let json = HeaderValue::from_static("application/json");
            response.headers_mut().insert("content-type", json);
            response
        }
        Err(error) => error.into_response_with_id(""),
    }
}

/// The answer to a route or action Bedrock Runtime does not have: an `x-amzn-errortype` the
/// SDKs read as the error code, so a client sees `UnknownOperationException`, not a bare 404.
pub fn unknown_operation(what: &str) -> Response {
    BedrockError::UnknownOperation(format!("Unknown operation: {what}")).into_response_with_id("")
}

fn respond(body: Body, content_type: &'static str, admitted: &Admitted) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(content_type));
    if let Ok(id) = HeaderValue::from_str(&admitted.request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    if let Ok(region) = HeaderValue::from_str(&admitted.region) {
        headers.insert("x-sandbox-inference-region", region);
    }
    response
}
