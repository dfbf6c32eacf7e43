//! Any OpenAI-compatible server (`openai/<model>` deployments) over one shared HTTP client.
//!
//! The request goes out as the client sent it: its own bytes, every field and content part
//! untouched, with `model` set to the deployment's model ([`upstream_body`]); the reply's
//! fields come back as the upstream wrote them (the wire types keep what they do not read).
//! Streams are relayed event by event as the body arrives. `drop_params` has nothing to drop:
//! every OpenAI parameter is forwarded, and the upstream decides.

mod error;
pub mod messages;
mod sse;

use std::collections::VecDeque;
use std::time::SystemTime;

use futures_util::{StreamExt, stream};
use http::HeaderValue;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde::Serialize;

pub use error::{convert_status, parse_retry_after};
pub use sse::{SseEvent, SseParser};

use crate::config::Deployment;
use crate::openai::{
    ChatChunk, ChatCompletion, ChatRequest, EmbeddingsRequest, EmbeddingsResponse, ErrorBody,
    StreamOptions, Usage, raw,
};
use crate::provider::transport::{Answer, ByteStream, Transport, parse_uri};
use crate::provider::{
    ChunkStream, Completion, Provider, ProviderError, Reply, StreamItem, put_at,
};

/// Where deployments without `api_base` go.
pub const DEFAULT_API_BASE: &str = "https://api.openai.com/v1";

/// The chat-completions URL of an `api_base`, by this rule:
/// - a base already ending in `/chat/completions` is used as is;
/// - a base with a path (`http://host/v1`, `http://host/openai/v1`) gets `/chat/completions`,
///   as the OpenAI SDKs do with their `base_url`;
/// - a bare origin (`http://host:8000`) gets `/v1/chat/completions`.
///
/// Trailing slashes are ignored.
pub fn chat_completions_url(api_base: Option<&str>) -> String {
    let base = api_base.unwrap_or(DEFAULT_API_BASE).trim_end_matches('/');
    if base.ends_with("/chat/completions") {
        return base.to_owned();
    }
    let after_scheme = base.split_once("://").map_or(base, |(_, rest)| rest);
    if after_scheme.contains('/') {
        format!("{base}/chat/completions")
    } else {
        format!("{base}/v1/chat/completions")
    }
}

/// The body sent upstream: the client's request with the deployment's model, and for streams
/// `include_usage` always on (the gateway needs the usage; it forwards the usage chunk only
/// if the client asked).
#[derive(Serialize)]
struct UpstreamRequest<'a> {
    model: &'a str,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(flatten)]
    request: &'a ChatRequest,
}

