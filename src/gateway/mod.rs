//! The OpenAI-compatible gateway (DESIGN sections 4 and 5): an axum server that authenticates,
//! hands each request to the one fallback loop in [`dispatch`], and answers in OpenAI's shapes.
//! It owns no routing logic: decisions are the router's, wire mappings the providers'.

mod auth;
mod bedrock;
mod body;
mod chat;
mod dashboard;
mod embeddings;
mod error;
mod intake;
mod listen;
mod messages;
mod ratelimit;
mod request_id;
mod respond;
mod routes;
pub(crate) mod sigv4;
mod start_error;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use crate::pipeline::{RateLimits, Trace};
pub use auth::{Caller, authenticate};
pub use error::ApiError;
pub use listen::ConnectionLimits;
pub use ratelimit::openai_duration;
pub use respond::trace_headers;
pub use start_error::StartError;
pub use state::AppState;

use crate::aws::Clients;
use crate::config::Config;

/// How long in-flight requests may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// How long the spans still queued at shutdown may take to export.
pub const FLUSH_GRACE: Duration = Duration::from_secs(5);

/// A gateway running in this process.
pub struct GatewayHandle {
    addr: SocketAddr,
    /// The listener's TLS, when it has one (reloaded on SIGHUP).
    tls: Option<Arc<listen::Tls>>,
    state: Arc<AppState>,
    /// Closes the listener when sent, or dropped.
    stop: Option<oneshot::Sender<()>>,
    /// Answers once the listener is closed.
    closed: Option<oneshot::Receiver<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl GatewayHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Reads the TLS files again for the connections accepted from now on; `Ok(false)` when
    /// the listener has no TLS.
    pub fn reload_tls(&self) -> Result<bool, listen::TlsError> {
        match &self.tls {
            Some(tls) => tls.reload().map(|()| true),
            None => Ok(false),
        }
    }

    /// The shared state (router, metrics).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Stops accepting, lets in-flight requests finish (up to [`SHUTDOWN_GRACE`]), and returns.
    pub async fn shutdown(mut self) {
        self.stop_accepting().await;
        self.drain().await;
    }

    /// Marks the gateway not ready and returns once its listener is closed: from then on new
    /// connections are refused.
    pub async fn stop_accepting(&mut self) {
        self.state.shutting_down.store(true, Ordering::Relaxed);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(closed) = self.closed.take() {
            let _ = closed.await;
        }
    }

    /// Waits for open connections to finish their requests, up to [`SHUTDOWN_GRACE`], then
    /// exports the spans still queued (up to [`FLUSH_GRACE`]).
    pub async fn drain(mut self) {
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, &mut self.task).await;
        self.state.observer.flush(FLUSH_GRACE).await;
    }
}

/// Starts a gateway for `config` on `addr` (port 0 picks a free port), with the config's
/// header timeout and connection limit and the default limits on request heads.
pub async fn start(
    config: Arc<Config>,
    clients: &Clients,
    addr: SocketAddr,
) -> Result<GatewayHandle, StartError> {
    let defaults = ConnectionLimits::default();
    let limits = ConnectionLimits {
        header_read_timeout: config.gateway.header_timeout,
        max_connections: config
            .gateway
            .max_connections
            .unwrap_or(defaults.max_connections),
        ..defaults
    };
    start_with_limits(config, clients, addr, limits).await
}

/// [`start`] with explicit limits on slow and oversized request heads.
pub async fn start_with_limits(
    config: Arc<Config>,
    clients: &Clients,
    addr: SocketAddr,
    limits: ConnectionLimits,
) -> Result<GatewayHandle, StartError> {
    let tls = match &config.gateway.tls {
        Some(files) => Some(Arc::new(
            listen::Tls::load(files.clone()).map_err(StartError::Tls)?,
        )),
        None => None,
    };
    let state = Arc::new(AppState::build(Arc::clone(&config), clients).await?);
    let listen_error = |error| StartError::Listen { addr, error };
    let listener = TcpListener::bind(addr).await.map_err(listen_error)?;
    let addr = listener.local_addr().map_err(listen_error)?;
    let (stop, stopped) = oneshot::channel::<()>();
    let (on_closed, closed) = oneshot::channel::<()>();
    let app = routes::router(Arc::clone(&state));
    let task = tokio::spawn(listen::serve_connections(
        listener,
        app,
        (limits, tls.clone()),
        (stopped, on_closed),
    ));
    Ok(GatewayHandle {
        addr,
        tls,
        state,
        stop: Some(stop),
        closed: Some(closed),
        task,
    })
}

