//! The gateway's admission counts as Bedrock counts (issue 17): with the deployment's `tpm`
//! equal to the sandbox account's quota for the model, a mixed load (several `max_tokens`,
//! a cached system prompt read back, streams and complete answers) is refused or failed over
//! by the gateway before the sandbox ever throttles. The gateway reserves the whole prompt plus
//! `max_tokens` × the output burndown (5 on Claude) and settles to input + cache writes +
//! output × 5 (cache reads released); the sandbox reserves the prompt plus `max_tokens` and
//! settles to the same charge when each answer ends. Counting output 1:1 at settlement, or
//! keeping cache reads, would let the gateway admit calls the sandbox throttles.

use serde_json::{Value, json};

use crate::harness::{HAIKU, SONNET, Stack};

const TPM: u64 = 12_000;

fn config() -> String {
    format!(
        r#"
model_list:
  - model_name: primary
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai, tpm: {TPM}}}
    model_info: {{id: primary-sonnet}}
  - model_name: backup
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
    model_info: {{id: backup-haiku}}
router_settings:
  num_retries: 0
  fallbacks: [{{primary: [backup]}}]
sandbox:
  seed: 7
  latency: {{first_token_ms: 40, tokens_per_second: 0}}
  accounts:
    - profile: genai
      account_id: '111111111111'
      access_key_id: SANDBOXGENAIKEY00001
      secret_access_key: sandbox-secret-genai
      quotas: {{"{SONNET}": {{rpm: 1000, tpm: {TPM}}}}}
"#
    )
}

/// The i-th request of the load: a cached system prompt of about 1,100 tokens on every third,
/// `max_tokens` 60, 200 or 400, every other one streamed.
fn request(i: usize) -> Value {
    let max_tokens = [60, 200, 400][i % 3];
    let user = json!({"role": "user", "content": format!("Question {i}: say something short.")});
    let messages = match i % 3 {
        0 => {
            let rules = "Answer in one short sentence. ".repeat(150);
            json!([{"role": "system", "content": [
                {"type": "text", "text": rules, "cache_control": {"type": "ephemeral"}}]}, user])
        }
        _ => json!([user]),
    };
    json!({"model": "primary", "max_tokens": max_tokens, "messages": messages,
           "stream": i % 2 == 1})
}

#[tokio::test]
async fn the_gateway_refuses_before_the_sandbox_ever_throttles() {
    let stack = Stack::start(&config()).await;
    let mut served_by = std::collections::HashMap::<String, usize>::new();
    // Waves of six at once, so reservations overlap and settled calls pile up.
    for wave in 0..10 {
        let replies = futures_util::future::join_all((0..6).map(|j| {
            let body = request(wave * 6 + j).to_string();
            let stack = &stack;
            async move { stack.post("/v1/chat/completions", None, body).await }
        }))
        .await;
        for reply in replies {
            assert_eq!(reply.status, 200, "{}", reply.text);
            *served_by.entry(reply.deployment().to_owned()).or_default() += 1;
        }
    }
    let primary = stack.sandbox.stats().model_calls("genai", SONNET);
    assert_eq!(primary.throttled, 0, "the sandbox throttled: {primary:?}");
    // The quota filled: the gateway sent the rest to the fallback, and used the primary well.
    let on_primary = served_by.get("primary-sonnet").copied().unwrap_or(0);
    let on_backup = served_by.get("backup-haiku").copied().unwrap_or(0);
    assert!(on_backup > 0, "{served_by:?}");
    assert!(on_primary >= 10, "{served_by:?}");
    assert_eq!(primary.served as usize, on_primary);
    // Cache reads happened (and were released at settlement).
    let metrics = stack.get("/metrics", None).await.text;
    // The quota gauges speak the same units: what the window holds and what is left of it.
    let labels = r#"{deployment="primary-sonnet",model_group="primary"}"#;
    let held = crate::harness::metric(
        &metrics,
        &format!("resilient_llm_deployment_quota_tokens_in_window{labels}"),
    );
    let left = crate::harness::metric(
        &metrics,
        &format!("resilient_llm_deployment_tpm_remaining{labels}"),
    );
    assert!(held > 0.0 && held <= TPM as f64, "{held}");
    assert_eq!(held + left, TPM as f64);
    assert!(
        crate::harness::metric(
            &metrics,
            r#"resilient_llm_prompt_cache_tokens_total{deployment="primary-sonnet",model_group="primary",kind="read"}"#
        ) > 0.0,
        "{}",
        metrics
            .lines()
            .filter(|l| l.contains("cache"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
