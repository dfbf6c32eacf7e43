//! Pattern 1, cross-Region inference: N concurrent Converse calls to one inference profile
//! (`cris.model_id`) from the default profile and Region, each reported as it lands, then the
//! Region split Bedrock chose, read back from the model-invocation logs with the walkthrough's
//! Logs Insights query.
//!
//! The call machinery ([`converse`], [`send_all`], [`Tally`]) is shared with account sharding,
//! which makes the same calls round-robin across accounts.

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message,
};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::{Value, json};

use super::regions::explain::{Advice, Failure};
use super::regions::{self, LogsTarget, Polled};
use super::{DemoEnv, DemoOutcome};
use crate::render::{Output, Table, Tone, seconds};

/// What every demo call asks.
const PROMPT: &str = "In one sentence, what does cross-Region inference on Amazon Bedrock do?";
/// A short answer keeps the demo quick and cheap.
const MAX_TOKENS: i32 = 64;

/// How one call ended.
#[derive(Debug, Clone)]
pub(super) enum Outcome {
    Success,
    Throttled,
    Failed(Failure),
}

/// One call: its number (from 1), which account sent it, how long it took, how it ended.
#[derive(Debug, Clone)]
pub(super) struct Attempt {
    pub number: u32,
    /// Index of the sending profile (0 when there is only one).
    pub shard: usize,
    pub elapsed: Duration,
    pub outcome: Outcome,
}

impl Attempt {
    /// The walkthrough's line: `Request # 3 | SUCCESS | 1.84s`, with `label` (an account)
    /// after the number when given.
    pub fn line(&self, label: Option<&str>) -> (Tone, String) {
        let label = label.map(|l| format!(" | {l}")).unwrap_or_default();
        let head = format!("Request #{:>2}{label}", self.number);
        match &self.outcome {
            Outcome::Success => (
                Tone::Good,
                format!("{head} | SUCCESS | {}", seconds(self.elapsed)),
            ),
            Outcome::Throttled => (
                Tone::Warn,
                format!("{head} | THROTTLED | {}", seconds(self.elapsed)),
            ),
            Outcome::Failed(failure) => {
                (Tone::Bad, format!("{head} | FAILED: {}", failure.reason()))
            }
        }
    }

    fn to_json(&self) -> Value {
        let (outcome, reason) = match &self.outcome {
            Outcome::Success => ("success", None),
            Outcome::Throttled => ("throttled", None),
            Outcome::Failed(f) => ("failed", Some(f.reason().to_string())),
        };
        json!({"request": self.number, "shard": self.shard, "outcome": outcome, "time_s": self.elapsed.as_secs_f64(), "reason": reason})
    }
}

/// One Converse call to `model`.
pub(super) async fn converse(
    client: aws_sdk_bedrockruntime::Client,
    model: String,
    number: u32,
    shard: usize,
) -> Attempt {
    let started = Instant::now();
    let outcome = match Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(PROMPT.into()))
        .build()
    {
        Err(e) => Outcome::Failed(Failure::Other(e.to_string())),
        Ok(message) => {
            let sent = client
                .converse()
                .model_id(model)
                .messages(message)
                .inference_config(
                    InferenceConfiguration::builder()
                        .max_tokens(MAX_TOKENS)
                        .build(),
                )
                .send()
                .await;
            match sent {
                Ok(_) => Outcome::Success,
                Err(e) => match Failure::of(&e) {
                    Failure::Throttled(_) => Outcome::Throttled,
                    failure => Outcome::Failed(failure),
                },
            }
        }
    };
    Attempt {
        number,
        shard,
        elapsed: started.elapsed(),
        outcome,
    }
}

