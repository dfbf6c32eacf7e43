//! Pattern 5, quota isolation: consumers with their own keys and RPM limits share one
//! deployment; the noisy one is held to its quota and the others are untouched.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::{Value, json};

use super::check::{Sent, WindowsBefore};
use super::client::{Call, GatewayClient, average, key_for, prompt, require_group};
use super::routing::{request_json, rpm_text};
use super::{DemoEnv, DemoOutcome};
use crate::config::{Config, Consumer, ModelGroup};
use crate::render::{Output, Table, Tone, percent, seconds};

/// The model group the consumers share.
pub const SHARED_GROUP: &str = "isolated";

/// Each consumer that may use the shared group sends `requests` parallel requests at once:
/// the consumers and their quotas, the requests as they land, each consumer's share, and the
/// verdict.
pub async fn run(env: &DemoEnv, requests: u32, out: &Output) -> anyhow::Result<DemoOutcome> {
    let config = &env.config;
    let group = require_group(config, SHARED_GROUP, "isolate")?;
    let consumers = sharing_consumers(config)?;
    let client = GatewayClient::new(&env.gateway_url)?;
    client.check_reachable().await?;
    let model = announce(group, &consumers, out);
    let sent = send(&client, config, &consumers, requests, out).await;

    let shares: Vec<Share> = consumers
        .iter()
        .map(|c| Share::of(c, &sent.calls, requests))
        .collect();
    show_analysis(&shares, out);
    let verdict = Verdict::of(&shares, requests);
    let served: Vec<&Call> = sent
        .calls
        .iter()
        .map(|sent| &sent.call)
        .filter(|call| call.succeeded())
        .collect();
    let short = verdict.short.clone();
    let checked = sent.check(env, verdict.counts_match, short, &served).await;
    let (tone, line) = verdict.headline(checked.passed, requests);
    out.log(tone, &line);
    Ok(DemoOutcome {
        id: "isolate",
        pattern: "quota isolation",
        expected: verdict.expected,
        observed: verdict.observed,
        passed: checked.passed,
        diagnosis: checked.diagnosis,
        figures: json!({
            "requests_per_consumer": requests,
            "sandbox_check": checked.sandbox,
            "consumers": shares.iter().map(Share::to_json).collect::<Vec<_>>(),
            "routing_table": consumers.iter().map(|c| consumer_route_json(c, &model)).collect::<Vec<_>>(),
            "attempts": sent.calls.iter().map(ConsumerCall::to_json).collect::<Vec<_>>(),
        }),
    })
}

/// The consumers whose keys may call the shared group, or an error when fewer than two can.
fn sharing_consumers(config: &Config) -> anyhow::Result<Vec<&Consumer>> {
    let consumers: Vec<&Consumer> = config
        .gateway
        .consumers
        .iter()
        .filter(|c| c.models.iter().any(|m| m == SHARED_GROUP))
        .collect();
    anyhow::ensure!(
        consumers.len() >= 2,
        "demo isolate needs at least two gateway.consumers whose models include {SHARED_GROUP:?} in {}",
        config.source.display()
    );
    Ok(consumers)
}

/// The opening: each consumer with the shared model and its quota; returns that model.
fn announce(group: &ModelGroup, consumers: &[&Consumer], out: &Output) -> String {
    out.heading("PATTERN 5: QUOTA ISOLATION");
    let model = group
        .deployments
        .first()
        .map(|d| d.model.clone())
        .unwrap_or_default();
    let mut setup = Table::new(["Consumer", "Model", "Max RPM", "Type"]);
    for c in consumers {
        setup.row([
            c.name.clone(),
            model.clone(),
            rpm_text(c.rpm_limit),
            tier(c),
        ]);
    }
    out.table(&setup);
    out.log(Tone::Info, "Starting consumers...");
    model
}

