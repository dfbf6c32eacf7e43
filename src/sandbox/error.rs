//! Errors the emulated Bedrock Runtime answers with, and their wire shapes: restJson1 (status,
//! `x-amzn-errortype`, `{"message"}`), event-stream exception frames, and the OpenAI error JSON.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use std::io;

use axum::body::Body;
use bytes::Bytes;

/// A Bedrock Runtime error as the service reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BedrockError {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    ResourceNotFound(String),
    /// Past the requests-per-minute quota (also injected throttles).
    #[error("Too many requests, please wait before trying again.")]
    Throttling,
    /// Past the tokens-per-minute quota.
    #[error("Too many tokens, please wait before trying again.")]
    TokensThrottling,
    /// Past the tokens-per-day quota.
    #[error("Too many tokens per day, please wait before trying again.")]
    DailyTokensThrottling,
    #[error("Bedrock is unable to process your request.")]
    ServiceUnavailable,
    #[error("The server encountered an internal error while processing the request.")]
    InternalServer,
    #[error("Model has timed out in processing the request. Try your request again.")]
    ModelTimeout,
    #[error("Model is not ready to serve inference requests. Try your request again.")]
    ModelNotReady,
    #[error("The model returned an error. Try your request again.")]
    ModelError,
    #[error("The model stream failed. Try your request again.")]
    ModelStreamError,
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,
    /// A route or action the service does not have.
    #[error("{0}")]
    UnknownOperation(String),
    /// An injected network fault: the connection is dropped without an answer.
    #[error("connection reset")]
    ConnectionReset,
}

impl BedrockError {
    /// The exception name (`x-amzn-errortype`, the log's `errorCode`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Validation(_) => "ValidationException",
            Self::ResourceNotFound(_) => "ResourceNotFoundException",
            Self::Throttling | Self::TokensThrottling | Self::DailyTokensThrottling => {
                "ThrottlingException"
            }
            Self::ServiceUnavailable => "ServiceUnavailableException",
            Self::InternalServer => "InternalServerException",
            Self::ModelTimeout => "ModelTimeoutException",
            Self::ModelNotReady => "ModelNotReadyException",
            Self::ModelError => "ModelErrorException",
            Self::ModelStreamError => "ModelStreamErrorException",
            Self::UnrecognizedClient => "UnrecognizedClientException",
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::UnknownOperation(_) => "UnknownOperationException",
            Self::ConnectionReset => "ConnectionReset",
        }
    }

    /// The HTTP status Bedrock answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::BAD_REQUEST,
            Self::ResourceNotFound(_) | Self::UnknownOperation(_) => StatusCode::NOT_FOUND,
            Self::Throttling
            | Self::TokensThrottling
            | Self::DailyTokensThrottling
            | Self::ModelNotReady => StatusCode::TOO_MANY_REQUESTS,
            Self::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::InternalServer | Self::ModelStreamError | Self::ConnectionReset => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Self::ModelTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::ModelError => StatusCode::FAILED_DEPENDENCY,
            Self::UnrecognizedClient | Self::MissingAuthenticationToken => StatusCode::FORBIDDEN,
        }
    }

    /// The `:exception-type` of an event-stream exception frame (lower camel case).
    pub fn stream_exception_type(&self) -> String {
        crate::bedrock_runtime::eventstream::stream_member(self.name())
    }

    /// The OpenAI error `type` and `code` for the same condition.
    pub fn openai_type(&self) -> (&'static str, &'static str) {
        match self {
            Self::Validation(_) => ("invalid_request_error", "invalid_request"),
            Self::ResourceNotFound(_) => ("invalid_request_error", "model_not_found"),
            Self::UnknownOperation(_) => ("invalid_request_error", "unknown_url"),
            Self::Throttling
            | Self::TokensThrottling
            | Self::DailyTokensThrottling
            | Self::ModelNotReady => ("rate_limit_error", "rate_limit_exceeded"),
            Self::UnrecognizedClient | Self::MissingAuthenticationToken => {
                ("authentication_error", "invalid_api_key")
            }
            Self::ServiceUnavailable
            | Self::InternalServer
            | Self::ModelTimeout
            | Self::ModelError
            | Self::ModelStreamError
            | Self::ConnectionReset => ("api_error", "upstream_error"),
        }
    }

    /// The Bedrock restJson1 error response.
    pub fn into_response_with_id(self, request_id: &str) -> Response {
        if self == Self::ConnectionReset {
            return connection_reset();
        }
        let body = serde_json::json!({ "message": self.to_string() }).to_string();
        let mut response = (self.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("x-amzn-errortype", HeaderValue::from_static(self.name()));
        if let Ok(id) = HeaderValue::from_str(request_id) {
            headers.insert("x-amzn-requestid", id);
        }
        response
    }

    /// The OpenAI-compatible error response (429s carry `Retry-After`).
    pub fn into_openai_response(self) -> Response {
        if self == Self::ConnectionReset {
            return connection_reset();
        }
        let (kind, code) = self.openai_type();
        let body = serde_json::json!({
            "error": { "message": self.to_string(), "type": kind, "param": null, "code": code }
        });
        let mut response = (self.status(), body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        if self.status() == StatusCode::TOO_MANY_REQUESTS {
            headers.insert("retry-after", HeaderValue::from_static("1"));
        }
        if matches!(
            self,
            Self::UnrecognizedClient | Self::MissingAuthenticationToken
        ) {
            *response.status_mut() = StatusCode::UNAUTHORIZED;
        }
        response
    }
}

/// A response whose body fails before its first byte: the server then closes the connection
/// without writing the status line, so the client sees the connection reset.
fn connection_reset() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<Bytes, io::Error>(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "injected connection reset",
        ))
    });
    Response::new(Body::from_stream(failing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_exception_types_are_lower_camel_case() {
        assert_eq!(
            BedrockError::Throttling.stream_exception_type(),
            "throttlingException"
        );
        assert_eq!(
            BedrockError::ModelStreamError.stream_exception_type(),
            "modelStreamErrorException"
        );
    }

    #[test]
    fn throttling_is_429_with_the_bedrock_message() {
        let r = BedrockError::Throttling.into_response_with_id("req-1");
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["x-amzn-errortype"], "ThrottlingException");
        assert_eq!(r.headers()["x-amzn-requestid"], "req-1");
        // Bedrock's own words for the two per-minute quotas.
        assert_eq!(
            BedrockError::Throttling.to_string(),
            "Too many requests, please wait before trying again."
        );
        assert_eq!(
            BedrockError::TokensThrottling.to_string(),
            "Too many tokens, please wait before trying again."
        );
        assert_eq!(BedrockError::TokensThrottling.name(), "ThrottlingException");
    }
}
