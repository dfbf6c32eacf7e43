//! The routing semantics, counted at the upstream: fallback on rate limit, load balancing,
//! per-consumer quotas, exact limits under 300 concurrent requests (also when callers hang up),
//! and cooldown with a half-open probe after the sandbox throttles.

use std::time::Duration;

use crate::harness::{HAIKU, SONNET, SONNET_45, Stack, count_by_deployment, count_status, metric};

/// The walkthrough's pattern 3: the primary takes 3 RPM, the rest falls back.
#[tokio::test]
async fn fallback_takes_what_the_primary_cannot() {
    let stack = Stack::start(&format!(
        r#"
model_list:
  - model_name: fallback-primary
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai, rpm: 3}}
    model_info: {{id: primary-sonnet-4-6}}
  - model_name: fallback-backup
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai, rpm: 25}}
    model_info: {{id: fallback-haiku-4-5}}
router_settings:
  fallbacks: [{{fallback-primary: [fallback-backup]}}]
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
"#
    ))
    .await;
    let replies = stack.chat_concurrently(None, "fallback-primary", 10).await;
    assert_eq!(count_status(&replies, 200), 10, "{replies:?}");
    let by = count_by_deployment(&replies);
    assert_eq!(by.get("primary-sonnet-4-6"), Some(&3), "{by:?}");
    assert_eq!(by.get("fallback-haiku-4-5"), Some(&7), "{by:?}");
    for reply in &replies {
        let fallbacks = if reply.deployment() == "primary-sonnet-4-6" {
            "0"
        } else {
            "1"
        };
        assert_eq!(reply.header("x-resilient-llm-fallbacks"), Some(fallbacks));
    }
    assert_eq!(stack.calls(SONNET), 3);
    assert_eq!(stack.calls(HAIKU), 7);

    let metrics = stack.get("/metrics", None).await.text;
    let expected = [
        (
            r#"resilient_llm_fallbacks_total{model_group="fallback-backup"}"#,
            7.0,
        ),
        (
            r#"resilient_llm_admissions_total{deployment="primary-sonnet-4-6",model_group="fallback-primary"}"#,
            3.0,
        ),
        (
            r#"resilient_llm_admissions_total{deployment="fallback-haiku-4-5",model_group="fallback-backup"}"#,
            7.0,
        ),
        // Each of the 7 that fell back found the primary at its RPM first.
        (
            r#"resilient_llm_deployment_skips_total{deployment="primary-sonnet-4-6",model_group="fallback-primary",reason="rpm"}"#,
            7.0,
        ),
        (
            r#"resilient_llm_deployment_skips_total{deployment="fallback-haiku-4-5",model_group="fallback-backup",reason="rpm"}"#,
            0.0,
        ),
    ];
    for (sample, value) in expected {
        assert_eq!(metric(&metrics, sample), value, "{sample}\n{metrics}");
    }
}

/// Pattern 4: two deployments at 3 RPM each, an overflow group behind them.
#[tokio::test]
async fn load_balancing_fills_both_deployments_then_overflows() {
    let stack = Stack::start(&format!(
        r#"
model_list:
  - model_name: balanced
    litellm_params: {{model: "bedrock/{SONNET_45}", aws_profile_name: genai, rpm: 3}}
    model_info: {{id: balanced-sonnet-4-5}}
  - model_name: balanced
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai, rpm: 3}}
    model_info: {{id: balanced-sonnet-4-6}}
  - model_name: overflow
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai, rpm: 25}}
    model_info: {{id: overflow-haiku-4-5}}
router_settings:
  routing_strategy: simple-shuffle
  fallbacks: [{{balanced: [overflow]}}]
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
"#
    ))
    .await;
    let replies = stack.chat_concurrently(None, "balanced", 10).await;
    assert_eq!(count_status(&replies, 200), 10, "{replies:?}");
    let by = count_by_deployment(&replies);
    assert_eq!(by.get("balanced-sonnet-4-5"), Some(&3), "{by:?}");
    assert_eq!(by.get("balanced-sonnet-4-6"), Some(&3), "{by:?}");
    assert_eq!(by.get("overflow-haiku-4-5"), Some(&4), "{by:?}");
    assert_eq!(
        (
            stack.calls(SONNET_45),
            stack.calls(SONNET),
            stack.calls(HAIKU)
        ),
        (3, 3, 4)
    );
}

