//! Why a request got no answer, before any surface words it: each surface turns a [`Failure`]
//! into its own error shape (OpenAI's error JSON today; Anthropic's and Bedrock's exceptions
//! next) with the same meaning and status.

use std::time::Duration;

use crate::provider::ProviderError;
use crate::router::{Refusal, Unfit};

/// A request the pipeline did not serve.
#[derive(Debug, Clone)]
pub enum Failure {
    /// No model group of that name (404).
    UnknownModel(String),
    /// The caller's key may not use the group (403).
    Forbidden(String),
    /// The request is larger than any limit it could ever fit under (400): `message` says which.
    NeverFits(String),
    /// The consumer's own quota refused it (429, nothing consumed).
    ConsumerLimited(Refusal),
    /// Every deployment the chain reaches is full or cooling down (429).
    NoCapacity {
        group: String,
        retry_after: Duration,
    },
    /// No deployment the chain reaches can serve this request at all (400).
    Unfit { group: String, reason: Unfit },
    /// The request ran past the router's timeout (504).
    Timeout,
    /// The caller's or the gateway's spend budget cannot take this request (400).
    BudgetExceeded(super::budget::BudgetRefusal),
    /// The upstream's error speaks for the request: the client's own mistake, or the last
    /// failed call when the chain ran out.
    Upstream(ProviderError),
}

impl Failure {
    /// A short name of why, for logs and traces (`error.type`).
    pub fn label(&self) -> &'static str {
        match self {
            Failure::UnknownModel(_) => "unknown_model",
            Failure::Forbidden(_) => "forbidden",
            Failure::NeverFits(_) => "never_fits",
            Failure::ConsumerLimited(_) => "consumer_limited",
            Failure::NoCapacity { .. } => "no_capacity",
            Failure::Unfit { .. } => "unfit",
            Failure::Timeout => "timeout",
            Failure::BudgetExceeded(_) => "budget_exceeded",
            Failure::Upstream(error) => error.kind().openai_type(),
        }
    }
}
