//! Accepting connections and serving them with hyper (HTTP/1 and HTTP/2), with limits against
//! abusive clients:
//!
//! - a connection's first request head must arrive within
//!   [`ConnectionLimits::header_read_timeout`] of accept ([`deadline`]), later HTTP/1 heads
//!   within the same time of the previous response (hyper's timer): a client that sends
//!   nothing, or sends it slowly, does not hold a socket for long;
//! - at most [`ConnectionLimits::max_connections`] connections are open, below the process's
//!   descriptor limit; at the limit a newcomer sheds the oldest connection that has not sent a
//!   request yet ([`capacity`]), so `/health/readiness` keeps answering under a flood of silent
//!   sockets;
//! - when `accept` itself fails (out of descriptors), the loop backs off and logs one line a
//!   minute ([`backoff`]);
//! - heads with too many or too large headers are refused with 431 before any handler runs.
//!
//! Shutdown is graceful: the listener is dropped first (new connections are refused), then every
//! open connection finishes its in-flight requests and closes.

mod backoff;
mod capacity;
mod deadline;
mod tls;

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use hyper::service::{Service, service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use backoff::{AcceptBackoff, AcceptFailure, LogLimiter};
use capacity::{Admitted, Capacity};
pub use capacity::{default_max_connections, open_files_limit};
use deadline::FirstRequestDeadline;
pub use tls::{Tls, TlsError};

/// Bounds on what a client may make the server hold for it before a request is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time a client has to send a whole request head, from accept for the first request;
    /// past it the connection is closed.
    pub header_read_timeout: Duration,
    /// Most header fields in one HTTP/1 request head; more is answered 431.
    pub max_headers: usize,
    /// Largest request head in bytes (HTTP/1 read buffer, HTTP/2 header list); larger is 431.
    pub max_header_bytes: usize,
    /// Most connections open at once (see [`default_max_connections`]).
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            max_headers: 100,
            max_header_bytes: 64 * 1024,
            max_connections: default_max_connections(open_files_limit()),
        }
    }
}

/// hyper refuses read buffers smaller than this.
const MIN_BUFFER: usize = 8 * 1024;

fn builder(limits: ConnectionLimits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_headers)
        .max_buf_size(limits.max_header_bytes.max(MIN_BUFFER));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    builder
}

/// Serves `app` on `listener` until `stop` fires (or its sender is dropped), then closes the
/// listener (new connections are refused), says so on `closed`, and waits for open connections
/// to finish their requests.
pub async fn serve_connections(
    listener: TcpListener,
    app: Router,
    (limits, tls): (ConnectionLimits, Option<Arc<Tls>>),
    (mut stop, closed): (oneshot::Receiver<()>, oneshot::Sender<()>),
) -> io::Result<()> {
    let builder = builder(limits);
    let graceful = GracefulShutdown::new();
    let capacity = Capacity::new(limits.max_connections);
    let mut backoff = AcceptBackoff::default();
    let mut refusals = LogLimiter::default();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    backoff.on_accept();
                    let Some(admitted) = capacity.admit() else {
                        if let Some(unlogged) = refusals.admit(Instant::now()) {
                            tracing::warn!(
                                max_connections = limits.max_connections,
                                unlogged,
                                "connection closed at once: every open connection is serving \
                                 requests (gateway.max_connections)"
                            );
                        }
                        continue;
                    };
                    let connection = Connection { stream, admitted, limits };
                    serve_one(&builder, &graceful, &app, connection, tls.as_deref());
                }
                Err(error) => match AcceptFailure::of(&error) {
                    AcceptFailure::Connection => {}
                    AcceptFailure::Listener => {
                        let decision = backoff.on_failure(Instant::now());
                        // Frees a descriptor for the next accept, at the expense of a client
                        // that has not sent a request.
                        capacity.shed_oldest();
                        if let Some(unlogged) = decision.log {
                            tracing::warn!(
                                %error,
                                open_connections = capacity.open(),
                                unlogged,
                                "cannot accept connections; backing off (raise `ulimit -n` or \
                                 lower gateway.max_connections); next report in a minute"
                            );
                        }
                        tokio::time::sleep(decision.pause).await;
                    }
                },
            },
            _ = &mut stop => break,
        }
    }
    drop(listener);
    let _ = closed.send(());
    graceful.shutdown().await;
    Ok(())
}

/// An accepted connection, counted until it closes.
struct Connection {
    stream: TcpStream,
    admitted: Admitted,
    limits: ConnectionLimits,
}

/// Serves one accepted connection on its own task (its TLS handshake first, when the listener
/// has TLS); it stays counted until it closes.
fn serve_one(
    builder: &Builder<TokioExecutor>,
    graceful: &GracefulShutdown,
    app: &Router,
    connection: Connection,
    tls: Option<&Tls>,
) {
    let Connection {
        stream,
        admitted,
        limits,
    } = connection;
    let _ = stream.set_nodelay(true);
    let slot = Arc::clone(admitted.slot());
    let stream = FirstRequestDeadline::new(stream, Arc::clone(&slot), limits.header_read_timeout);
    let tower = TowerToHyperService::new(app.clone());
    let service = service_fn(move |request| {
        slot.serving();
        tower.call(request)
    });
    let (builder, watcher) = (builder.clone(), graceful.watcher());
    let acceptor = tls.map(Tls::acceptor);
    tokio::spawn(async move {
        let served = match acceptor {
            None => {
                let connection =
                    builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                watcher.watch(connection.into_owned()).await
            }
            Some(acceptor) => match acceptor.accept(stream).await {
                Ok(stream) => {
                    let connection =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(connection.into_owned()).await
                }
                Err(error) => {
                    tracing::debug!(%error, "TLS handshake failed");
                    Ok(())
                }
            },
        };
        if let Err(error) = served {
            tracing::debug!(%error, "connection ended with an error");
        }
        drop(admitted);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_limits_bound_slow_and_large_heads() {
        let limits = ConnectionLimits::default();
        assert!(limits.header_read_timeout <= Duration::from_secs(30));
        assert!(limits.max_header_bytes >= MIN_BUFFER);
        assert!(limits.max_headers >= 32);
        assert!(limits.max_connections >= 16);
    }
}
