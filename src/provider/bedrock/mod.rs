//! Amazon Bedrock through the AWS SDK's Converse and ConverseStream APIs.
//!
//! The I/O lives here; the wire mapping is in pure `convert_*` functions ([`convert_request`],
//! [`convert_response`], [`convert_stream_event`], [`convert_stop_reason`] and the error
//! conversions), each unit-tested beside its code. Requests and whole replies pass through
//! the canonical content model ([`crate::content`]): [`convert_conversation`] and
//! [`convert_block`] map it to Converse, [`convert_output_block`] maps a reply's blocks back.

use std::collections::VecDeque;

use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::operation::converse::ConverseOutput;
use aws_sdk_bedrockruntime::operation::converse::builders::ConverseFluentBuilder;
use aws_sdk_bedrockruntime::operation::converse_stream::builders::ConverseStreamFluentBuilder;
use aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver;
use aws_sdk_bedrockruntime::types::ConverseStreamOutput;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use futures_util::stream;

use crate::aws::SigningTarget;
use crate::config::Deployment;
use crate::openai::ChatRequest;
use crate::provider::{
    ChunkStream, Completion, Provider, ProviderError, Reply, StreamItem, completion_id, put_at,
    unix_now,
};
use direct::{DirectConverse, DirectEvents};

mod blocks;
pub mod claude;
mod converse_messages;
mod direct;
mod document;
pub mod embeddings;
mod error;
pub mod features;
mod invoke;
mod options;
mod reasoning;
mod request;
mod response;
mod runtime;
mod tools;

pub use blocks::{convert_block, convert_output_block, convert_system_block};
pub use document::{document_to_json, json_into_document, json_to_document};
pub use error::{
    Fault, converse_fault, converse_stream_fault, convert_converse_error,
    convert_converse_stream_error, convert_error, convert_fault, convert_stream_event_error,
    is_context_window_message, stream_event_fault, validation_param,
};
pub use options::{AnswerTool, close_objects, method as structured_output_method};
pub use request::{ConverseRequest, convert_conversation, convert_request};
pub use response::{
    StreamState, convert_response, convert_stop_reason, convert_stream_event, convert_usage,
};
pub use runtime::native_usage;

/// Calls Bedrock deployments through prebuilt SDK clients.
///
/// The clients are built by the AWS client factory (profile, Region, endpoint of each
/// deployment) with the SDK's retries off: the router owns retries.
#[derive(Debug, Clone, Default)]
pub struct BedrockProvider {
    /// By [`Deployment::index`]: its client, for a Bedrock deployment.
    clients: Vec<Option<Client>>,
    /// By [`Deployment::index`]: its direct Converse calls, when it has them
    /// ([`BedrockProvider::with_direct`]).
    direct: Vec<Option<DirectConverse>>,
}

impl BedrockProvider {
    /// A provider over one client per Bedrock deployment, each with its
    /// [`Deployment::index`].
    pub fn new(clients: impl IntoIterator<Item = (usize, Client)>) -> Self {
        let mut slots = Vec::new();
        for (index, client) in clients {
            put_at(&mut slots, index, client);
        }
        BedrockProvider {
            clients: slots,
            direct: Vec::new(),
        }
    }

    /// Sends the text requests of each deployment with a signing target directly (signed
    /// with `aws-sigv4`, through `http`) instead of through the SDK; see [`direct`].
    pub fn with_direct<'a>(
        mut self,
        targets: impl IntoIterator<Item = (&'a Deployment, SigningTarget)>,
        http: &crate::provider::transport::Transport,
    ) -> Self {
        for (deployment, target) in targets {
            let Some(direct) = DirectConverse::new(target, &deployment.model, http.clone()) else {
                continue;
            };
            put_at(&mut self.direct, deployment.index, direct);
        }
        self
    }

    /// A Converse call of `deployment` with `converse`, ready to send.
    fn converse_call(
        &self,
        deployment: &Deployment,
        converse: ConverseRequest,
    ) -> Result<ConverseFluentBuilder, ProviderError> {
        Ok(self
            .client(deployment)?
            .converse()
            .model_id(&deployment.model)
            .set_system((!converse.system.is_empty()).then_some(converse.system))
            .set_messages(Some(converse.messages))
            .set_inference_config(converse.inference_config)
            .set_tool_config(converse.tool_config)
            .set_additional_model_request_fields(converse.additional_fields)
            .set_output_config(converse.output_config)
            .set_service_tier(converse.service_tier)
            .set_request_metadata(converse.request_metadata))
    }

    /// A ConverseStream call of `deployment` with `converse`, ready to send.
    fn converse_stream_call(
        &self,
        deployment: &Deployment,
        converse: ConverseRequest,
    ) -> Result<ConverseStreamFluentBuilder, ProviderError> {
        Ok(self
            .client(deployment)?
            .converse_stream()
            .model_id(&deployment.model)
            .set_system((!converse.system.is_empty()).then_some(converse.system))
            .set_messages(Some(converse.messages))
            .set_inference_config(converse.inference_config)
            .set_tool_config(converse.tool_config)
            .set_additional_model_request_fields(converse.additional_fields)
            .set_output_config(converse.output_config)
            .set_service_tier(converse.service_tier)
            .set_request_metadata(converse.request_metadata))
    }

