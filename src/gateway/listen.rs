//! Accepting connections and serving them with hyper (HTTP/1 and HTTP/2), with limits against
//! abusive clients: a request head must arrive within [`ConnectionLimits::header_read_timeout`]
//! (else the connection is closed: no slow-loris client holds a socket forever), and heads with
//! too many or too large headers are refused with 431 before any handler runs.
//!
//! Shutdown is graceful: the listener is dropped first (new connections are refused), then every
//! open connection finishes its in-flight requests and closes.

use std::io;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Bounds on what a client may make the server hold for it before a request is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time a client has to send a whole request head; past it the connection is closed.
    pub header_read_timeout: Duration,
    /// Most header fields in one HTTP/1 request head; more is answered 431.
    pub max_headers: usize,
    /// Largest request head in bytes (HTTP/1 read buffer, HTTP/2 header list); larger is 431.
    pub max_header_bytes: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            max_headers: 100,
            max_header_bytes: 64 * 1024,
        }
    }
}

/// hyper refuses read buffers smaller than this.
const MIN_BUFFER: usize = 8 * 1024;

/// How long to wait after a failed `accept` (for example out of file descriptors) before retrying.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

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
    limits: ConnectionLimits,
    (mut stop, closed): (oneshot::Receiver<()>, oneshot::Sender<()>),
) -> io::Result<()> {
    let builder = builder(limits);
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let service = TowerToHyperService::new(app.clone());
                    let connection = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .into_owned();
                    let connection = graceful.watch(connection);
                    tokio::spawn(async move {
                        if let Err(error) = connection.await {
                            tracing::debug!(%error, "connection ended with an error");
                        }
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot accept a connection; retrying");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            _ = &mut stop => break,
        }
    }
    drop(listener);
    let _ = closed.send(());
    graceful.shutdown().await;
    Ok(())
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
    }
}
