//! Bedrock Runtime's own routes on the gateway (`POST /model/{modelId}/converse`,
//! `/converse-stream`, `/invoke`, `/invoke-with-response-stream`, `/count-tokens`), so boto3,
//! the AWS CLI and the AWS SDKs reach the pipeline by changing only their endpoint. A thin
//! adapter like the others: it reads the body (a Converse body into the canonical
//! conversation, an InvokeModel body kept as it is), says what the request needs, hands it to
//! the same pipeline, and writes the reply, the event stream and the errors as Bedrock does
//! (`x-amzn-errortype`, `x-amzn-requestid`, exception frames).
//!
//! `{modelId}` (percent-decoded) names a model group, an alias or a wildcard, or the model id
//! (or ARN) of a configured Bedrock deployment, which routes through the first group holding it.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;

use super::auth::Caller;
use super::body::HeldBody;
use super::error::{ApiError, Dialect};
use super::intake;
use super::respond::{count_refused, error_response, log_served, put_trace_headers};
use super::sigv4;
use super::state::AppState;
use crate::bedrock_runtime::eventstream::{self, event_frame, exception_frame};
use crate::bedrock_runtime::{ConverseCall, CountInput, InvokeCall, converse};
use crate::config::{ModelFamily, ProviderKind};
use crate::pipeline::{Answer, Body as PipelineBody, Encoder, RouteRequest, Served, Shape};
use crate::provider::{ErrorKind, ProviderError, Reply, StreamItem};

/// The operations of the `/model/{modelId}/{operation}` routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Converse,
    ConverseStream,
    Invoke,
    InvokeStream,
    CountTokens,
}

impl Operation {
    fn of(name: &str) -> Option<Operation> {
        Some(match name {
            "converse" => Operation::Converse,
            "converse-stream" => Operation::ConverseStream,
            "invoke" => Operation::Invoke,
            "invoke-with-response-stream" => Operation::InvokeStream,
            "count-tokens" => Operation::CountTokens,
            _ => return None,
        })
    }

    fn shape(self) -> Shape {
        match self {
            Operation::ConverseStream | Operation::InvokeStream => Shape::Stream,
            Operation::Converse | Operation::Invoke | Operation::CountTokens => Shape::Complete,
        }
    }
}

/// `POST /model/{modelId}/{operation}`.
pub(super) async fn call(
    State(state): State<Arc<AppState>>,
    Path((model_id, operation)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let Some(operation) = Operation::of(&operation) else {
        return unknown_operation(&state, &operation);
    };
    // An open gateway takes any request; one with keys reads a SigV4 signature as the key of
    // the consumer whose access key id it names.
    let read = match state.config.gateway.requires_auth() && sigv4::is_signed(&headers) {
        true => signed_intake(&state, &uri, &headers, body).await,
        false => intake::read(&state, &headers, body, Dialect::Bedrock).await,
    };
    let (caller, bytes) = match read {
        Ok(read) => read,
        Err(response) => return response,
    };
    let Some(group) = group_of(&state, &model_id) else {
        return refuse(&state, ApiError::unknown_bedrock_model());
    };
    // Shared with the held body (which keeps its budget until the handler ends), not copied.
    let held = bytes;
    let bytes = held.bytes();
    match operation {
        Operation::Converse | Operation::ConverseStream => {
            let call = match converse_call(&bytes) {
                Ok(call) => call,
                Err(error) => return refuse(&state, error),
            };
            let route = RouteRequest {
                group: &group,
                caller,
                shape: operation.shape(),
                input_tokens: call.estimated_input_tokens(),
                max_output_tokens: call.conversation.inference.max_tokens,
                needs: call.needs(),
            };
            serve(&state, &route, PipelineBody::Converse(&call), started).await
        }
        Operation::Invoke | Operation::InvokeStream => {
            let text = |name: header::HeaderName| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let family = family_of(&state, &model_id, &group);
            let call = InvokeCall::new(
                bytes,
                text(header::CONTENT_TYPE),
                text(header::ACCEPT),
                family,
            );
            let route = RouteRequest {
                group: &group,
                caller,
                shape: operation.shape(),
                input_tokens: call.input_tokens,
                max_output_tokens: call.max_output_tokens,
                needs: call.needs(),
            };
            serve(&state, &route, PipelineBody::Invoke(&call), started).await
        }
        Operation::CountTokens => count_tokens(&state, caller, &model_id, &group, &bytes).await,
    }
}

/// A SigV4-signed request: the consumer its access key id names (every configured id compared
/// in constant time, before the body is read), then the body, then the signature over both.
async fn signed_intake<'s>(
    state: &'s AppState,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Caller<'s>, HeldBody), Response> {
    let declared =
        intake::declared_size(state, headers, Dialect::Bedrock).map_err(|refusal| *refusal)?;
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(authorization) = sigv4::parse_authorization(value) else {
        return Err(refuse(state, signature_refusal(sigv4::Refusal::Malformed)));
    };
    let presented = authorization.access_key_id.as_bytes();
    let mut found = None;
    for consumer in &state.config.gateway.consumers {
        let Some(key) = &consumer.sigv4 else { continue };
        let id = key.access_key_id.as_bytes();
        let same = id.len() == presented.len() && bool::from(id.ct_eq(presented));
        if same && found.is_none() {
            found = Some((consumer, key));
        }
    }
    let Some((consumer, key)) = found else {
        return Err(refuse(state, ApiError::unauthorized("Invalid API key")));
    };
    let bytes = intake::read_body(state, declared, body, Dialect::Bedrock).await?;
    let request = sigv4::SignedRequest {
        method: "POST",
        path: uri.path(),
        query: uri.query().unwrap_or_default(),
        headers,
        authority: uri.authority().map(|a| a.as_str()),
        body: &bytes,
    };
    match sigv4::verify(
        &authorization,
        &request,
        key.secret.expose(),
        SystemTime::now(),
    ) {
        Ok(()) => Ok((Caller::Consumer(consumer), bytes)),
        Err(refusal) => Err(refuse(state, signature_refusal(refusal))),
    }
}

