//! HTTP helpers shared by the gateway test binaries: a client that cannot hang, a chat body,
//! and the `data:` payloads of a server-sent-events body.

use std::time::Duration;

use serde_json::{Value, json};

/// The longest any single exchange with the gateway may take in a test.
pub const EXCHANGE_DEADLINE: Duration = Duration::from_secs(60);

/// A client that never uses a proxy and gives up on a stuck exchange.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(EXCHANGE_DEADLINE)
        .build()
        .unwrap()
}

/// A chat-completions body with one user message.
pub fn chat_body(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "user", "content": "Say hello in one short sentence."}],
        "max_tokens": 64,
        "stream": stream,
    })
}

/// The `data:` payloads of a server-sent-events body, in order.
pub fn sse_data(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|event| {
            event
                .lines()
                .find_map(|line| {
                    line.strip_prefix("data: ")
                        .or_else(|| line.strip_prefix("data:"))
                })
                .map(|data| data.trim().to_string())
        })
        .collect()
}
