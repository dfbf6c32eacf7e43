//! A sandbox and a gateway in this process, both on port 0, built from YAML text, and a small
//! HTTP client that returns status, headers and body as the gateway sent them.
//!
//! The YAML may write `$SANDBOX` wherever the sandbox's endpoint belongs (the `api_base` of
//! `openai/…` deployments): the config is read once for the sandbox settings, the sandbox is
//! started, then the config is read again with the endpoint filled in.

pub use crate::support::http::{chat_body, client, sse_data};
use std::path::Path;
use std::sync::Arc;

use http::HeaderMap;
use resilient_llm::config::{Config, load_str};
use resilient_llm::gateway::{self, GatewayHandle};
use resilient_llm::sandbox::SandboxHandle;
use serde_json::Value;

use crate::support;

/// A sandbox section with no waiting and a fixed seed, for configs that need nothing else.
pub const FAST_SANDBOX: &str = r#"
sandbox:
  seed: 7
  latency: {first_token_ms: 0, tokens_per_second: 0}
"#;

/// The model ids the tests route to (all in the sandbox's catalogue).
pub const SONNET: &str = "us.anthropic.claude-sonnet-4-6";
pub const HAIKU: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
pub const SONNET_45: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
pub const NOVA: &str = "us.amazon.nova-lite-v1:0";

/// A running sandbox and a gateway in front of it.
pub struct Stack {
    pub sandbox: SandboxHandle,
    pub gateway: GatewayHandle,
    http: reqwest::Client,
}

/// Reads `yaml` with `$SANDBOX` replaced by `endpoint`.
pub fn config_for(yaml: &str, endpoint: &str) -> Config {
    let text = yaml.replace("$SANDBOX", endpoint);
    load_str(&text, Path::new("gateway-test.yaml"), &|_| None)
        .unwrap_or_else(|e| panic!("test config does not load: {e}\n{text}"))
}

impl Stack {
    /// Starts the sandbox of `yaml`'s `sandbox` section, then a gateway for `yaml` in front of it.
    pub async fn start(yaml: &str) -> Stack {
        Stack::start_with(yaml, |_| {}).await
    }

    /// [`Stack::start`] with the config changed by `change` before the gateway starts.
    pub async fn start_with(yaml: &str, change: impl FnOnce(&mut Config)) -> Stack {
        let settings = config_for(yaml, "http://127.0.0.1:9").sandbox;
        let sandbox = support::sandbox::start(settings).await;
        let mut config = config_for(yaml, &sandbox.endpoint());
        change(&mut config);
        let config = Arc::new(config);
        let clients = resilient_llm::aws::Clients::for_sandbox(&config, &sandbox.endpoint());
        let gateway = gateway::start(config, &clients, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        Stack {
            sandbox,
            gateway,
            http: client(),
        }
    }

    /// The HTTP client, for requests the helpers below do not make.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `gateway URL + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway.url())
    }

    /// `POST path` with a raw body.
    pub async fn post(&self, path: &str, key: Option<&str>, body: impl Into<String>) -> Reply {
        let mut request = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.into());
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        send(request).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str, key: Option<&str>) -> Reply {
        let mut request = self.http.get(self.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        send(request).await
    }

    /// A one-message chat completion for `model` (a stream when `stream`).
    pub async fn chat(&self, key: Option<&str>, model: &str, stream: bool) -> Reply {
        self.post(
            "/v1/chat/completions",
            key,
            chat_body(model, stream).to_string(),
        )
        .await
    }

    /// `n` identical chat completions sent at once; the replies in sending order.
    pub async fn chat_concurrently(&self, key: Option<&str>, model: &str, n: usize) -> Vec<Reply> {
        futures_util::future::join_all((0..n).map(|_| self.chat(key, model, false))).await
    }

    /// The `/health` document, as the master key sees it (when the gateway has keys).
    pub async fn health(&self) -> Value {
        let master = self.gateway.state().config.gateway.master_key.clone();
        let reply = self
            .get("/health", master.as_ref().map(|k| k.expose()))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.json()
    }

    /// The `/health` entry of deployment `id`.
    pub async fn deployment_health(&self, id: &str) -> Value {
        let health = self.health().await;
        health["health"]["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no deployment {id} on /health: {health}"))
    }

    /// Calls the sandbox served on `model` for the default account (`genai`).
    pub fn served(&self, model: &str) -> u64 {
        self.sandbox.stats().model_calls("genai", model).served
    }

    /// Every call the sandbox saw on `model` for `genai`, whatever the outcome.
    pub fn calls(&self, model: &str) -> u64 {
        self.sandbox.stats().model_calls("genai", model).total()
    }
}

/// What the gateway answered.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Reply {
        status,
        headers,
        text,
    }
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The deployment that served the request (`x-resilient-llm-deployment`).
    pub fn deployment(&self) -> &str {
        self.header("x-resilient-llm-deployment").unwrap_or("")
    }

    /// The `data:` payloads of an SSE body, in order (`[DONE]` included as text).
    pub fn sse_data(&self) -> Vec<String> {
        sse_data(&self.text)
    }

    /// Asserts the body is an OpenAI error of `status` and `kind`, and returns its `error` object.
    pub fn assert_error(&self, status: u16, kind: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        let body = self.json();
        let error = body["error"].clone();
        assert!(error.is_object(), "not OpenAI's error shape: {body}");
        assert_eq!(error["type"], kind, "{body}");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        for field in ["param", "code"] {
            assert!(
                error.get(field).is_some(),
                "OpenAI's error shape has `{field}` (null when unset): {body}"
            );
        }
        error
    }
}

/// The text a stream of `chat.completion.chunk`s adds up to.
pub fn streamed_text(events: &[String]) -> String {
    events
        .iter()
        .filter(|e| e.as_str() != "[DONE]")
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|chunk| {
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

/// How many replies were served by each deployment id.
pub fn count_by_deployment(replies: &[Reply]) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for reply in replies.iter().filter(|r| r.status == 200) {
        *counts.entry(reply.deployment().to_string()).or_insert(0) += 1;
    }
    counts
}

/// How many replies had `status`.
pub fn count_status(replies: &[Reply], status: u16) -> usize {
    replies.iter().filter(|r| r.status == status).count()
}

/// The value of the Prometheus sample `name{labels}` (labels as written, in order).
pub fn metric(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(sample)
                .and_then(|rest| rest.strip_prefix(' '))
                .map(|v| v.trim().parse::<f64>().unwrap())
        })
        .unwrap_or(0.0)
}
