//! The Redis [`StateStore`]: one set of limits and cooldowns for every replica sharing a Redis.
//!
//! Each operation is one Lua script ([`scripts`]) over the keys of one deployment or consumer
//! (one hash tag, so one Redis Cluster slot), one round trip; reads of several deployments are
//! pipelined. Time is the server's `TIME`. The connection is a multiplexed [`ConnectionManager`]
//! that reconnects on its own; `rediss://` URLs use TLS.
//!
//! When Redis fails or answers slower than the configured timeout the store turns *degraded*: it
//! logs once, answers from a local [`MemoryStore`] with every limit divided by
//! `expected_replicas` ([`local_limits`]), and a background task pings Redis every second; the
//! first answer ends degraded mode (logged once). Admissions carry where they were granted (the
//! high bit of the grant id), so each is finished where it was made.
//!
//! [`operations`] holds the [`StateStore`](super::StateStore) operations themselves, each one
//! choosing between Redis and the local store; this file holds the connection, degraded mode
//! and the Redis calls they make.

mod operations;
mod scripts;

use std::collections::HashMap;
use std::future::Future;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, ServerErrorKind, Value};

use self::scripts::{ADMIT, Admission, BadReply, FINISH, Keys, VIEW, limit_arg};
use super::{DeploymentRequest, Grant, MemoryStore};
use crate::config::{Config, RedisSettings};
use crate::router::clock::micros;
use crate::router::cooldown::HealthEvent;
use crate::router::limits::{Limits, Remaining, WINDOW};

/// How often a degraded store pings Redis to see whether it is back.
pub const PING_EVERY: Duration = Duration::from_secs(1);

/// How long an admission that outlived the timeout is followed before it is given up (its
/// reservation then expires with the window).
const LATE_ADMISSION_WAIT: Duration = Duration::from_secs(10);

/// How long the day's keys outlive their last write: the day and an hour.
const DAY_KEEP_MS: u64 = 25 * 3_600_000;

/// The grant-id bit that marks an admission made in Redis (local ones count up from 1).
const REMOTE: u64 = 1 << 63;

/// Why a Redis call did not produce an answer.
#[derive(Debug, thiserror::Error)]
pub enum RedisStoreError {
    #[error("redis: {0}")]
    Redis(#[from] RedisError),
    #[error(transparent)]
    Reply(#[from] BadReply),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// Each limit divided by the fleet size, rounded down, at least 1: this replica's share while
/// Redis is away.
pub fn local_limits(limits: Limits, replicas: u32) -> Limits {
    let replicas = replicas.max(1);
    Limits {
        rpm: limits.rpm.map(|l| (l / replicas).max(1)),
        tpm: limits.tpm.map(|l| (l / u64::from(replicas)).max(1)),
        parallel: limits.parallel.map(|l| (l / replicas).max(1)),
        tpd: limits.tpd.map(|l| (l / u64::from(replicas)).max(1)),
    }
}

/// What the store needs besides the connection.
struct Shared {
    connection: ConnectionManager,
    timeout: Duration,
    degraded: AtomicBool,
    replicas: u32,
    /// `redis-degraded (local limits at 1/N)`, built once.
    degraded_label: &'static str,
    local: MemoryStore,
    /// Shared, so an admission that outlives its timeout can carry them to its release.
    deployments: HashMap<String, Arc<Keys>>,
    consumers: HashMap<String, Arc<Keys>>,
    /// Deployment and consumer names in config order, for snapshots.
    deployment_order: Vec<String>,
    consumer_order: Vec<String>,
    cooldown_time: Duration,
    allowed_fails: u32,
    /// How long keys outlive their last write: a window, the request timeout, a margin.
    keep: Duration,
    /// Latency averages are this replica's own observations.
    latency: Mutex<HashMap<String, Duration>>,
    /// Grant ids: a random start per store, counting up, with the [`REMOTE`] bit.
    next_id: AtomicU64,
    /// The key prefix, for the budget keys.
    prefix: String,
}

impl Shared {
    fn grant_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) | REMOTE
    }
}

impl Shared {
    fn enter_degraded(&self, why: &RedisStoreError) {
        if !self.degraded.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                error = %why,
                replicas = self.replicas,
                "Redis state store unavailable: using local limits at 1/{} until it answers again",
                self.replicas
            );
        }
    }

    fn leave_degraded(&self) {
        if self.degraded.swap(false, Ordering::AcqRel) {
            tracing::warn!("Redis state store is back: limits and cooldowns are shared again");
        }
    }
}

