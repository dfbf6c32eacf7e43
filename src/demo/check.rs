//! What a gateway demo checks beyond its own counts, so that its verdict can be trusted:
//!
//! 1. [`WindowsBefore`]: the gateway's `/health` read just before the requests go out. RPM
//!    windows are 60 s long, so a demo re-run within a minute against the same gateway finds
//!    them still holding the earlier run's requests; its counts then cannot match the
//!    walkthrough, and [`WindowsBefore::stale`] says so (and how long to wait) instead of
//!    leaving a bare mismatch.
//! 2. [`SandboxCheck`]: with an in-process sandbox, its own counters (`GET /_sandbox/stats`)
//!    against what the gateway's headers claimed: calls served per account and model id. A
//!    header naming the wrong deployment cannot pass.
//!
//! [`Sent::check`] runs both over a verdict reached from the demo's own counts.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::DemoEnv;
use super::client::Call;
use crate::config::Config;

/// How long a request counts against an RPM limit.
const RPM_WINDOW: Duration = Duration::from_secs(60);

/// One limit's use of its window, as `/health` showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowUse {
    /// `deployment primary-sonnet-4-6` or `consumer A`.
    pub what: String,
    pub requests: u64,
    pub limit: Option<u64>,
}

/// The windows the demo depends on, read from the gateway's `/health` before the run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowsBefore {
    /// Only the windows that already held requests.
    pub used: Vec<WindowUse>,
    /// The gateway's state store (`memory`, `redis`), when `/health` said.
    pub state_store: Option<String>,
    /// Whether `/health` answered at all.
    pub known: bool,
}

impl WindowsBefore {
    /// Reads `health` (the `/health` document, `None` when it did not answer) for the
    /// deployments of `groups` and the consumers named `consumers`.
    pub fn read(health: Option<&Value>, groups: &[&str], consumers: &[&str]) -> Self {
        let Some(doc) = health else {
            return WindowsBefore::default();
        };
        let rows = |key: &str| doc["health"][key].as_array().cloned().unwrap_or_default();
        let window = |row: &Value, what: String| WindowUse {
            what,
            requests: row["requests_in_window"].as_u64().unwrap_or(0),
            limit: row["rpm_limit"].as_u64(),
        };
        let mut used: Vec<WindowUse> = rows("deployments")
            .iter()
            .filter(|d| groups.iter().any(|g| d["model_group"] == *g))
            .map(|d| window(d, format!("deployment {}", d["id"].as_str().unwrap_or("?"))))
            .collect();
        used.extend(
            rows("consumers")
                .iter()
                .filter(|c| consumers.iter().any(|n| c["name"] == *n))
                .map(|c| window(c, format!("consumer {}", c["name"].as_str().unwrap_or("?")))),
        );
        used.retain(|w| w.requests > 0);
        WindowsBefore {
            used,
            state_store: doc["state_store"].as_str().map(str::to_string),
            known: true,
        }
    }

    /// Why a failed verdict failed, when the windows were not empty at the start: which held
    /// what, and how long until a re-run finds them empty (a minute after this run's requests
    /// went out, `since_sent` ago). `short` names what fell short, for when `/health` did not
    /// answer and only the counts tell.
    pub fn stale(&self, since_sent: Duration, short: Option<&str>) -> Option<String> {
        let detail = if self.used.is_empty() {
            if self.known {
                return None;
            }
            format!("{} (nothing else was wrong)", short?)
        } else {
            let held: Vec<String> = self
                .used
                .iter()
                .map(|w| match w.limit {
                    Some(limit) => format!(
                        "{} had {} of {limit} requests in its window",
                        w.what, w.requests
                    ),
                    None => format!("{} had {} requests in its window", w.what, w.requests),
                })
                .collect();
            format!("before this run, {}", held.join(", "))
        };
        let wait = RPM_WINDOW
            .saturating_sub(since_sent)
            .as_secs_f64()
            .ceil()
            .max(1.0);
        let restart = match self.state_store.as_deref() {
            Some("redis") => " (its windows are in Redis, so restarting it does not clear them)",
            Some(_) | None => " or restart it",
        };
        Some(format!(
            "the gateway's windows are still full from an earlier run ({detail}): wait {wait:.0} s{restart}, then run the demo again"
        ))
    }
}

