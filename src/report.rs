//! Placeholder until the demo helper lands `report regions` (not committed).

use crate::aws::Clients;
use crate::cli::RegionsArgs;
use crate::config::Config;
use crate::render::Output;

/// Runs the report.
pub async fn regions(_config: &Config, _clients: &Clients, _args: &RegionsArgs, _out: &Output) -> anyhow::Result<serde_json::Value> {
    anyhow::bail!("pending")
}
