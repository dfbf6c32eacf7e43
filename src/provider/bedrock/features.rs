//! What each Bedrock model takes beyond Converse's common fields, by model id: structured
//! output, `top_k`, service tiers. The router reads these to skip a deployment that cannot
//! serve a request ([`crate::router::fit`]); the Converse conversion to map what it can.
//!
//! | model                                   | structured output  | `top_k`                         | priority / flex |
//! |-----------------------------------------|--------------------|---------------------------------|-----------------|
//! | Claude 4.5 and later                    | `outputConfig`     | `top_k` (not on 4.7+)           | no              |
//! | Claude before 4.5                       | a forced tool      | `top_k`                         | no              |
//! | Nova                                    | a forced tool      | `inferenceConfig.topK`          | yes             |
//! | Qwen3, DeepSeek V3, Mistral Large 3, …  | `outputConfig`     | no                              | yes             |
//! | any other (Llama, …)                    | a forced tool      | no                              | yes             |
//!
//! Sources: the Bedrock user guide's structured-output and service-tier pages; `top_k` per
//! model from each model's inference parameters (Llama takes none, Claude 4.7+ refuses
//! sampling parameters).

use serde_json::{Value, json};

use super::claude::ClaudeModel;
use crate::catalogue::base_id;
use crate::content::{ServiceTier, StructuredOutput};

/// Model-id prefixes of the open-weight models with Bedrock's structured output.
const STRUCTURED_OUTPUT_MODELS: &[&str] = &[
    "qwen.qwen3",
    "deepseek.v3",
    "mistral.mistral-large-3",
    "mistral.ministral-3",
    "minimax.",
    "moonshot.kimi",
    "nvidia.nemotron",
    "zai.glm",
];

/// How `model` is asked for an answer of a given JSON shape.
pub fn structured_output(model: &str) -> StructuredOutput {
    if let Some(claude) = ClaudeModel::of(model) {
        return match claude.at_least(4, 5) {
            true => StructuredOutput::Native,
            false => StructuredOutput::Tool,
        };
    }
    let id = base_id(model);
    match STRUCTURED_OUTPUT_MODELS.iter().any(|p| id.starts_with(p)) {
        true => StructuredOutput::Native,
        false => StructuredOutput::Tool,
    }
}

/// The `additionalModelRequestFields` that ask `model` to sample from the `k` likeliest
/// tokens; `None` where the model takes no such field.
pub fn top_k_fields(model: &str, k: u64) -> Option<Value> {
    if let Some(claude) = ClaudeModel::of(model) {
        return (!claude.adaptive_only()).then(|| json!({"top_k": k}));
    }
    base_id(model)
        .starts_with("amazon.nova")
        .then(|| json!({"inferenceConfig": {"topK": k}}))
}

/// Whether `model` reasons when asked to (Claude 3.7 and later, Nova 2), the fields being
/// [`super::reasoning`]'s.
pub fn thinks_on_request(model: &str) -> bool {
    let asked = crate::content::Thinking {
        effort: crate::content::Effort::Medium,
        budget_tokens: None,
    };
    super::reasoning::reasoning_fields(model, &asked, None).is_some()
}

/// The most pairs Bedrock's `requestMetadata` holds.
pub const METADATA_PAIRS: usize = 16;

/// The longest key or value of Bedrock's `requestMetadata`, in characters.
pub const METADATA_CHARS: usize = 256;

/// Whether `text` is a `requestMetadata` key (`key: true`, at least one character) or value
/// Bedrock takes: up to [`METADATA_CHARS`] of `[a-zA-Z0-9\s:_@$#=/+,-.]`.
pub fn metadata_fits(text: &str, key: bool) -> bool {
    let allowed =
        |c: char| c.is_ascii_alphanumeric() || c.is_whitespace() || ":_@$#=/+,-.".contains(c);
    (usize::from(key)..=METADATA_CHARS).contains(&text.chars().count()) && text.chars().all(allowed)
}

/// Model-id prefixes of the models with Bedrock's priority and flex tiers (the user guide's
/// service-tier page); Anthropic's models have only reserved capacity besides the default.
const TIERED_MODELS: &[&str] = &[
    "amazon.nova-pro",
    "amazon.nova-premier",
    "amazon.nova-2-lite",
    "amazon.nova-2-pro",
    "openai.gpt-oss",
    "qwen.qwen3",
    "deepseek.v3",
    "google.gemma-3",
    "minimax.",
    "mistral.",
    "moonshot.kimi",
    "nvidia.nemotron",
];

/// Whether `model` can be asked for `tier`: every model has the default tier, the models of
/// [`TIERED_MODELS`] priority and flex too.
pub fn takes_service_tier(model: &str, tier: ServiceTier) -> bool {
    match tier {
        ServiceTier::Default => true,
        ServiceTier::Priority | ServiceTier::Flex => {
            let id = base_id(model);
            TIERED_MODELS.iter().any(|p| id.starts_with(p))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_output_is_native_where_bedrock_has_it() {
        let native = [
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "global.anthropic.claude-opus-4-6-v1",
            "anthropic.claude-sonnet-5",
            "qwen.qwen3-32b-v1:0",
            "deepseek.v3-v1:0",
        ];
        for model in native {
            assert_eq!(
                structured_output(model),
                StructuredOutput::Native,
                "{model}"
            );
        }
        let tool = [
            "anthropic.claude-3-5-haiku-20241022-v1:0",
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "us.amazon.nova-pro-v1:0",
            "us.meta.llama3-3-70b-instruct-v1:0",
        ];
        for model in tool {
            assert_eq!(structured_output(model), StructuredOutput::Tool, "{model}");
        }
    }

    #[test]
    fn top_k_takes_each_model_s_own_field() {
        assert_eq!(
            top_k_fields("us.anthropic.claude-sonnet-4-6", 5),
            Some(json!({"top_k": 5}))
        );
        assert_eq!(top_k_fields("us.anthropic.claude-opus-4-7", 5), None);
        assert_eq!(
            top_k_fields("us.amazon.nova-lite-v1:0", 5),
            Some(json!({"inferenceConfig": {"topK": 5}}))
        );
        assert_eq!(top_k_fields("us.meta.llama3-3-70b-instruct-v1:0", 5), None);
    }

    #[test]
    fn claude_has_no_priority_or_flex_tier() {
        let claude = "us.anthropic.claude-sonnet-4-6";
        assert!(takes_service_tier(claude, ServiceTier::Default));
        assert!(!takes_service_tier(claude, ServiceTier::Priority));
        assert!(takes_service_tier(
            "us.amazon.nova-pro-v1:0",
            ServiceTier::Flex
        ));
        assert!(!takes_service_tier(
            "us.amazon.nova-lite-v1:0",
            ServiceTier::Flex
        ));
        assert!(!takes_service_tier(
            "us.meta.llama3-3-70b-instruct-v1:0",
            ServiceTier::Priority
        ));
    }
}
