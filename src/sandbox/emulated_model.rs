//! The emulated model: a deterministic reply from the seed and the request.
//!
//! Every wire format (Converse, InvokeModel, OpenAI) is first reduced to a [`Prompt`]; the
//! reply is then a pure function of the seed, the model, the inference Region and that prompt:
//! a short readable text (or a tool call when tools are offered and no tool result is pending),
//! cut at `maxTokens` and at the first stop sequence. Tokens are estimated as characters / 4,
//! rounded up, for input and output alike.

use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Map, Value, json};

use super::prompt_cache::CachePoints;
use super::thinking::{Display, Thought};
use crate::config::sandbox::{ReplyRule, ScriptedAnswer};

/// Output budget when the request sets none.
pub const DEFAULT_MAX_TOKENS: u64 = 4_096;
/// Tokens counted for each image block.
pub const IMAGE_TOKENS: u64 = 1_600;

/// A tool the caller offers.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    /// The JSON schema of its input.
    pub schema: Value,
}

/// Which tool the caller asks for.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ToolChoice {
    #[default]
    Auto,
    Any,
    Named(String),
    /// OpenAI's `"none"`: answer in text.
    Disabled,
}

/// A request reduced to what the emulated model looks at.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Prompt {
    /// Estimated input tokens (system, messages, tool specs, images).
    pub input_tokens: u64,
    pub max_tokens: Option<u64>,
    pub stop_sequences: Vec<String>,
    pub tools: Vec<Tool>,
    pub tool_choice: ToolChoice,
    /// Text of the tool result in the last user message, if it carries one.
    pub tool_result: Option<String>,
    /// The last user message's text and tool results, which scripted replies match.
    pub last_text: String,
    /// The prompt's blocks and cache breakpoints, for prompt caching.
    pub cache: CachePoints,
    /// The request turned thinking on (`enabled` or `adaptive`), and how it shows it.
    pub thinking: Option<Display>,
    /// The JSON Schema the answer must follow (Converse `outputConfig.textFormat`).
    pub output_schema: Option<Value>,
    /// The service tier asked for (`serviceTier.type`), echoed in the reply.
    pub service_tier: Option<String>,
    /// What an embedding call asks for (the texts, the dimensions).
    pub embedding: Option<crate::sandbox::bedrock::EmbeddingAsk>,
    /// A digest of the request body: replies differ when requests do.
    pub digest: u64,
}

impl Prompt {
    /// Tokens reserved against TPM at admission, as Bedrock reserves them: input plus
    /// `maxTokens`, else the model's maximum output (`model_max_output`).
    pub fn reserved_tokens(&self, model_max_output: u64) -> u64 {
        self.input_tokens + self.max_tokens.unwrap_or(model_max_output)
    }
}

/// Why the model stopped (Converse spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    EndTurn,
    MaxTokens,
    StopSequence,
    ToolUse,
}

impl StopReason {
    /// Converse / Anthropic spelling.
    pub fn as_converse(self) -> &'static str {
        match self {
            Self::EndTurn => "end_turn",
            Self::MaxTokens => "max_tokens",
            Self::StopSequence => "stop_sequence",
            Self::ToolUse => "tool_use",
        }
    }

    /// OpenAI `finish_reason`.
    pub fn as_openai(self) -> &'static str {
        match self {
            Self::EndTurn | Self::StopSequence => "stop",
            Self::MaxTokens => "length",
            Self::ToolUse => "tool_calls",
        }
    }
}

/// A tool call the model makes.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub input: Value,
}

/// The model's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// Text (empty for a pure tool call).
    pub text: String,
    pub tool_call: Option<ToolCall>,
    pub stop_reason: StopReason,
    pub output_tokens: u64,
    /// What the model thought first, when the request turned thinking on.
    pub thinking: Option<Thought>,
}

/// Tokens in `chars` characters: ceil(chars / 4).
pub fn estimate_tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
}

/// FNV-1a, stable across runs and platforms (std's hasher is not promised to be).
pub fn digest(parts: &[&[u8]]) -> u64 {
    parts
        .iter()
        .flat_map(|p| p.iter())
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}

const WORDS: &[&str] = &[
    "requests",
    "resilient",
    "capacity",
    "quota",
    "region",
    "fallback",
    "latency",
    "tokens",
    "stream",
    "profile",
    "account",
    "throttling",
    "window",
    "gateway",
    "retry",
    "cooldown",
    "balance",
    "shard",
    "inference",
    "deterministic",
    "answer",
    "sandbox",
    "model",
    "minute",
    "steady",
    "calm",
    "traffic",
];

