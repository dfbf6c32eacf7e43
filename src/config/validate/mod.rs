//! Raw config → runtime config: every rule that spans keys or needs more than a type.
//!
//! One file per section: [`deployments`] (model groups), [`gateway`] (listen address, keys,
//! consumers), [`router`] (strategy, fallbacks, state store); [`checks`] holds the
//! single-value checks they share.

mod checks;
mod deployments;
mod gateway;
mod router;

use std::collections::HashSet;
use std::path::Path;

use super::error::Invalid;
use super::model::*;
use super::raw::*;
use super::sandbox::SandboxSettings;
use checks::{checked_profile, checked_region, checked_url};

const DEFAULT_REGION: &str = "us-east-1";
const DEFAULT_LOG_GROUP: &str = "BedrockModelInvocation";
const DEFAULT_CRIS_MODEL: &str = "us.anthropic.claude-opus-4-6-v1";

/// Builds the runtime config from the raw one.
pub fn validate(
    raw: RawConfig,
    source: &Path,
    sandbox: SandboxSettings,
    ignored_keys: Vec<String>,
) -> Result<(Config, Vec<Invalid>), Invalid> {
    let aws = aws(&raw.aws)?;
    let (groups, mut warnings) = deployments::groups(&raw.model_list)?;
    let names: HashSet<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    let gateway = gateway::gateway(&raw, &names)?;
    let ignored = &gateway.telemetry.ignored_callbacks;
    if !ignored.is_empty() {
        warnings.push(Invalid::new(
            "litellm_settings.callbacks",
            format!(
                "only \"otel\" (OpenTelemetry over OTLP) is implemented here; ignored: {}",
                ignored.join(", ")
            ),
        ));
    }
    let router = router::router(&raw, &names)?;
    let cris = CrisSettings {
        model_id: raw
            .cris
            .map(|c| c.model_id)
            .unwrap_or_else(|| DEFAULT_CRIS_MODEL.to_string()),
    };
    let config = Config {
        source: source.to_path_buf(),
        aws,
        gateway,
        groups,
        router,
        cris,
        sandbox,
        ignored_keys,
        warnings: Vec::new(),
    };
    Ok((config, warnings))
}

fn aws(raw: &RawAws) -> Result<AwsSettings, Invalid> {
    let mut profiles = Vec::new();
    if let Some(p) = &raw.profile_name {
        profiles.push(checked_profile(p, "aws.profile_name")?);
    }
    if let Some(p) = &raw.secondary_profile_name {
        profiles.push(checked_profile(p, "aws.secondary_profile_name")?);
    }
    for (i, p) in raw.profiles.iter().flatten().enumerate() {
        let p = checked_profile(p, &format!("aws.profiles[{i}]"))?;
        if !profiles.contains(&p) {
            profiles.push(p);
        }
    }
    let region = match &raw.region_name {
        Some(r) => checked_region(r, "aws.region_name")?,
        None => DEFAULT_REGION.to_string(),
    };
    if let Some(url) = &raw.endpoint_url {
        checked_url(url, "aws.endpoint_url")?;
    }
    Ok(AwsSettings {
        profiles,
        region,
        log_group: raw
            .bedrock_log_group_name
            .clone()
            .unwrap_or_else(|| DEFAULT_LOG_GROUP.into()),
        endpoint_url: raw.endpoint_url.clone(),
    })
}
