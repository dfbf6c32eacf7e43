//! What the pipeline tells a surface about a request's route, for its headers: the group and
//! deployment that answered, the attempts, and the limits that decided it.

use std::sync::Arc;

use crate::config::Deployment;
use crate::router::{Counters, Exceeded, LimitKind, Remaining};

/// Where a request went. The deployment is the config's own (no copied strings); `None` until
/// one answered.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    pub requested_group: String,
    /// The deployment that answered.
    pub served_by: Option<Arc<Deployment>>,
    pub attempts: u32,
    pub retries: u32,
    pub fallbacks: u32,
    /// The limits of the serving deployment, or of the limit that refused.
    pub rate: RateLimits,
    /// What a complete answer cost (USD), when its deployment has a price; a stream's comes
    /// in its usage chunk.
    pub cost: Option<f64>,
}

impl Trace {
    /// A trace of a request to `group`, before any route.
    pub fn new(group: &str) -> Self {
        Trace {
            requested_group: group.to_owned(),
            ..Trace::default()
        }
    }

    /// The configured id of the deployment that answered (`x-litellm-model-id`).
    pub fn deployment(&self) -> Option<&str> {
        self.served_by.as_deref().map(|d| d.id.as_str())
    }

    /// The group the answering deployment belongs to (a fallback's, after a fallback).
    pub fn group(&self) -> Option<&str> {
        self.served_by.as_deref().map(|d| d.group.as_str())
    }

    pub(super) fn count(&mut self, counters: Counters) {
        self.attempts = counters.attempts;
        self.retries = counters.retries;
        self.fallbacks = counters.fallbacks;
    }
}

/// The limits that decided a request, for the surface's rate-limit headers; `None` leaves a
/// figure out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimits {
    pub limit_requests: Option<u64>,
    pub limit_tokens: Option<u64>,
    pub remaining: Remaining,
}

impl RateLimits {
    /// A request `deployment` admitted, with what its limits had left afterwards.
    pub fn served(deployment: &Deployment, remaining: Remaining) -> Self {
        RateLimits {
            limit_requests: deployment.rpm.map(u64::from),
            limit_tokens: deployment.tpm,
            remaining,
        }
    }

    /// A request refused by one limit: nothing of it left, and it frees after `retry_after`.
    /// A parallel limit is no per-minute quota and has no OpenAI header.
    pub fn exceeded(exceeded: &Exceeded) -> Self {
        let nothing_left = Remaining {
            requests: None,
            tokens: None,
            reset_requests: None,
            reset_tokens: None,
        };
        match exceeded.kind {
            LimitKind::Rpm => RateLimits {
                limit_requests: Some(exceeded.limit),
                limit_tokens: None,
                remaining: Remaining {
                    requests: Some(0),
                    reset_requests: Some(exceeded.retry_after),
                    ..nothing_left
                },
            },
            LimitKind::Tpm => RateLimits {
                limit_requests: None,
                limit_tokens: Some(exceeded.limit),
                remaining: Remaining {
                    tokens: Some(0),
                    reset_tokens: Some(exceeded.retry_after),
                    ..nothing_left
                },
            },
            // Neither is a per-minute quota, which the OpenAI headers describe.
            LimitKind::Parallel | LimitKind::Tpd => RateLimits::default(),
        }
    }
}
