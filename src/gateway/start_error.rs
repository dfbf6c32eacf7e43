//! Why a gateway could not start. Each message names what failed and where; the cause is part
//! of the message, not a `source()`, since the command boundary prints the whole chain (`{:#}`),
//! which would say it twice.

use std::io;
use std::net::SocketAddr;

use crate::aws::AwsError;
use crate::router::store::RedisStoreError;

/// A gateway that did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `--host`/`--port` do not make a socket address.
    #[error("{0} is not a valid listen address")]
    Address(String),
    /// The listener could not bind.
    #[error(
        "cannot listen on {addr}: {error} (is another gateway running there? pick another with --port)"
    )]
    Listen { addr: SocketAddr, error: io::Error },
    /// A Bedrock deployment's SDK client could not be made (its profile, Region, endpoint).
    #[error("deployment {id} ({model}): {error}")]
    BedrockClient {
        id: String,
        model: String,
        error: AwsError,
    },
    /// The pooled HTTP client for OpenAI-compatible upstreams could not be built.
    #[error("cannot build the HTTP client for OpenAI-compatible upstreams: {0}")]
    HttpClient(crate::provider::transport::TransportError),
    /// The Redis state store's settings cannot be used (an unreachable Redis is not fatal).
    #[error("cannot use the Redis state store: {0}")]
    Store(RedisStoreError),
    /// An `OTEL_*` variable of the trace exporter cannot be used.
    #[error("OpenTelemetry traces: {0}")]
    Telemetry(crate::observe::SettingError),
    /// The TLS certificate or key cannot be used.
    #[error("gateway TLS: {0}")]
    Tls(super::listen::TlsError),
}
