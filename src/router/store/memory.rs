//! The in-memory [`StateStore`]: one replica's state, no global lock on the hot path.
//!
//! The maps from deployment id and consumer name to their cells are built once from the config
//! and never change, so lookups need no lock; each cell has its own small `std::sync::Mutex`, held
//! only for the arithmetic of one operation (never across an `.await`). The clock is read under the
//! cell's lock, so each window's log stays in admission order. Ids unknown to the config are
//! admitted untracked (the router only asks about configured ones).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::{
    Completion, ConsumerState, DeploymentLoad, DeploymentRefusal, DeploymentRequest,
    DeploymentState, Grant, StateStore, StoreSnapshot,
};
use crate::config::Config;
use crate::router::clock::{Clock, Timestamp, TokioClock, micros};
use crate::router::cooldown::{Cooldown, CooldownPolicy, Gate};
use crate::router::limits::{Exceeded, Limits, Quota, Remaining};
use crate::router::strategy::ewma;

/// Everything known about one deployment.
#[derive(Debug, Default)]
struct DeploymentCell {
    quota: Quota,
    cooldown: Cooldown,
    latency: Option<Duration>,
}

/// Cells in config order, with an index by key built once.
#[derive(Debug)]
struct Cells<T> {
    keys: Vec<String>,
    index: HashMap<String, usize>,
    cells: Vec<Mutex<T>>,
}

impl<T: Default> Cells<T> {
    fn new<'a>(keys: impl Iterator<Item = &'a str>) -> Self {
        let mut cells = Cells {
            keys: Vec::new(),
            index: HashMap::new(),
            cells: Vec::new(),
        };
        for key in keys {
            if !cells.index.contains_key(key) {
                cells.index.insert(key.to_string(), cells.keys.len());
                cells.keys.push(key.to_string());
                cells.cells.push(Mutex::new(T::default()));
            }
        }
        cells
    }

    fn get(&self, key: &str) -> Option<MutexGuard<'_, T>> {
        let cell = self.cells.get(*self.index.get(key)?)?;
        // A panic while holding a cell cannot leave its arithmetic half-done in a way that matters
        // more than refusing all traffic would: keep using it.
        Some(cell.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn iter(&self) -> impl Iterator<Item = (&str, MutexGuard<'_, T>)> {
        self.keys.iter().zip(&self.cells).map(|(key, cell)| {
            (
                key.as_str(),
                cell.lock().unwrap_or_else(PoisonError::into_inner),
            )
        })
    }
}

/// State in this process, for a single replica.
pub struct MemoryStore {
    clock: Arc<dyn Clock>,
    epoch: Instant,
    policy: CooldownPolicy,
    deployments: Cells<DeploymentCell>,
    consumers: Cells<Quota>,
    next_id: AtomicU64,
    /// Spend per budget period (nano-USD).
    budgets: Mutex<HashMap<String, i64>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("deployments", &self.deployments.keys)
            .field("consumers", &self.consumers.keys)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// A store for the deployments and consumers of `config`, on tokio's clock.
    pub fn new(config: &Config) -> Self {
        MemoryStore::with_clock(config, Arc::new(TokioClock))
    }

    /// A store on the given clock (tests pass a [`ManualClock`](crate::router::ManualClock)).
    pub fn with_clock(config: &Config, clock: Arc<dyn Clock>) -> Self {
        MemoryStore {
            epoch: clock.now(),
            clock,
            policy: CooldownPolicy {
                cooldown_time: config.router.cooldown_time,
                allowed_fails: config.router.allowed_fails,
            },
            deployments: Cells::new(config.deployments().map(|d| d.key.as_str())),
            consumers: Cells::new(config.gateway.consumers.iter().map(|c| c.name.as_str())),
            next_id: AtomicU64::new(1),
            budgets: Mutex::new(HashMap::new()),
        }
    }

    fn budgets(&self) -> MutexGuard<'_, HashMap<String, i64>> {
        self.budgets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// [`StateStore::reserve_budget`] with no await, for the Redis store's local fallback.
    pub fn reserve_budget_now(&self, key: &str, limit: u64, reserve: u64) -> Result<u64, u64> {
        let mut budgets = self.budgets();
        let spent = budgets.entry(key.to_owned()).or_insert(0);
        let before = u64::try_from(*spent).unwrap_or(0);
        if before >= limit || before.saturating_add(reserve) > limit {
            return Err(before);
        }
        *spent = spent.saturating_add(i64::try_from(reserve).unwrap_or(i64::MAX));
        Ok(u64::try_from(*spent).unwrap_or(0))
    }

    /// [`StateStore::settle_budget`] with no await.
    pub fn settle_budget_now(&self, key: &str, delta: i64) {
        let mut budgets = self.budgets();
        let spent = budgets.entry(key.to_owned()).or_insert(0);
        *spent = spent.saturating_add(delta).max(0);
    }

