//! What the gateway reports back after a call, what it is told when refused, and how a report
//! becomes a change to the state store ([`completion`], pure).

use std::time::Duration;

use super::cooldown::HealthEvent;
use super::limits::LimitKind;
use super::store::Completion;

/// How a call to a deployment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The upstream answered; tokens settle the reservation, latency feeds the average. The
    /// tokens are the deployment's quota units ([`crate::config::QuotaProfile::charge`]): the
    /// input part (fresh input, cache writes, cache reads where they count) and the output
    /// part (output times the burndown).
    Success {
        latency: Duration,
        input_tokens: u64,
        output_tokens: u64,
    },
    /// The upstream throttled (429 / ThrottlingException): the deployment cools down.
    RateLimited { retry_after: Option<Duration> },
    /// A retryable upstream failure; counts toward `allowed_fails`.
    Failed,
    /// The upstream answered with the client's mistake (400, context too long): not held against
    /// the deployment.
    ClientError,
    /// Never reached the upstream (request invalid for this provider, cancelled first): the
    /// admission is removed and consumes nothing.
    NotSent,
}

/// How an [`Outcome`] changes the deployment's state: a call that reached the upstream stays
/// counted against RPM (the upstream counted it too) with its real tokens, or zero if it produced
/// none we know of; only a call never sent is removed.
pub fn completion(outcome: Outcome) -> Completion {
    match outcome {
        Outcome::Success {
            latency,
            input_tokens,
            output_tokens,
        } => Completion {
            tokens: Some(input_tokens.saturating_add(output_tokens)),
            latency: Some(latency),
            health: HealthEvent::Success,
        },
        Outcome::RateLimited { retry_after } => Completion {
            tokens: Some(0),
            latency: None,
            health: HealthEvent::RateLimited { retry_after },
        },
        Outcome::Failed => Completion {
            tokens: Some(0),
            latency: None,
            health: HealthEvent::Failure,
        },
        Outcome::ClientError => Completion {
            tokens: Some(0),
            latency: None,
            health: HealthEvent::ClientError,
        },
        Outcome::NotSent => Completion {
            tokens: None,
            latency: None,
            health: HealthEvent::NotSent,
        },
    }
}

/// A consumer refused by one of its own limits (answered 429 naming it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("consumer '{consumer}' is over its {} of {value}", config_key(*limit))]
pub struct Refusal {
    pub consumer: String,
    pub limit: LimitKind,
    /// The configured value of that limit.
    pub value: u64,
    /// When the consumer's capacity frees up.
    pub retry_after: Duration,
}

impl Refusal {
    /// The consumer's config key for the limit hit (`rpm_limit`, `tpm_limit`,
    /// `max_parallel_requests`).
    pub fn config_key(&self) -> &'static str {
        config_key(self.limit)
    }
}

fn config_key(limit: LimitKind) -> &'static str {
    match limit {
        LimitKind::Rpm => "rpm_limit",
        LimitKind::Tpm => "tpm_limit",
        LimitKind::Parallel => "max_parallel_requests",
        LimitKind::Tpd => "tpd",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_unsent_call_is_removed() {
        assert_eq!(completion(Outcome::NotSent).tokens, None);
        assert_eq!(completion(Outcome::ClientError).tokens, Some(0));
        let success = completion(Outcome::Success {
            latency: Duration::from_millis(5),
            input_tokens: 10,
            output_tokens: 20,
        });
        assert_eq!(
            (success.tokens, success.health),
            (Some(30), HealthEvent::Success)
        );
    }

    #[test]
    fn refusal_names_the_consumer_limit() {
        let refusal = Refusal {
            consumer: "noisy".into(),
            limit: LimitKind::Rpm,
            value: 3,
            retry_after: Duration::from_secs(20),
        };
        assert_eq!(
            refusal.to_string(),
            "consumer 'noisy' is over its rpm_limit of 3"
        );
    }
}
