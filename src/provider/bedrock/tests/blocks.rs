//! `convert_block` and friends: each canonical block kind to Converse, reply blocks back,
//! and the Converse rules `convert_conversation` applies to a canonical conversation.

use aws_sdk_bedrockruntime::types::{
    CachePointType, CacheTtl as BedrockCacheTtl, ContentBlock,
    DocumentFormat as BedrockDocumentFormat, DocumentSource, ImageFormat as BedrockImageFormat,
    ImageSource, ReasoningContentBlock, ReasoningTextBlock, SystemContentBlock, ToolResultBlock,
    ToolResultContentBlock, ToolResultStatus, ToolUseBlock,
};
use aws_smithy_types::Blob;
use serde_json::json;

use crate::content::{
    Block, CacheTtl, Conversation, Document, DocumentFormat, Image, ImageFormat, Reasoning, Role,
    SystemBlock, ToolChoice, ToolResult, ToolResultContent, ToolSpec, ToolUse,
};
use crate::provider::ProviderError;
use crate::provider::bedrock::*;

fn converted(block: Block) -> ContentBlock {
    convert_block(block).unwrap()
}

#[test]
fn text_and_media_blocks_convert() {
    assert_eq!(
        converted(Block::Text("hi".into())),
        ContentBlock::Text("hi".into())
    );
    let ContentBlock::Image(image) = converted(Block::Image(Image {
        format: ImageFormat::Gif,
        bytes: b"GIF89a".to_vec(),
    })) else {
        panic!("not an image")
    };
    assert_eq!(image.format(), &BedrockImageFormat::Gif);
    assert_eq!(
        image.source(),
        Some(&ImageSource::Bytes(Blob::new(b"GIF89a".to_vec())))
    );
    let ContentBlock::Document(document) = converted(Block::Document(Document {
        format: DocumentFormat::Pdf,
        name: "report".into(),
        bytes: b"%PDF".to_vec(),
    })) else {
        panic!("not a document")
    };
    assert_eq!(document.format(), &BedrockDocumentFormat::Pdf);
    assert_eq!(document.name(), "report");
    assert_eq!(
        document.source(),
        Some(&DocumentSource::Bytes(Blob::new(b"%PDF".to_vec())))
    );
}

#[test]
fn tool_blocks_convert() {
    let ContentBlock::ToolUse(tool_use) = converted(Block::ToolUse(ToolUse {
        id: "t1".into(),
        name: "weather".into(),
        input: json!({"city": "Paris", "days": 3}),
    })) else {
        panic!("not a tool use")
    };
    assert_eq!((tool_use.tool_use_id(), tool_use.name()), ("t1", "weather"));
    assert_eq!(
        document_to_json(tool_use.input()),
        json!({"city": "Paris", "days": 3})
    );

    let ContentBlock::ToolResult(ok) = converted(Block::ToolResult(ToolResult {
        tool_use_id: "t1".into(),
        content: vec![
            ToolResultContent::Text("sunny".into()),
            ToolResultContent::Json(json!({"celsius": 24})),
            ToolResultContent::Image(Image {
                format: ImageFormat::Png,
                bytes: vec![1],
            }),
        ],
        is_error: false,
    })) else {
        panic!("not a tool result")
    };
    assert_eq!(ok.tool_use_id(), "t1");
    assert_eq!(ok.status(), None, "success is Converse's default");
    let content = ok.content();
    assert_eq!(content[0], ToolResultContentBlock::Text("sunny".into()));
    assert_eq!(
        document_to_json(content[1].as_json().unwrap()),
        json!({"celsius": 24})
    );
    assert_eq!(
        content[2].as_image().unwrap().format(),
        &BedrockImageFormat::Png
    );

    let ContentBlock::ToolResult(failed) = converted(Block::ToolResult(ToolResult {
        tool_use_id: "t2".into(),
        content: vec![ToolResultContent::Text("no such city".into())],
        is_error: true,
    })) else {
        panic!("not a tool result")
    };
    assert_eq!(failed.status(), Some(&ToolResultStatus::Error));
}

