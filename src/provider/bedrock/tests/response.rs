//! `convert_stop_reason`, `convert_response` and `convert_stream_event`.

use aws_sdk_bedrockruntime::operation::converse::ConverseOutput;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ContentBlockDeltaEvent, ContentBlockStart,
    ContentBlockStartEvent, ContentBlockStopEvent, ConversationRole, ConverseOutput as Reply,
    ConverseStreamMetadataEvent, ConverseStreamOutput, Message, MessageStartEvent,
    MessageStopEvent, StopReason, TokenUsage, ToolUseBlock, ToolUseBlockDelta, ToolUseBlockStart,
};
use aws_smithy_types::Document;
use serde_json::json;

use crate::openai::{FinishReason, Role};
use crate::provider::StreamItem;
use crate::provider::bedrock::*;

#[test]
fn every_stop_reason_has_a_finish_reason() {
    let cases = [
        ("end_turn", FinishReason::Stop),
        ("stop_sequence", FinishReason::Stop),
        ("tool_use", FinishReason::ToolCalls),
        ("max_tokens", FinishReason::Length),
        ("model_context_window_exceeded", FinishReason::Length),
        ("content_filtered", FinishReason::ContentFilter),
        ("guardrail_intervened", FinishReason::ContentFilter),
        ("malformed_model_output", FinishReason::Stop),
        ("malformed_tool_use", FinishReason::Stop),
        ("something_new", FinishReason::Stop),
    ];
    for (wire, expected) in cases {
        assert_eq!(
            convert_stop_reason(&StopReason::from(wire)),
            expected,
            "{wire}"
        );
    }
    assert_eq!(
        StopReason::values().len(),
        cases.len() - 1,
        "a new stop reason needs a decision"
    );
}

fn usage(input: i32, output: i32) -> TokenUsage {
    TokenUsage::builder()
        .input_tokens(input)
        .output_tokens(output)
        .total_tokens(input + output)
        .build()
        .unwrap()
}

#[test]
fn converse_reply_becomes_a_completion() {
    let message = Message::builder()
        .role(ConversationRole::Assistant)
        .content(ContentBlock::Text("It is ".into()))
        .content(ContentBlock::Text("sunny.".into()))
        .content(ContentBlock::ToolUse(
            ToolUseBlock::builder()
                .tool_use_id("t1")
                .name("weather")
                .input(json_to_document(&json!({"city": "Paris"})))
                .build()
                .unwrap(),
        ))
        .build()
        .unwrap();
    let output = ConverseOutput::builder()
        .output(Reply::Message(message))
        .stop_reason(StopReason::ToolUse)
        .usage(usage(10, 3))
        .build()
        .unwrap();
    let completion = convert_response(
        &output,
        "chatcmpl-x".into(),
        42,
        "us.anthropic.claude-haiku-4-5-20251001-v1:0",
        None,
    );
    assert_eq!(
        completion.model,
        "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    );
    assert_eq!(
        (completion.id.as_str(), completion.created),
        ("chatcmpl-x", 42)
    );
    let choice = &completion.choices[0];
    assert_eq!(choice.message.role, Role::Assistant);
    assert_eq!(choice.message.content.as_deref(), Some("It is sunny."));
    let calls = choice.message.tool_calls.as_ref().unwrap();
    assert_eq!(
        (calls[0].id.as_str(), calls[0].function.name.as_str()),
        ("t1", "weather")
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&calls[0].function.arguments).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(choice.finish_reason, Some(FinishReason::ToolCalls));
    let usage = completion.usage.unwrap();
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (10, 3, 13)
    );
}

#[test]
fn reply_with_only_tool_calls_has_null_content() {
    let output = ConverseOutput::builder()
        .output(Reply::Message(
            Message::builder()
                .role(ConversationRole::Assistant)
                .content(ContentBlock::ToolUse(
                    ToolUseBlock::builder()
                        .tool_use_id("a")
                        .name("f")
                        .input(Document::Object(Default::default()))
                        .build()
                        .unwrap(),
                ))
                .build()
                .unwrap(),
        ))
        .stop_reason(StopReason::ToolUse)
        .build()
        .unwrap();
    let completion = convert_response(&output, "id".into(), 0, "m", None);
    assert_eq!(completion.choices[0].message.content, None);
    assert_eq!(
        completion.choices[0].message.tool_calls.as_ref().unwrap()[0]
            .function
            .arguments,
        "{}"
    );
    assert_eq!(completion.usage, None);
}