    /// [`StateStore::budget_spent`] with no await.
    pub fn budget_spent_now(&self, key: &str) -> u64 {
        self.budgets()
            .get(key)
            .map_or(0, |spent| u64::try_from(*spent).unwrap_or(0))
    }

    fn now(&self) -> Timestamp {
        Timestamp(micros(
            self.clock.now().saturating_duration_since(self.epoch),
        ))
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn untracked(&self) -> Grant {
        Grant {
            id: self.next_id(),
            probe: false,
            remaining: Remaining::default(),
        }
    }
}

impl StateStore for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn admit_deployment(
        &self,
        id: &str,
        request: DeploymentRequest,
    ) -> Result<Grant, DeploymentRefusal> {
        let Some(mut cell) = self.deployments.get(id) else {
            return Ok(self.untracked());
        };
        let now = self.now();
        let gate = cell.cooldown.gate(now);
        match gate {
            Gate::Closed { until: Some(until) } => {
                return Err(DeploymentRefusal::CoolingDown {
                    retry_after: now.until(until),
                });
            }
            Gate::Closed { until: None } => return Err(DeploymentRefusal::ProbeInFlight),
            Gate::Open | Gate::Probe => {}
        }
        let grant_id = self.next_id();
        let remaining = cell
            .quota
            .try_admit(
                now,
                &request.limits,
                grant_id,
                request.tokens,
                request.enforce_limits,
            )
            .map_err(DeploymentRefusal::OverLimit)?;
        let probe = gate == Gate::Probe;
        if probe {
            cell.cooldown.send_probe();
        }
        Ok(Grant {
            id: grant_id,
            probe,
            remaining,
        })
    }

    async fn finish_deployment(&self, id: &str, grant: Grant, completion: Completion) {
        let Some(mut cell) = self.deployments.get(id) else {
            return;
        };
        let now = self.now();
        cell.quota.finish(now, grant.id, completion.tokens);
        if let Some(sample) = completion.latency {
            cell.latency = Some(ewma(cell.latency, sample));
        }
        cell.cooldown
            .record(now, completion.health, grant.probe, &self.policy);
    }

    async fn admit_consumer(
        &self,
        name: &str,
        limits: Limits,
        tokens: u64,
    ) -> Result<Grant, Exceeded> {
        let Some(mut quota) = self.consumers.get(name) else {
            return Ok(self.untracked());
        };
        let grant_id = self.next_id();
        let remaining = quota.try_admit(self.now(), &limits, grant_id, tokens, true)?;
        Ok(Grant {
            id: grant_id,
            probe: false,
            remaining,
        })
    }

    async fn finish_consumer(&self, name: &str, grant: Grant, tokens: Option<u64>) {
        if let Some(mut quota) = self.consumers.get(name) {
            quota.finish(self.now(), grant.id, tokens);
        }
    }

    async fn deployment_loads(&self, ids: &[&str]) -> Vec<DeploymentLoad> {
        ids.iter()
            .map(|id| {
                let Some(mut cell) = self.deployments.get(id) else {
                    return DeploymentLoad::default();
                };
                let now = self.now();
                let usage = cell.quota.usage(now);
                let cooling_for = match cell.cooldown.gate(now) {
                    Gate::Closed { until: Some(until) } => Some(now.until(until)),
                    Gate::Closed { until: None } | Gate::Open | Gate::Probe => None,
                };
                DeploymentLoad {
                    in_flight: usage.in_flight,
                    requests: usage.requests,
                    tokens: usage.tokens,
                    latency: cell.latency,
                    cooling_for,
                }
            })
            .collect()
    }

    async fn cool_down(&self, id: &str, duration: Duration) {
        if let Some(mut cell) = self.deployments.get(id) {
            let until = self.now().plus(duration);
            cell.cooldown.cool_until(until);
        }
    }

    async fn snapshot(&self) -> StoreSnapshot {
        let deployments = self
            .deployments
            .iter()
            .map(|(id, mut cell)| {
                let now = self.now();
                let (health, until, recent_failures) =
                    cell.cooldown.view(now, self.policy.cooldown_time);
                DeploymentState {
                    id: id.to_string(),
                    health,
                    cooling_for: until.map(|until| now.until(until)),
                    recent_failures,
                    usage: cell.quota.usage(now),
                    latency: cell.latency,
                }
            })
            .collect();
        let consumers = self
            .consumers
            .iter()
            .map(|(name, mut quota)| ConsumerState {
                name: name.to_string(),
                usage: quota.usage(self.now()),
            })
            .collect();
        StoreSnapshot {
            deployments,
            consumers,
        }
    }

    async fn reserve_budget(
        &self,
        key: &str,
        limit: u64,
        reserve: u64,
        _keep: Duration,
    ) -> Result<u64, u64> {
        self.reserve_budget_now(key, limit, reserve)
    }

    async fn settle_budget(&self, key: &str, delta: i64, _keep: Duration) {
        self.settle_budget_now(key, delta);
    }

    async fn budget_spent(&self, key: &str) -> u64 {
        self.budget_spent_now(key)
    }
}
