//! The [`StateStore`] operations of [`RedisStore`]: each one in Redis, or on the local store at
//! 1/N of every limit while degraded. A grant is finished where it was made (the grant id's
//! high bit says which), so a grant from Redis is finished there even while degraded.

use std::time::Duration;

use super::scripts::{Admission, BUDGET_RESERVE, BUDGET_SETTLE, COOL, View};
use super::{REMOTE, RedisStore, local_limits};
use crate::router::clock::{Timestamp, micros};
use crate::router::cooldown::Gate;
use crate::router::limits::{Exceeded, Limits, Remaining, Usage};
use crate::router::store::{
    Completion, ConsumerState, DeploymentLoad, DeploymentRefusal, DeploymentRequest,
    DeploymentState, Grant, StateStore, StoreSnapshot,
};
use crate::router::strategy::ewma;

fn cooling_for(view: &View) -> Option<Duration> {
    match view.cooldown.gate(view.now) {
        Gate::Closed { until: Some(until) } => Some(view.now.until(until)),
        Gate::Closed { until: None } | Gate::Open | Gate::Probe => None,
    }
}

fn usage(view: &View) -> Usage {
    Usage {
        requests: view.requests,
        tokens: view.tokens,
        in_flight: view.in_flight,
        day_tokens: view.day_tokens,
    }
}

fn untracked(store: &RedisStore) -> Grant {
    Grant {
        id: store.shared.grant_id(),
        probe: false,
        remaining: Remaining::default(),
    }
}