fn chunk_of(item: Option<StreamItem>) -> crate::openai::ChatChunk {
    match item {
        Some(StreamItem::Chunk(chunk)) => chunk,
        other => panic!("expected a chunk, got {other:?}"),
    }
}

#[test]
fn stream_events_become_chunks_with_tool_indices() {
    let mut state = StreamState::new("chatcmpl-s".into(), 7, "model-id".into());
    let start = ConverseStreamOutput::MessageStart(
        MessageStartEvent::builder()
            .role(ConversationRole::Assistant)
            .build()
            .unwrap(),
    );
    let first = chunk_of(convert_stream_event(&mut state, &start));
    assert_eq!(
        (first.id.as_str(), first.created, first.model.as_str()),
        ("chatcmpl-s", 7, "model-id")
    );
    assert_eq!(first.choices[0].delta.role, Some(Role::Assistant));
    assert_eq!(first.choices[0].delta.content.as_deref(), Some(""));

    let text = ConverseStreamOutput::ContentBlockDelta(
        ContentBlockDeltaEvent::builder()
            .content_block_index(0)
            .delta(ContentBlockDelta::Text("Hel".into()))
            .build()
            .unwrap(),
    );
    assert_eq!(
        chunk_of(convert_stream_event(&mut state, &text)).choices[0]
            .delta
            .content
            .as_deref(),
        Some("Hel")
    );
    let stop0 = ConverseStreamOutput::ContentBlockStop(
        ContentBlockStopEvent::builder()
            .content_block_index(0)
            .build()
            .unwrap(),
    );
    assert_eq!(convert_stream_event(&mut state, &stop0), None);

    // Content block 1 is the first tool call (index 0), block 2 the second (index 1).
    for (block, id) in [(1, "t1"), (2, "t2")] {
        let start = ConverseStreamOutput::ContentBlockStart(
            ContentBlockStartEvent::builder()
                .content_block_index(block)
                .start(ContentBlockStart::ToolUse(
                    ToolUseBlockStart::builder()
                        .tool_use_id(id)
                        .name("weather")
                        .build()
                        .unwrap(),
                ))
                .build()
                .unwrap(),
        );
        let chunk = chunk_of(convert_stream_event(&mut state, &start));
        let call = &chunk.choices[0].delta.tool_calls.as_ref().unwrap()[0];
        assert_eq!(call.index, u32::try_from(block - 1).unwrap());
        assert_eq!(call.id.as_deref(), Some(id));
        assert_eq!(call.function.name.as_deref(), Some("weather"));
        assert_eq!(call.function.arguments, "");
    }
    let args = ConverseStreamOutput::ContentBlockDelta(
        ContentBlockDeltaEvent::builder()
            .content_block_index(2)
            .delta(ContentBlockDelta::ToolUse(
                ToolUseBlockDelta::builder()
                    .input("{\"city\":")
                    .build()
                    .unwrap(),
            ))
            .build()
            .unwrap(),
    );
    let chunk = chunk_of(convert_stream_event(&mut state, &args));
    let call = &chunk.choices[0].delta.tool_calls.as_ref().unwrap()[0];
    assert_eq!(
        (
            call.index,
            call.id.as_deref(),
            call.function.arguments.as_str()
        ),
        (1, None, "{\"city\":")
    );

    let stop = ConverseStreamOutput::MessageStop(
        MessageStopEvent::builder()
            .stop_reason(StopReason::ToolUse)
            .build()
            .unwrap(),
    );
    let last = chunk_of(convert_stream_event(&mut state, &stop));
    assert_eq!(last.choices[0].finish_reason, Some(FinishReason::ToolCalls));

    let metadata = ConverseStreamOutput::Metadata(
        ConverseStreamMetadataEvent::builder()
            .usage(usage(5, 2))
            .build(),
    );
    let Some(StreamItem::Usage {
        usage,
        chunk: Some(chunk),
    }) = convert_stream_event(&mut state, &metadata)
    else {
        panic!()
    };
    assert_eq!(
        (
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens
        ),
        (5, 2, 7)
    );
    assert!(chunk.choices.is_empty());
    assert_eq!(chunk.usage, Some(usage));
    assert_eq!(chunk.id, "chatcmpl-s");
}