/// The scripted reply of the first rule whose `when` matches the prompt's last user text.
pub fn scripted(rules: &[ReplyRule], seed: u64, prompt: &Prompt) -> Option<Reply> {
    let rule = rules.iter().find(|r| r.when.is_match(&prompt.last_text))?;
    Some(match &rule.answer {
        ScriptedAnswer::Text(text) => {
            let (text, stop_reason) = cut(text.clone(), prompt);
            Reply {
                thinking: None,
                output_tokens: estimate_tokens(text.chars().count()),
                text,
                tool_call: None,
                stop_reason,
            }
        }
        ScriptedAnswer::Tool { name, input } => {
            let mut rng = StdRng::seed_from_u64(seed ^ prompt.digest);
            let call = ToolCall {
                id: format!("tooluse_{:016x}", rng.random::<u64>()),
                name: name.clone(),
                input: input.clone(),
            };
            Reply {
                thinking: None,
                text: String::new(),
                output_tokens: estimate_tokens(name.len() + input.to_string().len()),
                tool_call: Some(call),
                stop_reason: StopReason::ToolUse,
            }
        }
    })
}

/// The reply of `model` running in `region` to `prompt`.
pub fn generate(seed: u64, model: &str, region: &str, prompt: &Prompt) -> Reply {
    let mut rng = StdRng::seed_from_u64(seed ^ prompt.digest);
    let wants_tool = !prompt.tools.is_empty() && prompt.tool_result.is_none();
    let chosen = match &prompt.tool_choice {
        ToolChoice::Disabled => None,
        ToolChoice::Named(name) => prompt.tools.iter().find(|t| &t.name == name),
        ToolChoice::Auto | ToolChoice::Any => prompt.tools.first(),
    };
    if let (true, Some(tool)) = (wants_tool, chosen) {
        let input = input_from_schema(&tool.schema);
        let call = ToolCall {
            id: format!("tooluse_{:016x}", rng.random::<u64>()),
            name: tool.name.clone(),
            input,
        };
        let output_tokens = estimate_tokens(call.name.len() + call.input.to_string().len());
        return Reply {
            thinking: None,
            text: String::new(),
            tool_call: Some(call),
            stop_reason: StopReason::ToolUse,
            output_tokens,
        };
    }
    if let Some(schema) = &prompt.output_schema {
        let text = input_from_schema(schema).to_string();
        return Reply {
            thinking: None,
            output_tokens: estimate_tokens(text.chars().count()),
            text,
            tool_call: None,
            stop_reason: StopReason::EndTurn,
        };
    }
    let opening = match &prompt.tool_result {
        Some(result) => format!("The tool returned: {}. ", clip(result, 80)),
        None => String::new(),
    };
    let mut text = format!("{opening}Sandbox reply from {model} in {region}:");
    let target_chars = rng.random_range(24..64) * 4;
    while text.len() < target_chars {
        text.push(' ');
        text.push_str(WORDS[rng.random_range(0..WORDS.len())]);
    }
    text.push('.');
    let (text, stop_reason) = cut(text, prompt);
    Reply {
        thinking: None,
        output_tokens: estimate_tokens(text.chars().count()),
        text,
        tool_call: None,
        stop_reason,
    }
}

fn clip(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

/// Applies stop sequences, then the output budget.
fn cut(text: String, prompt: &Prompt) -> (String, StopReason) {
    let stop = prompt
        .stop_sequences
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()))
        .min();
    let (text, mut reason) = match stop {
        Some(at) => (text[..at].to_owned(), StopReason::StopSequence),
        None => (text, StopReason::EndTurn),
    };
    let budget = prompt.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS) as usize * 4;
    if text.chars().count() > budget {
        reason = StopReason::MaxTokens;
        return (clip(&text, budget), reason);
    }
    (text, reason)
}

/// How deep [`value_from_schema`] follows nested schemas before answering `null`.
const SCHEMA_DEPTH: usize = 16;

/// A JSON input for a tool, or a structured answer: an object that validates against
/// `schema` (an object even where the schema says nothing, as `{}`).
pub fn input_from_schema(schema: &Value) -> Value {
    match value_from_schema(schema, schema, "", 0) {
        object @ Value::Object(_) => object,
        _ => object_from_schema(schema, schema, 0),
    }
}

/// A value for `schema` (within `root`, whose `$defs` its `$ref`s name), `name` being the
/// property it is for: an object has its required properties (every property when it lists
/// none), an array one item, an `anyOf` its first non-null branch, an enum its first value,
/// a string `sandbox-<name>`.
fn value_from_schema(root: &Value, schema: &Value, name: &str, depth: usize) -> Value {
    if depth > SCHEMA_DEPTH {
        return Value::Null;
    }
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        return match root.pointer(target.trim_start_matches('#')) {
            Some(resolved) => value_from_schema(root, resolved, name, depth + 1),
            None => Value::Null,
        };
    }
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            let branch = branches
                .iter()
                .find(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                .or(branches.first());
            return branch.map_or(Value::Null, |b| value_from_schema(root, b, name, depth + 1));
        }
    }
    let kind = match schema.get("type") {
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null"),
        Some(kind) => kind.as_str(),
        None if schema.get("properties").is_some() => Some("object"),
        None => None,
    };
    match kind {
        Some("object") => object_from_schema(root, schema, depth),
        Some("array") => match schema.get("items") {
            Some(items) => json!([value_from_schema(root, items, name, depth + 1)]),
            None => json!([]),
        },
        Some("integer") => json!(1),
        Some("number") => json!(1.5),
        Some("boolean") => json!(true),
        Some("null") => Value::Null,
        Some(_) | None if name.is_empty() => json!("sandbox"),
        Some(_) | None => json!(format!("sandbox-{name}")),
    }
}

