//! What the gateway and the sandbox both know of Bedrock's models: each foundation model's
//! context window and its maximum output, from the model cards.
//!
//! The maximum output matters beyond validation: Bedrock reserves `maxTokens` against the
//! model's tokens-per-minute quota when a call starts, and a call that sets none reserves the
//! model's maximum output (AWS, "How tokens are counted in Amazon Bedrock"). The gateway
//! reserves the same, so its limits predict Bedrock's throttling instead of trailing it.
//! A deployment's `model_info.max_output_tokens` overrides the card.
//!
//! Sources: the Claude model overviews and model cards (platform.claude.com), the Bedrock
//! model cards for Nova and Llama. Where two sources disagree (Nova 1's maximum output is 5K on
//! its card and 10K in AWS's Nova 2 migration table), the larger is kept: reserving too much
//! refuses early, reserving too little is throttled by Bedrock.

/// One foundation model's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelCard {
    /// The base model id, e.g. `anthropic.claude-sonnet-4-6`.
    pub id: &'static str,
    /// Context window in tokens (input plus output), without opt-in betas.
    pub context_window: u64,
    /// The most output one call may ask for, and what a call that asks for none reserves.
    pub max_output_tokens: u64,
    /// Quota tokens each output token takes against the model's TPM: 5 for Claude 3.7 Sonnet
    /// and the Claude 4 models and later, 1 for the rest.
    pub output_burndown: u64,
}

const fn card(id: &'static str, context_window: u64, max_output_tokens: u64) -> ModelCard {
    ModelCard {
        id,
        context_window,
        max_output_tokens,
        output_burndown: 1,
    }
}

/// A model whose output tokens burn its quota five times over.
const fn card5(id: &'static str, context_window: u64, max_output_tokens: u64) -> ModelCard {
    ModelCard {
        output_burndown: 5,
        ..card(id, context_window, max_output_tokens)
    }
}

pub const CLAUDE_SONNET_5_5: ModelCard = card5("anthropic.claude-sonnet-5-5", 1_000_000, 128_000);
pub const CLAUDE_OPUS_5: ModelCard = card5("anthropic.claude-opus-5", 1_000_000, 128_000);
pub const CLAUDE_OPUS_4_8: ModelCard = card5("anthropic.claude-opus-4-8", 1_000_000, 128_000);
pub const CLAUDE_SONNET_5: ModelCard = card5("anthropic.claude-sonnet-5", 1_000_000, 128_000);
pub const CLAUDE_OPUS_4_7: ModelCard = card5("anthropic.claude-opus-4-7", 1_000_000, 128_000);
pub const CLAUDE_OPUS_4_6: ModelCard = card5("anthropic.claude-opus-4-6-v1", 200_000, 128_000);
pub const CLAUDE_SONNET_4_6: ModelCard = card5("anthropic.claude-sonnet-4-6", 200_000, 64_000);
pub const CLAUDE_HAIKU_4_5: ModelCard =
    card5("anthropic.claude-haiku-4-5-20251001-v1:0", 200_000, 64_000);
pub const CLAUDE_SONNET_4_5: ModelCard =
    card5("anthropic.claude-sonnet-4-5-20250929-v1:0", 200_000, 64_000);
pub const CLAUDE_OPUS_4_5: ModelCard =
    card5("anthropic.claude-opus-4-5-20251101-v1:0", 200_000, 64_000);
pub const CLAUDE_OPUS_4_1: ModelCard =
    card5("anthropic.claude-opus-4-1-20250805-v1:0", 200_000, 32_000);
pub const CLAUDE_SONNET_4: ModelCard =
    card5("anthropic.claude-sonnet-4-20250514-v1:0", 200_000, 64_000);
pub const CLAUDE_3_7_SONNET: ModelCard =
    card5("anthropic.claude-3-7-sonnet-20250219-v1:0", 200_000, 64_000);
pub const CLAUDE_3_5_SONNET_V2: ModelCard =
    card("anthropic.claude-3-5-sonnet-20241022-v2:0", 200_000, 8_192);
pub const CLAUDE_3_5_HAIKU: ModelCard =
    card("anthropic.claude-3-5-haiku-20241022-v1:0", 200_000, 8_192);
