//! The [`Router`]: the one API the gateway's dispatch loop calls.
//!
//! ```text
//! admit_consumer ─► select(group) ─► call provider ─► finish(permit, outcome) ─► finish_consumer
//!                      │ Exhausted: try fallback_groups(group) in order, then 429 with Retry-After
//!                      └ retry: backoff(attempt, upstream Retry-After), select again excluding tried ones
//! ```
//!
//! Selection, step by step:
//! 1. The group's deployments not in `exclude` are the candidates.
//! 2. Read their load in one store call; those cooling down are skipped (refused with the time
//!    left), whatever the pre-call-check setting.
//! 3. Order the rest by the routing strategy.
//! 4. Ask the store to admit each in that order (atomic check-and-reserve; with pre-call checks
//!    off only cooldowns refuse); the first admitted wins. A refusal consumes nothing.
//! 5. None admitted: `Exhausted` with the earliest time any of them frees up.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::backoff::backoff;
use super::fit::{Needs, Unfit, unfit};
use super::health::{self, HealthSnapshot};
use super::limits::Limits;
use super::outcome::{Outcome, Refusal, completion};
use super::permit::{ConsumerPermit, DeploymentPermit};
use super::store::{DeploymentRefusal, DeploymentRequest, StateStore};
use super::strategy::{self, Candidate};
use crate::config::{Config, Consumer, Deployment, ModelGroup, RouterSettings, name_matches};

/// The answer to [`Router::select`].
#[derive(Debug)]
pub enum Selection<S: StateStore> {
    /// Call this deployment, then hand the permit to [`Router::finish`].
    Admitted(DeploymentPermit<S>),
    /// No deployment of the group can take the request now.
    Exhausted {
        /// When the earliest one frees up; `None` if none was refused (all excluded).
        retry_after: Option<Duration>,
        /// Each refused deployment's id and reason, for logs and metrics.
        refusals: Vec<(String, DeploymentRefusal)>,
    },
    /// No deployment of the group can serve this request at all (the first one's reason).
    Unfit(Unfit),
    /// The config has no group of that name.
    UnknownGroup,
}

/// Routing decisions over a state store, built once from the config.
#[derive(Debug)]
pub struct Router<S: StateStore> {
    groups: Vec<ModelGroup>,
    /// Group name → its place in `groups` (and `token_ceilings`), resolved once.
    group_index: HashMap<String, usize>,
    consumers: Vec<Consumer>,
    settings: RouterSettings,
    store: Arc<S>,
    seed: u64,
    draws: AtomicU64,
    /// Per group (in config order): the most tokens one request can reserve anywhere its chain
    /// reaches; `None` when some deployment there has no TPM limit.
    token_ceilings: Vec<Option<u64>>,
}

impl<S: StateStore> Router<S> {
    /// A router for `config`'s groups and consumers over `store`, with random choices seeded from
    /// the OS (through std's hasher keys).
    pub fn new(config: &Config, store: S) -> Self {
        let token_ceilings = config
            .groups
            .iter()
            .map(|g| token_ceiling(config, &g.name))
            .collect();
        Router {
            group_index: config
                .groups
                .iter()
                .enumerate()
                .map(|(i, g)| (g.name.clone(), i))
                .collect(),
            groups: config.groups.clone(),
            consumers: config.gateway.consumers.clone(),
            settings: config.router.clone(),
            store: Arc::new(store),
            seed: RandomState::new().hash_one(0x5eed_u64),
            draws: AtomicU64::new(0),
            token_ceilings,
        }
    }

    /// The most tokens one request to `group` can reserve on any deployment it may reach (its
    /// fallbacks, `default_fallbacks` and context-window fallbacks, transitively); `None` when
    /// one of them has no TPM limit (or the group is unknown). A request needing more can
    /// never be served, however long it waits.
    pub fn token_ceiling(&self, group: &str) -> Option<u64> {
        self.group_index
            .get(group)
            .and_then(|i| self.token_ceilings.get(*i).copied().flatten())
    }