/// Pattern 5: A floods; B and C keep their own quotas on the same deployment.
#[tokio::test]
async fn one_consumers_flood_does_not_take_anothers_quota() {
    let stack = Stack::start(&format!(
        r#"
gateway:
  master_key: sk-master-routing
  consumers:
    - {{name: A, key: sk-consumer-a, rpm_limit: 3, models: [isolated]}}
    - {{name: B, key: sk-consumer-b, rpm_limit: 10, models: [isolated]}}
    - {{name: C, key: sk-consumer-c, rpm_limit: 10, models: [isolated]}}
model_list:
  - model_name: isolated
    litellm_params: {{model: "bedrock/{SONNET_45}", aws_profile_name: genai, rpm: 100}}
    model_info: {{id: shared-sonnet-4-5}}
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
"#
    ))
    .await;
    let (a, b, c) = tokio::join!(
        stack.chat_concurrently(Some("sk-consumer-a"), "isolated", 5),
        stack.chat_concurrently(Some("sk-consumer-b"), "isolated", 5),
        stack.chat_concurrently(Some("sk-consumer-c"), "isolated", 5),
    );
    assert_eq!(count_status(&a, 200), 3, "{a:?}");
    assert_eq!(count_status(&a, 429), 2, "{a:?}");
    for refused in a.iter().filter(|r| r.status == 429) {
        let error = refused.assert_error(429, "rate_limit_error");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains("rpm_limit") && message.contains('A') && message.contains('3'),
            "names A's own limit: {message}"
        );
        assert_eq!(error["param"], "rpm_limit", "{error}");
        assert!(refused.header("retry-after").is_some());
    }
    assert_eq!(count_status(&b, 200), 5, "{b:?}");
    assert_eq!(count_status(&c, 200), 5, "{c:?}");
    assert_eq!(
        stack.calls(SONNET_45),
        13,
        "refused requests never reached the upstream"
    );

    let health = stack.health().await;
    let consumers = health["health"]["consumers"].as_array().unwrap();
    let used = |name: &str| {
        consumers.iter().find(|c| c["name"] == name).unwrap()["requests_in_window"].clone()
    };
    assert_eq!(
        (used("A"), used("B"), used("C")),
        (3.into(), 5.into(), 5.into()),
        "{health}"
    );
}

/// Exactness under concurrency: never more than the RPM admitted, and no upstream call for a
/// refused request.
#[tokio::test]
async fn three_hundred_concurrent_requests_against_50_rpm_admit_exactly_50() {
    let stack = Stack::start(&format!(
        r#"
model_list:
  - model_name: exact
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai, rpm: 50}}
    model_info: {{id: exact-haiku}}
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
"#
    ))
    .await;
    let replies = stack.chat_concurrently(None, "exact", 300).await;
    assert_eq!(count_status(&replies, 200), 50);
    assert_eq!(count_status(&replies, 429), 250);
    for refused in replies.iter().filter(|r| r.status == 429) {
        refused.assert_error(429, "rate_limit_error");
        let seconds: u64 = refused
            .header("retry-after")
            .unwrap_or_else(|| panic!("429 without Retry-After: {refused:?}"))
            .parse()
            .unwrap();
        assert!((1..=60).contains(&seconds), "{seconds}");
    }
    let stats = stack.sandbox.stats();
    assert_eq!(stats.model_calls("genai", HAIKU).served, 50);
    assert_eq!(stats.total.total(), 50, "the sandbox saw exactly 50 calls");
}

/// Callers who hang up while the upstream has their request still count: the upstream counted
/// (and billed) the calls, so the deployment's RPM and the consumer's quota stay spent.
#[tokio::test]
async fn callers_who_hang_up_mid_call_still_count_against_the_limits() {
    let stack = Stack::start(&format!(
        r#"
gateway:
  master_key: sk-master-routing
  consumers:
    - {{name: A, key: sk-consumer-a, rpm_limit: 2}}
    - {{name: B, key: sk-consumer-b, rpm_limit: 10}}
model_list:
  - model_name: limited
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai, rpm: 2}}
    model_info: {{id: limited-haiku}}
sandbox:
  seed: 7
  latency: {{first_token_ms: 2000, tokens_per_second: 0}}
"#
    ))
    .await;
    let mut calls = Box::pin(stack.chat_concurrently(Some("sk-consumer-a"), "limited", 2));
    tokio::select! {
        replies = &mut calls => panic!("answered before the callers hung up: {replies:?}"),
        () = wait_for_in_flight(&stack, "limited-haiku", 2) => {}
    }
    drop(calls);
    wait_for_in_flight(&stack, "limited-haiku", 0).await;

    let health = stack.health().await;
    let deployment = &health["health"]["deployments"][0];
    assert_eq!(deployment["requests_in_window"], 2, "{health}");
    assert_eq!(
        health["health"]["consumers"][0]["requests_in_window"], 2,
        "{health}"
    );
    stack
        .chat(Some("sk-consumer-a"), "limited", false)
        .await
        .assert_error(429, "rate_limit_error");
    stack
        .chat(Some("sk-consumer-b"), "limited", false)
        .await
        .assert_error(429, "rate_limit_error");
}

