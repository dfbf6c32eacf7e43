//! Log groups, their events and Insights queries, per account.
//!
//! A query's life is a function of time, as in the real service, which runs queries in the
//! background: [`LogStore::start_query`] parses it, checks its log groups and notes when it
//! completes (its start plus the store's query latency). Until half that latency has passed it is
//! `Scheduled`, then `Running` (no rows either way), then `Complete`. A complete query is
//! evaluated once, over the events of its window that were visible at the instant it completed
//! (their `visible_at` had passed, which is how the propagation delay of real invocation logs is
//! emulated), and keeps those rows. Every call that looks at a query (`GetQueryResults`,
//! `DescribeQueries`) sees the same status for the same instant: looking never advances it.
//! Two accounts never see each other's groups or query ids.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::LogsError;
use super::insights::{self, QueryOutput, Record};

/// The log stream every event is written to, as Bedrock's invocation logging names it.
pub const LOG_STREAM: &str = "aws/bedrock/modelinvocations";

/// Region used in log group ARNs unless [`LogStore::with_region`] says otherwise.
const DEFAULT_REGION: &str = "us-east-1";

/// In-memory CloudWatch Logs: thread-safe, and cheap to clone (clones share the same logs).
#[derive(Clone, Default)]
pub struct LogStore {
    inner: Arc<Mutex<HashMap<String, AccountLogs>>>,
    region: Option<Arc<str>>,
    /// Events kept per log group (`None`: [`MAX_EVENTS_PER_GROUP`]).
    max_events: Option<usize>,
    /// How long a query takes from start to `Complete` (zero: complete at once).
    query_latency: Duration,
}

/// The longest query latency a store accepts: CloudWatch Logs times a query out after 60 minutes.
pub const MAX_QUERY_LATENCY: Duration = Duration::from_secs(3600);

/// A log group keeps its newest events only, so a sandbox serving traffic for hours does not
/// grow without bound (real CloudWatch expires events by retention period instead). Far more
/// than any demo or report counts.
pub const MAX_EVENTS_PER_GROUP: usize = 100_000;

#[derive(Default)]
struct AccountLogs {
    groups: BTreeMap<String, LogGroup>,
    /// Queries in the order they were started.
    queries: Vec<QueryRun>,
}

struct LogGroup {
    creation_time_ms: i64,
    stored_bytes: u64,
    events: Vec<StoredEvent>,
}

struct StoredEvent {
    visible_at: Instant,
    record: Record,
}

/// What `StartQuery` asked for, validated.
#[derive(Debug, Clone)]
pub struct QueryRequest {
    /// The log groups, by name.
    pub log_groups: Vec<String>,
    /// First millisecond of the window (inclusive).
    pub start_ms: i64,
    /// Last millisecond of the window (inclusive).
    pub end_ms: i64,
    /// The Insights query text.
    pub query_string: String,
    /// At most this many rows, if given.
    pub limit: Option<usize>,
}

/// Where a query is in its life.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryPhase {
    /// Started, waiting for the first half of its latency.
    Scheduled,
    /// In the second half of its latency: complete when it has passed.
    Running,
    /// Evaluated; the rows and statistics are final.
    Complete(QueryResults),
}

impl QueryPhase {
    /// The status name the API reports.
    pub fn status(&self) -> &'static str {
        match self {
            QueryPhase::Scheduled => "Scheduled",
            QueryPhase::Running => "Running",
            QueryPhase::Complete(_) => "Complete",
        }
    }
}

/// A completed query's rows and statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResults {
    /// The rows and the matched-record count.
    pub output: QueryOutput,
    /// Records inside the window and visible when the query completed.
    pub records_scanned: u64,
    /// Bytes of those records' messages.
    pub bytes_scanned: u64,
}

struct QueryRun {
    id: String,
    request: QueryRequest,
    query: insights::Query,
    create_time_ms: i64,
    /// When it stops being `Scheduled`.
    running_at: Instant,
    /// When it is `Complete`, and the instant its events are visible as of.
    completes_at: Instant,
    /// Its results, computed the first time it is looked at once complete.
    results: Option<QueryResults>,
}

/// What a query's status is at an instant, before any evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Scheduled,
    Running,
    Complete,
}

impl Stage {
    fn status(self) -> &'static str {
        match self {
            Stage::Scheduled => "Scheduled",
            Stage::Running => "Running",
            Stage::Complete => "Complete",
        }
    }
}

impl QueryRun {
    fn stage_at(&self, now: Instant) -> Stage {
        if now >= self.completes_at {
            Stage::Complete
        } else if now >= self.running_at {
            Stage::Running
        } else {
            Stage::Scheduled
        }
    }

