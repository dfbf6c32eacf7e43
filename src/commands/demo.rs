//! `demo …` and `report regions`: set up where the demo runs (real AWS and a running gateway,
//! or fresh in-process sandboxes), run it, print its verdict or its JSON document.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;

use crate::cli::{AllDemoArgs, DemoCommand, DirectDemoArgs, GatewayDemoArgs, GroupBy, RegionsArgs};
use crate::config::Config;
use crate::demo::{self, DemoEnv, DemoOutcome, Needs};
use crate::render::{Output, Table, Tone};
use crate::report::{Grouping, RegionsReport};

use super::UsageError;

/// Which demo, with the walkthrough's default request count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    Cris,
    Shard,
    Fallback,
    Balance,
    Isolate,
}

impl Pattern {
    const ALL: [Pattern; 5] = [
        Pattern::Cris,
        Pattern::Shard,
        Pattern::Fallback,
        Pattern::Balance,
        Pattern::Isolate,
    ];

    fn needs(self) -> Needs {
        match self {
            Pattern::Cris | Pattern::Shard => Needs::Aws,
            Pattern::Fallback | Pattern::Balance | Pattern::Isolate => Needs::Gateway,
        }
    }
}

/// Runs `demo …`.
pub async fn run(config: Config, command: DemoCommand, out: Output) -> anyhow::Result<()> {
    let config = Arc::new(config);
    match command {
        DemoCommand::Cris(args) => run_direct(config, Pattern::Cris, args, out).await,
        DemoCommand::Shard(args) => run_direct(config, Pattern::Shard, args, out).await,
        DemoCommand::Fallback(args) => run_gateway(config, Pattern::Fallback, args, out).await,
        DemoCommand::Balance(args) => run_gateway(config, Pattern::Balance, args, out).await,
        DemoCommand::Isolate(args) => run_gateway(config, Pattern::Isolate, args, out).await,
        DemoCommand::All(args) => run_all(config, args, out).await,
    }
}

async fn run_direct(
    config: Arc<Config>,
    pattern: Pattern,
    args: DirectDemoArgs,
    out: Output,
) -> anyhow::Result<()> {
    let env = if args.sandbox {
        DemoEnv::sandbox(config, pattern.needs()).await?
    } else {
        DemoEnv::real(config, None)
    };
    let wait = Duration::from_secs(args.wait);
    let outcome = run_pattern(&env, pattern, args.requests, wait, &out).await;
    env.close().await;
    finish(outcome?, &out)
}

async fn run_gateway(
    config: Arc<Config>,
    pattern: Pattern,
    args: GatewayDemoArgs,
    out: Output,
) -> anyhow::Result<()> {
    let env = if args.sandbox {
        DemoEnv::sandbox(config, pattern.needs()).await?
    } else {
        DemoEnv::real(config, args.gateway)
    };
    let outcome = run_pattern(&env, pattern, args.requests, Duration::from_secs(180), &out).await;
    env.close().await;
    finish(outcome?, &out)
}

async fn run_pattern(
    env: &DemoEnv,
    pattern: Pattern,
    requests: Option<u32>,
    wait: Duration,
    out: &Output,
) -> anyhow::Result<DemoOutcome> {
    match pattern {
        Pattern::Cris => demo::cris::run(env, requests.unwrap_or(10), wait, out).await,
        Pattern::Shard => demo::shard::run(env, requests.unwrap_or(20), wait, out).await,
        Pattern::Fallback => demo::fallback::run(env, requests.unwrap_or(10), out).await,
        Pattern::Balance => demo::balance::run(env, requests.unwrap_or(10), out).await,
        Pattern::Isolate => demo::isolate::run(env, requests.unwrap_or(5), out).await,
    }
}

/// Prints the outcome's JSON (with `--json`) or its diagnosis, then fails (exit 1) when the
/// verdict did, saying what was expected, what was seen and why when known.
fn finish(outcome: DemoOutcome, out: &Output) -> anyhow::Result<()> {
    if out.is_json() {
        out.json(&outcome.to_json());
    } else {
        for why in &outcome.diagnosis {
            out.log(Tone::Warn, why);
        }
    }
    anyhow::ensure!(outcome.passed, "{}", verdict_failure(&outcome));
    Ok(())
}

