//! Pattern 3, fallback on rate limit: the primary group takes its RPM, the gateway sends the
//! rest to the fallback group, and every request succeeds.

use std::time::Instant;

use serde_json::{Value, json};

use super::check::{Sent, WindowsBefore};
use super::client::{Call, GatewayClient, average, group_rpm, key_for, require_group};
use super::routing::{Route, refusals, request_json, routing_table, rpm_text, usage_table};
use super::{DemoEnv, DemoOutcome};
use crate::config::{Config, ModelGroup};
use crate::render::{Output, Table, Tone, seconds};

/// The model group the demo calls.
pub const PRIMARY_GROUP: &str = "fallback-primary";

/// Sends `requests` concurrent requests to the primary group and narrates where each landed:
/// the routing table, the requests as they land, where they went, and the verdict.
pub async fn run(env: &DemoEnv, requests: u32, out: &Output) -> anyhow::Result<DemoOutcome> {
    let groups = Groups::of(&env.config)?;
    let client = GatewayClient::new(&env.gateway_url)?;
    client.check_reachable().await?;
    let routes = announce(env, &groups, requests, out);
    let sent = send(&client, &env.config, &groups, requests, out).await;

    let succeeded: Vec<&Call> = sent.calls.iter().filter(|c| c.succeeded()).collect();
    let observed = Observed::of(&sent.calls);
    let by_deployment = show_results(&observed, requests, &succeeded, out);

    let primary_rpm = group_rpm(groups.primary);
    let expected = expected(u64::from(requests), primary_rpm, groups.fallback_rpm());
    let short = observed.shortfall(&expected);
    let checked = sent
        .check(env, observed.matches(&expected), short, &succeeded)
        .await;
    let (tone, line) = headline(checked.passed, requests, primary_rpm, &observed, &expected);
    out.log(tone, &line);
    Ok(DemoOutcome {
        id: "fallback",
        pattern: "fallback on rate limit",
        expected: expected.words(requests),
        observed: observed.words(requests),
        passed: checked.passed,
        diagnosis: checked.diagnosis,
        figures: json!({
            "requests": requests,
            "successful": observed.succeeded,
            "failed": observed.failed,
            "sandbox_check": checked.sandbox,
            "primary": observed.primary,
            "fallback": observed.fallback,
            "avg_time_s": average(&succeeded).as_secs_f64(),
            "by_deployment": by_deployment,
            "routing_table": routes.iter().map(Route::to_json).collect::<Vec<_>>(),
            "attempts": sent.calls.iter().map(|c| request_json(c, Landing::of(c).as_str())).collect::<Vec<_>>(),
        }),
    })
}

/// The groups the demo sends to, from the config.
struct Groups<'a> {
    primary: &'a ModelGroup,
    /// The primary's fallbacks as `router_settings.fallbacks` names them.
    fallback_names: &'a [String],
    /// Those of them the config defines, in that order.
    fallbacks: Vec<&'a ModelGroup>,
}

impl<'a> Groups<'a> {
    /// The primary group and its fallbacks, or an error naming what the config lacks.
    fn of(config: &'a Config) -> anyhow::Result<Self> {
        let primary = require_group(config, PRIMARY_GROUP, "fallback")?;
        let fallback_names = config.router.fallbacks_for(PRIMARY_GROUP);
        anyhow::ensure!(
            !fallback_names.is_empty(),
            "demo fallback needs router_settings.fallbacks for {PRIMARY_GROUP:?} in {}",
            config.source.display()
        );
        Ok(Groups {
            primary,
            fallback_names,
            fallbacks: fallback_names
                .iter()
                .filter_map(|g| config.group(g))
                .collect(),
        })
    }

    /// The fallback groups' RPM together (`None`: one of them has no limit).
    fn fallback_rpm(&self) -> Option<u64> {
        self.fallbacks.iter().map(|g| group_rpm(g)).sum()
    }
}

/// The opening: the routing table, and what is about to be sent where.
fn announce<'a>(env: &DemoEnv, groups: &Groups<'a>, requests: u32, out: &Output) -> Vec<Route<'a>> {
    out.heading("PATTERN 3: FALLBACK ON RATE LIMIT");
    let routes = routing_table(
        groups.primary,
        groups.fallbacks.iter().copied(),
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
    routes
}

