//! `router_settings`: the strategy, retries and cooldowns, fallback chains (checked to name
//! existing groups and never to loop) and the state store.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_yaml::Value;

use super::checks::{checked_port, seconds};
use crate::config::error::Invalid;
use crate::config::model::*;
use crate::config::raw::*;
use crate::config::yaml::key_text;

pub(super) fn router(raw: &RawConfig, groups: &HashSet<&str>) -> Result<RouterSettings, Invalid> {
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
    let aliases = aliases(r.model_group_alias.as_ref(), groups)?;
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
        aliases,
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

/// `model_group_alias`: each alias names an existing group, and is not itself a group's name
/// (the group would always win).
fn aliases(raw: Option<&Value>, groups: &HashSet<&str>) -> Result<Vec<GroupAlias>, Invalid> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    let Value::Mapping(map) = raw else {
        return Err(Invalid::new(
            "router_settings.model_group_alias",
            "must be a mapping of alias to model group (`{claude-sonnet-4-6: claude}`)",
        ));
    };
    let mut aliases = Vec::new();
    for (key, value) in map {
        let alias = key_text(key);
        let path = format!("router_settings.model_group_alias.{alias}");
        let (group, hidden) = match value {
            Value::String(group) => (group.clone(), false),
            Value::Mapping(entry) => {
                let field = |name: &str| entry.get(Value::String(name.into()));
                let group = field("model").and_then(Value::as_str).ok_or_else(|| {
                    Invalid::new(
                        format!("{path}.model"),
                        "names the model group the alias stands for",
                    )
                })?;
                let hidden = field("hidden").and_then(Value::as_bool).unwrap_or(false);
                (group.to_owned(), hidden)
            }
            _ => {
                return Err(Invalid::new(
                    path,
                    "must be a model group name or {model: <group>, hidden: true}",
                ));
            }
        };
        if groups.contains(alias.as_str()) {
            return Err(Invalid::new(
                path,
                format!(
                    "{alias:?} is a model group's own name: the group would always win over the alias"
                ),
            ));
        }
        if !groups.contains(group.as_str()) {
            return Err(unknown_group(path, &group, groups));
        }
        aliases.push(GroupAlias {
            alias,
            group,
            hidden,
        });
    }
    Ok(aliases)
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

pub(super) fn unknown_group(path: String, name: &str, groups: &HashSet<&str>) -> Invalid {
    let mut known: Vec<&str> = groups.iter().copied().collect();
    known.sort_unstable();
    let hint = crate::config::litellm::did_you_mean(name, &known)
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

#[cfg(test)]
mod tests {
    use super::*;

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
