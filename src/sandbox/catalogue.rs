//! The model catalogue: which Bedrock model ids the sandbox knows, and how a `modelId` path
//! segment (base id, inference-profile id or ARN) resolves to one of them.

use crate::catalogue::{self as cards, ModelCard};
use crate::config::sandbox::Geography;

use super::error::BedrockError;

/// Who makes a model; decides the InvokeModel body format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFamily {
    Anthropic,
    AmazonNova,
    MetaLlama,
    /// Amazon Titan Text Embeddings: one `inputText` per call.
    TitanEmbedding,
    /// Cohere Embed: a batch of `texts` per call.
    CohereEmbedding,
}

impl ModelFamily {
    /// Whether the family embeds (InvokeModel only) rather than chats.
    pub fn embeds(self) -> bool {
        matches!(
            self,
            ModelFamily::TitanEmbedding | ModelFamily::CohereEmbedding
        )
    }
}

/// One foundation model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogueModel {
    /// The base model id, e.g. `anthropic.claude-sonnet-4-6`.
    pub id: &'static str,
    pub family: ModelFamily,
    /// Context window in tokens (input plus output), from its [`ModelCard`].
    pub context_window: u64,
    /// The most output one call may ask for, from its [`ModelCard`].
    pub max_output_tokens: u64,
    /// Quota tokens each output token takes, from its [`ModelCard`].
    pub output_burndown: u64,
    /// Geographies that offer an inference profile for it.
    pub geographies: &'static [Geography],
    /// How it may be called on demand: through an inference profile only, or by its base id too.
    pub on_demand: OnDemand,
}

/// Whether on-demand calls may name the base model id, or must go through an inference profile.
///
/// Bedrock serves the current Anthropic models (Claude 3.5 Sonnet v2, 3.7 Sonnet and every
/// Claude 4.x), Nova Premier and the Llama 3.3 / 4 models on demand only through inference
/// profiles: a Converse or InvokeModel call naming the base id (or its foundation-model ARN)
/// is a ValidationException.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDemand {
    /// The base id and the inference profiles both work.
    BaseOrProfile,
    /// Only an inference profile (or its ARN) works.
    ProfileOnly,
}

use Geography::{Apac, Eu, Global, Us};
use ModelFamily::{AmazonNova, Anthropic, CohereEmbedding, MetaLlama, TitanEmbedding};

const fn model(
    card: ModelCard,
    family: ModelFamily,
    geographies: &'static [Geography],
) -> CatalogueModel {
    CatalogueModel {
        id: card.id,
        family,
        context_window: card.context_window,
        max_output_tokens: card.max_output_tokens,
        output_burndown: card.output_burndown,
        geographies,
        on_demand: OnDemand::BaseOrProfile,
    }
}

/// A model Bedrock serves on demand only through its inference profiles.
const fn profile_only(
    card: ModelCard,
    family: ModelFamily,
    geographies: &'static [Geography],
) -> CatalogueModel {
    CatalogueModel {
        on_demand: OnDemand::ProfileOnly,
        ..model(card, family, geographies)
    }
}

/// Every model the sandbox serves.
pub const CATALOGUE: &[CatalogueModel] = &[
    profile_only(cards::CLAUDE_SONNET_5_5, Anthropic, &[Us, Eu, Apac, Global]),
    profile_only(cards::CLAUDE_OPUS_5, Anthropic, &[Us, Eu, Apac, Global]),
    profile_only(cards::CLAUDE_OPUS_4_8, Anthropic, &[Us, Eu, Apac, Global]),
    profile_only(cards::CLAUDE_SONNET_5, Anthropic, &[Us, Eu, Apac, Global]),
    profile_only(cards::CLAUDE_OPUS_4_7, Anthropic, &[Us, Eu, Apac, Global]),
    profile_only(cards::CLAUDE_SONNET_4_6, Anthropic, &[Us, Eu, Apac, Global]),
    profile_only(cards::CLAUDE_OPUS_4_6, Anthropic, &[Us, Eu, Apac, Global]),
    profile_only(cards::CLAUDE_HAIKU_4_5, Anthropic, &[Us, Eu, Apac, Global]),
    profile_only(cards::CLAUDE_SONNET_4_5, Anthropic, &[Us, Eu, Apac, Global]),
    profile_only(cards::CLAUDE_OPUS_4_5, Anthropic, &[Us, Eu, Global]),
    profile_only(cards::CLAUDE_OPUS_4_1, Anthropic, &[Us]),
    profile_only(cards::CLAUDE_SONNET_4, Anthropic, &[Us, Eu, Apac, Global]),
    profile_only(cards::CLAUDE_3_7_SONNET, Anthropic, &[Us, Eu, Apac]),
    profile_only(cards::CLAUDE_3_5_SONNET_V2, Anthropic, &[Us, Apac]),
    model(cards::CLAUDE_3_5_HAIKU, Anthropic, &[Us]),
    model(cards::NOVA_MICRO, AmazonNova, &[Us, Eu, Apac]),
    model(cards::NOVA_LITE, AmazonNova, &[Us, Eu, Apac]),
    model(cards::NOVA_PRO, AmazonNova, &[Us, Eu, Apac]),
    profile_only(cards::NOVA_PREMIER, AmazonNova, &[Us]),
    profile_only(cards::NOVA_2_LITE, AmazonNova, &[Us, Eu, Global]),
    profile_only(cards::LLAMA_3_3_70B, MetaLlama, &[Us]),
    profile_only(cards::LLAMA_4_MAVERICK, MetaLlama, &[Us]),
    profile_only(cards::LLAMA_4_SCOUT, MetaLlama, &[Us]),
    model(cards::TITAN_EMBED_TEXT_V2, TitanEmbedding, &[]),
    model(cards::COHERE_EMBED_ENGLISH_V3, CohereEmbedding, &[]),
    model(cards::COHERE_EMBED_MULTILINGUAL_V3, CohereEmbedding, &[]),
    model(cards::COHERE_EMBED_V4, CohereEmbedding, &[Us, Eu, Global]),
];

