//! Errors as clients see them, in the shape of the surface that was called ([`Dialect`]):
//! OpenAI's `{"error":{"message","type","param","code"}}` or Anthropic's
//! `{"type":"error","error":{"type","message"}}`, with the right status, a `Retry-After` where
//! one helps, and no internal detail in 5xx bodies.

use std::time::Duration;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::openai::{ErrorBody, RequestError};
use crate::pipeline::Failure;
use crate::provider::{ErrorKind, ProviderError};
use crate::router::Refusal;

/// An error answered to a client.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    /// What kind of error it is (OpenAI's `type` names it: `invalid_request_error`, …).
    pub kind: ErrorKind,
    pub message: String,
    pub param: Option<String>,
    pub code: Option<String>,
    pub retry_after: Option<Duration>,
}

impl ApiError {
    fn new(status: StatusCode, kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            message: message.into(),
            param: None,
            code: None,
            retry_after: None,
        }
    }

    /// 400 naming the offending request field.
    pub fn bad_request(param: Option<String>, message: impl Into<String>) -> Self {
        ApiError {
            param,
            ..Self::new(StatusCode::BAD_REQUEST, ErrorKind::InvalidRequest, message)
        }
    }

    /// 401: no key, or a key that matches nothing.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError {
            code: Some("invalid_api_key".into()),
            ..Self::new(StatusCode::UNAUTHORIZED, ErrorKind::Authentication, message)
        }
    }

    /// 403 for a SigV4 signature that does not verify (`InvalidSignatureException`) or cannot
    /// be read (`IncompleteSignatureException`), in AWS's words and nothing more.
    pub fn bad_signature(exception: &'static str, message: &'static str) -> Self {
        ApiError {
            code: Some(exception.into()),
            ..Self::new(StatusCode::FORBIDDEN, ErrorKind::Authentication, message)
        }
    }

    /// 403: a key that may not use this model group.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorKind::Permission, message)
    }

    /// 404 for a model group that does not exist (listing nothing secret).
    pub fn unknown_model(model: &str) -> Self {
        ApiError {
            param: Some("model".into()),
            code: Some("model_not_found".into()),
            ..Self::new(
                StatusCode::NOT_FOUND,
                ErrorKind::NotFound,
                format!(
                    "The model `{model}` does not exist on this gateway; GET /v1/models lists the models you can use"
                ),
            )
        }
    }

    /// 400 for a Bedrock model id that names nothing here, in Bedrock's words.
    pub fn unknown_bedrock_model() -> Self {
        Self::bad_request(
            Some("modelId".into()),
            "The provided model identifier is invalid.",
        )
    }

    /// 404 for an unknown route.
    pub fn unknown_route(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorKind::NotFound,
            format!(
                "no route {path}; the API is POST /v1/chat/completions, POST /v1/messages and GET /v1/models"
            ),
        )
    }

    /// 405 for a known route with the wrong method.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::InvalidRequest,
            "method not allowed on this route",
        )
    }

    /// 413 for a body over the configured limit.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::InvalidRequest,
            format!("request body is larger than the limit of {limit} bytes"),
        )
    }

    /// 408 for a request body that did not arrive within `gateway.body_timeout`.
    pub fn body_timeout(timeout: Duration) -> Self {
        ApiError {
            code: Some("request_timeout".into()),
            ..Self::new(
                StatusCode::REQUEST_TIMEOUT,
                ErrorKind::InvalidRequest,
                format!(
                    "the request body did not arrive within {}s of its head (gateway.body_timeout)",
                    timeout.as_secs_f64()
                ),
            )
        }
    }

    /// 503 when request bodies already fill `gateway.max_buffered_body_mb`.
    pub fn bodies_over_budget(budget: usize, retry_after: Duration) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            code: Some("server_busy".into()),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorKind::Unavailable,
                format!(
                    "the gateway is holding its limit of {} MiB of request bodies; retry shortly",
                    budget / (1024 * 1024)
                ),
            )
        }
    }

    /// 429 when every deployment and fallback is at its limit or cooling down.
    pub fn no_capacity(group: &str, retry_after: Option<Duration>) -> Self {
        ApiError {
            retry_after,
            code: Some("rate_limit_exceeded".into()),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorKind::RateLimit,
                format!(
                    "No deployment of `{group}` or its fallbacks has capacity now (rate limits or cooldowns); retry later"
                ),
            )
        }
    }

    /// 400 for a request larger than any limit it could ever fit under.
    pub fn never_fits(message: String) -> Self {
        ApiError {
            param: Some("max_tokens".into()),
            code: Some("request_too_large".into()),
            ..Self::new(StatusCode::BAD_REQUEST, ErrorKind::InvalidRequest, message)
        }
    }

    /// 429 naming the consumer's own limit.
    pub fn consumer_limited(refusal: &Refusal) -> Self {
        ApiError {
            retry_after: Some(refusal.retry_after),
            code: Some("rate_limit_exceeded".into()),
            param: Some(refusal.config_key().into()),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorKind::RateLimit,
                format!("Rate limit exceeded: {refusal}"),
            )
        }
    }

    /// 400 for a caller past its spend budget (LiteLLM's `budget_exceeded`: a 429 would make
    /// SDKs retry until the period ends).
    pub fn budget_exceeded(message: String) -> Self {
        ApiError {
            code: Some("budget_exceeded".into()),
            ..Self::new(StatusCode::BAD_REQUEST, ErrorKind::Budget, message)
        }
    }

    /// 504 when the whole request ran past the router's timeout.
    pub fn request_timeout() -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::Timeout,
            "the request did not complete within the gateway's timeout",
        )
    }

    /// 500 when the gateway cannot write an answer it has (its own fault; no detail leaks).
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::Internal,
            "the gateway could not write the answer; the failure is logged",
        )
    }

    /// 503 while shutting down.
    pub fn shutting_down() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Unavailable,
            "the gateway is shutting down; retry on another replica",
        )
    }

    /// The client's view of an upstream failure.
    pub fn from_provider(error: &ProviderError) -> Self {
        let body = error.to_error_body();
        ApiError {
            status: error.status(),
            kind: error.kind(),
            message: body.error.message,
            param: body.error.param,
            code: body.error.code,
            retry_after: error.retry_after(),
        }
    }

    /// The client's view of a request the pipeline did not serve.
    pub fn from_failure(failure: &Failure) -> Self {
        match failure {
            Failure::UnknownModel(group) => Self::unknown_model(group),
            Failure::Forbidden(group) => {
                Self::forbidden(format!("this key may not use the model `{group}`"))
            }
            Failure::NeverFits(message) => Self::never_fits(message.clone()),
            Failure::ConsumerLimited(refusal) => Self::consumer_limited(refusal),
            Failure::NoCapacity { group, retry_after } => {
                Self::no_capacity(group, Some(*retry_after))
            }
            Failure::Unfit { group, reason } => ApiError {
                code: Some("model_cannot_serve_request".into()),
                ..Self::bad_request(
                    Some(reason.param().into()),
                    format!(
                        "No deployment of `{group}` or its fallbacks can serve this request: {reason}"
                    ),
                )
            },
            Failure::Timeout => Self::request_timeout(),
            Failure::BudgetExceeded(refusal) => Self::budget_exceeded(refusal.to_string()),
            Failure::Upstream(error) => Self::from_provider(error),
        }
    }

    /// A request body the parser refused.
    pub fn from_request(error: RequestError) -> Self {
        let body = error.to_error_body();
        ApiError {
            param: body.error.param,
            code: body.error.code,
            ..Self::bad_request(None, body.error.message)
        }
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody::new(
            self.message.clone(),
            self.kind.openai_type(),
            self.param.as_deref(),
            self.code.as_deref(),
        )
    }
}

