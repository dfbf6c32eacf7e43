//! Rate-limit headers as OpenAI sends them (`x-ratelimit-limit-*`, `-remaining-*`, `-reset-*`,
//! with `Retry-After` on 429s), `x-request-id` on every response, and the 400 for a request
//! that could never fit any limit it may use.

use std::time::Duration;

use serde_json::json;

use crate::harness::{HAIKU, Reply, SONNET, Stack};

/// Parses OpenAI's duration format (`0s`, `120ms`, `59.5s`, `1m0s`).
fn duration(text: &str) -> Duration {
    if let Some(ms) = text.strip_suffix("ms") {
        return Duration::from_millis(ms.parse().unwrap());
    }
    let (minutes, seconds) = match text.split_once('m') {
        Some((m, s)) => (m.parse::<u64>().unwrap(), s),
        None => (0, text),
    };
    let seconds: f64 = seconds.strip_suffix('s').unwrap().parse().unwrap();
    Duration::from_secs(minutes * 60) + Duration::from_secs_f64(seconds)
}

fn reset(reply: &Reply, which: &str) -> Duration {
    let name = format!("x-ratelimit-reset-{which}");
    duration(
        reply
            .header(&name)
            .unwrap_or_else(|| panic!("no {name}: {reply:?}")),
    )
}

/// `Retry-After` in whole seconds.
fn retry_after(reply: &Reply) -> u64 {
    reply.header("retry-after").unwrap().parse().unwrap()
}

const CONFIG: &str = r#"
gateway:
  master_key: sk-master-ratelimit
  consumers:
    - {name: slow, key: sk-consumer-slow, rpm_limit: 2, tpm_limit: 5000}
model_list:
  - model_name: primary
    litellm_params: {model: "bedrock/PRIMARY", aws_profile_name: genai, rpm: 2, tpm: 100000}
    model_info: {id: primary-1}
  - model_name: backup
    litellm_params: {model: "bedrock/BACKUP", aws_profile_name: genai, rpm: 1, tpm: 50000}
    model_info: {id: backup-1}
  - model_name: lone
    litellm_params: {model: "bedrock/BACKUP", aws_profile_name: genai, rpm: 5, tpm: 3000}
  - model_name: unlimited
    litellm_params: {model: "bedrock/BACKUP", aws_profile_name: genai}
router_settings:
  fallbacks: [{primary: [backup]}]
  num_retries: 0
sandbox:
  seed: 7
  latency: {first_token_ms: 0, tokens_per_second: 0}
"#;

async fn stack() -> Stack {
    Stack::start(&CONFIG.replace("PRIMARY", SONNET).replace("BACKUP", HAIKU)).await
}

#[tokio::test]
async fn a_success_carries_the_serving_deployments_limits_and_resets() {
    let stack = stack().await;
    let master = Some("sk-master-ratelimit");
    let first = stack.chat(master, "primary", false).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.header("x-ratelimit-limit-requests"), Some("2"));
    assert_eq!(first.header("x-ratelimit-limit-tokens"), Some("100000"));
    assert_eq!(first.header("x-ratelimit-remaining-requests"), Some("1"));
    assert_eq!(
        reset(&first, "requests"),
        Duration::ZERO,
        "one more fits now"
    );
    assert_eq!(reset(&first, "tokens"), Duration::ZERO);

    // The second fills the window: one more request fits only when the first leaves it.
    let second = stack.chat(master, "primary", false).await;
    assert_eq!(second.header("x-ratelimit-remaining-requests"), Some("0"));
    let wait = reset(&second, "requests");
    assert!(
        wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
        "{wait:?}"
    );

    // The third is served by the fallback, and shows the fallback's limits.
    let third = stack.chat(master, "primary", false).await;
    assert_eq!(third.deployment(), "backup-1");
    assert_eq!(third.header("x-ratelimit-limit-requests"), Some("1"));
    assert_eq!(third.header("x-ratelimit-limit-tokens"), Some("50000"));

    // Nothing anywhere: the no-capacity 429 shows the limit that frees earliest in the chain
    // (the primary's first admission), consistent with Retry-After.
    let refused = stack.chat(master, "primary", false).await;
    refused.assert_error(429, "rate_limit_error");
    assert_eq!(refused.header("x-ratelimit-limit-requests"), Some("2"));
    assert_eq!(refused.header("x-ratelimit-remaining-requests"), Some("0"));
    let wait = reset(&refused, "requests");
    assert_eq!(
        retry_after(&refused),
        wait.as_secs_f64().ceil() as u64,
        "{refused:?}"
    );
    assert!(
        wait <= reset(&second, "requests"),
        "it frees by the time the second said"
    );
}

