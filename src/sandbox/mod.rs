//! The sandbox: a local emulator of the slice of AWS the product uses (DESIGN section 6).
//!
//! Bedrock Runtime (Converse, ConverseStream, InvokeModel), CloudWatch Logs, STS and an
//! OpenAI-compatible route, over the real wire protocols, so the real AWS SDK clients work
//! against it through an endpoint URL. Accounts, quotas, cross-Region capacity, latency and
//! faults come from the `sandbox` section of the configuration. [`start`] runs it in-process
//! (tests, `--sandbox`); [`serve`] is `resilient-llm sandbox serve`.

mod auth;
mod aws_files;
pub mod bedrock;
pub mod catalogue;
mod cris;
pub mod emulated_model;
pub mod error;
mod faults;
pub mod logs;
mod model_call;
mod openai;
mod pace;
mod quota;
mod request_fields;
mod routes;
mod state;
pub mod stats;
pub mod sts;

use std::io::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use aws_files::write_aws_config;
pub use state::Sandbox;
pub use stats::{AccountStats, CallCounts, SandboxStats};

use crate::config::sandbox::SandboxSettings;

/// How long shutdown waits for open connections (stalled streams never finish on their own).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A sandbox running in this process.
pub struct SandboxHandle {
    addr: SocketAddr,
    sandbox: Arc<Sandbox>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<io::Result<()>>,
}

impl SandboxHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL for clients (`http://127.0.0.1:PORT` when bound to every interface).
    pub fn endpoint(&self) -> String {
        endpoint_for(self.addr)
    }

    /// A snapshot of the call counters.
    pub fn stats(&self) -> SandboxStats {
        self.sandbox.stats()
    }

    /// Marks `region` down (its share moves to the other destinations) or up again.
    pub fn set_region_down(&self, region: &str, down: bool) {
        self.sandbox.set_region_down(region, down);
    }

    /// Clears quotas, counters, outages set at run time and logs.
    pub fn reset(&self) {
        self.sandbox.reset();
    }

    /// The running sandbox's state.
    pub fn sandbox(&self) -> &Arc<Sandbox> {
        &self.sandbox
    }

    /// Stops accepting, lets open requests finish for a short grace period, then stops.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let mut task = self.task;
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}

fn endpoint_for(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Starts a sandbox on `addr` (port 0 picks a free port).
pub async fn start(settings: SandboxSettings, addr: SocketAddr) -> io::Result<SandboxHandle> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let sandbox = Arc::new(Sandbox::new(settings));
    let app = routes::router(sandbox.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    Ok(SandboxHandle {
        addr,
        sandbox,
        stop,
        task,
    })
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
) -> anyhow::Result<()> {
    let ip: IpAddr = match host {
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        other => other
            .parse()
            .map_err(|_| anyhow::anyhow!("--host `{other}` is not an IP address"))?,
    };
    let handle = start(settings.clone(), SocketAddr::new(ip, port))
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot listen on {host}:{port}: {e} (is the port in use?)")
        })?;
    let endpoint = handle.endpoint();
    if let Some(dir) = &aws_config_dir {
        write_aws_config(&settings, &endpoint, "us-east-1", dir).map_err(|e| {
            anyhow::anyhow!("cannot write AWS config files to {}: {e}", dir.display())
        })?;
    }
    let listening = format!("http://{host}:{}", handle.addr().port());
    let mut stdout = io::stdout().lock();
    writeln!(
        stdout,
        "{}",
        banner(&settings, &listening, &endpoint, aws_config_dir.as_ref())
    )?;
    stdout.flush()?;
    drop(stdout);
    shutdown_signal().await;
    handle.shutdown().await;
    Ok(())
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
    fn endpoints_of_wildcard_binds_use_loopback() {
        assert_eq!(
            endpoint_for("0.0.0.0:4566".parse().unwrap()),
            "http://127.0.0.1:4566"
        );
        assert_eq!(
            endpoint_for("127.0.0.1:9".parse().unwrap()),
            "http://127.0.0.1:9"
        );
    }
}
