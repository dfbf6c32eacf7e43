//! Converse and ConverseStream without the SDK's orchestrator: the request's JSON signed with
//! `aws-sigv4` (the SDK's own signer) and sent through the gateway's shared HTTP client; a
//! stream's frames decoded by [`stream`].
//!
//! Profiles put the SDK's per-call machinery (interceptors, runtime components, endpoint
//! resolution, the operation's serde) at most of the Bedrock path's CPU; a text request needs
//! none of it. The credentials still come from the SDK's provider chain for the deployment
//! (profiles, SSO, roles…), cached here until shortly before they expire, and the endpoint is
//! the SDK's own resolver's answer, worked out once per deployment. A request with anything
//! the [`body`] serialiser does not send goes through the SDK as before.

mod body;
mod credentials;
mod reply;
mod stream;

use std::borrow::Cow;
use std::time::SystemTime;

use aws_sdk_bedrockruntime::operation::converse::ConverseOutput;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4::SigningParams;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderName, HeaderValue};

use crate::aws::SigningTarget;
use crate::provider::ProviderError;
use crate::provider::transport::{Answer, Transport, parse_uri};

pub use body::converse_body;
pub use credentials::CredentialCache;
pub use reply::{convert_error_reply, parse_reply};
pub use stream::DirectEvents;

/// One operation's address: the URI sent to, and the same as text for signing (kept, not
/// written out again on every call).
#[derive(Debug, Clone)]
struct Operation {
    uri: http::Uri,
    url: String,
}

/// One deployment's direct Converse calls.
#[derive(Debug, Clone)]
pub struct DirectConverse {
    /// `…/model/{modelId}/converse`.
    converse: Operation,
    /// `…/model/{modelId}/converse-stream`.
    converse_stream: Operation,
    /// The `Host` header, signed and sent.
    host: String,
    region: String,
    credentials: std::sync::Arc<CredentialCache>,
    http: Transport,
}

impl DirectConverse {
    /// Direct calls of `model` at `target`, or `None` when its endpoint is not a URL.
    pub fn new(target: SigningTarget, model: &str, http: Transport) -> Option<Self> {
        let operation = |name| {
            let uri = parse_uri(&operation_url(&target.endpoint, model, name)).ok()?;
            Some(Operation {
                url: uri.to_string(),
                uri,
            })
        };
        let converse = operation("converse")?;
        let converse_stream = operation("converse-stream")?;
        // The URI's authority, which names the port only when it is not the scheme's default:
        // the `Host` hyper sends.
        let host = converse.uri.authority()?.as_str().to_owned();
        Some(DirectConverse {
            converse,
            converse_stream,
            host,
            region: target.region,
            credentials: std::sync::Arc::new(CredentialCache::new(target.credentials)),
            http,
        })
    }

    /// Sends a Converse `body` (from [`converse_body`]) and reads the reply.
    pub async fn converse(&self, body: Vec<u8>) -> Result<ConverseOutput, ProviderError> {
        let response = self.send(&self.converse, body).await?;
        parse_reply(&response.bytes().await?)
    }

    /// Sends a ConverseStream `body` (the same as Converse's) and hands out its events.
    pub async fn converse_stream(&self, body: Vec<u8>) -> Result<DirectEvents, ProviderError> {
        let response = self.send(&self.converse_stream, body).await?;
        Ok(DirectEvents::new(response))
    }

    /// Signs and sends a call with the headers the SDK sends (no `Accept`, as the SDK sends
    /// none); a reply that is not a success is read as Bedrock's error.
    async fn send(&self, operation: &Operation, body: Vec<u8>) -> Result<Answer, ProviderError> {
        let now = SystemTime::now();
        let credentials = self.credentials.get(now).await?;
        let traceparent = crate::observe::upstream_traceparent();
        let headers = self.signed_headers(
            &operation.url,
            &body,
            credentials,
            now,
            traceparent.as_deref(),
        )?;
        let headers = headers.into_iter().filter_map(|(name, value)| {
            let value = match value {
                Cow::Borrowed(value) => HeaderValue::from_str(value).ok()?,
                Cow::Owned(value) => HeaderValue::try_from(value).ok()?,
            };
            Some((HeaderName::from_static(name), value))
        });
        let response = self.http.post(&operation.uri, headers, body).await?;
        let status = response.status;
        if status.is_success() {
            return Ok(response);
        }
        let error_type = response
            .headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response.bytes().await.unwrap_or_default();
        Err(convert_error_reply(
            status.as_u16(),
            error_type.as_deref(),
            &bytes,
        ))
    }

