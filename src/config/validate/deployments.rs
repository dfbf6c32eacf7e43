//! `model_list`: deployments grouped into model groups, with stable ids.

use crate::config::QuotaProfile;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::checks::{checked_profile, checked_region, checked_url, seconds};
use crate::config::error::Invalid;
use crate::config::model::*;
use crate::config::raw::*;
use crate::config::{Capabilities, Mode, ModelFamily};

/// The model groups of `model_list`, and a warning for each deployment id that several groups
/// share (LiteLLM loads that silently and shares one quota between them; here each keeps its
/// own limits under a key qualified by its group). The same id twice in one group is an error.
pub(super) fn groups(
    entries: &[RawModelEntry],
) -> Result<(Vec<ModelGroup>, Vec<Invalid>), Invalid> {
    let mut groups: Vec<ModelGroup> = Vec::new();
    // Where each id was first seen: (group, key path).
    let mut first_use: HashMap<String, (String, String)> = HashMap::new();
    let mut shared: HashSet<String> = HashSet::new();
    let mut warnings = Vec::new();
    // The key path of each deployment, in group order (for the key-clash error).
    let mut paths: Vec<Vec<String>> = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let path = format!("model_list[{i}]");
        if entry.model_name.trim().is_empty() {
            return Err(Invalid::new(
                format!("{path}.model_name"),
                "must not be empty",
            ));
        }
        let position = groups
            .iter()
            .find(|g| g.name == entry.model_name)
            .map_or(0, |g| g.deployments.len());
        let deployment = deployment(entry, &path, position)?;
        match first_use.get(&deployment.id) {
            Some((group, _)) if *group == deployment.group => {
                return Err(Invalid::new(
                    format!("{path}.model_info.id"),
                    format!(
                        "deployment id {:?} is used twice in model group {:?}",
                        deployment.id, deployment.group
                    ),
                ));
            }
            Some((group, first_path)) => {
                warnings.push(Invalid::new(
                    format!("{path}.model_info.id"),
                    format!(
                        "deployment id {:?} is also used by {first_path} (model group {group:?}); \
                         the two keep separate limits, cooldowns and metrics, and both answer with this id",
                        deployment.id
                    ),
                ));
                shared.insert(deployment.id.clone());
            }
            None => {
                first_use.insert(
                    deployment.id.clone(),
                    (deployment.group.clone(), format!("{path}.model_info.id")),
                );
            }
        }
        let id_path = format!("{path}.model_info.id");
        match groups.iter().position(|g| g.name == entry.model_name) {
            Some(g) => {
                groups[g].deployments.push(Arc::new(deployment));
                paths[g].push(id_path);
            }
            None => {
                groups.push(ModelGroup {
                    name: entry.model_name.clone(),
                    deployments: vec![Arc::new(deployment)],
                });
                paths.push(vec![id_path]);
            }
        }
    }
    qualify_shared_keys(&mut groups, &paths, &shared)?;
    number(&mut groups);
    Ok((groups, warnings))
}

/// Gives each deployment its place in config order ([`Deployment::index`]), what the per-
/// deployment tables (metrics, SDK clients, upstream targets) are indexed by.
fn number(groups: &mut [ModelGroup]) {
    let deployments = groups.iter_mut().flat_map(|g| g.deployments.iter_mut());
    for (index, deployment) in deployments.enumerate() {
        Arc::make_mut(deployment).index = index;
    }
}