    /// Its stage at `now`; a query complete by then is evaluated over `groups` the first time
    /// (its rows never change afterwards).
    fn settle(&mut self, groups: &BTreeMap<String, LogGroup>, now: Instant) -> Stage {
        let stage = self.stage_at(now);
        if stage == Stage::Complete && self.results.is_none() {
            self.results = Some(evaluate(groups, self));
        }
        stage
    }

    /// Its phase at `now`, with the rows once complete.
    fn phase_at(&mut self, groups: &BTreeMap<String, LogGroup>, now: Instant) -> QueryPhase {
        match self.settle(groups, now) {
            Stage::Scheduled => QueryPhase::Scheduled,
            Stage::Running => QueryPhase::Running,
            Stage::Complete => QueryPhase::Complete(
                // `settle` has stored them; evaluating again would give the same rows.
                self.results
                    .clone()
                    .unwrap_or_else(|| evaluate(groups, self)),
            ),
        }
    }
}

/// One row of `DescribeQueries`.
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySummary {
    /// The query id.
    pub query_id: String,
    /// The query text.
    pub query_string: String,
    /// `Scheduled`, `Running` or `Complete`.
    pub status: &'static str,
    /// When it was started, epoch milliseconds.
    pub create_time_ms: i64,
    /// Its first log group.
    pub log_group_name: String,
}

/// One row of `DescribeLogGroups`.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSummary {
    /// The group name.
    pub name: String,
    /// When it was created, epoch milliseconds.
    pub creation_time_ms: i64,
    /// Bytes of all its events' messages.
    pub stored_bytes: u64,
}

impl LogStore {
    /// An empty store whose ARNs name `us-east-1`.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose ARNs name `region`.
    pub fn with_region(region: &str) -> Self {
        LogStore {
            region: Some(Arc::from(region)),
            ..Self::default()
        }
    }

    /// Keeps at most `max` events per log group (the oldest go first).
    pub fn with_max_events_per_group(mut self, max: usize) -> Self {
        self.max_events = Some(max.max(1));
        self
    }

    /// Queries complete `latency` after they start (at most [`MAX_QUERY_LATENCY`]).
    pub fn with_query_latency(mut self, latency: Duration) -> Self {
        self.query_latency = latency.min(MAX_QUERY_LATENCY);
        self
    }

