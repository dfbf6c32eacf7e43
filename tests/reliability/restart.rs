//! The gateway's own restart under load: SIGTERM to a `gateway serve` process with requests in
//! flight. In-flight requests finish, new ones are refused cleanly (connection refused, or a
//! well-formed 503 while draining), nothing hangs, and the process exits 0.

use std::time::{Duration, Instant};

use crate::process::Server;
use crate::stack::{Exchange, HAIKU, Tally, chat, client};

/// How long the process may take to exit after SIGTERM.
const EXIT_DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn sigterm_under_load_finishes_in_flight_requests_and_refuses_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        dir.path(),
        &format!(
            r#"
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
sandbox:
  seed: 7
  latency: {{first_token_ms: 300, tokens_per_second: 20}}
"#
        ),
        &[],
        &[],
    );
    let url = server.url.clone();

    // Non-streams first, then streams; once every stream has its headers, all are in flight.
    let mut in_flight = Vec::new();
    for stream in [false, true] {
        for _ in 0..8 {
            let (http, url) = (client(), url.clone());
            in_flight.push(tokio::spawn(async move {
                chat(&http, &url, None, "chat", stream).await
            }));
        }
    }
    let started = start_streams(&url, 4).await;

    server.terminate();

    // New requests while the gateway drains and after it is gone: each refused cleanly.
    let mut after = Tally::default();
    let probe = client();
    let stop_at = Instant::now() + EXIT_DEADLINE;
    while Instant::now() < stop_at {
        let exchange = chat(&probe, &url, None, "chat", false).await;
        let refused = matches!(&exchange, Exchange::Transport(_));
        after.add(&exchange);
        if refused && !server.running() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut finished = Tally::default();
    for task in in_flight {
        finished.add(&task.await.unwrap());
    }
    for mut response in started {
        let mut text = String::new();
        while let Some(chunk) = response.chunk().await.unwrap() {
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        finished.add(&Exchange::Answered {
            status: 200,
            deployment: String::new(),
            text,
        });
    }
    finished.print("in flight at SIGTERM");
    after.print("sent after SIGTERM");
    assert_eq!(
        finished.ok(),
        finished.total,
        "every in-flight request finished"
    );
    assert!(
        after
            .by_outcome
            .keys()
            .all(|k| k == "transport error" || k == "503 error" || k == "200 ok"),
        "{:?}",
        after.by_outcome
    );

    let status = tokio::task::spawn_blocking(move || server.wait_within(EXIT_DEADLINE))
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "{status}");
}

/// Starts `n` streams and returns them once each has its response headers.
async fn start_streams(url: &str, n: usize) -> Vec<reqwest::Response> {
    let http = client();
    let mut started = Vec::new();
    for _ in 0..n {
        let response = http
            .post(format!("{url}/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(crate::stack::chat_body("chat", true).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        started.push(response);
    }
    started
}