/// Gives every deployment whose id is in `shared` the key `<group>/<id>`, and checks that the
/// keys are unique (a configured id could spell another's qualified key).
fn qualify_shared_keys(
    groups: &mut [ModelGroup],
    paths: &[Vec<String>],
    shared: &HashSet<String>,
) -> Result<(), Invalid> {
    let mut keys = HashSet::new();
    for (group, paths) in groups.iter_mut().zip(paths) {
        for (deployment, path) in group.deployments.iter_mut().zip(paths) {
            if shared.contains(&deployment.id) {
                let qualified = format!("{}/{}", deployment.group, deployment.id);
                Arc::make_mut(deployment).key = qualified;
            }
            if !keys.insert(deployment.key.clone()) {
                return Err(Invalid::new(
                    path.clone(),
                    format!(
                        "deployment id {:?} clashes with the key of a deployment whose id several groups share: choose another id",
                        deployment.id
                    ),
                ));
            }
        }
    }
    Ok(())
}
fn deployment(entry: &RawModelEntry, path: &str, position: usize) -> Result<Deployment, Invalid> {
    let params = &entry.litellm_params;
    let at = |key: &str| format!("{path}.litellm_params.{key}");
    let (provider, model) = split_model(&params.model).map_err(|m| Invalid::new(at("model"), m))?;
    if params.aws_access_key_id.is_some() || params.aws_secret_access_key.is_some() {
        return Err(Invalid::new(
            at("aws_access_key_id"),
            "static AWS keys in the config are not supported: use aws_profile_name (a profile in ~/.aws) or the default credential chain",
        ));
    }
    let rpm = limit(entry.rpm, params.rpm, "rpm", path)?;
    let tpm = limit(entry.tpm, params.tpm, "tpm", path)?;
    let tpd = limit(entry.tpd, params.tpd, "tpd", path)?;
    if let Some(w) = params.weight.filter(|w| !(w.is_finite() && *w > 0.0)) {
        return Err(Invalid::new(
            at("weight"),
            format!("must be a positive number, found {w}"),
        ));
    }
    let region = params
        .aws_region_name
        .as_deref()
        .map(|r| checked_region(r, &at("aws_region_name")))
        .transpose()?;
    let profile = params
        .aws_profile_name
        .as_deref()
        .map(|p| checked_profile(p, &at("aws_profile_name")))
        .transpose()?;
    let api_base = match (&params.api_base, &params.aws_bedrock_runtime_endpoint) {
        (Some(url), _) => Some(checked_url(url, &at("api_base"))?),
        (None, Some(url)) => Some(checked_url(url, &at("aws_bedrock_runtime_endpoint"))?),
        (None, None) => None,
    };
    if provider == ProviderKind::OpenAi && api_base.is_none() {
        return Err(Invalid::new(
            at("api_base"),
            "an openai/ deployment needs api_base (for example http://localhost:8000/v1)",
        ));
    }
    let timeout = params
        .timeout
        .map(|t| seconds(t, &at("timeout")))
        .transpose()?;
    let id = deployment_id(entry, path, position)?;
    let (mode, capabilities) = served(&entry.model_info, &model, path)?;
    let family = match provider {
        ProviderKind::Bedrock => ModelFamily::of_bedrock_model(&model),
        ProviderKind::OpenAi => None,
    };
    let quota = quota_profile(&entry.model_info, provider, &model, path)?;
    let price = price(entry, provider, &model, path)?;
    Ok(Deployment {
        index: 0,
        key: id.clone(),
        id,
        group: entry.model_name.clone(),
        provider,
        model,
        profile,
        region,
        api_base,
        api_key: params.api_key.clone().map(Secret::new),
        weight: params.weight,
        rpm,
        tpm,
        tpd,
        timeout,
        max_input_tokens: entry.model_info.max_input_tokens,
        quota,
        price,
        mode,
        family,
        capabilities,
    })
}

/// A limit set at entry level or in `litellm_params` (the same value if both): at least 1.
fn limit<T>(
    entry: Option<T>,
    params: Option<T>,
    key: &str,
    path: &str,
) -> Result<Option<T>, Invalid>
where
    T: PartialEq + Copy + Default,
{
    if entry.is_some() && params.is_some() && entry != params {
        return Err(Invalid::new(
            format!("{path}.{key}"),
            format!("{key} is set both here and in litellm_params, with different values"),
        ));
    }
    let value = params.or(entry);
    if value == Some(T::default()) {
        return Err(Invalid::new(
            format!("{path}.litellm_params.{key}"),
            "must be at least 1 (remove it for no limit)",
        ));
    }
    Ok(value)
}

