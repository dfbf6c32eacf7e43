//! The awsJson1_1 face of the log store: decodes requests by `x-amz-target`, encodes replies.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::LogsError;
use super::store::{LogStore, QueryPhase, QueryRequest};

/// Prefix of every CloudWatch Logs target.
const TARGET_PREFIX: &str = "Logs_20140328.";
/// The content type of every reply.
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// Most rows `StartQuery` may ask for.
const MAX_QUERY_LIMIT: i64 = 10_000;

/// Answers one CloudWatch Logs call for `account_id`; `target` is the `x-amz-target` header.
pub async fn handle(store: &LogStore, account_id: &str, target: &str, body: Bytes) -> Response {
    handle_at(store, account_id, target, &body, Instant::now())
}

/// [`handle`] as if called at `now` (queries start, run and complete by this clock).
pub fn handle_at(
    store: &LogStore,
    account_id: &str,
    target: &str,
    body: &[u8],
    now: Instant,
) -> Response {
    match dispatch(store, account_id, target, body, now) {
        Ok(reply) => json_response(StatusCode::OK, &reply, None),
        Err(error) => error_response(&error),
    }
}

fn dispatch(
    store: &LogStore,
    account_id: &str,
    target: &str,
    body: &[u8],
    now: Instant,
) -> Result<Value, LogsError> {
    match target.strip_prefix(TARGET_PREFIX).unwrap_or(target) {
        "StartQuery" => start_query(store, account_id, decode(body)?, now),
        "GetQueryResults" => get_query_results(store, account_id, decode(body)?, now),
        "DescribeQueries" => Ok(describe_queries(store, account_id, decode(body)?, now)),
        "DescribeLogGroups" => Ok(describe_log_groups(store, account_id, decode(body)?)),
        other => Err(LogsError::UnknownOperation(other.to_owned())),
    }
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, LogsError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| LogsError::Serialization(e.to_string()))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartQueryInput {
    log_group_name: Option<String>,
    log_group_names: Option<Vec<String>>,
    log_group_identifiers: Option<Vec<String>>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    query_string: Option<String>,
    limit: Option<i64>,
}

fn start_query(
    store: &LogStore,
    account_id: &str,
    input: StartQueryInput,
    now: Instant,
) -> Result<Value, LogsError> {
    let request = validate_start_query(input)?;
    let query_id = store.start_query(account_id, request, now)?;
    Ok(json!({ "queryId": query_id }))
}

/// Checks a `StartQuery` input the way the service does and turns seconds into milliseconds.
fn validate_start_query(input: StartQueryInput) -> Result<QueryRequest, LogsError> {
    let named = [
        input.log_group_name.map(|name| vec![name]),
        input.log_group_names,
        input
            .log_group_identifiers
            .map(|ids| ids.iter().map(|id| group_name_of(id)).collect()),
    ];
    let mut given = named.into_iter().flatten();
    let log_groups = match (given.next(), given.next()) {
        (Some(groups), None) if !groups.is_empty() => groups,
        (Some(_), Some(_)) => {
            return Err(invalid(
                "specify only one of logGroupName, logGroupNames and logGroupIdentifiers",
            ));
        }
        (Some(_) | None, _) => {
            return Err(invalid(
                "specify logGroupName, logGroupNames or logGroupIdentifiers",
            ));
        }
    };
    let query_string = input.query_string.ok_or_else(|| missing("queryString"))?;
    let start_time = input.start_time.ok_or_else(|| missing("startTime"))?;
    let end_time = input.end_time.ok_or_else(|| missing("endTime"))?;
    if end_time < start_time {
        return Err(invalid(
            "endTime must be greater than or equal to startTime",
        ));
    }
    let limit = match input.limit {
        None => None,
        Some(n) if (1..=MAX_QUERY_LIMIT).contains(&n) => usize::try_from(n).ok(),
        Some(n) => {
            return Err(invalid(&format!(
                "limit {n} is outside 1 to {MAX_QUERY_LIMIT}"
            )));
        }
    };
    Ok(QueryRequest {
        log_groups,
        start_ms: start_time.saturating_mul(1000),
        // The window ends with the whole of its last second.
        end_ms: end_time.saturating_mul(1000).saturating_add(999),
        query_string,
        limit,
    })
}