/// The sandbox's own counters against the gateway's headers: calls served per
/// `(account profile, model id)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxCheck {
    /// What the gateway's headers claim: successes by the deployment's profile and model.
    pub claimed: BTreeMap<(String, String), u64>,
    /// What the sandbox counted as served.
    pub counted: BTreeMap<(String, String), u64>,
    /// Headers that named no deployment of the config.
    pub unknown: Vec<String>,
}

impl SandboxCheck {
    /// Builds the check from the successful `calls` (their `x-resilient-llm-deployment` and
    /// `-model-group`) and the sandbox's `/_sandbox/stats` document `stats`.
    pub fn of(
        config: &Config,
        default_profile: Option<&str>,
        calls: &[&Call],
        stats: &Value,
    ) -> Self {
        let mut check = SandboxCheck::default();
        for call in calls.iter().filter(|c| c.succeeded()) {
            let deployment = config
                .groups
                .iter()
                .filter(|g| call.group.as_deref() == Some(g.name.as_str()))
                .flat_map(|g| g.deployments.iter())
                .find(|d| call.deployment.as_deref() == Some(d.id.as_str()));
            match deployment {
                Some(d) => {
                    let profile = d
                        .profile
                        .as_deref()
                        .or(default_profile)
                        .unwrap_or("default");
                    *check
                        .claimed
                        .entry((profile.to_string(), d.model.clone()))
                        .or_default() += 1;
                }
                None => check.unknown.push(format!(
                    "request #{} names deployment {:?} of group {:?}",
                    call.number,
                    call.deployment.as_deref().unwrap_or(""),
                    call.group.as_deref().unwrap_or("")
                )),
            }
        }
        for (profile, account) in stats["accounts"].as_object().into_iter().flatten() {
            for (model, counts) in account["models"].as_object().into_iter().flatten() {
                let served = counts["served"].as_u64().unwrap_or(0);
                if served > 0 {
                    check
                        .counted
                        .insert((profile.clone(), model.clone()), served);
                }
            }
        }
        check
    }

    /// Every disagreement, in words (empty when the headers and the sandbox agree).
    pub fn disagreements(&self) -> Vec<String> {
        let mut found: Vec<String> = self
            .unknown
            .iter()
            .map(|u| {
                format!("the gateway's headers are wrong: {u}, which the config does not have")
            })
            .collect();
        let keys: std::collections::BTreeSet<&(String, String)> =
            self.claimed.keys().chain(self.counted.keys()).collect();
        for key @ (profile, model) in keys {
            let claimed = self.claimed.get(key).copied().unwrap_or(0);
            let counted = self.counted.get(key).copied().unwrap_or(0);
            if claimed != counted {
                found.push(format!(
                    "the sandbox served {counted} calls to {model} for account {profile}, but the gateway's headers claim {claimed}"
                ));
            }
        }
        found
    }

    /// The check in `--json`.
    pub fn to_json(&self) -> Value {
        let rows = |m: &BTreeMap<(String, String), u64>| {
            m.iter()
                .map(|((profile, model), n)| json!({"account": profile, "model": model, "served": n}))
                .collect::<Vec<_>>()
        };
        json!({
            "agrees": self.disagreements().is_empty(),
            "claimed_by_headers": rows(&self.claimed),
            "counted_by_sandbox": rows(&self.counted),
        })
    }
}

