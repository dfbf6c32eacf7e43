//! Admissions held by the gateway while a call runs. A permit must be handed back to the
//! [`Router`](super::Router) (`finish`, `finish_consumer`). One that is dropped instead (a panic,
//! a caller who hung up) ends by what is known: before [`DeploymentPermit::mark_sent`] the call
//! never left and the admission is released, consuming nothing; after it the upstream may have
//! counted (and billed) the call, so it stays counted with its whole reservation, and the
//! deployment's health gets no verdict ([`HealthEvent::Abandoned`]).
//!
//! Drop cannot await: it polls the release once, which completes at once for the in-memory store,
//! and spawns the rest on the current tokio runtime for a store that needs I/O. Outside a runtime
//! the admission is left to expire with its window.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::cooldown::HealthEvent;
use super::limits::Remaining;
use super::store::{Completion, DeploymentRefusal, Grant, StateStore};
use crate::config::Deployment;

/// An admission to one deployment.
#[derive(Debug)]
pub struct DeploymentPermit<S: StateStore> {
    deployment: Arc<Deployment>,
    grant: Grant,
    store: Arc<S>,
    /// The tokens reserved at admission.
    reserved: u64,
    /// The group's deployments passed over before this one, and why.
    skipped: Vec<(String, DeploymentRefusal)>,
    sent: bool,
    done: bool,
}

impl<S: StateStore> DeploymentPermit<S> {
    pub(super) fn new(
        deployment: Arc<Deployment>,
        grant: Grant,
        store: Arc<S>,
        reserved: u64,
        skipped: Vec<(String, DeploymentRefusal)>,
    ) -> Self {
        DeploymentPermit {
            deployment,
            grant,
            store,
            reserved,
            skipped,
            sent: false,
            done: false,
        }
    }

    /// The deployments of the group passed over before this one was admitted, and why.
    pub fn skipped(&self) -> &[(String, DeploymentRefusal)] {
        &self.skipped
    }

    /// The call is leaving for the upstream: from now on dropping the permit keeps the admission.
    pub fn mark_sent(&mut self) {
        self.sent = true;
    }

    /// The deployment to call.
    pub fn deployment(&self) -> &Arc<Deployment> {
        &self.deployment
    }

    /// What is left of the deployment's limits, for `x-ratelimit-remaining-*`.
    pub fn remaining(&self) -> Remaining {
        self.grant.remaining
    }

    /// Whether this call is the probe of a deployment coming out of cooldown.
    pub fn is_probe(&self) -> bool {
        self.grant.probe
    }

    pub(super) async fn complete(mut self, completion: Completion) {
        self.done = true;
        self.store
            .finish_deployment(&self.deployment.key, self.grant, completion)
            .await;
    }
}

impl<S: StateStore> Drop for DeploymentPermit<S> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let store = Arc::clone(&self.store);
        let (id, grant) = (self.deployment.key.clone(), self.grant);
        let ended = dropped(self.sent, self.reserved);
        run_detached(async move { store.finish_deployment(&id, grant, ended).await });
    }
}

/// An admission under one consumer's quota.
#[derive(Debug)]
pub struct ConsumerPermit<S: StateStore> {
    consumer: String,
    grant: Grant,
    store: Arc<S>,
    /// The tokens reserved at admission.
    reserved: u64,
    sent: bool,
    done: bool,
}

impl<S: StateStore> ConsumerPermit<S> {
    pub(super) fn new(consumer: String, grant: Grant, store: Arc<S>, reserved: u64) -> Self {
        ConsumerPermit {
            consumer,
            grant,
            store,
            reserved,
            sent: false,
            done: false,
        }
    }

    /// A call for this request is leaving for an upstream: from now on dropping the permit
    /// keeps the admission.
    pub fn mark_sent(&mut self) {
        self.sent = true;
    }

    /// The consumer's name.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    /// What is left of the consumer's limits.
    pub fn remaining(&self) -> Remaining {
        self.grant.remaining
    }

    pub(super) async fn complete(mut self, tokens: Option<u64>) {
        self.done = true;
        self.store
            .finish_consumer(&self.consumer, self.grant, tokens)
            .await;
    }
}

impl<S: StateStore> Drop for ConsumerPermit<S> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let store = Arc::clone(&self.store);
        let (name, grant) = (self.consumer.clone(), self.grant);
        let tokens = dropped(self.sent, self.reserved).tokens;
        run_detached(async move { store.finish_consumer(&name, grant, tokens).await });
    }
}

/// How a permit dropped unfinished ends: released if its call never left, else kept with its
/// whole reservation and no verdict on health.
fn dropped(sent: bool, reserved: u64) -> Completion {
    if sent {
        Completion {
            tokens: Some(reserved),
            latency: None,
            health: HealthEvent::Abandoned,
        }
    } else {
        Completion {
            tokens: None,
            latency: None,
            health: HealthEvent::NotSent,
        }
    }
}

/// Polls `release` once; if it is not done, finishes it on the current runtime.
fn run_detached(release: impl Future<Output = ()> + Send + 'static) {
    let mut release = Box::pin(release);
    let mut cx = Context::from_waker(Waker::noop());
    if let Poll::Ready(()) = release.as_mut().poll(&mut cx) {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(release);
        }
        Err(_) => tracing::warn!(
            "a permit was dropped outside a runtime; its admission expires with its window"
        ),
    }
}
