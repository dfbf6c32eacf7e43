//! The health of one deployment as a state machine: a circuit breaker driven by the outcomes of
//! the calls made to it.
//!
//! ```text
//!   Healthy{failures} ──429, or more than allowed_fails failures within cooldown_time──► CoolingDown{until}
//!   CoolingDown{until} ──a new 429──► CoolingDown{later until}
//!   CoolingDown{until} ──now ≥ until, one request admitted as the probe──► HalfOpen{probe in flight}
//!   HalfOpen ──probe succeeds (or the upstream answers a client error)──► Healthy{}
//!   HalfOpen ──probe fails or is throttled──► CoolingDown{now + cooldown}
//!   HalfOpen ──probe never sent──► HalfOpen{no probe}: the next request becomes the probe
//! ```
//!
//! A 429 cools for `max(cooldown_time, upstream Retry-After)`. Outcomes of requests admitted before
//! the deployment cooled (not the probe) only ever extend a cooldown with a 429; their successes
//! do not end it early. Fallback deployments are ordinary deployments: the same rules apply.

use std::collections::VecDeque;
use std::time::Duration;

use super::clock::Timestamp;

/// When a deployment is cooled down, from `router_settings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CooldownPolicy {
    pub cooldown_time: Duration,
    /// Failures tolerated within `cooldown_time`; one more cools the deployment.
    pub allowed_fails: u32,
}

/// What a finished call says about its deployment's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthEvent {
    /// The upstream answered successfully.
    Success,
    /// The upstream throttled (429 / ThrottlingException), maybe saying for how long.
    RateLimited { retry_after: Option<Duration> },
    /// A retryable upstream failure (5xx, timeout, connection error).
    Failure,
    /// The upstream answered, with an error that is the client's fault: it is reachable.
    ClientError,
    /// The request never reached the upstream.
    NotSent,
    /// The caller went away while the upstream had the request: no verdict on health.
    Abandoned,
}

/// Whether a deployment takes a request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Healthy: admit.
    Open,
    /// The cooldown is over and no probe is out: admit this one request as the probe.
    Probe,
    /// Cooling down until the instant given, or (`None`) waiting for the probe in flight.
    Closed { until: Option<Timestamp> },
}

/// The state shown by `/health`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    Healthy,
    CoolingDown,
    HalfOpen,
}

/// The health of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cooldown {
    /// Taking traffic; the instants of recent failures, newest last.
    Healthy { failures: VecDeque<Timestamp> },
    /// Skipped until `until`.
    CoolingDown { until: Timestamp },
    /// The cooldown is over; exactly one probe request decides what comes next.
    HalfOpen { probe_in_flight: bool },
}

impl Default for Cooldown {
    fn default() -> Self {
        Cooldown::Healthy {
            failures: VecDeque::new(),
        }
    }
}

impl Cooldown {
    /// Whether a request may be admitted at `now`.
    pub fn gate(&self, now: Timestamp) -> Gate {
        match self {
            Cooldown::Healthy { .. } => Gate::Open,
            Cooldown::CoolingDown { until } if *until > now => Gate::Closed {
                until: Some(*until),
            },
            Cooldown::CoolingDown { .. }
            | Cooldown::HalfOpen {
                probe_in_flight: false,
            } => Gate::Probe,
            Cooldown::HalfOpen {
                probe_in_flight: true,
            } => Gate::Closed { until: None },
        }
    }

    /// Marks the probe as sent; call when a request passed a [`Gate::Probe`] and was admitted.
    pub fn send_probe(&mut self) {
        *self = Cooldown::HalfOpen {
            probe_in_flight: true,
        };
    }

    /// Cools down until at least `until` (never shortens a cooldown in progress).
    pub fn cool_until(&mut self, until: Timestamp) {
        let until = match self {
            Cooldown::CoolingDown { until: current } => until.max(*current),
            Cooldown::Healthy { .. } | Cooldown::HalfOpen { .. } => until,
        };
        *self = Cooldown::CoolingDown { until };
    }

    /// Applies the outcome of a call; `probe` says whether it was the half-open probe.
    pub fn record(
        &mut self,
        now: Timestamp,
        event: HealthEvent,
        probe: bool,
        policy: &CooldownPolicy,
    ) {
        if let HealthEvent::RateLimited { retry_after } = event {
            let wait = retry_after.map_or(policy.cooldown_time, |r| r.max(policy.cooldown_time));
            self.cool_until(now.plus(wait));
            return;
        }
        match self {
            Cooldown::Healthy { failures } => {
                if event == HealthEvent::Failure {
                    failures.push_back(now);
                    prune_failures(failures, now, policy.cooldown_time);
                    if failures.len() > policy.allowed_fails as usize {
                        self.cool_until(now.plus(policy.cooldown_time));
                    }
                }
            }
            Cooldown::HalfOpen { .. } if probe => match event {
                HealthEvent::Success | HealthEvent::ClientError => *self = Cooldown::default(),
                HealthEvent::Failure => self.cool_until(now.plus(policy.cooldown_time)),
                HealthEvent::NotSent | HealthEvent::Abandoned => {
                    *self = Cooldown::HalfOpen {
                        probe_in_flight: false,
                    }
                }
                // Handled above, before the match.
                HealthEvent::RateLimited { .. } => {}
            },
            // Late outcomes of requests admitted before the cooldown: only a 429 (above) counts.
            Cooldown::HalfOpen { .. } | Cooldown::CoolingDown { .. } => {}
        }
    }

