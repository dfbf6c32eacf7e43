//! Anthropic Messages bodies to Claude models on Bedrock through InvokeModel and
//! InvokeModelWithResponseStream: the body as the client sent it, adjusted by the per-model
//! table ([`super::claude`]), and the reply as Anthropic wrote it.
//!
//! Of the two ways Bedrock serves Anthropic's format (InvokeModel, and the newer
//! `/anthropic/v1/messages` route), InvokeModel is the one the AWS SDK models, that every
//! Region and inference profile has, and that loses nothing: the body is opaque to Bedrock's
//! front end, so cache markers, thinking signatures and tool ids reach the model untouched.
//! A stream's `chunk` frames each carry one Anthropic event (the SDK decodes their base64);
//! they are relayed as they are, but for `message_start`, whose `model` becomes the
//! deployment's model id, and `message_stop`, which loses Bedrock's
//! `amazon-bedrock-invocationMetrics` (its token counts feed the usage when the events' own
//! are missing).

use std::collections::VecDeque;

use aws_sdk_bedrockruntime::config::http::HttpResponse;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver;
use aws_sdk_bedrockruntime::types::error::ResponseStreamError;
use aws_sdk_bedrockruntime::types::{CountTokensInput, InvokeModelTokensRequest, ResponseStream};
use bytes::Bytes;
use futures_util::stream;
use serde_json::Value;

use super::BedrockProvider;
use super::claude::{ClaudeModel, invoke_body};
use super::error::{Fault, convert_error};
use crate::anthropic::{MessagesEvent, MessagesRequest, MessagesUsage};
use crate::config::{Deployment, ModelFamily};
use crate::provider::{ChunkStream, Completion, ProviderError, Reply, StreamItem};

impl BedrockProvider {
    /// Calls InvokeModel with `request`'s body and returns Anthropic's reply (Converse, through
    /// the canonical model, for a model that is not Claude).
    pub async fn messages(
        &self,
        deployment: &Deployment,
        request: &MessagesRequest,
    ) -> Result<Completion, ProviderError> {
        if deployment.family != Some(ModelFamily::Anthropic) {
            return self.messages_by_converse(deployment, request).await;
        }
        let body = body_bytes(deployment, request);
        let output = self
            .client(deployment)?
            .invoke_model()
            .model_id(&deployment.model)
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(body))
            .send()
            .await
            .map_err(convert_sdk_error)?;
        let (reply, usage) = reply_of(output.body.as_ref(), &deployment.model)?;
        Ok(Completion {
            response: Reply::Messages(reply),
            usage: Some(usage.as_settled()),
        })
    }

    /// Calls InvokeModelWithResponseStream and reads up to the first content event, so a
    /// failure before it fails over like any call.
    pub async fn messages_stream(
        &self,
        deployment: &Deployment,
        request: &MessagesRequest,
    ) -> Result<ChunkStream, ProviderError> {
        if deployment.family != Some(ModelFamily::Anthropic) {
            return self.messages_stream_by_converse(deployment, request).await;
        }
        let body = body_bytes(deployment, request);
        let output = self
            .client(deployment)?
            .invoke_model_with_response_stream()
            .model_id(&deployment.model)
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(body))
            .send()
            .await
            .map_err(convert_sdk_error)?;
        let mut reader = ChunkReader {
            events: output.body,
            model: deployment.model.clone(),
            usage: MessagesUsage::default(),
            first: VecDeque::new(),
            finished: false,
        };
        loop {
            let Some(event) = reader.read().await? else {
                break;
            };
            let content = !matches!(event.name.as_str(), "message_start" | "ping");
            reader.first.push_back(event);
            if content {
                break;
            }
        }
        Ok(Box::pin(stream::unfold(reader, ChunkReader::next_item)))
    }
}

