//! The stack the reliability tests run on: a `resilient-llm sandbox serve` process and a
//! `resilient-llm gateway serve` process in front of it (both on port 0, see
//! [`crate::process`]) built from YAML text; a client that never panics on a broken exchange;
//! and the [`Tally`] that accounts for every request: each ends in a success (a completion, or a
//! stream ending in `[DONE]`), a well-formed OpenAI error (a status with `{"error":{…}}`, or a
//! stream ending in an error event), or a transport error; anything else fails the test.
//!
//! The sandbox is driven through its admin routes (stats, reset, Regions down and up).
//!
//! The YAML may write `$SANDBOX` where the sandbox's endpoint belongs, as in the gateway tests.

pub use crate::support::http::{chat_body, client, sse_data};
use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde_json::Value;
use tempfile::TempDir;

use crate::process::{SandboxProcess, Server};

pub const SONNET: &str = "us.anthropic.claude-sonnet-4-6";
pub const HAIKU: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
pub const EU_SONNET: &str = "eu.anthropic.claude-sonnet-4-6";

/// Stands for the sandbox's endpoint in the sandbox's own config (it reads only `sandbox:`).
const NO_ENDPOINT: &str = "http://127.0.0.1:9";

/// A running sandbox process and a gateway in front of it.
pub struct Stack {
    pub sandbox: SandboxProcess,
    pub gateway: Gateway,
    pub http: reqwest::Client,
    /// The configs and AWS files; removed after both processes are gone.
    _dir: TempDir,
}

/// The `gateway serve` process of a [`Stack`].
pub struct Gateway {
    process: Server,
}

impl Gateway {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.process.url.clone()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        let url = &self.process.url;
        url.trim_start_matches("http://")
            .parse()
            .unwrap_or_else(|e| panic!("gateway URL {url}: {e}"))
    }

    /// The `gateway serve` process.
    pub fn process(&mut self) -> &mut Server {
        &mut self.process
    }
}

fn with_endpoint(yaml: &str, endpoint: &str) -> String {
    yaml.replace("$SANDBOX", endpoint)
}

/// A temporary directory with a `sandbox` and a `gateway` folder, and the sandbox of `yaml`
/// started from the first.
fn start_sandbox(yaml: &str) -> (TempDir, SandboxProcess) {
    let dir = tempfile::tempdir().unwrap();
    for folder in ["sandbox", "gateway"] {
        std::fs::create_dir(dir.path().join(folder)).unwrap();
    }
    let sandbox = SandboxProcess::start(
        &dir.path().join("sandbox"),
        &with_endpoint(yaml, NO_ENDPOINT),
    );
    (dir, sandbox)
}

impl Stack {
    /// Starts the sandbox process of `yaml`, then a gateway process in front of it.
    pub async fn start(yaml: &str) -> Stack {
        Stack::start_limited(yaml, None).await
    }

    /// [`Stack::start`] with the gateway allowed `open_files` descriptors, when given.
    pub async fn start_limited(yaml: &str, open_files: Option<u64>) -> Stack {
        let (dir, sandbox) = start_sandbox(yaml);
        let gateway = Server::gateway_for_limited(
            &dir.path().join("gateway"),
            &with_endpoint(yaml, &sandbox.endpoint()),
            &sandbox,
            open_files,
        );
        Stack {
            sandbox,
            gateway: Gateway { process: gateway },
            http: client(),
            _dir: dir,
        }
    }

    /// `gateway URL + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway.url())
    }

    /// One chat completion for `group`; the exchange as it ended.
    pub async fn chat(&self, group: &str, stream: bool) -> Exchange {
        chat(&self.http, &self.gateway.url(), None, group, stream).await
    }

    /// `n` chat completions for `group` at once (every third one a stream), tallied.
    pub async fn burst(&self, group: &str, n: usize) -> Tally {
        let replies =
            futures_util::future::join_all((0..n).map(|i| self.chat(group, i % 3 == 0))).await;
        Tally::of(&replies)
    }

    /// Calls the sandbox served on `model` for account `profile`.
    pub fn served(&self, profile: &str, model: &str) -> u64 {
        self.sandbox.stats().model_calls(profile, model).served
    }

    /// The gateway's `GET /health` as JSON.
    pub async fn health(&self) -> Value {
        let response = self.http.get(self.url("/health")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        serde_json::from_str(&response.text().await.unwrap()).unwrap()
    }
}

/// How one exchange ended.
#[derive(Debug)]
pub enum Exchange {
    /// The gateway answered (the body read to its end).
    Answered {
        status: u16,
        deployment: String,
        text: String,
    },
    /// No answer, or an answer cut off: connection refused, reset, or a read error.
    Transport(String),
}