#[tokio::test]
async fn a_consumers_429_carries_the_consumers_limit() {
    let stack = stack().await;
    let key = Some("sk-consumer-slow");
    for _ in 0..2 {
        assert_eq!(stack.chat(key, "unlimited", false).await.status, 200);
    }
    let refused = stack.chat(key, "unlimited", false).await;
    refused.assert_error(429, "rate_limit_error");
    assert_eq!(refused.header("x-ratelimit-limit-requests"), Some("2"));
    assert_eq!(refused.header("x-ratelimit-remaining-requests"), Some("0"));
    let wait = reset(&refused, "requests");
    assert!(wait > Duration::from_secs(50), "{wait:?}");
    assert_eq!(retry_after(&refused), wait.as_secs_f64().ceil() as u64);
}

#[tokio::test]
async fn a_request_that_can_never_fit_is_a_400_naming_the_limit() {
    let stack = stack().await;
    let ask = |model: &str, max_tokens: u64| {
        json!({"model": model, "max_tokens": max_tokens,
               "messages": [{"role": "user", "content": "Hello"}]})
        .to_string()
    };
    // Over every deployment the chain can reach (lone: 3,000 TPM, no fallbacks).
    let reply = stack
        .post(
            "/v1/chat/completions",
            Some("sk-master-ratelimit"),
            ask("lone", 4000),
        )
        .await;
    let error = reply.assert_error(400, "invalid_request_error");
    assert_eq!(error["param"], "max_tokens");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("`lone`") && message.contains("3000"),
        "{message}"
    );
    assert!(reply.header("retry-after").is_none());

    // The primary's chain reaches 100,000 TPM: 15,000 output tokens, counted 5× on Claude,
    // fit there, so it is served.
    let reply = stack
        .post(
            "/v1/chat/completions",
            Some("sk-master-ratelimit"),
            ask("primary", 15_000),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    // 25,000 would reserve 125,000: over every TPM of the chain.
    let reply = stack
        .post(
            "/v1/chat/completions",
            Some("sk-master-ratelimit"),
            ask("primary", 25_000),
        )
        .await;
    let error = reply.assert_error(400, "invalid_request_error");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("max_tokens 25000 counted 5×") && message.contains("at most 100000"),
        "{message}"
    );

    // Over the consumer's own tpm_limit (5,000), on a group without a TPM limit.
    let reply = stack
        .post(
            "/v1/chat/completions",
            Some("sk-consumer-slow"),
            ask("unlimited", 6000),
        )
        .await;
    let error = reply.assert_error(400, "invalid_request_error");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("tpm_limit (5000)"),
        "{error}"
    );
    // Without max_tokens a request reserves what Bedrock reserves: the model's maximum
    // output (Claude Haiku 4.5: 64,000), more than backup's 50,000 TPM.
    let unbounded = json!({"model": "backup", "messages": [{"role": "user", "content": "Hello"}]});
    let reply = stack
        .post(
            "/v1/chat/completions",
            Some("sk-master-ratelimit"),
            unbounded.to_string(),
        )
        .await;
    let error = reply.assert_error(400, "invalid_request_error");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("no max_tokens, so the model's maximum output of 64000")
            && message.contains("at most 50000"),
        "{message}"
    );
    assert_eq!(stack.calls(HAIKU), 0, "refused before any upstream call");
}

#[tokio::test]
async fn every_response_has_a_request_id() {
    let stack = stack().await;
    let replies = [
        stack
            .chat(Some("sk-master-ratelimit"), "primary", false)
            .await,
        stack
            .chat(Some("sk-master-ratelimit"), "no-such-group", false)
            .await,
        stack.chat(None, "primary", false).await,
        stack.get("/health/liveliness", None).await,
        stack.get("/no/such/route", None).await,
    ];
    let ids: Vec<&str> = replies
        .iter()
        .map(|r| {
            r.header("x-request-id")
                .unwrap_or_else(|| panic!("no x-request-id: {r:?}"))
        })
        .collect();
    assert!(ids.iter().all(|id| id.starts_with("req_")), "{ids:?}");
    let distinct: std::collections::HashSet<&&str> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "{ids:?}");

    // A caller's own plain id is kept; one that could forge log lines is replaced.
    let http = crate::harness::client();
    let kept = http
        .get(stack.url("/health/liveliness"))
        .header("x-request-id", "trace-42.a_b")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "trace-42.a_b");
    let replaced = http
        .get(stack.url("/health/liveliness"))
        .header("x-request-id", "evil\" injected=1")
        .send()
        .await
        .unwrap();
    assert!(
        replaced.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
}