/// AWS's answer to a signature it does not accept: no detail beyond its own words.
fn signature_refusal(refusal: sigv4::Refusal) -> ApiError {
    match refusal {
        sigv4::Refusal::Malformed => ApiError::bad_signature(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters, and a signed 'host' and 'x-amz-date'.",
        ),
        sigv4::Refusal::Expired => ApiError::bad_signature(
            "InvalidSignatureException",
            "Signature expired: the request's x-amz-date is more than 5 minutes from the server's time.",
        ),
        sigv4::Refusal::Mismatch => ApiError::bad_signature(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ),
    }
}

/// The group `{modelId}` reaches: a group, alias or wildcard by name, else the first group
/// holding a Bedrock deployment of that model id or ARN.
fn group_of(state: &AppState, model_id: &str) -> Option<String> {
    match state.pipeline.router.resolve(model_id) {
        Some(group) => Some(group.to_owned()),
        None => state
            .config
            .group_of_model(model_id)
            .map(|g| g.name.clone()),
    }
}

/// The family an InvokeModel body is written for: the model the client named, else the
/// group's first Bedrock deployment's.
fn family_of(state: &AppState, model_id: &str, group: &str) -> Option<ModelFamily> {
    ModelFamily::of_bedrock_model(model_id).or_else(|| {
        state.config.group(group).and_then(|g| {
            g.deployments
                .iter()
                .find(|d| d.provider == ProviderKind::Bedrock)
                .and_then(|d| d.family)
        })
    })
}

/// A Converse body: a JSON object read into the canonical conversation.
fn converse_call(bytes: &[u8]) -> Result<ConverseCall, ApiError> {
    let body: Map<String, Value> = serde_json::from_slice(bytes).map_err(|error| {
        ApiError::bad_request(
            None,
            format!("Malformed input request: the body is not a JSON object ({error})"),
        )
    })?;
    converse::to_conversation(&body)
        .map(|conversation| ConverseCall { conversation })
        .map_err(|error| ApiError::bad_request(Some(error.param), error.message))
}

async fn serve(
    state: &AppState,
    route: &RouteRequest<'_>,
    body: PipelineBody<'_>,
    started: Instant,
) -> Response {
    match state.pipeline.serve(route, body).await {
        Ok(served) => {
            log_served(route.caller, &served.trace, route.shape, started);
            served_response(state, served)
        }
        Err(refused) => {
            let error = count_refused(state, route.caller, &refused, started);
            error_response(error, &refused.trace, Dialect::Bedrock)
        }
    }
}