/// The JSON body for the upstream call: the client's body with `model`, `stream` and
/// (for streams) `stream_options.include_usage` set, everything else as it came; a request
/// with no client body (one the gateway wrote) serialised from its types.
pub fn upstream_body(request: &ChatRequest, model: &str, stream: bool) -> Vec<u8> {
    if let Some(body) = request
        .original
        .as_deref()
        .and_then(|original| splice(original, model, stream))
    {
        return body;
    }
    let body = UpstreamRequest {
        model,
        stream,
        stream_options: stream.then_some(StreamOptions {
            include_usage: true,
        }),
        request,
    };
    // Serialising plain data (no maps with non-string keys) cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// `original` with the gateway's three fields set, the rest as it came
/// ([`crate::openai::raw::splice`]); the client's `stream_options` keep their other keys.
fn splice(original: &[u8], model: &str, stream: bool) -> Option<Vec<u8>> {
    let object = raw::RawObject::parse(original)?;
    let model = serde_json::to_string(model).ok()?;
    let stream_options = match stream {
        true => {
            let mut options: serde_json::Map<String, serde_json::Value> =
                object.field("stream_options").unwrap_or_default();
            options.insert("include_usage".into(), serde_json::Value::Bool(true));
            Some(serde_json::to_string(&options).ok()?)
        }
        false => None,
    };
    let stream = if stream { "true" } else { "false" };
    object.splice(&[
        ("model", Some(&model)),
        ("stream", Some(stream)),
        ("stream_options", stream_options.as_deref()),
    ])
}

/// Where one deployment's calls go, worked out once at start: parsing the URL (with its
/// IDNA pass) and building the auth header on every request showed up in profiles.
#[derive(Debug, Clone)]
struct Target {
    /// `…/chat/completions`.
    chat: http::Uri,
    /// `…/embeddings`, beside it.
    embeddings: http::Uri,
    authorization: Option<HeaderValue>,
}

impl Target {
    fn of(deployment: &Deployment) -> Result<Target, ProviderError> {
        let chat = chat_completions_url(deployment.api_base.as_deref());
        let base = chat.strip_suffix("/chat/completions").unwrap_or(&chat);
        let invalid = |e: String| ProviderError::Upstream {
            message: format!(
                "the api_base of deployment {} is not a valid URL: {e}",
                deployment.id
            ),
        };
        let embeddings = parse_uri(&format!("{base}/embeddings")).map_err(invalid)?;
        let chat = parse_uri(&chat).map_err(invalid)?;
        let authorization =
            match &deployment.api_key {
                Some(key) => {
                    let mut value = HeaderValue::try_from(format!("Bearer {}", key.expose()))
                        .map_err(|_| ProviderError::Upstream {
                            message: format!(
                                "the api_key of deployment {} is not a valid header value",
                                deployment.id
                            ),
                        })?;
                    value.set_sensitive(true);
                    Some(value)
                }
                None => None,
            };
        Ok(Target {
            chat,
            embeddings,
            authorization,
        })
    }
}

/// Calls OpenAI-compatible deployments.
#[derive(Debug, Clone)]
pub struct OpenAiProvider {
    /// One pool for every deployment: keep-alive and HTTP/2 connections are reused.
    client: Transport,
    /// Precomputed targets by [`Deployment::index`]; others are worked out per call.
    targets: Vec<Option<Target>>,
}

impl OpenAiProvider {
    /// A provider over a shared client (build it once, with the connect timeout set).
    pub fn new(client: Transport) -> Self {
        OpenAiProvider {
            client,
            targets: Vec::new(),
        }
    }

    /// Works out the targets of `deployments` once, so calls skip URL parsing.
    pub fn with_deployments<'a>(
        mut self,
        deployments: impl IntoIterator<Item = &'a Deployment>,
    ) -> Self {
        for deployment in deployments {
            if let Ok(target) = Target::of(deployment) {
                put_at(&mut self.targets, deployment.index, target);
            }
        }
        self
    }

    /// Embeds `request` with `deployment`: `POST <api_base>/embeddings` with the client's body
    /// (model set to the deployment's, floats asked for: the gateway encodes as the client
    /// asked).
    pub async fn embed(
        &self,
        deployment: &Deployment,
        request: &EmbeddingsRequest,
    ) -> Result<Completion, ProviderError> {
        let target = self.target(deployment)?;
        let answer = self
            .client
            .post(
                &target.embeddings,
                upstream_headers(&target, "application/json"),
                request.upstream_body(&deployment.model),
            )
            .await;
        let response = successful(answer).await?;
        let mut list: EmbeddingsResponse = read_json(response, "embeddings list").await?;
        list.model.clone_from(&deployment.model);
        Ok(Completion {
            usage: Some(Usage::new(list.usage.prompt_tokens, 0)),
            response: Reply::Embeddings(Box::new(list)),
        })
    }

    /// The deployment's precomputed target, else one worked out now.
    fn target(
        &self,
        deployment: &Deployment,
    ) -> Result<std::borrow::Cow<'_, Target>, ProviderError> {
        match self.targets.get(deployment.index).and_then(Option::as_ref) {
            Some(target) => Ok(std::borrow::Cow::Borrowed(target)),
            None => Target::of(deployment).map(std::borrow::Cow::Owned),
        }
    }

    /// Sends the request and returns the reply if its status is a success.
    async fn send(
        &self,
        deployment: &Deployment,
        request: &ChatRequest,
        stream: bool,
    ) -> Result<Answer, ProviderError> {
        let target = self.target(deployment)?;
        let accept = if stream {
            "text/event-stream"
        } else {
            "application/json"
        };
        let answer = self
            .client
            .post(
                &target.chat,
                upstream_headers(&target, accept),
                upstream_body(request, &deployment.model, stream),
            )
            .await;
        successful(answer).await
    }
}

