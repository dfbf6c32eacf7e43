//! The Bedrock calls shared by cross-Region inference and account sharding: one Converse call
//! ([`converse`]), all of them at once with a line per call as it lands ([`send_all`]), and
//! their counts ([`Tally`]).

use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message,
};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::{Value, json};

use crate::insights::Failure;
use crate::render::{Output, Tone, seconds};

/// What every demo call asks.
const PROMPT: &str = "In one sentence, what does cross-Region inference on Amazon Bedrock do?";
/// A short answer keeps the demo quick and cheap.
const MAX_TOKENS: i32 = 64;

/// How one call ended.
#[derive(Debug, Clone)]
pub(in crate::demo) enum Outcome {
    Success,
    Throttled,
    Failed(Failure),
}

/// One call: its number (from 1), which account sent it, how long it took, how it ended.
#[derive(Debug, Clone)]
pub(in crate::demo) struct Attempt {
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

    pub fn to_json(&self) -> Value {
        let (outcome, reason) = match &self.outcome {
            Outcome::Success => ("success", None),
            Outcome::Throttled => ("throttled", None),
            Outcome::Failed(f) => ("failed", Some(f.reason().to_string())),
        };
        json!({"request": self.number, "shard": self.shard, "outcome": outcome, "time_s": self.elapsed.as_secs_f64(), "reason": reason})
    }
}

/// One Converse call to `model`.
pub(in crate::demo) async fn converse(
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
pub(in crate::demo) async fn send_all<F>(
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
    crate::render::finish_progress(&bar);
    landed
}

/// Counts of a set of attempts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(in crate::demo) struct Tally {
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
pub(in crate::demo) fn setup_failure(attempts: &[Attempt]) -> Option<&Failure> {
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

#[cfg(test)]
mod tests {
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
}
