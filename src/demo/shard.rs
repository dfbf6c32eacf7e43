//! Placeholder until the demo helper lands this pattern (not committed).

use std::time::Duration;

use super::{DemoEnv, DemoOutcome};
use crate::render::Output;

/// Runs the demo.
pub async fn run(
    _env: &DemoEnv,
    _requests: u32,
    _wait: Duration,
    _out: &Output,
) -> anyhow::Result<DemoOutcome> {
    anyhow::bail!("pending")
}
