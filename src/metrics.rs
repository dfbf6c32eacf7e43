//! Prometheus metrics for `/metrics`, kept in atomics indexed at start-up so the hot path
//! takes no lock and formats nothing.
//!
//! Per model group: requests, responses by status, request latency. Per deployment: calls by
//! outcome, upstream latency, tokens, cooldowns. Global: refusals by reason, retries,
//! fallbacks, errors by OpenAI type.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::config::{Config, Deployment};
use crate::provider::ErrorKind;
use crate::router::{DeploymentRefusal, LimitKind};

/// Upper bounds of the latency histograms, in seconds.
const BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0,
];

/// A latency histogram.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let seconds = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// How a call to a deployment ended, for the calls counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallResult {
    Success,
    RateLimited,
    Failed,
    ClientError,
}

impl CallResult {
    const ALL: [CallResult; 4] = [
        CallResult::Success,
        CallResult::RateLimited,
        CallResult::Failed,
        CallResult::ClientError,
    ];

    pub fn label(self) -> &'static str {
        match self {
            CallResult::Success => "success",
            CallResult::RateLimited => "rate_limited",
            CallResult::Failed => "failed",
            CallResult::ClientError => "client_error",
        }
    }
}

/// Why a request was refused before any upstream call, for the refusals counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    ConsumerRpm,
    ConsumerTpm,
    ConsumerParallel,
    NoCapacity,
    /// A spend budget could not take the request.
    Budget,
}

impl RefusalReason {
    pub const ALL: [RefusalReason; 5] = [
        RefusalReason::ConsumerRpm,
        RefusalReason::ConsumerTpm,
        RefusalReason::ConsumerParallel,
        RefusalReason::NoCapacity,
        RefusalReason::Budget,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RefusalReason::ConsumerRpm => "consumer_rpm",
            RefusalReason::ConsumerTpm => "consumer_tpm",
            RefusalReason::ConsumerParallel => "consumer_parallel",
            RefusalReason::NoCapacity => "no_capacity",
            RefusalReason::Budget => "budget",
        }
    }
}

/// Status classes answered, for the responses counter.
const STATUSES: [u16; 11] = [200, 400, 401, 403, 404, 413, 429, 500, 502, 503, 504];

#[derive(Debug, Default)]
struct GroupMetrics {
    requests: AtomicU64,
    responses: [AtomicU64; STATUSES.len()],
    latency: Histogram,
    fallbacks_into: AtomicU64,
}

/// Why the router passed over a deployment at admission, for the skips counter.
const SKIP_REASONS: [&str; 6] = [
    "cooling_down",
    "probe_in_flight",
    "rpm",
    "tpm",
    "parallel",
    "tpd",
];

/// The slot of `refusal` in [`SKIP_REASONS`]; exhaustive, so a new refusal needs a label.
fn skip_slot(refusal: &DeploymentRefusal) -> usize {
    match refusal {
        DeploymentRefusal::CoolingDown { .. } => 0,
        DeploymentRefusal::ProbeInFlight => 1,
        DeploymentRefusal::OverLimit(exceeded) => match exceeded.kind {
            LimitKind::Rpm => 2,
            LimitKind::Tpm => 3,
            LimitKind::Parallel => 4,
            LimitKind::Tpd => 5,
        },
    }
}

#[derive(Debug, Default)]
struct DeploymentMetrics {
    admissions: AtomicU64,
    skips: [AtomicU64; SKIP_REASONS.len()],
    calls: [AtomicU64; CallResult::ALL.len()],
    input_tokens: AtomicU64,
    output_tokens: AtomicU64,
    upstream_latency: Histogram,
    cooldowns: AtomicU64,
    cache_read_tokens: AtomicU64,
    cache_write_tokens: AtomicU64,
    /// Answered requests that marked a prompt-cache prefix.
    cache_marked: AtomicU64,
    /// The unread-cache warning was logged.
    cache_warned: std::sync::atomic::AtomicBool,
    /// What its calls cost, in nano-USD (a Nova Micro input token costs 35).
    spend_nano_usd: AtomicU64,
}

