//! The dashboard's feed: once a second, while anyone watches, one JSON snapshot of the
//! gateway (each deployment's use against its limits and its cooldown, as `/health` shows
//! them; requests per second and latency percentiles; fallbacks, retries, refusals and errors
//! by reason; consumers against their quotas and budgets), published on a `watch` channel
//! that every `/ui/events` stream and `gateway top` read.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::config::Config;
use crate::metrics::{Totals, latency_quantile};
use crate::pipeline::{Caller, Pipeline};
use crate::router::{HealthSnapshot, StateStore};

/// How often a snapshot is published.
pub const TICK: Duration = Duration::from_secs(1);

/// How many ticks the latency percentiles look back over.
pub const WINDOW_TICKS: usize = 10;

/// The latest snapshot, as JSON text, for every watcher.
pub struct Feed {
    /// `None` until the first snapshot.
    latest: watch::Receiver<Option<Arc<str>>>,
}

impl Feed {
    /// Starts the publishing task for `pipeline` (which it holds weakly: it ends with the
    /// gateway).
    pub fn start(config: Arc<Config>, pipeline: &Arc<Pipeline>) -> Feed {
        let (tx, latest) = watch::channel(None);
        tokio::spawn(publish(config, Arc::downgrade(pipeline), tx));
        Feed { latest }
    }

    /// A watcher of the snapshots: the latest at once, then each new one.
    pub fn watch(&self) -> watch::Receiver<Option<Arc<str>>> {
        let mut rx = self.latest.clone();
        rx.mark_changed();
        rx
    }
}

/// The totals of the last ticks, for rates and windowed percentiles.
#[derive(Debug, Default)]
pub struct Window {
    ticks: VecDeque<(Instant, Totals)>,
}

/// What a window says: requests per second over the last tick, and latency percentiles (ms)
/// over the whole window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub per_second: f64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

impl Window {
    /// Adds the totals read at `at`, forgetting ticks older than the window.
    pub fn push(&mut self, at: Instant, totals: Totals) {
        self.ticks.push_back((at, totals));
        while self.ticks.len() > WINDOW_TICKS + 1 {
            self.ticks.pop_front();
        }
    }

    /// The rates of the window so far (none until two ticks are in).
    pub fn rates(&self) -> Rates {
        let (Some((now_at, now)), Some((_, first))) = (self.ticks.back(), self.ticks.front())
        else {
            return Rates {
                per_second: 0.0,
                p50: None,
                p95: None,
                p99: None,
            };
        };
        let per_second = match self.ticks.iter().rev().nth(1) {
            Some((prev_at, prev)) => {
                let seconds = now_at.duration_since(*prev_at).as_secs_f64();
                if seconds > 0.0 {
                    now.requests.saturating_sub(prev.requests) as f64 / seconds
                } else {
                    0.0
                }
            }
            None => 0.0,
        };
        let delta: Vec<u64> = now
            .latency
            .iter()
            .zip(&first.latency)
            .map(|(n, f)| n.saturating_sub(*f))
            .collect();
        // A single tick has no window yet: the percentiles since start.
        let buckets: &[u64] = if self.ticks.len() > 1 {
            &delta
        } else {
            &now.latency
        };
        Rates {
            per_second,
            p50: latency_quantile(buckets, 0.5),
            p95: latency_quantile(buckets, 0.95),
            p99: latency_quantile(buckets, 0.99),
        }
    }
}

async fn publish(
    config: Arc<Config>,
    pipeline: Weak<Pipeline>,
    tx: watch::Sender<Option<Arc<str>>>,
) {
    let started = Instant::now();
    let mut window = Window::default();
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tick: u64 = 0;
    loop {
        ticks.tick().await;
        let Some(pipeline) = pipeline.upgrade() else {
            return;
        };
        let totals = pipeline.metrics.totals();
        window.push(Instant::now(), totals.clone());
        // The feed's own receiver is one of them; build nothing when no one else watches.
        if tx.receiver_count() <= 1 {
            continue;
        }
        tick += 1;
        let snapshot = snapshot(&config, &pipeline, &totals, window.rates(), tick, started).await;
        let _ = tx.send(Some(Arc::from(snapshot.to_string())));
    }
}