/// `gateway serve`: runs until SIGINT or SIGTERM, then drains in-flight requests.
pub async fn serve(
    config: Arc<Config>,
    clients: &Clients,
    host: &str,
    port: u16,
) -> Result<(), StartError> {
    let addr: SocketAddr = format!("{host}:{port}")
        .parse()
        .map_err(|_| StartError::Address(format!("{host}:{port}")))?;
    let mut handle = start(Arc::clone(&config), clients, addr).await?;
    let groups: Vec<String> = config
        .groups
        .iter()
        .map(|g| {
            format!(
                "{} ({} deployment{})",
                g.name,
                g.deployments.len(),
                if g.deployments.len() == 1 { "" } else { "s" }
            )
        })
        .collect();
    println!("Gateway listening on {}", handle.url());
    println!("  model groups: {}", groups.join(", "));
    println!(
        "  routing: {}, state store: {}",
        config.router.strategy.as_str(),
        crate::router::StateStore::kind(handle.state().pipeline.router.store().as_ref())
    );
    for line in try_lines(&config, &handle.url()) {
        println!("{line}");
    }
    tracing::info!(addr = %handle.addr(), "gateway started");
    tokio::select! {
        () = shutdown_signal() => {},
        () = reload_on_hangup(&handle) => {},
    }
    handle.stop_accepting().await;
    // Printed once new connections are refused, so what follows it is only the draining.
    eprintln!(
        "Shutting down: finishing in-flight requests (up to {}s)…",
        SHUTDOWN_GRACE.as_secs()
    );
    handle.drain().await;
    Ok(())
}

/// The start-up banner's suggestion: a chat completion that works with this config. When the
/// gateway has keys it says where they are (`$KEY` stands for one) and never prints one.
pub fn try_lines(config: &Config, url: &str) -> Vec<String> {
    let gateway = &config.gateway;
    // The first group a consumer key may use, so the suggestion works with that key.
    let group = match gateway.consumers.first() {
        Some(consumer) => config.groups.iter().find(|g| consumer.may_use(&g.name)),
        None => config.groups.first(),
    };
    let Some(group) = group else {
        return vec![format!("  try: curl {url}/v1/models")];
    };
    let body = format!(
        r#"{{"model":"{}","messages":[{{"role":"user","content":"Hello"}}]}}"#,
        group.name
    );
    let auth = if gateway.requires_auth() {
        r#" -H "Authorization: Bearer $KEY""#
    } else {
        ""
    };
    let mut lines = vec![format!(
        "  try: curl {url}/v1/chat/completions{auth} -H 'content-type: application/json' -d '{body}'"
    )];
    if gateway.requires_auth() {
        let source = config.source.display();
        let place = match (&gateway.master_key, gateway.consumers.first()) {
            (_, Some(consumer)) => format!(
                "a key from `gateway.consumers` in {source} (consumer {:?}'s works for this model)",
                consumer.name
            ),
            (_, None) => format!("the `master_key` of {source}"),
        };
        lines.push(format!("       where $KEY is {place}"));
    }
    lines
}

/// Reloads the TLS files on every SIGHUP (which would otherwise end the process); never
/// resolves. A reload that fails keeps the old certificate and says why.
async fn reload_on_hangup(handle: &GatewayHandle) {
    #[cfg(unix)]
    if let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    {
        while hangups.recv().await.is_some() {
            match handle.reload_tls() {
                Ok(true) => eprintln!("SIGHUP: TLS certificate reloaded"),
                Ok(false) => eprintln!("SIGHUP: nothing to reload (no TLS configured)"),
                Err(error) => {
                    eprintln!("SIGHUP: TLS certificate not reloaded, the old one stays: {error}")
                }
            }
        }
    }
    let _ = handle;
    std::future::pending::<()>().await
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
