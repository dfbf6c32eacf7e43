//! What shape the model's text must take, and how a request is served and tagged beyond its
//! content: structured output, service tier, request metadata.

use serde_json::Value;

/// The shape of the answer the client asked for (OpenAI's `response_format`).
#[derive(Debug, Clone, PartialEq)]
pub enum OutputFormat {
    /// Any JSON object.
    JsonObject,
    /// JSON that validates against `schema`.
    JsonSchema {
        /// The schema's name (OpenAI requires one; Converse's `jsonSchema.name`).
        name: String,
        description: Option<String>,
        /// The JSON Schema itself.
        schema: Value,
    },
}

impl OutputFormat {
    /// The schema the answer must follow: the client's, or any object for `json_object`.
    pub fn schema(&self) -> Value {
        match self {
            OutputFormat::JsonObject => serde_json::json!({"type": "object"}),
            OutputFormat::JsonSchema { schema, .. } => schema.clone(),
        }
    }

    /// The schema's name; `json_object` has none of its own.
    pub fn name(&self) -> &str {
        match self {
            OutputFormat::JsonObject => "json_object",
            OutputFormat::JsonSchema { name, .. } => name,
        }
    }
}

/// How an answer's structure was obtained from the model, said in the response
/// (`x-resilient-llm-structured-output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StructuredOutput {
    /// The model's own structured output (Converse `outputConfig.textFormat`).
    Native,
    /// A forced tool whose input is the answer: for models without structured output.
    Tool,
}

impl StructuredOutput {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            StructuredOutput::Native => "output-config",
            StructuredOutput::Tool => "tool",
        }
    }
}

/// The name of the tool a structured answer is asked through when the model has no
/// structured output of its own (LiteLLM's name, so logs read the same).
pub const STRUCTURED_OUTPUT_TOOL: &str = "json_tool_call";

/// The capacity tier a request asks for (Bedrock's `serviceTier.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceTier {
    Default,
    Priority,
    Flex,
}

impl ServiceTier {
    /// Bedrock's name of the tier.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceTier::Default => "default",
            ServiceTier::Priority => "priority",
            ServiceTier::Flex => "flex",
        }
    }
}
