//! Canonical blocks → Converse content blocks, one arm per kind; and back, for what a
//! Converse reply holds.
//!
//! Both directions are plain mappings: every canonical block has a Converse twin. A cache
//! point of [`CacheTtl::FiveMinutes`] is sent without `ttl`, which Converse reads as its
//! default five minutes: that works on every model with prompt caching, an explicit `ttl`
//! only on those with the extended TTL.

use aws_sdk_bedrockruntime::types::{
    CachePointBlock, CachePointType, CacheTtl as BedrockCacheTtl, ContentBlock, DocumentBlock,
    DocumentFormat as BedrockDocumentFormat, DocumentSource, ImageBlock,
    ImageFormat as BedrockImageFormat, ImageSource, ReasoningContentBlock, ReasoningTextBlock,
    SystemContentBlock, ToolResultBlock, ToolResultContentBlock, ToolResultStatus, ToolUseBlock,
};
use aws_smithy_types::Blob;

use super::document::{document_to_json, json_into_document};
use super::request::internal;
use crate::content::{
    Block, CacheTtl, Document, DocumentFormat, Image, ImageFormat, Reasoning, SystemBlock,
    ToolResult, ToolResultContent, ToolUse,
};
use crate::provider::ProviderError;

/// A canonical block as a Converse `ContentBlock`.
pub fn convert_block(block: Block) -> Result<ContentBlock, ProviderError> {
    match block {
        Block::Text(text) => Ok(ContentBlock::Text(text)),
        Block::Image(image) => convert_image(image).map(ContentBlock::Image),
        Block::Document(document) => convert_document(document).map(ContentBlock::Document),
        Block::ToolUse(tool_use) => convert_tool_use(tool_use).map(ContentBlock::ToolUse),
        Block::ToolResult(result) => convert_tool_result(result).map(ContentBlock::ToolResult),
        Block::Reasoning(reasoning) => ReasoningTextBlock::builder()
            .text(reasoning.text)
            .set_signature(reasoning.signature)
            .build()
            .map(|r| ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(r)))
            .map_err(internal),
        Block::RedactedReasoning { data } => Ok(ContentBlock::ReasoningContent(
            ReasoningContentBlock::RedactedContent(Blob::new(data)),
        )),
        Block::CachePoint(ttl) => convert_cache_point(ttl).map(ContentBlock::CachePoint),
    }
}

/// A canonical system block as a Converse `SystemContentBlock`.
pub fn convert_system_block(block: SystemBlock) -> Result<SystemContentBlock, ProviderError> {
    match block {
        SystemBlock::Text(text) => Ok(SystemContentBlock::Text(text)),
        SystemBlock::CachePoint(ttl) => {
            convert_cache_point(ttl).map(SystemContentBlock::CachePoint)
        }
    }
}

/// A block of a Converse reply as a canonical block: text, tool use and reasoning. The rest
/// (citations, images, kinds newer than this SDK) has no canonical twin yet and is left out.
pub fn convert_output_block(block: &ContentBlock) -> Option<Block> {
    match block {
        ContentBlock::Text(text) => Some(Block::Text(text.clone())),
        ContentBlock::ToolUse(tool_use) => Some(Block::ToolUse(ToolUse {
            id: tool_use.tool_use_id().to_owned(),
            name: tool_use.name().to_owned(),
            input: document_to_json(tool_use.input()),
        })),
        ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(reasoning)) => {
            Some(Block::Reasoning(Reasoning {
                text: reasoning.text().to_owned(),
                signature: reasoning.signature().map(str::to_owned),
            }))
        }
        ContentBlock::ReasoningContent(ReasoningContentBlock::RedactedContent(data)) => {
            Some(Block::RedactedReasoning {
                data: data.clone().into_inner(),
            })
        }
        _ => None,
    }
}

fn convert_image(image: Image) -> Result<ImageBlock, ProviderError> {
    let format = match image.format {
        ImageFormat::Png => BedrockImageFormat::Png,
        ImageFormat::Jpeg => BedrockImageFormat::Jpeg,
        ImageFormat::Gif => BedrockImageFormat::Gif,
        ImageFormat::Webp => BedrockImageFormat::Webp,
    };
    ImageBlock::builder()
        .format(format)
        .source(ImageSource::Bytes(Blob::new(image.bytes)))
        .build()
        .map_err(internal)
}

fn convert_document(document: Document) -> Result<DocumentBlock, ProviderError> {
    let format = match document.format {
        DocumentFormat::Pdf => BedrockDocumentFormat::Pdf,
        DocumentFormat::Csv => BedrockDocumentFormat::Csv,
        DocumentFormat::Doc => BedrockDocumentFormat::Doc,
        DocumentFormat::Docx => BedrockDocumentFormat::Docx,
        DocumentFormat::Xls => BedrockDocumentFormat::Xls,
        DocumentFormat::Xlsx => BedrockDocumentFormat::Xlsx,
        DocumentFormat::Html => BedrockDocumentFormat::Html,
        DocumentFormat::Txt => BedrockDocumentFormat::Txt,
        DocumentFormat::Md => BedrockDocumentFormat::Md,
    };
    DocumentBlock::builder()
        .format(format)
        .name(document.name)
        .source(DocumentSource::Bytes(Blob::new(document.bytes)))
        .build()
        .map_err(internal)
}

fn convert_tool_use(tool_use: ToolUse) -> Result<ToolUseBlock, ProviderError> {
    ToolUseBlock::builder()
        .tool_use_id(tool_use.id)
        .name(tool_use.name)
        .input(json_into_document(tool_use.input))
        .build()
        .map_err(internal)
}

fn convert_tool_result(result: ToolResult) -> Result<ToolResultBlock, ProviderError> {
    let mut content = Vec::with_capacity(result.content.len());
    for part in result.content {
        content.push(match part {
            ToolResultContent::Text(text) => ToolResultContentBlock::Text(text),
            ToolResultContent::Json(value) => {
                ToolResultContentBlock::Json(json_into_document(value))
            }
            ToolResultContent::Image(image) => ToolResultContentBlock::Image(convert_image(image)?),
        });
    }
    ToolResultBlock::builder()
        .tool_use_id(result.tool_use_id)
        .set_content(Some(content))
        .set_status(result.is_error.then_some(ToolResultStatus::Error))
        .build()
        .map_err(internal)
}

pub(super) fn convert_cache_point(ttl: CacheTtl) -> Result<CachePointBlock, ProviderError> {
    let ttl = match ttl {
        CacheTtl::FiveMinutes => None,
        CacheTtl::OneHour => Some(BedrockCacheTtl::OneHour),
    };
    CachePointBlock::builder()
        .r#type(CachePointType::Default)
        .set_ttl(ttl)
        .build()
        .map_err(internal)
}
