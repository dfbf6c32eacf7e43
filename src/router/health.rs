//! The `/health` document: each deployment's state (healthy, cooling until when, half-open),
//! its usage in the current window and its limits, and each consumer's usage. Built purely from
//! the config and a [`StoreSnapshot`]; no live calls.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::cooldown::HealthState;
use super::store::StoreSnapshot;
use crate::config::{Consumer, ModelGroup};

/// Everything `/health` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthSnapshot {
    /// The state store's kind (`memory`, `redis`).
    pub state_store: &'static str,
    /// The routing strategy's LiteLLM name.
    pub routing_strategy: &'static str,
    pub deployments: Vec<DeploymentHealth>,
    pub consumers: Vec<ConsumerHealth>,
}

/// One deployment on `/health`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeploymentHealth {
    pub id: String,
    pub model_group: String,
    /// `bedrock/<model id>` or `openai/<model>`.
    pub model: String,
    pub state: HealthState,
    /// RFC 3339 wall-clock time the cooldown ends, when cooling down.
    pub cooling_until: Option<String>,
    pub cooling_for_ms: Option<u64>,
    /// Failures within the last `cooldown_time`.
    pub recent_failures: u32,
    pub requests_in_window: u64,
    pub tokens_in_window: u64,
    /// Tokens reserved or used in the last 24 hours, in the same units as `tpd_limit` (kept
    /// only for a deployment with one).
    pub tokens_in_day: u64,
    pub in_flight: u32,
    pub rpm_limit: Option<u32>,
    pub tpm_limit: Option<u64>,
    pub tpd_limit: Option<u64>,
    pub latency_ewma_ms: Option<f64>,
}

/// One consumer on `/health`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsumerHealth {
    pub name: String,
    pub requests_in_window: u64,
    pub tokens_in_window: u64,
    pub in_flight: u32,
    pub rpm_limit: Option<u32>,
    pub tpm_limit: Option<u64>,
    pub max_parallel_requests: Option<u32>,
}

impl HealthSnapshot {
    /// What `consumer` may see: the deployments of the groups it may use, and itself among
    /// the consumers (never another consumer's name or limits).
    pub fn restricted_to(mut self, consumer: &Consumer) -> Self {
        self.deployments
            .retain(|d| consumer.may_use(&d.model_group));
        self.consumers.retain(|c| c.name == consumer.name);
        self
    }
}

/// Joins the config with the store's snapshot; `now` turns remaining cooldowns into wall time.
pub fn build(
    groups: &[ModelGroup],
    consumers: &[Consumer],
    snapshot: &StoreSnapshot,
    now: DateTime<Utc>,
    state_store: &'static str,
    routing_strategy: &'static str,
) -> HealthSnapshot {
    let deployments = groups
        .iter()
        .flat_map(|g| g.deployments.iter())
        .map(|d| {
            let state = snapshot.deployments.iter().find(|s| s.id == d.key);
            let cooling_for = state.and_then(|s| s.cooling_for);
            DeploymentHealth {
                id: d.id.clone(),
                model_group: d.group.clone(),
                model: format!("{}/{}", d.provider, d.model),
                state: state.map_or(HealthState::Healthy, |s| s.health),
                cooling_until: cooling_for.map(|left| wall_clock(now, left)),
                cooling_for_ms: cooling_for.map(millis),
                recent_failures: state.map_or(0, |s| s.recent_failures),
                requests_in_window: state.map_or(0, |s| s.usage.requests),
                tokens_in_window: state.map_or(0, |s| s.usage.tokens),
                tokens_in_day: state.map_or(0, |s| s.usage.day_tokens),
                in_flight: state.map_or(0, |s| s.usage.in_flight),
                rpm_limit: d.rpm,
                tpm_limit: d.tpm,
                tpd_limit: d.tpd,
                latency_ewma_ms: state
                    .and_then(|s| s.latency)
                    .map(|l| l.as_secs_f64() * 1000.0),
            }
        })
        .collect();
    let consumers = consumers
        .iter()
        .map(|c| {
            let usage = snapshot
                .consumers
                .iter()
                .find(|s| s.name == c.name)
                .map(|s| s.usage)
                .unwrap_or_default();
            ConsumerHealth {
                name: c.name.clone(),
                requests_in_window: usage.requests,
                tokens_in_window: usage.tokens,
                in_flight: usage.in_flight,
                rpm_limit: c.rpm_limit,
                tpm_limit: c.tpm_limit,
                max_parallel_requests: c.max_parallel_requests,
            }
        })
        .collect();
    HealthSnapshot {
        state_store,
        routing_strategy,
        deployments,
        consumers,
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn wall_clock(now: DateTime<Utc>, after: Duration) -> String {
    let later = chrono::Duration::from_std(after)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(now);
    later.to_rfc3339_opts(SecondsFormat::Millis, true)
}
