//! Validation of the raw `sandbox` section: each check names the key path it rejects.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::Duration;

use super::defaults::{DEFAULT_LOG_GROUP, DEFAULT_QUOTA};
use super::{
    FaultKind, FaultPhase, FaultRule, Geography, Quota, RawAccount, RawFault, RawQuota, RawReply,
    RegionTable, ReplyRule, SandboxAccount, SandboxConfigError, ScriptedAnswer,
};

pub(super) fn fail(path: impl fmt::Display, message: impl Into<String>) -> SandboxConfigError {
    SandboxConfigError {
        path: path.to_string(),
        message: message.into(),
    }
}

pub(super) fn check_rate(path: String, rate: f64) -> Result<f64, SandboxConfigError> {
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(fail(path, format!("rate {rate} must be between 0 and 1")))
    }
}

/// Most milliseconds a Logs Insights query may take: the service times a query out after 60
/// minutes.
const MAX_QUERY_LATENCY_MS: u64 = 3_600_000;

pub(super) fn validate_query_latency(ms: u64) -> Result<Duration, SandboxConfigError> {
    if ms <= MAX_QUERY_LATENCY_MS {
        Ok(Duration::from_millis(ms))
    } else {
        Err(fail(
            "query_latency_ms",
            format!(
                "{ms} ms is longer than CloudWatch Logs lets a query run (60 minutes = {MAX_QUERY_LATENCY_MS} ms)"
            ),
        ))
    }
}

pub(super) fn validate_accounts(
    raw: Vec<RawAccount>,
) -> Result<Vec<SandboxAccount>, SandboxConfigError> {
    if raw.is_empty() {
        return Err(fail("accounts", "at least one account is required"));
    }
    let mut seen = HashSet::new();
    raw.into_iter()
        .enumerate()
        .map(|(i, a)| validate_account(i, a, &mut seen))
        .collect()
}

fn validate_account(
    i: usize,
    raw: RawAccount,
    seen: &mut HashSet<String>,
) -> Result<SandboxAccount, SandboxConfigError> {
    let at = |key: &str| format!("accounts[{i}].{key}");
    if raw.profile.is_empty() {
        return Err(fail(at("profile"), "must not be empty"));
    }
    if raw.account_id.len() != 12 || !raw.account_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(fail(
            at("account_id"),
            format!("`{}` is not a 12-digit account id", raw.account_id),
        ));
    }
    if raw.access_key_id.is_empty() || raw.secret_access_key.is_empty() {
        return Err(fail(
            at("access_key_id"),
            "access key id and secret must not be empty",
        ));
    }
    let unique = [
        ("profile", format!("profile:{}", raw.profile)),
        ("access_key_id", format!("key:{}", raw.access_key_id)),
        ("account_id", format!("account:{}", raw.account_id)),
    ];
    for (key, tag) in unique {
        if !seen.insert(tag) {
            return Err(fail(at(key), "is used by another account"));
        }
    }
    if let Some(key) = &raw.openai_api_key
        && !seen.insert(format!("openai:{key}"))
    {
        return Err(fail(at("openai_api_key"), "is used by another account"));
    }
    let inherited = raw.quotas.get("default").copied().unwrap_or_default();
    let default_quota = resolve_quota(at("quotas.default"), inherited, DEFAULT_QUOTA)?;
    let mut model_quotas = BTreeMap::new();
    for (model, quota) in raw.quotas.iter().filter(|(m, _)| m.as_str() != "default") {
        model_quotas.insert(
            model.clone(),
            resolve_quota(at(&format!("quotas.{model}")), *quota, default_quota)?,
        );
    }
    Ok(SandboxAccount {
        profile: raw.profile,
        account_id: raw.account_id,
        access_key_id: raw.access_key_id,
        secret_access_key: raw.secret_access_key,
        log_group: raw.log_group.unwrap_or_else(|| DEFAULT_LOG_GROUP.into()),
        openai_api_key: raw.openai_api_key,
        default_quota,
        model_quotas,
    })
}