/// `POST /v1/chat/completions` on `base` for `group`, never panicking.
pub async fn chat(
    http: &reqwest::Client,
    base: &str,
    key: Option<&str>,
    group: &str,
    stream: bool,
) -> Exchange {
    let mut request = http
        .post(format!("{base}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(chat_body(group, stream).to_string());
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => return Exchange::Transport(format!("{error:?}")),
    };
    let status = response.status().as_u16();
    let deployment = response
        .headers()
        .get("x-resilient-llm-deployment")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    match response.text().await {
        Ok(text) => Exchange::Answered {
            status,
            deployment,
            text,
        },
        Err(error) => Exchange::Transport(format!("body after {status}: {error:?}")),
    }
}

/// What kind of end an answer had; panics on anything that is not a success or a well-formed
/// OpenAI error.
pub fn classify(status: u16, text: &str) -> &'static str {
    if status == 200 && text.starts_with("data:") {
        let events = sse_data(text);
        let last = events.last().map(String::as_str);
        if last == Some("[DONE]") {
            return "ok";
        }
        let last: Value = serde_json::from_str(last.unwrap_or_default()).unwrap_or_else(|e| {
            panic!("a stream must end in [DONE] or an error event ({e}): {text}")
        });
        assert_openai_error(&last);
        return "stream error event";
    }
    let body: Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("answer {status} is not JSON ({e}): {text}"));
    if status == 200 {
        assert_eq!(body["object"], "chat.completion", "{body}");
        return "ok";
    }
    assert!((400..600).contains(&status), "{status}: {text}");
    assert_openai_error(&body);
    "error"
}

/// Asserts `body` is OpenAI's `{"error":{"message","type","param","code"}}`.
pub fn assert_openai_error(body: &Value) {
    let error = &body["error"];
    assert!(error.is_object(), "not OpenAI's error shape: {body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(error["type"].is_string(), "{body}");
    for field in ["param", "code"] {
        assert!(error.get(field).is_some(), "no `{field}`: {body}");
    }
}

/// Every exchange of a run, by outcome.
#[derive(Debug, Default)]
pub struct Tally {
    /// `200 ok`, `503 error`, `200 stream error event`, … → count.
    pub by_outcome: BTreeMap<String, usize>,
    /// Successes per serving deployment.
    pub by_deployment: BTreeMap<String, usize>,
    /// Transport errors (their messages, for the printout).
    pub transport: Vec<String>,
    pub total: usize,
}

impl Tally {
    /// Tallies `exchanges`, checking that each is a success or a well-formed error.
    pub fn of(exchanges: &[Exchange]) -> Tally {
        let mut tally = Tally::default();
        for exchange in exchanges {
            tally.add(exchange);
        }
        tally
    }

    /// Adds one exchange.
    pub fn add(&mut self, exchange: &Exchange) {
        self.total += 1;
        match exchange {
            Exchange::Answered {
                status,
                deployment,
                text,
            } => {
                let kind = classify(*status, text);
                *self
                    .by_outcome
                    .entry(format!("{status} {kind}"))
                    .or_insert(0) += 1;
                if kind == "ok" {
                    *self.by_deployment.entry(deployment.clone()).or_insert(0) += 1;
                }
            }
            Exchange::Transport(message) => {
                *self.by_outcome.entry("transport error".into()).or_insert(0) += 1;
                self.transport.push(message.clone());
            }
        }
    }

    /// Successful exchanges.
    pub fn ok(&self) -> usize {
        self.by_outcome
            .iter()
            .filter(|(k, _)| k.ends_with(" ok"))
            .map(|(_, n)| n)
            .sum()
    }

    /// Asserts that nothing succeeded and every request got a well-formed 5xx (none was lost to
    /// the transport).
    pub fn assert_all_well_formed_5xx(&self) {
        assert_eq!(self.ok(), 0, "{:?}", self.by_outcome);
        assert!(self.transport.is_empty(), "{:?}", self.transport);
        assert!(
            self.by_outcome.keys().all(|k| k.starts_with('5')),
            "{:?}",
            self.by_outcome
        );
    }

    /// Prints the counts under `label` and checks that they add up to the total.
    pub fn print(&self, label: &str) {
        let accounted: usize = self.by_outcome.values().sum();
        println!(
            "[{label}] {} requests: {:?}; served by {:?}",
            self.total, self.by_outcome, self.by_deployment
        );
        if let Some(first) = self.transport.first() {
            println!("[{label}] first transport error: {first}");
        }
        assert_eq!(accounted, self.total, "every request accounted for");
    }
}