/// Reads the windows of the shared group and of every consumer, then sends every consumer's
/// requests at once and narrates each as it lands.
async fn send(
    client: &GatewayClient,
    config: &Config,
    consumers: &[&Consumer],
    requests: u32,
    out: &Output,
) -> Sent<ConsumerCall> {
    let names: Vec<&str> = consumers.iter().map(|c| c.name.as_str()).collect();
    let health_key = key_for(config, SHARED_GROUP)
        .or_else(|| consumers.first().map(|c| c.key.expose().to_string()));
    let before = WindowsBefore::read(
        client.health(health_key.as_deref()).await.as_ref(),
        &[SHARED_GROUP],
        &names,
    );
    let mut pending: FuturesUnordered<_> = consumers
        .iter()
        .flat_map(|c| (1..=requests).map(move |n| (*c, n)))
        .map(|(consumer, n)| {
            let client = client.clone();
            let key = consumer.key.expose().to_string();
            let name = consumer.name.clone();
            async move {
                let call = client.chat(n, Some(&key), SHARED_GROUP, &prompt(n)).await;
                ConsumerCall {
                    consumer: name,
                    call,
                }
            }
        })
        .collect();
    let at = Instant::now();
    let mut calls = Vec::new();
    while let Some(landed) = pending.next().await {
        landed.narrate(out);
        calls.push(landed);
    }
    out.log(
        Tone::Info,
        &format!(
            "Demo completed in {:.1} seconds",
            at.elapsed().as_secs_f64()
        ),
    );
    Sent { calls, before, at }
}

/// The walkthrough's analysis table: each consumer's success rate, counts and time.
fn show_analysis(shares: &[Share], out: &Output) {
    out.heading("QUOTA ISOLATION ANALYSIS");
    let mut table = Table::new([
        "Consumer",
        "Type",
        "Success Rate",
        "Total",
        "Success",
        "Failed",
        "Rate Limited",
        "Avg Time",
    ]);
    for share in shares {
        table.row(share.row());
    }
    out.table(&table);
}

/// How many of `requests` a consumer with `rpm_limit` gets through (`None`: no quota).
fn allowed(rpm_limit: Option<u32>, requests: u32) -> u64 {
    rpm_limit.map_or(u64::from(requests), |r| {
        u64::from(r).min(u64::from(requests))
    })
}

/// One consumer's requests, counted against its quota.
#[derive(Debug, Clone)]
struct Share<'a> {
    consumer: &'a Consumer,
    total: u64,
    success: u64,
    /// Refused with 429.
    limited: u64,
    /// Mean time of its successful requests.
    avg: Duration,
    /// How many of its requests its quota lets through.
    allowed: u64,
}

impl<'a> Share<'a> {
    /// Counts the requests `consumer` sent, of `requests`.
    fn of(consumer: &'a Consumer, calls: &[ConsumerCall], requests: u32) -> Share<'a> {
        let mine: Vec<&Call> = calls
            .iter()
            .filter(|c| c.consumer == consumer.name)
            .map(|c| &c.call)
            .collect();
        let ok: Vec<&Call> = mine
            .iter()
            .copied()
            .filter(|call| Admission::of(call) == Admission::Success)
            .collect();
        let limited = mine
            .iter()
            .filter(|call| Admission::of(call) == Admission::RateLimited)
            .count() as u64;
        Share {
            consumer,
            total: mine.len() as u64,
            success: ok.len() as u64,
            limited,
            avg: average(&ok),
            allowed: allowed(consumer.rpm_limit, requests),
        }
    }

    /// Whether the consumer got exactly what its quota allows, and a 429 for the rest.
    fn matches(&self) -> bool {
        self.success == self.allowed && self.limited == self.total - self.allowed
    }

    /// What fell short when every request was answered but the consumer got fewer than its
    /// quota allows (a sign of windows still full from an earlier run).
    fn shortfall(&self) -> Option<String> {
        (self.success < self.allowed && self.success + self.limited == self.total).then(|| {
            format!(
                "consumer {} got {} of the {} requests its RPM allows",
                self.consumer.name, self.success, self.allowed
            )
        })
    }

    /// `A (3/5)` when the consumer was held to its quota.
    fn held(&self) -> Option<String> {
        (self.limited > 0)
            .then(|| format!("{} ({}/{})", self.consumer.name, self.success, self.total))
    }

    /// Its row of the analysis table.
    fn row(&self) -> [String; 8] {
        [
            self.consumer.name.clone(),
            tier(self.consumer).to_uppercase(),
            percent(self.success, self.total),
            self.total.to_string(),
            self.success.to_string(),
            (self.total - self.success).to_string(),
            self.limited.to_string(),
            seconds(self.avg),
        ]
    }

    /// Its figures in `--json`.
    fn to_json(&self) -> Value {
        json!({
            "consumer": self.consumer.name,
            "tier": self.consumer.tier,
            "rpm_limit": self.consumer.rpm_limit,
            "total": self.total,
            "success": self.success,
            "failed": self.total - self.success,
            "rate_limited": self.limited,
            "avg_time_s": self.avg.as_secs_f64(),
        })
    }
}

/// The verdict over every consumer's share.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Verdict {
    /// Whether every consumer got exactly what its quota allows.
    counts_match: bool,
    /// The consumers that got fewer than their quota allows, though every request was answered.
    short: Option<String>,
    /// The consumers held to their quota: `A (3/5)`.
    held: Vec<String>,
    /// `A 3/5, B 5/5, C 5/5`: what each quota allows.
    expected: String,
    /// `A 3/5, B 5/5, C 5/5`: what each consumer got.
    observed: String,
}

