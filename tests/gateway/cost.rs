//! What each request costs (issue 17): a complete answer's cost in `x-resilient-llm-cost` and
//! LiteLLM's `x-litellm-response-cost`, a stream's in its usage chunk, each checked against the
//! price table for every token kind (input, output, cache write, cache read; a geographic
//! profile's 10%), `model_info` prices for an OpenAI-compatible upstream, no cost for a model
//! the table lacks, and the spend per deployment and consumer on `/metrics`.

use serde_json::{Value, json};

use crate::harness::{SONNET, Stack, sse_data};

const KEY: &str = "sk-cost-consumer-test";
const OPUS_47: &str = "us.anthropic.claude-opus-4-7";

fn config() -> String {
    format!(
        r#"
gateway:
  master_key: sk-cost-master-test
  consumers:
    - {{name: app, key: {KEY}}}
model_list:
  - model_name: sonnet
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai}}
    model_info: {{id: sonnet-us}}
  - model_name: opus-47
    litellm_params: {{model: "bedrock/{OPUS_47}", aws_profile_name: genai}}
  - model_name: compat
    litellm_params: {{model: "openai/upstream-model", api_base: "$SANDBOX/v1", input_cost_per_token: 0.00001}}
    model_info: {{id: compat-priced, output_cost_per_token: 0.00002}}
router_settings:
  num_retries: 0
{}"#,
        crate::harness::FAST_SANDBOX
    )
}

/// The cost the header or the usage chunk says, in USD.
fn said(text: &str) -> f64 {
    text.parse()
        .unwrap_or_else(|_| panic!("not a cost: {text}"))
}

/// US Sonnet 4.6 (a geographic profile: the table's price plus 10%), per million tokens.
fn sonnet_us_cost(usage: &Value) -> f64 {
    let prompt = usage["prompt_tokens"].as_u64().unwrap();
    let read = usage["cache_read_input_tokens"].as_u64().unwrap_or(0);
    let written = usage["cache_creation_input_tokens"].as_u64().unwrap_or(0);
    let output = usage["completion_tokens"].as_u64().unwrap();
    let fresh = prompt - read - written;
    (fresh as f64 * 3.3 + written as f64 * 4.125 + read as f64 * 0.33 + output as f64 * 16.5) / 1e6
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 2e-9
}

#[tokio::test]
async fn each_answer_says_what_it_cost_by_the_price_table() {
    let stack = Stack::start(&config()).await;
    let chat = |model: &str, system: Option<&str>, stream: bool| {
        let mut messages = vec![json!({"role": "user", "content": "Say hello."})];
        if let Some(system) = system {
            messages.insert(
                0,
                json!({"role": "system", "content": [
                {"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]}),
            );
        }
        json!({"model": model, "max_tokens": 64, "messages": messages, "stream": stream,
               "stream_options": {"include_usage": true}})
        .to_string()
    };
    let mut total = 0.0;

    let reply = stack
        .post(
            "/v1/chat/completions",
            Some(KEY),
            chat("sonnet", None, false),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let cost = said(reply.header("x-resilient-llm-cost").expect("a cost header"));
    assert_eq!(
        reply.header("x-litellm-response-cost"),
        reply.header("x-resilient-llm-cost")
    );
    assert!(
        close(cost, sonnet_us_cost(&reply.json()["usage"])),
        "{cost} {}",
        reply.text
    );
    assert!(cost > 0.0);
    total += cost;

    // A cache write, then a read: each priced at its own rate.
    let rules = "Answer in one short sentence. ".repeat(150);
    for expected_kind in ["cache_creation_input_tokens", "cache_read_input_tokens"] {
        let reply = stack
            .post(
                "/v1/chat/completions",
                Some(KEY),
                chat("sonnet", Some(&rules), false),
            )
            .await;
        let usage = &reply.json()["usage"];
        assert!(
            usage[expected_kind].as_u64().unwrap_or(0) > 1_000,
            "{usage}"
        );
        let cost = said(reply.header("x-resilient-llm-cost").unwrap());
        assert!(close(cost, sonnet_us_cost(usage)), "{cost} {usage}");
        total += cost;
    }

    // A stream: the headers leave first, so its usage chunk carries the cost.
    let reply = stack
        .post(
            "/v1/chat/completions",
            Some(KEY),
            chat("sonnet", None, true),
        )
        .await;
    assert_eq!(reply.header("x-resilient-llm-cost"), None);
    let events = sse_data(&reply.text);
    let usage_chunk: Value = events
        .iter()
        .filter(|e| *e != "[DONE]")
        .map(|e| serde_json::from_str::<Value>(e).unwrap())
        .find(|c| c["usage"].is_object())
        .expect("a usage chunk");
    let usage = &usage_chunk["usage"];
    let cost = usage["cost"].as_f64().expect("the usage chunk's cost");
    assert!(close(cost, sonnet_us_cost(usage)), "{cost} {usage}");
    total += cost;

    // model_info / litellm_params prices on an OpenAI-compatible upstream: 10 and 20 USD per
    // million input and output tokens.
    let reply = stack
        .post(
            "/v1/chat/completions",
            Some(KEY),
            chat("compat", None, false),
        )
        .await;
    let usage = &reply.json()["usage"];
    let expected = (usage["prompt_tokens"].as_u64().unwrap() as f64 * 10.0
        + usage["completion_tokens"].as_u64().unwrap() as f64 * 20.0)
        / 1e6;
    let cost = said(reply.header("x-resilient-llm-cost").unwrap());
    assert!(close(cost, expected), "{cost} {expected}");

    // A model the table lacks: counted, not costed.
    let reply = stack
        .post(
            "/v1/chat/completions",
            Some(KEY),
            chat("opus-47", None, false),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("x-resilient-llm-cost"), None);

    let metrics = stack.get("/metrics", None).await.text;
    let spent = crate::harness::metric(
        &metrics,
        r#"resilient_llm_spend_usd_total{deployment="sonnet-us",model_group="sonnet"}"#,
    );
    assert!(close(spent, total), "{spent} vs {total}");
    let by_consumer = crate::harness::metric(
        &metrics,
        r#"resilient_llm_consumer_spend_usd_total{consumer="app"}"#,
    );
    assert!(close(by_consumer, total + expected), "{by_consumer}");
}