/// With an in-process sandbox, reads its counters and checks them against `calls`; `None`
/// against real AWS. A sandbox that cannot be read is itself a disagreement.
pub async fn sandbox_check(env: &DemoEnv, calls: &[&Call]) -> Option<Result<SandboxCheck, String>> {
    let sandbox = env.sandbox.as_ref()?;
    let url = format!("{}/_sandbox/stats", sandbox.endpoint());
    let stats = async {
        let response = reqwest::get(&url).await.map_err(|e| e.to_string())?;
        let text = response.text().await.map_err(|e| e.to_string())?;
        serde_json::from_str::<Value>(&text).map_err(|e| e.to_string())
    }
    .await;
    Some(match stats {
        Ok(stats) => Ok(SandboxCheck::of(
            &env.config,
            env.clients.default_profile(),
            calls,
            &stats,
        )),
        Err(e) => Err(format!("cannot read the sandbox's counters at {url}: {e}")),
    })
}

/// Folds the sandbox check into a verdict: `passed` holds only if the check agrees; its
/// disagreements join `diagnosis`; returns the check's JSON (`null` against real AWS).
pub fn apply_sandbox_check(
    check: Option<Result<SandboxCheck, String>>,
    passed: &mut bool,
    diagnosis: &mut Vec<String>,
) -> Value {
    match check {
        None => Value::Null,
        Some(Err(e)) => {
            *passed = false;
            diagnosis.push(e.clone());
            json!({"agrees": false, "error": e})
        }
        Some(Ok(check)) => {
            let disagreements = check.disagreements();
            if !disagreements.is_empty() {
                *passed = false;
                diagnosis.extend(disagreements);
            }
            check.to_json()
        }
    }
}

/// A gateway demo's requests as they landed (`C`: a [`Call`], or one with its consumer), and
/// the gateway's windows just before they went out.
pub struct Sent<C> {
    pub calls: Vec<C>,
    pub before: WindowsBefore,
    /// When the requests went out.
    pub at: Instant,
}

/// A verdict once both checks have had their say.
#[derive(Debug, Clone)]
pub struct Checked {
    pub passed: bool,
    /// Why it failed, when the checks can tell.
    pub diagnosis: Vec<String>,
    /// The sandbox check in `--json` (`null` against real AWS).
    pub sandbox: Value,
}

impl<C> Sent<C> {
    /// Checks a verdict reached from the demo's own counts (`counts_match`): when they do not
    /// match, the windows before the run may say why (`short` names what fell short); with a
    /// sandbox, its counters must agree with the headers of the calls `served`.
    pub async fn check(
        &self,
        env: &DemoEnv,
        counts_match: bool,
        short: Option<String>,
        served: &[&Call],
    ) -> Checked {
        let mut passed = counts_match;
        let mut diagnosis = Vec::new();
        if !passed {
            diagnosis.extend(self.before.stale(self.at.elapsed(), short.as_deref()));
        }
        let sandbox = apply_sandbox_check(
            sandbox_check(env, served).await,
            &mut passed,
            &mut diagnosis,
        );
        Checked {
            passed,
            diagnosis,
            sandbox,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(number: u32, group: &str, deployment: &str) -> Call {
        Call {
            number,
            status: 200,
            deployment: Some(deployment.into()),
            group: Some(group.into()),
            model: None,
            elapsed: Duration::ZERO,
            error: None,
        }
    }

    fn config() -> Config {
        crate::config::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/config.yaml"
        )))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    const SONNET_4_6: &str = "us.anthropic.claude-sonnet-4-6";
    const HAIKU: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";

    fn stats(served: &[(&str, u64)]) -> Value {
        let models: serde_json::Map<String, Value> = served
            .iter()
            .map(|(m, n)| {
                (
                    m.to_string(),
                    json!({"served": n, "throttled": 0, "failed": 0}),
                )
            })
            .collect();
        json!({"accounts": {"genai": {"served": 0, "models": models}}})
    }