/// State shared by every replica through Redis, with a local fallback.
#[derive(Clone)]
pub struct RedisStore {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("degraded", &self.is_degraded())
            .field("timeout", &self.shared.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to the Redis of `settings` for the deployments and consumers of `config`.
    /// An unreachable Redis is not an error: the store starts degraded and keeps trying.
    /// Fails only on a URL the client cannot use. Must run inside a tokio runtime.
    pub async fn connect(
        config: &Config,
        settings: &RedisSettings,
    ) -> Result<Self, RedisStoreError> {
        let client = redis::Client::open(settings.url.expose())?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(settings.timeout.max(Duration::from_millis(500))))
            .set_response_timeout(Some(settings.timeout.max(Duration::from_secs(1))))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_lazy_with_config(client, manager)?;
        let prefix = settings.key_prefix.as_str();
        let deployment_order: Vec<String> = config.deployments().map(|d| d.key.clone()).collect();
        let consumer_order: Vec<String> = config
            .gateway
            .consumers
            .iter()
            .map(|c| c.name.clone())
            .collect();
        let replicas = settings.expected_replicas.max(1);
        let shared = Arc::new(Shared {
            connection,
            timeout: settings.timeout,
            degraded: AtomicBool::new(false),
            replicas,
            // One short string per store; stores live as long as the gateway.
            degraded_label: Box::leak(
                format!("redis-degraded (local limits at 1/{replicas})").into_boxed_str(),
            ),
            local: MemoryStore::new(config),
            deployments: deployment_order
                .iter()
                .map(|id| (id.clone(), Arc::new(Keys::new(prefix, "deployment", id))))
                .collect(),
            consumers: consumer_order
                .iter()
                .map(|name| (name.clone(), Arc::new(Keys::new(prefix, "consumer", name))))
                .collect(),
            deployment_order,
            consumer_order,
            cooldown_time: config.router.cooldown_time,
            allowed_fails: config.router.allowed_fails,
            keep: WINDOW + config.router.timeout + Duration::from_secs(5),
            latency: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(std::collections::hash_map::RandomState::new().hash_one(0u8)),
            prefix: prefix.to_owned(),
        });
        let store = RedisStore { shared };
        if let Err(error) = store.ping(Duration::from_secs(1)).await {
            store.shared.enter_degraded(&error);
        }
        tokio::spawn(watch(Arc::downgrade(&store.shared)));
        Ok(store)
    }

    /// The Redis key of the budget period `key`.
    fn budget_key(&self, key: &str) -> String {
        format!("{}:budget:{{{key}}}", self.shared.prefix)
    }

    /// Whether Redis is away and this replica runs on local limits.
    pub fn is_degraded(&self) -> bool {
        self.shared.degraded.load(Ordering::Acquire)
    }

    /// The replicas the local limits are divided by while degraded.
    pub fn expected_replicas(&self) -> u32 {
        self.shared.replicas
    }

    async fn ping(&self, within: Duration) -> Result<(), RedisStoreError> {
        let mut connection = self.shared.connection.clone();
        let ping = async move {
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await?;
            Ok(())
        };
        bounded(within, ping).await
    }

    /// Runs `call` on Redis unless degraded (or `always`); `None` means: answer locally.
    async fn remote<T>(
        &self,
        always: bool,
        call: impl Future<Output = Result<T, RedisStoreError>>,
    ) -> Option<T> {
        if !always && self.is_degraded() {
            return None;
        }
        match bounded(self.shared.timeout, call).await {
            Ok(value) => Some(value),
            Err(error) => {
                self.shared.enter_degraded(&error);
                None
            }
        }
    }

    /// Admits in Redis within the timeout; `None` means: answer locally. An admission that
    /// times out may still run in Redis afterwards: it is followed to its end in the background
    /// and, if granted, released at once (as never sent), so the request that was admitted
    /// locally instead is not counted twice.
    async fn admit_remote(
        &self,
        keys: &Arc<Keys>,
        request: DeploymentRequest,
        gate: bool,
    ) -> Option<(u64, Admission)> {
        if self.is_degraded() {
            return None;
        }
        let (store, owned) = (self.clone(), Arc::clone(keys));
        let mut call = Box::pin(async move { store.admit(&owned, request, gate).await });
        let error = match tokio::time::timeout(self.shared.timeout, &mut call).await {
            Ok(Ok(admission)) => return Some(admission),
            Ok(Err(error)) => error,
            Err(_) => {
                let (store, keys) = (self.clone(), Arc::clone(keys));
                tokio::spawn(async move {
                    let late = tokio::time::timeout(LATE_ADMISSION_WAIT, call).await;
                    if let Ok(Ok((id, Admission::Granted { probe, .. }))) = late {
                        store.release_late(&keys, id, probe, gate).await;
                    }
                });
                RedisStoreError::Timeout(self.shared.timeout)
            }
        };
        self.shared.enter_degraded(&error);
        None
    }

    /// Releases an admission granted in Redis after its caller had moved on.
    async fn release_late(&self, keys: &Keys, id: u64, probe: bool, gate: bool) {
        let grant = Grant {
            id,
            probe,
            remaining: Remaining::default(),
        };
        // A deployment's half-open probe slot is handed back; consumers have no health.
        let health = gate.then_some(HealthEvent::NotSent);
        let release = self.finish(keys, grant, None, health);
        match bounded(LATE_ADMISSION_WAIT, release).await {
            Ok(()) => tracing::debug!(grant = id, "released a Redis admission that came late"),
            Err(error) => tracing::debug!(
                %error,
                "a late Redis admission could not be released; it expires with the window"
            ),
        }
    }