/// One series of a per-deployment metric: its extra label (empty for none) and its reader.
type Series = (&'static str, fn(&DeploymentMetrics) -> u64);

/// Marked requests answered without a single cache read before the deployment counts as
/// caching nothing (the first one only writes).
const CACHE_UNREAD_AFTER: u64 = 2;

impl DeploymentMetrics {
    /// Markers were sent and nothing was ever read back: the cache is not working here (a
    /// model without caching, a prefix under its minimum, a prefix that changes each time).
    fn cache_unread(&self) -> bool {
        self.cache_marked.load(Ordering::Relaxed) >= CACHE_UNREAD_AFTER
            && self.cache_read_tokens.load(Ordering::Relaxed) == 0
    }
}

/// Calls of one deployment by how they ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CallCounts {
    pub success: u64,
    pub rate_limited: u64,
    pub failed: u64,
    pub client_error: u64,
}

/// The counters since start, read at one moment ([`Metrics::totals`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    /// Requests answered, every group.
    pub requests: u64,
    /// Requests per latency bucket ([`latency_bounds`], then one past the last bound).
    pub latency: [u64; BUCKETS.len() + 1],
    /// Requests that fell back into each group.
    pub fallbacks: Vec<(String, u64)>,
    pub retries: u64,
    /// Requests refused before any upstream call, by reason.
    pub refusals: Vec<(&'static str, u64)>,
    /// Deployments passed over at admission, by reason.
    pub skips: Vec<(&'static str, u64)>,
    /// Errors answered, by OpenAI error type.
    pub errors: Vec<(&'static str, u64)>,
    /// Each deployment's calls, in config order.
    pub calls: Vec<CallCounts>,
}

/// The upper bounds of the latency buckets, in seconds.
pub fn latency_bounds() -> &'static [f64] {
    &BUCKETS
}

/// The `q` quantile (0 to 1) of the latencies counted in `buckets` (as [`Totals::latency`]),
/// in milliseconds, interpolated within its bucket as Prometheus' `histogram_quantile` does;
/// `None` with nothing counted. Past the last bound it is that bound.
pub fn latency_quantile(buckets: &[u64], q: f64) -> Option<f64> {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let mut below = 0.0;
    for (i, n) in buckets.iter().enumerate() {
        let n = *n as f64;
        if n > 0.0 && below + n >= rank {
            let Some(upper) = BUCKETS.get(i) else {
                return Some(BUCKETS[BUCKETS.len() - 1] * 1e3);
            };
            let lower = if i == 0 { 0.0 } else { BUCKETS[i - 1] };
            return Some((lower + (upper - lower) * ((rank - below) / n)) * 1e3);
        }
        below += n;
    }
    Some(BUCKETS[BUCKETS.len() - 1] * 1e3)
}

/// Every metric of one gateway.
#[derive(Debug)]
pub struct Metrics {
    groups: Vec<(String, GroupMetrics)>,
    group_index: HashMap<String, usize>,
    deployments: Vec<(String, String, DeploymentMetrics)>,
    deployment_index: HashMap<String, usize>,
    refusals: [AtomicU64; RefusalReason::ALL.len()],
    retries: AtomicU64,
    unknown_model: AtomicU64,
    errors: [AtomicU64; ErrorKind::ALL.len()],
    /// Spend per consumer (nano-USD), in config order.
    consumer_spend: Vec<(String, AtomicU64)>,
}

/// USD as nano-USD, rounded.
fn nano_usd(usd: f64) -> u64 {
    (usd * 1e9).round().max(0.0) as u64
}

impl Metrics {
    /// Metrics for every group and deployment of `config`.
    pub fn new(config: &Config) -> Self {
        let groups: Vec<(String, GroupMetrics)> = config
            .groups
            .iter()
            .map(|g| (g.name.clone(), GroupMetrics::default()))
            .collect();
        let deployments: Vec<(String, String, DeploymentMetrics)> = config
            .deployments()
            .map(|d| (d.id.clone(), d.group.clone(), DeploymentMetrics::default()))
            .collect();
        Metrics {
            group_index: groups
                .iter()
                .enumerate()
                .map(|(i, (g, _))| (g.clone(), i))
                .collect(),
            // Keyed by the unique key: two groups' deployments may share an id (and then differ
            // in the `model_group` label).
            deployment_index: config
                .deployments()
                .enumerate()
                .map(|(i, d)| (d.key.clone(), i))
                .collect(),
            groups,
            deployments,
            refusals: Default::default(),
            retries: AtomicU64::new(0),
            unknown_model: AtomicU64::new(0),
            errors: Default::default(),
            consumer_spend: config
                .gateway
                .consumers
                .iter()
                .map(|c| (c.name.clone(), AtomicU64::new(0)))
                .collect(),
        }
    }

    /// `usd` spent on a call of `deployment` for `consumer` (its name, if the caller is one).
    pub fn spend(&self, deployment: &Deployment, consumer: Option<&str>, usd: f64) {
        let nano = nano_usd(usd);
        if let Some(d) = self.deployment(deployment) {
            d.spend_nano_usd.fetch_add(nano, Ordering::Relaxed);
        }
        if let Some((_, spent)) =
            consumer.and_then(|name| self.consumer_spend.iter().find(|(n, _)| n == name))
        {
            spent.fetch_add(nano, Ordering::Relaxed);
        }
    }

    /// What each deployment's answered calls cost since start (USD): id, group, spend.
    pub fn spend_by_deployment(&self) -> Vec<(String, String, f64)> {
        self.deployments
            .iter()
            .map(|(id, group, d)| {
                let usd = d.spend_nano_usd.load(Ordering::Relaxed) as f64 / 1e9;
                (id.clone(), group.clone(), usd)
            })
            .collect()
    }

    /// What each consumer's answered calls cost since start (USD).
    pub fn spend_of_consumer(&self, name: &str) -> f64 {
        self.consumer_spend
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0.0, |(_, spent)| spent.load(Ordering::Relaxed) as f64 / 1e9)
    }

    fn render_spend(&self, out: &mut String) {
        header(
            out,
            "resilient_llm_spend_usd_total",
            "counter",
            "What answered calls cost (USD, from the price table or model_info), per deployment.",
        );
        for (id, group, d) in &self.deployments {
            let usd = d.spend_nano_usd.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "resilient_llm_spend_usd_total{{deployment=\"{id}\",model_group=\"{group}\"}} {usd}"
            );
        }
        header(
            out,
            "resilient_llm_consumer_spend_usd_total",
            "counter",
            "What answered calls cost (USD), per consumer.",
        );
        for (name, spent) in &self.consumer_spend {
            let usd = spent.load(Ordering::Relaxed) as f64 / 1e9;
            let name = name.replace('\\', "\\\\").replace('"', "\\\"");
            let _ = writeln!(
                out,
                "resilient_llm_consumer_spend_usd_total{{consumer=\"{name}\"}} {usd}"
            );
        }
    }

    fn group(&self, name: &str) -> Option<&GroupMetrics> {
        self.group_index.get(name).map(|i| &self.groups[*i].1)
    }

    /// The metrics of `deployment`, by its index (the config's deployments are numbered in
    /// the order this table was built in).
    fn deployment(&self, deployment: &Deployment) -> Option<&DeploymentMetrics> {
        self.deployments.get(deployment.index).map(|(_, _, d)| d)
    }

    fn deployment_by_key(&self, key: &str) -> Option<&DeploymentMetrics> {
        self.deployment_index
            .get(key)
            .map(|i| &self.deployments[*i].2)
    }

    /// A request for `group` finished with `status` after `latency`.
    pub fn request(&self, group: &str, status: u16, latency: Duration) {
        let Some(g) = self.group(group) else {
            self.unknown_model.fetch_add(1, Ordering::Relaxed);
            return;
        };
        g.requests.fetch_add(1, Ordering::Relaxed);
        let slot = STATUSES
            .iter()
            .position(|s| *s == status)
            .unwrap_or(STATUSES.len() - 4);
        g.responses[slot].fetch_add(1, Ordering::Relaxed);
        g.latency.observe(latency);
    }

    /// The router admitted a request to `deployment`.
    pub fn admission(&self, deployment: &Deployment) {
        if let Some(d) = self.deployment(deployment) {
            d.admissions.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The router passed over the deployment keyed `key` ([`Deployment::key`]) for `refusal`.
    pub fn skip(&self, key: &str, refusal: &DeploymentRefusal) {
        if let Some(d) = self.deployment_by_key(key) {
            d.skips[skip_slot(refusal)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One upstream call of `deployment` ended.
    pub fn call(&self, deployment: &Deployment, result: CallResult, latency: Duration) {
        if let Some(d) = self.deployment(deployment) {
            let slot = CallResult::ALL
                .iter()
                .position(|r| *r == result)
                .unwrap_or(0);
            d.calls[slot].fetch_add(1, Ordering::Relaxed);
            d.upstream_latency.observe(latency);
            if result == CallResult::RateLimited {
                d.cooldowns.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Tokens used by `deployment`.
    pub fn tokens(&self, deployment: &Deployment, input: u64, output: u64) {
        if let Some(d) = self.deployment(deployment) {
            d.input_tokens.fetch_add(input, Ordering::Relaxed);
            d.output_tokens.fetch_add(output, Ordering::Relaxed);
        }
    }

    /// Prompt-cache tokens `read` and `written` by one answered call of `deployment`; `marked`
    /// when the request marked a prefix. Logs a warning the first time markers are seen to
    /// be read back never.
    pub fn prompt_cache(&self, deployment: &Deployment, read: u64, written: u64, marked: bool) {
        let Some(d) = self.deployment(deployment) else {
            return;
        };
        d.cache_read_tokens.fetch_add(read, Ordering::Relaxed);
        d.cache_write_tokens.fetch_add(written, Ordering::Relaxed);
        if marked {
            d.cache_marked.fetch_add(1, Ordering::Relaxed);
        }
        if d.cache_unread() && !d.cache_warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(deployment = %deployment.id, model = %deployment.model,
                "requests mark prompt-cache prefixes but this deployment has never read one back: check that the model caches, that the prefix reaches its minimum length, and that it does not change between requests");
        }
    }

    /// A request was refused before any upstream call.
    pub fn refusal(&self, reason: RefusalReason) {
        let slot = RefusalReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.refusals[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// An error of `kind` was answered (a response or a mid-stream error event).
    pub fn error(&self, kind: ErrorKind) {
        self.errors[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A retry of an upstream call.
    pub fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// A request moved on to fallback group `group`.
    pub fn fallback(&self, group: &str) {
        if let Some(g) = self.group(group) {
            g.fallbacks_into.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counters a live view reads each second (the dashboard's feed).
    pub fn totals(&self) -> Totals {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut latency = [0; BUCKETS.len() + 1];
        let mut requests = 0;
        for (_, g) in &self.groups {
            requests += read(&g.requests);
            let mut counted = 0;
            for (i, bucket) in g.latency.buckets.iter().enumerate() {
                let n = read(bucket);
                latency[i] += n;
                counted += n;
            }
            // Past the last bound.
            latency[BUCKETS.len()] += read(&g.latency.count).saturating_sub(counted);
        }
        let mut skips = [0; SKIP_REASONS.len()];
        let mut calls = Vec::with_capacity(self.deployments.len());
        for (_, _, d) in &self.deployments {
            for (slot, n) in d.skips.iter().enumerate() {
                skips[slot] += read(n);
            }
            calls.push(CallCounts {
                success: read(&d.calls[0]),
                rate_limited: read(&d.calls[1]),
                failed: read(&d.calls[2]),
                client_error: read(&d.calls[3]),
            });
        }
        Totals {
            requests,
            latency,
            fallbacks: self
                .groups
                .iter()
                .map(|(name, g)| (name.clone(), read(&g.fallbacks_into)))
                .collect(),
            retries: read(&self.retries),
            refusals: RefusalReason::ALL
                .iter()
                .zip(&self.refusals)
                .map(|(r, n)| (r.label(), read(n)))
                .collect(),
            skips: SKIP_REASONS.iter().copied().zip(skips).collect(),
            errors: ErrorKind::ALL
                .iter()
                .zip(&self.errors)
                .map(|(k, n)| (k.openai_type(), read(n)))
                .collect(),
            calls,
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        self.render_groups(&mut out);
        self.render_deployments(&mut out);
        self.render_spend(&mut out);
        self.render_totals(&mut out);
        out
    }

    /// Per model group: requests, responses by code, latency, fallbacks.
    fn render_groups(&self, out: &mut String) {
        header(
            out,
            "resilient_llm_requests_total",
            "counter",
            "Requests received per model group.",
        );
        for (name, g) in &self.groups {
            let _ = writeln!(
                out,
                "resilient_llm_requests_total{{model_group=\"{name}\"}} {}",
                g.requests.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "resilient_llm_unknown_model_requests_total {}",
            self.unknown_model.load(Ordering::Relaxed)
        );
        header(
            out,
            "resilient_llm_responses_total",
            "counter",
            "Responses per model group and HTTP status.",
        );
        for (name, g) in &self.groups {
            for (i, status) in STATUSES.iter().enumerate() {
                let n = g.responses[i].load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "resilient_llm_responses_total{{model_group=\"{name}\",code=\"{status}\"}} {n}"
                    );
                }
            }
        }
        header(
            out,
            "resilient_llm_fallbacks_total",
            "counter",
            "Requests that moved on to this fallback group.",
        );
        for (name, g) in &self.groups {
            let _ = writeln!(
                out,
                "resilient_llm_fallbacks_total{{model_group=\"{name}\"}} {}",
                g.fallbacks_into.load(Ordering::Relaxed)
            );
        }
        header(
            out,
            "resilient_llm_request_duration_seconds",
            "histogram",
            "Whole-request latency per model group.",
        );
        for (name, g) in &self.groups {
            g.latency.render(
                out,
                "resilient_llm_request_duration_seconds",
                &format!("model_group=\"{name}\""),
            );
        }
    }

    /// Per deployment: calls by outcome, admissions, skips, cooldowns, tokens, upstream latency.
    fn render_deployments(&self, out: &mut String) {
        self.render_deployment_traffic(out);
        self.render_deployment_usage(out);
    }

    /// Per deployment: calls by outcome, admissions, skips at admission.
    fn render_deployment_traffic(&self, out: &mut String) {
        header(
            out,
            "resilient_llm_deployment_calls_total",
            "counter",
            "Upstream calls per deployment and outcome.",
        );
        for (id, group, d) in &self.deployments {
            for (i, result) in CallResult::ALL.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "resilient_llm_deployment_calls_total{{deployment=\"{id}\",model_group=\"{group}\",outcome=\"{}\"}} {}",
                    result.label(),
                    d.calls[i].load(Ordering::Relaxed)
                );
            }
        }
        self.per_deployment(
            out,
            ("resilient_llm_tokens_total", "counter"),
            "Tokens per deployment and direction.",
            &[
                ("direction=\"input\"", |d| {
                    d.input_tokens.load(Ordering::Relaxed)
                }),
                ("direction=\"output\"", |d| {
                    d.output_tokens.load(Ordering::Relaxed)
                }),
            ],
        );
        self.per_deployment(
            out,
            ("resilient_llm_prompt_cache_tokens_total", "counter"),
            "Prompt-cache tokens per deployment, read or written.",
            &[
                ("kind=\"read\"", |d| {
                    d.cache_read_tokens.load(Ordering::Relaxed)
                }),
                ("kind=\"write\"", |d| {
                    d.cache_write_tokens.load(Ordering::Relaxed)
                }),
            ],
        );
        self.per_deployment(
            out,
            (
                "resilient_llm_prompt_cache_marked_requests_total",
                "counter",
            ),
            "Answered requests that marked a prompt-cache prefix, per deployment.",
            &[("", |d| d.cache_marked.load(Ordering::Relaxed))],
        );
        self.per_deployment(
            out,
            ("resilient_llm_prompt_cache_unread", "gauge"),
            "1 when requests marked prompt-cache prefixes but the deployment never read one back.",
            &[("", |d| u64::from(d.cache_unread()))],
        );
        self.per_deployment(
            out,
            ("resilient_llm_admissions_total", "counter"),
            "Requests the router admitted per deployment (each attempt, retries included).",
            &[("", |d| d.admissions.load(Ordering::Relaxed))],
        );
    }

    /// One metric (`name`, `kind`) with a line per deployment and per entry of `series`: its
    /// extra label (empty for none) and its value.
    fn per_deployment(
        &self,
        out: &mut String,
        (name, kind): (&str, &str),
        help: &str,
        series: &[Series],
    ) {
        header(out, name, kind, help);
        for (id, group, d) in &self.deployments {
            for (label, value) in series {
                let extra = if label.is_empty() {
                    String::new()
                } else {
                    format!(",{label}")
                };
                let _ = writeln!(
                    out,
                    "{name}{{deployment=\"{id}\",model_group=\"{group}\"{extra}}} {}",
                    value(d)
                );
            }
        }
    }

    /// Per deployment: cooldowns, tokens, upstream latency.
    fn render_deployment_usage(&self, out: &mut String) {
        header(
            out,
            "resilient_llm_deployment_skips_total",
            "counter",
            "Deployments passed over at admission, by reason (cooling_down, probe_in_flight, rpm, tpm).",
        );
        for (id, group, d) in &self.deployments {
            for (reason, count) in SKIP_REASONS.iter().zip(&d.skips) {
                let _ = writeln!(
                    out,
                    "resilient_llm_deployment_skips_total{{deployment=\"{id}\",model_group=\"{group}\",reason=\"{reason}\"}} {}",
                    count.load(Ordering::Relaxed)
                );
            }
        }
        header(
            out,
            "resilient_llm_cooldowns_total",
            "counter",
            "Cooldowns started or extended by upstream throttling.",
        );
        for (id, group, d) in &self.deployments {
            let _ = writeln!(
                out,
                "resilient_llm_cooldowns_total{{deployment=\"{id}\",model_group=\"{group}\"}} {}",
                d.cooldowns.load(Ordering::Relaxed)
            );
        }
        header(
            out,
            "resilient_llm_upstream_duration_seconds",
            "histogram",
            "Upstream call latency per deployment.",
        );
        for (id, group, d) in &self.deployments {
            d.upstream_latency.render(
                out,
                "resilient_llm_upstream_duration_seconds",
                &format!("deployment=\"{id}\",model_group=\"{group}\""),
            );
        }
    }

    /// Gateway-wide: refusals by reason, errors by type, unknown models, retries.
    fn render_totals(&self, out: &mut String) {
        header(
            out,
            "resilient_llm_refusals_total",
            "counter",
            "Requests refused before any upstream call, by reason.",
        );
        for (i, reason) in RefusalReason::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "resilient_llm_refusals_total{{reason=\"{}\"}} {}",
                reason.label(),
                self.refusals[i].load(Ordering::Relaxed)
            );
        }
        header(
            out,
            "resilient_llm_errors_total",
            "counter",
            "Errors answered to clients, by kind (named by OpenAI's error types, whatever the surface).",
        );
        for (i, kind) in ErrorKind::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "resilient_llm_errors_total{{type=\"{}\"}} {}",
                kind.openai_type(),
                self.errors[i].load(Ordering::Relaxed)
            );
        }
        header(
            out,
            "resilient_llm_retries_total",
            "counter",
            "Upstream calls retried.",
        );
        let _ = writeln!(
            out,
            "resilient_llm_retries_total {}",
            self.retries.load(Ordering::Relaxed)
        );
    }
}

/// The `resilient_llm_state_store_degraded` gauge: 1 while the shared (Redis) store is away
/// and this replica runs on local limits, else 0.
pub fn state_store_gauge(degraded: bool) -> String {
    let mut out = String::new();
    header(
        &mut out,
        "resilient_llm_state_store_degraded",
        "gauge",
        "1 while the shared state store is unreachable and local limits are in force.",
    );
    let _ = writeln!(
        out,
        "resilient_llm_state_store_degraded {}",
        u8::from(degraded)
    );
    out
}

/// One quota gauge: its name, its help and its reading of a deployment (`None`: not shown).
type QuotaSeries = (
    &'static str,
    &'static str,
    fn(&crate::router::DeploymentHealth) -> Option<u64>,
);

/// The quota gauges of every deployment, from the state store's snapshot: tokens held in the
/// current minute window and the last 24 hours (Bedrock's quota units: reservations, then
/// charges), and what is left of `tpm` and `tpd` where set.
pub fn quota_gauges(deployments: &[crate::router::DeploymentHealth]) -> String {
    let mut out = String::new();
    let series: [QuotaSeries; 4] = [
        (
            "resilient_llm_deployment_quota_tokens_in_window",
            "Tokens held in the deployment's 60-second window, in Bedrock's quota units.",
            |d| Some(d.tokens_in_window),
        ),
        (
            "resilient_llm_deployment_quota_tokens_in_day",
            "Tokens held in the deployment's last 24 hours, in Bedrock's quota units.",
            |d| Some(d.tokens_in_day),
        ),
        (
            "resilient_llm_deployment_tpm_remaining",
            "What is left of the deployment's tpm now (only where tpm is set).",
            |d| d.tpm_limit.map(|l| l.saturating_sub(d.tokens_in_window)),
        ),
        (
            "resilient_llm_deployment_tpd_remaining",
            "What is left of the deployment's tpd now (only where tpd is set).",
            |d| d.tpd_limit.map(|l| l.saturating_sub(d.tokens_in_day)),
        ),
    ];
    for (name, help, value) in series {
        header(&mut out, name, "gauge", help);
        for d in deployments {
            if let Some(v) = value(d) {
                let _ = writeln!(
                    out,
                    "{name}{{deployment=\"{}\",model_group=\"{}\"}} {v}",
                    d.id, d.model_group
                );
            }
        }
    }
    out
}

/// The `resilient_llm_runtime_tasks` gauge: tasks alive in the async runtime (connections,
/// requests, streams being forwarded, background work). Flat under steady load; a steady climb
/// is a leak. Empty outside a runtime.
pub fn runtime_gauge() -> String {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return String::new();
    };
    let mut out = String::new();
    header(
        &mut out,
        "resilient_llm_runtime_tasks",
        "gauge",
        "Tasks alive in the async runtime.",
    );
    let _ = writeln!(
        out,
        "resilient_llm_runtime_tasks {}",
        runtime.metrics().num_alive_tasks()
    );
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_quantiles_interpolate_within_their_bucket() {
        let mut buckets = [0; BUCKETS.len() + 1];
        assert_eq!(latency_quantile(&buckets, 0.5), None);
        // 10 requests in (5 ms, 10 ms]: the median is half way.
        buckets[2] = 10;
        assert_eq!(latency_quantile(&buckets, 0.5), Some(7.5));
        assert_eq!(latency_quantile(&buckets, 1.0), Some(10.0));
        // One more past the last bound: p99 of 11 lands in it and reads as that bound.
        buckets[BUCKETS.len()] = 1;
        assert_eq!(latency_quantile(&buckets, 0.99), Some(120_000.0));
    }
    use crate::router::Exceeded;

    #[test]
    fn each_refusal_counts_under_its_own_reason() {
        let over = |kind| {
            DeploymentRefusal::OverLimit(Exceeded {
                kind,
                limit: 1,
                retry_after: Duration::ZERO,
            })
        };
        let refusals = [
            DeploymentRefusal::CoolingDown {
                retry_after: Duration::ZERO,
            },
            DeploymentRefusal::ProbeInFlight,
            over(LimitKind::Rpm),
            over(LimitKind::Tpm),
            over(LimitKind::Parallel),
        ];
        let slots: Vec<usize> = refusals.iter().map(skip_slot).collect();
        assert_eq!(slots, [0, 1, 2, 3, 4]);
        for refusal in &refusals {
            assert_eq!(SKIP_REASONS[skip_slot(refusal)], refusal.reason());
        }
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_millis(300));
        let mut out = String::new();
        h.render(&mut out, "x", "g=\"a\"");
        assert!(out.contains("x_bucket{g=\"a\",le=\"0.005\"} 1"), "{out}");
        assert!(out.contains("x_bucket{g=\"a\",le=\"0.5\"} 2"), "{out}");
        assert!(out.contains("x_bucket{g=\"a\",le=\"+Inf\"} 2"), "{out}");
        assert!(out.contains("x_count{g=\"a\"} 2"), "{out}");
    }
}
