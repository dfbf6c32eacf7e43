//! The Lua side of the Redis store: the scripts (one per atomic operation, each prepended with
//! `prelude.lua`), the key layout under one hash tag per deployment or consumer, and the decoding
//! of each script's reply into the same types the in-memory store returns.
//!
//! Only what must be atomic runs in Lua (the gate, the limit check and the reservation; the
//! cooldown transitions). The waits an admission reports (a refusal's `retry_after`, a grant's
//! `reset_*`) are computed in the script next to the log they read, by `rpm_wait` and `tpm_wait`,
//! which mirror [`UsageWindow`](crate::router::limits::UsageWindow)'s, so a refusal costs one
//! short reply however full the window; the shared suite (`tests/redis/suite.rs`) holds both
//! stores to the same answers. Cooldown states are read back into [`Cooldown`] for `gate` and
//! `view`, so that logic is the memory store's own.

use std::collections::VecDeque;
use std::sync::LazyLock;
use std::time::Duration;

use redis::{Script, Value};

use crate::router::clock::Timestamp;
use crate::router::cooldown::Cooldown;
use crate::router::limits::{Exceeded, LimitKind, Limits, PARALLEL_RETRY_AFTER, Remaining};
use crate::router::store::DeploymentRefusal;

const PRELUDE: &str = include_str!("prelude.lua");

fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}\n{body}"))
}

/// Gate, limits and reservation.
pub(super) static ADMIT: LazyLock<Script> = LazyLock::new(|| script(include_str!("admit.lua")));
/// Settle or release, in flight, cooldown transition.
pub(super) static FINISH: LazyLock<Script> = LazyLock::new(|| script(include_str!("finish.lua")));
/// Usage and health, read (after pruning the window).
pub(super) static VIEW: LazyLock<Script> = LazyLock::new(|| script(include_str!("view.lua")));
/// A budget reservation: refused past the limit, else added; the key kept `ARGV[3]` ms.
pub(super) static BUDGET_RESERVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
if spent >= tonumber(ARGV[1]) or spent + tonumber(ARGV[2]) > tonumber(ARGV[1]) then return {0, spent} end
spent = redis.call('INCRBY', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, spent}",
    )
});
/// A budget settlement: the difference added (never below zero), the key kept `ARGV[2]` ms.
pub(super) static BUDGET_SETTLE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local spent = redis.call('INCRBY', KEYS[1], ARGV[1])
if spent < 0 then redis.call('SET', KEYS[1], 0) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1",
    )
});
/// An explicit cooldown.
pub(super) static COOL: LazyLock<Script> = LazyLock::new(|| script(include_str!("cool.lua")));

/// The keys of one deployment or consumer, all under the hash tag `{prefix:kind:name}`.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    pub log: String,
    pub quota: String,
    pub health: String,
    pub fails: String,
    /// The tokens-per-day buckets and their minutes.
    pub day: String,
    pub days: String,
}

impl Keys {
    /// `kind` is `deployment` or `consumer`.
    pub fn new(prefix: &str, kind: &str, name: &str) -> Keys {
        let tag = format!("{{{prefix}:{kind}:{name}}}");
        Keys {
            log: format!("{tag}:log"),
            quota: format!("{tag}:quota"),
            health: format!("{tag}:health"),
            fails: format!("{tag}:fails"),
            day: format!("{tag}:day"),
            days: format!("{tag}:days"),
        }
    }
}

/// A reply that does not have the shape its script promises.
#[derive(Debug, thiserror::Error)]
#[error("unexpected reply from a Redis script: {0}")]
pub struct BadReply(pub String);

/// A limit as a script argument: `-1` is unlimited.
pub(super) fn limit_arg<T: Into<u64>>(limit: Option<T>) -> i64 {
    limit.map_or(-1, |l| i64::try_from(l.into()).unwrap_or(i64::MAX))
}

/// Reads an integer from an integer or a (possibly floating-point) string reply.
fn number(value: Option<&Value>) -> Result<u64, BadReply> {
    match value {
        Some(Value::Int(n)) => Ok(u64::try_from(*n).unwrap_or(0)),
        Some(Value::BulkString(bytes)) => {
            let text = String::from_utf8_lossy(bytes);
            text.parse::<u64>()
                .or_else(|_| text.parse::<f64>().map(|f| f.max(0.0) as u64))
                .map_err(|_| BadReply(format!("not a number: {text}")))
        }
        Some(Value::SimpleString(text)) => text
            .parse::<u64>()
            .map_err(|_| BadReply(format!("not a number: {text}"))),
        other => Err(BadReply(format!("expected a number, got {other:?}"))),
    }
}

fn text(value: Option<&Value>) -> Result<String, BadReply> {
    match value {
        Some(Value::BulkString(bytes)) => Ok(String::from_utf8_lossy(bytes).into_owned()),
        Some(Value::SimpleString(text)) => Ok(text.clone()),
        other => Err(BadReply(format!("expected a string, got {other:?}"))),
    }
}

fn array(value: Value) -> Result<Vec<Value>, BadReply> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(BadReply(format!("expected an array, got {other:?}"))),
    }
}

/// The decoded answer of `admit.lua`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admission {
    Granted { probe: bool, remaining: Remaining },
    Refused(DeploymentRefusal),
}

