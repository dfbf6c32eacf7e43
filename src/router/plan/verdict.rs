//! How a [`super::RoutePlan`] ends when no call answered: the verdict the client hears and every
//! failed call for the log line.

use std::fmt;
use std::time::Duration;

use crate::provider::ProviderError;
use crate::router::fit::Unfit;
use crate::router::limits::Exceeded;

/// One failed call: the deployment's key and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedCall {
    pub deployment: String,
    pub error: ProviderError,
}

/// How a request that found no answer ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing could take the request: 429, come back after `retry_after`.
    NoCapacity { retry_after: Duration },
    /// The chain ran out; the last call's error speaks for it.
    Failed(ProviderError),
    /// The request itself is at fault (or cannot be sent): answer it as it is.
    ClientError(ProviderError),
    /// No deployment the chain reaches can serve this request (the first group found so).
    Unfit { group: String, reason: Unfit },
}

/// The plan's final answer: the verdict and every failed call, in order (TensorZero's
/// `AllTargetsFailed { errors }`); the client hears the verdict, the log line the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    pub verdict: Verdict,
    pub attempts: Vec<FailedCall>,
    /// The deployment limit that frees earliest among those that refused the request, for the
    /// rate-limit headers; `None` for a client error, which is answered as it is.
    pub nearest_limit: Option<Exceeded>,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.verdict {
            Verdict::NoCapacity { retry_after } => {
                write!(
                    f,
                    "no capacity, retry after {:.1}s",
                    retry_after.as_secs_f64()
                )?;
            }
            Verdict::Failed(error) | Verdict::ClientError(error) => write!(f, "{error}")?,
            Verdict::Unfit { group, reason } => write!(
                f,
                "no deployment of {group} can serve the request: {reason}"
            )?,
        }
        for (i, call) in self.attempts.iter().enumerate() {
            let sep = if i == 0 { "; calls: " } else { "; " };
            write!(f, "{sep}{}: {}", call.deployment, call.error)?;
        }
        Ok(())
    }
}

impl std::error::Error for PlanError {}

/// Whether `error` says the upstream had no capacity: a chain that ends on it answers 429.
pub(super) fn is_throttling(error: &ProviderError) -> bool {
    match error {
        ProviderError::RateLimited { .. } => true,
        ProviderError::Unavailable { .. }
        | ProviderError::Timeout { .. }
        | ProviderError::ContextWindowExceeded { .. }
        | ProviderError::Unsupported { .. }
        | ProviderError::BadRequest { .. }
        | ProviderError::AccessDenied { .. }
        | ProviderError::NotFound { .. }
        | ProviderError::Misconfigured { .. }
        | ProviderError::Upstream { .. } => false,
    }
}