fn resolve_quota(path: String, raw: RawQuota, inherit: Quota) -> Result<Quota, SandboxConfigError> {
    let tpm = raw.tpm.unwrap_or(inherit.tpm);
    // A quota that sets its own TPM gets AWS's default day: TPM × 1,440.
    let tpd = match (raw.tpd, raw.tpm) {
        (Some(tpd), _) => tpd,
        (None, Some(tpm)) => tpm.saturating_mul(1_440),
        (None, None) => inherit.tpd,
    };
    let quota = Quota {
        rpm: raw.rpm.unwrap_or(inherit.rpm),
        tpm,
        tpd,
    };
    if quota.rpm == 0 || quota.tpm == 0 || quota.tpd == 0 {
        return Err(fail(path, "rpm, tpm and tpd must be greater than 0"));
    }
    Ok(quota)
}

pub(super) fn validate_regions(
    raw: BTreeMap<Geography, RegionTable>,
) -> Result<BTreeMap<Geography, RegionTable>, SandboxConfigError> {
    for (geo, sources) in &raw {
        for (source, destinations) in sources {
            let at = format!("regions.{}.{source}", geo.prefix());
            if destinations.is_empty() {
                return Err(fail(at, "needs at least one destination Region"));
            }
            if let Some((region, _)) = destinations.iter().find(|(_, c)| **c == 0) {
                return Err(fail(
                    format!("{at}.{region}"),
                    "capacity must be greater than 0",
                ));
            }
        }
    }
    Ok(raw)
}

pub(super) fn validate_faults(raw: Vec<RawFault>) -> Result<Vec<FaultRule>, SandboxConfigError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, f)| {
            let Some(error) = FaultKind::parse(&f.error) else {
                let known: Vec<&str> = FaultKind::ALL.iter().map(|k| k.exception_name()).collect();
                return Err(fail(
                    format!("faults[{i}].error"),
                    format!(
                        "unknown exception `{}`; expected one of {}",
                        f.error,
                        known.join(", ")
                    ),
                ));
            };
            if f.phase == FaultPhase::MidStream && !error.streamable() {
                return Err(fail(
                    format!("faults[{i}].phase"),
                    format!("{} cannot occur mid-stream", f.error),
                ));
            }
            let error = match (error, f.delay_ms) {
                (FaultKind::SlowFirstByte(_), Some(ms)) => {
                    FaultKind::SlowFirstByte(std::time::Duration::from_millis(ms))
                }
                (_, None) => error,
                (_, Some(_)) => {
                    return Err(fail(
                        format!("faults[{i}].delay_ms"),
                        format!("delay_ms applies only to SlowFirstByte, not {}", f.error),
                    ));
                }
            };
            let rate = check_rate(format!("faults[{i}].rate"), f.rate)?;
            Ok(FaultRule {
                error,
                rate,
                model: f.model,
                region: f.region,
                profile: f.profile,
                phase: f.phase,
            })
        })
        .collect()
}

/// `replies`: each `when` a valid regex, each entry exactly one of `text` or `tool`.
pub(super) fn validate_replies(raw: Vec<RawReply>) -> Result<Vec<ReplyRule>, SandboxConfigError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, reply)| {
            let when = regex::Regex::new(&reply.when).map_err(|e| {
                fail(
                    format!("replies[{i}].when"),
                    format!("not a valid regex: {e}"),
                )
            })?;
            let answer = match (reply.text, reply.tool) {
                (Some(text), None) => ScriptedAnswer::Text(text),
                (None, Some(tool)) if tool.name.is_empty() => {
                    return Err(fail(format!("replies[{i}].tool.name"), "must not be empty"));
                }
                (None, Some(tool)) => ScriptedAnswer::Tool {
                    name: tool.name,
                    input: match tool.input {
                        serde_json::Value::Null => serde_json::json!({}),
                        input @ serde_json::Value::Object(_) => input,
                        _ => {
                            return Err(fail(
                                format!("replies[{i}].tool.input"),
                                "must be a mapping (the tool's input object)",
                            ));
                        }
                    },
                },
                _ => {
                    return Err(fail(
                        format!("replies[{i}]"),
                        "give exactly one of `text` or `tool`",
                    ));
                }
            };
            Ok(ReplyRule { when, answer })
        })
        .collect()
}
