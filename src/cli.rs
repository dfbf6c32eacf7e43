//! The command line (DESIGN section 2), parsed with clap; `commands` runs what it names.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Resilient LLM inference on Amazon Bedrock: an OpenAI-compatible gateway, the five
/// resilience patterns as demos, and a local AWS sandbox.
#[derive(Debug, Parser)]
#[command(name = "resilient-llm", version, about, propagate_version = true)]
pub struct Cli {
    /// Config file [default: config/config.yaml, else the built-in default]
    #[arg(long, global = true, env = "RESILIENT_LLM_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Print one JSON document instead of lines and tables
    #[arg(long, global = true)]
    pub json: bool,
    /// No colours (NO_COLOR is honoured too)
    #[arg(long, global = true)]
    pub no_color: bool,
    /// More log output (-v info, -vv debug, -vvv trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate and inspect the configuration
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The OpenAI-compatible gateway in front of Bedrock and OpenAI-compatible upstreams
    #[command(subcommand)]
    Gateway(GatewayCommand),
    /// The local AWS emulator (Bedrock Runtime, CloudWatch Logs, STS)
    #[command(subcommand)]
    Sandbox(SandboxCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config, then print the resolved routing table
    Check,
}

#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Serve until SIGINT/SIGTERM, then finish in-flight requests
    Serve(GatewayServeArgs),
}

#[derive(Debug, Args)]
pub struct GatewayServeArgs {
    /// Address to bind [default: gateway.host from the config, else 127.0.0.1]
    #[arg(long)]
    pub host: Option<String>,
    /// Port to bind, 0 for a free one [default: gateway.port from the config, else 4000]
    #[arg(long)]
    pub port: Option<u16>,
    /// Serve against an in-process sandbox instead of AWS (nothing else needed)
    #[arg(long)]
    pub sandbox: bool,
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Serve the sandbox until Ctrl-C
    Serve(SandboxServeArgs),
}

#[derive(Debug, Args)]
pub struct SandboxServeArgs {
    /// Address to bind
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind (0 picks a free one)
    #[arg(long, default_value_t = 4566)]
    pub port: u16,
    /// Write AWS `config` and `credentials` files for the sandbox's profiles into DIR
    #[arg(long, value_name = "DIR")]
    pub aws_config_dir: Option<PathBuf>,
}