/// Reads the windows of every group involved, then sends the requests at once and narrates
/// each as it lands.
async fn send(
    client: &GatewayClient,
    config: &Config,
    groups: &Groups<'_>,
    requests: u32,
    out: &Output,
) -> Sent<Call> {
    let key = key_for(config, PRIMARY_GROUP);
    let mut watched = vec![PRIMARY_GROUP];
    watched.extend(groups.fallback_names.iter().map(String::as_str));
    let before = WindowsBefore::read(client.health(key.as_deref()).await.as_ref(), &watched, &[]);
    let at = Instant::now();
    let calls = client
        .send_concurrently(key.as_deref(), PRIMARY_GROUP, requests, |call| {
            narrate(out, call);
        })
        .await;
    Sent { calls, before, at }
}

/// The walkthrough's results: the counts, then the usage by deployment; returns the usage in
/// `--json`.
fn show_results(observed: &Observed, requests: u32, succeeded: &[&Call], out: &Output) -> Value {
    out.heading("FALLBACK DEMONSTRATION RESULTS");
    out.line(&format!("Total Requests: {requests}"));
    out.line(&format!("Successful: {}", observed.succeeded));
    out.line(&format!("Failed: {}", observed.failed));
    out.line(&format!("Primary Model Used: {}", observed.primary));
    out.line(&format!("Fallback Triggered: {}", observed.fallback));
    out.line("");
    let (table, by_deployment) = usage_table(succeeded, u64::from(requests));
    out.table(&table);
    by_deployment
}

