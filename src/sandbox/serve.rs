//! `resilient-llm sandbox serve`: the sandbox as its own process. It binds, optionally writes
//! the AWS `config` and `credentials` files for it, prints the banner (whose first line tests
//! wait for), and runs until SIGINT or SIGTERM. What can go wrong is a [`ServeError`].

use std::io::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use crate::config::sandbox::SandboxSettings;

use super::{start, write_aws_config};

/// Why `sandbox serve` could not start. Each message names what failed and where.
///
/// The I/O error is part of the message, not a `source()`: the command boundary prints the
/// whole chain (`{:#}`), which would say it twice.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// `--host` is neither `localhost` nor an IP address.
    #[error("--host `{0}` is not an IP address")]
    Host(String),
    /// The listener could not bind `host:port`.
    #[error("cannot listen on {host}:{port}: {error} (is the port in use?)")]
    Listen {
        host: String,
        port: u16,
        error: io::Error,
    },
    /// `--aws-config-dir` could not be created or written.
    #[error("cannot write AWS config files to {}: {error}", dir.display())]
    AwsConfig { dir: PathBuf, error: io::Error },
    /// Standard output refused the banner.
    #[error("cannot print the banner to standard output: {0}")]
    Banner(io::Error),
}

/// The banner printed by `sandbox serve`; its first line is `Sandbox listening on URL`.
pub fn banner(
    settings: &SandboxSettings,
    listening: &str,
    endpoint: &str,
    aws_config_dir: Option<&PathBuf>,
) -> String {
    let mut lines = vec![format!("Sandbox listening on {listening}"), String::new()];
    lines.push("Point AWS clients at it:".into());
    lines.push(format!("  export AWS_ENDPOINT_URL={endpoint}"));
    match aws_config_dir {
        Some(dir) => {
            lines.push(format!(
                "  export AWS_CONFIG_FILE={}",
                dir.join("config").display()
            ));
            lines.push(format!(
                "  export AWS_SHARED_CREDENTIALS_FILE={}",
                dir.join("credentials").display()
            ));
        }
        None => {
            if let Some(first) = settings.accounts.first() {
                lines.push(format!(
                    "  export AWS_ACCESS_KEY_ID={}",
                    first.access_key_id
                ));
                lines.push(format!(
                    "  export AWS_SECRET_ACCESS_KEY={}",
                    first.secret_access_key
                ));
                lines.push("  export AWS_REGION=us-east-1".into());
            }
        }
    }
    lines.push(String::new());
    lines.push("Profiles (account id, access key id):".into());
    for account in &settings.accounts {
        lines.push(format!(
            "  {:<12} {}  {}",
            account.profile, account.account_id, account.access_key_id
        ));
    }
    lines.push(String::new());
    lines.push(format!("OpenAI-compatible: {endpoint}/v1/chat/completions"));
    lines.push(format!(
        "Stats: GET {endpoint}/_sandbox/stats   Reset: POST {endpoint}/_sandbox/reset"
    ));
    lines.join("\n")
}

/// `resilient-llm sandbox serve`: runs until SIGINT or SIGTERM.
pub async fn serve(
    settings: SandboxSettings,
    host: &str,
    port: u16,
    aws_config_dir: Option<PathBuf>,
) -> Result<(), ServeError> {
    let ip: IpAddr = match host {
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        other => other
            .parse()
            .map_err(|_| ServeError::Host(other.to_owned()))?,
    };
    let handle = start(settings.clone(), SocketAddr::new(ip, port))
        .await
        .map_err(|error| ServeError::Listen {
            host: host.to_owned(),
            port,
            error,
        })?;
    let endpoint = handle.endpoint();
    if let Some(dir) = &aws_config_dir {
        write_aws_config(&settings, &endpoint, "us-east-1", dir).map_err(|error| {
            ServeError::AwsConfig {
                dir: dir.clone(),
                error,
            }
        })?;
    }
    let listening = format!("http://{host}:{}", handle.addr().port());
    let text = banner(&settings, &listening, &endpoint, aws_config_dir.as_ref());
    print_banner(&text).map_err(ServeError::Banner)?;
    shutdown_signal().await;
    handle.shutdown().await;
    Ok(())
}

fn print_banner(text: &str) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    writeln!(stdout, "{text}")?;
    stdout.flush()
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_opens_with_the_listening_line_and_names_every_profile() {
        let settings = SandboxSettings::default();
        let dir = PathBuf::from("/tmp/sbx");
        let text = banner(
            &settings,
            "http://127.0.0.1:4566",
            "http://127.0.0.1:4566",
            Some(&dir),
        );
        assert_eq!(
            text.lines().next(),
            Some("Sandbox listening on http://127.0.0.1:4566")
        );
        assert!(text.contains("AWS_ENDPOINT_URL=http://127.0.0.1:4566"));
        assert!(text.contains("AWS_SHARED_CREDENTIALS_FILE=/tmp/sbx/credentials"));
        assert!(text.contains("222222222222"));
    }

    #[test]
    fn serve_errors_name_what_failed_and_where() {
        let refused = io::Error::new(io::ErrorKind::AddrInUse, "address in use");
        let listen = ServeError::Listen {
            host: "0.0.0.0".into(),
            port: 4566,
            error: refused,
        };
        assert_eq!(
            listen.to_string(),
            "cannot listen on 0.0.0.0:4566: address in use (is the port in use?)"
        );
        let denied = io::Error::new(io::ErrorKind::PermissionDenied, "permission denied");
        let files = ServeError::AwsConfig {
            dir: PathBuf::from("/etc/sbx"),
            error: denied,
        };
        assert_eq!(
            files.to_string(),
            "cannot write AWS config files to /etc/sbx: permission denied"
        );
    }

    #[tokio::test]
    async fn hosts_that_are_not_addresses_are_refused_before_binding() {
        let error = serve(SandboxSettings::default(), "sandbox.local", 0, None)
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "--host `sandbox.local` is not an IP address"
        );
    }
}