impl StateStore for RedisStore {
    fn kind(&self) -> &'static str {
        if self.is_degraded() {
            self.shared.degraded_label
        } else {
            "redis"
        }
    }

    async fn admit_deployment(
        &self,
        id: &str,
        request: DeploymentRequest,
    ) -> Result<Grant, DeploymentRefusal> {
        let Some(keys) = self.shared.deployments.get(id) else {
            return Ok(untracked(self));
        };
        match self.admit_remote(keys, request, true).await {
            Some((grant_id, Admission::Granted { probe, remaining })) => Ok(Grant {
                id: grant_id,
                probe,
                remaining,
            }),
            Some((_, Admission::Refused(refusal))) => Err(refusal),
            None => {
                let local = DeploymentRequest {
                    limits: local_limits(request.limits, self.shared.replicas),
                    ..request
                };
                self.shared.local.admit_deployment(id, local).await
            }
        }
    }

    async fn finish_deployment(&self, id: &str, grant: Grant, completion: Completion) {
        if let Some(sample) = completion.latency {
            let mut averages = self
                .shared
                .latency
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let average = ewma(averages.get(id).copied(), sample);
            averages.insert(id.to_string(), average);
        }
        if grant.id & REMOTE == 0 {
            return self
                .shared
                .local
                .finish_deployment(id, grant, completion)
                .await;
        }
        let Some(keys) = self.shared.deployments.get(id) else {
            return;
        };
        let finish = self.finish(keys, grant, completion.tokens, Some(completion.health));
        // A grant made in Redis is finished there even while degraded; if Redis is still away
        // its reservation expires with the window.
        self.remote(true, finish).await;
    }

    async fn admit_consumer(
        &self,
        name: &str,
        limits: Limits,
        tokens: u64,
    ) -> Result<Grant, Exceeded> {
        let Some(keys) = self.shared.consumers.get(name) else {
            return Ok(untracked(self));
        };
        let request = DeploymentRequest {
            limits,
            tokens,
            enforce_limits: true,
        };
        match self.admit_remote(keys, request, false).await {
            Some((grant_id, Admission::Granted { remaining, .. })) => Ok(Grant {
                id: grant_id,
                probe: false,
                remaining,
            }),
            Some((_, Admission::Refused(DeploymentRefusal::OverLimit(exceeded)))) => Err(exceeded),
            Some((_, Admission::Refused(other))) => {
                // Consumers have no cooldown gate; the script cannot answer this.
                tracing::error!(?other, "unexpected consumer refusal from Redis");
                Err(Exceeded {
                    kind: crate::router::limits::LimitKind::Parallel,
                    limit: limits.parallel.map_or(0, u64::from),
                    retry_after: other.retry_after(),
                })
            }
            None => {
                let local = local_limits(limits, self.shared.replicas);
                self.shared.local.admit_consumer(name, local, tokens).await
            }
        }
    }

    async fn finish_consumer(&self, name: &str, grant: Grant, tokens: Option<u64>) {
        if grant.id & REMOTE == 0 {
            return self.shared.local.finish_consumer(name, grant, tokens).await;
        }
        let Some(keys) = self.shared.consumers.get(name) else {
            return;
        };
        self.remote(true, self.finish(keys, grant, tokens, None))
            .await;
    }

    async fn deployment_loads(&self, ids: &[&str]) -> Vec<DeploymentLoad> {
        let known: Vec<_> = ids
            .iter()
            .filter_map(|id| self.shared.deployments.get(*id))
            .collect();
        let Some(views) = self.remote(false, self.views(&known)).await else {
            return self.shared.local.deployment_loads(ids).await;
        };
        let mut views = views.into_iter();
        ids.iter()
            .map(|id| {
                if !self.shared.deployments.contains_key(*id) {
                    return DeploymentLoad::default();
                }
                let Some(view) = views.next() else {
                    return DeploymentLoad::default();
                };
                DeploymentLoad {
                    in_flight: view.in_flight,
                    requests: view.requests,
                    tokens: view.tokens,
                    latency: self.latency(id),
                    cooling_for: cooling_for(&view),
                }
            })
            .collect()
    }

    async fn cool_down(&self, id: &str, duration: Duration) {
        let Some(keys) = self.shared.deployments.get(id) else {
            return;
        };
        let keep = self.ms();
        let cool = async {
            let mut connection = self.shared.connection.clone();
            let _: redis::Value = COOL
                .key(&keys.health)
                .key(&keys.fails)
                .arg(micros(duration))
                .arg(keep)
                .invoke_async(&mut connection)
                .await?;
            Ok(())
        };
        if self.remote(false, cool).await.is_none() {
            self.shared.local.cool_down(id, duration).await;
        }
    }

    async fn snapshot(&self) -> StoreSnapshot {
        let shared = &self.shared;
        let keys: Vec<_> = shared
            .deployment_order
            .iter()
            .filter_map(|id| shared.deployments.get(id))
            .chain(
                shared
                    .consumer_order
                    .iter()
                    .filter_map(|name| shared.consumers.get(name)),
            )
            .collect();
        let Some(views) = self.remote(false, self.views(&keys)).await else {
            return shared.local.snapshot().await;
        };
        let (deployment_views, consumer_views) =
            views.split_at(shared.deployment_order.len().min(views.len()));
        let deployments = shared
            .deployment_order
            .iter()
            .zip(deployment_views)
            .map(|(id, view)| {
                let (health, until, recent_failures) =
                    view.cooldown.view(view.now, shared.cooldown_time);
                DeploymentState {
                    id: id.clone(),
                    health,
                    cooling_for: until.map(|until: Timestamp| view.now.until(until)),
                    recent_failures,
                    usage: usage(view),
                    latency: self.latency(id),
                }
            })
            .collect();
        let consumers = shared
            .consumer_order
            .iter()
            .zip(consumer_views)
            .map(|(name, view)| ConsumerState {
                name: name.clone(),
                usage: usage(view),
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
        keep: Duration,
    ) -> Result<u64, u64> {
        let redis_key = self.budget_key(key);
        let call = async {
            let mut connection = self.shared.connection.clone();
            let (granted, spent): (i64, i64) = BUDGET_RESERVE
                .key(&redis_key)
                .arg(limit)
                .arg(reserve)
                .arg(millis(keep))
                .invoke_async(&mut connection)
                .await?;
            let spent = u64::try_from(spent).unwrap_or(0);
            Ok(if granted == 1 { Ok(spent) } else { Err(spent) })
        };
        match self.remote(false, call).await {
            Some(answer) => answer,
            // Away from Redis: this replica's share of the budget.
            None => {
                let share = limit / u64::from(self.shared.replicas.max(1));
                self.shared.local.reserve_budget_now(key, share, reserve)
            }
        }
    }

    async fn settle_budget(&self, key: &str, delta: i64, keep: Duration) {
        let redis_key = self.budget_key(key);
        let call = async {
            let mut connection = self.shared.connection.clone();
            let _: i64 = BUDGET_SETTLE
                .key(&redis_key)
                .arg(delta)
                .arg(millis(keep))
                .invoke_async(&mut connection)
                .await?;
            Ok(())
        };
        if self.remote(false, call).await.is_none() {
            self.shared.local.settle_budget_now(key, delta);
        }
    }

    async fn budget_spent(&self, key: &str) -> u64 {
        let redis_key = self.budget_key(key);
        let call = async {
            let mut connection = self.shared.connection.clone();
            let spent: Option<i64> = redis::cmd("GET")
                .arg(&redis_key)
                .query_async(&mut connection)
                .await?;
            Ok(spent.map_or(0, |s| u64::try_from(s).unwrap_or(0)))
        };
        match self.remote(false, call).await {
            Some(spent) => spent,
            None => self.shared.local.budget_spent_now(key),
        }
    }
}

/// A duration in whole milliseconds, for `PEXPIRE`.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
