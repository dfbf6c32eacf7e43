//! Pattern 1, cross-Region inference: N concurrent Converse calls to one inference profile
//! (`cris.model_id`) from the default profile and Region, each reported as it lands, then the
//! Region split Bedrock chose, read back from the model-invocation logs with the walkthrough's
//! Logs Insights query.
//!
//! The calls themselves are [`super::converse`]'s, shared with account sharding, which makes
//! the same calls round-robin across accounts.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::converse::{Attempt, Tally, converse, send_all, setup_failure};
use super::regions::{self, Polled, poll_interval};
use super::{DemoEnv, DemoOutcome};
use crate::insights::{self, Advice, LogsTarget};
use crate::render::{Output, Table, Tone, seconds};

/// Runs the demo: the plan, the calls as they land, the Region split from the logs, and the
/// verdict.
pub async fn run(
    env: &DemoEnv,
    requests: u32,
    wait: Duration,
    out: &Output,
) -> anyhow::Result<DemoOutcome> {
    let setup = Setup {
        model: env.config.cris.model_id.clone(),
        profile: env.clients.default_profile().map(str::to_string),
        region: env.clients.default_region().to_string(),
    };
    announce(&setup, requests, out);

    let client = env.clients.bedrock(None, None).await?;
    let since = SystemTime::now();
    let calls = (1..=requests)
        .map(|n| converse(client.clone(), setup.model.clone(), n, 0))
        .collect();
    let attempts = send_all(calls, |_| None, out).await;
    if let Some(failure) = setup_failure(&attempts) {
        anyhow::bail!(setup.advice().bedrock(failure, &setup.model));
    }
    let tally = Tally::of(&attempts);
    let (tone, line) = tally_line(&tally);
    out.log(tone, &line);

    let since_ms = insights::epoch_ms(since);
    let logged = read_regions(env, &setup, since_ms, tally.success, wait, out).await?;
    let outcome = verdict(requests, &tally, &logged.polled);
    let (tone, line) = outcome.headline("CROSS-REGION INFERENCE WORKING");
    out.log(tone, &line);
    let figures = figures(env, &setup, requests, &tally, &logged, &attempts);
    Ok(DemoOutcome { figures, ..outcome })
}

/// What the run calls, from where, as whom.
struct Setup {
    /// The inference profile (`cris.model_id`).
    model: String,
    /// The default profile; `None` for the default credential chain.
    profile: Option<String>,
    /// The source Region.
    region: String,
}

impl Setup {
    /// Who makes the calls, for explaining a failure.
    fn advice(&self) -> Advice<'_> {
        Advice {
            profile: self.profile.as_deref(),
            region: &self.region,
        }
    }
}

/// The opening: the walkthrough's plan table, and what is about to be sent.
fn announce(setup: &Setup, requests: u32, out: &Output) {
    out.heading("PATTERN 1: CROSS-REGION INFERENCE");
    let mut plan = Table::new([
        "Model Endpoint",
        "# Requests Sent",
        "Source Region",
        "Profile",
    ]);
    plan.row([
        setup.model.clone(),
        requests.to_string(),
        setup.region.clone(),
        setup
            .profile
            .clone()
            .unwrap_or_else(|| "(default chain)".into()),
    ]);
    out.table(&plan);
    out.log(
        Tone::Info,
        &format!(
            "Sending {requests} concurrent requests to {}...",
            setup.model
        ),
    );
}

/// The line after the calls: how many succeeded, were throttled or failed, and how long they
/// took; a warning unless all succeeded.
fn tally_line(tally: &Tally) -> (Tone, String) {
    let tone = if tally.success == tally.total {
        Tone::Good
    } else {
        Tone::Warn
    };
    (
        tone,
        format!(
            "{}/{} succeeded, {} throttled, {} failed; average {}",
            tally.success,
            tally.total,
            tally.throttled,
            tally.failed,
            seconds(tally.avg_time())
        ),
    )
}

/// The walkthrough's query and what polling it found.
struct Logged {
    query: String,
    polled: Polled,
}

/// Reads back where the calls since `since_ms` ran: the walkthrough's query, polled until it
/// counts the `expected` successful calls or `wait` runs out, then the Region table.
async fn read_regions(
    env: &DemoEnv,
    setup: &Setup,
    since_ms: i64,
    expected: u64,
    wait: Duration,
    out: &Output,
) -> anyhow::Result<Logged> {
    let logs = env.clients.logs(None, None).await?;
    let target = LogsTarget {
        client: &logs,
        log_group: &env.config.aws.log_group,
        advice: setup.advice(),
    };
    let query = regions::cris_query(&setup.model, since_ms);
    out.log(
        Tone::Dim,
        &format!(
            "CloudWatch Logs Insights on {} in {}: {query}",
            env.config.aws.log_group, setup.region
        ),
    );
    let interval = poll_interval(env);
    let polled =
        regions::poll_regions(&target, &query, since_ms, expected, wait, interval, out).await?;
    out.heading("REGION DISTRIBUTION");
    let title = format!("{} from {}:", setup.model, setup.region);
    regions::show_regions(&polled, expected, out, &title);
    Ok(Logged { query, polled })
}