    /// The state for `/health` at `now`: cooling until when, and failures within `window`.
    pub fn view(&self, now: Timestamp, window: Duration) -> (HealthState, Option<Timestamp>, u32) {
        match self {
            Cooldown::Healthy { failures } => {
                let recent = failures.iter().filter(|t| t.plus(window) > now).count();
                (
                    HealthState::Healthy,
                    None,
                    u32::try_from(recent).unwrap_or(u32::MAX),
                )
            }
            Cooldown::CoolingDown { until } if *until > now => {
                (HealthState::CoolingDown, Some(*until), 0)
            }
            Cooldown::CoolingDown { .. } | Cooldown::HalfOpen { .. } => {
                (HealthState::HalfOpen, None, 0)
            }
        }
    }
}

fn prune_failures(failures: &mut VecDeque<Timestamp>, now: Timestamp, window: Duration) {
    while failures.front().is_some_and(|t| t.plus(window) <= now) {
        failures.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: CooldownPolicy = CooldownPolicy {
        cooldown_time: Duration::from_secs(30),
        allowed_fails: 2,
    };

    fn at(seconds: u64) -> Timestamp {
        Timestamp(seconds * 1_000_000)
    }

    fn rate_limited(retry_after: Option<u64>) -> HealthEvent {
        HealthEvent::RateLimited {
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn a_429_cools_and_a_second_one_extends() {
        let mut c = Cooldown::default();
        c.record(at(0), rate_limited(None), false, &POLICY);
        assert_eq!(
            c.gate(at(10)),
            Gate::Closed {
                until: Some(at(30))
            }
        );
        c.record(at(20), rate_limited(None), false, &POLICY);
        assert_eq!(
            c.gate(at(40)),
            Gate::Closed {
                until: Some(at(50))
            }
        );
        assert_eq!(c.gate(at(50)), Gate::Probe);
    }

    #[test]
    fn an_upstream_retry_after_longer_than_cooldown_time_wins() {
        let mut c = Cooldown::default();
        c.record(at(0), rate_limited(Some(90)), false, &POLICY);
        assert_eq!(
            c.gate(at(0)),
            Gate::Closed {
                until: Some(at(90))
            }
        );
        let mut short = Cooldown::default();
        short.record(at(0), rate_limited(Some(5)), false, &POLICY);
        assert_eq!(
            short.gate(at(0)),
            Gate::Closed {
                until: Some(at(30))
            }
        );
    }

    #[test]
    fn more_than_allowed_fails_within_cooldown_time_cools() {
        let mut c = Cooldown::default();
        c.record(at(0), HealthEvent::Failure, false, &POLICY);
        c.record(at(10), HealthEvent::Failure, false, &POLICY);
        assert_eq!(c.gate(at(10)), Gate::Open, "two failures are allowed");
        // The first failure has aged out by 31 s: still two within the window.
        c.record(at(31), HealthEvent::Failure, false, &POLICY);
        assert_eq!(c.gate(at(31)), Gate::Open);
        c.record(at(32), HealthEvent::Failure, false, &POLICY);
        assert_eq!(
            c.gate(at(32)),
            Gate::Closed {
                until: Some(at(62))
            }
        );
    }

    #[test]
    fn client_errors_do_not_count() {
        let mut c = Cooldown::default();
        for t in 0..10 {
            c.record(at(t), HealthEvent::ClientError, false, &POLICY);
        }
        assert_eq!(c.gate(at(10)), Gate::Open);
    }

    #[test]
    fn half_open_lets_one_probe_through_and_recovers_on_success() {
        let mut c = Cooldown::default();
        c.record(at(0), rate_limited(None), false, &POLICY);
        assert_eq!(c.gate(at(30)), Gate::Probe);
        c.send_probe();
        assert_eq!(
            c.gate(at(31)),
            Gate::Closed { until: None },
            "only one probe"
        );
        // A late success of a request admitted before the cooldown does not recover it.
        c.record(at(31), HealthEvent::Success, false, &POLICY);
        assert_eq!(c.gate(at(31)), Gate::Closed { until: None });
        c.record(at(32), HealthEvent::Success, true, &POLICY);
        assert_eq!(c.gate(at(32)), Gate::Open);
    }

    #[test]
    fn a_failed_probe_cools_again_and_an_unsent_one_frees_the_slot() {
        let mut c = Cooldown::default();
        c.cool_until(at(30));
        c.send_probe();
        c.record(at(30), HealthEvent::NotSent, true, &POLICY);
        assert_eq!(c.gate(at(30)), Gate::Probe);
        c.send_probe();
        c.record(at(31), HealthEvent::Failure, true, &POLICY);
        assert_eq!(
            c.gate(at(31)),
            Gate::Closed {
                until: Some(at(61))
            }
        );
        assert_eq!(
            c.view(at(31), POLICY.cooldown_time).0,
            HealthState::CoolingDown
        );
    }
}
