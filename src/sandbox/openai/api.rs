//! The chat-completions handler: who calls ([`openai_caller`]), what they ask
//! ([`parse_request`]), the call through the shared [`Sandbox::invoke`], then the answer
//! ([`chat_completion`] or [`stream_plan`]) at the model's pace. Any model name is accepted:
//! catalogue ids (and inference profiles) behave as on Bedrock, other names run as a generic
//! model in the source Region.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::sandbox::catalogue::{self, CatalogueModel, ModelFamily, OnDemand, ResolvedModel};
use crate::sandbox::model_call::{Admitted, Call, Operation};
use crate::sandbox::pace::{self, Pace};
use crate::sandbox::state::Sandbox;

use super::api_keys::openai_caller;
use super::completion::{chat_completion, stream_plan};
use super::request::parse_request;

/// The model behind names the catalogue does not know.
const GENERIC: CatalogueModel = CatalogueModel {
    id: "openai-compatible",
    family: ModelFamily::MetaLlama,
    context_window: 128_000,
    max_output_tokens: 32_768,
    output_burndown: 1,
    geographies: &[],
    on_demand: OnDemand::BaseOrProfile,
};

/// The catalogue model `model` names, else the generic one.
fn resolve(model: &str) -> ResolvedModel {
    catalogue::resolve(model).unwrap_or_else(|_| ResolvedModel {
        called: model.into(),
        model: GENERIC,
        profile: None,
    })
}

/// Answers one chat completion.
pub async fn handle(sandbox: Arc<Sandbox>, headers: HeaderMap, raw: Bytes) -> Response {
    let caller = match openai_caller(&sandbox.settings, &headers) {
        Ok(caller) => caller,
        Err(error) => return error.into_openai_response(),
    };
    sandbox.record_traceparent(&headers);
    if let Ok(body) = serde_json::from_slice(&raw) {
        sandbox.record_request(body);
    }
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
    let completion = chat_completion(&admitted, &options, created);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_models_run_as_generic() {
        assert_eq!(resolve("gpt-4o-mini").model, GENERIC);
        assert!(resolve("us.anthropic.claude-sonnet-4-6").profile.is_some());
    }
}