impl Provider for OpenAiProvider {
    async fn complete(
        &self,
        deployment: &Deployment,
        request: &ChatRequest,
        _drop_params: bool,
    ) -> Result<Completion, ProviderError> {
        let response = self.send(deployment, request, false).await?;
        let mut completion: ChatCompletion = read_json(response, "chat.completion").await?;
        completion.model.clone_from(&deployment.model);
        Ok(Completion {
            usage: completion.usage.clone(),
            response: Reply::Chat(Box::new(completion)),
        })
    }

    async fn stream(
        &self,
        deployment: &Deployment,
        request: &ChatRequest,
        _drop_params: bool,
    ) -> Result<ChunkStream, ProviderError> {
        let response = self.send(deployment, request, true).await?;
        let mut relay = Relay {
            body: response.into_stream(),
            parser: SseParser::new(),
            model: deployment.model.clone(),
            pending: VecDeque::new(),
            state: RelayState::Open { finished: false },
            choices: ChoiceTally::default(),
        };
        // A 200 reply can still fail before its first token (an error event, a stall after a
        // role-only chunk); reading up to the first content here lets the caller fail over
        // before anything was sent to the client.
        let mut head = Vec::new();
        loop {
            match Relay::next_item(relay).await {
                None => return Ok(Box::pin(stream::iter(head))),
                Some((Err(error), _)) => return Err(error),
                Some((Ok(item), rest)) => {
                    let answered = carries_content(&item);
                    head.push(Ok(item));
                    relay = rest;
                    if answered {
                        break;
                    }
                }
            }
        }
        Ok(Box::pin(
            stream::iter(head).chain(stream::unfold(relay, Relay::next_item)),
        ))
    }
}

/// The headers of a call: JSON sent, `accept` asked for, the deployment's key, and the
/// attempt's `traceparent` when traces are on.
fn upstream_headers(
    target: &Target,
    accept: &'static str,
) -> impl Iterator<Item = (http::HeaderName, HeaderValue)> {
    let traceparent = crate::observe::upstream_traceparent()
        .and_then(|t| HeaderValue::try_from(t).ok())
        .map(|t| (http::HeaderName::from_static("traceparent"), t));
    [
        Some((CONTENT_TYPE, HeaderValue::from_static("application/json"))),
        Some((ACCEPT, HeaderValue::from_static(accept))),
        target.authorization.clone().map(|key| (AUTHORIZATION, key)),
        traceparent,
    ]
    .into_iter()
    .flatten()
}

/// The answer of a sent call when its status is a success; the upstream's error otherwise.
async fn successful(sent: Result<Answer, ProviderError>) -> Result<Answer, ProviderError> {
    let answer = sent?;
    let status = answer.status;
    if status.is_success() {
        return Ok(answer);
    }
    let retry_after = parse_retry_after(&answer.headers, SystemTime::now());
    let body = answer.bytes().await.unwrap_or_default();
    Err(convert_status(status, &body, retry_after))
}

/// A successful reply's body as `T` (`what` names it in the error when it is not one).
async fn read_json<T: serde::de::DeserializeOwned>(
    response: Answer,
    what: &str,
) -> Result<T, ProviderError> {
    let body = response.bytes().await?;
    serde_json::from_slice(&body).map_err(|e| ProviderError::Upstream {
        message: format!("unreadable {what} from the upstream: {e}"),
    })
}

/// Whether a stream item is past the preamble: text, reasoning, a tool call, a finish reason
/// or usage, not a role-only (or empty) chunk.
fn carries_content(item: &StreamItem) -> bool {
    match item {
        StreamItem::Usage { .. } | StreamItem::Event(_) | StreamItem::Bedrock(_) => true,
        StreamItem::Chunk(chunk) => chunk.choices.iter().any(|choice| {
            choice.finish_reason.is_some()
                || choice.delta.tool_calls.is_some()
                || choice.delta.content.as_ref().is_some_and(|c| !c.is_empty())
                || choice
                    .delta
                    .reasoning_content
                    .as_ref()
                    .is_some_and(|c| !c.is_empty())
        }),
    }
}

/// Where a relayed stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RelayState {
    /// Reading the body; `finished` once every choice seen has had its finish reason.
    Open { finished: bool },
    /// `[DONE]`, the end of the body or an error: only `pending` remains.
    Closed,
}