/// One snapshot of the gateway.
pub async fn snapshot(
    config: &Config,
    pipeline: &Pipeline,
    totals: &Totals,
    rates: Rates,
    tick: u64,
    started: Instant,
) -> Value {
    let router = &pipeline.router;
    let health = router.health().await;
    let store = router.store().as_ref();
    let now = chrono::Utc::now();
    let groups = groups(config, &health, totals);
    let consumers = consumers(config, pipeline, &health, now.timestamp()).await;
    let gateway_budget = budget_period(
        store,
        pipeline.budget.as_ref(),
        Caller::Master,
        now.timestamp(),
    )
    .await;
    let pairs = |list: &[(&'static str, u64)]| -> Value {
        list.iter()
            .map(|(k, n)| ((*k).to_owned(), json!(n)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    json!({
        "tick": tick,
        "time": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "uptime_seconds": started.elapsed().as_secs(),
        "state_store": store.kind(),
        "state_store_degraded": store.is_degraded(),
        "routing_strategy": health.routing_strategy,
        "requests": {
            "total": totals.requests,
            "per_second": (rates.per_second * 100.0).round() / 100.0,
            "window_seconds": WINDOW_TICKS,
            "latency_ms": {"p50": rates.p50, "p95": rates.p95, "p99": rates.p99},
        },
        "groups": groups,
        "fallbacks": totals.fallbacks.iter().map(|(_, n)| n).sum::<u64>(),
        "retries": totals.retries,
        "refusals": pairs(&totals.refusals),
        "skips": pairs(&totals.skips),
        "errors": pairs(&totals.errors),
        "consumers": consumers,
        "gateway_budget": gateway_budget,
    })
}

/// Each group with its deployments as `/health` shows them, their calls, and how many
/// requests fell back into it.
fn groups(config: &Config, health: &HealthSnapshot, totals: &Totals) -> Vec<Value> {
    config
        .groups
        .iter()
        .map(|group| {
            let deployments: Vec<Value> = config
                .deployments()
                .filter(|d| d.group == group.name)
                .filter_map(|d| {
                    let h = health
                        .deployments
                        .iter()
                        .find(|h| h.id == d.id && h.model_group == d.group)?;
                    let mut entry = json!(h);
                    entry["calls"] = json!(totals.calls.get(d.index).copied().unwrap_or_default());
                    Some(entry)
                })
                .collect();
            let fallbacks_into = totals
                .fallbacks
                .iter()
                .find(|(g, _)| *g == group.name)
                .map_or(0, |(_, n)| *n);
            json!({"name": group.name, "fallbacks_into": fallbacks_into, "deployments": deployments})
        })
        .collect()
}

/// Each consumer's usage as `/health` shows it, its budget's period and its spend.
async fn consumers(
    config: &Config,
    pipeline: &Pipeline,
    health: &HealthSnapshot,
    now: i64,
) -> Vec<Value> {
    let store = pipeline.router.store().as_ref();
    let mut consumers = Vec::new();
    for consumer in &config.gateway.consumers {
        let Some(usage) = health.consumers.iter().find(|c| c.name == consumer.name) else {
            continue;
        };
        let budget = budget_period(store, None, Caller::Consumer(consumer), now).await;
        let mut entry = json!(usage);
        entry["budget"] = budget;
        entry["spend_since_start_usd"] = json!(pipeline.metrics.spend_of_consumer(&consumer.name));
        consumers.push(entry);
    }
    consumers
}

/// The current period of `caller`'s own budget (the gateway's with `gateway`): spent, limit,
/// end; `null` without one.
async fn budget_period(
    store: &crate::pipeline::Store,
    gateway: Option<&crate::config::Budget>,
    caller: Caller<'_>,
    now: i64,
) -> Value {
    crate::pipeline::budget_spent(store, gateway, caller, now)
        .await
        .into_iter()
        .next()
        .map_or(Value::Null, |(_, spent, max, resets_at)| {
            json!({"spent_usd": spent, "max_budget": max, "resets_at": resets_at})
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(requests: u64, fast: u64) -> Totals {
        let mut t = Totals {
            requests,
            ..Totals::default()
        };
        t.latency[2] = fast;
        t
    }

    #[test]
    fn rates_come_from_the_last_tick_and_percentiles_from_the_window() {
        let start = Instant::now();
        let mut window = Window::default();
        window.push(start, totals(100, 100));
        // Since start, before a window.
        assert_eq!(window.rates().per_second, 0.0);
        assert_eq!(window.rates().p50, Some(7.5));
        window.push(start + Duration::from_secs(1), totals(110, 110));
        window.push(start + Duration::from_secs(3), totals(130, 130));
        let rates = window.rates();
        assert_eq!(rates.per_second, 10.0);
        // 30 new requests in (5, 10] ms.
        assert_eq!(rates.p50, Some(7.5));
        for i in 0..20 {
            window.push(start + Duration::from_secs(4 + i), totals(130, 130));
        }
        assert_eq!(
            window.rates().p99,
            None,
            "an idle window has no percentiles"
        );
    }
}
