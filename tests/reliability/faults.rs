//! The fault suite: upstream failures injected by the sandbox while a fallback has capacity.
//! The gateway and the sandbox run as processes (`gateway serve` and `sandbox serve`, see
//! [`Stack::start`]); faults come from the sandbox's config or its admin routes (Regions down and
//! up, reset), and every request is bounded by the client's deadline. Every request ends in a
//! success or a well-formed OpenAI error (see [`Tally`]); the counts are printed (`cargo test
//! --test reliability -- --nocapture`).

use std::time::Duration;

use crate::stack::{EU_SONNET, HAIKU, SONNET, Stack, Tally};

/// How many times to look for traffic back on a recovered primary, and how long between tries.
const RECOVERY_TRIES: usize = 50;
const RECOVERY_PAUSE: Duration = Duration::from_millis(100);

/// Sends one request at a time until one is served by `deployment`; the number of requests it took.
async fn until_served_by(stack: &Stack, group: &str, deployment: &str) -> usize {
    let mut tally = Tally::default();
    for sent in 1..=RECOVERY_TRIES {
        let exchange = stack.chat(group, false).await;
        tally.add(&exchange);
        if tally.by_deployment.contains_key(deployment) {
            tally.print("recovery");
            return sent;
        }
        tokio::time::sleep(RECOVERY_PAUSE).await;
    }
    tally.print("recovery");
    panic!("traffic never returned to {deployment}");
}

#[tokio::test]
async fn a_region_outage_fails_over_with_no_loss_and_traffic_returns_after_recovery() {
    let stack = Stack::start(&format!(
        r#"
model_list:
  - model_name: primary
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai, aws_region_name: us-east-1}}
    model_info: {{id: primary-us}}
  - model_name: backup
    litellm_params: {{model: "bedrock/{EU_SONNET}", aws_profile_name: genai, aws_region_name: eu-west-1}}
    model_info: {{id: backup-eu}}
router_settings:
  num_retries: 1
  retry_after: 0.01
  allowed_fails: 0
  cooldown_time: 1
  fallbacks: [{{primary: [backup]}}]
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
"#
    ))
    .await;
    for region in ["us-east-1", "us-east-2", "us-west-2"] {
        stack.sandbox.set_region_down(region, true);
    }
    let outage = stack.burst("primary", 40).await;
    outage.print("region outage");
    assert_eq!(
        outage.ok(),
        outage.total,
        "100% success while the fallback has capacity"
    );
    assert_eq!(outage.by_deployment.get("backup-eu"), Some(&outage.total));
    assert_eq!(stack.served("genai", SONNET), 0);

    for region in ["us-east-1", "us-east-2", "us-west-2"] {
        stack.sandbox.set_region_down(region, false);
    }
    let took = until_served_by(&stack, "primary", "primary-us").await;
    println!("[region outage] traffic back on the primary after {took} request(s)");
    let after = stack.burst("primary", 20).await;
    after.print("after recovery");
    assert_eq!(after.by_deployment.get("primary-us"), Some(&after.total));
}

#[tokio::test]
async fn a_throttling_storm_on_one_account_fails_over_and_traffic_returns_after_recovery() {
    let stack = Stack::start(&format!(
        r#"
model_list:
  - model_name: primary
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai}}
    model_info: {{id: primary-genai}}
  - model_name: backup
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: test}}
    model_info: {{id: backup-test}}
router_settings:
  num_retries: 1
  retry_after: 0.01
  cooldown_time: 1
  fallbacks: [{{primary: [backup]}}]
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
  accounts:
    - {{profile: genai, account_id: "111111111111", access_key_id: SANDBOXGENAIKEY00001, secret_access_key: s,
       quotas: {{default: {{rpm: 500}}, "{SONNET}": {{rpm: 3}}}}}}
    - {{profile: test, account_id: "222222222222", access_key_id: SANDBOXTESTKEY000001, secret_access_key: s}}
"#
    ))
    .await;
    let storm = stack.burst("primary", 60).await;
    storm.print("throttling storm");
    assert_eq!(
        storm.ok(),
        storm.total,
        "100% success while the fallback has capacity"
    );
    let throttled = stack.sandbox.stats().model_calls("genai", SONNET).throttled;
    println!("[throttling storm] ThrottlingExceptions answered by the sandbox: {throttled}");
    assert!(throttled >= 1, "the storm reached the gateway");
    assert!(stack.served("genai", SONNET) <= 3);

    // The storm ends (the account's quota window is cleared); the cooldown ends by itself.
    stack.sandbox.reset();
    let took = until_served_by(&stack, "primary", "primary-genai").await;
    println!("[throttling storm] traffic back on the primary after {took} request(s)");
}