/// An upstream SSE body being relayed as stream items.
struct Relay {
    body: ByteStream,
    parser: SseParser,
    model: String,
    /// Items converted but not yet handed out.
    pending: VecDeque<Result<StreamItem, ProviderError>>,
    state: RelayState,
    /// The choices seen, and which of them have finished (`n` > 1 streams them interleaved).
    choices: ChoiceTally,
}

/// Which choices of a stream are still open.
#[derive(Debug, Default)]
struct ChoiceTally {
    seen: Vec<u32>,
    finished: Vec<u32>,
}

impl ChoiceTally {
    fn see(&mut self, chunk: &ChatChunk) {
        for choice in &chunk.choices {
            if !self.seen.contains(&choice.index) {
                self.seen.push(choice.index);
            }
            if choice.finish_reason.is_some() && !self.finished.contains(&choice.index) {
                self.finished.push(choice.index);
            }
        }
    }

    /// Every choice seen has finished (and there was one).
    fn all_finished(&self) -> bool {
        !self.seen.is_empty() && self.seen.len() == self.finished.len()
    }
}

impl Relay {
    async fn next_item(mut self) -> Option<(Result<StreamItem, ProviderError>, Self)> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some((item, self));
            }
            let RelayState::Open { finished } = self.state else {
                return None;
            };
            let events = match self.body.next().await {
                Some(Ok(bytes)) => self.parser.push(&bytes),
                Some(Err(error)) => {
                    self.close_with(error);
                    continue;
                }
                None => {
                    let last = self.parser.finish();
                    if last.is_none() && !finished {
                        // Never end a stream silently short of its end.
                        self.close_with(ProviderError::Upstream {
                            message: "the upstream closed the stream before [DONE]".to_owned(),
                        });
                    } else {
                        self.state = RelayState::Closed;
                    }
                    last.into_iter().collect()
                }
            };
            for event in events {
                self.accept(event);
            }
        }
    }

    fn close_with(&mut self, error: ProviderError) {
        self.pending.push_back(Err(error));
        self.state = RelayState::Closed;
    }

    fn accept(&mut self, event: SseEvent) {
        if self.state == RelayState::Closed {
            return;
        }
        match event {
            SseEvent::Done => self.state = RelayState::Closed,
            SseEvent::Data(data) => match convert_chunk(&data, &self.model) {
                Ok(items) => {
                    for item in &items {
                        if let StreamItem::Chunk(chunk) = item {
                            self.choices.see(chunk);
                        }
                    }
                    let finished = self.choices.all_finished();
                    self.state = RelayState::Open { finished };
                    self.pending.extend(items.into_iter().map(Ok));
                }
                Err(error) => self.close_with(error),
            },
        }
    }
}

/// One upstream `data:` payload as stream items: the chunk (model rewritten) and, when it
/// carries usage, a usage item after it.
pub fn convert_chunk(data: &str, model: &str) -> Result<Vec<StreamItem>, ProviderError> {
    let mut chunk: ChatChunk = match serde_json::from_str(data) {
        Ok(chunk) => chunk,
        Err(parse_error) => {
            return Err(match serde_json::from_str::<ErrorBody>(data) {
                Ok(body) => ProviderError::Upstream {
                    message: format!("upstream error mid-stream: {}", body.error.message),
                },
                Err(_) => ProviderError::Upstream {
                    message: format!("unreadable chunk from the upstream: {parse_error}"),
                },
            });
        }
    };
    chunk.model.clear();
    chunk.model.push_str(model);
    let Some(usage) = chunk.usage.take() else {
        return Ok(vec![StreamItem::Chunk(chunk)]);
    };
    if chunk.choices.is_empty() {
        chunk.usage = Some(usage.clone());
        let chunk = Some(chunk);
        return Ok(vec![StreamItem::Usage { usage, chunk }]);
    }
    let usage_chunk = ChatChunk::usage_chunk(&chunk.id, chunk.created, model, usage.clone());
    Ok(vec![
        StreamItem::Chunk(chunk),
        StreamItem::Usage {
            usage,
            chunk: Some(usage_chunk),
        },
    ])
}

#[cfg(test)]
mod tests;
