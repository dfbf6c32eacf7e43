//! The `gateway` section (with LiteLLM's `general_settings` and `litellm_settings`): listen
//! address, master key, consumers and their quotas, body size.

use std::collections::HashSet;
use std::time::Duration;

use super::checks::{checked_key, checked_port};
use super::router::unknown_group;
use crate::config::error::Invalid;
use crate::config::model::*;
use crate::config::raw::*;
use crate::config::yaml::key_text;
use crate::config::{Budget, BudgetPeriod};

const DEFAULT_PORT: u16 = 4000;
const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Time a client has to send a whole request head unless `gateway.header_timeout` says otherwise.
const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a client has to send a whole request body unless `gateway.body_timeout` says otherwise:
/// a 10 MiB body at 350 KB/s.
const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Memory for request bodies in flight unless `gateway.max_buffered_body_mb` says otherwise
/// (raised to what one largest request costs when that is larger, so it always fits).
const DEFAULT_MAX_BUFFERED_BODY_BYTES: usize = 256 * 1024 * 1024;

pub(super) fn gateway(raw: &RawConfig, groups: &HashSet<&str>) -> Result<GatewaySettings, Invalid> {
    let g = &raw.gateway;
    let port = match &g.port {
        Some(p) => checked_port(p, "gateway.port")?,
        None => DEFAULT_PORT,
    };
    let master_key = master_key(raw)?;
    let aliases: Vec<String> = match &raw.router_settings.model_group_alias {
        Some(serde_yaml::Value::Mapping(map)) => map.keys().map(key_text).collect(),
        _ => Vec::new(),
    };
    let consumers = consumers(g, master_key.as_ref(), groups, &aliases)?;
    let max_body_bytes = max_body_bytes(raw)?;
    Ok(GatewaySettings {
        host: g.host.clone().unwrap_or_else(|| "127.0.0.1".into()),
        port,
        master_key,
        consumers,
        drop_params: g
            .drop_params
            .or(raw.litellm_settings.drop_params)
            .unwrap_or(false),
        metrics_need_auth: raw
            .litellm_settings
            .require_auth_for_metrics_endpoint
            .unwrap_or(false),
        max_body_bytes,
        header_timeout: seconds(
            g.header_timeout,
            "gateway.header_timeout",
            DEFAULT_HEADER_TIMEOUT,
        )?,
        body_timeout: seconds(g.body_timeout, "gateway.body_timeout", DEFAULT_BODY_TIMEOUT)?,
        max_connections: max_connections(g)?,
        max_buffered_body_bytes: max_buffered_body_bytes(g, max_body_bytes)?,
        tls: tls_files(g)?,
        budget: budget(
            raw.litellm_settings.max_budget,
            raw.litellm_settings.budget_duration.as_deref(),
            "litellm_settings",
        )?,
        telemetry: telemetry(&raw.litellm_settings)?,
    })
}

