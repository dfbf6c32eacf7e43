//! Security: the gateway binds loopback unless told otherwise, keys never reach the logs (even
//! at `-vv`), 5xx bodies carry no internal text, and oversize request heads are refused.

use crate::process::Server;
use crate::stack::{Exchange, HAIKU, SONNET, Stack, Tally, chat, client};

const MASTER: &str = "sk-secret-master-7f3a9c";
const CONSUMER: &str = "sk-secret-consumer-41d2e8";

#[tokio::test]
async fn serve_binds_loopback_by_default_and_never_logs_keys() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &format!(
            r#"
gateway:
  master_key: {MASTER}
  consumers:
    - {{name: app, key: {CONSUMER}, models: [chat]}}
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
"#
        ),
        &["-vv"],
        &[],
    );
    println!("[security] gateway serve without --host: {}", server.url);
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "{}",
        server.url
    );

    let http = client();
    let mut tally = Tally::default();
    for key in [MASTER, CONSUMER] {
        for stream in [false, true] {
            tally.add(&chat(&http, &server.url, Some(key), "chat", stream).await);
        }
    }
    // A consumer key on a model it may not use, and a key that is almost right.
    tally.add(&chat(&http, &server.url, Some(CONSUMER), "other", false).await);
    let almost = format!("{MASTER}x");
    tally.add(&chat(&http, &server.url, Some(&almost), "chat", false).await);
    tally.print("requests with keys");
    assert_eq!(tally.ok(), 4);

    // One more request, whose log line (it names the request id) says the logs are complete.
    let last = http
        .post(format!("{}/v1/chat/completions", server.url))
        .bearer_auth(MASTER)
        .header("content-type", "application/json")
        .body(r#"{"model":"chat","messages":[{"role":"user","content":"last"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(last.status(), 200);
    let id = last.headers()["x-request-id"].to_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let output = loop {
        let output = server.output();
        if output
            .lines()
            .any(|l| l.contains(&id) && l.contains("served"))
        {
            break output;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no log line for {id}:\n{output}"
        );
        // Polls the captured output for the event; the wait is the deadline above, not this.
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    println!("[security] {} bytes of logs checked at -vv", output.len());
    assert!(
        output.contains("gateway started"),
        "-vv logs something: {output}"
    );
    for key in [MASTER, CONSUMER, "secret-master", "secret-consumer"] {
        assert!(
            !output.contains(key),
            "a key reached the logs: {key}\n{output}"
        );
    }
}

#[tokio::test]
async fn error_bodies_carry_no_internal_text() {
    let stack = Stack::start(&format!(
        r#"
model_list:
  - model_name: unavailable
    litellm_params: {{model: "bedrock/{SONNET}", aws_profile_name: genai}}
  - model_name: internal
    litellm_params: {{model: "bedrock/us.amazon.nova-pro-v1:0", aws_profile_name: genai}}
  - model_name: reset
    litellm_params: {{model: "bedrock/us.amazon.nova-lite-v1:0", aws_profile_name: genai}}
  - model_name: compat-reset
    litellm_params: {{model: "openai/us.amazon.nova-lite-v1:0", api_base: "$SANDBOX/v1"}}
  - model_name: compat-internal
    litellm_params: {{model: "openai/us.amazon.nova-pro-v1:0", api_base: "$SANDBOX/v1"}}
  - model_name: nowhere
    litellm_params: {{model: "openai/x", api_base: "http://127.0.0.1:9/v1"}}
router_settings:
  num_retries: 0
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
  faults:
    - {{error: ServiceUnavailableException, rate: 1.0, model: sonnet-4-6}}
    - {{error: InternalServerException, rate: 1.0, model: nova-pro}}
    - {{error: ConnectionReset, rate: 1.0, model: nova-lite}}
"#
    ))
    .await;
    let sandbox_port = stack.sandbox.addr().port().to_string();
    let internals = [
        "111111111111",
        "arn:",
        "127.0.0.1",
        "localhost",
        sandbox_port.as_str(),
        "SANDBOX",
        "Exception",
        "genai",
        "amazonaws",
        "hyper",
        "reqwest",
        "dispatch failure",
    ];
    let mut tally = Tally::default();
    for group in [
        "unavailable",
        "internal",
        "reset",
        "compat-reset",
        "compat-internal",
        "nowhere",
    ] {
        for stream in [false, true] {
            let exchange = stack.chat(group, stream).await;
            tally.add(&exchange);
            let Exchange::Answered { status, text, .. } = &exchange else {
                panic!("{group}: no answer: {exchange:?}");
            };
            println!("[security] {group:<16} stream={stream:<5} → {status} {text}");
            assert!(*status >= 500, "{group}: {status} {text}");
            for internal in internals {
                assert!(
                    !text.contains(internal),
                    "{group}: `{internal}` in a 5xx body: {text}"
                );
            }
        }
    }
    tally.print("5xx bodies");
}

#[tokio::test]
async fn oversize_request_heads_are_refused_and_the_gateway_carries_on() {
    let stack = Stack::start(&format!(
        r#"
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
"#
    ))
    .await;
    let http = client();
    let huge = "a".repeat(200 * 1024);
    let one_huge = http
        .get(stack.url("/v1/models"))
        .header("x-huge", huge)
        .send()
        .await;
    let mut many = http.get(stack.url("/v1/models"));
    for i in 0..300 {
        many = many.header(format!("x-many-{i}"), "1");
    }
    let many = many.send().await;
    for (name, result) in [("one 200 kB header", one_huge), ("300 headers", many)] {
        let outcome = match result {
            Ok(response) => response.status().as_u16().to_string(),
            Err(error) => format!("connection closed ({error})"),
        };
        println!("[security] {name} → {outcome}");
        assert!(
            outcome == "431" || outcome.starts_with("connection closed"),
            "{name}: {outcome}"
        );
    }
    let mut tally = Tally::default();
    tally.add(&stack.chat("chat", false).await);
    tally.print("after oversize heads");
    assert_eq!(tally.ok(), 1);
}