impl Verdict {
    /// Judges every consumer's share of `requests` each.
    fn of(shares: &[Share], requests: u32) -> Verdict {
        let short: Vec<String> = shares.iter().filter_map(Share::shortfall).collect();
        let each = |words: &dyn Fn(&Share) -> String| {
            shares.iter().map(words).collect::<Vec<_>>().join(", ")
        };
        Verdict {
            counts_match: shares.iter().all(Share::matches),
            short: (!short.is_empty()).then(|| short.join(", ")),
            held: shares.iter().filter_map(Share::held).collect(),
            expected: each(&|s| format!("{} {}/{requests}", s.consumer.name, s.allowed)),
            observed: each(&|s| format!("{} {}/{}", s.consumer.name, s.success, s.total)),
        }
    }

    /// The closing line: who was held to its quota while the others were not, that no quota
    /// was reached, or what was expected against what was seen.
    fn headline(&self, passed: bool, requests: u32) -> (Tone, String) {
        if passed && !self.held.is_empty() {
            (
                Tone::Good,
                format!(
                    "QUOTA ISOLATION WORKING: {} held to its quota, the others were unaffected!",
                    self.held.join(", ")
                ),
            )
        } else if passed {
            (
                Tone::Good,
                format!(
                    "ALL CONSUMERS SERVED: {requests} request(s) each fit every consumer's quota, so none reached its limit and isolation was not put to the test (send more than the lowest rpm_limit with --requests to see it)"
                ),
            )
        } else {
            (
                Tone::Bad,
                format!(
                    "NOT AS EXPECTED: expected {}, observed {}",
                    self.expected, self.observed
                ),
            )
        }
    }
}

/// One request and the consumer that sent it.
struct ConsumerCall {
    consumer: String,
    call: Call,
}

impl ConsumerCall {
    /// The walkthrough's line as it lands: `A | RATE LIMITED | Req # 3`.
    fn narrate(&self, out: &Output) {
        let (name, call) = (&self.consumer, &self.call);
        match Admission::of(call) {
            Admission::Success => out.log(
                Tone::Good,
                &format!(
                    "{name} | SUCCESS | Req #{:>2} | {}",
                    call.number,
                    seconds(call.elapsed)
                ),
            ),
            Admission::RateLimited => out.log(
                Tone::Warn,
                &format!("{name} | RATE LIMITED | Req #{:>2}", call.number),
            ),
            Admission::Failed => out.log(
                Tone::Bad,
                &format!(
                    "{name} | FAILED ({}) | Req #{:>2} | {}",
                    call.status,
                    call.number,
                    call.error.as_deref().unwrap_or("-")
                ),
            ),
        }
    }

    /// The request in `--json`, with the consumer that sent it.
    fn to_json(&self) -> Value {
        let mut value = request_json(&self.call, Admission::of(&self.call).as_str());
        value["consumer"] = json!(self.consumer);
        value
    }
}

fn tier(consumer: &Consumer) -> String {
    consumer.tier.clone().unwrap_or_else(|| "normal".into())
}

/// How the gateway answered one consumer's request, as the narration and the JSON tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    /// Answered 200.
    Success,
    /// Refused with 429: the consumer was over its quota.
    RateLimited,
    /// Any other answer, or none.
    Failed,
}

impl Admission {
    /// How the gateway answered `call`.
    fn of(call: &Call) -> Admission {
        if call.succeeded() {
            Admission::Success
        } else if call.rate_limited() {
            Admission::RateLimited
        } else {
            Admission::Failed
        }
    }