    /// The Region in this store's ARNs.
    pub fn region(&self) -> &str {
        self.region.as_deref().unwrap_or(DEFAULT_REGION)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, AccountLogs>> {
        // A panic elsewhere cannot leave the maps half-updated in a way queries care about.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates `group` in the account (creation time now); does nothing if it exists.
    pub fn create_group(&self, account_id: &str, group: &str) {
        let mut accounts = self.lock();
        let account = accounts.entry(account_id.to_owned()).or_default();
        account
            .groups
            .entry(group.to_owned())
            .or_insert_with(new_group);
    }

    /// Appends an event to `group` (creating the group if needed); queries see it from `visible_at`.
    pub fn put(
        &self,
        account_id: &str,
        group: &str,
        timestamp_ms: i64,
        visible_at: Instant,
        event: serde_json::Value,
    ) {
        let log = format!("{account_id}:{group}");
        let record = Record::from_event(timestamp_ms, &log, LOG_STREAM, &event);
        let mut accounts = self.lock();
        let account = accounts.entry(account_id.to_owned()).or_default();
        let log_group = account
            .groups
            .entry(group.to_owned())
            .or_insert_with(new_group);
        log_group.stored_bytes += record.message_bytes() as u64;
        log_group.events.push(StoredEvent { visible_at, record });
        let max = self.max_events.unwrap_or(MAX_EVENTS_PER_GROUP);
        if log_group.events.len() > max {
            // Drop the oldest tenth at once, so trimming costs O(1) per event on average.
            let excess = log_group.events.len() - max + max / 10;
            let dropped: u64 = log_group
                .events
                .drain(..excess)
                .map(|e| e.record.message_bytes() as u64)
                .sum();
            log_group.stored_bytes = log_group.stored_bytes.saturating_sub(dropped);
        }
    }

    /// Forgets every group, event and query of every account.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Starts a query at `now`; fails if a group does not exist or the query does not parse.
    pub fn start_query(
        &self,
        account_id: &str,
        request: QueryRequest,
        now: Instant,
    ) -> Result<String, LogsError> {
        let query = insights::parse(&request.query_string).map_err(LogsError::MalformedQuery)?;
        let mut accounts = self.lock();
        let account = accounts.entry(account_id.to_owned()).or_default();
        if let Some(missing) = request
            .log_groups
            .iter()
            .find(|g| !account.groups.contains_key(*g))
        {
            return Err(LogsError::ResourceNotFound(format!(
                "Log group '{missing}' does not exist for account ID '{account_id}'"
            )));
        }
        let id = query_id();
        account.queries.push(QueryRun {
            id: id.clone(),
            request,
            query,
            create_time_ms: now_ms(),
            running_at: now + self.query_latency / 2,
            completes_at: now + self.query_latency,
            results: None,
        });
        Ok(id)
    }

    /// A query's phase at `now` (see the module doc).
    pub fn poll_query(
        &self,
        account_id: &str,
        query_id: &str,
        now: Instant,
    ) -> Result<QueryPhase, LogsError> {
        let mut accounts = self.lock();
        let account = accounts
            .get_mut(account_id)
            .ok_or_else(|| unknown_query(query_id))?;
        let index = account
            .queries
            .iter()
            .position(|q| q.id == query_id)
            .ok_or_else(|| unknown_query(query_id))?;
        let AccountLogs { groups, queries } = account;
        Ok(queries[index].phase_at(groups, now))
    }

    /// The account's queries at `now`, newest first, optionally only those on `group` or with
    /// `status`. A query seen complete here is evaluated as `GetQueryResults` would.
    pub fn describe_queries(
        &self,
        account_id: &str,
        group: Option<&str>,
        status: Option<&str>,
        max_results: usize,
        now: Instant,
    ) -> Vec<QuerySummary> {
        let mut accounts = self.lock();
        let Some(account) = accounts.get_mut(account_id) else {
            return Vec::new();
        };
        let AccountLogs { groups, queries } = account;
        let mut described = Vec::new();
        for query in queries.iter_mut().rev() {
            if described.len() == max_results {
                break;
            }
            if group.is_some_and(|g| !query.request.log_groups.iter().any(|name| name == g)) {
                continue;
            }
            let shown = query.settle(groups, now).status();
            if status.is_some_and(|s| s != shown) {
                continue;
            }
            described.push(QuerySummary {
                query_id: query.id.clone(),
                query_string: query.request.query_string.clone(),
                status: shown,
                create_time_ms: query.create_time_ms,
                log_group_name: query
                    .request
                    .log_groups
                    .first()
                    .cloned()
                    .unwrap_or_default(),
            });
        }
        described
    }

    /// The account's log groups in name order, optionally only those starting with `prefix`.
    pub fn describe_groups(
        &self,
        account_id: &str,
        prefix: Option<&str>,
        limit: usize,
    ) -> Vec<GroupSummary> {
        let accounts = self.lock();
        let Some(account) = accounts.get(account_id) else {
            return Vec::new();
        };
        account
            .groups
            .iter()
            .filter(|(name, _)| prefix.is_none_or(|p| name.starts_with(p)))
            .take(limit)
            .map(|(name, group)| GroupSummary {
                name: name.clone(),
                creation_time_ms: group.creation_time_ms,
                stored_bytes: group.stored_bytes,
            })
            .collect()
    }
}

fn new_group() -> LogGroup {
    LogGroup {
        creation_time_ms: now_ms(),
        stored_bytes: 0,
        events: Vec::new(),
    }
}

fn unknown_query(query_id: &str) -> LogsError {
    LogsError::ResourceNotFound(format!("Query {query_id} does not exist"))
}

/// Runs a query over the events of its groups inside its window that were visible when it
/// completed.
fn evaluate(groups: &BTreeMap<String, LogGroup>, run: &QueryRun) -> QueryResults {
    let window = run.request.start_ms..=run.request.end_ms;
    let records: Vec<Record> = run
        .request
        .log_groups
        .iter()
        .filter_map(|name| groups.get(name))
        .flat_map(|group| &group.events)
        .filter(|event| {
            event.visible_at <= run.completes_at && window.contains(&event.record.timestamp_ms())
        })
        .map(|event| event.record.clone())
        .collect();
    QueryResults {
        output: run.query.execute(&records, run.request.limit),
        records_scanned: records.len() as u64,
        bytes_scanned: records.iter().map(|r| r.message_bytes() as u64).sum(),
    }
}

/// Wall-clock epoch milliseconds.
fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A fresh query id in the service's UUID shape, from the process's random hasher seeds.
fn query_id() -> String {
    let seed = RandomState::new();
    let high = seed.hash_one(now_ms());
    let low = RandomState::new().hash_one(high);
    let hex = format!("{high:016x}{low:016x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