/// The error shape of a surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    OpenAi,
    Anthropic,
    /// Bedrock Runtime's restJson1: `x-amzn-errortype` and `{"message"}`.
    Bedrock,
}

impl ApiError {
    /// The response in `dialect`'s shape.
    pub fn into_response_as(self, dialect: Dialect) -> Response {
        match dialect {
            Dialect::OpenAi => self.into_response(),
            Dialect::Anthropic => self.into_anthropic_response(),
            Dialect::Bedrock => self.into_bedrock_response(),
        }
    }

    /// Bedrock's status and exception name for this error, and its message: the SDKs retry
    /// `ThrottlingException` (429) and `ServiceUnavailableException` (503) as they would
    /// against Bedrock; a refused key gets Bedrock's own words and nothing more.
    pub fn bedrock_exception(&self) -> (StatusCode, &'static str, &str) {
        match self.kind {
            ErrorKind::InvalidRequest => (self.status, "ValidationException", &self.message),
            ErrorKind::Authentication
                if self.code.as_deref() == Some("InvalidSignatureException") =>
            {
                (
                    StatusCode::FORBIDDEN,
                    "InvalidSignatureException",
                    &self.message,
                )
            }
            ErrorKind::Authentication
                if self.code.as_deref() == Some("IncompleteSignatureException") =>
            {
                (
                    StatusCode::FORBIDDEN,
                    "IncompleteSignatureException",
                    &self.message,
                )
            }
            ErrorKind::Authentication if self.message == super::auth::MISSING_KEY => (
                StatusCode::FORBIDDEN,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ),
            ErrorKind::Authentication => (
                StatusCode::FORBIDDEN,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ),
            ErrorKind::Permission => (
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                &self.message,
            ),
            ErrorKind::NotFound => (self.status, "ResourceNotFoundException", &self.message),
            ErrorKind::RateLimit => (
                StatusCode::TOO_MANY_REQUESTS,
                "ThrottlingException",
                &self.message,
            ),
            ErrorKind::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableException",
                &self.message,
            ),
            ErrorKind::Timeout => (
                StatusCode::REQUEST_TIMEOUT,
                "ModelTimeoutException",
                &self.message,
            ),
            ErrorKind::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerException",
                &self.message,
            ),
            ErrorKind::Budget => (
                StatusCode::BAD_REQUEST,
                "ServiceQuotaExceededException",
                &self.message,
            ),
        }
    }

    /// The member of a Bedrock stream's union a mid-stream failure is sent as (ConverseStream
    /// and InvokeModelWithResponseStream share these).
    pub fn bedrock_stream_exception(&self) -> &'static str {
        match self.kind {
            ErrorKind::InvalidRequest => "validationException",
            ErrorKind::RateLimit => "throttlingException",
            ErrorKind::Unavailable => "serviceUnavailableException",
            ErrorKind::Internal => "internalServerException",
            ErrorKind::Budget => "validationException",
            ErrorKind::Timeout
            | ErrorKind::Authentication
            | ErrorKind::Permission
            | ErrorKind::NotFound => "modelStreamErrorException",
        }
    }

    fn into_bedrock_response(self) -> Response {
        let (status, name, message) = self.bedrock_exception();
        let body = serde_json::json!({ "message": message }).to_string();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert("x-amzn-errortype", HeaderValue::from_static(name));
        put_retry_after(&mut response, self.retry_after);
        response
    }

    /// Anthropic's error `type` and status for this error: a 413 is `request_too_large`,
    /// upstreams that cannot serve are `overloaded_error` (529, which the Anthropic SDKs
    /// retry), a timeout `timeout_error`.
    pub fn anthropic_type(&self) -> (StatusCode, &'static str) {
        const OVERLOADED: StatusCode = match StatusCode::from_u16(529) {
            Ok(status) => status,
            Err(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        match self.kind {
            ErrorKind::InvalidRequest if self.status == StatusCode::PAYLOAD_TOO_LARGE => {
                (self.status, "request_too_large")
            }
            ErrorKind::InvalidRequest => (self.status, "invalid_request_error"),
            ErrorKind::Authentication => (self.status, "authentication_error"),
            ErrorKind::Permission => (self.status, "permission_error"),
            ErrorKind::NotFound => (self.status, "not_found_error"),
            ErrorKind::RateLimit => (self.status, "rate_limit_error"),
            ErrorKind::Unavailable => (OVERLOADED, "overloaded_error"),
            ErrorKind::Timeout => (self.status, "timeout_error"),
            ErrorKind::Internal => (self.status, "api_error"),
            ErrorKind::Budget => (self.status, "invalid_request_error"),
        }
    }

    fn into_anthropic_response(self) -> Response {
        let (status, kind) = self.anthropic_type();
        let body = crate::anthropic::error_body(kind, &self.message);
        let mut response = (status, Json(body)).into_response();
        put_retry_after(&mut response, self.retry_after);
        response
    }
}

/// `Retry-After` in whole seconds, rounded up, at least 1.
fn put_retry_after(response: &mut Response, retry_after: Option<Duration>) {
    if let Some(after) = retry_after {
        let seconds = after.as_secs() + u64::from(after.subsec_nanos() > 0);
        if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        put_retry_after(&mut response, self.retry_after);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let response =
            ApiError::no_capacity("g", Some(Duration::from_millis(1500))).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }

    #[test]
    fn anthropic_errors_take_anthropics_types_and_statuses() {
        let cases = [
            (ApiError::payload_too_large(10), 413, "request_too_large"),
            (
                ApiError::bad_request(None, "x"),
                400,
                "invalid_request_error",
            ),
            (ApiError::unauthorized("x"), 401, "authentication_error"),
            (ApiError::unknown_model("m"), 404, "not_found_error"),
            (ApiError::no_capacity("g", None), 429, "rate_limit_error"),
            (ApiError::shutting_down(), 529, "overloaded_error"),
            (ApiError::request_timeout(), 504, "timeout_error"),
            (ApiError::internal(), 500, "api_error"),
        ];
        for (error, status, kind) in cases {
            assert_eq!(
                error.anthropic_type(),
                (StatusCode::from_u16(status).unwrap(), kind)
            );
        }
        let response = ApiError::no_capacity("g", Some(Duration::from_millis(200)))
            .into_response_as(Dialect::Anthropic);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn bedrock_errors_take_bedrocks_exception_names_and_statuses() {
        let missing = ApiError::unauthorized(super::super::auth::MISSING_KEY);
        let cases = [
            (
                ApiError::unknown_bedrock_model(),
                400,
                "ValidationException",
            ),
            (missing, 403, "MissingAuthenticationTokenException"),
            (
                ApiError::unauthorized("Invalid API key"),
                403,
                "UnrecognizedClientException",
            ),
            (ApiError::forbidden("no"), 403, "AccessDeniedException"),
            (ApiError::no_capacity("g", None), 429, "ThrottlingException"),
            (
                ApiError::shutting_down(),
                503,
                "ServiceUnavailableException",
            ),
            (ApiError::request_timeout(), 408, "ModelTimeoutException"),
            (ApiError::internal(), 500, "InternalServerException"),
        ];
        for (error, status, name) in cases {
            let (got_status, got_name, _) = error.bedrock_exception();
            assert_eq!((got_status.as_u16(), got_name), (status, name), "{error:?}");
        }
        let response = ApiError::no_capacity("g", Some(Duration::from_millis(1200)))
            .into_response_as(Dialect::Bedrock);
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response.headers()["x-amzn-errortype"],
            "ThrottlingException"
        );
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let response = ApiError::unauthorized("Invalid API key").into_response_as(Dialect::Bedrock);
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn upstream_errors_keep_their_meaning_without_internals() {
        let error = ApiError::from_provider(&ProviderError::Unavailable {
            message: "connection refused to 10.0.0.1".into(),
            retry_after: None,
        });
        assert_eq!(error.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!error.message.contains("10.0.0.1"), "{}", error.message);
    }
}