/// Throttled upstream with nowhere to fall back: the 429 still says when to come back.
#[tokio::test]
async fn an_upstream_throttle_with_no_fallback_answers_429_with_retry_after() {
    let stack = Stack::start(&format!(
        r#"
model_list:
  - model_name: only
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai}}
    model_info: {{id: only-sonnet}}
router_settings:
  num_retries: 0
  cooldown_time: 7
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
  accounts:
    - profile: genai
      account_id: '111111111111'
      access_key_id: SANDBOXGENAIKEY00001
      secret_access_key: sandbox-secret-genai
      quotas: {{"{SONNET}": {{rpm: 1}}}}
"#
    ))
    .await;
    assert_eq!(stack.chat(None, "only", false).await.status, 200);
    for _ in 0..2 {
        let refused = stack.chat(None, "only", false).await;
        refused.assert_error(429, "rate_limit_error");
        let seconds: u64 = refused
            .header("retry-after")
            .unwrap_or_else(|| panic!("429 without Retry-After: {refused:?}"))
            .parse()
            .unwrap();
        assert!((1..=7).contains(&seconds), "{seconds}");
    }
}

/// The sandbox account's quota (2 RPM) is below the gateway's (100): the third call is
/// throttled upstream, the primary cools down for 1 s and traffic falls back; after the
/// cooldown exactly one probe goes to the primary, and when it succeeds traffic returns.
#[tokio::test]
async fn upstream_throttling_cools_down_falls_back_and_recovers_after_one_probe() {
    let stack = Stack::start(&format!(
        r#"
model_list:
  - model_name: primary
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai, rpm: 100}}
    model_info: {{id: primary-sonnet}}
  - model_name: backup
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai, rpm: 100}}
    model_info: {{id: backup-haiku}}
router_settings:
  num_retries: 2
  retry_after: 0.01
  cooldown_time: 1
  fallbacks: [{{primary: [backup]}}]
sandbox:
  seed: 7
  latency: {{first_token_ms: 600, tokens_per_second: 0}}
  accounts:
    - profile: genai
      account_id: '111111111111'
      access_key_id: SANDBOXGENAIKEY00001
      secret_access_key: sandbox-secret-genai
      quotas: {{"{SONNET}": {{rpm: 2}}}}
"#
    ))
    .await;
    // Two calls fit the upstream quota.
    for _ in 0..2 {
        let reply = stack.chat(None, "primary", false).await;
        assert_eq!(reply.deployment(), "primary-sonnet", "{reply:?}");
    }
    // The third is throttled upstream and falls back at once.
    let third = stack.chat(None, "primary", false).await;
    assert_eq!(third.status, 200, "{}", third.text);
    assert_eq!(third.deployment(), "backup-haiku");
    assert_eq!(third.header("x-resilient-llm-fallbacks"), Some("1"));
    let primary = stack.sandbox.stats().model_calls("genai", SONNET);
    assert_eq!((primary.served, primary.throttled), (2, 1));
    assert_eq!(
        stack.deployment_health("primary-sonnet").await["state"],
        "cooling_down"
    );

    // While cooling, the primary is not called at all.
    let during = stack.chat_concurrently(None, "primary", 3).await;
    assert_eq!(
        count_by_deployment(&during).get("backup-haiku"),
        Some(&3),
        "{during:?}"
    );
    assert_eq!(stack.calls(SONNET), 3);

    // The upstream's minute passes (its counters reset); the gateway's cooldown ends.
    stack.sandbox.reset();
    wait_for_state(&stack, "primary-sonnet", "half_open").await;

    // One probe goes first: while it is in flight, everything else falls back.
    let probe = stack.chat(None, "primary", false);
    let others = async {
        wait_for_in_flight(&stack, "primary-sonnet", 1).await;
        stack.chat_concurrently(None, "primary", 3).await
    };
    let (probe, others) = tokio::join!(probe, others);
    assert_eq!(probe.deployment(), "primary-sonnet", "{probe:?}");
    assert_eq!(
        count_by_deployment(&others).get("backup-haiku"),
        Some(&3),
        "{others:?}"
    );
    assert_eq!(
        stack.served(SONNET),
        1,
        "exactly one probe reached the primary"
    );

    // The probe succeeded: traffic returns (the upstream quota has room for one more).
    assert_eq!(
        stack.deployment_health("primary-sonnet").await["state"],
        "healthy"
    );
    let after = stack.chat(None, "primary", false).await;
    assert_eq!(after.deployment(), "primary-sonnet", "{after:?}");
    assert_eq!(after.header("x-resilient-llm-attempts"), Some("1"));
    assert_eq!(stack.served(SONNET), 2);

    let metrics = stack.get("/metrics", None).await.text;
    assert_eq!(
        metric(
            &metrics,
            r#"resilient_llm_cooldowns_total{deployment="primary-sonnet",model_group="primary"}"#
        ),
        1.0,
        "{metrics}"
    );
}