/// `model_info.id` (non-empty ASCII), else `<group>-<n>` from the entry's position.
fn deployment_id(entry: &RawModelEntry, path: &str, position: usize) -> Result<String, Invalid> {
    match &entry.model_info.id {
        Some(id) if !id.trim().is_empty() && id.is_ascii() => Ok(id.clone()),
        Some(_) => Err(Invalid::new(
            format!("{path}.model_info.id"),
            "must be non-empty ASCII",
        )),
        None => Ok(format!("{}-{}", entry.model_name, position + 1)),
    }
}

/// The deployment's prices: the table's for its Bedrock model (with a geographic profile's
/// premium), each figure replaced by LiteLLM's per-token key where `litellm_params` or
/// `model_info` sets one (not both); a model the table lacks has a price only if one is set.
fn price(
    entry: &RawModelEntry,
    provider: ProviderKind,
    model: &str,
    path: &str,
) -> Result<Option<crate::pricing::Price>, Invalid> {
    let (params, info) = (&entry.litellm_params, &entry.model_info);
    let keys = [
        (
            "input_cost_per_token",
            params.input_cost_per_token,
            info.input_cost_per_token,
        ),
        (
            "output_cost_per_token",
            params.output_cost_per_token,
            info.output_cost_per_token,
        ),
        (
            "cache_creation_input_token_cost",
            params.cache_creation_input_token_cost,
            info.cache_creation_input_token_cost,
        ),
        (
            "cache_read_input_token_cost",
            params.cache_read_input_token_cost,
            info.cache_read_input_token_cost,
        ),
    ];
    let mut given = [None; 4];
    for (slot, (key, in_params, in_info)) in given.iter_mut().zip(keys) {
        if in_params.is_some() && in_info.is_some() {
            return Err(Invalid::new(
                format!("{path}.model_info.{key}"),
                format!("{key} is set both here and in litellm_params: keep one"),
            ));
        }
        let place = match in_params {
            Some(_) => "litellm_params",
            None => "model_info",
        };
        if let Some(value) = in_params.or(in_info) {
            if !(value.is_finite() && value >= 0.0) {
                return Err(Invalid::new(
                    format!("{path}.{place}.{key}"),
                    format!("must be a price in USD per token (0 or more), found {value}"),
                ));
            }
            *slot = Some(value * 1_000_000.0);
        }
    }
    let table = match provider {
        ProviderKind::Bedrock => crate::pricing::price_of(model),
        ProviderKind::OpenAi => None,
    };
    if table.is_none() && given.iter().all(Option::is_none) {
        return Ok(None);
    }
    let base = table.unwrap_or(crate::pricing::Price {
        input: 0.0,
        output: 0.0,
        cache_write: 0.0,
        cache_read: 0.0,
    });
    let [input, output, cache_write, cache_read] = given;
    Ok(Some(crate::pricing::Price {
        input: input.unwrap_or(base.input),
        output: output.unwrap_or(base.output),
        cache_write: cache_write.unwrap_or(base.cache_write),
        cache_read: cache_read.unwrap_or(base.cache_read),
    }))
}

