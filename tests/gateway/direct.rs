//! Which Bedrock calls go direct (signed with aws-sigv4, no SDK orchestrator) and which go
//! through the SDK: a recording proxy between the gateway and the sandbox sees every call.
//! The SDK sends `amz-sdk-invocation-id` on every call; the direct path does not.

use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use futures_util::TryStreamExt;
use serde_json::json;

use crate::harness::{HAIKU, SONNET, Stack, streamed_text};

/// One call the proxy passed on: its path, whether the SDK sent it, its SigV4 credential scope.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    path: String,
    by_sdk: bool,
    scope: String,
}

#[derive(Clone, Default)]
struct Proxy {
    upstream: Arc<OnceLock<String>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    http: reqwest::Client,
}

async fn pass_on(State(proxy): State<Proxy>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let authorization = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let scope = authorization
        .split("Credential=")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|credential| credential.split_once('/'))
        .map(|(_, scope)| scope.split_once('/').map_or(scope, |(_, rest)| rest))
        .unwrap_or_default()
        .to_owned();
    proxy.seen.lock().unwrap().push(Seen {
        path: path.clone(),
        by_sdk: parts.headers.contains_key("amz-sdk-invocation-id"),
        scope,
    });
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let upstream = proxy.upstream.get().expect("the sandbox is up");
    let mut call = proxy
        .http
        .request(parts.method, format!("{upstream}{}", parts.uri))
        .body(body);
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            call = call.header(name, value);
        }
    }
    let answer = call.send().await.unwrap();
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != "content-length" && name != "transfer-encoding" {
            response = response.header(name, value);
        }
    }
    response
        .body(Body::from_stream(
            answer.bytes_stream().map_err(std::io::Error::other),
        ))
        .unwrap()
}

/// A recording proxy on a free port, and the gateway and sandbox behind it; `faults` is the
/// sandbox's `faults:` list.
async fn start(faults: &str) -> (Stack, Proxy) {
    let proxy = Proxy::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .fallback(pass_on)
        .with_state(proxy.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let yaml = format!(
        r#"
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai, aws_region_name: us-west-2, api_base: "http://{address}"}}
    model_info: {{id: chat-haiku}}
  - model_name: other
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai, aws_region_name: us-west-2, api_base: "http://{address}"}}
    model_info: {{id: other-sonnet}}
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
  faults: {faults}
router_settings: {{num_retries: 0, allowed_fails: 100}}
"#
    );
    let stack = Stack::start(&yaml).await;
    proxy.upstream.set(stack.sandbox.endpoint()).unwrap();
    (stack, proxy)
}

fn seen(proxy: &Proxy) -> Vec<Seen> {
    std::mem::take(&mut *proxy.seen.lock().unwrap())
}

const CONVERSE: &str = "/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/converse";
const CONVERSE_STREAM: &str =
    "/model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/converse-stream";

#[tokio::test]
async fn text_calls_go_direct_and_tool_calls_through_the_sdk() {
    let (stack, proxy) = start("[]").await;
    let direct = |path: &str| Seen {
        path: path.into(),
        by_sdk: false,
        scope: "us-west-2/bedrock/aws4_request".into(),
    };

    let reply = stack.chat(None, "chat", false).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let completion = reply.json();
    assert_eq!(completion["choices"][0]["finish_reason"], "stop");
    assert!(completion["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    assert!(
        !completion["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert_eq!(seen(&proxy), vec![direct(CONVERSE)]);

    let reply = stack.chat(None, "chat", true).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let events = reply.sse_data();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert!(!streamed_text(&events).is_empty(), "{events:?}");
    assert_eq!(seen(&proxy), vec![direct(CONVERSE_STREAM)]);

    let tools = json!({
        "model": "chat",
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "max_tokens": 64
    });
    let reply = stack
        .post("/v1/chat/completions", None, tools.to_string())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let calls = seen(&proxy);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].path, CONVERSE);
    assert!(
        calls[0].by_sdk,
        "a tool call goes through the SDK: {calls:?}"
    );
}

#[tokio::test]
async fn a_throttled_direct_call_or_stream_cools_its_deployment_down() {
    let (stack, proxy) = start(
        "[{error: ThrottlingException, rate: 1.0, model: haiku}, {error: ThrottlingException, rate: 1.0, model: sonnet-4-6}]",
    )
    .await;
    for (group, id, stream) in [
        ("chat", "chat-haiku", false),
        ("other", "other-sonnet", true),
    ] {
        let reply = stack.chat(None, group, stream).await;
        reply.assert_error(429, "rate_limit_error");
        assert_eq!(
            stack.deployment_health(id).await["state"],
            "cooling_down",
            "a throttle, not an upstream error: {}",
            stack.deployment_health(id).await
        );
    }
    let calls = seen(&proxy);
    assert_eq!(
        calls.iter().map(|c| c.path.as_str()).collect::<Vec<_>>(),
        [
            CONVERSE,
            "/model/us.anthropic.claude-sonnet-4-6/converse-stream"
        ]
    );
    assert!(calls.iter().all(|call| !call.by_sdk), "{calls:?}");
    assert_eq!(stack.calls(SONNET), 1);
}