/// Sends every call at once and prints each as it lands (`label` names the call's account),
/// with a progress bar of the calls still in flight. Returns the attempts in landing order.
pub(super) async fn send_all<F>(
    calls: Vec<F>,
    label: impl Fn(&Attempt) -> Option<String>,
    out: &Output,
) -> Vec<Attempt>
where
    F: std::future::Future<Output = Attempt>,
{
    let bar = out.progress(calls.len() as u64, "Requests in flight");
    let mut pending: FuturesUnordered<F> = calls.into_iter().collect();
    let mut landed = Vec::new();
    while let Some(attempt) = pending.next().await {
        let (tone, text) = attempt.line(label(&attempt).as_deref());
        bar.suspend(|| out.log(tone, &text));
        bar.inc(1);
        landed.push(attempt);
    }
    bar.finish_and_clear();
    landed
}

/// Counts of a set of attempts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Tally {
    pub total: u64,
    pub success: u64,
    pub throttled: u64,
    pub failed: u64,
    /// Summed time of the successful calls.
    pub success_time: Duration,
}

impl Tally {
    /// The counts of `attempts`.
    pub fn of<'a>(attempts: impl IntoIterator<Item = &'a Attempt>) -> Tally {
        let mut tally = Tally::default();
        for a in attempts {
            tally.total += 1;
            match a.outcome {
                Outcome::Success => {
                    tally.success += 1;
                    tally.success_time += a.elapsed;
                }
                Outcome::Throttled => tally.throttled += 1,
                Outcome::Failed(_) => tally.failed += 1,
            }
        }
        tally
    }

    /// Mean time of the successful calls.
    pub fn avg_time(&self) -> Duration {
        match u32::try_from(self.success) {
            Ok(n) if n > 0 => self.success_time / n,
            Ok(_) | Err(_) => Duration::ZERO,
        }
    }
}

/// The first failure that would repeat on every call (credentials, access, reachability),
/// when nothing succeeded: then the demo stops and explains instead of drawing a table.
pub(super) fn setup_failure(attempts: &[Attempt]) -> Option<&Failure> {
    if attempts
        .iter()
        .any(|a| matches!(a.outcome, Outcome::Success))
    {
        return None;
    }
    attempts.iter().find_map(|a| match &a.outcome {
        Outcome::Failed(f) if f.is_setup_problem() => Some(f),
        Outcome::Failed(_) | Outcome::Success | Outcome::Throttled => None,
    })
}

/// How often to poll CloudWatch Logs in this environment.
pub(super) fn poll_interval(env: &DemoEnv) -> Duration {
    if env.is_sandbox() {
        regions::SANDBOX_POLL
    } else {
        regions::AWS_POLL
    }
}