    fn ms(&self) -> u64 {
        u64::try_from(self.shared.keep.as_millis()).unwrap_or(u64::MAX)
    }

    async fn admit(
        &self,
        keys: &Keys,
        request: DeploymentRequest,
        gate: bool,
    ) -> Result<(u64, Admission), RedisStoreError> {
        let id = self.shared.grant_id();
        let limits = request.limits;
        let mut connection = self.shared.connection.clone();
        let reply: Value = ADMIT
            .key(&keys.log)
            .key(&keys.quota)
            .key(&keys.health)
            .key(&keys.day)
            .key(&keys.days)
            .arg(id.to_string())
            .arg(request.tokens)
            .arg(limit_arg(limits.rpm))
            .arg(limit_arg(limits.tpm))
            .arg(limit_arg(limits.parallel))
            .arg(u8::from(request.enforce_limits))
            .arg(u8::from(gate))
            .arg(self.ms())
            .arg(micros(WINDOW))
            .arg(limit_arg(limits.tpd))
            .arg(DAY_KEEP_MS)
            .invoke_async(&mut connection)
            .await?;
        Ok((id, scripts::admission(reply, &limits)?))
    }

    async fn finish(
        &self,
        keys: &Keys,
        grant: Grant,
        tokens: Option<u64>,
        health: Option<HealthEvent>,
    ) -> Result<(), RedisStoreError> {
        let policy_cool = |retry_after: Option<Duration>| {
            retry_after.map_or(self.shared.cooldown_time, |r| {
                r.max(self.shared.cooldown_time)
            })
        };
        let (event, cool) = match health {
            Some(HealthEvent::Success) | None => ("success", Duration::ZERO),
            Some(HealthEvent::RateLimited { retry_after }) => {
                ("rate_limited", policy_cool(retry_after))
            }
            Some(HealthEvent::Failure) => ("failure", Duration::ZERO),
            Some(HealthEvent::ClientError) => ("client_error", Duration::ZERO),
            Some(HealthEvent::NotSent | HealthEvent::Abandoned) => ("not_sent", Duration::ZERO),
        };
        let mut connection = self.shared.connection.clone();
        let _: Value = FINISH
            .key(&keys.log)
            .key(&keys.quota)
            .key(&keys.health)
            .key(&keys.fails)
            .key(&keys.day)
            .key(&keys.days)
            .arg(grant.id.to_string())
            .arg(u8::from(tokens.is_some()))
            .arg(tokens.unwrap_or(0))
            .arg(event)
            .arg(u8::from(grant.probe))
            .arg(micros(cool))
            .arg(micros(self.shared.cooldown_time))
            .arg(self.shared.allowed_fails)
            .arg(self.ms())
            .arg(micros(WINDOW))
            .arg(u8::from(health.is_some()))
            .invoke_async(&mut connection)
            .await?;
        Ok(())
    }

    /// One pipelined round trip reading the state of each key set.
    async fn views(&self, keys: &[&Arc<Keys>]) -> Result<Vec<scripts::View>, RedisStoreError> {
        let mut pipe = redis::pipe();
        for k in keys {
            pipe.cmd("EVALSHA")
                .arg(VIEW.get_hash())
                .arg(6)
                .arg(&k.log)
                .arg(&k.quota)
                .arg(&k.health)
                .arg(&k.fails)
                .arg(&k.day)
                .arg(&k.days)
                .arg(micros(WINDOW));
        }
        let mut connection = self.shared.connection.clone();
        let replies: Vec<Value> = match pipe.query_async(&mut connection).await {
            Err(error) if error.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                // Redis restarted empty: load the script and ask again.
                VIEW.prepare_invoke().load_async(&mut connection).await?;
                pipe.query_async(&mut connection).await?
            }
            other => other?,
        };
        Ok(replies
            .into_iter()
            .map(scripts::view)
            .collect::<Result<Vec<_>, _>>()?)
    }

    fn latency(&self, id: &str) -> Option<Duration> {
        let averages = self
            .shared
            .latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        averages.get(id).copied()
    }
}

/// `call`, or a timeout error after `within`.
async fn bounded<T>(
    within: Duration,
    call: impl Future<Output = Result<T, RedisStoreError>>,
) -> Result<T, RedisStoreError> {
    tokio::time::timeout(within, call)
        .await
        .unwrap_or(Err(RedisStoreError::Timeout(within)))
}

/// Pings Redis every [`PING_EVERY`] while degraded; ends when the store is dropped.
async fn watch(shared: Weak<Shared>) {
    let mut ticks = tokio::time::interval(PING_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if !shared.degraded.load(Ordering::Acquire) {
            continue;
        }
        let store = RedisStore { shared };
        let within = store.shared.timeout.max(Duration::from_millis(500));
        if store.ping(within).await.is_ok() {
            store.shared.leave_degraded();
        }
    }
}