/// The closing line: the fallback at work, everything served by the primary (and why no
/// fallback was needed), or what was expected against what was seen.
fn headline(
    passed: bool,
    requests: u32,
    primary_rpm: Option<u64>,
    observed: &Observed,
    expected: &Expected,
) -> (Tone, String) {
    let on_fallback = observed.fallback;
    if passed && on_fallback > 0 {
        (
            Tone::Good,
            format!(
                "FALLBACK WORKING: {on_fallback} requests successfully failed over to the fallback model!"
            ),
        )
    } else if passed {
        let fit = match primary_rpm {
            Some(rpm) => format!(
                "{requests} requests fit its {rpm} RPM, so no fallback was needed (send more than {rpm} with --requests to see one)"
            ),
            None => "it has no RPM limit, so no fallback was needed".to_string(),
        };
        (
            Tone::Good,
            format!("ALL {requests} SERVED BY THE PRIMARY: {fit}"),
        )
    } else {
        (
            Tone::Bad,
            format!(
                "NOT AS EXPECTED: expected {} primary and {} fallback{}, observed {} primary, {on_fallback} fallback, {} succeeding",
                expected.primary,
                expected.fallback,
                refusals(expected.refused),
                observed.primary,
                observed.succeeded
            ),
        )
    }
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

impl Expected {
    /// `3 primary, 7 fallback, 10/10 succeed`, with the refusals when there are any.
    fn words(&self, requests: u32) -> String {
        format!(
            "{} primary, {} fallback, {}/{requests} succeed{}",
            self.primary,
            self.fallback,
            self.primary + self.fallback,
            refusals(self.refused)
        )
    }
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

/// Where the requests landed, counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Observed {
    primary: u64,
    fallback: u64,
    succeeded: u64,
    failed: u64,
    /// The failures that were 429s: refused for want of capacity anywhere.
    refused: u64,
}

impl Observed {
    /// Counts `calls` by where the gateway says they went.
    fn of(calls: &[Call]) -> Observed {
        let landed =
            |landing: Landing| calls.iter().filter(|c| Landing::of(c) == landing).count() as u64;
        let succeeded = calls.iter().filter(|c| c.succeeded()).count() as u64;
        Observed {
            primary: landed(Landing::Primary),
            fallback: landed(Landing::Fallback),
            succeeded,
            failed: calls.len() as u64 - succeeded,
            refused: calls.iter().filter(|c| c.rate_limited()).count() as u64,
        }
    }

    /// Whether the run is the walkthrough's: the split the RPMs decide, and every failure a
    /// refusal past every limit.
    fn matches(&self, expected: &Expected) -> bool {
        self.failed == self.refused
            && self.refused == expected.refused
            && self.primary == expected.primary
            && self.fallback == expected.fallback
    }

    /// What fell short when every failure was a refusal but the primary served fewer than its
    /// RPM allows (a sign of windows still full from an earlier run).
    fn shortfall(&self, expected: &Expected) -> Option<String> {
        (self.failed == self.refused && self.primary < expected.primary).then(|| {
            format!("the primary served {} of the {} requests its RPM allows, although every request succeeded", self.primary, expected.primary)
        })
    }

    /// `3 primary, 7 fallback, 10/10 succeed`, with the refusals when there are any.
    fn words(&self, requests: u32) -> String {
        format!(
            "{} primary, {} fallback, {}/{requests} succeed{}",
            self.primary,
            self.fallback,
            self.succeeded,
            refusals(self.refused)
        )
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

    fn call(number: u32, status: u16, group: Option<&str>) -> Call {
        Call {
            number,
            status,
            deployment: None,
            group: group.map(str::to_string),
            model: None,
            elapsed: std::time::Duration::ZERO,
            error: None,
        }
    }

    fn observed(primary: u64, fallback: u64, failed: u64, refused: u64) -> Observed {
        Observed {
            primary,
            fallback,
            succeeded: primary + fallback,
            failed,
            refused,
        }
    }

    #[test]
    fn landings_are_counted_by_the_group_the_gateway_names() {
        let calls = [
            call(1, 200, Some(PRIMARY_GROUP)),
            call(2, 200, Some("fallback-backup")),
            call(3, 429, None),
            call(4, 500, None),
        ];
        assert_eq!(Observed::of(&calls), observed(1, 1, 2, 1));
    }

    #[test]
    fn the_verdict_wants_the_rpm_split_and_no_failure_but_refusals() {
        let walkthrough = expected(10, Some(3), Some(25));
        let seen = observed(3, 7, 0, 0);
        assert!(seen.matches(&walkthrough));
        assert_eq!(seen.words(10), "3 primary, 7 fallback, 10/10 succeed");
        assert_eq!(walkthrough.words(10), seen.words(10));
        // Windows still full from an earlier run: the primary serves fewer.
        let stale = observed(1, 9, 0, 0);
        assert!(!stale.matches(&walkthrough));
        assert_eq!(
            stale.shortfall(&walkthrough).as_deref(),
            Some(
                "the primary served 1 of the 3 requests its RPM allows, although every request succeeded"
            )
        );
        // A failure that is no refusal is no stale window.
        let broken = observed(3, 6, 1, 0);
        assert!(!broken.matches(&walkthrough) && broken.shortfall(&walkthrough).is_none());
        // Past every limit the refusals are expected.
        let full = expected(30, Some(3), Some(25));
        assert!(observed(3, 25, 2, 2).matches(&full));
        assert_eq!(
            full.words(30),
            "3 primary, 25 fallback, 28/30 succeed, 2 refused (no capacity left)"
        );
    }

    #[test]
    fn the_headline_says_whether_a_fallback_was_seen() {
        let walkthrough = expected(10, Some(3), Some(25));
        assert_eq!(
            headline(true, 10, Some(3), &observed(3, 7, 0, 0), &walkthrough),
            (
                Tone::Good,
                "FALLBACK WORKING: 7 requests successfully failed over to the fallback model!"
                    .to_string()
            )
        );
        let few = expected(2, Some(3), Some(25));
        assert_eq!(
            headline(true, 2, Some(3), &observed(2, 0, 0, 0), &few).1,
            "ALL 2 SERVED BY THE PRIMARY: 2 requests fit its 3 RPM, so no fallback was needed (send more than 3 with --requests to see one)"
        );
        assert_eq!(
            headline(
                true,
                2,
                None,
                &observed(2, 0, 0, 0),
                &expected(2, None, None)
            )
            .1,
            "ALL 2 SERVED BY THE PRIMARY: it has no RPM limit, so no fallback was needed"
        );
        assert_eq!(
            headline(false, 10, Some(3), &observed(1, 9, 0, 0), &walkthrough),
            (
                Tone::Bad,
                "NOT AS EXPECTED: expected 3 primary and 7 fallback, observed 1 primary, 9 fallback, 10 succeeding".to_string()
            )
        );
    }
}