/// Decodes `admit.lua`'s reply for a request under `limits`.
pub(super) fn admission(reply: Value, limits: &Limits) -> Result<Admission, BadReply> {
    let items = array(reply)?;
    let now = Timestamp(number(items.get(1))?);
    match text(items.first())?.as_str() {
        "ok" => {
            let (requests, used) = (number(items.get(3))?, number(items.get(4))?);
            let (reset_requests, reset_tokens) = (number(items.get(5))?, number(items.get(6))?);
            Ok(Admission::Granted {
                probe: number(items.get(2))? == 1,
                remaining: Remaining {
                    requests: limits.rpm.map(|l| u64::from(l).saturating_sub(requests)),
                    tokens: limits.tpm.map(|l| l.saturating_sub(used)),
                    reset_requests: limits.rpm.map(|_| Duration::from_micros(reset_requests)),
                    reset_tokens: limits.tpm.map(|_| Duration::from_micros(reset_tokens)),
                },
            })
        }
        "cooling" => {
            let until = Timestamp(number(items.get(2))?);
            Ok(Admission::Refused(DeploymentRefusal::CoolingDown {
                retry_after: now.until(until),
            }))
        }
        "probe_in_flight" => Ok(Admission::Refused(DeploymentRefusal::ProbeInFlight)),
        "parallel" => Ok(Admission::Refused(DeploymentRefusal::OverLimit(Exceeded {
            kind: LimitKind::Parallel,
            limit: limits.parallel.map_or(0, u64::from),
            retry_after: PARALLEL_RETRY_AFTER,
        }))),
        "over" => {
            // The limit comes from the caller's own figures, as for `parallel`, not from the
            // script, which sees an unlimited value clamped to `i64::MAX`.
            let (kind, limit) = match text(items.get(2))?.as_str() {
                "rpm" => (LimitKind::Rpm, limits.rpm.map_or(0, u64::from)),
                "tpm" => (LimitKind::Tpm, limits.tpm.unwrap_or(0)),
                "tpd" => (LimitKind::Tpd, limits.tpd.unwrap_or(0)),
                other => return Err(BadReply(format!("unknown refusing limit {other}"))),
            };
            Ok(Admission::Refused(DeploymentRefusal::OverLimit(Exceeded {
                kind,
                limit,
                retry_after: Duration::from_micros(number(items.get(3))?),
            })))
        }
        other => Err(BadReply(format!("unknown admission status {other}"))),
    }
}

/// The decoded answer of `view.lua`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct View {
    pub now: Timestamp,
    pub requests: u64,
    pub tokens: u64,
    pub in_flight: u32,
    pub cooldown: Cooldown,
    /// Tokens in the last 24 hours.
    pub day_tokens: u64,
}

/// Decodes `view.lua`'s reply.
pub(super) fn view(reply: Value) -> Result<View, BadReply> {
    let items = array(reply)?;
    let cooldown = match text(items.get(4))?.as_str() {
        "c" => Cooldown::CoolingDown {
            until: Timestamp(number(items.get(5))?),
        },
        "o" => Cooldown::HalfOpen {
            probe_in_flight: text(items.get(6))? == "1",
        },
        _ => Cooldown::Healthy {
            failures: items
                .get(8..)
                .unwrap_or_default()
                .iter()
                .map(|v| number(Some(v)).map(Timestamp))
                .collect::<Result<VecDeque<_>, _>>()?,
        },
    };
    Ok(View {
        now: Timestamp(number(items.first())?),
        requests: number(items.get(1))?,
        tokens: number(items.get(2))?,
        in_flight: u32::try_from(number(items.get(3))?).unwrap_or(u32::MAX),
        cooldown,
        day_tokens: number(items.get(7))?,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn keys_share_one_hash_tag() {
        let keys = Keys::new("fleet", "deployment", "a");
        for key in [&keys.log, &keys.quota, &keys.health, &keys.fails] {
            assert!(key.starts_with("{fleet:deployment:a}:"), "{key}");
        }
    }

    #[test]
    fn a_refusal_names_its_limit_with_the_wait_the_script_computed() {
        let limits = Limits {
            rpm: Some(2),
            tpm: Some(1000),
            parallel: None,
            tpd: None,
        };
        let over = |limit: &str| {
            admission(
                Value::Array(vec![
                    bulk("over"),
                    Value::Int(70_000_000),
                    bulk(limit),
                    Value::Int(10_000_000),
                ]),
                &limits,
            )
        };
        for (name, kind, limit) in [("rpm", LimitKind::Rpm, 2), ("tpm", LimitKind::Tpm, 1000)] {
            assert_eq!(
                over(name).unwrap(),
                Admission::Refused(DeploymentRefusal::OverLimit(Exceeded {
                    kind,
                    limit,
                    retry_after: Duration::from_secs(10),
                }))
            );
        }
        assert!(over("parallel").is_err(), "parallel has its own reply");
    }

    #[test]
    fn a_view_reads_back_into_the_cooldown_machine() {
        let reply = Value::Array(vec![
            Value::Int(5),
            Value::Int(1),
            Value::Int(10),
            Value::Int(1),
            bulk("h"),
            bulk("0"),
            bulk("0"),
            Value::Int(42),
            bulk("3"),
        ]);
        let v = view(reply).unwrap();
        assert_eq!(v.day_tokens, 42);
        assert_eq!(
            v.cooldown,
            Cooldown::Healthy {
                failures: VecDeque::from([Timestamp(3)])
            }
        );
        assert_eq!((v.requests, v.tokens, v.in_flight), (1, 10, 1));
    }
}
