//! Upstream providers: Amazon Bedrock through the AWS SDK and any OpenAI-compatible server.
//!
//! Both take a validated [`ChatRequest`] and a [`Deployment`] and answer in OpenAI's shapes,
//! so the gateway never sees a provider's own types. Failures are [`ProviderError`]s that
//! already know their HTTP status, retryability and cooldown meaning.
//!
//! Timeouts: providers do not impose the per-call budget themselves; the caller wraps
//! [`Provider::complete`] and [`Provider::stream`] (time to first event) in
//! `tokio::time::timeout` with the deployment's `timeout` (else the router's) and maps the
//! elapsed case to [`ProviderError::Timeout`]. The clients' own connect/read timeouts still
//! apply and map to `Timeout` as well.

pub mod bedrock;
mod error;
pub mod openai;
pub mod transport;

use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::Stream;

use crate::anthropic::{MessagesEvent, MessagesRequest};
use crate::bedrock_runtime::{ConverseCall, InvokeCall};
use crate::config::{Deployment, ProviderKind};
use crate::openai::{ChatChunk, ChatCompletion, ChatRequest, Usage};

pub use bedrock::BedrockProvider;
pub use error::{ErrorKind, ProviderError};
pub use openai::OpenAiProvider;

/// A finished non-streaming call.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The reply to send, `model` already set to the deployment's model id.
    pub response: Reply,
    /// Token counts as the settlement counts them, when the upstream reported them.
    pub usage: Option<Usage>,
}

/// A whole reply, in the wire format of the surface that asked.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// OpenAI's `chat.completion`.
    Chat(Box<ChatCompletion>),
    /// Anthropic's `message`, as JSON ready to send.
    Messages(Bytes),
    /// OpenAI's embeddings `list`.
    Embeddings(Box<crate::openai::EmbeddingsResponse>),
    /// A Bedrock Runtime reply ready to send: Converse's JSON, or a model's own InvokeModel
    /// body with its content type.
    Bedrock { body: Bytes, content_type: String },
}

/// One event of a streaming call.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    /// An OpenAI chunk to forward as it is (role, content, tool-call pieces, finish reason).
    Chunk(ChatChunk),
    /// An Anthropic Messages event to forward as it is.
    Event(MessagesEvent),
    /// A Bedrock Runtime event-stream event (ConverseStream's, or InvokeModel's `chunk`).
    Bedrock(BedrockEvent),
    /// The token counts, always the last item when the upstream reported them. `chunk` is
    /// OpenAI's usage chunk (`choices: []`) on the OpenAI surface, to forward only if the
    /// client set `stream_options.include_usage`; Anthropic streams carry usage in their
    /// events.
    Usage {
        usage: Usage,
        chunk: Option<ChatChunk>,
    },
}

impl StreamItem {
    /// The token counts the item carries, if any.
    pub fn usage(&self) -> Option<&Usage> {
        match self {
            StreamItem::Usage { usage, .. } => Some(usage),
            StreamItem::Bedrock(event) => event.usage.as_ref(),
            StreamItem::Chunk(_) | StreamItem::Event(_) => None,
        }
    }
}

/// One event of a Bedrock Runtime stream, framed by the surface.
#[derive(Debug, Clone, PartialEq)]
pub struct BedrockEvent {
    /// `:event-type`: `messageStart`, `contentBlockDelta`, …, or `chunk`.
    pub event_type: &'static str,
    /// The event's JSON.
    pub payload: Bytes,
    /// The token counts it carries (ConverseStream's `metadata`, InvokeModel's last chunk).
    pub usage: Option<Usage>,
}

/// What an InvokeModel call answered: the whole reply, or the stream.
pub enum InvokeAnswer {
    Complete(Completion),
    Stream(ChunkStream),
}

/// The items of a streaming call. An `Err` item ends the stream (no item follows it).
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<StreamItem, ProviderError>> + Send>>;