/// A log group identifier is a name or an ARN `arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*]`.
fn group_name_of(identifier: &str) -> String {
    match identifier.split_once(":log-group:") {
        Some((_, rest)) => rest.strip_suffix(":*").unwrap_or(rest).to_owned(),
        None => identifier.to_owned(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetQueryResultsInput {
    query_id: Option<String>,
}

fn get_query_results(
    store: &LogStore,
    account_id: &str,
    input: GetQueryResultsInput,
    now: Instant,
) -> Result<Value, LogsError> {
    let query_id = input.query_id.ok_or_else(|| missing("queryId"))?;
    let phase = store.poll_query(account_id, &query_id, now)?;
    let (results, statistics) = match &phase {
        QueryPhase::Scheduled | QueryPhase::Running => (Vec::new(), (0, 0, 0)),
        QueryPhase::Complete(done) => {
            let rows = done.output.rows.iter().map(|row| {
                Value::Array(
                    row.iter()
                        .map(|(field, value)| json!({ "field": field, "value": value }))
                        .collect(),
                )
            });
            (
                rows.collect(),
                (
                    done.output.records_matched,
                    done.records_scanned,
                    done.bytes_scanned,
                ),
            )
        }
    };
    let (matched, scanned, bytes) = statistics;
    #[allow(clippy::cast_precision_loss)] // the wire type is a double
    let statistics = json!({
        "recordsMatched": matched as f64,
        "recordsScanned": scanned as f64,
        "bytesScanned": bytes as f64,
    });
    Ok(json!({ "status": phase.status(), "results": results, "statistics": statistics }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeQueriesInput {
    log_group_name: Option<String>,
    status: Option<String>,
    max_results: Option<usize>,
}

fn describe_queries(
    store: &LogStore,
    account_id: &str,
    input: DescribeQueriesInput,
    now: Instant,
) -> Value {
    let max = input.max_results.unwrap_or(1000);
    let queries = store.describe_queries(
        account_id,
        input.log_group_name.as_deref(),
        input.status.as_deref(),
        max,
        now,
    );
    let queries: Vec<Value> = queries
        .into_iter()
        .map(|q| {
            json!({
                "queryId": q.query_id,
                "queryString": q.query_string,
                "status": q.status,
                "createTime": q.create_time_ms,
                "logGroupName": q.log_group_name,
            })
        })
        .collect();
    json!({ "queries": queries })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribeLogGroupsInput {
    log_group_name_prefix: Option<String>,
    limit: Option<usize>,
}

fn describe_log_groups(store: &LogStore, account_id: &str, input: DescribeLogGroupsInput) -> Value {
    let limit = input.limit.unwrap_or(50);
    let region = store.region();
    let groups: Vec<Value> = store
        .describe_groups(account_id, input.log_group_name_prefix.as_deref(), limit)
        .into_iter()
        .map(|g| {
            let arn = format!("arn:aws:logs:{region}:{account_id}:log-group:{}", g.name);
            json!({
                "logGroupName": g.name,
                "creationTime": g.creation_time_ms,
                "arn": format!("{arn}:*"),
                "logGroupArn": arn,
                "storedBytes": g.stored_bytes,
                "metricFilterCount": 0,
                "logGroupClass": "STANDARD",
            })
        })
        .collect();
    json!({ "logGroups": groups })
}

fn invalid(message: &str) -> LogsError {
    LogsError::InvalidParameter(message.to_owned())
}

fn missing(field: &str) -> LogsError {
    invalid(&format!(
        "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
    ))
}

fn json_response(status: StatusCode, body: &Value, error_type: Option<&'static str>) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Some(name) = error_type {
        headers.insert("x-amzn-errortype", HeaderValue::from_static(name));
    }
    response
}

/// The service's error body: `__type` and `message`, plus where a malformed query went wrong.
fn error_response(error: &LogsError) -> Response {
    let name = error.error_type();
    let mut body = json!({ "__type": name, "message": error.to_string() });
    if let LogsError::MalformedQuery(cause) = error {
        body["queryCompileError"] = json!({
            "location": { "startCharOffset": cause.offset, "endCharOffset": cause.end_offset },
            "message": cause.to_string(),
        });
    }
    json_response(StatusCode::BAD_REQUEST, &body, Some(name))
}

#[cfg(test)]
#[path = "api_tests.rs"]
mod tests;
