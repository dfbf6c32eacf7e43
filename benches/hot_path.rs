//! Microbenchmarks of the gateway's hot path, each step on its own:
//! routing + limits (select a deployment, admit, finish), a consumer's admission, request
//! parsing, response serialisation, the Bedrock Converse conversion, and header building.
//!
//!   cargo bench --bench hot_path
//!
//! The in-memory store never waits, so its futures complete on their first poll
//! (`now_or_never`): the figures are the decision and bookkeeping cost alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use resilient_llm::config::{self, Config};
use resilient_llm::gateway::{RateLimits, Trace, trace_headers};
use resilient_llm::openai::{ChatCompletion, parse_chat_request};
use resilient_llm::provider::bedrock::convert_request;
use resilient_llm::router::{MemoryStore, Needs, Outcome, Remaining, Router, Selection};

const BODY: &[u8] = br#"{"model":"balanced","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello in five words."}],"max_tokens":64,"temperature":0.2,"stream":false}"#;

/// A tool round trip: tools, an assistant tool call, its result and a follow-up.
const TOOL_BODY: &[u8] = br#"{"model":"balanced","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Weather in Paris?"},{"role":"assistant","content":"Let me look.","tool_calls":[{"id":"t1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\",\"days\":3}"}}]},{"role":"tool","tool_call_id":"t1","content":"sunny, 24C"},{"role":"user","content":"And tomorrow?"}],"tools":[{"type":"function","function":{"name":"weather","description":"The forecast for a city","parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer","minimum":1}},"required":["city"]}}}],"tool_choice":"auto","max_tokens":64}"#;

const REPLY: &str = r#"{"id":"chatcmpl-0123456789abcdef","object":"chat.completion","created":1795742636,"model":"us.anthropic.claude-sonnet-4-6","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, nice to meet you."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}}"#;

fn config() -> Config {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/config.yaml"))
            .unwrap();
    let mut config = config::load_str(&text, Path::new("config/config.yaml"), &|_| None).unwrap();
    // Limits high enough that a long benchmark never hits them: the cost measured is the
    // admission itself, not a refusal.
    for group in &mut config.groups {
        for deployment in &mut group.deployments {
            let d = std::sync::Arc::make_mut(deployment);
            d.rpm = Some(u32::MAX);
            d.tpm = Some(u64::MAX / 4);
        }
    }
    for consumer in &mut config.gateway.consumers {
        consumer.rpm_limit = Some(u32::MAX);
    }
    config
}

fn routing_and_limits(c: &mut Criterion) {
    let config = config();
    let router = Router::new(&config, MemoryStore::new(&config)).with_seed(7);
    let consumer = config
        .gateway
        .consumers
        .iter()
        .find(|c| c.name == "B")
        .unwrap()
        .clone();
    let success = Outcome::Success {
        latency: Duration::from_millis(300),
        input_tokens: 12,
        output_tokens: 8,
    };
    let chat = Needs::chat();
    c.bench_function(
        "route: select + admit + finish (2 deployments, rpm/tpm)",
        |b| {
            b.iter(|| {
                let Selection::Admitted(permit) = router
                    .select(black_box("balanced"), 76, &[], &chat)
                    .now_or_never()
                    .unwrap()
                else {
                    panic!("no capacity")
                };
                router.finish(permit, success).now_or_never().unwrap();
            })
        },
    );
    c.bench_function("limits: consumer admit + settle", |b| {
        b.iter(|| {
            let permit = router
                .admit_consumer(black_box(&consumer), 76)
                .now_or_never()
                .unwrap()
                .unwrap();
            router
                .finish_consumer(permit, Some(20))
                .now_or_never()
                .unwrap();
        })
    });
    c.bench_function("route + limits: consumer and deployment together", |b| {
        b.iter(|| {
            let consumer_permit = router
                .admit_consumer(&consumer, 76)
                .now_or_never()
                .unwrap()
                .unwrap();
            let Selection::Admitted(permit) = router
                .select("balanced", 76, &[], &Needs::chat())
                .now_or_never()
                .unwrap()
            else {
                panic!("no capacity")
            };
            router.finish(permit, success).now_or_never().unwrap();
            router
                .finish_consumer(consumer_permit, Some(20))
                .now_or_never()
                .unwrap();
        })
    });
}

fn wire(c: &mut Criterion) {
    c.bench_function("parse: chat request (validated)", |b| {
        b.iter(|| parse_chat_request(black_box(BODY)).unwrap())
    });
    let reply: ChatCompletion = serde_json::from_str(REPLY).unwrap();
    c.bench_function("serialise: chat completion", |b| {
        b.iter(|| serde_json::to_vec(black_box(&reply)).unwrap())
    });
    let request = parse_chat_request(BODY).unwrap();
    c.bench_function("convert: OpenAI request → Converse", |b| {
        b.iter(|| convert_request(black_box(&request), "us.amazon.nova-lite-v1:0", false).unwrap())
    });
    let tool_request = parse_chat_request(TOOL_BODY).unwrap();
    c.bench_function("convert: OpenAI tool round trip → Converse", |b| {
        b.iter(|| {
            convert_request(black_box(&tool_request), "us.amazon.nova-lite-v1:0", false).unwrap()
        })
    });
    let served_by = config()
        .deployments()
        .find(|d| d.id == "fallback-haiku-4-5")
        .cloned();
    assert!(
        served_by.is_some(),
        "config/config.yaml has fallback-haiku-4-5"
    );
    let trace = Trace {
        requested_group: "fallback-primary".into(),
        served_by,
        attempts: 2,
        retries: 1,
        fallbacks: 1,
        cost: Some(0.000123),
        rate: RateLimits {
            limit_requests: Some(25),
            limit_tokens: Some(250_000),
            remaining: Remaining {
                requests: Some(24),
                tokens: Some(99_000),
                reset_requests: Some(Duration::ZERO),
                reset_tokens: Some(Duration::from_millis(1500)),
            },
        },
    };
    c.bench_function("headers: routing headers of a response", |b| {
        b.iter(|| trace_headers(black_box(&trace)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = routing_and_limits, wire
}
criterion_main!(benches);