async fn wait_for_state(stack: &Stack, id: &str, state: &str) {
    for _ in 0..100 {
        if stack.deployment_health(id).await["state"] == state {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{id} never reached {state}: {}",
        stack.deployment_health(id).await
    );
}

async fn wait_for_in_flight(stack: &Stack, id: &str, count: u64) {
    for _ in 0..400 {
        if stack.deployment_health(id).await["in_flight"] == count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!(
        "{id} never had {count} requests in flight: {}",
        stack.deployment_health(id).await
    );
}

/// A prompt too long for the first group's model goes to its `context_window_fallbacks`;
/// without them, the client gets OpenAI's `context_length_exceeded`.
#[tokio::test]
async fn prompts_too_long_for_a_model_go_to_the_context_window_fallbacks() {
    const LLAMA: &str = "us.meta.llama3-3-70b-instruct-v1:0"; // 128k tokens
    let stack = Stack::start(&format!(
        r#"
model_list:
  - model_name: small
    litellm_params: {{model: "bedrock/{LLAMA}", aws_profile_name: genai}}
    model_info: {{id: small-llama}}
  - model_name: large
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai}}
    model_info: {{id: large-sonnet}}
  - model_name: alone
    litellm_params: {{model: "bedrock/{LLAMA}", aws_profile_name: genai}}
    model_info: {{id: alone-llama}}
router_settings:
  context_window_fallbacks: [{{small: [large]}}]
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
"#
    ))
    .await;
    // About 150k tokens by the sandbox's estimate (4 characters a token): over Llama's 128k,
    // under Sonnet's 200k.
    let prompt = "word ".repeat(120_000);
    let body = |model: &str| {
        serde_json::json!({"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": prompt}]})
            .to_string()
    };

    let reply = stack
        .post("/v1/chat/completions", None, body("small"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.deployment(), "large-sonnet");
    assert_eq!(reply.header("x-resilient-llm-model-group"), Some("large"));
    assert_eq!(reply.header("x-resilient-llm-attempts"), Some("2"));
    assert_eq!(reply.header("x-resilient-llm-fallbacks"), Some("1"));
    assert_eq!(stack.calls(LLAMA), 1, "the small model was tried once");
    assert_eq!(stack.served(SONNET), 1);

    let refused = stack
        .post("/v1/chat/completions", None, body("alone"))
        .await;
    let error = refused.assert_error(400, "invalid_request_error");
    assert_eq!(error["code"], "context_length_exceeded", "{error}");
}

