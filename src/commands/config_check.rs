//! `config check`: the resolved routing table of a valid config, as tables or JSON.

use serde_json::{Value, json};

use crate::config::{Config, Deployment, StateStoreSettings};
use crate::render::{Output, Table, Tone};

/// Prints the routing table of `config` (the config is already validated).
pub fn run(config: &Config, output: Output) {
    if output.is_json() {
        output.json(&to_json(config));
        return;
    }
    output.line(&output.paint(
        &format!("✔ {} is valid", config.source.display()),
        Tone::Good,
    ));
    output.line("");
    output.table(&deployments_table(config));
    output.table(&quota_table(config));
    output.line("");
    output.table(&fallbacks_table(config));
    let shared = config.shared_model_ids();
    if !shared.is_empty() {
        output.line("");
        output.table(&shared_ids_table(&shared));
    }
    if !config.gateway.consumers.is_empty() {
        output.line("");
        output.table(&consumers_table(config));
    }
    output.line("");
    output.table(&settings_table(config));
}

/// Model ids several groups hold: which group a Bedrock client naming the id reaches.
fn shared_ids_table(shared: &[(String, Vec<String>)]) -> Table {
    let mut table = Table::new(["Model id", "Bedrock routes reach", "Also in"])
        .titled("Model ids held by several groups (Bedrock's routes take the first)");
    for (model, groups) in shared {
        table.row([model.clone(), groups[0].clone(), groups[1..].join(", ")]);
    }
    table
}

fn or_dash<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn deployments_table(config: &Config) -> Table {
    let mut table = Table::new([
        "Group",
        "Deployment",
        "Provider",
        "Model",
        "Profile",
        "Region",
        "RPM",
        "TPM",
        "Weight",
    ])
    .titled("Model groups and deployments");
    for group in &config.groups {
        for d in &group.deployments {
            table.row([
                group.name.clone(),
                d.id.clone(),
                d.provider.to_string(),
                d.model.clone(),
                profile_of(config, d),
                region_of(config, d),
                or_dash(d.rpm),
                or_dash(d.tpm),
                or_dash(d.weight),
            ]);
        }
    }
    table
}

/// How each deployment's calls count against its TPM and what their tokens cost.
fn quota_table(config: &Config) -> Table {
    let mut table = Table::new([
        "Deployment",
        "Burndown",
        "Max output",
        "No max_tokens reserves",
        "Cache reads count",
        "USD/M tokens in / out / write / read",
    ])
    .titled(format!(
        "Quota units and prices (price table {})",
        crate::pricing::TABLE_VERSION
    ));
    for d in config.deployments() {
        let q = &d.quota;
        let price = match d.price {
            Some(p) => [p.input, p.output, p.cache_write, p.cache_read]
                .map(usd)
                .join(" / "),
            None => "no price (set model_info.input_cost_per_token, …)".into(),
        };
        table.row([
            d.id.clone(),
            format!("{}×", q.output_burndown),
            or_dash(q.max_output_tokens),
            format!("{}", q.reservation(0, None)),
            if q.cache_read_counts { "yes" } else { "no" }.into(),
            price,
        ]);
    }
    table
}

/// A price to four decimals, without trailing zeros.
fn usd(value: f64) -> String {
    let text = format!("{value:.4}");
    let text = text.trim_end_matches('0');
    text.strip_suffix('.').unwrap_or(text).to_owned()
}

fn profile_of(config: &Config, d: &Deployment) -> String {
    match d.provider {
        crate::config::ProviderKind::Bedrock => d
            .profile
            .clone()
            .or_else(|| config.aws.primary_profile().map(str::to_string))
            .unwrap_or_else(|| "(default chain)".into()),
        crate::config::ProviderKind::OpenAi => d.api_base.clone().unwrap_or_default(),
    }
}

fn region_of(config: &Config, d: &Deployment) -> String {
    match d.provider {
        crate::config::ProviderKind::Bedrock => d
            .region
            .clone()
            .unwrap_or_else(|| config.aws.region.clone()),
        crate::config::ProviderKind::OpenAi => "-".into(),
    }
}

fn fallbacks_table(config: &Config) -> Table {
    let mut table = Table::new([
        "Group",
        "Falls back to (in order)",
        "On context-window errors",
    ])
    .titled("Fallback chains");
    for group in &config.groups {
        let mut chain: Vec<String> = config.router.fallbacks_for(&group.name).to_vec();
        for d in &config.router.default_fallbacks {
            if !chain.contains(d) && *d != group.name {
                chain.push(d.clone());
            }
        }
        let context = config.router.context_window_fallbacks_for(&group.name);
        table.row([
            group.name.clone(),
            if chain.is_empty() {
                "-".into()
            } else {
                chain.join(" → ")
            },
            if context.is_empty() {
                "-".into()
            } else {
                context.join(" → ")
            },
        ]);
    }
    table
}

fn consumers_table(config: &Config) -> Table {
    let mut table =
        Table::new(["Consumer", "Tier", "RPM", "TPM", "Parallel", "Models"]).titled("Consumers");
    for c in &config.gateway.consumers {
        table.row([
            c.name.clone(),
            c.tier.clone().unwrap_or_else(|| "-".into()),
            or_dash(c.rpm_limit),
            or_dash(c.tpm_limit),
            or_dash(c.max_parallel_requests),
            if c.models.is_empty() {
                "all".into()
            } else {
                c.models.join(", ")
            },
        ]);
    }
    table
}

