//! CloudWatch Logs Insights over the Bedrock model-invocation logs, shared by `demo cris`,
//! `demo shard` and `report regions`: running one query ([`LogsTarget::query`]: StartQuery,
//! then GetQueryResults until it completes), reading its rows as counts per key
//! ([`Distribution`]), and explaining a failed AWS call to the user ([`Failure`], [`Advice`]).
//!
//! Nothing here knows a demo, a report or the command line: callers pass plain values.

mod distribution;
mod explain;
mod query;

pub use distribution::{Distribution, NO_VALUE};
pub use explain::{Advice, Failure};
pub use query::{LogsTarget, epoch_ms, escape_regex};