/// `json_logs`, `log_prompts` and `callbacks` of `litellm_settings`. Callbacks other than
/// `otel` (Langfuse, Datadog, …) are LiteLLM integrations this gateway does not have: they
/// are set aside with a warning, so a LiteLLM config still loads.
fn telemetry(settings: &RawLitellmSettings) -> Result<Telemetry, Invalid> {
    let callbacks: Vec<String> = match &settings.callbacks {
        None | Some(serde_yaml::Value::Null) => Vec::new(),
        Some(serde_yaml::Value::String(one)) => vec![one.clone()],
        Some(serde_yaml::Value::Sequence(list)) => list
            .iter()
            .map(|v| match v {
                serde_yaml::Value::String(name) => Ok(name.clone()),
                other => Err(Invalid::new(
                    "litellm_settings.callbacks",
                    format!("each callback is a name such as \"otel\", found {other:?}"),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(Invalid::new(
                "litellm_settings.callbacks",
                format!("must be a list of callback names such as [\"otel\"], found {other:?}"),
            ));
        }
    };
    let unknown: Vec<&str> = callbacks
        .iter()
        .map(String::as_str)
        .filter(|c| !matches!(*c, "otel" | "opentelemetry"))
        .collect();
    Ok(Telemetry {
        json_logs: settings.json_logs.unwrap_or(false),
        log_prompts: settings.log_prompts.unwrap_or(false),
        otel_callback: callbacks.len() > unknown.len(),
        ignored_callbacks: unknown.into_iter().map(str::to_owned).collect(),
        otlp: None,
    })
}

/// A spend limit at `path`: `max_budget` USD (more than 0) per `budget_duration`, or for ever.
fn budget(
    max_budget: Option<f64>,
    duration: Option<&str>,
    path: &str,
) -> Result<Option<Budget>, Invalid> {
    let Some(max_usd) = max_budget else {
        return match duration {
            Some(_) => Err(Invalid::new(
                format!("{path}.budget_duration"),
                "budget_duration is set without max_budget: a period needs a budget (USD)",
            )),
            None => Ok(None),
        };
    };
    if !(max_usd.is_finite() && max_usd > 0.0) {
        return Err(Invalid::new(
            format!("{path}.max_budget"),
            format!("must be more than 0 USD, found {max_usd}"),
        ));
    }
    let period = match duration {
        None => BudgetPeriod::Forever,
        Some(text) => BudgetPeriod::parse(text).ok_or_else(|| {
            Invalid::new(
                format!("{path}.budget_duration"),
                format!(
                    "{text:?} is not a duration: write a whole number and a unit, s, m, h, d, w or mo (1d, 7d, 30d, 1mo)"
                ),
            )
        })?,
    };
    Ok(Some(Budget { max_usd, period }))
}

/// `gateway.ssl_certfile_path` and `ssl_keyfile_path`: both or neither.
fn tls_files(g: &RawGateway) -> Result<Option<TlsFiles>, Invalid> {
    match (&g.ssl_certfile_path, &g.ssl_keyfile_path) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(TlsFiles {
            cert: cert.into(),
            key: key.into(),
        })),
        (Some(_), None) => Err(Invalid::new(
            "gateway.ssl_keyfile_path",
            "ssl_certfile_path is set without ssl_keyfile_path: TLS needs both (the PEM certificate chain and its private key)",
        )),
        (None, Some(_)) => Err(Invalid::new(
            "gateway.ssl_certfile_path",
            "ssl_keyfile_path is set without ssl_certfile_path: TLS needs both (the PEM certificate chain and its private key)",
        )),
    }
}

/// The master key, from `gateway` or LiteLLM's `general_settings` (not both).
fn master_key(raw: &RawConfig) -> Result<Option<Secret>, Invalid> {
    match (&raw.gateway.master_key, &raw.general_settings.master_key) {
        (Some(_), Some(_)) => Err(Invalid::new(
            "general_settings.master_key",
            "master_key is set in both gateway and general_settings: keep one",
        )),
        (Some(k), None) => Ok(Some(checked_key(k, "gateway.master_key")?)),
        (None, Some(k)) => Ok(Some(checked_key(k, "general_settings.master_key")?)),
        (None, None) => Ok(None),
    }
}

/// The consumers: unique names, keys unique among themselves and the master key, known
/// groups, limits of at least 1.
fn consumers(
    g: &RawGateway,
    master_key: Option<&Secret>,
    groups: &HashSet<&str>,
    aliases: &[String],
) -> Result<Vec<Consumer>, Invalid> {
    let mut consumers = Vec::new();
    let mut names = HashSet::new();
    let mut keys: Vec<&str> = master_key.iter().map(|k| k.expose()).collect();
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
        let consumer = consumer(c, key, &path, groups, aliases)?;
        let taken = |id: &str| {
            consumers
                .iter()
                .any(|other: &Consumer| other.sigv4.as_ref().is_some_and(|k| k.access_key_id == id))
        };
        if let Some(sigv4) = &consumer.sigv4
            && taken(&sigv4.access_key_id)
        {
            return Err(Invalid::new(
                format!("{path}.sigv4_access_key_id"),
                "this access key id is already another consumer's",
            ));
        }
        consumers.push(consumer);
    }
    Ok(consumers)
}

/// One consumer at `path`, its key already checked.
fn consumer(
    c: &RawConsumer,
    key: Secret,
    path: &str,
    groups: &HashSet<&str>,
    aliases: &[String],
) -> Result<Consumer, Invalid> {
    // A name reaches something when it is a group's, matches a wildcard group's, or is a
    // pattern some group's name matches (aliases are checked against their groups).
    let reaches = |m: &str| {
        groups
            .iter()
            .any(|g| *g == m || name_matches(g, m) || name_matches(m, g))
    };
    for (j, m) in c.models.iter().enumerate() {
        if !reaches(m) && !aliases.iter().any(|a| a == m) {
            return Err(unknown_group(format!("{path}.models[{j}]"), m, groups));
        }
    }
    for (value, key_name) in [
        (c.rpm_limit.map(u64::from), "rpm_limit"),
        (c.tpm_limit, "tpm_limit"),
        (
            c.max_parallel_requests.map(u64::from),
            "max_parallel_requests",
        ),
    ] {
        if value == Some(0) {
            return Err(Invalid::new(
                format!("{path}.{key_name}"),
                "must be at least 1 (remove it for no limit)",
            ));
        }
    }
    Ok(Consumer {
        name: c.name.clone(),
        key,
        tier: c.tier.clone(),
        rpm_limit: c.rpm_limit,
        tpm_limit: c.tpm_limit,
        max_parallel_requests: c.max_parallel_requests,
        models: c.models.clone(),
        sigv4: sigv4_key(c, path)?,
        budget: budget(c.max_budget, c.budget_duration.as_deref(), path)?,
    })
}

