//! Request bodies held at once are bounded (issue 12, item 7): eight 9.5 MB bodies at once
//! against a 50 MiB budget, where each body costs five times its size (its bytes, the parsed
//! request, the upstream request): one fits, the seven that do not are answered 503 with
//! `Retry-After` before their bodies are read, and the gateway's peak RSS stays within the
//! budget plus a margin.

use futures_util::future::join_all;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::stack::{HAIKU, Stack, assert_openai_error};

const BODY_BYTES: usize = 9_500_000;
const BUDGET_MIB: usize = 50;

fn config() -> String {
    format!(
        r#"
gateway:
  max_buffered_body_mb: {BUDGET_MIB}
model_list:
  - model_name: chat
    litellm_params: {{model: "bedrock/{HAIKU}", aws_profile_name: genai}}
router_settings:
  num_retries: 0
sandbox:
  seed: 7
  latency: {{first_token_ms: 0, tokens_per_second: 0}}
"#
    )
}

/// A chat request of exactly [`BODY_BYTES`] bytes.
fn big_body() -> Vec<u8> {
    let head = r#"{"model":"chat","max_tokens":5,"messages":[{"role":"user","content":""#;
    let tail = r#""}]}"#;
    let pad = BODY_BYTES - head.len() - tail.len();
    format!("{head}{}{tail}", "x".repeat(pad)).into_bytes()
}

/// The gateway's peak resident memory in kB (`VmHWM`).
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Reads one HTTP/1.1 answer (head, then a body of its Content-Length).
async fn answer(socket: &mut TcpStream) -> (String, String) {
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let n = socket.read(&mut buffer).await.unwrap();
        assert!(
            n > 0,
            "closed before an answer: {:?}",
            String::from_utf8_lossy(&bytes)
        );
        bytes.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&bytes).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_string)
                })
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return (head.to_string(), body.to_string());
            }
        }
    }
}

#[tokio::test]
async fn bodies_past_the_budget_get_503_before_they_are_read_and_memory_stays_bounded() {
    let mut stack = Stack::start(&config()).await;
    let pid = stack.gateway.process().pid();
    let before = peak_rss_kb(pid);
    let body = std::sync::Arc::new(big_body());
    let (answered, mut answers) = mpsc::unbounded_channel::<(usize, String, String)>();
    let (finish_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let addr = stack.gateway.addr();
            let body = std::sync::Arc::clone(&body);
            let answered = answered.clone();
            let mut finish = finish_tx.subscribe();
            tokio::spawn(async move {
                let mut socket = TcpStream::connect(addr).await.unwrap();
                let head = format!(
                    "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                socket.write_all(head.as_bytes()).await.unwrap();
                socket.write_all(&body[..1024]).await.unwrap();
                let (mut reader, mut writer) = socket.into_split();
                // Refused bodies are answered at once; admitted ones wait for the rest.
                let mut bytes = Vec::new();
                let mut buffer = [0u8; 4096];
                tokio::select! {
                    n = reader.read(&mut buffer) => bytes.extend_from_slice(&buffer[..n.unwrap()]),
                    _ = finish.recv() => {
                        writer.write_all(&body[1024..]).await.unwrap();
                    }
                }
                let mut socket = reader.reunite(writer).unwrap();
                // The rest of the answer (or all of it, for an admitted body).
                let (head, rest) = if bytes.is_empty() {
                    answer(&mut socket).await
                } else {
                    let text = String::from_utf8_lossy(&bytes).to_string();
                    match text.split_once("\r\n\r\n") {
                        Some((h, b)) if !b.is_empty() => (h.to_string(), b.to_string()),
                        _ => {
                            let (h, b) = answer(&mut socket).await;
                            (format!("{text}{h}"), b)
                        }
                    }
                };
                answered.send((i, head, rest)).unwrap();
            })
        })
        .collect();
    drop(answered);
    let mut refused = Vec::new();
    while refused.len() < 7 {
        let next = tokio::time::timeout(std::time::Duration::from_secs(60), answers.recv()).await;
        let (i, head, body) = next
            .expect(
                "no 503 within 60 s: bodies past the budget must be refused before they are read",
            )
            .unwrap();
        assert!(
            head.starts_with("HTTP/1.1 503 "),
            "request {i}: {head}\n{body}"
        );
        assert!(head.to_lowercase().contains("retry-after: 1"), "{head}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_openai_error(&body);
        refused.push(i);
    }
    let _ = finish_tx.send(());
    let mut served = Vec::new();
    while let Some((i, head, body)) = answers.recv().await {
        assert!(
            !head.starts_with("HTTP/1.1 503 "),
            "request {i} past the one that fits: {head}\n{body}"
        );
        served.push((i, head.lines().next().unwrap_or("").to_string()));
    }
    join_all(tasks).await;
    let peak = peak_rss_kb(pid);
    println!(
        "[body budget] refused {refused:?}; answered {served:?}; peak RSS {before} kB before, {peak} kB after"
    );
    assert_eq!(served.len(), 1, "{served:?}");
    // The margin is the runtime's and the sockets' buffers, far below one more body's cost.
    let (budget_kb, margin_kb) = ((BUDGET_MIB * 1024) as u64, 16 * 1024);
    assert!(
        peak <= before + budget_kb + margin_kb,
        "peak RSS {peak} kB: more than {before} kB + the {BUDGET_MIB} MiB budget + 16 MiB"
    );
}
