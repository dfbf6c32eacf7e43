//! The chat-completions features beyond text, with the official `openai` Python package as
//! the client and the sandbox's Bedrock behind the gateway: structured output (Bedrock's own
//! and a forced tool), reasoning with its signed blocks through a tool loop, prompt caching
//! with `cached_tokens`, default-valued parameters, service tiers, metadata, `top_k`, and the
//! 400s of options no deployment of a group can map; and an OpenAI-compatible upstream (the
//! sandbox's, which records what it receives) getting every field and part as sent, its reply
//! fields (`logprobs`, `system_fingerprint`, usage details, `n` choices) coming back.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{NOVA, SONNET, SONNET_45, Stack};
use crate::support::process;

const KEY: &str = "sk-openai-features-test";
const OPUS_47: &str = "us.anthropic.claude-opus-4-7";
const NOVA_PRO: &str = "us.amazon.nova-pro-v1:0";

fn config() -> String {
    format!(
        r#"
gateway:
  master_key: {KEY}
model_list:
  - model_name: sonnet
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai}}
  - model_name: sonnet-45
    litellm_params: {{model: "bedrock/{SONNET_45}", aws_profile_name: genai}}
  - model_name: nova
    litellm_params: {{model: "bedrock/{NOVA}", aws_profile_name: genai}}
  - model_name: opus-47
    litellm_params: {{model: "bedrock/{OPUS_47}", aws_profile_name: genai}}
  - model_name: mixed
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai}}
    model_info: {{id: mixed-sonnet}}
  - model_name: mixed
    litellm_params: {{model: "bedrock/{NOVA_PRO}", aws_profile_name: genai}}
    model_info: {{id: mixed-nova-pro}}
  - model_name: nova-pro
    litellm_params: {{model: "bedrock/{NOVA_PRO}", aws_profile_name: genai}}
  - model_name: compat
    litellm_params: {{model: "openai/upstream-model", api_base: "$SANDBOX/v1"}}
  - model_name: mixed-compat
    litellm_params: {{model: "bedrock/{NOVA}", aws_profile_name: genai}}
  - model_name: mixed-compat
    litellm_params: {{model: "openai/upstream-model", api_base: "$SANDBOX/v1"}}
  - model_name: titan
    litellm_params: {{model: "bedrock/amazon.titan-embed-text-v2:0", aws_profile_name: genai}}
    model_info: {{id: titan-v2}}
  - model_name: titan-limited
    litellm_params: {{model: "bedrock/amazon.titan-embed-text-v2:0", aws_profile_name: genai, rpm: 2}}
  - model_name: cohere
    litellm_params: {{model: "bedrock/cohere.embed-english-v3", aws_profile_name: genai}}
  - model_name: compat
    litellm_params: {{model: "openai/upstream-embedder", api_base: "$SANDBOX/v1"}}
    model_info: {{mode: embedding}}
router_settings:
  num_retries: 0
sandbox:
  seed: 11
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
"#
    )
}

