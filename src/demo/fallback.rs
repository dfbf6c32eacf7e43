//! Pattern 3, fallback on rate limit: the primary group takes its RPM, the gateway sends the
//! rest to the fallback group, and every request succeeds.

use std::time::Instant;

use serde_json::json;

use super::check::{WindowsBefore, apply_sandbox_check, sandbox_check};
use super::client::{Call, GatewayClient, average, group_rpm, key_for, require_group};
use super::routing::{Route, request_json, routing_table, rpm_text, usage_table};
use super::{DemoEnv, DemoOutcome};
use crate::render::{Output, Table, Tone, seconds};

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
    let routes = routing_table(
        primary,
        fallback_groups.iter().filter_map(|g| config.group(g)),
        |_| "Low limit to trigger fallback".into(),
        |_| "Higher capacity backup".into(),
    );
    out.table(&setup_table(&routes));
    out.log(
        Tone::Info,
        &format!(
            "Sending {requests} concurrent requests to {PRIMARY_GROUP} through {}",
            env.gateway_url
        ),
    );

    let key = key_for(config, PRIMARY_GROUP);
    let mut watched = vec![PRIMARY_GROUP];
    watched.extend(fallback_groups.iter().map(String::as_str));
    let before = WindowsBefore::read(client.health(key.as_deref()).await.as_ref(), &watched, &[]);
    let sent = Instant::now();
    let calls = client
        .send_concurrently(key.as_deref(), PRIMARY_GROUP, requests, |call| {
            narrate(out, call);
        })
        .await;

    let succeeded: Vec<&Call> = calls.iter().filter(|c| c.succeeded()).collect();
    let landed =
        |landing: Landing| calls.iter().filter(|c| Landing::of(c) == landing).count() as u64;
    let on_primary = landed(Landing::Primary);
    let on_fallback = landed(Landing::Fallback);
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

    let primary_rpm = group_rpm(primary);
    let fallback_rpm: Option<u64> = fallback_groups
        .iter()
        .filter_map(|g| config.group(g))
        .map(group_rpm)
        .sum();
    let Expected {
        primary: expected_primary,
        fallback: expected_fallback,
        refused: expected_refused,
    } = expected(u64::from(requests), primary_rpm, fallback_rpm);
    let refused = calls.iter().filter(|c| c.rate_limited()).count() as u64;
    let expected_served = expected_primary + expected_fallback;
    let refusals = |n: u64| {
        if n > 0 {
            format!(", {n} refused (no capacity left)")
        } else {
            String::new()
        }
    };
    let mut passed = failed as u64 == refused
        && refused == expected_refused
        && on_primary == expected_primary
        && on_fallback == expected_fallback;
    let mut diagnosis = Vec::new();
    if !passed {
        let short = (failed as u64 == refused && on_primary < expected_primary).then(|| {
            format!("the primary served {on_primary} of the {expected_primary} requests its RPM allows, although every request succeeded")
        });
        diagnosis.extend(before.stale(sent.elapsed(), short.as_deref()));
    }
    let sandbox = apply_sandbox_check(
        sandbox_check(env, &succeeded).await,
        &mut passed,
        &mut diagnosis,
    );
    if passed && on_fallback > 0 {
        out.log(Tone::Good, &format!("FALLBACK WORKING: {on_fallback} requests successfully failed over to the fallback model!"));
    } else if passed {
        let fit = match primary_rpm {
            Some(rpm) => format!(
                "{requests} requests fit its {rpm} RPM, so no fallback was needed (send more than {rpm} with --requests to see one)"
            ),
            None => "it has no RPM limit, so no fallback was needed".to_string(),
        };
        out.log(
            Tone::Good,
            &format!("ALL {requests} SERVED BY THE PRIMARY: {fit}"),
        );
    } else {
        out.log(Tone::Bad, &format!("NOT AS EXPECTED: expected {expected_primary} primary and {expected_fallback} fallback{}, observed {on_primary} primary, {on_fallback} fallback, {} succeeding", refusals(expected_refused), succeeded.len()));
    }
    Ok(DemoOutcome {
        id: "fallback",
        pattern: "fallback on rate limit",
        expected: format!(
            "{expected_primary} primary, {expected_fallback} fallback, {expected_served}/{requests} succeed{}",
            refusals(expected_refused)
        ),
        observed: format!(
            "{on_primary} primary, {on_fallback} fallback, {}/{requests} succeed{}",
            succeeded.len(),
            refusals(refused)
        ),
        passed,
        diagnosis,
        figures: json!({
            "requests": requests,
            "successful": succeeded.len(),
            "failed": failed,
            "sandbox_check": sandbox,
            "primary": on_primary,
            "fallback": on_fallback,
            "avg_time_s": average(&succeeded).as_secs_f64(),
            "by_deployment": distribution.1,
            "routing_table": routes.iter().map(Route::to_json).collect::<Vec<_>>(),
            "attempts": calls.iter().map(|c| request_json(c, Landing::of(c).as_str())).collect::<Vec<_>>(),
        }),
    })
}

