//! `report regions`: the ad-hoc CloudWatch Logs Insights distribution of Bedrock invocations,
//! for one model (any id or ARN containing `--model`) or all, over the last `--since`, grouped
//! by the Region they ran in, the model, or the account, as a table with bars or one JSON
//! document.
//!
//! The query runs through [`crate::insights`]; the options come as a [`RegionsReport`], which
//! the command boundary builds from the command line.

use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use crate::aws::Clients;
use crate::config::Config;
use crate::insights::{self, Advice, Distribution, LogsTarget, NO_VALUE};
use crate::render::{Output, Table, Tone, percent};

/// How often to ask whether the query finished.
const POLL: Duration = Duration::from_millis(500);

/// The name of the count column.
const COUNT: &str = "invocations";

/// A `--since` value that is not a duration (clap prints it after the value and exits 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a duration: a valid one is a whole number above zero and one unit (s, m, h or d), like 30s, 15m, 2h or 1d"
)]
pub struct BadSince(String);

/// How far back `report regions` looks: the text as given and the window it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Since {
    pub text: String,
    pub window: Duration,
}

impl std::str::FromStr for Since {
    type Err = BadSince;

    fn from_str(text: &str) -> Result<Self, BadSince> {
        Ok(Since {
            text: text.trim().to_string(),
            window: parse_since(text)?,
        })
    }
}

impl std::fmt::Display for Since {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parses `30s`, `15m`, `2h`, `1d` (a positive whole number and one unit).
pub fn parse_since(text: &str) -> Result<Duration, BadSince> {
    let bad = || BadSince(text.to_string());
    let text = text.trim();
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = text.split_at_checked(split).ok_or_else(bad)?;
    let n: u64 = number.parse().map_err(|_| bad())?;
    let unit_s = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    match n.checked_mul(unit_s) {
        Some(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
        Some(_) | None => Err(bad()),
    }
}

/// What `report regions` counts invocations by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    Region,
    Model,
    Account,
}

/// What `report regions` is asked for.
#[derive(Debug, Clone)]
pub struct RegionsReport {
    /// Only models whose id or ARN contains this; every model when `None`.
    pub model: Option<String>,
    /// How far back to look.
    pub since: Since,
    /// The AWS profile; the configured default when `None`.
    pub profile: Option<String>,
    /// What to count by.
    pub by: Grouping,
    /// How long to wait for the query to complete (whole seconds, as `--wait` gives it).
    pub wait: Duration,
}

/// The log field a grouping counts by.
pub fn group_field(by: Grouping) -> &'static str {
    match by {
        Grouping::Region => "inferenceRegion",
        Grouping::Model => "modelId",
        Grouping::Account => "accountId",
    }
}

fn group_header(by: Grouping) -> &'static str {
    match by {
        Grouping::Region => "Region",
        Grouping::Model => "Model",
        Grouping::Account => "Account",
    }
}

/// The Insights query: optionally only models whose id contains `model`, counted by `field`.
pub fn report_query(model: Option<&str>, field: &str) -> String {
    let filter = model
        .map(|m| format!("filter modelId like /{}/ | ", insights::escape_regex(m)))
        .unwrap_or_default();
    format!("{filter}stats count(*) as {COUNT} by {field} | sort {field}")
}

/// Runs the report; returns every figure as one JSON document (printed by the caller with
/// `--json`).
pub async fn regions(
    config: &Config,
    clients: &Clients,
    args: &RegionsReport,
    out: &Output,
) -> anyhow::Result<Value> {
    let window = args.since.window;
    let profile = args.profile.as_deref().or(clients.default_profile());
    let region = clients.default_region();
    let log_group = &config.aws.log_group;
    let field = group_field(args.by);
    let query = report_query(args.model.as_deref(), field);
    let logs = clients.logs(profile, None).await?;
    let target = LogsTarget {
        client: &logs,
        log_group,
        advice: Advice { profile, region },
    };

    let since = SystemTime::now()
        .checked_sub(window)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let since_s = insights::epoch_ms(since) / 1000;
    let bar = out.progress(1, &format!("Querying {log_group} in {region}"));
    let results = target
        .query(&query, since_s, POLL, Instant::now() + args.wait)
        .await;
    if matches!(results, Ok(Some(_))) {
        bar.inc(1);
        crate::render::finish_progress(&bar);
    } else {
        crate::render::stop_progress(&bar);
    }
    let Some(results) = results? else {
        anyhow::bail!(
            "the Logs Insights query on {log_group} did not complete within {}s: raise --wait",
            args.wait.as_secs()
        );
    };
    let distribution = Distribution::from_results(&results, field, COUNT);
    let total = distribution.total();

    let scope = args.model.as_deref().map_or_else(
        || "every model".to_string(),
        |m| format!("models matching {m}"),
    );
    let profile_name = profile.unwrap_or("(default chain)");
    out.heading(&format!(
        "BEDROCK INVOCATIONS BY {} ({scope}, last {})",
        group_header(args.by).to_uppercase(),
        args.since
    ));
    out.log(
        Tone::Dim,
        &format!("{log_group} in {region}, profile {profile_name}: {query}"),
    );
    if total == 0 {
        out.log(Tone::Warn, &format!("No invocations of {scope} in the last {} (invocation logs can take minutes to arrive).", args.since));
    } else {
        out.table(&table(&distribution, args.by));
    }

    Ok(json!({
        "profile": profile,
        "region": region,
        "log_group": log_group,
        "model": args.model,
        "since": args.since.text,
        "since_s": window.as_secs(),
        "by": group_header(args.by).to_lowercase(),
        "field": field,
        "query": query,
        "total": total,
        "rows": distribution.rows.iter().map(|(key, n)| json!({"key": key, COUNT: n, "percentage": share(*n, total)})).collect::<Vec<_>>(),
        "counts": distribution.counts_json(),
    }))
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// Every row, including records without the field (throttled or failed calls have no Region).
fn table(distribution: &Distribution, by: Grouping) -> Table {
    let total = distribution.total();
    let mut table = Table::new([group_header(by), "Invocations", "Percentage"]);
    for (key, n) in &distribution.rows {
        let label = key.clone().unwrap_or_else(|| NO_VALUE.to_string());
        table.row_with_bar(
            [label, n.to_string(), percent(*n, total)],
            share(*n, total) / 100.0,
        );
    }
    table.total([
        "TOTAL".to_string(),
        total.to_string(),
        percent(total, total),
    ]);
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_number_and_a_unit() {
        assert_eq!(parse_since("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_since("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_since("2h"), Ok(Duration::from_secs(7_200)));
        assert_eq!(parse_since("1d"), Ok(Duration::from_secs(86_400)));
        for bad in ["", "m", "15", "15x", "0m", "-1m", "1.5h", "1é"] {
            let err = parse_since(bad).unwrap_err();
            assert!(
                err.to_string()
                    .contains("a valid one is a whole number above zero"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn queries_filter_by_model_and_group_by_the_field() {
        assert_eq!(
            report_query(None, "inferenceRegion"),
            "stats count(*) as invocations by inferenceRegion | sort inferenceRegion"
        );
        assert_eq!(
            report_query(
                Some("us.anthropic.claude-opus-4-6-v1"),
                group_field(Grouping::Account)
            ),
            "filter modelId like /us\\.anthropic\\.claude-opus-4-6-v1/ | stats count(*) as invocations by accountId | sort accountId"
        );
    }
}
