//! The Region distribution from the Bedrock model-invocation logs, shared by `demo cris`,
//! `demo shard` and `report regions`: building the walkthrough's Logs Insights query, running
//! it (StartQuery, then GetQueryResults until complete), polling until the invocations just
//! made have all arrived, and the `Region | Invocations | Percentage` table with bars.
//!
//! Real CloudWatch Logs takes a minute or more to show an invocation, so the demos poll every
//! few seconds against AWS and every quarter second against the sandbox, and say plainly when
//! the wait ran out before every invocation arrived.

pub mod explain;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatchlogs::types::{QueryStatus, ResultField};
use serde_json::{Value, json};

use crate::render::{Output, Table, percent};

use explain::{Advice, Failure};

/// How often to poll CloudWatch Logs against the sandbox.
pub const SANDBOX_POLL: Duration = Duration::from_millis(250);
/// How often to poll real CloudWatch Logs (each poll runs one Insights query).
pub const AWS_POLL: Duration = Duration::from_secs(3);

/// The key shown for records without the grouped field (throttled or failed calls have no
/// `inferenceRegion`).
pub const NO_VALUE: &str = "(none)";

/// Escapes `text` for a Logs Insights `/regex/` literal: regex metacharacters and `/`.
pub fn escape_regex(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if "\\.+*?()|[]{}^$/".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
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

/// Milliseconds since the Unix epoch.
pub fn epoch_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Invocation counts per key (Region, model or account), as the query returned them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Distribution {
    /// `(key, count)`; the key is `None` for records without the grouped field.
    pub rows: Vec<(Option<String>, u64)>,
}

impl Distribution {
    /// Reads `key_field` and `count_field` from each result row.
    pub fn from_results(results: &[Vec<ResultField>], key_field: &str, count_field: &str) -> Self {
        let value = |row: &[ResultField], name: &str| {
            row.iter()
                .find(|f| f.field() == Some(name))
                .and_then(|f| f.value())
                .map(str::to_string)
        };
        let mut rows: Vec<(Option<String>, u64)> = results
            .iter()
            .map(|row| {
                let count = value(row, count_field)
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0);
                (
                    value(row, key_field).filter(|k| !k.is_empty()),
                    count as u64,
                )
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        Distribution { rows }
    }

    /// Every counted record.
    pub fn total(&self) -> u64 {
        self.rows.iter().map(|(_, n)| n).sum()
    }

    /// Records that have the grouped field (for Regions: calls that ran somewhere).
    pub fn keyed_total(&self) -> u64 {
        self.rows
            .iter()
            .filter(|(k, _)| k.is_some())
            .map(|(_, n)| n)
            .sum()
    }

    /// The rows with a key, in key order.
    pub fn keyed(&self) -> impl Iterator<Item = (&str, u64)> {
        self.rows
            .iter()
            .filter_map(|(k, n)| k.as_deref().map(|k| (k, *n)))
    }

    /// How many distinct keys were counted.
    pub fn key_count(&self) -> usize {
        self.keyed().count()
    }

    /// `Header | Invocations | Percentage` with a bar per row, keyed rows only, percentages of
    /// the keyed total.
    pub fn table(&self, key_header: &str) -> Table {
        let total = self.keyed_total();
        let mut table = Table::new([key_header, "Invocations", "Percentage"]);
        for (key, n) in self.keyed() {
            let fraction = if total == 0 {
                0.0
            } else {
                n as f64 / total as f64
            };
            table.row_with_bar(
                [key.to_string(), n.to_string(), percent(n, total)],
                fraction,
            );
        }
        table
    }

    /// `{"us-east-1": 5, …}` over keyed rows.
    pub fn counts_json(&self) -> Value {
        Value::Object(
            self.keyed()
                .map(|(k, n)| (k.to_string(), json!(n)))
                .collect(),
        )
    }
}

/// Where the invocation logs are and who reads them.
pub struct LogsTarget<'a> {
    pub client: &'a aws_sdk_cloudwatchlogs::Client,
    pub log_group: &'a str,
    pub advice: Advice<'a>,
}

impl LogsTarget<'_> {
    /// Runs one Insights query over `[start_s, now]`, waiting for it to complete until
    /// `deadline`; `None` if it did not complete in time.
    pub async fn query(
        &self,
        query: &str,
        start_s: i64,
        interval: Duration,
        deadline: Instant,
    ) -> anyhow::Result<Option<Vec<Vec<ResultField>>>> {
        let end_s = epoch_ms(SystemTime::now()) / 1000 + 60;
        let started = self
            .client
            .start_query()
            .log_group_name(self.log_group)
            .start_time(start_s)
            .end_time(end_s)
            .query_string(query)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(self.advice.logs(&Failure::of(&e), self.log_group)))?;
        let query_id = started.query_id().unwrap_or_default().to_string();
        loop {
            let results = self
                .client
                .get_query_results()
                .query_id(&query_id)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!(self.advice.logs(&Failure::of(&e), self.log_group)))?;
            match results.status() {
                Some(QueryStatus::Complete) => return Ok(Some(results.results().to_vec())),
                Some(
                    status @ (QueryStatus::Failed | QueryStatus::Cancelled | QueryStatus::Timeout),
                ) => {
                    anyhow::bail!(
                        "the CloudWatch Logs Insights query on {} ended {}: {query}",
                        self.log_group,
                        status.as_str()
                    )
                }
                Some(QueryStatus::Running | QueryStatus::Scheduled) | None => {}
                Some(other) => tracing::debug!(
                    status = other.as_str(),
                    "unknown query status, still polling"
                ),
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(interval).await;
        }
    }
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

    fn field(name: &str, value: &str) -> ResultField {
        ResultField::builder().field(name).value(value).build()
    }

    #[test]
    fn ids_are_escaped_for_insights_regexes() {
        assert_eq!(
            escape_regex("us.anthropic.claude-opus-4-6-v1"),
            "us\\.anthropic\\.claude-opus-4-6-v1"
        );
        assert_eq!(escape_regex("a/b:c"), "a\\/b:c");
        assert_eq!(
            profile_id("arn:aws:bedrock:us-east-1:1:inference-profile/us.x"),
            "us.x"
        );
        assert_eq!(
            cris_query("us.a-1", 5),
            "filter modelId like /inference-profile\\/us\\.a-1/ and toMillis(@timestamp) >= 5 | stats count(*) as invocationCount by inferenceRegion | sort inferenceRegion"
        );
    }

    #[test]
    fn distributions_read_rows_and_keep_unkeyed_counts_apart() {
        let results = vec![
            vec![
                field("inferenceRegion", "us-west-2"),
                field("invocationCount", "2"),
            ],
            vec![
                field("inferenceRegion", "us-east-1"),
                field("invocationCount", "3"),
            ],
            vec![field("invocationCount", "4")],
        ];
        let d = Distribution::from_results(&results, "inferenceRegion", "invocationCount");
        assert_eq!(d.total(), 9);
        assert_eq!(d.keyed_total(), 5);
        assert_eq!(
            d.keyed().collect::<Vec<_>>(),
            vec![("us-east-1", 3), ("us-west-2", 2)]
        );
        assert_eq!(d.counts_json(), json!({"us-east-1": 3, "us-west-2": 2}));
        assert!(d.table("Region").render().contains("60.0%"));
    }
}
