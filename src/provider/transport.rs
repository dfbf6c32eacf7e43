//! The gateway's one HTTP client for upstream calls (OpenAI-compatible upstreams and direct
//! Bedrock calls): hyper-util's pooled client over rustls, or reqwest when a proxy is set.
//!
//! Profiles of the OpenAI path put reqwest's own layers at about a sixth of the gateway's
//! instructions per request: its redirect layer parses the URL again on every call (whatever
//! the policy), plus its request builder and retry layers, none of which the gateway uses
//! (the router retries, redirects are answers). So calls go straight to hyper-util's client,
//! with each upstream's URI parsed once. reqwest stays for one case: a proxy in the
//! environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, any case), which it honours with
//! `NO_PROXY`, as before.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body_util::{BodyExt, BodyStream, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::provider::ProviderError;

/// How long connecting to an upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(90);
/// Idle connections kept per upstream host.
const POOL_PER_HOST: usize = 512;

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The shared upstream client.
#[derive(Clone, Debug)]
pub enum Transport {
    /// Boxed: the client is larger than reqwest's handle (which is an `Arc`).
    Hyper(Box<HyperClient<Connector, Full<Bytes>>>),
    Reqwest(reqwest::Client),
}

/// A transport could not be built (no TLS roots, or reqwest's builder refused).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("the platform's TLS root certificates could not be loaded: {0}")]
    Roots(std::io::Error),
    #[error(transparent)]
    Reqwest(#[from] reqwest::Error),
}

/// Whether the environment names an HTTP proxy (reqwest's variables).
pub fn proxy_in_env(var: impl Fn(&str) -> Option<String>) -> bool {
    [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .iter()
    .any(|name| var(name).is_some_and(|v| !v.trim().is_empty()))
}

impl Transport {
    /// hyper-util's client, or reqwest when the environment names a proxy.
    pub fn from_env() -> Result<Transport, TransportError> {
        if proxy_in_env(|name| std::env::var(name).ok()) {
            return Transport::reqwest();
        }
        match Transport::hyper() {
            Ok(transport) => Ok(transport),
            // A machine without a CA bundle can still reach plain-HTTP upstreams (the
            // sandbox, a local model server); reqwest starts without one and fails only the
            // HTTPS handshakes, saying why.
            Err(TransportError::Roots(error)) => {
                tracing::warn!(%error, "no TLS root certificates found; HTTPS upstreams will fail their handshakes");
                Transport::reqwest()
            }
            Err(other) => Err(other),
        }
    }

    /// hyper-util's pooled client: HTTP/1.1 and HTTP/2 (by ALPN) over rustls with the
    /// platform's roots, `TCP_NODELAY`, a connect timeout.
    pub fn hyper() -> Result<Transport, TransportError> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(TransportError::Roots)?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_max_idle_per_host(POOL_PER_HOST)
            .build(https);
        Ok(Transport::Hyper(Box::new(client)))
    }

    /// reqwest, which honours proxy variables; no redirects followed, no retries.
    pub fn reqwest() -> Result<Transport, TransportError> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(POOL_PER_HOST)
            .pool_idle_timeout(POOL_IDLE)
            .tcp_nodelay(true)
            .connect_timeout(CONNECT_TIMEOUT)
            // The router retries and fails over itself; an upstream's redirect is an answer to
            // pass on, not to follow with the caller's key.
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .build()?;
        Ok(Transport::Reqwest(client))
    }

    /// `POST uri` with `headers` and `body`; the answer's head, its body still to read.
    pub async fn post(
        &self,
        uri: &http::Uri,
        headers: impl IntoIterator<Item = (HeaderName, HeaderValue)>,
        body: impl Into<Bytes>,
    ) -> Result<Answer, ProviderError> {
        match self {
            Transport::Hyper(client) => {
                let mut request = http::Request::new(Full::new(body.into()));
                *request.method_mut() = http::Method::POST;
                *request.uri_mut() = uri.clone();
                request.headers_mut().extend(headers);
                let response = client
                    .request(request)
                    .await
                    .map_err(|e| convert_error(&e))?;
                let (head, body) = response.into_parts();
                Ok(Answer {
                    status: head.status,
                    headers: head.headers,
                    body: AnswerBody::Hyper(body),
                })
            }
            Transport::Reqwest(client) => {
                let mut request = client.post(uri.to_string()).body(body.into());
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                let mut response = request.send().await.map_err(|e| convert_error(&e))?;
                Ok(Answer {
                    status: response.status(),
                    headers: std::mem::take(response.headers_mut()),
                    body: AnswerBody::Reqwest(response),
                })
            }
        }
    }
}

/// An upstream's URL as the URI calls are sent to, parsed once per deployment: read as a URL
/// first, which checks the host (IDNA) and normalises it (a scheme's default port dropped), as
/// reqwest did on every call.
pub fn parse_uri(url: &str) -> Result<http::Uri, String> {
    let url = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
    url.as_str().parse::<http::Uri>().map_err(|e| e.to_string())
}

