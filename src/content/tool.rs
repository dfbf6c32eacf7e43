//! The tools a model may call and how free it is to call them.

use serde_json::Value;

/// A tool the model may call (Converse `toolConfig.tools[].toolSpec`).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: Option<String>,
    /// `inputSchema.json`: a JSON Schema of the input.
    pub input_schema: Value,
}

/// Whether and which tool the model must call (Converse `toolConfig.toolChoice`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// `auto`: the model decides.
    Auto,
    /// `any`: at least one tool call.
    Any,
    /// `tool`: a call of this tool.
    Tool { name: String },
    /// No tool calls. Converse has no such choice: its conversion leaves the tools out.
    None,
}
