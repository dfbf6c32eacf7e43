//! What can go wrong calling an upstream, classified by what the gateway should do about it.
//!
//! Each provider maps its own failures (SDK errors, HTTP statuses) onto [`ProviderError`];
//! the router and the HTTP layer only ever look at the methods here.

use std::time::Duration;

use http::StatusCode;

use crate::openai::ErrorBody;

/// What kind of error a client is told of, whatever the surface's wording: each surface names
/// it in its own error shape, and the errors metric counts by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is wrong (400, and 405, 408, 413).
    InvalidRequest,
    /// No key, or a key that matches nothing (401).
    Authentication,
    /// A key or credentials that may not do this (403).
    Permission,
    /// No such model or route (404).
    NotFound,
    /// A limit was reached (429).
    RateLimit,
    /// The upstream or the gateway cannot serve now (503).
    Unavailable,
    /// Out of time (504).
    Timeout,
    /// Something went wrong that is not the client's doing (500, 502).
    Internal,
    /// The caller's (or the gateway's) spend budget is used up for this period (400).
    Budget,
}

impl ErrorKind {
    /// Every kind, in the errors metric's order.
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::InvalidRequest,
        ErrorKind::Authentication,
        ErrorKind::Permission,
        ErrorKind::NotFound,
        ErrorKind::RateLimit,
        ErrorKind::Unavailable,
        ErrorKind::Timeout,
        ErrorKind::Internal,
        ErrorKind::Budget,
    ];

    /// OpenAI's error `type`; also the label of the errors metric, whatever the surface.
    pub fn openai_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::Permission => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::RateLimit => "rate_limit_error",
            ErrorKind::Unavailable => "service_unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Internal => "api_error",
            ErrorKind::Budget => "budget_exceeded",
        }
    }
}

/// A failed upstream call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The upstream throttled us (429, ThrottlingException, ModelNotReadyException).
    #[error("rate limited by the upstream: {message}")]
    RateLimited {
        /// How long the upstream asked us to wait, when it said.
        retry_after: Option<Duration>,
        message: String,
    },
    /// The upstream is down or failed internally (5xx and the like), maybe saying when to come
    /// back (a 503's `Retry-After`).
    #[error("upstream unavailable: {message}")]
    Unavailable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// The call did not finish in time (connect, read or the per-call budget).
    #[error("upstream timed out: {message}")]
    Timeout { message: String },
    /// The prompt does not fit the model's context window.
    #[error("context window exceeded: {message}")]
    ContextWindowExceeded { message: String },
    /// Our conversion for this provider refused a request field before any upstream call
    /// (a parameter the provider cannot take): nothing was sent, so nothing is consumed.
    #[error("unsupported parameter: {message}")]
    Unsupported { param: String, message: String },
    /// The upstream refused the request as invalid.
    #[error("bad request: {message}")]
    BadRequest {
        /// The offending request field, when known.
        param: Option<String>,
        message: String,
    },
    /// The gateway's credentials may not call this model.
    #[error("access denied by the upstream: {message}")]
    AccessDenied { message: String },
    /// The model or endpoint does not exist upstream.
    #[error("not found upstream: {message}")]
    NotFound { message: String },
    /// The upstream refused the deployment's own configuration, not the request: a model id it
    /// does not know, or a base model id it serves only through an inference profile. Like
    /// access denied, it is fixed in the config, so the request moves on to other deployments.
    #[error("deployment misconfigured for the upstream: {message}")]
    Misconfigured { message: String },
    /// Anything else the upstream did wrong (odd status, unreadable reply).
    #[error("upstream error: {message}")]
    Upstream { message: String },
}

impl ProviderError {
    /// A refusal of a request field, for conversions that meet something they cannot send.
    pub fn bad_param(param: impl Into<String>, message: impl Into<String>) -> Self {
        ProviderError::Unsupported {
            param: param.into(),
            message: message.into(),
        }
    }