/// The walkthrough's routing table: each deployment with its RPM, role and purpose.
fn setup_table(routes: &[Route]) -> Table {
    let mut setup = Table::new(["Model", "Max RPM", "Type", "Purpose"]);
    for route in routes {
        setup.row([
            route.deployment.model.clone(),
            rpm_text(route.deployment.rpm),
            route.role.title().into(),
            route.purpose.clone(),
        ]);
    }
    setup
}

/// Where `requests` should land, from the RPM of the primary and of its fallbacks together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expected {
    primary: u64,
    fallback: u64,
    /// Past every limit the gateway refuses with 429 (no capacity left anywhere), which is
    /// right, not a failure of the pattern.
    refused: u64,
}

/// The primary takes up to its RPM, the fallbacks the rest up to theirs, the gateway refuses
/// what is left (`None` RPM: no limit).
fn expected(requests: u64, primary_rpm: Option<u64>, fallback_rpm: Option<u64>) -> Expected {
    let primary = primary_rpm.map_or(requests, |rpm| rpm.min(requests));
    let rest = requests - primary;
    let fallback = fallback_rpm.map_or(rest, |f| f.min(rest));
    Expected {
        primary,
        fallback,
        refused: rest - fallback,
    }
}

/// Where a request landed, as the narration and the JSON tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Landing {
    /// Served by the primary group.
    Primary,
    /// Served by a fallback group after the primary refused it.
    Fallback,
    /// Not served at all.
    Failed,
}

impl Landing {
    /// Where the gateway says `call` went.
    fn of(call: &Call) -> Landing {
        match (
            call.succeeded(),
            call.group.as_deref() == Some(PRIMARY_GROUP),
        ) {
            (true, true) => Landing::Primary,
            (true, false) => Landing::Fallback,
            (false, _) => Landing::Failed,
        }
    }

    /// The name used in `--json`.
    fn as_str(self) -> &'static str {
        match self {
            Landing::Primary => "primary",
            Landing::Fallback => "fallback",
            Landing::Failed => "failed",
        }
    }
}

fn narrate(out: &Output, call: &Call) {
    let model = call.model.as_deref().unwrap_or("?");
    let time = seconds(call.elapsed);
    match Landing::of(call) {
        Landing::Primary => out.log(
            Tone::Good,
            &format!(
                "Request #{:>2} → PRIMARY: Model: {model} | Time: {time}",
                call.number
            ),
        ),
        Landing::Fallback => out.log(
            Tone::Warn,
            &format!(
                "Request #{:>2} → FALLBACK! Model: {model} | Time: {time}",
                call.number
            ),
        ),
        Landing::Failed => out.log(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_primary_takes_its_rpm_the_fallbacks_the_rest_and_the_gateway_refuses_the_excess() {
        let e = |primary, fallback, refused| Expected {
            primary,
            fallback,
            refused,
        };
        assert_eq!(expected(10, Some(3), Some(25)), e(3, 7, 0));
        assert_eq!(expected(2, Some(3), Some(25)), e(2, 0, 0));
        assert_eq!(expected(30, Some(3), Some(25)), e(3, 25, 2));
        assert_eq!(expected(30, None, Some(25)), e(30, 0, 0));
        assert_eq!(expected(30, Some(3), None), e(3, 27, 0));
    }
}
