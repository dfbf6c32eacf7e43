//! The wire protocol over a real store: query lifecycle, visibility, accounts and errors.
//! Every call names its instant (`handle_at`), so the lifecycle is tested by the clock alone.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::super::LogStore;
use super::handle_at;

const GROUP: &str = "/aws/bedrock/invocations";
const BASE_MS: i64 = 1_732_650_000_000;
/// The query latency of the stores under test.
const LATENCY: Duration = Duration::from_millis(100);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Calls `op` now; see [`call_at`].
async fn call(
    store: &LogStore,
    account: &str,
    op: &str,
    body: Value,
) -> (StatusCode, Option<String>, Value) {
    call_at(store, account, op, body, Instant::now()).await
}

/// Calls `op` at `now` and returns the status, the `x-amzn-errortype` header and the JSON body.
async fn call_at(
    store: &LogStore,
    account: &str,
    op: &str,
    body: Value,
    now: Instant,
) -> (StatusCode, Option<String>, Value) {
    let response = handle_at(
        store,
        account,
        &format!("Logs_20140328.{op}"),
        body.to_string().as_bytes(),
        now,
    );
    let status = response.status();
    assert_eq!(
        response.headers()["content-type"],
        "application/x-amz-json-1.1"
    );
    let error_type = response
        .headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, error_type, serde_json::from_slice(&bytes).unwrap())
}

fn invocation(region: &str) -> Value {
    json!({
        "schemaType": "ModelInvocationLog",
        "modelId": "arn:aws:bedrock:us-east-1:111111111111:inference-profile/us.anthropic.claude-opus-4-6-v1",
        "inferenceRegion": region,
        "input": { "inputTokenCount": 12 },
    })
}

fn store_with(regions: &[&str], visible_at: Instant) -> LogStore {
    let store = LogStore::new().with_query_latency(LATENCY);
    store.create_group("111111111111", GROUP);
    for (i, region) in regions.iter().enumerate() {
        let ms = BASE_MS + i64::try_from(i).unwrap();
        store.put("111111111111", GROUP, ms, visible_at, invocation(region));
    }
    store
}

fn walkthrough_request() -> Value {
    json!({
        "logGroupName": GROUP,
        "startTime": BASE_MS / 1000 - 60,
        "endTime": BASE_MS / 1000 + 60,
        "queryString": "filter modelId like /inference-profile\\/us.anthropic.claude-opus-4-6-v1/ and \
            toMillis(@timestamp) >= 1732650000000 | stats count(*) as invocationCount by inferenceRegion \
            | sort inferenceRegion",
    })
}

