//! The Region distribution of the calls a demo just made, shared by `demo cris` and
//! `demo shard`: the walkthrough's Logs Insights query, polling it until the invocations just
//! made have all arrived, and the `Region | Invocations | Percentage` table with bars. The
//! query itself runs through [`crate::insights`].
//!
//! Real CloudWatch Logs takes a minute or more to show an invocation, so the demos poll every
//! few seconds against AWS and every quarter second against the sandbox, and say plainly when
//! the wait ran out before every invocation arrived.

use std::time::{Duration, Instant};

use crate::insights::{Distribution, LogsTarget, escape_regex};
use crate::render::{Output, percent};

use super::DemoEnv;

/// How often to poll CloudWatch Logs against the sandbox.
pub const SANDBOX_POLL: Duration = Duration::from_millis(250);
/// How often to poll real CloudWatch Logs (each poll runs one Insights query).
pub const AWS_POLL: Duration = Duration::from_secs(3);

/// How often to poll CloudWatch Logs in this environment.
pub fn poll_interval(env: &DemoEnv) -> Duration {
    if env.is_sandbox() {
        SANDBOX_POLL
    } else {
        AWS_POLL
    }
}

/// The inference-profile id of a model id or ARN (`arn:…:inference-profile/us.x` → `us.x`).
pub fn profile_id(model_id: &str) -> &str {
    model_id
        .rsplit_once("inference-profile/")
        .map_or(model_id, |(_, id)| id)
}

/// The walkthrough's query: invocations of the inference profile `model_id` since `since_ms`,
/// counted by the Region they ran in.
pub fn cris_query(model_id: &str, since_ms: i64) -> String {
    format!(
        "filter modelId like /inference-profile\\/{}/ and toMillis(@timestamp) >= {since_ms} | stats count(*) as invocationCount by inferenceRegion | sort inferenceRegion",
        escape_regex(profile_id(model_id))
    )
}

/// What polling for the invocation logs found.
#[derive(Debug, Clone)]
pub struct Polled {
    pub distribution: Distribution,
    /// Whether every expected invocation was counted before the wait ran out.
    pub complete: bool,
    pub waited: Duration,
}

/// Runs `query` every `interval` until it counts `expected` invocations with a Region, or
/// `wait` runs out; a progress bar shows the count so far.
pub async fn poll_regions(
    target: &LogsTarget<'_>,
    query: &str,
    since_ms: i64,
    expected: u64,
    wait: Duration,
    interval: Duration,
    out: &Output,
) -> anyhow::Result<Polled> {
    let started = Instant::now();
    let deadline = started + wait;
    let bar = out.progress(
        expected,
        &format!("Waiting for invocation logs in {}", target.log_group),
    );
    let mut distribution = Distribution::default();
    let since_s = since_ms.div_euclid(1000);
    let complete = loop {
        if let Some(results) = target.query(query, since_s, interval, deadline).await? {
            distribution =
                Distribution::from_results(&results, "inferenceRegion", "invocationCount");
            bar.set_position(distribution.keyed_total().min(expected));
        }
        if distribution.keyed_total() >= expected {
            break true;
        }
        if Instant::now() + interval > deadline {
            break false;
        }
        tokio::time::sleep(interval).await;
    };
    if complete {
        crate::render::finish_progress(&bar);
    } else {
        crate::render::stop_progress(&bar);
    }
    Ok(Polled {
        distribution,
        complete,
        waited: started.elapsed(),
    })
}

/// Prints a Region table, or says honestly what did not arrive.
pub fn show_regions(polled: &Polled, expected: u64, out: &Output, title: &str) {
    let logged = polled.distribution.keyed_total();
    if !polled.complete {
        out.log(
            crate::render::Tone::Warn,
            &format!(
                "Only {logged} of {expected} invocations reached CloudWatch Logs within {:.0}s (logs can take minutes): the table shows those. Rerun later with `report regions --since 15m`, or raise --wait.",
                polled.waited.as_secs_f64()
            ),
        );
    }
    let mut table = polled.distribution.table("Region").titled(title);
    table.total([
        "TOTAL".to_string(),
        logged.to_string(),
        percent(logged, logged),
    ]);
    if !table.is_empty() {
        out.table(&table);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_names_the_inference_profile() {
        assert_eq!(
            profile_id("arn:aws:bedrock:us-east-1:1:inference-profile/us.x"),
            "us.x"
        );
        assert_eq!(
            cris_query("us.a-1", 5),
            "filter modelId like /inference-profile\\/us\\.a-1/ and toMillis(@timestamp) >= 5 | stats count(*) as invocationCount by inferenceRegion | sort inferenceRegion"
        );
    }
}