impl BedrockProvider {
    /// Counts `request`'s input tokens with Bedrock's CountTokens, which is free and takes
    /// the base model id (an inference profile's `us.`/`eu.`/… prefix is taken off).
    pub async fn count_tokens(
        &self,
        deployment: &Deployment,
        request: &MessagesRequest,
    ) -> Result<u64, ProviderError> {
        let mut adjusted = invoke_body(request, ClaudeModel::of(&deployment.model)).body;
        // CountTokens reads an InvokeModel body, which needs `max_tokens`.
        adjusted.entry("max_tokens").or_insert(Value::from(1));
        let body = serde_json::to_vec(&adjusted).unwrap_or_default();
        let input = InvokeModelTokensRequest::builder()
            .body(Blob::new(body))
            .build()
            .map_err(|e| ProviderError::Upstream {
                message: e.to_string(),
            })?;
        let output = self
            .client(deployment)?
            .count_tokens()
            .model_id(base_model_id(&deployment.model))
            .input(CountTokensInput::InvokeModel(input))
            .send()
            .await
            .map_err(convert_sdk_error)?;
        Ok(u64::try_from(output.input_tokens()).unwrap_or(0))
    }
}

/// The base model id of a model id, inference profile id or ARN
/// (`us.anthropic.claude-sonnet-4-6` → `anthropic.claude-sonnet-4-6`).
pub fn base_model_id(model: &str) -> &str {
    let name = model.rsplit('/').next().unwrap_or(model);
    const GEOGRAPHIES: [&str; 8] = [
        "us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.",
    ];
    GEOGRAPHIES
        .iter()
        .find_map(|geo| name.strip_prefix(geo))
        .unwrap_or(name)
}

/// A failed InvokeModel, InvokeModelWithResponseStream or CountTokens call, classified by its
/// error code (and HTTP status when the code is unknown).
pub(super) fn convert_sdk_error<E>(error: SdkError<E, HttpResponse>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = error.raw_response().map(|r| r.status().as_u16());
    convert_error(error, status, |e, status| {
        Fault::from_code(e.code(), status)
    })
}

/// The body to send: the client's, as the deployment's model takes it.
fn body_bytes(deployment: &Deployment, request: &MessagesRequest) -> Vec<u8> {
    let adjusted = invoke_body(request, ClaudeModel::of(&deployment.model));
    if !adjusted.changes.is_empty() {
        tracing::debug!(deployment = %deployment.id, changes = ?adjusted.changes, "Anthropic body adjusted for Bedrock");
    }
    serde_json::to_vec(&adjusted.body).unwrap_or_default()
}

/// A reply's JSON with `model` set to the deployment's model id, and its usage.
fn reply_of(body: &[u8], model: &str) -> Result<(Bytes, MessagesUsage), ProviderError> {
    let mut reply: Value =
        serde_json::from_slice(body).map_err(|error| ProviderError::Upstream {
            message: format!("Bedrock's InvokeModel reply is not JSON: {error}"),
        })?;
    let mut usage = MessagesUsage::default();
    if let Some(u) = reply.get("usage") {
        usage.update(u);
    }
    if let Some(object) = reply.as_object_mut() {
        object.insert("model".into(), Value::String(model.to_owned()));
    }
    Ok((Bytes::from(reply.to_string()), usage))
}

/// The events of an InvokeModelWithResponseStream being read.
struct ChunkReader {
    events: EventReceiver<ResponseStream, ResponseStreamError>,
    model: String,
    usage: MessagesUsage,
    /// Events read before the stream was handed out.
    first: VecDeque<MessagesEvent>,
    /// Set after `message_stop` or an error: the usage item or nothing follows.
    finished: bool,
}

impl ChunkReader {
    /// The next event, `None` at the end of the stream.
    async fn read(&mut self) -> Result<Option<MessagesEvent>, ProviderError> {
        loop {
            let chunk = match self.events.recv().await {
                Ok(Some(ResponseStream::Chunk(chunk))) => chunk,
                Ok(Some(_)) => continue,
                Ok(None) => return Ok(None),
                Err(error) => {
                    return Err(convert_error(error, None, |e, status| {
                        Fault::from_code(e.code(), status)
                    }));
                }
            };
            let Some(bytes) = chunk.bytes() else {
                continue;
            };
            return self.event(bytes.as_ref()).map(Some);
        }
    }