/// Every figure of the run, for `--json`.
fn figures(
    env: &DemoEnv,
    setup: &Setup,
    requests: u32,
    tally: &Tally,
    logged: &Logged,
    attempts: &[Attempt],
) -> Value {
    let polled = &logged.polled;
    json!({
        "model_id": setup.model,
        "source_region": setup.region,
        "profile": setup.profile,
        "log_group": env.config.aws.log_group,
        "query": logged.query,
        "requests": requests,
        "successes": tally.success,
        "throttled": tally.throttled,
        "failed": tally.failed,
        "avg_time_s": tally.avg_time().as_secs_f64(),
        "regions": polled.distribution.counts_json(),
        "logged": polled.distribution.keyed_total(),
        "logs_complete": polled.complete,
        "logs_waited_s": polled.waited.as_secs_f64(),
        "attempts": attempts.iter().map(Attempt::to_json).collect::<Vec<_>>(),
    })
}

/// Compares the run with the walkthrough: every call succeeds, the logs count each one, and
/// Bedrock spread them over more than one Region.
fn verdict(requests: u32, tally: &Tally, polled: &Polled) -> DemoOutcome {
    let regions_used = polled.distribution.key_count();
    let split = polled
        .distribution
        .keyed()
        .map(|(r, n)| format!("{r} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let logged = polled.distribution.keyed_total();
    let mut observed = format!(
        "{}/{requests} succeed, over {regions_used} Region{} ({split})",
        tally.success,
        if regions_used == 1 { "" } else { "s" }
    );
    if logged != tally.success {
        observed.push_str(&format!("; logs count {logged} of {}", tally.success));
    }
    // One call lands in one Region: a spread can only be asked of two or more.
    let (expected, spread) = if requests < 2 {
        (
            format!("{requests}/{requests} succeed (a spread over Regions needs ≥2 requests)"),
            true,
        )
    } else {
        (
            format!("{requests}/{requests} succeed, spread over ≥2 Regions"),
            regions_used > 1,
        )
    };
    DemoOutcome {
        id: "cris",
        pattern: "cross-Region inference",
        expected,
        observed,
        passed: tally.success == u64::from(requests) && logged == tally.success && spread,
        diagnosis: Vec::new(),
        figures: Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insights::Distribution;

    #[test]
    fn verdict_needs_every_call_logged_and_two_regions() {
        let tally = Tally {
            total: 2,
            success: 2,
            ..Tally::default()
        };
        let polled = |rows: Vec<(Option<String>, u64)>| Polled {
            distribution: Distribution { rows },
            complete: true,
            waited: Duration::ZERO,
        };
        let two = polled(vec![
            (Some("us-east-1".into()), 1),
            (Some("us-west-2".into()), 1),
        ]);
        assert!(verdict(2, &tally, &two).passed);
        let one = polled(vec![(Some("us-east-1".into()), 2)]);
        assert!(!verdict(2, &tally, &one).passed);
        let alone = Tally {
            total: 1,
            success: 1,
            ..Tally::default()
        };
        let single = polled(vec![(Some("us-east-1".into()), 1)]);
        assert!(verdict(1, &alone, &single).passed, "one call cannot spread");
        let short = polled(vec![(Some("us-east-1".into()), 1)]);
        let v = verdict(2, &tally, &short);
        assert!(
            !v.passed && v.observed.contains("logs count 1 of 2"),
            "{}",
            v.observed
        );
    }

    #[test]
    fn the_tally_line_warns_unless_every_call_succeeded() {
        let all = Tally {
            total: 2,
            success: 2,
            success_time: Duration::from_millis(3000),
            ..Tally::default()
        };
        assert_eq!(
            tally_line(&all),
            (
                Tone::Good,
                "2/2 succeeded, 0 throttled, 0 failed; average 1.50s".to_string()
            )
        );
        let throttled = Tally {
            total: 3,
            throttled: 1,
            ..all
        };
        assert_eq!(
            tally_line(&throttled),
            (
                Tone::Warn,
                "2/3 succeeded, 1 throttled, 0 failed; average 1.50s".to_string()
            )
        );
    }
}
