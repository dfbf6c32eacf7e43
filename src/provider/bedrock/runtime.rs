//! Bedrock Runtime's own requests (the gateway's `/model/{modelId}/…` routes) to Bedrock
//! deployments: a Converse body through the canonical conversation to the deployment's own
//! Converse call, its reply and events written back in Converse's shapes; an InvokeModel body
//! passed on as the client's bytes, its reply and chunks as the model wrote them.
//!
//! The call is the deployment's (its model id, profile, Region): the client's credentials never
//! travel. A stream is read up to its first content event before it is handed out, so a
//! failure before it fails over like any call.

use std::collections::VecDeque;
use std::time::Instant;

use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver;
use aws_sdk_bedrockruntime::types::error::ResponseStreamError;
use aws_sdk_bedrockruntime::types::{
    ContentBlockDelta, ContentBlockStart, ConverseOutput as ConverseReply, ConverseStreamOutput,
    ConverseTokensRequest, CountTokensInput, InvokeModelTokensRequest, ReasoningContentBlockDelta,
    ResponseStream,
};
use bytes::Bytes;
use futures_util::stream;
use serde_json::{Value, json};

use super::BedrockProvider;
use super::blocks::convert_output_block;
use super::error::{Fault, convert_error};
use super::invoke::{base_model_id, convert_sdk_error};
use super::options::AnswerTool;
use super::request::convert_conversation;
use super::response::convert_usage;
use crate::bedrock_runtime::{ConverseCall, CountInput, InvokeCall, reply};
use crate::config::Deployment;
use crate::openai::Usage;
use crate::provider::{BedrockEvent, ChunkStream, Completion, ProviderError, Reply, StreamItem};

impl BedrockProvider {
    /// A Converse call of `deployment` with the client's conversation.
    pub async fn converse_body(
        &self,
        deployment: &Deployment,
        call: &ConverseCall,
    ) -> Result<Completion, ProviderError> {
        let started = Instant::now();
        let converse = convert_conversation(call.conversation.clone(), &deployment.model)?;
        let answer_tool = converse.answer_tool;
        let output = self.send_converse(deployment, converse).await?;
        let blocks = match output.output() {
            Some(ConverseReply::Message(message)) => message
                .content()
                .iter()
                .filter_map(convert_output_block)
                .collect(),
            _ => Vec::new(),
        };
        let answer = answer_tool.map(|tool| (tool.name, tool.forced));
        let answered = answer_tool.is_some_and(|tool| {
            blocks
                .iter()
                .any(|b| matches!(b, crate::content::Block::ToolUse(c) if c.name == tool.name))
        });
        let blocks = reply::with_answer_text(blocks, answer);
        let stop_reason = match output.stop_reason().as_str() {
            "tool_use" if answered => "end_turn",
            other => other,
        };
        let usage = output.usage().map(convert_usage);
        let latency = output.metrics().map_or_else(
            || u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            |m| u64::try_from(m.latency_ms()).unwrap_or(0),
        );
        Ok(Completion {
            response: Reply::Bedrock {
                body: reply::converse_reply(&blocks, stop_reason, usage.as_ref(), latency),
                content_type: "application/json".into(),
            },
            usage,
        })
    }

    /// A ConverseStream call of `deployment` with the client's conversation, its events in
    /// Converse's shapes.
    pub async fn converse_stream_body(
        &self,
        deployment: &Deployment,
        call: &ConverseCall,
    ) -> Result<ChunkStream, ProviderError> {
        let converse = convert_conversation(call.conversation.clone(), &deployment.model)?;
        let answer_tool = converse.answer_tool;
        let mut events = self.send_converse_stream(deployment, converse).await?;
        let first = super::read_to_content(&mut events).await?;
        let reader = ConverseEvents {
            events,
            first,
            answer_tool,
            answer_index: None,
            finished: false,
        };
        Ok(Box::pin(stream::unfold(reader, ConverseEvents::next_item)))
    }

