//! CloudWatch Logs through the real `aws-sdk-cloudwatchlogs` client: the invocation logs of real
//! `aws-sdk-bedrockruntime` calls, queried with the walkthrough's Insights query.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudwatchlogs::operation::start_query::StartQueryError;
use aws_sdk_cloudwatchlogs::types::QueryStatus;
use resilient_llm::config::sandbox::SandboxSettings;

use crate::support::sandbox::{self as sbx, account, fast_settings, start, user_text};

const MODEL: &str = "us.anthropic.claude-opus-4-6-v1";
const WALKTHROUGH: &str = "filter modelId like /inference-profile\\/us.anthropic.claude-opus-4-6-v1/ and \
toMillis(@timestamp) >= 1732650000000 | stats count(*) as invocationCount by inferenceRegion | sort inferenceRegion";
const US_REGIONS: [&str; 3] = ["us-east-1", "us-east-2", "us-west-2"];

/// Makes `calls` Converse calls through the inference profile as `profile`.
async fn converse(
    handle: &resilient_llm::sandbox::SandboxHandle,
    settings: &SandboxSettings,
    profile: &str,
    calls: usize,
) {
    let bedrock = sbx::bedrock(handle, settings, profile);
    for i in 0..calls {
        bedrock
            .converse()
            .model_id(MODEL)
            .messages(user_text(&format!("call {i}")))
            .inference_config(sbx::max_tokens(256))
            .send()
            .await
            .unwrap();
    }
}

fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Starts `query` on `group` over the last hour.
async fn start_query(logs: &aws_sdk_cloudwatchlogs::Client, group: &str, query: &str) -> String {
    let started = logs
        .start_query()
        .log_group_name(group)
        .start_time(now_s() - 3600)
        .end_time(now_s() + 60)
        .query_string(query)
        .send()
        .await
        .unwrap();
    started.query_id().unwrap().to_owned()
}

/// The status `DescribeQueries` shows for `query_id`.
async fn described_status(logs: &aws_sdk_cloudwatchlogs::Client, query_id: &str) -> QueryStatus {
    let described = logs.describe_queries().send().await.unwrap();
    let query = described
        .queries()
        .iter()
        .find(|q| q.query_id() == Some(query_id))
        .unwrap_or_else(|| panic!("{query_id} is not described: {described:?}"));
    query.status().cloned().unwrap()
}

/// Position of a status in a query's life; anything else is not a status this sandbox reports.
fn stage(status: &QueryStatus) -> u8 {
    match status {
        QueryStatus::Scheduled => 0,
        QueryStatus::Running => 1,
        QueryStatus::Complete => 2,
        other => panic!("unexpected query status {other:?}"),
    }
}

