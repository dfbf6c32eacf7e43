//! One Logs Insights query, run to completion: StartQuery over a time range, then
//! GetQueryResults every `interval` until the query completes, fails or the deadline passes.
//! A failed call is explained with [`Advice`]; a query the service ended (failed, cancelled,
//! timed out) is an error that names the query.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatchlogs::types::{QueryStatus, ResultField};

use super::explain::{Advice, Failure};

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

/// Milliseconds since the Unix epoch.
pub fn epoch_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_escaped_for_insights_regexes() {
        assert_eq!(
            escape_regex("us.anthropic.claude-opus-4-6-v1"),
            "us\\.anthropic\\.claude-opus-4-6-v1"
        );
        assert_eq!(escape_regex("a/b:c"), "a\\/b:c");
    }
}
