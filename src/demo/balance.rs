//! Pattern 4, load balancing: simple-shuffle spreads requests over two deployments of one
//! group up to their limits, and the overflow group takes the rest.

use std::time::Instant;

use serde_json::{Value, json};

use super::check::{Sent, WindowsBefore};
use super::client::{Call, GatewayClient, average, group_rpm, key_for, require_group};
use super::routing::{Route, refusals, request_json, routing_table, rpm_text, usage_table};
use super::{DemoEnv, DemoOutcome};
use crate::config::{Config, ModelGroup};
use crate::render::{Output, Table, Tone, seconds};

/// The model group the demo calls.
pub const BALANCED_GROUP: &str = "balanced";

/// Sends `requests` concurrent requests to the balanced group and shows the split: the
/// routing table, the requests as they land, the usage by deployment, and the verdict.
pub async fn run(env: &DemoEnv, requests: u32, out: &Output) -> anyhow::Result<DemoOutcome> {
    let config = &env.config;
    let balanced = require_group(config, BALANCED_GROUP, "balance")?;
    let overflow = overflow_groups(config);
    let client = GatewayClient::new(&env.gateway_url)?;
    client.check_reachable().await?;
    let routes = announce(config, balanced, &overflow, requests, out);
    let sent = send(&client, config, &overflow, requests, out).await;

    let succeeded: Vec<&Call> = sent.calls.iter().filter(|c| c.succeeded()).collect();
    let by_deployment = show_results(&sent.calls, &succeeded, requests, out);
    let landed = Landed::of(balanced, &sent.calls);
    let split = landed.judge(balanced, &overflow, requests);
    let short = landed.shortfall(&split);
    let checked = sent.check(env, split.passed, short, &succeeded).await;
    let (tone, line) = headline(checked.passed, requests, &landed, &split);
    out.log(tone, &line);
    Ok(DemoOutcome {
        id: "balance",
        pattern: "load balancing",
        expected: format!(
            "{} split, {}/{requests} succeed{}",
            split.expected,
            u64::from(requests) - split.refused,
            refusals(split.refused)
        ),
        observed: format!(
            "{} split, {}/{requests} succeed{}",
            split.observed,
            succeeded.len(),
            refusals(landed.refused)
        ),
        passed: checked.passed,
        diagnosis: checked.diagnosis,
        figures: json!({
            "requests": requests,
            "successful": succeeded.len(),
            "failed": sent.calls.len() - succeeded.len(),
            "overflow": landed.overflow,
            "sandbox_check": checked.sandbox,
            "avg_time_s": average(&succeeded).as_secs_f64(),
            "by_deployment": by_deployment,
            "routing_table": routes.iter().map(Route::to_json).collect::<Vec<_>>(),
            "attempts": sent.calls.iter().map(|c| request_json(c, Spread::of(c).as_str())).collect::<Vec<_>>(),
        }),
    })
}

/// The groups the balanced group overflows to (its `router_settings.fallbacks`), those of them
/// the config defines.
fn overflow_groups(config: &Config) -> Vec<&ModelGroup> {
    config
        .router
        .fallbacks_for(BALANCED_GROUP)
        .iter()
        .filter_map(|g| config.group(g))
        .collect()
}

/// The opening: the routing table (the balanced deployments, then the overflow group's), and
/// what is about to be sent.
fn announce<'a>(
    config: &Config,
    balanced: &'a ModelGroup,
    overflow: &[&'a ModelGroup],
    requests: u32,
    out: &Output,
) -> Vec<Route<'a>> {
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
    routes
}

/// Reads the windows of the balanced and overflow groups, then sends the requests at once and
/// narrates each as it lands.
async fn send(
    client: &GatewayClient,
    config: &Config,
    overflow: &[&ModelGroup],
    requests: u32,
    out: &Output,
) -> Sent<Call> {
    let key = key_for(config, BALANCED_GROUP);
    let mut watched = vec![BALANCED_GROUP];
    watched.extend(overflow.iter().map(|g| g.name.as_str()));
    let before = WindowsBefore::read(client.health(key.as_deref()).await.as_ref(), &watched, &[]);
    let at = Instant::now();
    let calls = client
        .send_concurrently(key.as_deref(), BALANCED_GROUP, requests, |call| {
            narrate(out, call);
        })
        .await;
    Sent { calls, before, at }
}