    /// InvokeModel with the client's body, to a deployment of the body's family.
    pub async fn invoke_body(
        &self,
        deployment: &Deployment,
        call: &InvokeCall,
    ) -> Result<Completion, ProviderError> {
        let output = self
            .client(deployment)?
            .invoke_model()
            .model_id(&deployment.model)
            .set_content_type(call.content_type.clone())
            .set_accept(call.accept.clone())
            .body(Blob::new(call.body.clone()))
            .send()
            .await
            .map_err(convert_sdk_error)?;
        let body = Bytes::from(output.body.into_inner());
        let usage = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|reply| native_usage(&reply));
        Ok(Completion {
            response: Reply::Bedrock {
                body,
                content_type: output.content_type,
            },
            usage,
        })
    }

    /// InvokeModelWithResponseStream with the client's body; read up to its first chunk of
    /// content (past Anthropic's `message_start` and `ping`), so a failure before it fails over.
    pub async fn invoke_stream_body(
        &self,
        deployment: &Deployment,
        call: &InvokeCall,
    ) -> Result<ChunkStream, ProviderError> {
        let output = self
            .client(deployment)?
            .invoke_model_with_response_stream()
            .model_id(&deployment.model)
            .set_content_type(call.content_type.clone())
            .set_accept(call.accept.clone())
            .body(Blob::new(call.body.clone()))
            .send()
            .await
            .map_err(convert_sdk_error)?;
        let mut reader = InvokeChunks {
            events: output.body,
            first: VecDeque::new(),
            finished: false,
        };
        while let Some((event, preamble)) = reader.read().await? {
            reader.first.push_back(event);
            if !preamble {
                break;
            }
        }
        Ok(Box::pin(stream::unfold(reader, InvokeChunks::next_item)))
    }
}

impl BedrockProvider {
    /// CountTokens for a Converse conversation or an InvokeModel body, with the deployment's
    /// base model id (CountTokens takes no inference profile).
    pub async fn count_body(
        &self,
        deployment: &Deployment,
        input: &CountInput,
    ) -> Result<u64, ProviderError> {
        let input = match input {
            CountInput::Converse(call) => {
                let converse = convert_conversation(call.conversation.clone(), &deployment.model)?;
                let request = ConverseTokensRequest::builder()
                    .set_messages(Some(converse.messages))
                    .set_system((!converse.system.is_empty()).then_some(converse.system))
                    .set_tool_config(converse.tool_config)
                    .set_additional_model_request_fields(converse.additional_fields)
                    .build();
                CountTokensInput::Converse(request)
            }
            CountInput::Invoke(body) => {
                let request = InvokeModelTokensRequest::builder()
                    .body(Blob::new(body.to_vec()))
                    .build()
                    .map_err(|e| ProviderError::Upstream {
                        message: e.to_string(),
                    })?;
                CountTokensInput::InvokeModel(request)
            }
        };
        let output = self
            .client(deployment)?
            .count_tokens()
            .model_id(base_model_id(&deployment.model))
            .input(input)
            .send()
            .await
            .map_err(convert_sdk_error)?;
        Ok(u64::try_from(output.input_tokens()).unwrap_or(0))
    }
}

/// The token counts a model-native reply (or stream chunk) carries, by each family's names:
/// Bedrock's `amazon-bedrock-invocationMetrics` on a stream's last chunk, Anthropic's and
/// Nova's `usage`, Llama's `prompt_token_count` / `generation_token_count`, Titan's
/// `inputTextTokenCount` and `results[].tokenCount`.
pub fn native_usage(reply: &Value) -> Option<Usage> {
    let count = |value: &Value, name: &str| value.get(name).and_then(Value::as_u64);
    if let Some(metrics) = reply.get("amazon-bedrock-invocationMetrics") {
        let input = count(metrics, "inputTokenCount")?;
        return Some(Usage::with_cache(
            input,
            count(metrics, "cacheReadInputTokenCount").unwrap_or(0),
            count(metrics, "cacheWriteInputTokenCount").unwrap_or(0),
            count(metrics, "outputTokenCount").unwrap_or(0),
        ));
    }
    if let Some(usage) = reply.get("usage") {
        if let Some(input) = count(usage, "input_tokens") {
            return Some(Usage::with_cache(
                input,
                count(usage, "cache_read_input_tokens").unwrap_or(0),
                count(usage, "cache_creation_input_tokens").unwrap_or(0),
                count(usage, "output_tokens").unwrap_or(0),
            ));
        }
        if let Some(input) = count(usage, "inputTokens") {
            return Some(Usage::with_cache(
                input,
                count(usage, "cacheReadInputTokenCount").unwrap_or(0),
                count(usage, "cacheWriteInputTokenCount").unwrap_or(0),
                count(usage, "outputTokens").unwrap_or(0),
            ));
        }
    }
    if let Some(input) = count(reply, "prompt_token_count") {
        return Some(Usage::new(
            input,
            count(reply, "generation_token_count").unwrap_or(0),
        ));
    }
    let input = count(reply, "inputTextTokenCount")?;
    let output = reply
        .get("results")
        .and_then(Value::as_array)
        .map_or(0, |results| {
            results.iter().filter_map(|r| count(r, "tokenCount")).sum()
        });
    Some(Usage::new(input, output))
}