/// The reply as Bedrock writes it, or the event stream, with the routing headers.
fn served_response(state: &AppState, served: Served) -> Response {
    let Served { answer, trace } = served;
    let mut response = match answer {
        Answer::Complete(completion) => match completion.response {
            Reply::Bedrock { body, content_type } => {
                let mut response = (StatusCode::OK, body).into_response();
                if let Ok(value) = HeaderValue::from_str(&content_type) {
                    response.headers_mut().insert(header::CONTENT_TYPE, value);
                }
                response
            }
            Reply::Chat(_) | Reply::Messages(_) | Reply::Embeddings(_) => {
                tracing::error!(group = %trace.requested_group, "a reply of another surface on Bedrock's routes");
                state.pipeline.metrics.error(ErrorKind::Internal);
                return error_response(ApiError::internal(), &trace, Dialect::Bedrock);
            }
        },
        Answer::Stream(stream) => {
            let body = Body::from_stream(stream.relay(EventStream));
            let mut response = (StatusCode::OK, body).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(eventstream::CONTENT_TYPE),
            );
            // InvokeModelWithResponseStream's `contentType`: the chunks' own format.
            headers.insert(
                "x-amzn-bedrock-content-type",
                HeaderValue::from_static("application/json"),
            );
            response
        }
    };
    put_trace_headers(response.headers_mut(), &trace);
    response
}

/// Bedrock's event stream: each event framed as it came, and an exception frame when the
/// upstream fails after the first one.
struct EventStream;

impl Encoder for EventStream {
    fn item(&mut self, item: &StreamItem) -> Option<Bytes> {
        match item {
            StreamItem::Bedrock(event) => {
                Some(event_frame(event.event_type, event.payload.clone()))
            }
            StreamItem::Usage { .. } | StreamItem::Chunk(_) | StreamItem::Event(_) => None,
        }
    }

    fn end(&mut self) -> Option<Bytes> {
        None
    }

    fn failure(&mut self, error: &ProviderError) -> (Bytes, ErrorKind) {
        let api_error = ApiError::from_provider(error);
        let frame = exception_frame(api_error.bedrock_stream_exception(), &api_error.message);
        (frame, api_error.kind)
    }
}

/// Who counted a `count-tokens` answer: `bedrock` (CountTokens) or `estimate`.
const COUNTED_BY: http::HeaderName = http::HeaderName::from_static("x-resilient-llm-counted-by");

/// The longest a `count-tokens` waits for Bedrock before answering the estimate.
const COUNT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// CountTokens: by the group's first Bedrock deployment (free, no RPM or TPM), else (or when
/// that fails) estimated here.
async fn count_tokens(
    state: &AppState,
    caller: Caller<'_>,
    model_id: &str,
    group: &str,
    bytes: &[u8],
) -> Response {
    if !caller.may_use(model_id) && !caller.may_use(group) {
        let error = ApiError::forbidden(format!("this key may not use the model `{model_id}`"));
        return refuse(state, error);
    }
    let input = match count_input(bytes) {
        Ok(input) => input,
        Err(error) => return refuse(state, error),
    };
    let deployment = state.config.group(group).and_then(|g| {
        g.deployments
            .iter()
            .find(|d| d.provider == ProviderKind::Bedrock)
    });
    let counted = match deployment {
        Some(deployment) => {
            let bedrock = &state.pipeline.providers.bedrock;
            let budget = deployment
                .timeout
                .unwrap_or(COUNT_TIMEOUT)
                .min(COUNT_TIMEOUT);
            match tokio::time::timeout(budget, bedrock.count_body(deployment, &input)).await {
                Ok(Ok(tokens)) => Some(tokens),
                Ok(Err(error)) => {
                    tracing::debug!(deployment = %deployment.id, %error, "CountTokens failed; answering the estimate");
                    None
                }
                Err(_) => None,
            }
        }
        None => None,
    };
    let (tokens, counted_by) = match counted {
        Some(tokens) => (tokens, "bedrock"),
        None => (input.estimate(), "estimate"),
    };
    let mut response = axum::Json(json!({"inputTokens": tokens})).into_response();
    let counted_by = HeaderValue::from_static(counted_by);
    response.headers_mut().insert(COUNTED_BY, counted_by);
    response
}