/// One request as it lands: the deployment that served it, marked when it was the overflow.
fn narrate(out: &Output, call: &Call) {
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
}

/// The walkthrough's results: the counts, then the usage by deployment; returns the usage in
/// `--json`.
fn show_results(calls: &[Call], succeeded: &[&Call], requests: u32, out: &Output) -> Value {
    out.heading("LOAD BALANCING RESULTS");
    out.line(&format!("Total Requests: {requests}"));
    out.line(&format!("Successful: {}", succeeded.len()));
    out.line(&format!("Failed: {}", calls.len() - succeeded.len()));
    out.line("");
    let (table, by_deployment) = usage_table(succeeded, u64::from(requests));
    out.table(&table);
    by_deployment
}

/// The closing line: how the requests spread and whether the overflow took any, or what was
/// expected against what was seen.
fn headline(passed: bool, requests: u32, landed: &Landed, split: &Split) -> (Tone, String) {
    if !passed {
        return (
            Tone::Bad,
            format!(
                "NOT AS EXPECTED: expected a {} split with all succeeding, observed {}",
                split.expected, split.observed
            ),
        );
    }
    let used = landed.per_deployment.iter().filter(|n| **n > 0).count();
    let spread = if used > 1 {
        "requests distributed across multiple deployments"
    } else {
        "requests served within the deployments' limits"
    };
    let overflow = if landed.overflow > 0 {
        ", overflow absorbed!".to_string()
    } else {
        format!(
            "; none needed the overflow group ({} fit the balanced deployments' limits)",
            requests
        )
    };
    (
        Tone::Good,
        format!("LOAD BALANCING WORKING: {spread}{overflow}"),
    )
}

/// Where the requests landed, counted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Landed {
    /// Served by each balanced deployment, in config order.
    per_deployment: Vec<u64>,
    /// Served by the overflow group.
    overflow: u64,
    /// Refused with 429.
    refused: u64,
    /// Whether every request got a 200 or a 429.
    all_served: bool,
}

impl Landed {
    /// Counts `calls` by the deployment and group the gateway names.
    fn of(balanced: &ModelGroup, calls: &[Call]) -> Landed {
        let served_by = |id: &str| {
            calls
                .iter()
                .filter(|c| c.succeeded() && c.deployment.as_deref() == Some(id))
                .count() as u64
        };
        let succeeded = calls.iter().filter(|c| c.succeeded()).count() as u64;
        let refused = calls.iter().filter(|c| c.rate_limited()).count() as u64;
        Landed {
            per_deployment: balanced
                .deployments
                .iter()
                .map(|d| served_by(&d.id))
                .collect(),
            overflow: calls
                .iter()
                .filter(|c| Spread::of(c) == Spread::Overflow)
                .count() as u64,
            refused,
            all_served: succeeded + refused == calls.len() as u64,
        }
    }

    /// The verdict against the balanced deployments' limits and the overflow groups' RPM.
    fn judge(&self, balanced: &ModelGroup, overflow: &[&ModelGroup], requests: u32) -> Split {
        let limits: Vec<Option<u32>> = balanced.deployments.iter().map(|d| d.rpm).collect();
        let overflow_rpm: Option<u64> = overflow.iter().map(|g| group_rpm(g)).sum();
        Split::judge(
            &limits,
            &self.per_deployment,
            (self.overflow, overflow_rpm),
            self.refused,
            u64::from(requests),
            self.all_served,
        )
    }