/// How a call counts against the deployment's quotas: each of `model_info`'s
/// `max_output_tokens` (or LiteLLM's older `max_tokens`), `output_burndown`,
/// `default_output_tokens` and `cache_read_counts`, else the model card's for a Bedrock model
/// the catalogue knows, else 1:1 with no known maximum.
fn quota_profile(
    info: &RawModelInfo,
    provider: ProviderKind,
    model: &str,
    path: &str,
) -> Result<QuotaProfile, Invalid> {
    let card = match provider {
        ProviderKind::Bedrock => crate::catalogue::lookup(model),
        ProviderKind::OpenAi => None,
    };
    let burndown = info
        .output_burndown
        .or(card.map(|c| c.output_burndown))
        .unwrap_or(1);
    if !(1..=100).contains(&burndown) {
        return Err(Invalid::new(
            format!("{path}.model_info.output_burndown"),
            format!(
                "must be a whole number from 1 to 100 (Bedrock's are 1 and 5), found {burndown}"
            ),
        ));
    }
    let max_output_tokens = info
        .max_output_tokens
        .or(info.max_tokens)
        .or(card.map(|c| c.max_output_tokens));
    if let (Some(default), Some(max)) = (info.default_output_tokens, max_output_tokens)
        && default > max
    {
        return Err(Invalid::new(
            format!("{path}.model_info.default_output_tokens"),
            format!("{default} is more than the model's maximum output ({max} tokens)"),
        ));
    }
    if info.default_output_tokens == Some(0) {
        return Err(Invalid::new(
            format!("{path}.model_info.default_output_tokens"),
            "must be at least 1",
        ));
    }
    Ok(QuotaProfile {
        output_burndown: burndown,
        max_output_tokens,
        default_output_tokens: info.default_output_tokens,
        cache_read_counts: info.cache_read_counts.unwrap_or(false),
    })
}

/// The deployment's mode and features: `model_info.mode` (else told by the model id) and the
/// `supports_*` flags, each defaulting to yes for a chat model and no for any other.
fn served(info: &RawModelInfo, model: &str, path: &str) -> Result<(Mode, Capabilities), Invalid> {
    let mode = match &info.mode {
        Some(name) => {
            Mode::parse(name).map_err(|m| Invalid::new(format!("{path}.model_info.mode"), m))?
        }
        None => Mode::of_model(model),
    };
    let default = match mode {
        Mode::Chat => Capabilities::ALL,
        Mode::Embedding | Mode::Unserved(_) => Capabilities::NONE,
    };
    let capabilities = Capabilities {
        tools: info.supports_function_calling.unwrap_or(default.tools),
        images: info.supports_vision.unwrap_or(default.images),
        documents: info.supports_pdf_input.unwrap_or(default.documents),
        reasoning: info.supports_reasoning.unwrap_or(default.reasoning),
    };
    Ok((mode, capabilities))
}

/// `bedrock/<id>` (also LiteLLM's `bedrock/converse/<id>`) or `openai/<model>`.
fn split_model(model: &str) -> Result<(ProviderKind, String), String> {
    let Some((prefix, rest)) = model.split_once('/') else {
        return Err(format!(
            "{model:?} has no provider prefix: write bedrock/<model id> or openai/<model>"
        ));
    };
    let rest = rest.trim();
    if rest.is_empty() {
        return Err(format!("{model:?} names no model after {prefix}/"));
    }
    match prefix {
        "bedrock" => Ok((
            ProviderKind::Bedrock,
            rest.strip_prefix("converse/").unwrap_or(rest).to_string(),
        )),
        "openai" | "hosted_vllm" | "openai_compatible" => {
            Ok((ProviderKind::OpenAi, rest.to_string()))
        }
        other => Err(format!(
            "provider {other:?} is not supported: use bedrock/<model id>, or openai/<model> with api_base for any OpenAI-compatible server"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_provider_prefixes() {
        assert_eq!(
            split_model("bedrock/us.anthropic.claude-sonnet-4-6").unwrap(),
            (
                ProviderKind::Bedrock,
                "us.anthropic.claude-sonnet-4-6".into()
            )
        );
        assert_eq!(split_model("bedrock/converse/x").unwrap().1, "x");
        assert_eq!(
            split_model("openai/llama3").unwrap(),
            (ProviderKind::OpenAi, "llama3".into())
        );
        assert!(
            split_model("azure/gpt")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(split_model("claude").unwrap_err().contains("prefix"));
    }
}