/// A ConverseStream being relayed in Converse's own event shapes.
struct ConverseEvents {
    events: super::Events,
    /// The events read before the stream was handed out.
    first: VecDeque<ConverseStreamOutput>,
    /// The structured-output tool, when the answer is asked through one: its call is written
    /// as the answer's text.
    answer_tool: Option<AnswerTool>,
    /// The index of the answer tool's block, once it started.
    answer_index: Option<i32>,
    finished: bool,
}

impl ConverseEvents {
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
            if let Some(event) = self.event(&event) {
                return Some((Ok(StreamItem::Bedrock(event)), self));
            }
        }
    }

    /// One SDK event as Converse writes it; `None` for one the client does not get (the
    /// answer tool's start, kinds newer than this gateway).
    fn event(&mut self, event: &ConverseStreamOutput) -> Option<BedrockEvent> {
        let (event_type, payload, usage) = match event {
            ConverseStreamOutput::MessageStart(start) => {
                ("messageStart", json!({"role": start.role().as_str()}), None)
            }
            ConverseStreamOutput::ContentBlockStart(start) => {
                let index = start.content_block_index();
                let Some(ContentBlockStart::ToolUse(tool)) = start.start() else {
                    return None;
                };
                if self.answer_tool.is_some_and(|a| a.name == tool.name()) {
                    self.answer_index = Some(index);
                    return None;
                }
                (
                    "contentBlockStart",
                    json!({"contentBlockIndex": index, "start": {"toolUse": {
                        "toolUseId": tool.tool_use_id(), "name": tool.name()}}}),
                    None,
                )
            }
            ConverseStreamOutput::ContentBlockDelta(delta) => {
                let index = delta.content_block_index();
                let delta = match delta.delta()? {
                    ContentBlockDelta::Text(text) => json!({"text": text}),
                    ContentBlockDelta::ToolUse(tool) if self.answer_index == Some(index) => {
                        json!({"text": tool.input()})
                    }
                    ContentBlockDelta::ToolUse(tool) => json!({"toolUse": {"input": tool.input()}}),
                    ContentBlockDelta::ReasoningContent(reasoning) => match reasoning {
                        ReasoningContentBlockDelta::Text(text) => {
                            json!({"reasoningContent": {"text": text}})
                        }
                        ReasoningContentBlockDelta::Signature(signature) => {
                            json!({"reasoningContent": {"signature": signature}})
                        }
                        ReasoningContentBlockDelta::RedactedContent(data) => {
                            json!({"reasoningContent": {"redactedContent":
                                aws_smithy_types::base64::encode(data.as_ref())}})
                        }
                        _ => return None,
                    },
                    _ => return None,
                };
                (
                    "contentBlockDelta",
                    json!({"contentBlockIndex": index, "delta": delta}),
                    None,
                )
            }
            ConverseStreamOutput::ContentBlockStop(stop) => (
                "contentBlockStop",
                json!({"contentBlockIndex": stop.content_block_index()}),
                None,
            ),
            ConverseStreamOutput::MessageStop(stop) => {
                let reason = match stop.stop_reason().as_str() {
                    "tool_use" if self.answer_index.is_some() => "end_turn",
                    other => other,
                };
                ("messageStop", json!({"stopReason": reason}), None)
            }
            ConverseStreamOutput::Metadata(metadata) => {
                let usage = metadata.usage().map(convert_usage);
                let latency = metadata.metrics().map_or(0, |m| m.latency_ms());
                (
                    "metadata",
                    json!({"usage": reply::usage_json(usage.as_ref()),
                        "metrics": {"latencyMs": latency}}),
                    usage,
                )
            }
            _ => return None,
        };
        Some(BedrockEvent {
            event_type,
            payload: Bytes::from(payload.to_string()),
            usage,
        })
    }
}

