//! Pattern 3, fallback on rate limit: the primary group takes its RPM, the gateway sends the
//! rest to the fallback group, and every request succeeds.

use std::time::Instant;

use serde_json::{Value, json};

use super::check::{WindowsBefore, apply_sandbox_check, sandbox_check};
use super::client::{Call, GatewayClient, average, group_rpm, key_for, require_group};
use super::{DemoEnv, DemoOutcome};
use crate::config::{Deployment, ModelGroup};
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

/// The part a deployment plays in a gateway demo's routing table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// In the group the demo calls.
    Primary,
    /// In a group the gateway falls back to.
    Fallback,
}

impl Role {
    /// The table's `Type` cell.
    pub fn title(self) -> &'static str {
        match self {
            Role::Primary => "Primary",
            Role::Fallback => "Fallback",
        }
    }

    /// The name used in `--json`.
    fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Fallback => "fallback",
        }
    }
}

/// One row of the routing table a gateway demo prints before sending: a deployment, the part
/// it plays and why it is there.
pub(super) struct Route<'a> {
    pub deployment: &'a Deployment,
    pub role: Role,
    pub purpose: String,
}

impl Route<'_> {
    /// The row in `--json` (`rpm` is null for an unlimited deployment).
    pub fn to_json(&self) -> Value {
        let d = self.deployment;
        json!({"model_group": d.group, "deployment": d.id, "model": d.model, "rpm": d.rpm, "role": self.role.as_str(), "purpose": self.purpose})
    }
}

/// The primary group's deployments, then the fallback groups', in config order, each with the
/// purpose `primary_purpose` or `fallback_purpose` gives it (from its position in its group).
pub(super) fn routing_table<'a>(
    primary: &'a ModelGroup,
    fallbacks: impl IntoIterator<Item = &'a ModelGroup>,
    primary_purpose: impl Fn(usize) -> String,
    fallback_purpose: impl Fn(usize) -> String,
) -> Vec<Route<'a>> {
    let rows = |group: &'a ModelGroup, role: Role, purpose: &dyn Fn(usize) -> String| {
        group
            .deployments
            .iter()
            .enumerate()
            .map(|(i, d)| Route {
                deployment: d,
                role,
                purpose: purpose(i),
            })
            .collect::<Vec<_>>()
    };
    let mut routes = rows(primary, Role::Primary, &primary_purpose);
    for group in fallbacks {
        routes.extend(rows(group, Role::Fallback, &fallback_purpose));
    }
    routes
}

/// A table cell for a deployment's RPM limit.
pub(super) fn rpm_text(rpm: Option<u32>) -> String {
    rpm.map_or_else(|| "unlimited".into(), |r| r.to_string())
}

/// One narrated request in `--json`: its number, `outcome` (the narration's verdict), where the
/// gateway says it went, its HTTP status (0 when the gateway never answered) and its time.
pub(super) fn request_json(call: &Call, outcome: &str) -> Value {
    json!({
        "request": call.number,
        "outcome": outcome,
        "deployment": call.deployment,
        "model_group": call.group,
        "model": call.model,
        "status": call.status,
        "time_s": call.elapsed.as_secs_f64(),
        "error": call.error,
    })
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
