//! Runs the command the command line names, and maps failures to exit codes
//! (0 success, 1 runtime failure, 2 bad usage or config).

mod config_check;
mod demo;
mod top;

use std::io::IsTerminal;
use std::process::ExitCode;

use crate::cli::{Cli, Command, ConfigCommand, GatewayCommand, ReportCommand, SandboxCommand};
use crate::config::{self, Config, ConfigError};
use crate::render::Output;

/// Why a command failed, which decides the exit code.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Bad usage or config: exit 2.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// Bad usage that the command-line parser cannot see: exit 2.
    #[error("{0}")]
    Usage(#[from] UsageError),
    /// Something failed at run time: exit 1. The message says what to check.
    #[error("{0:#}")]
    Runtime(#[from] anyhow::Error),
}

impl CommandError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CommandError::Config(_) | CommandError::Usage(_) => ExitCode::from(2),
            CommandError::Runtime(_) => ExitCode::from(1),
        }
    }
}

/// A command line that parses but asks for something that cannot be done (`demo all` without
/// `--sandbox`); the message says what to run instead.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl CommandError {
    /// A failure raised inside a command: a [`UsageError`] stays one (exit 2), anything else
    /// is a runtime failure (exit 1).
    fn from_command(error: anyhow::Error) -> Self {
        match error.downcast::<UsageError>() {
            Ok(usage) => CommandError::Usage(usage),
            Err(error) => CommandError::Runtime(error),
        }
    }
}

/// Runs `cli` to completion.
pub fn run(cli: Cli) -> Result<(), CommandError> {
    let output = Output::new(cli.json, cli.no_color);
    let mut config = config::resolve(cli.config.as_deref())?;
    let telemetry = &mut config.gateway.telemetry;
    telemetry.json_logs |= cli.log_format == crate::cli::LogFormat::Json;
    init_logging(cli.verbose, cli.no_color, telemetry.json_logs);
    warn_config(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    match cli.command {
        Command::Config(ConfigCommand::Check) => {
            config_check::run(&config, output);
            Ok(())
        }
        Command::Gateway(GatewayCommand::Serve(args)) => runtime
            .block_on(gateway_serve(config, args))
            .map_err(CommandError::Runtime),
        Command::Gateway(GatewayCommand::Top(args)) => runtime
            .block_on(top::run(&config, args, output))
            .map_err(CommandError::Runtime),
        Command::Demo(command) => runtime
            .block_on(demo::run(config, command, output))
            .map_err(CommandError::from_command),
        Command::Report(ReportCommand::Regions(args)) => runtime
            .block_on(demo::report_regions(config, args, output))
            .map_err(CommandError::Runtime),
        Command::Sandbox(SandboxCommand::Serve(args)) => runtime
            .block_on(crate::sandbox::serve(
                config.sandbox.clone(),
                &args.host,
                args.port,
                args.aws_config_dir,
            ))
            .map_err(|error| CommandError::Runtime(error.into())),
    }
}

async fn gateway_serve(
    mut config: Config,
    args: crate::cli::GatewayServeArgs,
) -> anyhow::Result<()> {
    // The flags win over the config's TLS files, and need each other as the keys do.
    let tls = &mut config.gateway.tls;
    match (args.ssl_certfile_path, args.ssl_keyfile_path) {
        (None, None) => {}
        (Some(cert), Some(key)) => *tls = Some(crate::config::TlsFiles { cert, key }),
        (Some(cert), None) => match tls {
            Some(files) => files.cert = cert,
            None => anyhow::bail!(
                "--ssl-certfile-path needs --ssl-keyfile-path (or gateway.ssl_keyfile_path)"
            ),
        },
        (None, Some(key)) => match tls {
            Some(files) => files.key = key,
            None => anyhow::bail!(
                "--ssl-keyfile-path needs --ssl-certfile-path (or gateway.ssl_certfile_path)"
            ),
        },
    }
    let config = std::sync::Arc::new(config);
    let host = args.host.unwrap_or_else(|| config.gateway.host.clone());
    let port = args.port.unwrap_or(config.gateway.port);
    if args.sandbox {
        let sandbox = crate::sandbox::start(config.sandbox.clone(), "127.0.0.1:0".parse()?).await?;
        println!("Sandbox (in-process) at {}", sandbox.endpoint());
        let clients = crate::aws::Clients::for_sandbox(&config, &sandbox.endpoint());
        Ok(crate::gateway::serve(config, &clients, &host, port).await?)
    } else {
        let clients = crate::aws::Clients::new(&config.aws);
        Ok(crate::gateway::serve(config, &clients, &host, port).await?)
    }
}

fn warn_config(config: &Config) {
    if !config.ignored_keys.is_empty() {
        eprintln!(
            "warning: these LiteLLM settings are not implemented here and are ignored: {}",
            config.ignored_keys.join(", ")
        );
    }
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
}

/// Log lines to stderr: text, or one JSON object each (`json`), where the request log (one
/// line per gateway request, target `resilient_llm::request`) is on by default.
fn init_logging(verbose: u8, no_color: bool, json: bool) {
    let default = match (verbose, json) {
        (0, false) => "warn",
        (0, true) => "warn,resilient_llm::request=info",
        (1, _) => "info,resilient_llm=info",
        (2, _) => "info,resilient_llm=debug",
        _ => "debug,resilient_llm=trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_target(true)
            .try_init()
    } else {
        builder
            .with_ansi(log_colours(
                std::io::stderr().is_terminal(),
                no_color,
                std::env::var_os("NO_COLOR").as_deref(),
            ))
            .with_target(false)
            .try_init()
    };
}

/// Whether log lines (written to stderr) are coloured: only on a terminal, and neither
/// `--no-color` nor a non-empty `NO_COLOR` (<https://no-color.org>) is set. A log captured in a
/// file or piped to a collector must not carry escape codes.
fn log_colours(
    stderr_is_terminal: bool,
    no_color_flag: bool,
    no_color_env: Option<&std::ffi::OsStr>,
) -> bool {
    stderr_is_terminal && !no_color_flag && no_color_env.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    use super::log_colours;

    #[test]
    fn logs_are_coloured_only_on_a_terminal_without_no_color() {
        assert!(log_colours(true, false, None));
        assert!(log_colours(true, false, Some(OsStr::new(""))));
        assert!(!log_colours(false, false, None), "not a terminal");
        assert!(!log_colours(true, true, None), "--no-color");
        assert!(!log_colours(true, false, Some(OsStr::new("1"))), "NO_COLOR");
    }
}