/// A CountTokens body: `{"input": {"converse": {…}}}` or `{"input": {"invokeModel": {"body"}}}`.
fn count_input(bytes: &[u8]) -> Result<CountInput, ApiError> {
    let body: Value = serde_json::from_slice(bytes).map_err(|error| {
        ApiError::bad_request(
            None,
            format!("Malformed input request: the body is not JSON ({error})"),
        )
    })?;
    let input = body.get("input");
    if let Some(Value::Object(converse)) = input.and_then(|i| i.get("converse")) {
        return converse::to_conversation(converse)
            .map(|conversation| CountInput::Converse(Box::new(ConverseCall { conversation })))
            .map_err(|error| ApiError::bad_request(Some(error.param), error.message));
    }
    let invoke_body = input
        .and_then(|i| i.get("invokeModel"))
        .and_then(|i| i.get("body"))
        .and_then(Value::as_str);
    match invoke_body {
        Some(encoded) => aws_smithy_types::base64::decode(encoded)
            .map(|body| CountInput::Invoke(Bytes::from(body)))
            .map_err(|_| {
                ApiError::bad_request(
                    Some("input.invokeModel.body".into()),
                    "1 validation error detected: Value at 'input.invokeModel.body' failed to satisfy constraint: Member must be base64",
                )
            }),
        None => Err(ApiError::bad_request(
            Some("input".into()),
            "1 validation error detected: Value at 'input' failed to satisfy constraint: Member must be one of converse, invokeModel",
        )),
    }
}

fn refuse(state: &AppState, error: ApiError) -> Response {
    intake::refuse(state, error, Dialect::Bedrock)
}

/// Bedrock's answer to an operation it does not have.
fn unknown_operation(state: &AppState, operation: &str) -> Response {
    state.pipeline.metrics.error(ErrorKind::NotFound);
    let mut response = (
        StatusCode::NOT_FOUND,
        json!({"message": format!("no operation `{operation}`: Bedrock Runtime's routes are converse, converse-stream, invoke, invoke-with-response-stream and count-tokens")}).to_string(),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        "x-amzn-errortype",
        HeaderValue::from_static("UnknownOperationException"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::read_message_from;

    #[test]
    fn a_count_body_is_a_conversation_or_an_invoke_body() {
        let converse = json!({"input": {"converse": {"messages": [
            {"role": "user", "content": [{"text": "hello there"}]}]}}});
        match count_input(converse.to_string().as_bytes()).unwrap() {
            CountInput::Converse(call) => assert_eq!(call.conversation.messages.len(), 1),
            other => panic!("{other:?}"),
        }
        let invoke = json!({"input": {"invokeModel": {"body": "eyJhIjoxfQ=="}}});
        assert_eq!(
            count_input(invoke.to_string().as_bytes()).unwrap(),
            CountInput::Invoke(Bytes::from_static(br#"{"a":1}"#))
        );
        let error = count_input(br#"{"input": {}}"#).unwrap_err();
        assert_eq!(error.param.as_deref(), Some("input"));
    }

    #[test]
    fn a_stream_cut_off_ends_with_an_exception_frame() {
        let mut stream = EventStream;
        let (mut frame, kind) = stream.failure(&ProviderError::RateLimited {
            message: "slow".into(),
            retry_after: None,
        });
        assert_eq!(kind, ErrorKind::RateLimit);
        let message = read_message_from(&mut frame).unwrap();
        let exception = message
            .headers()
            .iter()
            .find(|h| h.name().as_str() == ":exception-type")
            .and_then(|h| h.value().as_string().ok())
            .map(|s| s.as_str().to_owned());
        assert_eq!(exception.as_deref(), Some("throttlingException"));
    }

    #[test]
    fn operations_are_bedrocks_route_names() {
        assert_eq!(
            Operation::of("converse-stream"),
            Some(Operation::ConverseStream)
        );
        assert_eq!(
            Operation::of("invoke-with-response-stream").map(Operation::shape),
            Some(Shape::Stream)
        );
        assert_eq!(Operation::of("apply-guardrail"), None);
    }
}
