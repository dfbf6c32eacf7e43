//! The one request pipeline behind every API surface: admission, the route plan's loop, the
//! upstream calls, and the settlement of each call's limits and metrics.
//!
//! A surface (the OpenAI routes in [`crate::gateway`] today) authenticates, parses its body and
//! builds a [`RouteRequest`]: the group, stream or not, the token estimate and output
//! reservation, the caller, and what the serving deployment must be able to do. Then:
//!
//! ```text
//! surface ─► Pipeline::serve(request, body)
//!              admit: group known, key may use it, can ever fit, consumer quota   (admit.rs)
//!              loop over the router's RoutePlan (select / call / wait / done)    (dispatch.rs)
//!                 one call within its budget, a stream until its first event     (call.rs)
//!            ◄─ Served { answer, trace }  or  Refused { failure, trace }
//! surface writes the answer in its wire format; a stream is relayed by          (relay.rs)
//! the Settlement, which settles both permits and the call's metrics once        (settlement.rs)
//! ```
//!
//! Decisions are the router's ([`crate::router::plan`]); wire mappings are the providers' and
//! the surfaces'. Nothing here knows an HTTP status or a body format beyond the [`Body`] it
//! hands to the providers.

mod admit;
mod budget;
mod call;
mod dispatch;
mod failure;
mod relay;
mod request;
mod settlement;
mod trace;

use crate::anthropic::MessagesRequest;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::openai::ChatRequest;
use crate::provider::Providers;
use crate::router::{AnyStore, Router};

pub use budget::{BudgetRefusal, spent as budget_spent};
pub use dispatch::{Answer, Refused, Served};
pub use failure::Failure;
pub use relay::{Encoder, StreamAnswer};
pub use request::{Caller, RouteRequest, Shape};
pub use settlement::{Ending, Settlement};
pub use trace::{RateLimits, Trace};

/// The state store the pipeline runs on: memory, or Redis when `router_settings` names one.
pub type Store = AnyStore;

/// The body of a request in its surface's wire type, handed to the provider that calls the
/// chosen deployment (a pass-through where the two speak the same format, a conversion
/// through the canonical content model where they do not).
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    /// OpenAI chat completions.
    OpenAiChat(&'a ChatRequest),
    /// Anthropic Messages.
    AnthropicMessages(&'a MessagesRequest),
    /// OpenAI embeddings.
    OpenAiEmbeddings(&'a crate::openai::EmbeddingsRequest),
    /// Bedrock's Converse / ConverseStream.
    Converse(&'a crate::bedrock_runtime::ConverseCall),
    /// Bedrock's InvokeModel / InvokeModelWithResponseStream: a model-native body.
    Invoke(&'a crate::bedrock_runtime::InvokeCall),
}

impl Body<'_> {
    /// The service tier the request asks for, which its price follows.
    pub fn service_tier(&self) -> Option<crate::content::ServiceTier> {
        match self {
            Body::OpenAiChat(request) => request.bedrock_service_tier(),
            Body::Converse(call) => call.conversation.service_tier,
            Body::AnthropicMessages(_) | Body::OpenAiEmbeddings(_) | Body::Invoke(_) => None,
        }
    }

    /// GenAI's `gen_ai.operation.name` of the request.
    pub fn operation(&self) -> &'static str {
        match self {
            Body::OpenAiEmbeddings(_) => "embeddings",
            Body::OpenAiChat(_)
            | Body::AnthropicMessages(_)
            | Body::Converse(_)
            | Body::Invoke(_) => "chat",
        }
    }

    /// The prompt as the client sent it, for the request log (`log_prompts: true`).
    pub fn prompt(&self) -> Option<serde_json::Value> {
        match self {
            Body::OpenAiChat(request) => serde_json::to_value(&request.messages).ok(),
            Body::OpenAiEmbeddings(request) => serde_json::to_value(&request.input).ok(),
            Body::AnthropicMessages(_) | Body::Converse(_) | Body::Invoke(_) => None,
        }
    }

    /// Whether the request marks a prompt-cache prefix, for the cache metrics.
    pub fn marks_cache(&self) -> bool {
        match self {
            Body::OpenAiChat(request) => request.marks_cache(),
            Body::AnthropicMessages(request) => request.marks_cache(),
            Body::Converse(call) => call.marks_cache(),
            Body::OpenAiEmbeddings(_) | Body::Invoke(_) => false,
        }
    }
}

/// What every request reads: the router, the providers, the metrics. Shared behind an `Arc`.
pub struct Pipeline {
    pub router: Router<Store>,
    pub providers: Providers,
    pub metrics: Metrics,
    /// Drop parameters a provider cannot take instead of refusing them (`drop_params`).
    pub drop_params: bool,
    /// The whole gateway's spend budget (`litellm_settings.max_budget`).
    pub budget: Option<crate::config::Budget>,
}

impl Pipeline {
    /// The pipeline of `config` over `store` and `providers`.
    pub fn new(config: &Config, store: Store, providers: Providers) -> Self {
        Pipeline {
            router: Router::new(config, store),
            metrics: Metrics::new(config),
            providers,
            drop_params: config.gateway.drop_params,
            budget: config.gateway.budget,
        }
    }
}
