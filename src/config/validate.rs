//! Raw config → runtime config: every rule that spans keys or needs more than a type.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_yaml::Value;

use super::error::Invalid;
use super::model::*;
use super::raw::*;
use super::sandbox::SandboxSettings;
use super::yaml::key_text;

const DEFAULT_REGION: &str = "us-east-1";
const DEFAULT_LOG_GROUP: &str = "BedrockModelInvocation";
const DEFAULT_PORT: u16 = 4000;
const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
const DEFAULT_CRIS_MODEL: &str = "us.anthropic.claude-opus-4-6-v1";

/// Builds the runtime config from the raw one.
pub fn validate(
    raw: RawConfig,
    source: &Path,
    sandbox: SandboxSettings,
    ignored_keys: Vec<String>,
) -> Result<Config, Invalid> {
    let aws = aws(&raw.aws)?;
    let groups = groups(&raw.model_list)?;
    let names: HashSet<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    let gateway = gateway(&raw, &names)?;
    let router = router(&raw, &names)?;
    let cris = CrisSettings {
        model_id: raw
            .cris
            .map(|c| c.model_id)
            .unwrap_or_else(|| DEFAULT_CRIS_MODEL.to_string()),
    };
    Ok(Config {
        source: source.to_path_buf(),
        aws,
        gateway,
        groups,
        router,
        cris,
        sandbox,
        ignored_keys,
    })
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

fn groups(entries: &[RawModelEntry]) -> Result<Vec<ModelGroup>, Invalid> {
    let mut groups: Vec<ModelGroup> = Vec::new();
    let mut ids = HashSet::new();
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
        if !ids.insert(deployment.id.clone()) {
            return Err(Invalid::new(
                format!("{path}.model_info.id"),
                format!("deployment id {:?} is used twice", deployment.id),
            ));
        }
        match groups.iter_mut().find(|g| g.name == entry.model_name) {
            Some(group) => group.deployments.push(Arc::new(deployment)),
            None => groups.push(ModelGroup {
                name: entry.model_name.clone(),
                deployments: vec![Arc::new(deployment)],
            }),
        }
    }
    Ok(groups)
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
    if entry.rpm.is_some() && params.rpm.is_some() && entry.rpm != params.rpm {
        return Err(Invalid::new(
            format!("{path}.rpm"),
            "rpm is set both here and in litellm_params, with different values",
        ));
    }
    if entry.tpm.is_some() && params.tpm.is_some() && entry.tpm != params.tpm {
        return Err(Invalid::new(
            format!("{path}.tpm"),
            "tpm is set both here and in litellm_params, with different values",
        ));
    }
    let rpm = params.rpm.or(entry.rpm);
    let tpm = params.tpm.or(entry.tpm);
    if rpm == Some(0) {
        return Err(Invalid::new(
            at("rpm"),
            "must be at least 1 (remove it for no limit)",
        ));
    }
    if tpm == Some(0) {
        return Err(Invalid::new(
            at("tpm"),
            "must be at least 1 (remove it for no limit)",
        ));
    }
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
    let id = match &entry.model_info.id {
        Some(id) if !id.trim().is_empty() && id.is_ascii() => id.clone(),
        Some(_) => {
            return Err(Invalid::new(
                format!("{path}.model_info.id"),
                "must be non-empty ASCII",
            ));
        }
        None => format!("{}-{}", entry.model_name, position + 1),
    };
    Ok(Deployment {
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
        timeout,
        max_input_tokens: entry.model_info.max_input_tokens,
    })
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

fn gateway(raw: &RawConfig, groups: &HashSet<&str>) -> Result<GatewaySettings, Invalid> {
    let g = &raw.gateway;
    let port = match &g.port {
        Some(p) => checked_port(p, "gateway.port")?,
        None => DEFAULT_PORT,
    };
    let master_key = match (&g.master_key, &raw.general_settings.master_key) {
        (Some(_), Some(_)) => {
            return Err(Invalid::new(
                "general_settings.master_key",
                "master_key is set in both gateway and general_settings: keep one",
            ));
        }
        (Some(k), None) => Some(checked_key(k, "gateway.master_key")?),
        (None, Some(k)) => Some(checked_key(k, "general_settings.master_key")?),
        (None, None) => None,
    };
    let mut consumers = Vec::new();
    let mut names = HashSet::new();
    let mut keys: Vec<&str> = master_key.iter().map(Secret::expose).collect();
    for (i, c) in g.consumers.iter().enumerate() {
        let path = format!("gateway.consumers[{i}]");
        if !names.insert(c.name.as_str()) {
            return Err(Invalid::new(
                format!("{path}.name"),
                format!("consumer name {:?} is used twice", c.name),
            ));
        }
        let key = checked_key(&c.key, &format!("{path}.key"))?;
        if keys.contains(&c.key.as_str()) {
            return Err(Invalid::new(
                format!("{path}.key"),
                "this key is already used by another consumer or the master key",
            ));
        }
        keys.push(&c.key);
        for (j, m) in c.models.iter().enumerate() {
            if !groups.contains(m.as_str()) {
                return Err(unknown_group(format!("{path}.models[{j}]"), m, groups));
            }
        }
        for (value, key_name) in [
            (c.rpm_limit, "rpm_limit"),
            (c.max_parallel_requests, "max_parallel_requests"),
        ] {
            if value == Some(0) {
                return Err(Invalid::new(
                    format!("{path}.{key_name}"),
                    "must be at least 1 (remove it for no limit)",
                ));
            }
        }
        if c.tpm_limit == Some(0) {
            return Err(Invalid::new(
                format!("{path}.tpm_limit"),
                "must be at least 1 (remove it for no limit)",
            ));
        }
        consumers.push(Consumer {
            name: c.name.clone(),
            key,
            tier: c.tier.clone(),
            rpm_limit: c.rpm_limit,
            tpm_limit: c.tpm_limit,
            max_parallel_requests: c.max_parallel_requests,
            models: c.models.clone(),
        });
    }
    let size_mb = match (
        g.max_request_size_mb,
        raw.general_settings.max_request_size_mb,
    ) {
        (Some(mb), _) => Some((mb, "gateway.max_request_size_mb")),
        (None, Some(mb)) => Some((mb, "general_settings.max_request_size_mb")),
        (None, None) => None,
    };
    let max_body_bytes = match size_mb {
        Some((mb, path)) if !(mb.is_finite() && mb > 0.0) => {
            return Err(Invalid::new(
                path,
                format!("must be a positive number of MiB, found {mb}"),
            ));
        }
        Some((mb, _)) => (mb * 1024.0 * 1024.0) as usize,
        None => DEFAULT_MAX_BODY_BYTES,
    };
    Ok(GatewaySettings {
        host: g.host.clone().unwrap_or_else(|| "127.0.0.1".into()),
        port,
        master_key,
        consumers,
        drop_params: g
            .drop_params
            .or(raw.litellm_settings.drop_params)
            .unwrap_or(false),
        max_body_bytes,
    })
}

fn router(raw: &RawConfig, groups: &HashSet<&str>) -> Result<RouterSettings, Invalid> {
    let r = &raw.router_settings;
    let strategy = match r.routing_strategy.as_deref() {
        None => RoutingStrategy::SimpleShuffle,
        Some(name) => RoutingStrategy::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| {
                let all: Vec<&str> = RoutingStrategy::ALL.iter().map(|s| s.as_str()).collect();
                Invalid::new(
                    "router_settings.routing_strategy",
                    format!(
                        "unknown strategy {name:?}; expected one of {}",
                        all.join(", ")
                    ),
                )
            })?,
    };
    let fallbacks = fallback_table(r.fallbacks.as_ref(), "router_settings.fallbacks", groups)?;
    let context_window_fallbacks = match (
        &r.context_window_fallbacks,
        &raw.litellm_settings.context_window_fallbacks,
    ) {
        (Some(v), _) => {
            fallback_table(Some(v), "router_settings.context_window_fallbacks", groups)?
        }
        (None, v) => fallback_table(
            v.as_ref(),
            "litellm_settings.context_window_fallbacks",
            groups,
        )?,
    };
    let mut default_fallbacks = Vec::new();
    for (i, g) in r.default_fallbacks.iter().flatten().enumerate() {
        if !groups.contains(g.as_str()) {
            return Err(unknown_group(
                format!("router_settings.default_fallbacks[{i}]"),
                g,
                groups,
            ));
        }
        default_fallbacks.push(g.clone());
    }
    check_no_cycle(&fallbacks, "router_settings.fallbacks")?;
    let timeout = match (r.timeout, raw.litellm_settings.request_timeout) {
        (Some(t), _) => seconds(t, "router_settings.timeout")?,
        (None, Some(t)) => seconds(t, "litellm_settings.request_timeout")?,
        (None, None) => Duration::from_secs(600),
    };
    Ok(RouterSettings {
        strategy,
        pre_call_checks: r.enable_pre_call_checks.unwrap_or(true),
        num_retries: r
            .num_retries
            .or(raw.litellm_settings.num_retries)
            .unwrap_or(2),
        retry_after: r
            .retry_after
            .map(|t| seconds(t, "router_settings.retry_after"))
            .transpose()?
            .unwrap_or(Duration::from_millis(100)),
        allowed_fails: r.allowed_fails.unwrap_or(3),
        cooldown_time: r
            .cooldown_time
            .map(|t| seconds(t, "router_settings.cooldown_time"))
            .transpose()?
            .unwrap_or(Duration::from_secs(5)),
        fallbacks,
        context_window_fallbacks,
        default_fallbacks,
        timeout,
        state: state_store(r)?,
    })
}

