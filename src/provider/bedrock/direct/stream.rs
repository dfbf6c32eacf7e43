//! A direct ConverseStream's body: event-stream frames (aws-smithy-eventstream's decoder,
//! both CRCs checked) read into the SDK's `ConverseStreamOutput` events, so one
//! [`convert_stream_event`](crate::provider::bedrock::convert_stream_event) maps both paths,
//! and exception frames into the same faults as the SDK's typed stream errors.

use aws_sdk_bedrockruntime::types::{
    ContentBlockDelta, ContentBlockDeltaEvent, ContentBlockStopEvent, ConversationRole,
    ConverseStreamMetadataEvent, ConverseStreamMetrics, ConverseStreamOutput, MessageStartEvent,
    MessageStopEvent, StopReason,
};
use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::Message;
use bytes::BytesMut;
use futures_util::StreamExt;
use serde::Deserialize;

use super::reply::{Usage, token_usage, unreadable};
use crate::bedrock_runtime::eventstream::{exception_of_member, header_value};
use crate::provider::ProviderError;
use crate::provider::bedrock::{Fault, convert_fault};
use crate::provider::transport::{Answer, ByteStream};

/// The events of a direct ConverseStream, read as they arrive.
pub struct DirectEvents {
    body: ByteStream,
    buffer: BytesMut,
    decoder: MessageFrameDecoder,
    /// The decoder has taken a frame's prelude and waits for the rest of it.
    inside_frame: bool,
}

impl DirectEvents {
    pub fn new(response: Answer) -> Self {
        DirectEvents {
            body: response.into_stream(),
            buffer: BytesMut::new(),
            decoder: MessageFrameDecoder::new(),
            inside_frame: false,
        }
    }

    /// The next event; `None` at the stream's end; an exception frame, a broken frame or a
    /// body cut inside a frame is an error.
    pub async fn recv(&mut self) -> Result<Option<ConverseStreamOutput>, ProviderError> {
        loop {
            let before = self.buffer.len();
            match self.decoder.decode_frame(&mut self.buffer) {
                Ok(DecodedFrame::Complete(message)) => {
                    self.inside_frame = false;
                    if let Some(event) = convert_frame(&message)? {
                        return Ok(Some(event));
                    }
                }
                Ok(DecodedFrame::Incomplete) => {
                    self.inside_frame |= self.buffer.len() < before;
                    match self.body.next().await {
                        Some(Ok(chunk)) => self.buffer.extend_from_slice(&chunk),
                        Some(Err(error)) => return Err(error),
                        None if self.inside_frame || !self.buffer.is_empty() => {
                            return Err(ProviderError::Upstream {
                                message: "the ConverseStream reply ended inside an event frame"
                                    .into(),
                            });
                        }
                        None => return Ok(None),
                    }
                }
                Err(error) => {
                    return Err(ProviderError::Upstream {
                        message: format!("an unreadable ConverseStream event frame: {error}"),
                    });
                }
            }
        }
    }
}

/// One frame as an event: `None` for an event type this reader does not know (newer than it,
/// skipped as the SDK skips `Unknown`), an error for an exception or error frame.
pub fn convert_frame(message: &Message) -> Result<Option<ConverseStreamOutput>, ProviderError> {
    match header_value(message, ":message-type") {
        Some("event") => convert_event(
            header_value(message, ":event-type").unwrap_or_default(),
            message.payload(),
        ),
        Some("exception") => {
            let member = header_value(message, ":exception-type").unwrap_or_default();
            Err(convert_exception(
                &exception_of_member(member),
                message.payload(),
            ))
        }
        _ => {
            let code = header_value(message, ":error-code");
            let text = header_value(message, ":error-message").unwrap_or("an error frame");
            Err(convert_fault(Fault::from_code(code, None), text))
        }
    }
}

#[derive(Deserialize)]
struct ExceptionPayload {
    #[serde(alias = "Message")]
    message: Option<String>,
}

fn convert_exception(name: &str, payload: &[u8]) -> ProviderError {
    let message = serde_json::from_slice::<ExceptionPayload>(payload)
        .ok()
        .and_then(|p| p.message)
        .unwrap_or_else(|| format!("Bedrock sent {name} in the stream"));
    convert_fault(Fault::from_code(Some(name), None), &message)
}

