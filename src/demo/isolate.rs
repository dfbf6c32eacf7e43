//! Pattern 5, quota isolation: consumers with their own keys and RPM limits share one
//! deployment; the noisy one is held to its quota and the others are untouched.

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::{Value, json};

use super::check::{WindowsBefore, apply_sandbox_check, sandbox_check};
use super::client::{Call, GatewayClient, average, key_for, prompt, require_group};
use super::routing::{request_json, rpm_text};
use super::{DemoEnv, DemoOutcome};
use crate::config::Consumer;
use crate::render::{Output, Table, Tone, percent, seconds};

/// The model group the consumers share.
pub const SHARED_GROUP: &str = "isolated";

/// Each consumer that may use the shared group sends `requests` parallel requests at once.
pub async fn run(env: &DemoEnv, requests: u32, out: &Output) -> anyhow::Result<DemoOutcome> {
    let config = &env.config;
    let group = require_group(config, SHARED_GROUP, "isolate")?;
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
    let client = GatewayClient::new(&env.gateway_url)?;
    client.check_reachable().await?;

    out.heading("PATTERN 5: QUOTA ISOLATION");
    let model = group
        .deployments
        .first()
        .map(|d| d.model.clone())
        .unwrap_or_default();
    let mut setup = Table::new(["Consumer", "Model", "Max RPM", "Type"]);
    for c in &consumers {
        setup.row([
            c.name.clone(),
            model.clone(),
            rpm_text(c.rpm_limit),
            tier(c),
        ]);
    }
    out.table(&setup);
    out.log(Tone::Info, "Starting consumers...");
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
                (
                    name,
                    client.chat(n, Some(&key), SHARED_GROUP, &prompt(n)).await,
                )
            }
        })
        .collect();
    let started = std::time::Instant::now();
    let mut calls: Vec<(String, Call)> = Vec::new();
    while let Some((name, call)) = pending.next().await {
        match Admission::of(&call) {
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
        calls.push((name, call));
    }
    out.log(
        Tone::Info,
        &format!(
            "Demo completed in {:.1} seconds",
            started.elapsed().as_secs_f64()
        ),
    );

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
    let mut figures = Vec::new();
    let mut observed = Vec::new();
    let mut expected = Vec::new();
    let mut passed = true;
    let mut short = Vec::new();
    let mut held = Vec::new();
    for c in &consumers {
        let mine: Vec<&Call> = calls
            .iter()
            .filter(|(n, _)| *n == c.name)
            .map(|(_, call)| call)
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
        let total = mine.len() as u64;
        let success = ok.len() as u64;
        table.row([
            c.name.clone(),
            tier(c).to_uppercase(),
            percent(success, total),
            total.to_string(),
            success.to_string(),
            (total - success).to_string(),
            limited.to_string(),
            seconds(average(&ok)),
        ]);
        let want = c.rpm_limit.map_or(u64::from(requests), |r| {
            u64::from(r).min(u64::from(requests))
        });
        passed &= success == want && limited == total - want;
        if success < want && success + limited == total {
            short.push(format!(
                "consumer {} got {success} of the {want} requests its RPM allows",
                c.name
            ));
        }
        if limited > 0 {
            held.push(format!("{} ({success}/{total})", c.name));
        }
        expected.push(format!("{} {want}/{requests}", c.name));
        observed.push(format!("{} {success}/{total}", c.name));
        figures.push(json!({
            "consumer": c.name,
            "tier": c.tier,
            "rpm_limit": c.rpm_limit,
            "total": total,
            "success": success,
            "failed": total - success,
            "rate_limited": limited,
            "avg_time_s": average(&ok).as_secs_f64(),
        }));
    }
    out.table(&table);
    let mut diagnosis = Vec::new();
    if !passed {
        let short = (!short.is_empty()).then(|| short.join(", "));
        diagnosis.extend(before.stale(started.elapsed(), short.as_deref()));
    }
    let served: Vec<&Call> = calls
        .iter()
        .map(|(_, call)| call)
        .filter(|call| call.succeeded())
        .collect();
    let sandbox = apply_sandbox_check(
        sandbox_check(env, &served).await,
        &mut passed,
        &mut diagnosis,
    );
    if passed && !held.is_empty() {
        out.log(
            Tone::Good,
            &format!(
                "QUOTA ISOLATION WORKING: {} held to its quota, the others were unaffected!",
                held.join(", ")
            ),
        );
    } else if passed {
        out.log(Tone::Good, &format!("ALL CONSUMERS SERVED: {requests} request(s) each fit every consumer's quota, so none reached its limit and isolation was not put to the test (send more than the lowest rpm_limit with --requests to see it)"));
    } else {
        out.log(
            Tone::Bad,
            &format!(
                "NOT AS EXPECTED: expected {}, observed {}",
                expected.join(", "),
                observed.join(", ")
            ),
        );
    }
    Ok(DemoOutcome {
        id: "isolate",
        pattern: "quota isolation",
        expected: expected.join(", "),
        observed: observed.join(", "),
        passed,
        diagnosis,
        figures: json!({
            "requests_per_consumer": requests,
            "sandbox_check": sandbox,
            "consumers": figures,
            "routing_table": consumers.iter().map(|c| consumer_route_json(c, &model)).collect::<Vec<_>>(),
            "attempts": calls.iter().map(|(name, call)| attempt_json(name, call)).collect::<Vec<_>>(),
        }),
    })
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

/// One narrated request in `--json`, with the consumer that sent it.
fn attempt_json(consumer: &str, call: &Call) -> Value {
    let mut value = request_json(call, Admission::of(call).as_str());
    value["consumer"] = json!(consumer);
    value
}
