//! Who is calling: the master key, a consumer key, or nobody (an open gateway).
//!
//! Every configured key is compared in constant time, and all of them are compared on every
//! request, so neither the timing of one comparison nor the number made reveals which key
//! matched or how much of a guess was right. Keys are never logged.

use http::HeaderMap;
use http::header::AUTHORIZATION;

use super::error::ApiError;
use crate::config::GatewaySettings;
pub use crate::pipeline::Caller;

/// What a request without a key is told.
pub const MISSING_KEY: &str = "Missing API key: send Authorization: Bearer <key>";

/// Identifies the caller from `Authorization: Bearer <key>` (or LiteLLM's `x-api-key` / `api-key`).
pub fn authenticate<'a>(
    headers: &HeaderMap,
    settings: &'a GatewaySettings,
) -> Result<Caller<'a>, ApiError> {
    if !settings.requires_auth() {
        return Ok(Caller::Open);
    }
    let presented = presented_key(headers).ok_or_else(|| ApiError::unauthorized(MISSING_KEY))?;
    let presented = presented.as_bytes();
    // Compare against every key without stopping early.
    let master = settings
        .master_key
        .as_ref()
        .is_some_and(|k| k.matches(presented));
    let mut consumer = None;
    for c in &settings.consumers {
        if c.key.matches(presented) && consumer.is_none() {
            consumer = Some(c);
        }
    }
    match (master, consumer) {
        (true, _) => Ok(Caller::Master),
        (false, Some(c)) => Ok(Caller::Consumer(c)),
        (false, None) => Err(ApiError::unauthorized("Invalid API key")),
    }
}

fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let value = value.trim();
        let key = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .unwrap_or(value)
            .trim();
        return (!key.is_empty()).then_some(key);
    }
    ["x-api-key", "api-key"]
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Consumer, Secret};

    fn settings() -> GatewaySettings {
        GatewaySettings {
            host: "127.0.0.1".into(),
            port: 4000,
            master_key: Some(Secret::new("sk-master-000")),
            consumers: vec![Consumer {
                name: "A".into(),
                key: Secret::new("sk-consumer-a"),
                tier: None,
                rpm_limit: Some(3),
                tpm_limit: None,
                max_parallel_requests: None,
                models: vec!["isolated".into()],
                sigv4: None,
                budget: None,
            }],
            drop_params: false,
            metrics_need_auth: false,
            max_body_bytes: 1024,
            header_timeout: std::time::Duration::from_secs(10),
            body_timeout: std::time::Duration::from_secs(30),
            max_connections: None,
            max_buffered_body_bytes: 64 << 20,
            tls: None,
            budget: None,
            telemetry: Default::default(),
        }
    }

    fn bearer(key: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, format!("Bearer {key}").parse().unwrap());
        headers
    }

    #[test]
    fn recognises_master_and_consumer_keys() {
        let s = settings();
        assert!(matches!(
            authenticate(&bearer("sk-master-000"), &s),
            Ok(Caller::Master)
        ));
        match authenticate(&bearer("sk-consumer-a"), &s) {
            Ok(Caller::Consumer(c)) => assert_eq!(c.name, "A"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_missing_and_wrong_keys() {
        let s = settings();
        assert_eq!(authenticate(&HeaderMap::new(), &s).unwrap_err().status, 401);
        assert_eq!(
            authenticate(&bearer("sk-consumer-b"), &s)
                .unwrap_err()
                .status,
            401
        );
        assert_eq!(
            authenticate(&bearer("sk-consumer-"), &s)
                .unwrap_err()
                .status,
            401
        );
    }

    #[test]
    fn an_open_gateway_needs_no_key() {
        let mut s = settings();
        s.master_key = None;
        s.consumers.clear();
        assert!(matches!(
            authenticate(&HeaderMap::new(), &s),
            Ok(Caller::Open)
        ));
    }

    #[test]
    fn consumers_are_limited_to_their_models() {
        let s = settings();
        let caller = authenticate(&bearer("sk-consumer-a"), &s).unwrap();
        assert!(caller.may_use("isolated"));
        assert!(!caller.may_use("balanced"));
    }
}