#[derive(Deserialize)]
struct Start {
    role: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlockStart {
    /// What starts: present for blocks that are not text (tool use, reasoning…).
    start: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Delta {
    content_block_index: i32,
    delta: DeltaText,
}

/// A delta; the direct path asks for text only, so text is all it reads.
#[derive(Deserialize)]
struct DeltaText {
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stop {
    content_block_index: i32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageStop {
    stop_reason: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    usage: Option<Usage>,
    metrics: Option<Metrics>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metrics {
    latency_ms: i64,
}

fn not_text() -> ProviderError {
    ProviderError::Upstream {
        message: "a ConverseStream reply to a text-only request carried a block that is not text"
            .into(),
    }
}

fn convert_event(
    event_type: &str,
    payload: &[u8],
) -> Result<Option<ConverseStreamOutput>, ProviderError> {
    fn read<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T, ProviderError> {
        serde_json::from_slice(payload).map_err(unreadable)
    }
    let event = match event_type {
        "messageStart" => {
            let start: Start = read(payload)?;
            ConverseStreamOutput::MessageStart(
                MessageStartEvent::builder()
                    .role(ConversationRole::from(start.role.as_str()))
                    .build()
                    .map_err(unreadable)?,
            )
        }
        "contentBlockStart" => {
            let start: BlockStart = read(payload)?;
            return match start.start {
                Some(serde_json::Value::Object(kind)) if !kind.is_empty() => Err(not_text()),
                _ => Ok(None),
            };
        }
        "contentBlockDelta" => {
            let delta: Delta = read(payload)?;
            let text = delta.delta.text.ok_or_else(not_text)?;
            ConverseStreamOutput::ContentBlockDelta(
                ContentBlockDeltaEvent::builder()
                    .content_block_index(delta.content_block_index)
                    .delta(ContentBlockDelta::Text(text))
                    .build()
                    .map_err(unreadable)?,
            )
        }
        "contentBlockStop" => {
            let stop: Stop = read(payload)?;
            ConverseStreamOutput::ContentBlockStop(
                ContentBlockStopEvent::builder()
                    .content_block_index(stop.content_block_index)
                    .build()
                    .map_err(unreadable)?,
            )
        }
        "messageStop" => {
            let stop: MessageStop = read(payload)?;
            ConverseStreamOutput::MessageStop(
                MessageStopEvent::builder()
                    .stop_reason(StopReason::from(stop.stop_reason.as_str()))
                    .build()
                    .map_err(unreadable)?,
            )
        }
        "metadata" => {
            let metadata: Metadata = read(payload)?;
            let usage = metadata.usage.map(token_usage).transpose()?;
            let metrics = match metadata.metrics {
                Some(m) => Some(
                    ConverseStreamMetrics::builder()
                        .latency_ms(m.latency_ms)
                        .build()
                        .map_err(unreadable)?,
                ),
                None => None,
            };
            ConverseStreamOutput::Metadata(
                ConverseStreamMetadataEvent::builder()
                    .set_usage(usage)
                    .set_metrics(metrics)
                    .build(),
            )
        }
        _ => return Ok(None),
    };
    Ok(Some(event))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bedrock_runtime::eventstream::{event_frame, exception_frame};

    fn decode_all(bytes: &[u8]) -> Vec<Result<Option<ConverseStreamOutput>, ProviderError>> {
        let mut buffer = BytesMut::from(bytes);
        let mut decoder = MessageFrameDecoder::new();
        let mut events = Vec::new();
        while let Ok(DecodedFrame::Complete(message)) = decoder.decode_frame(&mut buffer) {
            events.push(convert_frame(&message));
        }
        events
    }

    #[test]
    fn text_events_read_as_the_sdks_events() {
        let mut stream = Vec::new();
        for (kind, payload) in [
            ("messageStart", r#"{"role":"assistant","p":"abcdefgh"}"#),
            (
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"text":"Hel"},"p":"ab"}"#,
            ),
            ("contentBlockStop", r#"{"contentBlockIndex":0}"#),
            ("messageStop", r#"{"stopReason":"end_turn"}"#),
            (
                "metadata",
                r#"{"usage":{"inputTokens":5,"outputTokens":2,"totalTokens":7},"metrics":{"latencyMs":9}}"#,
            ),
            ("someEventFromTheFuture", r#"{}"#),
        ] {
            stream.extend_from_slice(&event_frame(kind, payload.to_owned()));
        }
        let events: Vec<_> = decode_all(&stream)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert!(
            matches!(&events[0], Some(ConverseStreamOutput::MessageStart(s)) if s.role() == &ConversationRole::Assistant)
        );
        assert!(
            matches!(&events[1], Some(ConverseStreamOutput::ContentBlockDelta(d))
            if d.delta() == Some(&ContentBlockDelta::Text("Hel".into())) && d.content_block_index() == 0)
        );
        assert!(matches!(
            &events[2],
            Some(ConverseStreamOutput::ContentBlockStop(_))
        ));
        assert!(
            matches!(&events[3], Some(ConverseStreamOutput::MessageStop(s)) if s.stop_reason() == &StopReason::EndTurn)
        );
        assert!(matches!(&events[4], Some(ConverseStreamOutput::Metadata(m))
            if m.usage().map(|u| u.total_tokens()) == Some(7) && m.metrics().map(|m| m.latency_ms()) == Some(9)));
        assert!(events[5].is_none());
    }

    #[test]
    fn exception_frames_are_the_faults_the_sdk_path_gives() {
        let throttled =
            exception_frame("throttlingException", "Too many tokens, please wait.").to_vec();
        let broken = exception_frame("modelStreamErrorException", "broke").to_vec();
        let mut stream = throttled;
        stream.extend_from_slice(&broken);
        let events = decode_all(&stream);
        assert!(
            matches!(&events[0], Err(ProviderError::RateLimited { message, .. }) if message == "Too many tokens, please wait.")
        );
        assert!(matches!(&events[1], Err(ProviderError::Unavailable { .. })));
    }

    #[test]
    fn a_block_that_is_not_text_is_an_error() {
        let tool = event_frame(
            "contentBlockStart",
            r#"{"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"t","name":"f"}}}"#
                .to_owned(),
        );
        let reasoning = event_frame(
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"hm"}}}"#.to_owned(),
        );
        let mut stream = tool.to_vec();
        stream.extend_from_slice(&reasoning);
        for event in decode_all(&stream) {
            assert!(
                matches!(event, Err(ProviderError::Upstream { message }) if message.contains("not text"))
            );
        }
    }
}
