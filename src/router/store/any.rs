//! [`AnyStore`]: the store the config asks for, memory or Redis, behind one concrete type.

use std::time::Duration;

use super::{
    Completion, DeploymentLoad, DeploymentRefusal, DeploymentRequest, Grant, MemoryStore,
    RedisStore, RedisStoreError, StateStore, StoreSnapshot,
};
use crate::config::{Config, StateStoreSettings};
use crate::router::limits::{Exceeded, Limits};

/// The in-memory store (one replica) or the Redis store (a fleet). Built once per gateway, so
/// the size difference between the variants does not matter.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum AnyStore {
    Memory(MemoryStore),
    Redis(RedisStore),
}

impl AnyStore {
    /// The store of `config.router.state`. A Redis that does not answer is not an error (the
    /// store starts degraded); an unusable Redis URL is. Must run inside a tokio runtime.
    pub async fn from_config(config: &Config) -> Result<AnyStore, RedisStoreError> {
        match &config.router.state {
            StateStoreSettings::Memory => Ok(AnyStore::Memory(MemoryStore::new(config))),
            StateStoreSettings::Redis(settings) => Ok(AnyStore::Redis(
                RedisStore::connect(config, settings).await?,
            )),
        }
    }

    /// Whether the shared store is away and local limits are in force (never for memory).
    pub fn is_degraded(&self) -> bool {
        match self {
            AnyStore::Memory(_) => false,
            AnyStore::Redis(store) => store.is_degraded(),
        }
    }
}

impl StateStore for AnyStore {
    fn kind(&self) -> &'static str {
        match self {
            AnyStore::Memory(store) => store.kind(),
            AnyStore::Redis(store) => store.kind(),
        }
    }

    async fn admit_deployment(
        &self,
        id: &str,
        request: DeploymentRequest,
    ) -> Result<Grant, DeploymentRefusal> {
        match self {
            AnyStore::Memory(store) => store.admit_deployment(id, request).await,
            AnyStore::Redis(store) => store.admit_deployment(id, request).await,
        }
    }

    async fn finish_deployment(&self, id: &str, grant: Grant, completion: Completion) {
        match self {
            AnyStore::Memory(store) => store.finish_deployment(id, grant, completion).await,
            AnyStore::Redis(store) => store.finish_deployment(id, grant, completion).await,
        }
    }

    async fn admit_consumer(
        &self,
        name: &str,
        limits: Limits,
        tokens: u64,
    ) -> Result<Grant, Exceeded> {
        match self {
            AnyStore::Memory(store) => store.admit_consumer(name, limits, tokens).await,
            AnyStore::Redis(store) => store.admit_consumer(name, limits, tokens).await,
        }
    }

    async fn finish_consumer(&self, name: &str, grant: Grant, tokens: Option<u64>) {
        match self {
            AnyStore::Memory(store) => store.finish_consumer(name, grant, tokens).await,
            AnyStore::Redis(store) => store.finish_consumer(name, grant, tokens).await,
        }
    }

    async fn deployment_loads(&self, ids: &[&str]) -> Vec<DeploymentLoad> {
        match self {
            AnyStore::Memory(store) => store.deployment_loads(ids).await,
            AnyStore::Redis(store) => store.deployment_loads(ids).await,
        }
    }

    async fn cool_down(&self, id: &str, duration: Duration) {
        match self {
            AnyStore::Memory(store) => store.cool_down(id, duration).await,
            AnyStore::Redis(store) => store.cool_down(id, duration).await,
        }
    }

    async fn snapshot(&self) -> StoreSnapshot {
        match self {
            AnyStore::Memory(store) => store.snapshot().await,
            AnyStore::Redis(store) => store.snapshot().await,
        }
    }

    async fn reserve_budget(
        &self,
        key: &str,
        limit: u64,
        reserve: u64,
        keep: Duration,
    ) -> Result<u64, u64> {
        match self {
            AnyStore::Memory(store) => store.reserve_budget(key, limit, reserve, keep).await,
            AnyStore::Redis(store) => store.reserve_budget(key, limit, reserve, keep).await,
        }
    }

    async fn settle_budget(&self, key: &str, delta: i64, keep: Duration) {
        match self {
            AnyStore::Memory(store) => store.settle_budget(key, delta, keep).await,
            AnyStore::Redis(store) => store.settle_budget(key, delta, keep).await,
        }
    }

    async fn budget_spent(&self, key: &str) -> u64 {
        match self {
            AnyStore::Memory(store) => store.budget_spent(key).await,
            AnyStore::Redis(store) => store.budget_spent(key).await,
        }
    }
}