/// Something that answers chat completions for a deployment.
///
/// A trait because there are two real implementations with one contract, and the gateway's
/// tests may want a third; [`Providers`] dispatches on [`ProviderKind`] with an exhaustive
/// match (no `dyn`, no boxed futures), so a new kind cannot be forgotten.
pub trait Provider: Send + Sync {
    /// Calls the upstream once and returns the whole reply.
    ///
    /// `drop_params`: silently drop OpenAI parameters this provider cannot take instead of
    /// failing with [`ProviderError::BadRequest`] naming the parameter.
    fn complete(
        &self,
        deployment: &Deployment,
        request: &ChatRequest,
        drop_params: bool,
    ) -> impl Future<Output = Result<Completion, ProviderError>> + Send;

    /// Calls the upstream once, streaming. Resolves once the upstream has answered (HTTP
    /// status for OpenAI upstreams, first event for Bedrock), so failures before the first
    /// byte are an `Err` here and the caller can fail over; later failures are `Err` items.
    fn stream(
        &self,
        deployment: &Deployment,
        request: &ChatRequest,
        drop_params: bool,
    ) -> impl Future<Output = Result<ChunkStream, ProviderError>> + Send;
}

/// Every provider, shared immutable state of the gateway (wrap it in an `Arc`).
pub struct Providers {
    pub bedrock: BedrockProvider,
    pub openai: OpenAiProvider,
}

impl Provider for Providers {
    async fn complete(
        &self,
        deployment: &Deployment,
        request: &ChatRequest,
        drop_params: bool,
    ) -> Result<Completion, ProviderError> {
        // Each arm boxes its own future: the caller boxes this one, and unboxed arms would
        // make it as large as the largest (the AWS SDK's), copied whole into that box on every
        // call of either kind (benches/instructions.sh).
        match deployment.provider {
            ProviderKind::Bedrock => {
                Box::pin(self.bedrock.complete(deployment, request, drop_params)).await
            }
            ProviderKind::OpenAi => {
                Box::pin(self.openai.complete(deployment, request, drop_params)).await
            }
        }
    }

    async fn stream(
        &self,
        deployment: &Deployment,
        request: &ChatRequest,
        drop_params: bool,
    ) -> Result<ChunkStream, ProviderError> {
        match deployment.provider {
            ProviderKind::Bedrock => {
                Box::pin(self.bedrock.stream(deployment, request, drop_params)).await
            }
            ProviderKind::OpenAi => {
                Box::pin(self.openai.stream(deployment, request, drop_params)).await
            }
        }
    }
}

impl Providers {
    /// Calls `deployment` once with an Anthropic Messages body: as it is to a Claude model on
    /// Bedrock (InvokeModel), through the canonical content model to Bedrock's other models
    /// (Converse) and to OpenAI-compatible upstreams (chat completions).
    pub async fn messages(
        &self,
        deployment: &Deployment,
        request: &MessagesRequest,
    ) -> Result<Completion, ProviderError> {
        match deployment.provider {
            ProviderKind::Bedrock => self.bedrock.messages(deployment, request).await,
            ProviderKind::OpenAi => {
                let chat = openai::messages::chat_request(request)?;
                let Completion { response, .. } =
                    self.openai.complete(deployment, &chat, true).await?;
                match response {
                    Reply::Chat(completion) => Ok(openai::messages::message_reply(
                        *completion,
                        &deployment.model,
                    )),
                    Reply::Messages(_) | Reply::Embeddings(_) | Reply::Bedrock { .. } => Err(ProviderError::Upstream {
                        message:
                            "an OpenAI-compatible upstream answered a chat request in another shape"
                                .into(),
                    }),
                }
            }
        }
    }

    /// Calls `deployment` once with a Converse body: Bedrock's own Converse, or an
    /// OpenAI-compatible upstream through a chat-completions request.
    pub async fn converse(
        &self,
        deployment: &Deployment,
        call: &ConverseCall,
    ) -> Result<Completion, ProviderError> {
        match deployment.provider {
            ProviderKind::Bedrock => self.bedrock.converse_body(deployment, call).await,
            ProviderKind::OpenAi => {
                let chat = openai::messages::chat_request_of(
                    &call.conversation,
                    &deployment.group,
                    None,
                    false,
                )?;
                match self
                    .openai
                    .complete(deployment, &chat, true)
                    .await?
                    .response
                {
                    Reply::Chat(completion) => Ok(openai::messages::converse_reply(*completion)),
                    _ => Err(ProviderError::Upstream {
                        message:
                            "an OpenAI-compatible upstream answered a chat request in another shape"
                                .into(),
                    }),
                }
            }
        }
    }

