//! The surface-neutral request: what the router and the accounting need to know of a call,
//! apart from the body's wire type. A surface builds it from its own body (OpenAI chat today;
//! Anthropic Messages and Bedrock's Converse next) and hands the body beside it.

use crate::config::Consumer;
use crate::router::{Needs, Reservation};

/// The authenticated caller of one request.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// No master key and no consumers are configured: everyone may call everything.
    Open,
    /// The master key: every model, no consumer quota.
    Master,
    /// A consumer, with its own quotas and allowed models.
    Consumer(&'a Consumer),
}

impl Caller<'_> {
    /// Whether this caller may use the model group `group`.
    pub fn may_use(&self, group: &str) -> bool {
        match self {
            Caller::Open | Caller::Master => true,
            Caller::Consumer(c) => c.may_use(group),
        }
    }

    /// A name for logs and metrics (never a key).
    pub fn label(&self) -> &str {
        match self {
            Caller::Open => "anonymous",
            Caller::Master => "master",
            Caller::Consumer(c) => &c.name,
        }
    }
}

/// Whether the client asked for a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Complete,
    Stream,
}

/// One request as the pipeline sees it.
#[derive(Debug, Clone)]
pub struct RouteRequest<'a> {
    /// The model group asked for.
    pub group: &'a str,
    pub caller: Caller<'a>,
    pub shape: Shape,
    /// The prompt's size, estimated from its text (tokens).
    pub input_tokens: u64,
    /// The most output the request allows (`max_tokens`), if it says.
    pub max_output_tokens: Option<u64>,
    /// What the serving deployment must be able to do.
    pub needs: Needs,
}

impl RouteRequest<'_> {
    /// What the request reserves at admission: the prompt plus `max_tokens`, else, per
    /// deployment, the model's maximum output.
    pub fn reservation(&self) -> Reservation {
        Reservation {
            input: self.input_tokens,
            max_output: self.max_output_tokens,
        }
    }
}