    /// The headers of a call with `body` at `now`: `Host`, `Content-Type` and any
    /// `traceparent` (all signed), then what SigV4 adds (`X-Amz-Date`, `Authorization`, and
    /// `X-Amz-Security-Token` with temporary credentials).
    fn signed_headers<'a>(
        &'a self,
        url: &str,
        body: &[u8],
        credentials: aws_credential_types::Credentials,
        now: SystemTime,
        traceparent: Option<&'a str>,
    ) -> Result<Vec<(&'static str, Cow<'a, str>)>, ProviderError> {
        let mut headers = Vec::with_capacity(6);
        headers.push((HOST.as_str(), Cow::Borrowed(self.host.as_str())));
        headers.push((CONTENT_TYPE.as_str(), Cow::Borrowed("application/json")));
        if let Some(traceparent) = traceparent {
            headers.push(("traceparent", Cow::Borrowed(traceparent)));
        }
        let identity = credentials.into();
        let params = SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("bedrock")
            .time(now)
            .settings(SigningSettings::default())
            .build()
            .map_err(signing_failed)?
            .into();
        let signable = SignableRequest::new(
            "POST",
            url,
            headers.iter().map(|(name, value)| (*name, value.as_ref())),
            SignableBody::Bytes(body),
        )
        .map_err(signing_failed)?;
        let (instructions, _) = sign(signable, &params)
            .map_err(signing_failed)?
            .into_parts();
        let (added, _) = instructions.into_parts();
        for header in added {
            headers.push((header.name(), Cow::Owned(header.value().to_owned())));
        }
        Ok(headers)
    }
}

/// `{endpoint}/model/{modelId}/{operation}`, the model id percent-encoded as a URI label
/// (everything but the unreserved characters: `:` and `/` of ids and ARNs included).
fn operation_url(endpoint: &str, model: &str, operation: &str) -> String {
    let mut url = endpoint.trim_end_matches('/').to_owned();
    url.push_str("/model/");
    for byte in model.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url.push('/');
    url.push_str(operation);
    url
}

fn signing_failed(error: impl std::fmt::Display) -> ProviderError {
    ProviderError::Upstream {
        message: format!("signing the Converse request: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::sigv4::{SignedRequest, parse_authorization, verify};
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    use std::time::Duration;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn direct(endpoint: &str) -> DirectConverse {
        let credentials = Credentials::new("AKIDEXAMPLE000000001", SECRET, None, None, "test");
        let target = SigningTarget {
            endpoint: endpoint.into(),
            region: "us-west-2".into(),
            credentials: SharedCredentialsProvider::new(credentials),
        };
        DirectConverse::new(
            target,
            "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            Transport::reqwest().unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn the_signature_verifies_for_the_path_body_and_traceparent_sent() {
        let direct = direct("http://127.0.0.1:8080");
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let body = br#"{"messages":[{"role":"user","content":[{"text":"Hi"}]}]}"#;
        let credentials = Credentials::new(
            "ASIAEXAMPLE000000001",
            SECRET,
            Some("session-token".into()),
            None,
            "test",
        );
        let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let sent = direct
            .signed_headers(
                &direct.converse.url,
                body,
                credentials,
                now,
                Some(traceparent),
            )
            .unwrap();
        let mut headers = http::HeaderMap::new();
        for (name, value) in &sent {
            headers.insert(*name, value.parse().unwrap());
        }
        assert_eq!(headers["host"], "127.0.0.1:8080");
        assert_eq!(headers["x-amz-security-token"], "session-token");
        let value = headers["authorization"].to_str().unwrap();
        assert!(
            value.contains("/20260101/us-west-2/bedrock/aws4_request"),
            "{value}"
        );
        assert!(value.contains("traceparent"), "{value}");
        let authorization = parse_authorization(value).unwrap();
        assert_eq!(authorization.access_key_id, "ASIAEXAMPLE000000001");
        let request = |body: &'static [u8]| SignedRequest {
            method: "POST",
            path: "/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/converse",
            query: "",
            headers: &headers,
            authority: None,
            body,
        };
        assert_eq!(verify(&authorization, &request(body), SECRET, now), Ok(()));
        assert!(verify(&authorization, &request(b"{}"), SECRET, now).is_err());
    }

    #[test]
    fn the_host_header_names_the_port_only_when_it_is_not_the_schemes_default() {
        assert_eq!(direct("http://127.0.0.1:8080").host, "127.0.0.1:8080");
        assert_eq!(
            direct("https://bedrock-runtime.us-west-2.amazonaws.com:443").host,
            "bedrock-runtime.us-west-2.amazonaws.com"
        );
    }

    #[test]
    fn the_model_id_is_encoded_as_a_uri_label() {
        assert_eq!(
            operation_url(
                "https://bedrock-runtime.us-east-1.amazonaws.com",
                "us.anthropic.claude-haiku-4-5-20251001-v1:0",
                "converse"
            ),
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/converse"
        );
        assert_eq!(
            operation_url(
                "http://127.0.0.1:8080/",
                "arn:aws:bedrock:us-east-1:111111111111:inference-profile/us.x",
                "converse-stream"
            ),
            "http://127.0.0.1:8080/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A111111111111%3Ainference-profile%2Fus.x/converse-stream"
        );
    }
}
