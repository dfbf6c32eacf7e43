//! Bad input, one table: each case is a 4xx in OpenAI's error shape whose message names the
//! problem; a slow-loris client is disconnected after the header timeout; afterwards the
//! gateway is still ready and serves a normal request.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::stack::{HAIKU, SONNET, Stack, assert_openai_error};

pub const MASTER: &str = "sk-reliability-master-0001";
pub const APP: &str = "sk-reliability-app-000001";

/// How long a client has to send its request head (`gateway.header_timeout`).
const HEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// A master key, a consumer limited to `chat`, a 10 kB body limit, a 1 s header timeout.
pub fn config() -> String {
    format!(
        r#"
gateway:
  master_key: {MASTER}
  max_request_size_mb: 0.01
  header_timeout: 1
  consumers:
    - {{name: app, key: {APP}, models: [chat]}}
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
  - model_name: compat
    litellm_params: {{model: "openai/{SONNET}", api_base: "$SANDBOX/v1"}}
router_settings:
  num_retries: 0
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
"#
    )
}

/// One bad request and what the answer must say.
struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    key: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    /// Lower-case text the error message (or `param`) must contain.
    names: &'static [&'static str],
}

fn chat_with(extra: Value) -> Vec<u8> {
    let mut body = json!({"model": "chat", "messages": [{"role": "user", "content": "hi"}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body.to_string().into_bytes()
}

fn cases() -> Vec<Case> {
    let post = |name, body, status, names| Case {
        name,
        method: "POST",
        path: "/v1/chat/completions",
        key: Some(APP),
        body,
        status,
        names,
    };
    let big = "x".repeat(20_000);
    vec![
        post("malformed JSON", br#"{"model": "chat", "messages": ["#.to_vec(), 400, &["json"]),
        post(
            "invalid UTF-8",
            b"{\"model\": \"chat\", \"messages\": [{\"role\": \"user\", \"content\": \"\xff\xfe\"}]}".to_vec(),
            400,
            &["utf-8"],
        ),
        post("wrong type", chat_with(json!({"temperature": "hot"})), 400, &["temperature"]),
        post("messages not a list", chat_with(json!({"messages": "hi"})), 400, &["messages"]),
        post("missing messages", json!({"model": "chat"}).to_string().into_bytes(), 400, &["messages"]),
        post("empty messages", chat_with(json!({"messages": []})), 400, &["messages"]),
        post(
            "unknown role",
            chat_with(json!({"messages": [{"role": "wizard", "content": "hi"}]})),
            400,
            &["role"],
        ),
        post("huge max_tokens", chat_with(json!({"max_tokens": 1_000_000_000_000u64})), 400, &["max_tokens"]),
        post("negative temperature", chat_with(json!({"temperature": -1.0})), 400, &["temperature"]),
        post(
            "temperature 1e999",
            br#"{"model": "chat", "messages": [{"role": "user", "content": "hi"}], "temperature": 1e999}"#.to_vec(),
            400,
            &["number"],
        ),
        post(
            "temperature NaN",
            br#"{"model": "chat", "messages": [{"role": "user", "content": "hi"}], "temperature": NaN}"#.to_vec(),
            400,
            &["json"],
        ),
        post(
            "oversize body",
            json!({"model": "chat", "messages": [{"role": "user", "content": big}]}).to_string().into_bytes(),
            413,
            &["larger than"],
        ),
        post("unknown model", chat_with(json!({"model": "no-such-model"})), 404, &["no-such-model"]),
        post("key for another model", chat_with(json!({"model": "compat"})), 403, &["compat"]),
        Case { key: None, ..post("no key", chat_with(json!({})), 401, &["key"]) },
        Case { key: Some("sk-wrong"), ..post("wrong key", chat_with(json!({})), 401, &["key"]) },
        Case { path: "/v1/images/generations", ..post("unknown route", chat_with(json!({})), 404, &["/v1/images/generations"]) },
        Case { method: "GET", body: Vec::new(), ..post("wrong method", Vec::new(), 405, &["method"]) },
    ]
}

#[tokio::test]
async fn every_bad_request_is_a_4xx_naming_the_problem_and_the_gateway_stays_healthy() {
    let stack = Stack::start(&config()).await;
    let mut failures = Vec::new();
    let cases = cases();
    for case in &cases {
        let method = reqwest::Method::from_bytes(case.method.as_bytes()).unwrap();
        let mut request = stack
            .http
            .request(method, stack.url(case.path))
            .header("content-type", "application/json")
            .body(case.body.clone());
        if let Some(key) = case.key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let error = &body["error"];
        let said = format!("{} {}", error["message"], error["param"]).to_lowercase();
        println!("[bad input] {:<22} → {status} {said}", case.name);
        let named = case.names.iter().all(|n| said.contains(n));
        if status != case.status || !error.is_object() || !named {
            failures.push(format!("{}: {status} {text}", case.name));
        } else {
            assert_openai_error(&body);
        }
    }
    assert_eq!(stack.sandbox.stats().model_calls("genai", HAIKU).total(), 0);

    slow_loris_is_disconnected(&stack, HEADER_TIMEOUT).await;
    println!(
        "[bad input] {} cases, {} wrong",
        cases.len() + 1,
        failures.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");

    // A fresh client: the pooled connections have idled past the header timeout during the
    // slow-loris case, and the gateway closes idle keep-alive connections at that timeout, so
    // reusing one would race its close.
    let http = crate::stack::client();
    let ready = http
        .get(stack.url("/health/readiness"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let ok = crate::stack::chat(&http, &stack.gateway.url(), Some(APP), "chat", false).await;
    let mut tally = crate::stack::Tally::default();
    tally.add(&ok);
    tally.print("after the table");
    assert_eq!(tally.ok(), 1);
}

/// A client that sends its request head a byte at a time and never finishes it is disconnected
/// once the header timeout passes.
async fn slow_loris_is_disconnected(stack: &Stack, timeout: Duration) {
    let mut socket = tokio::net::TcpStream::connect(stack.gateway.addr())
        .await
        .unwrap();
    socket
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let deadline = timeout * 20;
    let closed = tokio::time::timeout(deadline, async {
        let mut buffer = [0u8; 1024];
        loop {
            if socket.write_all(b"X-Slow: 1\r\n").await.is_err() {
                return "write refused".to_string();
            }
            tokio::select! {
                read = socket.read(&mut buffer) => match read {
                    Ok(0) => return "closed".to_string(),
                    Ok(n) => return format!("answered {:?}", String::from_utf8_lossy(&buffer[..n]).lines().next()),
                    Err(e) => return format!("reset ({e})"),
                },
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    })
    .await;
    println!("[bad input] slow-loris headers        → {closed:?}");
    let outcome = closed.expect("a slow-loris client must not hold a connection forever");
    assert!(
        outcome == "closed"
            || outcome.starts_with("reset")
            || outcome == "write refused"
            || outcome.contains("408"),
        "{outcome}"
    );
}