pub const NOVA_MICRO: ModelCard = card("amazon.nova-micro-v1:0", 128_000, 10_000);
pub const NOVA_LITE: ModelCard = card("amazon.nova-lite-v1:0", 300_000, 10_000);
pub const NOVA_PRO: ModelCard = card("amazon.nova-pro-v1:0", 300_000, 10_000);
pub const NOVA_PREMIER: ModelCard = card("amazon.nova-premier-v1:0", 1_000_000, 32_000);
pub const NOVA_2_LITE: ModelCard = card("amazon.nova-2-lite-v1:0", 1_000_000, 65_535);
pub const LLAMA_3_3_70B: ModelCard = card("meta.llama3-3-70b-instruct-v1:0", 128_000, 8_192);
pub const LLAMA_4_MAVERICK: ModelCard =
    card("meta.llama4-maverick-17b-instruct-v1:0", 1_000_000, 8_192);
pub const LLAMA_4_SCOUT: ModelCard = card("meta.llama4-scout-17b-instruct-v1:0", 3_500_000, 8_192);
// Embedding models write no tokens: their context is what one input may hold.
pub const TITAN_EMBED_TEXT_V2: ModelCard = card("amazon.titan-embed-text-v2:0", 8_192, 0);
pub const COHERE_EMBED_ENGLISH_V3: ModelCard = card("cohere.embed-english-v3", 512, 0);
pub const COHERE_EMBED_MULTILINGUAL_V3: ModelCard = card("cohere.embed-multilingual-v3", 512, 0);
pub const COHERE_EMBED_V4: ModelCard = card("cohere.embed-v4:0", 128_000, 0);

/// Every model either side knows.
pub const CARDS: &[ModelCard] = &[
    CLAUDE_SONNET_5_5,
    CLAUDE_OPUS_5,
    CLAUDE_OPUS_4_8,
    CLAUDE_SONNET_5,
    CLAUDE_OPUS_4_7,
    CLAUDE_OPUS_4_6,
    CLAUDE_SONNET_4_6,
    CLAUDE_HAIKU_4_5,
    CLAUDE_SONNET_4_5,
    CLAUDE_OPUS_4_5,
    CLAUDE_OPUS_4_1,
    CLAUDE_SONNET_4,
    CLAUDE_3_7_SONNET,
    CLAUDE_3_5_SONNET_V2,
    CLAUDE_3_5_HAIKU,
    NOVA_MICRO,
    NOVA_LITE,
    NOVA_PRO,
    NOVA_PREMIER,
    NOVA_2_LITE,
    LLAMA_3_3_70B,
    LLAMA_4_MAVERICK,
    LLAMA_4_SCOUT,
    TITAN_EMBED_TEXT_V2,
    COHERE_EMBED_ENGLISH_V3,
    COHERE_EMBED_MULTILINGUAL_V3,
    COHERE_EMBED_V4,
];

/// The Region prefixes of inference-profile ids (`us.anthropic.…`, `global.…`).
const PROFILE_PREFIXES: &[&str] = &["us", "us-gov", "eu", "apac", "jp", "au", "ca", "global"];

/// The base model id that a Bedrock model id, inference-profile id or ARN names.
pub fn base_id(model_id: &str) -> &str {
    // An ARN ends with `foundation-model/<id>` or `inference-profile/<id>`.
    let id = model_id.rsplit('/').next().unwrap_or(model_id);
    match id.split_once('.') {
        Some((prefix, rest)) if PROFILE_PREFIXES.contains(&prefix) => rest,
        Some(_) | None => id,
    }
}

/// The card of the model `model_id` names (base id, inference profile or ARN), if known.
pub fn lookup(model_id: &str) -> Option<&'static ModelCard> {
    let base = base_id(model_id);
    CARDS.iter().find(|c| c.id == base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_and_arns_name_their_base_model() {
        for id in [
            "anthropic.claude-sonnet-4-6",
            "us.anthropic.claude-sonnet-4-6",
            "global.anthropic.claude-sonnet-4-6",
            "arn:aws:bedrock:us-east-1:111111111111:inference-profile/eu.anthropic.claude-sonnet-4-6",
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-6",
        ] {
            assert_eq!(
                lookup(id).map(|c| c.max_output_tokens),
                Some(64_000),
                "{id}"
            );
        }
        assert_eq!(
            lookup("us.anthropic.claude-sonnet-5")
                .unwrap()
                .max_output_tokens,
            128_000
        );
        assert_eq!(lookup("anthropic.claude-9"), None);
        assert_eq!(lookup("llama3"), None);
    }

    #[test]
    fn cards_are_unique_and_leave_room_for_a_prompt() {
        for (i, c) in CARDS.iter().enumerate() {
            assert!(CARDS[..i].iter().all(|o| o.id != c.id), "{} twice", c.id);
            assert!(c.max_output_tokens < c.context_window, "{}", c.id);
        }
    }
}
