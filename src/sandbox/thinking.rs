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
use crate::provider::bedrock::claude::ClaudeModel;

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
    /// `[REDACTED]` and no signature: Nova 2's reasoning, which it does not show.
    Redacted,
}

/// The text Nova 2 shows of its reasoning.
const REDACTED: &str = "[REDACTED]";

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
    if display == Display::Redacted {
        return Thought {
            shown: REDACTED.into(),
            signature: String::new(),
        };
    }
    Thought {
        signature: sign(seed, &text),
        shown: match display {
            Display::Shown => text,
            Display::Omitted | Display::Redacted => String::new(),
        },
    }
}

/// The thinking a request to `model_id` gets, or Bedrock's refusal of what it asked. Claude
/// 4.7 and later take only adaptive thinking and refuse `enabled` (Claude's own words, which
/// Bedrock passes on inside its prefix) and `disabled` (worded the same way); they omit the
/// thinking text unless `display: summarized`. Sonnet 5 and later think on every request,
/// asked or not, as they do on Bedrock.
pub fn requested_for(
    model_id: &str,
    thinking: Option<&Value>,
) -> Result<Option<Display>, BedrockError> {
    let Some(model) = ClaudeModel::of(model_id) else {
        return Ok(requested(thinking));
    };
    let kind = thinking.and_then(|t| t.get("type")).and_then(Value::as_str);
    if model.adaptive_only() {
        if let Some(kind @ ("enabled" | "disabled")) = kind {
            return Err(refuse(&claude_error(&format!(
                "\"thinking.type.{kind}\" is not supported for this model. Use \"thinking.type.adaptive\" and \"output_config.effort\" to control thinking behavior."
            ))));
        }
        let shown = thinking
            .and_then(|t| t.get("display"))
            .and_then(Value::as_str)
            == Some("summarized");
        let display = if shown {
            Display::Shown
        } else {
            Display::Omitted
        };
        let on = kind == Some("adaptive") || model.always_thinks();
        return Ok(on.then_some(display));
    }
    Ok(requested(thinking))
}

/// Claude's own error body, as newer Claude models' refusals reach Bedrock's message.
fn claude_error(message: &str) -> String {
    // Written out, for Claude's key order (serde_json's maps sort theirs).
    let message = Value::String(message.to_owned());
    format!(r#"{{"type":"error","error":{{"type":"invalid_request_error","message":{message}}}}}"#)
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

    #[test]
    fn newer_claude_models_take_adaptive_thinking_only() {
        let enabled = json!({"type": "enabled", "budget_tokens": 2048});
        let Err(BedrockError::Validation(message)) =
            requested_for("us.anthropic.claude-opus-4-7", Some(&enabled))
        else {
            panic!("manual thinking must be refused on Opus 4.7");
        };
        assert!(
            message.starts_with("The model returned the following errors: {\"type\":\"error\"")
        );
        assert!(
            message.contains(r#"\"thinking.type.enabled\" is not supported for this model."#),
            "{message}"
        );
        let disabled = json!({"type": "disabled"});
        assert!(requested_for("global.anthropic.claude-sonnet-5", Some(&disabled)).is_err());
        // Sonnet 4.6 still takes both.
        assert_eq!(
            requested_for("us.anthropic.claude-sonnet-4-6", Some(&enabled)),
            Ok(Some(Display::Shown))
        );
        assert_eq!(
            requested_for("us.anthropic.claude-sonnet-4-6", Some(&disabled)),
            Ok(None)
        );
        // Adaptive thinking omits its text on 4.7 and later unless asked to summarise.
        let adaptive = json!({"type": "adaptive"});
        assert_eq!(
            requested_for("us.anthropic.claude-opus-4-7", Some(&adaptive)),
            Ok(Some(Display::Omitted))
        );
        let summarized = json!({"type": "adaptive", "display": "summarized"});
        assert_eq!(
            requested_for("us.anthropic.claude-opus-4-7", Some(&summarized)),
            Ok(Some(Display::Shown))
        );
        assert_eq!(
            requested_for("us.anthropic.claude-opus-4-7", None),
            Ok(None)
        );
    }

    #[test]
    fn sonnet_5_thinks_unasked() {
        assert_eq!(
            requested_for("us.anthropic.claude-sonnet-5", None),
            Ok(Some(Display::Omitted))
        );
        assert_eq!(requested_for("amazon.nova-pro-v1:0", None), Ok(None));
    }
}