fn state_store(r: &RawRouterSettings) -> Result<StateStoreSettings, Invalid> {
    let url = match (&r.redis_url, &r.redis_host) {
        (Some(_), Some(_)) => {
            return Err(Invalid::new(
                "router_settings.redis_host",
                "set redis_url or redis_host/redis_port, not both",
            ));
        }
        (Some(url), None) => {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(Invalid::new(
                    "router_settings.redis_url",
                    "must start with redis:// or rediss:// (TLS)",
                ));
            }
            url.clone()
        }
        (None, Some(host)) => {
            let port = match &r.redis_port {
                Some(p) => checked_port(p, "router_settings.redis_port")?,
                None => 6379,
            };
            match &r.redis_password {
                Some(pw) => format!("redis://:{pw}@{host}:{port}"),
                None => format!("redis://{host}:{port}"),
            }
        }
        (None, None) => return Ok(StateStoreSettings::Memory),
    };
    Ok(StateStoreSettings::Redis(RedisSettings {
        url: Secret::new(url),
        key_prefix: r
            .redis_key_prefix
            .clone()
            .unwrap_or_else(|| "resilient-llm".into()),
        timeout: Duration::from_millis(r.redis_timeout_ms.unwrap_or(50)),
        expected_replicas: r.expected_replicas.unwrap_or(1).max(1),
    }))
}