    /// The streaming form of [`Providers::converse`].
    pub async fn converse_stream(
        &self,
        deployment: &Deployment,
        call: &ConverseCall,
    ) -> Result<ChunkStream, ProviderError> {
        match deployment.provider {
            ProviderKind::Bedrock => self.bedrock.converse_stream_body(deployment, call).await,
            ProviderKind::OpenAi => {
                let chat = openai::messages::chat_request_of(
                    &call.conversation,
                    &deployment.group,
                    None,
                    true,
                )?;
                let chunks = self.openai.stream(deployment, &chat, true).await?;
                Ok(openai::messages::converse_stream(chunks))
            }
        }
    }

    /// Calls `deployment` once with an InvokeModel body, as the client wrote it; streamed when
    /// `stream`. Only Bedrock reads model-native bodies (the router sends them nowhere else).
    pub async fn invoke(
        &self,
        deployment: &Deployment,
        call: &InvokeCall,
        stream: bool,
    ) -> Result<InvokeAnswer, ProviderError> {
        match deployment.provider {
            ProviderKind::Bedrock if stream => self
                .bedrock
                .invoke_stream_body(deployment, call)
                .await
                .map(InvokeAnswer::Stream),
            ProviderKind::Bedrock => self
                .bedrock
                .invoke_body(deployment, call)
                .await
                .map(InvokeAnswer::Complete),
            ProviderKind::OpenAi => Err(ProviderError::bad_param(
                "body",
                "an InvokeModel body is in a Bedrock model's own format, which an OpenAI-compatible deployment cannot read",
            )),
        }
    }

    /// Embeds `request`'s inputs with `deployment`.
    pub async fn embed(
        &self,
        deployment: &Deployment,
        request: &crate::openai::EmbeddingsRequest,
    ) -> Result<Completion, ProviderError> {
        match deployment.provider {
            ProviderKind::Bedrock => self.bedrock.embed(deployment, request).await,
            ProviderKind::OpenAi => self.openai.embed(deployment, request).await,
        }
    }

    /// The streaming form of [`Providers::messages`].
    pub async fn messages_stream(
        &self,
        deployment: &Deployment,
        request: &MessagesRequest,
    ) -> Result<ChunkStream, ProviderError> {
        match deployment.provider {
            ProviderKind::Bedrock => self.bedrock.messages_stream(deployment, request).await,
            ProviderKind::OpenAi => {
                let chat = openai::messages::chat_request(request)?;
                let chunks = self.openai.stream(deployment, &chat, true).await?;
                Ok(openai::messages::message_stream(
                    chunks,
                    deployment.model.clone(),
                ))
            }
        }
    }
}

/// A fresh completion id in OpenAI's style (`chatcmpl-` and 32 hex digits).
///
/// Unique within the process (a counter) and unpredictable across processes (the counter is
/// hashed with std's randomly keyed SipHash), without needing an OS RNG per call.
/// Puts `value` in the per-deployment table `slots` at `index` (a [`Deployment::index`]),
/// growing the table as needed.
///
/// [`Deployment::index`]: crate::config::Deployment::index
pub fn put_at<T>(slots: &mut Vec<Option<T>>, index: usize, value: T) {
    if slots.len() <= index {
        slots.resize_with(index + 1, || None);
    }
    slots[index] = Some(value);
}

pub fn completion_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let keys = std::collections::hash_map::RandomState::new();
    format!(
        "chatcmpl-{:016x}{:016x}",
        keys.hash_one(n),
        keys.hash_one(!n)
    )
}

/// A fresh message id in Anthropic's style (`msg_` and 32 hex digits), for replies the gateway
/// writes itself.
pub fn message_id() -> String {
    format!("msg_{}", completion_id().trim_start_matches("chatcmpl-"))
}

/// Now, in Unix seconds (the `created` field).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
