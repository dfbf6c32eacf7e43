//! Exact limits: a sliding log of admissions per deployment or consumer (RPM and TPM over any
//! 60-second window, with token reservations) plus a count of requests in flight.
//!
//! Everything here is pure arithmetic over explicit [`Timestamp`](super::Timestamp)s, so every state
//! store (in memory now, Redis later) applies the same rules.

mod counts;
mod day;
mod quota;
mod window;

use std::fmt;
use std::time::Duration;

pub use counts::SecondCounts;
pub use day::{DAY_MINUTES, DayWindow, minute_of};
pub use quota::{Quota, Usage};
pub use window::{UsageWindow, WINDOW};

/// How long a caller refused for `max_parallel_requests` is told to wait: the slot frees when any
/// request in flight finishes, which the limiter cannot foresee.
pub const PARALLEL_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// Requests per minute.
    Rpm,
    /// Tokens per minute.
    Tpm,
    /// Requests in flight at once.
    Parallel,
    /// Tokens per rolling 24 hours.
    Tpd,
}

impl LimitKind {
    /// A short name for logs, metrics and messages (`rpm`, `tpm`, `parallel`).
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Rpm => "rpm",
            LimitKind::Tpm => "tpm",
            LimitKind::Parallel => "parallel",
            LimitKind::Tpd => "tpd",
        }
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The limits of one deployment or consumer; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    pub parallel: Option<u32>,
    /// Tokens per rolling 24 hours (deployments only).
    pub tpd: Option<u64>,
}

/// A refusal by one limit: which, its configured value, and when capacity frees up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    pub kind: LimitKind,
    /// The configured limit that was hit.
    pub limit: u64,
    /// How long until the request would fit (the whole window if it never fits on its own).
    pub retry_after: Duration,
}

/// What is left of each limit after an admission, for `x-ratelimit-remaining-*` and
/// `x-ratelimit-reset-*`; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Remaining {
    pub requests: Option<u64>,
    pub tokens: Option<u64>,
    /// How long until one more request would fit (zero when one fits now).
    pub reset_requests: Option<Duration>,
    /// How long until a request of the same tokens would fit again (zero when it fits now).
    pub reset_tokens: Option<Duration>,
}