/// LiteLLM writes fallbacks as `[{group: [fallback, …]}, …]`; a plain mapping is accepted too.
fn fallback_table(
    value: Option<&Value>,
    path: &str,
    groups: &HashSet<&str>,
) -> Result<Vec<(String, Vec<String>)>, Invalid> {
    let mut table: Vec<(String, Vec<String>)> = Vec::new();
    let mut add = |map: &serde_yaml::Mapping, at: &str| -> Result<(), Invalid> {
        for (k, v) in map {
            let group = key_text(k);
            let here = format!("{at}.{group}");
            if !groups.contains(group.as_str()) {
                return Err(unknown_group(at.to_string(), &group, groups));
            }
            let targets: Vec<String> = match v {
                Value::String(s) => vec![s.clone()],
                Value::Sequence(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, t)| {
                        t.as_str().map(str::to_string).ok_or_else(|| {
                            Invalid::new(format!("{here}[{i}]"), "expected a model group name")
                        })
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(Invalid::new(here, "expected a list of model group names")),
            };
            for (i, t) in targets.iter().enumerate() {
                if !groups.contains(t.as_str()) {
                    return Err(unknown_group(format!("{here}[{i}]"), t, groups));
                }
                if *t == group {
                    return Err(Invalid::new(
                        format!("{here}[{i}]"),
                        format!("group {group:?} falls back to itself"),
                    ));
                }
            }
            match table.iter_mut().find(|(g, _)| *g == group) {
                Some((_, existing)) => existing.extend(targets),
                None => table.push((group, targets)),
            }
        }
        Ok(())
    };
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(map)) => add(map, path)?,
        Some(Value::Sequence(items)) => {
            for (i, item) in items.iter().enumerate() {
                let at = format!("{path}[{i}]");
                match item {
                    Value::Mapping(map) => add(map, &at)?,
                    _ => {
                        return Err(Invalid::new(
                            at,
                            "expected a mapping such as {primary: [fallback]}",
                        ));
                    }
                }
            }
        }
        Some(_) => {
            return Err(Invalid::new(
                path,
                "expected a list such as [{primary: [fallback]}]",
            ));
        }
    }
    Ok(table)
}

/// A fallback chain that leads back to where it started would loop forever.
fn check_no_cycle(table: &[(String, Vec<String>)], path: &str) -> Result<(), Invalid> {
    let edges: HashMap<&str, &[String]> = table
        .iter()
        .map(|(g, t)| (g.as_str(), t.as_slice()))
        .collect();
    for (start, _) in table {
        let mut trail = vec![start.as_str()];
        if let Some(cycle) = find_cycle(&edges, &mut trail) {
            return Err(Invalid::new(
                format!("{path}.{start}"),
                format!("fallback cycle: {}", cycle.join(" → ")),
            ));
        }
    }
    Ok(())
}

