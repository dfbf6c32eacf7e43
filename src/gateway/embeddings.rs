//! OpenAI's embeddings surface (`POST /v1/embeddings`): a thin adapter like chat completions.
//!
//! One thing is its own: Bedrock's embedding models take a fixed number of texts per call
//! (Titan one, Cohere 96), and each call is a request against the deployment's RPM. A request
//! with more inputs than the smallest batch any deployment it may reach takes is split into
//! batches of that size ([`batch_size`]), each served by the pipeline as a request of its own
//! (its own limits, retries and fallbacks), a few at a time; the answers are merged in input
//! order. One failed batch fails the request with its error.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use http::HeaderMap;

use super::auth::Caller;
use super::error::{ApiError, Dialect};
use super::intake;
use super::respond::{count_refused, error_response, log_served, served_response};
use super::state::AppState;
use crate::config::{Deployment, Mode, ProviderKind};
use crate::openai::{
    EmbeddingsRequest, EmbeddingsResponse, EncodingFormat, Usage, parse_embeddings_request,
};
use crate::pipeline::{Answer, Body as PipelineBody, Refused, RouteRequest, Served, Shape, Trace};
use crate::provider::bedrock::embeddings::EmbeddingModel;
use crate::provider::{Completion, Reply};
use crate::router::{Ask, Needs};

/// How many batches of one request are in flight at once.
const BATCHES_IN_FLIGHT: usize = 8;

pub(super) async fn embeddings(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    // `bytes` (the body's memory reservation) lives as long as the request holds its bytes.
    let (caller, bytes) = match intake::read(&state, &headers, body, Dialect::OpenAi).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let request = match parse_embeddings_request(&bytes) {
        Ok(request) => EmbeddingsRequest {
            original: Some(bytes.bytes()),
            ..request
        },
        Err(error) => {
            let error = ApiError::from_request(error);
            return intake::refuse(&state, error, Dialect::OpenAi);
        }
    };
    let format = request.encoding_format.unwrap_or(EncodingFormat::Float);
    let group = state
        .pipeline
        .router
        .resolve(&request.model)
        .unwrap_or(&request.model);
    let size = batch_size(state.pipeline.router.reachable(group));
    let batches: Vec<EmbeddingsRequest> = match request.texts() {
        Some(texts) if texts.len() > size => (0..texts.len())
            .step_by(size)
            .map(|start| request.slice(start..(start + size).min(texts.len())))
            .collect(),
        Some(_) | None => vec![request.clone()],
    };
    if let Some(rpm) = never_fits(batches.len(), state.pipeline.router.reachable(group)) {
        let message = format!(
            "{} texts take {} calls of the embedding models of `{}`, more than the {rpm} requests a minute all its deployments take together; send fewer texts per request",
            request.len(),
            batches.len(),
            request.model
        );
        let error = ApiError {
            param: Some("input".into()),
            ..ApiError::never_fits(message)
        };
        return intake::refuse(&state, error, Dialect::OpenAi);
    }
    let mut answers: Vec<Result<Served, Refused>> = Vec::with_capacity(batches.len());
    for window in batches.chunks(BATCHES_IN_FLIGHT) {
        let served = window.iter().map(|batch| serve(&state, batch, caller));
        answers.extend(futures_util::future::join_all(served).await);
    }
    let route = route_request(&request, caller);
    let mut served = Vec::with_capacity(answers.len());
    for answer in answers {
        match answer {
            Ok(answer) => served.push(answer),
            Err(refused) => {
                let error = count_refused(&state, caller, &refused, started);
                return error_response(error, &refused.trace, Dialect::OpenAi);
            }
        }
    }
    let served = merge(served, format);
    log_served(caller, &served.trace, route.shape, started);
    served_response(&state, served, false)
}

async fn serve(
    state: &AppState,
    batch: &EmbeddingsRequest,
    caller: Caller<'_>,
) -> Result<Served, Refused> {
    let route = route_request(batch, caller);
    state
        .pipeline
        .serve(&route, PipelineBody::OpenAiEmbeddings(batch))
        .await
}

/// What the pipeline needs to know of an embeddings request: an embedding model (one of an
/// OpenAI-compatible upstream for token ids), no output.
fn route_request<'a>(request: &'a EmbeddingsRequest, caller: Caller<'a>) -> RouteRequest<'a> {
    let mut needs = Needs {
        mode: Mode::Embedding,
        ..Needs::chat()
    };
    if request.texts().is_none() {
        needs = needs.asking(Ask::TokenIds);
    }
    RouteRequest {
        group: &request.model,
        caller,
        shape: Shape::Complete,
        input_tokens: request.estimated_input_tokens(),
        max_output_tokens: Some(0),
        needs,
    }
}

/// The most texts one pipeline request may hold so that any deployment reachable from the
/// group serves it in one call: the smallest batch of the Bedrock embedding models among
/// them; OpenAI-compatible upstreams take any.
pub fn batch_size(reachable: &[Arc<Deployment>]) -> usize {
    reachable
        .iter()
        .filter(|d| d.provider == ProviderKind::Bedrock)
        .filter_map(|d| EmbeddingModel::of(&d.model))
        .map(EmbeddingModel::batch)
        .min()
        .unwrap_or(usize::MAX)
}

/// The RPM of every embedding deployment reachable together, when `calls` exceed it: a
/// request that can never be served in full (each call is a request against RPM); `None`
/// when it fits or a deployment has no RPM limit.
pub fn never_fits(calls: usize, reachable: &[Arc<Deployment>]) -> Option<u64> {
    let mut total = 0u64;
    for deployment in reachable.iter().filter(|d| d.mode == Mode::Embedding) {
        total += u64::from(deployment.rpm?);
    }
    (total > 0 && calls as u64 > total).then_some(total)
}

/// The batches' answers as one, in input order, each vector in `format`, with the last
/// batch's trace (its deployment, its limits) and the attempts of all. Each batch settled its
/// own call already.
fn merge(answers: Vec<Served>, format: EncodingFormat) -> Served {
    let mut list = EmbeddingsResponse {
        object: "list".into(),
        data: Vec::new(),
        model: String::new(),
        usage: Default::default(),
        extra: Default::default(),
    };
    let mut trace: Option<Trace> = None;
    let mut attempts = 0;
    for answer in answers {
        let Served {
            answer,
            trace: served,
        } = answer;
        attempts += served.attempts;
        trace = Some(served);
        let Answer::Complete(Completion {
            response: Reply::Embeddings(part),
            ..
        }) = answer
        else {
            continue;
        };
        let offset = list.data.len();
        list.data.extend(part.data.into_iter().map(|mut entry| {
            entry.index += offset;
            entry.embedding = entry.embedding.encoded(format);
            entry
        }));
        list.usage.prompt_tokens += part.usage.prompt_tokens;
        list.usage.total_tokens += part.usage.total_tokens;
        list.model = part.model;
        list.extra = part.extra;
    }
    let trace = Trace {
        attempts,
        ..trace.unwrap_or_default()
    };
    Served {
        answer: Answer::Complete(Completion {
            usage: Some(Usage::new(list.usage.prompt_tokens, 0)),
            response: Reply::Embeddings(Box::new(list)),
        }),
        trace,
    }
}