/// Starts `query` on `group` and does what the walkthrough's scripts do: polls only
/// `DescribeQueries` until the query is Complete, then calls `GetQueryResults` once. Returns the
/// statuses seen and the rows.
async fn run_query(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    query: &str,
) -> (Vec<QueryStatus>, Vec<BTreeMap<String, String>>) {
    let query_id = start_query(logs, group, query).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut statuses = Vec::new();
    loop {
        let status = described_status(logs, &query_id).await;
        statuses.push(status.clone());
        if status == QueryStatus::Complete {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "DescribeQueries never showed the query Complete: {statuses:?}"
        );
        // Poll interval, as a script's: the query completes by the sandbox's clock.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reply = logs
        .get_query_results()
        .query_id(&query_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        reply.status(),
        Some(&QueryStatus::Complete),
        "GetQueryResults disagrees with DescribeQueries"
    );
    let rows = reply
        .results()
        .iter()
        .map(|row| {
            row.iter()
                .map(|c| (c.field().unwrap().to_owned(), c.value().unwrap().to_owned()))
                .collect()
        })
        .collect();
    (statuses, rows)
}

#[tokio::test]
async fn the_walkthrough_query_counts_every_profile_call_by_region() {
    let settings = fast_settings();
    let handle = start(settings.clone()).await;
    let calls = 40;
    converse(&handle, &settings, "genai", calls).await;
    let logs = sbx::logs(&handle, &settings, "genai");
    let (statuses, rows) =
        run_query(&logs, &account(&settings, "genai").log_group, WALKTHROUGH).await;

    let stages: Vec<u8> = statuses.iter().map(stage).collect();
    assert!(
        stages.windows(2).all(|w| w[0] <= w[1]),
        "a query's status only moves forward: {statuses:?}"
    );
    let mut total = 0;
    let mut regions = Vec::new();
    for row in &rows {
        let region = &row["inferenceRegion"];
        assert!(
            US_REGIONS.contains(&region.as_str()),
            "{region} is not a us. destination"
        );
        regions.push(region.clone());
        total += row["invocationCount"].parse::<usize>().unwrap();
    }
    assert_eq!(
        total, calls,
        "per-Region counts {rows:?} must sum to the calls made"
    );
    let mut sorted = regions.clone();
    sorted.sort();
    assert_eq!(regions, sorted, "sort inferenceRegion");

    let described = logs.describe_queries().send().await.unwrap();
    let query = &described.queries()[0];
    assert_eq!(
        (query.query_string(), query.status()),
        (Some(WALKTHROUGH), Some(&QueryStatus::Complete))
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn a_query_completes_by_time_not_by_being_looked_at() {
    // A latency no test outlives: the query must stay unfinished however often it is polled.
    let settings = SandboxSettings {
        query_latency: Duration::from_secs(3600),
        ..fast_settings()
    };
    let handle = start(settings.clone()).await;
    converse(&handle, &settings, "genai", 2).await;
    let logs = sbx::logs(&handle, &settings, "genai");
    let query_id = start_query(&logs, &account(&settings, "genai").log_group, WALKTHROUGH).await;
    for _ in 0..3 {
        let reply = logs
            .get_query_results()
            .query_id(&query_id)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), Some(&QueryStatus::Scheduled), "{reply:?}");
        assert!(reply.results().is_empty(), "{reply:?}");
        assert_eq!(
            described_status(&logs, &query_id).await,
            QueryStatus::Scheduled,
            "DescribeQueries and GetQueryResults must agree"
        );
    }
    handle.shutdown().await;
}

#[tokio::test]
async fn another_account_does_not_see_the_records() {
    let settings = fast_settings();
    let handle = start(settings.clone()).await;
    converse(&handle, &settings, "genai", 3).await;
    let logs = sbx::logs(&handle, &settings, "test");
    let (_, rows) = run_query(&logs, &account(&settings, "test").log_group, WALKTHROUGH).await;
    assert!(rows.is_empty(), "{rows:?}");
    handle.shutdown().await;
}

#[tokio::test]
async fn records_are_invisible_until_they_propagate() {
    let settings = SandboxSettings {
        log_delay: Duration::from_secs(3600),
        ..fast_settings()
    };
    let handle = start(settings.clone()).await;
    converse(&handle, &settings, "genai", 3).await;
    let logs = sbx::logs(&handle, &settings, "genai");
    let (_, rows) = run_query(&logs, &account(&settings, "genai").log_group, WALKTHROUGH).await;
    assert!(
        rows.is_empty(),
        "logs delayed by an hour are visible already: {rows:?}"
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn log_groups_are_described_and_missing_ones_are_not_found() {
    let settings = fast_settings();
    let handle = start(settings.clone()).await;
    let logs = sbx::logs(&handle, &settings, "genai");
    let group = &account(&settings, "genai").log_group;
    let described = logs
        .describe_log_groups()
        .log_group_name_prefix(&group[..3])
        .send()
        .await
        .unwrap();
    let names: Vec<_> = described
        .log_groups()
        .iter()
        .filter_map(|g| g.log_group_name())
        .collect();
    assert_eq!(names, [group.as_str()]);
    let arn = described.log_groups()[0].arn().unwrap();
    assert_eq!(
        arn,
        format!(
            "arn:aws:logs:us-east-1:{}:log-group:{group}:*",
            account(&settings, "genai").account_id
        )
    );

    let error = logs
        .start_query()
        .log_group_name("/no/such/group")
        .start_time(now_s() - 60)
        .end_time(now_s())
        .query_string(WALKTHROUGH)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(error, StartQueryError::ResourceNotFoundException(_)),
        "{error:?}"
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn a_malformed_query_is_rejected_with_its_location() {
    let settings = fast_settings();
    let handle = start(settings.clone()).await;
    let logs = sbx::logs(&handle, &settings, "genai");
    let query = "filter modelId like /x/ | stats count(*) by bin(5m)";
    let at = i32::try_from(query.find("bin").unwrap()).unwrap();
    let error = logs
        .start_query()
        .log_group_name(&account(&settings, "genai").log_group)
        .start_time(now_s() - 60)
        .end_time(now_s())
        .query_string(query)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let StartQueryError::MalformedQueryException(malformed) = &error else {
        panic!("expected MalformedQueryException, got {error:?}");
    };
    let message = malformed.message().unwrap();
    assert!(
        message.contains(&format!("line 1, column {}", at + 1)) && message.contains("'bin'"),
        "{message}"
    );
    let location = malformed.query_compile_error().unwrap().location().unwrap();
    assert_eq!(
        (location.start_char_offset(), location.end_char_offset()),
        (Some(at), Some(at + 3))
    );
    handle.shutdown().await;
}