fn find_cycle<'a>(
    edges: &HashMap<&'a str, &'a [String]>,
    trail: &mut Vec<&'a str>,
) -> Option<Vec<String>> {
    let last = *trail.last()?;
    for next in edges.get(last).copied().unwrap_or(&[]) {
        if let Some(at) = trail.iter().position(|t| *t == next) {
            let mut cycle: Vec<String> = trail[at..].iter().map(|s| s.to_string()).collect();
            cycle.push(next.clone());
            return Some(cycle);
        }
        trail.push(next.as_str());
        if let Some(cycle) = find_cycle(edges, trail) {
            return Some(cycle);
        }
        trail.pop();
    }
    None
}

fn unknown_group(path: String, name: &str, groups: &HashSet<&str>) -> Invalid {
    let mut known: Vec<&str> = groups.iter().copied().collect();
    known.sort_unstable();
    let hint = super::litellm::did_you_mean(name, &known)
        .map(|g| format!(" (did you mean {g:?}?)"))
        .unwrap_or_default();
    Invalid::new(
        path,
        format!(
            "no model group named {name:?}{hint}; groups are: {}",
            known.join(", ")
        ),
    )
}

fn checked_port(value: &PortValue, path: &str) -> Result<u16, Invalid> {
    let number = match value {
        PortValue::Number(n) => *n,
        PortValue::Text(t) => t
            .trim()
            .parse::<i64>()
            .map_err(|_| Invalid::new(path, format!("expected a port number, found {t:?}")))?,
    };
    u16::try_from(number)
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| Invalid::new(path, format!("port {number} is out of range (1-65535)")))
}

fn checked_region(region: &str, path: &str) -> Result<String, Invalid> {
    let parts: Vec<&str> = region.split('-').collect();
    let well_formed = parts.len() >= 3
        && parts[0].len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
    if well_formed {
        Ok(region.to_string())
    } else {
        Err(Invalid::new(
            path,
            format!("{region:?} is not an AWS Region name (like us-east-1)"),
        ))
    }
}

fn checked_profile(profile: &str, path: &str) -> Result<String, Invalid> {
    let ok = !profile.is_empty()
        && profile.len() <= 64
        && profile
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.+@=,/".contains(&b));
    if ok {
        Ok(profile.to_string())
    } else {
        Err(Invalid::new(
            path,
            format!("{profile:?} is not a valid AWS profile name"),
        ))
    }
}

fn checked_url(url: &str, path: &str) -> Result<String, Invalid> {
    if (url.starts_with("http://") || url.starts_with("https://")) && url.len() > "https://".len() {
        Ok(url.trim_end_matches('/').to_string())
    } else {
        Err(Invalid::new(
            path,
            format!("{url:?} is not an http:// or https:// URL"),
        ))
    }
}

fn checked_key(key: &str, path: &str) -> Result<Secret, Invalid> {
    if key.trim().len() < 8 {
        return Err(Invalid::new(path, "keys must be at least 8 characters"));
    }
    Ok(Secret::new(key))
}

fn seconds(value: f64, path: &str) -> Result<Duration, Invalid> {
    if value.is_finite() && (0.0..=86_400.0).contains(&value) {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(Invalid::new(
            path,
            format!("expected seconds between 0 and 86400, found {value}"),
        ))
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

    #[test]
    fn checks_regions_and_profiles() {
        assert!(checked_region("us-east-1", "p").is_ok());
        assert!(checked_region("us-gov-west-1", "p").is_ok());
        assert!(checked_region("US-East-1", "p").is_err());
        assert!(checked_region("useast1", "p").is_err());
        assert!(checked_profile("genai", "p").is_ok());
        assert!(checked_profile("my profile", "p").is_err());
    }

    #[test]
    fn finds_fallback_cycles() {
        let table = vec![
            ("a".to_string(), vec!["b".to_string()]),
            ("b".to_string(), vec!["c".to_string()]),
            ("c".to_string(), vec!["a".to_string()]),
        ];
        let err = check_no_cycle(&table, "router_settings.fallbacks").unwrap_err();
        assert_eq!(err.path, "router_settings.fallbacks.a");
        assert!(err.message.contains("a → b → c → a"), "{}", err.message);
        let acyclic = vec![
            ("a".to_string(), vec!["b".to_string(), "c".to_string()]),
            ("b".to_string(), vec!["c".to_string()]),
        ];
        assert!(check_no_cycle(&acyclic, "f").is_ok());
    }
}
