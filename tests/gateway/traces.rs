//! OpenTelemetry traces and the request log, read the way an operator's tools read them: a
//! small OTLP receiver in this process (HTTP/protobuf and gRPC) decodes what the gateway
//! exports with the OpenTelemetry project's own generated types (`opentelemetry-proto`), and
//! the JSON request log is read off the real binary's stderr.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use resilient_llm::observe::OtlpSettings;
use resilient_llm::observe::otlp::{Protocol, Sampler, SamplerRoot};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::harness::{HAIKU, SONNET, Stack};

/// A span as received, with its resource's `service.name`.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    span: Span,
}

/// An OTLP receiver on a free port: HTTP/protobuf at `/v1/traces` and gRPC's `Export`.
struct Collector {
    url: String,
    spans: mpsc::UnboundedReceiver<Received>,
}

impl Collector {
    async fn start() -> Collector {
        let (tx, spans) = mpsc::unbounded_channel();
        let decode = move |bytes: &[u8]| {
            let request = ExportTraceServiceRequest::decode(bytes).expect("a valid OTLP export");
            for resource_spans in request.resource_spans {
                let service = resource_spans
                    .resource
                    .iter()
                    .flat_map(|r| &r.attributes)
                    .find(|kv| kv.key == "service.name")
                    .and_then(|kv| kv.value.as_ref())
                    .map(text)
                    .unwrap_or_default();
                for scope in resource_spans.scope_spans {
                    for span in scope.spans {
                        let _ = tx.send(Received {
                            service: service.clone(),
                            span,
                        });
                    }
                }
            }
        };
        let http = decode.clone();
        let app = axum::Router::new()
            .route(
                "/v1/traces",
                axum::routing::post(move |headers: http::HeaderMap, body: Bytes| {
                    // OTEL_EXPORTER_OTLP_HEADERS arrive with every export.
                    assert_eq!(headers["x-collector-token"], "test");
                    assert_eq!(headers["content-type"], "application/x-protobuf");
                    http(&body);
                    async { ([("content-type", "application/x-protobuf")], Vec::new()) }
                }),
            )
            .route(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                axum::routing::post(move |body: Bytes| {
                    // A gRPC message: a flag byte, a 4-byte length, the protobuf.
                    assert_eq!(body[0], 0, "uncompressed");
                    let length = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
                    assert_eq!(length, body.len() - 5);
                    decode(&body[5..]);
                    async {
                        (
                            [("content-type", "application/grpc"), ("grpc-status", "0")],
                            vec![0u8, 0, 0, 0, 0],
                        )
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Collector { url, spans }
    }

    /// The next `n` spans, waiting for each as it arrives.
    async fn next(&mut self, n: usize) -> Vec<Received> {
        let mut out = Vec::new();
        while out.len() < n {
            let span = tokio::time::timeout(Duration::from_secs(20), self.spans.recv())
                .await
                .unwrap_or_else(|_| panic!("only {} of {n} spans arrived: {out:#?}", out.len()))
                .expect("the collector is running");
            out.push(span);
        }
        out
    }
}

/// Export settings to `collector` at `protocol`, batching for 20 ms.
fn exporting_to(url: &str, protocol: Protocol) -> OtlpSettings {
    let endpoint = match protocol {
        Protocol::HttpProtobuf => format!("{url}/v1/traces"),
        Protocol::Grpc => url.to_owned(),
    };
    OtlpSettings {
        endpoint,
        protocol,
        headers: vec![(
            "x-collector-token".into(),
            resilient_llm::config::Secret::new("test"),
        )],
        timeout: Duration::from_secs(5),
        service_name: "gateway-under-test".into(),
        resource: Vec::new(),
        sampler: Sampler::ParentBased(SamplerRoot::AlwaysOn),
        max_queue: 64,
        max_batch: 16,
        schedule_delay: Duration::from_millis(20),
    }
}

fn text(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// A span's attributes as text.
fn attributes(span: &Span) -> HashMap<String, String> {
    span.attributes
        .iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map(text).unwrap_or_default(),
            )
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One group `chat` of one Haiku deployment on a fast sandbox.
fn one_haiku() -> String {
    format!(
        r#"
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
"#
    )
}

const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// The primary's upstream quota (1 RPM) throttles the second request, which falls back: one
/// trace, in the client's trace, with the request's server span and one client span per
/// attempt, carrying the GenAI attributes; each upstream call carried its own attempt's span.
#[tokio::test]
async fn a_failed_over_request_is_one_trace_with_both_attempts() {
    let mut collector = Collector::start().await;
    let settings = exporting_to(&collector.url, Protocol::HttpProtobuf);
    let stack = Stack::start_with(
        &format!(
            r#"
model_list:
  - model_name: primary
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai, aws_region_name: us-west-2}}
    model_info: {{id: primary-sonnet}}
  - model_name: backup
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
    model_info: {{id: backup-haiku}}
router_settings:
  num_retries: 0
  cooldown_time: 30
  fallbacks: [{{primary: [backup]}}]
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
        ),
        |config| config.gateway.telemetry.otlp = Some(settings),
    )
    .await;
    // The first request takes the primary's one call a minute: one attempt.
    assert_eq!(stack.chat(None, "primary", false).await.status, 200);
    let first = collector.next(2).await;
    assert!(first.iter().all(|r| r.service == "gateway-under-test"));

    let reply = stack
        .http()
        .post(stack.url("/v1/chat/completions"))
        .header("traceparent", format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"))
        .header("content-type", "application/json")
        .body(
            json!({"model": "primary", "max_tokens": 50,
                   "messages": [{"role": "user", "content": "Hello"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(
        reply.headers()["x-resilient-llm-deployment"],
        "backup-haiku"
    );
    let spans = collector.next(3).await;
    assert!(
        spans.iter().all(|r| hex(&r.span.trace_id) == CLIENT_TRACE),
        "every span is in the client's trace: {spans:#?}"
    );
    let server = spans
        .iter()
        .find(|r| r.span.kind == 2)
        .expect("a server span");
    assert_eq!(hex(&server.span.parent_span_id), CLIENT_SPAN);
    assert_eq!(server.span.name, "chat primary");
    let a = attributes(&server.span);
    assert_eq!(a["gen_ai.operation.name"], "chat");
    assert_eq!(a["gen_ai.request.model"], "primary");
    assert_eq!(a["gen_ai.response.model"], HAIKU);
    assert_eq!(a["gen_ai.provider.name"], "aws.bedrock");
    assert_eq!(a["gen_ai.request.max_tokens"], "50");
    assert!(a["gen_ai.usage.input_tokens"].parse::<u64>().unwrap() > 0);
    assert!(a["gen_ai.usage.output_tokens"].parse::<u64>().unwrap() > 0);
    assert!(a["resilient_llm.cost_usd"].parse::<f64>().unwrap() > 0.0);
    assert_eq!(a["resilient_llm.deployment"], "backup-haiku");
    assert_eq!(a["resilient_llm.model_group"], "backup");
    assert_eq!(a["resilient_llm.attempts"], "2");
    assert_eq!(a["resilient_llm.fallbacks"], "1");
    assert_eq!(a["http.response.status_code"], "200");

    let mut attempts: Vec<&Received> = spans.iter().filter(|r| r.span.kind == 3).collect();
    attempts.sort_by_key(|r| r.span.start_time_unix_nano);
    assert_eq!(attempts.len(), 2, "{spans:#?}");
    for attempt in &attempts {
        assert_eq!(attempt.span.parent_span_id, server.span.span_id);
        assert!(attempt.span.start_time_unix_nano >= server.span.start_time_unix_nano);
        assert!(attempt.span.end_time_unix_nano <= server.span.end_time_unix_nano);
    }
    let (throttled, served) = (attributes(&attempts[0].span), attributes(&attempts[1].span));
    assert_eq!(attempts[0].span.name, format!("chat {SONNET}"));
    assert_eq!(throttled["resilient_llm.deployment"], "primary-sonnet");
    assert_eq!(throttled["resilient_llm.outcome"], "rate_limited");
    assert_eq!(throttled["resilient_llm.attempt.reason"], "first");
    assert_eq!(throttled["error.type"], "rate_limited");
    assert_eq!(throttled["cloud.region"], "us-west-2");
    assert_eq!(throttled["resilient_llm.aws_profile"], "genai");
    let status = attempts[0]
        .span
        .status
        .as_ref()
        .expect("a failed attempt has a status");
    assert_eq!(status.code, 2, "ERROR");
    assert!(status.message.contains("rate limited"), "{status:?}");
    assert_eq!(served["resilient_llm.deployment"], "backup-haiku");
    assert_eq!(served["resilient_llm.outcome"], "success");
    assert_eq!(served["resilient_llm.attempt.reason"], "fallback");
    assert_eq!(served["gen_ai.request.model"], HAIKU);

    // Each Bedrock call carried the trace with its own attempt's span.
    let carried = stack.sandbox.received_traceparents();
    for attempt in &attempts {
        let expected = format!("00-{CLIENT_TRACE}-{}-01", hex(&attempt.span.span_id));
        assert!(carried.contains(&expected), "{expected} not in {carried:?}");
    }

    let metrics = stack.get("/metrics", None).await.text;
    assert!(
        metrics.contains("resilient_llm_trace_spans_exported_total 5"),
        "{metrics}"
    );
    assert!(metrics.contains(r#"resilient_llm_trace_spans_dropped_total{reason="queue_full"} 0"#));
}

/// A streamed request over gRPC: the server span ends with the stream, after its first token.
#[tokio::test]
async fn a_stream_is_traced_over_grpc_to_its_end() {
    let mut collector = Collector::start().await;
    let settings = exporting_to(&collector.url, Protocol::Grpc);
    let stack = Stack::start_with(&one_haiku(), |config| {
        config.gateway.telemetry.otlp = Some(settings)
    })
    .await;
    let reply = stack.chat(None, "chat", true).await;
    assert_eq!(reply.status, 200);
    let spans = collector.next(2).await;
    let server = spans
        .iter()
        .find(|r| r.span.kind == 2)
        .expect("server span");
    let a = attributes(&server.span);
    assert_eq!(a["resilient_llm.stream"], "true");
    assert!(a["gen_ai.usage.output_tokens"].parse::<u64>().unwrap() > 0);
    let ttft: f64 = a["resilient_llm.time_to_first_token_ms"].parse().unwrap();
    let length = (server.span.end_time_unix_nano - server.span.start_time_unix_nano) as f64 / 1e6;
    assert!(ttft <= length, "first token {ttft} ms within {length} ms");
    // A fresh trace: no parent.
    assert!(server.span.parent_span_id.is_empty());
}

/// A collector that is down: requests are answered as before, the lost spans are counted.
#[tokio::test]
async fn a_collector_that_is_down_loses_spans_not_requests() {
    // Nothing listens on the discard port.
    let settings = exporting_to("http://127.0.0.1:9", Protocol::HttpProtobuf);
    let stack = Stack::start_with(&one_haiku(), |config| {
        config.gateway.telemetry.otlp = Some(settings)
    })
    .await;
    for _ in 0..3 {
        assert_eq!(stack.chat(None, "chat", false).await.status, 200);
    }
    // The export task reports each failed batch; wait for the count to reach every span.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = stack.get("/metrics", None).await.text;
        if metrics.contains(r#"resilient_llm_trace_spans_dropped_total{reason="export_failed"} 6"#)
        {
            assert!(metrics.contains("resilient_llm_trace_spans_exported_total 0"));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{metrics}");
        stack
            .gateway
            .state()
            .observer
            .flush(Duration::from_secs(5))
            .await;
    }
}

/// `--log-format json`: one JSON object per request on stderr with who, where, how long and
/// what it cost, and never the key or the prompt.
#[test]
fn the_json_request_log_has_one_line_per_request_without_keys_or_prompts() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
    model_info: {{id: haiku}}
gateway:
  master_key: sk-master-secret-0001
  consumers:
    - {{name: team-a, key: sk-team-a-secret-0001}}
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
"#
    );
    let (server, _) = crate::process::serve_with(dir.path(), &yaml, &["--log-format", "json"]);
    let status = (
        chat_with_id(
            &server.url,
            Some("sk-team-a-secret-0001"),
            "req-log-test-1",
            "the secret prompt text 12345",
        ),
        chat_with_id(
            &server.url,
            Some("sk-wrong-key-0001"),
            "req-log-test-2",
            "hi",
        ),
    );
    assert_eq!(status, (200, 401));
    server.wait_for_output("req-log-test-2", Duration::from_secs(20));
    let output = server.output();
    let lines: Vec<Value> = output
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v: &Value| v["message"] == "request")
        .collect();
    let served = lines
        .iter()
        .find(|l| l["request_id"] == "req-log-test-1")
        .unwrap_or_else(|| panic!("{output}"));
    assert_eq!(served["consumer"], "team-a");
    assert_eq!(served["model"], "chat");
    assert_eq!(served["deployment"], "haiku");
    assert_eq!(served["model_group"], "chat");
    assert_eq!(served["status"], 200);
    assert_eq!(served["attempts"], 1);
    assert!(served["latency_ms"].as_f64().unwrap() > 0.0);
    assert!(served["input_tokens"].as_u64().unwrap() > 0);
    assert!(served["output_tokens"].as_u64().unwrap() > 0);
    assert!(served["cost_usd"].as_f64().unwrap() > 0.0);
    assert_eq!(served["level"], "INFO");
    let refused = lines
        .iter()
        .find(|l| l["request_id"] == "req-log-test-2")
        .unwrap_or_else(|| panic!("{output}"));
    assert_eq!(refused["status"], 401);
    assert!(refused.get("deployment").is_none());
    for secret in [
        "sk-team-a-secret-0001",
        "sk-wrong-key-0001",
        "secret prompt",
    ] {
        assert!(!output.contains(secret), "{secret} leaked into the log");
    }
}

/// `litellm_settings: {json_logs: true, log_prompts: true}` in the config: the request log's
/// line carries the prompt, and still no key.
#[test]
fn log_prompts_puts_the_prompt_in_the_request_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
litellm_settings: {{json_logs: true, log_prompts: true}}
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
"#
    );
    let (server, _) = crate::process::serve_with(dir.path(), &yaml, &[]);
    let status = chat_with_id(
        &server.url,
        None,
        "req-prompt-log-1",
        "a prompt to keep 678",
    );
    assert_eq!(status, 200);
    server.wait_for_output("req-prompt-log-1", Duration::from_secs(20));
    let output = server.output();
    let line: Value = output
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["request_id"] == "req-prompt-log-1")
        .unwrap_or_else(|| panic!("{output}"));
    let prompt: Value = serde_json::from_str(line["prompt"].as_str().unwrap()).unwrap();
    assert_eq!(prompt[0]["content"], "a prompt to keep 678");
    assert_eq!(line["status"], 200);
}

/// One chat completion of `content` to group `chat` with `key` and `x-request-id: id`; its
/// status.
fn chat_with_id(url: &str, key: Option<&str>, id: &str, content: &str) -> u16 {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut request = crate::harness::client()
            .post(format!("{url}/v1/chat/completions"))
            .header("x-request-id", id)
            .header("content-type", "application/json")
            .body(
                json!({"model": "chat", "messages": [{"role": "user", "content": content}]})
                    .to_string(),
            );
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().await.unwrap().status().as_u16()
    })
}