fn settings_table(config: &Config) -> Table {
    let r = &config.router;
    let mut table = Table::new(["Setting", "Value"]).titled("Routing");
    let rows = [
        ("routing strategy", r.strategy.as_str().to_string()),
        ("pre-call checks", r.pre_call_checks.to_string()),
        ("retries", r.num_retries.to_string()),
        (
            "cooldown",
            format!(
                "{}s after a 429 or {} failures",
                r.cooldown_time.as_secs_f64(),
                r.allowed_fails + 1
            ),
        ),
        ("request timeout", format!("{}s", r.timeout.as_secs_f64())),
        ("state store", state_label(&r.state)),
        (
            "listen",
            format!("{}:{}", config.gateway.host, config.gateway.port),
        ),
        ("auth", auth_label(config)),
    ];
    for (k, v) in rows {
        table.row([k.to_string(), v]);
    }
    table
}

fn state_label(state: &StateStoreSettings) -> String {
    match state {
        StateStoreSettings::Memory => "memory (this process)".into(),
        StateStoreSettings::Redis(r) => format!(
            "redis (prefix {:?}, timeout {} ms)",
            r.key_prefix,
            r.timeout.as_millis()
        ),
    }
}

fn auth_label(config: &Config) -> String {
    let g = &config.gateway;
    match (g.master_key.is_some(), g.consumers.len()) {
        (false, 0) => "open (no master_key, no consumers)".into(),
        (true, n) => format!("master key + {n} consumer key(s)"),
        (false, n) => format!("{n} consumer key(s)"),
    }
}

/// One deployment's figures: where it goes, its limits, its quota units and its price.
fn deployment_json(d: &Deployment) -> Value {
    json!({
        "id": d.id,
        "key": d.key,
        "provider": d.provider.as_str(),
        "model": d.model,
        "profile": d.profile,
        "region": d.region,
        "api_base": d.api_base,
        "rpm": d.rpm,
        "tpm": d.tpm,
        "weight": d.weight,
        "timeout_s": d.timeout.map(|t| t.as_secs_f64()),
        "quota": {
            "output_burndown": d.quota.output_burndown,
            "max_output_tokens": d.quota.max_output_tokens,
            "reserved_output_without_max_tokens": d.quota.reserved_output(None),
            "cache_read_counts": d.quota.cache_read_counts,
        },
        "price_usd_per_million": d.price.map(|p| json!({
            "input": p.input,
            "output": p.output,
            "cache_write": p.cache_write,
            "cache_read": p.cache_read,
        })),
    })
}

/// The same figures as the tables, as one JSON document (keys are never printed).
pub fn to_json(config: &Config) -> Value {
    let groups: Vec<Value> = config
        .groups
        .iter()
        .map(|g| {
            json!({
                "name": g.name,
                "deployments": g.deployments.iter().map(|d| deployment_json(d)).collect::<Vec<_>>(),
                "fallbacks": config.router.fallbacks_for(&g.name),
                "context_window_fallbacks": config.router.context_window_fallbacks_for(&g.name),
            })
        })
        .collect();
    let r = &config.router;
    let shared: Vec<Value> = config
        .shared_model_ids()
        .into_iter()
        .map(|(model, groups)| json!({"model": model, "resolves_to": groups[0], "groups": groups}))
        .collect();
    json!({
        "valid": true,
        "shared_model_ids": shared,
        "source": config.source.display().to_string(),
        "ignored_litellm_keys": config.ignored_keys,
        "warnings": config.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "aws": {
            "profiles": config.aws.profiles,
            "region": config.aws.region,
            "log_group": config.aws.log_group,
            "endpoint_url": config.aws.endpoint_url,
        },
        "cris": {"model_id": config.cris.model_id},
        "gateway": {
            "host": config.gateway.host,
            "port": config.gateway.port,
            "master_key_set": config.gateway.master_key.is_some(),
            "drop_params": config.gateway.drop_params,
            "max_body_bytes": config.gateway.max_body_bytes,
            "header_timeout_s": config.gateway.header_timeout.as_secs_f64(),
            "body_timeout_s": config.gateway.body_timeout.as_secs_f64(),
            "max_connections": config.gateway.max_connections,
            "max_buffered_body_bytes": config.gateway.max_buffered_body_bytes,
        },
        "groups": groups,
        "consumers": config.gateway.consumers.iter().map(|c| json!({
            "name": c.name,
            "tier": c.tier,
            "rpm_limit": c.rpm_limit,
            "tpm_limit": c.tpm_limit,
            "max_parallel_requests": c.max_parallel_requests,
            "models": c.models,
        })).collect::<Vec<_>>(),
        "router": {
            "routing_strategy": r.strategy.as_str(),
            "enable_pre_call_checks": r.pre_call_checks,
            "num_retries": r.num_retries,
            "retry_after_s": r.retry_after.as_secs_f64(),
            "allowed_fails": r.allowed_fails,
            "cooldown_time_s": r.cooldown_time.as_secs_f64(),
            "timeout_s": r.timeout.as_secs_f64(),
            "default_fallbacks": r.default_fallbacks,
            "state_store": r.state.kind(),
        },
    })
}