    /// The name used in `--json`.
    fn as_str(self) -> &'static str {
        match self {
            Admission::Success => "success",
            Admission::RateLimited => "rate_limited",
            Admission::Failed => "failed",
        }
    }
}

/// A row of the setup table in `--json`: a consumer, the shared model and its quota
/// (`rpm` is null for none).
fn consumer_route_json(consumer: &Consumer, model: &str) -> Value {
    json!({
        "consumer": consumer.name,
        "model_group": SHARED_GROUP,
        "model": model,
        "rpm": consumer.rpm_limit,
        "tier": tier(consumer),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn consumer(name: &str, rpm_limit: Option<u32>) -> Consumer {
        Consumer {
            name: name.into(),
            key: Secret::new(format!("sk-{name}")),
            tier: None,
            rpm_limit,
            tpm_limit: None,
            max_parallel_requests: None,
            models: vec![SHARED_GROUP.into()],
            sigv4: None,
            budget: None,
        }
    }

    /// `answers` from `consumer`: one request per status.
    fn calls(consumer: &str, answers: &[u16]) -> Vec<ConsumerCall> {
        answers
            .iter()
            .zip(1..)
            .map(|(status, number)| ConsumerCall {
                consumer: consumer.into(),
                call: Call {
                    number,
                    status: *status,
                    deployment: None,
                    group: None,
                    model: None,
                    elapsed: Duration::from_millis(500),
                    error: None,
                },
            })
            .collect()
    }

    #[test]
    fn a_quota_lets_through_up_to_its_rpm() {
        assert_eq!(allowed(Some(3), 5), 3);
        assert_eq!(allowed(Some(10), 5), 5);
        assert_eq!(allowed(None, 5), 5);
    }

    #[test]
    fn the_noisy_consumer_is_held_and_the_others_are_untouched() {
        let (a, b) = (consumer("A", Some(3)), consumer("B", Some(10)));
        let mut sent = calls("A", &[200, 429, 200, 429, 200]);
        sent.extend(calls("B", &[200; 5]));
        let shares = [Share::of(&a, &sent, 5), Share::of(&b, &sent, 5)];
        assert_eq!(
            (shares[0].total, shares[0].success, shares[0].limited),
            (5, 3, 2)
        );
        assert!(shares.iter().all(Share::matches));
        assert_eq!(shares[0].row()[2], "60.0%");
        let verdict = Verdict::of(&shares, 5);
        assert_eq!(
            verdict,
            Verdict {
                counts_match: true,
                short: None,
                held: vec!["A (3/5)".into()],
                expected: "A 3/5, B 5/5".into(),
                observed: "A 3/5, B 5/5".into(),
            }
        );
        assert_eq!(
            verdict.headline(true, 5).1,
            "QUOTA ISOLATION WORKING: A (3/5) held to its quota, the others were unaffected!"
        );
    }

    #[test]
    fn a_consumer_short_of_its_quota_fails_and_says_so() {
        let (a, b) = (consumer("A", Some(3)), consumer("B", Some(10)));
        let mut sent = calls("A", &[200, 429, 429, 429, 429]);
        sent.extend(calls("B", &[200, 200, 200, 200, 500]));
        let shares = [Share::of(&a, &sent, 5), Share::of(&b, &sent, 5)];
        let verdict = Verdict::of(&shares, 5);
        assert!(!verdict.counts_match);
        // B's 500 is no refusal: only A's shortfall can be stale windows.
        assert_eq!(
            verdict.short.as_deref(),
            Some("consumer A got 1 of the 3 requests its RPM allows")
        );
        assert_eq!(
            verdict.headline(false, 5),
            (
                Tone::Bad,
                "NOT AS EXPECTED: expected A 3/5, B 5/5, observed A 1/5, B 4/5".to_string()
            )
        );
    }

    #[test]
    fn requests_within_every_quota_say_isolation_was_not_tested() {
        let (a, b) = (consumer("A", Some(3)), consumer("B", None));
        let mut sent = calls("A", &[200]);
        sent.extend(calls("B", &[200]));
        let verdict = Verdict::of(&[Share::of(&a, &sent, 1), Share::of(&b, &sent, 1)], 1);
        assert!(verdict.counts_match && verdict.held.is_empty());
        assert!(
            verdict
                .headline(true, 1)
                .1
                .starts_with("ALL CONSUMERS SERVED: 1 request(s) each fit every consumer's quota")
        );
    }
}
