//! Pattern 4, load balancing: simple-shuffle spreads requests over two deployments of one
//! group up to their limits, and the overflow group takes the rest.

use serde_json::json;

use super::client::{Call, GatewayClient, average, key_for, require_group};
use super::fallback::{Route, request_json, routing_table, rpm_text, usage_table};
use super::{DemoEnv, DemoOutcome};
use crate::render::{Output, Table, Tone, seconds};

/// The model group the demo calls.
pub const BALANCED_GROUP: &str = "balanced";

/// Sends `requests` concurrent requests to the balanced group and shows the split.
pub async fn run(env: &DemoEnv, requests: u32, out: &Output) -> anyhow::Result<DemoOutcome> {
    let config = &env.config;
    let balanced = require_group(config, BALANCED_GROUP, "balance")?;
    let overflow: Vec<&crate::config::ModelGroup> = config
        .router
        .fallbacks_for(BALANCED_GROUP)
        .iter()
        .filter_map(|g| config.group(g))
        .collect();
    let client = GatewayClient::new(&env.gateway_url)?;
    client.check_reachable().await?;

    out.heading("PATTERN 4: LOAD BALANCING");
    let routes = routing_table(
        balanced,
        overflow.iter().copied(),
        |i| format!("Load balanced instance {}", i + 1),
        |_| "Overflow capacity".into(),
    );
    let mut setup = Table::new(["Deployment", "Model", "Max RPM", "Type", "Purpose"]);
    for route in &routes {
        setup.row([
            route.deployment.id.clone(),
            route.deployment.model.clone(),
            rpm_text(route.deployment.rpm),
            route.role.title().into(),
            route.purpose.clone(),
        ]);
    }
    out.table(&setup);
    out.log(
        Tone::Info,
        &format!(
            "Sending {requests} concurrent requests to {BALANCED_GROUP} ({} strategy)",
            config.router.strategy.as_str()
        ),
    );

    let key = key_for(config, BALANCED_GROUP);
    let calls = client
        .send_concurrently(key.as_deref(), BALANCED_GROUP, requests, |call| {
            let line = format!(
                "Request #{:>2} → {} ({}) | Time: {}",
                call.number,
                call.deployment.as_deref().unwrap_or("-"),
                call.model.as_deref().unwrap_or("-"),
                seconds(call.elapsed)
            );
            match Spread::of(call) {
                Spread::Balanced => out.log(Tone::Good, &line),
                Spread::Overflow => out.log(Tone::Warn, &format!("{line} [overflow]")),
                Spread::Failed => out.log(
                    Tone::Bad,
                    &format!(
                        "Request #{:>2} → FAILED ({}): {}",
                        call.number,
                        call.status,
                        call.error.as_deref().unwrap_or("-")
                    ),
                ),
            }
        })
        .await;

    let succeeded: Vec<&Call> = calls.iter().filter(|c| c.succeeded()).collect();
    out.heading("LOAD BALANCING RESULTS");
    out.line(&format!("Total Requests: {requests}"));
    out.line(&format!("Successful: {}", succeeded.len()));
    out.line(&format!("Failed: {}", calls.len() - succeeded.len()));
    out.line("");
    let (table, by_deployment) = usage_table(&succeeded, u64::from(requests));
    out.table(&table);

    // The walkthrough's expectation: each balanced deployment fills to its RPM, the rest overflows.
    let mut remaining = u64::from(requests);
    let mut expected: Vec<(String, u64)> = Vec::new();
    for d in &balanced.deployments {
        let take = d.rpm.map_or(remaining, |r| u64::from(r).min(remaining));
        expected.push((d.id.clone(), take));
        remaining -= take;
    }
    let count = |id: &str| {
        succeeded
            .iter()
            .filter(|c| c.deployment.as_deref() == Some(id))
            .count() as u64
    };
    let observed: Vec<(String, u64)> = balanced
        .deployments
        .iter()
        .map(|d| (d.id.clone(), count(&d.id)))
        .collect();
    let overflowed = calls
        .iter()
        .filter(|c| Spread::of(c) == Spread::Overflow)
        .count() as u64;
    let passed = succeeded.len() == calls.len() && observed == expected && overflowed == remaining;
    let split = |parts: &[(String, u64)], rest: u64| {
        let mut text: Vec<String> = parts.iter().map(|(_, n)| n.to_string()).collect();
        text.push(rest.to_string());
        text.join(" / ")
    };
    if passed {
        out.log(Tone::Good, "LOAD BALANCING WORKING: requests distributed across multiple deployments, overflow absorbed!");
    } else {
        out.log(
            Tone::Bad,
            &format!(
                "Expected a {} split with all succeeding",
                split(&expected, remaining)
            ),
        );
    }
    Ok(DemoOutcome {
        pattern: "load balancing",
        expected: format!(
            "{} split, {requests}/{requests} succeed",
            split(&expected, remaining)
        ),
        observed: format!(
            "{} split, {}/{requests} succeed",
            split(&observed, overflowed),
            succeeded.len()
        ),
        passed,
        figures: json!({
            "requests": requests,
            "successful": succeeded.len(),
            "failed": calls.len() - succeeded.len(),
            "overflow": overflowed,
            "avg_time_s": average(&succeeded).as_secs_f64(),
            "by_deployment": by_deployment,
            "routing_table": routes.iter().map(Route::to_json).collect::<Vec<_>>(),
            "attempts": calls.iter().map(|c| request_json(c, Spread::of(c).as_str())).collect::<Vec<_>>(),
        }),
    })
}

/// Where a request landed, as the narration and the JSON tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spread {
    /// Served by one of the balanced group's deployments.
    Balanced,
    /// Served by the overflow group once the balanced deployments were full.
    Overflow,
    /// Not served at all.
    Failed,
}

impl Spread {
    /// Where the gateway says `call` went.
    fn of(call: &Call) -> Spread {
        match (
            call.succeeded(),
            call.group.as_deref() == Some(BALANCED_GROUP),
        ) {
            (true, true) => Spread::Balanced,
            (true, false) => Spread::Overflow,
            (false, _) => Spread::Failed,
        }
    }

    /// The name used in `--json`.
    fn as_str(self) -> &'static str {
        match self {
            Spread::Balanced => "balanced",
            Spread::Overflow => "overflow",
            Spread::Failed => "failed",
        }
    }
}
