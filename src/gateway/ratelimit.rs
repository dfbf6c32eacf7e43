//! OpenAI's rate-limit headers (`x-ratelimit-limit-*`, `-remaining-*`, `-reset-*`), written from
//! the [`RateLimits`] of the limits that decided a request: on a success those of the deployment that served it, on a
//! consumer's 429 the consumer's, on a no-capacity 429 the limit that frees earliest across the
//! chain. A reset is how long until one more request (or a request of the same tokens) would
//! fit: the same instant a refusal's `Retry-After` names, to the millisecond instead of rounded
//! up to the second.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::pipeline::RateLimits;

impl RateLimits {
    /// Adds the headers that have a value to `headers`.
    pub fn put(&self, headers: &mut HeaderMap) {
        let counts = [
            (LIMIT_REQUESTS, self.limit_requests),
            (LIMIT_TOKENS, self.limit_tokens),
            (REMAINING_REQUESTS, self.remaining.requests),
            (REMAINING_TOKENS, self.remaining.tokens),
        ];
        for (name, value) in counts {
            if let Some(n) = value {
                headers.insert(name, HeaderValue::from(n));
            }
        }
        let resets = [
            (RESET_REQUESTS, self.remaining.reset_requests),
            (RESET_TOKENS, self.remaining.reset_tokens),
        ];
        for (name, value) in resets {
            if let Some(wait) = value
                && let Ok(value) = HeaderValue::from_str(&openai_duration(wait))
            {
                headers.insert(name, value);
            }
        }
    }
}

impl RateLimits {
    /// Adds Anthropic's headers that have a value (`anthropic-ratelimit-requests-limit`,
    /// `-remaining`, `-reset`, and the same for `tokens`), a reset as the RFC 3339 instant
    /// `now + wait`. Input and output tokens are one limit here, as in Bedrock's TPM, so the
    /// `input-tokens-` and `output-tokens-` headers are left out rather than guessed.
    pub fn put_anthropic(&self, headers: &mut HeaderMap, now: chrono::DateTime<chrono::Utc>) {
        let figures = [
            (ANTHROPIC_REQUESTS_LIMIT, self.limit_requests),
            (ANTHROPIC_TOKENS_LIMIT, self.limit_tokens),
            (ANTHROPIC_REQUESTS_REMAINING, self.remaining.requests),
            (ANTHROPIC_TOKENS_REMAINING, self.remaining.tokens),
        ];
        for (name, value) in figures {
            if let Some(n) = value {
                headers.insert(name, HeaderValue::from(n));
            }
        }
        let resets = [
            (ANTHROPIC_REQUESTS_RESET, self.remaining.reset_requests),
            (ANTHROPIC_TOKENS_RESET, self.remaining.reset_tokens),
        ];
        for (name, value) in resets {
            if let Some(wait) = value
                && let Ok(value) = HeaderValue::from_str(&rfc3339_after(now, wait))
            {
                headers.insert(name, value);
            }
        }
    }
}

/// The instant `wait` after `now`, in RFC 3339 to the second, rounded up (`2026-12-02T07:00:01Z`).
pub fn rfc3339_after(now: chrono::DateTime<chrono::Utc>, wait: Duration) -> String {
    let wait = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
    let at = now.checked_add_signed(wait).unwrap_or(now);
    let whole = at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0);
    chrono::DateTime::from_timestamp(whole, 0)
        .unwrap_or(at)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

const ANTHROPIC_REQUESTS_LIMIT: HeaderName =
    HeaderName::from_static("anthropic-ratelimit-requests-limit");
const ANTHROPIC_REQUESTS_REMAINING: HeaderName =
    HeaderName::from_static("anthropic-ratelimit-requests-remaining");
const ANTHROPIC_REQUESTS_RESET: HeaderName =
    HeaderName::from_static("anthropic-ratelimit-requests-reset");
const ANTHROPIC_TOKENS_LIMIT: HeaderName =
    HeaderName::from_static("anthropic-ratelimit-tokens-limit");
const ANTHROPIC_TOKENS_REMAINING: HeaderName =
    HeaderName::from_static("anthropic-ratelimit-tokens-remaining");
