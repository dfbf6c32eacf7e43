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
use super::reservation::{NeverFits, Reservation, never_fits};
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
    /// Per group (in config order): every deployment a request to it may reach, through its
    /// fallbacks of either kind, transitively.
    reach: Vec<Vec<Arc<Deployment>>>,
}

impl<S: StateStore> Router<S> {
    /// A router for `config`'s groups and consumers over `store`, with random choices seeded from
    /// the OS (through std's hasher keys).
    pub fn new(config: &Config, store: S) -> Self {
        let reach = config
            .groups
            .iter()
            .map(|g| reachable(config, &g.name))
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
            reach,
        }
    }

    /// Every deployment a request to `group` may reach: its own, its fallbacks',
    /// `default_fallbacks`' and context-window fallbacks', transitively (none for an unknown
    /// group).
    pub fn reachable(&self, group: &str) -> &[Arc<Deployment>] {
        self.group_index
            .get(group)
            .and_then(|i| self.reach.get(*i))
            .map_or(&[], Vec::as_slice)
    }

    /// What a consumer's quota reserves for `reservation` to `group` before a deployment is
    /// chosen: the most it could reserve on any deployment it may reach.
    pub fn consumer_reservation(&self, group: &str, reservation: Reservation) -> u64 {
        reservation.worst_case(self.reachable(group))
    }

    /// Why `reservation` can never be admitted in `group`: more than the TPM of every
    /// deployment it may reach, so waiting would never help.
    pub fn never_fits(&self, group: &str, reservation: Reservation) -> Option<NeverFits> {
        never_fits(reservation, self.reachable(group))
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
            tpd: None,
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

    /// Picks and admits a deployment of `group` for a request that reserves `reservation`
    /// (estimated input plus `max_tokens`, else the model's maximum output) and `needs` what
    /// it says, skipping the deployment keys in `exclude` and those that cannot serve it.
    pub async fn select(
        &self,
        group: &str,
        reservation: impl Into<Reservation>,
        exclude: &[&str],
        needs: &Needs,
    ) -> Selection<S> {
        let reservation = reservation.into();
        let Some(group) = self.group(group) else {
            return Selection::UnknownGroup;
        };
        let deployments = match candidates(group, exclude, needs) {
            Ok(deployments) => deployments,
            Err(reason) => return Selection::Unfit(reason),
        };
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
            let tokens = reservation.on(deployment);
            let request = DeploymentRequest {
                limits: Limits {
                    rpm: deployment.rpm,
                    tpm: deployment.tpm,
                    parallel: None,
                    tpd: deployment.tpd,
                },
                tokens,
                enforce_limits: self.settings.pre_call_checks,
            };
            match self.store.admit_deployment(&deployment.key, request).await {
                Ok(grant) => {
                    return Selection::Admitted(DeploymentPermit::new(
                        Arc::clone(deployment),
                        grant,
                        Arc::clone(&self.store),
                        tokens,
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

/// The deployments of `group` that can serve a request that `needs` what it says, but for
/// those in `exclude`; `Err` with the first one's reason when none of them can serve it.
fn candidates<'g>(
    group: &'g ModelGroup,
    exclude: &[&str],
    needs: &Needs,
) -> Result<Vec<&'g Arc<Deployment>>, Unfit> {
    let mut first_unfit = None;
    let mut fit = 0;
    let deployments = group
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
    match first_unfit {
        Some(reason) if fit == 0 => Err(reason),
        Some(_) | None => Ok(deployments),
    }
}

/// [`Router::reachable`] worked out from the config: every group reachable from `group`
/// through fallbacks of either kind, and their deployments.
fn reachable(config: &Config, group: &str) -> Vec<Arc<Deployment>> {
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
    reach
        .into_iter()
        .filter_map(|name| config.group(name))
        .flat_map(|g| g.deployments.iter().cloned())
        .collect()
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
