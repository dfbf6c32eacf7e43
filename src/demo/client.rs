//! The demos' view of a gateway: one chat call, and where the gateway says it went
//! (from its `x-resilient-llm-*` headers, never guessed from model names).

use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::json;

use crate::config::{Config, Consumer};

/// One request through the gateway, as the demos report it.
#[derive(Debug, Clone)]
pub struct Call {
    /// 1-based request number.
    pub number: u32,
    pub status: u16,
    /// The deployment that served it (`x-resilient-llm-deployment`).
    pub deployment: Option<String>,
    /// The model group that served it (`x-resilient-llm-model-group`).
    pub group: Option<String>,
    /// The reply's `model`: the deployment's underlying model id.
    pub model: Option<String>,
    pub elapsed: Duration,
    /// The gateway's error message, for failures.
    pub error: Option<String>,
}

impl Call {
    /// Whether the gateway answered 200.
    pub fn succeeded(&self) -> bool {
        self.status == 200
    }

    /// Whether the gateway refused with 429.
    pub fn rate_limited(&self) -> bool {
        self.status == 429
    }
}

/// A client for one gateway.
#[derive(Clone)]
pub struct GatewayClient {
    http: reqwest::Client,
    base: String,
}

impl GatewayClient {
    /// A client for the gateway at `base` (`http://127.0.0.1:4000`).
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .context("cannot build an HTTP client")?;
        Ok(GatewayClient {
            http,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    /// Fails with how to start a gateway when none answers at `base`.
    pub async fn check_reachable(&self) -> anyhow::Result<()> {
        let url = format!("{}/health/liveliness", self.base);
        match self
            .http
            .get(&url)
            .timeout(Duration::from_secs(3))
            .send()
            .await
        {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => anyhow::bail!(
                "{} answered {} on /health/liveliness: is it a resilient-llm gateway?",
                self.base,
                response.status()
            ),
            Err(_) => anyhow::bail!(
                "no gateway answers at {base}. Start one in another terminal with `resilient-llm gateway serve` \
                 (it listens on gateway.port of the config), point this demo at it with --gateway URL, \
                 or run the demo offline with --sandbox",
                base = self.base
            ),
        }
    }

    /// The gateway's `/health` document, read with `key`; `None` when it does not answer
    /// with one (an older gateway, or a key that may not read it).
    pub async fn health(&self, key: Option<&str>) -> Option<serde_json::Value> {
        let mut request = self
            .http
            .get(format!("{}/health", self.base))
            .timeout(Duration::from_secs(5));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        serde_json::from_str(&response.text().await.ok()?).ok()
    }

    /// Sends `requests` chat calls to `group` at once and hands each to `on_land` as it lands
    /// (in completion order); returns them all.
    pub async fn send_concurrently(
        &self,
        key: Option<&str>,
        group: &str,
        requests: u32,
        mut on_land: impl FnMut(&Call),
    ) -> Vec<Call> {
        let mut pending: FuturesUnordered<_> = (1..=requests)
            .map(|n| async move { self.chat(n, key, group, &prompt(n)).await })
            .collect();
        let mut calls = Vec::with_capacity(requests as usize);
        while let Some(call) = pending.next().await {
            on_land(&call);
            calls.push(call);
        }
        calls
    }

    /// One chat completion for model group `group` with `key`.
    pub async fn chat(&self, number: u32, key: Option<&str>, group: &str, prompt: &str) -> Call {
        let started = Instant::now();
        let body = json!({
            "model": group,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": 64,
        });
        let mut request = self
            .http
            .post(format!("{}/v1/chat/completions", self.base))
            .header("content-type", "application/json");
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.body(body.to_string()).send().await;
        let mut call = Call {
            number,
            status: 0,
            deployment: None,
            group: None,
            model: None,
            elapsed: Duration::ZERO,
            error: None,
        };
        match response {
            Ok(response) => {
                call.status = response.status().as_u16();
                let header = |name: &str| {
                    response
                        .headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                call.deployment = header("x-resilient-llm-deployment");
                call.group = header("x-resilient-llm-model-group");
                let text = response.text().await.unwrap_or_default();
                let document: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                call.model = document["model"].as_str().map(str::to_string);
                call.error = document["error"]["message"].as_str().map(str::to_string);
            }
            Err(error) => call.error = Some(format!("no answer from the gateway: {error}")),
        }
        call.elapsed = started.elapsed();
        call
    }
}

/// The key a demo uses for `group`: the master key, else a consumer without quotas that may
/// use it (the config's `demo-app`), else none (an open gateway).
pub fn key_for(config: &Config, group: &str) -> Option<String> {
    if let Some(master) = &config.gateway.master_key {
        return Some(master.expose().to_string());
    }
    let unlimited =
        |c: &&Consumer| c.may_use(group) && c.rpm_limit.is_none() && c.tpm_limit.is_none();
    config
        .gateway
        .consumers
        .iter()
        .find(unlimited)
        .map(|c| c.key.expose().to_string())
}

/// The group a demo needs, or an error naming it and the config file.
pub fn require_group<'a>(
    config: &'a Config,
    name: &str,
    demo: &str,
) -> anyhow::Result<&'a crate::config::ModelGroup> {
    config.group(name).with_context(|| {
        format!(
            "demo {demo} needs a model group named {name:?} in {} (see config/config.yaml for the walkthrough's setup)",
            config.source.display()
        )
    })
}

/// Summed RPM of a group's deployments (`None` if any is unlimited).
pub fn group_rpm(group: &crate::config::ModelGroup) -> Option<u64> {
    group.deployments.iter().map(|d| d.rpm.map(u64::from)).sum()
}

/// The walkthrough's prompts, varied per request so replies differ.
pub fn prompt(number: u32) -> String {
    format!("Request {number}: in one sentence, why do agentic workloads need resilient inference?")
}

/// Average elapsed time of `calls` (zero when empty).
pub fn average(calls: &[&Call]) -> Duration {
    if calls.is_empty() {
        return Duration::ZERO;
    }
    calls.iter().map(|c| c.elapsed).sum::<Duration>() / calls.len() as u32
}