/// The AWS sample's own config: the load-balancing group's Haiku deployment and the overflow
/// group's share one `model_info.id`. They stay two deployments with their own RPM: 10
/// concurrent requests split 3 / 3 / 4 (by group and deployment), and the 7 Haiku answers all
/// carry the shared id, as the sample's README shows ("haiku 7 / sonnet 3").
#[tokio::test]
async fn the_aws_sample_config_balances_3_3_4_with_a_shared_haiku_id() {
    let fixture = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/aws-sample-config.yaml"),
    )
    .unwrap();
    let stack = Stack::start(&format!("{fixture}{}", crate::harness::FAST_SANDBOX)).await;
    let replies = stack
        .chat_concurrently(None, "claude-sonnet-loadbalance-demo", 10)
        .await;
    assert_eq!(count_status(&replies, 200), 10, "{replies:?}");
    let mut by_place = std::collections::BTreeMap::new();
    for reply in &replies {
        let place = (
            reply
                .header("x-resilient-llm-model-group")
                .unwrap_or("")
                .to_string(),
            reply.deployment().to_string(),
        );
        *by_place.entry(place).or_insert(0) += 1;
    }
    let place = |group: &str, id: &str| (group.to_string(), id.to_string());
    let expected = std::collections::BTreeMap::from([
        (place("claude-sonnet-loadbalance-demo", SONNET), 3),
        (place("claude-sonnet-loadbalance-demo", HAIKU), 3),
        (place("claude-sonnet-fallback-loadbalance", HAIKU), 4),
    ]);
    assert_eq!(by_place, expected);
    let haiku_answers = replies
        .iter()
        .filter(|r| r.header("x-litellm-model-id") == Some(HAIKU))
        .count();
    assert_eq!(haiku_answers, 7);
    assert_eq!(stack.calls(SONNET), 3);
    assert_eq!(stack.calls(HAIKU), 7);

    // Each keeps its own metric series and window on /health.
    let metrics = stack.get("/metrics", None).await.text;
    for (group, admitted) in [
        ("claude-sonnet-loadbalance-demo", 3.0),
        ("claude-sonnet-fallback-loadbalance", 4.0),
    ] {
        let sample = format!(
            r#"resilient_llm_admissions_total{{deployment="{HAIKU}",model_group="{group}"}}"#
        );
        assert_eq!(metric(&metrics, &sample), admitted, "{sample}\n{metrics}");
    }
    let health = stack.health().await;
    let windows: Vec<(String, u64)> = health["health"]["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["id"] == HAIKU)
        .map(|d| {
            (
                d["model_group"].as_str().unwrap().to_string(),
                d["requests_in_window"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        windows,
        vec![
            ("claude-sonnet-loadbalance-demo".to_string(), 3),
            ("claude-sonnet-fallback-loadbalance".to_string(), 4),
        ]
    );
}

/// The capability filter: a deployment that cannot serve a request (an embedding model for a
/// chat call, a model the config says takes no images) is passed over like a full one, and a
/// chain where nothing can serve it is a 400 that names why, with no upstream called.
#[tokio::test]
async fn deployments_that_cannot_serve_a_request_are_skipped_like_full_ones() {
    const EMBED: &str = "amazon.titan-embed-text-v2:0";
    let stack = Stack::start(&format!(
        r#"
model_list:
  - model_name: mixed
    litellm_params: {{model: "bedrock/{EMBED}", aws_profile_name: genai}}
    model_info: {{id: titan-embed}}
  - model_name: mixed
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
    model_info: {{id: haiku-text-only, supports_vision: false}}
  - model_name: vision
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai}}
    model_info: {{id: sonnet-vision}}
  - model_name: embeddings-only
    litellm_params: {{model: "bedrock/{EMBED}", aws_profile_name: genai}}
    model_info: {{id: titan-embed-alone, mode: embedding}}
router_settings:
  fallbacks: [{{mixed: [vision]}}]
sandbox:
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
"#
    ))
    .await;
    for _ in 0..4 {
        let reply = stack.chat(None, "mixed", false).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.deployment(), "haiku-text-only");
    }
    let image = r#"{"model": "mixed", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="}}
    ]}]}"#;
    let reply = stack.post("/v1/chat/completions", None, image).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.deployment(), "sonnet-vision");
    assert_eq!(reply.header("x-resilient-llm-fallbacks"), Some("1"));

    let reply = stack.chat(None, "embeddings-only", false).await;
    let error = reply.assert_error(400, "invalid_request_error");
    assert_eq!(
        error["message"],
        "No deployment of `embeddings-only` or its fallbacks can serve this request: it serves embedding calls (model_info.mode), not chat"
    );
    assert_eq!(error["code"], "model_cannot_serve_request");
    assert_eq!(reply.header("x-resilient-llm-attempts"), Some("0"));
    assert_eq!(stack.calls(EMBED), 0);
    assert_eq!(stack.calls(HAIKU), 4);
    assert_eq!(stack.calls(SONNET), 1);
}
