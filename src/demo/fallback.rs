//! Pattern 3, fallback on rate limit: the primary group takes its RPM, the gateway sends the
//! rest to the fallback group, and every request succeeds.

use serde_json::json;

use super::client::{Call, GatewayClient, average, group_rpm, key_for, require_group};
use super::{DemoEnv, DemoOutcome};
use crate::render::{Output, Table, Tone, percent, seconds};

/// The model group the demo calls.
pub const PRIMARY_GROUP: &str = "fallback-primary";

/// Sends `requests` concurrent requests to the primary group and narrates where each landed.
pub async fn run(env: &DemoEnv, requests: u32, out: &Output) -> anyhow::Result<DemoOutcome> {
    let config = &env.config;
    let primary = require_group(config, PRIMARY_GROUP, "fallback")?;
    let fallback_groups = config.router.fallbacks_for(PRIMARY_GROUP);
    anyhow::ensure!(
        !fallback_groups.is_empty(),
        "demo fallback needs router_settings.fallbacks for {PRIMARY_GROUP:?} in {}",
        config.source.display()
    );
    let client = GatewayClient::new(&env.gateway_url)?;
    client.check_reachable().await?;

    out.heading("PATTERN 3: FALLBACK ON RATE LIMIT");
    let mut setup = Table::new(["Model", "Max RPM", "Type", "Purpose"]);
    for d in &primary.deployments {
        setup.row([
            d.model.clone(),
            rpm_text(d.rpm),
            "Primary".into(),
            "Low limit to trigger fallback".into(),
        ]);
    }
    for group in fallback_groups.iter().filter_map(|g| config.group(g)) {
        for d in &group.deployments {
            setup.row([
                d.model.clone(),
                rpm_text(d.rpm),
                "Fallback".into(),
                "Higher capacity backup".into(),
            ]);
        }
    }
    out.table(&setup);
    out.log(
        Tone::Info,
        &format!(
            "Sending {requests} concurrent requests to {PRIMARY_GROUP} through {}",
            env.gateway_url
        ),
    );

    let key = key_for(config, PRIMARY_GROUP);
    let calls = client
        .send_concurrently(key.as_deref(), PRIMARY_GROUP, requests, |call| {
            narrate(out, call);
        })
        .await;

    let succeeded: Vec<&Call> = calls.iter().filter(|c| c.succeeded()).collect();
    let on_primary = succeeded
        .iter()
        .filter(|c| c.group.as_deref() == Some(PRIMARY_GROUP))
        .count() as u64;
    let on_fallback = succeeded.len() as u64 - on_primary;
    let failed = calls.len() - succeeded.len();

    out.heading("FALLBACK DEMONSTRATION RESULTS");
    out.line(&format!("Total Requests: {requests}"));
    out.line(&format!("Successful: {}", succeeded.len()));
    out.line(&format!("Failed: {failed}"));
    out.line(&format!("Primary Model Used: {on_primary}"));
    out.line(&format!("Fallback Triggered: {on_fallback}"));
    out.line("");
    let distribution = usage_table(&succeeded, u64::from(requests));
    out.table(&distribution.0);

    let expected_primary =
        group_rpm(primary).map_or(u64::from(requests), |rpm| rpm.min(u64::from(requests)));
    let expected_fallback = u64::from(requests) - expected_primary;
    let passed = failed == 0 && on_primary == expected_primary && on_fallback == expected_fallback;
    if passed && on_fallback > 0 {
        out.log(Tone::Good, &format!("FALLBACK WORKING: {on_fallback} requests successfully failed over to the fallback model!"));
    } else if !passed {
        out.log(Tone::Bad, &format!("Expected {expected_primary} primary and {expected_fallback} fallback with all succeeding"));
    }
    Ok(DemoOutcome {
        pattern: "fallback on rate limit",
        expected: format!(
            "{expected_primary} primary, {expected_fallback} fallback, {requests}/{requests} succeed"
        ),
        observed: format!(
            "{on_primary} primary, {on_fallback} fallback, {}/{requests} succeed",
            succeeded.len()
        ),
        passed,
        figures: json!({
            "requests": requests,
            "successful": succeeded.len(),
            "failed": failed,
            "primary": on_primary,
            "fallback": on_fallback,
            "avg_time_s": average(&succeeded).as_secs_f64(),
            "by_deployment": distribution.1,
        }),
    })
}

fn rpm_text(rpm: Option<u32>) -> String {
    rpm.map_or_else(|| "unlimited".into(), |r| r.to_string())
}

fn narrate(out: &Output, call: &Call) {
    let model = call.model.as_deref().unwrap_or("?");
    let time = seconds(call.elapsed);
    match (
        call.succeeded(),
        call.group.as_deref() == Some(PRIMARY_GROUP),
    ) {
        (true, true) => out.log(
            Tone::Good,
            &format!(
                "Request #{:>2} → PRIMARY: Model: {model} | Time: {time}",
                call.number
            ),
        ),
        (true, false) => out.log(
            Tone::Warn,
            &format!(
                "Request #{:>2} → FALLBACK! Model: {model} | Time: {time}",
                call.number
            ),
        ),
        (false, _) => out.log(
            Tone::Bad,
            &format!(
                "Request #{:>2} → FAILED ({}): {}",
                call.number,
                call.status,
                call.error.as_deref().unwrap_or("no answer")
            ),
        ),
    }
}

/// The walkthrough's "Model Usage Distribution", by deployment, with bars; and its JSON.
pub fn usage_table(calls: &[&Call], total: u64) -> (Table, serde_json::Value) {
    let mut counts: Vec<(String, String, String, u64)> = Vec::new();
    for call in calls {
        let deployment = call.deployment.clone().unwrap_or_default();
        match counts.iter_mut().find(|(d, ..)| *d == deployment) {
            Some(entry) => entry.3 += 1,
            None => counts.push((
                deployment,
                call.group.clone().unwrap_or_default(),
                call.model.clone().unwrap_or_default(),
                1,
            )),
        }
    }
    counts.sort_by(|a, b| b.3.cmp(&a.3).then(a.0.cmp(&b.0)));
    let mut table = Table::new(["Deployment", "Model group", "Model", "Requests", "Share"])
        .titled("Model Usage Distribution");
    for (deployment, group, model, n) in &counts {
        table.row_with_bar(
            [
                deployment.clone(),
                group.clone(),
                model.clone(),
                n.to_string(),
                percent(*n, total),
            ],
            *n as f64 / total.max(1) as f64,
        );
    }
    let json = counts
        .iter()
        .map(|(deployment, group, model, n)| json!({"deployment": deployment, "model_group": group, "model": model, "requests": n}))
        .collect();
    (table, serde_json::Value::Array(json))
}
