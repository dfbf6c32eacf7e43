//! Pattern 2, account sharding: the same Converse calls as pattern 1, sent round-robin across
//! two or more AWS profiles (accounts). STS shows which account each profile is; the analysis
//! table shows each account's totals (quotas are enforced per account, so one account's
//! throttling never touches another's); each account's own CloudWatch Logs then show where
//! its calls ran.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::converse::{self, Attempt, Tally};
use super::regions::{self, Polled};
use super::{DemoEnv, DemoOutcome};
use crate::config::Config;
use crate::insights::{self, Advice, Failure, LogsTarget};
use crate::render::{Output, Table, Tone, percent, seconds};

/// One account of the run.
struct Shard {
    profile: String,
    account_id: String,
    arn: String,
}

impl Shard {
    fn label(&self) -> String {
        format!("{} ({})", self.profile, self.account_id)
    }
}

/// Runs the demo: each profile's account, the calls round-robin as they land, each account's
/// totals, each account's own Region split from its logs, and the verdict.
pub async fn run(
    env: &DemoEnv,
    requests: u32,
    wait: Duration,
    out: &Output,
) -> anyhow::Result<DemoOutcome> {
    let setup = Setup::announce(env, requests, out).await?;
    let sent = send(env, &setup, requests, out).await?;
    let tallies: Vec<Tally> = (0..setup.shards.len())
        .map(|s| Tally::of(sent.attempts.iter().filter(|a| a.shard == s)))
        .collect();
    analyse(&setup, &tallies, &sent.attempts, out)?;

    let since_ms = insights::epoch_ms(sent.since);
    let logged = read_regions(env, &setup, &tallies, since_ms, wait, out).await?;
    let outcome = verdict(requests, &setup.shards, &tallies, &logged.polled);
    let (tone, line) = outcome.headline("ACCOUNT SHARDING WORKING");
    out.log(tone, &line);
    let figures = figures(env, &setup, requests, &tallies, &logged, &sent.attempts);
    Ok(DemoOutcome { figures, ..outcome })
}

/// What the run calls, from where, and through which accounts.
struct Setup {
    /// The inference profile (`cris.model_id`).
    model: String,
    /// The source Region.
    region: String,
    shards: Vec<Shard>,
}

impl Setup {
    /// The opening: checks there are two profiles or more, shows which account each is, and
    /// says what is about to be sent.
    async fn announce(env: &DemoEnv, requests: u32, out: &Output) -> anyhow::Result<Setup> {
        let profiles = sharded_profiles(&env.config)?;
        let model = env.config.cris.model_id.clone();
        let region = env.clients.default_region().to_string();

        out.heading("PATTERN 2: ACCOUNT SHARDING");
        let shards = identify(env, profiles, &region, out).await?;
        out.log(
            Tone::Info,
            &format!(
                "Sending {requests} concurrent requests to {model}, round-robin over {} accounts...",
                shards.len()
            ),
        );
        Ok(Setup {
            model,
            region,
            shards,
        })
    }

    /// Who makes the calls of `shard`, for explaining a failure.
    fn advice<'a>(&'a self, shard: &'a Shard) -> Advice<'a> {
        Advice {
            profile: Some(&shard.profile),
            region: &self.region,
        }
    }
}

/// The profiles to shard over, or an error when the config names fewer than two.
fn sharded_profiles(config: &Config) -> anyhow::Result<&[String]> {
    let profiles = &config.aws.profiles;
    anyhow::ensure!(
        profiles.len() >= 2,
        "account sharding needs two or more AWS profiles, but {} names {}: set aws.profile_name and aws.secondary_profile_name (or aws.profiles: [a, b, …])",
        config.source.display(),
        match profiles.first() {
            Some(p) => format!("only {p:?}"),
            None => "none".to_string(),
        }
    );
    Ok(profiles)
}

/// The calls as they landed, and when they went out.
struct Sent {
    since: SystemTime,
    attempts: Vec<Attempt>,
}

/// Sends the calls at once, round-robin over the accounts, each reported as it lands.
async fn send(env: &DemoEnv, setup: &Setup, requests: u32, out: &Output) -> anyhow::Result<Sent> {
    let shards = &setup.shards;
    let mut clients = Vec::new();
    for shard in shards {
        clients.push(env.clients.bedrock(Some(&shard.profile), None).await?);
    }
    let since = SystemTime::now();
    let calls = (0..requests)
        .map(|i| {
            let shard = i as usize % shards.len();
            converse::converse(clients[shard].clone(), setup.model.clone(), i + 1, shard)
        })
        .collect();
    let attempts = converse::send_all(
        calls,
        |a| shards.get(a.shard).map(|s| s.profile.clone()),
        out,
    )
    .await;
    Ok(Sent { since, attempts })
}