    #[test]
    fn headers_that_match_the_sandbox_pass() {
        let config = config();
        let calls = [
            call(1, "fallback-primary", "primary-sonnet-4-6"),
            call(2, "fallback-backup", "fallback-haiku-4-5"),
        ];
        let refs: Vec<&Call> = calls.iter().collect();
        let check = SandboxCheck::of(
            &config,
            Some("genai"),
            &refs,
            &stats(&[(SONNET_4_6, 1), (HAIKU, 1)]),
        );
        assert_eq!(check.disagreements(), Vec::<String>::new());
        assert_eq!(check.to_json()["agrees"], true);
    }

    #[test]
    fn a_header_naming_the_wrong_deployment_fails() {
        let config = config();
        // Both calls claim the primary, but the sandbox served one of them on the fallback.
        let calls = [
            call(1, "fallback-primary", "primary-sonnet-4-6"),
            call(2, "fallback-primary", "primary-sonnet-4-6"),
        ];
        let refs: Vec<&Call> = calls.iter().collect();
        let check = SandboxCheck::of(
            &config,
            Some("genai"),
            &refs,
            &stats(&[(SONNET_4_6, 1), (HAIKU, 1)]),
        );
        let found = check.disagreements();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found.iter().any(|f| f.contains(&format!("served 1 calls to {SONNET_4_6} for account genai, but the gateway's headers claim 2"))), "{found:?}");
        let mut passed = true;
        let mut diagnosis = Vec::new();
        apply_sandbox_check(Some(Ok(check)), &mut passed, &mut diagnosis);
        assert!(!passed && diagnosis.len() == 2);
    }

    #[test]
    fn a_header_naming_no_deployment_fails() {
        let config = config();
        let calls = [call(1, "fallback-primary", "no-such-deployment")];
        let refs: Vec<&Call> = calls.iter().collect();
        let check = SandboxCheck::of(&config, Some("genai"), &refs, &stats(&[(SONNET_4_6, 1)]));
        let found = check.disagreements();
        assert!(
            found.iter().any(|f| f.contains("\"no-such-deployment\"")),
            "{found:?}"
        );
    }

    #[test]
    fn windows_in_use_before_the_run_explain_a_mismatch() {
        let health = json!({
            "state_store": "memory",
            "health": {
                "deployments": [
                    {"id": "primary-sonnet-4-6", "model_group": "fallback-primary", "requests_in_window": 3, "rpm_limit": 3},
                    {"id": "other", "model_group": "elsewhere", "requests_in_window": 9, "rpm_limit": 10},
                ],
                "consumers": [{"name": "A", "requests_in_window": 0, "rpm_limit": 3}],
            },
        });
        let before = WindowsBefore::read(
            Some(&health),
            &["fallback-primary", "fallback-backup"],
            &["A"],
        );
        assert_eq!(before.used.len(), 1, "{before:?}");
        let why = before
            .stale(Duration::from_millis(1500), None)
            .unwrap_or_default();
        assert!(why.contains("still full from an earlier run"), "{why}");
        assert!(
            why.contains("deployment primary-sonnet-4-6 had 3 of 3 requests"),
            "{why}"
        );
        assert!(why.contains("wait 59 s or restart it"), "{why}");

        let fresh = json!({"state_store": "redis", "health": {"deployments": [], "consumers": []}});
        assert_eq!(
            WindowsBefore::read(Some(&fresh), &["x"], &[]).stale(Duration::ZERO, Some("x")),
            None
        );
    }

    #[test]
    fn without_health_only_the_counts_tell() {
        let before = WindowsBefore::read(None, &["fallback-primary"], &[]);
        assert_eq!(before.stale(Duration::ZERO, None), None);
        let why = before
            .stale(
                Duration::from_secs(70),
                Some("the primary served 0 of the 3 its RPM allows"),
            )
            .unwrap_or_default();
        assert!(
            why.contains("the primary served 0 of the 3") && why.contains("wait 1 s"),
            "{why}"
        );
    }
}
