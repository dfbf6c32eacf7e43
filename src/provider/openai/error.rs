//! OpenAI-compatible upstream failures (HTTP statuses, transport errors) → [`ProviderError`].

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};

use crate::openai::ErrorBody;
use crate::provider::ProviderError;
use crate::provider::bedrock::is_context_window_message;

/// Error codes OpenAI-compatible servers use for a prompt that does not fit.
const CONTEXT_CODES: [&str; 2] = ["context_length_exceeded", "string_above_max_length"];

/// The provider error for a non-success reply: `status`, its `body` (an OpenAI error body
/// when the server sent one) and the wait from its `Retry-After`.
pub fn convert_status(
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
) -> ProviderError {
    let detail = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .map(|b| b.error);
    let message = match &detail {
        Some(detail) => detail.message.clone(),
        None => format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(512)])
        ),
    };
    let context_window = detail
        .as_ref()
        .and_then(|d| d.code.as_deref())
        .is_some_and(|c| CONTEXT_CODES.contains(&c))
        || is_context_window_message(&message);
    match status.as_u16() {
        429 => ProviderError::RateLimited {
            retry_after,
            message,
        },
        408 | 504 => ProviderError::Timeout { message },
        500..=599 => ProviderError::Unavailable {
            message,
            retry_after,
        },
        400 | 413 | 422 if context_window => ProviderError::ContextWindowExceeded { message },
        400 | 413 | 422 => ProviderError::BadRequest {
            param: detail.and_then(|d| d.param),
            message,
        },
        401 | 403 => ProviderError::AccessDenied { message },
        404 => ProviderError::NotFound { message },
        // Redirects, other 4xx and anything unexpected for a chat completion.
        _ => ProviderError::Upstream { message },
    }
}

/// The wait a reply asks for: `retry-after-ms` (OpenAI's), else `Retry-After` in seconds
/// or as an HTTP date (a date in the past means "now").
pub fn parse_retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = header("retry-after")?;
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let at = SystemTime::from(date);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}