/// A `modelId` resolved against the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    /// The id exactly as the caller sent it (percent-decoded).
    pub called: String,
    pub model: CatalogueModel,
    /// For inference-profile calls: the geography and the profile id (`us.anthropic…`).
    pub profile: Option<(Geography, String)>,
}

impl ResolvedModel {
    /// The id quotas are kept per: the inference-profile id for profile calls, else the base
    /// model id, whether called by id or by ARN (as Bedrock, where cross-Region and on-demand
    /// quotas are separate but an id and its ARN share one).
    pub fn quota_id(&self) -> &str {
        match &self.profile {
            Some((_, id)) => id,
            None => self.model.id,
        }
    }

    /// The `modelId` of the invocation log: the profile ARN for profile calls, else the id called.
    pub fn log_model_id(&self, source_region: &str, account_id: &str) -> String {
        match &self.profile {
            Some((_, id)) => {
                format!("arn:aws:bedrock:{source_region}:{account_id}:inference-profile/{id}")
            }
            None => self.called.clone(),
        }
    }
}

fn is_well_formed(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 2048
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b))
}

fn lookup(base: &str) -> Option<CatalogueModel> {
    CATALOGUE.iter().copied().find(|m| m.id == base)
}

fn split_profile(id: &str) -> Option<(Geography, &str)> {
    let (prefix, rest) = id.split_once('.')?;
    Geography::ALL
        .into_iter()
        .find(|g| g.prefix() == prefix)
        .map(|g| (g, rest))
}

/// Strips an ARN down to the id it names (`inference-profile/…` or `foundation-model/…`).
fn strip_arn(id: &str) -> Result<&str, BedrockError> {
    let Some(rest) = id.strip_prefix("arn:aws:bedrock:") else {
        return Ok(id);
    };
    let parts: Vec<&str> = rest.splitn(3, ':').collect();
    let [_region, _account, resource] = parts.as_slice() else {
        return Err(invalid_id());
    };
    resource
        .strip_prefix("inference-profile/")
        .or_else(|| resource.strip_prefix("foundation-model/"))
        .ok_or_else(invalid_id)
}

fn invalid_id() -> BedrockError {
    BedrockError::Validation("The provided model identifier is invalid.".into())
}

/// Resolves a percent-decoded `modelId`; an id the catalogue does not know is invalid, as
/// Bedrock says it (400 ValidationException, not a 404).
pub fn resolve(called: &str) -> Result<ResolvedModel, BedrockError> {
    if !is_well_formed(called) {
        return Err(invalid_id());
    }
    let id = strip_arn(called)?;
    let not_found = invalid_id;
    if let Some((geography, base)) = split_profile(id) {
        let model = lookup(base)
            .filter(|m| m.geographies.contains(&geography))
            .ok_or_else(not_found)?;
        return Ok(ResolvedModel {
            called: called.into(),
            model,
            profile: Some((geography, id.into())),
        });
    }
    let model = lookup(id).ok_or_else(not_found)?;
    Ok(ResolvedModel {
        called: called.into(),
        model,
        profile: None,
    })
}