/// The walkthrough's analysis: each account's totals; then, if an account's every call failed
/// the same way (credentials, access), stops and explains.
fn analyse(
    setup: &Setup,
    tallies: &[Tally],
    attempts: &[Attempt],
    out: &Output,
) -> anyhow::Result<()> {
    out.heading("ACCOUNT SHARDING ANALYSIS");
    out.table(&analysis_table(&setup.shards, tallies));
    for (s, shard) in setup.shards.iter().enumerate() {
        let mine: Vec<Attempt> = attempts.iter().filter(|a| a.shard == s).cloned().collect();
        if let Some(failure) = converse::setup_failure(&mine) {
            anyhow::bail!(setup.advice(shard).bedrock(failure, &setup.model));
        }
    }
    Ok(())
}

/// The walkthrough's query and what polling it found in each account's logs.
struct Logged {
    query: String,
    /// One per account, in order.
    polled: Vec<Polled>,
}

/// Reads back, from each account's own logs, where its calls since `since_ms` ran: the
/// walkthrough's query, polled until it counts the account's successful calls or `wait` runs
/// out, then the account's Region table.
async fn read_regions(
    env: &DemoEnv,
    setup: &Setup,
    tallies: &[Tally],
    since_ms: i64,
    wait: Duration,
    out: &Output,
) -> anyhow::Result<Logged> {
    let query = regions::cris_query(&setup.model, since_ms);
    out.heading("REGION DISTRIBUTION PER ACCOUNT (each account's own CloudWatch Logs)");
    let mut polled = Vec::new();
    for (shard, tally) in setup.shards.iter().zip(tallies) {
        let logs = env.clients.logs(Some(&shard.profile), None).await?;
        let target = LogsTarget {
            client: &logs,
            log_group: &env.config.aws.log_group,
            advice: setup.advice(shard),
        };
        let interval = regions::poll_interval(env);
        let found = regions::poll_regions(
            &target,
            &query,
            since_ms,
            tally.success,
            wait,
            interval,
            out,
        )
        .await?;
        regions::show_regions(&found, tally.success, out, &format!("{}:", shard.label()));
        polled.push(found);
    }
    Ok(Logged { query, polled })
}

/// Every figure of the run, for `--json`.
fn figures(
    env: &DemoEnv,
    setup: &Setup,
    requests: u32,
    tallies: &[Tally],
    logged: &Logged,
    attempts: &[Attempt],
) -> Value {
    let accounts = setup.shards.iter().zip(tallies).zip(&logged.polled);
    json!({
        "model_id": setup.model,
        "source_region": setup.region,
        "log_group": env.config.aws.log_group,
        "query": logged.query,
        "requests": requests,
        "accounts": accounts.map(|((s, t), p)| account_json(s, t, p)).collect::<Vec<_>>(),
        "total": tally_json(&sum(tallies)),
        "attempts": attempts.iter().map(Attempt::to_json).collect::<Vec<_>>(),
    })
}

/// Asks STS which account each profile is, and says so.
async fn identify(
    env: &DemoEnv,
    profiles: &[String],
    region: &str,
    out: &Output,
) -> anyhow::Result<Vec<Shard>> {
    let mut shards = Vec::new();
    for profile in profiles {
        let sts = env.clients.sts(Some(profile), None).await?;
        let identity = sts.get_caller_identity().send().await.map_err(|e| {
            let advice = Advice {
                profile: Some(profile),
                region,
            };
            anyhow::anyhow!(advice.sts(&Failure::of(&e)))
        })?;
        let shard = Shard {
            profile: profile.clone(),
            account_id: identity.account().unwrap_or("unknown").to_string(),
            arn: identity.arn().unwrap_or_default().to_string(),
        };
        out.log(
            Tone::Info,
            &format!(
                "Profile {:<10} -> account {} ({})",
                shard.profile, shard.account_id, shard.arn
            ),
        );
        shards.push(shard);
    }
    Ok(shards)
}

fn sum(tallies: &[Tally]) -> Tally {
    tallies.iter().fold(Tally::default(), |acc, t| Tally {
        total: acc.total + t.total,
        success: acc.success + t.success,
        throttled: acc.throttled + t.throttled,
        failed: acc.failed + t.failed,
        success_time: acc.success_time + t.success_time,
    })
}

/// The walkthrough's table: `Account | Total | Success | Failed | Success Rate | Avg Time`,
/// plus a TOTAL row. Throttled calls count as failed here (the JSON keeps them apart).
fn analysis_table(shards: &[Shard], tallies: &[Tally]) -> Table {
    let cells = |name: String, t: &Tally| {
        [
            name,
            t.total.to_string(),
            t.success.to_string(),
            (t.throttled + t.failed).to_string(),
            percent(t.success, t.total),
            seconds(t.avg_time()),
        ]
    };
    let mut table = Table::new([
        "Account",
        "Total",
        "Success",
        "Failed",
        "Success Rate",
        "Avg Time",
    ]);
    for (shard, tally) in shards.iter().zip(tallies) {
        table.row(cells(shard.label(), tally));
    }
    table.total(cells("TOTAL".to_string(), &sum(tallies)));
    table
}