#[tokio::test]
async fn upstream_5xx_bursts_are_retried_and_failed_over_with_no_loss() {
    let stack = Stack::start(&format!(
        r#"
model_list:
  - model_name: primary
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai}}
    model_info: {{id: primary-sonnet}}
  - model_name: backup
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
    model_info: {{id: backup-haiku}}
  - model_name: alone
    litellm_params: {{model: "bedrock/us.amazon.nova-pro-v1:0", aws_profile_name: genai}}
router_settings:
  num_retries: 2
  retry_after: 0.01
  allowed_fails: 1000
  fallbacks: [{{primary: [backup]}}]
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
  faults:
    - {{error: InternalServerException, rate: 0.4, model: sonnet-4-6}}
    - {{error: ServiceUnavailableException, rate: 0.3, model: sonnet-4-6}}
    - {{error: InternalServerException, rate: 1.0, model: nova-pro}}
"#
    ))
    .await;
    let burst = stack.burst("primary", 90).await;
    burst.print("5xx burst");
    assert_eq!(burst.ok(), burst.total);
    let failed = stack.sandbox.stats().model_calls("genai", SONNET).failed;
    println!("[5xx burst] 5xx answered by the sandbox: {failed}");
    assert!(failed > 0);

    let hopeless = stack.burst("alone", 12).await;
    hopeless.print("5xx without fallback");
    hopeless.assert_all_well_formed_5xx();
}

#[tokio::test]
async fn connection_resets_fail_over_with_no_loss_and_alone_are_well_formed_5xx() {
    let stack = Stack::start(&format!(
        r#"
model_list:
  - model_name: primary
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai}}
    model_info: {{id: primary-sonnet}}
  - model_name: backup
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
    model_info: {{id: backup-haiku}}
  - model_name: compat
    litellm_params: {{model: "openai/us.amazon.nova-pro-v1:0", api_base: "$SANDBOX/v1"}}
  - model_name: alone
    litellm_params: {{model: "bedrock/us.amazon.nova-pro-v1:0", aws_profile_name: genai}}
router_settings:
  num_retries: 0
  allowed_fails: 1000
  fallbacks: [{{primary: [backup]}}]
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
  faults:
    - {{error: ConnectionReset, rate: 1.0, model: sonnet-4-6}}
    - {{error: ConnectionReset, rate: 1.0, model: nova-pro}}
"#
    ))
    .await;
    let resets = stack.burst("primary", 30).await;
    resets.print("connection resets");
    assert_eq!(resets.ok(), resets.total);
    assert_eq!(
        resets.by_deployment.get("backup-haiku"),
        Some(&resets.total)
    );
    assert!(stack.sandbox.stats().model_calls("genai", SONNET).failed >= 1);

    for group in ["alone", "compat"] {
        let hopeless = stack.burst(group, 9).await;
        hopeless.print(&format!("connection resets, no fallback ({group})"));
        hopeless.assert_all_well_formed_5xx();
    }
}

#[tokio::test]
async fn stalled_streams_end_with_an_error_event() {
    let stack = Stack::start(&format!(
        r#"
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai, timeout: 0.5}}
    model_info: {{id: chat-haiku}}
router_settings:
  num_retries: 0
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
  stall_streams: {{rate: 1.0, after_tokens: 3}}
"#
    ))
    .await;
    let exchanges = futures_util::future::join_all((0..10).map(|_| stack.chat("chat", true))).await;
    let tally = Tally::of(&exchanges);
    tally.print("stalled streams");
    assert_eq!(tally.by_outcome.get("200 stream error event"), Some(&10));
}

#[tokio::test]
async fn a_slow_first_byte_past_the_timeout_fails_over_or_is_504() {
    let stack = Stack::start(&format!(
        r#"
model_list:
  - model_name: primary
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai, timeout: 0.3}}
    model_info: {{id: primary-sonnet}}
  - model_name: backup
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
    model_info: {{id: backup-haiku}}
  - model_name: alone
    litellm_params: {{model: "bedrock/us.amazon.nova-pro-v1:0", aws_profile_name: genai, timeout: 0.3}}
router_settings:
  num_retries: 0
  allowed_fails: 1000
  fallbacks: [{{primary: [backup]}}]
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
  faults:
    - {{error: SlowFirstByte, rate: 1.0, delay_ms: 5000, model: sonnet-4-6}}
    - {{error: SlowFirstByte, rate: 1.0, delay_ms: 5000, model: nova-pro}}
"#
    ))
    .await;
    let slow = stack.burst("primary", 15).await;
    slow.print("slow first byte");
    assert_eq!(slow.ok(), slow.total);
    assert_eq!(slow.by_deployment.get("backup-haiku"), Some(&slow.total));

    let hopeless = stack.burst("alone", 6).await;
    hopeless.print("slow first byte, no fallback");
    assert_eq!(
        hopeless.by_outcome.get("504 error"),
        Some(&6),
        "{:?}",
        hopeless.by_outcome
    );
}
