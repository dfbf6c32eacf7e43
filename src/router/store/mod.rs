//! The state behind routing decisions, behind one trait: limit windows, requests in flight,
//! cooldowns and latency averages, keyed by deployment id and consumer name.
//!
//! Each method is one atomic operation (one lock in memory, one Lua script / round trip in Redis):
//! admission checks the cooldown gate and every limit and reserves in one step, so concurrent
//! requests can never jointly overshoot a limit. Time is read by the store itself (Redis uses
//! `TIME`), so replicas with skewed clocks still agree. Operations do not fail: a store that loses
//! its backend degrades on its own (the Redis store falls back to local limits divided by
//! `expected_replicas`) rather than failing requests.

mod any;
mod memory;
mod redis_store;

use std::future::Future;
use std::time::Duration;

pub use any::AnyStore;
pub use memory::MemoryStore;
pub use redis_store::{PING_EVERY, RedisStore, RedisStoreError, local_limits};

use super::cooldown::{HealthEvent, HealthState};
use super::limits::{Exceeded, Limits, Remaining, Usage};

/// How long a request refused because a half-open deployment's probe is in flight should wait.
pub const PROBE_RETRY_AFTER: Duration = Duration::from_secs(1);

/// An admission asked of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeploymentRequest {
    pub limits: Limits,
    /// Tokens to reserve: `max_tokens` plus the estimated input.
    pub tokens: u64,
    /// Enforce the limits (pre-call checks on); when false only cooldowns refuse, and the
    /// admission is still counted.
    pub enforce_limits: bool,
}

/// A granted admission: what must be handed back to settle or release it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The reservation's id within its key.
    pub id: u64,
    /// Whether this request is a half-open deployment's probe.
    pub probe: bool,
    /// What is left of each limit after this admission.
    pub remaining: Remaining,
}

/// Why a deployment refused an admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentRefusal {
    /// Cooling down for `retry_after` more.
    CoolingDown { retry_after: Duration },
    /// Half-open, and its one probe is in flight.
    ProbeInFlight,
    /// Over one of its limits.
    OverLimit(Exceeded),
}

impl DeploymentRefusal {
    /// When this deployment may take a request again.
    pub fn retry_after(&self) -> Duration {
        match self {
            DeploymentRefusal::CoolingDown { retry_after } => *retry_after,
            DeploymentRefusal::ProbeInFlight => PROBE_RETRY_AFTER,
            DeploymentRefusal::OverLimit(exceeded) => exceeded.retry_after,
        }
    }

    /// A short reason for logs and metrics (`cooling_down`, `probe_in_flight`, `rpm`, `tpm`, …).
    pub fn reason(&self) -> &'static str {
        match self {
            DeploymentRefusal::CoolingDown { .. } => "cooling_down",
            DeploymentRefusal::ProbeInFlight => "probe_in_flight",
            DeploymentRefusal::OverLimit(exceeded) => exceeded.kind.as_str(),
        }
    }
}

/// How a finished deployment call changes the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    /// `Some(tokens)` settles the reservation to the real usage; `None` removes the admission.
    pub tokens: Option<u64>,
    /// Latency of a successful call, for the moving average.
    pub latency: Option<Duration>,
    pub health: HealthEvent,
}

/// A deployment's load, read by the routing strategies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeploymentLoad {
    pub in_flight: u32,
    /// Requests admitted in the current window.
    pub requests: u64,
    /// Tokens reserved or used in the current window.
    pub tokens: u64,
    /// Moving average latency of successful calls, if any.
    pub latency: Option<Duration>,
    /// Remaining cooldown, if cooling down.
    pub cooling_for: Option<Duration>,
}

/// One deployment's state, for `/health`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentState {
    pub id: String,
    pub health: HealthState,
    pub cooling_for: Option<Duration>,
    /// Failures within the last `cooldown_time` (healthy deployments only).
    pub recent_failures: u32,
    pub usage: Usage,
    pub latency: Option<Duration>,
}

/// One consumer's state, for `/health`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerState {
    pub name: String,
    pub usage: Usage,
}

/// Everything the store holds, at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreSnapshot {
    pub deployments: Vec<DeploymentState>,
    pub consumers: Vec<ConsumerState>,
}

/// Where limit counters, cooldowns and latencies live.
pub trait StateStore: Send + Sync + 'static {
    /// `memory` or `redis`, for `/health` and logs.
    fn kind(&self) -> &'static str;

    /// Atomically: check the deployment's cooldown gate and (if `enforce_limits`) its RPM/TPM,
    /// then reserve `tokens`, count it in flight and, if half-open, take the probe.
    /// A refusal changes nothing.
    fn admit_deployment(
        &self,
        id: &str,
        request: DeploymentRequest,
    ) -> impl Future<Output = Result<Grant, DeploymentRefusal>> + Send;

    /// Settles or releases a deployment admission, ends it in flight, feeds the latency average
    /// and the cooldown state machine.
    fn finish_deployment(
        &self,
        id: &str,
        grant: Grant,
        completion: Completion,
    ) -> impl Future<Output = ()> + Send;

    /// Atomically checks a consumer's rpm/tpm/parallel limits and reserves `tokens`.
    fn admit_consumer(
        &self,
        name: &str,
        limits: Limits,
        tokens: u64,
    ) -> impl Future<Output = Result<Grant, Exceeded>> + Send;

    /// Settles (`Some`) or releases (`None`) a consumer admission and ends it in flight.
    fn finish_consumer(
        &self,
        name: &str,
        grant: Grant,
        tokens: Option<u64>,
    ) -> impl Future<Output = ()> + Send;

    /// The load of each deployment in `ids`, in the same order (one round trip for a group).
    fn deployment_loads(&self, ids: &[&str]) -> impl Future<Output = Vec<DeploymentLoad>> + Send;

    /// Cools a deployment down for at least `duration` from now (never shortens a cooldown).
    fn cool_down(&self, id: &str, duration: Duration) -> impl Future<Output = ()> + Send;

    /// Every deployment's and consumer's state, for `/health`.
    fn snapshot(&self) -> impl Future<Output = StoreSnapshot> + Send;

    /// Atomically: when `key` has spent `limit` already, or `spent + reserve` would pass it,
    /// refuses with what `key` has spent; otherwise adds `reserve` and answers the new spend. Amounts are nano-USD; `key`
    /// names one budget period, and lives `keep` after its last write.
    fn reserve_budget(
        &self,
        key: &str,
        limit: u64,
        reserve: u64,
        keep: Duration,
    ) -> impl Future<Output = Result<u64, u64>> + Send;

    /// Adds `delta` to what `key` has spent (a negative one hands back an unused reservation).
    fn settle_budget(
        &self,
        key: &str,
        delta: i64,
        keep: Duration,
    ) -> impl Future<Output = ()> + Send;

    /// What `key` has spent (nano-USD).
    fn budget_spent(&self, key: &str) -> impl Future<Output = u64> + Send;
}