/// Refuses an on-demand call naming the base id of a model served only through inference
/// profiles, in Bedrock's words.
pub fn check_on_demand(resolved: &ResolvedModel) -> Result<(), BedrockError> {
    match (resolved.model.on_demand, &resolved.profile) {
        (OnDemand::ProfileOnly, None) => Err(BedrockError::Validation(format!(
            "Invocation of model ID {} with on-demand throughput isn’t supported. Retry your request with the ID or ARN of an inference profile that contains this model.",
            resolved.model.id
        ))),
        (OnDemand::ProfileOnly, Some(_)) | (OnDemand::BaseOrProfile, _) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_ids_run_without_profile() {
        let r = resolve("amazon.nova-lite-v1:0").unwrap();
        assert_eq!(r.profile, None);
        assert_eq!(check_on_demand(&r), Ok(()));
        assert_eq!(
            r.log_model_id("us-east-1", "111111111111"),
            "amazon.nova-lite-v1:0"
        );
    }

    #[test]
    fn profile_only_models_refuse_their_base_id_on_demand() {
        let base = resolve("anthropic.claude-haiku-4-5-20251001-v1:0").unwrap();
        let Err(BedrockError::Validation(message)) = check_on_demand(&base) else {
            panic!("the base id of a profile-only model must be refused");
        };
        assert_eq!(
            message,
            "Invocation of model ID anthropic.claude-haiku-4-5-20251001-v1:0 with on-demand throughput isn’t supported. Retry your request with the ID or ARN of an inference profile that contains this model."
        );
        let arn = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-6";
        assert!(check_on_demand(&resolve(arn).unwrap()).is_err());
        let profile = resolve("us.anthropic.claude-haiku-4-5-20251001-v1:0").unwrap();
        assert_eq!(check_on_demand(&profile), Ok(()));
        // Every current Claude 4.x model is profile-only.
        for m in CATALOGUE
            .iter()
            .filter(|m| m.id.starts_with("anthropic.claude-"))
        {
            let is_4x = ["sonnet-4", "opus-4", "haiku-4"]
                .iter()
                .any(|v| m.id.contains(v));
            if is_4x {
                assert_eq!(m.on_demand, OnDemand::ProfileOnly, "{}", m.id);
            }
        }
    }

    #[test]
    fn an_id_and_its_arn_share_a_quota_a_profile_and_its_base_model_do_not() {
        let quota = |called: &str| resolve(called).unwrap().quota_id().to_string();
        assert_eq!(
            quota(
                "arn:aws:bedrock:us-east-1:111111111111:inference-profile/us.anthropic.claude-sonnet-4-6"
            ),
            "us.anthropic.claude-sonnet-4-6"
        );
        assert_eq!(
            quota("us.anthropic.claude-sonnet-4-6"),
            "us.anthropic.claude-sonnet-4-6"
        );
        assert_eq!(
            quota("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-sonnet-4-6"),
            "anthropic.claude-sonnet-4-6"
        );
        assert_eq!(
            quota("anthropic.claude-sonnet-4-6"),
            "anthropic.claude-sonnet-4-6"
        );
    }

    #[test]
    fn profile_ids_and_arns_resolve_to_the_profile() {
        let r = resolve("us.anthropic.claude-sonnet-4-6").unwrap();
        assert_eq!(r.model.id, "anthropic.claude-sonnet-4-6");
        assert_eq!(
            r.profile,
            Some((Geography::Us, "us.anthropic.claude-sonnet-4-6".into()))
        );
        assert_eq!(
            r.log_model_id("us-east-1", "111111111111"),
            "arn:aws:bedrock:us-east-1:111111111111:inference-profile/us.anthropic.claude-sonnet-4-6"
        );
        let arn = "arn:aws:bedrock:us-east-1:111111111111:inference-profile/global.anthropic.claude-opus-4-6-v1";
        assert_eq!(resolve(arn).unwrap().profile.unwrap().0, Geography::Global);
        let fm =
            resolve("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0").unwrap();
        assert_eq!(
            (fm.model.family, fm.profile),
            (ModelFamily::AmazonNova, None)
        );
    }

    #[test]
    fn unknown_and_malformed_ids_get_bedrock_errors() {
        let invalid = Err(BedrockError::Validation(
            "The provided model identifier is invalid.".into(),
        ));
        assert_eq!(resolve("anthropic.claude-9"), invalid);
        assert_eq!(resolve("eu.meta.llama3-3-70b-instruct-v1:0"), invalid);
        assert!(matches!(
            resolve("bad id!"),
            Err(BedrockError::Validation(_))
        ));
        assert!(matches!(
            resolve("arn:aws:bedrock:us-east-1:1:custom/x"),
            Err(BedrockError::Validation(_))
        ));
    }
}
