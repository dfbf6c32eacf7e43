//! Pattern 4, load balancing: simple-shuffle spreads requests over two deployments of one
//! group up to their limits, and the overflow group takes the rest.

use serde_json::json;

use super::client::{Call, GatewayClient, average, key_for, require_group};
use super::fallback::usage_table;
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
    let mut setup = Table::new(["Deployment", "Model", "Max RPM", "Type", "Purpose"]);
    for (i, d) in balanced.deployments.iter().enumerate() {
        setup.row([
            d.id.clone(),
            d.model.clone(),
            d.rpm.map_or_else(|| "unlimited".into(), |r| r.to_string()),
            "Primary".into(),
            format!("Load balanced instance {}", i + 1),
        ]);
    }
    for d in overflow.iter().flat_map(|g| g.deployments.iter()) {
        setup.row([
            d.id.clone(),
            d.model.clone(),
            d.rpm.map_or_else(|| "unlimited".into(), |r| r.to_string()),
            "Fallback".into(),
            "Overflow capacity".into(),
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
            match (
                call.succeeded(),
                call.group.as_deref() == Some(BALANCED_GROUP),
            ) {
                (true, true) => out.log(Tone::Good, &line),
                (true, false) => out.log(Tone::Warn, &format!("{line} [overflow]")),
                (false, _) => out.log(
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
    let overflowed = succeeded
        .iter()
        .filter(|c| c.group.as_deref() != Some(BALANCED_GROUP))
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
        }),
    })
}