    /// What fell short when every request got an answer but the balanced deployments served
    /// fewer than their RPMs allow (a sign of windows still full from an earlier run).
    fn shortfall(&self, split: &Split) -> Option<String> {
        let served: u64 = self.per_deployment.iter().sum();
        (self.all_served && served < split.balanced).then(|| {
            format!("the balanced deployments served {served} of the {} requests their RPM allows, although every request succeeded", split.balanced)
        })
    }
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

/// The load-balancing verdict over the balanced deployments' counts, compared as a multiset:
/// simple-shuffle picks at random, so which deployment takes how many is chance; what the
/// limits decide is that none takes more than its RPM, that together they take as many as
/// their RPMs allow, and that the overflow group takes the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Split {
    passed: bool,
    /// Requests the balanced deployments should take together.
    balanced: u64,
    /// Requests the gateway should refuse with 429 (beyond the overflow group's RPM too).
    refused: u64,
    /// `3 / 3 / 4` (the RPMs, largest first, then the overflow) when the limits decide the
    /// split; `6 within the RPMs / 0` when they do not.
    expected: String,
    /// The counts, largest first, then the overflow: `3 / 3 / 4`.
    observed: String,
}

impl Split {
    /// Judges `observed` (per balanced deployment, limits `limits`; `None` is unlimited), the
    /// requests the overflow group served (with its RPM) and those refused with 429, for
    /// `requests` requests; `all_served` when every one got a 200 or a 429.
    fn judge(
        limits: &[Option<u32>],
        observed: &[u64],
        (overflow, overflow_rpm): (u64, Option<u64>),
        refused: u64,
        requests: u64,
        all_served: bool,
    ) -> Split {
        let capacity: Option<u64> = limits.iter().map(|l| l.map(u64::from)).sum();
        let balanced = capacity.map_or(requests, |c| c.min(requests));
        let beyond = requests - balanced;
        let rest = overflow_rpm.map_or(beyond, |r| r.min(beyond));
        let expected_refused = beyond - rest;
        let within = limits
            .iter()
            .zip(observed)
            .all(|(limit, n)| limit.is_none_or(|l| *n <= u64::from(l)));
        let joined = |mut parts: Vec<u64>, rest: u64| {
            parts.sort_unstable_by(|a, b| b.cmp(a));
            parts.push(rest);
            parts
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" / ")
        };
        let expected = match capacity {
            Some(c) if requests >= c => joined(
                limits.iter().map(|l| l.map_or(0, u64::from)).collect(),
                rest,
            ),
            Some(_) | None => format!("{balanced} within the RPMs / {rest}"),
        };
        Split {
            passed: all_served
                && within
                && observed.iter().sum::<u64>() == balanced
                && overflow == rest
                && refused == expected_refused,
            balanced,
            refused: expected_refused,
            expected,
            observed: joined(observed.to_vec(), overflow),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        crate::config::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/config.yaml"
        )))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn call(number: u32, status: u16, group: &str, deployment: &str) -> Call {
        Call {
            number,
            status,
            deployment: Some(deployment.into()),
            group: Some(group.into()),
            model: None,
            elapsed: std::time::Duration::ZERO,
            error: None,
        }
    }

    /// `n` calls served by each of `(group, deployment)`.
    fn served(by: &[(&str, &str, u32)]) -> Vec<Call> {
        by.iter()
            .flat_map(|(group, deployment, n)| (0..*n).map(|i| call(i + 1, 200, group, deployment)))
            .collect()
    }

    #[test]
    fn landings_are_counted_per_deployment_and_judged_against_the_config() {
        let config = config();
        let balanced = config.group(BALANCED_GROUP).unwrap();
        let overflow = vec![config.group("overflow").unwrap()];
        let calls = served(&[
            (BALANCED_GROUP, "balanced-sonnet-4-5", 3),
            (BALANCED_GROUP, "balanced-sonnet-4-6", 3),
            ("overflow", "overflow-haiku-4-5", 4),
        ]);
        let landed = Landed::of(balanced, &calls);
        assert_eq!(
            landed,
            Landed {
                per_deployment: vec![3, 3],
                overflow: 4,
                refused: 0,
                all_served: true,
            }
        );
        let split = landed.judge(balanced, &overflow, 10);
        assert!(split.passed, "{split:?}");
        assert_eq!(landed.shortfall(&split), None);
        assert_eq!(
            headline(true, 10, &landed, &split),
            (
                Tone::Good,
                "LOAD BALANCING WORKING: requests distributed across multiple deployments, overflow absorbed!".to_string()
            )
        );

        // Windows still full from an earlier run: the balanced deployments serve fewer.
        let stale = Landed::of(
            balanced,
            &served(&[
                (BALANCED_GROUP, "balanced-sonnet-4-5", 1),
                (BALANCED_GROUP, "balanced-sonnet-4-6", 3),
                ("overflow", "overflow-haiku-4-5", 6),
            ]),
        );
        let split = stale.judge(balanced, &overflow, 10);
        assert!(!split.passed);
        assert_eq!(
            stale.shortfall(&split).as_deref(),
            Some(
                "the balanced deployments served 4 of the 6 requests their RPM allows, although every request succeeded"
            )
        );
        assert_eq!(
            headline(false, 10, &stale, &split).1,
            "NOT AS EXPECTED: expected a 3 / 3 / 4 split with all succeeding, observed 3 / 1 / 6"
        );

        // A 500 is no answer: nothing is put down to stale windows.
        let mut broken = served(&[(BALANCED_GROUP, "balanced-sonnet-4-5", 1)]);
        broken.push(call(2, 500, BALANCED_GROUP, "balanced-sonnet-4-6"));
        let broken = Landed::of(balanced, &broken);
        assert!(!broken.all_served);
        assert_eq!(
            broken.shortfall(&broken.judge(balanced, &overflow, 2)),
            None
        );
    }

    #[test]
    fn few_requests_need_no_overflow_and_the_headline_says_so() {
        let config = config();
        let balanced = config.group(BALANCED_GROUP).unwrap();
        let landed = Landed::of(
            balanced,
            &served(&[(BALANCED_GROUP, "balanced-sonnet-4-6", 1)]),
        );
        let split = landed.judge(balanced, &[], 1);
        assert!(split.passed, "{split:?}");
        assert_eq!(
            headline(true, 1, &landed, &split).1,
            "LOAD BALANCING WORKING: requests served within the deployments' limits; none needed the overflow group (1 fit the balanced deployments' limits)"
        );
    }

    #[test]
    fn the_split_is_compared_as_a_multiset() {
        let limits = [Some(3), Some(3)];
        let walkthrough = Split::judge(&limits, &[3, 3], (4, None), 0, 10, true);
        assert!(walkthrough.passed);
        assert_eq!(
            (walkthrough.expected.as_str(), walkthrough.observed.as_str()),
            ("3 / 3 / 4", "3 / 3 / 4")
        );
        // Unequal limits: whichever deployment is which, the counts are the limits.
        let uneven = [Some(2), Some(5)];
        assert!(Split::judge(&uneven, &[2, 5], (3, None), 0, 10, true).passed);
        assert_eq!(
            Split::judge(&uneven, &[2, 5], (3, None), 0, 10, true).expected,
            "5 / 2 / 3"
        );
        // Fewer requests than the limits: any split within them.
        for split in [[1, 3], [2, 2], [3, 1]] {
            let judged = Split::judge(&limits, &split, (0, None), 0, 4, true);
            assert!(judged.passed, "{split:?}: {judged:?}");
            assert_eq!(judged.expected, "4 within the RPMs / 0");
        }
        assert!(Split::judge(&limits, &[2, 3], (0, None), 0, 5, true).passed);
        assert!(Split::judge(&limits, &[3, 2], (0, None), 0, 5, true).passed);
    }

    #[test]
    fn over_a_limit_short_of_it_or_a_failure_fails() {
        let limits = [Some(3), Some(3)];
        assert!(!Split::judge(&limits, &[4, 2], (4, None), 0, 10, true).passed);
        assert!(!Split::judge(&limits, &[0, 0], (10, None), 0, 10, true).passed);
        assert!(!Split::judge(&limits, &[3, 3], (4, None), 0, 10, false).passed);
        assert!(!Split::judge(&limits, &[3, 3], (3, None), 0, 10, true).passed);
        assert!(Split::judge(&[None, Some(3)], &[7, 3], (0, None), 0, 10, true).passed);
        // Past the overflow group's RPM too, the gateway refuses the rest with 429.
        let full = Split::judge(&limits, &[3, 3], (25, Some(25)), 9, 40, true);
        assert!(full.passed && full.refused == 9, "{full:?}");
        assert!(!Split::judge(&limits, &[3, 3], (25, Some(25)), 0, 40, true).passed);
    }
}