    /// The same router with deterministic random choices (tests, reproducible demos).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self.draws = AtomicU64::new(0);
        self
    }

    /// The state store.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// The router settings in force.
    pub fn settings(&self) -> &RouterSettings {
        &self.settings
    }

    /// The model group called `name`.
    pub fn group(&self, name: &str) -> Option<&ModelGroup> {
        self.group_index.get(name).map(|i| &self.groups[*i])
    }

    /// The name of the group a request for `name` goes to: the group of that name, else the
    /// group its alias names (`model_group_alias`), else the group whose wildcard name
    /// (`claude-*`) matches it, the longest pattern first; `None` when nothing does.
    pub fn resolve(&self, name: &str) -> Option<&str> {
        if let Some(group) = self.group(name) {
            return Some(&group.name);
        }
        if let Some(alias) = self.settings.aliases.iter().find(|a| a.alias == name) {
            return self.group(&alias.group).map(|g| g.name.as_str());
        }
        self.groups
            .iter()
            .filter(|g| g.name.contains('*') && name_matches(&g.name, name))
            .max_by_key(|g| g.name.len())
            .map(|g| g.name.as_str())
    }

    /// Admits a request under `consumer`'s own quota (rpm, tpm reserving `estimated_tokens`,
    /// parallel). The master key has no consumer and skips this.
    pub async fn admit_consumer(
        &self,
        consumer: &Consumer,
        estimated_tokens: u64,
    ) -> Result<ConsumerPermit<S>, Refusal> {
        let limits = Limits {
            rpm: consumer.rpm_limit,
            tpm: consumer.tpm_limit,
            parallel: consumer.max_parallel_requests,
        };
        match self
            .store
            .admit_consumer(&consumer.name, limits, estimated_tokens)
            .await
        {
            Ok(grant) => Ok(ConsumerPermit::new(
                consumer.name.clone(),
                grant,
                Arc::clone(&self.store),
                estimated_tokens,
            )),
            Err(exceeded) => Err(Refusal {
                consumer: consumer.name.clone(),
                limit: exceeded.kind,
                value: exceeded.limit,
                retry_after: exceeded.retry_after,
            }),
        }
    }

    /// Settles the consumer's reservation to `tokens_used`, or releases it (`None`: the request
    /// was refused or failed before any upstream, and consumes nothing).
    pub async fn finish_consumer(&self, permit: ConsumerPermit<S>, tokens_used: Option<u64>) {
        permit.complete(tokens_used).await;
    }

    /// Picks and admits a deployment of `group` for a request of `estimated_tokens`
    /// (`max_tokens` + estimated input) that `needs` what it says, skipping the deployment
    /// keys in `exclude` and those that cannot serve it.
    pub async fn select(
        &self,
        group: &str,
        estimated_tokens: u64,
        exclude: &[&str],
        needs: &Needs,
    ) -> Selection<S> {
        let Some(group) = self.group(group) else {
            return Selection::UnknownGroup;
        };
        let mut first_unfit = None;
        let mut fit = 0;
        let deployments: Vec<&Arc<Deployment>> = group
            .deployments
            .iter()
            .filter(|d| match unfit(d, needs) {
                None => {
                    fit += 1;
                    !exclude.contains(&d.key.as_str())
                }
                Some(reason) => {
                    first_unfit.get_or_insert(reason);
                    false
                }
            })
            .collect();
        if fit == 0
            && let Some(reason) = first_unfit
        {
            return Selection::Unfit(reason);
        }
        let ids: Vec<&str> = deployments.iter().map(|d| d.key.as_str()).collect();
        let loads = self.store.deployment_loads(&ids).await;

        let mut refusals = Vec::new();
        let mut open = Vec::new();
        for (deployment, load) in deployments.iter().zip(&loads) {
            match load.cooling_for {
                Some(retry_after) => refusals.push((
                    deployment.key.clone(),
                    DeploymentRefusal::CoolingDown { retry_after },
                )),
                None => open.push((*deployment, load)),
            }
        }
        let candidates: Vec<Candidate<'_>> = open
            .iter()
            .map(|(deployment, load)| Candidate { deployment, load })
            .collect();
        let order = strategy::order(self.settings.strategy, &candidates, &mut self.rng());

        for deployment in order
            .into_iter()
            .filter_map(|i| open.get(i).map(|(d, _)| *d))
        {
            let request = DeploymentRequest {
                limits: Limits {
                    rpm: deployment.rpm,
                    tpm: deployment.tpm,
                    parallel: None,
                },
                tokens: estimated_tokens,
                enforce_limits: self.settings.pre_call_checks,
            };
            match self.store.admit_deployment(&deployment.key, request).await {
                Ok(grant) => {
                    return Selection::Admitted(DeploymentPermit::new(
                        Arc::clone(deployment),
                        grant,
                        Arc::clone(&self.store),
                        estimated_tokens,
                        refusals,
                    ));
                }
                Err(refusal) => refusals.push((deployment.key.clone(), refusal)),
            }
        }
        Selection::Exhausted {
            retry_after: refusals.iter().map(|(_, r)| r.retry_after()).min(),
            refusals,
        }
    }

    /// Reports how the call ended: settles or releases the reservation, ends it in flight, feeds
    /// the latency average and the deployment's cooldown state.
    pub async fn finish(&self, permit: DeploymentPermit<S>, outcome: Outcome) {
        permit.complete(completion(outcome)).await;
    }

    /// The groups to try, in order, when `group` has no deployment left: its `fallbacks`, then
    /// `default_fallbacks`; without duplicates and never `group` itself.
    pub fn fallback_groups(&self, group: &str) -> Vec<String> {
        let own = self.settings.fallbacks_for(group);
        dedupe(group, own.iter().chain(&self.settings.default_fallbacks))
    }

    /// The groups to try, in order, after a context-window error in `group`.
    pub fn context_window_fallback_groups(&self, group: &str) -> Vec<String> {
        dedupe(
            group,
            self.settings.context_window_fallbacks_for(group).iter(),
        )
    }

    /// How long to wait before retry number `attempt` (0 for the first), from the configured
    /// base delay, never shorter than the upstream's `Retry-After`. See [`super::backoff()`].
    pub fn backoff(&self, attempt: u32, upstream_retry_after: Option<Duration>) -> Duration {
        backoff(
            attempt,
            self.settings.retry_after,
            upstream_retry_after,
            &mut self.rng(),
        )
    }

    /// Cools `deployment_id` down for at least `duration` (operators, tests).
    pub async fn cool_down(&self, deployment_id: &str, duration: Duration) {
        self.store.cool_down(deployment_id, duration).await;
    }

    /// The `/health` document.
    pub async fn health(&self) -> HealthSnapshot {
        let snapshot = self.store.snapshot().await;
        health::build(
            &self.groups,
            &self.consumers,
            &snapshot,
            chrono::Utc::now(),
            self.store.kind(),
            self.settings.strategy.as_str(),
        )
    }

    /// A fresh generator per decision: no lock, reproducible from the seed in draw order.
    fn rng(&self) -> SmallRng {
        let draw = self.draws.fetch_add(1, Ordering::Relaxed);
        SmallRng::seed_from_u64(self.seed ^ draw.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }
}

/// [`Router::token_ceiling`] worked out from the config: every group reachable from `group`
/// through fallbacks of either kind, and the largest TPM among their deployments.
fn token_ceiling(config: &Config, group: &str) -> Option<u64> {
    let settings = &config.router;
    let mut reach: Vec<&str> = vec![group];
    let mut next = 0;
    while let Some(name) = reach.get(next).copied() {
        next += 1;
        let onward = settings
            .fallbacks_for(name)
            .iter()
            .chain(&settings.default_fallbacks)
            .chain(settings.context_window_fallbacks_for(name));
        for other in onward {
            if !reach.contains(&other.as_str()) {
                reach.push(other);
            }
        }
    }
    let mut ceiling = 0;
    for name in reach {
        for deployment in config.group(name).map_or(&[][..], |g| &g.deployments) {
            ceiling = ceiling.max(deployment.tpm?);
        }
    }
    Some(ceiling)
}

fn dedupe<'a>(group: &str, names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        if name != group && !out.contains(name) {
            out.push(name.clone());
        }
    }
    out
}
