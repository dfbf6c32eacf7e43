//! The gateway's own restart under load: SIGTERM to a `gateway serve` process in front of a
//! `sandbox serve` process (both real processes, see [`Stack::start`]) while requests wait on a
//! slow upstream. The requests in flight at SIGTERM (as `/health` counts them) all finish with
//! 200, a request sent once the gateway has said it is shutting down is refused cleanly
//! (connection refused or closed, or a well-formed 503), and the process exits 0. Every wait is
//! bounded, so a hang fails the test.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use resilient_llm::gateway::SHUTDOWN_GRACE;
use serde_json::Value;

use crate::process::Server;
use crate::stack::{HAIKU, Stack, Tally, assert_openai_error, chat, chat_body, client};

/// Requests in flight at SIGTERM (every other one a stream).
const IN_FLIGHT: usize = 8;

/// What the gateway prints (on stderr) once it has a shutdown signal.
const SHUTDOWN_LINE: &str = "Shutting down: finishing in-flight requests";

/// The longest the test waits for the gateway to count the requests, or to print its shutdown line.
const STEP_DEADLINE: Duration = Duration::from_secs(20);

/// How long the process may take to exit after SIGTERM: the gateway's grace, and a margin.
const EXIT_DEADLINE: Duration = SHUTDOWN_GRACE.saturating_add(Duration::from_secs(30));

/// How often the test looks at `/health` and at the gateway's output.
const POLL: Duration = Duration::from_millis(10);

#[tokio::test]
async fn sigterm_under_load_finishes_in_flight_requests_and_refuses_new_ones() {
    // The first token takes far longer than the steps between `/health` and the shutdown line.
    let mut stack = Stack::start(&format!(
        r#"
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
    model_info: {{id: chat-haiku}}
router_settings:
  num_retries: 0
sandbox:
  seed: 7
  latency: {{first_token_ms: 3000, tokens_per_second: 0}}
"#
    ))
    .await;
    let url = stack.gateway.url();
    let requests: Vec<_> = (0..IN_FLIGHT)
        .map(|i| {
            let (http, url) = (stack.http.clone(), url.clone());
            tokio::spawn(async move { chat(&http, &url, None, "chat", i % 2 == 0).await })
        })
        .collect();
    let counted = until_in_flight(&stack, IN_FLIGHT).await;
    println!("[restart] in flight on /health before SIGTERM: {counted}");

    let started = Instant::now();
    stack.gateway.process().terminate();
    until_output(stack.gateway.process(), SHUTDOWN_LINE).await;
    let done_early = requests.iter().filter(|r| r.is_finished()).count();
    assert_eq!(
        done_early, 0,
        "the upstream must still hold every request when the gateway starts shutting down"
    );

    let mut refused = BTreeMap::new();
    for stream in [false, true] {
        *refused.entry(refusal(&url, stream).await).or_insert(0) += 1;
    }

    let mut finished = Tally::default();
    for request in requests {
        finished.add(&request.await.unwrap());
    }
    let status = stack.gateway.process().wait_within(EXIT_DEADLINE);
    finished.print("in flight at SIGTERM");
    println!("[restart] sent after the shutdown line: {refused:?}");
    println!(
        "[restart] exited with {status} {:.1}s after SIGTERM",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        finished.by_outcome.get("200 ok"),
        Some(&IN_FLIGHT),
        "every in-flight request finished with 200: {:?}",
        finished.by_outcome
    );
    assert_eq!(refused.values().sum::<usize>(), 2);
    assert_eq!(status.code(), Some(0), "{status}");
}

/// Polls `/health` until its deployments count `n` requests in flight; the count seen.
async fn until_in_flight(stack: &Stack, n: usize) -> u64 {
    let deadline = Instant::now() + STEP_DEADLINE;
    loop {
        let health = stack.health().await;
        let in_flight: u64 = health["health"]["deployments"]
            .as_array()
            .unwrap_or_else(|| panic!("no deployments on /health: {health}"))
            .iter()
            .map(|d| d["in_flight"].as_u64().unwrap_or(0))
            .sum();
        if in_flight == n as u64 {
            return in_flight;
        }
        assert!(
            Instant::now() < deadline,
            "/health never counted {n} in flight: {health}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until `process` has printed `text`.
async fn until_output(process: &Server, text: &str) {
    let deadline = Instant::now() + STEP_DEADLINE;
    while !process.output().contains(text) {
        assert!(
            Instant::now() < deadline,
            "no `{text}` within {STEP_DEADLINE:?}: {}",
            process.output()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Sends one request on a new connection and says how the gateway refused it: `connection
/// refused`, `connection closed` or `503 error` (a well-formed OpenAI error). Anything else (an
/// answer, another status, a hang) fails the test.
async fn refusal(url: &str, stream: bool) -> &'static str {
    let sent = client()
        .post(format!("{url}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(chat_body("chat", stream).to_string())
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(error) if error.is_timeout() => panic!("a request after shutdown hung: {error:?}"),
        Err(error) if error.is_connect() => return "connection refused",
        Err(error) => {
            println!("[restart] closed: {error:?}");
            return "connection closed";
        }
    };
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(status, 503, "a request after shutdown was served: {text}");
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("503 body is not JSON ({e}): {text}"));
    assert_openai_error(&body);
    "503 error"
}