/// Runs the demo.
pub async fn run(
    env: &DemoEnv,
    requests: u32,
    wait: Duration,
    out: &Output,
) -> anyhow::Result<DemoOutcome> {
    let model = env.config.cris.model_id.clone();
    let profile = env.clients.default_profile().map(str::to_string);
    let region = env.clients.default_region().to_string();
    let advice = Advice {
        profile: profile.as_deref(),
        region: &region,
    };

    out.heading("PATTERN 1: CROSS-REGION INFERENCE");
    let mut plan = Table::new([
        "Model Endpoint",
        "# Requests Sent",
        "Source Region",
        "Profile",
    ]);
    plan.row([
        model.clone(),
        requests.to_string(),
        region.clone(),
        profile.clone().unwrap_or_else(|| "(default chain)".into()),
    ]);
    out.table(&plan);
    out.log(
        Tone::Info,
        &format!("Sending {requests} concurrent requests to {model}..."),
    );

    let client = env.clients.bedrock(None, None).await?;
    let since = SystemTime::now();
    let calls = (1..=requests)
        .map(|n| converse(client.clone(), model.clone(), n, 0))
        .collect();
    let attempts = send_all(calls, |_| None, out).await;
    if let Some(failure) = setup_failure(&attempts) {
        anyhow::bail!(advice.bedrock(failure, &model));
    }
    let tally = Tally::of(&attempts);
    out.log(
        if tally.success == tally.total {
            Tone::Good
        } else {
            Tone::Warn
        },
        &format!(
            "{}/{} succeeded, {} throttled, {} failed; average {}",
            tally.success,
            tally.total,
            tally.throttled,
            tally.failed,
            seconds(tally.avg_time())
        ),
    );

    let logs = env.clients.logs(None, None).await?;
    let target = LogsTarget {
        client: &logs,
        log_group: &env.config.aws.log_group,
        advice,
    };
    let since_ms = regions::epoch_ms(since);
    let query = regions::cris_query(&model, since_ms);
    out.log(
        Tone::Dim,
        &format!(
            "CloudWatch Logs Insights on {} in {region}: {query}",
            env.config.aws.log_group
        ),
    );
    let polled = regions::poll_regions(
        &target,
        &query,
        since_ms,
        tally.success,
        wait,
        poll_interval(env),
        out,
    )
    .await?;
    out.heading("REGION DISTRIBUTION");
    regions::show_regions(
        &polled,
        tally.success,
        out,
        &format!("{model} from {region}:"),
    );

    let outcome = verdict(requests, &tally, &polled);
    let tone = if outcome.passed {
        Tone::Good
    } else {
        Tone::Warn
    };
    out.log(
        tone,
        &format!(
            "{}: {}",
            if outcome.passed {
                "CROSS-REGION INFERENCE WORKING"
            } else {
                "NOT AS EXPECTED"
            },
            outcome.observed
        ),
    );
    let figures = json!({
        "model_id": model,
        "source_region": region,
        "profile": profile,
        "log_group": env.config.aws.log_group,
        "query": query,
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
    });
    Ok(DemoOutcome { figures, ..outcome })
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
    DemoOutcome {
        pattern: "cross-Region inference",
        expected: format!("{requests}/{requests} succeed, spread over ≥2 Regions"),
        observed,
        passed: tally.success == u64::from(requests) && logged == tally.success && regions_used > 1,
        figures: Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::regions::Distribution;
    use super::*;

    fn attempt(number: u32, outcome: Outcome, ms: u64) -> Attempt {
        Attempt {
            number,
            shard: 0,
            elapsed: Duration::from_millis(ms),
            outcome,
        }
    }

    #[test]
    fn lines_follow_the_walkthrough() {
        assert_eq!(
            attempt(3, Outcome::Success, 1840).line(None).1,
            "Request # 3 | SUCCESS | 1.84s"
        );
        assert_eq!(
            attempt(12, Outcome::Throttled, 500).line(Some("genai")).1,
            "Request #12 | genai | THROTTLED | 0.50s"
        );
        let failed = attempt(
            1,
            Outcome::Failed(Failure::AccessDenied("AccessDeniedException: no".into())),
            5,
        );
        assert_eq!(
            failed.line(None).1,
            "Request # 1 | FAILED: AccessDeniedException: no"
        );
    }

    #[test]
    fn tallies_average_successes_only() {
        let attempts = [
            attempt(1, Outcome::Success, 1000),
            attempt(2, Outcome::Success, 3000),
            attempt(3, Outcome::Throttled, 9000),
        ];
        let tally = Tally::of(&attempts);
        assert_eq!(
            (tally.total, tally.success, tally.throttled, tally.failed),
            (3, 2, 1, 0)
        );
        assert_eq!(tally.avg_time(), Duration::from_secs(2));
        assert!(setup_failure(&attempts).is_none());
        let denied = [attempt(
            1,
            Outcome::Failed(Failure::AccessDenied(String::new())),
            1,
        )];
        assert!(setup_failure(&denied).is_some());
    }

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
        let short = polled(vec![(Some("us-east-1".into()), 1)]);
        let v = verdict(2, &tally, &short);
        assert!(
            !v.passed && v.observed.contains("logs count 1 of 2"),
            "{}",
            v.observed
        );
    }
}
