//! Extended thinking, emulated: with `thinking` on, a Claude reply starts with a `thinking`
//! block whose `signature` the sandbox can verify, and a request that continues a tool-use
//! turn must send that block back as it was, as Bedrock requires.
//!
//! The signature carries the thinking itself (base64 of the text and a keyed digest of it),
//! so a block shown with `display: "omitted"` (empty `thinking`, signature only) still
//! verifies. Refusals use Bedrock's wording for Claude's own errors: "Invalid `signature` in
//! `thinking` block", and the requirement that a final assistant turn with tool use start
//! with its thinking.

use serde_json::Value;

use super::emulated_model::digest;
use super::error::BedrockError;

/// What Bedrock prefixes to the model's own refusals of a body.
const MODEL_ERRORS: &str = "The model returned the following errors: ";

/// The signature of `thinking` under the sandbox's `seed`.
pub fn sign(seed: u64, thinking: &str) -> String {
    let mac = digest(&[&seed.to_le_bytes(), b"thinking", thinking.as_bytes()]);
    aws_smithy_types::base64::encode(format!("{mac:016x}{thinking}"))
}

/// The thinking a valid signature carries; `None` for one the sandbox did not make.
fn verified(seed: u64, signature: &str) -> Option<String> {
    let bytes = aws_smithy_types::base64::decode(signature).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (mac, thinking) = (text.get(..16)?, text.get(16..)?);
    (sign(seed, thinking) == signature && mac.len() == 16).then(|| thinking.to_owned())
}

/// Checks the history of a request with thinking on: every thinking block carries a valid
/// signature (and, when its text is shown, the text it signed), and a final assistant turn
/// that uses a tool (the conversation continues with its result) starts with its thinking.
pub fn check_history(seed: u64, messages: &[Value]) -> Result<(), BedrockError> {
    for (i, message) in messages.iter().enumerate() {
        let Some(Value::Array(blocks)) = message.get("content") else {
            continue;
        };
        for (j, block) in blocks.iter().enumerate() {
            if block.get("type").and_then(Value::as_str) != Some("thinking") {
                continue;
            }
            let path = format!("messages.{i}.content.{j}");
            let signature = block.get("signature").and_then(Value::as_str);
            let Some(signature) = signature.filter(|s| !s.is_empty()) else {
                return Err(refuse(&format!(
                    "{path}.thinking.signature: Field required"
                )));
            };
            let shown = block.get("thinking").and_then(Value::as_str).unwrap_or("");
            match verified(seed, signature) {
                Some(thinking) if shown.is_empty() || shown == thinking => {}
                Some(_) | None => {
                    return Err(refuse(&format!(
                        "{path}: Invalid `signature` in `thinking` block"
                    )));
                }
            }
        }
    }
    let last_assistant = messages
        .iter()
        .rposition(|m| m.get("role").and_then(Value::as_str) == Some("assistant"));
    let Some(at) = last_assistant else {
        return Ok(());
    };
    let blocks = messages[at].get("content").and_then(Value::as_array);
    let kinds: Vec<&str> = blocks
        .into_iter()
        .flatten()
        .filter_map(|b| b.get("type").and_then(Value::as_str))
        .collect();
    let continues_tool_use = kinds.contains(&"tool_use") && at + 1 < messages.len();
    let first = kinds.first().copied().unwrap_or("text");
    if continues_tool_use && !matches!(first, "thinking" | "redacted_thinking") {
        return Err(refuse(&format!(
            "messages.{at}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{first}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`."
        )));
    }
    Ok(())
}

fn refuse(message: &str) -> BedrockError {
    BedrockError::Validation(format!("{MODEL_ERRORS}{message}"))
}

/// How a request asked to see the thinking (`thinking.display`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// The text (`summarized`, the default).
    Shown,
    /// An empty text and the signature only (`omitted`).
    Omitted,
}

/// A reply's thinking block.
#[derive(Debug, Clone, PartialEq)]
pub struct Thought {
    /// The text as shown (empty when omitted).
    pub shown: String,
    pub signature: String,
}

/// What the emulated model thinks before answering `last_text`, signed under `seed`.
pub fn think(seed: u64, last_text: &str, display: Display) -> Thought {
    let topic: String = last_text
        .split_whitespace()
        .take(12)
        .collect::<Vec<_>>()
        .join(" ");
    let text =
        format!("The user wrote: \"{topic}\". I will answer briefly and use a tool if one fits.");
    Thought {
        signature: sign(seed, &text),
        shown: match display {
            Display::Shown => text,
            Display::Omitted => String::new(),
        },
    }
}

/// The thinking a request asks for: `enabled` or `adaptive`, with its `display`.
pub fn requested(thinking: Option<&Value>) -> Option<Display> {
    let thinking = thinking?;
    match thinking.get("type").and_then(Value::as_str) {
        Some("enabled" | "adaptive") => {
            Some(match thinking.get("display").and_then(Value::as_str) {
                Some("omitted") => Display::Omitted,
                _ => Display::Shown,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn turn(thinking: Value) -> Vec<Value> {
        vec![
            json!({"role": "user", "content": "weather?"}),
            json!({"role": "assistant", "content": [thinking,
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}]}),
            json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]}),
        ]
    }

    #[test]
    fn thinking_sent_back_as_it_was_passes() {
        let signature = sign(7, "I should call the tool.");
        let shown = json!({"type": "thinking", "thinking": "I should call the tool.", "signature": signature});
        assert_eq!(check_history(7, &turn(shown)), Ok(()));
        let omitted = json!({"type": "thinking", "thinking": "", "signature": signature});
        assert_eq!(check_history(7, &turn(omitted)), Ok(()));
    }

    #[test]
    fn modified_or_missing_thinking_is_refused_in_bedrocks_words() {
        let signature = sign(7, "I should call the tool.");
        let edited =
            json!({"type": "thinking", "thinking": "I should not.", "signature": signature});
        let refused = check_history(7, &turn(edited)).unwrap_err().to_string();
        assert!(
            refused.contains("messages.1.content.0: Invalid `signature` in `thinking` block"),
            "{refused}"
        );
        let foreign = json!({"type": "thinking", "thinking": "x", "signature": sign(8, "x")});
        assert!(check_history(7, &turn(foreign)).is_err());
        let unsigned = json!({"type": "thinking", "thinking": "x"});
        let refused = check_history(7, &turn(unsigned)).unwrap_err().to_string();
        assert!(
            refused.contains("thinking.signature: Field required"),
            "{refused}"
        );
        let mut dropped = turn(json!({"type": "text", "text": "Let me check."}));
        dropped[1]["content"].as_array_mut().unwrap().remove(0);
        let refused = check_history(7, &dropped).unwrap_err().to_string();
        assert!(
            refused.contains("Expected `thinking` or `redacted_thinking`, but found `tool_use`"),
            "{refused}"
        );
    }
}
