//! The model catalogue: which Bedrock model ids the sandbox knows, and how a `modelId` path
//! segment (base id, inference-profile id or ARN) resolves to one of them.

use crate::config::sandbox::Geography;

use super::error::BedrockError;

/// Who makes a model; decides the InvokeModel body format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFamily {
    Anthropic,
    AmazonNova,
    MetaLlama,
}

/// One foundation model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogueModel {
    /// The base model id, e.g. `anthropic.claude-sonnet-4-6`.
    pub id: &'static str,
    pub family: ModelFamily,
    /// Context window in tokens (input plus output).
    pub context_window: u64,
    /// Geographies that offer an inference profile for it.
    pub geographies: &'static [Geography],
}

use Geography::{Apac, Eu, Global, Us};
use ModelFamily::{AmazonNova, Anthropic, MetaLlama};

const fn model(
    id: &'static str,
    family: ModelFamily,
    context_window: u64,
    geographies: &'static [Geography],
) -> CatalogueModel {
    CatalogueModel {
        id,
        family,
        context_window,
        geographies,
    }
}

/// Every model the sandbox serves.
pub const CATALOGUE: &[CatalogueModel] = &[
    model(
        "anthropic.claude-sonnet-4-6",
        Anthropic,
        200_000,
        &[Us, Eu, Apac, Global],
    ),
    model(
        "anthropic.claude-opus-4-6-v1",
        Anthropic,
        200_000,
        &[Us, Eu, Apac, Global],
    ),
    model(
        "anthropic.claude-haiku-4-5-20251001-v1:0",
        Anthropic,
        200_000,
        &[Us, Eu, Apac, Global],
    ),
    model(
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        Anthropic,
        200_000,
        &[Us, Eu, Apac, Global],
    ),
    model(
        "anthropic.claude-opus-4-5-20251101-v1:0",
        Anthropic,
        200_000,
        &[Us, Eu, Global],
    ),
    model(
        "anthropic.claude-opus-4-1-20250805-v1:0",
        Anthropic,
        200_000,
        &[Us],
    ),
    model(
        "anthropic.claude-sonnet-4-20250514-v1:0",
        Anthropic,
        200_000,
        &[Us, Eu, Apac, Global],
    ),
    model(
        "anthropic.claude-3-7-sonnet-20250219-v1:0",
        Anthropic,
        200_000,
        &[Us, Eu, Apac],
    ),
    model(
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
        Anthropic,
        200_000,
        &[Us, Apac],
    ),
    model(
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        Anthropic,
        200_000,
        &[Us],
    ),
    model(
        "amazon.nova-micro-v1:0",
        AmazonNova,
        128_000,
        &[Us, Eu, Apac],
    ),
    model(
        "amazon.nova-lite-v1:0",
        AmazonNova,
        300_000,
        &[Us, Eu, Apac],
    ),
    model("amazon.nova-pro-v1:0", AmazonNova, 300_000, &[Us, Eu, Apac]),
    model("amazon.nova-premier-v1:0", AmazonNova, 1_000_000, &[Us]),
    model("meta.llama3-3-70b-instruct-v1:0", MetaLlama, 128_000, &[Us]),
    model(
        "meta.llama4-maverick-17b-instruct-v1:0",
        MetaLlama,
        1_000_000,
        &[Us],
    ),
    model(
        "meta.llama4-scout-17b-instruct-v1:0",
        MetaLlama,
        3_500_000,
        &[Us],
    ),
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

/// Resolves a percent-decoded `modelId`.
pub fn resolve(called: &str) -> Result<ResolvedModel, BedrockError> {
    if !is_well_formed(called) {
        return Err(invalid_id());
    }
    let id = strip_arn(called)?;
    let not_found = || BedrockError::ResourceNotFound(format!("Model {id} not found."));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_ids_run_without_profile() {
        let r = resolve("anthropic.claude-haiku-4-5-20251001-v1:0").unwrap();
        assert_eq!(r.profile, None);
        assert_eq!(
            r.log_model_id("us-east-1", "111111111111"),
            "anthropic.claude-haiku-4-5-20251001-v1:0"
        );
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
        assert!(matches!(
            resolve("anthropic.claude-9"),
            Err(BedrockError::ResourceNotFound(_))
        ));
        assert!(matches!(
            resolve("eu.meta.llama3-3-70b-instruct-v1:0"),
            Err(BedrockError::ResourceNotFound(_))
        ));
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