fn object_from_schema(root: &Value, schema: &Value, depth: usize) -> Value {
    let properties = schema.get("properties").and_then(Value::as_object);
    let names: Vec<&str> = match schema.get("required").and_then(Value::as_array) {
        Some(required) => required.iter().filter_map(Value::as_str).collect(),
        None => properties
            .into_iter()
            .flatten()
            .map(|(n, _)| n.as_str())
            .collect(),
    };
    let mut object = Map::new();
    for name in names {
        let property = properties.and_then(|p| p.get(name)).unwrap_or(&Value::Null);
        object.insert(
            name.to_owned(),
            value_from_schema(root, property, name, depth + 1),
        );
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(max_tokens: Option<u64>) -> Prompt {
        Prompt {
            input_tokens: 5,
            max_tokens,
            digest: digest(&[b"hello"]),
            ..Prompt::default()
        }
    }

    #[test]
    fn replies_are_deterministic_per_seed_and_request() {
        let a = generate(42, "m", "us-east-1", &prompt(None));
        assert_eq!(a, generate(42, "m", "us-east-1", &prompt(None)));
        assert!(a.text.contains("m in us-east-1"), "{}", a.text);
        assert_ne!(a.text, generate(7, "m", "us-east-1", &prompt(None)).text);
        let other = Prompt {
            digest: digest(&[b"bye"]),
            ..prompt(None)
        };
        assert_ne!(a.text, generate(42, "m", "us-east-1", &other).text);
        assert_eq!(a.output_tokens, estimate_tokens(a.text.len()));
        assert_eq!(a.stop_reason, StopReason::EndTurn);
    }

    #[test]
    fn max_tokens_cuts_the_reply() {
        let r = generate(42, "m", "us-east-1", &prompt(Some(3)));
        assert_eq!(
            (r.stop_reason, r.output_tokens, r.text.len()),
            (StopReason::MaxTokens, 3, 12)
        );
    }

    #[test]
    fn stop_sequences_cut_before_the_match() {
        let p = Prompt {
            stop_sequences: vec![" in ".into()],
            ..prompt(None)
        };
        let r = generate(42, "m", "us-east-1", &p);
        assert_eq!(
            (r.text.as_str(), r.stop_reason),
            ("Sandbox reply from m", StopReason::StopSequence)
        );
    }

    #[test]
    fn structured_answers_follow_the_schema_refs_and_all() {
        let schema = json!({"type": "object", "properties": {
            "name": {"type": "string"}, "age": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "pet": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/Pet"}]},
            "kind": {"enum": ["a", "b"]}},
            "$defs": {"Pet": {"type": "object", "properties": {"legs": {"type": "number"}}}}});
        let p = Prompt {
            output_schema: Some(schema),
            ..prompt(None)
        };
        let r = generate(42, "m", "r", &p);
        let answer: Value = serde_json::from_str(&r.text).unwrap();
        assert_eq!(
            answer,
            json!({"name": "sandbox-name", "age": 1, "tags": ["sandbox-tags"], "pet": {"legs": 1.5}, "kind": "a"})
        );
        assert_eq!(r.stop_reason, StopReason::EndTurn);
    }

    #[test]
    fn tools_get_called_with_required_properties_until_a_result_arrives() {
        let schema = json!({"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"},
            "unit":{"enum":["c","f"]}},"required":["city","days","unit"]});
        let tools = vec![
            Tool {
                name: "other".into(),
                schema: json!({}),
            },
            Tool {
                name: "weather".into(),
                schema,
            },
        ];
        let p = Prompt {
            tools,
            tool_choice: ToolChoice::Named("weather".into()),
            ..prompt(None)
        };
        let r = generate(42, "m", "r", &p);
        let call = r.tool_call.unwrap();
        assert_eq!(
            (call.name.as_str(), r.stop_reason),
            ("weather", StopReason::ToolUse)
        );
        assert_eq!(
            call.input,
            json!({"city":"sandbox-city","days":1,"unit":"c"})
        );
        let answered = Prompt {
            tool_result: Some("22 degrees".into()),
            ..p
        };
        let r = generate(42, "m", "r", &answered);
        assert!(r.tool_call.is_none() && r.text.contains("22 degrees"));
    }
}