const ANTHROPIC_TOKENS_RESET: HeaderName =
    HeaderName::from_static("anthropic-ratelimit-tokens-reset");

const LIMIT_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-limit-requests");
const LIMIT_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-limit-tokens");
const REMAINING_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-requests");
const REMAINING_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-tokens");
const RESET_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-reset-requests");
const RESET_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-reset-tokens");

/// A duration as OpenAI writes it (Go's `time.Duration` format, to the millisecond, rounded
/// up so a client that waits it is never early): `0s`, `120ms`, `59s`, `1.5s`, `1m0s`,
/// `1h2m3s`.
pub fn openai_duration(wait: Duration) -> String {
    let millis = wait.as_micros().div_ceil(1000);
    if millis == 0 {
        return "0s".to_string();
    }
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let (hours, rest) = (millis / 3_600_000, millis % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let (seconds, fraction) = (rest / 1000, rest % 1000);
    let mut text = String::new();
    if hours > 0 {
        text.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        text.push_str(&format!("{minutes}m"));
    }
    text.push_str(&seconds.to_string());
    if fraction > 0 {
        let digits = format!("{fraction:03}");
        text.push('.');
        text.push_str(digits.trim_end_matches('0'));
    }
    text.push('s');
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn anthropic_resets_are_rfc3339_instants_rounded_up() {
        let now = chrono::DateTime::from_timestamp(1_796_000_000, 250_000_000).unwrap();
        assert_eq!(rfc3339_after(now, Duration::ZERO), "2026-11-30T00:53:21Z");
        assert_eq!(
            rfc3339_after(now, Duration::from_millis(59_800)),
            "2026-11-30T00:54:21Z"
        );
        let limits = RateLimits {
            limit_requests: Some(50),
            limit_tokens: None,
            remaining: crate::router::Remaining {
                requests: Some(49),
                tokens: None,
                reset_requests: Some(Duration::from_secs(60)),
                reset_tokens: None,
            },
        };
        let mut headers = HeaderMap::new();
        limits.put_anthropic(&mut headers, now);
        assert_eq!(headers["anthropic-ratelimit-requests-limit"], "50");
        assert_eq!(headers["anthropic-ratelimit-requests-remaining"], "49");
        assert_eq!(
            headers["anthropic-ratelimit-requests-reset"],
            "2026-11-30T00:54:21Z"
        );
        assert!(headers.get("anthropic-ratelimit-tokens-limit").is_none());
    }

    use super::*;
    use crate::router::{Exceeded, LimitKind};

    #[test]
    fn durations_read_like_openais() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_micros(1), "1ms"),
            (Duration::from_millis(120), "120ms"),
            (Duration::from_millis(999), "999ms"),
            (Duration::from_secs(1), "1s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(59_001), "59.001s"),
            (Duration::from_secs(59), "59s"),
            (Duration::from_secs(60), "1m0s"),
            (Duration::from_secs(360), "6m0s"),
            (Duration::from_secs(3723), "1h2m3s"),
            (Duration::from_secs(3600), "1h0m0s"),
        ];
        for (wait, text) in cases {
            assert_eq!(openai_duration(wait), text, "{wait:?}");
        }
    }

    #[test]
    fn a_refused_limit_shows_nothing_left_and_its_reset() {
        let rpm = Exceeded {
            kind: LimitKind::Rpm,
            limit: 3,
            retry_after: Duration::from_millis(58_250),
        };
        let mut headers = HeaderMap::new();
        RateLimits::exceeded(&rpm).put(&mut headers);
        assert_eq!(headers["x-ratelimit-limit-requests"], "3");
        assert_eq!(headers["x-ratelimit-remaining-requests"], "0");
        assert_eq!(headers["x-ratelimit-reset-requests"], "58.25s");
        assert!(headers.get("x-ratelimit-limit-tokens").is_none());
        let parallel = Exceeded {
            kind: LimitKind::Parallel,
            ..rpm
        };
        let mut headers = HeaderMap::new();
        RateLimits::exceeded(&parallel).put(&mut headers);
        assert!(headers.is_empty());
    }
}
