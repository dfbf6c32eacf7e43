//! The sandbox's shared state: settings, quota windows, Region load, the seeded RNG, counters,
//! the Regions marked down, and the log store. One mutex guards the mutable part; it is never
//! held across an `.await`.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rand::{SeedableRng, rngs::StdRng};

use crate::config::sandbox::SandboxSettings;

use super::cris::RegionLoad;
use super::logs::LogStore;
use super::prompt_cache::PromptCache;
use super::quota::QuotaBook;
use super::stats::SandboxStats;

/// What changes as calls arrive.
#[derive(Debug)]
pub(crate) struct Mutable {
    pub quotas: QuotaBook,
    pub load: RegionLoad,
    /// Draws for Region picks and faults.
    pub rng: StdRng,
    /// Draws for request ids (kept apart so ids do not shift Region picks).
    pub ids: StdRng,
    pub stats: SandboxStats,
    pub down: BTreeSet<String>,
    /// Prompt prefixes cached, per account and model.
    pub cache: PromptCache,
    /// The last bodies the OpenAI-compatible and Converse routes received, oldest first.
    pub received: VecDeque<serde_json::Value>,
    /// The last W3C `traceparent` headers the model routes received, oldest first.
    pub traceparents: VecDeque<String>,
}

/// How many OpenAI-compatible request bodies [`Sandbox::received_requests`] keeps.
const RECEIVED_KEPT: usize = 100;

impl Mutable {
    fn new(settings: &SandboxSettings) -> Mutable {
        Mutable {
            quotas: QuotaBook::default(),
            load: RegionLoad::default(),
            rng: StdRng::seed_from_u64(settings.seed),
            ids: StdRng::seed_from_u64(settings.seed.wrapping_add(1)),
            stats: SandboxStats::default(),
            down: settings.down_regions.clone(),
            cache: PromptCache::default(),
            received: VecDeque::new(),
            traceparents: VecDeque::new(),
        }
    }
}

/// One running sandbox.
pub struct Sandbox {
    pub settings: SandboxSettings,
    pub logs: LogStore,
    state: Mutex<Mutable>,
}

impl Sandbox {
    /// A fresh sandbox with every account's log group created.
    pub fn new(settings: SandboxSettings) -> Sandbox {
        let logs = LogStore::new().with_query_latency(settings.query_latency);
        create_groups(&logs, &settings);
        Sandbox {
            state: Mutex::new(Mutable::new(&settings)),
            settings,
            logs,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Mutable> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SandboxStats {
        self.lock().stats.clone()
    }

    /// Marks `region` down (no call lands there) or up again.
    pub fn set_region_down(&self, region: &str, down: bool) {
        let mut state = self.lock();
        if down {
            state.down.insert(region.to_owned());
        } else {
            state.down.remove(region);
        }
    }

    /// Back to the state at start: quotas, Region load, counters, RNG, outages and logs.
    /// Keeps a body the OpenAI-compatible or a Converse route received, for
    /// `GET /_sandbox/requests`.
    pub fn record_request(&self, body: serde_json::Value) {
        let mut state = self.lock();
        if state.received.len() == RECEIVED_KEPT {
            state.received.pop_front();
        }
        state.received.push_back(body);
    }

    /// Keeps the `traceparent` a model route's call carried, if any (Bedrock ignores it; the
    /// tests read it to follow a trace across the gateway).
    pub fn record_traceparent(&self, headers: &http::HeaderMap) {
        let Some(value) = headers.get("traceparent").and_then(|v| v.to_str().ok()) else {
            return;
        };
        let mut state = self.lock();
        if state.traceparents.len() == RECEIVED_KEPT {
            state.traceparents.pop_front();
        }
        state.traceparents.push_back(value.to_owned());
    }

    /// The last `traceparent` headers the model routes received, oldest first.
    pub fn received_traceparents(&self) -> Vec<String> {
        self.lock().traceparents.iter().cloned().collect()
    }

    /// The last bodies the OpenAI-compatible and Converse routes received, oldest first, as
    /// they came.
    pub fn received_requests(&self) -> Vec<serde_json::Value> {
        self.lock().received.iter().cloned().collect()
    }

    pub fn reset(&self) {
        *self.lock() = Mutable::new(&self.settings);
        self.logs.clear();
        create_groups(&self.logs, &self.settings);
    }
}

fn create_groups(logs: &LogStore, settings: &SandboxSettings) {
    for account in &settings.accounts {
        logs.create_group(&account.account_id, &account.log_group);
    }
}
