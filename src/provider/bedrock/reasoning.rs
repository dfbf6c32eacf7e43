//! A canonical thinking request as Converse's `additionalModelRequestFields`, per model.
//!
//! | model                          | field                                                      |
//! |--------------------------------|------------------------------------------------------------|
//! | Claude 4.6 and later           | `thinking: {type: adaptive}` (4.7+ also `display: summarized`, without which they show no reasoning); the effort goes in Converse's `outputConfig.effort` ([`super::options`]) |
//! | Claude 3.7 Sonnet to 4.5       | `thinking: {type: enabled, budget_tokens}`: the client's budget, else by effort (1,024 / 2,048 / 4,096), below `maxTokens`; dropped when that leaves under 1,024 |
//! | Nova 2                         | `reasoningConfig: {type: enabled, maxReasoningEffort}`     |
//! | any other (Nova 1, Llama, …)   | nothing: the model does not reason on request              |
//!
//! Thinking blocks sent back in the history travel as `reasoningContent` either way
//! ([`super::blocks`]); this is only the request to think.

use serde_json::{Value, json};

use super::claude::{ClaudeModel, thinking_budget};
use crate::content::Thinking;

/// The `additionalModelRequestFields` that ask `model` to think as `thinking` says, with
/// `max_tokens` the call's output cap; `None` where the model takes no such request.
pub fn reasoning_fields(
    model: &str,
    thinking: &Thinking,
    max_tokens: Option<u64>,
) -> Option<Value> {
    if let Some(claude) = ClaudeModel::of(model) {
        if claude.takes_adaptive_thinking() {
            let mut adaptive = json!({"type": "adaptive"});
            if claude.adaptive_only() {
                adaptive["display"] = json!("summarized");
            }
            return Some(json!({"thinking": adaptive}));
        }
        if claude.version < (3, 7) {
            return None;
        }
        let asked = thinking
            .budget_tokens
            .unwrap_or_else(|| thinking.effort.budget_tokens());
        return thinking_budget(asked, max_tokens)
            .map(|budget| json!({"thinking": {"type": "enabled", "budget_tokens": budget}}));
    }
    let id = crate::catalogue::base_id(model);
    id.starts_with("amazon.nova-2").then(|| {
        json!({"reasoningConfig": {"type": "enabled", "maxReasoningEffort": thinking.effort.as_str()}})
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::Effort;

    fn asked(effort: Effort, budget_tokens: Option<u64>) -> Thinking {
        Thinking {
            effort,
            budget_tokens,
        }
    }

    #[test]
    fn each_model_is_asked_to_think_its_own_way() {
        let medium = asked(Effort::Medium, None);
        assert_eq!(
            reasoning_fields("us.anthropic.claude-sonnet-4-6", &medium, Some(8000)),
            Some(json!({"thinking": {"type": "adaptive"}}))
        );
        assert_eq!(
            reasoning_fields("us.anthropic.claude-opus-4-7", &medium, None),
            Some(json!({"thinking": {"type": "adaptive", "display": "summarized"}}))
        );
        assert_eq!(
            reasoning_fields(
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                &medium,
                Some(8000)
            ),
            Some(json!({"thinking": {"type": "enabled", "budget_tokens": 2048}}))
        );
        // The client's budget wins, below max_tokens; no room leaves thinking out.
        let budget = asked(Effort::High, Some(10_000));
        assert_eq!(
            reasoning_fields(
                "anthropic.claude-3-7-sonnet-20250219-v1:0",
                &budget,
                Some(6000)
            ),
            Some(json!({"thinking": {"type": "enabled", "budget_tokens": 5999}}))
        );
        assert_eq!(
            reasoning_fields(
                "anthropic.claude-3-7-sonnet-20250219-v1:0",
                &budget,
                Some(500)
            ),
            None
        );
        assert_eq!(
            reasoning_fields("anthropic.claude-3-5-haiku-20241022-v1:0", &medium, None),
            None
        );
        assert_eq!(
            reasoning_fields(
                "global.amazon.nova-2-lite-v1:0",
                &asked(Effort::Low, None),
                None
            ),
            Some(json!({"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "low"}}))
        );
        assert_eq!(
            reasoning_fields("us.amazon.nova-pro-v1:0", &medium, None),
            None
        );
        assert_eq!(
            reasoning_fields("us.meta.llama3-3-70b-instruct-v1:0", &medium, None),
            None
        );
    }
}