/// An InvokeModelWithResponseStream being relayed chunk by chunk.
struct InvokeChunks {
    events: EventReceiver<ResponseStream, ResponseStreamError>,
    /// The chunks read before the stream was handed out.
    first: VecDeque<BedrockEvent>,
    finished: bool,
}

impl InvokeChunks {
    /// The next chunk as a `chunk` event (its bytes base64 in `{"bytes"}`, as on the wire),
    /// with Bedrock's counts when it carries them, and whether it is a preamble (Anthropic's
    /// `message_start` or `ping`: no content yet); `None` at the end.
    async fn read(&mut self) -> Result<Option<(BedrockEvent, bool)>, ProviderError> {
        loop {
            let chunk = match self.events.recv().await {
                Ok(Some(ResponseStream::Chunk(chunk))) => chunk,
                Ok(Some(_)) => continue,
                Ok(None) => return Ok(None),
                Err(error) => {
                    return Err(convert_error(error, None, |e, status| {
                        Fault::from_code(
                            aws_sdk_bedrockruntime::error::ProvideErrorMetadata::code(e),
                            status,
                        )
                    }));
                }
            };
            let Some(bytes) = chunk.bytes() else {
                continue;
            };
            let data = serde_json::from_slice::<Value>(bytes.as_ref()).ok();
            let usage = data.as_ref().and_then(native_usage);
            let preamble = data.as_ref().is_some_and(|data| {
                matches!(
                    data.get("type").and_then(Value::as_str),
                    Some("message_start" | "ping")
                )
            });
            let payload = json!({"bytes": aws_smithy_types::base64::encode(bytes.as_ref())});
            let event = BedrockEvent {
                event_type: "chunk",
                payload: Bytes::from(payload.to_string()),
                usage,
            };
            return Ok(Some((event, preamble)));
        }
    }

    async fn next_item(mut self) -> Option<(Result<StreamItem, ProviderError>, Self)> {
        if let Some(event) = self.first.pop_front() {
            return Some((Ok(StreamItem::Bedrock(event)), self));
        }
        if self.finished {
            return None;
        }
        match self.read().await {
            Ok(Some((event, _))) => Some((Ok(StreamItem::Bedrock(event)), self)),
            Ok(None) => None,
            Err(error) => {
                self.finished = true;
                Some((Err(error), self))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_familys_counts_are_read() {
        let cases = [
            (
                json!({"usage": {"input_tokens": 3, "output_tokens": 4}}),
                (3, 4),
            ),
            (
                json!({"usage": {"inputTokens": 5, "outputTokens": 6}}),
                (5, 6),
            ),
            (
                json!({"generation": "hi", "prompt_token_count": 7, "generation_token_count": 8}),
                (7, 8),
            ),
            (
                json!({"inputTextTokenCount": 9, "results": [{"tokenCount": 2}, {"tokenCount": 1}]}),
                (9, 3),
            ),
            (
                json!({"type": "message_stop", "amazon-bedrock-invocationMetrics":
                    {"inputTokenCount": 11, "outputTokenCount": 12}}),
                (11, 12),
            ),
        ];
        for (reply, (input, output)) in cases {
            let usage = native_usage(&reply).expect("counts");
            assert_eq!(
                (usage.prompt_tokens, usage.completion_tokens),
                (input, output),
                "{reply}"
            );
        }
        assert_eq!(native_usage(&json!({"outputs": [{"text": "x"}]})), None);
    }
}
