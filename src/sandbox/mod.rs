//! The sandbox: a local emulator of the slice of AWS the product uses (DESIGN section 6).
//!
//! Bedrock Runtime (Converse, ConverseStream, InvokeModel), CloudWatch Logs, STS and an
//! OpenAI-compatible route, over the real wire protocols, so the real AWS SDK clients work
//! against it through an endpoint URL. Accounts, quotas, cross-Region capacity, latency and
//! faults come from the `sandbox` section of the configuration. [`start`] runs it in-process
//! (tests, `--sandbox`); [`serve`] is `resilient-llm sandbox serve`.
//!
//! One folder per emulated service speaks its wire protocol:
//! - [`bedrock`]: Bedrock Runtime (Converse, ConverseStream's event stream, InvokeModel).
//! - [`logs`]: CloudWatch Logs and the Logs Insights query subset.
//! - [`sts`]: STS `GetCallerIdentity` over awsQuery.
//! - `openai`: the OpenAI-compatible chat completions upstream.
//!
//! The core they share, at this level:
//! - `routes`: the one axum router: paths, `POST /` by target or form, `/_sandbox/…` admin.
//! - `auth`: the caller of an AWS API from its SigV4 scope (or a Bedrock API key).
//! - `model_call`: the steps every model call takes, from any route, under one lock.
//! - `invocation_log`: the model-invocation log record each call leaves in CloudWatch Logs.
//! - [`emulated_model`]: the deterministic model: a request reduced to a prompt, and its reply.
//! - `request_fields`: JSON field readers that refuse in Bedrock's ValidationException words.
//! - [`catalogue`]: the model ids known, and how a `modelId` (id, profile, ARN) resolves.
//! - `cris`: cross-Region inference: which Region a profile call lands in, and Region load.
//! - `quota`: per-account, per-model RPM and TPM over exact sliding 60-second windows.
//! - `faults`: injected faults, decided from the configured rules and the seeded RNG.
//! - `pace`: the latency model, and streamed answers played as timed steps.
//! - `state`: the [`Sandbox`]: settings, the mutable state behind one mutex, the log store.
//! - [`stats`]: the call counters tests and demos assert on.
//! - [`error`]: the Bedrock errors and their restJson1, event-stream and OpenAI shapes.
//! - `aws_files`: the AWS `config` and `credentials` files that point clients here.
//! - `serve`: the `sandbox serve` command's process: bind, banner, signals, [`ServeError`].

mod auth;
mod aws_files;
pub mod bedrock;
pub mod catalogue;
mod cris;
pub mod emulated_model;
pub mod error;
mod faults;
mod invocation_log;
pub mod logs;
mod model_call;
mod openai;
mod pace;
mod prompt_cache;
mod quota;
mod request_fields;
mod routes;
mod serve;
mod state;
pub mod stats;
pub mod sts;
mod thinking;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use aws_files::write_aws_config;
pub use serve::{ServeError, banner, serve};
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

    /// The last W3C `traceparent` headers its model routes received, oldest first.
    pub fn received_traceparents(&self) -> Vec<String> {
        self.sandbox.received_traceparents()
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
    // Streams are many small frames: without TCP_NODELAY, Nagle's algorithm and the client's
    // delayed ACK hold each response back about 40 ms.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
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

#[cfg(test)]
mod tests {
    use super::*;

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