/// Runs the Python client `script` against `stack` off the runtime's thread (the gateway
/// serves on it).
async fn run_script(stack: &Stack, script: &'static str) -> Value {
    let base_url = stack.url("/v1");
    let out = tokio::task::spawn_blocking(move || {
        process::run_python_client(
            script,
            &["--base-url", &base_url, "--api-key", KEY],
            "openai",
            Duration::from_secs(120),
        )
    })
    .await
    .unwrap();
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[tokio::test]
async fn the_openai_client_gets_every_feature_mapped_to_bedrock_or_passed_through() {
    let stack = Stack::start(&config()).await;
    let summary = run_script(&stack, "gateway_openai_features.py").await;

    // Structured output: Pydantic parses the answer whichever way Bedrock was asked.
    let city = json!({"name": "sandbox-name", "population": 1, "tags": ["sandbox-tags"],
        "pet": {"name": "sandbox-name", "legs": 1}});
    for (case, method) in [("parse_native", "output-config"), ("parse_tool", "tool")] {
        let parsed = &summary[case];
        assert_eq!(parsed["parsed"], city, "{case}: {summary}");
        assert_eq!(parsed["finish_reason"], "stop", "{case}: {summary}");
        assert_eq!(parsed["tool_calls"], Value::Null, "{case}: {summary}");
        assert_eq!(parsed["method"], method, "{case}: {summary}");
    }
    assert!(summary["json_object"]["content"].is_object(), "{summary}");
    let stream = &summary["structured_stream"];
    assert_eq!(stream["parsed"], city, "{summary}");
    assert_eq!(
        (&stream["finish_reason"], &stream["tool_calls"]),
        (&json!("stop"), &json!(0)),
        "{summary}"
    );

    // Reasoning: text and signed blocks come back, go back unmodified, and an edit is refused.
    let reasoning = &summary["reasoning"];
    assert_eq!(reasoning["first_finish"], "tool_calls", "{summary}");
    assert!(
        reasoning["reasoning_content"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{summary}"
    );
    let block = &reasoning["thinking_blocks"][0];
    assert_eq!(block["type"], "thinking", "{summary}");
    assert!(
        block["signature"].as_str().is_some_and(|s| s.len() > 16),
        "{summary}"
    );
    assert_eq!(
        block["thinking"], reasoning["reasoning_content"],
        "{summary}"
    );
    let answer = reasoning["answer"].as_str().unwrap_or_default();
    assert!(answer.starts_with("The tool returned: sunny"), "{summary}");
    assert!(
        reasoning["answer_reasoning"]
            .as_str()
            .is_some_and(|r| r.contains("sunny")),
        "the answer after the tool result thought too: {summary}"
    );
    let refused = reasoning["edited_refused"].as_str().unwrap_or_default();
    assert!(refused.contains("thinking"), "{summary}");
    let streamed = &summary["reasoning_stream"];
    assert!(
        streamed["reasoning"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{summary}"
    );
    assert!(
        streamed["text"].as_str().is_some_and(|t| !t.is_empty()),
        "{summary}"
    );
    assert_eq!(streamed["signatures"], 1, "{summary}");

    // Caching: the first call writes the marked prefix, the second reads it; prompt_tokens
    // counts both, as OpenAI's does.
    let cache = summary["cache"].as_array().unwrap();
    let written = cache[0]["written"].as_u64().unwrap_or(0);
    assert!(written >= 1024, "{summary}");
    assert_eq!(cache[0]["cached"], 0, "{summary}");
    assert_eq!(cache[1]["cached"], json!(written), "{summary}");
    assert_eq!(cache[1]["read"], json!(written), "{summary}");
    assert_eq!(cache[0]["prompt"], cache[1]["prompt"], "{summary}");
    // Per deployment: the cache's reads and writes, and the warning where markers were sent
    // and nothing was ever read back.
    let metrics = stack.get("/metrics", Some(KEY)).await.text;
    let metric = |name: &str, group: &str, extra: &str| -> u64 {
        metrics
            .lines()
            .find(|l| {
                l.starts_with(name)
                    && l.contains(&format!("model_group=\"{group}\""))
                    && l.contains(extra)
            })
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} for {group}: {metrics}"))
    };
    let tokens = "resilient_llm_prompt_cache_tokens_total";
    assert_eq!(metric(tokens, "sonnet", "kind=\"write\""), written);
    assert_eq!(metric(tokens, "sonnet", "kind=\"read\""), written);
    assert_eq!(metric("resilient_llm_prompt_cache_unread", "sonnet", ""), 0);
    assert_eq!(
        metric(
            "resilient_llm_prompt_cache_marked_requests_total",
            "sonnet-45",
            ""
        ),
        2
    );
    assert_eq!(
        metric("resilient_llm_prompt_cache_unread", "sonnet-45", ""),
        1
    );

    // Defaults ask for nothing; options reach the deployments that can take them.
    assert_eq!(summary["defaults"]["finish_reason"], "stop", "{summary}");
    assert_eq!(summary["flex"]["service_tier"], "flex", "{summary}");
    assert_eq!(
        summary["priority_elsewhere"],
        json!(vec![
            json!({"service_tier": "priority", "deployment_model": NOVA_PRO});
            8
        ]),
        "priority skips the Claude deployment of the group: {summary}"
    );
    // What Bedrock received (the sandbox keeps the Converse bodies; OpenAI ones name a model).
    let received: Vec<Value> = stack
        .sandbox
        .sandbox()
        .received_requests()
        .into_iter()
        .filter(|body| body.get("model").is_none())
        .collect();
    let sent = |key: &str, value: Value| {
        assert!(
            received.iter().any(|body| body[key] == value),
            "no Converse body with {key} = {value}: {received:?}"
        );
    };
    sent(
        "requestMetadata",
        json!({"team": "search", "run": "a-1", "user": "u-7"}),
    );
    sent(
        "additionalModelRequestFields",
        json!({"inferenceConfig": {"topK": 5}}),
    );
    sent("additionalModelRequestFields", json!({"top_k": 5}));
    sent("serviceTier", json!({"type": "flex"}));
    assert_eq!(summary["top_k"]["deployment_model"], NOVA, "{summary}");
    assert!(
        !received
            .iter()
            .any(|body| body.to_string().contains("enable_thinking")),
        "unknown fields do not reach Bedrock"
    );

    // Options no deployment can map: a 400 that says which, where and what to do.
    for (case, words, param) in [
        ("priority_refused", "priority service tier", "service_tier"),
        ("logprobs_refused", "logprobs", "logprobs"),
        ("top_k_refused", "top_k", "top_k"),
    ] {
        let error = &summary[case];
        assert_eq!(error["status"], 400, "{case}: {summary}");
        assert_eq!(error["param"], param, "{case}: {summary}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{case}: {summary}");
        assert!(message.contains("drop_params"), "{case}: {summary}");
    }
    let metadata = &summary["metadata_refused"];
    assert_eq!(
        (&metadata["status"], &metadata["param"]),
        (&json!(400), &json!("metadata.team")),
        "{summary}"
    );

    // Bedrock's own validation error names the client's field too.
    let max_tokens = &summary["max_tokens_refused"];
    assert_eq!(
        (&max_tokens["status"], &max_tokens["param"]),
        (&json!(400), &json!("max_tokens")),
        "{summary}"
    );
    assert!(
        max_tokens["message"]
            .as_str()
            .is_some_and(|m| m.contains("exceeds the model limit of 10000")),
        "{summary}"
    );
    let audio = &summary["audio_refused"];
    assert_eq!(
        (&audio["status"], &audio["param"]),
        (&json!(400), &json!("messages")),
        "{summary}"
    );
    assert!(
        audio["message"]
            .as_str()
            .is_some_and(|m| m.contains("\"input_audio\" part")),
        "{summary}"
    );

    // OpenAI-compatible upstreams get every field and part as sent, and their fields come back.
    let passed = &summary["passthrough"];
    assert_eq!(
        passed,
        &json!({"choices": [0, 1], "first_token": "Sandbox ", "top_logprobs": 2,
            "system_fingerprint": "fp_sandbox", "cached_tokens": 0, "reasoning_tokens": 0}),
        "{summary}"
    );
    let streamed = &summary["passthrough_stream"];
    assert_eq!(streamed["indexes"], json!([0, 1]), "{summary}");
    assert_eq!(streamed["fingerprints"], json!(["fp_sandbox"]), "{summary}");
    assert!(streamed["logprobs"].as_u64().unwrap_or(0) > 0, "{summary}");
    assert_eq!(streamed["reasoning_tokens"], 0, "{summary}");
    assert_eq!(
        summary["logprobs_elsewhere"],
        json!(vec!["upstream-model"; 8]),
        "logprobs skip the Bedrock deployment of the group: {summary}"
    );
    let received = stack.sandbox.sandbox().received_requests();
    let first = received
        .iter()
        .find(|body| body["n"] == 2 && body["stream"] == false)
        .unwrap_or_else(|| panic!("{received:?}"));
    for (field, value) in [
        ("model", json!("upstream-model")),
        ("top_k", json!(3)),
        ("chat_template_kwargs", json!({"enable_thinking": false})),
        ("logit_bias", json!({"50256": -100})),
        ("logprobs", json!(true)),
        ("top_logprobs", json!(2)),
        ("seed", json!(5)),
        ("presence_penalty", json!(0.5)),
    ] {
        assert_eq!(first[field], value, "{field}: {first}");
    }
    let parts = &first["messages"][0]["content"];
    assert_eq!(
        parts[0],
        json!({"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}})
    );
    assert_eq!(parts[1]["input_audio"]["format"], "wav", "{first}");
    assert_eq!(parts[2]["file"]["filename"], "a.pdf", "{first}");
}

#[tokio::test]
async fn embeddings_reach_titan_cohere_and_openai_compatible_upstreams() {
    let stack = Stack::start(&config()).await;
    let summary = run_script(&stack, "gateway_openai_embeddings.py").await;
    const TITAN: &str = "amazon.titan-embed-text-v2:0";

    // Titan: one call per text, each a request against RPM; dimensions honoured; unit vectors.
    let float = &summary["titan_float"];
    assert_eq!(float["indexes"], json!([0, 1, 2]), "{summary}");
    assert_eq!(float["lengths"], json!([256, 256, 256]), "{summary}");
    assert_eq!(float["deployment"], "titan-v2", "{summary}");
    assert!(
        (float["norm"].as_f64().unwrap() - 1.0).abs() < 1e-3,
        "{summary}"
    );
    assert!(float["prompt_tokens"].as_u64().unwrap() >= 3, "{summary}");
    // Base64 (the client's default) decodes to the same float32s.
    let base64 = &summary["titan_base64"];
    assert_eq!(base64["lengths"], float["lengths"], "{summary}");
    for (a, b) in base64["first"]
        .as_array()
        .unwrap()
        .iter()
        .zip(float["first"].as_array().unwrap())
    {
        assert!(
            (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-6,
            "{summary}"
        );
    }

    // Cohere: 100 texts in batches of 96 and 4, in order.
    let cohere = &summary["cohere"];
    assert_eq!(
        cohere["indexes"],
        json!((0..100).collect::<Vec<_>>()),
        "{summary}"
    );
    assert_eq!(cohere["lengths"][99], 1024, "{summary}");
    assert_eq!(stack.served("cohere.embed-english-v3"), 2, "{summary}");

    // An OpenAI-compatible upstream takes token ids, and gets the body as sent.
    let compat = &summary["compat_tokens"];
    assert_eq!(
        (&compat["lengths"], &compat["model"]),
        (&json!([8, 8]), &json!("upstream-embedder")),
        "{summary}"
    );
    let received = stack.sandbox.sandbox().received_requests();
    assert!(
        received
            .iter()
            .any(|b| b["input"] == json!([[1, 2, 3], [4, 5]]) && b["model"] == "upstream-embedder"),
        "{received:?}"
    );

    for (case, status, param) in [
        ("tokens_refused", 400, "input"),
        ("limited", 400, "input"),
        ("chat_model_refused", 400, "model"),
        ("unknown_model", 404, "model"),
    ] {
        let error = &summary[case];
        assert_eq!(error["status"], status, "{case}: {summary}");
        if !param.is_empty() {
            assert_eq!(error["param"], param, "{case}: {summary}");
        }
    }
    assert_eq!(summary["model"], "titan", "{summary}");
    // One Titan call per text: three texts twice; the limited group (rpm: 2) refused three
    // texts up front, without calling (three calls could never fit its minute).
    assert_eq!(stack.served(TITAN), 3 + 3, "{summary}");
    let limited = summary["limited"]["message"].as_str().unwrap_or_default();
    assert!(limited.contains("3 texts take 3 calls"), "{summary}");
}