/// `GetQueryResults` at `now`.
async fn poll(store: &LogStore, account: &str, query_id: &Value, now: Instant) -> Value {
    let (status, _, body) = call_at(
        store,
        account,
        "GetQueryResults",
        json!({ "queryId": query_id }),
        now,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The status `DescribeQueries` shows at `now` for the account's newest query.
async fn described_status(store: &LogStore, account: &str, now: Instant) -> Value {
    let (status, _, body) = call_at(store, account, "DescribeQueries", json!({}), now).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["queries"][0]["status"].clone()
}

/// `StartQuery` with the walkthrough's request at `now`; the query id.
async fn start(store: &LogStore, now: Instant) -> Value {
    let (status, _, started) = call_at(
        store,
        "111111111111",
        "StartQuery",
        walkthrough_request(),
        now,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    started["queryId"].clone()
}

#[tokio::test]
async fn a_query_is_scheduled_then_running_then_complete_by_the_clock_alone() {
    let t0 = Instant::now();
    let past = t0.checked_sub(Duration::from_secs(1)).unwrap();
    let store = store_with(&["us-east-1", "us-west-2", "us-east-1"], past);
    let id = start(&store, t0).await;
    let account = "111111111111";
    for at in [t0, t0 + ms(49)] {
        for _ in 0..3 {
            let polled = poll(&store, account, &id, at).await;
            assert_eq!(
                (&polled["status"], &polled["results"]),
                (&json!("Scheduled"), &json!([])),
                "looking at a query does not advance it"
            );
        }
        assert_eq!(described_status(&store, account, at).await, "Scheduled");
    }
    for at in [t0 + ms(50), t0 + ms(99)] {
        assert_eq!(described_status(&store, account, at).await, "Running");
        let polled = poll(&store, account, &id, at).await;
        assert_eq!(
            (&polled["status"], &polled["results"]),
            (&json!("Running"), &json!([]))
        );
    }
    // DescribeQueries is the first to see it complete: GetQueryResults was never called since.
    assert_eq!(
        described_status(&store, account, t0 + LATENCY).await,
        "Complete"
    );
    let done = poll(&store, account, &id, t0 + LATENCY).await;
    assert_eq!(done["status"], "Complete");
    assert_eq!(
        done["results"],
        json!([
            [{ "field": "inferenceRegion", "value": "us-east-1" }, { "field": "invocationCount", "value": "2" }],
            [{ "field": "inferenceRegion", "value": "us-west-2" }, { "field": "invocationCount", "value": "1" }],
        ])
    );
    assert_eq!(done["statistics"]["recordsMatched"], 3.0);
    assert_eq!(done["statistics"]["recordsScanned"], 3.0);
    assert!(done["statistics"]["bytesScanned"].as_f64().unwrap() > 0.0);
    assert_eq!(
        poll(&store, account, &id, t0 + Duration::from_secs(600)).await,
        done,
        "a completed query stays complete with the same rows"
    );
}

#[tokio::test]
async fn without_latency_a_query_is_complete_as_it_starts() {
    let t0 = Instant::now();
    let store = store_with(&["us-east-1"], t0).with_query_latency(Duration::ZERO);
    let id = start(&store, t0).await;
    assert_eq!(
        described_status(&store, "111111111111", t0).await,
        "Complete"
    );
    let done = poll(&store, "111111111111", &id, t0).await;
    assert_eq!(done["statistics"]["recordsMatched"], 1.0, "{done}");
}

#[tokio::test]
async fn a_query_counts_the_events_visible_when_it_completes_inside_its_window() {
    let t0 = Instant::now();
    let past = t0.checked_sub(Duration::from_secs(1)).unwrap();
    let store = store_with(&["us-east-1"], past);
    let put = |visible_at: Instant, timestamp_ms: i64, region: &str| {
        store.put(
            "111111111111",
            GROUP,
            timestamp_ms,
            visible_at,
            invocation(region),
        );
    };
    // Visible exactly as the query completes: counted.
    put(t0 + LATENCY, BASE_MS, "us-east-2");
    // Visible a moment after it completes (although looked at much later): not counted.
    put(t0 + LATENCY + ms(1), BASE_MS, "ap-south-1");
    // Visible, but outside the query's time window: not counted.
    put(past, BASE_MS + 3_600_000, "us-west-2");
    let id = start(&store, t0).await;
    let done = poll(&store, "111111111111", &id, t0 + Duration::from_secs(3600)).await;
    assert_eq!(
        done["results"],
        json!([
            [{ "field": "inferenceRegion", "value": "us-east-1" }, { "field": "invocationCount", "value": "1" }],
            [{ "field": "inferenceRegion", "value": "us-east-2" }, { "field": "invocationCount", "value": "1" }],
        ])
    );
}

#[tokio::test]
async fn accounts_do_not_see_each_others_groups_or_queries() {
    let store = store_with(&["us-east-1"], Instant::now());
    let (_, _, started) = call(&store, "111111111111", "StartQuery", walkthrough_request()).await;
    let (status, kind, _) = call(
        &store,
        "222222222222",
        "GetQueryResults",
        json!({ "queryId": started["queryId"] }),
    )
    .await;
    assert_eq!(
        (status, kind.as_deref()),
        (StatusCode::BAD_REQUEST, Some("ResourceNotFoundException"))
    );
    let (_, kind, body) = call(&store, "222222222222", "StartQuery", walkthrough_request()).await;
    assert_eq!(kind.as_deref(), Some("ResourceNotFoundException"));
    assert_eq!(body["__type"], "ResourceNotFoundException");
    let (_, _, groups) = call(&store, "222222222222", "DescribeLogGroups", json!({})).await;
    assert_eq!(groups["logGroups"], json!([]));
    let (_, _, queries) = call(&store, "222222222222", "DescribeQueries", json!({})).await;
    assert_eq!(queries["queries"], json!([]));
}

#[tokio::test]
async fn a_malformed_query_says_where() {
    let store = store_with(&[], Instant::now());
    let mut request = walkthrough_request();
    request["queryString"] = json!("filter x = 1 | parse @message 'a*' as b");
    let (status, kind, body) = call(&store, "111111111111", "StartQuery", request).await;
    assert_eq!(
        (status, kind.as_deref()),
        (StatusCode::BAD_REQUEST, Some("MalformedQueryException"))
    );
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("line 1, column 16") && message.contains("'parse'"),
        "{message}"
    );
    assert_eq!(
        body["queryCompileError"]["location"],
        json!({ "startCharOffset": 15, "endCharOffset": 20 })
    );
}

#[tokio::test]
async fn bad_requests_get_the_services_error_types() {
    let store = store_with(&[], Instant::now());
    let cases = [
        (
            "StartQuery",
            json!({ "logGroupName": GROUP, "startTime": 1, "endTime": 2 }),
            "InvalidParameterException",
        ),
        (
            "StartQuery",
            json!({ "startTime": 1, "endTime": 2, "queryString": "fields a" }),
            "InvalidParameterException",
        ),
        (
            "StartQuery",
            json!({ "logGroupName": GROUP, "startTime": 5, "endTime": 2, "queryString": "fields a" }),
            "InvalidParameterException",
        ),
        (
            "StartQuery",
            json!({ "logGroupName": GROUP, "startTime": 1, "endTime": 2, "queryString": "fields a", "limit": 0 }),
            "InvalidParameterException",
        ),
        (
            "StartQuery",
            json!({ "logGroupName": 5 }),
            "SerializationException",
        ),
        ("GetQueryResults", json!({}), "InvalidParameterException"),
        (
            "GetQueryResults",
            json!({ "queryId": "nope" }),
            "ResourceNotFoundException",
        ),
        ("PutLogEvents", json!({}), "UnknownOperationException"),
    ];
    for (op, body, expected) in cases {
        let (status, kind, reply) = call(&store, "111111111111", op, body.clone()).await;
        assert_eq!(
            (status, kind.as_deref()),
            (StatusCode::BAD_REQUEST, Some(expected)),
            "{op} {body}: {reply}"
        );
        assert_eq!(reply["__type"], expected);
    }
}

#[tokio::test]
async fn log_groups_and_queries_are_described() {
    let store = store_with(&["us-east-1"], Instant::now());
    store.create_group("111111111111", "/other");
    let (_, _, groups) = call(
        &store,
        "111111111111",
        "DescribeLogGroups",
        json!({ "logGroupNamePrefix": "/aws/" }),
    )
    .await;
    let group = &groups["logGroups"][0];
    assert_eq!(groups["logGroups"].as_array().unwrap().len(), 1);
    assert_eq!(group["logGroupName"], GROUP);
    assert_eq!(
        group["arn"],
        format!("arn:aws:logs:us-east-1:111111111111:log-group:{GROUP}:*")
    );
    assert!(
        group["storedBytes"].as_u64().unwrap() > 0 && group["creationTime"].as_i64().unwrap() > 0
    );

    let mut by_arn = walkthrough_request();
    by_arn.as_object_mut().unwrap().remove("logGroupName");
    by_arn["logGroupIdentifiers"] = json!([group["arn"]]);
    let t0 = Instant::now();
    let (_, _, started) = call_at(&store, "111111111111", "StartQuery", by_arn, t0).await;
    let by_status = |status: &'static str, at: Instant| {
        let store = &store;
        async move {
            let (_, _, found) = call_at(
                store,
                "111111111111",
                "DescribeQueries",
                json!({ "status": status }),
                at,
            )
            .await;
            found["queries"].clone()
        }
    };
    let scheduled = by_status("Scheduled", t0).await;
    assert_eq!(scheduled[0]["queryId"], started["queryId"]);
    assert_eq!(scheduled[0]["logGroupName"], GROUP);
    assert_eq!(by_status("Running", t0).await, json!([]));
    assert_eq!(
        by_status("Running", t0 + ms(50)).await[0]["queryId"],
        started["queryId"]
    );
    assert_eq!(by_status("Complete", t0 + ms(50)).await, json!([]));
    let (_, _, complete) = call_at(
        &store,
        "111111111111",
        "DescribeQueries",
        json!({ "logGroupName": GROUP }),
        t0 + LATENCY,
    )
    .await;
    assert_eq!(complete["queries"][0]["status"], "Complete");
    store.clear();
    let (_, _, groups) = call(&store, "111111111111", "DescribeLogGroups", json!({})).await;
    assert_eq!(groups["logGroups"], json!([]));
}

#[tokio::test]
async fn a_log_group_keeps_only_its_newest_events() {
    let store = LogStore::new()
        .with_max_events_per_group(10)
        .with_query_latency(LATENCY);
    store.create_group("111111111111", GROUP);
    let visible = Instant::now();
    for i in 0..25 {
        let region = if i < 15 { "us-west-2" } else { "us-east-1" };
        store.put(
            "111111111111",
            GROUP,
            BASE_MS + i,
            visible,
            invocation(region),
        );
    }
    let id = start(&store, visible).await;
    let polled = poll(&store, "111111111111", &id, visible + LATENCY).await;
    let results = &polled["results"];
    // At most 10 kept, oldest dropped first: only the newest (us-east-1) remain.
    let rows = results.as_array().expect("complete results");
    assert_eq!(rows.len(), 1, "{results}");
    let count: u64 = rows[0][1]["value"].as_str().unwrap().parse().unwrap();
    assert!((9..=10).contains(&count), "{results}");
    assert_eq!(rows[0][0]["value"], "us-east-1", "{results}");
}