    /// The deployment's direct calls and the request's body for them, when both exist.
    fn direct_call(
        &self,
        deployment: &Deployment,
        converse: &ConverseRequest,
    ) -> Option<(&DirectConverse, Vec<u8>)> {
        let direct = self.direct.get(deployment.index)?.as_ref()?;
        Some((direct, direct::converse_body(converse)?))
    }

    /// A Converse call: direct when it can be, else through the SDK.
    async fn send_converse(
        &self,
        deployment: &Deployment,
        converse: ConverseRequest,
    ) -> Result<ConverseOutput, ProviderError> {
        match self.direct_call(deployment, &converse) {
            Some((direct, body)) => direct.converse(body).await,
            None => self
                .converse_call(deployment, converse)?
                .send()
                .await
                .map_err(convert_converse_error),
        }
    }

    /// A ConverseStream call: direct when it can be, else through the SDK.
    async fn send_converse_stream(
        &self,
        deployment: &Deployment,
        converse: ConverseRequest,
    ) -> Result<Events, ProviderError> {
        match self.direct_call(deployment, &converse) {
            Some((direct, body)) => Ok(Events::Direct(direct.converse_stream(body).await?)),
            None => Ok(Events::Sdk(Box::new(
                self.converse_stream_call(deployment, converse)?
                    .send()
                    .await
                    .map_err(convert_converse_stream_error)?
                    .stream,
            ))),
        }
    }

    fn client(&self, deployment: &Deployment) -> Result<&Client, ProviderError> {
        self.clients
            .get(deployment.index)
            .and_then(Option::as_ref)
            .ok_or_else(|| ProviderError::Upstream {
                message: format!(
                    "no Bedrock client was built for deployment {}",
                    deployment.id
                ),
            })
    }
}

impl Provider for BedrockProvider {
    async fn complete(
        &self,
        deployment: &Deployment,
        request: &ChatRequest,
        drop_params: bool,
    ) -> Result<Completion, ProviderError> {
        let converse = convert_request(request, &deployment.model, drop_params)?;
        let answer_tool = converse.answer_tool;
        let output = self.send_converse(deployment, converse).await?;
        let response = convert_response(
            &output,
            completion_id(),
            unix_now(),
            &deployment.model,
            answer_tool,
        );
        Ok(Completion {
            usage: response.usage.clone(),
            response: Reply::Chat(Box::new(response)),
        })
    }

    async fn stream(
        &self,
        deployment: &Deployment,
        request: &ChatRequest,
        drop_params: bool,
    ) -> Result<ChunkStream, ProviderError> {
        let converse = convert_request(request, &deployment.model, drop_params)?;
        let answer_tool = converse.answer_tool;
        let mut events = self.send_converse_stream(deployment, converse).await?;
        let first = read_to_content(&mut events).await?;
        let reader = EventReader {
            events,
            state: StreamState::new(completion_id(), unix_now(), deployment.model.clone())
                .answering_with(answer_tool),
            first,
            finished: false,
        };
        Ok(Box::pin(stream::unfold(reader, EventReader::next_item)))
    }
}

/// The events of a ConverseStream up to its first content event (or its end). A 200 reply can
/// still fail before its first token (an exception frame, a stall after `messageStart`);
/// reading that far before the stream is handed out lets the caller fail over before anything
/// was sent to the client.
async fn read_to_content(
    events: &mut Events,
) -> Result<VecDeque<ConverseStreamOutput>, ProviderError> {
    let mut first = VecDeque::new();
    loop {
        let event = events.recv().await?;
        let answered = event.as_ref().is_none_or(carries_content);
        first.extend(event);
        if answered {
            return Ok(first);
        }
    }
}

/// Whether a ConverseStream event is past the preamble: anything but `messageStart`.
fn carries_content(event: &ConverseStreamOutput) -> bool {
    !matches!(event, ConverseStreamOutput::MessageStart(_))
}

/// A ConverseStream's events, from the SDK's receiver or a direct call's body.
pub(super) enum Events {
    Sdk(Box<EventReceiver<ConverseStreamOutput, ConverseStreamOutputError>>),
    Direct(DirectEvents),
}

impl Events {
    pub(super) async fn recv(&mut self) -> Result<Option<ConverseStreamOutput>, ProviderError> {
        match self {
            Events::Sdk(receiver) => receiver.recv().await.map_err(convert_stream_event_error),
            Events::Direct(events) => events.recv().await,
        }
    }
}

/// A ConverseStream being turned into stream items.
struct EventReader {
    events: Events,
    state: StreamState,
    /// The events read before the stream was handed out, not yet converted.
    first: VecDeque<ConverseStreamOutput>,
    /// Set after an error: nothing follows an `Err` item.
    finished: bool,
}

impl EventReader {
    async fn next_item(mut self) -> Option<(Result<StreamItem, ProviderError>, Self)> {
        if self.finished {
            return None;
        }
        loop {
            let event = match self.first.pop_front() {
                Some(event) => event,
                None => match self.events.recv().await {
                    Ok(Some(event)) => event,
                    Ok(None) => return None,
                    Err(error) => {
                        self.finished = true;
                        return Some((Err(error), self));
                    }
                },
            };
            if let Some(item) = convert_stream_event(&mut self.state, &event) {
                return Some((Ok(item), self));
            }
        }
    }
}

#[cfg(test)]
mod tests;
