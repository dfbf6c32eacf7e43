//! The blocks a message is made of: Converse's `ContentBlock` union, minus the kinds no
//! surface produces yet (audio, video, citations, search results, guard content).

use serde_json::Value;

/// One piece of a message's content (Converse `ContentBlock`).
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// `text`.
    Text(String),
    /// `image`.
    Image(Image),
    /// `document`.
    Document(Document),
    /// `toolUse`: the assistant calls a tool.
    ToolUse(ToolUse),
    /// `toolResult`: what a tool call returned, sent in a user turn.
    ToolResult(ToolResult),
    /// `reasoningContent.reasoningText`: the model's visible chain of thought.
    Reasoning(Reasoning),
    /// `reasoningContent.redactedContent`: reasoning the provider encrypted; opaque, it is only
    /// ever sent back as it came.
    RedactedReasoning {
        /// The encrypted bytes.
        data: Vec<u8>,
    },
    /// `cachePoint`: everything before this block is a prompt-cache prefix.
    CachePoint(CacheTtl),
}

/// An image given inline (Converse `ImageBlock` with `source.bytes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// `format`.
    pub format: ImageFormat,
    /// `source.bytes`: the raw image, not base64.
    pub bytes: Vec<u8>,
}

/// The image encodings Converse takes (`ImageFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Jpeg,
    Gif,
    Webp,
}

/// A document given inline (Converse `DocumentBlock` with `source.bytes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// `format`.
    pub format: DocumentFormat,
    /// `name`: Converse shows it to the model and requires it.
    pub name: String,
    /// `source.bytes`: the raw file, not base64.
    pub bytes: Vec<u8>,
}

/// The document formats Converse takes (`DocumentFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentFormat {
    Pdf,
    Csv,
    Doc,
    Docx,
    Xls,
    Xlsx,
    Html,
    Txt,
    Md,
}

/// A tool call (Converse `ToolUseBlock`).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolUse {
    /// `toolUseId`: what the matching [`ToolResult::tool_use_id`] names.
    pub id: String,
    /// `name`.
    pub name: String,
    /// `input`: the arguments as a JSON value (an object, for every model we know).
    pub input: Value,
}

/// A tool's answer to a call (Converse `ToolResultBlock`).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// `toolUseId`: the [`ToolUse::id`] this answers.
    pub tool_use_id: String,
    /// `content`.
    pub content: Vec<ToolResultContent>,
    /// `status: "error"` when set; otherwise no status is sent (Converse's default, success).
    pub is_error: bool,
}

/// One piece of a tool result (Converse `ToolResultContentBlock`).
#[derive(Debug, Clone, PartialEq)]
pub enum ToolResultContent {
    /// `text`.
    Text(String),
    /// `json`.
    Json(Value),
    /// `image`.
    Image(Image),
}

/// Reasoning the model showed (Converse `ReasoningTextBlock`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reasoning {
    /// `text`.
    pub text: String,
    /// `signature`: proof the text is the model's own, required when reasoning is sent back
    /// in a later turn.
    pub signature: Option<String>,
}

/// How long a prompt-cache entry lives (Converse `CachePointBlock.ttl`: `5m` or `1h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheTtl {
    /// Five minutes, the default (a cache point without `ttl`).
    #[default]
    FiveMinutes,
    /// One hour, the extended TTL some models offer.
    OneHour,
}

impl CacheTtl {
    /// The TTL a `cache_control` marker asks for (`{"type":"ephemeral","ttl":"1h"}`): one
    /// hour when it says `1h`, else the default five minutes.
    pub fn of_marker(cache_control: &Value) -> CacheTtl {
        match cache_control.get("ttl").and_then(Value::as_str) {
            Some("1h") => CacheTtl::OneHour,
            Some(_) | None => CacheTtl::FiveMinutes,
        }
    }
}