/// The message of a failed verdict.
fn verdict_failure(outcome: &DemoOutcome) -> String {
    let mut message = format!(
        "demo {} did not behave as the walkthrough shows: expected {}; observed {}",
        outcome.id, outcome.expected, outcome.observed
    );
    for why in &outcome.diagnosis {
        message.push_str("\n  ");
        message.push_str(why);
    }
    message
}

async fn run_all(config: Arc<Config>, args: AllDemoArgs, out: Output) -> anyhow::Result<()> {
    if !args.sandbox {
        return Err(UsageError(
            "demo all runs offline only: add --sandbox (against real AWS, run the demos one by one: demo cris, demo shard, then start `gateway serve` and run demo fallback, balance and isolate)".into(),
        ).into());
    }
    let started = std::time::Instant::now();
    let mut outcomes = Vec::new();
    for pattern in Pattern::ALL {
        let env = DemoEnv::sandbox(Arc::clone(&config), pattern.needs()).await?;
        let outcome = run_pattern(&env, pattern, None, Duration::from_secs(30), &out).await;
        env.close().await;
        outcomes.push(outcome.with_context(|| format!("demo {pattern:?} failed"))?);
    }
    let elapsed = started.elapsed();
    let all_passed = outcomes.iter().all(|o| o.passed);
    if let Some(path) = &args.html {
        let page = demo::html::report(&outcomes, elapsed.as_secs_f64());
        std::fs::write(path, page)
            .with_context(|| format!("cannot write the HTML report to {}", path.display()))?;
        if !out.is_json() {
            out.log(
                Tone::Info,
                &format!("HTML report written to {}", path.display()),
            );
        }
    }
    if out.is_json() {
        out.json(&json!({
            "passed": all_passed,
            "elapsed_s": elapsed.as_secs_f64(),
            "demos": outcomes.iter().map(DemoOutcome::to_json).collect::<Vec<_>>(),
        }));
    } else {
        out.heading("SUMMARY: THE FIVE RESILIENCE PATTERNS");
        let mut table = Table::new(["#", "Pattern", "Walkthrough expects", "Observed", "Verdict"]);
        for (i, o) in outcomes.iter().enumerate() {
            let verdict = if o.passed {
                out.paint("PASS", Tone::Good)
            } else {
                out.paint("FAIL", Tone::Bad)
            };
            table.row([
                (i + 1).to_string(),
                o.pattern.to_string(),
                o.expected.clone(),
                o.observed.clone(),
                verdict,
            ]);
        }
        out.table(&table);
        for o in outcomes.iter().filter(|o| !o.passed) {
            for why in &o.diagnosis {
                out.log(Tone::Warn, &format!("{}: {why}", o.id));
            }
        }
        let tone = if all_passed { Tone::Good } else { Tone::Bad };
        out.log(
            tone,
            &format!(
                "{} of 5 patterns behave as the walkthrough shows ({:.1}s)",
                outcomes.iter().filter(|o| o.passed).count(),
                elapsed.as_secs_f64()
            ),
        );
    }
    if !all_passed {
        let failed: Vec<String> = outcomes
            .iter()
            .filter(|o| !o.passed)
            .map(verdict_failure)
            .collect();
        anyhow::bail!(
            "some patterns did not behave as expected (see the summary):\n{}",
            failed.join("\n")
        );
    }
    Ok(())
}

/// Runs `report regions`.
pub async fn report_regions(config: Config, args: RegionsArgs, out: Output) -> anyhow::Result<()> {
    let clients = crate::aws::Clients::new(&config.aws);
    let document = crate::report::regions(&config, &clients, &regions_report(args), &out).await?;
    if out.is_json() {
        out.json(&document);
    }
    Ok(())
}

/// The report's options from the command line's.
fn regions_report(args: RegionsArgs) -> RegionsReport {
    RegionsReport {
        model: args.model,
        since: args.since,
        profile: args.profile,
        by: match args.by {
            GroupBy::Region => Grouping::Region,
            GroupBy::Model => Grouping::Model,
            GroupBy::Account => Grouping::Account,
        },
        wait: Duration::from_secs(args.wait),
    }
}