    /// The HTTP status the gateway answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ProviderError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ProviderError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ProviderError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ProviderError::ContextWindowExceeded { .. }
            | ProviderError::BadRequest { .. }
            | ProviderError::Unsupported { .. } => StatusCode::BAD_REQUEST,
            ProviderError::AccessDenied { .. } => StatusCode::FORBIDDEN,
            ProviderError::NotFound { .. } => StatusCode::NOT_FOUND,
            ProviderError::Misconfigured { .. } | ProviderError::Upstream { .. } => {
                StatusCode::BAD_GATEWAY
            }
        }
    }

    /// What kind of error the client is told of.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ProviderError::RateLimited { .. } => ErrorKind::RateLimit,
            ProviderError::Unavailable { .. } => ErrorKind::Unavailable,
            ProviderError::Timeout { .. } => ErrorKind::Timeout,
            ProviderError::ContextWindowExceeded { .. }
            | ProviderError::BadRequest { .. }
            | ProviderError::Unsupported { .. } => ErrorKind::InvalidRequest,
            ProviderError::AccessDenied { .. } => ErrorKind::Permission,
            ProviderError::NotFound { .. } => ErrorKind::NotFound,
            ProviderError::Misconfigured { .. } | ProviderError::Upstream { .. } => {
                ErrorKind::Internal
            }
        }
    }

    /// The OpenAI error `code`, for the cases clients branch on.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            ProviderError::RateLimited { .. } => Some("rate_limit_exceeded"),
            ProviderError::ContextWindowExceeded { .. } => Some("context_length_exceeded"),
            ProviderError::Unavailable { .. }
            | ProviderError::Timeout { .. }
            | ProviderError::BadRequest { .. }
            | ProviderError::Unsupported { .. }
            | ProviderError::AccessDenied { .. }
            | ProviderError::NotFound { .. }
            | ProviderError::Misconfigured { .. }
            | ProviderError::Upstream { .. } => None,
        }
    }

    /// The request field at fault, if the error names one.
    pub fn param(&self) -> Option<&str> {
        match self {
            ProviderError::BadRequest { param, .. } => param.as_deref(),
            ProviderError::Unsupported { param, .. } => Some(param),
            ProviderError::RateLimited { .. }
            | ProviderError::Unavailable { .. }
            | ProviderError::Timeout { .. }
            | ProviderError::ContextWindowExceeded { .. }
            | ProviderError::AccessDenied { .. }
            | ProviderError::NotFound { .. }
            | ProviderError::Misconfigured { .. }
            | ProviderError::Upstream { .. } => None,
        }
    }

    /// The wait the upstream asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::RateLimited { retry_after, .. }
            | ProviderError::Unavailable { retry_after, .. } => *retry_after,
            ProviderError::Timeout { .. }
            | ProviderError::ContextWindowExceeded { .. }
            | ProviderError::BadRequest { .. }
            | ProviderError::Unsupported { .. }
            | ProviderError::AccessDenied { .. }
            | ProviderError::NotFound { .. }
            | ProviderError::Misconfigured { .. }
            | ProviderError::Upstream { .. } => None,
        }
    }

    /// Whether the error says the deployment's configuration is wrong (credentials, access,
    /// model id) rather than the request or a passing fault: operators need to hear of it.
    pub fn is_misconfiguration(&self) -> bool {
        match self {
            ProviderError::AccessDenied { .. }
            | ProviderError::NotFound { .. }
            | ProviderError::Misconfigured { .. } => true,
            ProviderError::RateLimited { .. }
            | ProviderError::Unavailable { .. }
            | ProviderError::Timeout { .. }
            | ProviderError::ContextWindowExceeded { .. }
            | ProviderError::BadRequest { .. }
            | ProviderError::Unsupported { .. }
            | ProviderError::Upstream { .. } => false,
        }
    }

    /// The message shown to the client. 4xx caused by the request keep the upstream's words
    /// (they help fix the request); 5xx, 403 and 404 say what happened without internal
    /// detail (account ids, ARNs, hosts), which stays in the logs via `Display`.
    pub fn client_message(&self) -> &str {
        match self {
            ProviderError::RateLimited { .. } => "The upstream model is rate limited; retry later.",
            ProviderError::Unavailable { .. } => "The upstream model is temporarily unavailable.",
            ProviderError::Timeout { .. } => "The upstream model did not answer in time.",
            ProviderError::ContextWindowExceeded { message }
            | ProviderError::BadRequest { message, .. }
            | ProviderError::Unsupported { message, .. } => message,
            ProviderError::AccessDenied { .. } => {
                "The gateway is not allowed to call the upstream model."
            }
            ProviderError::NotFound { .. } => "The upstream model was not found.",
            ProviderError::Misconfigured { .. } => {
                "The gateway's deployment is misconfigured for the upstream model."
            }
            ProviderError::Upstream { .. } => "The upstream model returned an invalid response.",
        }
    }

    /// The OpenAI error body for this error.
    pub fn to_error_body(&self) -> ErrorBody {
        ErrorBody::new(
            self.client_message(),
            self.kind().openai_type(),
            self.param(),
            self.code(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<ProviderError> {
        let message = || "internal detail arn:aws:iam::123456789012:role/x".to_owned();
        vec![
            ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(2)),
                message: message(),
            },
            ProviderError::Unavailable {
                message: message(),
                retry_after: None,
            },
            ProviderError::Timeout { message: message() },
            ProviderError::ContextWindowExceeded {
                message: "prompt is too long".into(),
            },
            ProviderError::BadRequest {
                param: Some("seed".into()),
                message: "seed is not supported".into(),
            },
            ProviderError::Unsupported {
                param: "logprobs".into(),
                message: "logprobs is not supported by this deployment".into(),
            },
            ProviderError::AccessDenied { message: message() },
            ProviderError::NotFound { message: message() },
            ProviderError::Upstream { message: message() },
            ProviderError::Misconfigured { message: message() },
        ]
    }

    #[test]
    fn the_meaning_table() {
        // (status, type, code, param, misconfiguration), one row per variant of `all()`.
        let expected = [
            (
                429,
                "rate_limit_error",
                Some("rate_limit_exceeded"),
                None,
                false,
            ),
            (503, "service_unavailable", None, None, false),
            (504, "timeout", None, None, false),
            (
                400,
                "invalid_request_error",
                Some("context_length_exceeded"),
                None,
                false,
            ),
            (400, "invalid_request_error", None, Some("seed"), false),
            (400, "invalid_request_error", None, Some("logprobs"), false),
            (403, "permission_error", None, None, true),
            (404, "not_found_error", None, None, true),
            (502, "api_error", None, None, false),
            (502, "api_error", None, None, true),
        ];
        let all = all();
        assert_eq!(all.len(), expected.len(), "one row per error");
        for (error, (status, kind, code, param, misconfiguration)) in all.iter().zip(expected) {
            assert_eq!(error.status().as_u16(), status, "{error:?}");
            assert_eq!(error.kind().openai_type(), kind, "{error:?}");
            assert_eq!(error.code(), code, "{error:?}");
            assert_eq!(error.param(), param, "{error:?}");
            assert_eq!(error.is_misconfiguration(), misconfiguration, "{error:?}");
        }
    }

    #[test]
    fn error_kinds_are_numbered_in_the_metric_order() {
        for (slot, kind) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, slot, "{kind:?}");
        }
    }

    #[test]
    fn client_bodies_carry_no_internal_detail() {
        for error in all() {
            let body = serde_json::to_string(&error.to_error_body()).unwrap();
            assert!(!body.contains("arn:aws"), "{body}");
        }
        let bad = &all()[4];
        let body = serde_json::to_value(bad.to_error_body()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": {"message": "seed is not supported",
                "type": "invalid_request_error", "param": "seed", "code": null}})
        );
        assert_eq!(all()[0].retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(all()[1].retry_after(), None);
    }
}
