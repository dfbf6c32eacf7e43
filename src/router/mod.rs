//! Routing decisions, exact limits, cooldowns and the state store behind them (DESIGN section 5).
//!
//! The gateway holds one [`Router`] over a [`StateStore`] ([`MemoryStore`] now, Redis later) and
//! drives it per request: [`Router::admit_consumer`] for the caller's own quota, then
//! [`Router::select`] for a deployment of the model group (strategy order, cooldown gate, atomic
//! RPM/TPM reservation), [`Router::finish`] with the call's [`Outcome`], and on exhaustion
//! [`Router::fallback_groups`] and [`Router::backoff`]. The decisions themselves are pure and live
//! beside their tests: [`plan`] (a request's walk through groups, retries and fallbacks),
//! [`limits`] (sliding-window arithmetic over explicit timestamps), [`cooldown`] (the
//! per-deployment circuit breaker), [`strategy`] (the candidate order) and [`backoff()`].

pub mod backoff;
pub mod clock;
pub mod cooldown;
pub mod fit;
pub mod health;
pub mod limits;
pub mod outcome;
mod permit;
pub mod plan;
pub mod reservation;
mod routing;
pub mod store;
pub mod strategy;

#[cfg(test)]
mod tests;

pub use backoff::{MAX_BACKOFF, backoff};
pub use clock::{Clock, ManualClock, Timestamp, TokioClock};
pub use cooldown::{Cooldown, CooldownPolicy, HealthEvent, HealthState};
pub use fit::{Ask, Needs, Unfit};
pub use health::{ConsumerHealth, DeploymentHealth, HealthSnapshot};
pub use limits::{Exceeded, LimitKind, Limits, Remaining, WINDOW};
pub use outcome::{Outcome, Refusal};
pub use permit::{ConsumerPermit, DeploymentPermit};
pub use plan::{
    Backoff, Counters, FailedCall, PlanError, Reason, RoutePlan, Step, Verdict, outcome_of,
};
pub use reservation::{NeverFits, Reservation};
pub use routing::{Router, Selection};
pub use store::{AnyStore, DeploymentRefusal, MemoryStore, RedisStore, StateStore, StoreSnapshot};
