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
    /// Log lines as text, or as one JSON object each (with one line per gateway request;
    /// LiteLLM's `litellm_settings.json_logs: true` does the same)
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate and inspect the configuration
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The OpenAI-compatible gateway in front of Bedrock and OpenAI-compatible upstreams
    #[command(subcommand)]
    Gateway(GatewayCommand),
    /// The five resilience patterns, narrated (add --sandbox to run offline)
    #[command(subcommand)]
    Demo(DemoCommand),
    /// Ad-hoc reports from CloudWatch Logs Insights
    #[command(subcommand)]
    Report(ReportCommand),
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
pub enum DemoCommand {
    /// Pattern 1: concurrent calls to a cross-Region inference profile, then the Region split
    Cris(DirectDemoArgs),
    /// Pattern 2: round-robin across AWS accounts (profiles), per-account stats and Regions
    Shard(DirectDemoArgs),
    /// Pattern 3: a primary at 3 RPM falls back to a backup model (through the gateway)
    Fallback(GatewayDemoArgs),
    /// Pattern 4: two deployments balanced by simple-shuffle, overflow to a third
    Balance(GatewayDemoArgs),
    /// Pattern 5: per-consumer quotas keep a noisy consumer from starving the others
    Isolate(GatewayDemoArgs),
    /// Every pattern in sequence, then a summary table of verdicts
    All(AllDemoArgs),
}

/// Options of the demos that call Bedrock directly.
#[derive(Debug, Clone, Args)]
pub struct DirectDemoArgs {
    /// Number of concurrent requests (1-100) [default: 10 for cris, 20 for shard]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub requests: Option<u32>,
    /// Seconds to wait for invocation logs to reach CloudWatch
    #[arg(long, default_value_t = 180)]
    pub wait: u64,
    /// Run against an in-process sandbox instead of AWS
    #[arg(long)]
    pub sandbox: bool,
}

/// Options of the demos that go through the gateway.
#[derive(Debug, Clone, Args)]
pub struct GatewayDemoArgs {
    /// Number of concurrent requests (per consumer for isolate) [default: the walkthrough's]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub requests: Option<u32>,
    /// The gateway's URL [default: http://127.0.0.1:<gateway.port>]
    #[arg(long, value_name = "URL")]
    pub gateway: Option<String>,
    /// Start an in-process sandbox and gateway instead of using a running gateway
    #[arg(long)]
    pub sandbox: bool,
}

#[derive(Debug, Clone, Args)]
pub struct AllDemoArgs {
    /// Run against in-process sandboxes and gateways (required: real runs are one by one)
    #[arg(long)]
    pub sandbox: bool,
    /// Also write the five patterns' figures as charts to one self-contained HTML page
    #[arg(long, value_name = "FILE")]
    pub html: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Invocation counts from the Bedrock model-invocation logs, by Region, model or account
    Regions(RegionsArgs),
}

/// How `report regions` groups invocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupBy {
    Region,
    Model,
    Account,
}

#[derive(Debug, Clone, Args)]
pub struct RegionsArgs {
    /// Only this model or inference profile id (default: every model)
    #[arg(long)]
    pub model: Option<String>,
    /// How far back to look: a whole number above zero and a unit (s, m, h, d): 30s, 15m, 2h, 1d
    #[arg(
        long,
        default_value = "15m",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub since: crate::report::Since,
    /// AWS profile [default: aws.profile_name]
    #[arg(long)]
    pub profile: Option<String>,
    /// Group by Region, model or account
    #[arg(long, value_enum, default_value_t = GroupBy::Region)]
    pub by: GroupBy,
    /// Seconds to poll for the query to complete
    #[arg(long, default_value_t = 60)]
    pub wait: u64,
}

#[derive(Debug, Subcommand)]
pub enum GatewayCommand {
    /// Serve until SIGINT/SIGTERM, then finish in-flight requests
    Serve(GatewayServeArgs),
    /// A running gateway's live picture in the terminal, redrawn every second (from /ui/events)
    Top(TopArgs),
}

#[derive(Debug, Clone, Args)]
pub struct TopArgs {
    /// The gateway's URL [default: http://127.0.0.1:<gateway.port>]
    #[arg(long, value_name = "URL")]
    pub gateway: Option<String>,
    /// The master key [default: $RESILIENT_LLM_KEY, else the config's master_key]
    #[arg(long, env = "RESILIENT_LLM_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Print one frame and exit
    #[arg(long)]
    pub once: bool,
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
    /// PEM certificate chain for TLS [default: gateway.ssl_certfile_path from the config]
    #[arg(
        long = "ssl-certfile-path",
        alias = "ssl_certfile_path",
        value_name = "FILE"
    )]
    pub ssl_certfile_path: Option<PathBuf>,
    /// PEM private key for TLS [default: gateway.ssl_keyfile_path from the config]
    #[arg(
        long = "ssl-keyfile-path",
        alias = "ssl_keyfile_path",
        value_name = "FILE"
    )]
    pub ssl_keyfile_path: Option<PathBuf>,
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