/// A consumer's SigV4 key pair: both or neither; an access key id as AWS writes them (16 to 128
/// letters and digits), a secret of at least 8 characters.
fn sigv4_key(c: &RawConsumer, path: &str) -> Result<Option<SigV4Key>, Invalid> {
    match (&c.sigv4_access_key_id, &c.sigv4_secret_access_key) {
        (None, None) => Ok(None),
        (Some(id), Some(secret)) => {
            let valid =
                (16..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric());
            if !valid {
                return Err(Invalid::new(
                    format!("{path}.sigv4_access_key_id"),
                    "an access key id is 16 to 128 letters and digits (like AKIAIOSFODNN7EXAMPLE)",
                ));
            }
            Ok(Some(SigV4Key {
                access_key_id: id.clone(),
                secret: checked_key(secret, &format!("{path}.sigv4_secret_access_key"))?,
            }))
        }
        (Some(_), None) => Err(Invalid::new(
            format!("{path}.sigv4_secret_access_key"),
            "sigv4_access_key_id is set without sigv4_secret_access_key: SigV4 needs both",
        )),
        (None, Some(_)) => Err(Invalid::new(
            format!("{path}.sigv4_access_key_id"),
            "sigv4_secret_access_key is set without sigv4_access_key_id: SigV4 needs both",
        )),
    }
}

/// The largest request body, from `gateway` or `general_settings` (`max_request_size_mb`).
fn max_body_bytes(raw: &RawConfig) -> Result<usize, Invalid> {
    let size_mb = match (
        raw.gateway.max_request_size_mb,
        raw.general_settings.max_request_size_mb,
    ) {
        (Some(mb), _) => Some((mb, "gateway.max_request_size_mb")),
        (None, Some(mb)) => Some((mb, "general_settings.max_request_size_mb")),
        (None, None) => None,
    };
    match size_mb {
        Some((mb, path)) if !(mb.is_finite() && mb > 0.0) => Err(Invalid::new(
            path,
            format!("must be a positive number of MiB, found {mb}"),
        )),
        Some((mb, _)) => Ok((mb * 1024.0 * 1024.0) as usize),
        None => Ok(DEFAULT_MAX_BODY_BYTES),
    }
}

/// `gateway.max_connections`: at least 1, or `None` to derive it from the open-file limit.
fn max_connections(g: &RawGateway) -> Result<Option<usize>, Invalid> {
    match g.max_connections {
        Some(0) => Err(Invalid::new(
            "gateway.max_connections",
            "must be at least 1 (remove it to derive it from the open-file limit)",
        )),
        Some(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        None => Ok(None),
    }
}

/// `gateway.max_buffered_body_mb`: never less than what one largest request costs.
fn max_buffered_body_bytes(g: &RawGateway, max_body_bytes: usize) -> Result<usize, Invalid> {
    let largest_cost = max_body_bytes.saturating_mul(MEMORY_PER_BODY_BYTE);
    match g.max_buffered_body_mb {
        Some(mb) if !(mb.is_finite() && mb > 0.0) => Err(Invalid::new(
            "gateway.max_buffered_body_mb",
            format!("must be a positive number of MiB, found {mb}"),
        )),
        Some(mb) if ((mb * 1024.0 * 1024.0) as usize) < largest_cost => Err(Invalid::new(
            "gateway.max_buffered_body_mb",
            format!(
                "{mb} MiB is less than what one largest request costs ({} MiB: {MEMORY_PER_BODY_BYTE} × the request size limit); such a request could never be read",
                largest_cost as f64 / (1024.0 * 1024.0)
            ),
        )),
        Some(mb) => Ok((mb * 1024.0 * 1024.0) as usize),
        None => Ok(DEFAULT_MAX_BUFFERED_BODY_BYTES.max(largest_cost)),
    }
}

/// A timeout in seconds at `path`: above 0 and at most an hour, else `default` when unset.
fn seconds(value: Option<f64>, path: &str, default: Duration) -> Result<Duration, Invalid> {
    match value {
        Some(s) if !(s.is_finite() && s > 0.0 && s <= 3600.0) => Err(Invalid::new(
            path,
            format!("must be a number of seconds above 0 and at most 3600, found {s}"),
        )),
        Some(s) => Ok(Duration::from_secs_f64(s)),
        None => Ok(default),
    }
}