    /// One chunk's Anthropic event, its usage noted.
    fn event(&mut self, bytes: &[u8]) -> Result<MessagesEvent, ProviderError> {
        let mut data: Value =
            serde_json::from_slice(bytes).map_err(|error| ProviderError::Upstream {
                message: format!("a Bedrock stream chunk is not JSON: {error}"),
            })?;
        let name = data
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned();
        match name.as_str() {
            "message_start" => {
                if let Some(message) = data.get_mut("message") {
                    if let Some(u) = message.get("usage") {
                        self.usage.update(u);
                    }
                    message["model"] = Value::String(self.model.clone());
                }
            }
            "message_delta" => {
                if let Some(u) = data.get("usage") {
                    self.usage.update(u);
                }
            }
            "message_stop" => {
                if let Some(metrics) = data
                    .as_object_mut()
                    .and_then(|o| o.remove("amazon-bedrock-invocationMetrics"))
                {
                    self.usage_from_metrics(&metrics);
                }
            }
            _ => {
                return Ok(MessagesEvent {
                    name,
                    data: Bytes::copy_from_slice(bytes),
                });
            }
        }
        Ok(MessagesEvent {
            name,
            data: Bytes::from(data.to_string()),
        })
    }

    /// Bedrock's own counts, where the events did not carry them.
    fn usage_from_metrics(&mut self, metrics: &Value) {
        let read = |name: &str| metrics.get(name).and_then(Value::as_u64);
        let usage = &mut self.usage;
        if usage.output_tokens == 0 {
            usage.output_tokens = read("outputTokenCount").unwrap_or(0);
        }
        if usage.input_tokens == 0 {
            usage.input_tokens = read("inputTokenCount").unwrap_or(0);
        }
        if usage.cache_creation_input_tokens == 0 {
            usage.cache_creation_input_tokens = read("cacheWriteInputTokenCount").unwrap_or(0);
        }
        if usage.cache_read_input_tokens == 0 {
            usage.cache_read_input_tokens = read("cacheReadInputTokenCount").unwrap_or(0);
        }
    }

    async fn next_item(mut self) -> Option<(Result<StreamItem, ProviderError>, Self)> {
        if let Some(event) = self.first.pop_front() {
            self.finished |= event.name == "message_stop";
            return Some((Ok(StreamItem::Event(event)), self));
        }
        if self.finished {
            // After `message_stop`: the usage, once, then the end.
            let usage = std::mem::take(&mut self.usage);
            if usage == MessagesUsage::default() {
                return None;
            }
            let item = StreamItem::Usage {
                usage: usage.as_settled(),
                chunk: None,
            };
            return Some((Ok(item), self));
        }
        match self.read().await {
            Ok(Some(event)) => {
                self.finished = event.name == "message_stop";
                Some((Ok(StreamItem::Event(event)), self))
            }
            Ok(None) => None,
            Err(error) => {
                self.finished = true;
                self.usage = MessagesUsage::default();
                Some((Err(error), self))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_name_the_deployments_model_and_carry_their_usage() {
        let body = br#"{"id":"msg_bdrk_1","type":"message","role":"assistant","model":"claude-sonnet-4-6","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1,"cache_read_input_tokens":2048}}"#;
        let (reply, usage) = reply_of(body, "us.anthropic.claude-sonnet-4-6").unwrap();
        let reply: Value = serde_json::from_slice(&reply).unwrap();
        assert_eq!(reply["model"], "us.anthropic.claude-sonnet-4-6");
        assert_eq!(reply["content"][0]["text"], "hi");
        assert_eq!(
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.cache_read_input_tokens
            ),
            (3, 1, 2048)
        );
        assert!(matches!(
            reply_of(b"<html>", "m"),
            Err(ProviderError::Upstream { .. })
        ));
    }

    #[test]
    fn counting_takes_the_base_model_id() {
        assert_eq!(
            base_model_id("us.anthropic.claude-sonnet-4-6"),
            "anthropic.claude-sonnet-4-6"
        );
        assert_eq!(
            base_model_id(
                "arn:aws:bedrock:us-east-1:1:inference-profile/global.anthropic.claude-opus-4-6-v1"
            ),
            "anthropic.claude-opus-4-6-v1"
        );
        assert_eq!(
            base_model_id("anthropic.claude-3-7-sonnet-20250219-v1:0"),
            "anthropic.claude-3-7-sonnet-20250219-v1:0"
        );
    }
}
