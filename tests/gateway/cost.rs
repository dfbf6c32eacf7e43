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

/// Budgets: each request reserves the most it could cost against its consumer's budget for the
/// UTC day and the gateway's, and settles to what it did cost; once the next request could pass
/// the budget it is refused with 400 `budget_exceeded` naming the spend, the limit and the
/// reset, and `/spend` shows the period. Other consumers keep their own budget.
#[tokio::test]
async fn a_consumer_past_its_budget_gets_budget_exceeded_until_the_period_resets() {
    let stack = Stack::start(&format!(
        r#"
gateway:
  master_key: sk-budget-master-test
  consumers:
    - {{name: thrifty, key: sk-budget-thrifty-test, max_budget: 0.004, budget_duration: 1d}}
    - {{name: other, key: sk-budget-other-test}}
litellm_settings:
  max_budget: 1000
  budget_duration: 30d
model_list:
  - model_name: sonnet
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai}}
router_settings:
  num_retries: 0
{}"#,
        crate::harness::FAST_SANDBOX
    ))
    .await;
    let body = json!({"model": "sonnet", "max_tokens": 64,
        "messages": [{"role": "user", "content": "Say hello."}]})
    .to_string();
    let mut spent = 0.0;
    let mut served = 0;
    let refused = loop {
        let reply = stack
            .post(
                "/v1/chat/completions",
                Some("sk-budget-thrifty-test"),
                body.clone(),
            )
            .await;
        if reply.status != 200 {
            break reply;
        }
        spent += said(reply.header("x-resilient-llm-cost").unwrap());
        served += 1;
        assert!(served < 50, "never refused");
    };
    // 64 output tokens at $16.50 per million reserve about $0.00106: a few calls fit in $0.004.
    assert!(served >= 3, "{served}");
    let error = refused.assert_error(400, "budget_exceeded");
    assert_eq!(error["code"], "budget_exceeded");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("Budget has been exceeded! Current cost: "),
        "{message}"
    );
    assert!(
        message.contains("Max budget: 0.004") && message.contains("consumer \"thrifty\""),
        "{message}"
    );
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%dT00:00:00Z")
        .to_string();
    assert!(
        message.contains(&format!("it resets at {tomorrow}")),
        "{message}"
    );
    // Nothing reached the upstream for the refused request; another consumer is unaffected.
    assert_eq!(stack.calls(SONNET), served);
    let other = stack
        .post(
            "/v1/chat/completions",
            Some("sk-budget-other-test"),
            body.clone(),
        )
        .await;
    assert_eq!(other.status, 200, "{}", other.text);
    spent += said(other.header("x-resilient-llm-cost").unwrap());

    let doc = stack
        .get("/spend", Some("sk-budget-master-test"))
        .await
        .json();
    let thrifty = &doc["consumers"][0];
    assert_eq!(thrifty["name"], "thrifty");
    let period = &thrifty["current_period"];
    assert_eq!(period["max_budget"], 0.004);
    assert_eq!(period["resets_at"], tomorrow);
    let own = spent - said(other.header("x-resilient-llm-cost").unwrap());
    assert!(
        (period["spent_usd"].as_f64().unwrap() - own).abs() < 1e-8,
        "{doc}"
    );
    // The gateway's monthly budget counts everyone's spend.
    let gateway = &doc["gateway"];
    assert!(
        (gateway["spent_usd"].as_f64().unwrap() - spent).abs() < 1e-8,
        "{doc}"
    );
    assert_eq!(doc["consumers"][1]["current_period"], Value::Null);
    // A consumer sees its own entry only.
    let mine = stack
        .get("/spend", Some("sk-budget-other-test"))
        .await
        .json();
    assert_eq!(mine["consumers"].as_array().unwrap().len(), 1, "{mine}");
    assert_eq!(mine["consumers"][0]["name"], "other");
    assert_eq!(mine.get("deployments"), None);
}