/// An upstream's answer: status and headers read, the body not yet.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    body: AnswerBody,
}

enum AnswerBody {
    Hyper(hyper::body::Incoming),
    Reqwest(reqwest::Response),
}

/// A body read chunk by chunk.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, ProviderError>> + Send>>;

impl Answer {
    /// The whole body.
    pub async fn bytes(self) -> Result<Bytes, ProviderError> {
        match self.body {
            AnswerBody::Hyper(body) => body
                .collect()
                .await
                .map(|collected| collected.to_bytes())
                .map_err(|e| convert_error(&e)),
            AnswerBody::Reqwest(response) => response.bytes().await.map_err(|e| convert_error(&e)),
        }
    }

    /// The body as it arrives.
    pub fn into_stream(self) -> ByteStream {
        match self.body {
            AnswerBody::Hyper(body) => Box::pin(
                BodyStream::new(body)
                    .try_filter_map(|frame| std::future::ready(Ok(frame.into_data().ok())))
                    .map_err(|e| convert_error(&e)),
            ),
            AnswerBody::Reqwest(response) => Box::pin(
                response
                    .bytes_stream()
                    .map(|r| r.map_err(|e| convert_error(&e))),
            ),
        }
    }
}

/// A transport failure as a provider error: a timeout (connecting or reading) is
/// [`ProviderError::Timeout`], a connection that could not be made is
/// [`ProviderError::Unavailable`] (another deployment may answer), anything else an upstream
/// error; the message carries the whole chain of causes.
pub fn convert_error(error: &(dyn std::error::Error + 'static)) -> ProviderError {
    let message = error_chain(error);
    if is_timeout(error) {
        ProviderError::Timeout { message }
    } else if is_connect(error) {
        ProviderError::Unavailable {
            message,
            retry_after: None,
        }
    } else {
        ProviderError::Upstream { message }
    }
}

fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |e| e.source())
}

fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    causes(error).any(|e| {
        e.downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout)
            || e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            || e.downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_timeout)
    })
}

fn is_connect(error: &(dyn std::error::Error + 'static)) -> bool {
    causes(error).any(|e| {
        e.downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_connect)
            || e.downcast_ref::<hyper_util::client::legacy::Error>()
                .is_some_and(hyper_util::client::legacy::Error::is_connect)
    })
}

/// The error with its sources, as reqwest's and hyper's `Display` hide the cause.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    for cause in causes(error).skip(1) {
        message.push_str(": ");
        message.push_str(&cause.to_string());
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_variable_of_either_case_selects_reqwest() {
        let env = |set: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                set.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(!proxy_in_env(env(&[])));
        assert!(!proxy_in_env(env(&[
            ("NO_PROXY", "localhost"),
            ("HTTPS_PROXY", " ")
        ])));
        assert!(proxy_in_env(env(&[("https_proxy", "http://proxy:3128")])));
        assert!(proxy_in_env(env(&[("ALL_PROXY", "socks5://proxy:1080")])));
    }

    #[tokio::test]
    async fn both_transports_send_the_headers_and_body_and_read_the_answer_whole_or_streamed() {
        use axum::routing::post;
        let app = axum::Router::new().route(
            "/echo",
            post(|headers: HeaderMap, body: Bytes| async move {
                let key = headers["authorization"].to_str().unwrap().to_owned();
                (
                    StatusCode::CREATED,
                    [("x-seen", key)],
                    [body.as_ref(), b"!"].concat(),
                )
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri: http::Uri = format!("http://{}/echo", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let headers = || {
            [(
                http::header::AUTHORIZATION,
                HeaderValue::from_static("Bearer k"),
            )]
        };
        for transport in [Transport::hyper().unwrap(), Transport::reqwest().unwrap()] {
            let answer = transport.post(&uri, headers(), "hello").await.unwrap();
            assert_eq!(answer.status, StatusCode::CREATED);
            assert_eq!(answer.headers["x-seen"], "Bearer k");
            assert_eq!(answer.bytes().await.unwrap(), "hello!");
            let streamed: Vec<Bytes> = transport
                .post(&uri, headers(), "again")
                .await
                .unwrap()
                .into_stream()
                .try_collect()
                .await
                .unwrap();
            assert_eq!(streamed.concat(), b"again!");
        }
    }

    #[tokio::test]
    async fn a_refused_connection_is_unavailable_on_both_transports() {
        // A port just closed: nothing listens on it.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let uri: http::Uri = format!(
            "http://{}/v1/chat/completions",
            listener.local_addr().unwrap()
        )
        .parse()
        .unwrap();
        drop(listener);
        for transport in [Transport::hyper().unwrap(), Transport::reqwest().unwrap()] {
            let error = transport.post(&uri, [], "{}").await.err().unwrap();
            assert!(
                matches!(&error, ProviderError::Unavailable { message, .. } if message.contains("onnect")),
                "{error:?}"
            );
        }
    }
}