#[test]
fn reasoning_blocks_convert() {
    let reasoning = converted(Block::Reasoning(Reasoning {
        text: "Paris is in France.".into(),
        signature: Some("sig".into()),
    }));
    let ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(text)) = &reasoning
    else {
        panic!("{reasoning:?}")
    };
    assert_eq!(text.text(), "Paris is in France.");
    assert_eq!(text.signature(), Some("sig"));
    assert_eq!(
        converted(Block::RedactedReasoning { data: vec![7, 8] }),
        ContentBlock::ReasoningContent(ReasoningContentBlock::RedactedContent(Blob::new(vec![
            7, 8
        ])))
    );
}

#[test]
fn cache_points_convert_with_their_ttl() {
    let ContentBlock::CachePoint(default) = converted(Block::CachePoint(CacheTtl::FiveMinutes))
    else {
        panic!("not a cache point")
    };
    assert_eq!(default.r#type(), &CachePointType::Default);
    assert_eq!(
        default.ttl(),
        None,
        "five minutes is the default, sent without ttl"
    );
    let ContentBlock::CachePoint(hour) = converted(Block::CachePoint(CacheTtl::OneHour)) else {
        panic!("not a cache point")
    };
    assert_eq!(hour.ttl(), Some(&BedrockCacheTtl::OneHour));
    let SystemContentBlock::CachePoint(system) =
        convert_system_block(SystemBlock::CachePoint(CacheTtl::OneHour)).unwrap()
    else {
        panic!("not a cache point")
    };
    assert_eq!(system.ttl(), Some(&BedrockCacheTtl::OneHour));
    assert_eq!(
        convert_system_block(SystemBlock::Text("be brief".into())).unwrap(),
        SystemContentBlock::Text("be brief".into())
    );
}

#[test]
fn reply_blocks_convert_back() {
    let tool_use = ToolUseBlock::builder()
        .tool_use_id("t1")
        .name("weather")
        .input(json_to_document(&json!({"city": "Rome"})))
        .build()
        .unwrap();
    let reasoning = ReasoningTextBlock::builder()
        .text("hmm")
        .signature("sig")
        .build()
        .unwrap();
    let blocks = [
        ContentBlock::Text("hi".into()),
        ContentBlock::ToolUse(tool_use),
        ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(reasoning)),
        ContentBlock::ReasoningContent(ReasoningContentBlock::RedactedContent(Blob::new(vec![1]))),
        ContentBlock::ToolResult(
            ToolResultBlock::builder()
                .tool_use_id("x")
                .content(ToolResultContentBlock::Text("ok".into()))
                .build()
                .unwrap(),
        ),
    ];
    let canonical: Vec<Block> = blocks.iter().filter_map(convert_output_block).collect();
    assert_eq!(
        canonical,
        [
            Block::Text("hi".into()),
            Block::ToolUse(ToolUse {
                id: "t1".into(),
                name: "weather".into(),
                input: json!({"city": "Rome"})
            }),
            Block::Reasoning(Reasoning {
                text: "hmm".into(),
                signature: Some("sig".into())
            }),
            Block::RedactedReasoning { data: vec![1] },
        ],
        "a tool result has no place in a reply"
    );
}

/// A conversation of one user text, with `tools` and `tool_choice`.
fn asking(tools: Vec<ToolSpec>, tool_choice: Option<ToolChoice>) -> Conversation {
    let mut conversation = Conversation {
        tools,
        tool_choice,
        ..Conversation::default()
    };
    conversation.push(Role::User, vec![Block::Text("hi".into())]);
    conversation
}

#[test]
fn canonical_conversations_follow_converse_rules() {
    let spec = ToolSpec {
        name: "f".into(),
        description: None,
        input_schema: json!({"type": "object"}),
    };
    let none =
        convert_conversation(asking(vec![spec.clone()], Some(ToolChoice::None)), "m").unwrap();
    assert_eq!(
        none.tool_config, None,
        "Converse has no none: the tools stay out"
    );
    let named = convert_conversation(
        asking(vec![spec], Some(ToolChoice::Tool { name: "f".into() })),
        "m",
    )
    .unwrap();
    let config = named.tool_config.unwrap();
    assert_eq!(config.tool_choice().unwrap().as_tool().unwrap().name(), "f");
    assert_eq!(named.inference_config, None);

    let mut assistant_first = Conversation::default();
    assistant_first.push(Role::Assistant, vec![Block::Text("Hello!".into())]);
    let error = convert_conversation(assistant_first, "m").unwrap_err();
    assert!(
        matches!(&error, ProviderError::Unsupported { param, .. } if param == "messages"),
        "{error:?}"
    );
}