fn tally_json(t: &Tally) -> Value {
    json!({
        "total": t.total,
        "success": t.success,
        "throttled": t.throttled,
        "failed": t.failed,
        "success_rate": if t.total == 0 { 0.0 } else { t.success as f64 / t.total as f64 },
        "avg_time_s": t.avg_time().as_secs_f64(),
    })
}

fn account_json(shard: &Shard, tally: &Tally, polled: &Polled) -> Value {
    let mut value = tally_json(tally);
    value["profile"] = json!(shard.profile);
    value["account_id"] = json!(shard.account_id);
    value["arn"] = json!(shard.arn);
    value["regions"] = polled.distribution.counts_json();
    value["logged"] = json!(polled.distribution.keyed_total());
    value["logs_complete"] = json!(polled.complete);
    value
}

/// The walkthrough's claim: an even split, every call served, and each account's own logs
/// counting exactly its own calls.
fn verdict(requests: u32, shards: &[Shard], tallies: &[Tally], polled: &[Polled]) -> DemoOutcome {
    let totals = tallies.iter().map(|t| t.total);
    let even = totals.clone().max().unwrap_or(0) - totals.min().unwrap_or(0) <= 1;
    let all = sum(tallies);
    let logs_match = tallies
        .iter()
        .zip(polled)
        .all(|(t, p)| p.distribution.keyed_total() == t.success);
    let per_account = shards
        .iter()
        .zip(tallies)
        .zip(polled)
        .map(|((s, t), p)| {
            format!(
                "{} {}/{} (logs {})",
                s.profile,
                t.success,
                t.total,
                p.distribution.keyed_total()
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    DemoOutcome {
        id: "shard",
        pattern: "account sharding",
        expected: format!(
            "{requests}/{requests} succeed, split evenly over {} accounts, each logging its own",
            shards.len()
        ),
        observed: format!("{}/{requests} succeed: {per_account}", all.success),
        passed: even && all.success == u64::from(requests) && logs_match,
        diagnosis: Vec::new(),
        figures: Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insights::Distribution;

    fn shard(profile: &str) -> Shard {
        Shard {
            profile: profile.into(),
            account_id: "111111111111".into(),
            arn: String::new(),
        }
    }

    fn polled(n: u64) -> Polled {
        Polled {
            distribution: Distribution {
                rows: vec![(Some("us-east-1".into()), n)],
            },
            complete: true,
            waited: Duration::ZERO,
        }
    }

    fn tally(total: u64, success: u64) -> Tally {
        Tally {
            total,
            success,
            throttled: total - success,
            ..Tally::default()
        }
    }

    #[test]
    fn even_fully_served_and_logged_passes() {
        let shards = [shard("a"), shard("b")];
        assert!(
            verdict(
                20,
                &shards,
                &[tally(10, 10), tally(10, 10)],
                &[polled(10), polled(10)]
            )
            .passed
        );
        let throttled = verdict(
            20,
            &shards,
            &[tally(10, 10), tally(10, 3)],
            &[polled(10), polled(3)],
        );
        assert!(!throttled.passed);
        assert!(
            throttled.observed.contains("b 3/10"),
            "{}",
            throttled.observed
        );
        assert!(
            !verdict(
                20,
                &shards,
                &[tally(10, 10), tally(10, 10)],
                &[polled(10), polled(9)]
            )
            .passed
        );
    }

    #[test]
    fn sharding_needs_two_profiles_and_says_which_it_found() {
        let mut config = crate::config::load(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/config.yaml"
        )))
        .unwrap_or_else(|e| panic!("{e}"));
        config.aws.profiles = vec!["genai".into(), "test".into()];
        assert_eq!(sharded_profiles(&config).unwrap(), ["genai", "test"]);
        config.aws.profiles.truncate(1);
        let err = sharded_profiles(&config).unwrap_err().to_string();
        assert!(
            err.contains("names only \"genai\": set aws.profile_name"),
            "{err}"
        );
        config.aws.profiles.clear();
        let err = sharded_profiles(&config).unwrap_err().to_string();
        assert!(err.contains("names none:"), "{err}");
    }

    #[test]
    fn analysis_table_has_a_total_row() {
        let text =
            analysis_table(&[shard("a"), shard("b")], &[tally(10, 10), tally(10, 5)]).render();
        assert!(
            text.contains("TOTAL") && text.contains("75.0%") && text.contains("50.0%"),
            "{text}"
        );
    }
}
